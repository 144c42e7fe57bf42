//! The upgrade-ordering policy's tenant config: canaries, waves, bake time, windows, caps.

use serde::Deserialize;

use fleetward_sdk::wire::{Labels, PolicyError};

use crate::window::Window;

/// Tenant config. Every field is optional; `null` or `{}` gives one wave `default` with the
/// defaults below.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Clusters matching this selector upgrade first, as wave `canary`. Default: none.
    pub canary: Option<Selector>,
    /// Waves in order; a cluster belongs to the first wave whose selector matches.
    pub waves: Vec<Wave>,
    /// What happens to clusters that match no wave (and are no canary). Default `last`.
    pub unmatched: Unmatched,
    /// Steps in flight at once across the tenant, the policy's own cap (the host's
    /// `limits.max_concurrent` still applies). Default 2.
    pub max_concurrent: u32,
    /// Minutes every cluster of a wave must have been healthy and settled on its version before
    /// the next wave starts. Default 60. A wave may override it.
    pub bake_minutes: u32,
    /// Maintenance windows for every wave without its own. Empty (default): always open.
    pub windows: Vec<Window>,
    /// Waves that wait for an operator's approval before their first step: each is an approval
    /// gate named like the wave, asked for once every earlier wave is done and baked, and
    /// passed once `approvals` in the request lists it. Default: none.
    #[serde(alias = "approvalBefore")]
    pub approval_before: Vec<String>,
    /// Signal names (`SLOBurn` for the condition `signal.fleetward.dev/SLOBurn`) that stop the
    /// rollout: while one fires on any cluster of the tenant, no new step starts anywhere.
    /// Default: none.
    #[serde(alias = "holdOnSignals")]
    pub hold_on_signals: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            canary: None,
            waves: Vec::new(),
            unmatched: Unmatched::Last,
            max_concurrent: 2,
            bake_minutes: 60,
            windows: Vec::new(),
            approval_before: Vec::new(),
            hold_on_signals: Vec::new(),
        }
    }
}

/// A label selector: every listed label must be present with this value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Required labels.
    pub match_labels: Labels,
}

impl Selector {
    /// Whether `labels` satisfy the selector (an empty selector matches everything).
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// One wave.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    /// Name shown in steps and holds (`dev`, `staging`, `prod`).
    pub name: String,
    /// Which clusters belong to the wave.
    pub selector: Selector,
    /// Overrides the global `bake_minutes` for this wave.
    #[serde(default)]
    pub bake_minutes: Option<u32>,
    /// Overrides the global `windows` for this wave (e.g. prod only at weekends).
    #[serde(default)]
    pub windows: Option<Vec<Window>>,
    /// Caps this wave's steps in flight (within the global caps).
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

/// Treatment of clusters no wave selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    /// They form a last wave named `default`.
    Last,
    /// They are held with a reason, never upgraded by the policy.
    Hold,
}

/// Checks what typed deserialisation cannot.
///
/// # Errors
/// `invalid_config` naming the field.
pub fn validate(config: &Config) -> Result<(), PolicyError> {
    let bad = |msg: String| Err(PolicyError::invalid_config(msg));
    if config.max_concurrent == 0 {
        return bad("max_concurrent: must be at least 1".into());
    }
    check_windows("windows", &config.windows)?;
    for (i, wave) in config.waves.iter().enumerate() {
        if wave.name.is_empty() || wave.name == "canary" || wave.name == "default" {
            return bad(format!(
                "waves[{i}].name: must be non-empty and not `canary` or `default`, got {:?}",
                wave.name
            ));
        }
        if config.waves[..i].iter().any(|w| w.name == wave.name) {
            return bad(format!("waves[{i}].name: duplicate wave {:?}", wave.name));
        }
        if wave.max_concurrent == Some(0) {
            return bad(format!("waves[{i}].max_concurrent: must be at least 1"));
        }
        if let Some(windows) = &wave.windows {
            check_windows(&format!("waves[{i}].windows"), windows)?;
        }
    }
    for (i, name) in config.approval_before.iter().enumerate() {
        if !is_dns_label(name) {
            return bad(format!(
                "approval_before[{i}]: {name:?} is not a DNS label (lower-case letters, digits and `-`, at most 63 characters); it names the approval gate"
            ));
        }
        if config.approval_before[..i].contains(name) {
            return bad(format!("approval_before[{i}]: duplicate wave {name:?}"));
        }
        if !wave_names(config).any(|w| w == name) {
            let known: Vec<&str> = wave_names(config).collect();
            return bad(format!(
                "approval_before[{i}]: no wave is named {name:?} (the waves are: {})",
                known.join(", ")
            ));
        }
    }
    for (i, name) in config.hold_on_signals.iter().enumerate() {
        if !is_signal_name(name) {
            return bad(format!(
                "hold_on_signals[{i}]: {name:?} is not a signal name (letters, digits, `-`, `_` and `.`, at most 63 characters, without the `signal.fleetward.dev/` prefix)"
            ));
        }
    }
    Ok(())
}

/// The names of the waves the config gives, in order: `canary` when there are canaries, the
/// configured waves, `default` when unmatched clusters form the last wave.
pub fn wave_names(config: &Config) -> impl Iterator<Item = &str> {
    config
        .canary
        .as_ref()
        .map(|_| "canary")
        .into_iter()
        .chain(config.waves.iter().map(|w| w.name.as_str()))
        .chain((config.unmatched == Unmatched::Last).then_some("default"))
}

/// An RFC 1123 label: what the host accepts as an approval gate's name.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// The name part of a Kubernetes condition type: alphanumerics, `-`, `_`, `.`, beginning and
/// ending alphanumeric, at most 63 characters.
fn is_signal_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn check_windows(path: &str, windows: &[Window]) -> Result<(), PolicyError> {
    for (i, w) in windows.iter().enumerate() {
        if w.days.is_empty() {
            return Err(PolicyError::invalid_config(format!(
                "{path}[{i}].days: at least one day is needed"
            )));
        }
        if w.start == w.end {
            return Err(PolicyError::invalid_config(format!(
                "{path}[{i}]: start and end are both {}; the window would be empty",
                w.start
            )));
        }
    }
    Ok(())
}
