//! `meta/v1 Status` error bodies, worded like the real API server.
//!
//! Clients branch on `code` and `reason` (kube-runtime's watcher relists on 410, controllers
//! retry on 409), and humans read `message`; both must match what kube-apiserver sends, so every
//! failure in the emulator is built through one of the constructors here.

use serde_json::{Value, json};

/// One `details.causes[]` entry of a `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// e.g. `FieldValueRequired`, `FieldValueInvalid`, `FieldManagerConflict`.
    pub reason: String,
    /// Human-readable message of this cause.
    pub message: String,
    /// Field path, e.g. `spec.version`.
    pub field: String,
}

/// `Status.details` of an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// `details.name`.
    pub name: Option<String>,
    /// `details.group`.
    pub group: Option<String>,
    /// `details.kind` (the resource plural, or the Kind for `Invalid`).
    pub kind: Option<String>,
    /// `details.causes`.
    pub causes: Vec<Cause>,
    /// `details.retryAfterSeconds`.
    pub retry_after_seconds: Option<u32>,
}

/// A failed API request, rendered as a `Status` object with an HTTP status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// The `Status.reason` (`NotFound`, `Conflict`, …).
    pub reason: &'static str,
    /// The `Status.message`.
    pub message: String,
    /// `Status.details` (boxed: errors travel through many `Result`s).
    pub details: Box<Details>,
}

/// The `group/resource` the error is about, as the real server names it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// API group ("" for core).
    pub group: &'a str,
    /// Resource plural, e.g. `configmaps`.
    pub resource: &'a str,
}

impl Subject<'_> {
    /// `configmaps` or `deployments.apps`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

impl ApiError {
    fn bare(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Box::default(),
        }
    }

    fn about(mut self, subject: Subject<'_>, name: &str) -> ApiError {
        self.details.name = Some(name.to_string());
        self.details.group = Some(subject.group.to_string());
        self.details.kind = Some(subject.resource.to_string());
        self
    }

    /// 404 `configmaps "x" not found`.
    pub fn not_found(subject: Subject<'_>, name: &str) -> ApiError {
        ApiError::bare(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", subject.qualified()),
        )
        .about(subject, name)
    }

    /// 404 for a path that names no known resource.
    pub fn path_not_found() -> ApiError {
        ApiError::bare(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 409 `configmaps "x" already exists`.
    pub fn already_exists(subject: Subject<'_>, name: &str) -> ApiError {
        ApiError::bare(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", subject.qualified()),
        )
        .about(subject, name)
    }

    /// 409 optimistic-concurrency conflict with the real server's wording.
    pub fn conflict(subject: Subject<'_>, name: &str) -> ApiError {
        ApiError::conflict_because(
            subject,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 `Operation cannot be fulfilled on configmaps "x": <why>`.
    pub fn conflict_because(subject: Subject<'_>, name: &str, why: &str) -> ApiError {
        ApiError::bare(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                subject.qualified()
            ),
        )
        .about(subject, name)
    }

    /// 409 server-side-apply field-ownership conflict.
    /// The real server names neither the object nor its kind here, only the conflicts.
    pub fn apply_conflict(message: String, causes: Vec<Cause>) -> ApiError {
        let mut e = ApiError::bare(409, "Conflict", message);
        e.details.causes = causes;
        e
    }

    /// 422 for invalid `PatchOptions` (`fieldManager` missing on apply, `force` on other
    /// patches), as the real server words it: `PatchOptions.meta.k8s.io "" is invalid: …`.
    pub fn invalid_patch_options(field: &str, reason: &str, message: &str) -> ApiError {
        let mut e = ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            vec![Cause {
                reason: reason.into(),
                message: message.into(),
                field: field.into(),
            }],
        );
        e.details.name = None;
        e
    }

    /// 422 `Kind.group "name" is invalid: <causes>`; `details.kind` is the Kind here.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> ApiError {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let rendered: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let list = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        let mut e = ApiError::bare(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {list}"),
        );
        e.details.name = Some(name.to_string());
        e.details.group = Some(group.to_string());
        e.details.kind = Some(kind.to_string());
        e.details.causes = causes;
        e
    }

    /// 422 without a field breakdown (e.g. a JSON patch `test` failure).
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::bare(422, "Invalid", message)
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::bare(400, "BadRequest", message)
    }

    /// 403 Forbidden (namespace lifecycle).
    pub fn forbidden(subject: Subject<'_>, name: &str, why: &str) -> ApiError {
        ApiError::bare(
            403,
            "Forbidden",
            format!("{} \"{name}\" is forbidden: {why}", subject.qualified()),
        )
        .about(subject, name)
    }

    /// 405 MethodNotAllowed, worded like the real server.
    pub fn method_not_allowed() -> ApiError {
        ApiError::bare(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 406 NotAcceptable: the client accepts only media types the emulator cannot answer in
    /// (protobuf alone); the real server's wording.
    pub fn not_acceptable() -> ApiError {
        ApiError::bare(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, application/json;stream=watch (the emulator answers protobuf clients in JSON only: accept application/json too)",
        )
    }

    /// 410 Gone: a watch or exact list from a compacted resourceVersion.
    pub fn gone(requested: u64, oldest: u64) -> ApiError {
        ApiError::bare(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// 410 Expired for a continue token whose snapshot is compacted.
    pub fn continue_expired() -> ApiError {
        ApiError::bare(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
        )
    }

    /// 415 UnsupportedMediaType for a patch type the resource does not accept.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> ApiError {
        ApiError::bare(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                if accepted.is_empty() {
                    content_type.to_string()
                } else {
                    accepted.join(", ")
                }
            ),
        )
    }

    /// 415 UnsupportedMediaType for a body in a known format the emulator does not decode for
    /// this kind (`message` says which kind and what to send instead).
    pub fn unsupported_body(message: impl Into<String>) -> ApiError {
        ApiError::bare(415, "UnsupportedMediaType", message)
    }

    /// 429 TooManyRequests.
    pub fn too_many_requests() -> ApiError {
        let mut e = ApiError::bare(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        e.details.retry_after_seconds = Some(1);
        e
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::bare(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// 504 Timeout.
    pub fn timeout() -> ApiError {
        ApiError::bare(
            504,
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        )
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.details.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.details.group
            && !g.is_empty()
        {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.details.kind {
            details.insert("kind".into(), json!(k));
        }
        if !self.details.causes.is_empty() {
            let causes: Vec<Value> = self
                .details
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(s) = self.details.retry_after_seconds {
            details.insert("retryAfterSeconds".into(), json!(s));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

impl ApiError {
    /// 504 for a list/watch resourceVersion newer than the store's.
    pub fn timeout_too_large(requested: u64, current: u64) -> ApiError {
        let mut e = ApiError::bare(
            504,
            "Timeout",
            format!("Too large resource version: {requested}, current: {current}"),
        );
        e.details.causes = vec![Cause {
            reason: "ResourceVersionTooLarge".into(),
            message: "Too large resource version".into(),
            field: String::new(),
        }];
        e.details.retry_after_seconds = Some(1);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CM: Subject<'static> = Subject {
        group: "",
        resource: "configmaps",
    };

    #[test]
    fn conflict_message_matches_the_real_server() {
        let e = ApiError::conflict(CM, "x");
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on configmaps \"x\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(e.to_status()["code"], 409);
    }

    #[test]
    fn invalid_lists_several_causes_in_brackets() {
        let c = |f: &str| Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: f.into(),
        };
        let e = ApiError::invalid("Widget", "example.com", "w", vec![c("spec.a"), c("spec.b")]);
        assert_eq!(
            e.message,
            "Widget.example.com \"w\" is invalid: [spec.a: Required value, spec.b: Required value]"
        );
        assert_eq!(e.to_status()["details"]["causes"][1]["field"], "spec.b");
    }
}
