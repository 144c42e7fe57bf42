//! # Reference upgrade-ordering policy
//!
//! Decides which clusters of a tenant start an upgrade step now:
//!
//! - **waves** ([`waves`]): canaries (label selector) first, then configured waves by label
//!   (e.g. `env=dev` → `env=staging` → `env=prod`), then everything else as `default`;
//! - a wave starts only when every cluster of the earlier waves is upgraded, healthy and
//!   settled for the wave's **bake time** (from `settled_since` and the history's
//!   `completed_at`);
//! - **maintenance windows** ([`window`]) per wave or global, with fixed UTC offsets;
//! - **caps**: the policy's `max_concurrent` (and per-wave caps) within the host's limits,
//!   including per seed;
//! - per cluster ([`step`]): control plane before node pools, pools one at a time, one minor
//!   version per step; unhealthy or paused clusters are held with the reason;
//! - **approval gates** (`approval_before`): a listed wave waits, once it could otherwise
//!   start, for an operator's approval of the gate named like the wave (`req.approvals`);
//! - **signals** (`hold_on_signals`): while a listed signal fires on any cluster of the tenant,
//!   no new step starts anywhere (steps already running finish; the host drives them).
//!
//! The checks, in order, for each cluster that needs a step and runs none: paused or unhealthy
//! (`health`), a listed signal firing (`signal`), an earlier wave not done (`wave`) or baking
//! (`bake`), the wave's approval gate (`approval`), the maintenance window (`window`), the
//! cluster's own next step (`other`, e.g. a downgrade), the caps (`concurrency`). The first
//! that fails is the hold's `cause`, with the cluster's `wave`. The approval comes before the
//! window so that the gate is pending, and can be approved, before the window opens.
//!
//! Every cluster that needs an upgrade and does not start is listed in `hold` with a reason and,
//! when known, `until`; `recheck_at` is the earliest of those (a window opening, a bake end).
//! Steps are ordered by wave, then cluster namespace/name, so the answer is deterministic.

pub mod config;
pub mod step;
pub mod waves;
pub mod window;

use std::collections::BTreeMap;

use fleetward_sdk::Context;
use fleetward_sdk::wire::{
    FleetCluster, Hold, HoldCause, PolicyError, Timestamp, UpgradeDecision, UpgradeRequest,
    UpgradeStep,
};

pub use config::Config;

use waves::Gate;

fleetward_sdk::policy! {
    config: Config,
    order_upgrades: order_upgrades,
    validate_config: config::validate,
}

/// The upgrade-ordering decision.
///
/// # Errors
/// `invalid_config` when the config breaks [`config::validate`].
pub fn order_upgrades(
    req: &UpgradeRequest,
    config: &Config,
    ctx: &Context<'_>,
) -> Result<UpgradeDecision, PolicyError> {
    config::validate(config)?;
    let now = ctx.now;
    let cap = config.max_concurrent.min(req.limits.max_concurrent);
    let seed_cap = req.limits.max_concurrent_per_seed;
    let mut in_flight = req
        .clusters
        .iter()
        .filter(|c| c.in_progress.is_some())
        .count() as u32;
    let mut per_seed: BTreeMap<&str, u32> = BTreeMap::new();
    for c in req.clusters.iter().filter(|c| c.in_progress.is_some()) {
        if let Some(seed) = &c.seed {
            *per_seed.entry(seed).or_default() += 1;
        }
    }

    let signal_hold = firing_signal(req, config);
    let (groups, unmatched) = waves::group(&req.clusters, config);
    let mut start = Vec::new();
    let mut hold = Vec::new();
    let mut started_waves: Vec<&str> = Vec::new();
    for (i, wave) in groups.iter().enumerate() {
        let gate = waves::gate(&groups[..i], &req.history, now);
        let approval_gate = config
            .approval_before
            .contains(&wave.name)
            .then_some(wave.name.as_str())
            .filter(|g| !req.approvals.iter().any(|a| a.gate == *g));
        let mut wave_in_flight = wave
            .members
            .iter()
            .filter(|c| c.in_progress.is_some())
            .count() as u32;
        for c in &wave.members {
            if !c.needs_upgrade() || c.in_progress.is_some() {
                continue;
            }
            let held = |cause: HoldCause, reason: String, until: Option<Timestamp>| Hold {
                cluster: c.id.clone(),
                reason,
                until,
                cause: Some(cause),
                gate: None,
                wave: Some(wave.name.clone()),
            };
            if c.upgrades_paused {
                hold.push(held(HoldCause::Health, "upgrades paused".into(), None));
                continue;
            }
            if !c.health.healthy {
                hold.push(held(HoldCause::Health, unhealthy_reason(c), None));
                continue;
            }
            if let Some(reason) = &signal_hold {
                hold.push(held(HoldCause::Signal, reason.clone(), None));
                continue;
            }
            if let Gate::Closed {
                cause,
                reason,
                until,
            } = &gate
            {
                hold.push(held(*cause, reason.clone(), *until));
                continue;
            }
            if let Some(g) = approval_gate {
                hold.push(Hold {
                    gate: Some(g.to_string()),
                    ..held(
                        HoldCause::Approval,
                        format!("waiting for approval of gate {g:?}"),
                        None,
                    )
                });
                continue;
            }
            if !window::any_open(wave.windows, now) {
                let names: Vec<_> = wave.windows.iter().map(ToString::to_string).collect();
                hold.push(held(
                    HoldCause::Window,
                    format!("outside maintenance window ({})", names.join("; ")),
                    window::next_opening(wave.windows, now),
                ));
                continue;
            }
            let (target, to) = match step::next_step(c) {
                Ok(Some(step)) => step,
                Ok(None) => continue,
                Err(reason) => {
                    hold.push(held(HoldCause::Other, reason, None));
                    continue;
                }
            };
            if in_flight >= cap {
                hold.push(held(
                    HoldCause::Concurrency,
                    format!("concurrency cap reached ({in_flight}/{cap} in flight)"),
                    None,
                ));
                continue;
            }
            if let Some(wave_cap) = wave.max_concurrent.filter(|m| wave_in_flight >= *m) {
                hold.push(held(
                    HoldCause::Concurrency,
                    format!(
                        "wave {} cap reached ({wave_in_flight}/{wave_cap})",
                        wave.name
                    ),
                    None,
                ));
                continue;
            }
            if let Some(seed) = &c.seed {
                let n = per_seed.get(seed.as_str()).copied().unwrap_or(0);
                if n >= seed_cap {
                    hold.push(held(
                        HoldCause::Concurrency,
                        format!("seed {seed} cap reached ({n}/{seed_cap} in flight)"),
                        None,
                    ));
                    continue;
                }
                *per_seed.entry(seed).or_default() += 1;
            }
            in_flight += 1;
            wave_in_flight += 1;
            if started_waves.last() != Some(&wave.name.as_str()) {
                started_waves.push(&wave.name);
            }
            start.push(UpgradeStep {
                cluster: c.id.clone(),
                target,
                to,
                wave: Some(wave.name.clone()),
            });
        }
    }
    for c in unmatched
        .iter()
        .filter(|c| c.needs_upgrade() && c.in_progress.is_none())
    {
        hold.push(Hold {
            cluster: c.id.clone(),
            reason: "matches no wave (unmatched: hold)".into(),
            until: None,
            cause: Some(HoldCause::Other),
            gate: None,
            wave: None,
        });
    }

    let recheck_at = hold
        .iter()
        .filter_map(|h| h.until)
        .filter(|u| *u > now)
        .min();
    let running = req
        .clusters
        .iter()
        .filter(|c| c.in_progress.is_some())
        .count();
    let reason = summary(&start, &hold, running, &started_waves);
    Ok(UpgradeDecision {
        start,
        hold,
        recheck_at,
        reason,
    })
}

/// The first listed signal firing on a cluster of the tenant (clusters by namespace/name, then
/// signals by name), as a hold reason: `signal SLOBurn firing on tenant-acme/prod-1`.
fn firing_signal(req: &UpgradeRequest, config: &Config) -> Option<String> {
    if config.hold_on_signals.is_empty() {
        return None;
    }
    req.clusters
        .iter()
        .flat_map(|c| c.signals.iter().map(move |s| (&c.id, &s.name)))
        .filter(|(_, name)| config.hold_on_signals.contains(name))
        .min()
        .map(|(id, name)| format!("signal {name} firing on {}/{}", id.namespace, id.name))
}

fn unhealthy_reason(c: &FleetCluster) -> String {
    if c.health.reasons.is_empty() {
        "unhealthy".into()
    } else {
        format!("unhealthy: {}", c.health.reasons.join("; "))
    }
}

fn summary(start: &[UpgradeStep], hold: &[Hold], running: usize, waves: &[&str]) -> String {
    match (start.len(), hold.len()) {
        (0, 0) if running == 0 => "all clusters are up to date".into(),
        (0, 0) => format!("{running} step(s) in progress, nothing else to start"),
        (0, h) => format!("nothing to start: {h} cluster(s) held, {running} step(s) in progress"),
        (s, h) => format!(
            "starting {s} step(s) in wave {}; {h} cluster(s) held, {running} step(s) in progress",
            waves.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests;
