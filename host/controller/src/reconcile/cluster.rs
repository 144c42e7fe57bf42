//! The ManagedCluster reconciler: tenancy check → placement → provisioning → upgrade progress and
//! planning → health and remediation → status.

use std::sync::Arc;
use std::time::Duration;

use fleetward_sdk::wire::{
    ClusterRef, ClusterToPlace, Component, DecisionKind, KubeVersion, PlacementConstraints,
    PlacementRequest, RemediationAction, RemediationDecision, RemediationRecord,
    RemediationRequest, SeedCandidate, Timestamp,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use crate::core::health::{self, MachineHealth, WorkloadHealth};
use crate::core::placement;
use crate::core::provision::{
    CONTROL_PLANE_COMPONENTS, LABEL_VERSION, PoolRender, ProvisionInput, RESTARTED_AT,
};
use crate::core::remediation::{is_disruptive, is_seed_fault};
use crate::crd::{
    CLUSTER_FINALIZER, ConditionStatus, DecisionRecordStatus, ManagedCluster, ManagedClusterStatus,
    NodePoolStatus, Phase, RemediationEntry, TENANT_LABEL, UpgradeHistoryEntry, reason_from_label,
    set_condition,
};
use crate::decision::DecisionOutcome;
use crate::error::{Error, Result, kube_err};
use crate::policy::{DecideEnv, Decided, emit, record};
use crate::reconcile::{Context, children};

/// Reconciles one ManagedCluster.
///
/// # Errors
/// API failures; the caller's `error_policy` retries with backoff.
pub async fn reconcile(mc: Arc<ManagedCluster>, ctx: Arc<Context>) -> Result<Action> {
    let ns = mc.namespace().unwrap_or_default();
    tracing::debug!(cluster = %format!("{ns}/{}", mc.name_any()), "reconciling cluster");
    let api: Api<ManagedCluster> = Api::namespaced(ctx.client.clone(), &ns);
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
        now: ctx.clock.now(),
        st: mc.status.clone().unwrap_or_default(),
        requeue: ctx.settings.resync,
    };
    let action = r.run().await?;
    let changed = r.st != mc.status.clone().unwrap_or_default();
    if changed {
        write_status(&ctx, &api, &mc, r.st.clone()).await?;
    }
    if action.plan_upgrades {
        // The planner task plans the tenant once this instant's burst of events has settled.
        ctx.plans.request(&mc.spec.tenant, r.now);
    }
    Ok(Action::requeue(r.requeue))
}

/// Writes a cluster's status with optimistic concurrency (a conflict retries the reconcile).
pub(crate) async fn write_status(
    ctx: &Context,
    api: &Api<ManagedCluster>,
    mc: &ManagedCluster,
    status: ManagedClusterStatus,
) -> Result<()> {
    let mut obj = mc.clone();
    obj.status = Some(status);
    obj.metadata.managed_fields = None;
    ctx.metrics.write("ManagedCluster/status");
    api.replace_status(&mc.name_any(), &PostParams::default(), &obj)
        .await
        .map_err(kube_err("writing status"))?;
    Ok(())
}

/// What the run decided beyond status.
struct Outcome {
    plan_upgrades: bool,
}

struct Run<'a> {
    ctx: &'a Context,
    mc: &'a ManagedCluster,
    now: Timestamp,
    st: ManagedClusterStatus,
    requeue: Duration,
}

fn cref(mc: &ManagedCluster) -> ClusterRef {
    ClusterRef::new(mc.namespace().unwrap_or_default(), mc.name_any())
}

fn version(s: &str, what: &str) -> Result<KubeVersion> {
    KubeVersion::parse(s).map_err(|e| Error::Invalid {
        what: what.into(),
        message: e.to_string(),
    })
}

fn push_bounded<T>(v: &mut Vec<T>, item: T, max: usize) {
    v.push(item);
    if v.len() > max {
        let excess = v.len() - max;
        v.drain(..excess);
    }
}

impl Run<'_> {
    fn now_s(&self) -> String {
        self.now.to_string()
    }

    fn cond(&mut self, t: &str, s: ConditionStatus, reason: &str, msg: impl Into<String>) {
        let now = self.now_s();
        set_condition(&mut self.st.conditions, t, s, reason, msg, &now);
    }

    fn requeue_at(&mut self, at: Timestamp) {
        let secs = (at.0 - self.now.0).max(1) as u64;
        self.requeue = self.requeue.min(Duration::from_secs(secs));
    }

    fn decision(
        &mut self,
        kind: DecisionKind,
        digest: &str,
        outcome: &DecisionOutcome,
        reason: &str,
    ) {
        let entry = DecisionRecordStatus {
            kind: kind.as_str().into(),
            digest: digest.into(),
            time: self.now_s(),
            outcome: outcome.as_str().into(),
            reason: reason.chars().take(300).collect(),
        };
        // Repeating the same answer is not news: keep status (and writes) quiet.
        let same = |d: &DecisionRecordStatus| {
            d.kind == entry.kind
                && d.digest == entry.digest
                && d.outcome == entry.outcome
                && d.reason == entry.reason
        };
        if self
            .st
            .last_decisions
            .iter()
            .rev()
            .find(|d| d.kind == entry.kind)
            .is_some_and(same)
        {
            return;
        }
        push_bounded(
            &mut self.st.last_decisions,
            entry,
            self.ctx.settings.history_len,
        );
    }

    async fn run(&mut self) -> Result<Outcome> {
        let none = Outcome {
            plan_upgrades: false,
        };
        // The Tenant exists but its policies are not loaded yet: decide nothing with built-ins
        // meanwhile; the Tenant's status update requeues this cluster.
        if !self.ctx.policies.tenant_known(&self.mc.spec.tenant)
            && self
                .ctx
                .tenants
                .get(&kube::runtime::reflector::ObjectRef::new(
                    &self.mc.spec.tenant,
                ))
                .is_some()
        {
            self.requeue = self.requeue.min(Duration::from_secs(2));
            return Ok(none);
        }
        if let Err(msg) = self.check_tenancy().await? {
            let now = self.now_s();
            let changed = set_condition(
                &mut self.st.conditions,
                "TenantMismatch",
                ConditionStatus::True,
                "TenantMismatch",
                &msg,
                &now,
            );
            self.st.phase = Phase::Rejected;
            if changed {
                self.ctx.event(self.mc, true, "TenantMismatch", msg).await;
            }
            return Ok(none);
        }
        self.st.conditions.retain(|c| c.type_ != "TenantMismatch");
        let desired = match version(&self.mc.spec.version, "spec.version") {
            Ok(v) => v,
            Err(e) => {
                self.cond(
                    "Placed",
                    ConditionStatus::False,
                    "InvalidSpec",
                    e.to_string(),
                );
                self.st.phase = Phase::Rejected;
                return Ok(none);
            }
        };
        if self.st.seed.is_none() && !self.place(desired).await? {
            self.policy_degraded();
            self.st.phase = Phase::Pending;
            self.requeue = self.requeue.min(Duration::from_secs(60));
            return Ok(none);
        }
        self.cond(
            "Placed",
            ConditionStatus::True,
            "Placed",
            format!("on seed {}", self.st.seed.clone().unwrap_or_default()),
        );
        if let Some(seed) = &self.st.seed {
            self.ctx
                .placements
                .lock()
                .await
                .record(&cref(self.mc), &self.mc.spec.tenant, seed);
        }
        let input = self.render_input(desired)?;
        if let Ok(mut idx) = self.ctx.seed_namespaces.write() {
            idx.entry(input.namespace())
                .or_insert_with(|| kube::runtime::reflector::ObjectRef::from_obj(self.mc));
        }
        // Placed in this reconcile: its children cannot exist yet, so skip reading each first.
        let placed_now = self
            .mc
            .status
            .as_ref()
            .and_then(|s| s.seed.as_ref())
            .is_none();
        let mut live = Vec::new();
        for obj in input.objects() {
            live.push(if placed_now {
                children::apply(self.ctx, &obj).await?
            } else {
                children::ensure(self.ctx, &obj).await?
            });
        }
        let machines = self.list_machines(&input.namespace()).await?;
        let (cp_ready, nodes_ready) = self.observe(&input, &live);
        self.complete_step(cp_ready, &live);
        self.health(&live, &machines, &input).await?;
        let in_progress = self.st.in_progress.clone();
        let needs_upgrade = self.needs_upgrade(desired);
        match &in_progress {
            Some(step) => self.cond(
                "UpgradeInProgress",
                ConditionStatus::True,
                "StepRunning",
                format!("{} {} -> {}", step.target, step.from, step.to),
            ),
            None if needs_upgrade => self.cond(
                "UpgradeInProgress",
                ConditionStatus::False,
                "Waiting",
                "waiting for the tenant's upgrade policy",
            ),
            None => self.cond("UpgradeInProgress", ConditionStatus::False, "UpToDate", ""),
        }
        let healthy = cp_ready && nodes_ready && self.st.problems.is_empty();
        let settled = healthy
            && in_progress.is_none()
            && self
                .st
                .node_pools
                .iter()
                .all(|p| Some(&p.version) == self.st.control_plane_version.as_ref());
        if !settled {
            self.st.settled_since = None;
        } else if self.st.settled_since.is_none() {
            self.st.settled_since = Some(self.now_s());
        }
        self.st.phase = if in_progress.is_some() {
            Phase::Upgrading
        } else if !self.st.problems.is_empty()
            && self.st.phase != Phase::Provisioning
            && self.st.phase != Phase::Pending
        {
            Phase::Degraded
        } else if !(cp_ready && nodes_ready)
            && matches!(self.st.phase, Phase::Pending | Phase::Provisioning)
        {
            Phase::Provisioning
        } else if cp_ready && nodes_ready {
            Phase::Running
        } else {
            Phase::Degraded
        };
        self.st.observed_generation = self.mc.metadata.generation;
        self.policy_degraded();
        // Plan when this cluster waits for a step, and when it just finished one: a finished
        // step frees a place under the tenant's caps and may end a wave, so the tenant's other
        // clusters must not wait for their next resync to move.
        let finished_step = self
            .mc
            .status
            .as_ref()
            .is_some_and(|s| s.in_progress.is_some())
            && in_progress.is_none();
        Ok(Outcome {
            plan_upgrades: (needs_upgrade && in_progress.is_none()) || finished_step,
        })
    }

    fn policy_degraded(&mut self) {
        let failing = self.ctx.degraded_for(&self.mc.spec.tenant);
        if failing.is_empty() {
            self.cond(
                "PolicyDegraded",
                ConditionStatus::False,
                "PoliciesHealthy",
                "",
            );
        } else {
            let msg = failing
                .iter()
                .map(|(k, f)| format!("{k}: {}", f.message))
                .collect::<Vec<_>>()
                .join("; ");
            let reason = reason_from_label(&failing[0].1.label);
            self.cond("PolicyDegraded", ConditionStatus::True, &reason, msg);
        }
    }

    async fn check_tenancy(&self) -> Result<std::result::Result<(), String>> {
        let ns = self.mc.namespace().unwrap_or_default();
        let tenant = &self.mc.spec.tenant;
        let nsobj = Api::<Namespace>::all(self.ctx.client.clone())
            .get_opt(&ns)
            .await
            .map_err(kube_err("reading namespace"))?;
        let label = nsobj
            .as_ref()
            .and_then(|n| n.labels().get(TENANT_LABEL).cloned());
        Ok(match label {
            None => Err(format!(
                "namespace {ns} has no {TENANT_LABEL} label; label it {TENANT_LABEL}={tenant}"
            )),
            Some(l) if &l != tenant => Err(format!(
                "namespace {ns} belongs to tenant {l:?}, but spec.tenant is {tenant:?}"
            )),
            Some(_)
                if self
                    .ctx
                    .tenants
                    .get(&kube::runtime::reflector::ObjectRef::new(tenant))
                    .is_none() =>
            {
                Err(format!("Tenant {tenant:?} does not exist"))
            }
            Some(_) => Ok(()),
        })
    }

    async fn place(&mut self, desired: KubeVersion) -> Result<bool> {
        let tenant = self.mc.spec.tenant.clone();
        let id = cref(self.mc);
        let mut book = self.ctx.placements.lock().await;
        if !book.initialized() {
            for c in self.ctx.clusters.state() {
                if let Some(seed) = c
                    .status
                    .as_ref()
                    .and_then(|s| s.seed.as_ref())
                    .filter(|_| c.meta().deletion_timestamp.is_none())
                {
                    book.record(&cref(&c), &c.spec.tenant, seed);
                }
            }
            book.set_initialized();
        }
        // Decided before but the status write failed (conflict): keep that answer.
        if let Some(seed) = book.seed_of(&id).map(str::to_string) {
            drop(book);
            self.placed(&seed, desired);
            return Ok(true);
        }
        let seeds: Vec<SeedCandidate> = self
            .ctx
            .seeds
            .state()
            .iter()
            .filter_map(|s| {
                let name = s.name_any();
                Some(SeedCandidate {
                    clusters: book.on_seed(&name),
                    region: s.spec.region.clone(),
                    provider: s.spec.provider.clone(),
                    zone: s.spec.zone.clone(),
                    labels: s.spec.labels.clone(),
                    capacity: s.spec.capacity,
                    ready: !s.spec.unschedulable && s.spec.location.kubeconfig_secret.is_none(),
                    min_version: KubeVersion::parse(&s.spec.min_version).ok()?,
                    max_version: KubeVersion::parse(&s.spec.max_version).ok()?,
                    name,
                })
            })
            .collect();
        let p = &self.mc.spec.placement;
        let cluster = ClusterToPlace {
            id: id.clone(),
            labels: self.mc.spec.labels.clone(),
            version: desired,
            constraints: PlacementConstraints {
                regions: p.regions.clone(),
                providers: p.providers.clone(),
                seed_labels: p.seed_labels.clone(),
            },
        };
        let (cands, rejected) = placement::candidates(&cluster, &seeds);
        if cands.is_empty() {
            let why = rejected
                .iter()
                .map(|r| format!("{}: {}", r.seed, r.reason))
                .collect::<Vec<_>>()
                .join("; ");
            self.cond(
                "Placed",
                ConditionStatus::False,
                "NoCandidateSeed",
                format!("no seed passes the host's filters ({why})"),
            );
            return Ok(false);
        }
        let tenant_placements = book.tenant(&tenant);
        // Policy calls run in parallel; capacity is re-checked under the lock afterwards.
        drop(book);
        let req = PlacementRequest {
            cluster,
            seeds: cands,
            tenant_placements,
        };
        let env = DecideEnv {
            tenant: &tenant,
            now: self.now,
            metrics: &self.ctx.metrics,
        };
        let d = self.ctx.policies.place(&env, &req).await;
        self.ctx
            .set_degraded(&tenant, DecisionKind::Placement, d.failure.clone());
        let (seed, reason) = match &d.decision {
            Some(dec) => (
                dec.seed.clone(),
                if d.reason.is_empty() {
                    dec.reason.clone()
                } else {
                    d.reason.clone()
                },
            ),
            None => (None, d.reason.clone()),
        };
        emit(
            self.ctx.sink.as_ref(),
            record(
                &d,
                self.now,
                &tenant,
                vec![id.clone()],
                DecisionKind::Placement,
                d.outcome.clone(),
                reason.clone(),
            ),
        );
        self.decision(DecisionKind::Placement, &d.digest, &d.outcome, &reason);
        let Some(seed) = seed else {
            let why = if d.outcome == DecisionOutcome::Held {
                "PolicyHold"
            } else {
                "NoSeedChosen"
            };
            self.cond("Placed", ConditionStatus::False, why, reason);
            return Ok(false);
        };
        let capacity = req
            .seeds
            .iter()
            .find(|s| s.name == seed)
            .map(|s| s.capacity)
            .unwrap_or(0);
        let mut book = self.ctx.placements.lock().await;
        if book.on_seed(&seed) >= capacity {
            drop(book);
            self.cond(
                "Placed",
                ConditionStatus::False,
                "SeedFilled",
                format!("seed {seed} filled up while deciding; retrying"),
            );
            self.requeue = self.requeue.min(Duration::from_secs(1));
            return Ok(false);
        }
        book.record(&id, &tenant, &seed);
        drop(book);
        self.placed(&seed, desired);
        self.ctx
            .event(
                self.mc,
                false,
                "Placed",
                format!("placed on seed {seed}: {reason}"),
            )
            .await;
        Ok(true)
    }

    /// Records a placement in status: the seed and the initial versions.
    fn placed(&mut self, seed: &str, desired: KubeVersion) {
        self.st.seed = Some(seed.to_string());
        self.st.control_plane_version = Some(desired.to_string());
        self.st.node_pools = self
            .mc
            .spec
            .node_pools
            .iter()
            .map(|p| NodePoolStatus {
                name: p.name.clone(),
                version: pool_initial(p.version.as_deref(), desired).to_string(),
                replicas: p.replicas,
                ready_replicas: 0,
            })
            .collect();
    }

    fn render_input(&mut self, desired: KubeVersion) -> Result<ProvisionInput> {
        let cp_current = version(
            self.st
                .control_plane_version
                .as_deref()
                .unwrap_or(&self.mc.spec.version),
            "status.controlPlaneVersion",
        )?;
        let step = self.st.in_progress.clone();
        let cp_render = match &step {
            Some(s) if s.target == "control-plane" => version(&s.to, "status.inProgress.to")?,
            _ => cp_current,
        };
        let mut pools = Vec::new();
        let mut statuses = Vec::new();
        for p in &self.mc.spec.node_pools {
            let known = self.st.node_pools.iter().find(|s| s.name == p.name);
            // A new pool starts at its own version, never newer than the control plane.
            let current = match known {
                Some(k) => version(&k.version, "status.nodePools.version")?,
                None => pool_initial(p.version.as_deref(), desired).min(cp_current),
            };
            let render = match &step {
                Some(s) if s.target == format!("pool/{}", p.name) => {
                    version(&s.to, "status.inProgress.to")?
                }
                _ => current,
            };
            pools.push(PoolRender {
                name: p.name.clone(),
                replicas: p.replicas,
                version: render,
                machine_template: p.machine_template.clone(),
            });
            statuses.push(NodePoolStatus {
                name: p.name.clone(),
                version: current.to_string(),
                replicas: p.replicas,
                ready_replicas: known.map(|k| k.ready_replicas).unwrap_or(0),
            });
        }
        self.st.node_pools = statuses;
        Ok(ProvisionInput {
            tenant: self.mc.spec.tenant.clone(),
            cluster_namespace: self.mc.namespace().unwrap_or_default(),
            cluster_name: self.mc.name_any(),
            control_plane_version: cp_render,
            control_plane_replicas: self.mc.spec.control_plane.replicas,
            pools,
        })
    }

    async fn list_machines(&self, ns: &str) -> Result<Vec<Value>> {
        let ar = children::api_resource(
            &json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine"}),
        )?;
        children::list_json(self.ctx, &ar, ns).await
    }

    /// Updates pool readiness and the ready conditions; returns (control plane ready, nodes ready).
    fn observe(&mut self, input: &ProvisionInput, live: &[Value]) -> (bool, bool) {
        let cp_ready = live
            .iter()
            .filter(|o| is_cp_workload(o))
            .all(|o| workload_settled(o, &input.control_plane_version.to_string()));
        let mut nodes_ready = true;
        for o in live.iter().filter(|o| o["kind"] == "MachineDeployment") {
            let name = o["metadata"]["name"].as_str().unwrap_or_default();
            let ready = o["status"]["readyReplicas"].as_u64().unwrap_or(0) as u32;
            if let Some(p) = self.st.node_pools.iter_mut().find(|p| p.name == name) {
                p.ready_replicas = ready;
            }
            let v = o["metadata"]["labels"][LABEL_VERSION]
                .as_str()
                .unwrap_or_default()
                .to_string();
            nodes_ready &= md_settled(o, &v);
        }
        if cp_ready {
            self.cond(
                "ControlPlaneReady",
                ConditionStatus::True,
                "AllReplicasReady",
                "",
            );
        } else {
            self.cond(
                "ControlPlaneReady",
                ConditionStatus::False,
                "NotReady",
                "control-plane workloads are not all ready at their version",
            );
        }
        if nodes_ready {
            self.cond("NodesReady", ConditionStatus::True, "AllMachinesReady", "");
        } else {
            self.cond(
                "NodesReady",
                ConditionStatus::False,
                "NotReady",
                "node pools are not all ready at their version",
            );
        }
        (cp_ready, nodes_ready)
    }

    /// Completes the in-flight step once its target runs the new version and is ready.
    fn complete_step(&mut self, cp_ready: bool, live: &[Value]) {
        let Some(step) = self.st.in_progress.clone() else {
            return;
        };
        let done = if step.target == "control-plane" {
            cp_ready
        } else {
            let pool = step.target.trim_start_matches("pool/");
            live.iter().any(|o| {
                o["kind"] == "MachineDeployment"
                    && o["metadata"]["name"] == pool
                    && md_settled(o, &step.to)
            })
        };
        if !done {
            return;
        }
        if step.target == "control-plane" {
            self.st.control_plane_version = Some(step.to.clone());
        } else if let Some(p) = self
            .st
            .node_pools
            .iter_mut()
            .find(|p| format!("pool/{}", p.name) == step.target)
        {
            p.version = step.to.clone();
        }
        let now = self.now_s();
        if let Some(h) = self
            .st
            .upgrade_history
            .iter_mut()
            .rev()
            .find(|h| h.target == step.target && h.to == step.to && h.completed_at.is_none())
        {
            h.completed_at = Some(now);
        } else {
            let entry = UpgradeHistoryEntry {
                target: step.target.clone(),
                from: step.from.clone(),
                to: step.to.clone(),
                started_at: step.started_at.clone(),
                completed_at: Some(now),
            };
            push_bounded(
                &mut self.st.upgrade_history,
                entry,
                self.ctx.settings.history_len,
            );
        }
        self.st.in_progress = None;
    }

    fn needs_upgrade(&self, desired: KubeVersion) -> bool {
        let cp = self
            .st
            .control_plane_version
            .as_deref()
            .and_then(|v| KubeVersion::parse(v).ok());
        if cp.is_some_and(|c| c < desired) {
            return true;
        }
        self.mc.spec.node_pools.iter().any(|p| {
            let want = p
                .version
                .as_deref()
                .and_then(|v| KubeVersion::parse(v).ok())
                .unwrap_or(desired);
            self.st
                .node_pools
                .iter()
                .find(|s| s.name == p.name)
                .and_then(|s| KubeVersion::parse(&s.version).ok())
                .is_some_and(|cur| cur < want)
        })
    }

    async fn health(
        &mut self,
        live: &[Value],
        machines: &[Value],
        input: &ProvisionInput,
    ) -> Result<()> {
        let workloads: Vec<WorkloadHealth> = live
            .iter()
            .filter(|o| is_cp_workload(o))
            .map(|o| WorkloadHealth {
                name: o["metadata"]["name"].as_str().unwrap_or_default().into(),
                replicas: o["spec"]["replicas"].as_u64().unwrap_or(1) as u32,
                ready_replicas: o["status"]["readyReplicas"].as_u64().unwrap_or(0) as u32,
                observed_current: observed_current(o)
                    && self.st.phase != Phase::Provisioning
                    && self.st.phase != Phase::Pending,
            })
            .collect();
        let machines: Vec<MachineHealth> = machines.iter().map(machine_health).collect();
        let observed = health::observe(&workloads, &machines);
        self.st.problems = health::track(&self.st.problems, &observed, self.now);
        if observed.is_empty() {
            self.cond("Remediating", ConditionStatus::False, "Healthy", "");
            return Ok(());
        }
        let threshold = self.ctx.settings.unhealthy_threshold.as_secs() as i64;
        // Come back when the oldest problem becomes due; once it is due, the paths below set
        // the requeue (a past instant here would mean a requeue every second).
        if let Some(first) = self
            .st
            .problems
            .first()
            .and_then(|p| Timestamp::parse(&p.since).ok())
            .filter(|first| first.0 + threshold > self.now.0)
        {
            self.requeue_at(Timestamp(first.0 + threshold));
        }
        let seed = self.st.seed.clone().unwrap_or_default();
        let on_seed: Vec<_> = self
            .ctx
            .clusters
            .state()
            .into_iter()
            .filter(|c| c.status.as_ref().and_then(|s| s.seed.as_ref()) == Some(&seed))
            .collect();
        let unhealthy = on_seed
            .iter()
            .filter(|c| c.status.as_ref().is_some_and(|s| !s.problems.is_empty()))
            .count();
        if is_seed_fault(unhealthy, on_seed.len()) {
            self.cond("Remediating", ConditionStatus::False, "SeedFault", format!("{unhealthy}/{} clusters on seed {seed} are unhealthy: treated as a seed fault, per-cluster remediation stopped", on_seed.len()));
            return Ok(());
        }
        let due = health::due(&self.st.problems, &observed, self.now, threshold);
        let Some(problem) = due.into_iter().next() else {
            self.cond(
                "Remediating",
                ConditionStatus::False,
                "Observing",
                format!(
                    "{} unhealthy, waiting {threshold}s before acting",
                    observed[0].component
                ),
            );
            return Ok(());
        };
        // Give the last action on this component time to work before asking again.
        let comp = problem.component.to_string();
        if let Some(last) = self
            .st
            .remediation_history
            .iter()
            .rev()
            .find(|h| h.component == comp)
            && let Ok(at) = Timestamp::parse(&last.at)
            && self.now.0 - at.0 < threshold
        {
            self.requeue_at(Timestamp(at.0 + threshold));
            return Ok(());
        }
        let history: Vec<RemediationRecord> = self
            .st
            .remediation_history
            .iter()
            .filter_map(|h| {
                Some(RemediationRecord {
                    at: Timestamp::parse(&h.at).ok()?,
                    component: parse_component(&h.component)?,
                    action: serde_json::from_str(&h.action).ok()?,
                })
            })
            .collect();
        let tenant = self.mc.spec.tenant.clone();
        let req = RemediationRequest {
            cluster: cref(self.mc),
            labels: self.mc.spec.labels.clone(),
            seed: Some(seed.clone()),
            problem: problem.clone(),
            history,
            upgrades_paused: self.st.upgrades_paused,
        };
        let env = DecideEnv {
            tenant: &tenant,
            now: self.now,
            metrics: &self.ctx.metrics,
        };
        let d = self.ctx.policies.remediate(&env, &req).await;
        self.ctx
            .set_degraded(&tenant, DecisionKind::Remediation, d.failure.clone());
        let Some(dec) = d.decision.clone() else {
            self.note_remediation(&d, &tenant, d.outcome.clone(), d.reason.clone());
            self.cond(
                "Remediating",
                ConditionStatus::False,
                "PolicyHold",
                d.reason.clone(),
            );
            self.requeue_at(Timestamp(self.now.0 + threshold));
            return Ok(());
        };
        let reason = if d.reason.is_empty() {
            dec.reason.clone()
        } else {
            d.reason.clone()
        };
        let mut outcome = d.outcome.clone();
        if is_disruptive(&dec.action) {
            let limited = self.ctx.rate.lock().map(|mut r| {
                let res = r.check(
                    &self.ctx.settings.remediation_limits,
                    self.now,
                    &cref(self.mc).to_string(),
                    &seed,
                    &tenant,
                );
                if res.is_ok() {
                    r.record(self.now, &cref(self.mc).to_string(), &seed, &tenant);
                }
                res
            });
            if let Ok(Err(veto)) = limited {
                outcome = DecisionOutcome::Vetoed {
                    invariant: "RateLimited".into(),
                };
                self.note_remediation(&d, &tenant, outcome, veto.to_string());
                self.cond(
                    "Remediating",
                    ConditionStatus::False,
                    "RateLimited",
                    veto.to_string(),
                );
                self.requeue_at(Timestamp(self.now.0 + threshold));
                return Ok(());
            }
        }
        match &dec.action {
            RemediationAction::RestartComponent { component } => {
                self.restart(&input.namespace(), component).await?
            }
            RemediationAction::RecreateMachine { machine } => {
                self.recreate(&input.namespace(), machine).await?
            }
            RemediationAction::PauseUpgradesAndEscalate { message } => {
                self.st.upgrades_paused = true;
                self.ctx
                    .event(
                        self.mc,
                        true,
                        "RemediationEscalated",
                        format!("{comp}: {message}"),
                    )
                    .await;
            }
            RemediationAction::Wait { until } => self.requeue_at(*until),
            RemediationAction::None => {}
        }
        let action_json = serde_json::to_string(&dec.action).unwrap_or_default();
        let acted = !matches!(
            dec.action,
            RemediationAction::Wait { .. } | RemediationAction::None
        );
        if acted {
            let at = self.now_s();
            push_bounded(
                &mut self.st.remediation_history,
                RemediationEntry {
                    at,
                    component: comp.clone(),
                    action: action_json.clone(),
                },
                20,
            );
        }
        self.note_remediation(&d, &tenant, outcome, reason.clone());
        let why = match dec.action {
            RemediationAction::Wait { .. } => "Waiting",
            RemediationAction::None => "NoAction",
            _ => "ActionTaken",
        };
        self.cond(
            "Remediating",
            ConditionStatus::True,
            why,
            format!("{comp}: {action_json} ({reason})"),
        );
        if is_disruptive(&dec.action) {
            self.ctx
                .event(
                    self.mc,
                    true,
                    "Remediated",
                    format!("{comp}: {action_json}: {reason}"),
                )
                .await;
        }
        self.requeue_at(Timestamp(self.now.0 + threshold));
        Ok(())
    }

    /// Sends a remediation decision to the ledger and records it in status: the same two
    /// steps whether the policy held, was rate-limited or acted.
    fn note_remediation(
        &mut self,
        d: &Decided<RemediationDecision>,
        tenant: &str,
        outcome: DecisionOutcome,
        reason: String,
    ) {
        emit(
            self.ctx.sink.as_ref(),
            record(
                d,
                self.now,
                tenant,
                vec![cref(self.mc)],
                DecisionKind::Remediation,
                outcome.clone(),
                reason.clone(),
            ),
        );
        self.decision(DecisionKind::Remediation, &d.digest, &outcome, &reason);
    }

    async fn restart(&self, ns: &str, component: &str) -> Result<()> {
        let kind = if component == "etcd" {
            "StatefulSet"
        } else {
            "Deployment"
        };
        let ar = children::api_resource(&json!({"apiVersion": "apps/v1", "kind": kind}))?;
        let api = children::api_for(self.ctx, &ar, Some(ns));
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: self.now_s()}}}}});
        self.ctx.metrics.write(kind);
        api.patch(component, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(kube_err(format!("restarting {component}")))?;
        Ok(())
    }

    async fn recreate(&self, ns: &str, machine: &str) -> Result<()> {
        let m = json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine", "metadata": {"name": machine, "namespace": ns}});
        children::delete(self.ctx, &m).await.map(|_| ())
    }
}

fn pool_initial(own: Option<&str>, desired: KubeVersion) -> KubeVersion {
    own.and_then(|v| KubeVersion::parse(v).ok())
        .map(|v| v.min(desired))
        .unwrap_or(desired)
}

fn parse_component(s: &str) -> Option<Component> {
    if let Some(name) = s.strip_prefix("control-plane/") {
        return Some(Component::ControlPlane { name: name.into() });
    }
    let rest = s.strip_prefix("machine/")?;
    let (pool, name) = rest.split_once('/')?;
    Some(Component::Machine {
        name: name.into(),
        pool: pool.into(),
    })
}

fn is_cp_workload(o: &Value) -> bool {
    (o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
        && o["metadata"]["name"]
            .as_str()
            .is_some_and(|n| CONTROL_PLANE_COMPONENTS.contains(&n))
}

/// The controller of the workload has seen its latest spec.
fn observed_current(o: &Value) -> bool {
    match (
        o["metadata"]["generation"].as_i64(),
        o["status"]["observedGeneration"].as_i64(),
    ) {
        (Some(g), Some(og)) => og >= g,
        (Some(_), None) => false,
        _ => true,
    }
}

/// A workload runs `version` (label) with every replica updated and ready.
pub(crate) fn workload_settled(o: &Value, version: &str) -> bool {
    o["metadata"]["labels"][LABEL_VERSION] == version && rolled_out(o)
}

/// A MachineDeployment runs `version` with every machine updated and ready.
pub(crate) fn md_settled(o: &Value, version: &str) -> bool {
    let spec_v = o["spec"]["template"]["spec"]["version"]
        .as_str()
        .unwrap_or_default();
    spec_v.trim_start_matches('v') == version && rolled_out(o)
}

/// kubectl's rollout-status rule: the controller has seen the latest spec, every wanted replica
/// is on the new template, no old replica is left (`status.replicas` counts old and new), and
/// the replicas are ready. Without the "no old replica" part, a one-replica pool rolling with a
/// surge Machine counted as done the moment its new Machine existed: the old one was still the
/// ready one.
fn rolled_out(o: &Value) -> bool {
    let want = o["spec"]["replicas"].as_u64().unwrap_or(1);
    let status = &o["status"];
    let updated = status["updatedReplicas"].as_u64().unwrap_or(want);
    let total = status["replicas"].as_u64().unwrap_or(updated);
    let ready = status["readyReplicas"].as_u64().unwrap_or(0);
    observed_current(o) && updated >= want && total <= updated && ready >= want
}

fn machine_health(m: &Value) -> MachineHealth {
    let name = m["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pool = m["metadata"]["labels"]["cluster.x-k8s.io/deployment-name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let failing = m["status"]["conditions"].as_array().and_then(|cs| {
        cs.iter().find(|c| {
            c["status"] == "False"
                && matches!(
                    c["type"].as_str(),
                    Some("Ready" | "HealthCheckSucceeded" | "InfrastructureReady" | "NodeHealthy")
                )
        })
    });
    // A machine still provisioning is not a problem; only a machine that was running and failed.
    let phase = m["status"]["phase"].as_str().unwrap_or_default();
    let failing = failing
        .filter(|_| !matches!(phase, "Pending" | "Provisioning" | "Deleting"))
        .map(|c| {
            (
                c["type"].as_str().unwrap_or_default().to_string(),
                c["message"]
                    .as_str()
                    .or(c["reason"].as_str())
                    .unwrap_or_default()
                    .to_string(),
            )
        });
    MachineHealth {
        name,
        pool,
        failing,
    }
}

async fn cleanup(mc: &ManagedCluster, ctx: &Context, api: &Api<ManagedCluster>) -> Result<Action> {
    if !mc.finalizers().iter().any(|f| f == CLUSTER_FINALIZER) {
        return Ok(Action::await_change());
    }
    let st = mc.status.clone().unwrap_or_default();
    if st.seed.is_some() {
        let v = KubeVersion::parse(
            st.control_plane_version
                .as_deref()
                .unwrap_or(&mc.spec.version),
        )
        .unwrap_or(KubeVersion::new(1, 0, 0));
        let input = ProvisionInput {
            tenant: mc.spec.tenant.clone(),
            cluster_namespace: mc.namespace().unwrap_or_default(),
            cluster_name: mc.name_any(),
            control_plane_version: v,
            control_plane_replicas: 1,
            pools: st
                .node_pools
                .iter()
                .map(|p| PoolRender {
                    name: p.name.clone(),
                    replicas: 0,
                    version: v,
                    machine_template: None,
                })
                .collect(),
        };
        let mut objs = input.objects();
        // Pools first, the namespace last.
        objs.reverse();
        let mut all_gone = true;
        for o in &objs {
            all_gone &= children::delete(ctx, o).await?;
        }
        if !all_gone {
            return Ok(Action::requeue(Duration::from_secs(2)));
        }
        if let Ok(mut idx) = ctx.seed_namespaces.write() {
            idx.remove(&input.namespace());
        }
    }
    ctx.placements.lock().await.remove(&cref(mc));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_checks_version_generation_and_readiness() {
        let mut d = json!({"kind": "Deployment", "metadata": {"name": "kube-apiserver", "generation": 2, "labels": {LABEL_VERSION: "1.32.0"}},
            "spec": {"replicas": 2}, "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 2}});
        assert!(workload_settled(&d, "1.32.0"));
        assert!(!workload_settled(&d, "1.31.0"));
        d["status"]["observedGeneration"] = json!(1);
        assert!(!workload_settled(&d, "1.32.0"));
        let md = json!({"metadata": {}, "spec": {"replicas": 1, "template": {"spec": {"version": "v1.32.0"}}}, "status": {"readyReplicas": 1}});
        assert!(md_settled(&md, "1.32.0"));
        // Mid-rollout with a surge Machine: the new Machine exists (updated 1) but the old one
        // is still there (replicas 2) and is the ready one.
        let mut surging = md.clone();
        surging["status"] = json!({"replicas": 2, "updatedReplicas": 1, "readyReplicas": 1});
        assert!(!md_settled(&surging, "1.32.0"));
        surging["status"] = json!({"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1});
        assert!(md_settled(&surging, "1.32.0"));
        assert_eq!(
            parse_component("machine/p/m-1"),
            Some(Component::Machine {
                name: "m-1".into(),
                pool: "p".into()
            })
        );
    }
}
