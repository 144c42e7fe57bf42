use std::time::Duration;

use fleetward_sdk::wire::{
    Component, DecisionKind, KubeVersion, Problem, RemediationAction, RemediationDecision,
    Timestamp, UpgradeTarget,
};

use super::*;
use crate::core::health::{MachineHealth, Observation, Pool, Workload};
use crate::core::remediation::{RateLedger, RateLimits, SeedLoad};
use crate::crd::{ConditionStatus, InProgressStep, ManagedClusterSpec, Phase};
use crate::decision::DecisionOutcome;

const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn spec(version: &str, pools: serde_json::Value) -> ManagedClusterSpec {
    serde_json::from_value(serde_json::json!({
        "tenant": "acme", "version": version, "nodePools": pools,
    }))
    .unwrap()
}

fn v(s: &str) -> KubeVersion {
    KubeVersion::parse(s).unwrap()
}

fn next(status: Option<&ManagedClusterStatus>, at: i64) -> Next {
    Next::new(status, Timestamp(at), Duration::from_secs(600), 10)
}

fn workload(name: &str, version: &str, ready: bool) -> Workload {
    Workload {
        name: name.into(),
        replicas: 1,
        ready_replicas: u32::from(ready),
        observed_current: true,
        version: Some(version.into()),
        rolled_out: ready,
    }
}

fn pool(name: &str, version: &str, ready: bool) -> Pool {
    Pool {
        name: name.into(),
        ready_replicas: u32::from(ready) * 2,
        labelled_version: version.into(),
        template_version: version.into(),
        rolled_out: ready,
    }
}

fn condition<'a>(n: &'a Next, t: &str) -> (&'a ConditionStatus, &'a str) {
    let c = n
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == t)
        .unwrap_or_else(|| panic!("no {t} condition"));
    (&c.status, &c.reason)
}

/// A placed cluster at 1.31.2 with pool `p` at 1.31.2.
fn placed(spec: &ManagedClusterSpec) -> Next {
    let mut n = next(None, T0);
    n.placed(spec, "seed-a", v("1.31.2"));
    n
}

#[test]
fn tenancy_needs_label_match_and_tenant() {
    assert!(tenancy("ns", Some("acme"), "acme", true).is_ok());
    let e = tenancy("ns", None, "acme", true).unwrap_err();
    assert!(e.contains("label it fleetward.dev/tenant=acme"), "{e}");
    let e = tenancy("ns", Some("other"), "acme", true).unwrap_err();
    assert!(e.contains("belongs to tenant \"other\""), "{e}");
    let e = tenancy("ns", Some("acme"), "acme", false).unwrap_err();
    assert!(e.starts_with("Tenant \"acme\" does not exist;"), "{e}");
    assert!(e.contains("create the Tenant again"), "{e}");
}

#[test]
fn invalid_spec_version_rejects() {
    let mut n = next(None, T0);
    assert_eq!(n.desired_version(&spec("one", serde_json::json!([]))), None);
    assert_eq!(n.status.phase, Phase::Rejected);
    assert_eq!(
        condition(&n, "Placed"),
        (&ConditionStatus::False, "InvalidSpec")
    );
}

#[test]
fn pools_start_at_their_version_and_the_step_target_renders_new() {
    let s = spec(
        "1.31.2",
        serde_json::json!([{"name": "p", "replicas": 2}, {"name": "old", "replicas": 1, "version": "1.30.0"}]),
    );
    let mut n = placed(&s);
    assert_eq!(n.status.node_pools[1].version, v("1.30.0"));
    n.status.in_progress = Some(InProgressStep {
        target: UpgradeTarget::NodePool { pool: "old".into() },
        from: v("1.30.0"),
        to: v("1.31.2"),
        started_at: Timestamp(T0),
        wave: None,
    });
    // A pool added to the spec later starts at its own version, not above the control plane.
    let mut s2 = s.clone();
    s2.node_pools.push(
        serde_json::from_value(
            serde_json::json!({"name": "new", "replicas": 1, "version": "1.33.0"}),
        )
        .unwrap(),
    );
    let input = n.render("ns", "c", &s2, v("1.32.0")).unwrap();
    assert_eq!(input.control_plane_version, v("1.31.2"));
    let rendered: Vec<_> = input
        .pools
        .iter()
        .map(|p| (p.name.as_str(), p.version))
        .collect();
    assert_eq!(
        rendered,
        [
            ("p", v("1.31.2")),
            ("old", v("1.31.2")),
            ("new", v("1.31.2"))
        ]
    );
    // Status keeps the old pool at its current version until the step completes.
    assert_eq!(n.status.node_pools[1].version, v("1.30.0"));
    assert_eq!(n.status.node_pools.len(), 3);
    assert_eq!(condition(&n, "Placed"), (&ConditionStatus::True, "Placed"));
}

#[test]
fn a_step_completes_only_when_its_target_is_settled_at_the_new_version() {
    let s = spec("1.32.0", serde_json::json!([{"name": "p", "replicas": 2}]));
    let mut n = placed(&s);
    n.status.in_progress = Some(InProgressStep {
        target: UpgradeTarget::NodePool { pool: "p".into() },
        from: v("1.31.2"),
        to: v("1.32.0"),
        started_at: Timestamp(T0),
        wave: None,
    });
    let input = n.render("ns", "c", &s, v("1.32.0")).unwrap();
    let rolling = Observation {
        workloads: vec![workload("etcd", "1.31.2", true)],
        pools: vec![pool("p", "1.31.2", true)],
        machines: vec![],
    };
    let r = n.rollout(&input, &rolling);
    assert!(r.control_plane && r.nodes);
    n.complete_step(r, &rolling);
    assert!(n.status.in_progress.is_some());
    let done = Observation {
        pools: vec![pool("p", "1.32.0", true)],
        ..rolling
    };
    let r = n.rollout(&input, &done);
    n.complete_step(r, &done);
    assert!(n.status.in_progress.is_none());
    assert_eq!(n.status.node_pools[0].version, v("1.32.0"));
    assert_eq!(n.status.node_pools[0].ready_replicas, 2);
    assert_eq!(n.status.upgrade_history.len(), 1);
    let h = &n.status.upgrade_history[0];
    assert_eq!(
        (&h.target, h.from, h.to),
        (
            &UpgradeTarget::NodePool { pool: "p".into() },
            v("1.31.2"),
            v("1.32.0")
        )
    );
    assert_eq!(
        n.status.upgrade_history[0].completed_at,
        Some(Timestamp(T0))
    );
}

#[test]
fn conclude_sets_phase_settledness_and_asks_for_a_plan() {
    let s = spec("1.32.0", serde_json::json!([{"name": "p", "replicas": 2}]));
    let mut n = placed(&s);
    n.status.phase = Phase::Provisioning;
    let not_ready = Rollout {
        control_plane: false,
        nodes: true,
    };
    // Behind the spec: waits for the upgrade policy and asks for a plan.
    assert!(n.conclude(&s, None, Some(3), v("1.32.0"), not_ready, &[]));
    assert_eq!(n.status.phase, Phase::Provisioning);
    assert_eq!(
        condition(&n, "UpgradeInProgress"),
        (&ConditionStatus::False, "Waiting")
    );
    assert_eq!(n.status.observed_generation, Some(3));
    let ready = Rollout {
        control_plane: true,
        nodes: true,
    };
    let at_spec = spec("1.31.2", serde_json::json!([{"name": "p", "replicas": 2}]));
    assert!(!n.conclude(&at_spec, None, Some(3), v("1.31.2"), ready, &[]));
    assert_eq!(n.status.phase, Phase::Running);
    assert_eq!(n.status.settled_since, Some(Timestamp(T0)));
    assert_eq!(
        condition(&n, "PolicyDegraded"),
        (&ConditionStatus::False, "PoliciesHealthy")
    );
    // A step that just finished asks for a plan even when this cluster needs nothing more.
    let mut previous = n.status.clone();
    previous.in_progress = Some(InProgressStep {
        target: UpgradeTarget::ControlPlane,
        from: v("1.31.1"),
        to: v("1.31.2"),
        started_at: Timestamp(T0),
        wave: None,
    });
    let failing = [(
        DecisionKind::Remediation,
        crate::policy::PolicyFailure {
            label: "timed_out".into(),
            message: "too slow".into(),
        },
    )];
    assert!(n.conclude(
        &at_spec,
        Some(&previous),
        Some(3),
        v("1.31.2"),
        ready,
        &failing
    ));
    assert_eq!(
        condition(&n, "PolicyDegraded"),
        (&ConditionStatus::True, "TimedOut")
    );
    // Problems make a running cluster degraded and unsettled.
    n.status.problems = vec![crate::crd::ProblemStatus {
        component: Component::ControlPlane {
            name: "etcd".into(),
        },
        condition: "NotReady".into(),
        detail: String::new(),
        since: Timestamp(T0),
    }];
    n.conclude(&at_spec, None, Some(3), v("1.31.2"), ready, &[]);
    assert_eq!(n.status.phase, Phase::Degraded);
    assert_eq!(n.status.settled_since, None);
}

#[test]
fn repeated_decisions_are_not_news() {
    let mut n = next(None, T0);
    let placed = |t: i64, outcome: DecisionOutcome| {
        crate::core::decisions::entry(DecisionKind::Placement, "d", Timestamp(t), &outcome, "r")
    };
    n.decision(placed(T0, DecisionOutcome::Applied));
    n.decision(placed(T0 + 5, DecisionOutcome::Applied));
    assert_eq!(n.status.last_decisions.len(), 1);
    n.decision(placed(T0 + 6, DecisionOutcome::Held));
    assert_eq!(n.status.last_decisions.len(), 2);
}

fn etcd_problem() -> Problem {
    Problem {
        component: Component::ControlPlane {
            name: "etcd".into(),
        },
        condition: "NotReady".into(),
        detail: "0/1 replicas ready".into(),
        unhealthy_since: Timestamp(T0),
    }
}

#[test]
fn health_waits_for_the_threshold_and_skips_provisioning() {
    let s = spec("1.31.2", serde_json::json!([]));
    let mut n = placed(&s);
    n.status.phase = Phase::Provisioning;
    let obs = Observation {
        workloads: vec![workload("etcd", "1.31.2", false)],
        pools: vec![],
        machines: vec![],
    };
    let quiet = SeedLoad {
        unhealthy: 0,
        total: 1,
    };
    assert_eq!(n.health(&obs, || quiet, 60), None);
    assert!(n.status.problems.is_empty());
    n.status.phase = Phase::Running;
    assert_eq!(n.health(&obs, || quiet, 60), None);
    assert_eq!(n.status.problems.len(), 1);
    assert_eq!(n.requeue, Duration::from_secs(60));
    assert_eq!(
        condition(&n, "Remediating"),
        (&ConditionStatus::False, "Observing")
    );
    let mut later = Next::new(
        Some(&n.status),
        Timestamp(T0 + 60),
        Duration::from_secs(600),
        10,
    );
    let (problem, history) = later.health(&obs, || quiet, 60).expect("due");
    assert_eq!(problem, etcd_problem());
    assert!(history.is_empty());
    let broken = Observation {
        machines: vec![MachineHealth {
            name: "m".into(),
            pool: "p".into(),
            failing: None,
        }],
        ..obs
    };
    let sick = SeedLoad {
        unhealthy: 4,
        total: 5,
    };
    assert_eq!(later.health(&broken, || sick, 60), None);
    assert_eq!(
        condition(&later, "Remediating"),
        (&ConditionStatus::False, "SeedFault")
    );
}

#[test]
fn a_healthy_cluster_never_reads_its_seed_load() {
    // Counting a seed's clusters is a pass over the whole cluster cache; a healthy fleet's
    // resyncs must not pay it (10,000 clusters: 10^8 comparisons per resync period).
    let s = spec("1.31.2", serde_json::json!([]));
    let mut n = placed(&s);
    n.status.phase = Phase::Running;
    let healthy = Observation {
        workloads: vec![workload("etcd", "1.31.2", true)],
        pools: vec![],
        machines: vec![],
    };
    let no_load = || -> SeedLoad { panic!("seed load read for a healthy cluster") };
    assert_eq!(n.health(&healthy, no_load, 60), None);
    assert_eq!(
        condition(&n, "Remediating"),
        (&ConditionStatus::False, "Healthy")
    );
    let mut read = 0;
    let sick = Observation {
        workloads: vec![workload("etcd", "1.31.2", false)],
        ..healthy
    };
    n.health(
        &sick,
        || {
            read += 1;
            SeedLoad::default()
        },
        60,
    );
    assert_eq!(read, 1, "an unhealthy cluster reads the load once");
}

fn answer(action: RemediationAction) -> RemediationDecision {
    RemediationDecision {
        action,
        reason: "policy says".into(),
    }
}

const SCOPE: RateScope<'static> = RateScope {
    cluster: "acme/c",
    seed: "seed-a",
    tenant: "acme",
};

#[test]
fn remediation_answers_become_writes_within_rate_limits() {
    let s = spec("1.31.2", serde_json::json!([]));
    let mut n = placed(&s);
    let limits = RateLimits {
        per_cluster: 1,
        ..RateLimits::default()
    };
    let mut ledger = RateLedger::default();
    let restart = answer(RemediationAction::RestartComponent {
        component: "etcd".into(),
    });
    let step = n.remediation_answered(
        &etcd_problem(),
        Some(&restart),
        DecisionOutcome::Applied,
        "",
        Some(&mut ledger),
        &limits,
        SCOPE,
        60,
    );
    assert_eq!(
        step.write,
        Some(RemediationWrite::Restart {
            component: "etcd".into()
        })
    );
    assert_eq!(step.outcome, DecisionOutcome::Applied);
    assert_eq!(step.reason, "policy says");
    let announced = step.announce.expect("a restart is announced");
    assert!(
        announced.starts_with("control-plane/etcd: {\"action\":\"restart_component\""),
        "{announced}"
    );
    assert_eq!(n.status.remediation_history.len(), 1);
    assert_eq!(
        n.status.remediation_history[0].action,
        RemediationAction::RestartComponent {
            component: "etcd".into()
        }
    );
    assert_eq!(n.requeue, Duration::from_secs(60));
    // Over the cluster's cap: vetoed, nothing written, nothing counted.
    let step = n.remediation_answered(
        &etcd_problem(),
        Some(&restart),
        DecisionOutcome::Applied,
        "",
        Some(&mut ledger),
        &limits,
        SCOPE,
        60,
    );
    assert_eq!(step.write, None);
    assert_eq!(step.announce, None);
    assert_eq!(
        step.outcome,
        DecisionOutcome::Vetoed {
            invariant: "RateLimited".into()
        }
    );
    assert_eq!(n.status.remediation_history.len(), 1);
    assert_eq!(
        condition(&n, "Remediating"),
        (&ConditionStatus::False, "RateLimited")
    );
    // Escalation is not rate limited: it pauses upgrades and raises an Event.
    let escalate = answer(RemediationAction::PauseUpgradesAndEscalate {
        message: "call a human".into(),
    });
    let step = n.remediation_answered(
        &etcd_problem(),
        Some(&escalate),
        DecisionOutcome::Fallback,
        "fell back",
        Some(&mut ledger),
        &limits,
        SCOPE,
        60,
    );
    assert!(n.status.upgrades_paused);
    assert_eq!(
        step.write,
        Some(RemediationWrite::Escalate {
            note: "control-plane/etcd: call a human".into()
        })
    );
    assert_eq!(step.reason, "fell back");
    assert_eq!(step.announce, None);
}

#[test]
fn held_and_waiting_answers_write_nothing() {
    let s = spec("1.31.2", serde_json::json!([]));
    let mut n = placed(&s);
    let limits = RateLimits::default();
    let step = n.remediation_answered(
        &etcd_problem(),
        None,
        DecisionOutcome::Held,
        "policy trapped",
        None,
        &limits,
        SCOPE,
        60,
    );
    assert_eq!(
        (step.write, step.outcome, step.reason.as_str()),
        (None, DecisionOutcome::Held, "policy trapped")
    );
    assert_eq!(
        condition(&n, "Remediating"),
        (&ConditionStatus::False, "PolicyHold")
    );
    let wait = answer(RemediationAction::Wait {
        until: Timestamp(T0 + 10),
    });
    let step = n.remediation_answered(
        &etcd_problem(),
        Some(&wait),
        DecisionOutcome::Applied,
        "",
        None,
        &limits,
        SCOPE,
        60,
    );
    assert_eq!(step.write, None);
    assert_eq!(n.requeue, Duration::from_secs(10));
    assert!(n.status.remediation_history.is_empty());
    assert_eq!(
        condition(&n, "Remediating"),
        (&ConditionStatus::True, "Waiting")
    );
}

#[test]
fn teardown_only_for_placed_clusters() {
    let s = spec("1.31.2", serde_json::json!([{"name": "p", "replicas": 2}]));
    assert!(teardown("ns", "c", &s, &ManagedClusterStatus::default()).is_none());
    let n = placed(&s);
    let input = teardown("ns", "c", &s, &n.status).unwrap();
    assert_eq!(input.pools.len(), 1);
    assert_eq!(input.pools[0].replicas, 0);
}

#[test]
fn an_invalid_spec_rejects_once_and_a_fixed_one_resumes() {
    let s = spec(
        "1.31.2",
        serde_json::json!([{"name": "w", "replicas": 1}, {"name": "w", "replicas": 2}]),
    );
    let problem = crate::core::spec::check(&s).unwrap_err();
    let mut n = placed(&s);
    n.status.phase = Phase::Running;
    assert!(n.spec_invalid(&problem), "first report is news");
    assert_eq!(n.status.phase, Phase::Rejected);
    assert_eq!(
        condition(&n, "SpecValid"),
        (&ConditionStatus::False, "DuplicateNodePool")
    );
    // The next reconcile, later, finds the same problem: no change, so no write and no Event.
    let mut again = Next::new(
        Some(&n.status),
        Timestamp(T0 + 30),
        Duration::from_secs(600),
        10,
    );
    assert!(!again.spec_invalid(&problem));
    assert_eq!(again.status, n.status);
    // Fixed: True, and the placed cluster resumes from Provisioning.
    again.spec_valid();
    assert_eq!(
        condition(&again, "SpecValid"),
        (&ConditionStatus::True, "SpecValid")
    );
    assert_eq!(again.status.phase, Phase::Provisioning);
    // A cluster that never had a spec problem gets no SpecValid condition (no write).
    let mut fine = placed(&s);
    fine.spec_valid();
    assert!(
        fine.status
            .conditions
            .iter()
            .all(|c| c.type_ != "SpecValid")
    );
}
