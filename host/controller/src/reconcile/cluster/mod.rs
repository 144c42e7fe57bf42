//! The ManagedCluster reconciler, the shell around [`crate::core::lifecycle`]: it reads
//! (namespace, caches, children, Machines), calls the placement and remediation policies, and
//! writes what the core decided (finalizer, children, remediation actions, status, Events).
//!
//! Order: finalizer → tenancy → the spec's checks (`core::spec`: a spec whose children would
//! collide is never placed nor applied) → placement ([`place`]) → children → rollout and the in-flight
//! step → health and remediation ([`remediate`]) → phase → status, and a plan request when the
//! tenant's upgrades need planning.
//!
//! # Why not kube-runtime's `finalizer` helper
//! The finalizer `fleetward.dev/cleanup` is added and removed here by hand (a merge patch
//! carrying `resourceVersion`, so a concurrent change conflicts instead of being overwritten).
//! `kube::runtime::finalizer` removes the finalizer as soon as its `Cleanup` branch returns
//! `Ok`, whatever `Action` it returns; [`cleanup`] deletes the children and must keep the
//! finalizer, requeueing every 2 s, until they are all gone (Machines drain, namespaces
//! terminate). With the helper that wait could only be written as an `Err`, which would put a
//! routine wait through `error_policy`'s exponential backoff and count it in
//! `fleetward_reconcile_errors_total`.

mod place;
mod remediate;

use std::sync::Arc;
use std::time::Duration;

use fleetward_sdk::wire::{ClusterRef, DecisionKind, KubeVersion};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::core::health::Observation;
use crate::core::in_use::Held;
use crate::core::lifecycle::{self, Next};
use crate::core::remediation::SeedLoad;
use crate::core::spec::{self, SpecProblem};
use crate::crd::{
    CLUSTER_FINALIZER, InProgressStep, ManagedCluster, ManagedClusterStatus, TENANT_LABEL,
};
use crate::decision::DecisionOutcome;
use crate::error::{Result, kube_err};
use crate::policy::Decided;
use crate::reconcile::decisions::Outcome;
use crate::reconcile::{Context, children, own_writes};
use crate::seeds::Access;

/// Reconciles one ManagedCluster.
///
/// # Errors
/// API failures; the caller's `error_policy` retries with backoff.
pub async fn reconcile(mc: Arc<ManagedCluster>, ctx: Arc<Context>) -> Result<Action> {
    let ns = mc.namespace().unwrap_or_default();
    tracing::debug!(cluster = %format!("{ns}/{}", mc.name_any()), "reconciling cluster");
    let api: Api<ManagedCluster> = Api::namespaced(ctx.client.clone(), &ns);
    if ctx.own_writes.is_stale(
        &mc.uid().unwrap_or_default(),
        &mc.resource_version().unwrap_or_default(),
    ) {
        // Our last status write has not reached the cache yet; its watch event triggers the
        // reconcile that sees it. The requeue is only a net for a lost event.
        tracing::debug!(cluster = %format!("{ns}/{}", mc.name_any()), "cache predates our write");
        return Ok(Action::requeue(own_writes::STALE_COPY_RECHECK));
    }
    if mc.meta().deletion_timestamp.is_some() {
        return cleanup(&mc, &ctx, &api).await;
    }
    if !mc.finalizers().iter().any(|f| f == CLUSTER_FINALIZER) {
        let mut fins = mc.finalizers().to_vec();
        fins.push(CLUSTER_FINALIZER.into());
        ctx.metrics.write("ManagedCluster");
        let patch =
            json!({"metadata": {"finalizers": fins, "resourceVersion": mc.resource_version()}});
        api.patch(
            &mc.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(kube_err("adding finalizer"))?;
        return Ok(Action::await_change());
    }
    let mut r = Run {
        ctx: &ctx,
        mc: &mc,
        next: Next::new(
            mc.status.as_ref(),
            ctx.clock.now(),
            ctx.settings.resync,
            ctx.settings.history_len,
        ),
        finished: Finished::default(),
    };
    let plan_upgrades = r.run().await?;
    let finished = std::mem::take(&mut r.finished);
    let Next {
        status,
        now,
        requeue,
        ..
    } = r.next;
    if status != mc.status.clone().unwrap_or_default() {
        write_status(&ctx, &api, &mc, status).await?;
    }
    // Announced once recorded: a failed write redoes the reconcile, and with it the news.
    finished.announce(&ctx, &mc).await;
    if plan_upgrades {
        // The planner task plans the tenant once this instant's burst of events has settled.
        ctx.planning.queue.request(&mc.spec.tenant, now);
    }
    Ok(Action::requeue(requeue))
}

/// Writes a cluster's status with optimistic concurrency (a conflict retries the reconcile);
/// returns the object as the server stored it.
pub(crate) async fn write_status(
    ctx: &Context,
    api: &Api<ManagedCluster>,
    mc: &ManagedCluster,
    status: ManagedClusterStatus,
) -> Result<ManagedCluster> {
    let mut obj = mc.clone();
    obj.status = Some(status);
    obj.metadata.managed_fields = None;
    ctx.metrics.write("ManagedCluster/status");
    let mut written = api
        .replace_status(&mc.name_any(), &PostParams::default(), &obj)
        .await
        .map_err(kube_err("writing status"))?;
    ctx.own_writes.wrote(
        &mc.uid().unwrap_or_default(),
        &mc.resource_version().unwrap_or_default(),
    );
    // As the caches hold objects: nothing in the controller reads managedFields.
    written.metadata.managed_fields = None;
    Ok(written)
}

/// One reconcile of one cluster: the reads, policy calls and writes around [`Next`].
struct Run<'a> {
    ctx: &'a Context,
    mc: &'a ManagedCluster,
    next: Next,
    finished: Finished,
}

/// What this reconcile finished, announced (Event and log line) once its status is written.
#[derive(Debug, Default)]
struct Finished {
    /// The upgrade step that completed.
    step: Option<InProgressStep>,
    /// The version the cluster now runs everywhere, when that step ended its rollout.
    rollout: Option<KubeVersion>,
}

impl Finished {
    async fn announce(self, ctx: &Context, mc: &ManagedCluster) {
        let cluster = cref(mc);
        let tenant = &mc.spec.tenant;
        if let Some(step) = &self.step {
            tracing::info!(
                tenant = %tenant,
                cluster = %cluster,
                target = %step.target,
                from = %step.from,
                to = %step.to,
                "upgrade step completed"
            );
            ctx.event(
                mc,
                false,
                "UpgradeStepCompleted",
                format!("{} {} -> {}", step.target, step.from, step.to),
            )
            .await;
        }
        if let Some(version) = self.rollout {
            tracing::info!(tenant = %tenant, cluster = %cluster, version = %version, "rollout completed");
            ctx.event(
                mc,
                false,
                "RolloutCompleted",
                format!("control plane and every node pool run {version}"),
            )
            .await;
        }
    }
}

fn cref(mc: &ManagedCluster) -> ClusterRef {
    ClusterRef::new(mc.namespace().unwrap_or_default(), mc.name_any())
}

impl Run<'_> {
    fn tenant(&self) -> &str {
        &self.mc.spec.tenant
    }

    /// Runs the steps; returns whether the tenant's upgrades need planning.
    async fn run(&mut self) -> Result<bool> {
        let tenant = self.tenant().to_string();
        let tenant_obj = self.ctx.tenants.get(&ObjectRef::new(&tenant));
        let tenant_exists = tenant_obj.is_some();
        let tenant_deleting = tenant_obj.is_some_and(|t| t.meta().deletion_timestamp.is_some());
        // The Tenant exists but its policies are not loaded yet: decide nothing with built-ins
        // meanwhile; the Tenant's status update requeues this cluster.
        if !self.ctx.policies.tenant_known(&tenant) && tenant_exists {
            self.next.requeue_within(Duration::from_secs(2));
            return Ok(false);
        }
        self.next.holder_of(Held::Tenant, &tenant, tenant_deleting);
        if let Err(msg) = self.check_tenancy().await? {
            if self.next.tenant_mismatch(&msg) {
                self.ctx.event(self.mc, true, "TenantMismatch", msg).await;
            }
            return Ok(false);
        }
        self.next.tenancy_ok();
        let Some(desired) = self.next.desired_version(&self.mc.spec) else {
            return Ok(false);
        };
        // Whatever the API server accepted: a spec the children cannot be rendered from is
        // neither placed nor applied (`core::spec`).
        if let Err(problem) = spec::check(&self.mc.spec) {
            self.reject_spec(&problem).await;
            return Ok(false);
        }
        if self.next.status.seed.is_none() && !self.place(desired).await? {
            let failing = self.ctx.degraded_for(&tenant);
            self.next.unplaced(&failing);
            return Ok(false);
        }
        let seed_name = self.next.status.seed.clone().unwrap_or_default();
        self.ctx
            .placement
            .book
            .lock()
            .await
            .record(&cref(self.mc), &tenant, &seed_name);
        // Everything below reads and writes the seed: only while it can be worked on, and
        // with one of its permits (a hung seed holds at most `seed_concurrency` workers).
        let Some(seed) = self.ctx.seeds.get(&ObjectRef::new(&seed_name)) else {
            // Its Seed is gone (finalizer removed by hand): never guess another, touch nothing.
            self.next.seed_gone(&seed_name);
            return Ok(false);
        };
        self.next.holder_of(
            Held::Seed,
            &seed_name,
            seed.meta().deletion_timestamp.is_some(),
        );
        let conn = match self.ctx.seed_conns.access(Some(seed.as_ref())) {
            Access::Ready(conn) => conn,
            Access::Pending => {
                self.next.requeue_within(Duration::from_secs(1));
                return Ok(false);
            }
            Access::Unavailable(problem) => {
                self.next.seed_unreachable(&seed_name, &problem.to_string());
                return Ok(false);
            }
        };
        let Some(_permit) = conn.try_permit() else {
            self.next.requeue_within(Duration::from_secs(1));
            return Ok(false);
        };
        self.next.seed_reachable();
        let (ns, name) = (self.mc.namespace().unwrap_or_default(), self.mc.name_any());
        let input = self.next.render(&ns, &name, &self.mc.spec, desired)?;
        let objects = input.objects();
        let seed_ns = conn.cached_labels("Namespace", None, &input.namespace());
        if let Err(problem) = spec::distinct_children(&objects)
            .and_then(|()| spec::namespace_owner(&input.namespace(), seed_ns.as_ref(), &ns, &name))
        {
            self.reject_spec(&problem).await;
            return Ok(false);
        }
        self.next.spec_valid();
        if let Ok(mut idx) = self.ctx.placement.seed_namespaces.write() {
            idx.entry(input.namespace())
                .or_insert_with(|| ObjectRef::from_obj(self.mc));
        }
        // Placed in this reconcile: its children cannot exist yet, so skip reading each first.
        let placed_now = self
            .mc
            .status
            .as_ref()
            .and_then(|s| s.seed.as_ref())
            .is_none();
        let mut live = Vec::new();
        for obj in &objects {
            live.push(if placed_now {
                children::apply(self.ctx, &conn, obj).await?
            } else {
                children::ensure(self.ctx, &conn, obj).await?
            });
        }
        let machines = conn.cached_in("Machine", &input.namespace());
        let obs = Observation::parse(&live, &machines);
        let rollout = self.next.rollout(&input, &obs);
        let in_flight = self.next.status.in_progress.clone();
        self.next.complete_step(rollout, &obs);
        if self.next.status.in_progress.is_none() {
            self.finished.step = in_flight;
        }
        let threshold = self.ctx.settings.unhealthy_threshold.as_secs() as i64;
        // Read at most once, and only if something is unhealthy (see `Next::health`).
        let load = std::sync::OnceLock::new();
        let seed = self.next.status.seed.clone().unwrap_or_default();
        let ctx = self.ctx;
        let load = || *load.get_or_init(|| seed_load(&ctx.clusters, &seed));
        if self.next.health(&obs, load, threshold).is_some() {
            // About to ask for a disruptive action: confirm the problem on the server itself,
            // not on caches that may lag it by part of a burst (see `children::read_fresh`).
            let (live, machines) =
                children::read_fresh(&conn, &input.objects(), &input.namespace()).await?;
            let fresh = Observation::parse(&live, &machines);
            if let Some((problem, history)) = self.next.health(&fresh, load, threshold) {
                self.remediate(&conn, &input.namespace(), problem, history, threshold)
                    .await?;
            }
        }
        let failing = self.ctx.degraded_for(&tenant);
        if self.finished.step.is_some() && !self.next.needs_upgrade(&self.mc.spec, desired) {
            self.finished.rollout = Some(desired);
        }
        Ok(self.next.conclude(
            &self.mc.spec,
            self.mc.status.as_ref(),
            self.mc.metadata.generation,
            desired,
            rollout,
            &failing,
        ))
    }

    /// The spec cannot be acted on: `SpecValid=False` and, when that is news, one Warning Event.
    async fn reject_spec(&mut self, problem: &SpecProblem) {
        if self.next.spec_invalid(problem) {
            tracing::warn!(cluster = %format!("{}/{}", self.mc.namespace().unwrap_or_default(), self.mc.name_any()), reason = problem.reason(), "{problem}");
            self.ctx
                .event(self.mc, true, "InvalidSpec", problem.to_string())
                .await;
        }
    }

    /// Reads the namespace's tenant label; [`lifecycle::tenancy`] decides.
    async fn check_tenancy(&self) -> Result<std::result::Result<(), String>> {
        let ns = self.mc.namespace().unwrap_or_default();
        // From the management cluster's Namespace cache (metadata only): a GET per reconcile
        // was one request per cluster per resync.
        let label = self
            .ctx
            .namespaces
            .get(&ObjectRef::new(&ns))
            .and_then(|n| n.labels().get(TENANT_LABEL).cloned());
        let tenant = self.tenant();
        let exists = self.ctx.tenants.get(&ObjectRef::new(tenant)).is_some();
        Ok(lifecycle::tenancy(&ns, label.as_deref(), tenant, exists))
    }

    /// Records a decision about this cluster through the one recording path
    /// ([`crate::reconcile::decisions`]) and adds it to the status being built.
    async fn note<T>(
        &mut self,
        d: &Decided<T>,
        kind: DecisionKind,
        outcome: DecisionOutcome,
        reason: String,
    ) {
        let tenant = self.tenant().to_string();
        let outcome = Outcome {
            kind,
            clusters: vec![cref(self.mc)],
            outcome,
            reason,
        };
        let about = self.mc.object_ref(&());
        let entry = self
            .ctx
            .record(d, &tenant, self.next.now, Some(&about), outcome.clone())
            .await;
        // Placement and remediation: one outcome per decision, so one record each.
        self.ctx.log(
            d,
            &tenant,
            self.next.now,
            kind,
            std::slice::from_ref(&outcome),
        );
        self.next.decision(entry);
    }
}

async fn cleanup(mc: &ManagedCluster, ctx: &Context, api: &Api<ManagedCluster>) -> Result<Action> {
    if !mc.finalizers().iter().any(|f| f == CLUSTER_FINALIZER) {
        return Ok(Action::await_change());
    }
    let st = mc.status.clone().unwrap_or_default();
    let ns = mc.namespace().unwrap_or_default();
    if let Some(input) = lifecycle::teardown(&ns, &mc.name_any(), &mc.spec, &st) {
        // The children are on the cluster's seed: wait (keeping the finalizer) while it cannot
        // be worked on; the Seed reconciler requeues this cluster when that changes. A Seed
        // object that no longer exists is taken to be the management cluster.
        let seed_name = st.seed.clone().unwrap_or_default();
        let seed = ctx.seeds.get(&ObjectRef::new(&seed_name));
        let conn = match ctx.seed_conns.access(seed.as_deref()) {
            Access::Ready(conn) => conn,
            Access::Pending => return Ok(Action::requeue(Duration::from_secs(1))),
            Access::Unavailable(problem) => {
                tracing::info!(cluster = %format!("{ns}/{}", mc.name_any()), seed = %seed_name, reason = problem.reason(), "deletion waits for the seed");
                return Ok(Action::requeue(ctx.settings.seed_retry));
            }
        };
        let mut objs = input.objects();
        // Pools first, the namespace last.
        objs.reverse();
        let mut all_gone = true;
        for o in &objs {
            all_gone &= children::delete(ctx, &conn, o).await?;
        }
        if !all_gone {
            return Ok(Action::requeue(Duration::from_secs(2)));
        }
        if let Ok(mut idx) = ctx.placement.seed_namespaces.write() {
            idx.remove(&input.namespace());
        }
    }
    ctx.placement.book.lock().await.remove(&cref(mc));
    let fins: Vec<String> = mc
        .finalizers()
        .iter()
        .filter(|f| *f != CLUSTER_FINALIZER)
        .cloned()
        .collect();
    ctx.metrics.write("ManagedCluster");
    let patch = json!({"metadata": {"finalizers": fins, "resourceVersion": mc.resource_version()}});
    api.patch(
        &mc.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(kube_err("removing finalizer"))?;
    Ok(Action::await_change())
}

/// How many clusters are on `seed` and how many of them are unhealthy, from the cluster cache
/// (one pass over it).
fn seed_load(clusters: &Store<ManagedCluster>, seed: &str) -> SeedLoad {
    let mut load = SeedLoad::default();
    for c in clusters.state() {
        let Some(status) = c.status.as_ref() else {
            continue;
        };
        if status.seed.as_deref() == Some(seed) {
            load.total += 1;
            load.unhealthy += usize::from(!status.problems.is_empty());
        }
    }
    load
}
