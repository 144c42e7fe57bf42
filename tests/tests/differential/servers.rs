//! The two servers under comparison, prepared identically: Fleetward's CRDs from
//! `deploy/crds.yaml` server-side applied and established. The real server also runs
//! kube-controller-manager's garbage collector and namespace controller, which the emulator
//! does synchronously.
//!
//! No step asks for "410 Gone, resourceVersion too old": the real server serves watches and
//! exact-resourceVersion lists from its watch cache, which keeps every change since it started
//! (compacting etcd underneath does not touch it; the first version of this test tried), so a
//! 410 cannot be produced on it deterministically within a test. The emulator's 410s are
//! covered by its own tests (`host/emulator/tests/api/watches.rs`); docs/emulator.md says so.

use anyhow::Result;
use fleetward_emulator::Emulator;
use fleetward_testenv::{Identity, TestCluster};
use fleetward_tests::{apply_manifest, repo_root, wait_crds_established};
use kube::Client;

/// One server and a client for it (an administrator).
pub struct Server {
    pub client: Client,
    // Kept alive for the test; dropping one stops its server.
    _emulator: Option<Emulator>,
    _cluster: Option<Box<TestCluster>>,
}

/// Installs Fleetward's CRDs as an operator would.
async fn install_crds(client: &Client) -> Result<()> {
    apply_manifest(client, &repo_root().join("deploy/crds.yaml")).await?;
    wait_crds_established(client).await
}

/// The emulator (real time: the real server sets the pace) with the CRDs installed.
///
/// # Errors
/// Installing the CRDs.
pub async fn emulator() -> Result<Server> {
    let emulator = Emulator::new();
    let client = emulator.client_with_user_agent("differential");
    install_crds(&client).await?;
    Ok(Server {
        client,
        _emulator: Some(emulator),
        _cluster: None,
    })
}

/// A real kube-apiserver with the garbage collector and namespace controller and the CRDs
/// installed, or `None` when this machine cannot run one (announced by testenv).
///
/// # Errors
/// Start-up failures, installing the CRDs.
pub async fn real(test: &str) -> Result<Option<Server>> {
    let Some(mut cluster) = TestCluster::start_or_skip(test).await? else {
        return Ok(None);
    };
    cluster
        .start_controller_manager(&["garbagecollector", "namespace"])
        .await?;
    let client = cluster.client(&Identity::admin()).await?;
    install_crds(&client).await?;
    Ok(Some(Server {
        client,
        _emulator: None,
        _cluster: Some(Box::new(cluster)),
    }))
}
