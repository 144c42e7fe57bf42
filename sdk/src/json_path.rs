//! Typed deserialisation whose errors name the JSON path of the bad field.
//!
//! An operator who mistypes a key in a tenant's policy config deserves
//! `waves[1].selector: unknown field `lable`, expected one of ...`, not `at line 1 column 812`.
//! `serde_path_to_error` would do this by wrapping the deserializer, but it grows every policy
//! module; instead we deserialise from text with `serde_json` as usual and, only when that
//! fails, turn the error's line/column back into a path by re-scanning the text up to that point.
//! The happy path costs nothing extra.

use std::fmt::Write as _;

use serde::de::DeserializeOwned;

/// Deserialises `T` from JSON text. On failure returns `"<path>: <serde message>"` (or just the
/// message when the error concerns the whole document), without serde_json's position suffix.
pub(crate) fn from_str_with_path<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|err| describe(text, &err))
}

/// Renders a serde_json error on `text` as `path: message`.
pub(crate) fn describe(text: &str, err: &serde_json::Error) -> String {
    let mut message = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message.truncate(stripped.len());
    }
    let path = if err.line() == 0 {
        String::new()
    } else {
        // serde_json positions errors raised by a value's own `Deserialize` (a custom message:
        // bad version string, bad time) after the enclosing container when that value is the
        // last one in it; then the culprit is the container's last member. Errors about the
        // container itself (missing or unknown fields, length, tagged-enum variants) stay put.
        // A `[` or `{` of the wrong type is reported before it is read, also not about a member.
        let about_container = [
            "missing field",
            "unknown field",
            "invalid length",
            "unknown variant",
            "invalid type: map",
            "invalid type: sequence",
        ]
        .iter()
        .any(|p| message.starts_with(p));
        let member_error = err.classify() == serde_json::error::Category::Data && !about_container;
        path_at(
            text,
            offset_of(text, err.line(), err.column()),
            member_error,
        )
    };
    if path.is_empty() {
        message
    } else {
        format!("{path}: {message}")
    }
}

/// Byte offset of a serde_json (1-based line, column) position: `column` bytes into the line.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start = text
        .match_indices('\n')
        .nth(line.saturating_sub(2))
        .filter(|_| line > 1)
        .map_or(0, |(i, _)| i + 1);
    (line_start + column).min(text.len())
}

/// One open container while scanning.
enum Frame {
    /// Inside an object; `key` is the member whose value is being read (set once its `:` is seen).
    Object {
        pending: Option<String>,
        key: Option<String>,
    },
    /// Inside an array, at element `index`.
    Array { index: usize },
}

/// The path (`a.b[2].c`) of the value being read at byte `offset` of `text`.
///
/// A key counts only once its `:` has been read, so an "unknown field" error (reported right
/// after the key) names the object that holds the key, like `serde_path_to_error` does.
/// With `member_error` (an error raised by a member's own `Deserialize`, which serde_json
/// positions after the enclosing container's end, or after the `,` that follows an array
/// element), an offset right after a closing bracket names that container's last member, and
/// one right after an array's `,` names the element before it.
fn path_at(text: &str, offset: usize, member_error: bool) -> String {
    let bytes = text.as_bytes();
    let end = offset.min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    // The last member of the container closed most recently, while nothing else followed.
    let mut just_closed: Option<String> = None;
    // A `,` between array elements was the last thing read.
    let mut after_comma = false;
    let mut i = 0;
    while i < end {
        let byte = bytes[i];
        if !byte.is_ascii_whitespace() {
            just_closed = None;
            after_comma = false;
        }
        match byte {
            b'{' => stack.push(Frame::Object {
                pending: None,
                key: None,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                just_closed = match stack.pop() {
                    Some(Frame::Object { key: Some(k), .. }) => Some(format!(".{k}")),
                    Some(Frame::Array { index }) => Some(format!("[{index}]")),
                    _ => None,
                };
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => {
                    *index += 1;
                    after_comma = true;
                }
                Some(Frame::Object { pending, key }) => {
                    *pending = None;
                    *key = None;
                }
                None => {}
            },
            b':' => {
                if let Some(Frame::Object { pending, key }) = stack.last_mut() {
                    *key = pending.take();
                }
            }
            b'"' => {
                let (s, next) = scan_string(bytes, i + 1);
                if let Some(Frame::Object { pending, key: None }) = stack.last_mut() {
                    *pending = Some(s);
                }
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if member_error
        && after_comma
        && let Some(Frame::Array { index }) = stack.last_mut()
    {
        *index = index.saturating_sub(1);
    }
    let mut out = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(k), .. } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => {
                let _ = write!(out, "[{index}]");
            }
        }
    }
    if let Some(segment) = just_closed.filter(|_| member_error) {
        out.push_str(
            segment
                .strip_prefix('.')
                .filter(|_| out.is_empty())
                .unwrap_or(&segment),
        );
    }
    out
}

/// Reads a JSON string body starting after its opening quote. Returns the (unescaped enough for
/// a path) contents and the index after the closing quote.
fn scan_string(bytes: &[u8], mut i: usize) -> (String, usize) {
    let start = i;
    let mut escaped = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if !escaped => escaped = true,
            b'"' if !escaped => {
                let body = String::from_utf8_lossy(&bytes[start..i]).into_owned();
                return (body, i + 1);
            }
            _ => escaped = false,
        }
        i += 1;
    }
    (String::from_utf8_lossy(&bytes[start..]).into_owned(), i)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Selector {
        label: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Wave {
        name: String,
        #[serde(default)]
        selector: Option<Selector>,
        #[serde(default)]
        minutes: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        waves: Vec<Wave>,
    }

    fn err(text: &str) -> String {
        from_str_with_path::<Config>(text).unwrap_err()
    }

    #[test]
    fn unknown_field_names_the_holding_object() {
        let e = err(r#"{"waves":[{"name":"a"},{"name":"b","selector":{"lable":"x"}}]}"#);
        assert!(
            e.starts_with("waves[1].selector: unknown field `lable`, expected `label`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_the_field_itself() {
        let e = err(r#"{"waves": [ {"name": "a", "minutes": "ten"} ]}"#);
        assert!(
            e.starts_with("waves[0].minutes: invalid type: string \"ten\""),
            "{e}"
        );
        assert!(!e.contains("line"), "{e}");
    }

    #[test]
    fn missing_field_names_the_incomplete_object() {
        let e = err("{\n  \"waves\": [\n    {\"minutes\": 1}\n  ]\n}");
        assert_eq!(e, "waves[0]: missing field `name`");
    }

    #[derive(Debug)]
    struct Even;

    impl<'de> Deserialize<'de> for Even {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let n = u32::deserialize(d)?;
            if n % 2 == 0 {
                Ok(Even)
            } else {
                Err(serde::de::Error::custom(format!("{n} is odd")))
            }
        }
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Evens {
        a: Even,
        b: Vec<Even>,
    }

    #[test]
    fn custom_errors_of_last_members_name_the_member() {
        let e = |t| from_str_with_path::<Evens>(t).unwrap_err();
        assert_eq!(e(r#"{"a": 3, "b": []}"#), "a: 3 is odd");
        assert_eq!(e(r#"{"b": [], "a": 3}"#), "a: 3 is odd");
        assert_eq!(e(r#"{"a": 2, "b": [2, 5]}"#), "b[1]: 5 is odd");
        assert_eq!(e(r#"{"a": 2, "b": [2, 5] }"#), "b[1]: 5 is odd");
        assert_eq!(e(r#"{"a": 2, "b": [5, 2]}"#), "b[0]: 5 is odd");
        assert_eq!(e(r#"{"a": 2, "b": [2, 5, 4]}"#), "b[1]: 5 is odd");
        // Type errors of a later element still name that element.
        assert!(e(r#"{"a": 2, "b": [2, [1]]}"#).starts_with("b[1]: invalid type: sequence"));
        assert!(e(r#"{"a": 2, "b": [2, "x"]}"#).starts_with("b[1]: invalid type: string"));
    }

    #[test]
    fn whole_document_errors_have_no_path() {
        assert_eq!(err("{}"), "missing field `waves`");
        assert!(err("").starts_with("EOF while parsing"));
    }

    #[test]
    fn keys_with_escapes_and_commas_in_strings_do_not_confuse_the_scanner() {
        let e = err(r#"{"waves":[{"name":"a,\"]}","minutes":true}]}"#);
        assert!(
            e.starts_with("waves[0].minutes: invalid type: boolean"),
            "{e}"
        );
    }
}
