//! The `policy!` macro in its variants, as a policy crate would use it (each in its own module,
//! since the expansion defines `dispatch` and `EXPORTS` where it is invoked).

use fleetward_sdk::wire::{
    CallKind, PolicyError, RemediationAction, RemediationDecision, RemediationRequest,
};
use fleetward_sdk::{Context, NoConfig};

fn envelope(decision: &str, config: &str, request: &str) -> String {
    format!(
        r#"{{"abi_version":1,"decision":"{decision}","now":"2026-11-25T17:00:00Z","tenant":"acme","config":{config},"request":{request}}}"#
    )
}

const REMEDIATION: &str = r#"{"cluster":{"namespace":"n","name":"c"},"problem":{"component":{"kind":"control_plane","name":"etcd"},"condition":"NotReady","unhealthy_since":"2026-11-25T16:00:00Z"}}"#;

mod no_config {
    use super::*;

    pub fn remediate(
        req: &RemediationRequest,
        _: &NoConfig,
        ctx: &Context<'_>,
    ) -> Result<RemediationDecision, PolicyError> {
        Ok(RemediationDecision {
            action: RemediationAction::None,
            reason: format!(
                "{} for {} at {}",
                req.problem.condition, ctx.tenant, ctx.now
            ),
        })
    }

    fleetward_sdk::policy! {
        config: NoConfig,
        remediate: remediate,
        validate_config: true,
    }
}

mod checked {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Config {
        pub limit: u32,
    }

    pub fn check(config: &Config) -> Result<(), PolicyError> {
        if config.limit > 10 {
            return Err(PolicyError::invalid_config("limit: at most 10"));
        }
        Ok(())
    }

    pub fn remediate(
        _: &RemediationRequest,
        config: &Config,
        _: &Context<'_>,
    ) -> Result<RemediationDecision, PolicyError> {
        if config.limit == 0 {
            panic!("limit 0");
        }
        Err(PolicyError::new(
            "declined_on_purpose",
            format!("limit {}", config.limit),
        ))
    }

    fleetward_sdk::policy! {
        config: Config,
        remediate: crate::checked::remediate,
        validate_config: check,
    }
}

mod undeclared_validation {
    use super::*;

    fleetward_sdk::policy! {
        config: NoConfig,
        remediate: crate::no_config::remediate,
    }
}

#[test]
fn exports_reflect_the_declaration() {
    let e = no_config::EXPORTS;
    assert!(e.remediate && e.validate_config && !e.place && !e.order_upgrades);
    assert_eq!(
        e.decisions(),
        vec![fleetward_sdk::wire::DecisionKind::Remediation]
    );
    let undeclared = undeclared_validation::EXPORTS;
    assert!(!undeclared.validate_config);
}

#[test]
fn no_config_accepts_null_and_rejects_keys() {
    let ok = no_config::dispatch(
        CallKind::Remediation,
        &envelope("remediation", "null", REMEDIATION),
    );
    assert_eq!(
        ok,
        r#"{"ok":{"action":{"action":"none"},"reason":"NotReady for acme at 2026-11-25T17:00:00Z"}}"#
    );
    let bad = no_config::dispatch(
        CallKind::ValidateConfig,
        &envelope("validate_config", r#"{"x":1}"#, "null"),
    );
    assert_eq!(
        bad,
        r#"{"error":{"code":"invalid_config","message":"unknown field `x`, there are no fields"}}"#
    );
}

#[test]
fn required_fields_validators_and_undeclared_calls() {
    let v = |config: &str| {
        checked::dispatch(
            CallKind::ValidateConfig,
            &envelope("validate_config", config, "null"),
        )
    };
    assert_eq!(v(r#"{"limit":3}"#), r#"{"ok":null}"#);
    assert_eq!(
        v("null"),
        r#"{"error":{"code":"invalid_config","message":"missing field `limit`"}}"#
    );
    assert_eq!(
        v(r#"{"limit":11}"#),
        r#"{"error":{"code":"invalid_config","message":"limit: at most 10"}}"#
    );
    let out = checked::dispatch(
        CallKind::Remediation,
        &envelope("remediation", r#"{"limit":3}"#, REMEDIATION),
    );
    assert_eq!(
        out,
        r#"{"error":{"code":"declined_on_purpose","message":"limit 3"}}"#
    );
    let out = checked::dispatch(
        CallKind::Placement,
        &envelope("placement", r#"{"limit":3}"#, "{}"),
    );
    assert_eq!(
        out,
        r#"{"error":{"code":"not_implemented","message":"this policy does not implement placement"}}"#
    );
    let out = undeclared_validation::dispatch(
        CallKind::ValidateConfig,
        &envelope("validate_config", "null", "null"),
    );
    assert!(out.contains("not_implemented"), "{out}");
}

#[test]
fn a_panicking_policy_is_a_trap_in_the_native_runner() {
    let case: fleetward_sdk::testing::Case = serde_json::from_str(&format!(
        r#"{{"decision":"remediation","now":"2026-11-25T17:00:00Z","config":{{"limit":0}},"request":{REMEDIATION},"expect":{{"error":{{"kind":"trap"}}}}}}"#
    ))
    .unwrap();
    let result = fleetward_sdk::testing::run_case(&checked::EXPORTS, &Default::default(), &case);
    let err = result.clone().unwrap_err();
    assert_eq!((err.kind, err.message.as_str()), ("trap", "limit 0"));
    assert_eq!(fleetward_sdk::testing::check(&case.expect, &result), Ok(()));
}
