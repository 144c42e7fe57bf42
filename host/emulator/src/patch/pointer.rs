//! RFC 6901 JSON pointers: parsing (`~0`/`~1` escapes) and resolution against a value.
//! Shared by JSON patch; kept apart so the escaping rules live in one place.

use serde_json::Value;

/// A parsed JSON pointer: the unescaped reference tokens, root = empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pointer {
    pub(crate) tokens: Vec<String>,
}

impl Pointer {
    /// Parses `text` as an RFC 6901 pointer. `""` is the whole document.
    ///
    /// # Errors
    /// A description of the problem when the pointer does not start with `/` or contains a
    /// `~` not followed by `0` or `1`.
    pub(crate) fn parse(text: &str) -> Result<Pointer, String> {
        if text.is_empty() {
            return Ok(Pointer { tokens: Vec::new() });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "JSON pointer {text:?} must be empty or start with '/'"
            ));
        };
        let tokens = rest
            .split('/')
            .map(|raw| unescape(raw).ok_or_else(|| format!("JSON pointer {text:?} has an invalid '~' escape (only ~0 and ~1 are allowed)")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pointer { tokens })
    }

    /// Whether `self` is a proper prefix of `other` (`/a` of `/a/b`, not of `/a` or `/ab`).
    pub(crate) fn is_proper_prefix_of(&self, other: &Pointer) -> bool {
        self.tokens.len() < other.tokens.len() && other.tokens.starts_with(&self.tokens)
    }

    /// The pointer to the parent and the last token; `None` for the root.
    pub(crate) fn split_last(&self) -> Option<(&[String], &str)> {
        self.tokens
            .split_last()
            .map(|(last, parent)| (parent, last.as_str()))
    }
}

fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Parses an array index token: decimal, no sign, no leading zero (RFC 6901 section 4).
pub(crate) fn parse_index(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// Resolves `tokens` against `doc`.
pub(crate) fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |cur, token| match cur {
        Value::Object(map) => map.get(token),
        Value::Array(items) => parse_index(token).and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Resolves `tokens` against `doc`, mutably.
pub(crate) fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(doc, |cur, token| match cur {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => parse_index(token).and_then(move |i| items.get_mut(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_unescapes() {
        assert_eq!(Pointer::parse("").unwrap().tokens, Vec::<String>::new());
        assert_eq!(Pointer::parse("/").unwrap().tokens, vec![String::new()]);
        assert_eq!(
            Pointer::parse("/metadata/annotations/example.com~1a~0b")
                .unwrap()
                .tokens,
            vec!["metadata", "annotations", "example.com/a~b"]
        );
        // ~01 is "~1" literally, not "/".
        assert_eq!(Pointer::parse("/~01").unwrap().tokens, vec!["~1"]);
    }

    #[test]
    fn rejects_bad_pointers() {
        assert!(
            Pointer::parse("spec")
                .unwrap_err()
                .contains("start with '/'")
        );
        assert!(
            Pointer::parse("/a~2")
                .unwrap_err()
                .contains("invalid '~' escape")
        );
        assert!(Pointer::parse("/a~").is_err());
    }

    #[test]
    fn index_rules() {
        assert_eq!(parse_index("0"), Some(0));
        assert_eq!(parse_index("12"), Some(12));
        assert_eq!(parse_index("01"), None);
        assert_eq!(parse_index("-"), None);
        assert_eq!(parse_index("+1"), None);
        assert_eq!(parse_index(""), None);
    }

    #[test]
    fn resolves_rfc6901_examples() {
        let doc = json!({"foo": ["bar", "baz"], "": 0, "a/b": 1, "m~n": 8, " ": 7});
        let at = |p: &str| get(&doc, &Pointer::parse(p).unwrap().tokens).cloned();
        assert_eq!(at(""), Some(doc.clone()));
        assert_eq!(at("/foo/0"), Some(json!("bar")));
        assert_eq!(at("/"), Some(json!(0)));
        assert_eq!(at("/a~1b"), Some(json!(1)));
        assert_eq!(at("/m~0n"), Some(json!(8)));
        assert_eq!(at("/ "), Some(json!(7)));
        assert_eq!(at("/foo/2"), None);
        assert_eq!(at("/foo/bar"), None);
    }
}
