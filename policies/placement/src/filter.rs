//! Hard filters: a seed either may host the cluster or it may not, with the reason why not.
//!
//! The host pre-filters candidates too, but a policy must not trust that blindly (and tenants
//! add their own filters in config), so every rule is checked again here.

use fleetward_sdk::wire::{ClusterToPlace, Labels, SeedCandidate};

use crate::config::Config;

/// Why `seed` may not host `cluster`, or `None` when it may. The first failing rule wins, in a
/// fixed order, so the reason is stable.
pub fn exclusion(
    seed: &SeedCandidate,
    cluster: &ClusterToPlace,
    config: &Config,
) -> Option<String> {
    let c = &cluster.constraints;
    if config.excluded_seeds.contains(&seed.name) {
        return Some("excluded by tenant config".into());
    }
    if !seed.ready {
        return Some("not ready".into());
    }
    if !c.regions.is_empty() && !c.regions.contains(&seed.region) {
        return Some(format!(
            "region {} not in {}",
            seed.region,
            c.regions.join(",")
        ));
    }
    if !c.providers.is_empty() && !c.providers.contains(&seed.provider) {
        return Some(format!(
            "provider {} not in {}",
            seed.provider,
            c.providers.join(",")
        ));
    }
    if let Some(missing) = missing_label(&seed.labels, &c.seed_labels)
        .or_else(|| missing_label(&seed.labels, &config.seed_labels))
    {
        return Some(missing);
    }
    if seed.clusters >= seed.capacity {
        return Some(format!("full ({}/{})", seed.clusters, seed.capacity));
    }
    let after = u64::from(seed.clusters) + 1;
    if after * 100 > u64::from(seed.capacity) * u64::from(config.max_utilization_percent) {
        return Some(format!(
            "would exceed {}% utilisation ({}/{})",
            config.max_utilization_percent, after, seed.capacity
        ));
    }
    if cluster.version < seed.min_version || cluster.version > seed.max_version {
        return Some(format!(
            "version {} outside supported {}..={}",
            cluster.version, seed.min_version, seed.max_version
        ));
    }
    None
}

fn missing_label(have: &Labels, want: &Labels) -> Option<String> {
    want.iter()
        .find(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| format!("lacks label {k}={v}"))
}
