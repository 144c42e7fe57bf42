//! Module identity: the SHA-256 of the module bytes.
//!
//! Everything keyed on "which policy is this" (the compiled-module map, the on-disk cache, the
//! audit ledger, error messages) uses the digest, never a file name, so that two tenants who
//! upload the same bytes share one compiled module and a renamed file is still recognised.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// The SHA-256 of a module's bytes, shown and parsed as `sha256:<64 lowercase hex>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {input:?}: expected \"sha256:\" followed by 64 hex digits")]
pub struct DigestParseError {
    /// The rejected input.
    pub input: String,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(sha256_hex(bytes))
    }

    /// The 64 lowercase hex digits, without the `sha256:` prefix.
    pub fn hex(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;

    /// Accepts `sha256:<hex>` or bare hex, in either case; stores lowercase.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Digest(hex.to_ascii_lowercase()))
        } else {
            Err(DigestParseError {
                input: s.to_string(),
            })
        }
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes` (too small a job for a dependency).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input_is_the_known_sha256() {
        let d = Digest::of(b"");
        assert_eq!(
            d.hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string(), format!("sha256:{}", d.hex()));
    }

    #[test]
    fn parses_prefixed_and_bare_hex_and_rejects_garbage() {
        let d = Digest::of(b"abc");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert_eq!(d.hex().to_uppercase().parse::<Digest>().unwrap(), d);
        for bad in ["", "sha256:", "sha256:xyz", &d.hex()[1..], "md5:00"] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }
}
