//! The envelope handling behind every entry point, shared by the Wasm exports and native tests.
//!
//! [`policy!`](crate::policy) expands to thin wrappers around these functions: the Wasm export
//! reads the input bytes from linear memory and hands them here; the native `dispatch` function
//! hands a `&str` here. Both get the output envelope from the same code, so a fixture run
//! natively and the same fixture run through the compiled module produce byte-identical output.
//!
//! Config handling: a `null` (absent) config is read as `{}`, so a config type whose fields all
//! have `#[serde(default)]` gets its defaults, and one with required fields reports
//! `invalid_config: missing field ...`. Config and request errors name the JSON path of the bad
//! field (see `json_path`).

use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::context::Context;
use crate::json_path;
use crate::wire::{ABI_VERSION, CallKind, InputEnvelope, OutputEnvelope, PolicyError};

/// Error code: the input envelope itself is malformed (a host bug, not a tenant mistake).
pub const INVALID_INPUT: &str = "invalid_input";
/// Error code: the policy does not implement the requested call.
pub const NOT_IMPLEMENTED: &str = "not_implemented";

/// A config type for policies that take no configuration: accepts `null` or `{}` only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Runs one decision call: parses the envelope (checking it is for `call`), the typed request
/// and config, calls `decide`, and serialises the output envelope.
pub fn run_decision<C, Req, Dec, F>(call: CallKind, input: &[u8], decide: F) -> String
where
    C: DeserializeOwned,
    Req: DeserializeOwned,
    Dec: Serialize,
    F: FnOnce(&Req, &C, &Context<'_>) -> Result<Dec, PolicyError>,
{
    let result = parse::<Req>(call, input).and_then(|envelope| {
        let config = parse_config::<C>(&envelope.config)?;
        let ctx = Context::new(envelope.now, &envelope.tenant);
        decide(&envelope.request, &config, &ctx)
    });
    render(result)
}

/// Runs a `validate_config` call: typed deserialisation of the config, then `check`.
pub fn run_validate_config<C, F>(input: &[u8], check: F) -> String
where
    C: DeserializeOwned,
    F: FnOnce(&C) -> Result<(), PolicyError>,
{
    let result = parse::<IgnoredAny>(CallKind::ValidateConfig, input).and_then(|envelope| {
        let config = parse_config::<C>(&envelope.config)?;
        check(&config)
    });
    render(result)
}

/// The validator behind `validate_config: true`: typed deserialisation is the whole check.
pub fn accept_config<C>(_config: &C) -> Result<(), PolicyError> {
    Ok(())
}

/// The output envelope for a call the policy does not implement.
pub fn not_implemented(call: CallKind) -> String {
    render::<()>(Err(PolicyError::new(
        NOT_IMPLEMENTED,
        format!("this policy does not implement {}", call_name(call)),
    )))
}

/// Serialises a result as the ABI output envelope.
pub fn render<D: Serialize>(result: Result<D, PolicyError>) -> String {
    let envelope = match result {
        Ok(decision) => OutputEnvelope::Ok(decision),
        Err(error) => OutputEnvelope::Error(error),
    };
    serde_json::to_string(&envelope).unwrap_or_else(|err| {
        // Only a decision type with a non-string map key can fail here; say so instead of trapping.
        let error = PolicyError::new("internal", format!("cannot serialise the decision: {err}"));
        serde_json::to_string(&OutputEnvelope::<()>::Error(error)).unwrap_or_default()
    })
}

fn call_name(call: CallKind) -> &'static str {
    match call {
        CallKind::Placement => "placement",
        CallKind::UpgradeOrdering => "upgrade_ordering",
        CallKind::Remediation => "remediation",
        CallKind::ValidateConfig => "validate_config",
    }
}

fn parse<Req: DeserializeOwned>(
    call: CallKind,
    input: &[u8],
) -> Result<InputEnvelope<Req>, PolicyError> {
    let text = std::str::from_utf8(input)
        .map_err(|err| PolicyError::new(INVALID_INPUT, format!("input is not UTF-8: {err}")))?;
    let envelope: InputEnvelope<Req> = serde_json::from_str(text).map_err(|err| {
        let message = json_path::describe(text, &err);
        if let Some(rest) = message.strip_prefix("request.") {
            PolicyError::invalid_request(rest.to_string())
        } else if message.starts_with("request: ") {
            PolicyError::invalid_request(message)
        } else {
            PolicyError::new(INVALID_INPUT, format!("input envelope: {message}"))
        }
    })?;
    if envelope.abi_version != ABI_VERSION {
        return Err(PolicyError::new(
            INVALID_INPUT,
            format!(
                "input envelope has abi_version {}, this policy speaks {ABI_VERSION}",
                envelope.abi_version
            ),
        ));
    }
    if envelope.decision != call {
        return Err(PolicyError::new(
            INVALID_INPUT,
            format!(
                "input envelope is for {}, but the {} entry point was called",
                call_name(envelope.decision),
                call_name(call)
            ),
        ));
    }
    Ok(envelope)
}

fn parse_config<C: DeserializeOwned>(config: &serde_json::Value) -> Result<C, PolicyError> {
    let text = if config.is_null() {
        "{}".to_string()
    } else {
        serde_json::to_string(config).map_err(|err| PolicyError::invalid_config(err.to_string()))?
    };
    json_path::from_str_with_path(&text).map_err(PolicyError::invalid_config)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::wire::Timestamp;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Cfg {
        factor: i64,
    }

    #[derive(Debug, Deserialize)]
    struct Req {
        x: i64,
    }

    fn envelope(decision: &str, config: &str, request: &str) -> String {
        format!(
            r#"{{"abi_version":1,"decision":"{decision}","now":"2026-11-25T17:00:00Z","tenant":"acme","config":{config},"request":{request}}}"#
        )
    }

    fn decide(req: &Req, cfg: &Cfg, ctx: &Context<'_>) -> Result<String, PolicyError> {
        if req.x < 0 {
            return Err(PolicyError::new("negative", "x < 0"));
        }
        Ok(format!(
            "{} {} {}",
            req.x * cfg.factor,
            ctx.tenant,
            ctx.now.unix_seconds() - Timestamp::parse("2026-11-25T17:00:00Z").unwrap().0
        ))
    }

    fn run(decision: &str, config: &str, request: &str) -> String {
        let input = envelope(decision, config, request);
        run_decision::<Cfg, Req, String, _>(CallKind::Placement, input.as_bytes(), decide)
    }

    #[test]
    fn ok_decision_is_wrapped() {
        assert_eq!(
            run("placement", r#"{"factor":3}"#, r#"{"x":2}"#),
            r#"{"ok":"6 acme 0"}"#
        );
    }

    #[test]
    fn null_config_reads_as_empty_object() {
        assert_eq!(
            run("placement", "null", r#"{"x":2}"#),
            r#"{"ok":"0 acme 0"}"#
        );
    }

    #[test]
    fn policy_errors_are_wrapped() {
        assert_eq!(
            run("placement", "null", r#"{"x":-1}"#),
            r#"{"error":{"code":"negative","message":"x < 0"}}"#
        );
    }

    #[test]
    fn config_errors_name_the_path() {
        assert_eq!(
            run("placement", r#"{"factr":1}"#, r#"{"x":2}"#),
            r#"{"error":{"code":"invalid_config","message":"unknown field `factr`, expected `factor`"}}"#
        );
    }

    #[test]
    fn request_errors_are_invalid_request_with_path() {
        let out = run("placement", "null", r#"{"x":"two"}"#);
        assert!(
            out.starts_with(
                r#"{"error":{"code":"invalid_request","message":"x: invalid type: string \"two\""#
            ),
            "{out}"
        );
    }

    #[test]
    fn a_null_request_is_invalid_request() {
        let out = run("placement", "null", "null");
        assert_eq!(
            out,
            r#"{"error":{"code":"invalid_request","message":"request: invalid type: null, expected struct Req"}}"#
        );
    }

    #[test]
    fn wrong_call_and_garbage_are_invalid_input() {
        let out = run("remediation", "null", r#"{"x":2}"#);
        assert!(out.contains(r#""code":"invalid_input""#), "{out}");
        assert!(out.contains("is for remediation"), "{out}");
        let out = run_decision::<Cfg, Req, String, _>(CallKind::Placement, b"\xff", decide);
        assert!(out.contains("not UTF-8"), "{out}");
        let out = run_decision::<Cfg, Req, String, _>(CallKind::Placement, b"{", decide);
        assert!(out.contains(r#""code":"invalid_input""#), "{out}");
    }

    #[test]
    fn validate_config_returns_ok_null_or_error() {
        let good = envelope("validate_config", r#"{"factor":2}"#, "null");
        let check = |c: &Cfg| {
            if c.factor > 10 {
                Err(PolicyError::invalid_config("factor: at most 10"))
            } else {
                Ok(())
            }
        };
        assert_eq!(
            run_validate_config::<Cfg, _>(good.as_bytes(), check),
            r#"{"ok":null}"#
        );
        let big = envelope("validate_config", r#"{"factor":11}"#, "null");
        assert_eq!(
            run_validate_config::<Cfg, _>(big.as_bytes(), check),
            r#"{"error":{"code":"invalid_config","message":"factor: at most 10"}}"#
        );
    }

    #[test]
    fn not_implemented_names_the_call() {
        assert_eq!(
            not_implemented(CallKind::Remediation),
            r#"{"error":{"code":"not_implemented","message":"this policy does not implement remediation"}}"#
        );
    }
}
