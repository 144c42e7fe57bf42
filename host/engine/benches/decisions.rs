//! Engine benchmarks: fixed per-decision overhead, module loading (disk cache vs compile), the
//! reference upgrade-ordering policy in Wasm vs native at 10/100/1000 clusters, decisions per
//! second on two threads, and (printed once) RSS with 1000 tenants × 3 policies. The Go port
//! of upgrade ordering and a trivial Go policy (built by `scripts/build-go-policies.sh` into
//! `target/go-policies/`) run next to them when built: fixed overhead, the same fleets, and
//! (printed once) module size and first-compile time.
//!
//! Run: `cargo bench -p fleetward-engine --bench decisions -- --warm-up-time 1 --measurement-time 3`
//! Results and the machine are recorded in `docs/perf/engine.md`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use fleetward_engine::{Engine, EngineConfig, Limits, TenantPolicy};
use fleetward_sdk::Context;
use fleetward_sdk::wire::{
    CallKind, ClusterRef, ClusterToPlace, Component, DecisionKind, FleetCluster, Health,
    InputEnvelope, KubeVersion, OutputEnvelope, PlacementConstraints, PlacementRequest, PoolState,
    Problem, RemediationRequest, SeedCandidate, Timestamp, UpgradeDecision, UpgradeLimits,
    UpgradeRequest, VersionState,
};
use serde_json::{Value, json};

/// A policy that answers `{"ok":{}}` without reading its input: pure engine overhead.
const TRIVIAL: &str = r#"(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (func (export "fleetward_abi_version") (result i32) i32.const 1)
  (func (export "fleetward_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (local.get $p) (local.get $len)))
    (local.get $p))
  (func (export "fleetward_place") (param i32 i32) (result i64)
    (i64.const 9))
  (data (i32.const 0) "{\"ok\":{}}"))"#;

fn now() -> Timestamp {
    Timestamp::parse("2026-11-28T02:00:00Z").expect("timestamp")
}

fn upgrade_config() -> Value {
    json!({
        "canary": {"match_labels": {"canary": "true"}},
        "waves": [
            {"name": "dev", "selector": {"match_labels": {"env": "dev"}}},
            {"name": "staging", "selector": {"match_labels": {"env": "staging"}}, "bake_minutes": 30},
            {"name": "prod", "selector": {"match_labels": {"env": "prod"}}, "max_concurrent": 5}
        ],
        "max_concurrent": 10,
        "bake_minutes": 60
    })
}

/// A tenant fleet of `n` clusters, all due for 1.31 → 1.32: 1 canary, 10% dev, 30% staging,
/// the rest prod, spread over five seeds, two node pools each, dev half done.
fn fleet(n: usize) -> UpgradeRequest {
    let v = |minor| KubeVersion::new(1, minor, 0);
    let clusters = (0..n)
        .map(|i| {
            let env = match i * 10 / n.max(1) {
                0 => "dev",
                1..=3 => "staging",
                _ => "prod",
            };
            let mut labels = std::collections::BTreeMap::new();
            labels.insert("env".to_string(), env.to_string());
            if i == n / 2 {
                labels.insert("canary".to_string(), "true".to_string());
            }
            let done = env == "dev" && i % 2 == 0;
            let cp = if done { v(32) } else { v(31) };
            FleetCluster {
                id: ClusterRef::new("tenant-acme", format!("c-{i:04}")),
                labels,
                seed: Some(format!("eu-{}", i % 5)),
                control_plane: VersionState {
                    current: cp,
                    desired: v(32),
                },
                node_pools: ["system", "workers"]
                    .iter()
                    .map(|name| PoolState {
                        name: (*name).to_string(),
                        current: cp,
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
            }
        })
        .collect();
    UpgradeRequest {
        clusters,
        history: vec![],
        limits: UpgradeLimits {
            max_concurrent: 10,
            max_concurrent_per_seed: 3,
        },
        approvals: Vec::new(),
    }
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

fn remediation_request() -> RemediationRequest {
    RemediationRequest {
        cluster: ClusterRef::new("tenant-acme", "prod-1"),
        labels: Default::default(),
        seed: Some("eu-1".into()),
        problem: Problem {
            component: Component::ControlPlane {
                name: "etcd".into(),
            },
            condition: "NotReady".into(),
            detail: "0/3 replicas ready".into(),
            unhealthy_since: Timestamp(now().unix_seconds() - 600),
        },
        history: vec![],
        upgrades_paused: false,
        signals: Vec::new(),
    }
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reference policy {path}: {e}"))
}

/// Benchmarks measure speed, not limits: a 10 s deadline instead of 100 ms, so neither a load
/// spike on a shared machine nor the Go module at 1000 clusters aborts the run.
fn bench_limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(10),
        ..Limits::default()
    }
}

fn bind(engine: &Engine, bytes: &[u8], config: Value) -> TenantPolicy {
    let module = engine.load(bytes).expect("load");
    engine
        .bind(&module, "acme", config, bench_limits())
        .expect("bind")
}

/// A Go module from `target/go-policies/`, or `None` with a line saying why it is left out.
fn go_module(name: &str) -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/go-policies")
        .join(format!("{name}.wasm"));
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            eprintln!(
                "==== Go benchmarks SKIPPED: {}: {e}; run scripts/build-go-policies.sh ====",
                path.display()
            );
            None
        }
    }
}

/// Size and first compile of the Go module next to the Rust one (printed once: a compile of
/// several MB takes seconds, too slow for criterion's ten samples).
fn report_go_module_cost() {
    let Some(go) = go_module("upgrade-ordering") else {
        return;
    };
    let rust = read(fleetward_test_policies::UPGRADE_ORDERING);
    for (name, bytes) in [("rust", &rust), ("go", &go)] {
        let engine = Engine::new(EngineConfig::default()).expect("engine");
        let started = Instant::now();
        engine.load(bytes).expect("load");
        println!(
            "module cost: upgrade-ordering {name}: {} bytes, first compile {:.0} ms",
            bytes.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}

fn bench_fixed_overhead(c: &mut Criterion, engine: &Engine) {
    let policy = bind(engine, &wat::parse_str(TRIVIAL).expect("wat"), Value::Null);
    let request = json!({});
    let mut g = c.benchmark_group("fixed_overhead");
    g.bench_function("trivial_policy_blocking", |b| {
        b.iter(|| {
            policy
                .call_json_blocking(DecisionKind::Placement, black_box(&request), now())
                .expect("call")
        })
    });
    // The same, for a Go module: instantiation plus the Go runtime's `_initialize` (every
    // decision gets a fresh instance), the SDK decoding a minimal envelope, encoding its answer.
    if let Some(bytes) = go_module("test-trivial") {
        let go = bind(engine, &bytes, Value::Null);
        g.bench_function("trivial_go_policy_blocking", |b| {
            b.iter(|| {
                go.call_json_blocking(DecisionKind::Placement, black_box(&request), now())
                    .expect("call")
            })
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let typed = placement_request();
    g.bench_function("trivial_policy_async_typed", |b| {
        // `{}` is not a PlacementDecision: this measures the full async path up to decoding.
        b.iter(|| rt.block_on(async { policy.place(black_box(&typed), now()).await.is_err() }))
    });
    g.finish();
}

fn temp_cache_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetward-engine-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn bench_load(c: &mut Criterion) {
    let bytes = read(fleetward_test_policies::UPGRADE_ORDERING);
    let dir = temp_cache_dir();
    let cached = EngineConfig::default().cache_dir(dir.clone());
    // Populate the cache once.
    Engine::new(cached.clone())
        .expect("engine")
        .load(&bytes)
        .expect("load");
    let mut g = c.benchmark_group("load_upgrade_ordering");
    g.sample_size(10);
    g.bench_function("from_disk_cache", |b| {
        b.iter_batched(
            || Engine::new(cached.clone()).expect("engine"),
            |engine| {
                engine.load(&bytes).expect("load");
                engine
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("compile", |b| {
        b.iter_batched(
            || Engine::new(EngineConfig::default()).expect("engine"),
            |engine| {
                engine.load(&bytes).expect("load");
                engine
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a native plugin speaking the same JSON ABI would do: parse the input envelope,
/// decide, serialise the output envelope.
fn native_json(envelope: &[u8], config: &fleetward_policy_upgrade_ordering::Config) -> Vec<u8> {
    let input: InputEnvelope<UpgradeRequest> = serde_json::from_slice(envelope).expect("envelope");
    let decision = fleetward_policy_upgrade_ordering::order_upgrades(
        &input.request,
        config,
        &Context::new(input.now, &input.tenant),
    )
    .expect("native");
    serde_json::to_vec(&OutputEnvelope::<UpgradeDecision>::Ok(decision)).expect("output")
}

fn bench_upgrade_ordering(c: &mut Criterion, engine: &Engine) {
    // A build of the same policy with its name section kept, for `perf` (see docs/perf/engine.md).
    let bytes = match std::env::var("FLEETWARD_BENCH_UPGRADE_WASM") {
        Ok(path) => read(&path),
        Err(_) => read(fleetward_test_policies::UPGRADE_ORDERING),
    };
    // Default limits (no fuel limit): unmetered code. A tenant with a fuel limit runs the
    // fuel-metered compilation of the same module.
    let policy = bind(engine, &bytes, upgrade_config());
    let metered = engine
        .bind(
            &engine.load(&bytes).expect("load"),
            "acme",
            upgrade_config(),
            Limits {
                fuel: Some(1 << 40),
                ..bench_limits()
            },
        )
        .expect("bind with a fuel limit");
    let config: fleetward_policy_upgrade_ordering::Config =
        serde_json::from_value(upgrade_config()).expect("config");
    let go = go_module("upgrade-ordering").map(|bytes| bind(engine, &bytes, upgrade_config()));
    let mut g = c.benchmark_group("upgrade_ordering");
    for n in [10usize, 100, 1000] {
        let req = fleet(n);
        let value = serde_json::to_value(&req).expect("request");
        // Same answer both ways, or the comparison means nothing.
        let native = fleetward_policy_upgrade_ordering::order_upgrades(
            &req,
            &config,
            &Context::new(now(), "acme"),
        )
        .expect("native decision");
        let wasm = policy
            .call_json_blocking(DecisionKind::UpgradeOrdering, &value, now())
            .expect("wasm decision");
        assert_eq!(
            serde_json::to_value(&native).expect("native json"),
            wasm.decision,
            "wasm and native disagree at {n} clusters"
        );
        if let Some(go) = &go {
            let answer = go
                .call_json_blocking(DecisionKind::UpgradeOrdering, &value, now())
                .expect("Go decision");
            assert_eq!(
                answer.output_json, wasm.output_json,
                "Go and Rust disagree at {n} clusters"
            );
            g.bench_with_input(BenchmarkId::new("go_wasm", n), &value, |b, value| {
                b.iter(|| {
                    go.call_json_blocking(DecisionKind::UpgradeOrdering, black_box(value), now())
                        .expect("call")
                })
            });
        }
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("wasm", n), &value, |b, value| {
            b.iter(|| {
                policy
                    .call_json_blocking(DecisionKind::UpgradeOrdering, black_box(value), now())
                    .expect("call")
            })
        });
        g.bench_with_input(
            BenchmarkId::new("wasm_fuel_limit", n),
            &value,
            |b, value| {
                b.iter(|| {
                    metered
                        .call_json_blocking(DecisionKind::UpgradeOrdering, black_box(value), now())
                        .expect("call")
                })
            },
        );
        let envelope = serde_json::to_vec(&InputEnvelope {
            abi_version: 1,
            decision: CallKind::UpgradeOrdering,
            now: now(),
            tenant: "acme".to_string(),
            config: upgrade_config(),
            request: &req,
        })
        .expect("envelope");
        g.bench_with_input(
            BenchmarkId::new("native_json", n),
            &envelope,
            |b, envelope| b.iter(|| native_json(black_box(envelope), &config)),
        );
        g.bench_with_input(BenchmarkId::new("native", n), &req, |b, req| {
            b.iter(|| {
                fleetward_policy_upgrade_ordering::order_upgrades(
                    black_box(req),
                    &config,
                    &Context::new(now(), "acme"),
                )
                .expect("native")
            })
        });
    }
    g.finish();
}

/// Decisions per second with two threads calling at once (the machine has two cores).
fn bench_throughput(c: &mut Criterion, engine: &Engine) {
    let trivial = bind(engine, &wat::parse_str(TRIVIAL).expect("wat"), Value::Null);
    let upgrade = bind(
        engine,
        &read(fleetward_test_policies::UPGRADE_ORDERING),
        upgrade_config(),
    );
    let req10 = serde_json::to_value(fleet(10)).expect("request");
    const PER_THREAD: u64 = 100;
    let mut g = c.benchmark_group("throughput_2_threads");
    g.throughput(Throughput::Elements(2 * PER_THREAD));
    for (name, policy, kind, request) in [
        ("trivial", &trivial, DecisionKind::Placement, json!({})),
        (
            "upgrade_ordering_10",
            &upgrade,
            DecisionKind::UpgradeOrdering,
            req10,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    for _ in 0..2 {
                        s.spawn(|| {
                            for _ in 0..PER_THREAD {
                                policy
                                    .call_json_blocking(kind, &request, now())
                                    .expect("call");
                            }
                        });
                    }
                })
            })
        });
    }
    g.finish();
}

/// Resident set size in KiB, from /proc (Linux only; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Binds 1000 tenants × the 3 reference policies, makes one decision each, prints RSS.
fn report_rss() {
    let before = rss_kib();
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    let modules: Vec<_> = [
        fleetward_test_policies::PLACEMENT,
        fleetward_test_policies::UPGRADE_ORDERING,
        fleetward_test_policies::REMEDIATION,
    ]
    .iter()
    .map(|p| engine.load(&read(p)).expect("load"))
    .collect();
    let loaded = rss_kib();
    let requests = [
        (
            DecisionKind::Placement,
            serde_json::to_value(placement_request()).expect("json"),
            Value::Null,
        ),
        (
            DecisionKind::UpgradeOrdering,
            serde_json::to_value(fleet(10)).expect("json"),
            upgrade_config(),
        ),
        (
            DecisionKind::Remediation,
            serde_json::to_value(remediation_request()).expect("json"),
            Value::Null,
        ),
    ];
    let started = Instant::now();
    let mut policies = Vec::with_capacity(3000);
    let mut failures = 0;
    for t in 0..1000 {
        for (module, (kind, request, config)) in modules.iter().zip(&requests) {
            let policy = engine
                .bind(
                    module,
                    &format!("tenant-{t:04}"),
                    config.clone(),
                    Limits::default(),
                )
                .expect("bind");
            if policy.call_json_blocking(*kind, request, now()).is_err() {
                failures += 1;
            }
            policies.push(policy);
        }
    }
    let elapsed = started.elapsed();
    let after = rss_kib();
    println!(
        "rss: before engine {} MiB, engine + 3 reference modules {} MiB, \
         1000 tenants x 3 policies bound + one decision each {} MiB \
         (+{} MiB for tenants; {} binds+decisions in {:?}, {failures} failed)",
        before / 1024,
        loaded / 1024,
        after / 1024,
        after.saturating_sub(loaded) / 1024,
        policies.len(),
        elapsed
    );
    drop(policies);
}

/// Whether the command line has no benchmark filter, or one that matches `name` (a printed
/// report such as `rss` or `module_cost`).
fn wants_report(name: &str) -> bool {
    const TAKES_VALUE: &[&str] = &[
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--profile-time",
        "--output-format",
        "--color",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--nresamples",
        "--load-baseline",
        "--plotting-backend",
        "--format",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filters = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if TAKES_VALUE.contains(&args[i].as_str()) {
            i += 1;
        } else if !args[i].starts_with('-') {
            filters.push(args[i].as_str());
        }
        i += 1;
    }
    filters.is_empty() || filters.iter().any(|f| name.contains(f) || f.contains(name))
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    if wants_report("rss") {
        report_rss();
    }
    if wants_report("module_cost") {
        report_go_module_cost();
    }
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    bench_fixed_overhead(&mut c, &engine);
    bench_load(&mut c);
    bench_upgrade_ordering(&mut c, &engine);
    bench_throughput(&mut c, &engine);
    c.final_summary();
}
