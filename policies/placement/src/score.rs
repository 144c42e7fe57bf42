//! Scoring of eligible seeds: integer components, weighted sum, no floating point.

use std::collections::BTreeMap;

use fleetward_sdk::wire::{ExistingPlacement, SeedCandidate};

use crate::config::Config;

/// One eligible seed's score and its parts (each part 0-100).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scored {
    /// Weighted sum of the parts.
    pub total: i64,
    /// Free capacity after placing, percent.
    pub load: i64,
    /// 100 when the tenant has nothing on this seed or in its zone; less per neighbour.
    pub spread: i64,
    /// Rank score in `preferred_regions` (0 when not preferred).
    pub preferred: i64,
    /// Tenant clusters already on this seed.
    pub same_seed: i64,
    /// Tenant clusters on other seeds of the same region and zone.
    pub same_zone: i64,
}

impl Scored {
    /// A one-line explanation, e.g. `load 88, spread 100 (0 on seed, 0 in zone), preferred 0`.
    pub fn explain(&self) -> String {
        format!(
            "load {}, spread {} ({} on seed, {} in zone), preferred {}",
            self.load, self.spread, self.same_seed, self.same_zone, self.preferred
        )
    }
}

/// Where the tenant's clusters are: per seed name, a count.
pub fn tenant_counts(placements: &[ExistingPlacement]) -> BTreeMap<&str, i64> {
    let mut counts = BTreeMap::new();
    for p in placements {
        *counts.entry(p.seed.as_str()).or_insert(0) += 1;
    }
    counts
}

/// Scores `seed`. `all` is every candidate (to find the zone of seeds the tenant uses).
pub fn score(
    seed: &SeedCandidate,
    all: &[SeedCandidate],
    counts: &BTreeMap<&str, i64>,
    config: &Config,
) -> Scored {
    let capacity = i64::from(seed.capacity.max(1));
    let free_after = (capacity - i64::from(seed.clusters) - 1).max(0);
    let load = free_after * 100 / capacity;

    let same_seed = counts.get(seed.name.as_str()).copied().unwrap_or(0);
    let same_zone: i64 = match &seed.zone {
        Some(zone) => all
            .iter()
            .filter(|s| s.name != seed.name && s.region == seed.region)
            .filter(|s| s.zone.as_ref() == Some(zone))
            .map(|s| counts.get(s.name.as_str()).copied().unwrap_or(0))
            .sum(),
        None => 0,
    };
    let spread = (100 - 50 * same_seed - 25 * same_zone).max(0);

    let ranks = config.preferred_regions.len() as i64;
    let preferred = config
        .preferred_regions
        .iter()
        .position(|r| *r == seed.region)
        .map_or(0, |rank| 100 - rank as i64 * 100 / ranks.max(1));

    let w = config.weights;
    Scored {
        total: w.load * load + w.spread * spread + w.preferred_region * preferred,
        load,
        spread,
        preferred,
        same_seed,
        same_zone,
    }
}
