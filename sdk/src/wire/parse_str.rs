//! Deserialising a value that travels as a string (versions, times) without allocating one.
//!
//! `String::deserialize` then `parse` allocated a `String` per version and timestamp: seven per
//! cluster of an upgrade request, a measurable share of a policy's input parsing in Wasm
//! (docs/perf/engine.md). This visitor parses the borrowed text instead. Errors are the same,
//! positions included: a non-string is "invalid type: …, expected a string" as `String`'s
//! visitor words it, and the parser's result is handed back as a value so the caller turns a
//! parse failure into an error after the deserializer returns, exactly where it did before
//! (serde_json positions an error by where it is raised; `json_path` relies on that).

use std::fmt;

use serde::de::{Deserializer, Error, Visitor};

/// A serde visitor that parses a string with `.0`, yielding the parser's `Result`.
struct ParseStr<F>(F);

impl<'de, T, E, F> Visitor<'de> for ParseStr<F>
where
    F: FnOnce(&str) -> Result<T, E>,
{
    type Value = Result<T, E>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<Er: Error>(self, v: &str) -> Result<Self::Value, Er> {
        Ok((self.0)(v))
    }
}

/// Deserialises a string and parses it with `parse`, as `parse(&String::deserialize(d)?)`
/// with a custom error would, without the `String`.
pub(super) fn deserialize_parsed<'de, D, T, E>(
    deserializer: D,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
{
    deserializer
        .deserialize_str(ParseStr(parse))?
        .map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde::de::DeserializeOwned;

    use crate::wire::{KubeVersion, Timestamp};

    /// The previous implementation: `String::deserialize`, then parse.
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Old<T>(T);

    impl<'de> Deserialize<'de> for Old<KubeVersion> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            KubeVersion::parse(&s)
                .map(Old)
                .map_err(serde::de::Error::custom)
        }
    }

    impl<'de> Deserialize<'de> for Old<Timestamp> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            Timestamp::parse(&s)
                .map(Old)
                .map_err(serde::de::Error::custom)
        }
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Doc<V> {
        first: V,
        list: Vec<V>,
        map: BTreeMap<String, V>,
        last: V,
    }

    /// Same value or same error text (serde_json's line and column included) both ways, from
    /// JSON text and from a `serde_json::Value`.
    fn same<New, Prev>(docs: &[&str])
    where
        New: DeserializeOwned + std::fmt::Debug,
        Prev: DeserializeOwned + std::fmt::Debug,
    {
        for doc in docs {
            assert_eq!(
                serde_json::from_str::<New>(doc)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                serde_json::from_str::<Prev>(doc)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                "{doc}"
            );
            let value: serde_json::Value = serde_json::from_str(doc).unwrap();
            assert_eq!(
                serde_json::from_value::<New>(value.clone())
                    .map(drop)
                    .map_err(|e| e.to_string()),
                serde_json::from_value::<Prev>(value)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                "{doc} as a Value"
            );
        }
    }

    #[test]
    fn versions_parse_and_fail_exactly_as_with_an_owned_string() {
        same::<Doc<KubeVersion>, Doc<Old<KubeVersion>>>(&[
            r#"{"first":"1.31","list":["v1.32.1"],"map":{"a":"1.2.3"},"last":"1.30.0"}"#,
            r#"{"first":"1.x","list":[],"map":{},"last":"1.30"}"#,
            r#"{"first":"1.31","list":["1.2","bad"],"map":{},"last":"1.30"}"#,
            r#"{"first":"1.31","list":[],"map":{"k":"1..2"},"last":"1.30"}"#,
            r#"{"first":"1.31","list":[],"map":{},"last":"nope"}"#,
            r#"{"first":5,"list":[],"map":{},"last":"1.30"}"#,
            r#"{"first":"1.31","list":[null],"map":{},"last":"1.30"}"#,
            r#"{"first":"1.31","list":[],"map":{},"last":{"x":1}}"#,
        ]);
        same::<KubeVersion, Old<KubeVersion>>(&[r#""1.x""#, "[1]", r#""1.31.4""#]);
    }

    #[test]
    fn timestamps_parse_and_fail_exactly_as_with_an_owned_string() {
        same::<Doc<Timestamp>, Doc<Old<Timestamp>>>(&[
            r#"{"first":"2026-11-25T17:00:00Z","list":["2026-11-25T17:00:00+01:00"],"map":{"a":"2026-01-01T00:00:00Z"},"last":"2026-11-25T17:00:00Z"}"#,
            r#"{"first":"2026-13-25T17:00:00Z","list":[],"map":{},"last":"2026-11-25T17:00:00Z"}"#,
            r#"{"first":"2026-11-25T17:00:00Z","list":[],"map":{},"last":"yesterday"}"#,
            r#"{"first":true,"list":[],"map":{},"last":"2026-11-25T17:00:00Z"}"#,
        ]);
        same::<Timestamp, Old<Timestamp>>(&[r#""soon""#, "7"]);
    }
}
