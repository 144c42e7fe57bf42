//! # Reference remediation policy
//!
//! Decides what to do about an unhealthy control-plane component or machine, from the problem,
//! the cluster's remediation history and `now` alone:
//!
//! 1. already escalated during this episode → `none` (a human owns it now);
//! 2. problem younger than `grace_minutes` → `wait` until the grace ends (no flapping);
//! 3. ladder exhausted (`max_restarts` for control-plane components, `max_recreates` for
//!    machines), problem older than `escalate_after_minutes`, or a signal listed in
//!    `escalate_on_signals` firing on the cluster → `pause_upgrades_and_escalate` (never
//!    budget-limited: it is the safe action);
//! 4. exponential backoff since the last action on the component (`backoff_base_minutes`,
//!    doubling, capped at `backoff_max_minutes`) and the per-cluster budget
//!    (`max_actions_per_hour`, rolling) → `wait` until the later of the two;
//! 5. otherwise act: `restart_component` for control-plane components, `recreate_machine` for
//!    machines.
//!
//! An *episode* is the history of the problem's component since `unhealthy_since`.

pub mod config;
pub mod ladder;

use fleetward_sdk::Context;
use fleetward_sdk::wire::{
    Component, MINUTE, PolicyError, RemediationAction, RemediationDecision, RemediationRequest,
    Timestamp,
};

pub use config::Config;

fleetward_sdk::policy! {
    config: Config,
    remediate: remediate,
    validate_config: config::validate,
}

/// The remediation decision.
///
/// # Errors
/// `invalid_request` when the problem started after `now`; `invalid_config` when the config
/// breaks [`config::validate`].
pub fn remediate(
    req: &RemediationRequest,
    config: &Config,
    ctx: &Context<'_>,
) -> Result<RemediationDecision, PolicyError> {
    config::validate(config)?;
    let now = ctx.now;
    let problem = &req.problem;
    if problem.unhealthy_since > now {
        return Err(PolicyError::invalid_request(format!(
            "problem.unhealthy_since {} is after now {now}",
            problem.unhealthy_since
        )));
    }
    let decide = |action, reason: String| Ok(RemediationDecision { action, reason });
    let what = &problem.component;
    let episode = ladder::episode(&req.history, problem);

    if let Some(escalated) = episode
        .iter()
        .find(|r| matches!(r.action, RemediationAction::PauseUpgradesAndEscalate { .. }))
    {
        return decide(
            RemediationAction::None,
            format!(
                "{what}: already escalated at {}; waiting for an operator",
                escalated.at
            ),
        );
    }

    let grace_end = Timestamp(problem.unhealthy_since.0 + i64::from(config.grace_minutes) * MINUTE);
    if now < grace_end {
        return decide(
            RemediationAction::Wait { until: grace_end },
            format!(
                "{what}: {} for less than the {}-minute grace period",
                problem.condition, config.grace_minutes
            ),
        );
    }

    let actions: Vec<_> = episode
        .iter()
        .filter(|r| ladder::is_active(&r.action))
        .collect();
    let attempts = actions.len() as u32;
    let ladder_len = ladder::ladder_length(what, config);
    let age_minutes = (now.0 - problem.unhealthy_since.0) / MINUTE;
    let too_old = config
        .escalate_after_minutes
        .is_some_and(|m| age_minutes >= i64::from(m));
    let signal = req
        .signals
        .iter()
        .find(|s| config.escalate_on_signals.contains(&s.name));
    if attempts >= ladder_len || too_old || signal.is_some() {
        let why = if let Some(s) = signal {
            format!("signal {} firing ({})", s.name, s.reason)
        } else if too_old {
            format!("unhealthy for {age_minutes} minutes")
        } else {
            format!("{attempts} remediation(s) did not help")
        };
        return decide(
            RemediationAction::PauseUpgradesAndEscalate {
                message: format!(
                    "{}: {what} {} ({}); {why}. Upgrades are paused until an operator resumes them.",
                    req.cluster, problem.condition, problem.detail
                ),
            },
            format!("{what}: escalating, {why}"),
        );
    }

    let backoff = actions
        .last()
        .map(|last| ladder::backoff_until(attempts, last.at, config))
        .filter(|until| *until > now);
    let budget = ladder::budget_exhausted(&req.history, now, config);
    let wait_reason = match (backoff, budget) {
        (Some(b), Some((used, until))) if until > b => Some((
            until,
            format!(
                "{used}/{} actions used in the last hour",
                config.max_actions_per_hour
            ),
        )),
        (Some(b), _) => Some((b, format!("backing off after {attempts} attempt(s)"))),
        (None, Some((used, until))) => Some((
            until,
            format!(
                "{used}/{} actions used in the last hour",
                config.max_actions_per_hour
            ),
        )),
        (None, None) => None,
    };
    if let Some((until, why)) = wait_reason {
        return decide(
            RemediationAction::Wait { until },
            format!("{what}: {why}; next action at {until}"),
        );
    }

    let step = format!("attempt {} of {ladder_len}", attempts + 1);
    match what {
        Component::ControlPlane { name } => decide(
            RemediationAction::RestartComponent {
                component: name.clone(),
            },
            format!(
                "{what}: {} ({}); restart, {step}",
                problem.condition, problem.detail
            ),
        ),
        Component::Machine { name, .. } => decide(
            RemediationAction::RecreateMachine {
                machine: name.clone(),
            },
            format!(
                "{what}: {} ({}); recreate, {step}",
                problem.condition, problem.detail
            ),
        ),
    }
}

#[cfg(test)]
mod tests;
