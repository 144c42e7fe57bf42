//! Making two servers' answers comparable: values that are legitimately different on every
//! server — uids, resourceVersions, timestamps, continue tokens, ages — are replaced by a marker
//! that keeps only their presence (`"<uid>"`, `"<rv>"`, …). Everything else is compared as sent.

use serde_json::{Map, Value};

/// `value` with server-specific values replaced by markers, recursively.
pub fn normalise(value: &Value) -> Value {
    let mut v = value.clone();
    walk(&mut v, None);
    v
}

fn walk(value: &mut Value, key: Option<&str>) {
    match value {
        Value::Object(map) => {
            normalise_table_ages(map);
            mask_uids_in_field_keys(map);
            for (k, v) in map.iter_mut() {
                if let Some(marker) = marker_for(k, v) {
                    *v = Value::String(marker.into());
                } else {
                    walk(v, Some(k));
                }
            }
        }
        Value::Array(items) => {
            items.iter_mut().for_each(|v| walk(v, key));
            if key == Some("managedFields") {
                order_managed_fields_without_time(items);
            }
        }
        Value::String(s) if key == Some("message") => {
            *s = mask_uuids(&mask_numbers_in_parentheses(s));
        }
        _ => {}
    }
}

/// The marker for a field whose value differs per server, if `key` is one.
fn marker_for(key: &str, value: &Value) -> Option<&'static str> {
    if value.is_null() {
        return None;
    }
    Some(match key {
        "uid" => "<uid>",
        "resourceVersion" => "<rv>",
        "creationTimestamp" | "deletionTimestamp" | "time" | "lastTransitionTime" => "<time>",
        "continue" if value.as_str().is_some_and(|s| !s.is_empty()) => "<continue>",
        // The remaining count of a paged list depends on the list, not the server; kept.
        _ => return None,
    })
}

/// Both servers sort managedFields by operation, then by the *second* of each entry's time, then
/// by manager, apiVersion and subresource. Two writes a few milliseconds apart land in one second
/// on one server and straddle a boundary on the other, so their order flips from run to run.
/// Times are masked, so the entries are re-sorted by the remaining keys on both sides; a stable
/// sort keeps the order of entries equal in every key.
fn order_managed_fields_without_time(entries: &mut [Value]) {
    let key = |e: &Value| {
        ["operation", "manager", "apiVersion", "subresource"]
            .map(|k| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned())
    };
    entries.sort_by_key(key);
}

/// managedFields name owner references by uid: `k:{"uid":"…"}`.
fn mask_uids_in_field_keys(map: &mut Map<String, Value>) {
    if !map
        .keys()
        .any(|k| k.starts_with("k:{") && k.contains("\"uid\""))
    {
        return;
    }
    let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
    for (key, value) in entries {
        let masked = key
            .strip_prefix("k:")
            .and_then(|k| serde_json::from_str::<Value>(k).ok())
            .filter(|k| k.get("uid").is_some())
            .map(|mut k| {
                k["uid"] = Value::String("<uid>".into());
                format!("k:{k}")
            })
            .unwrap_or(key);
        map.insert(masked, value);
    }
}

/// A Table's `Age` cells are durations since creation on each server's clock.
fn normalise_table_ages(map: &mut Map<String, Value>) {
    if map.get("kind").and_then(Value::as_str) != Some("Table") {
        return;
    }
    let age_columns: Vec<usize> = map
        .get("columnDefinitions")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .enumerate()
                .filter(|(_, c)| c["name"] == "Age" || c["type"] == "date")
                .map(|(i, _)| i)
                .collect()
        })
        .unwrap_or_default();
    if let Some(rows) = map.get_mut("rows").and_then(Value::as_array_mut) {
        for row in rows {
            if let Some(cells) = row.get_mut("cells").and_then(Value::as_array_mut) {
                for i in &age_columns {
                    if let Some(cell) = cells.get_mut(*i) {
                        *cell = Value::String("<age>".into());
                    }
                }
            }
        }
    }
}

/// Status messages quote uids (delete preconditions).
fn mask_uuids(message: &str) -> String {
    let bytes = message.as_bytes();
    let is_uuid_at = |i: usize| {
        bytes.len() >= i + 36
            && bytes[i..i + 36].iter().enumerate().all(|(j, b)| match j {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    };
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    while i < bytes.len() {
        if is_uuid_at(i) {
            out.push_str("<uid>");
            i += 36;
        } else {
            let c = message[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Status messages quote resourceVersions in parentheses ("too old resource version: 1 (523)").
fn mask_numbers_in_parentheses(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find('(') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        match rest.find(')') {
            Some(close) if close > 0 && rest[..close].bytes().all(|b| b.is_ascii_digit()) => {
                out.push_str("<rv>");
                rest = &rest[close..];
            }
            _ => {}
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markers_keep_presence_only() {
        let v = normalise(&json!({"metadata": {"uid": "a", "resourceVersion": "5",
            "creationTimestamp": "2026-01-01T00:00:00Z", "deletionTimestamp": null,
            "managedFields": [{"time": "x", "manager": "m"}]}}));
        assert_eq!(
            v,
            json!({"metadata": {"uid": "<uid>", "resourceVersion": "<rv>",
                "creationTimestamp": "<time>", "deletionTimestamp": null,
                "managedFields": [{"time": "<time>", "manager": "m"}]}})
        );
    }

    #[test]
    fn managed_fields_order_does_not_depend_on_the_second_boundary() {
        let entry = |manager: &str, time: &str| json!({"manager": manager, "operation": "Update", "time": time});
        let one_second = normalise(&json!({"metadata": {"managedFields": [
            entry("kubectl-patch", "2026-01-01T00:00:01Z"),
            entry("script", "2026-01-01T00:00:01Z")]}}));
        let straddling = normalise(&json!({"metadata": {"managedFields": [
            entry("script", "2026-01-01T00:00:01Z"),
            entry("kubectl-patch", "2026-01-01T00:00:02Z")]}}));
        assert_eq!(one_second, straddling);
        assert_eq!(
            one_second["metadata"]["managedFields"][0]["manager"],
            "kubectl-patch"
        );
    }

    #[test]
    fn owner_reference_keys_are_masked() {
        let v = normalise(&json!({"f:ownerReferences": {"k:{\"uid\":\"1234\"}": {}}}));
        assert_eq!(
            v,
            json!({"f:ownerReferences": {"k:{\"uid\":\"<uid>\"}": {}}})
        );
    }

    #[test]
    fn resource_versions_in_messages_are_masked() {
        assert_eq!(
            mask_numbers_in_parentheses("too old resource version: 1 (523)"),
            "too old resource version: 1 (<rv>)"
        );
        assert_eq!(mask_numbers_in_parentheses("f(x) (12"), "f(x) (12");
    }

    #[test]
    fn uids_in_messages_are_masked() {
        assert_eq!(
            mask_uuids("UID in record (47e1dbe2-49cb-420b-bbea-42bd69484adc). é"),
            "UID in record (<uid>). é"
        );
    }
}
