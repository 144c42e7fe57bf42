//! One connection to one seed API server: its client, its reflector caches of the children
//! Fleetward creates there, whether it answers, and a per-seed bound on concurrent work.
//!
//! # Why caches
//! A reconcile compares each desired child with the live one and reads the cluster's Machines.
//! Doing that with a GET or LIST per reconcile costs every resync ~10 requests per cluster
//! (~150 req/s at 10,000 clusters on a 10-minute resync). Here each seed has one watch per
//! kind, reflected into a store; a reconcile reads the store and writes only on drift. Every
//! event of a watched child also maps back to its ManagedCluster (labels
//! `fleetward.dev/cluster-{namespace,name}`, or for Machines the seed namespace) and is sent to
//! the cluster controller, which is how a child's change triggers its cluster's reconcile on
//! any seed.
//!
//! # Why a guard on every request
//! A seed that hangs must not hold the controller's workers: every request goes through
//! [`SeedConn::guard`] (a timeout), and a reconcile takes one of the seed's few permits
//! ([`SeedConn::try_permit`]) or comes back later instead of queueing on a sick seed. An error
//! that says something about the seed (not about the request) marks the connection suspect, and
//! the Seed reconciler probes it at once.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::core::provision::{LABEL_CLUSTER_NAME, LABEL_CLUSTER_NAMESPACE, LABEL_MANAGED_BY};
use crate::core::seeds::{SeedProblem, classify};
use crate::crd::{ManagedCluster, Seed};
use crate::metrics::Metrics;
use crate::seeds::json_view::JsonView;

/// Where child events go: the cluster controller's trigger stream.
pub type ClusterTrigger = mpsc::UnboundedSender<ObjectRef<ManagedCluster>>;
/// Where "probe this seed now" goes: the Seed controller's trigger stream.
pub type SeedTrigger = mpsc::UnboundedSender<ObjectRef<Seed>>;
/// Seed namespace → the cluster whose control plane it holds (maps Machines back).
pub type NamespaceIndex = Arc<RwLock<HashMap<String, ObjectRef<ManagedCluster>>>>;

/// The kinds Fleetward reads back from a seed, and whether their watch is limited to objects
/// labelled `app.kubernetes.io/managed-by=fleetward` (Machines are created by Cluster API from
/// our MachineDeployments and are matched by namespace instead).
pub const WATCHED: [(&str, &str, &str, bool); 6] = [
    ("", "v1", "Namespace", true),
    ("", "v1", "Service", true),
    ("apps", "v1", "Deployment", true),
    ("apps", "v1", "StatefulSet", true),
    ("cluster.x-k8s.io", "v1beta1", "MachineDeployment", true),
    ("cluster.x-k8s.io", "v1beta1", "Machine", false),
];

/// Whether the seed answers, as last observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Not probed yet.
    Unknown,
    /// The last probe succeeded.
    Reachable,
    /// The last probe failed.
    Failing(SeedProblem),
}

/// One watched kind: its resource, the reflector's store, and the store's JSON view (see
/// [`crate::seeds::json_view`]).
type Cache = (ApiResource, Store<DynamicObject>, Arc<Mutex<JsonView>>);

/// Tunables of a connection.
#[derive(Clone, Debug)]
pub struct ConnSettings {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Reconciles working on this seed at once.
    pub concurrency: usize,
}

/// One seed API server (or the management cluster, key `""`, shared by every local seed).
pub struct SeedConn {
    /// `""` for the management cluster, else the Seed's name.
    pub key: String,
    /// The client every request to this seed uses.
    pub client: Client,
    /// The kubeconfig's server URL (`""` for the management cluster).
    pub server: String,
    /// The resourceVersion of the Secret this connection was built from (`""` for local).
    pub secret_version: String,
    caches: BTreeMap<&'static str, Cache>,
    synced: tokio::sync::watch::Receiver<usize>,
    reach: Arc<Mutex<Reach>>,
    permits: Arc<Semaphore>,
    settings: ConnSettings,
    suspect: Option<(SeedTrigger, ObjectRef<Seed>)>,
    metrics: Arc<Metrics>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SeedConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedConn")
            .field("key", &self.key)
            .field("server", &self.server)
            .field("reach", &self.reach())
            .finish_non_exhaustive()
    }
}

impl Drop for SeedConn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The API resource of one watched kind.
pub fn api_resource(group: &str, version: &str, kind: &str) -> ApiResource {
    let plural = match kind {
        "Namespace" => "namespaces",
        "Service" => "services",
        "Deployment" => "deployments",
        "StatefulSet" => "statefulsets",
        "MachineDeployment" => "machinedeployments",
        "Machine" => "machines",
        other => return ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, other)),
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn cluster_of(obj: &DynamicObject, index: &NamespaceIndex) -> Option<ObjectRef<ManagedCluster>> {
    let labels = obj.labels();
    if let (Some(ns), Some(name)) = (
        labels.get(LABEL_CLUSTER_NAMESPACE),
        labels.get(LABEL_CLUSTER_NAME),
    ) {
        return Some(ObjectRef::new(name).within(ns));
    }
    let ns = obj.namespace()?;
    index.read().ok().and_then(|i| i.get(&ns).cloned())
}

/// Asks the Seed reconciler to probe now, unless the seed is already known to fail (then its
/// retry timer probes; asking on every failed request would turn an outage into a probe loop).
fn ask_probe(reach: &Mutex<Reach>, suspect: Option<&(SeedTrigger, ObjectRef<Seed>)>) {
    let failing = reach
        .lock()
        .map(|r| matches!(*r, Reach::Failing(_)))
        .unwrap_or(false);
    if let (false, Some((tx, seed))) = (failing, suspect) {
        let _ = tx.send(seed.clone());
    }
}

/// What a connection needs from the controller around it.
#[derive(Debug)]
pub struct ConnWiring {
    /// Child events → cluster reconciles.
    pub clusters: ClusterTrigger,
    /// Seed namespaces → clusters (for Machines).
    pub index: NamespaceIndex,
    /// Where to ask for a probe, and of which Seed (none for the management cluster).
    pub suspect: Option<(SeedTrigger, ObjectRef<Seed>)>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

impl SeedConn {
    /// Connects the caches of `client` and starts their watches (on the current runtime).
    pub fn start(
        key: String,
        client: Client,
        server: String,
        secret_version: String,
        settings: ConnSettings,
        wiring: ConnWiring,
    ) -> SeedConn {
        let (synced_tx, synced) = tokio::sync::watch::channel(0usize);
        let synced_tx = Arc::new(synced_tx);
        let reach = Arc::new(Mutex::new(Reach::Unknown));
        let mut caches = BTreeMap::new();
        let mut tasks = Vec::new();
        for (group, version, kind, managed) in WATCHED {
            let ar = api_resource(group, version, kind);
            let writer = reflector::store::Writer::<DynamicObject>::new(ar.clone());
            let view = Arc::new(Mutex::new(JsonView::default()));
            caches.insert(kind, (ar.clone(), writer.as_reader(), view.clone()));
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            let mut cfg = watcher::Config::default();
            if managed {
                cfg = cfg.labels(&format!("{LABEL_MANAGED_BY}=fleetward"));
            }
            let stream = reflector::reflector(
                writer,
                watcher(api, cfg)
                    .default_backoff()
                    // Managed fields are most of an object's size and never read here.
                    .modify(|o| o.managed_fields_mut().clear()),
            );
            let (trigger, index, suspect) = (
                wiring.clusters.clone(),
                wiring.index.clone(),
                wiring.suspect.clone(),
            );
            let (synced, metrics, seed_key, reach) = (
                synced_tx.clone(),
                wiring.metrics.clone(),
                key.clone(),
                reach.clone(),
            );
            tasks.push(crate::app::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                let mut counted = false;
                while let Some(ev) = stream.next().await {
                    // In the same poll as the reflector's own store update, so the view never
                    // names other objects than the store for other tasks to see.
                    if let (Ok(ev), Ok(mut v)) = (&ev, view.lock()) {
                        v.apply(ev);
                    }
                    match ev {
                        Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o))
                        | Ok(watcher::Event::InitApply(o)) => {
                            if let Some(r) = cluster_of(&o, &index) {
                                let _ = trigger.send(r);
                            }
                        }
                        Ok(watcher::Event::InitDone) => {
                            if !counted {
                                counted = true;
                                synced.send_modify(|n| *n += 1);
                            }
                        }
                        Ok(watcher::Event::Init) => {}
                        Err(e) => {
                            tracing::debug!(seed = %seed_key, kind, error = %e, "seed watch failed");
                            metrics.seed_request_failed(&seed_key);
                            ask_probe(&reach, suspect.as_ref());
                        }
                    }
                }
            }));
        }
        SeedConn {
            key,
            client,
            server,
            secret_version,
            caches,
            synced,
            reach,
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings,
            suspect: wiring.suspect,
            metrics: wiring.metrics,
            tasks,
        }
    }

    /// True once every watched kind has been listed.
    pub fn synced(&self) -> bool {
        *self.synced.borrow() >= WATCHED.len()
    }

    /// Waits until every watched kind has been listed, at most the request timeout; true when
    /// it has.
    pub async fn wait_synced(&self) -> bool {
        let mut rx = self.synced.clone();
        tokio::time::timeout(self.settings.timeout, rx.wait_for(|n| *n >= WATCHED.len()))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Whether it answered the last probe.
    pub fn reach(&self) -> Reach {
        self.reach
            .lock()
            .map(|r| r.clone())
            .unwrap_or(Reach::Unknown)
    }

    /// Records a probe's outcome; true when it changed.
    pub fn set_reach(&self, r: Reach) -> bool {
        match self.reach.lock() {
            Ok(mut cur) if *cur != r => {
                *cur = r;
                true
            }
            _ => false,
        }
    }

    /// The cached live object of `kind` (one of [`WATCHED`]), as JSON (converted once per
    /// `resourceVersion`, see [`crate::seeds::json_view`]).
    pub fn cached(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Arc<serde_json::Value>> {
        let (ar, store, view) = self.caches.get(kind)?;
        let mut r = ObjectRef::new_with(name, ar.clone());
        if let Some(ns) = namespace {
            r = r.within(ns);
        }
        JsonView::json_of(view, store.get(&r)?.as_ref())
    }

    /// The labels of the cached object of `kind` (one of [`WATCHED`]), without converting the
    /// rest of it to JSON as [`SeedConn::cached`] does (every reconcile reads its namespace's).
    pub fn cached_labels(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<BTreeMap<String, String>> {
        let (ar, store, _) = self.caches.get(kind)?;
        let mut r = ObjectRef::new_with(name, ar.clone());
        if let Some(ns) = namespace {
            r = r.within(ns);
        }
        store.get(&r).and_then(|o| o.metadata.labels.clone())
    }

    /// Whether `kind` is one of the cached kinds.
    pub fn caches_kind(&self, kind: &str) -> bool {
        self.caches.contains_key(kind)
    }

    /// Every cached object of `kind` in `namespace`, as JSON, sorted by name (found through the
    /// view's namespace index, not by scanning the kind's store).
    pub fn cached_in(&self, kind: &str, namespace: &str) -> Vec<Arc<serde_json::Value>> {
        let Some((ar, store, view)) = self.caches.get(kind) else {
            return Vec::new();
        };
        let names = view
            .lock()
            .map(|v| v.names_in(namespace))
            .unwrap_or_default();
        names
            .iter()
            .filter_map(|name| store.get(&ObjectRef::new_with(name, ar.clone()).within(namespace)))
            .filter_map(|o| JsonView::json_of(view, o.as_ref()))
            .collect()
    }

    /// A permit to work on this seed, or `None` when its share of reconciles is busy (the caller
    /// comes back later rather than queueing a worker on a possibly hung seed).
    pub fn try_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Runs one request with the seed's timeout. An error that says something about the seed
    /// (transport, timeout, 401/403, 5xx) counts in `fleetward_seed_requests_failed_total` and
    /// asks the Seed reconciler to probe; the error is returned unchanged (a timeout as a
    /// `TimedOut` I/O error) so callers keep their 404/409 handling.
    pub async fn guard<T>(
        &self,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, kube::Error> {
        let result = match tokio::time::timeout(self.settings.timeout, request).await {
            Ok(r) => r,
            Err(_) => Err(kube::Error::Service(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "seed {} did not answer within {:?}",
                    self.display_name(),
                    self.settings.timeout
                ),
            )))),
        };
        if let Err(e) = &result
            && classify(e).is_some()
        {
            self.metrics.seed_request_failed(&self.key);
            ask_probe(&self.reach, self.suspect.as_ref());
        }
        result
    }

    /// The seed's name for messages (`management cluster` for the local connection).
    pub fn display_name(&self) -> &str {
        if self.key.is_empty() {
            "management cluster"
        } else {
            &self.key
        }
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }
}
