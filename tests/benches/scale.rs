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
//! Where the API servers run (`SCALE_SERVERS`):
//! * `in-process` (default): the emulators live in this process and the controller reaches them
//!   through in-memory clients; peak RSS is controller + emulators.
//! * `child`: the bench re-executes itself (`SCALE_ROLE=servers`) to serve every emulator over
//!   HTTP on 127.0.0.1 from a child process; the controller reaches the seeds with the default
//!   `KubeconfigConnector`, exactly as in production, and this process's peak RSS is the
//!   controller's (plus the bench's own fleet creation and final LIST: an upper bound). Request
//!   counts come from the child over a line protocol on its stdin/stdout.
//!
//! ```sh
//! cargo bench -p fleetward-tests --bench scale                       # 10,000 / 1,000 / 40, remote
//! SCALE_SEEDS_TOPOLOGY=single cargo bench -p fleetward-tests --bench scale
//! SCALE_CLUSTERS=1000 SCALE_TENANTS=100 SCALE_IDLE_SECS=60 cargo bench -p fleetward-tests --bench scale
//! SCALE_SERVERS=child cargo bench -p fleetward-tests --bench scale   # the controller's own RSS
//! ```
//! No fake infrastructure runs: workloads never become ready, so "reconciled" means placed and
//! provisioned (phase `Provisioning`), which is where the controller's own work ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use fleetward_controller::app::{ControllerConfig, start};
use fleetward_controller::crd::{self, ManagedCluster};
use fleetward_controller::reconcile::Settings;
use fleetward_controller::seeds::{
    InProcessConnector, KubeconfigConnector, SeedConnector, token_kubeconfig,
};
use fleetward_controller::wasm::EngineLoader;
use fleetward_emulator::{Emulator, RequestCounts};
use fleetward_engine::{Engine, EngineConfig};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

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

/// Request counters of every API server together, summed per verb and (resource, verb); verbs
/// by name so the child process can report them as JSON.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Counts {
    total: u64,
    other: u64,
    by_verb: BTreeMap<String, u64>,
    by_resource: Vec<(String, String, u64)>,
    /// Successful mutating requests (`Emulator::write_count`), summed.
    writes: u64,
    /// Objects held by each server, management first.
    objects: Vec<usize>,
}

impl Counts {
    fn of(servers: &[Emulator]) -> Counts {
        let mut sum = Counts::default();
        let mut by_resource: BTreeMap<(String, String), u64> = BTreeMap::new();
        for e in servers {
            let c: RequestCounts = e.request_counts();
            sum.total += c.total;
            sum.other += c.other;
            for (v, n) in c.by_verb {
                *sum.by_verb.entry(format!("{v:?}")).or_default() += n;
            }
            for ((r, v), n) in c.by_resource {
                *by_resource.entry((r, format!("{v:?}"))).or_default() += n;
            }
            sum.writes += e.write_count();
            sum.objects.push(e.object_count());
        }
        sum.by_resource = by_resource
            .into_iter()
            .map(|((r, v), n)| (r, v, n))
            .collect();
        sum
    }

    /// The requests made between `earlier` and `self` (counters only grow).
    fn since(&self, earlier: &Counts) -> Counts {
        let before: BTreeMap<(&str, &str), u64> = earlier
            .by_resource
            .iter()
            .map(|(r, v, n)| ((r.as_str(), v.as_str()), *n))
            .collect();
        Counts {
            total: self.total - earlier.total,
            other: self.other - earlier.other,
            by_verb: self
                .by_verb
                .iter()
                .map(|(v, n)| (v.clone(), n - earlier.by_verb.get(v).copied().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            by_resource: self
                .by_resource
                .iter()
                .map(|(r, v, n)| {
                    let then = before.get(&(r.as_str(), v.as_str())).copied().unwrap_or(0);
                    (r.clone(), v.clone(), n - then)
                })
                .filter(|(_, _, n)| *n > 0)
                .collect(),
            writes: self.writes - earlier.writes,
            objects: self.objects.clone(),
        }
    }
}

/// The management emulator and `seed_servers` seed emulators, sized for `n` clusters.
fn build_emulators(n: usize, seed_servers: usize) -> Vec<Emulator> {
    let management = Emulator::builder()
        .watch_history(4 * n + 10_000)
        .watch_buffer(8 * n + 10_000)
        .build();
    let per_server = n / seed_servers.max(1) + 1;
    std::iter::once(management)
        .chain((0..seed_servers).map(|k| {
            Emulator::builder()
                .seed(0x5EED + 1 + k as u64)
                .watch_history(8 * per_server + 10_000)
                .watch_buffer(8 * per_server + 10_000)
                .build()
        }))
        .collect()
}

/// The API servers: in this process, or served over HTTP by a child process.
enum Servers {
    InProcess(Vec<Emulator>),
    Child {
        child: Box<tokio::process::Child>,
        stdin: tokio::process::ChildStdin,
        lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
        /// `http://127.0.0.1:PORT` of each server, management first.
        urls: Vec<String>,
    },
}

impl Servers {
    async fn start(in_child: bool, n: usize, seed_servers: usize) -> Result<Servers> {
        if !in_child {
            return Ok(Servers::InProcess(build_emulators(n, seed_servers)));
        }
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .env("SCALE_ROLE", "servers")
            .env("SCALE_SERVE_CLUSTERS", n.to_string())
            .env("SCALE_SERVE_SEED_SERVERS", seed_servers.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the server process")?;
        let stdin = child.stdin.take().context("child stdin")?;
        let mut lines =
            tokio::io::BufReader::new(child.stdout.take().context("child stdout")?).lines();
        let mut urls = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .context("the server process did not start within 60 s")??
                .context("the server process exited before it was ready")?;
            if line == "ready" {
                break;
            }
            urls.push(line);
        }
        anyhow::ensure!(
            urls.len() == seed_servers + 1,
            "the server process announced {} servers, expected {}",
            urls.len(),
            seed_servers + 1
        );
        Ok(Servers::Child {
            child: Box::new(child),
            stdin,
            lines,
            urls,
        })
    }

    fn client(&self, server: usize, user_agent: &str) -> Result<kube::Client> {
        match self {
            Servers::InProcess(emus) => Ok(emus[server].client_with_user_agent(user_agent)),
            Servers::Child { urls, .. } => {
                let config = kube::Config::new(urls[server].parse()?);
                Ok(kube::Client::try_from(config)?)
            }
        }
    }

    /// The URL a seed kubeconfig names for seed server `k`.
    fn seed_url(&self, k: usize) -> String {
        match self {
            Servers::InProcess(_) => format!("https://seed-server-{k}.emulated:6443"),
            Servers::Child { urls, .. } => urls[k + 1].clone(),
        }
    }

    /// How the controller reaches the seed servers: in-memory clients by URL, or (child) the
    /// production `KubeconfigConnector` over HTTP.
    fn connector(&self) -> Arc<dyn SeedConnector> {
        match self {
            Servers::InProcess(emus) => {
                let mut connector = InProcessConnector::new();
                for (k, e) in emus.iter().skip(1).enumerate() {
                    connector.insert(self.seed_url(k), e.client_with_user_agent("fleetward"));
                }
                Arc::new(connector)
            }
            Servers::Child { .. } => Arc::new(KubeconfigConnector::default()),
        }
    }

    async fn counts(&mut self) -> Result<Counts> {
        match self {
            Servers::InProcess(emus) => Ok(Counts::of(emus)),
            Servers::Child { stdin, lines, .. } => {
                stdin.write_all(b"counts\n").await?;
                stdin.flush().await?;
                let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                    .await
                    .context("the server process did not answer within 30 s")??
                    .context("the server process exited")?;
                Ok(serde_json::from_str(&line)?)
            }
        }
    }

    /// Peak RSS of the server process, if the servers run in one.
    fn child_peak_rss_mib(&self) -> Option<f64> {
        match self {
            Servers::InProcess(_) => None,
            Servers::Child { child, .. } => {
                peak_rss_mib_of(&format!("/proc/{}/status", child.id()?))
            }
        }
    }
}

/// `SCALE_ROLE=servers`: serve the emulators over HTTP until stdin closes, announcing each URL
/// on stdout, then answering every `counts` line with one JSON line of [`Counts`].
async fn serve_emulators() -> Result<()> {
    let emus = build_emulators(
        env("SCALE_SERVE_CLUSTERS", 10_000),
        env("SCALE_SERVE_SEED_SERVERS", 40),
    );
    let mut handles = Vec::new();
    let mut out = tokio::io::stdout();
    for e in &emus {
        let handle = e.serve("127.0.0.1:0".parse()?).await?;
        out.write_all(format!("{}\n", handle.url()).as_bytes())
            .await?;
        handles.push(handle);
    }
    out.write_all(b"ready\n").await?;
    out.flush().await?;
    let mut commands = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(command) = commands.next_line().await? {
        anyhow::ensure!(command == "counts", "unknown command {command:?}");
        let line = serde_json::to_string(&Counts::of(&emus))?;
        out.write_all(format!("{line}\n").as_bytes()).await?;
        out.flush().await?;
    }
    for h in handles {
        h.shutdown().await;
    }
    Ok(())
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
    peak_rss_mib_of("/proc/self/status").unwrap_or(f64::NAN)
}

/// `VmHWM` (peak resident set) of a process, from its `/proc/PID/status`.
fn peak_rss_mib_of(status: &str) -> Option<f64> {
    let s = std::fs::read_to_string(status).ok()?;
    let kib = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()?;
    Some(kib / 1024.0)
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
    if std::env::var("SCALE_ROLE").as_deref() == Ok("servers") {
        return rt.block_on(serve_emulators());
    }
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
    let in_child = match std::env::var("SCALE_SERVERS").as_deref() {
        Ok("in-process") | Err(_) => false,
        Ok("child") => true,
        Ok(other) => anyhow::bail!("SCALE_SERVERS={other}: expected in-process or child"),
    };
    eprintln!(
        "topology {}: {n} clusters, {tenants} tenants, {seeds} seeds, {seed_servers} seed API servers, {}; load {}",
        if remote { "remote" } else { "single" },
        if in_child {
            "servers in a child process"
        } else {
            "servers in this process"
        },
        load_average()
    );
    let mut servers = Servers::start(in_child, n, seed_servers).await?;
    let client = servers.client(0, "bench")?;
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
                                &servers.seed_url(i % seed_servers),
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
    cfg.seed_connector = servers.connector();
    // Status catch-up before the idle window: one resync, and one seed probe (a remote Seed's
    // `status.clusters` is refreshed on its probe interval, not on the resync).
    let catch_up =
        cfg.settings.resync.max(cfg.settings.seed_probe_interval) + Duration::from_secs(5);
    let requests_before = servers.counts().await?;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let handle = start(servers.client(0, "fleetward")?, cfg);
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
    let reconcile_requests = servers.counts().await?.since(&requests_before);
    let seed_objects: usize = reconcile_requests.objects[1..].iter().sum();
    eprintln!(
        "reconciled with {} API requests and {reconcile_cpu:.0} s of process CPU; management server holds {} objects, seed servers {seed_objects}; load {}",
        reconcile_requests.total,
        reconcile_requests.objects[0],
        load_average()
    );
    if remote {
        let empty = reconcile_requests.objects[1..]
            .iter()
            .filter(|&&count| count <= 4)
            .count();
        anyhow::ensure!(empty == 0, "{empty} seed API servers hold no clusters");
    }
    let metrics = handle.metrics.render();
    let decisions: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("fleetward_decisions_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // Quiesce: wait (at most 10 minutes) until the controller's write counter stops moving for 5 s.
    let mut last = handle.metrics.total_writes();
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = handle.metrics.total_writes();
        if now == last {
            break;
        }
        last = now;
    }
    // Status catch-up writes (seed counts, tenant decision counters that moved after their last
    // reconcile) are real changes, not resync noise: let one resync and one seed probe pass.
    tokio::time::sleep(catch_up).await;
    let writes_by_kind = |m: String| {
        m.lines()
            .filter(|l| l.starts_with("fleetward_writes_total{"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let kinds_before = writes_by_kind(handle.metrics.render());
    let ctl_before = handle.metrics.total_writes();
    // The idle window (real time, at least two resync periods of 30 s) with nothing changing:
    // every request any API server answers in it is idle load. The bench itself makes none.
    eprintln!("idle window of {idle_secs} s; load {}", load_average());
    // Each write the idle window sees is named below (in-process servers only).
    let mut idle_writes: Vec<_> = match &servers {
        Servers::InProcess(emus) => emus.iter().map(Emulator::subscribe_writes).collect(),
        Servers::Child { .. } => Vec::new(),
    };
    let idle_before = servers.counts().await?;
    let idle_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle_secs.max(65))).await;
    let idle = servers.counts().await?.since(&idle_before);
    let idle_elapsed = idle_started.elapsed().as_secs_f64();
    let ctl_after = handle.metrics.total_writes();
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
    top.sort_by_key(|(_, _, count)| std::cmp::Reverse(*count));
    for (resource, verb, count) in top.iter().take(12) {
        eprintln!("  {count:>8} {verb} {resource}");
    }
    let watches = idle.by_verb.get("Watch").copied().unwrap_or(0);
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
        idle.writes,
        idle.total as f64 / idle_elapsed,
        idle.total,
    );
    if let Some(rss) = servers.child_peak_rss_mib() {
        eprintln!(
            "peak RSS: this process (controller + bench client) {:.0} MiB; server process {rss:.0} MiB",
            peak_rss_mib()
        );
    }
    handle.shutdown().await;
    Ok(())
}
