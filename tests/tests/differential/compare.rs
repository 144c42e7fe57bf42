//! Structural comparison of two normalised answers: every leaf where they differ, named by its
//! JSON path (`body.metadata.labels.app`, `events[2].object.data.k`), with both values. Arrays
//! are compared index by index, so a missing or extra item shows as one difference per index.

use std::fmt;

use serde_json::Value;

/// One leaf where the emulator and the real server disagree.
#[derive(Clone, Debug)]
pub struct Difference {
    /// The script step.
    pub step: &'static str,
    /// Where in the answer (`status`, `body.metadata.name`, `events[0].type`).
    pub path: String,
    /// The emulator's value (`None`: absent).
    pub emulator: Option<Value>,
    /// The real server's value (`None`: absent).
    pub real: Option<Value>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| match v {
            None => "(absent)".to_string(),
            Some(v) => {
                let s = v.to_string();
                if s.len() > 300 {
                    format!("{}…", s.chars().take(300).collect::<String>())
                } else {
                    s
                }
            }
        };
        write!(
            f,
            "[{}] {}\n    emulator: {}\n    real:     {}",
            self.step,
            self.path,
            show(&self.emulator),
            show(&self.real)
        )
    }
}

/// Every leaf difference between `emulator` and `real`.
pub fn differences(step: &'static str, emulator: &Value, real: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(step, String::new(), Some(emulator), Some(real), &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(
    step: &'static str,
    path: String,
    emulator: Option<&Value>,
    real: Option<&Value>,
    out: &mut Vec<Difference>,
) {
    match (emulator, real) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(step, join(&path, k), a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                walk(step, format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Difference {
            step,
            path,
            emulator: a.cloned(),
            real: b.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_are_named_by_path() {
        let d = differences(
            "s",
            &json!({"a": {"b": 1, "c": [1, 2]}}),
            &json!({"a": {"b": 2, "c": [1], "d": true}}),
        );
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["a.b", "a.c[1]", "a.d"]);
        assert_eq!(d[1].real, None);
    }
}
