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
    Ok(())
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
