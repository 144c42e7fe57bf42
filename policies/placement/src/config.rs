//! The placement policy's tenant config: weights, preferences and extra hard filters.

use serde::Deserialize;

use fleetward_sdk::wire::{Labels, PolicyError};

/// Tenant config. Every field is optional; `null` or `{}` gives the defaults.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How much each score component counts.
    pub weights: Weights,
    /// Regions to favour, best first (rank 0 scores 100, the last rank 100/len).
    pub preferred_regions: Vec<String>,
    /// Hard filter: a seed may not go above this utilisation (percent of capacity, 1-100) with
    /// the new cluster on it. Default 100.
    pub max_utilization_percent: u32,
    /// Hard filter: labels every seed must carry, on top of the cluster's own constraints.
    pub seed_labels: Labels,
    /// Hard filter: seeds never to use (e.g. being drained).
    pub excluded_seeds: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            weights: Weights::default(),
            preferred_regions: Vec::new(),
            max_utilization_percent: 100,
            seed_labels: Labels::new(),
            excluded_seeds: Vec::new(),
        }
    }
}

/// Weights of the score components (each component is 0-100; the score is the weighted sum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Free capacity left after placing. Default 60.
    pub load: i64,
    /// Distance from the tenant's other clusters (same seed, same zone). Default 30.
    pub spread: i64,
    /// Rank in `preferred_regions`. Default 10.
    pub preferred_region: i64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            load: 60,
            spread: 30,
            preferred_region: 10,
        }
    }
}

/// Checks what typed deserialisation cannot: ranges and duplicates.
///
/// # Errors
/// `invalid_config` naming the field.
pub fn validate(config: &Config) -> Result<(), PolicyError> {
    let w = config.weights;
    for (name, value) in [
        ("load", w.load),
        ("spread", w.spread),
        ("preferred_region", w.preferred_region),
    ] {
        if !(0..=1000).contains(&value) {
            return Err(PolicyError::invalid_config(format!(
                "weights.{name}: must be between 0 and 1000, got {value}"
            )));
        }
    }
    if w.load + w.spread + w.preferred_region == 0 {
        return Err(PolicyError::invalid_config(
            "weights: at least one weight must be positive",
        ));
    }
    if !(1..=100).contains(&config.max_utilization_percent) {
        return Err(PolicyError::invalid_config(format!(
            "max_utilization_percent: must be between 1 and 100, got {}",
            config.max_utilization_percent
        )));
    }
    for (i, region) in config.preferred_regions.iter().enumerate() {
        if config.preferred_regions[..i].contains(region) {
            return Err(PolicyError::invalid_config(format!(
                "preferred_regions[{i}]: duplicate region {region:?}"
            )));
        }
    }
    Ok(())
}
