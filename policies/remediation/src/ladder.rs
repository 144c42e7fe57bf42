//! Reading the history: the current episode of a problem, the rolling-hour budget, backoff.
//!
//! Everything is derived from the request's history and `now`; the policy keeps no state.

use fleetward_sdk::wire::{
    Component, HOUR, MINUTE, Problem, RemediationAction, RemediationRecord, Timestamp,
};

use crate::config::Config;

/// True for actions that change something (and so count for budget, backoff and the ladder).
pub fn is_active(action: &RemediationAction) -> bool {
    matches!(
        action,
        RemediationAction::RestartComponent { .. } | RemediationAction::RecreateMachine { .. }
    )
}

/// The records about this problem's component since it became unhealthy, oldest first.
pub fn episode<'a>(
    history: &'a [RemediationRecord],
    problem: &Problem,
) -> Vec<&'a RemediationRecord> {
    let mut records: Vec<_> = history
        .iter()
        .filter(|r| r.component == problem.component && r.at >= problem.unhealthy_since)
        .collect();
    records.sort_by_key(|r| r.at);
    records
}

/// How many ladder steps this component allows before escalation.
pub fn ladder_length(component: &Component, config: &Config) -> u32 {
    match component {
        Component::ControlPlane { .. } => config.max_restarts,
        Component::Machine { .. } => config.max_recreates,
    }
}

/// When backoff allows the next action, after `attempts` actions, the last at `last`.
pub fn backoff_until(attempts: u32, last: Timestamp, config: &Config) -> Timestamp {
    let shift = attempts.saturating_sub(1).min(20);
    let minutes = (i64::from(config.backoff_base_minutes) << shift)
        .min(i64::from(config.backoff_max_minutes));
    Timestamp(last.0 + minutes * MINUTE)
}

/// `Some(time the oldest counted action leaves the window)` when the cluster's rolling-hour
/// budget is spent.
pub fn budget_exhausted(
    history: &[RemediationRecord],
    now: Timestamp,
    config: &Config,
) -> Option<(usize, Timestamp)> {
    let mut recent: Vec<Timestamp> = history
        .iter()
        .filter(|r| is_active(&r.action) && r.at.0 > now.0 - HOUR && r.at <= now)
        .map(|r| r.at)
        .collect();
    recent.sort();
    let used = recent.len();
    let max = config.max_actions_per_hour as usize;
    // The (used - max + 1)-th oldest must leave the window before one more fits.
    (used >= max).then(|| (used, Timestamp(recent[used - max].0 + HOUR)))
}
