//! Wiring: build the three controllers over one client and run them until shutdown.
//!
//! [`start`] is what `fleetward run` (via [`crate::run::run`]) and `fleetward simulate` call: it
//! takes any `kube::Client` (a real cluster, or the emulator's in-process client) and a
//! [`ControllerConfig`] carrying the clock and the optional decision sink.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as CtrlConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::crd::{ManagedCluster, RolloutApproval, Seed, Tenant};
use crate::decision::DecisionSink;
use crate::decision_log::DecisionLog;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::policy::{ModuleLoader, PolicyRegistry};
use crate::reconcile::tenant::{TenantLoader, tenants_using};
use crate::reconcile::{
    Context, ManagementCaches, Settings, approvals, cluster, plan_queue, seed, tenant,
};
use crate::seeds::SeedRegistry;
use crate::seeds::conn::{ConnSettings, NamespaceIndex};

/// How to run the controllers. Build with [`ControllerConfig::new`] and adjust fields.
#[derive(Debug)]
pub struct ControllerConfig {
    /// Source of `now` (default [`SystemClock`]; simulations pass a [`crate::clock::VirtualClock`]).
    pub clock: Arc<dyn Clock>,
    /// Receives every decision record (default none).
    pub decision_sink: Option<DecisionSink>,
    /// The decision log (default off: [`DecisionLog::default`]); `fleetward run
    /// --decision-log` and `fleetward simulate` turn it on.
    pub decision_log: DecisionLog,
    /// Safety tunables (default [`Settings::default`]).
    pub settings: Settings,
    /// Concurrent reconciles per controller (default 16).
    pub concurrency: u16,
    /// Loads tenant modules (the Wasm engine in production: [`crate::wasm::EngineLoader`]).
    pub loader: Arc<dyn ModuleLoader>,
    /// Directory module files are read from (default none).
    pub module_dir: Option<cap_std::fs::Dir>,
    /// Metrics registry (default fresh).
    pub metrics: Arc<Metrics>,
    /// Builds each remote seed's client from its kubeconfig Secret (default
    /// [`crate::seeds::KubeconfigConnector`]; tests and simulation pass an
    /// [`crate::seeds::InProcessConnector`]).
    pub seed_connector: Arc<dyn crate::seeds::SeedConnector>,
}

impl ControllerConfig {
    /// Defaults around a module loader.
    pub fn new(loader: Arc<dyn ModuleLoader>) -> Self {
        ControllerConfig {
            clock: Arc::new(SystemClock),
            decision_sink: None,
            decision_log: DecisionLog::default(),
            settings: Settings::default(),
            concurrency: 16,
            loader,
            module_dir: None,
            metrics: Arc::new(Metrics::new()),
            seed_connector: Arc::new(crate::seeds::KubeconfigConnector::default()),
        }
    }
}

/// A running controller. Drop or [`ControllerHandle::shutdown`] to stop it.
pub struct ControllerHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Metrics of this controller.
    pub metrics: Arc<Metrics>,
    /// Tenants' policies as loaded.
    pub policies: PolicyRegistry,
}

impl std::fmt::Debug for ControllerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerHandle")
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl ControllerHandle {
    /// Stops the controllers gracefully (in-flight reconciles finish) and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }

    /// A future that resolves when every controller has stopped (e.g. all watches failed fatally).
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().all(JoinHandle::is_finished)
    }
}

impl Drop for ControllerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn error_policy<K: Resource<DynamicType = ()>>(
    controller: &'static str,
) -> impl Fn(Arc<K>, &Error, Arc<Context>) -> Action {
    move |obj, err, ctx| {
        let key = format!(
            "{controller}/{}/{}",
            obj.meta().namespace.clone().unwrap_or_default(),
            obj.meta().name.clone().unwrap_or_default()
        );
        ctx.metrics.reconcile_error(controller, err.metric_label());
        let delay = ctx.backoff.next(&key);
        if err.is_conflict() {
            // Optimistic concurrency: the object changed since it was read; the retry reads
            // it again. Expected with concurrent writers, so not a warning.
            tracing::debug!(controller, object = %key, retry_in = ?delay, "conflict; retrying with a fresh read");
        } else {
            tracing::warn!(controller, object = %key, retry_in = ?delay, "reconcile failed: {err}");
        }
        Action::requeue(delay)
    }
}

/// Starts the Tenant, Seed and ManagedCluster controllers on `client`.
///
/// Returns at once; the controllers run on the current tokio runtime until the handle is shut
/// down or dropped. Works under tokio paused time with the emulator's client.
pub fn start(client: Client, config: ControllerConfig) -> ControllerHandle {
    let (stop, stop_rx) = watch::channel(false);
    let shutdown = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let cfg = CtrlConfig::default().concurrency(config.concurrency);
    let clusters_ctrl = Controller::new(
        Api::<ManagedCluster>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(cfg.clone());
    // Child events from every seed's caches, and requeues of a seed's clusters when its access
    // changes, reach the cluster controller through this channel; probe requests reach the
    // seed controller through the other.
    let (cluster_tx, cluster_rx) = mpsc::unbounded_channel::<ObjectRef<ManagedCluster>>();
    let (seed_tx, seed_rx) = mpsc::unbounded_channel::<ObjectRef<Seed>>();
    // A cluster's placement (or deletion) changes its seed's count.
    let seeds_ctrl = Controller::new(Api::<Seed>::all(client.clone()), watcher::Config::default())
        .with_config(cfg.clone())
        .reconcile_on(receiver_stream(seed_rx))
        .watches(
            Api::<ManagedCluster>::all(client.clone()),
            watcher::Config::default(),
            |mc| {
                mc.status
                    .as_ref()
                    .and_then(|s| s.seed.as_ref())
                    .map(|s| ObjectRef::<Seed>::new(s))
            },
        );
    let tenants_ctrl = Controller::new(
        Api::<Tenant>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(cfg.clone());
    // RolloutApprovals: their `Accepted` condition, and the cache the planner reads them from.
    let approvals_ctrl = Controller::new(
        Api::<RolloutApproval>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(cfg);
    let (approval_tx, approval_rx) = mpsc::unbounded_channel::<ObjectRef<RolloutApproval>>();
    let seed_namespaces: NamespaceIndex = Default::default();
    let seed_conns = Arc::new(SeedRegistry::new(
        config.seed_connector.clone(),
        client.clone(),
        ConnSettings {
            timeout: config.settings.seed_timeout,
            concurrency: config.settings.seed_concurrency,
        },
        cluster_tx.clone(),
        seed_tx.clone(),
        seed_namespaces.clone(),
        config.metrics.clone(),
    ));
    let mut tasks = Vec::new();
    let (namespaces, namespaces_task) = metadata_cache(
        Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
        shutdown(),
        {
            let (clusters, tx) = (clusters_ctrl.store(), cluster_tx.clone());
            let (approvals_store, approval_tx) = (approvals_ctrl.store(), approval_tx.clone());
            move |ns| {
                // A tenant label change on a namespace re-checks its clusters' tenancy, and
                // its approvals'.
                let name = ns.name_any();
                for c in clusters.state() {
                    if c.namespace().as_deref() == Some(name.as_str()) {
                        let _ = tx.send(ObjectRef::from_obj(c.as_ref()));
                    }
                }
                for a in approvals::in_namespace(&approvals_store.state(), &name) {
                    let _ = approval_tx.send(a);
                }
            }
        },
    );
    tasks.push(namespaces_task);
    // Seed kubeconfig Secrets live in one namespace: the controller reads no other Secrets.
    let secrets_api: Api<PartialObjectMeta<Secret>> =
        Api::namespaced(client.clone(), &config.settings.seed_secret_namespace);
    let (secrets, secrets_task) = metadata_cache(secrets_api, shutdown(), {
        let (seeds, tx) = (seeds_ctrl.store(), seed_tx.clone());
        move |secret| {
            // A changed kubeconfig Secret reconnects the seeds naming it.
            let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
            for s in seeds.state() {
                if let Some(r) = &s.spec.location.kubeconfig_secret
                    && r.namespace == ns
                    && r.name == name
                {
                    let _ = tx.send(ObjectRef::from_obj(s.as_ref()));
                }
            }
        }
    });
    tasks.push(secrets_task);
    let policies = PolicyRegistry::default().recording_inputs(config.decision_log.is_on());
    let ctx = Arc::new(Context::new(
        client.clone(),
        config.clock.clone(),
        policies.clone(),
        config.metrics.clone(),
        config.decision_sink.clone(),
        config.decision_log.clone(),
        config.settings.clone(),
        seeds_ctrl.store(),
        clusters_ctrl.store(),
        tenants_ctrl.store(),
        seed_namespaces.clone(),
        ManagementCaches {
            namespaces: namespaces.clone(),
            secrets: secrets.clone(),
            seed_conns: seed_conns.clone(),
            approvals: approvals_ctrl.store(),
        },
    ));
    // A Tenant's rollout switches or its current rollout (id, gates) changing re-judges its
    // approvals; a change of its switches (pause, resume, abort) is planned at once.
    let rollout_seen = RolloutFingerprints::default();
    let (approvals_of, planning_ctx) = (approvals_ctrl.store(), ctx.clone());
    let approvals_ctrl = approvals_ctrl
        .reconcile_on(receiver_stream(approval_rx))
        .watches(
            Api::<Tenant>::all(client.clone()),
            watcher::Config::default(),
            move |t| {
                let name = t.name_any();
                let (control, rollout) = rollout_seen.changed(&t);
                let retry = planning_ctx
                    .planning
                    .status_retry
                    .lock()
                    .is_ok_and(|r| r.contains(&name));
                if control || retry {
                    planning_ctx
                        .planning
                        .queue
                        .request(&name, planning_ctx.clock.now());
                }
                if control || rollout {
                    approvals::of_tenant(&approvals_of.state(), &name)
                } else {
                    Vec::new()
                }
            },
        );
    let cstore = clusters_ctrl.store();
    let cstore2 = clusters_ctrl.store();
    let tenant_seen = TenantFingerprints::default();
    // Children on every seed (the management cluster included) are watched by the seeds'
    // connections (`seeds::conn`), which send their clusters through `cluster_rx`.
    let clusters_ctrl = clusters_ctrl
        .reconcile_on(receiver_stream(cluster_rx))
        .watches(
            Api::<Seed>::all(client.clone()),
            watcher::Config::default(),
            move |seed| {
                // A seed change can unblock clusters waiting for placement. A Seed being deleted
                // (or gone: its last state carries the deletion timestamp) concerns the clusters
                // placed on it, and so does a Seed that some of them found missing.
                let name = seed.name_any();
                let deleting = seed.meta().deletion_timestamp.is_some();
                cstore
                    .state()
                    .into_iter()
                    .filter(|c| {
                        let st = c.status.as_ref();
                        let unplaced = st.is_none_or(|s| s.seed.is_none());
                        let on_it = st.and_then(|s| s.seed.as_deref()) == Some(name.as_str());
                        let missed = st.is_some_and(|s| {
                            s.conditions
                                .iter()
                                .any(|c| c.type_ == "SeedReachable" && c.reason == "SeedNotFound")
                        });
                        unplaced || (on_it && (deleting || missed))
                    })
                    .map(|c| ObjectRef::from_obj(c.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<Tenant>::all(client.clone()),
            watcher::Config::default(),
            move |t| {
                // Tenant status carries decision counters that change with every decision; a
                // requeue of all the tenant's clusters on each of those would make every
                // decision trigger the next. Only spec, loaded modules and conditions matter.
                if !tenant_seen.changed(&t) {
                    return Vec::new();
                }
                let name = t.name_any();
                cstore2
                    .state()
                    .into_iter()
                    .filter(|c| c.spec.tenant == name)
                    .map(|c| ObjectRef::from_obj(c.as_ref()))
                    .collect::<Vec<_>>()
            },
        );
    let tstore = tenants_ctrl.store();
    let deleting_tenants = tenants_ctrl.store();
    let tenants_ctrl = tenants_ctrl
        .watches(
            Api::<ManagedCluster>::all(client.clone()),
            watcher::Config::default(),
            move |mc| {
                // A Tenant whose deletion waits for its clusters looks again when one changes
                // (or goes); no other Tenant cares about its clusters' events.
                let t = ObjectRef::<Tenant>::new(&mc.spec.tenant);
                deleting_tenants
                    .get(&t)
                    .filter(|t| t.meta().deletion_timestamp.is_some())
                    .map(|_| t)
            },
        )
        .watches(
            Api::<ConfigMap>::all(client.clone()),
            watcher::Config::default(),
            move |cm| {
                tenants_using(
                    &tstore.state(),
                    &cm.namespace().unwrap_or_default(),
                    &cm.name_any(),
                )
                .into_iter()
                .map(|n| ObjectRef::new(&n))
                .collect::<Vec<_>>()
            },
        );
    let loader = Arc::new(TenantLoader::new(config.loader.clone(), config.module_dir));
    let c = ctx.clone();
    tasks.push(spawn(
        tenants_ctrl
            .graceful_shutdown_on(shutdown())
            .run(
                move |t, ctx| {
                    let key = format!("tenant//{}", t.name_any());
                    let fut = tenant::reconcile(t, ctx.clone(), loader.clone());
                    reconciling(ctx, "tenant", key, fut)
                },
                error_policy::<Tenant>("tenant"),
                c,
            )
            .for_each(|_| async {}),
    ));
    let c = ctx.clone();
    let secrets_ready = secrets.clone();
    let seeds_shutdown = shutdown();
    let seeds_stopped = shutdown();
    tasks.push(spawn(async move {
        // A Seed's Secret must be known before it is judged missing. (A controller stopped
        // before its caches listed stops here too.)
        tokio::select! {
            () = wait_ready(&secrets_ready) => {}
            () = seeds_stopped => return,
        }
        seeds_ctrl
            .graceful_shutdown_on(seeds_shutdown)
            .run(
                |s, ctx| {
                    let key = format!("seed//{}", s.name_any());
                    reconciling(ctx.clone(), "seed", key, seed::reconcile(s, ctx))
                },
                error_policy::<Seed>("seed"),
                c,
            )
            .for_each(|_| async {})
            .await
    }));
    tasks.push(spawn(plan_queue::run(ctx.clone(), shutdown())));
    let c = ctx.clone();
    let (tenants_known, namespaces_known) = (ctx.tenants.clone(), namespaces.clone());
    let (approvals_shutdown, approvals_stopped) = (shutdown(), shutdown());
    tasks.push(spawn(async move {
        // Judge nothing before the tenants and the namespaces' labels are known.
        tokio::select! {
            () = async { wait_ready(&tenants_known).await; wait_ready(&namespaces_known).await; } => {}
            () = approvals_stopped => return,
        }
        approvals_ctrl
            .graceful_shutdown_on(approvals_shutdown)
            .run(
                |a, ctx| {
                    let key = format!(
                        "approval/{}/{}",
                        a.namespace().unwrap_or_default(),
                        a.name_any()
                    );
                    reconciling(ctx.clone(), "approval", key, approvals::reconcile(a, ctx))
                },
                error_policy::<RolloutApproval>("approval"),
                c,
            )
            .for_each(|_| async {})
            .await
    }));
    let c = ctx.clone();
    let tenants_ready = ctx.tenants.clone();
    let seeds_ready = ctx.seeds.clone();
    let clusters_stopped = shutdown();
    tasks.push(spawn(async move {
        let caches_ready = async {
            // Place nothing before the tenants' policies and the seeds are known.
            // Re-poll: kube-runtime's readiness signal wakes only its most recent waiter, and
            // the tenant/seed controllers wait on the same signal.
            wait_ready(&tenants_ready).await;
            wait_ready(&seeds_ready).await;
            wait_ready(&namespaces).await;
            // The management cluster's children must be listed before a reconcile compares
            // with them.
            let local = c.seed_conns.local();
            while !local.wait_synced().await {}
        };
        // A controller stopped before its caches listed (say, a kind that cannot be watched)
        // must still stop.
        tokio::select! {
            () = caches_ready => {}
            () = clusters_stopped => return,
        }
        tracing::debug!(
            "tenant, seed, namespace and child caches ready; starting the cluster controller"
        );
        clusters_ctrl
            .graceful_shutdown_on(shutdown())
            .run(
                |mc, ctx| {
                    let key = format!(
                        "cluster/{}/{}",
                        mc.namespace().unwrap_or_default(),
                        mc.name_any()
                    );
                    reconciling(ctx.clone(), "cluster", key, cluster::reconcile(mc, ctx))
                },
                error_policy::<ManagedCluster>("cluster"),
                c,
            )
            .for_each(|_| async {})
            .await
    }));
    ControllerHandle {
        stop,
        tasks,
        metrics: config.metrics,
        policies,
    }
}

/// One reconcile as kube-runtime runs it (on a task of its own): timed and counted in the
/// metrics, logging to the subscriber of the task that runs the controller, and its error
/// backoff reset when it succeeds.
fn reconciling<F>(
    ctx: Arc<Context>,
    controller: &'static str,
    key: String,
    reconcile: F,
) -> impl std::future::Future<Output = Result<Action, Error>> + Send + 'static
where
    F: std::future::Future<Output = Result<Action, Error>> + Send + 'static,
{
    use tracing::instrument::WithSubscriber as _;
    async move {
        let timer = ctx.metrics.reconcile_started(controller);
        let r = reconcile.await;
        timer.finish(r.is_ok());
        if r.is_ok() {
            ctx.backoff.reset(&key);
        }
        r
    }
    .with_current_subscriber()
}

/// `tokio::spawn` carrying the caller's `tracing` subscriber, so a controller started under a
/// scoped subscriber (a test capturing its log, a simulation) logs there from every task.
pub(crate) fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    use tracing::instrument::WithSubscriber as _;
    tokio::spawn(fut.with_current_subscriber())
}

/// Waits until a reflector store has its first full list.
///
/// Re-polls: kube-runtime's readiness signal wakes only its most recent waiter, and several
/// tasks wait on the same stores.
pub(crate) async fn wait_ready<K>(store: &Store<K>)
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let tick = std::time::Duration::from_millis(200);
    while tokio::time::timeout(tick, store.wait_until_ready())
        .await
        .is_err()
    {}
}

/// A stream over an unbounded channel (no tokio-stream dependency for one adapter).
fn receiver_stream<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A metadata-only reflector of `K` (across the cluster or in a namespace: `api`), calling `changed` for every applied or
/// deleted object; returns its store and the task running it, which ends with `shutdown` (a
/// watch never ends by itself, and [`ControllerHandle::shutdown`] waits for every task).
fn metadata_cache<K>(
    api: Api<PartialObjectMeta<K>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    changed: impl Fn(&PartialObjectMeta<K>) + Send + 'static,
) -> (Store<PartialObjectMeta<K>>, JoinHandle<()>)
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let writer = reflector::store::Writer::<PartialObjectMeta<K>>::default();
    let store = writer.as_reader();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(|o| o.managed_fields_mut().clear()),
    )
    .take_until(shutdown);
    let task = spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => changed(&o),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying")
                }
            }
        }
    });
    (store, task)
}

/// What of a Tenant its clusters depend on, remembered per tenant so the cluster controller
/// requeues a tenant's clusters only when that changes (not when decision counters tick).
#[derive(Default)]
struct TenantFingerprints(std::sync::Mutex<HashMap<String, String>>);

impl TenantFingerprints {
    /// True when `t`'s generation, loaded modules or condition states differ from last time
    /// (or it was never seen, or the lock is poisoned: then requeueing is the safe answer).
    fn changed(&self, t: &Tenant) -> bool {
        if t.metadata.deletion_timestamp.is_some() {
            return true;
        }
        let status = t.status.as_ref();
        let fingerprint = serde_json::json!({
            "generation": t.metadata.generation,
            "loaded": status.map(|s| &s.loaded),
            "conditions": status.map(|s| s
                .conditions
                .iter()
                .map(|c| (&c.type_, format!("{:?}", c.status), &c.reason))
                .collect::<Vec<_>>()),
        })
        .to_string();
        match self.0.lock() {
            Ok(mut seen) => {
                seen.insert(t.name_any(), fingerprint.clone()).as_ref() != Some(&fingerprint)
            }
            Err(_) => true,
        }
    }
}

/// What of a Tenant its approvals and its rollout depend on, remembered per tenant: its
/// switches (`spec.rollout`) and its current rollout (`status.rollout` id and gates).
#[derive(Default)]
struct RolloutFingerprints(std::sync::Mutex<HashMap<String, (String, String)>>);

impl RolloutFingerprints {
    /// Whether `t`'s switches and its current rollout changed since last seen (first sight:
    /// the rollout only — the planner plans every tenant with clusters anyway, and an extra plan
    /// batch would change when others are planned; a poisoned lock: both, the safe answer).
    fn changed(&self, t: &Tenant) -> (bool, bool) {
        let control = serde_json::to_string(&t.spec.rollout).unwrap_or_default();
        let rollout = t
            .status
            .as_ref()
            .and_then(|s| s.rollout.as_ref())
            .map(|r| {
                let gates: Vec<&str> = r.gates.iter().map(|g| g.name.as_str()).collect();
                format!("{}:{}", r.id, gates.join(","))
            })
            .unwrap_or_default();
        match self.0.lock() {
            Ok(mut seen) => {
                let before = seen.insert(t.name_any(), (control.clone(), rollout.clone()));
                match before {
                    Some((c, r)) => (c != control, r != rollout),
                    None => (false, true),
                }
            }
            Err(_) => (true, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvals_and_plans_follow_a_tenants_rollout_not_its_counters() {
        let seen = RolloutFingerprints::default();
        let mut t = tenant(1, 0, "True");
        assert_eq!(seen.changed(&t), (false, true), "first sight");
        t.status.as_mut().unwrap().decisions.insert("x".into(), 9);
        assert_eq!(seen.changed(&t), (false, false), "a counter tick");
        t.spec.rollout.paused = true;
        assert_eq!(seen.changed(&t), (true, false), "a pause is planned");
        t.status.as_mut().unwrap().rollout = Some(crate::crd::RolloutStatus {
            id: "1.32.0".into(),
            ..Default::default()
        });
        assert_eq!(
            seen.changed(&t),
            (false, true),
            "a new rollout re-judges approvals"
        );
    }

    fn tenant(generation: i64, counter: u64, ready: &str) -> Tenant {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "fleetward.dev/v1alpha1", "kind": "Tenant",
            "metadata": {"name": "acme", "generation": generation},
            "spec": {},
            "status": {
                "decisions": {"placement": counter},
                "conditions": [{"type": "PoliciesReady", "status": ready, "reason": "Loaded",
                                "message": "", "lastTransitionTime": "2026-01-05T00:00:00Z"}]
            }
        }))
        .expect("tenant JSON")
    }

    #[test]
    fn tenant_requeues_on_spec_or_condition_changes_not_on_counters() {
        let seen = TenantFingerprints::default();
        assert!(seen.changed(&tenant(1, 0, "True")), "first sight requeues");
        assert!(
            !seen.changed(&tenant(1, 1, "True")),
            "a counter tick must not requeue"
        );
        assert!(!seen.changed(&tenant(1, 7, "True")));
        assert!(
            seen.changed(&tenant(2, 7, "True")),
            "a spec change (generation) requeues"
        );
        assert!(
            seen.changed(&tenant(2, 7, "False")),
            "a condition change requeues"
        );
        assert!(!seen.changed(&tenant(2, 8, "False")));
    }
}
