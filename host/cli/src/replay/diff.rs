//! A compact structural diff of two JSON documents: which paths were added, removed or changed.
//!
//! Replay shows what a changed decision changed, not two walls of JSON: `seed: "eu-1" ->
//! "eu-2"` says more than a byte offset. Objects are compared key by key and arrays index by
//! index (a decision's lists are short and ordered: scores by seed name, steps in the order the
//! policy chose), so an inserted element shows as changes to the rest plus one addition, which
//! is still exact about what differs.

use serde::Serialize;
use serde_json::Value;

/// One difference at one path.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Present only in the new document.
    Added {
        /// `seed`, `scores[2].reason`, or `$` for the whole document.
        path: String,
        /// The new value.
        new: Value,
    },
    /// Present only in the old document.
    Removed {
        /// Where.
        path: String,
        /// The old value.
        old: Value,
    },
    /// Present in both with different values (or different types).
    Changed {
        /// Where.
        path: String,
        /// The old value.
        old: Value,
        /// The new value.
        new: Value,
    },
}

impl Change {
    /// One line: `+ path: new`, `- path: old`, `~ path: old -> new`.
    pub fn line(&self) -> String {
        match self {
            Change::Added { path, new } => format!("+ {path}: {}", short(new)),
            Change::Removed { path, old } => format!("- {path}: {}", short(old)),
            Change::Changed { path, old, new } => {
                format!("~ {path}: {} -> {}", short(old), short(new))
            }
        }
    }
}

/// A value as compact JSON, cut at 120 characters (the terminal report; JSON output keeps it
/// whole).
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= 120 {
        return text;
    }
    let cut: String = text.chars().take(117).collect();
    format!("{cut}...")
}

/// Every difference between `old` and `new`, in document order (object keys sorted).
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("$", old, new, &mut out);
    out
}

fn join_key(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if simple {
        key.to_string()
    } else {
        Value::String(key.to_string()).to_string()
    };
    if path == "$" {
        key
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let p = join_key(path, key);
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => walk(&p, x, y, out),
                    (Some(x), None) => out.push(Change::Removed {
                        path: p,
                        old: x.clone(),
                    }),
                    (None, Some(y)) => out.push(Change::Added {
                        path: p,
                        new: y.clone(),
                    }),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => walk(&p, x, y, out),
                    (Some(x), None) => out.push(Change::Removed {
                        path: p,
                        old: x.clone(),
                    }),
                    (None, Some(y)) => out.push(Change::Added {
                        path: p,
                        new: y.clone(),
                    }),
                    (None, None) => {}
                }
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Change::Changed {
            path: path.to_string(),
            old: a.clone(),
            new: b.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_documents_have_no_changes() {
        let v = json!({"seed": "eu-1", "scores": [{"seed": "eu-1", "score": 3}]});
        assert!(diff(&v, &v.clone()).is_empty());
    }

    #[test]
    fn paths_name_keys_and_indices() {
        let old = json!({"seed": "eu-1", "scores": [{"score": 3}, {"score": 1}], "gone": 1});
        let new = json!({"seed": "eu-2", "scores": [{"score": 3}], "new key": true});
        let lines: Vec<String> = diff(&old, &new).iter().map(Change::line).collect();
        assert_eq!(
            lines,
            [
                "- gone: 1",
                "+ \"new key\": true",
                "- scores[1]: {\"score\":1}",
                "~ seed: \"eu-1\" -> \"eu-2\"",
            ]
        );
    }

    #[test]
    fn a_type_change_and_a_root_change_are_one_change() {
        assert_eq!(
            diff(&json!({"a": [1]}), &json!({"a": {"x": 1}})),
            [Change::Changed {
                path: "a".into(),
                old: json!([1]),
                new: json!({"x": 1})
            }]
        );
        assert_eq!(diff(&json!(1), &json!(null)).len(), 1);
        assert_eq!(diff(&json!(1), &json!(null))[0].line(), "~ $: 1 -> null");
    }

    #[test]
    fn long_values_are_cut_in_the_terminal_line_only() {
        let long = "x".repeat(500);
        let change = &diff(&json!({"r": ""}), &json!({"r": long}))[0];
        assert!(change.line().len() < 140, "{}", change.line());
        assert!(change.line().ends_with("..."));
        let Change::Changed { new, .. } = change else {
            panic!("{change:?}")
        };
        assert_eq!(new.as_str().unwrap().len(), 500);
    }
}
