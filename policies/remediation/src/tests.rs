//! Unit tests of the remediation ladder, called as plain Rust.

use fleetward_sdk::Context;
use fleetward_sdk::wire::{
    ClusterRef, Component, Problem, RemediationAction, RemediationRecord, RemediationRequest,
    Timestamp,
};

use super::*;

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn etcd() -> Component {
    Component::ControlPlane {
        name: "etcd".into(),
    }
}

fn machine() -> Component {
    Component::Machine {
        name: "workers-abc12".into(),
        pool: "workers".into(),
    }
}

fn request(
    component: Component,
    since: &str,
    history: Vec<RemediationRecord>,
) -> RemediationRequest {
    RemediationRequest {
        cluster: ClusterRef::new("tenant-acme", "prod-1"),
        labels: Default::default(),
        seed: Some("eu-1".into()),
        problem: Problem {
            component,
            condition: "NotReady".into(),
            detail: "0/3 ready".into(),
            unhealthy_since: t(since),
        },
        history,
        upgrades_paused: false,
        signals: Vec::new(),
    }
}

fn record(at: &str, component: Component) -> RemediationRecord {
    let action = match &component {
        Component::ControlPlane { name } => RemediationAction::RestartComponent {
            component: name.clone(),
        },
        Component::Machine { name, .. } => RemediationAction::RecreateMachine {
            machine: name.clone(),
        },
    };
    RemediationRecord {
        at: t(at),
        component,
        action,
    }
}

fn run(req: &RemediationRequest, now: &str) -> RemediationDecision {
    remediate(req, &Config::default(), &Context::new(t(now), "acme")).unwrap()
}

#[test]
fn grace_then_restart() {
    let req = request(etcd(), "2026-11-25T16:59:00Z", vec![]);
    let d = run(&req, "2026-11-25T17:00:00Z");
    assert_eq!(
        d.action,
        RemediationAction::Wait {
            until: t("2026-11-25T17:01:00Z")
        }
    );
    let d = run(&req, "2026-11-25T17:01:00Z");
    assert_eq!(
        d.action,
        RemediationAction::RestartComponent {
            component: "etcd".into()
        }
    );
    assert!(d.reason.contains("attempt 1 of 2"), "{}", d.reason);
}

#[test]
fn backoff_doubles_between_attempts() {
    let req = request(
        etcd(),
        "2026-11-25T16:00:00Z",
        vec![record("2026-11-25T16:50:00Z", etcd())],
    );
    // First attempt at 16:50: wait 5 minutes.
    let d = run(&req, "2026-11-25T16:52:00Z");
    assert_eq!(
        d.action,
        RemediationAction::Wait {
            until: t("2026-11-25T16:55:00Z")
        }
    );
    assert!(d.reason.contains("backing off after 1 attempt"));
    assert_eq!(
        run(&req, "2026-11-25T16:55:00Z").action.name(),
        "restart_component"
    );
    // Base 5 doubles: after the second attempt the wait is 10 minutes.
    let config = Config {
        max_restarts: 5,
        escalate_after_minutes: None,
        ..Config::default()
    };
    let two = request(
        etcd(),
        "2026-11-25T16:00:00Z",
        vec![
            record("2026-11-25T16:40:00Z", etcd()),
            record("2026-11-25T16:50:00Z", etcd()),
        ],
    );
    let d = remediate(
        &two,
        &config,
        &Context::new(t("2026-11-25T16:55:00Z"), "acme"),
    )
    .unwrap();
    assert_eq!(
        d.action,
        RemediationAction::Wait {
            until: t("2026-11-25T17:00:00Z")
        }
    );
}

#[test]
fn ladder_exhausted_escalates_then_nothing() {
    let history = vec![
        record("2026-11-25T16:10:00Z", etcd()),
        record("2026-11-25T16:20:00Z", etcd()),
    ];
    let req = request(etcd(), "2026-11-25T16:00:00Z", history.clone());
    let d = run(&req, "2026-11-25T17:00:00Z");
    let RemediationAction::PauseUpgradesAndEscalate { message } = &d.action else {
        panic!("expected escalation, got {d:?}");
    };
    assert!(message.starts_with("tenant-acme/prod-1: control-plane/etcd NotReady (0/3 ready)"));
    assert_eq!(
        d.reason,
        "control-plane/etcd: escalating, 2 remediation(s) did not help"
    );

    let mut history = history;
    history.push(RemediationRecord {
        at: t("2026-11-25T17:00:00Z"),
        component: etcd(),
        action: d.action.clone(),
    });
    let d = run(
        &request(etcd(), "2026-11-25T16:00:00Z", history),
        "2026-11-25T17:05:00Z",
    );
    assert_eq!(d.action, RemediationAction::None);
}

#[test]
fn machines_are_recreated_once_then_escalated() {
    let req = request(machine(), "2026-11-25T16:50:00Z", vec![]);
    assert_eq!(
        run(&req, "2026-11-25T17:00:00Z").action,
        RemediationAction::RecreateMachine {
            machine: "workers-abc12".into()
        }
    );
    let req = request(
        machine(),
        "2026-11-25T16:50:00Z",
        vec![record("2026-11-25T16:55:00Z", machine())],
    );
    assert_eq!(
        run(&req, "2026-11-25T17:00:00Z").action.name(),
        "pause_upgrades_and_escalate"
    );
}

#[test]
fn old_problem_escalates_and_old_episodes_do_not_count() {
    let req = request(etcd(), "2026-11-25T14:00:00Z", vec![]);
    let d = run(&req, "2026-11-25T17:00:00Z");
    assert_eq!(
        d.reason,
        "control-plane/etcd: escalating, unhealthy for 180 minutes"
    );
    // Restarts before this episode started (and of other components) are not ladder steps.
    let req = request(
        etcd(),
        "2026-11-25T16:30:00Z",
        vec![
            record("2026-11-25T16:00:00Z", etcd()),
            record("2026-11-25T16:40:00Z", machine()),
        ],
    );
    assert_eq!(
        run(&req, "2026-11-25T17:00:00Z").action.name(),
        "restart_component"
    );
}

#[test]
fn hourly_budget_counts_every_component() {
    let history = vec![
        record("2026-11-25T16:10:00Z", machine()),
        record("2026-11-25T16:20:00Z", machine()),
        record("2026-11-25T16:30:00Z", machine()),
    ];
    let req = request(etcd(), "2026-11-25T16:55:00Z", history);
    let d = run(&req, "2026-11-25T17:00:00Z");
    assert_eq!(
        d.action,
        RemediationAction::Wait {
            until: t("2026-11-25T17:10:00Z")
        }
    );
    assert!(
        d.reason.contains("3/3 actions used in the last hour"),
        "{}",
        d.reason
    );
    assert_eq!(
        run(&req, "2026-11-25T17:10:00Z").action.name(),
        "restart_component"
    );
}

#[test]
fn future_problem_and_bad_config_are_errors() {
    let req = request(etcd(), "2026-11-25T18:00:00Z", vec![]);
    let err = remediate(
        &req,
        &Config::default(),
        &Context::new(t("2026-11-25T17:00:00Z"), "a"),
    )
    .unwrap_err();
    assert_eq!(err.code, "invalid_request");
    let bad = Config {
        backoff_base_minutes: 10,
        backoff_max_minutes: 5,
        ..Config::default()
    };
    assert_eq!(
        config::validate(&bad).unwrap_err().message,
        "backoff_max_minutes: 5 is below backoff_base_minutes 10"
    );
}

#[test]
fn fixtures() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let report = fleetward_sdk::testing::assert_fixture_dir(dir, &EXPORTS);
    assert!(report.passed() >= 6);
}

#[test]
fn a_listed_signal_escalates_after_the_grace_period_instead_of_acting() {
    let config = Config {
        escalate_on_signals: vec!["SLOBurn".into()],
        ..Config::default()
    };
    let decide = |req: &RemediationRequest, now: &str| {
        remediate(req, &config, &Context::new(t(now), "acme")).unwrap()
    };
    let mut req = request(etcd(), "2026-11-25T16:59:00Z", vec![]);
    req.signals = vec![fleetward_sdk::wire::Signal {
        name: "SLOBurn".into(),
        reason: "BurnRateHigh".into(),
        message: "error budget burning 14x".into(),
        since: Some(t("2026-11-25T16:50:00Z")),
    }];
    // The grace period still applies (no flapping).
    let d = decide(&req, "2026-11-25T17:00:00Z");
    assert!(matches!(d.action, RemediationAction::Wait { .. }), "{d:?}");
    // Past it: escalate rather than restart.
    let d = decide(&req, "2026-11-25T17:01:00Z");
    let RemediationAction::PauseUpgradesAndEscalate { message } = &d.action else {
        panic!("{d:?}");
    };
    assert!(
        message.contains("signal SLOBurn firing (BurnRateHigh)"),
        "{message}"
    );
    assert_eq!(
        d.reason,
        "control-plane/etcd: escalating, signal SLOBurn firing (BurnRateHigh)"
    );
    // Without the option, or with another signal, the ladder acts as usual.
    let d = run(&req, "2026-11-25T17:01:00Z");
    assert!(matches!(
        d.action,
        RemediationAction::RestartComponent { .. }
    ));
    req.signals[0].name = "DiskPressure".into();
    let d = decide(&req, "2026-11-25T17:01:00Z");
    assert!(matches!(
        d.action,
        RemediationAction::RestartComponent { .. }
    ));
    // Names are checked.
    let bad = Config {
        escalate_on_signals: vec!["signal.fleetward.dev/SLOBurn".into()],
        ..Config::default()
    };
    assert!(config::validate(&bad).is_err());
}
