//! Scale benchmark: N ManagedClusters over T tenants and S seeds in in-process emulators.
//!
//! Reports time to fully reconciled (every cluster placed by its tenant's Wasm placement policy
//! and its control plane + pools applied on the seed), decisions per second, peak RSS of the
//! process (controller + emulators + engine: an upper bound for the controller alone), the
//! writes issued by a no-op resync (target: zero) and the idle API load: requests per second
//! reaching all API servers together while the controller has nothing to do.
//!
//! Topologies (`SCALE_SEEDS_TOPOLOGY`):
//! * `remote` (default): every Seed is remote (`spec.location.kubeconfigSecret`), served by one
//!   of `SCALE_SEED_SERVERS` (default: one per seed) emulated seed API servers, reached through
//!   an `InProcessConnector` by the server URL in its kubeconfig; the management server holds
//!   only the fleet objects.
//! * `single`: every seed is the management server itself (the issue #4 baseline).
//!
//! ```sh
//! cargo bench -p fleetward-tests --bench scale                       # 10,000 / 1,000 / 40, remote
//! SCALE_SEEDS_TOPOLOGY=single cargo bench -p fleetward-tests --bench scale
//! SCALE_CLUSTERS=1000 SCALE_TENANTS=100 SCALE_IDLE_SECS=60 cargo bench -p fleetward-tests --bench scale
//! ```
//! No fake infrastructure runs: workloads never become ready, so "reconciled" means placed and
//! provisioned (phase `Provisioning`), which is where the controller's own work ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use fleetward_controller::app::{ControllerConfig, start};
use fleetward_controller::crd::{self, ManagedCluster};
use fleetward_controller::reconcile::Settings;
use fleetward_controller::seeds::{InProcessConnector, token_kubeconfig};
use fleetward_controller::wasm::EngineLoader;
use fleetward_emulator::{Emulator, RequestCounts, Verb};
use fleetward_engine::{Engine, EngineConfig};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use sha2::{Digest as _, Sha256};

const REGIONS: [&str; 4] = ["eu-west", "us-east", "ap-south", "sa-east"];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Request counters of every API server, summed per (resource, verb).
fn total_requests(servers: &[Emulator]) -> RequestCounts {
    let mut sum = RequestCounts::default();
    for c in servers.iter().map(Emulator::request_counts) {
        sum.total += c.total;
        sum.other += c.other;
        for (v, n) in c.by_verb {
            *sum.by_verb.entry(v).or_default() += n;
        }
        for (k, n) in c.by_resource {
            *sum.by_resource.entry(k).or_default() += n;
        }
    }
    sum
}

/// CPU time of the whole process so far (user + system), from /proc/self/stat: on a machine
/// shared with other builds, a steadier measure of the work done than wall-clock time.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are the 12th and
            // 13th of them, in clock ticks (100 per second on Linux).
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn create_all<K>(api: &Api<K>, objs: Vec<K>) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug + kube::Resource,
{
    let mut futs = futures::stream::iter(objs.into_iter().map(|o| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), &o).await.map(|_| ()) }
    }))
    .buffer_unordered(64);
    while let Some(r) = futs.next().await {
        r?;
    }
    Ok(())
}

use futures::StreamExt as _;

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> Result<()> {
    let (n, tenants, seeds) = (
        env("SCALE_CLUSTERS", 10_000),
        env("SCALE_TENANTS", 1_000),
        env("SCALE_SEEDS", 40),
    );
    let remote = match std::env::var("SCALE_SEEDS_TOPOLOGY").as_deref() {
        Ok("remote") | Err(_) => true,
        Ok("single") => false,
        Ok(other) => anyhow::bail!("SCALE_SEEDS_TOPOLOGY={other}: expected remote or single"),
    };
    // One API server per seed by default: each seed connection then caches only its own
    // children (the Machine watch is not label-limited, so seeds sharing a server would each
    // reflect the others' objects too).
    let seed_servers = if remote {
        env("SCALE_SEED_SERVERS", seeds).clamp(1, seeds)
    } else {
        0
    };
    let idle_secs = env("SCALE_IDLE_SECS", 300) as u64;
    eprintln!(
        "topology {}: {n} clusters, {tenants} tenants, {seeds} seeds, {seed_servers} seed API servers; load {}",
        if remote { "remote" } else { "single" },
        load_average()
    );
    let emu = Emulator::builder()
        .watch_history(4 * n + 10_000)
        .watch_buffer(8 * n + 10_000)
        .build();
    let per_server = n / seed_servers.max(1) + 1;
    let seed_emus: Vec<Emulator> = (0..seed_servers)
        .map(|k| {
            Emulator::builder()
                .seed(0x5EED + 1 + k as u64)
                .watch_history(8 * per_server + 10_000)
                .watch_buffer(8 * per_server + 10_000)
                .build()
        })
        .collect();
    let seed_url = |k: usize| format!("https://seed-server-{k}.emulated:6443");
    let client = emu.client_with_user_agent("bench");
    for c in crd::crds() {
        Api::<CustomResourceDefinition>::all(client.clone())
            .create(&PostParams::default(), &c)
            .await?;
    }
    let module = std::fs::read(fleetward_test_policies::PLACEMENT).context("placement policy")?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&module)));
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "fleetward-system"}}))?,
    )
    .await?;
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("placement".into()),
            ..Default::default()
        },
        binary_data: Some([("policy.wasm".to_string(), ByteString(module))].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), "fleetward-system")
        .create(&PostParams::default(), &cm)
        .await?;
    let cap = (n / seeds) * 3 / 2 + 1;
    if remote {
        let secrets: Vec<Secret> = (0..seeds)
            .map(|i| Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(format!("seed-{i:02}-kubeconfig")),
                    ..Default::default()
                },
                data: Some(
                    [(
                        "kubeconfig".to_string(),
                        ByteString(
                            token_kubeconfig(
                                &format!("seed-{i:02}"),
                                &seed_url(i % seed_servers),
                                "bench",
                            )
                            .into_bytes(),
                        ),
                    )]
                    .into(),
                ),
                ..Default::default()
            })
            .collect();
        create_all(
            &Api::namespaced(client.clone(), "fleetward-system"),
            secrets,
        )
        .await?;
    }
    let seed_objs: Vec<crd::Seed> = (0..seeds)
        .map(|i| {
            let location = if remote {
                json!({"kubeconfigSecret": {"namespace": "fleetward-system", "name": format!("seed-{i:02}-kubeconfig")}})
            } else {
                json!({})
            };
            serde_json::from_value(json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "Seed", "metadata": {"name": format!("seed-{i:02}")},
            "spec": {"region": REGIONS[i % 4], "provider": "aws", "zone": format!("z{}", i % 3), "capacity": cap, "minVersion": "1.29", "maxVersion": "1.34", "location": location}}))
        })
        .collect::<Result<_, _>>()?;
    create_all(&Api::all(client.clone()), seed_objs).await?;
    let ns_objs: Vec<Namespace> = (0..tenants).map(|t| serde_json::from_value(json!({"metadata": {"name": format!("tenant-{t}"), "labels": {crd::TENANT_LABEL: format!("t{t}")}}}))).collect::<Result<_, _>>()?;
    create_all(&nss, ns_objs).await?;
    let tenant_objs: Vec<crd::Tenant> = (0..tenants)
        .map(|t| serde_json::from_value(json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": format!("t{t}")},
            "spec": {"placement": {"module": {"configMap": {"namespace": "fleetward-system", "name": "placement", "key": "policy.wasm"}}, "sha256": digest, "config": {"preferred_regions": ["eu-west"]}}}})))
        .collect::<Result<_, _>>()?;
    create_all(&Api::all(client.clone()), tenant_objs).await?;
    let started = Instant::now();
    for i in 0..n {
        let t = i % tenants;
        let mc: ManagedCluster = serde_json::from_value(
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
            "metadata": {"name": format!("c{i}"), "namespace": format!("tenant-{t}")},
            "spec": {"tenant": format!("t{t}"), "version": "1.31.2", "labels": {"env": if i % 3 == 0 { "prod" } else { "dev" }}, "nodePools": [{"name": "workers", "replicas": 3}]}}),
        )?;
        Api::<ManagedCluster>::namespaced(client.clone(), &format!("tenant-{t}"))
            .create(&PostParams::default(), &mc)
            .await?;
    }
    eprintln!(
        "created {n} clusters, {tenants} tenants, {seeds} seeds in {:.1?}",
        started.elapsed()
    );

    let engine = Engine::new(EngineConfig::default())?;
    let mut cfg = ControllerConfig::new(Arc::new(EngineLoader::new(engine)));
    cfg.concurrency = 64;
    cfg.settings = Settings {
        resync: Duration::from_secs(30),
        ..Settings::default()
    };
    let mut connector = InProcessConnector::new();
    for (k, seed_emu) in seed_emus.iter().enumerate() {
        connector.insert(seed_url(k), seed_emu.client_with_user_agent("fleetward"));
    }
    cfg.seed_connector = Arc::new(connector);
    let servers: Vec<Emulator> = std::iter::once(emu.clone())
        .chain(seed_emus.iter().cloned())
        .collect();
    let requests_before = total_requests(&servers);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let handle = start(emu.client_with_user_agent("fleetward"), cfg);
    let all: Api<ManagedCluster> = Api::all(client.clone());
    let placed = |m: &str| -> f64 {
        m.lines()
            .filter(|l| {
                l.starts_with("fleetward_decisions_total{") && l.contains("kind=\"placement\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let reconciled = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Cheap progress signal first (placement decisions); LIST only once they are all made, so
        // the poll does not compete with the controller for the two cores.
        if placed(&handle.metrics.render()) < n as f64 {
            continue;
        }
        let list = all.list(&ListParams::default()).await?;
        let done = list
            .items
            .iter()
            .filter(|c| {
                c.status
                    .as_ref()
                    .is_some_and(|s| s.seed.is_some() && s.observed_generation.is_some())
            })
            .count();
        eprintln!(
            "  {:>6.1}s: {done}/{n} reconciled, rss {:.0} MiB",
            t0.elapsed().as_secs_f64(),
            peak_rss_mib()
        );
        if done == n {
            break t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(1800) {
            anyhow::bail!("not reconciled after 30 minutes ({done}/{n})");
        }
    };
    let reconcile_cpu = cpu_seconds() - cpu0;
    let reconcile_requests = total_requests(&servers).since(&requests_before);
    let seed_objects: usize = seed_emus.iter().map(Emulator::object_count).sum();
    eprintln!(
        "reconciled with {} API requests and {reconcile_cpu:.0} s of process CPU; management server holds {} objects, seed servers {seed_objects}; load {}",
        reconcile_requests.total,
        emu.object_count(),
        load_average()
    );
    if remote {
        let empty = seed_emus.iter().filter(|e| e.object_count() <= 4).count();
        anyhow::ensure!(empty == 0, "{empty} seed API servers hold no clusters");
    }
    let metrics = handle.metrics.render();
    let decisions: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("fleetward_decisions_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // Quiesce: wait until the controller's write counter stops moving for 5 s.
    let mut last = handle.metrics.total_writes();
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = handle.metrics.total_writes();
        if now == last {
            break;
        }
        last = now;
    }
    // One full resync first: status catch-up writes (seed counts, tenant decision counters that
    // moved after their last reconcile) are real changes, not resync noise.
    tokio::time::sleep(Duration::from_secs(35)).await;
    let writes_by_kind = |m: String| {
        m.lines()
            .filter(|l| l.starts_with("fleetward_writes_total{"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let kinds_before = writes_by_kind(handle.metrics.render());
    let emu_writes = || servers.iter().map(Emulator::write_count).sum::<u64>();
    let (emu_before, ctl_before) = (emu_writes(), handle.metrics.total_writes());
    // The idle window (real time, at least two resync periods of 30 s) with nothing changing:
    // every request any API server answers in it is idle load. The bench itself makes none.
    eprintln!("idle window of {idle_secs} s; load {}", load_average());
    let mut idle_writes: Vec<_> = servers.iter().map(Emulator::subscribe_writes).collect();
    let idle_before = total_requests(&servers);
    let idle_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle_secs.max(65))).await;
    let idle = total_requests(&servers).since(&idle_before);
    let idle_elapsed = idle_started.elapsed().as_secs_f64();
    let (emu_after, ctl_after) = (emu_writes(), handle.metrics.total_writes());
    eprintln!(
        "idle: {} requests in {idle_elapsed:.0} s ({} other); by verb {:?}; load {}",
        idle.total,
        idle.other,
        idle.by_verb,
        load_average()
    );
    // Name every write the idle window saw (there should be none), with the object after it.
    for (server, rx) in idle_writes.iter_mut().enumerate() {
        while let Ok(w) = rx.try_recv() {
            eprintln!(
                "  idle write on server {server}: {:?} {} {}/{} by {:?}: status {}",
                w.verb,
                w.kind,
                w.namespace.as_deref().unwrap_or(""),
                w.name,
                w.user_agent,
                w.object.get("status").cloned().unwrap_or_default()
            );
        }
    }
    let mut top: Vec<_> = idle.by_resource.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1));
    for ((resource, verb), count) in top.iter().take(12) {
        eprintln!("  {count:>8} {verb:?} {resource}");
    }
    let watches = idle.by_verb.get(&Verb::Watch).copied().unwrap_or(0);
    let kinds_after = writes_by_kind(handle.metrics.render());
    if kinds_after != kinds_before {
        eprintln!(
            "writes during the resync window:\n  before {kinds_before:?}\n  after  {kinds_after:?}"
        );
    }
    println!(
        "| topology | clusters | tenants | seeds (API servers) | time to reconciled (process CPU) | API requests to reconcile | decisions/s | peak RSS (process) | writes on no-op resync (controller / servers) | idle API load (window) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {n} | {tenants} | {seeds} ({}) | {:.1} s ({reconcile_cpu:.0} s) | {} | {:.0} | {:.0} MiB | {} / {} | {:.2} req/s ({} requests, {watches} watch starts, in {idle_elapsed:.0} s) |",
        if remote { "remote" } else { "single" },
        seed_servers + 1,
        reconciled.as_secs_f64(),
        reconcile_requests.total,
        decisions / reconciled.as_secs_f64(),
        peak_rss_mib(),
        ctl_after - ctl_before,
        emu_after - emu_before,
        idle.total as f64 / idle_elapsed,
        idle.total,
    );
    handle.shutdown().await;
    Ok(())
}
