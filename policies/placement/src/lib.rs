//! # Reference placement policy
//!
//! Chooses the seed for a new cluster's control plane in two stages:
//!
//! 1. **hard filters** ([`filter`]): readiness, region/provider/label constraints of the cluster,
//!    the tenant's own required labels and excluded seeds, capacity (and a utilisation cap),
//!    and the seed's supported version range;
//! 2. **scoring** ([`score`]): free capacity after placing ("least loaded"), spreading the
//!    tenant's clusters across seeds and zones, and preferred regions, combined with
//!    configurable integer weights.
//!
//! The highest score wins; ties go to the seed whose name sorts first. Every candidate gets a
//! [`SeedScore`] (excluded ones score `-1` with the reason), so the audit ledger shows why.
//! If no seed passes the filters the decision is `seed: null` (the cluster waits); if the host
//! offered no candidate at all the policy declines with `no_candidate`.
//!
//! Config: see [`config::Config`] and `policies/placement/README.md`.

pub mod config;
pub mod filter;
pub mod score;

use fleetward_sdk::Context;
use fleetward_sdk::wire::{PlacementDecision, PlacementRequest, PolicyError, SeedScore};

pub use config::Config;

fleetward_sdk::policy! {
    config: Config,
    place: place,
    validate_config: config::validate,
}

/// The placement decision.
///
/// # Errors
/// `no_candidate` when the request has no seeds; `invalid_config` when the config breaks
/// [`config::validate`] (the host normally rejects such a config at load).
pub fn place(
    req: &PlacementRequest,
    config: &Config,
    _ctx: &Context<'_>,
) -> Result<PlacementDecision, PolicyError> {
    config::validate(config)?;
    fleetward_sdk::log!(
        "placing {} among {} candidate seed(s)",
        req.cluster.id,
        req.seeds.len()
    );
    if req.seeds.is_empty() {
        return Err(PolicyError::new(
            "no_candidate",
            format!("no candidate seeds offered for {}", req.cluster.id),
        ));
    }
    let counts = score::tenant_counts(&req.tenant_placements);
    let mut seeds: Vec<_> = req.seeds.iter().collect();
    seeds.sort_by(|a, b| a.name.cmp(&b.name));

    let mut scores = Vec::with_capacity(seeds.len());
    let mut best: Option<(&str, score::Scored)> = None;
    let mut excluded = Vec::new();
    for seed in seeds {
        match filter::exclusion(seed, &req.cluster, config) {
            Some(why) => {
                excluded.push(format!("{}: {why}", seed.name));
                scores.push(SeedScore {
                    seed: seed.name.clone(),
                    score: -1,
                    reason: format!("excluded: {why}"),
                });
            }
            None => {
                let s = score::score(seed, &req.seeds, &counts, config);
                scores.push(SeedScore {
                    seed: seed.name.clone(),
                    score: s.total,
                    reason: s.explain(),
                });
                // Seeds are visited in name order, so `>` keeps the first name on a tie.
                if best.as_ref().is_none_or(|(_, b)| s.total > b.total) {
                    best = Some((seed.name.as_str(), s));
                }
            }
        }
    }

    let eligible = scores.iter().filter(|s| s.score >= 0).count();
    let decision = match best {
        Some((name, s)) => PlacementDecision {
            seed: Some(name.to_string()),
            reason: format!(
                "chose {name} (score {}: {}); {eligible} eligible, {} excluded",
                s.total,
                s.explain(),
                excluded.len()
            ),
            scores,
        },
        None => PlacementDecision {
            seed: None,
            reason: format!("no acceptable seed: {}", excluded.join("; ")),
            scores,
        },
    };
    Ok(decision)
}

#[cfg(test)]
mod tests;
