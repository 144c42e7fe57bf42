//! CEL values, and the conversion of a JSON value under its schema node into one, as the real
//! server's `UnstructuredToVal` does: `integer` is `int`, `number` is `double`; an object with
//! `properties` shows only its declared properties, and a `null` there counts as absent
//! (`has()` is false); a map (`additionalProperties`) keeps every key; `set` and `map` lists
//! compare without regard to order. Strings whose `format` makes them timestamps, durations or
//! bytes in CEL become [`Val::Opaque`]: any use of one is unsupported, so the rule is skipped.

use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::Value;

/// A CEL value.
#[derive(Debug, Clone)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(Rc<str>),
    List(Rc<List>),
    Map(Rc<Map>),
    /// A value of a CEL type the evaluator does not implement (timestamp, duration, bytes).
    Opaque,
}

/// A list; `unordered` for `x-kubernetes-list-type: set|map` (equality ignores order).
#[derive(Debug, Clone, Default)]
pub struct List {
    pub items: Vec<Val>,
    pub unordered: bool,
}

/// A map key (CEL allows `int`, `uint`, `bool` and `string` keys).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Str(Rc<str>),
}

impl Key {
    /// The key of a value, if it can be one.
    pub fn of(v: &Val) -> Option<Key> {
        match v {
            Val::Bool(b) => Some(Key::Bool(*b)),
            Val::Int(i) => Some(Key::Int(*i)),
            Val::Uint(u) => Some(Key::Uint(*u)),
            Val::Str(s) => Some(Key::Str(s.clone())),
            _ => None,
        }
    }

    /// The key as a value (comprehensions over maps range over keys).
    pub fn to_val(&self) -> Val {
        match self {
            Key::Bool(b) => Val::Bool(*b),
            Key::Int(i) => Val::Int(*i),
            Key::Uint(u) => Val::Uint(*u),
            Key::Str(s) => Val::Str(s.clone()),
        }
    }

    /// As cel-go prints a key in `no such key: …`.
    pub fn text(&self) -> String {
        match self {
            Key::Bool(b) => b.to_string(),
            Key::Int(i) => i.to_string(),
            Key::Uint(u) => u.to_string(),
            Key::Str(s) => s.to_string(),
        }
    }
}

/// A map or an object.
#[derive(Debug, Clone, Default)]
pub struct Map {
    pub entries: BTreeMap<Key, Val>,
}

impl Val {
    pub fn str(s: &str) -> Val {
        Val::Str(s.into())
    }

    pub fn list(items: Vec<Val>) -> Val {
        Val::List(Rc::new(List {
            items,
            unordered: false,
        }))
    }
}

fn flag(schema: Option<&Value>, name: &str) -> bool {
    schema
        .and_then(|s| s.get(name))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn type_of(schema: Option<&Value>) -> Option<&str> {
    schema.and_then(|s| s.get("type")).and_then(Value::as_str)
}

/// The CEL value of `v` under `schema`. `resource_root` for the root of the object (and of
/// embedded resources), where `apiVersion`, `kind` and `metadata.name`/`generateName` are
/// visible whatever the schema says.
pub fn from_json(v: &Value, schema: Option<&Value>, resource_root: bool) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => number(n, schema),
        Value::String(s) => {
            let format = schema.and_then(|s| s.get("format")).and_then(Value::as_str);
            match (type_of(schema), format) {
                (Some("string"), Some("date-time" | "duration" | "byte")) => Val::Opaque,
                _ => Val::str(s),
            }
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.get("items"));
            let list_type = schema
                .and_then(|s| s.get("x-kubernetes-list-type"))
                .and_then(Value::as_str);
            Val::List(Rc::new(List {
                items: items
                    .iter()
                    .map(|i| {
                        from_json(
                            i,
                            item_schema,
                            flag(item_schema, "x-kubernetes-embedded-resource"),
                        )
                    })
                    .collect(),
                unordered: matches!(list_type, Some("set" | "map")),
            }))
        }
        Value::Object(map) => {
            let properties = schema
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object);
            let additional = schema.and_then(|s| s.get("additionalProperties"));
            let mut entries = BTreeMap::new();
            if resource_root {
                for k in ["apiVersion", "kind"] {
                    if let Some(Value::String(s)) = map.get(k) {
                        entries.insert(Key::Str(k.into()), Val::str(s));
                    }
                }
                let mut meta = BTreeMap::new();
                for k in ["name", "generateName"] {
                    if let Some(Value::String(s)) = map.get("metadata").and_then(|m| m.get(k)) {
                        meta.insert(Key::Str(k.into()), Val::str(s));
                    }
                }
                entries.insert(
                    Key::Str("metadata".into()),
                    Val::Map(Rc::new(Map { entries: meta })),
                );
            }
            if let Some(properties) = properties {
                for (k, prop) in properties {
                    if resource_root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                        continue;
                    }
                    match map.get(k) {
                        None | Some(Value::Null) => {}
                        Some(value) => {
                            let embedded = flag(Some(prop), "x-kubernetes-embedded-resource");
                            entries.insert(
                                Key::Str(k.as_str().into()),
                                from_json(value, Some(prop), embedded),
                            );
                        }
                    }
                }
            } else if let Some(ap) = additional.filter(|a| a.is_object()) {
                let embedded = flag(Some(ap), "x-kubernetes-embedded-resource");
                for (k, value) in map {
                    entries.insert(
                        Key::Str(k.as_str().into()),
                        from_json(value, Some(ap), embedded),
                    );
                }
            } else {
                // Preserved unknown fields: dynamic values.
                for (k, value) in map {
                    entries.insert(Key::Str(k.as_str().into()), from_json(value, None, false));
                }
            }
            Val::Map(Rc::new(Map { entries }))
        }
    }
}

fn number(n: &serde_json::Number, schema: Option<&Value>) -> Val {
    let as_double = || n.as_f64().map_or(Val::Opaque, Val::Double);
    match type_of(schema) {
        Some("number") => as_double(),
        _ => match n.as_i64() {
            Some(i) => Val::Int(i),
            None => match n.as_u64() {
                Some(_) => Val::Opaque, // an int64 field holding more than int64: not CEL
                None => match n.as_f64() {
                    // `5.0` in an integer field is the integer 5.
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Val::Int(f as i64),
                    _ => as_double(),
                },
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(v: &Val) -> Vec<String> {
        match v {
            Val::Map(m) => m.entries.keys().map(Key::text).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn objects_show_declared_non_null_properties_only() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string"}, "b": {"type": "string", "nullable": true},
            "n": {"type": "number"}, "i": {"type": "integer"}}});
        let v = from_json(
            &json!({"a": "x", "b": null, "n": 5, "i": 5.0, "junk": 1}),
            Some(&schema),
            false,
        );
        assert_eq!(keys(&v), ["a", "i", "n"]);
        let Val::Map(m) = &v else { unreachable!() };
        assert!(matches!(m.entries[&Key::Str("n".into())], Val::Double(f) if f == 5.0));
        assert!(matches!(m.entries[&Key::Str("i".into())], Val::Int(5)));
    }

    #[test]
    fn maps_keep_nulls_and_roots_show_type_and_name() {
        let schema =
            json!({"type": "object", "additionalProperties": {"type": "string", "nullable": true}});
        assert_eq!(
            keys(&from_json(&json!({"k": null}), Some(&schema), false)),
            ["k"]
        );
        let root = json!({"type": "object", "properties": {"spec": {"type": "object"}}});
        let v = from_json(
            &json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "n", "labels": {}}, "spec": {}}),
            Some(&root),
            true,
        );
        assert_eq!(keys(&v), ["apiVersion", "kind", "metadata", "spec"]);
        let Val::Map(m) = &v else { unreachable!() };
        assert_eq!(keys(&m.entries[&Key::Str("metadata".into())]), ["name"]);
    }

    #[test]
    fn timestamps_are_opaque_and_sets_unordered() {
        let s = json!({"type": "string", "format": "date-time"});
        assert!(matches!(
            from_json(&json!("2026-01-05T00:00:00Z"), Some(&s), false),
            Val::Opaque
        ));
        let set =
            json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}});
        let Val::List(l) = from_json(&json!(["a"]), Some(&set), false) else {
            unreachable!()
        };
        assert!(l.unordered);
    }
}
