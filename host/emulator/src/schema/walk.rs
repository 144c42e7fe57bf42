//! The schema walker: defaults, prunes and validates one value against one schema node,
//! recursing through `properties`, `additionalProperties` and `items`.

use serde_json::{Map, Value};

use super::format;
use super::pattern::Regex;
use super::{FieldError, FieldErrorKind};

/// Validates the object root: `apiVersion`, `kind` and `metadata` are kept and skipped.
pub(super) fn validate_root(obj: &mut Value, schema: &Value) -> Vec<FieldError> {
    let mut walker = Walker::default();
    walker.walk(obj, schema, "", Position::Root);
    walker.errors
}

/// Where a value sits, for the fields that are always kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Root,
    Inner,
}

#[derive(Debug, Default)]
struct Walker {
    errors: Vec<FieldError>,
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// How the real server names a JSON value's type in messages.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_integral(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integral(n: &serde_json::Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
}

fn type_matches(expected: &str, v: &Value) -> bool {
    match (expected, v) {
        ("object", Value::Object(_))
        | ("array", Value::Array(_))
        | ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => is_integral(n),
        _ => false,
    }
}

/// Numeric equality for `enum` (1 equals 1.0), structural otherwise.
pub(super) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A bad value as the real server prints it: strings quoted, numbers bare, others as JSON.
fn bad_value(v: &Value) -> String {
    v.to_string()
}

/// A number from the schema as the real server prints it (`3`, not `3.0`).
fn number_text(n: &Value) -> String {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

impl Walker {
    fn push(&mut self, path: &str, kind: FieldErrorKind, body: String) {
        self.errors.push(FieldError {
            path: shown(path).to_owned(),
            kind,
            message: format!("{}: {body}", shown(path)),
        });
    }

    fn invalid(&mut self, path: &str, value: &Value, detail: String) {
        self.push(
            path,
            FieldErrorKind::Invalid,
            format!("Invalid value: {}: {detail}", bad_value(value)),
        );
    }

    fn walk(&mut self, value: &mut Value, schema: &Value, path: &str, position: Position) {
        if !schema.is_object() {
            return; // `true`/absent schema: anything goes.
        }
        if value.is_null() {
            if !flag(schema, "nullable")
                && let Some(expected) = schema.get("type").and_then(Value::as_str)
            {
                self.push(
                    path,
                    FieldErrorKind::TypeInvalid,
                    format!(
                        "Invalid value: \"null\": {} in body must be of type {expected}: \"null\"",
                        shown(path)
                    ),
                );
            }
            return;
        }
        if flag(schema, "x-kubernetes-int-or-string") {
            if !matches!(type_of(value), "integer" | "string") {
                let actual = type_of(value);
                self.push(
                    path,
                    FieldErrorKind::TypeInvalid,
                    format!(
                        "Invalid value: \"{actual}\": {} in body must be of type integer,string: \"{actual}\"",
                        shown(path)
                    ),
                );
                return;
            }
        } else if let Some(expected) = schema.get("type").and_then(Value::as_str)
            && !type_matches(expected, value)
        {
            let actual = type_of(value);
            self.push(
                    path,
                    FieldErrorKind::TypeInvalid,
                    format!(
                        "Invalid value: \"{actual}\": {} in body must be of type {expected}: \"{actual}\"",
                        shown(path)
                    ),
                );
            return;
        }

        match value {
            Value::Object(map) => self.walk_object(map, schema, path, position),
            Value::Array(items) => self.walk_array(items, schema, path),
            _ => {}
        }
        match &*value {
            Value::String(s) => self.check_string(s, value, schema, path),
            Value::Number(_) => self.check_number(value, schema, path),
            _ => {}
        }
        self.check_enum(value, schema, path);
        self.check_combinators(value, schema, path);
    }

    fn walk_object(
        &mut self,
        map: &mut Map<String, Value>,
        schema: &Value,
        path: &str,
        position: Position,
    ) {
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let additional = schema.get("additionalProperties");
        let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
        let embedded = flag(schema, "x-kubernetes-embedded-resource");

        // Nulls of non-nullable properties are pruned, then defaults fill missing properties.
        for (name, prop) in properties {
            if map.get(name).is_some_and(Value::is_null) && !flag(prop, "nullable") {
                map.remove(name);
            }
            if !map.contains_key(name)
                && let Some(default) = prop.get("default")
            {
                map.insert(name.clone(), default.clone());
            }
        }

        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let always_kept = matches!(key.as_str(), "apiVersion" | "kind" | "metadata")
                && (position == Position::Root || embedded);
            if always_kept {
                continue;
            }
            if let Some(prop) = properties.get(&key) {
                if let Some(v) = map.get_mut(&key) {
                    self.walk(v, prop, &child(path, &key), Position::Inner);
                }
                continue;
            }
            match additional {
                Some(ap @ Value::Object(_)) => {
                    if map.get(&key).is_some_and(Value::is_null) && !flag(ap, "nullable") {
                        map.remove(&key);
                        continue;
                    }
                    if let Some(v) = map.get_mut(&key) {
                        self.walk(v, ap, &format!("{path}[{key}]"), Position::Inner);
                    }
                }
                Some(Value::Bool(true)) => {}
                _ if preserve => {}
                _ => {
                    map.remove(&key);
                }
            }
        }

        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    self.push(
                        &child(path, name),
                        FieldErrorKind::Required,
                        "Required value".to_owned(),
                    );
                }
            }
        }
        if embedded {
            for name in ["apiVersion", "kind"] {
                if !map.contains_key(name) {
                    self.push(
                        &child(path, name),
                        FieldErrorKind::Required,
                        "Required value: must not be empty".to_owned(),
                    );
                }
            }
        }
        let count = map.len();
        if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
            && count as u64 > max
        {
            self.push(
                path,
                FieldErrorKind::TooMany,
                format!("Too many: {count}: must have at most {max} items"),
            );
        }
        if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
            && (count as u64) < min
        {
            let detail = format!(
                "{} in body should have at least {min} properties",
                shown(path)
            );
            self.invalid(path, &Value::from(count), detail);
        }
    }

    fn walk_array(&mut self, items: &mut [Value], schema: &Value, path: &str) {
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter_mut().enumerate() {
                self.walk(item, item_schema, &format!("{path}[{i}]"), Position::Inner);
            }
        }
        let len = items.len();
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && len as u64 > max
        {
            let noun = if max == 1 { "item" } else { "items" };
            self.push(
                path,
                FieldErrorKind::TooMany,
                format!("Too many: {len}: must have at most {max} {noun}"),
            );
        }
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (len as u64) < min
        {
            let detail = format!("{} in body should have at least {min} items", shown(path));
            self.invalid(path, &Value::from(len), detail);
        }
        match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => {
                for i in 1..len {
                    if items[..i]
                        .iter()
                        .any(|earlier| json_equal(earlier, &items[i]))
                    {
                        self.push(
                            &format!("{path}[{i}]"),
                            FieldErrorKind::Duplicate,
                            format!("Duplicate value: {}", bad_value(&items[i])),
                        );
                    }
                }
            }
            Some("map") => {
                let keys: Vec<&str> = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if keys.is_empty() {
                    return;
                }
                let key_of = |item: &Value| -> Map<String, Value> {
                    keys.iter()
                        .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                        .collect()
                };
                for i in 1..len {
                    let mine = key_of(&items[i]);
                    if items[..i].iter().any(|earlier| key_of(earlier) == mine) {
                        self.push(
                            &format!("{path}[{i}]"),
                            FieldErrorKind::Duplicate,
                            format!("Duplicate value: {}", Value::Object(mine)),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn check_string(&mut self, s: &str, value: &Value, schema: &Value, path: &str) {
        let chars = s.chars().count() as u64;
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            let noun = if max == 1 { "byte" } else { "bytes" };
            self.push(
                path,
                FieldErrorKind::TooLong,
                format!("Too long: may not be more than {max} {noun}"),
            );
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && chars < min
        {
            let detail = format!(
                "{} in body should be at least {min} chars long",
                shown(path)
            );
            self.invalid(path, value, detail);
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && let Ok(re) = Regex::compile(pattern)
            && !re.too_costly(s)
            && !re.is_match(s)
        {
            let detail = format!("{} in body should match '{pattern}'", shown(path));
            self.invalid(path, value, detail);
        }
        if let Some(fmt) = schema.get("format").and_then(Value::as_str)
            && !format::conforms(fmt, s)
        {
            let detail = format!(
                "{} in body must be of type {fmt}: {}",
                shown(path),
                bad_value(value)
            );
            self.invalid(path, value, detail);
        }
    }

    fn check_number(&mut self, value: &Value, schema: &Value, path: &str) {
        let Some(x) = value.as_f64() else { return };
        let p = shown(path);
        if let Some(min) = schema.get("minimum").filter(|m| m.is_number()) {
            let exclusive = flag(schema, "exclusiveMinimum");
            let m = min.as_f64().unwrap_or(f64::MIN);
            if (exclusive && x <= m) || x < m {
                let op = if exclusive {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                self.invalid(
                    path,
                    value,
                    format!("{p} in body should be {op} {}", number_text(min)),
                );
            }
        }
        if let Some(max) = schema.get("maximum").filter(|m| m.is_number()) {
            let exclusive = flag(schema, "exclusiveMaximum");
            let m = max.as_f64().unwrap_or(f64::MAX);
            if (exclusive && x >= m) || x > m {
                let op = if exclusive {
                    "less than"
                } else {
                    "less than or equal to"
                };
                self.invalid(
                    path,
                    value,
                    format!("{p} in body should be {op} {}", number_text(max)),
                );
            }
        }
        if let Some(of) = schema.get("multipleOf").and_then(Value::as_f64)
            && of > 0.0
            && ((x / of).fract().abs() > 1e-9)
        {
            let detail = format!(
                "{p} in body should be a multiple of {}",
                number_text(&schema["multipleOf"])
            );
            self.invalid(path, value, detail);
        }
    }

    fn check_enum(&mut self, value: &Value, schema: &Value, path: &str) {
        let Some(allowed) = schema.get("enum").and_then(Value::as_array) else {
            return;
        };
        if allowed.iter().any(|a| json_equal(a, value)) {
            return;
        }
        let list: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(s) => format!("{s:?}"),
                other => format!("\"{other}\""),
            })
            .collect();
        self.push(
            path,
            FieldErrorKind::Unsupported,
            format!(
                "Unsupported value: {}: supported values: {}",
                bad_value(value),
                list.join(", ")
            ),
        );
    }

    /// `allOf`/`anyOf`/`oneOf`/`not`: value validation only (structural schemas may not
    /// declare types or defaults there), evaluated on a copy.
    fn check_combinators(&mut self, value: &Value, schema: &Value, path: &str) {
        let errors_for = |sub: &Value| {
            let mut copy = value.clone();
            let mut w = Walker::default();
            w.walk(&mut copy, sub, path, Position::Inner);
            w.errors
        };
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for sub in all {
                let errs = errors_for(sub);
                self.errors.extend(errs);
            }
        }
        let p = shown(path);
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
            && !any.is_empty()
            && !any.iter().any(|sub| errors_for(sub).is_empty())
        {
            self.invalid(
                path,
                value,
                format!("{p} in body must validate at least one schema (anyOf)"),
            );
        }
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
            let passing = one.iter().filter(|sub| errors_for(sub).is_empty()).count();
            if !one.is_empty() && passing != 1 {
                self.invalid(
                    path,
                    value,
                    format!("{p} in body must validate one and only one schema (oneOf)"),
                );
            }
        }
        if let Some(not) = schema.get("not")
            && not.is_object()
            && errors_for(not).is_empty()
        {
            self.invalid(
                path,
                value,
                format!("{p} in body must not validate the schema (not)"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FieldErrorKind, validate_and_prune};
    use serde_json::{Value, json};

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "required": ["version"],
                    "properties": {
                        "version": {"type": "string", "minLength": 1, "maxLength": 10},
                        "replicas": {"type": "integer", "minimum": 0, "maximum": 100, "default": 1},
                        "ratio": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "exclusiveMaximum": true, "maximum": 1},
                        "failureMode": {"type": "string", "enum": ["Fallback", "Hold"], "default": "Fallback"},
                        "paused": {"type": "boolean"},
                        "note": {"type": "string", "nullable": true},
                        "window": {"type": "string", "format": "date-time"},
                        "port": {"x-kubernetes-int-or-string": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                                   "properties": {"mode": {"type": "string", "default": "auto"}}},
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                     "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                        "zones": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "minItems": 1},
                        "nodePools": {
                            "type": "array", "maxItems": 3,
                            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "required": ["name"], "properties": {
                                "name": {"type": "string"},
                                "replicas": {"type": "integer", "default": 3},
                                "size": {"type": "string", "default": "small"}
                            }}
                        }
                    }
                },
                "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
            }
        })
    }

    fn object(spec: Value) -> Value {
        json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
               "metadata": {"name": "x", "labels": {"a": "b"}, "annotations": {"k": "v"}}, "spec": spec})
    }

    fn errors(spec: Value) -> Vec<(String, FieldErrorKind, String)> {
        let mut obj = object(spec);
        match validate_and_prune(&mut obj, &schema()) {
            Ok(()) => Vec::new(),
            Err(errs) => errs
                .into_iter()
                .map(|e| (e.path, e.kind, e.message))
                .collect(),
        }
    }

    fn one_error(spec: Value) -> (String, FieldErrorKind, String) {
        let mut errs = errors(spec.clone());
        assert_eq!(errs.len(), 1, "{spec}: {errs:?}");
        errs.remove(0)
    }

    #[test]
    fn valid_object_is_defaulted_and_pruned() {
        let mut obj = object(json!({
            "version": "1.30", "unknownField": 1,
            "nodePools": [{"name": "a", "extra": true}, {"name": "b", "replicas": 5}],
            "labels": {"team": "x"},
            "config": {"anything": {"goes": [1]}},
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"l": "1"}}, "spec": {"x": 1}, "junk": 1},
            "note": null, "paused": null, "port": "http"
        }));
        obj["topLevelJunk"] = json!(true);
        obj["status"] = json!({"phase": "Ready", "junk": 1});
        validate_and_prune(&mut obj, &schema()).unwrap();
        assert_eq!(
            obj,
            json!({
                "apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
                "metadata": {"name": "x", "labels": {"a": "b"}, "annotations": {"k": "v"}},
                "spec": {
                    "version": "1.30", "replicas": 1, "failureMode": "Fallback",
                    "nodePools": [{"name": "a", "replicas": 3, "size": "small"}, {"name": "b", "replicas": 5, "size": "small"}],
                    "labels": {"team": "x"},
                    "config": {"anything": {"goes": [1]}, "mode": "auto"},
                    "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"l": "1"}}, "spec": {"x": 1}},
                    "note": null, "port": "http"
                },
                "status": {"phase": "Ready"}
            })
        );
    }

    #[test]
    fn required_value() {
        assert_eq!(
            one_error(json!({})),
            (
                "spec.version".into(),
                FieldErrorKind::Required,
                "spec.version: Required value".into()
            )
        );
        let (path, _, msg) = one_error(json!({"version": "1", "nodePools": [{"replicas": 1}]}));
        assert_eq!(path, "spec.nodePools[0].name");
        assert_eq!(msg, "spec.nodePools[0].name: Required value");
    }

    #[test]
    fn type_errors() {
        assert_eq!(
            one_error(json!({"version": "1", "replicas": "string"})),
            (
                "spec.replicas".into(),
                FieldErrorKind::TypeInvalid,
                "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"".into()
            )
        );
        let (_, kind, msg) =
            one_error(json!({"version": "1", "nodePools": [{"name": "a", "replicas": 1.5}]}));
        assert_eq!(kind, FieldErrorKind::TypeInvalid);
        assert_eq!(
            msg,
            "spec.nodePools[0].replicas: Invalid value: \"number\": spec.nodePools[0].replicas in body must be of type integer: \"number\""
        );
        assert!(
            errors(json!({"version": "1", "replicas": 2.0})).is_empty(),
            "integral floats are integers"
        );
        let (_, _, msg) = one_error(json!({"version": "1", "port": true}));
        assert_eq!(
            msg,
            "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""
        );
        assert!(errors(json!({"version": "1", "port": 8080})).is_empty());
        let (_, _, msg) = one_error(json!({"version": "1", "labels": {"a": 1}}));
        assert_eq!(
            msg,
            "spec.labels[a]: Invalid value: \"integer\": spec.labels[a] in body must be of type string: \"integer\""
        );
        let (_, kind, msg) = one_error(json!({"version": "1", "zones": [null]}));
        assert_eq!(kind, FieldErrorKind::TypeInvalid);
        assert_eq!(
            msg,
            "spec.zones[0]: Invalid value: \"null\": spec.zones[0] in body must be of type string: \"null\""
        );
    }

    #[test]
    fn enum_is_unsupported_value() {
        assert_eq!(
            one_error(json!({"version": "1", "failureMode": "Explode"})),
            (
                "spec.failureMode".into(),
                FieldErrorKind::Unsupported,
                "spec.failureMode: Unsupported value: \"Explode\": supported values: \"Fallback\", \"Hold\"".into()
            )
        );
    }

    #[test]
    fn bounds_lengths_and_counts() {
        let (_, kind, msg) = one_error(json!({"version": "1", "replicas": -1}));
        assert_eq!(kind, FieldErrorKind::Invalid);
        assert_eq!(
            msg,
            "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
        );
        let (_, _, msg) = one_error(json!({"version": "1", "replicas": 101}));
        assert_eq!(
            msg,
            "spec.replicas: Invalid value: 101: spec.replicas in body should be less than or equal to 100"
        );
        let (_, _, msg) = one_error(json!({"version": "1", "ratio": 0}));
        assert_eq!(
            msg,
            "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"
        );
        let (_, _, msg) = one_error(json!({"version": "1", "ratio": 1}));
        assert_eq!(
            msg,
            "spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"
        );
        assert!(errors(json!({"version": "1", "ratio": 0.5})).is_empty());
        assert_eq!(
            one_error(json!({"version": "1.30.0-rc.1"})),
            (
                "spec.version".into(),
                FieldErrorKind::TooLong,
                "spec.version: Too long: may not be more than 10 bytes".into()
            )
        );
        let (_, _, msg) = one_error(json!({"version": ""}));
        assert_eq!(
            msg,
            "spec.version: Invalid value: \"\": spec.version in body should be at least 1 chars long"
        );
        let pools: Vec<Value> = (0..4).map(|i| json!({"name": format!("p{i}")})).collect();
        assert_eq!(
            one_error(json!({"version": "1", "nodePools": pools})),
            (
                "spec.nodePools".into(),
                FieldErrorKind::TooMany,
                "spec.nodePools: Too many: 4: must have at most 3 items".into()
            )
        );
        let (_, _, msg) = one_error(json!({"version": "1", "zones": []}));
        assert_eq!(
            msg,
            "spec.zones: Invalid value: 0: spec.zones in body should have at least 1 items"
        );
    }

    #[test]
    fn list_types_reject_duplicates() {
        assert_eq!(
            one_error(json!({"version": "1", "zones": ["a", "b", "a"]})),
            (
                "spec.zones[2]".into(),
                FieldErrorKind::Duplicate,
                "spec.zones[2]: Duplicate value: \"a\"".into()
            )
        );
        let (path, kind, msg) = one_error(
            json!({"version": "1", "nodePools": [{"name": "a"}, {"name": "a", "replicas": 2}]}),
        );
        assert_eq!(
            (path.as_str(), kind),
            ("spec.nodePools[1]", FieldErrorKind::Duplicate)
        );
        assert_eq!(msg, "spec.nodePools[1]: Duplicate value: {\"name\":\"a\"}");
    }

    #[test]
    fn format_is_checked_leniently() {
        assert!(errors(json!({"version": "1", "window": "2026-01-05T00:00:00Z"})).is_empty());
        let (_, kind, msg) = one_error(json!({"version": "1", "window": "tomorrow"}));
        assert_eq!(kind, FieldErrorKind::Invalid);
        assert_eq!(
            msg,
            "spec.window: Invalid value: \"tomorrow\": spec.window in body must be of type date-time: \"tomorrow\""
        );
    }

    #[test]
    fn patterns_are_checked_and_unsupported_ones_skipped() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "version": {"type": "string", "pattern": "^v?[0-9]+\\.[0-9]+(\\.[0-9]+)?$"},
            "flagged": {"type": "string", "pattern": "(?i)^abc$"}
        }}}});
        let run = |spec: Value| {
            let mut obj = json!({"apiVersion": "v", "kind": "K", "metadata": {}, "spec": spec});
            validate_and_prune(&mut obj, &s)
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.kind, e.message))
                .collect::<Vec<_>>()
        };
        assert!(run(json!({"version": "v1.30.1", "flagged": "XYZ"})).is_empty());
        assert_eq!(
            run(json!({"version": "1.30-rc"})),
            [(FieldErrorKind::Invalid, "spec.version: Invalid value: \"1.30-rc\": spec.version in body should match '^v?[0-9]+\\.[0-9]+(\\.[0-9]+)?$'".to_owned())]
        );
    }

    #[test]
    fn all_errors_are_reported_in_document_order() {
        let errs = errors(json!({"replicas": "x", "failureMode": "Nope", "nodePools": [{}]}));
        let paths: Vec<&str> = errs.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(paths.len(), 4, "{errs:?}");
        for p in [
            "spec.version",
            "spec.replicas",
            "spec.failureMode",
            "spec.nodePools[0].name",
        ] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
    }

    #[test]
    fn embedded_resource_requires_type_meta() {
        let errs = errors(json!({"version": "1", "template": {"spec": {}}}));
        let msgs: Vec<&str> = errs.iter().map(|e| e.2.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "spec.template.apiVersion: Required value: must not be empty",
                "spec.template.kind: Required value: must not be empty"
            ]
        );
    }

    #[test]
    fn null_handling() {
        // Non-nullable null with a default is defaulted; without one it is pruned.
        let mut obj =
            object(json!({"version": "1", "replicas": null, "paused": null, "note": null}));
        validate_and_prune(&mut obj, &schema()).unwrap();
        assert_eq!(obj["spec"]["replicas"], 1);
        assert!(obj["spec"].get("paused").is_none());
        assert_eq!(obj["spec"]["note"], Value::Null);
        // A null spec is pruned, so nothing inside is required.
        let mut obj = object(Value::Null);
        validate_and_prune(&mut obj, &schema()).unwrap();
        assert!(obj.get("spec").is_none());
    }

    #[test]
    fn combinators_and_additional_properties_bool() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
        "additionalProperties": true,
        "properties": {
            "a": {"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 0}]},
            "b": {"type": "integer", "oneOf": [{"minimum": 0}, {"minimum": 5}]},
            "c": {"type": "string", "not": {"enum": ["forbidden"]}},
            "d": {"type": "integer", "allOf": [{"minimum": 2}, {"maximum": 4}]}
        }}}});
        let run = |spec: Value| {
            let mut obj = json!({"apiVersion": "v", "kind": "K", "metadata": {}, "spec": spec});
            let r = validate_and_prune(&mut obj, &s).err().unwrap_or_default();
            (obj, r.into_iter().map(|e| e.message).collect::<Vec<_>>())
        };
        let (obj, errs) = run(json!({"a": 11, "b": 1, "c": "ok", "d": 3, "other": {"x": 1}}));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            obj["spec"]["other"],
            json!({"x": 1}),
            "additionalProperties: true keeps unknowns"
        );
        let (_, errs) = run(json!({"a": 5, "b": 6, "c": "forbidden", "d": 5}));
        assert_eq!(
            errs,
            [
                "spec.a: Invalid value: 5: spec.a in body must validate at least one schema (anyOf)",
                "spec.b: Invalid value: 6: spec.b in body must validate one and only one schema (oneOf)",
                "spec.c: Invalid value: \"forbidden\": spec.c in body must not validate the schema (not)",
                "spec.d: Invalid value: 5: spec.d in body should be less than or equal to 4",
            ]
        );
    }

    #[test]
    fn root_must_be_an_object_and_empty_schema_prunes_everything() {
        let mut not_obj = json!([1]);
        let errs = validate_and_prune(&mut not_obj, &schema()).unwrap_err();
        assert_eq!(errs[0].kind, FieldErrorKind::TypeInvalid);
        let mut obj = object(json!({"a": 1}));
        validate_and_prune(
            &mut obj,
            &json!({"type": "object", "properties": {"spec": {"type": "object"}}}),
        )
        .unwrap();
        assert_eq!(obj["spec"], json!({}));
        assert_eq!(
            obj["metadata"]["labels"],
            json!({"a": "b"}),
            "metadata is never pruned"
        );
    }
}
