//! The remediation policy's tenant config: ladder lengths, budget, backoff, grace.

use serde::Deserialize;

use fleetward_sdk::wire::PolicyError;

/// Tenant config. Every field is optional; `null` or `{}` gives the defaults.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Minutes a problem must persist before the first action (flapping guard). Default 2.
    pub grace_minutes: u32,
    /// Restarts of a control-plane component before escalating. Default 2.
    pub max_restarts: u32,
    /// Machine recreations before escalating. Default 1.
    pub max_recreates: u32,
    /// Escalate once the problem has lasted this long, whatever the ladder says. Default 120;
    /// `null` disables it.
    pub escalate_after_minutes: Option<u32>,
    /// Actions (restarts and recreations) per cluster per rolling hour. Default 3.
    pub max_actions_per_hour: u32,
    /// Wait after the first action on a component before the next; doubles each time.
    /// Default 5.
    pub backoff_base_minutes: u32,
    /// Upper bound of the backoff. Default 60.
    pub backoff_max_minutes: u32,
    /// Signal names (`SLOBurn` for the condition `signal.fleetward.dev/SLOBurn`): while one
    /// fires on the cluster, a problem past its grace period is escalated at once instead of
    /// restarted or recreated (an incident is under way; a person should look before automation
    /// acts). Default: none.
    #[serde(alias = "escalateOnSignals")]
    pub escalate_on_signals: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grace_minutes: 2,
            max_restarts: 2,
            max_recreates: 1,
            escalate_after_minutes: Some(120),
            max_actions_per_hour: 3,
            backoff_base_minutes: 5,
            backoff_max_minutes: 60,
            escalate_on_signals: Vec::new(),
        }
    }
}

/// Checks what typed deserialisation cannot.
///
/// # Errors
/// `invalid_config` naming the field.
pub fn validate(config: &Config) -> Result<(), PolicyError> {
    if config.max_actions_per_hour == 0 {
        return Err(PolicyError::invalid_config(
            "max_actions_per_hour: must be at least 1 (use max_restarts: 0 and max_recreates: 0 to always escalate)",
        ));
    }
    if config.backoff_max_minutes < config.backoff_base_minutes {
        return Err(PolicyError::invalid_config(format!(
            "backoff_max_minutes: {} is below backoff_base_minutes {}",
            config.backoff_max_minutes, config.backoff_base_minutes
        )));
    }
    if config.escalate_after_minutes == Some(0) {
        return Err(PolicyError::invalid_config(
            "escalate_after_minutes: must be at least 1, or null to disable",
        ));
    }
    for (i, name) in config.escalate_on_signals.iter().enumerate() {
        let b = name.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric();
        if !ok {
            return Err(PolicyError::invalid_config(format!(
                "escalate_on_signals[{i}]: {name:?} is not a signal name (letters, digits, `-`, `_` and `.`, at most 63 characters, without the `signal.fleetward.dev/` prefix)"
            )));
        }
    }
    Ok(())
}
