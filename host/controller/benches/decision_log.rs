//! Decision-log overhead per decision (issue 10): what a reconcile pays to log a decision —
//! build its record (the input envelope embedded as raw JSON, digests, outcomes) and hand it to
//! the log's queue — next to the decision itself, with no log.
//!
//! Two decisions, through `PolicyRegistry` exactly as the reconcilers call it:
//! - placement by a Wasm module (a minimal one: the engine's fixed cost, the smallest decision);
//! - upgrade ordering by the built-in over a 100-cluster fleet (no module: the log then also
//!   serialises the envelope a module would have read, the largest input).
//!
//! The writer thread writes to a file in the temp directory; its cost is off the reconcile path
//! and not in these numbers (records it could not keep up with are dropped and printed).
//!
//! Run: `cargo bench -p fleetward-controller --bench decision_log -- --warm-up-time 1 --measurement-time 3`
//! Results in docs/performance.md, "Decision log (issue #10)".

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::Criterion;
use fleetward_controller::crd::FailureMode;
use fleetward_controller::decision_log::file::RotatingFile;
use fleetward_controller::decision_log::{DecisionLog, Role, entry};
use fleetward_controller::metrics::Metrics;
use fleetward_controller::policy::{DecideEnv, Decided, PolicyRegistry, Slot};
use fleetward_controller::wasm::WasmPolicy;
use fleetward_engine::{Engine, EngineConfig, Limits};
use fleetward_sdk::wire::{
    ClusterRef, ClusterToPlace, DecisionKind, FleetCluster, Health, KubeVersion,
    PlacementConstraints, PlacementRequest, PoolState, SeedCandidate, Timestamp, UpgradeLimits,
    UpgradeRequest, VersionState,
};

/// Answers `{"seed":"eu-0","reason":"r"}` without reading its input.
fn placement_module() -> Vec<u8> {
    let out = r#"{"ok":{"seed":"eu-0","reason":"r"}}"#;
    wat::parse_str(format!(
        r#"(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (func (export "fleetward_abi_version") (result i32) i32.const 1)
  (func (export "fleetward_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (local.get $p) (local.get $len)))
    (local.get $p))
  (func (export "fleetward_place") (param i32 i32) (result i64)
    (i64.const {len}))
  (data (i32.const 0) "{data}"))"#,
        len = out.len(),
        data = out.replace('"', "\\\"")
    ))
    .expect("wat")
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-28T02:00:00Z").expect("timestamp")
}

fn placement_request() -> PlacementRequest {
    PlacementRequest {
        cluster: ClusterToPlace {
            id: ClusterRef::new("tenant-acme", "prod-9"),
            labels: Default::default(),
            version: KubeVersion::new(1, 31, 0),
            constraints: PlacementConstraints::default(),
        },
        seeds: (0..3)
            .map(|i| SeedCandidate {
                name: format!("eu-{i}"),
                region: "eu-west".into(),
                provider: "aws".into(),
                zone: None,
                labels: Default::default(),
                capacity: 100,
                clusters: 10 * i,
                ready: true,
                min_version: KubeVersion::new(1, 30, 0),
                max_version: KubeVersion::new(1, 33, 0),
            })
            .collect(),
        tenant_placements: vec![],
    }
}

/// `n` clusters due for 1.31 → 1.32 over five seeds.
fn fleet(n: usize) -> UpgradeRequest {
    let v = |minor| KubeVersion::new(1, minor, 0);
    UpgradeRequest {
        clusters: (0..n)
            .map(|i| FleetCluster {
                id: ClusterRef::new("tenant-acme", format!("c-{i:04}")),
                labels: BTreeMap::from([("env".to_string(), "prod".to_string())]),
                seed: Some(format!("eu-{}", i % 5)),
                control_plane: VersionState {
                    current: v(31),
                    desired: v(32),
                },
                node_pools: ["system", "workers"]
                    .iter()
                    .map(|name| PoolState {
                        name: (*name).to_string(),
                        current: v(31),
                        desired: v(32),
                        replicas: 3,
                        ready_replicas: 3,
                    })
                    .collect(),
                health: Health {
                    healthy: true,
                    reasons: vec![],
                },
                in_progress: None,
                upgrades_paused: false,
                settled_since: Some(Timestamp(now().unix_seconds() - 7 * 86_400)),
                signals: Vec::new(),
            })
            .collect(),
        history: vec![],
        limits: UpgradeLimits {
            max_concurrent: 10,
            max_concurrent_per_seed: 3,
        },
        approvals: Vec::new(),
    }
}

/// What `reconcile::decisions::Context::log` does: one record with the decision's outcome.
fn log_it<T>(log: &DecisionLog, d: &Decided<T>, kind: DecisionKind, clusters: &[ClusterRef]) {
    let outcomes = vec![entry::outcome(clusters, &d.outcome, &d.reason)];
    log.send(entry::decision(
        &d.call,
        now(),
        "acme",
        kind,
        Role::Live,
        outcomes,
    ));
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("runtime");
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    let module = engine.load(&placement_module()).expect("module");
    let bound = engine
        .bind(&module, "acme", serde_json::json!({}), Limits::default())
        .expect("bind");
    let metrics = Arc::new(Metrics::new());
    let dir = std::env::temp_dir().join(format!(
        "fleetward-bench-decision-log-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (log, writer) = DecisionLog::start(
        RotatingFile::open(dir.join("decisions.jsonl"), 16 << 20, 2).expect("log file"),
        1 << 16,
        metrics.clone(),
    )
    .expect("log");
    let env = DecideEnv {
        tenant: "acme",
        now: now(),
        metrics: &metrics,
    };
    let place = placement_request();
    let place_on = [place.cluster.id.clone()];
    let upgrade = fleet(100);
    let upgrade_on: Vec<ClusterRef> = upgrade.clusters.iter().map(|c| c.id.clone()).collect();
    for (name, recording) in [("no_log", false), ("with_log", true)] {
        let reg = PolicyRegistry::default().recording_inputs(recording);
        reg.set(
            "acme",
            DecisionKind::Placement,
            Some(Slot {
                failure_mode: FailureMode::Fallback,
                serving: Some(Arc::new(WasmPolicy(bound.clone()))),
                load_error: None,
            }),
        );
        let mut g = c.benchmark_group("decision_log");
        g.bench_function(format!("placement_wasm/{name}"), |b| {
            b.iter(|| {
                let d = rt.block_on(reg.place(&env, black_box(&place)));
                if recording {
                    log_it(&log, &d, DecisionKind::Placement, &place_on);
                }
                d
            })
        });
        g.bench_function(format!("upgrade_builtin_100/{name}"), |b| {
            b.iter(|| {
                let d = rt.block_on(reg.order_upgrades(&env, black_box(&upgrade)));
                if recording {
                    log_it(&log, &d, DecisionKind::UpgradeOrdering, &upgrade_on);
                }
                d
            })
        });
        g.finish();
    }
    log.close();
    writer.join();
    let bytes = std::fs::metadata(dir.join("decisions.jsonl")).map_or(0, |m| m.len());
    let dropped: u64 = metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("fleetward_decision_log_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    println!("decision log: {bytes} bytes written, {dropped} records dropped (queue full)");
    let _ = std::fs::remove_dir_all(&dir);
    c.final_summary();
}
