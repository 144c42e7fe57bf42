//! Strategic merge patch (`application/strategic-merge-patch+json`) for built-in kinds.
//!
//! Like a JSON merge patch, except that lists the type table knows
//! ([`super::list_types`]) merge element by element instead of being replaced, and that a
//! patch may carry directives: `$patch: replace|delete|merge` (on a map, or as a list element),
//! `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` (validated,
//! ordering not applied). `null` deletes a key. Custom resources do not support this patch type
//! (the server answers 415); that check belongs to the caller.

use serde_json::{Map, Value};

use super::PatchError;
use super::list_types::{ListStrategy, known_list_strategy};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Applies the strategic merge patch `patch` to `target` (a built-in object) in place.
///
/// On error `target` is left unchanged.
///
/// # Errors
/// [`PatchError::Malformed`] when `patch` is not an object; [`PatchError::Strategic`] when a
/// directive is malformed (400: `$retainKeys`/`$deleteFromPrimitiveList`/`$setElementOrder`
/// that are not lists, an unknown `$patch` value) or contradicts the patch content (422: a
/// key outside `$retainKeys`, an element of a keyed list without its merge key).
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(patch_map) = patch else {
        return Err(PatchError::Malformed {
            message: format!(
                "a strategic merge patch must be a JSON object, got {}",
                super::json_patch::type_name(patch)
            ),
        });
    };
    let mut doc = match target {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let mut path = Vec::new();
    merge_map(&mut doc, patch_map, &mut path)?;
    *target = Value::Object(doc);
    Ok(())
}

fn error(path: &[String], reason: impl Into<String>, malformed: bool) -> PatchError {
    PatchError::Strategic {
        path: if path.is_empty() {
            "<root>".to_owned()
        } else {
            path.join(".")
        },
        reason: reason.into(),
        malformed,
    }
}

fn merge_map(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<(), PatchError> {
    match patch.get(PATCH) {
        None => {}
        Some(Value::String(d)) if d == "merge" => {}
        Some(Value::String(d)) if d == "replace" => {
            let mut fresh = Map::new();
            let mut rest = patch.clone();
            rest.remove(PATCH);
            merge_map(&mut fresh, &rest, path)?;
            *original = fresh;
            return Ok(());
        }
        Some(Value::String(d)) if d == "delete" => {
            original.clear();
            return Ok(());
        }
        Some(other) => {
            return Err(error(
                path,
                format!("unknown patch type: {other} in map"),
                true,
            ));
        }
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Some(keys) = retain
            .as_array()
            .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        else {
            return Err(error(path, "invalid patch format of retainKeys", true));
        };
        if let Some(stray) = patch
            .keys()
            .filter(|k| !k.starts_with('$'))
            .find(|k| !keys.contains(&k.as_str()))
        {
            return Err(error(
                path,
                format!("patch content doesn't match retainKeys list: {stray:?} is not retained"),
                false,
            ));
        }
        original.retain(|k, _| keys.contains(&k.as_str()));
    }

    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Some(doomed) = value.as_array() else {
                return Err(error(path, "invalid patch format of primitive list", true));
            };
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|item| !doomed.contains(item));
            }
        } else if key.starts_with(SET_ELEMENT_ORDER) && !value.is_array() {
            return Err(error(
                path,
                "invalid patch format of setElementOrder list",
                true,
            ));
        }
    }

    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            original.remove(key);
            continue;
        }
        path.push(key.clone());
        let result = match (original.get_mut(key), value) {
            (Some(Value::Object(o)), Value::Object(p)) => merge_map(o, p, path),
            (Some(Value::Array(o)), Value::Array(p)) => merge_list(o, p, path),
            _ => fresh(value, path).map(|v| {
                original.insert(key.clone(), v);
            }),
        };
        path.pop();
        result?;
    }
    Ok(())
}

/// The patch value with its directives resolved against nothing (for a key the original
/// lacks, or whose type changes).
fn fresh(value: &Value, path: &mut Vec<String>) -> Result<Value, PatchError> {
    Ok(match value {
        Value::Object(p) => {
            let mut m = Map::new();
            merge_map(&mut m, p, path)?;
            Value::Object(m)
        }
        Value::Array(p) => {
            let mut v = Vec::new();
            merge_list(&mut v, p, path)?;
            Value::Array(v)
        }
        other => other.clone(),
    })
}

fn directive(item: &Value) -> Option<&Value> {
    item.as_object().and_then(|m| m.get(PATCH))
}

fn merge_list(
    original: &mut Vec<Value>,
    patch: &[Value],
    path: &mut Vec<String>,
) -> Result<(), PatchError> {
    let replace = patch
        .iter()
        .any(|item| directive(item).and_then(Value::as_str) == Some("replace"));
    let strategy = known_list_strategy(path).unwrap_or(ListStrategy::Atomic);
    if replace || strategy == ListStrategy::Atomic {
        let mut out = Vec::with_capacity(patch.len());
        for item in patch {
            match directive(item).and_then(Value::as_str) {
                Some("replace") | Some("delete") => {}
                _ => out.push(fresh(item, path)?),
            }
        }
        *original = out;
        return Ok(());
    }
    match strategy {
        ListStrategy::Set => {
            for item in patch {
                if !original.contains(item) {
                    original.push(item.clone());
                }
            }
        }
        ListStrategy::MapByKey(key) => {
            for item in patch {
                let Value::Object(fields) = item else {
                    if !original.contains(item) {
                        original.push(item.clone());
                    }
                    continue;
                };
                let Some(id) = fields.get(key) else {
                    return Err(error(
                        path,
                        format!("map: {item} does not contain declared merge key: {key}"),
                        false,
                    ));
                };
                let existing = original.iter().position(|o| o.get(key) == Some(id));
                match (directive(item), existing) {
                    (Some(Value::String(d)), _) if d == "delete" => {
                        original.retain(|o| o.get(key) != Some(id));
                    }
                    (Some(d), _) if d.as_str() != Some("merge") => {
                        return Err(error(
                            path,
                            format!("unknown patch type: {d} in list element"),
                            true,
                        ));
                    }
                    (_, Some(i)) => match &mut original[i] {
                        Value::Object(o) => merge_map(o, fields, path)?,
                        other => *other = fresh(item, path)?,
                    },
                    (_, None) => original.push(fresh(item, path)?),
                }
            }
        }
        ListStrategy::Atomic => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(target: Value, patch: Value) -> Result<Value, PatchError> {
        let mut t = target;
        strategic_merge_patch(&mut t, &patch)?;
        Ok(t)
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"]},
            "spec": {"replicas": 2, "template": {"spec": {
                "containers": [
                    {"name": "app", "image": "app:1", "args": ["--x"],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "ports": [{"containerPort": 80, "name": "http"}],
                     "volumeMounts": [{"mountPath": "/data", "name": "data"}]},
                    {"name": "sidecar", "image": "side:1"}
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "tolerations": [{"key": "a", "operator": "Exists"}]
            }}}
        })
    }

    #[test]
    fn containers_merge_by_name_and_nested_lists_by_their_keys() {
        let out = smp(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "app:2",
                 "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 9090}],
                 "volumeMounts": [{"mountPath": "/cache", "name": "cache"}]}
            ]}}}}),
        )
        .unwrap();
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers.as_array().unwrap().len(), 2, "sidecar kept");
        let app = &containers[0];
        assert_eq!(app["image"], "app:2");
        assert_eq!(app["args"], json!(["--x"]), "untouched fields kept");
        assert_eq!(
            app["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        );
        assert_eq!(
            app["ports"],
            json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 9090}])
        );
        assert_eq!(
            app["volumeMounts"],
            json!([{"mountPath": "/data", "name": "data"}, {"mountPath": "/cache", "name": "cache"}])
        );
        assert_eq!(containers[1], json!({"name": "sidecar", "image": "side:1"}));
    }

    #[test]
    fn unknown_and_atomic_lists_are_replaced() {
        let out = smp(
            deployment(),
            json!({"spec": {"template": {"spec": {
            "tolerations": [{"key": "b", "operator": "Exists"}],
            "containers": [{"name": "app", "args": ["--y"]}]
        }}}, "spec2": {"items": [1]}}),
        )
        .unwrap();
        let pod = &out["spec"]["template"]["spec"];
        assert_eq!(
            pod["tolerations"],
            json!([{"key": "b", "operator": "Exists"}])
        );
        assert_eq!(pod["containers"][0]["args"], json!(["--y"]));
        assert_eq!(out["spec2"], json!({"items": [1]}));
    }

    #[test]
    fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
        let out = smp(
            deployment(),
            json!({"metadata": {"finalizers": ["b", "a"]}}),
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        let out = smp(
            out,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "$setElementOrder/finalizers": ["b"]}}),
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn patch_delete_and_replace_directives() {
        let out = smp(
            deployment(),
            json!({"spec": {"template": {"spec": {
                "containers": [{"name": "sidecar", "$patch": "delete"}],
                "volumes": [{"$patch": "replace"}, {"name": "other", "emptyDir": {}}]
            }}}}),
        )
        .unwrap();
        let pod = &out["spec"]["template"]["spec"];
        assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
        assert_eq!(pod["containers"][0]["name"], "app");
        assert_eq!(pod["volumes"], json!([{"name": "other", "emptyDir": {}}]));

        let out = smp(
            deployment(),
            json!({"metadata": {"labels": {"$patch": "replace", "new": "x"}}}),
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"new": "x"}));
        let out = smp(
            deployment(),
            json!({"metadata": {"labels": {"$patch": "delete"}}}),
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({}));
    }

    #[test]
    fn retain_keys_clears_other_members() {
        let out = smp(
            deployment(),
            json!({"spec": {"template": {"spec": {"volumes": [
                {"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}
            ]}}}}),
        )
        .unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"],
            json!([{"name": "data", "hostPath": {"path": "/x"}}]),
            "emptyDir dropped because not retained"
        );
        let err = smp(
            deployment(),
            json!({"spec": {"$retainKeys": ["replicas"], "paused": true}}),
        )
        .unwrap_err();
        assert_eq!(err.http_status(), 422);
        assert!(
            err.to_string()
                .contains("patch content doesn't match retainKeys list"),
            "{err}"
        );
        let err = smp(deployment(), json!({"spec": {"$retainKeys": "replicas"}})).unwrap_err();
        assert_eq!(err.http_status(), 400);
        assert_eq!(
            err.to_string(),
            "strategic merge patch failed at spec: invalid patch format of retainKeys"
        );
    }

    #[test]
    fn null_deletes_and_new_keys_resolve_directives() {
        let out = smp(deployment(), json!({
            "metadata": {"labels": {"app": null}},
            "status": {"conditions": [{"type": "Available", "status": "True"}, {"type": "Gone", "$patch": "delete"}]}
        }))
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({}));
        assert_eq!(
            out["status"],
            json!({"conditions": [{"type": "Available", "status": "True"}]})
        );
    }

    #[test]
    fn conditions_merge_by_type() {
        let live = json!({"status": {"conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
            {"type": "Progressing", "status": "True"}
        ]}});
        let out = smp(live, json!({"status": {"conditions": [{"type": "Available", "status": "True", "reason": null}]}})).unwrap();
        assert_eq!(
            out["status"]["conditions"],
            json!([
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True"}
            ])
        );
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let live =
            json!({"metadata": {"ownerReferences": [{"uid": "1", "kind": "A", "name": "a"}]}});
        let out = smp(
            live,
            json!({"metadata": {"ownerReferences": [{"uid": "2", "kind": "B", "name": "b"}]}}),
        )
        .unwrap();
        assert_eq!(
            out["metadata"]["ownerReferences"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn errors_are_specific_and_leave_target_untouched() {
        let mut live = deployment();
        let before = live.clone();
        let err = strategic_merge_patch(
            &mut live,
            &json!({"spec": {"replicas": 9, "template": {"spec": {"containers": [{"image": "x"}]}}}}),
        )
        .unwrap_err();
        assert_eq!(live, before);
        assert_eq!(err.http_status(), 422);
        assert_eq!(
            err.to_string(),
            r#"strategic merge patch failed at spec.template.spec.containers: map: {"image":"x"} does not contain declared merge key: name"#
        );
        let err = smp(deployment(), json!({"spec": {"$patch": "explode"}})).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"unknown patch type: "explode" in map"#),
            "{err}"
        );
        let err = smp(deployment(), json!(["x"])).unwrap_err();
        assert_eq!(err.http_status(), 400);
        let err = smp(
            deployment(),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid patch format of primitive list"),
            "{err}"
        );
        let err = smp(
            deployment(),
            json!({"metadata": {"$setElementOrder/finalizers": {}}}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid patch format of setElementOrder list"),
            "{err}"
        );
    }

    #[test]
    fn service_ports_merge_by_port() {
        let live = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        let out = smp(
            live,
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}}),
        )
        .unwrap();
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
        );
    }
}
