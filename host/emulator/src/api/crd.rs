//! CustomResourceDefinitions: validation, defaulting, status, and the resource types they serve;
//! plus validation of custom resources against their version's schema.

use std::sync::Arc;

use serde_json::{Value, json};

use super::objects::meta_str;
use crate::registry::{PrinterColumn, ResourceType, ScalePaths};
use crate::status::{ApiError, Cause};

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn cause(reason: &str, field: &str, message: String) -> Cause {
    Cause {
        reason: reason.into(),
        message,
        field: field.into(),
    }
}

/// The default `Age` column (custom resources without `additionalPrinterColumns`).
pub fn age_column() -> PrinterColumn {
    PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        json_path: ".metadata.creationTimestamp".into(),
        priority: 0,
        description: crd_column_description(".metadata.creationTimestamp"),
    }
}

/// What the real server says about a CRD printer column that has no description of its own.
pub fn crd_column_description(json_path: &str) -> String {
    format!("Custom resource definition column (in JSONPath format): {json_path}")
}

/// Validates a custom resource against its version's `openAPIV3Schema`, pruning and defaulting.
/// With `fieldValidation=Strict`, fields the schema does not declare are an error instead of
/// being pruned silently.
///
/// # Errors
/// 422 `Invalid` with one cause per violation; 400 `BadRequest` for unknown fields under
/// `Strict`.
///
/// `old` is the stored object on an update: CEL transition rules (`oldSelf`) run only then,
/// and other rules that fail on an unchanged value are ratcheted.
///
/// A write to the status subresource (`status_write`) is validated against the status schema
/// alone by the real server, so its messages name fields relative to `status`
/// (`controlPlaneVersion in body should match …`) while the causes' `field` keeps the full
/// path (`status.controlPlaneVersion`).
pub fn validate_custom(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    strict: bool,
    apply: bool,
    status_write: bool,
) -> Result<(), ApiError> {
    let Some(schema) = &rt.schema else {
        return Ok(());
    };
    let before = strict.then(|| obj.clone());
    let mut errors = crate::schema::validate_and_prune(obj, schema)
        .err()
        .unwrap_or_default();
    // The real server runs the CEL rules on the whole object for every write, the status
    // subresource's included (so unchanged spec rules are ratcheted there).
    let rule_errors = crate::schema::validate_rules(obj, old, schema, &errors);
    errors.extend(rule_errors);
    let checked = if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    };
    checked.map_err(|errors| {
        let name = meta_str(obj, "name").unwrap_or_default().to_string();
        let mut causes: Vec<Cause> = Vec::new();
        for e in &errors {
            let mut message = e.cause_message().to_string();
            if status_write && let Some(relative) = e.path.strip_prefix("status.") {
                message = message.replace(
                    &format!("{} in body", e.path),
                    &format!("{relative} in body"),
                );
            }
            let c = cause(e.kind.cause_reason(), &e.path, message);
            if !causes.contains(&c) {
                causes.push(c);
            }
        }
        ApiError::invalid(&rt.kind, &rt.group, &name, causes)
    })?;
    if let Some(before) = before {
        let mut unknown = Vec::new();
        pruned_paths(&before, obj, "", &mut unknown);
        if !unknown.is_empty() {
            let message = if apply {
                unknown
                    .iter()
                    .map(|p| format!(".{p}: field not declared in schema"))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                let fields: Vec<String> = unknown
                    .iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect();
                format!(
                    "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
                    fields.join(", "),
                    kind = rt.kind,
                    v = rt.version
                )
            };
            return Err(ApiError::bad_request(message));
        }
    }
    Ok(())
}

/// Dotted paths present in `before` but missing from `after` (what pruning removed).
fn pruned_paths(before: &Value, after: &Value, prefix: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, bv) in b {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match a.get(k) {
                    None => out.push(path),
                    Some(av) => pruned_paths(bv, av, &path, out),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) if a.len() == b.len() => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                pruned_paths(bv, av, &format!("{prefix}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Fills in the defaults the real server sets on a CRD's spec.
pub fn default_crd(obj: &mut Value) {
    let kind = s(obj, "/spec/names/kind").to_string();
    if let Some(names) = obj
        .pointer_mut("/spec/names")
        .and_then(Value::as_object_mut)
    {
        names
            .entry("singular")
            .or_insert_with(|| json!(kind.to_lowercase()));
        names
            .entry("listKind")
            .or_insert_with(|| json!(format!("{kind}List")));
    }
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("conversion")
            .or_insert_with(|| json!({"strategy": "None"}));
    }
}

/// Validates a CRD the way the apiextensions server does (the subset Fleetward's CRDs exercise).
///
/// # Errors
/// 422 `Invalid` naming each problem.
pub fn validate_crd(obj: &Value) -> Result<(), ApiError> {
    let name = meta_str(obj, "name").unwrap_or_default();
    let group = s(obj, "/spec/group");
    let plural = s(obj, "/spec/names/plural");
    let mut causes = Vec::new();
    if group.is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            "spec.group",
            "Required value".into(),
        ));
    }
    if plural.is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            "spec.names.plural",
            "Required value".into(),
        ));
    }
    if s(obj, "/spec/names/kind").is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            "spec.names.kind",
            "Required value".into(),
        ));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(cause(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let scope = s(obj, "/spec/scope");
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push(cause(
            "FieldValueNotSupported",
            "spec.scope",
            format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        ));
    }
    let versions = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage != 1 {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.versions",
            format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                json!(versions.iter().map(|v| s(v, "/name")).collect::<Vec<_>>())
            ),
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            name,
            causes,
        ))
    }
}

/// Sets `status` as the apiextensions controllers would once names are accepted.
pub fn set_crd_status(obj: &mut Value, now: &str) {
    let mut accepted = obj
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let kind = s(obj, "/spec/names/kind").to_string();
    if let Some(a) = accepted.as_object_mut() {
        a.entry("singular")
            .or_insert_with(|| json!(kind.to_lowercase()));
        a.entry("listKind")
            .or_insert_with(|| json!(format!("{kind}List")));
    }
    let storage: Vec<String> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .map(|v| s(v, "/name").to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut stored: Vec<String> = obj
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for v in storage {
        if !stored.contains(&v) {
            stored.push(v);
        }
    }
    // A condition keeps its lastTransitionTime while its status stays the same (as the
    // apiextensions controllers keep it), so re-applying an unchanged CRD writes nothing.
    let since = |type_: &str| -> Value {
        obj.pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c["type"] == type_ && c["status"] == "True")
            })
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now))
    };
    let (names_since, established_since) = (since("NamesAccepted"), since("Established"));
    obj["status"] = json!({
        "acceptedNames": accepted,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": names_since,
             "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": established_since,
             "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "storedVersions": stored,
    });
}

/// The resource types a (valid) CRD serves, and its storage version.
pub fn crd_types(obj: &Value) -> (Vec<ResourceType>, Option<String>) {
    let group = s(obj, "/spec/group").to_string();
    let kind = s(obj, "/spec/names/kind").to_string();
    let strings = |ptr: &str| -> Vec<String> {
        obj.pointer(ptr)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut storage = None;
    let mut out = Vec::new();
    for v in obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let version = s(v, "/name").to_string();
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage = Some(version.clone());
        }
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let scale = v.pointer("/subresources/scale").map(|sc| ScalePaths {
            spec_replicas: s(sc, "/specReplicasPath").to_string(),
            status_replicas: s(sc, "/statusReplicasPath").to_string(),
            label_selector: sc
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
        let selectable = v
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect()
            })
            .unwrap_or_default();
        out.push(ResourceType {
            group: group.clone(),
            version,
            plural: s(obj, "/spec/names/plural").to_string(),
            singular: obj
                .pointer("/spec/names/singular")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| kind.to_lowercase()),
            kind: kind.clone(),
            namespaced: s(obj, "/spec/scope") == "Namespaced",
            short_names: strings("/spec/names/shortNames"),
            categories: strings("/spec/names/categories"),
            status_subresource: v.pointer("/subresources/status").is_some(),
            scale,
            tracks_generation: true,
            unconditional_update: false,
            create_on_update: false,
            custom: true,
            schema: v.pointer("/schema/openAPIV3Schema").cloned().map(Arc::new),
            selectable_fields: selectable,
            printer_columns: v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|cols| {
                    cols.iter()
                        .map(|c| PrinterColumn {
                            name: s(c, "/name").to_string(),
                            type_: s(c, "/type").to_string(),
                            json_path: s(c, "/jsonPath").to_string(),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                            description: c
                                .get("description")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .unwrap_or_else(|| crd_column_description(s(c, "/jsonPath"))),
                        })
                        .collect()
                })
                .unwrap_or_else(|| vec![age_column()]),
        });
    }
    (out, storage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_status_keeps_transition_times_while_established() {
        let mut crd = json!({"spec": {"names": {"kind": "Tenant", "plural": "tenants"},
            "versions": [{"name": "v1", "storage": true}]}});
        set_crd_status(&mut crd, "2026-01-05T00:00:00Z");
        let first = crd["status"].clone();
        set_crd_status(&mut crd, "2026-01-05T00:05:00Z");
        assert_eq!(
            crd["status"], first,
            "an unchanged CRD's status does not move"
        );
        assert_eq!(
            crd["status"]["conditions"][1]["lastTransitionTime"],
            "2026-01-05T00:00:00Z"
        );
        assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    }
}
