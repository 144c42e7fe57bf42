//! `fleetward emulator --seeds 3`: the built binary serves a management API server and three
//! seed API servers on 127.0.0.1; each written kubeconfig reaches its own server, the Seeds and
//! their kubeconfig Secrets are in the management server, and the real controller (default
//! `KubeconfigConnector`, over HTTP) provisions a cluster on its seed's server only.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use common::{Running, scratch};
use fleetward::emulator::seeds::{SECRET_KEY, SECRET_NAMESPACE, secret_name, seed_name};
use fleetward_controller::app::{ControllerConfig, start};
use fleetward_controller::core::provision::namespace_name;
use fleetward_controller::crd::{self, ManagedCluster, Seed, Tenant};
use fleetward_controller::wasm::EngineLoader;
use fleetward_engine::{Engine, EngineConfig};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::await_condition;
use serde_json::json;

const SEEDS: usize = 3;
const BUDGET: Duration = Duration::from_secs(120);

/// Starts `fleetward emulator --seeds 3` and waits (bounded) for its "ready" line.
fn serve(dir: &Path) -> Result<(Running, Vec<String>)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .args([
            "emulator",
            "--seeds",
            &SEEDS.to_string(),
            "--fake-infra",
            "--out-dir",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("run fleetward emulator")?;
    let stdout = child.stdout.take().context("stdout")?;
    let served = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(BUDGET)
            .context("no ready line from fleetward emulator")??;
        let ready = line.ends_with("(Ctrl-C to stop)");
        lines.push(line);
        if ready {
            return Ok((served, lines));
        }
    }
}

async fn client(kubeconfig: &Path) -> Result<(kube::Client, String)> {
    let kc = Kubeconfig::read_from(kubeconfig)?;
    let server = kc.clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.server.clone())
        .context("server URL")?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok((kube::Client::try_from(config)?, server))
}

fn server_in(kubeconfig: &str) -> Option<String> {
    let kc = Kubeconfig::from_yaml(kubeconfig).ok()?;
    kc.clusters.first()?.cluster.as_ref()?.server.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_seeds_serves_one_api_server_per_seed_and_the_controller_uses_them() -> Result<()>
{
    let dir = scratch("emulator-seeds");
    let (_served, lines) = serve(&dir)?;
    ensure!(lines.len() == SEEDS + 2, "unexpected output {lines:#?}");

    // Every kubeconfig reaches its own server: a marker written through one is seen only there.
    let mut servers = vec![("management".to_string(), dir.join("management.kubeconfig"))];
    for k in 1..=SEEDS {
        servers.push((
            seed_name(k),
            dir.join(format!("{}.kubeconfig", seed_name(k))),
        ));
    }
    let mut clients = Vec::new();
    for (name, path) in &servers {
        let (client, url) = client(path).await?;
        ensure!(url.starts_with("http://127.0.0.1:"), "{name}: {url}");
        let marker: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("marker-{name}")}}))?;
        Api::<ConfigMap>::default_namespaced(client.clone())
            .create(&PostParams::default(), &marker)
            .await?;
        clients.push((name.clone(), client, url));
    }
    for (name, client, _) in &clients {
        let names: Vec<String> = Api::<ConfigMap>::default_namespaced(client.clone())
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        ensure!(names == [format!("marker-{name}")], "{name} sees {names:?}");
    }

    // The Seeds and their Secrets are in the management server, each pointing at its server.
    let mgmt = clients[0].1.clone();
    let secrets: Api<Secret> = Api::namespaced(mgmt.clone(), SECRET_NAMESPACE);
    let seeds: Api<Seed> = Api::all(mgmt.clone());
    for (k, (name, _, url)) in clients.iter().enumerate().skip(1) {
        let seed = seeds.get(name).await?;
        let location = seed
            .spec
            .location
            .kubeconfig_secret
            .context("remote seed")?;
        ensure!(
            (location.namespace.as_str(), location.name.as_str())
                == (SECRET_NAMESPACE, secret_name(k).as_str())
        );
        let secret = secrets.get(&secret_name(k)).await?;
        let data = secret
            .data
            .and_then(|d| d.get(SECRET_KEY).cloned())
            .context("kubeconfig key")?;
        let in_secret = server_in(std::str::from_utf8(&data.0)?);
        ensure!(
            in_secret.as_deref() == Some(url.as_str()),
            "{name}: {in_secret:?} vs {url}"
        );
    }

    // The controller, as `fleetward run` would run it, provisions a cluster on its seed only.
    let ns: Namespace = serde_json::from_value(
        json!({"metadata": {"name": "team-a", "labels": {crd::TENANT_LABEL: "a"}}}),
    )?;
    Api::<Namespace>::all(mgmt.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let tenant: Tenant = serde_json::from_value(json!({"apiVersion": "fleetward.dev/v1alpha1",
        "kind": "Tenant", "metadata": {"name": "a"}, "spec": {}}))?;
    Api::<Tenant>::all(mgmt.clone())
        .create(&PostParams::default(), &tenant)
        .await?;
    let mc: ManagedCluster = serde_json::from_value(
        json!({"apiVersion": "fleetward.dev/v1alpha1",
        "kind": "ManagedCluster", "metadata": {"name": "c1", "namespace": "team-a"},
        "spec": {"tenant": "a", "version": "1.31.2", "nodePools": [{"name": "workers", "replicas": 1}]}}),
    )?;
    let mcs: Api<ManagedCluster> = Api::namespaced(mgmt.clone(), "team-a");
    mcs.create(&PostParams::default(), &mc).await?;

    let engine = Engine::new(EngineConfig::default())?;
    let controller = start(
        mgmt.clone(),
        ControllerConfig::new(Arc::new(EngineLoader::new(engine))),
    );
    let placed = tokio::time::timeout(
        BUDGET,
        await_condition(mcs.clone(), "c1", |mc: Option<&ManagedCluster>| {
            mc.and_then(|m| m.status.as_ref()?.seed.as_ref()).is_some()
        }),
    )
    .await
    .context("c1 not placed in time")??;
    let seed = placed
        .and_then(|m| m.status?.seed)
        .context("placed cluster without a seed")?;
    let seed_ns = namespace_name("a", "team-a", "c1");
    let Some((_, seed_client, _)) = clients.iter().find(|(n, _, _)| *n == seed) else {
        bail!("c1 placed on {seed}, not one of the served seeds");
    };
    tokio::time::timeout(
        BUDGET,
        await_condition(
            Api::<Namespace>::all(seed_client.clone()),
            &seed_ns,
            |ns: Option<&Namespace>| ns.is_some(),
        ),
    )
    .await
    .with_context(|| format!("{seed_ns} not created on {seed} in time"))??;
    for (name, client, _) in clients.iter().filter(|(n, _, _)| *n != seed) {
        let found = Api::<Namespace>::all(client.clone())
            .get_opt(&seed_ns)
            .await?;
        ensure!(found.is_none(), "{seed_ns} also on {name}");
    }
    controller.shutdown().await;
    Ok(())
}
