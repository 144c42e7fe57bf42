//! Grouping the fleet into ordered waves, and the gate that keeps a wave waiting until every
//! earlier wave is upgraded, healthy and baked.

use fleetward_sdk::wire::{FleetCluster, HoldCause, MINUTE, Timestamp, UpgradeRecord};

use crate::config::{Config, Unmatched};
use crate::window::Window;

/// One wave with its members (in cluster-id order) and effective settings.
#[derive(Debug)]
pub struct WaveGroup<'a> {
    /// Wave name (`canary`, a configured name, or `default`).
    pub name: String,
    /// Bake time after this wave, seconds.
    pub bake: i64,
    /// Windows that apply (empty: always open).
    pub windows: &'a [Window],
    /// This wave's own cap on steps in flight.
    pub max_concurrent: Option<u32>,
    /// Its clusters.
    pub members: Vec<&'a FleetCluster>,
}

/// Splits the fleet into waves (canary first, configured waves, then `default` when
/// `unmatched` is `last`). Returns the waves and the clusters no wave takes.
pub fn group<'a>(
    clusters: &'a [FleetCluster],
    config: &'a Config,
) -> (Vec<WaveGroup<'a>>, Vec<&'a FleetCluster>) {
    let bake = |m: Option<u32>| i64::from(m.unwrap_or(config.bake_minutes)) * MINUTE;
    let mut waves = Vec::new();
    if config.canary.is_some() {
        waves.push(WaveGroup {
            name: "canary".into(),
            bake: bake(None),
            windows: &config.windows,
            max_concurrent: None,
            members: Vec::new(),
        });
    }
    for w in &config.waves {
        waves.push(WaveGroup {
            name: w.name.clone(),
            bake: bake(w.bake_minutes),
            windows: w.windows.as_deref().unwrap_or(&config.windows),
            max_concurrent: w.max_concurrent,
            members: Vec::new(),
        });
    }
    let default_index = waves.len();
    if config.unmatched == Unmatched::Last {
        waves.push(WaveGroup {
            name: "default".into(),
            bake: bake(None),
            windows: &config.windows,
            max_concurrent: None,
            members: Vec::new(),
        });
    }
    let offset = usize::from(config.canary.is_some());
    let mut sorted: Vec<&FleetCluster> = clusters.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut unmatched = Vec::new();
    for c in sorted {
        let index = if config.canary.as_ref().is_some_and(|s| s.matches(&c.labels)) {
            Some(0)
        } else if let Some(i) = config
            .waves
            .iter()
            .position(|w| w.selector.matches(&c.labels))
        {
            Some(i + offset)
        } else {
            (config.unmatched == Unmatched::Last).then_some(default_index)
        };
        match index {
            Some(i) => waves[i].members.push(c),
            None => unmatched.push(c),
        }
    }
    (waves, unmatched)
}

/// Whether a wave may start, given all earlier waves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Every earlier cluster is upgraded, healthy and baked.
    Open,
    /// Not yet: why, and when it should open if only time is missing.
    Closed {
        /// `wave` (an earlier cluster is not done, healthy and settled) or `bake`.
        cause: HoldCause,
        /// Human-readable reason.
        reason: String,
        /// End of the bake time, when that is all that is missing.
        until: Option<Timestamp>,
    },
}

/// The gate in front of the wave after `earlier`.
pub fn gate(earlier: &[WaveGroup<'_>], history: &[UpgradeRecord], now: Timestamp) -> Gate {
    let mut bake_end: Option<(Timestamp, &str)> = None;
    for wave in earlier {
        for c in &wave.members {
            let closed = |why: &str| Gate::Closed {
                cause: HoldCause::Wave,
                reason: format!("waiting for wave {}: {} {why}", wave.name, c.id.name),
                until: None,
            };
            if c.in_progress.is_some() || c.needs_upgrade() {
                return closed("is still upgrading");
            }
            if !c.health.healthy {
                return closed("is unhealthy");
            }
            let Some(settled) = c.settled_since else {
                return closed("has not settled");
            };
            let last_done = history
                .iter()
                .filter(|r| r.cluster == c.id)
                .filter_map(|r| r.completed_at)
                .max();
            let since = last_done.map_or(settled, |d| d.max(settled));
            let end = Timestamp(since.0 + wave.bake);
            if end > now && bake_end.is_none_or(|(e, _)| end > e) {
                bake_end = Some((end, wave.name.as_str()));
            }
        }
    }
    match bake_end {
        Some((end, name)) => Gate::Closed {
            cause: HoldCause::Bake,
            reason: format!("wave {name} is baking until {end}"),
            until: Some(end),
        },
        None => Gate::Open,
    }
}
