//! Kubernetes versions as they travel on the wire (`"1.31.4"`, a leading `v` accepted).
//!
//! The host's skew rules and the policies' wave logic both compare versions, so the parsing
//! lives here once instead of in every policy.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Kubernetes release `major.minor.patch`. Ordering is numeric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    /// Major version (always 1 today).
    pub major: u32,
    /// Minor version: the number skew rules count.
    pub minor: u32,
    /// Patch release.
    pub patch: u32,
}

/// Why a string is not a Kubernetes version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionParseError(String);

impl fmt::Display for VersionParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Kubernetes version {:?}: expected MAJOR.MINOR or MAJOR.MINOR.PATCH",
            self.0
        )
    }
}

impl std::error::Error for VersionParseError {}

impl KubeVersion {
    /// Builds a version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KubeVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parses `1.31`, `1.31.4` or `v1.31.4`. A missing patch is 0.
    ///
    /// # Errors
    /// [`VersionParseError`] naming the input when it is not of that form.
    pub fn parse(s: &str) -> Result<Self, VersionParseError> {
        // Bytes, not `str::split` + `str::parse`: every request carries several versions per
        // cluster, and the generic path was ~8% of a Wasm upgrade-ordering decision
        // (docs/perf/engine.md). Same grammar: each part non-empty ASCII digits fitting a u32.
        let err = || VersionParseError(s.to_string());
        let body = s.strip_prefix('v').unwrap_or(s).as_bytes();
        let mut parts = body.split(|&b| b == b'.');
        let mut next = |required: bool| -> Result<u32, VersionParseError> {
            match parts.next() {
                Some(p) => parse_u32(p).ok_or_else(err),
                None if !required => Ok(0),
                None => Err(err()),
            }
        };
        let v = KubeVersion {
            major: next(true)?,
            minor: next(true)?,
            patch: next(false)?,
        };
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(v)
    }

    /// How many minor versions `self` is ahead of `other` (negative if behind). Versions of
    /// different majors count 1000 minors per major, which no skew rule ever allows.
    pub fn minor_distance(self, other: KubeVersion) -> i64 {
        (self.major as i64 - other.major as i64) * 1000 + self.minor as i64 - other.minor as i64
    }
}

/// A non-empty run of ASCII digits as a `u32`; `None` for anything else or an overflow.
fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &c| {
        if c.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u32::from(c - b'0'))
        } else {
            None
        }
    })
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl std::str::FromStr for KubeVersion {
    type Err = VersionParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KubeVersion::parse(s)
    }
}

impl Serialize for KubeVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KubeVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::deserialize_parsed(deserializer, KubeVersion::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let a = KubeVersion::parse("v1.31").unwrap();
        let b = KubeVersion::parse("1.31.4").unwrap();
        let c = KubeVersion::parse("1.32.0").unwrap();
        assert!(a < b && b < c);
        assert_eq!(c.minor_distance(a), 1);
        assert_eq!(b.to_string(), "1.31.4");
        for bad in ["", "1", "1.x", "1.31.4.5", "one.two"] {
            assert!(KubeVersion::parse(bad).is_err(), "{bad}");
        }
    }

    /// The grammar `str::split('.')` + `str::parse::<u32>` accepted, which the byte parser
    /// replaced: compared on edge cases (empty parts, signs, overflow, non-ASCII digits).
    #[test]
    fn byte_parser_accepts_exactly_what_the_str_parser_did() {
        fn reference(s: &str) -> Option<KubeVersion> {
            let body = s.strip_prefix('v').unwrap_or(s);
            let mut parts = body.split('.');
            let mut next = |required: bool| -> Option<u32> {
                match parts.next() {
                    Some(p) if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => {
                        p.parse().ok()
                    }
                    None if !required => Some(0),
                    _ => None,
                }
            };
            let v = KubeVersion::new(next(true)?, next(true)?, next(false)?);
            parts.next().is_none().then_some(v)
        }
        for case in [
            "1.31",
            "v1.31",
            "1.31.4",
            "v1.31.4",
            "01.002.0003",
            "1.31.",
            "1..4",
            ".1.2",
            "1.2.3.",
            "vv1.2",
            "V1.2",
            "+1.2",
            "1.-2",
            "1.2 ",
            " 1.2",
            "1.٣",
            "4294967295.0.4294967295",
            "4294967296.0",
            "1.99999999999",
            "1.2.3.4",
            "v",
            ".",
            "..",
            "1",
            "1.2.x",
            "١.2",
        ] {
            assert_eq!(KubeVersion::parse(case).ok(), reference(case), "{case:?}");
            if let Err(e) = KubeVersion::parse(case) {
                assert!(e.to_string().contains(&format!("{case:?}")), "{e}");
            }
        }
    }
}
