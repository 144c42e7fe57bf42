//! "Does the live object already say what we want?" — the test that keeps a no-op resync at zero
//! writes.
//!
//! The desired object is a *subset* of what the server returns: servers add defaults, status,
//! managed fields and other managers' fields. So the comparison is: every field we set is
//! present in the live object with an equal value; lists must have the same length and each
//! element must contain ours.

use serde_json::Value;

/// True when every field of `desired` is present with the same value in `live`.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| {
            l.get(k).is_some_and(|lv| is_subset(dv, lv)) || is_empty(dv) && l.get(k).is_none()
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| is_subset(dv, lv))
        }
        (Value::Number(d), Value::Number(l)) => d.as_f64() == l.as_f64(),
        _ => desired == live,
    }
}

/// Empty maps/lists and nulls in our desired object may be dropped by the server.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_live_fields_do_not_count() {
        let d = json!({"spec": {"replicas": 1, "template": {"containers": [{"name": "a"}]}}});
        let l = json!({"spec": {"replicas": 1, "strategy": {}, "template": {"containers": [{"name": "a", "imagePullPolicy": "IfNotPresent"}]}}, "status": {}});
        assert!(is_subset(&d, &l));
    }

    #[test]
    fn changed_or_missing_fields_count() {
        let d = json!({"spec": {"replicas": 2}});
        assert!(!is_subset(&d, &json!({"spec": {"replicas": 1}})));
        assert!(!is_subset(&d, &json!({"spec": {}})));
        let d = json!({"a": [1, 2]});
        assert!(!is_subset(&d, &json!({"a": [1]})));
        assert!(is_subset(&json!({"a": {}}), &json!({})));
    }
}
