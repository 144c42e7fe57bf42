//! Structural validation, pruning and defaulting of custom resources against their CRD's
//! `openAPIV3Schema`, as the real API server does on every create and update.
//!
//! [`validate_and_prune`] walks the object and its schema together: it applies `default`s,
//! drops fields the schema does not know (unless `x-kubernetes-preserve-unknown-fields`),
//! and collects every violation as a [`FieldError`] whose wording matches the real server,
//! so a test that asserts on a rejected custom resource reads the same against the emulator
//! and a cluster. `pattern`s are checked with a small RE2-subset matcher (`schema::pattern`); a
//! pattern outside that subset is skipped rather than guessed at. [`validate_rules`] then runs
//! the CEL rules (`x-kubernetes-validations`) with a small CEL-subset evaluator
//! (`schema::cel`, which documents the subset); a rule outside it is skipped the same way.
//!
//! ```
//! use fleetward_emulator::schema::{validate_and_prune, FieldErrorKind};
//! use serde_json::json;
//!
//! let schema = json!({"type": "object", "properties": {"spec": {
//!     "type": "object", "required": ["version"],
//!     "properties": {"version": {"type": "string"}, "replicas": {"type": "integer", "default": 1}}
//! }}});
//! let mut obj = json!({"apiVersion": "fleetward.dev/v1", "kind": "ManagedCluster",
//!     "metadata": {"name": "x"}, "spec": {"unknown": true}});
//! let errors = validate_and_prune(&mut obj, &schema).unwrap_err();
//! assert_eq!(errors[0].message, "spec.version: Required value");
//! assert_eq!(errors[0].kind.cause_reason(), "FieldValueRequired");
//! assert_eq!(obj["spec"], json!({"replicas": 1}));
//! ```

mod cel;
mod format;
mod pattern;
mod walk;

use serde_json::Value;

/// What kind of violation a [`FieldError`] is; maps to the `reason` of a `Status` cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// A `required` property is missing (`FieldValueRequired`).
    Required,
    /// The value breaks a constraint: bounds, `minLength`, `minItems`, `format`…
    /// (`FieldValueInvalid`).
    Invalid,
    /// The value is not one of the schema's `enum` values (`FieldValueNotSupported`).
    Unsupported,
    /// The value has the wrong JSON type, or is `null` where not `nullable`
    /// (`FieldValueTypeInvalid`).
    TypeInvalid,
    /// A string is longer than `maxLength` (`FieldValueTooLong`).
    TooLong,
    /// An array has more than `maxItems` elements (`FieldValueTooMany`).
    TooMany,
    /// An `x-kubernetes-list-type: set|map` list repeats an element or key
    /// (`FieldValueDuplicate`).
    Duplicate,
    /// A CEL rule with `reason: FieldValueForbidden` failed (`FieldValueForbidden`).
    Forbidden,
}

impl FieldErrorKind {
    /// The `reason` of the `Status` cause the real server reports for this kind.
    pub fn cause_reason(&self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Unsupported => "FieldValueNotSupported",
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
        }
    }
}

/// One schema violation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// Field path, e.g. `spec.nodePools[0].replicas` (map keys as `spec.labels[key]`). The
    /// `field` of the `Status` cause.
    pub path: String,
    /// The violation kind; [`FieldErrorKind::cause_reason`] gives the cause's `reason`.
    pub kind: FieldErrorKind,
    /// The full message, path first, as the real server prints it:
    /// `spec.version: Required value`,
    /// `spec.failureMode: Unsupported value: "Explode": supported values: "Fallback", "Hold"`.
    pub message: String,
}

impl FieldError {
    /// The message without the leading `path: ` (the `message` of the `Status` cause, e.g.
    /// `Required value`).
    pub fn cause_message(&self) -> &str {
        self.message
            .strip_prefix(self.path.as_str())
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(&self.message)
    }
}

/// Validates `obj` against `schema` (a CRD version's `openAPIV3Schema`) in place: applies
/// `default`s, prunes unknown fields, and checks types, `nullable`, `required`, `enum`,
/// bounds, lengths, item counts, `pattern` (RE2 subset), lenient `format`s, `additionalProperties`,
/// `x-kubernetes-int-or-string`, `x-kubernetes-embedded-resource`, list-type uniqueness and
/// `allOf`/`anyOf`/`oneOf`/`not`. The top-level `apiVersion`, `kind` and `metadata` are
/// always kept and not checked here.
///
/// Unknown fields are dropped silently (the real server's default for structural schemas).
/// `obj` is defaulted and pruned even when validation fails.
///
/// # Errors
/// Every violation found, in document order (not just the first).
pub fn validate_and_prune(obj: &mut Value, schema: &Value) -> Result<(), Vec<FieldError>> {
    let errors = walk::validate_root(obj, schema);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Runs the CEL rules (`x-kubernetes-validations`) of `schema` against `obj`, after
/// [`validate_and_prune`] has defaulted and pruned it and found `schema_errors`. `old` is the
/// stored object on an update (transition rules, which read `oldSelf`, run only then; other
/// rules that fail on an unchanged value are ratcheted), `None` on a create.
///
/// As the real server does, the rules do not run when a schema error means the object lacks
/// the shape they were written for (a type, required, enum or size violation); the answer is
/// then the single error `<nil>: Invalid value: null: some validation rules were not checked
/// because the object was invalid; …` (only if the schema has rules at all).
///
/// ```
/// use fleetward_emulator::schema::validate_rules;
/// use serde_json::json;
///
/// let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
///     "pools": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}},
///               "x-kubernetes-validations": [{"rule": "self.all(p, self.exists_one(q, q.name == p.name))",
///                                             "message": "pool names must be unique"}]}}}}});
/// let obj = json!({"spec": {"pools": [{"name": "a"}, {"name": "a"}]}});
/// let errors = validate_rules(&obj, None, &schema, &[]);
/// assert_eq!(errors[0].message, r#"spec.pools: Invalid value: pool names must be unique"#);
/// ```
pub fn validate_rules(
    obj: &Value,
    old: Option<&Value>,
    schema: &Value,
    schema_errors: &[FieldError],
) -> Vec<FieldError> {
    if !cel::schema_has_rules(schema) {
        return Vec::new();
    }
    if schema_errors.iter().any(cel::blocks_rules) {
        return vec![FieldError {
            path: "<nil>".into(),
            kind: FieldErrorKind::Invalid,
            message: format!("<nil>: Invalid value: null: {}", cel::NOT_CHECKED),
        }];
    }
    cel::validate(obj, old, schema)
}

/// The `message` of the 422 `Status` for an object that failed validation, as the real
/// server words it: `ManagedCluster.fleetward.dev "x" is invalid: spec.version: Required value`,
/// with several errors bracketed and comma-separated (duplicates once).
/// `qualified_kind` is `Kind.group` (just `Kind` for the core group).
pub fn invalid_message(qualified_kind: &str, name: &str, errors: &[FieldError]) -> String {
    let mut messages: Vec<&str> = Vec::new();
    for e in errors {
        if !messages.contains(&e.message.as_str()) {
            messages.push(&e.message);
        }
    }
    match messages.as_slice() {
        [] => format!("{qualified_kind} {name:?} is invalid"),
        [one] => format!("{qualified_kind} {name:?} is invalid: {one}"),
        many => format!(
            "{qualified_kind} {name:?} is invalid: [{}]",
            many.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_message_strips_the_path() {
        let e = FieldError {
            path: "spec.version".into(),
            kind: FieldErrorKind::Required,
            message: "spec.version: Required value".into(),
        };
        assert_eq!(e.cause_message(), "Required value");
        assert_eq!(e.to_string(), "spec.version: Required value");
    }

    #[test]
    fn invalid_message_like_the_real_server() {
        let e = |path: &str, message: &str| FieldError {
            path: path.into(),
            kind: FieldErrorKind::Required,
            message: message.into(),
        };
        let one = [e("spec.version", "spec.version: Required value")];
        assert_eq!(
            invalid_message("ManagedCluster.fleetward.dev", "x", &one),
            "ManagedCluster.fleetward.dev \"x\" is invalid: spec.version: Required value"
        );
        let two = [
            e("spec.a", "spec.a: Required value"),
            e("spec.b", "spec.b: Required value"),
            e("spec.a", "spec.a: Required value"),
        ];
        assert_eq!(
            invalid_message("ManagedCluster.fleetward.dev", "x", &two),
            "ManagedCluster.fleetward.dev \"x\" is invalid: [spec.a: Required value, spec.b: Required value]"
        );
        assert_eq!(
            invalid_message("ConfigMap", "c", &[]),
            "ConfigMap \"c\" is invalid"
        );
    }

    #[test]
    fn every_kind_has_a_reason() {
        use FieldErrorKind::*;
        let reasons: Vec<_> = [
            Required,
            Invalid,
            Unsupported,
            TypeInvalid,
            TooLong,
            TooMany,
            Duplicate,
            Forbidden,
        ]
        .iter()
        .map(FieldErrorKind::cause_reason)
        .collect();
        assert_eq!(
            reasons,
            [
                "FieldValueRequired",
                "FieldValueInvalid",
                "FieldValueNotSupported",
                "FieldValueTypeInvalid",
                "FieldValueTooLong",
                "FieldValueTooMany",
                "FieldValueDuplicate",
                "FieldValueForbidden"
            ]
        );
    }
}
