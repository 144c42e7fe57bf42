//! Label and field selectors, parsed from the `labelSelector` / `fieldSelector` query strings.
//!
//! The grammar is the one kube-apiserver accepts (`=`, `==`, `!=`, `in`, `notin`, `key`,
//! `!key`); parse failures are returned with the server's wording so the caller can answer 400.

use std::collections::BTreeMap;

use serde_json::Value;

/// A parse error; its Display is the message of the 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label requirement that does not parse.
    #[error("unable to parse requirement: {0}")]
    BadRequirement(String),
    /// A field selector term that does not parse.
    #[error("invalid selector: '{0}'; can't understand '{1}'")]
    BadField(String, String),
    /// A field the resource does not support selecting on.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<(String, Op)>,
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_set(term: &str, rest: &str) -> Result<Vec<String>, SelectorError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorError::BadRequirement(term.to_string()))?;
    let vals: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    if vals.iter().any(|v| !valid_value(v)) {
        return Err(SelectorError::BadRequirement(term.to_string()));
    }
    Ok(vals)
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),!h`.
    ///
    /// # Errors
    /// [`SelectorError::BadRequirement`] naming the first term that does not parse.
    pub fn parse(s: &str) -> Result<LabelSelector, SelectorError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector { reqs });
        }
        for raw in split_top_level(s) {
            let term = raw.trim();
            let bad = || SelectorError::BadRequirement(term.to_string());
            let req = if let Some(k) = term.strip_prefix('!') {
                (k.trim().to_string(), Op::DoesNotExist)
            } else if let Some((k, v)) = term.split_once("!=") {
                (k.trim().to_string(), Op::NotEq(v.trim().to_string()))
            } else if let Some((k, v)) = term.split_once("==") {
                (k.trim().to_string(), Op::Eq(v.trim().to_string()))
            } else if let Some((k, v)) = term.split_once('=') {
                (k.trim().to_string(), Op::Eq(v.trim().to_string()))
            } else if let Some((k, rest)) = term.split_once(" notin ") {
                (k.trim().to_string(), Op::NotIn(parse_set(term, rest)?))
            } else if let Some((k, rest)) = term.split_once(" in ") {
                (k.trim().to_string(), Op::In(parse_set(term, rest)?))
            } else {
                (term.to_string(), Op::Exists)
            };
            if !valid_key(&req.0) {
                return Err(bad());
            }
            if let Op::Eq(v) | Op::NotEq(v) = &req.1
                && !valid_value(v)
            {
                return Err(bad());
            }
            reqs.push(req);
        }
        Ok(LabelSelector { reqs })
    }

    /// Builds the string form of a `metav1.LabelSelector` JSON object (for the scale subresource).
    pub fn string_from_json(sel: &Value) -> String {
        let mut parts = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let vals: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                {
                    "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                    "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                    "Exists" => parts.push(key.to_string()),
                    "DoesNotExist" => parts.push(format!("!{key}")),
                    _ => {}
                }
            }
        }
        parts.join(",")
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.reqs.iter().all(|(k, op)| {
            let v = labels.get(k);
            match op {
                Op::Eq(want) => v == Some(want),
                Op::NotEq(want) => v != Some(want),
                Op::In(set) => v.is_some_and(|v| set.contains(v)),
                Op::NotIn(set) => v.is_none_or(|v| !set.contains(v)),
                Op::Exists => v.is_some(),
                Op::DoesNotExist => v.is_none(),
            }
        })
    }
}

/// A parsed field selector: `path=value` / `path!=value` terms, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses `metadata.name=x,status.phase!=Active`, allowing only `metadata.name`,
    /// `metadata.namespace` and the resource's `extra` selectable fields.
    ///
    /// # Errors
    /// [`SelectorError::BadField`] for syntax, [`SelectorError::UnsupportedField`] for fields the
    /// resource does not index.
    pub fn parse(s: &str, extra: &[String]) -> Result<FieldSelector, SelectorError> {
        let mut terms = Vec::new();
        if s.trim().is_empty() {
            return Ok(FieldSelector { terms });
        }
        for raw in s.split(',') {
            let term = raw.trim();
            let (path, eq, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, true, v)
            } else {
                return Err(SelectorError::BadField(s.to_string(), term.to_string()));
            };
            let path = path.trim();
            if path != "metadata.name"
                && path != "metadata.namespace"
                && !extra.iter().any(|f| f == path)
            {
                return Err(SelectorError::UnsupportedField(path.to_string()));
            }
            terms.push((path.to_string(), eq, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    /// True if the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// True if every term only uses `metadata.name`/`metadata.namespace`.
    pub fn metadata_only(&self) -> bool {
        self.terms
            .iter()
            .all(|(p, _, _)| p == "metadata.name" || p == "metadata.namespace")
    }

    /// Whether the object satisfies every term. `lookup` resolves a dotted path to its string form.
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|(path, eq, want)| {
            let got = lookup(path).unwrap_or_default();
            (got == *want) == *eq
        })
    }
}

/// Resolves a dotted field path in a JSON object to the string the field selector compares.
pub fn lookup_path(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for seg in path.split('.') {
        cur = cur.get(seg)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_operators() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web,db)", true),
            ("app notin (web,db)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing,app=web", true),
            ("missing notin (x)", true),
            ("app in (db)", false),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&l),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn bad_label_selector_is_rejected() {
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b=c").is_err());
    }

    #[test]
    fn field_selector_rejects_unknown_fields() {
        assert_eq!(
            FieldSelector::parse("spec.foo=1", &[]).unwrap_err(),
            SelectorError::UnsupportedField("spec.foo".into())
        );
        let f = FieldSelector::parse("metadata.name!=a", &[]).unwrap();
        assert!(f.matches(|_| Some("b".into())));
        assert!(!f.matches(|_| Some("a".into())));
    }
}
