//! Shared helpers for Fleetward's end-to-end tests: an emulated management cluster with fake
//! infrastructure, the real controller on an in-process `kube::Client`, the reference policies
//! published as ConfigMaps, a decision ledger, and an invariant checker fed by *every* write the
//! emulator commits.
//!
//! All waiting is condition-based with a bounded virtual-time budget ([`Harness::wait_for`]);
//! tests run on a paused tokio clock, so minutes of fake machine rollouts take no real time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use fleetward_controller::app::{ControllerConfig, ControllerHandle, start};
use fleetward_controller::clock::VirtualClock;
use fleetward_controller::core::invariants::{self, ObservedCluster, Violation};
use fleetward_controller::core::provision::{
    LABEL_CLUSTER_NAME, LABEL_CLUSTER_NAMESPACE, LABEL_COMPONENT, LABEL_VERSION,
};
use fleetward_controller::crd::{self, ManagedCluster, TENANT_LABEL};
use fleetward_controller::decision::DecisionRecord;
use fleetward_controller::reconcile::Settings;
use fleetward_controller::wasm::EngineLoader;
use fleetward_emulator::infra::{FakeInfra, FakeInfraHandle, InfraClock, InfraTimings};
use fleetward_emulator::{Emulator, Verb, WriteEvent};
use fleetward_engine::{Engine, EngineConfig};
use fleetward_sdk::wire::{ClusterRef, KubeVersion, Timestamp, UpgradeLimits};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::broadcast::error::RecvError;

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

/// Every write the emulator committed, checked against the upgrade invariants as it happened.
#[derive(Debug, Default)]
pub struct WriteLedger {
    /// Observed versions per cluster.
    pub clusters: BTreeMap<ClusterRef, ObservedCluster>,
    /// Clusters with a step in flight, and their seed.
    pub in_flight: BTreeMap<ClusterRef, Option<String>>,
    /// Invariant violations seen, in order.
    pub violations: Vec<Violation>,
    /// Writes seen.
    pub writes: u64,
    /// Version changes seen: (cluster, target, from, to), in commit order.
    pub version_changes: Vec<(ClusterRef, String, KubeVersion, KubeVersion)>,
    /// Most steps in flight at once per tenant namespace.
    pub max_in_flight_per_namespace: BTreeMap<String, usize>,
    /// Set when the subscription lagged (the check would be incomplete: tests must fail).
    pub lagged: bool,
}

impl WriteLedger {
    fn apply(&mut self, ev: &WriteEvent, limits: &UpgradeLimits) {
        self.writes += 1;
        let labels = &ev.object["metadata"]["labels"];
        let deleted = matches!(ev.verb, Verb::Delete);
        if ev.kind == "ManagedCluster" {
            let id = ClusterRef::new(ev.namespace.clone().unwrap_or_default(), ev.name.clone());
            let st = &ev.object["status"];
            if !deleted && !st["inProgress"].is_null() {
                self.in_flight
                    .insert(id.clone(), st["seed"].as_str().map(String::from));
                let n = self
                    .in_flight
                    .keys()
                    .filter(|k| k.namespace == id.namespace)
                    .count();
                let m = self
                    .max_in_flight_per_namespace
                    .entry(id.namespace.clone())
                    .or_default();
                *m = (*m).max(n);
                let up: Vec<_> = self
                    .in_flight
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                self.violations
                    .extend(invariants::check_concurrency(&up, limits));
            } else {
                self.in_flight.remove(&id);
            }
            return;
        }
        let (Some(ns), Some(name)) = (
            labels[LABEL_CLUSTER_NAMESPACE].as_str(),
            labels[LABEL_CLUSTER_NAME].as_str(),
        ) else {
            return;
        };
        let id = ClusterRef::new(ns, name);
        let (target, version) = match ev.kind.as_str() {
            "Deployment" | "StatefulSet" => {
                let Some(c) = labels[LABEL_COMPONENT].as_str() else {
                    return;
                };
                (format!("control-plane/{c}"), labels[LABEL_VERSION].as_str())
            }
            "MachineDeployment" => (
                format!("pool/{}", ev.name),
                ev.object["spec"]["template"]["spec"]["version"].as_str(),
            ),
            _ => return,
        };
        let Some(version) = version.and_then(|v| KubeVersion::parse(v).ok()) else {
            return;
        };
        let before = self
            .clusters
            .entry(id.clone())
            .or_insert_with(|| ObservedCluster {
                id: id.clone(),
                control_plane: BTreeMap::new(),
                pools: BTreeMap::new(),
            })
            .clone();
        let mut after = before.clone();
        let (map, key) = match target.split_once('/') {
            Some(("control-plane", c)) => (&mut after.control_plane, c.to_string()),
            Some((_, p)) => (&mut after.pools, p.to_string()),
            None => return,
        };
        if deleted {
            map.remove(&key);
        } else {
            let prev = map.insert(key, version);
            if let Some(prev) = prev.filter(|p| *p != version) {
                self.version_changes
                    .push((id.clone(), target, prev, version));
            }
        }
        self.violations
            .extend(invariants::check_transition(&before, &after));
        self.violations
            .extend(invariants::check_cluster_state(&after));
        self.clusters.insert(id, after);
    }
}

/// One emulated management cluster with fake infra, the controller, a decision ledger and the
/// write checker.
pub struct Harness {
    /// The emulator.
    pub emu: Emulator,
    /// A client for the test's own requests.
    pub client: Client,
    /// The fake kubelet / Cluster API.
    pub infra: FakeInfraHandle,
    /// Every decision record, in order.
    pub decisions: Arc<Mutex<Vec<DecisionRecord>>>,
    /// Every write, checked.
    pub ledger: Arc<Mutex<WriteLedger>>,
    /// The controller's safety settings.
    pub settings: Settings,
    controller: Option<ControllerHandle>,
    engine: Engine,
    clock: VirtualClock,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
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
        let mut rx = emu.subscribe_writes();
        let l = ledger.clone();
        let limits = settings.upgrade_limits.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        if let Ok(mut l) = l.lock() {
                            l.apply(&ev, &limits);
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        if let Ok(mut l) = l.lock() {
                            l.lagged = true;
                        }
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
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
            emu,
            client,
            infra,
            decisions: Default::default(),
            ledger,
            settings,
            controller: None,
            engine,
            clock: VirtualClock::starting_at(base),
        })
    }

    /// Starts (or restarts) the controller with a fresh decision channel.
    pub fn start_controller(&mut self) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut cfg = ControllerConfig::new(Arc::new(EngineLoader::new(self.engine.clone())));
        cfg.clock = Arc::new(self.clock);
        cfg.decision_sink = Some(tx);
        cfg.settings = self.settings.clone();
        let decisions = self.decisions.clone();
        tokio::spawn(async move {
            while let Some(d) = rx.recv().await {
                if let Ok(mut v) = decisions.lock() {
                    v.push(d);
                }
            }
        });
        self.controller = Some(start(self.emu.client_with_user_agent("fleetward"), cfg));
    }

    /// Stops the controller (graceful).
    pub async fn stop_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.shutdown().await;
        }
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

    /// Polls `check` every virtual second until it returns `Some`, for at most `budget` of virtual
    /// time. Fails with `what` and the last observation otherwise.
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
                    Some(e) => bail!(
                        "timed out after {budget:?} (virtual) waiting for {what}; last error: {e:#}"
                    ),
                    None => bail!("timed out after {budget:?} (virtual) waiting for {what}"),
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
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
                                && s.control_plane_version.as_deref() == Some(version)
                                && s.in_progress.is_none()
                                && s.node_pools.iter().all(|p| p.version == version)
                        })
                    });
                Ok(done.then_some(all))
            },
        )
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
