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

use crate::core::decisions::{self, Repeats};
use crate::core::invariants::{Admission, InFlight, Invariant};
use crate::core::write_budget::{self, Deferred, WriteBudget};
use crate::crd::{
    DecisionRecordStatus, InProgressStep, ManagedCluster, ManagedClusterStatus, Phase,
    UpgradeHistoryEntry,
};
use crate::decision::{DecisionOutcome, WaitCause};

/// Steps in flight fleet-wide and per seed (what the caps count).
pub fn in_flight<'a>(all: impl IntoIterator<Item = &'a ManagedCluster>) -> InFlight {
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

/// The tenant's clusters as the policy sees them (placed and reconcilable ones), sorted.
pub fn fleet(mine: &[&ManagedCluster]) -> Vec<FleetCluster> {
    let mut clusters: Vec<FleetCluster> = mine.iter().filter_map(|c| fleet_cluster(c)).collect();
    clusters.sort_by(|a, b| a.id.cmp(&b.id));
    clusters
}

/// The tenant's upgrade request, or `None` when none of its clusters needs an upgrade.
pub fn request(
    mine: &[&ManagedCluster],
    limits: fleetward_sdk::wire::UpgradeLimits,
) -> Option<UpgradeRequest> {
    let clusters = fleet(mine);
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
        approvals: Vec::new(),
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
    /// `routine` false), or not at all (`routine`).
    pub on_cluster: Option<ClusterRef>,
    /// Not announced: a step that waits (cap back-pressure, seed unavailable), a veto the
    /// cluster's status already shows (a repeat is not news), or one whose status write the
    /// budget deferred (announced when it is written).
    pub routine: bool,
}

/// A cluster's status after the plan, and the step it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedWrite {
    /// The cluster.
    pub cluster: ClusterRef,
    /// The step started, if any. Without one the write only changes `lastDecisions` (a
    /// decision-record write, which the write budget bounds).
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
    /// When to plan again even if nothing changes: the policy's `recheck_at`, in 30 s when
    /// caps held steps back, or when the write budget has a token for a deferred write.
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
/// cluster's status unless the status already shows it ([`decisions::push_veto`]: a repeat only
/// counts, in `repeats`), steps that wait (caps, unavailable seed) recorded only.
pub fn conclude(
    req: &UpgradeRequest,
    d: Decided<'_>,
    adm: &Admission,
    status_of: impl Fn(&ClusterRef) -> Option<ManagedClusterStatus>,
    now: Timestamp,
    history_len: usize,
    repeats: &mut Repeats,
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
    // Vetoes to show on their cluster's status: (index in `outcomes`, entry).
    let mut shown: BTreeMap<ClusterRef, Vec<(usize, DecisionRecordStatus)>> = BTreeMap::new();
    for veto in &adm.vetoed {
        let cluster = veto.step.cluster.clone();
        let outcome = match wait_cause(veto.invariant) {
            Some(cause) => DecisionOutcome::Waiting { cause },
            None => DecisionOutcome::Vetoed {
                invariant: veto.invariant.as_str().into(),
            },
        };
        let waits = matches!(outcome, DecisionOutcome::Waiting { .. });
        if !waits && req.clusters.iter().any(|c| c.id == cluster) {
            // A made-up pool is no identity: all of them are one `UnknownTarget` veto.
            let target =
                (veto.invariant != Invariant::UnknownTarget).then(|| veto.step.target.to_string());
            let e = decisions::veto_entry(
                DecisionKind::UpgradeOrdering,
                d.digest,
                now,
                veto.invariant.as_str(),
                target,
                &format!(
                    "{} {} -> {} vetoed: {}: {}",
                    veto.step.cluster, veto.step.target, veto.step.to, veto.invariant, veto.message
                ),
            );
            shown
                .entry(cluster.clone())
                .or_default()
                .push((outcomes.len(), e));
        }
        outcomes.push(PlannedOutcome {
            clusters: vec![cluster.clone()],
            outcome,
            reason: format!("{}: {}", veto.invariant, veto.message),
            on_cluster: (!waits).then_some(cluster),
            // Announced below once its status entry turns out to be news.
            routine: true,
        });
    }
    for id in shown.keys() {
        per_cluster.entry(id.clone()).or_default();
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
        for (i, e) in shown.remove(&id).unwrap_or_default() {
            let folded = decisions::push_veto(&mut st.last_decisions, e, &id, repeats, history_len);
            if folded == decisions::Folded::New {
                outcomes[i].routine = false;
            }
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
    let capped = adm.vetoed.iter().any(|v| {
        matches!(
            wait_cause(v.invariant),
            Some(WaitCause::Cap | WaitCause::FairShare)
        )
    });
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

/// Lets the write budget decide each decision-record write of `plan` (one that starts no step;
/// safety and progress writes always go through). A refused write is dropped from the plan,
/// its vetoes are not announced yet, and the plan is due again when the budget has a token
/// (not sooner than [`write_budget::RETRY_NOT_BEFORE_SECS`]).
/// Returns each refusal with its cluster, for the metric.
pub fn spend_write_budget(
    plan: &mut Plan,
    budget: &mut WriteBudget,
    tenant: &str,
    now: Timestamp,
) -> Vec<(ClusterRef, Deferred)> {
    let mut deferred = Vec::new();
    plan.writes.retain(|w| {
        if w.step.is_some() {
            return true;
        }
        match budget.take(tenant, &w.cluster, now) {
            Ok(()) => true,
            Err(d) => {
                deferred.push((w.cluster.clone(), d));
                false
            }
        }
    });
    for (cluster, d) in &deferred {
        for o in plan
            .outcomes
            .iter_mut()
            .filter(|o| o.on_cluster.as_ref() == Some(cluster))
        {
            o.routine = true;
        }
        if let Some(at) = d.retry_at {
            let at = at.max(Timestamp(now.0 + write_budget::RETRY_NOT_BEFORE_SECS));
            plan.recheck_at = Some(plan.recheck_at.map_or(at, |r| r.min(at)));
        }
    }
    deferred
}

/// Whether an answer proposed steps and every one of them broke an invariant: nothing was
/// admitted and nothing merely waits. The planner treats such an answer like a failure
/// (`core/retry.rs`): the policy is asked again when its input changes or on the back-off, not
/// whenever a neighbour's step moves the caps' view. An attacking policy (illegal steps on
/// every call) was otherwise re-asked about every 40 s while a neighbour rolled out, each ask
/// a Wasm run and a ledger record per veto.
pub fn only_breaches(adm: &Admission) -> bool {
    adm.admitted.is_empty()
        && !adm.vetoed.is_empty()
        && adm.vetoed.iter().all(|v| wait_cause(v.invariant).is_none())
}

/// A legal step the host holds back for a reason it knows: it waits (not a breach). Public for
/// `fleetward policy test`/`eval`, which judge an answer with the same rules offline.
pub fn wait_cause(invariant: Invariant) -> Option<WaitCause> {
    match invariant {
        Invariant::GlobalConcurrency | Invariant::SeedConcurrency => Some(WaitCause::Cap),
        Invariant::FairShare => Some(WaitCause::FairShare),
        Invariant::SeedReachable => Some(WaitCause::SeedUnavailable),
        _ => None,
    }
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
        signals: crate::core::signals::firing(&st.conditions),
    })
}

/// `fleet_cluster(mc).is_some_and(|c| fair_share::waits_for_slot(&c))` without building the
/// wire form: the fair-share load reads it for every cluster of the fleet on every plan, and
/// building 1,000 [`FleetCluster`]s (labels, pools, health reasons) per plan was most of a
/// rollout's planning cost at fleet size. The unit test `wants_slot_agrees_with_fleet_cluster`
/// holds the two to the same answer.
pub fn wants_slot(mc: &ManagedCluster) -> bool {
    let Some(st) = mc.status.as_ref() else {
        return false;
    };
    if st.phase == Phase::Rejected
        || mc.metadata.deletion_timestamp.is_some()
        || st.seed.is_none()
        || st.in_progress.is_some()
        || st.upgrades_paused
        || mc.spec.pause_upgrades
    {
        return false;
    }
    let (Ok(desired), Some(cp_current)) = (
        KubeVersion::parse(&mc.spec.version),
        st.control_plane_version,
    ) else {
        return false;
    };
    if mc.namespace().is_none() {
        return false;
    }
    cp_current != desired
        || mc.spec.node_pools.iter().any(|p| {
            st.node_pools
                .iter()
                .find(|s| s.name == p.name)
                .is_some_and(|s| {
                    let want = p
                        .version
                        .as_deref()
                        .and_then(|v| KubeVersion::parse(v).ok())
                        .unwrap_or(desired);
                    s.version != want
                })
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
    use std::collections::BTreeSet;

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
            approvals: Vec::new(),
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
        let mut repeats = Repeats::default();
        let plan = conclude(
            &req,
            d,
            &adm,
            |_| Some(Default::default()),
            now,
            10,
            &mut repeats,
        );
        let shown: Vec<_> = plan
            .outcomes
            .iter()
            .map(|o| (o.outcome.as_str(), o.on_cluster.clone(), o.routine))
            .collect();
        assert_eq!(
            shown,
            [
                ("vetoed", Some(ClusterRef::new("t", "b")), false),
                ("waiting", None, true),
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
        assert_eq!(
            (
                b.last_decisions[0].invariant.as_deref(),
                b.last_decisions[0].target.as_deref()
            ),
            (Some("ControlPlaneFirst"), Some("pool/workers"))
        );
        assert_eq!(
            plan.outcomes[1].outcome,
            DecisionOutcome::Waiting {
                cause: WaitCause::Cap
            }
        );
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
            &mut repeats,
        );
        assert!(again.writes.is_empty(), "{:?}", again.writes);
        assert_eq!(again.outcomes.len(), 3, "still recorded in the ledger");
        assert!(again.outcomes[0].routine, "a repeat is not announced again");
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
            approvals: Vec::new(),
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
            &mut Repeats::default(),
        );
        assert_eq!(plan.recheck_at, Some(Timestamp(5000)));
        assert_eq!(plan.reason, "fallback to built-in: trap");
        assert!(plan.writes.is_empty());
        assert_eq!(plan.outcomes.len(), 1);
        assert_eq!(plan.outcomes[0].outcome, DecisionOutcome::Fallback);
    }

    fn attack_request(n: usize) -> UpgradeRequest {
        UpgradeRequest {
            clusters: (0..n)
                .map(|i| {
                    cluster(
                        &format!("m{i}"),
                        "s1",
                        ("1.31.0", "1.33.0"),
                        ("1.31.0", "1.33.0"),
                    )
                })
                .collect(),
            history: vec![],
            limits: crate::reconcile::Settings::default().upgrade_limits,
            approvals: Vec::new(),
        }
    }

    /// Plan `p` of an attacking policy: two illegal steps per cluster, which ones and their
    /// versions and made-up pool names varying with `p`.
    fn attack(req: &UpgradeRequest, p: usize) -> Admission {
        let start: Vec<UpgradeStep> = req
            .clusters
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                let d = (p + i) % 10;
                let pool = |name: String| UpgradeTarget::NodePool { pool: name };
                let all = [
                    (UpgradeTarget::ControlPlane, format!("1.2{d}.0")),
                    (UpgradeTarget::ControlPlane, "1.33.0".to_string()),
                    (UpgradeTarget::ControlPlane, format!("1.4{d}.0")),
                    (pool("workers".into()), format!("1.32.{d}")),
                    (pool(format!("p{d}")), "1.32.0".to_string()),
                ];
                [(p + i) % 5, (p + i + 2) % 5].map(|k| {
                    let (target, to) = all[k].clone();
                    UpgradeStep {
                        cluster: c.id.clone(),
                        target,
                        to: v(&to),
                        wave: None,
                    }
                })
            })
            .collect();
        invariants::admit(
            &req.clusters,
            &start,
            &InFlight::default(),
            &req.limits,
            &Default::default(),
            &crate::core::fair_share::Allowance::unlimited(),
        )
    }

    #[test]
    fn only_an_answer_made_of_breaches_is_treated_like_a_failure() {
        let step = |name: &str| UpgradeStep {
            cluster: ClusterRef::new("t", name),
            target: UpgradeTarget::ControlPlane,
            to: KubeVersion::parse("1.32.0").expect("version"),
            wave: None,
        };
        let veto = |name: &str, invariant| Veto {
            step: step(name),
            invariant,
            message: String::new(),
        };
        let adm = |admitted: Vec<UpgradeStep>, vetoed| Admission { admitted, vetoed };
        assert!(only_breaches(&adm(
            vec![],
            vec![veto("a", Invariant::NoDowngrade)]
        )));
        // Something started, or something only waits, or nothing was proposed: not a failure.
        assert!(!only_breaches(&adm(
            vec![step("b")],
            vec![veto("a", Invariant::NoDowngrade)]
        )));
        assert!(!only_breaches(&adm(
            vec![],
            vec![
                veto("a", Invariant::NoDowngrade),
                veto("b", Invariant::GlobalConcurrency)
            ]
        )));
        assert!(!only_breaches(&adm(vec![], vec![])));
    }

    /// The write-amplification attack, planned 200 times against statuses that keep what was
    /// written: each cluster gets one write per distinct veto (five), then one per power of ten
    /// its counts reach, not one per plan; only new vetoes are announced.
    #[test]
    fn an_attack_that_varies_its_illegal_steps_costs_a_few_writes_per_cluster() {
        let req = attack_request(20);
        let dec = decision(None);
        let d = Decided {
            decision: &dec,
            outcome: &DecisionOutcome::Applied,
            host_reason: "",
            digest: "sha256:attack",
        };
        let mut stored: BTreeMap<ClusterRef, ManagedClusterStatus> = req
            .clusters
            .iter()
            .map(|c| (c.id.clone(), ManagedClusterStatus::default()))
            .collect();
        let mut repeats = Repeats::default();
        let (mut writes, mut announced, mut vetoes) = (0, 0, 0);
        for p in 0..200 {
            let adm = attack(&req, p);
            assert!(adm.admitted.is_empty());
            let plan = conclude(
                &req,
                d,
                &adm,
                |id| stored.get(id).cloned(),
                Timestamp(1000 + 60 * p as i64),
                10,
                &mut repeats,
            );
            vetoes += plan
                .outcomes
                .iter()
                .filter(|o| o.outcome.as_str() == "vetoed")
                .count();
            announced += plan.outcomes.iter().filter(|o| !o.routine).count();
            for w in plan.writes {
                writes += 1;
                stored.insert(w.cluster, w.status);
            }
        }
        assert_eq!(vetoes, 200 * 20 * 2, "every illegal step is still vetoed");
        let per_cluster = writes as f64 / 20.0;
        // 5 distinct vetoes (first seen over the first plans) + each count reaching 10 and 80
        // sightings each < 100: about 5 + 5 writes, not 200.
        assert!(per_cluster <= 12.0, "{writes} writes for 20 clusters");
        // Announced: the plan itself each time, plus each cluster's 5 new vetoes.
        assert_eq!(announced, 200 + 20 * 5);
        let st = &stored[&ClusterRef::new("t", "m0")];
        let invariants: BTreeSet<_> = st
            .last_decisions
            .iter()
            .map(|e| e.invariant.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            invariants.into_iter().collect::<Vec<_>>(),
            [
                "ControlPlaneFirst",
                "NoDowngrade",
                "OneMinorAtATime",
                "UnknownTarget",
                "WithinDesired"
            ]
        );
        assert!(
            st.last_decisions.iter().all(|e| e.count == Some(10)),
            "{:?}",
            st.last_decisions
        );
    }

    /// Decision-record writes spend the budget; a step start never does. A refused write leaves
    /// the plan, is not announced, and brings the plan back when a token is there.
    #[test]
    fn the_write_budget_defers_only_decision_record_writes() {
        use crate::core::write_budget::{Rate, Rates, Scope};
        let mut req = attack_request(4);
        req.clusters.push(cluster(
            "ok",
            "s1",
            ("1.31.0", "1.32.0"),
            ("1.31.0", "1.32.0"),
        ));
        let mut adm = attack(&req, 0);
        adm.admitted
            .push(step("ok", UpgradeTarget::ControlPlane, "1.32.0"));
        let dec = decision(None);
        let d = Decided {
            decision: &dec,
            outcome: &DecisionOutcome::Applied,
            host_reason: "",
            digest: "sha256:attack",
        };
        let now = Timestamp(1000);
        let mut plan = conclude(
            &req,
            d,
            &adm,
            |_| Some(Default::default()),
            now,
            10,
            &mut Repeats::default(),
        );
        assert_eq!(plan.writes.len(), 5);
        let mut budget = WriteBudget::new(Rates {
            cluster: Rate {
                burst: 3,
                per_hour: 6,
            },
            tenant: Rate {
                burst: 2,
                per_hour: 60,
            },
        });
        let deferred = spend_write_budget(&mut plan, &mut budget, "t", now);
        let kept: Vec<_> = plan
            .writes
            .iter()
            .map(|w| w.cluster.name.as_str())
            .collect();
        assert_eq!(kept, ["m0", "m1", "ok"]);
        assert_eq!(
            deferred
                .iter()
                .map(|(c, d)| (c.name.as_str(), d.scope))
                .collect::<Vec<_>>(),
            [("m2", Scope::Tenant), ("m3", Scope::Tenant)]
        );
        // The tenant gains a token a minute, but a retry asks the policy again: in 10 min.
        assert_eq!(plan.recheck_at, Some(Timestamp(1600)));
        let announced: BTreeSet<_> = plan
            .outcomes
            .iter()
            .filter(|o| !o.routine)
            .filter_map(|o| o.on_cluster.as_ref().map(|c| c.name.as_str()))
            .collect();
        assert_eq!(
            announced.into_iter().collect::<Vec<_>>(),
            ["m0", "m1", "ok"]
        );
    }

    /// `wants_slot` is a shortcut of `fleet_cluster` + `waits_for_slot`: the two agree on every
    /// combination of the fields either reads.
    #[test]
    fn wants_slot_agrees_with_fleet_cluster() {
        use crate::crd::{ManagedClusterSpec, NodePoolStatus};
        let base = || {
            let spec: ManagedClusterSpec = serde_json::from_value(serde_json::json!({
                "tenant": "a", "version": "1.32.0",
                "nodePools": [{"name": "w", "replicas": 2}, {"name": "x", "replicas": 1, "version": "1.31"}]
            }))
            .expect("spec");
            let mut mc = ManagedCluster::new("c", spec);
            mc.metadata.namespace = Some("team-a".into());
            mc.status = Some(ManagedClusterStatus {
                seed: Some("s1".into()),
                control_plane_version: Some(v("1.32.0")),
                node_pools: vec![
                    NodePoolStatus {
                        name: "w".into(),
                        version: v("1.32.0"),
                        replicas: 2,
                        ready_replicas: 2,
                    },
                    NodePoolStatus {
                        name: "x".into(),
                        version: v("1.31.0"),
                        replicas: 1,
                        ready_replicas: 1,
                    },
                ],
                ..Default::default()
            });
            mc
        };
        type Edit = fn(&mut ManagedCluster);
        let edits: Vec<(&str, Edit)> = vec![
            ("nothing", |_| {}),
            ("no status", |m| m.status = None),
            ("unplaced", |m| m.status.as_mut().unwrap().seed = None),
            ("control plane behind", |m| {
                m.status.as_mut().unwrap().control_plane_version = Some(v("1.31.0"))
            }),
            ("no control plane version", |m| {
                m.status.as_mut().unwrap().control_plane_version = None
            }),
            ("pool behind", |m| {
                m.status.as_mut().unwrap().node_pools[0].version = v("1.31.0")
            }),
            ("pinned pool behind its pin", |m| {
                m.status.as_mut().unwrap().node_pools[1].version = v("1.30.0")
            }),
            ("pool without status", |m| {
                m.status.as_mut().unwrap().node_pools.remove(0);
            }),
            ("spec version unparsable", |m| {
                m.spec.version = "latest".into()
            }),
            ("pool pin unparsable", |m| {
                m.spec.node_pools[1].version = Some("x".into())
            }),
            ("rejected", |m| {
                m.status.as_mut().unwrap().phase = Phase::Rejected
            }),
            ("deleting", |m| {
                m.metadata.deletion_timestamp = Some(
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
                )
            }),
            ("paused by status", |m| {
                m.status.as_mut().unwrap().upgrades_paused = true
            }),
            ("paused by spec", |m| m.spec.pause_upgrades = true),
            ("no namespace", |m| m.metadata.namespace = None),
            ("in flight", |m| {
                m.status.as_mut().unwrap().in_progress = Some(InProgressStep {
                    target: UpgradeTarget::ControlPlane,
                    from: v("1.31.0"),
                    to: v("1.32.0"),
                    started_at: Timestamp(1),
                    wave: None,
                });
            }),
        ];
        let mut wanting = 0;
        for (i, (a, ea)) in edits.iter().enumerate() {
            // Every edit alone, and with each other edit: behind-and-paused, behind-and-unplaced, ...
            for (b, eb) in edits.iter().skip(i) {
                let mut mc = base();
                ea(&mut mc);
                if mc.status.is_some() || b == &"nothing" {
                    eb(&mut mc);
                }
                let slow =
                    fleet_cluster(&mc).is_some_and(|c| crate::core::fair_share::waits_for_slot(&c));
                assert_eq!(wants_slot(&mc), slow, "{a} + {b}");
                wanting += usize::from(slow);
            }
        }
        assert!(
            wanting >= 3,
            "the cases include clusters that want a slot ({wanting})"
        );
    }
}
