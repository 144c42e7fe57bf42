//! Scale benchmark: N ManagedClusters over T tenants and S seeds in the in-process emulator.
//!
//! Reports time to fully reconciled (every cluster placed by its tenant's Wasm placement policy
//! and its control plane + pools applied on the seed), decisions per second, peak RSS of the
//! process (controller + emulator + engine: an upper bound for the controller alone), and the
//! writes issued by a no-op resync (target: zero).
//!
//! ```sh
//! cargo bench -p fleetward-tests --bench scale                       # 10,000 / 1,000 / 40
//! SCALE_CLUSTERS=1000 SCALE_TENANTS=100 cargo bench -p fleetward-tests --bench scale
//! ```
//! No fake infrastructure runs: workloads never become ready, so "reconciled" means placed and
//! provisioned (phase `Provisioning`), which is where the controller's own work ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use fleetward_controller::app::{ControllerConfig, start};
use fleetward_controller::crd::{self, ManagedCluster};
use fleetward_controller::reconcile::Settings;
use fleetward_controller::wasm::EngineLoader;
use fleetward_emulator::Emulator;
use fleetward_engine::{Engine, EngineConfig};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
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
    let emu = Emulator::builder()
        .watch_history(4 * n + 10_000)
        .watch_buffer(8 * n + 10_000)
        .build();
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
    let seed_objs: Vec<crd::Seed> = (0..seeds)
        .map(|i| serde_json::from_value(json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "Seed", "metadata": {"name": format!("seed-{i:02}")},
            "spec": {"region": REGIONS[i % 4], "provider": "aws", "zone": format!("z{}", i % 3), "capacity": cap, "minVersion": "1.29", "maxVersion": "1.34"}})))
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
    let (emu_before, ctl_before) = (emu.write_count(), handle.metrics.total_writes());
    // Two resync periods (30 s each) with nothing changing.
    tokio::time::sleep(Duration::from_secs(65)).await;
    let (emu_after, ctl_after) = (emu.write_count(), handle.metrics.total_writes());
    let kinds_after = writes_by_kind(handle.metrics.render());
    if kinds_after != kinds_before {
        eprintln!(
            "writes during the resync window:\n  before {kinds_before:?}\n  after  {kinds_after:?}"
        );
    }
    println!(
        "| clusters | tenants | seeds | time to reconciled | decisions | decisions/s | peak RSS (process) | writes on no-op resync (controller / emulator) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {tenants} | {seeds} | {:.1} s | {decisions:.0} | {:.0} | {:.0} MiB | {} / {} |",
        reconciled.as_secs_f64(),
        decisions / reconciled.as_secs_f64(),
        peak_rss_mib(),
        ctl_after - ctl_before,
        emu_after - emu_before
    );
    handle.shutdown().await;
    Ok(())
}
