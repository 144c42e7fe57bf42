//! RFC 6902 JSON patch (`application/json-patch+json`): `add`, `remove`, `replace`, `move`,
//! `copy` and `test`, applied atomically (all operations or none), with errors that name the
//! failing operation's index and path so a client can tell which line of its patch was wrong.

use serde_json::{Map, Value};

use super::PatchError;
use super::pointer::{self, Pointer};

/// The real server's limit on operations in one JSON patch (answered with 413).
pub(crate) const MAX_OPERATIONS: usize = 10_000;
/// The real server's limit on bytes duplicated by `copy` operations in one patch (3 × the
/// 3 MiB request limit): without it a few nested copies grow a document exponentially.
const MAX_COPIED_BYTES: usize = 3 * 3 * 1024 * 1024;

/// Applies the RFC 6902 patch `patch` (an array of operations) to `target`.
///
/// The operations are applied in order to a copy; `target` is only replaced when all of them
/// succeed, so a failed `test` leaves it untouched.
///
/// # Errors
/// [`PatchError::Malformed`] (HTTP 400) when `patch` is not an array of well-formed
/// operations; [`PatchError::OperationFailed`] (HTTP 422) when an operation cannot be applied
/// (missing path, index out of bounds, failed `test`, `move` into its own child).
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Array(ops) = patch else {
        return Err(PatchError::Malformed {
            message: format!(
                "a JSON patch must be an array of operations, got {}",
                type_name(patch)
            ),
        });
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(PatchError::TooLarge {
            message: format!(
                "The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {}",
                ops.len()
            ),
        });
    }
    let parsed = ops
        .iter()
        .enumerate()
        .map(|(index, op)| Operation::parse(index, op))
        .collect::<Result<Vec<_>, _>>()?;
    let mut doc = target.clone();
    let mut copied = 0usize;
    for (index, op) in parsed.iter().enumerate() {
        op.apply(&mut doc, &mut copied)
            .map_err(|reason| PatchError::OperationFailed {
                index,
                op: op.kind.name().to_owned(),
                path: op.path_text.clone(),
                reason,
            })?;
    }
    *target = doc;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

impl OpKind {
    fn name(self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Remove => "remove",
            OpKind::Replace => "replace",
            OpKind::Move => "move",
            OpKind::Copy => "copy",
            OpKind::Test => "test",
        }
    }
}

#[derive(Debug)]
struct Operation {
    kind: OpKind,
    path_text: String,
    path: Pointer,
    from: Option<Pointer>,
    value: Option<Value>,
}

impl Operation {
    fn parse(index: usize, op: &Value) -> Result<Operation, PatchError> {
        let malformed = |message: String| PatchError::Malformed {
            message: format!("operation {index}: {message}"),
        };
        let Value::Object(fields) = op else {
            return Err(malformed(format!(
                "must be an object, got {}",
                type_name(op)
            )));
        };
        let kind = match fields.get("op") {
            Some(Value::String(name)) => match name.as_str() {
                "add" => OpKind::Add,
                "remove" => OpKind::Remove,
                "replace" => OpKind::Replace,
                "move" => OpKind::Move,
                "copy" => OpKind::Copy,
                "test" => OpKind::Test,
                other => {
                    return Err(malformed(format!(
                        "unknown op {other:?} (expected add, remove, replace, move, copy or test)"
                    )));
                }
            },
            Some(other) => {
                return Err(malformed(format!(
                    "\"op\" must be a string, got {}",
                    type_name(other)
                )));
            }
            None => return Err(malformed("missing \"op\"".to_owned())),
        };
        let pointer_field = |name: &str| -> Result<(String, Pointer), PatchError> {
            match fields.get(name) {
                Some(Value::String(text)) => Pointer::parse(text)
                    .map(|p| (text.clone(), p))
                    .map_err(|e| malformed(format!("{} {name:?}: {e}", kind.name()))),
                Some(other) => Err(malformed(format!(
                    "{} \"{name}\" must be a string, got {}",
                    kind.name(),
                    type_name(other)
                ))),
                None => Err(malformed(format!("{} is missing \"{name}\"", kind.name()))),
            }
        };
        let (path_text, path) = pointer_field("path")?;
        let from = match kind {
            OpKind::Move | OpKind::Copy => Some(pointer_field("from")?.1),
            _ => None,
        };
        let value = match kind {
            OpKind::Add | OpKind::Replace | OpKind::Test => match fields.get("value") {
                Some(v) => Some(v.clone()),
                None => {
                    return Err(malformed(format!(
                        "{} {path_text:?} is missing \"value\"",
                        kind.name()
                    )));
                }
            },
            _ => None,
        };
        Ok(Operation {
            kind,
            path_text,
            path,
            from,
            value,
        })
    }

    fn apply(&self, doc: &mut Value, copied: &mut usize) -> Result<(), String> {
        match self.kind {
            OpKind::Add => add(doc, &self.path, self.value.clone().unwrap_or(Value::Null)),
            OpKind::Remove => remove(doc, &self.path).map(drop),
            OpKind::Replace => {
                let slot = pointer::get_mut(doc, &self.path.tokens)
                    .ok_or_else(|| "path does not exist".to_owned())?;
                *slot = self.value.clone().unwrap_or(Value::Null);
                Ok(())
            }
            OpKind::Move => {
                let from = self.from.as_ref().ok_or("missing from")?;
                if from == &self.path {
                    return pointer::get(doc, &from.tokens)
                        .map(drop)
                        .ok_or_else(|| "\"from\" path does not exist".to_owned());
                }
                if from.is_proper_prefix_of(&self.path) {
                    return Err("cannot move a value into one of its own children".to_owned());
                }
                let value = remove(doc, from).map_err(|e| format!("\"from\" path: {e}"))?;
                add(doc, &self.path, value)
            }
            OpKind::Copy => {
                let from = self.from.as_ref().ok_or("missing from")?;
                let source = pointer::get(doc, &from.tokens)
                    .ok_or_else(|| "\"from\" path does not exist".to_owned())?;
                *copied = copied.saturating_add(encoded_size(source, MAX_COPIED_BYTES));
                if *copied > MAX_COPIED_BYTES {
                    return Err(format!(
                        "copy operations would duplicate more than {MAX_COPIED_BYTES} bytes"
                    ));
                }
                let value = source.clone();
                add(doc, &self.path, value)
            }
            OpKind::Test => {
                let expected = self.value.as_ref().unwrap_or(&Value::Null);
                match pointer::get(doc, &self.path.tokens) {
                    None => Err("test failed: path does not exist".to_owned()),
                    Some(actual) if json_equal(actual, expected) => Ok(()),
                    Some(actual) => Err(format!(
                        "test failed: value is {}, expected {}",
                        compact(actual),
                        compact(expected)
                    )),
                }
            }
        }
    }
}

fn add(doc: &mut Value, path: &Pointer, value: Value) -> Result<(), String> {
    let Some((parent, last)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    let container =
        pointer::get_mut(doc, parent).ok_or_else(|| "parent path does not exist".to_owned())?;
    match container {
        Value::Object(map) => {
            map.insert(last.to_owned(), value);
            Ok(())
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value);
                return Ok(());
            }
            let index = pointer::parse_index(last)
                .ok_or_else(|| format!("{last:?} is not a valid array index"))?;
            if index > items.len() {
                return Err(format!(
                    "index {index} is out of bounds for an array of length {}",
                    items.len()
                ));
            }
            items.insert(index, value);
            Ok(())
        }
        other => Err(format!(
            "parent is {}, not an object or array",
            type_name(other)
        )),
    }
}

fn remove(doc: &mut Value, path: &Pointer) -> Result<Value, String> {
    let Some((parent, last)) = path.split_last() else {
        return Err("cannot remove the whole document".to_owned());
    };
    let container =
        pointer::get_mut(doc, parent).ok_or_else(|| "path does not exist".to_owned())?;
    match container {
        Value::Object(map) => map
            .remove(last)
            .ok_or_else(|| "path does not exist".to_owned()),
        Value::Array(items) => {
            let index = pointer::parse_index(last)
                .ok_or_else(|| format!("{last:?} is not a valid array index"))?;
            if index >= items.len() {
                return Err(format!(
                    "index {index} is out of bounds for an array of length {}",
                    items.len()
                ));
            }
            Ok(items.remove(index))
        }
        _ => Err("path does not exist".to_owned()),
    }
}

/// Approximate JSON-encoded size of `v`, counting no further than `cap`.
fn encoded_size(v: &Value, cap: usize) -> usize {
    let mut total = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total = total.saturating_add(match v {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 8,
            Value::String(s) => s.len() + 2,
            Value::Array(items) => {
                stack.extend(items);
                2 + items.len()
            }
            Value::Object(map) => {
                stack.extend(map.values());
                2 + map.keys().map(|k| k.len() + 4).sum::<usize>()
            }
        });
        if total > cap {
            break;
        }
    }
    total
}

/// RFC 6902 section 4.6 equality: numbers compare numerically (`1` equals `1.0`), objects
/// ignore member order, arrays compare element-wise.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => objects_equal(x, y),
        _ => a == b,
    }
}

fn objects_equal(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    x.len() == y.len()
        && x.iter()
            .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
}

fn compact(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 120 {
        let cut = text
            .char_indices()
            .map(|(i, _)| i)
            .take_while(|i| *i <= 117)
            .last()
            .unwrap_or(0);
        format!("{}...", &text[..cut])
    } else {
        text
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(doc: Value, patch: Value) -> Result<Value, PatchError> {
        let mut d = doc;
        json_patch(&mut d, &patch)?;
        Ok(d)
    }

    /// Successful examples from RFC 6902 appendix A.
    #[test]
    fn rfc6902_appendix_a_successes() {
        let cases = [
            // A.1 add an object member
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz","value":"qux"}]),
                json!({"baz":"qux","foo":"bar"}),
            ),
            // A.2 add an array element
            (
                json!({"foo":["bar","baz"]}),
                json!([{"op":"add","path":"/foo/1","value":"qux"}]),
                json!({"foo":["bar","qux","baz"]}),
            ),
            // A.3 remove an object member
            (
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"remove","path":"/baz"}]),
                json!({"foo":"bar"}),
            ),
            // A.4 remove an array element
            (
                json!({"foo":["bar","qux","baz"]}),
                json!([{"op":"remove","path":"/foo/1"}]),
                json!({"foo":["bar","baz"]}),
            ),
            // A.5 replace a value
            (
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"replace","path":"/baz","value":"boo"}]),
                json!({"baz":"boo","foo":"bar"}),
            ),
            // A.6 move a value
            (
                json!({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}),
                json!([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]),
                json!({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}),
            ),
            // A.7 move an array element
            (
                json!({"foo":["all","grass","cows","eat"]}),
                json!([{"op":"move","from":"/foo/1","path":"/foo/3"}]),
                json!({"foo":["all","cows","eat","grass"]}),
            ),
            // A.8 test a value (success)
            (
                json!({"baz":"qux","foo":["a",2,"c"]}),
                json!([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]),
                json!({"baz":"qux","foo":["a",2,"c"]}),
            ),
            // A.10 add a nested member object
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/child","value":{"grandchild":{}}}]),
                json!({"foo":"bar","child":{"grandchild":{}}}),
            ),
            // A.11 ignore unrecognised elements
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz","value":"qux","xyz":123}]),
                json!({"foo":"bar","baz":"qux"}),
            ),
            // A.14 ~ escape ordering
            (
                json!({"/":9,"~1":10}),
                json!([{"op":"test","path":"/~01","value":10}]),
                json!({"/":9,"~1":10}),
            ),
            // A.16 add an array value
            (
                json!({"foo":["bar"]}),
                json!([{"op":"add","path":"/foo/-","value":["abc","def"]}]),
                json!({"foo":["bar",["abc","def"]]}),
            ),
        ];
        for (i, (doc, patch, want)) in cases.into_iter().enumerate() {
            assert_eq!(patched(doc, patch).unwrap(), want, "case {i}");
        }
    }

    #[test]
    fn rfc6902_appendix_a_failures() {
        // A.9 test a value (error)
        let err = patched(
            json!({"baz":"qux"}),
            json!([{"op":"test","path":"/baz","value":"bar"}]),
        )
        .unwrap_err();
        assert_eq!(err.http_status(), 422);
        assert_eq!(
            err.to_string(),
            r#"json patch operation 0 (test /baz) failed: test failed: value is "qux", expected "bar""#
        );
        // A.12 adding to a nonexistent target
        let err = patched(
            json!({"foo":"bar"}),
            json!([{"op":"add","path":"/baz/bat","value":"qux"}]),
        )
        .unwrap_err();
        assert!(
            matches!(&err, PatchError::OperationFailed { index: 0, reason, .. } if reason == "parent path does not exist"),
            "{err}"
        );
        // A.15 comparing strings and numbers
        let err = patched(
            json!({"/":9,"~1":10}),
            json!([{"op":"test","path":"/~01","value":"10"}]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("value is 10, expected \"10\""),
            "{err}"
        );
    }

    #[test]
    fn failure_names_index_and_leaves_target_untouched() {
        let mut doc = json!({"spec":{"replicas":1}});
        let before = doc.clone();
        let err = json_patch(
            &mut doc,
            &json!([
                {"op":"replace","path":"/spec/replicas","value":5},
                {"op":"remove","path":"/spec/paused"}
            ]),
        )
        .unwrap_err();
        assert_eq!(doc, before, "a failed patch must not be partially applied");
        assert_eq!(
            err,
            PatchError::OperationFailed {
                index: 1,
                op: "remove".into(),
                path: "/spec/paused".into(),
                reason: "path does not exist".into()
            }
        );
    }

    #[test]
    fn malformed_documents_are_400_with_specific_messages() {
        let cases = [
            (
                json!({"op":"add"}),
                "a JSON patch must be an array of operations, got an object",
            ),
            (json!([{"path":"/a"}]), "operation 0: missing \"op\""),
            (
                json!([{"op":"frob","path":"/a"}]),
                "operation 0: unknown op \"frob\"",
            ),
            (
                json!([{"op":"remove"}]),
                "operation 0: remove is missing \"path\"",
            ),
            (
                json!([{"op":"add","path":"/a"}]),
                "operation 0: add \"/a\" is missing \"value\"",
            ),
            (
                json!([{"op":"test","path":"/a","value":1},{"op":"copy","path":"/b"}]),
                "operation 1: copy is missing \"from\"",
            ),
            (
                json!([{"op":"add","path":"a","value":1}]),
                "must be empty or start with '/'",
            ),
            (
                json!([{"op":"add","path":"/a~x","value":1}]),
                "invalid '~' escape",
            ),
            (json!([7]), "operation 0: must be an object, got a number"),
        ];
        for (patch, needle) in cases {
            let err = patched(json!({}), patch.clone()).unwrap_err();
            assert_eq!(err.http_status(), 400, "{patch}");
            assert!(err.to_string().contains(needle), "{patch}: {err}");
        }
    }

    #[test]
    fn hostile_patches_are_bounded() {
        let ops: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "", "value": {}}))
            .collect();
        let err = patched(json!({}), Value::Array(ops)).unwrap_err();
        assert_eq!(err.http_status(), 413);
        assert_eq!(
            err.to_string(),
            "The allowed maximum operations in a JSON patch is 10000, got 10001"
        );
        // Each copy doubles the document: 40 of them would need terabytes.
        let mut ops = vec![json!({"op": "add", "path": "/a", "value": "x".repeat(1000)})];
        for i in 0..40 {
            ops.push(json!({"op": "copy", "from": "", "path": format!("/c{i}")}));
        }
        let err = patched(json!({}), Value::Array(ops)).unwrap_err();
        assert!(
            matches!(&err, PatchError::OperationFailed { op, reason, .. } if op == "copy" && reason.contains("copy operations would duplicate more than")),
            "{err}"
        );
    }

    #[test]
    fn array_index_rules() {
        let doc = json!({"a":[1,2]});
        assert_eq!(
            patched(doc.clone(), json!([{"op":"add","path":"/a/2","value":3}])).unwrap(),
            json!({"a":[1,2,3]})
        );
        let err = patched(doc.clone(), json!([{"op":"add","path":"/a/3","value":3}])).unwrap_err();
        assert!(
            err.to_string()
                .contains("index 3 is out of bounds for an array of length 2"),
            "{err}"
        );
        let err = patched(doc.clone(), json!([{"op":"remove","path":"/a/-"}])).unwrap_err();
        assert!(
            err.to_string().contains("\"-\" is not a valid array index"),
            "{err}"
        );
        let err = patched(
            doc.clone(),
            json!([{"op":"replace","path":"/a/01","value":0}]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("path does not exist"), "{err}");
        assert_eq!(
            patched(doc, json!([{"op":"replace","path":"/a/0","value":0}])).unwrap(),
            json!({"a":[0,2]})
        );
    }

    #[test]
    fn kubernetes_annotation_with_slash_and_finalizer_append() {
        let doc = json!({"metadata":{"annotations":{},"finalizers":["a"]}});
        let out = patched(
            doc,
            json!([
                {"op":"add","path":"/metadata/annotations/fleetward.dev~1paused","value":"true"},
                {"op":"add","path":"/metadata/finalizers/-","value":"fleetward.dev/cleanup"},
                {"op":"test","path":"/metadata/finalizers/0","value":"a"}
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"metadata":{"annotations":{"fleetward.dev/paused":"true"},"finalizers":["a","fleetward.dev/cleanup"]}})
        );
    }

    #[test]
    fn move_copy_root_and_numeric_equality() {
        let err = patched(
            json!({"a":{"b":1}}),
            json!([{"op":"move","from":"/a","path":"/a/b/c"}]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("own children"), "{err}");
        assert_eq!(
            patched(
                json!({"a":1}),
                json!([{"op":"move","from":"/a","path":"/a"}])
            )
            .unwrap(),
            json!({"a":1})
        );
        assert_eq!(
            patched(
                json!({"a":{"x":[1]}}),
                json!([{"op":"copy","from":"/a","path":"/b"}])
            )
            .unwrap(),
            json!({"a":{"x":[1]},"b":{"x":[1]}})
        );
        assert_eq!(
            patched(
                json!({"a":1}),
                json!([{"op":"replace","path":"","value":[1]}])
            )
            .unwrap(),
            json!([1])
        );
        assert!(patched(json!({"a":1}), json!([{"op":"remove","path":""}])).is_err());
        assert!(
            patched(
                json!({"a":1}),
                json!([{"op":"test","path":"/a","value":1.0}])
            )
            .is_ok()
        );
        assert!(
            patched(
                json!({"a":{"x":1,"y":[2]}}),
                json!([{"op":"test","path":"/a","value":{"y":[2.0],"x":1}}])
            )
            .is_ok()
        );
        let err =
            patched(json!({"a":1}), json!([{"op":"test","path":"/b","value":1}])).unwrap_err();
        assert!(
            err.to_string().contains("test failed: path does not exist"),
            "{err}"
        );
        assert_eq!(patched(json!({"a":1}), json!([])).unwrap(), json!({"a":1}));
    }
}
