//! The `/scale` subresource (`autoscaling/v1` Scale) of Deployments, StatefulSets, Cluster API
//! kinds and custom resources that declare it.

use std::sync::Arc;

use http::Response;
use serde_json::{Value, json};

use super::patching::{PatchKind, patch_kind};
use super::request::ApiRequest;
use super::response::{self, ResponseBody};
use super::write::{self, Fields};
use super::{Shared, with_writer};
use crate::audit::Verb;
use crate::registry::ResourceType;
use crate::selectors::LabelSelector;
use crate::status::ApiError;
use crate::store::object::StoredObject;

fn pointer(json_path: &str) -> String {
    json_path
        .trim_start_matches('.')
        .split('.')
        .fold(String::new(), |acc, seg| format!("{acc}/{seg}"))
}

fn scale_of(rt: &ResourceType, obj: &StoredObject) -> Value {
    let v = obj.to_value();
    let Some(paths) = &rt.scale else {
        return Value::Null;
    };
    let spec = v
        .pointer(&pointer(&paths.spec_replicas))
        .cloned()
        .unwrap_or(json!(0));
    let status = v
        .pointer(&pointer(&paths.status_replicas))
        .cloned()
        .unwrap_or(json!(0));
    let selector = if rt.custom {
        paths
            .label_selector
            .as_deref()
            .and_then(|p| v.pointer(&pointer(p)))
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        v.pointer("/spec/selector")
            .map(LabelSelector::string_from_json)
    };
    let mut md = json!({
        "name": obj.meta.name,
        "uid": obj.meta.uid,
        "resourceVersion": obj.meta.rv.to_string(),
        "creationTimestamp": v.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
    });
    if !obj.meta.namespace.is_empty() {
        md["namespace"] = json!(obj.meta.namespace);
    }
    let mut status_doc = json!({"replicas": status});
    if let Some(s) = selector {
        status_doc["selector"] = json!(s);
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": md, "spec": {"replicas": spec}, "status": status_doc})
}

/// GET/PUT/PATCH on `/scale`.
///
/// # Errors
/// 404 if the object is absent, 409 on stale resourceVersion, 4xx for bad bodies.
pub fn handle(
    shared: &Arc<Shared>,
    req: &ApiRequest,
    rt: &ResourceType,
    verb: Verb,
    ns: Option<&str>,
    name: &str,
) -> Result<Response<ResponseBody>, ApiError> {
    let key = (ns.unwrap_or_default().to_string(), name.to_string());
    if verb == Verb::Get {
        let obj = shared
            .lock()
            .get(&rt.storage_key(), &key)
            .ok_or_else(|| ApiError::not_found(rt.subject(), name))?;
        return Ok(response::value(200, &scale_of(rt, &obj)));
    }
    let manager = req.manager();
    let stored = with_writer(shared, req, verb, |w| {
        let live = w
            .store
            .get(&rt.storage_key(), &key)
            .ok_or_else(|| ApiError::not_found(rt.subject(), name))?;
        let mut scale = scale_of(rt, &live);
        let body: Value = match verb {
            Verb::Update => super::objects::parse_object(&req.content_type, &req.body)?,
            _ => {
                let doc: Value = if verb == Verb::Apply {
                    serde_saphyr::from_str(std::str::from_utf8(&req.body).unwrap_or_default())
                        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
                } else {
                    serde_json::from_slice(&req.body)
                        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
                };
                match patch_kind(rt, &req.content_type)? {
                    PatchKind::Json => crate::patch::json_patch(&mut scale, &doc)
                        .map_err(|e| ApiError::unprocessable(e.to_string()))?,
                    _ => crate::patch::json_merge_patch(&mut scale, &doc),
                }
                scale.clone()
            }
        };
        if let Some(rv) = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            && !rv.is_empty()
            && rv != live.meta.rv.to_string()
        {
            return Err(ApiError::conflict(rt.subject(), name));
        }
        let replicas = body
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let mut obj = live.to_value();
        let paths = rt.scale.as_ref().ok_or_else(ApiError::path_not_found)?;
        if let Some(slot) = obj.pointer_mut(&pointer(&paths.spec_replicas)) {
            *slot = json!(replicas);
        } else if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), json!(replicas));
        }
        write::finish_update(w, rt, &live, obj, None, Fields::Update(&manager))
    })?;
    Ok(response::value(200, &scale_of(rt, &stored)))
}
