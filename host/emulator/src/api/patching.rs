//! PATCH: JSON merge patch, JSON patch, strategic merge patch and server-side apply, delegating
//! the document semantics to [`crate::patch`] and the write rules to [`super::write`].

use std::sync::Arc;

use serde_json::Value;

use super::request::ApiRequest;
use super::write::{self, Fields};
use super::writer::Writer;
use crate::patch::{ApplyError, ApplyParams, PatchError};
use crate::registry::ResourceType;
use crate::status::{ApiError, Cause};
use crate::store::object::StoredObject;

/// The patch formats the emulator accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml`.
    Apply,
}

const CUSTOM_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];
const BUILTIN_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// Classifies the Content-Type of a PATCH for this resource type.
///
/// # Errors
/// 415 for unknown types, and for strategic merge patch on custom resources (as the real server).
pub fn patch_kind(rt: &ResourceType, content_type: &str) -> Result<PatchKind, ApiError> {
    let accepted = if rt.custom {
        CUSTOM_TYPES
    } else {
        BUILTIN_TYPES
    };
    match content_type {
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/strategic-merge-patch+json" if !rt.custom => Ok(PatchKind::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
        other => Err(ApiError::unsupported_media_type(other, accepted)),
    }
}

fn patch_error(e: &PatchError) -> ApiError {
    if e.http_status() == 400 {
        ApiError::bad_request(e.to_string())
    } else {
        ApiError::unprocessable(e.to_string())
    }
}

/// Parses an apply body: JSON or YAML.
fn parse_apply_body(body: &[u8]) -> Result<Value, ApiError> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("apply body is not UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

fn apply_error(e: ApplyError) -> ApiError {
    match e {
        ApplyError::Conflict { ref conflicts } => {
            let causes = conflicts
                .iter()
                .map(|c| Cause {
                    reason: "FieldManagerConflict".into(),
                    message: c.cause_message(),
                    field: c.path.clone(),
                })
                .collect();
            ApiError::apply_conflict(e.to_string(), causes)
        }
        ApplyError::Invalid { message } => ApiError::unprocessable(message),
    }
}

/// PATCH of an object (or its `status` subresource). Returns the object and whether apply created it.
///
/// # Errors
/// 400/404/409/415/422 as the real server answers.
pub fn patch(
    w: &mut Writer<'_>,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    subresource: Option<&str>,
    req: &ApiRequest,
) -> Result<(Arc<StoredObject>, bool), ApiError> {
    let kind = patch_kind(rt, &req.content_type)?;
    let key = (ns.unwrap_or_default().to_string(), name.to_string());
    let live = w.store.get(&rt.storage_key(), &key);
    // The `events.k8s.io` view patches the `events.k8s.io/v1` shape of a stored core Event
    // and writes the result back as the core Event (`crate::events`).
    let view = crate::events::is_view(rt);
    let core = if view {
        w.store.registry.get("", "v1", "events")
    } else {
        None
    };
    let target_rt: &ResourceType = core.as_deref().unwrap_or(rt);
    let as_view = |v: Value| if view { crate::events::to_v1(v) } else { v };
    let as_stored = |mut v: Value| -> Result<Value, ApiError> {
        if view {
            super::objects::check_type_meta(rt, &mut v)?;
            v = crate::events::to_core(v);
        }
        Ok(v)
    };
    if kind != PatchKind::Apply && req.query.flag("force") {
        return Err(ApiError::invalid_patch_options(
            "force",
            "FieldValueForbidden",
            "Forbidden: may not be specified for non-apply patch",
        ));
    }
    if kind == PatchKind::Apply {
        let Some(manager) = req.query.non_empty("fieldManager") else {
            return Err(ApiError::invalid_patch_options(
                "fieldManager",
                "FieldValueRequired",
                "Required value: is required for apply patch",
            ));
        };
        let applied = parse_apply_body(&req.body)?;
        if !applied.is_object() {
            return Err(ApiError::bad_request(
                "apply configuration must be an object",
            ));
        }
        let now = w.now.clone();
        let params = ApplyParams {
            manager,
            force: req.query.flag("force"),
            now: &now,
            subresource,
        };
        return match live {
            None if subresource.is_none() => {
                let mut created = crate::patch::server_side_apply(None, &applied, &params)
                    .map_err(apply_error)?;
                if created.pointer("/metadata/name").is_none()
                    && let Some(md) = created.get_mut("metadata").and_then(Value::as_object_mut)
                {
                    md.insert("name".into(), Value::String(name.to_string()));
                }
                let created = as_stored(created)?;
                write::create(w, target_rt, ns, created, Fields::Applied).map(|s| (s, true))
            }
            None => Err(ApiError::not_found(rt.subject(), name)),
            Some(live) => {
                write::check_rv(rt, &live, &applied)?;
                let merged = crate::patch::server_side_apply(
                    Some(&as_view(live.to_value())),
                    &applied,
                    &params,
                )
                .map_err(apply_error)?;
                let merged = as_stored(merged)?;
                write::finish_update(w, target_rt, &live, merged, subresource, Fields::Applied)
                    .map(|s| (s, false))
            }
        };
    }
    let live = live.ok_or_else(|| ApiError::not_found(rt.subject(), name))?;
    let doc: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut target = as_view(live.to_value());
    match kind {
        PatchKind::Merge => crate::patch::json_merge_patch(&mut target, &doc),
        PatchKind::Json => {
            crate::patch::json_patch(&mut target, &doc).map_err(|e| patch_error(&e))?
        }
        PatchKind::Strategic => {
            crate::patch::strategic_merge_patch(&mut target, &doc).map_err(|e| patch_error(&e))?
        }
        PatchKind::Apply => {}
    }
    write::check_rv(rt, &live, &target)?;
    let manager = req.manager();
    if view {
        // Ownership in the view's shape, as the real server records it in the request's
        // version; then the core form is stored.
        let before = as_view(live.to_value());
        let now = w.now.clone();
        crate::patch::record_update(Some(&before), &mut target, &manager, &now, subresource);
        let target = as_stored(target)?;
        return write::finish_update(w, target_rt, &live, target, subresource, Fields::Applied)
            .map(|s| (s, false));
    }
    write::finish_update(
        w,
        target_rt,
        &live,
        target,
        subresource,
        Fields::Update(&manager),
    )
    .map(|s| (s, false))
}
