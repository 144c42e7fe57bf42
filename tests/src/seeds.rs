//! Remote seeds for end-to-end scenarios: each Seed with its own API server, reached through a
//! kubeconfig Secret in the management server, as `spec.location.kubeconfigSecret` describes.
//!
//! - On the emulator every seed is a separate [`Emulator`] (its own store and clock-anchored fake
//!   kubelet / Cluster API, like the management emulator's) with a made-up server URL
//!   (`https://<seed>.emulator.test`). The Secret holds a real kubeconfig for that URL
//!   ([`token_kubeconfig`]); the controller gets an [`InProcessConnector`] mapping each URL to
//!   the seed's in-process client, so the Secret, its parsing and its errors are the real ones
//!   while requests stay in-process on the paused clock. Outages are the seed emulator's
//!   ([`Faults::begin_outage`](fleetward_emulator::Faults::begin_outage)).
//! - On the real API server every seed is another kube-apiserver (`TestCluster`, over the test
//!   binary's shared etcd under its own prefix, ~3 s each) with the Cluster API CRDs and
//!   `deploy/seed/` applied, and its own fake infrastructure. The Secret holds a client
//!   certificate kubeconfig for the `fleetward-seed` ServiceAccount, which has only
//!   `deploy/seed/rbac.yaml`; the controller uses the production `KubeconfigConnector`.
//!   kube-controller-manager runs its namespace controller and garbage collector on every real
//!   seed, so a cluster's namespace deleted there really goes.
//!
//! Every seed's child writes feed the same [`WriteLedger`](crate::WriteLedger) as the
//! management server's ManagedCluster writes, so invariants are checked across servers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use fleetward_controller::core::provision::{
    LABEL_CLUSTER_NAME, LABEL_CLUSTER_NAMESPACE, LABEL_MANAGED_BY,
};
use fleetward_controller::crd::{self, Condition, ConditionStatus, ManagedCluster};
use fleetward_controller::seeds::{InProcessConnector, SeedConnector, token_kubeconfig};
use fleetward_emulator::Emulator;
use fleetward_emulator::infra::{FakeInfra, FakeInfraHandle, InfraClock, InfraTimings};
use fleetward_sdk::wire::UpgradeLimits;
use fleetward_testenv::{Identity, TestCluster};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::backend::{self, apply_manifest, repo_root, wait_crds_established};
use crate::{Backend, Harness, POLICY_NAMESPACE, WriteLedger, feed_ledger, real_infra_timings};

/// The ServiceAccount `deploy/seed/rbac.yaml` creates and binds on a seed (the identity of a real
/// seed's kubeconfig).
pub const SEED_SERVICE_ACCOUNT: (&str, &str) = ("fleetward-system", "fleetward-seed");

/// The Secret data key the harness stores kubeconfigs under (the Seed API's default).
pub const KUBECONFIG_KEY: &str = "kubeconfig";

/// One remote seed's API server, its fake infrastructure, and a working kubeconfig for it.
pub struct RemoteSeed {
    /// The Seed's name.
    pub name: String,
    /// Its region (also what clusters created by [`Harness::cluster_in_region`] ask for).
    pub region: String,
    /// The server URL in its kubeconfig.
    pub url: String,
    /// An administrator client on the seed's server (the test's own reads).
    pub client: Client,
    /// The seed's fake kubelet / Cluster API.
    pub infra: FakeInfraHandle,
    kubeconfig: String,
    /// What the in-process connector hands the controller (emulator only).
    controller_client: Option<Client>,
    // Last: the fake infra stops before its server.
    server: SeedServer,
}

enum SeedServer {
    Emulator(Emulator),
    Real(Box<TestCluster>),
}

impl std::fmt::Debug for RemoteSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSeed")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// An object Fleetward created on a server (labelled `app.kubernetes.io/managed-by=fleetward`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeedChild {
    /// `Namespace`, `Service`, `Deployment`, `StatefulSet`, `MachineDeployment`.
    pub kind: &'static str,
    /// Its namespace (none for a Namespace).
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The owning ManagedCluster, `namespace/name`, from its labels (empty if unlabelled).
    pub cluster: String,
}

/// The kinds Fleetward provisions on a seed.
fn child_kinds() -> Vec<(ApiResource, &'static str)> {
    let mut kinds = vec![
        (
            backend::kind("", "v1", "Namespace", "namespaces"),
            "Namespace",
        ),
        (backend::kind("", "v1", "Service", "services"), "Service"),
    ];
    kinds.extend(backend::workload_kinds());
    kinds
}

/// Every object Fleetward provisioned on the server behind `client`, of every child kind.
///
/// # Errors
/// API failures.
pub async fn fleetward_children(client: &Client) -> Result<BTreeSet<SeedChild>> {
    let mut out = BTreeSet::new();
    let lp = ListParams::default().labels(&format!("{LABEL_MANAGED_BY}=fleetward"));
    for (ar, kind) in child_kinds() {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        for o in api
            .list(&lp)
            .await
            .with_context(|| format!("listing {kind}"))?
            .items
        {
            let labels = o.labels();
            let cluster = match (
                labels.get(LABEL_CLUSTER_NAMESPACE),
                labels.get(LABEL_CLUSTER_NAME),
            ) {
                (Some(ns), Some(n)) => format!("{ns}/{n}"),
                _ => String::new(),
            };
            out.insert(SeedChild {
                kind,
                namespace: o.namespace(),
                name: o.name_any(),
                cluster,
            });
        }
    }
    Ok(out)
}

impl RemoteSeed {
    /// A seed emulator with its own fake infrastructure, its writes fed into `ledger`.
    fn emulated(
        name: &str,
        region: &str,
        ledger: &Arc<Mutex<WriteLedger>>,
        limits: &UpgradeLimits,
    ) -> RemoteSeed {
        let emu = Emulator::new();
        feed_ledger(&emu, ledger.clone(), limits.clone());
        let timings = InfraTimings {
            clock: InfraClock::Anchored {
                origin: emu.now(),
                at: tokio::time::Instant::now(),
            },
            ..InfraTimings::default()
        };
        let infra = FakeInfra::start(emu.client_with_user_agent("fake-infra"), timings);
        let url = format!("https://{name}.emulator.test");
        RemoteSeed {
            name: name.into(),
            region: region.into(),
            kubeconfig: token_kubeconfig(name, &url, "e2e-seed-token"),
            url,
            client: emu.client_with_user_agent("e2e-test"),
            infra,
            controller_client: Some(emu.client_with_user_agent("fleetward")),
            server: SeedServer::Emulator(emu),
        }
    }

    /// Another real kube-apiserver with kube-controller-manager (namespace controller, garbage
    /// collector), the Cluster API CRDs, `deploy/seed/` and fake infrastructure; its writes fed into `ledger`.
    async fn real(
        name: &str,
        region: &str,
        management: &TestCluster,
        ledger: &Arc<Mutex<WriteLedger>>,
        limits: &UpgradeLimits,
    ) -> Result<RemoteSeed> {
        let mut cluster = TestCluster::start_with(management.binary().to_path_buf())
            .await
            .with_context(|| format!("starting seed {name}'s API server"))?;
        cluster
            .start_controller_manager(&["garbagecollector", "namespace"])
            .await?;
        let client = cluster.client(&Identity::admin()).await?;
        apply_manifest(&client, &repo_root().join("testenv/crds/cluster-api.json")).await?;
        let seed_deploy = repo_root().join("deploy/seed");
        apply_manifest(&client, &seed_deploy.join("namespace.yaml")).await?;
        apply_manifest(&client, &seed_deploy.join("rbac.yaml")).await?;
        wait_crds_established(&client).await?;
        backend::watch_seed_writes(&client, ledger.clone(), limits.clone()).await?;
        let infra = FakeInfra::start(client.clone(), real_infra_timings());
        let (ns, sa) = SEED_SERVICE_ACCOUNT;
        let kubeconfig = cluster
            .server()
            .kubeconfig(&Identity::service_account(ns, sa))?
            .to_string();
        Ok(RemoteSeed {
            name: name.into(),
            region: region.into(),
            url: cluster.server().url(),
            client,
            infra,
            kubeconfig,
            controller_client: None,
            server: SeedServer::Real(Box::new(cluster)),
        })
    }

    /// The seed's emulator (outages).
    ///
    /// # Panics
    /// On the real API server backend.
    pub fn emu(&self) -> &Emulator {
        match &self.server {
            SeedServer::Emulator(e) => e,
            SeedServer::Real(_) => panic!("this scenario needs seed emulators (outages)"),
        }
    }

    /// The seed's real API server, on that backend.
    pub fn real_cluster(&self) -> Option<&TestCluster> {
        match &self.server {
            SeedServer::Real(c) => Some(c),
            SeedServer::Emulator(_) => None,
        }
    }

    /// A kubeconfig the controller can use for this seed (what its Secret holds at first).
    pub fn kubeconfig(&self) -> &str {
        &self.kubeconfig
    }

    /// The name of this seed's kubeconfig Secret (in [`POLICY_NAMESPACE`]).
    pub fn secret_name(&self) -> String {
        secret_name(&self.name)
    }

    /// What Fleetward provisioned on this seed.
    ///
    /// # Errors
    /// API failures (a seed in an outage fails every request).
    pub async fn children(&self) -> Result<BTreeSet<SeedChild>> {
        fleetward_children(&self.client).await
    }
}

/// The harness's name for a seed's kubeconfig Secret.
pub fn secret_name(seed: &str) -> String {
    format!("seed-{seed}-kubeconfig")
}

fn condition(conditions: &[Condition], type_: &str) -> Option<Condition> {
    conditions.iter().find(|c| c.type_ == type_).cloned()
}

impl Harness {
    /// Starts a separate API server for seed `name` (see the module docs), stores its kubeconfig
    /// Secret `fleetward-system/seed-<name>-kubeconfig` in the management server and creates the
    /// Seed with `spec.location.kubeconfigSecret` naming it. Call before
    /// [`Harness::start_controller`] (which hands the controller the in-process connector).
    ///
    /// # Errors
    /// Start-up or API failures.
    pub async fn remote_seed(&mut self, name: &str, region: &str, capacity: u32) -> Result<()> {
        let seed = match &self.server {
            crate::Server::Emulator(_) => {
                RemoteSeed::emulated(name, region, &self.ledger, &self.settings.upgrade_limits)
            }
            crate::Server::Real(management) => {
                RemoteSeed::real(
                    name,
                    region,
                    management,
                    &self.ledger,
                    &self.settings.upgrade_limits,
                )
                .await?
            }
        };
        self.put_seed_kubeconfig(name, seed.kubeconfig()).await?;
        self.seed_at(name, region, capacity, json!({"kubeconfigSecret": {"namespace": POLICY_NAMESPACE, "name": seed.secret_name()}}))
            .await?;
        self.remote_seeds.push(seed);
        Ok(())
    }

    /// Creates a Seed whose `spec.location` is `location` (e.g.
    /// `{"kubeconfigSecret": {"namespace": …, "name": …, "key": …}}`), with no server of its own.
    ///
    /// # Errors
    /// API failures.
    pub async fn seed_at(
        &self,
        name: &str,
        region: &str,
        capacity: u32,
        location: Value,
    ) -> Result<()> {
        let s: crd::Seed = serde_json::from_value(json!({
            "apiVersion": "fleetward.dev/v1alpha1", "kind": "Seed", "metadata": {"name": name},
            "spec": {"region": region, "provider": "aws", "zone": format!("{region}-a"),
                "capacity": capacity, "minVersion": "1.29", "maxVersion": "1.34",
                "location": location}}))?;
        Api::<crd::Seed>::all(self.client.clone())
            .create(&PostParams::default(), &s)
            .await
            .with_context(|| format!("creating seed {name}"))?;
        Ok(())
    }

    /// Creates or replaces seed `seed`'s kubeconfig Secret with exactly `data` (key → value).
    ///
    /// # Errors
    /// API failures.
    pub async fn put_seed_secret(&self, seed: &str, data: &[(&str, &str)]) -> Result<()> {
        let name = secret_name(seed);
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(POLICY_NAMESPACE.into()),
                ..Default::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        };
        Api::<Secret>::namespaced(self.client.clone(), POLICY_NAMESPACE)
            .patch(
                &name,
                &PatchParams::apply("e2e-test").force(),
                &Patch::Apply(&secret),
            )
            .await
            .with_context(|| format!("writing Secret {name}"))?;
        Ok(())
    }

    /// Creates or replaces seed `seed`'s kubeconfig Secret with `kubeconfig` under `kubeconfig`.
    ///
    /// # Errors
    /// API failures.
    pub async fn put_seed_kubeconfig(&self, seed: &str, kubeconfig: &str) -> Result<()> {
        self.put_seed_secret(seed, &[(KUBECONFIG_KEY, kubeconfig)])
            .await
    }

    /// The remote seeds, in creation order.
    pub fn remote_seeds(&self) -> &[RemoteSeed] {
        &self.remote_seeds
    }

    /// Remote seed `name`.
    ///
    /// # Panics
    /// If there is none by that name (a broken test).
    pub fn remote(&self, name: &str) -> &RemoteSeed {
        self.remote_seeds
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no remote seed {name}"))
    }

    /// The connector the controller needs for the remote seeds: in-process on the emulator,
    /// `None` (the production `KubeconfigConnector`) otherwise or without remote seeds.
    pub(crate) fn seed_connector(&self) -> Option<Arc<dyn SeedConnector>> {
        if self.remote_seeds.is_empty() || self.backend() != Backend::Emulator {
            return None;
        }
        let mut c = InProcessConnector::new();
        for s in &self.remote_seeds {
            if let Some(client) = &s.controller_client {
                c.insert(s.url.clone(), client.clone());
            }
        }
        Some(Arc::new(c))
    }

    /// Creates a ManagedCluster `tenant-<tenant>/<name>` (one pool `workers` of 2) that may only
    /// be placed on seeds of `region`.
    ///
    /// # Errors
    /// API failures.
    pub async fn cluster_in_region(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
        region: &str,
    ) -> Result<()> {
        let mc: ManagedCluster = serde_json::from_value(json!({
            "apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
            "metadata": {"name": name, "namespace": format!("tenant-{tenant}")},
            "spec": {"tenant": tenant, "version": version, "placement": {"regions": [region]},
                "nodePools": [{"name": "workers", "replicas": 2}]}}))?;
        self.clusters_in(tenant)
            .create(&PostParams::default(), &mc)
            .await
            .with_context(|| format!("creating cluster {name}"))?;
        Ok(())
    }

    /// A Seed's condition of `type_`, if set.
    ///
    /// # Errors
    /// API failures.
    pub async fn seed_condition(&self, seed: &str, type_: &str) -> Result<Option<Condition>> {
        let s = Api::<crd::Seed>::all(self.client.clone()).get(seed).await?;
        Ok(s.status.and_then(|st| condition(&st.conditions, type_)))
    }

    /// Waits until Seed `seed`'s `Ready` has `status` (and `reason`, when given); returns it.
    ///
    /// # Errors
    /// Timeout (naming the last condition seen).
    pub async fn wait_seed_ready(
        &self,
        seed: &str,
        status: ConditionStatus,
        reason: Option<&str>,
        budget: Duration,
    ) -> Result<Condition> {
        self.wait_for(
            &format!("seed {seed} Ready={status:?} reason {reason:?}"),
            budget,
            || async {
                let c = self.seed_condition(seed, "Ready").await?;
                match c {
                    Some(c) if c.status == status && reason.is_none_or(|r| c.reason == r) => {
                        Ok(Some(c))
                    }
                    other => bail!("last Ready: {other:?}"),
                }
            },
        )
        .await
    }

    /// A ManagedCluster's condition of `type_`, if set.
    ///
    /// # Errors
    /// API failures.
    pub async fn cluster_condition(
        &self,
        tenant: &str,
        name: &str,
        type_: &str,
    ) -> Result<Option<Condition>> {
        let c = self.clusters_in(tenant).get(name).await?;
        Ok(c.status.and_then(|st| condition(&st.conditions, type_)))
    }
}
