//! `x-kubernetes-validations`: CEL rules in a CRD schema, evaluated as the real server does.
//!
//! Without them the emulator accepted objects a real server refuses (a ManagedCluster with two
//! node pools of the same name, a changed `spec.tenant`), and a controller tested against it
//! never met those refusals. This is a small CEL subset, parsed and evaluated here
//! (`parse`, `eval`, `value`) with no dependency:
//!
//! * literals (int, uint, double, string, bool, null), lists and maps; `self`, `oldSelf`;
//!   field selection, indexing, `has()`; `! - * / % + == != < <= > >= in && || ?:`;
//! * `size`, `contains`, `startsWith`, `endsWith`, `matches` (the RE2 subset of
//!   `schema::pattern`), `lowerAscii`, `upperAscii`, `trim`, `split`, `join`, `replace`, and the
//!   conversions `int`, `uint`, `double`, `string`, `bool`, `dyn`;
//! * the macros `all`, `exists`, `exists_one`, `map` (2 and 3 arguments), `filter`.
//!
//! The walk follows the real validator (`apiextensions-apiserver/pkg/apiserver/schema/cel`):
//! a rule sees `self` typed by its schema node (nullable fields set to `null` count as absent);
//! rules on `null` values are not run; a rule using `oldSelf` (a transition rule) runs only on
//! an update, where the old value *correlates* — through object properties, map keys and the
//! items of `x-kubernetes-list-type: map` lists (by key), nothing else — and it is never
//! ratcheted; any other rule that fails on a value equal to its correlated old value (or, for
//! an uncorrelatable one, inside an unchanged ancestor) is let through, as the real server's
//! validation ratcheting (on by default since v1.30) lets it through with a warning. Failures
//! read as the real server's: `spec.nodePools: Invalid value: node pool names must be
//! unique`, `failed rule: <rule>` without a message, `messageExpression`, `reason` and
//! `fieldPath` honoured, and runtime errors as `no such key: x evaluating rule: <message>`.
//!
//! **A rule the evaluator cannot handle is skipped, not failed**, as `schema::pattern` skips a
//! pattern outside its subset: rules that do not parse (other functions or macros, optional
//! syntax, bytes), values of CEL types it lacks (`date-time`/`duration`/`byte` strings), a type
//! mismatch the real server's type checker would have refused at CRD creation, and rules with
//! `optionalOldSelf`. Rules inside `allOf`/`anyOf`/`oneOf` are not run either. Cost is bounded
//! by a step budget per rule, not by the real server's static cost estimate (CRDs whose
//! estimated cost is too high are not refused at creation).

mod eval;
mod parse;
mod value;

use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;

use self::eval::{EvalError, evaluate};
use self::parse::{Expr, parse};
use self::value::{Val, from_json};
use super::walk::json_equal;
use super::{FieldError, FieldErrorKind};

const RULES: &str = "x-kubernetes-validations";

/// The message of the cause the real server adds when schema errors kept CEL rules from
/// running (its `hasBlockingErr`).
pub(super) const NOT_CHECKED: &str = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

/// Whether a schema error keeps the CEL rules from running: a type, required, enum or size
/// violation means the object lacks the shape the rules were written for.
pub(super) fn blocks_rules(e: &FieldError) -> bool {
    matches!(
        e.kind,
        FieldErrorKind::TypeInvalid
            | FieldErrorKind::Required
            | FieldErrorKind::Unsupported
            | FieldErrorKind::TooLong
            | FieldErrorKind::TooMany
    )
}

/// Whether `schema` holds a rule anywhere (`memo` keyed by node address, valid for one call).
fn has_rules(schema: &Value, memo: &mut HashMap<*const Value, bool>) -> bool {
    let key: *const Value = schema;
    if let Some(&known) = memo.get(&key) {
        return known;
    }
    let own = schema
        .get(RULES)
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    let found = own
        || schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| p.values().any(|s| has_rules(s, memo)))
        || schema.get("items").is_some_and(|s| has_rules(s, memo))
        || schema
            .get("additionalProperties")
            .filter(|s| s.is_object())
            .is_some_and(|s| has_rules(s, memo));
    memo.insert(key, found);
    found
}

/// Whether the schema has any rule (the real server reports [`NOT_CHECKED`] only then).
pub(super) fn schema_has_rules(schema: &Value) -> bool {
    has_rules(schema, &mut HashMap::new())
}

/// Runs every rule of `schema` against `obj` (already defaulted and pruned); `old` is the
/// stored object on an update, `None` on a create.
pub(super) fn validate(obj: &Value, old: Option<&Value>, schema: &Value) -> Vec<FieldError> {
    let mut walker = Walker::default();
    walker.node(obj, old, schema, "", true, false);
    walker.errors
}

#[derive(Default)]
struct Walker {
    errors: Vec<FieldError>,
    memo: HashMap<*const Value, bool>,
    parsed: HashMap<String, Option<Rc<Expr>>>,
    out_of_budget: bool,
}

/// One `x-kubernetes-validations` entry.
struct Rule<'s> {
    text: &'s str,
    message: Option<&'s str>,
    message_expression: Option<&'s str>,
    reason: Option<&'s str>,
    field_path: Option<&'s str>,
}

impl<'s> Rule<'s> {
    fn of(v: &'s Value) -> Option<Rule<'s>> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
        };
        if v.get("optionalOldSelf").and_then(Value::as_bool) == Some(true) {
            return None; // optional types are outside the subset
        }
        Some(Rule {
            text: s("rule")?,
            message: s("message"),
            message_expression: s("messageExpression"),
            reason: s("reason"),
            field_path: s("fieldPath"),
        })
    }

    /// The rule's name in messages: its message, else its text (`ruleErrorString`).
    fn error_string(&self) -> &str {
        self.message.unwrap_or(self.text).trim()
    }
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// `.a.b` of a rule's `fieldPath` appended to `path`; bracketed forms are not resolved.
fn with_field_path(path: &str, field_path: Option<&str>) -> String {
    match field_path.and_then(|f| f.strip_prefix('.')) {
        Some(rest) if !rest.contains('[') => {
            rest.split('.').fold(path.to_owned(), |p, n| child(&p, n))
        }
        _ => path.to_owned(),
    }
}

/// The path as the real server prints it; the root is a nil `field.Path`.
fn shown(path: &str) -> &str {
    if path.is_empty() { "<nil>" } else { path }
}

impl Walker {
    fn expr(&mut self, text: &str) -> Option<Rc<Expr>> {
        if let Some(known) = self.parsed.get(text) {
            return known.clone();
        }
        let e = parse(text).ok().map(Rc::new);
        self.parsed.insert(text.to_owned(), e.clone());
        e
    }

    fn push(&mut self, path: &str, kind: FieldErrorKind, body: String) {
        let p = shown(path);
        self.errors.push(FieldError {
            path: p.to_owned(),
            kind,
            message: format!("{p}: {body}"),
        });
    }

    /// `ratchet`: whether the nearest correlatable ancestor (or this value) is unchanged.
    fn node(
        &mut self,
        v: &Value,
        old: Option<&Value>,
        schema: &Value,
        path: &str,
        resource_root: bool,
        inherited_ratchet: bool,
    ) {
        if self.out_of_budget || v.is_null() || !has_rules(schema, &mut self.memo) {
            return;
        }
        let ratchet = match old {
            Some(o) => json_equal(o, v),
            None => inherited_ratchet,
        };
        if let Some(rules) = schema.get(RULES).and_then(Value::as_array) {
            for rule in rules.iter().filter_map(Rule::of) {
                self.run(&rule, v, old, schema, path, resource_root, ratchet);
                if self.out_of_budget {
                    return;
                }
            }
        }
        match v {
            Value::Object(map) => {
                let correlatable =
                    schema.get("x-kubernetes-map-type").and_then(Value::as_str) != Some("atomic");
                let old_map = old.and_then(Value::as_object).filter(|_| correlatable);
                if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                    for (k, prop) in properties {
                        if let Some(value) = map.get(k) {
                            let embedded = prop
                                .get("x-kubernetes-embedded-resource")
                                .and_then(Value::as_bool)
                                .unwrap_or(false);
                            let old_value = old_map.and_then(|o| o.get(k));
                            self.node(value, old_value, prop, &child(path, k), embedded, ratchet);
                        }
                    }
                } else if let Some(ap) =
                    schema.get("additionalProperties").filter(|a| a.is_object())
                {
                    for (k, value) in map {
                        let old_value = old_map.and_then(|o| o.get(k));
                        self.node(
                            value,
                            old_value,
                            ap,
                            &format!("{path}[{k}]"),
                            false,
                            ratchet,
                        );
                    }
                }
            }
            Value::Array(items) => {
                let Some(item_schema) = schema.get("items") else {
                    return;
                };
                let old_items = old_list_items(schema, old);
                let embedded = item_schema
                    .get("x-kubernetes-embedded-resource")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                for (i, item) in items.iter().enumerate() {
                    let old_item = old_items
                        .as_ref()
                        .and_then(|o| o.get(&list_key(schema, item)).copied());
                    self.node(
                        item,
                        old_item,
                        item_schema,
                        &format!("{path}[{i}]"),
                        embedded,
                        ratchet,
                    );
                }
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        rule: &Rule<'_>,
        v: &Value,
        old: Option<&Value>,
        schema: &Value,
        path: &str,
        resource_root: bool,
        ratchet: bool,
    ) {
        let Some(expr) = self.expr(rule.text) else {
            return; // outside the subset: skipped
        };
        let transition = expr.uses("oldSelf");
        if transition && old.is_none() {
            return;
        }
        let this = from_json(v, Some(schema), resource_root);
        let old_val = if transition {
            old.map(|o| from_json(o, Some(schema), resource_root))
        } else {
            None
        };
        match evaluate(&expr, this.clone(), old_val.clone()) {
            Ok(Val::Bool(false)) => {}
            Ok(_) => return, // true; a non-bool cannot pass the real type checker
            Err(EvalError::Unsupported(why)) => {
                tracing::debug!(
                    rule = rule.text,
                    why = %why,
                    "CEL rule skipped: outside the evaluator's subset"
                );
                return;
            }
            Err(EvalError::Runtime(message)) => {
                let body = format!(
                    "Invalid value: {message} evaluating rule: {}",
                    rule.error_string()
                );
                self.push(path, FieldErrorKind::Invalid, body);
                return;
            }
            Err(EvalError::Cost) => {
                let body = format!(
                    "Invalid value: 'operation cancelled: actual cost limit exceeded': no further validation rules will be run due to call cost exceeds limit for rule: {}",
                    rule.error_string()
                );
                self.push(path, FieldErrorKind::Invalid, body);
                self.out_of_budget = true;
                return;
            }
        }
        if !transition && ratchet {
            return; // unchanged since the stored object: ratcheted
        }
        let detail = rule
            .message_expression
            .and_then(|m| self.message_expression(m, this, old_val))
            .or_else(|| rule.message.map(|m| m.trim().to_owned()))
            .unwrap_or_else(|| format!("failed rule: {}", rule.text.trim()));
        let at = with_field_path(path, rule.field_path);
        let (kind, body) = match rule.reason {
            Some("FieldValueForbidden") => {
                (FieldErrorKind::Forbidden, format!("Forbidden: {detail}"))
            }
            Some("FieldValueRequired") => (
                FieldErrorKind::Required,
                format!("Required value: {detail}"),
            ),
            Some("FieldValueDuplicate") => {
                (FieldErrorKind::Duplicate, "Duplicate value".to_owned())
            }
            _ => (FieldErrorKind::Invalid, format!("Invalid value: {detail}")),
        };
        self.push(&at, kind, body);
    }

    /// A `messageExpression`'s string, or `None` (the real server then uses `message`).
    fn message_expression(&mut self, text: &str, this: Val, old: Option<Val>) -> Option<String> {
        let expr = self.expr(text)?;
        match evaluate(&expr, this, old) {
            Ok(Val::Str(s)) => {
                let s = s.trim();
                (!s.is_empty() && !s.contains('\n') && s.len() <= 5 * 1024).then(|| s.to_owned())
            }
            _ => None,
        }
    }
}

/// The key of a `map` list's item: its key fields, as JSON.
fn list_key(schema: &Value, item: &Value) -> String {
    let keys = schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|k| {
            k.iter()
                .filter_map(Value::as_str)
                .map(|k| item.get(k).cloned().unwrap_or(Value::Null))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Value::Array(keys).to_string()
}

/// The old items of a `map` list by key; `None` for other lists (their items do not
/// correlate).
fn old_list_items<'v>(
    schema: &Value,
    old: Option<&'v Value>,
) -> Option<HashMap<String, &'v Value>> {
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
        return None;
    }
    let items = old?.as_array()?;
    Some(items.iter().map(|i| (list_key(schema, i), i)).collect())
}

#[cfg(test)]
mod tests;
