//! Shared helpers for Fleetward's end-to-end tests: a management cluster — the emulator or a
//! real kube-apiserver ([`Backend`]) — with fake infrastructure, the real controller on a
//! `kube::Client`, the reference policies published as ConfigMaps, a decision ledger, and an
//! invariant checker fed by every committed write ([`WriteLedger`]).
//!
//! All waiting is condition-based with a bounded budget ([`Harness::wait_for`]). On the emulator
//! tests run on a paused tokio clock, so minutes of fake machine rollouts take no real time; on
//! the real API server they run in real time with a faster fake infrastructure.

mod backend;
pub mod events;
pub mod kubectl;
mod ledger;
pub mod logs;
pub mod rbac;
mod seeds;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use fleetward_controller::app::{ControllerConfig, ControllerHandle, start};
use fleetward_controller::clock::{Clock, SystemClock, VirtualClock};
use fleetward_controller::core::invariants::Violation;
use fleetward_controller::crd::{self, ManagedCluster, TENANT_LABEL};
use fleetward_controller::decision::DecisionRecord;
use fleetward_controller::reconcile::Settings;
use fleetward_controller::wasm::EngineLoader;
use fleetward_emulator::Emulator;
use fleetward_emulator::infra::{FakeInfra, FakeInfraHandle, InfraClock, InfraTimings};
use fleetward_engine::{Engine, EngineConfig};
use fleetward_sdk::wire::{ClusterRef, KubeVersion, Timestamp, UpgradeLimits};
use fleetward_testenv::{Identity, TestCluster};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::broadcast::error::RecvError;

pub use backend::{
    Backend, CONTROLLER_SERVICE_ACCOUNT, OPERATOR_FIELD_MANAGER, apply_manifest, read_manifest,
    repo_root, wait_crds_established,
};
pub use ledger::{ObservedWrite, WriteLedger};
pub use seeds::{RemoteSeed, SEED_SERVICE_ACCOUNT, SeedChild, fleetward_children};

/// Namespace holding the policy ConfigMaps.
pub const POLICY_NAMESPACE: &str = "fleetward-system";

/// A tenant's policy for one decision kind.
#[derive(Clone, Debug)]
pub struct PolicySpec {
    /// Module bytes.
    pub bytes: Vec<u8>,
    /// Config JSON.
    pub config: Value,
    /// `Fallback` or `Hold`.
    pub failure_mode: &'static str,
    /// Extra limits JSON (`{"timeoutMs": 5}`), or null.
    pub limits: Value,
}

impl PolicySpec {
    /// A policy from a file with a config and `Fallback`.
    pub fn file(path: &str, config: Value) -> Self {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading policy {path}: {e}"));
        PolicySpec {
            bytes,
            config,
            failure_mode: "Fallback",
            limits: Value::Null,
        }
    }

    /// The same policy with another failure mode.
    pub fn failure_mode(mut self, mode: &'static str) -> Self {
        self.failure_mode = mode;
        self
    }

    /// The same policy with limits.
    pub fn limits(mut self, limits: Value) -> Self {
        self.limits = limits;
        self
    }
}

/// The policies of a tenant.
#[derive(Clone, Debug, Default)]
pub struct TenantPolicies {
    /// Placement.
    pub placement: Option<PolicySpec>,
    /// Upgrade ordering.
    pub upgrade_ordering: Option<PolicySpec>,
    /// Remediation.
    pub remediation: Option<PolicySpec>,
}

/// A management cluster — the emulator or a real API server — with fake infrastructure, the
/// controller, a decision ledger and the write checker.
pub struct Harness {
    /// A client for the test's own requests (an administrator).
    pub client: Client,
    /// The fake kubelet / Cluster API.
    pub infra: FakeInfraHandle,
    /// Every decision record, in order.
    pub decisions: Arc<Mutex<Vec<DecisionRecord>>>,
    /// Every write, checked.
    pub ledger: Arc<Mutex<WriteLedger>>,
    /// The controller's safety settings.
    pub settings: Settings,
    /// Adjusts the controller's configuration at each [`Harness::start_controller`] (default
    /// none), e.g. a decision log and the metrics registry it counts drops in.
    pub configure: Option<ConfigureController>,
    controller: Option<ControllerHandle>,
    controller_client: Client,
    engine: Engine,
    clock: Arc<dyn Clock>,
    // Before `server`: a seed's fake infra and watches stop before the management server.
    remote_seeds: Vec<RemoteSeed>,
    // Last, so it drops last: the controller and fake infra stop before their API server.
    server: Server,
}

/// A change to the controller's configuration ([`Harness::configure`]).
pub type ConfigureController = Box<dyn Fn(&mut ControllerConfig) + Send + Sync>;

/// The API server behind a [`Harness`].
enum Server {
    Emulator(Emulator),
    Real(Box<TestCluster>),
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

fn tests_settings() -> Settings {
    Settings {
        upgrade_limits: UpgradeLimits {
            max_concurrent: 4,
            max_concurrent_per_seed: 2,
        },
        ..Settings::default()
    }
}

/// How fast the fake infrastructure moves on the real API server (real time): fast enough for a
/// rollout in seconds, slow enough that a control plane visibly rolls before its pools.
fn real_infra_timings() -> InfraTimings {
    InfraTimings {
        workload_ready: Duration::from_secs(1),
        machine_ready: Duration::from_secs(2),
        machine_delete: Duration::from_secs(1),
        retry_backoff: Duration::from_millis(200),
        clock: InfraClock::System,
        ..InfraTimings::default()
    }
}

/// Feeds `ledger` from every write `emu` commits, until the emulator goes away.
fn feed_ledger(emu: &Emulator, ledger: Arc<Mutex<WriteLedger>>, limits: UpgradeLimits) {
    let mut rx = emu.subscribe_writes();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    if let Ok(mut l) = ledger.lock() {
                        l.apply(&ObservedWrite::from(&ev), &limits);
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    if let Ok(mut l) = ledger.lock() {
                        l.lagged = true;
                    }
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

impl Harness {
    /// An emulator with the CRDs installed, the policy namespace, and fake infra running.
    ///
    /// # Errors
    /// API failures.
    pub async fn new() -> Result<Harness> {
        Self::with_settings(tests_settings()).await
    }

    /// Same with custom controller settings.
    ///
    /// # Errors
    /// API failures.
    pub async fn with_settings(settings: Settings) -> Result<Harness> {
        let emu = Emulator::new();
        let client = emu.client_with_user_agent("e2e-test");
        let ledger = Arc::new(Mutex::new(WriteLedger::default()));
        feed_ledger(&emu, ledger.clone(), settings.upgrade_limits.clone());
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for c in crd::crds() {
            crds.create(&PostParams::default(), &c)
                .await
                .context("installing CRDs")?;
        }
        let ns: Api<Namespace> = Api::all(client.clone());
        ns.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": POLICY_NAMESPACE}}))?,
        )
        .await?;
        let base = Timestamp(emu.now().as_second());
        let infra_clock = InfraClock::Anchored {
            origin: emu.now(),
            at: tokio::time::Instant::now(),
        };
        let timings = InfraTimings {
            clock: infra_clock,
            ..InfraTimings::default()
        };
        let infra = FakeInfra::start(emu.client_with_user_agent("fake-infra"), timings);
        let engine = Engine::new(EngineConfig::default())?;
        Ok(Harness {
            controller_client: emu.client_with_user_agent("fleetward"),
            server: Server::Emulator(emu),
            client,
            infra,
            decisions: Default::default(),
            ledger,
            settings,
            configure: None,
            controller: None,
            engine,
            clock: Arc::new(VirtualClock::starting_at(base)),
            remote_seeds: Vec::new(),
        })
    }

    /// A harness on `backend` with the default test settings, or `None` when that backend
    /// cannot exist on this machine (the real API server without Go; announced loudly).
    ///
    /// # Errors
    /// Start-up or API failures; a control plane that could be built but is not.
    pub async fn on(backend: Backend, test: &str) -> Result<Option<Harness>> {
        Self::on_with_settings(backend, test, tests_settings()).await
    }

    /// [`Harness::on`] with custom controller settings.
    ///
    /// # Errors
    /// As [`Harness::on`].
    pub async fn on_with_settings(
        backend: Backend,
        test: &str,
        settings: Settings,
    ) -> Result<Option<Harness>> {
        match backend {
            Backend::Emulator => Ok(Some(Self::with_settings(settings).await?)),
            Backend::RealApiServer => Self::real(test, settings).await,
        }
    }

    /// A real kube-apiserver (own etcd prefix) with kube-controller-manager's garbage collector
    /// and namespace controller; CRDs, namespace and RBAC applied from `deploy/`; the controller
    /// as the `fleetward-controller` ServiceAccount.
    async fn real(test: &str, settings: Settings) -> Result<Option<Harness>> {
        let Some(mut cluster) = TestCluster::start_or_skip(test).await? else {
            return Ok(None);
        };
        cluster
            .start_controller_manager(&["garbagecollector", "namespace"])
            .await?;
        let client = cluster.client(&Identity::admin()).await?;
        let deploy = repo_root().join("deploy");
        apply_manifest(&client, &deploy.join("crds.yaml")).await?;
        apply_manifest(&client, &repo_root().join("testenv/crds/cluster-api.json")).await?;
        apply_manifest(&client, &deploy.join("namespace.yaml")).await?;
        apply_manifest(&client, &deploy.join("rbac.yaml")).await?;
        wait_crds_established(&client).await?;
        let ledger = Arc::new(Mutex::new(WriteLedger::default()));
        backend::watch_writes(&client, ledger.clone(), settings.upgrade_limits.clone()).await?;
        let (sa_ns, sa_name) = CONTROLLER_SERVICE_ACCOUNT;
        let controller_client = cluster
            .client(&Identity::service_account(sa_ns, sa_name))
            .await?;
        let infra = FakeInfra::start(client.clone(), real_infra_timings());
        let engine = Engine::new(EngineConfig::default())?;
        Ok(Some(Harness {
            server: Server::Real(Box::new(cluster)),
            client,
            infra,
            decisions: Default::default(),
            ledger,
            settings,
            configure: None,
            controller: None,
            controller_client,
            engine,
            clock: Arc::new(SystemClock),
            remote_seeds: Vec::new(),
        }))
    }

    /// Which API server this harness runs against.
    pub fn backend(&self) -> Backend {
        match self.server {
            Server::Emulator(_) => Backend::Emulator,
            Server::Real(_) => Backend::RealApiServer,
        }
    }

    /// The emulator, for scenarios that inject API faults or need its internals.
    ///
    /// # Panics
    /// On the real API server: such a scenario is emulator-only.
    pub fn emu(&self) -> &Emulator {
        match &self.server {
            Server::Emulator(e) => e,
            Server::Real(_) => panic!("this scenario needs the emulator (API fault injection)"),
        }
    }

    /// The real API server's test cluster, if this harness runs on one.
    pub fn real_cluster(&self) -> Option<&TestCluster> {
        match &self.server {
            Server::Real(c) => Some(c),
            Server::Emulator(_) => None,
        }
    }

    /// Starts (or restarts) the controller with a fresh decision channel.
    pub fn start_controller(&mut self) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut cfg = ControllerConfig::new(Arc::new(EngineLoader::new(self.engine.clone())));
        cfg.clock = self.clock.clone();
        cfg.decision_sink = Some(tx);
        cfg.settings = self.settings.clone();
        if let Some(connector) = self.seed_connector() {
            cfg.seed_connector = connector;
        }
        if let Some(configure) = &self.configure {
            configure(&mut cfg);
        }
        let decisions = self.decisions.clone();
        tokio::spawn(async move {
            while let Some(d) = rx.recv().await {
                if let Ok(mut v) = decisions.lock() {
                    v.push(d);
                }
            }
        });
        self.controller = Some(start(self.controller_client.clone(), cfg));
    }

    /// Stops the controller (graceful).
    pub async fn stop_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.shutdown().await;
        }
    }

    /// The client the controller runs on (on the real API server: the deploy/ ServiceAccount).
    pub fn controller_client(&self) -> &Client {
        &self.controller_client
    }

    /// The running controller.
    pub fn controller(&self) -> Option<&ControllerHandle> {
        self.controller.as_ref()
    }

    /// Creates a Tenant, its namespace `tenant-<name>` (labelled), and ConfigMaps for its modules.
    ///
    /// # Errors
    /// API failures.
    pub async fn tenant(&self, name: &str, policies: TenantPolicies) -> Result<()> {
        let ns: Api<Namespace> = Api::all(self.client.clone());
        ns.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": format!("tenant-{name}"), "labels": {TENANT_LABEL: name}}}))?).await?;
        let mut spec = serde_json::Map::new();
        for (field, kind, p) in [
            ("placement", "placement", &policies.placement),
            (
                "upgradeOrdering",
                "upgrade-ordering",
                &policies.upgrade_ordering,
            ),
            ("remediation", "remediation", &policies.remediation),
        ] {
            let Some(p) = p else { continue };
            let cm_name = format!("{name}-{kind}");
            self.put_module(&cm_name, &p.bytes).await?;
            let mut b = json!({
                "module": {"configMap": {"namespace": POLICY_NAMESPACE, "name": cm_name, "key": "policy.wasm"}},
                "sha256": format!("sha256:{}", hex::encode(Sha256::digest(&p.bytes))),
                "config": p.config,
                "failureMode": p.failure_mode,
            });
            if !p.limits.is_null() {
                b["limits"] = p.limits.clone();
            }
            spec.insert(field.into(), b);
        }
        let t: crd::Tenant = serde_json::from_value(
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": spec}),
        )?;
        Api::<crd::Tenant>::all(self.client.clone())
            .create(&PostParams::default(), &t)
            .await
            .context("creating tenant")?;
        Ok(())
    }

    /// Creates or replaces the ConfigMap holding a module.
    ///
    /// # Errors
    /// API failures.
    pub async fn put_module(&self, cm_name: &str, bytes: &[u8]) -> Result<()> {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), POLICY_NAMESPACE);
        let cm = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(cm_name.into()),
                ..Default::default()
            },
            binary_data: Some([("policy.wasm".to_string(), ByteString(bytes.to_vec()))].into()),
            ..Default::default()
        };
        cms.patch(
            cm_name,
            &PatchParams::apply("e2e-test").force(),
            &Patch::Apply(&cm),
        )
        .await?;
        Ok(())
    }

    /// Creates a Seed.
    ///
    /// # Errors
    /// API failures.
    pub async fn seed(&self, name: &str, region: &str, capacity: u32) -> Result<()> {
        let s: crd::Seed = serde_json::from_value(
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "Seed", "metadata": {"name": name},
            "spec": {"region": region, "provider": "aws", "zone": format!("{region}-a"), "capacity": capacity, "minVersion": "1.29", "maxVersion": "1.34"}}),
        )?;
        Api::<crd::Seed>::all(self.client.clone())
            .create(&PostParams::default(), &s)
            .await
            .context("creating seed")?;
        Ok(())
    }

    /// Creates a ManagedCluster `tenant-<tenant>/<name>` with one pool `workers` of 2 machines.
    ///
    /// # Errors
    /// API failures.
    pub async fn cluster(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
        labels: Value,
    ) -> Result<()> {
        let mc: ManagedCluster = serde_json::from_value(
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
            "metadata": {"name": name, "namespace": format!("tenant-{tenant}")},
            "spec": {"tenant": tenant, "version": version, "labels": labels, "nodePools": [{"name": "workers", "replicas": 2}]}}),
        )?;
        self.clusters_in(tenant)
            .create(&PostParams::default(), &mc)
            .await
            .with_context(|| format!("creating cluster {name}"))?;
        Ok(())
    }

    /// ManagedCluster API of a tenant's namespace.
    pub fn clusters_in(&self, tenant: &str) -> Api<ManagedCluster> {
        Api::namespaced(self.client.clone(), &format!("tenant-{tenant}"))
    }

    /// All ManagedClusters.
    ///
    /// # Errors
    /// API failures.
    pub async fn all_clusters(&self) -> Result<Vec<ManagedCluster>> {
        Ok(Api::<ManagedCluster>::all(self.client.clone())
            .list(&ListParams::default())
            .await?
            .items)
    }

    /// Polls `check` every [`Harness::poll_interval`] until it returns `Some`, for at most `budget`
    /// (virtual time on the emulator, real time on the real API server). Fails with `what` and
    /// the last observation otherwise.
    ///
    /// # Errors
    /// Timeout, or an error from `check`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, budget: Duration, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let deadline = tokio::time::Instant::now() + budget;
        let mut last_error = None;
        loop {
            // API errors (injected faults) count as "not yet"; the last one is reported on timeout.
            match check().await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last_error = Some(e),
            }
            if tokio::time::Instant::now() >= deadline {
                match last_error {
                    Some(e) => {
                        bail!("timed out after {budget:?} waiting for {what}; last error: {e:#}")
                    }
                    None => bail!("timed out after {budget:?} waiting for {what}"),
                }
            }
            tokio::time::sleep(self.poll_interval()).await;
        }
    }

    /// How often [`Harness::wait_for`] looks: every virtual second on the emulator, five times a
    /// real second on the real API server.
    pub fn poll_interval(&self) -> Duration {
        if self.backend().has_virtual_time() {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(200)
        }
    }

    /// Waits until every cluster is Running at `version` (control plane and pools).
    ///
    /// # Errors
    /// Timeout.
    pub async fn wait_all_at(
        &self,
        version: &str,
        count: usize,
        budget: Duration,
    ) -> Result<Vec<ManagedCluster>> {
        self.wait_for(
            &format!("{count} clusters Running at {version}"),
            budget,
            || async {
                let all = self.all_clusters().await?;
                let done = all.len() == count
                    && all.iter().all(|c| {
                        c.status.as_ref().is_some_and(|s| {
                            s.phase == crd::Phase::Running
                                && s.control_plane_version
                                    .is_some_and(|v| v.to_string() == version)
                                && s.in_progress.is_none()
                                && s.node_pools
                                    .iter()
                                    .all(|p| p.version.to_string() == version)
                        })
                    });
                Ok(done.then_some(all))
            },
        )
        .await
    }

    /// Waits until every Seed's `status.clusters` counts the clusters placed on it. A Seed is
    /// reconciled when one of its clusters changes, so its count can be written just after the
    /// last cluster settled; a test that wants to see a quiet fleet waits for this first, or it
    /// counts that catch-up write as noise. (Tenant `status.decisions` counters are refreshed on
    /// the Tenant's own reconcile, at the resync period, and are not waited for.)
    ///
    /// # Errors
    /// Timeout or API failures.
    pub async fn wait_seed_counts_caught_up(&self, budget: Duration) -> Result<()> {
        self.wait_for("Seed status.clusters caught up", budget, || async {
            let clusters = self.all_clusters().await?;
            let seeds = Api::<crd::Seed>::all(self.client.clone())
                .list(&ListParams::default())
                .await?
                .items;
            // A mismatch is returned as an error so a timeout names what never caught up.
            let mut behind = Vec::new();
            for s in &seeds {
                let placed = clusters
                    .iter()
                    .filter(|c| {
                        c.status.as_ref().and_then(|st| st.seed.as_deref())
                            == Some(s.name_any().as_str())
                    })
                    .count();
                let shown = s.status.as_ref().map_or(0, |st| st.clusters as usize);
                if shown != placed {
                    behind.push(format!(
                        "seed {}: status.clusters {shown}, placed {placed}",
                        s.name_any()
                    ));
                }
            }
            if behind.is_empty() {
                Ok(Some(()))
            } else {
                bail!("{}", behind.join("; "))
            }
        })
        .await
    }

    /// Violations the write checker saw (fails if its subscription lagged).
    ///
    /// # Errors
    /// When the ledger could not see every write.
    pub fn violations(&self) -> Result<Vec<Violation>> {
        let l = self
            .ledger
            .lock()
            .map_err(|_| anyhow::anyhow!("ledger poisoned"))?;
        if l.lagged {
            bail!("the write subscription lagged: not every write was checked");
        }
        Ok(l.violations.clone())
    }

    /// Decision records so far.
    pub fn decisions(&self) -> Vec<DecisionRecord> {
        self.decisions.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Names of the clusters a tenant's upgrade steps started on, in order, from the write ledger.
    pub fn version_changes(&self) -> Vec<(ClusterRef, String, KubeVersion, KubeVersion)> {
        self.ledger
            .lock()
            .map(|l| l.version_changes.clone())
            .unwrap_or_default()
    }

    /// Most steps in flight at once in a tenant namespace.
    pub fn max_in_flight(&self, namespace: &str) -> usize {
        self.ledger
            .lock()
            .map(|l| {
                l.max_in_flight_per_namespace
                    .get(namespace)
                    .copied()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// Bumps every cluster's `spec.version`.
    ///
    /// # Errors
    /// API failures.
    pub async fn bump_all(&self, version: &str) -> Result<()> {
        let all = self
            .wait_for("listing clusters", Duration::from_secs(60), || async {
                Ok(Some(self.all_clusters().await?))
            })
            .await?;
        for c in all {
            let api: Api<ManagedCluster> =
                Api::namespaced(self.client.clone(), &c.namespace().unwrap_or_default());
            api.patch(
                &c.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"version": version}})),
            )
            .await?;
        }
        Ok(())
    }

    /// Distinct clusters whose control plane changed version, in the order they first did.
    pub fn cp_upgrade_order(&self, namespace: &str) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.version_changes()
            .into_iter()
            .filter(|(c, t, _, _)| c.namespace == namespace && t == "control-plane/kube-apiserver")
            .filter_map(|(c, _, _, _)| seen.insert(c.name.clone()).then_some(c.name))
            .collect()
    }

    /// The namespace label value helper for tests.
    pub fn cluster_name(mc: &ManagedCluster) -> String {
        mc.name_any()
    }
}
