//! Small helpers on object trees: type meta checks, name rules, metadata access.

use serde_json::{Map, Value};

use crate::protobuf::ProtobufError;
use crate::registry::ResourceType;
use crate::status::{ApiError, Cause};

/// `obj.metadata` as a mutable map, created if missing (`obj` is made an object if it is not).
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let md = obj.as_object_mut().map(|root| {
        root.entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
    });
    let Some(md) = md else {
        unreachable!("obj was made an object above")
    };
    if !md.is_object() {
        *md = Value::Object(Map::new());
    }
    md.as_object_mut()
        .expect("metadata was made an object above")
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?
        .get(field)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// Parses a create/update request body (JSON, YAML with `application/yaml`, or protobuf for the
/// kinds [`crate::protobuf`] decodes) into an object.
///
/// # Errors
/// 415 for other media types (CBOR) and protobuf bodies of other kinds, 400 if the body is
/// malformed or not an object.
pub fn parse_object(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = match content_type {
        "" | "application/json" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the object provided is unrecognized: {e}"))
        })?,
        "application/yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("the YAML body is not UTF-8"))?;
            serde_saphyr::from_str(text).map_err(|e| {
                ApiError::bad_request(format!("the object provided is unrecognized: {e}"))
            })?
        }
        crate::protobuf::CONTENT_TYPE => crate::protobuf::decode(body).map_err(|e| match e {
            ProtobufError::UnsupportedKind { .. } => ApiError::unsupported_body(format!(
                "the body of the request was in an unknown format - {e}"
            )),
            other => ApiError::bad_request(format!(
                "the object provided is unrecognized: protobuf: {other}"
            )),
        })?,
        other => {
            return Err(ApiError::unsupported_media_type(
                other,
                &[
                    "application/json",
                    "application/yaml",
                    crate::protobuf::CONTENT_TYPE,
                ],
            ));
        }
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is not a JSON object",
        ));
    }
    Ok(v)
}

/// Checks (and fills in) `apiVersion` and `kind` against the served type.
///
/// # Errors
/// 400 when the body names another version or kind.
pub fn check_type_meta(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    let want_av = rt.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(av) if !av.is_empty() && av != want_av => {
            // Other served versions of the same kind are accepted (no conversion needed).
            let same_group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("") == rt.group;
            if !(same_group && rt.custom) {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({want_av})"
                )));
            }
            obj["apiVersion"] = Value::String(want_av);
        }
        _ => obj["apiVersion"] = Value::String(want_av),
    }
    match obj.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != rt.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )));
        }
        _ => obj["kind"] = Value::String(rt.kind.clone()),
    }
    Ok(())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Validates `metadata.name` with the rule the real server uses for this kind.
///
/// # Errors
/// 422 `Invalid` with a `metadata.name` cause.
pub fn validate_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let (ok, what, example, regex) = if rt.plural == "namespaces" {
        (
            is_dns_label(name),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            "'my-name',  or '123-abc'",
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?",
        )
    } else {
        (
            is_dns_subdomain(name),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            "'example.com'",
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
        )
    };
    if ok {
        return Ok(());
    }
    let message = format!(
        "Invalid value: \"{name}\": {what} (e.g. {example}, regex used for validation is '{regex}')"
    );
    Err(ApiError::invalid(
        &rt.kind,
        &rt.group,
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message,
            field: "metadata.name".into(),
        }],
    ))
}

/// `metadata.finalizers` as strings.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    meta_str(obj, "deletionTimestamp").is_some()
}

/// Everything except `metadata` and `status`: what a spec change means for `generation`.
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(old) != strip(new)
}

/// Equality ignoring `metadata.resourceVersion` and `metadata.managedFields` (no-op detection).
pub fn same_content(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            md.remove("resourceVersion");
            // A change of ownership alone is a change (the real server stores it); a new
            // timestamp alone is not.
            if let Some(Value::Array(entries)) = md.get_mut("managedFields") {
                for e in entries.iter_mut().filter_map(Value::as_object_mut) {
                    e.remove("time");
                }
            }
        }
        v
    };
    strip(old) == strip(new)
}
