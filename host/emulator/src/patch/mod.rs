//! Patch semantics of the Kubernetes API server, as pure functions on [`serde_json::Value`].
//!
//! The emulator's request handlers (owned by the core module) parse the HTTP body and call one
//! of these functions with the live object; they turn a [`PatchError`] into a `Status` whose
//! code is [`PatchError::http_status`] and whose message is the error's `Display`.
//!
//! * [`json_merge_patch`]: RFC 7386 (`application/merge-patch+json`).
//! * [`json_patch`]: RFC 6902 (`application/json-patch+json`), including `test`.
//! * [`strategic_merge_patch`]: the subset of Kubernetes' strategic merge patch that built-in
//!   kinds need (`application/strategic-merge-patch+json`).
//! * [`server_side_apply`] / [`record_update`]: server-side apply and `managedFields` bookkeeping
//!   (`application/apply-patch+yaml`, and every other write).
//!
//! Keeping these pure lets them be unit-tested exhaustively without an HTTP stack, and keeps
//! the request handlers about routing and storage only.
//!
//! ```
//! use fleetward_emulator::patch::{record_update, server_side_apply, ApplyError, ApplyParams};
//! use serde_json::json;
//!
//! // Created by a plain create: the creator owns every field it set.
//! let mut live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "namespace": "ns"}, "spec": {"replicas": 1}});
//! record_update(None, &mut live, "kubectl-create", "2026-01-05T00:00:00Z", None);
//!
//! // Another manager applying a different replica count conflicts…
//! let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "namespace": "ns"}, "spec": {"replicas": 3}});
//! let p = ApplyParams { manager: "fleetward", force: false, now: "2026-01-05T00:01:00Z", subresource: None };
//! let err = server_side_apply(Some(&live), &cfg, &p).unwrap_err();
//! assert_eq!(err.to_string(),
//!     "Apply failed with 1 conflict: conflict with \"kubectl-create\" using apps/v1: .spec.replicas");
//! assert!(matches!(err, ApplyError::Conflict { .. }));
//!
//! // …unless forced, which transfers ownership.
//! let applied = server_side_apply(Some(&live), &cfg, &ApplyParams { force: true, ..p }).unwrap();
//! assert_eq!(applied["spec"]["replicas"], 3);
//! assert_eq!(applied["metadata"]["managedFields"][0]["manager"], "fleetward");
//! ```

pub mod apply;
mod equal;
mod fieldpath;
mod json_patch;
mod list_types;
pub mod managed_fields;
mod merge;
mod pointer;
mod strategic;

pub use apply::{ApplyError, ApplyParams, FieldConflict, record_update, server_side_apply};
pub use json_patch::json_patch;
pub use merge::json_merge_patch;
pub use strategic::strategic_merge_patch;

/// Why a JSON patch or strategic merge patch could not be applied.
///
/// `Display` is the message that goes into the `Status` answered to the client.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PatchError {
    /// The patch document has the wrong shape (a JSON patch that is not an array, an operation
    /// without `op`/`path`, a strategic patch that is not an object…). The real server answers
    /// 400 Bad Request.
    #[error("invalid patch document: {message}")]
    Malformed {
        /// What is wrong with the document, naming the operation index when there is one.
        message: String,
    },
    /// The JSON patch operation at `index` could not be applied to the object (missing path,
    /// index out of range, `test` mismatch…). The real server answers 422 Unprocessable Entity.
    #[error("json patch operation {index} ({op} {path}) failed: {reason}")]
    OperationFailed {
        /// Zero-based position of the operation in the patch array.
        index: usize,
        /// The operation name (`add`, `remove`, `replace`, `move`, `copy`, `test`).
        op: String,
        /// The JSON pointer the operation targets.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// The patch exceeds a size limit of the real server (more than 10000 JSON patch
    /// operations). The real server answers 413 Request Entity Too Large.
    #[error("{message}")]
    TooLarge {
        /// The real server's wording, naming the limit and the actual size.
        message: String,
    },
    /// A strategic merge patch directive could not be honoured at `path` (a malformed
    /// `$retainKeys`, a list element without its merge key…). The real server answers 400 for
    /// malformed directives and 422 for content that contradicts them; see
    /// [`PatchError::http_status`].
    #[error("strategic merge patch failed at {path}: {reason}")]
    Strategic {
        /// Dotted field path inside the object, e.g. `spec.template.spec.containers`.
        path: String,
        /// Why it failed; the real server's wording where it has one.
        reason: String,
        /// Whether the patch document itself is malformed (400) rather than inapplicable (422).
        malformed: bool,
    },
}

impl PatchError {
    /// HTTP status code the real API server answers for this error: 400 for a malformed patch
    /// document, 422 for a well-formed patch that cannot be applied to this object, 413 for a
    /// patch over the size limits.
    pub fn http_status(&self) -> u16 {
        match self {
            PatchError::Malformed { .. } => 400,
            PatchError::OperationFailed { .. } => 422,
            PatchError::TooLarge { .. } => 413,
            PatchError::Strategic { malformed, .. } => {
                if *malformed {
                    400
                } else {
                    422
                }
            }
        }
    }
}
