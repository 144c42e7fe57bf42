//! Scale benchmark of the emulator, through an unmodified in-process `kube::Client`:
//! 10,000 ManagedCluster-like custom resources plus 140,000 child ConfigMaps and Deployments,
//! resident memory, full-list latency, paged-list latency and watch fan-out to 4 watchers.
//!
//! Run: `cargo bench -p fleetward-emulator --bench emulator` (or `--profile dev` for the
//! test-profile numbers). Sizes can be scaled down with `EMU_BENCH_CLUSTERS=1000`.

use std::time::{Duration, Instant};

use fleetward_emulator::Emulator;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use serde_json::json;

const CHILD_CONFIGMAPS: usize = 10;
const CHILD_DEPLOYMENTS: usize = 4;
const NAMESPACES: usize = 100;
const CONCURRENCY: usize = 32;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// User + system CPU seconds of this process (from /proc/self/stat, 100 Hz ticks), so numbers
/// stay meaningful when the machine is shared and wall time is inflated.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command: state is index 0, utime index 11, stime index 12.
    (ticks(11) + ticks(12)) / 100.0
}

struct Phase {
    wall: Instant,
    cpu: f64,
}

impl Phase {
    fn start() -> Phase {
        Phase {
            wall: Instant::now(),
            cpu: cpu_secs(),
        }
    }

    fn done(&self) -> (Duration, f64) {
        (self.wall.elapsed(), cpu_secs() - self.cpu)
    }
}

fn crd() -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "managedclusters.fleetward.dev"},
        "spec": {"group": "fleetward.dev", "scope": "Namespaced",
            "names": {"plural": "managedclusters", "singular": "managedcluster", "kind": "ManagedCluster", "shortNames": ["mc"]},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["version", "region"], "properties": {
                        "version": {"type": "string"}, "region": {"type": "string"}, "tenant": {"type": "string"},
                        "nodePools": {"type": "array", "items": {"type": "object", "properties": {
                            "name": {"type": "string"}, "replicas": {"type": "integer", "minimum": 0},
                            "machineType": {"type": "string"}}}},
                        "addons": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
    })
}

fn cluster(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
        "metadata": {"name": format!("cluster-{i:05}"), "labels": {
            "fleetward.dev/tenant": format!("tenant-{}", i % 50), "fleetward.dev/region": format!("region-{}", i % 7),
            "fleetward.dev/tier": if i.is_multiple_of(3) { "gold" } else { "silver" }}},
        "spec": {"version": "v1.30.4", "region": format!("region-{}", i % 7), "tenant": format!("tenant-{}", i % 50),
            "nodePools": [{"name": "system", "replicas": 3, "machineType": "n2-standard-4"},
                          {"name": "workers", "replicas": 12, "machineType": "n2-standard-16"}],
            "addons": {"monitoring": {"enabled": true, "retention": "15d"}, "logging": {"enabled": true},
                       "ingress": {"class": "nginx", "replicas": 2}}}
    })
}

fn child_cm(i: usize, j: usize) -> ConfigMap {
    let data = (0..8)
        .map(|k| (format!("key-{k}"), format!("value-{i}-{j}-{k}-").repeat(6)))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": format!("cluster-{i:05}-cfg-{j}"), "labels": {"fleetward.dev/cluster": format!("cluster-{i:05}")}},
    }))
    .map(|mut c: ConfigMap| {
        c.data = Some(data);
        c
    })
    .unwrap_or_default()
}

fn child_deployment(i: usize, j: usize) -> Deployment {
    let name = format!("cluster-{i:05}-agent-{j}");
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"fleetward.dev/cluster": format!("cluster-{i:05}"), "app": name}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                "name": "agent", "image": "registry.example.com/fleetward/agent:v0.1.0",
                "args": ["--cluster", format!("cluster-{i:05}"), "--log-level", "info"],
                "env": [{"name": "CLUSTER", "value": format!("cluster-{i:05}")}, {"name": "REGION", "value": "eu"}],
                "ports": [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": 9090}, "periodSeconds": 10}}]}}}
    }))
    .unwrap_or_default()
}

fn secs((wall, cpu): (Duration, f64)) -> String {
    format!("{:.3} s wall / {cpu:.2} s CPU", wall.as_secs_f64())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let clusters: usize = std::env::var("EMU_BENCH_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rss_start = rss_mib();
    let emu = Emulator::new();
    let client = emu.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &serde_json::from_value(crd())?)
        .await?;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("fleetward.dev", "v1alpha1", "ManagedCluster"),
        "managedclusters",
    );
    let mcs: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for n in 0..NAMESPACES {
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": format!("fleet-{n}")}}))?;
        namespaces.create(&PostParams::default(), &ns).await?;
    }

    let t = Phase::start();
    stream::iter(0..clusters)
        .map(|i| {
            let mcs = mcs.clone();
            async move {
                let obj: DynamicObject = serde_json::from_value(cluster(i))?;
                mcs.create(&PostParams::default(), &obj).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<()>()
        .await?;
    let insert_clusters = t.done();

    let t = Phase::start();
    stream::iter(0..clusters)
        .map(|i| {
            let client = client.clone();
            async move {
                let ns = format!("fleet-{}", i % NAMESPACES);
                let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
                let deps: Api<Deployment> = Api::namespaced(client, &ns);
                for j in 0..CHILD_CONFIGMAPS {
                    cms.create(&PostParams::default(), &child_cm(i, j)).await?;
                }
                for j in 0..CHILD_DEPLOYMENTS {
                    deps.create(&PostParams::default(), &child_deployment(i, j))
                        .await?;
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<()>()
        .await?;
    let insert_children = t.done();
    let objects = emu.object_count();
    let rss_loaded = rss_mib();

    // Full list of every ManagedCluster, best of 5.
    let mut full = Vec::new();
    for _ in 0..5 {
        let t = Phase::start();
        let list = mcs.list(&ListParams::default()).await?;
        full.push(t.done());
        assert_eq!(list.items.len(), clusters);
    }
    full.sort_by_key(|p| p.0);
    // Paged list, 500 per page (kube-runtime's watcher default).
    let t = Phase::start();
    let mut token: Option<String> = None;
    let mut paged = 0;
    for _ in 0..(clusters / 500 + 2) {
        let mut lp = ListParams::default().limit(500);
        if let Some(c) = &token {
            lp = lp.continue_token(c);
        }
        let page = mcs.list(&lp).await?;
        paged += page.items.len();
        token = page.metadata.continue_.filter(|c| !c.is_empty());
        if token.is_none() {
            break;
        }
    }
    let paged_time = t.done();
    assert_eq!(paged, clusters);
    // Label-selected list over 140,000 children (cluster-scoped to one cluster's children).
    let all_cms: Api<ConfigMap> = Api::all(client.clone());
    let t = Phase::start();
    let selected = all_cms
        .list(&ListParams::default().labels("fleetward.dev/cluster=cluster-00042"))
        .await?;
    let selector_time = t.done();
    assert_eq!(
        selected.items.len(),
        CHILD_CONFIGMAPS.min(if clusters > 42 { CHILD_CONFIGMAPS } else { 0 })
    );

    // Watch fan-out: 4 watchers, N status updates, time until every watcher saw every update.
    let updates = clusters.min(10_000);
    let rv = emu.resource_version().to_string();
    let mut watchers = Vec::new();
    for _ in 0..4 {
        let s = mcs
            .watch(
                &WatchParams::default().disable_bookmarks().timeout(3_600),
                &rv,
            )
            .await?;
        watchers.push(tokio::spawn(async move {
            let mut s = s.boxed();
            let mut n = 0usize;
            let mut errors = 0usize;
            while n < updates {
                match s.try_next().await {
                    Ok(Some(WatchEvent::Modified(_))) => n += 1,
                    Ok(Some(WatchEvent::Error(_))) => {
                        errors += 1;
                        break;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            (n, errors, Instant::now())
        }));
    }
    let t = Phase::start();
    for i in 0..updates {
        let patch = json!({"status": {"phase": "Ready", "observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": "True", "reason": "AllGood", "lastTransitionTime": "2026-01-05T00:00:00Z"}]}});
        mcs.patch_status(
            &format!("cluster-{i:05}"),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    let write_time = t.done();
    let mut fanout = Duration::ZERO;
    let mut delivered = Vec::new();
    for w in watchers {
        let (n, errors, done) = w.await?;
        fanout = fanout.max(done.duration_since(t.wall));
        delivered.push((n, errors));
    }
    let rss_end = rss_mib();

    println!(
        "emulator bench ({clusters} ManagedClusters, {} children, {objects} objects total)",
        clusters * (CHILD_CONFIGMAPS + CHILD_DEPLOYMENTS)
    );
    println!(
        "insert ManagedClusters (via kube::Client, {CONCURRENCY} concurrent): {} ({:.0} obj per CPU-s)",
        secs(insert_clusters),
        clusters as f64 / insert_clusters.1.max(0.01)
    );
    println!(
        "insert children: {} ({:.0} obj per CPU-s)",
        secs(insert_children),
        (clusters * 14) as f64 / insert_children.1.max(0.01)
    );
    println!(
        "RSS: start {rss_start:.0} MiB, loaded {rss_loaded:.0} MiB, after watch test {rss_end:.0} MiB"
    );
    println!(
        "full list of {clusters} ManagedClusters: best {} median {}",
        secs(full[0]),
        secs(full[2])
    );
    println!(
        "paged list (limit 500): {} for {paged} items",
        secs(paged_time)
    );
    println!(
        "label-selected ConfigMap list across all namespaces: {}",
        secs(selector_time)
    );
    println!(
        "watch fan-out: {updates} status patches in {}, all 4 watchers done after {:.3} s; delivered (events, errors) = {delivered:?}",
        secs(write_time),
        fanout.as_secs_f64()
    );
    Ok(())
}
