//! The production driver: the real controller and the fake infrastructure on the emulator.
//!
//! Everything runs on the caller's paused current-thread tokio runtime: the emulator's clock,
//! the fake kubelet / Cluster API timers and the controller's [`VirtualClock`] all read tokio's
//! clock, so `advance_to` is a `sleep` and tokio auto-advances through every pending timer.
//!
//! Every committed write reaches a forwarding task through `Emulator::subscribe_writes`; it
//! stamps the write with virtual time. `advance_to` then mirrors the seed-side objects
//! (control-plane workloads, MachineDeployments, Machines), rebuilds the affected cluster's
//! observed versions and runs the controller's invariant checker on them (state and
//! transition), on every write, besides handing ManagedCluster writes to the recorder.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetward_controller::core::invariants::{self as ctl, ObservedCluster};
use fleetward_controller::core::provision::{
    CONTROL_PLANE_COMPONENTS, LABEL_CLUSTER_NAME, LABEL_CLUSTER_NAMESPACE, LABEL_COMPONENT,
    LABEL_VERSION, namespace_name,
};
use fleetward_controller::decision::DecisionRecord;
use fleetward_controller::seeds::InProcessConnector;
use fleetward_emulator::infra::{FakeInfra, FakeInfraHandle, InfraClock, InfraTimings};
use fleetward_emulator::{Emulator, Fault, Outage, WriteEvent};
use fleetward_sdk::wire::{ClusterRef, KubeVersion};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Driver, DriverError};
use crate::invariants::Violation;
use crate::record::{LedgerEntry, Observation, seed_server};
use crate::scenario::objects;
use crate::scenario::{Action, ApiOutage, Scenario, Topology};

/// User agent of the simulator's own writes (scenario objects, timeline actions).
pub const USER_AGENT: &str = "fleetward-simulate";
/// Label the fake Cluster API puts on Machines: the MachineDeployment (pool) they belong to.
const LABEL_DEPLOYMENT: &str = "cluster.x-k8s.io/deployment-name";

type Key = (String, String, String);

/// The real controller on an emulated fleet.
pub struct EmulatedFleet {
    scenario: Scenario,
    running: Option<Running>,
    /// Seed-side objects by (namespace, kind, name): namespace first, so one cluster's objects
    /// are one range, not a scan of every seed's objects per write.
    mirror: BTreeMap<Key, Value>,
    /// Last observed versions per cluster, for transition checks.
    observed: BTreeMap<ClusterRef, ObservedCluster>,
    /// Machines broken by a `breakMachine` action, by (namespace, name): whose fault, which
    /// pool and index. Their deletion ends the fault.
    broken_machines: BTreeMap<(String, String), (ClusterRef, String, usize)>,
    /// `approve` actions so far per namespace, to name each RolloutApproval uniquely there.
    approvals: BTreeMap<String, usize>,
}

struct Running {
    /// The management server (Seeds, ManagedClusters, Tenants; with `topology: single` also
    /// every seed's children).
    emulator: Emulator,
    client: kube::Client,
    /// The fake kubelet / Cluster API of every server that hosts control planes.
    infras: Vec<FakeInfraHandle>,
    /// Each seed's own API server (`topology: seeds`), by seed name.
    seeds: BTreeMap<String, Emulator>,
    controller: super::controller::ControllerHandle,
    writes: Arc<Mutex<Vec<(i64, WriteEvent)>>>,
    lost: Arc<Mutex<u64>>,
    decisions: UnboundedReceiver<DecisionRecord>,
    /// The controller's decision-log records, kept in memory.
    logged: fleetward_controller::decision_log::sink::Collected,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
}

/// Forwards every committed write of `emulator` into `writes`, stamped with virtual time.
fn forward_writes(
    emulator: &Emulator,
    writes: &Arc<Mutex<Vec<(i64, WriteEvent)>>>,
    lost: &Arc<Mutex<u64>>,
) -> tokio::task::JoinHandle<()> {
    let mut rx = emulator.subscribe_writes();
    let (emulator, writes, lost) = (emulator.clone(), writes.clone(), lost.clone());
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let at = emulator.now().as_second();
                    if let Ok(mut w) = writes.lock() {
                        w.push((at, ev));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    if let Ok(mut l) = lost.lock() {
                        *l += n;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

/// The emulator's whole-server outage for a scenario's seed API outage.
fn outage(o: ApiOutage) -> Outage {
    match o {
        ApiOutage::Down => Outage::Unreachable,
        ApiOutage::Hang => Outage::Hang,
        ApiOutage::Slow { delay_ms } => Outage::Slow(Duration::from_millis(delay_ms)),
        ApiOutage::Errors { code } => Outage::Errors(match code {
            409 => Fault::Conflict,
            429 => Fault::TooManyRequests,
            504 => Fault::Timeout,
            _ => Fault::InternalError,
        }),
    }
}

impl std::fmt::Debug for EmulatedFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedFleet")
            .field("scenario", &self.scenario.name)
            .field("started", &self.running.is_some())
            .finish_non_exhaustive()
    }
}

impl EmulatedFleet {
    /// A fleet for this scenario (started by [`Driver::setup`]).
    pub fn new(scenario: &Scenario) -> Self {
        EmulatedFleet {
            scenario: scenario.clone(),
            running: None,
            mirror: BTreeMap::new(),
            observed: BTreeMap::new(),
            broken_machines: BTreeMap::new(),
            approvals: BTreeMap::new(),
        }
    }

    /// A client of the management server (the simulator's own user agent), once set up: tests
    /// read what an action wrote.
    pub fn client(&self) -> Option<kube::Client> {
        self.running.as_ref().map(|r| r.client.clone())
    }

    fn running(&self) -> Result<&Running, DriverError> {
        self.running.as_ref().ok_or_else(|| DriverError::Start {
            what: "fleet".into(),
            message: "setup() was not called".into(),
        })
    }

    /// The seed namespace hosting a cluster's control plane.
    fn cp_namespace(&self, id: &ClusterRef) -> String {
        let tenant = self
            .scenario
            .clusters
            .iter()
            .find(|c| &c.id == id)
            .map_or("", |c| c.tenant.as_str());
        namespace_name(tenant, &id.namespace, &id.name)
    }

    fn machines(&self, id: &ClusterRef, pool: &str) -> Vec<String> {
        let ns = self.cp_namespace(id);
        self.mirror_in(&ns)
            .filter(|((_, kind, _), obj)| {
                kind == "Machine"
                    && obj
                        .pointer(&format!(
                            "/metadata/labels/{}",
                            LABEL_DEPLOYMENT.replace('/', "~1")
                        ))
                        .and_then(Value::as_str)
                        == Some(pool)
            })
            .map(|((_, _, name), _)| name.clone())
            .collect()
    }

    /// The mirrored objects of one namespace, by kind and name.
    fn mirror_in<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = (&'a Key, &'a Value)> + 'a {
        self.mirror
            .range((ns.to_string(), String::new(), String::new())..)
            .take_while(move |((n, _, _), _)| n == ns)
    }

    /// Folds one write into the mirror; returns the cluster whose observed state it changes.
    fn mirror_write(&mut self, ev: &WriteEvent) -> Option<ClusterRef> {
        if !matches!(
            ev.kind.as_str(),
            "Deployment" | "StatefulSet" | "MachineDeployment" | "Machine"
        ) {
            return None;
        }
        let key = (
            ev.namespace.clone().unwrap_or_default(),
            ev.kind.clone(),
            ev.name.clone(),
        );
        let deleted = matches!(ev.verb, fleetward_emulator::Verb::Delete);
        if deleted {
            self.mirror.remove(&key);
        } else {
            self.mirror.insert(key, ev.object.clone());
        }
        let label = |k: &str| {
            ev.object
                .pointer(&format!("/metadata/labels/{}", k.replace('/', "~1")))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        if ev.kind == "Machine" {
            return None;
        }
        Some(ClusterRef::new(
            label(LABEL_CLUSTER_NAMESPACE)?,
            label(LABEL_CLUSTER_NAME)?,
        ))
    }

    /// The versions the controller rendered for a cluster, from the mirror.
    fn observe_cluster(&self, id: &ClusterRef) -> ObservedCluster {
        let ns = self.cp_namespace(id);
        let mut c = ObservedCluster {
            id: id.clone(),
            control_plane: BTreeMap::new(),
            pools: BTreeMap::new(),
        };
        for ((_, kind, name), obj) in self.mirror_in(&ns) {
            let label = |k: &str| {
                obj.pointer(&format!("/metadata/labels/{}", k.replace('/', "~1")))
                    .and_then(Value::as_str)
            };
            let Some(version) = label(LABEL_VERSION).and_then(|v| KubeVersion::parse(v).ok())
            else {
                continue;
            };
            match kind.as_str() {
                "Deployment" | "StatefulSet" => {
                    let component = label(LABEL_COMPONENT).unwrap_or(name);
                    c.control_plane.insert(component.to_string(), version);
                }
                "MachineDeployment" => {
                    let pool = label("fleetward.dev/pool").unwrap_or(name);
                    c.pools.insert(pool.to_string(), version);
                }
                _ => {}
            }
        }
        c
    }

    fn check(&mut self, at: i64, id: ClusterRef, out: &mut Vec<Observation>) {
        let now = self.observe_cluster(&id);
        let mut found = ctl::check_cluster_state(&now);
        if let Some(before) = self.observed.get(&id) {
            found.extend(ctl::check_transition(before, &now));
        }
        for v in found {
            out.push(Observation::Violation(Violation {
                at,
                object: v.cluster.to_string(),
                invariant: v.invariant.as_str().to_string(),
                detail: v.message,
            }));
        }
        self.observed.insert(id, now);
    }

    async fn patch(
        &self,
        ar: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<(), DriverError> {
        let client = self.running()?.client.clone();
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client, ns, ar),
            None => Api::all_with(client, ar),
        };
        api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map(|_| ())
            .map_err(|e| DriverError::Api {
                what: format!("patch {} {name}", ar.kind),
                message: e.to_string(),
            })
    }
}

/// How often a read-modify-write of a status is retried after a conflict (another writer got
/// there first) before the action fails.
const STATUS_RETRIES: usize = 5;

impl EmulatedFleet {
    fn api(&self, kind: &str, namespace: Option<&str>) -> Result<Api<DynamicObject>, DriverError> {
        let client = self.running()?.client.clone();
        let ar = kind_resource(kind);
        Ok(match namespace {
            Some(ns) => Api::namespaced_with(client, ns, &ar),
            None => Api::all_with(client, &ar),
        })
    }

    /// The tenant's current rollout id: `status.rollout.id` as the controller wrote it, or, if
    /// it has written none yet, the same rule applied to the tenant's ManagedClusters.
    async fn current_rollout(&self, tenant: &str) -> Result<String, DriverError> {
        let t = self
            .api("Tenant", None)?
            .get(tenant)
            .await
            .map_err(|e| DriverError::Api {
                what: format!("get Tenant {tenant}"),
                message: e.to_string(),
            })?;
        if let Some(id) = t
            .data
            .pointer("/status/rollout/id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
        {
            return Ok(id.to_string());
        }
        let namespace = self
            .scenario
            .tenants
            .iter()
            .find(|x| x.name == tenant)
            .map(|x| x.namespace.clone())
            .unwrap_or_default();
        let list = self
            .api("ManagedCluster", Some(&namespace))?
            .list(&Default::default())
            .await
            .map_err(|e| DriverError::Api {
                what: format!("list ManagedClusters in {namespace}"),
                message: e.to_string(),
            })?;
        Ok(super::control::rollout_id(
            list.items
                .iter()
                .filter(|mc| mc.metadata.deletion_timestamp.is_none())
                .filter(|mc| {
                    mc.data.pointer("/spec/tenant").and_then(Value::as_str) == Some(tenant)
                })
                .flat_map(|mc| super::control::desired_versions(&mc.data)),
        ))
    }

    /// Sets or clears a signal condition on a cluster's status, as an alert bridge would:
    /// read, change that one condition, write back with the resourceVersion read (a conflict
    /// means another writer got there first: read again).
    async fn signal(
        &self,
        cluster: &ClusterRef,
        name: &str,
        firing: bool,
        reason: &str,
        message: &str,
    ) -> Result<(), DriverError> {
        let api = self.api("ManagedCluster", Some(&cluster.namespace))?;
        let what = format!("set signal {name} on ManagedCluster {cluster}");
        let now = fleetward_sdk::wire::Timestamp(self.running()?.emulator.now().as_second());
        let mut last = String::new();
        for _ in 0..STATUS_RETRIES {
            let mut mc = api.get(&cluster.name).await.map_err(|e| DriverError::Api {
                what: what.clone(),
                message: e.to_string(),
            })?;
            let conditions = mc
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let updated = super::control::with_signal(
                &conditions,
                name,
                firing,
                reason,
                message,
                &now.to_string(),
            );
            if !mc.data.get("status").is_some_and(Value::is_object) {
                mc.data["status"] = json!({});
            }
            mc.data["status"]["conditions"] = json!(updated);
            match api
                .replace_status(&cluster.name, &PostParams::default(), &mc)
                .await
            {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(e)) if e.code == 409 => last = e.to_string(),
                Err(e) => {
                    return Err(DriverError::Api {
                        what,
                        message: e.to_string(),
                    });
                }
            }
        }
        Err(DriverError::Api {
            what,
            message: format!("still conflicting after {STATUS_RETRIES} attempts: {last}"),
        })
    }

    /// The operator-control actions (issue 11); `false` for any other action.
    async fn control(&mut self, action: &Action) -> Result<bool, DriverError> {
        use super::control as c;
        let tenant_ar = kind_resource("Tenant");
        let mc_ar = kind_resource("ManagedCluster");
        match action {
            Action::PauseRollout { tenant, reason, by } => {
                self.patch(&tenant_ar, None, tenant, &c::pause_patch(reason, by))
                    .await?;
            }
            Action::ResumeRollout { tenant } => {
                self.patch(&tenant_ar, None, tenant, &c::resume_patch())
                    .await?;
            }
            Action::AbortRollout { tenant, by, reason } => {
                let rollout = self.current_rollout(tenant).await?;
                self.patch(
                    &tenant_ar,
                    None,
                    tenant,
                    &c::abort_patch(&rollout, by, reason),
                )
                .await?;
            }
            Action::PauseCluster { cluster } | Action::ResumeCluster { cluster } => {
                let paused = matches!(action, Action::PauseCluster { .. });
                self.patch(
                    &mc_ar,
                    Some(&cluster.namespace),
                    &cluster.name,
                    &c::cluster_pause_patch(paused),
                )
                .await?;
            }
            Action::Approve {
                tenant,
                gate,
                by,
                namespace,
                comment,
            } => {
                let rollout = self.current_rollout(tenant).await?;
                let n = self.approvals.entry(namespace.clone()).or_default();
                *n += 1;
                let name = c::approval_name(gate, *n);
                let obj = c::approval(&name, namespace, tenant, gate, &rollout, by, comment);
                create(&self.running()?.client, &obj).await?;
            }
            Action::Signal {
                cluster,
                name,
                firing,
                reason,
                message,
            } => {
                self.signal(cluster, name, *firing, reason, message).await?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn resource_of(obj: &Value) -> Result<ApiResource, DriverError> {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    if kind.is_empty() || version.is_empty() {
        return Err(DriverError::Api {
            what: "create object".into(),
            message: format!("object without apiVersion/kind: {obj}"),
        });
    }
    Ok(ApiResource::from_gvk(&GroupVersionKind::gvk(
        group, version, kind,
    )))
}

fn kind_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("fleetward.dev", "v1alpha1", kind))
}

async fn create(client: &kube::Client, obj: &Value) -> Result<(), DriverError> {
    let ar = resource_of(obj)?;
    let what = format!(
        "create {} {}",
        ar.kind,
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    );
    let dynamic: DynamicObject =
        serde_json::from_value(obj.clone()).map_err(|e| DriverError::Api {
            what: what.clone(),
            message: e.to_string(),
        })?;
    let api: Api<DynamicObject> = match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.create(&PostParams::default(), &dynamic)
        .await
        .map(|_| ())
        .map_err(|e| DriverError::Api {
            what,
            message: e.to_string(),
        })
}

/// The decision-log records sent since the last call (the recorder orders them).
fn logged(
    log: &fleetward_controller::decision_log::sink::Collected,
) -> impl Iterator<Item = Observation> + use<> {
    log.take()
        .into_iter()
        .map(|e| Observation::Logged(Box::new(e)))
}

fn ledger_entry(r: DecisionRecord) -> LedgerEntry {
    let mut clusters: Vec<String> = r.clusters.iter().map(ToString::to_string).collect();
    clusters.sort();
    clusters.dedup();
    LedgerEntry {
        at: r.time.0,
        tenant: r.tenant,
        clusters,
        kind: r.kind.as_str().to_string(),
        digest: r.digest,
        input_sha256: r.input_sha256,
        output_json: r.output_json,
        reason: r.reason,
        outcome: r.outcome.as_str().to_string(),
    }
}

impl Driver for EmulatedFleet {
    async fn setup(&mut self, scenario: &Scenario) -> Result<(), DriverError> {
        let start =
            jiff::Timestamp::from_second(scenario.start.0).map_err(|e| DriverError::Start {
                what: "emulator".into(),
                message: e.to_string(),
            })?;
        let emulator = Emulator::builder().start_time(start).build();
        let writes: Arc<Mutex<Vec<(i64, WriteEvent)>>> = Arc::default();
        let lost: Arc<Mutex<u64>> = Arc::default();
        let mut forwarders = vec![forward_writes(&emulator, &writes, &lost)];
        // `topology: seeds`: one API server per seed, on the same (tokio) clock, each with its
        // own seed for uids so no two servers hand out the same ones.
        let mut seeds = BTreeMap::new();
        if scenario.topology == Topology::Seeds {
            for (i, seed) in scenario.seeds.iter().enumerate() {
                let server = Emulator::builder()
                    .start_time(start)
                    .seed(0x5EED + 1 + i as u64)
                    .build();
                forwarders.push(forward_writes(&server, &writes, &lost));
                seeds.insert(seed.name.clone(), server);
            }
        }
        let client = emulator.client_with_user_agent(USER_AGENT);
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in fleetward_controller::crd::crds() {
            crds.create(&PostParams::default(), &crd)
                .await
                .map_err(|e| DriverError::Api {
                    what: "create CRD".into(),
                    message: e.to_string(),
                })?;
        }
        let (clusters, others): (Vec<Value>, Vec<Value>) = objects::initial_objects(scenario)
            .into_iter()
            .partition(|o| o.get("kind").and_then(Value::as_str) == Some("ManagedCluster"));
        for obj in &others {
            create(&client, obj).await?;
        }
        let timings = || InfraTimings {
            workload_ready: Duration::from_secs(scenario.infra.workload_ready.max(0) as u64),
            machine_ready: Duration::from_secs(scenario.infra.machine_ready.max(0) as u64),
            machine_delete: Duration::from_secs(scenario.infra.machine_delete.max(0) as u64),
            clock: InfraClock::StartsAt(start),
            ..InfraTimings::default()
        };
        // The fake kubelet and Cluster API run where the control planes are: on each seed's own
        // server, or on the management server when it hosts every seed.
        let hosts: Vec<&Emulator> = if seeds.is_empty() {
            vec![&emulator]
        } else {
            seeds.values().collect()
        };
        let infras = hosts
            .into_iter()
            .map(|e| FakeInfra::start(e.client_with_user_agent("fleetward-fake-infra"), timings()))
            .collect();
        let connector = (!seeds.is_empty()).then(|| {
            seeds
                .iter()
                .fold(InProcessConnector::new(), |c, (name, server)| {
                    c.with(
                        seed_server(name),
                        server.client_with_user_agent(super::controller::CONTROLLER_USER_AGENT),
                    )
                })
        });
        let (controller, decisions, logged) =
            super::controller::start(&emulator, scenario, connector).await?;
        // ManagedClusters arrive one virtual second apart, in name order, once the controller
        // runs: placements then happen in a defined order (each sees the seeds as the previous
        // one left them) instead of racing within one instant.
        for obj in &clusters {
            tokio::time::sleep(Duration::from_secs(1)).await;
            create(&client, obj).await?;
        }
        self.running = Some(Running {
            emulator,
            client,
            infras,
            seeds,
            controller,
            writes,
            lost,
            decisions,
            logged,
            forwarders,
        });
        Ok(())
    }

    async fn advance_to(&mut self, at: i64) -> Vec<Observation> {
        let Some(running) = self.running.as_mut() else {
            return Vec::new();
        };
        let now = running.emulator.now().as_second();
        if at > now {
            tokio::time::sleep(Duration::from_secs((at - now) as u64)).await;
        }
        // Let the forwarder and the controller finish what this instant woke.
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        let writes = running
            .writes
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        let mut decisions = Vec::new();
        while let Ok(r) = running.decisions.try_recv() {
            decisions.push(ledger_entry(r));
        }
        let log = logged(&running.logged);
        let lost = running
            .lost
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or(0);
        let mut out = Vec::new();
        if lost > 0 {
            out.push(Observation::Violation(Violation {
                at,
                object: "(write stream)".into(),
                invariant: "unchecked_writes".into(),
                detail: format!("{lost} writes were dropped before they could be checked"),
            }));
        }
        for (t, ev) in writes {
            if let Some(id) = self.mirror_write(&ev) {
                self.check(t, id, &mut out);
            }
            if ev.kind == "Machine"
                && matches!(ev.verb, fleetward_emulator::Verb::Delete)
                && let Some((cluster, pool, index)) = self
                    .broken_machines
                    .remove(&(ev.namespace.clone().unwrap_or_default(), ev.name.clone()))
            {
                out.push(Observation::FaultGone {
                    at: t,
                    cluster,
                    pool,
                    index,
                });
            }
            if ev.kind == "ManagedCluster" {
                out.push(Observation::Write {
                    at: t,
                    kind: ev.kind,
                    object: ev.object,
                });
            } else if ev.kind == "Seed" {
                out.push(Observation::SeedWrite {
                    at: t,
                    object: ev.object,
                });
            } else if ev.kind == "Tenant" {
                out.push(Observation::TenantWrite {
                    at: t,
                    object: ev.object,
                });
            }
        }
        out.extend(decisions.into_iter().map(Observation::Decision));
        out.extend(log);
        // Writes and decisions come from two channels: merge them by time (stable).
        out.sort_by_key(Observation::at);
        out
    }

    async fn act(&mut self, action: &Action, affected: &[ClusterRef]) -> Result<(), DriverError> {
        // Faults are keyed by namespace and name, and a cluster's seed namespace exists on one
        // server only: each fake infrastructure gets the fault, the one hosting it applies it.
        let infras = self.running()?.infras.clone();
        if self.control(action).await? {
            return Ok(());
        }
        match action {
            Action::SetVersion { version, .. } => {
                let mc = kind_resource("ManagedCluster");
                // One virtual second apart, in name order: the reconciles they trigger then run
                // in a defined order instead of racing within one instant (the controller's work
                // queue does not order simultaneous items).
                for (i, id) in affected.iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    self.patch(
                        &mc,
                        Some(&id.namespace),
                        &id.name,
                        &objects::version_patch(*version),
                    )
                    .await?;
                }
            }
            Action::BreakWorkload { cluster, workload } => {
                for infra in &infras {
                    infra.break_workload(&self.cp_namespace(cluster), workload);
                }
            }
            Action::HealWorkload { cluster, workload } => {
                for infra in &infras {
                    infra.heal_workload(&self.cp_namespace(cluster), workload);
                }
            }
            Action::BreakMachine {
                cluster,
                pool,
                index,
            } => {
                let ns = self.cp_namespace(cluster);
                if let Some(m) = self.machines(cluster, pool).get(*index) {
                    for infra in &infras {
                        infra.break_machine(&ns, m);
                    }
                    self.broken_machines.insert(
                        (ns.clone(), m.clone()),
                        (cluster.clone(), pool.clone(), *index),
                    );
                }
            }
            Action::HealMachine { cluster, pool } => {
                let ns = self.cp_namespace(cluster);
                for m in self.machines(cluster, pool) {
                    for infra in &infras {
                        infra.heal_machine(&ns, &m);
                    }
                    self.broken_machines.remove(&(ns.clone(), m));
                }
            }
            Action::SeedDown { seed } | Action::SeedUp { seed } => {
                let down = matches!(action, Action::SeedDown { .. });
                for id in affected {
                    let ns = self.cp_namespace(id);
                    for c in CONTROL_PLANE_COMPONENTS {
                        for infra in &infras {
                            if down {
                                infra.break_workload(&ns, c);
                            } else {
                                infra.heal_workload(&ns, c);
                            }
                        }
                    }
                }
                self.patch(
                    &kind_resource("Seed"),
                    None,
                    seed,
                    &json!({"spec": {"unschedulable": down}}),
                )
                .await?;
            }
            Action::SeedApi { seed, outage: o } => {
                if let Some(server) = self.running()?.seeds.get(seed) {
                    server.faults().begin_outage(outage(*o));
                }
            }
            Action::SeedApiUp { seed } => {
                if let Some(server) = self.running()?.seeds.get(seed) {
                    server.faults().end_outage();
                }
            }
            Action::RestartController => {
                if let Some(r) = self.running.as_mut() {
                    r.controller.restart().await?;
                }
            }
            Action::CreateCluster { clusters } => {
                self.scenario.clusters.extend(clusters.iter().cloned());
                let client = self.running()?.client.clone();
                super::lifecycle::create_clusters(&client, clusters).await?;
            }
            Action::DeleteCluster { cluster } => {
                let client = self.running()?.client.clone();
                super::lifecycle::delete_cluster(&client, cluster).await?;
            }
            Action::UpdatePolicy {
                tenant,
                kind,
                binding,
            } => {
                let Some(t) = self.scenario.tenants.iter_mut().find(|t| &t.name == tenant) else {
                    return Ok(());
                };
                t.policies.insert(*kind, binding.clone());
                let t = t.clone();
                let cm = objects::modules_configmap(&t, [(*kind, binding)]);
                let cm_ar = ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"));
                self.patch(
                    &cm_ar,
                    Some(&t.namespace),
                    objects::MODULES_CONFIGMAP,
                    &json!({"binaryData": cm["binaryData"]}),
                )
                .await?;
                // Replace the binding wholesale (a merge patch would keep old config keys).
                let client = self.running()?.client.clone();
                let api: Api<DynamicObject> = Api::all_with(client, &kind_resource("Tenant"));
                let mut live = api.get(&t.name).await.map_err(|e| DriverError::Api {
                    what: format!("get Tenant {}", t.name),
                    message: e.to_string(),
                })?;
                live.data["spec"] = objects::tenant(&t)["spec"].clone();
                api.replace(&t.name, &PostParams::default(), &live)
                    .await
                    .map_err(|e| DriverError::Api {
                        what: format!("replace Tenant {}", t.name),
                        message: e.to_string(),
                    })?;
            }
            Action::PauseRollout { .. }
            | Action::ResumeRollout { .. }
            | Action::AbortRollout { .. }
            | Action::PauseCluster { .. }
            | Action::ResumeCluster { .. }
            | Action::Approve { .. }
            | Action::Signal { .. } => {}
        }
        Ok(())
    }

    async fn shutdown(mut self) -> Vec<Observation> {
        let Some(running) = self.running.take() else {
            return Vec::new();
        };
        // A hung seed would hold the controller's in-flight requests until its timeout.
        for server in running.seeds.values() {
            server.faults().end_outage();
        }
        running.controller.stop().await;
        let last = logged(&running.logged);
        for infra in running.infras {
            infra.shutdown();
        }
        for f in running.forwarders {
            f.abort();
        }
        let out: Vec<Observation> = self
            .scenario
            .seeds
            .iter()
            .map(|s| Observation::SeedWrites {
                at: running.emulator.now().as_second(),
                seed: s.name.clone(),
                writes: running
                    .seeds
                    .get(&s.name)
                    .unwrap_or(&running.emulator)
                    .write_count(),
            })
            .collect();
        drop(running.emulator);
        out.into_iter().chain(last).collect()
    }
}
