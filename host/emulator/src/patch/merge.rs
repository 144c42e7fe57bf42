//! RFC 7386 JSON merge patch: objects merge recursively, `null` deletes a member, anything
//! else (arrays included) replaces the target wholesale. This is what the API server applies
//! for `application/merge-patch+json`, and what custom resources get instead of strategic
//! merge patch.

use serde_json::{Map, Value};

/// Applies `patch` to `target` in place, following RFC 7386.
///
/// A non-object patch replaces the target; an object patch turns a non-object target into an
/// empty object first. Members whose patch value is `null` are removed. Never fails: every
/// JSON value is a valid merge patch.
pub fn json_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else {
            let slot = target_map.entry(key.clone()).or_insert(Value::Null);
            json_merge_patch(slot, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(target: Value, patch: Value) -> Value {
        let mut t = target;
        json_merge_patch(&mut t, &patch);
        t
    }

    /// The examples of RFC 7386 appendix A, in order.
    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (i, (target, patch, want)) in cases.into_iter().enumerate() {
            assert_eq!(merged(target, patch), want, "RFC 7386 example {i}");
        }
    }

    #[test]
    fn kubernetes_style_label_patch_keeps_other_fields() {
        let live = json!({
            "metadata": {"name": "a", "labels": {"app": "x", "tier": "web"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c"}]}}}
        });
        let out = merged(
            live,
            json!({"metadata": {"labels": {"tier": null, "team": "t"}}, "spec": {"replicas": 3}}),
        );
        assert_eq!(
            out,
            json!({
                "metadata": {"name": "a", "labels": {"app": "x", "team": "t"}},
                "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c"}]}}}
            })
        );
    }

    #[test]
    fn lists_are_replaced_not_merged() {
        let out = merged(
            json!({"spec": {"items": [{"name": "a"}, {"name": "b"}]}}),
            json!({"spec": {"items": [{"name": "c"}]}}),
        );
        assert_eq!(out, json!({"spec": {"items": [{"name": "c"}]}}));
    }
}
