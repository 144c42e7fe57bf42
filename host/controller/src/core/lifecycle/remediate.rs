//! Health and remediation steps of the cluster lifecycle: the gate before the policy is asked,
//! and what its answer means for status and writes.

use fleetward_sdk::wire::{
    Problem, RemediationAction, RemediationDecision, RemediationRecord, Timestamp,
};

use super::{Next, REMEDIATION_HISTORY_LEN, push_bounded, reason};
use crate::core::health::{self, Observation};
use crate::core::remediation::{self, Gate, RateLedger, RateLimits, SeedLoad, is_disruptive};
use crate::crd::{ConditionStatus, Phase, RemediationEntry};
use crate::decision::DecisionOutcome;

/// The write a remediation answer asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemediationWrite {
    /// Restart a control-plane workload (annotate its pod template with the time).
    Restart {
        /// Workload name.
        component: String,
    },
    /// Delete a Machine so its MachineDeployment replaces it.
    Recreate {
        /// Machine name.
        machine: String,
    },
    /// Publish a Warning Event `RemediationEscalated` with this note (upgrades are paused in
    /// status).
    Escalate {
        /// Event note.
        note: String,
    },
}

/// What the shell does after a remediation answer, in this order: the write, then record the
/// decision (ledger and status), then the `Remediated` Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemediationStep {
    /// The action's write, if any.
    pub write: Option<RemediationWrite>,
    /// The decision's outcome to record.
    pub outcome: DecisionOutcome,
    /// The reason to record.
    pub reason: String,
    /// The note of a Warning Event `Remediated` (disruptive actions taken).
    pub announce: Option<String>,
}

/// Where a disruptive remediation counts against the host's rate limits.
#[derive(Clone, Copy, Debug)]
pub struct RateScope<'a> {
    /// `namespace/name` of the cluster.
    pub cluster: &'a str,
    /// Its seed.
    pub seed: &'a str,
    /// Its tenant.
    pub tenant: &'a str,
}

impl Next {
    /// Tracks problems and applies the remediation gate ([`remediation::gate`]): the
    /// `Remediating` condition and the requeue for when a problem becomes due. Returns the
    /// problem and history to ask the policy about, if it is to be asked.
    ///
    /// `load` is called only when something is unhealthy: counting a seed's clusters is a pass
    /// over the whole cluster cache, which a healthy fleet's every resync would otherwise pay
    /// (O(clusters²) per resync period).
    pub fn health(
        &mut self,
        obs: &Observation,
        load: impl FnOnce() -> SeedLoad,
        threshold_secs: i64,
    ) -> Option<(Problem, Vec<RemediationRecord>)> {
        let provisioning = matches!(self.status.phase, Phase::Provisioning | Phase::Pending);
        let workloads: Vec<_> = obs
            .workloads
            .iter()
            .map(|w| w.health(provisioning))
            .collect();
        let observed = health::observe(&workloads, &obs.machines);
        self.status.problems = health::track(&self.status.problems, &observed, self.now);
        // Come back when the oldest problem becomes due; once it is due, the remediation path
        // sets the requeue (a past instant here would mean a requeue every second).
        if let Some(first) = self
            .status
            .problems
            .first()
            .map(|p| p.since)
            .filter(|first| first.0 + threshold_secs > self.now.0)
        {
            self.requeue_at(Timestamp(first.0 + threshold_secs));
        }
        // With nothing observed the gate is `Healthy` whatever the load.
        let load = if observed.is_empty() {
            SeedLoad::default()
        } else {
            load()
        };
        let gate = remediation::gate(
            &self.status.problems,
            &observed,
            &self.status.remediation_history,
            load,
            self.now,
            threshold_secs,
        );
        match gate {
            Gate::Healthy => {
                self.condition("Remediating", ConditionStatus::False, "Healthy", "");
            }
            Gate::SeedFault(load) => {
                let seed = self.status.seed.clone().unwrap_or_default();
                self.condition(
                    "Remediating",
                    ConditionStatus::False,
                    "SeedFault",
                    format!(
                        "{}/{} clusters on seed {seed} are unhealthy: treated as a seed fault, per-cluster remediation stopped",
                        load.unhealthy, load.total
                    ),
                );
            }
            Gate::Observing { component } => {
                self.condition(
                    "Remediating",
                    ConditionStatus::False,
                    "Observing",
                    format!("{component} unhealthy, waiting {threshold_secs}s before acting"),
                );
            }
            Gate::CoolingDown { until } => self.requeue_at(until),
            Gate::Ask { problem, history } => return Some((problem, history)),
        }
        None
    }

    /// Turns the remediation policy's answer about `problem` into status and the write to
    /// make. `answer` is `None` when the policy failed and the tenant holds; `outcome` and
    /// `host_reason` are the decision's so far. A disruptive action is checked against (and,
    /// when allowed, counted in) `rate`, and vetoed `RateLimited` over a limit.
    #[allow(clippy::too_many_arguments)]
    pub fn remediation_answered(
        &mut self,
        problem: &Problem,
        answer: Option<&RemediationDecision>,
        outcome: DecisionOutcome,
        host_reason: &str,
        rate: Option<&mut RateLedger>,
        limits: &RateLimits,
        scope: RateScope<'_>,
        threshold_secs: i64,
    ) -> RemediationStep {
        self.requeue_at(Timestamp(self.now.0 + threshold_secs));
        let Some(dec) = answer else {
            self.condition(
                "Remediating",
                ConditionStatus::False,
                "PolicyHold",
                host_reason,
            );
            return RemediationStep {
                write: None,
                outcome,
                reason: host_reason.to_string(),
                announce: None,
            };
        };
        let reason = reason(host_reason, &dec.reason);
        if is_disruptive(&dec.action)
            && let Some(rate) = rate
        {
            let checked = rate.check(limits, self.now, scope.cluster, scope.seed, scope.tenant);
            match checked {
                Ok(()) => rate.record(self.now, scope.cluster, scope.seed, scope.tenant),
                Err(veto) => {
                    self.condition(
                        "Remediating",
                        ConditionStatus::False,
                        "RateLimited",
                        veto.to_string(),
                    );
                    return RemediationStep {
                        write: None,
                        outcome: DecisionOutcome::Vetoed {
                            invariant: "RateLimited".into(),
                        },
                        reason: veto.to_string(),
                        announce: None,
                    };
                }
            }
        }
        let comp = problem.component.to_string();
        let write = match &dec.action {
            RemediationAction::RestartComponent { component } => Some(RemediationWrite::Restart {
                component: component.clone(),
            }),
            RemediationAction::RecreateMachine { machine } => Some(RemediationWrite::Recreate {
                machine: machine.clone(),
            }),
            RemediationAction::PauseUpgradesAndEscalate { message } => {
                self.status.upgrades_paused = true;
                Some(RemediationWrite::Escalate {
                    note: format!("{comp}: {message}"),
                })
            }
            RemediationAction::Wait { until } => {
                self.requeue_at(*until);
                None
            }
            RemediationAction::None => None,
        };
        let action_json = serde_json::to_string(&dec.action).unwrap_or_default();
        let acted = !matches!(
            dec.action,
            RemediationAction::Wait { .. } | RemediationAction::None
        );
        if acted {
            push_bounded(
                &mut self.status.remediation_history,
                RemediationEntry {
                    at: self.now,
                    component: problem.component.clone(),
                    action: dec.action.clone(),
                },
                REMEDIATION_HISTORY_LEN,
            );
        }
        let why = match dec.action {
            RemediationAction::Wait { .. } => "Waiting",
            RemediationAction::None => "NoAction",
            _ => "ActionTaken",
        };
        self.condition(
            "Remediating",
            ConditionStatus::True,
            why,
            format!("{comp}: {action_json} ({reason})"),
        );
        let announce =
            is_disruptive(&dec.action).then(|| format!("{comp}: {action_json}: {reason}"));
        RemediationStep {
            write,
            outcome,
            reason,
            announce,
        }
    }
}
