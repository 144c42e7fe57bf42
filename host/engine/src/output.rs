//! Decoding what a policy returned: bytes → UTF-8 → JSON → envelope → typed decision.
//!
//! Each step has its own error so an operator can tell a broken module (bad bytes) from a
//! policy that declined (`{"error": …}`) from one whose decision has the wrong shape, which is
//! reported with the JSON path of the offending field (`ok.start[0].to`).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::PolicyErrorKind;
use crate::text::untrusted;

/// The `ok` value of an output envelope, as returned by the policy.
pub(crate) fn decode_envelope(bytes: &[u8]) -> Result<Value, PolicyErrorKind> {
    let invalid = |path: &str, message: String| PolicyErrorKind::InvalidOutput {
        path: path.to_string(),
        message,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|e| invalid("$", format!("output is not UTF-8: {e}")))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| invalid("$", untrusted(&format!("output is not JSON: {e}"))))?;
    let Value::Object(mut map) = value else {
        return Err(invalid(
            "$",
            "output envelope must be an object with `ok` or `error`".to_string(),
        ));
    };
    if map.len() != 1 {
        return Err(invalid(
            "$",
            untrusted(&format!(
                "output envelope must have exactly one of `ok` or `error`, found keys {:?}",
                map.keys().collect::<Vec<_>>()
            )),
        ));
    }
    if let Some(ok) = map.remove("ok") {
        return Ok(ok);
    }
    match map.remove("error") {
        Some(error) => {
            let e: fleetward_sdk::wire::PolicyError = typed("error", error)?;
            Err(PolicyErrorKind::Declined {
                code: untrusted(&e.code),
                message: untrusted(&e.message),
            })
        }
        None => Err(invalid(
            "$",
            untrusted(&format!(
                "output envelope must have `ok` or `error`, found {:?}",
                map.keys().collect::<Vec<_>>()
            )),
        )),
    }
}

/// Deserialises `value` (found at `root`) into `T`, naming the failing field's JSON path.
pub(crate) fn typed<T: DeserializeOwned>(root: &str, value: Value) -> Result<T, PolicyErrorKind> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = if inner == "." {
            root.to_string()
        } else {
            format!("{root}.{inner}")
        };
        // Both quote the module's output (map keys, unknown variants): its text.
        PolicyErrorKind::InvalidOutput {
            path: untrusted(&path),
            message: untrusted(&e.into_inner().to_string()),
        }
    })
}

#[cfg(test)]
mod tests {
    use fleetward_sdk::wire::UpgradeDecision;

    use super::*;

    fn path_of(err: PolicyErrorKind) -> String {
        match err {
            PolicyErrorKind::InvalidOutput { path, .. } => path,
            other => panic!("expected InvalidOutput, got {other:?}"),
        }
    }

    #[test]
    fn ok_is_returned_and_error_is_declined() {
        assert_eq!(
            decode_envelope(br#"{"ok":{"a":1}}"#).unwrap(),
            serde_json::json!({"a": 1})
        );
        match decode_envelope(br#"{"error":{"code":"no_candidate","message":"none fit"}}"#) {
            Err(PolicyErrorKind::Declined { code, message }) => {
                assert_eq!(
                    (code.as_str(), message.as_str()),
                    ("no_candidate", "none fit")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_envelopes_are_invalid_output_at_the_root() {
        for bad in [
            &b"\xff\xfe"[..],
            b"{not json",
            b"[]",
            b"{}",
            br#"{"ok":1,"error":2}"#,
            br#"{"okay":1}"#,
        ] {
            assert_eq!(path_of(decode_envelope(bad).unwrap_err()), "$");
        }
        assert_eq!(
            path_of(decode_envelope(br#"{"error":{"code":1}}"#).unwrap_err()),
            "error.code"
        );
    }

    #[test]
    fn typed_errors_name_the_json_path() {
        let value = serde_json::json!({"start": [{"cluster": {"namespace": "a", "name": "b"},
            "target": {"kind": "control_plane"}, "to": "not-a-version"}]});
        let err = typed::<UpgradeDecision>("ok", value).unwrap_err();
        assert_eq!(path_of(err), "ok.start[0].to");
    }
}
