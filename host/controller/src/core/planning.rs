//! The upgrade plan's pure half: the tenant's `UpgradeRequest` from its clusters, and what an
//! answer, once admitted through the invariants, does to each cluster's status.
//!
//! `reconcile/upgrades.rs` is the shell: it LISTs, asks the policy, records each outcome and
//! writes the statuses this module computes.

use std::collections::BTreeMap;

use fleetward_sdk::wire::{
    ClusterRef, DecisionKind, FleetCluster, Health, KubeVersion, PoolState, Timestamp,
    UpgradeDecision, UpgradeRecord, UpgradeRequest, UpgradeStep, UpgradeTarget, VersionState,
};
use kube::ResourceExt;

use crate::core::decisions;
use crate::core::invariants::{Admission, InFlight, Invariant};
use crate::crd::{
    DecisionRecordStatus, InProgressStep, ManagedCluster, ManagedClusterStatus, Phase,
    UpgradeHistoryEntry,
};
use crate::decision::DecisionOutcome;

/// Steps in flight fleet-wide and per seed (what the caps count).
pub fn in_flight(all: &[ManagedCluster]) -> InFlight {
    let mut in_flight = InFlight::default();
    for c in all {
        if let Some(st) = c.status.as_ref().filter(|s| s.in_progress.is_some()) {
            in_flight.total += 1;
            *in_flight
                .per_seed
                .entry(st.seed.clone().unwrap_or_default())
                .or_default() += 1;
        }
    }
    in_flight
}

/// The tenant's upgrade request, or `None` when none of its clusters needs an upgrade.
pub fn request(
    mine: &[&ManagedCluster],
    limits: fleetward_sdk::wire::UpgradeLimits,
) -> Option<UpgradeRequest> {
    let mut clusters: Vec<FleetCluster> = mine.iter().filter_map(|c| fleet_cluster(c)).collect();
    clusters.sort_by(|a, b| a.id.cmp(&b.id));
    if !clusters.iter().any(FleetCluster::needs_upgrade) {
        return None;
    }
    let mut hist: Vec<UpgradeRecord> = mine.iter().flat_map(|c| history(c)).collect();
    hist.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| a.cluster.cmp(&b.cluster))
    });
    Some(UpgradeRequest {
        clusters,
        history: hist,
        limits,
    })
}

/// One outcome of a plan, for the recording path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedOutcome {
    /// Clusters concerned.
    pub clusters: Vec<ClusterRef>,
    /// What became of the decision for them.
    pub outcome: DecisionOutcome,
    /// Why.
    pub reason: String,
    /// Announced on this cluster (a real invariant breach), on the tenant (`None` with
    /// `routine` false), or not at all (`routine`: cap back-pressure).
    pub on_cluster: Option<ClusterRef>,
    /// Routine back-pressure, never announced.
    pub routine: bool,
}

/// A cluster's status after the plan, and the step it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedWrite {
    /// The cluster.
    pub cluster: ClusterRef,
    /// The step started, if any.
    pub step: Option<UpgradeStep>,
    /// The status to write.
    pub status: ManagedClusterStatus,
}

/// What an admitted answer does.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Outcomes in ledger order: each veto, then the plan with the clusters it started.
    pub outcomes: Vec<PlannedOutcome>,
    /// Statuses that changed (a plan that only repeats what status shows changes none).
    pub writes: Vec<PlannedWrite>,
    /// The reason shown for started steps.
    pub reason: String,
    /// When to plan again even if nothing changes: the policy's `recheck_at`, or in 30 s when
    /// caps held steps back.
    pub recheck_at: Option<Timestamp>,
}

/// The policy's decision as context for [`conclude`].
#[derive(Clone, Copy, Debug)]
pub struct Decided<'a> {
    /// The answer.
    pub decision: &'a UpgradeDecision,
    /// `Applied` or `Fallback`.
    pub outcome: &'a DecisionOutcome,
    /// The host's reason (a fallback explains itself), empty when the policy's stands.
    pub host_reason: &'a str,
    /// Module digest or `builtin`.
    pub digest: &'a str,
}

/// Turns an admitted answer into outcomes and status writes: each admitted step persisted as
/// `status.inProgress` (plus history and a decision entry), each real invariant veto put on its
/// cluster's status, cap back-pressure recorded only.
pub fn conclude(
    req: &UpgradeRequest,
    d: Decided<'_>,
    adm: &Admission,
    status_of: impl Fn(&ClusterRef) -> Option<ManagedClusterStatus>,
    now: Timestamp,
    history_len: usize,
) -> Plan {
    let reason = if d.host_reason.is_empty() {
        d.decision.reason.clone()
    } else {
        d.host_reason.to_string()
    };
    let entry = |outcome: &DecisionOutcome, reason: String| {
        decisions::entry(
            DecisionKind::UpgradeOrdering,
            d.digest,
            now,
            outcome,
            &reason,
        )
    };
    let mut per_cluster: BTreeMap<ClusterRef, (Option<UpgradeStep>, Vec<DecisionRecordStatus>)> =
        BTreeMap::new();
    for step in &adm.admitted {
        let e = per_cluster.entry(step.cluster.clone()).or_default();
        e.0 = Some(step.clone());
        e.1.push(entry(
            d.outcome,
            format!("start {} -> {}: {reason}", step.target, step.to),
        ));
    }
    let mut outcomes = Vec::new();
    for veto in &adm.vetoed {
        let vetoed = DecisionOutcome::Vetoed {
            invariant: veto.invariant.as_str().into(),
        };
        let routine = is_routine(veto.invariant);
        outcomes.push(PlannedOutcome {
            clusters: vec![veto.step.cluster.clone()],
            outcome: vetoed.clone(),
            reason: format!("{}: {}", veto.invariant, veto.message),
            on_cluster: (!routine).then(|| veto.step.cluster.clone()),
            routine,
        });
        if !routine && req.clusters.iter().any(|c| c.id == veto.step.cluster) {
            per_cluster
                .entry(veto.step.cluster.clone())
                .or_default()
                .1
                .push(entry(
                    &vetoed,
                    format!(
                        "{} {} -> {} vetoed: {}: {}",
                        veto.step.cluster,
                        veto.step.target,
                        veto.step.to,
                        veto.invariant,
                        veto.message
                    ),
                ));
        }
    }
    outcomes.push(PlannedOutcome {
        clusters: adm.admitted.iter().map(|s| s.cluster.clone()).collect(),
        outcome: d.outcome.clone(),
        reason: reason.clone(),
        on_cluster: None,
        routine: false,
    });
    let mut writes = Vec::new();
    for (id, (step, entries)) in per_cluster {
        let Some(before) = status_of(&id) else {
            continue;
        };
        let mut st = before.clone();
        if let Some(step) = &step {
            // admit() starts steps only on the request's clusters and their known pools.
            let Some(current) = current_version(req, &id, &step.target) else {
                continue;
            };
            st.in_progress = Some(InProgressStep {
                target: step.target.clone(),
                from: current,
                to: step.to,
                started_at: now,
                wave: step.wave.clone(),
            });
            st.upgrade_history.push(UpgradeHistoryEntry {
                target: step.target.clone(),
                from: current,
                to: step.to,
                started_at: now,
                completed_at: None,
            });
            let excess = st.upgrade_history.len().saturating_sub(history_len);
            st.upgrade_history.drain(..excess);
            st.phase = Phase::Upgrading;
        }
        for e in entries {
            decisions::push(&mut st.last_decisions, e, history_len);
        }
        // Only repeats of what status already says: nothing a user could see changed.
        if st != before {
            writes.push(PlannedWrite {
                cluster: id,
                step,
                status: st,
            });
        }
    }
    let capped = adm.vetoed.iter().any(|v| is_routine(v.invariant));
    Plan {
        outcomes,
        writes,
        reason,
        recheck_at: d
            .decision
            .recheck_at
            .or(capped.then_some(Timestamp(now.0 + 30))),
    }
}

/// Cap back-pressure, not a breach: the step waits for a slot.
fn is_routine(invariant: Invariant) -> bool {
    matches!(
        invariant,
        Invariant::GlobalConcurrency | Invariant::SeedConcurrency | Invariant::FairShare
    )
}

fn current_version(
    req: &UpgradeRequest,
    id: &ClusterRef,
    target: &UpgradeTarget,
) -> Option<KubeVersion> {
    let c = req.clusters.iter().find(|c| &c.id == id)?;
    match target {
        UpgradeTarget::ControlPlane => Some(c.control_plane.current),
        UpgradeTarget::NodePool { pool } => c
            .node_pools
            .iter()
            .find(|p| &p.name == pool)
            .map(|p| p.current),
    }
}

/// The policy's view of one cluster (None when it is not placed or not reconcilable).
pub fn fleet_cluster(mc: &ManagedCluster) -> Option<FleetCluster> {
    let st = mc.status.as_ref()?;
    if st.phase == Phase::Rejected || mc.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let seed = st.seed.clone()?;
    let desired = KubeVersion::parse(&mc.spec.version).ok()?;
    let cp_current = st.control_plane_version?;
    let mut node_pools: Vec<PoolState> = mc
        .spec
        .node_pools
        .iter()
        .filter_map(|p| {
            let s = st.node_pools.iter().find(|s| s.name == p.name)?;
            Some(PoolState {
                name: p.name.clone(),
                current: s.version,
                desired: p
                    .version
                    .as_deref()
                    .and_then(|v| KubeVersion::parse(v).ok())
                    .unwrap_or(desired),
                replicas: p.replicas,
                ready_replicas: s.ready_replicas,
            })
        })
        .collect();
    node_pools.sort_by(|a, b| a.name.cmp(&b.name));
    let in_progress = st.in_progress.as_ref().and_then(|s| {
        Some(UpgradeStep {
            cluster: ClusterRef::new(mc.namespace()?, mc.name_any()),
            target: s.target.clone(),
            to: s.to,
            wave: s.wave.clone(),
        })
    });
    let reasons: Vec<String> = st
        .problems
        .iter()
        .map(|p| format!("{} {}", p.component, p.condition))
        .collect();
    let ready = |t: &str| {
        st.conditions
            .iter()
            .any(|c| c.type_ == t && c.status == crate::crd::ConditionStatus::True)
    };
    let mut reasons = reasons;
    if !ready("ControlPlaneReady") {
        reasons.push("control plane not ready".into());
    }
    if !ready("NodesReady") {
        reasons.push("nodes not ready".into());
    }
    if st
        .conditions
        .iter()
        .any(|c| c.type_ == "SeedReachable" && c.status != crate::crd::ConditionStatus::True)
    {
        reasons.push(format!("seed {seed} API server unreachable"));
    }
    Some(FleetCluster {
        id: ClusterRef::new(mc.namespace()?, mc.name_any()),
        labels: mc.spec.labels.clone(),
        seed: Some(seed),
        control_plane: VersionState {
            current: cp_current,
            desired,
        },
        node_pools,
        health: Health {
            healthy: reasons.is_empty(),
            reasons,
        },
        in_progress,
        upgrades_paused: st.upgrades_paused || mc.spec.pause_upgrades,
        settled_since: st.settled_since,
    })
}

/// The cluster's upgrade history as the policy sees it.
pub fn history(mc: &ManagedCluster) -> Vec<UpgradeRecord> {
    let Some(st) = mc.status.as_ref() else {
        return vec![];
    };
    st.upgrade_history
        .iter()
        .filter_map(|h| {
            Some(UpgradeRecord {
                cluster: ClusterRef::new(mc.namespace()?, mc.name_any()),
                target: h.target.clone(),
                from: h.from,
                to: h.to,
                started_at: h.started_at,
                completed_at: h.completed_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::invariants::tests::{cluster, v};
    use crate::core::invariants::{self, Veto};

    fn step(name: &str, target: UpgradeTarget, to: &str) -> UpgradeStep {
        UpgradeStep {
            cluster: ClusterRef::new("t", name),
            target,
            to: v(to),
            wave: Some("dev".into()),
        }
    }

    fn decision(recheck_at: Option<Timestamp>) -> UpgradeDecision {
        UpgradeDecision {
            reason: "policy says".into(),
            recheck_at,
            ..Default::default()
        }
    }

    /// One admitted step, one real breach, one cap: the step is persisted, the breach is put on
    /// its cluster and announced there, the cap is recorded only; a second identical plan for
    /// the vetoed cluster writes nothing.
    #[test]
    fn a_plan_persists_steps_shows_breaches_and_only_records_caps() {
        let req = UpgradeRequest {
            clusters: vec![
                cluster("a", "s1", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
                cluster("b", "s1", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
                cluster("c", "s2", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
            ],
            history: vec![],
            limits: crate::reconcile::Settings::default().upgrade_limits,
        };
        let adm = Admission {
            admitted: vec![step("a", UpgradeTarget::ControlPlane, "1.32.0")],
            vetoed: vec![
                Veto {
                    step: step(
                        "b",
                        UpgradeTarget::NodePool {
                            pool: "workers".into(),
                        },
                        "1.32.0",
                    ),
                    invariant: invariants::Invariant::ControlPlaneFirst,
                    message: "pools follow the control plane".into(),
                },
                Veto {
                    step: step("c", UpgradeTarget::ControlPlane, "1.32.0"),
                    invariant: invariants::Invariant::SeedConcurrency,
                    message: "3 in flight on s2".into(),
                },
            ],
        };
        let dec = decision(None);
        let d = Decided {
            decision: &dec,
            outcome: &DecisionOutcome::Applied,
            host_reason: "",
            digest: "sha256:x",
        };
        let now = Timestamp(1000);
        let plan = conclude(&req, d, &adm, |_| Some(Default::default()), now, 10);
        let shown: Vec<_> = plan
            .outcomes
            .iter()
            .map(|o| (o.outcome.as_str(), o.on_cluster.clone(), o.routine))
            .collect();
        assert_eq!(
            shown,
            [
                ("vetoed", Some(ClusterRef::new("t", "b")), false),
                ("vetoed", None, true),
                ("applied", None, false),
            ]
        );
        assert_eq!(plan.outcomes[2].clusters, [ClusterRef::new("t", "a")]);
        assert_eq!(plan.reason, "policy says");
        // Caps held a step back: plan again in 30 s.
        assert_eq!(plan.recheck_at, Some(Timestamp(1030)));
        let written: Vec<_> = plan
            .writes
            .iter()
            .map(|w| w.cluster.name.as_str())
            .collect();
        assert_eq!(written, ["a", "b"]);
        let a = &plan.writes[0].status;
        let in_progress = a.in_progress.as_ref().unwrap();
        assert_eq!(
            (in_progress.from, in_progress.to, in_progress.started_at),
            (v("1.31.0"), v("1.32.0"), now)
        );
        assert_eq!(a.phase, Phase::Upgrading);
        assert_eq!(a.upgrade_history.len(), 1);
        assert_eq!(
            a.last_decisions[0].reason,
            "start control-plane -> 1.32.0: policy says"
        );
        let b = &plan.writes[1].status;
        assert!(b.in_progress.is_none());
        assert_eq!(b.last_decisions[0].outcome, "vetoed");
        // The same veto again, later: status already says so, nothing to write.
        let b_status = b.clone();
        let again = conclude(
            &req,
            d,
            &Admission {
                admitted: vec![],
                vetoed: adm.vetoed.clone(),
            },
            |id| (id.name == "b").then(|| b_status.clone()),
            Timestamp(2000),
            10,
        );
        assert!(again.writes.is_empty(), "{:?}", again.writes);
        assert_eq!(again.outcomes.len(), 3, "still recorded in the ledger");
    }

    #[test]
    fn the_policys_recheck_wins_and_a_host_reason_replaces_the_policys() {
        let req = UpgradeRequest {
            clusters: vec![cluster(
                "a",
                "s1",
                ("1.31.0", "1.32.0"),
                ("1.31.0", "1.32.0"),
            )],
            history: vec![],
            limits: crate::reconcile::Settings::default().upgrade_limits,
        };
        let dec = decision(Some(Timestamp(5000)));
        let plan = conclude(
            &req,
            Decided {
                decision: &dec,
                outcome: &DecisionOutcome::Fallback,
                host_reason: "fallback to built-in: trap",
                digest: "builtin",
            },
            &Admission::default(),
            |_| Some(Default::default()),
            Timestamp(1000),
            10,
        );
        assert_eq!(plan.recheck_at, Some(Timestamp(5000)));
        assert_eq!(plan.reason, "fallback to built-in: trap");
        assert!(plan.writes.is_empty());
        assert_eq!(plan.outcomes.len(), 1);
        assert_eq!(plan.outcomes[0].outcome, DecisionOutcome::Fallback);
    }
}
