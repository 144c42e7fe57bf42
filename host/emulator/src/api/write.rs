//! Create and update semantics shared by POST, PUT, PATCH and apply: server-set metadata,
//! generation, status-subresource rules, optimistic concurrency, no-op detection, finalizer
//! completion and CRD registration.

use std::sync::Arc;

use serde_json::{Value, json};

use super::crd;
use super::gc;
use super::objects::{
    check_type_meta, finalizers, is_deleting, meta_str, metadata_mut, same_content, spec_changed,
    validate_name,
};
use super::writer::Writer;
use crate::audit::Verb;
use crate::registry::ResourceType;
use crate::status::{ApiError, Cause};
use crate::store::object::StoredObject;

/// How a write treats `managedFields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields<'a> {
    /// Record an `Update` entry for this manager.
    Update(&'a str),
    /// Already computed by server-side apply.
    Applied,
}

fn is_crd(rt: &ResourceType) -> bool {
    rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions"
}

fn check_namespace(
    w: &Writer<'_>,
    rt: &ResourceType,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    let ns_key = (String::new(), "namespaces".to_string());
    let ns_subject = crate::status::Subject {
        group: "",
        resource: "namespaces",
    };
    match w.store.get(&ns_key, &(String::new(), ns.to_string())) {
        None => Err(ApiError::not_found(ns_subject, ns)),
        Some(n) if is_deleting(&n.to_value()) => Err(ApiError::forbidden(
            rt.subject(),
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// Creates an object from `obj` (the request body or an apply result).
///
/// # Errors
/// 400/404/409/422 as the real server answers.
pub fn create(
    w: &mut Writer<'_>,
    rt: &ResourceType,
    path_ns: Option<&str>,
    mut obj: Value,
    fields: Fields<'_>,
) -> Result<Arc<StoredObject>, ApiError> {
    check_type_meta(rt, &mut obj)?;
    let now = w.now.clone();
    if meta_str(&obj, "resourceVersion").is_some() {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    // Namespace of the object vs the request path.
    let body_ns = meta_str(&obj, "namespace").map(str::to_string);
    let ns = if rt.namespaced {
        let ns = match (path_ns, body_ns.as_deref()) {
            (Some(p), Some(b)) if p != b => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            (Some(p), _) => p.to_string(),
            (None, Some(b)) => b.to_string(),
            (None, None) => {
                return Err(ApiError::bad_request(
                    "the namespace of the object is required",
                ));
            }
        };
        Some(ns)
    } else {
        None
    };
    // Name or generateName.
    let name = match meta_str(&obj, "name") {
        Some(n) => n.to_string(),
        None => match meta_str(&obj, "generateName") {
            Some(prefix) => {
                let prefix = prefix.to_string();
                let mut candidate = String::new();
                for _ in 0..8 {
                    candidate = format!("{prefix}{}", w.store.rng.name_suffix());
                    let key = (ns.clone().unwrap_or_default(), candidate.clone());
                    if w.store.get(&rt.storage_key(), &key).is_none() {
                        break;
                    }
                }
                candidate
            }
            None => {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    "",
                    vec![Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ));
            }
        },
    };
    validate_name(rt, &name)?;
    if let Some(ns) = &ns {
        check_namespace(w, rt, ns, &name)?;
    }
    let sk = rt.storage_key();
    if w.store
        .get(&sk, &(ns.clone().unwrap_or_default(), name.clone()))
        .is_some()
    {
        return Err(ApiError::already_exists(rt.subject(), &name));
    }
    let uid = w.store.rng.uuid();
    {
        let md = metadata_mut(&mut obj);
        md.insert("name".into(), json!(name));
        match &ns {
            Some(ns) => md.insert("namespace".into(), json!(ns)),
            None => md.remove("namespace"),
        };
        md.insert("uid".into(), json!(uid));
        md.insert("creationTimestamp".into(), json!(now));
        md.remove("deletionTimestamp");
        md.remove("deletionGracePeriodSeconds");
        md.remove("selfLink");
        if rt.tracks_generation {
            md.insert("generation".into(), json!(1));
        } else {
            md.remove("generation");
        }
    }
    if rt.status_subresource
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    let is_namespace = rt.plural == "namespaces" && rt.group.is_empty();
    if is_namespace {
        // Defaulted when the request is decoded, so it counts as the creator's field.
        let labels = metadata_mut(&mut obj)
            .entry("labels")
            .or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    if rt.custom {
        crd::validate_custom(
            rt,
            &mut obj,
            None,
            w.strict_fields,
            w.verb == Verb::Apply,
            false,
        )?;
    }
    if is_crd(rt) {
        crd::validate_crd(&obj)?;
        crd::default_crd(&mut obj);
        crd::set_crd_status(&mut obj, &now);
    }
    if let Fields::Update(manager) = fields {
        crate::patch::record_update(None, &mut obj, manager, &now, None);
    }
    if is_namespace {
        // Set by the registry after field tracking: nobody manages them.
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
        obj["status"] = json!({"phase": "Active"});
    }
    let stored = w.put(&sk, obj);
    if is_crd(rt) && !w.dry_run {
        register_crd(w, &stored);
    }
    Ok(stored)
}

fn register_crd(w: &mut Writer<'_>, stored: &StoredObject) {
    let v = stored.to_value();
    let (types, storage) = crd::crd_types(&v);
    w.store
        .registry
        .register_crd(&stored.meta.name, types, storage);
}

/// Checks a client-sent `metadata.resourceVersion` against the live object.
///
/// # Errors
/// 409 Conflict when it is set and stale.
pub fn check_rv(rt: &ResourceType, live: &StoredObject, sent: &Value) -> Result<(), ApiError> {
    match meta_str(sent, "resourceVersion") {
        Some(rv) if rv != live.meta.rv.to_string() => {
            Err(ApiError::conflict(rt.subject(), &live.meta.name))
        }
        _ => Ok(()),
    }
}

/// Finishes an update of `live` to `new` (a PUT body, patch or apply result): applies the
/// status-subresource split, keeps server-owned metadata, bumps generation, validates, records
/// managed fields, skips no-ops and completes finalizer-pending deletions.
///
/// # Errors
/// 409 on uid mismatch, 422 on validation failures.
pub fn finish_update(
    w: &mut Writer<'_>,
    rt: &ResourceType,
    live: &Arc<StoredObject>,
    mut new: Value,
    subresource: Option<&str>,
    fields: Fields<'_>,
) -> Result<Arc<StoredObject>, ApiError> {
    let old = live.to_value();
    let name = live.meta.name.clone();
    if let Some(uid) = meta_str(&new, "uid")
        && uid != live.meta.uid
    {
        return Err(ApiError::conflict_because(
            rt.subject(),
            &name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                live.meta.uid
            ),
        ));
    }
    if subresource == Some("status") {
        // Only status changes through /status; everything else stays as stored.
        let status = new.get("status").cloned();
        let managed = new.pointer("/metadata/managedFields").cloned();
        new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        if let Some(m) = managed {
            metadata_mut(&mut new).insert("managedFields".into(), m);
        }
    } else if rt.status_subresource {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    check_type_meta(rt, &mut new)?;
    // Server-owned metadata is kept from the live object.
    {
        let old_md = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
        let md = metadata_mut(&mut new);
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_md.get(k) {
                Some(v) => md.insert(k.into(), v.clone()),
                None => md.remove(k),
            };
        }
        md.remove("resourceVersion");
        md.remove("selfLink");
    }
    if rt.tracks_generation && subresource != Some("status") && spec_changed(&old, &new) {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        metadata_mut(&mut new).insert("generation".into(), json!(g + 1));
    }
    if is_deleting(&old) {
        let before = finalizers(&old);
        if let Some(added) = finalizers(&new).into_iter().find(|f| !before.contains(f)) {
            return Err(ApiError::invalid(
                &rt.kind,
                &rt.group,
                &name,
                vec![Cause {
                    reason: "FieldValueForbidden".into(),
                    message: format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{\"{added}\"}}"
                    ),
                    field: "metadata.finalizers".into(),
                }],
            ));
        }
    }
    if rt.custom {
        crd::validate_custom(
            rt,
            &mut new,
            Some(&old),
            w.strict_fields,
            w.verb == Verb::Apply,
            subresource == Some("status"),
        )?;
    }
    if is_crd(rt) {
        crd::validate_crd(&new)?;
        crd::default_crd(&mut new);
        crd::set_crd_status(&mut new, &w.now);
    }
    if let Fields::Update(manager) = fields {
        let now = w.now.clone();
        crate::patch::record_update(Some(&old), &mut new, manager, &now, subresource);
    }
    metadata_mut(&mut new).insert("resourceVersion".into(), json!(live.meta.rv.to_string()));
    if same_content(&old, &new) {
        return Ok(live.clone());
    }
    let sk = rt.storage_key();
    if is_deleting(&new) && finalizers(&new).is_empty() {
        // The last finalizer is gone: the object is deleted now. The answer is the object as
        // this write left it (no finalizers), as the real server answers.
        let Some(removed) = gc::remove_now(w, &sk, &live.key(), true) else {
            return Ok(live.clone());
        };
        metadata_mut(&mut new).insert("resourceVersion".into(), json!(removed.meta.rv.to_string()));
        return Ok(Arc::new(StoredObject::from_value(&new)));
    }
    let stored = w.put(&sk, new);
    if is_crd(rt) && !w.dry_run {
        register_crd(w, &stored);
    }
    Ok(stored)
}

/// PUT: replaces an object (or creates it where the kind allows).
///
/// # Errors
/// 400/404/409/422 as the real server answers.
pub fn replace(
    w: &mut Writer<'_>,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    subresource: Option<&str>,
    mut body: Value,
    manager: &str,
) -> Result<(Arc<StoredObject>, bool), ApiError> {
    check_type_meta(rt, &mut body)?;
    match meta_str(&body, "name") {
        Some(n) if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        Some(_) => {}
        None => {
            metadata_mut(&mut body).insert("name".into(), json!(name));
        }
    }
    if let (Some(p), Some(b)) = (ns, meta_str(&body, "namespace"))
        && p != b
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let key = (ns.unwrap_or_default().to_string(), name.to_string());
    let Some(live) = w.store.get(&rt.storage_key(), &key) else {
        if rt.create_on_update && subresource.is_none() {
            if let Some(md) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                md.remove("resourceVersion");
            }
            return create(w, rt, ns, body, Fields::Update(manager)).map(|s| (s, true));
        }
        return Err(ApiError::not_found(rt.subject(), name));
    };
    if meta_str(&body, "resourceVersion").is_none() && !rt.unconditional_update {
        // The real server names the resource (plural) in this one.
        return Err(ApiError::invalid(
            &rt.plural,
            &rt.group,
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: 0: must be specified for an update".into(),
                field: "metadata.resourceVersion".into(),
            }],
        ));
    }
    check_rv(rt, &live, &body)?;
    finish_update(w, rt, &live, body, subresource, Fields::Update(manager)).map(|s| (s, false))
}
