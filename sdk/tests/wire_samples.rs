//! The wire contract with the Go SDK (`sdk-go/`): one sample of every wire document, with every
//! optional field present and every enum variant used, serialised by these serde types into
//! `sdk-go/testdata/wire/*.json`. The Go SDK's tests decode each sample into its Go type
//! rejecting unknown fields and re-encode it, so a field added, renamed or retyped on either
//! side fails a test: here when the committed samples no longer match the Rust types, there
//! when the Go types no longer match the samples.
//!
//! After a deliberate change of the wire types, regenerate with
//! `FLEETWARD_BLESS=1 cargo test -p fleetward-sdk --test wire_samples` and update `sdk-go/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use fleetward_sdk::wire::*;
use serde::Serialize;

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn v(s: &str) -> KubeVersion {
    KubeVersion::parse(s).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cluster(name: &str) -> ClusterRef {
    ClusterRef::new("tenant-acme", name)
}

fn samples() -> BTreeMap<&'static str, serde_json::Value> {
    fn json(v: impl Serialize) -> serde_json::Value {
        serde_json::to_value(v).unwrap()
    }
    let mut out = BTreeMap::new();
    out.insert(
        "placement_request",
        json(PlacementRequest {
            cluster: ClusterToPlace {
                id: cluster("prod-1"),
                labels: labels(&[("env", "prod")]),
                version: v("1.31.4"),
                constraints: PlacementConstraints {
                    regions: vec!["eu-west".into()],
                    providers: vec!["aws".into()],
                    seed_labels: labels(&[("geo", "eu")]),
                },
            },
            seeds: vec![SeedCandidate {
                name: "eu-1".into(),
                region: "eu-west".into(),
                provider: "aws".into(),
                zone: Some("a".into()),
                labels: labels(&[("geo", "eu")]),
                capacity: 100,
                clusters: 12,
                ready: true,
                min_version: v("1.30.0"),
                max_version: v("1.33.0"),
            }],
            tenant_placements: vec![ExistingPlacement {
                cluster: cluster("prod-0"),
                seed: "eu-2".into(),
            }],
        }),
    );
    out.insert(
        "placement_decision",
        json(PlacementDecision {
            seed: Some("eu-1".into()),
            reason: "least loaded in eu-west".into(),
            scores: vec![SeedScore {
                seed: "eu-1".into(),
                score: 88,
                reason: "load 88".into(),
            }],
        }),
    );
    out.insert(
        "placement_decision_none",
        json(PlacementDecision {
            seed: None,
            reason: "no seed fits".into(),
            scores: vec![],
        }),
    );
    let step = |target| UpgradeStep {
        cluster: cluster("dev-1"),
        target,
        to: v("1.32.0"),
        wave: Some("dev".into()),
    };
    out.insert(
        "upgrade_request",
        json(UpgradeRequest {
            clusters: vec![FleetCluster {
                id: cluster("prod-1"),
                labels: labels(&[("env", "prod")]),
                seed: Some("eu-1".into()),
                control_plane: VersionState {
                    current: v("1.31.0"),
                    desired: v("1.32.0"),
                },
                node_pools: vec![PoolState {
                    name: "workers".into(),
                    current: v("1.31.0"),
                    desired: v("1.32.0"),
                    replicas: 3,
                    ready_replicas: 2,
                }],
                health: Health {
                    healthy: false,
                    reasons: vec!["etcd not ready".into()],
                },
                in_progress: Some(step(UpgradeTarget::NodePool {
                    pool: "workers".into(),
                })),
                upgrades_paused: true,
                settled_since: Some(t("2026-11-20T00:00:00Z")),
                signals: vec![Signal {
                    name: "SLOBurn".into(),
                    reason: "BurnRateHigh".into(),
                    message: "error budget burning 14x".into(),
                    since: Some(t("2026-11-25T16:40:00Z")),
                }],
            }],
            history: vec![UpgradeRecord {
                cluster: cluster("dev-1"),
                target: UpgradeTarget::ControlPlane,
                from: v("1.31.0"),
                to: v("1.32.0"),
                started_at: t("2026-11-25T10:00:00Z"),
                completed_at: Some(t("2026-11-25T10:20:00Z")),
            }],
            limits: UpgradeLimits {
                max_concurrent: 10,
                max_concurrent_per_seed: 3,
            },
            approvals: vec![Approval {
                gate: "prod".into(),
                approved_by: "alice".into(),
                approved_at: t("2026-11-25T15:00:00Z"),
            }],
        }),
    );
    out.insert(
        "upgrade_decision",
        json(UpgradeDecision {
            start: vec![
                step(UpgradeTarget::ControlPlane),
                step(UpgradeTarget::NodePool {
                    pool: "workers".into(),
                }),
            ],
            hold: vec![
                Hold {
                    cluster: cluster("prod-1"),
                    reason: "outside maintenance window".into(),
                    until: Some(t("2026-11-28T01:00:00Z")),
                    cause: Some(HoldCause::Window),
                    gate: None,
                    wave: Some("prod".into()),
                },
                Hold {
                    cluster: cluster("prod-2"),
                    reason: "waiting for approval of gate \"prod\"".into(),
                    until: None,
                    cause: Some(HoldCause::Approval),
                    gate: Some("prod".into()),
                    wave: Some("prod".into()),
                },
            ],
            recheck_at: Some(t("2026-11-28T01:00:00Z")),
            reason: "wave dev in progress".into(),
        }),
    );
    out.insert("upgrade_decision_empty", json(UpgradeDecision::default()));
    let etcd = Component::ControlPlane {
        name: "etcd".into(),
    };
    let machine = Component::Machine {
        name: "workers-abc".into(),
        pool: "workers".into(),
    };
    out.insert(
        "remediation_request",
        json(RemediationRequest {
            cluster: cluster("prod-1"),
            labels: labels(&[("env", "prod")]),
            seed: Some("eu-1".into()),
            problem: Problem {
                component: machine.clone(),
                condition: "NotReady".into(),
                detail: "0/3 replicas ready".into(),
                unhealthy_since: t("2026-11-25T16:50:00Z"),
            },
            history: vec![
                RemediationRecord {
                    at: t("2026-11-25T16:52:00Z"),
                    component: etcd.clone(),
                    action: RemediationAction::RestartComponent {
                        component: "etcd".into(),
                    },
                },
                RemediationRecord {
                    at: t("2026-11-25T16:53:00Z"),
                    component: machine.clone(),
                    action: RemediationAction::RecreateMachine {
                        machine: "workers-abc".into(),
                    },
                },
                RemediationRecord {
                    at: t("2026-11-25T16:54:00Z"),
                    component: etcd.clone(),
                    action: RemediationAction::PauseUpgradesAndEscalate {
                        message: "page someone".into(),
                    },
                },
                RemediationRecord {
                    at: t("2026-11-25T16:55:00Z"),
                    component: etcd.clone(),
                    action: RemediationAction::Wait {
                        until: t("2026-11-25T17:00:00Z"),
                    },
                },
                RemediationRecord {
                    at: t("2026-11-25T16:56:00Z"),
                    component: etcd,
                    action: RemediationAction::None,
                },
            ],
            upgrades_paused: true,
            signals: vec![Signal {
                name: "SLOBurn".into(),
                reason: "BurnRateHigh".into(),
                message: "error budget burning 14x".into(),
                since: Some(t("2026-11-25T16:40:00Z")),
            }],
        }),
    );
    out.insert(
        "remediation_decision",
        json(RemediationDecision {
            action: RemediationAction::Wait {
                until: t("2026-11-25T17:05:00Z"),
            },
            reason: "backoff".into(),
        }),
    );
    out.insert(
        "error_envelope",
        json(OutputEnvelope::<()>::Error(PolicyError::invalid_config(
            "waves[2]: unknown label operator",
        ))),
    );
    out
}

#[test]
fn go_sdk_samples_match_the_rust_wire_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sdk-go/testdata/wire");
    let bless = std::env::var_os("FLEETWARD_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, value) in samples() {
        let path = dir.join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "the Go SDK's wire samples no longer match the Rust wire types: {stale:?}\n\
         regenerate with FLEETWARD_BLESS=1 cargo test -p fleetward-sdk --test wire_samples, \
         then make sdk-go/types.go match (cd sdk-go && go test ./...)"
    );
}
