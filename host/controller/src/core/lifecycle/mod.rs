//! The cluster lifecycle's decisions: from what the shell read about one ManagedCluster (spec,
//! previous status, its parsed children, policy answers) and `now` to its next status, the
//! writes to make and when to come back.
//!
//! A reconcile is a sequence of steps on one [`Next`]; the shell (`reconcile::cluster`) reads
//! and calls policies between them, and writes what they return:
//!
//! 1. tenancy ([`tenancy`], [`Next::tenant_mismatch`]) and the spec's version
//!    ([`Next::desired_version`]);
//!    and whether the spec can be acted on at all ([`crate::core::spec`], [`Next::spec_invalid`]);
//! 2. placement: the request comes from [`crate::core::placement`], the answer lands in
//!    [`Next::placement_refused`], [`Next::seed_filled`] or [`Next::placed`];
//! 3. the children to apply ([`Next::render`]); the shell applies them and reads them back into a
//!    [`Observation`];
//! 4. rollout progress and the in-flight step ([`Next::rollout`], [`Next::complete_step`]);
//! 5. health and the remediation gate ([`Next::health`]); with the policy's answer,
//!    [`Next::remediation_answered`] says which write to make and what to record;
//! 6. [`Next::conclude`]: the upgrade condition, settledness, phase, and whether the tenant's
//!    upgrades need planning.
//!
//! Nothing here talks to Kubernetes or runs Wasm.

mod remediate;

use std::time::Duration;

use fleetward_sdk::wire::{DecisionKind, KubeVersion, Timestamp, UpgradeTarget};

use crate::core::decisions;
use crate::core::health::Observation;
use crate::core::in_use::{Held, holder_message, seed_gone_message};
use crate::core::provision::{PoolRender, ProvisionInput};
use crate::core::spec::SpecProblem;
use crate::crd::{
    ConditionStatus, DecisionRecordStatus, InProgressStep, ManagedClusterSpec,
    ManagedClusterStatus, NodePoolStatus, Phase, TENANT_LABEL, UpgradeHistoryEntry,
    reason_from_label, set_condition,
};
use crate::error::{Error, Result};
use crate::policy::PolicyFailure;

/// How soon a cluster whose Seed or Tenant is being deleted looks again.
pub const DELETION_RECHECK: Duration = Duration::from_secs(5);

/// Remediation actions kept in `status.remediationHistory`.
pub const REMEDIATION_HISTORY_LEN: usize = 20;

/// Why a cluster may not be reconciled as its tenant's, or `Ok` when it may: its namespace must
/// carry `fleetward.dev/tenant=<spec.tenant>` and that Tenant must exist.
///
/// # Errors
/// The message for the `TenantMismatch` condition and Event.
pub fn tenancy(
    namespace: &str,
    label: Option<&str>,
    tenant: &str,
    tenant_exists: bool,
) -> std::result::Result<(), String> {
    match label {
        None => Err(format!(
            "namespace {namespace} has no {TENANT_LABEL} label; label it {TENANT_LABEL}={tenant}"
        )),
        Some(l) if l != tenant => Err(format!(
            "namespace {namespace} belongs to tenant {l:?}, but spec.tenant is {tenant:?}"
        )),
        Some(_) if !tenant_exists => Err(format!(
            "Tenant {tenant:?} does not exist; nothing of this cluster is changed until it does: create the Tenant again, or delete this ManagedCluster"
        )),
        Some(_) => Ok(()),
    }
}

/// The children to delete when a placed cluster goes away (pools scaled to zero, the
/// namespace last once reversed); `None` when it was never placed.
pub fn teardown(
    namespace: &str,
    name: &str,
    spec: &ManagedClusterSpec,
    status: &ManagedClusterStatus,
) -> Option<ProvisionInput> {
    status.seed.as_ref()?;
    let v = status
        .control_plane_version
        .or_else(|| KubeVersion::parse(&spec.version).ok())
        .unwrap_or(KubeVersion::new(1, 0, 0));
    Some(ProvisionInput {
        tenant: spec.tenant.clone(),
        cluster_namespace: namespace.to_string(),
        cluster_name: name.to_string(),
        control_plane_version: v,
        control_plane_replicas: 1,
        pools: status
            .node_pools
            .iter()
            .map(|p| PoolRender {
                name: p.name.clone(),
                replicas: 0,
                version: v,
                machine_template: None,
            })
            .collect(),
    })
}

/// Whether the control plane and the node pools run their versions, every replica ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rollout {
    /// Every control-plane workload is settled at the rendered version.
    pub control_plane: bool,
    /// Every pool is settled at the version it is labelled with.
    pub nodes: bool,
}

/// The policy's reason unless the host has its own (a fallback or veto explains itself).
pub fn reason(host: &str, policy: &str) -> String {
    (if host.is_empty() { policy } else { host }).to_string()
}

pub use remediate::{RateScope, RemediationStep, RemediationWrite};

/// One cluster's next status, built step by step from the previous one.
#[derive(Clone, Debug)]
pub struct Next {
    /// The status to write (the shell writes it only when it differs from the previous one).
    pub status: ManagedClusterStatus,
    /// Decision time.
    pub now: Timestamp,
    /// When to reconcile again at the latest.
    pub requeue: Duration,
    history_len: usize,
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

/// A new pool starts at its own version, never newer than `desired`.
fn pool_initial(own: Option<&str>, desired: KubeVersion) -> KubeVersion {
    own.and_then(|v| KubeVersion::parse(v).ok())
        .map(|v| v.min(desired))
        .unwrap_or(desired)
}

impl Next {
    /// Starts from the previous status; `resync` is the longest requeue, `history_len` bounds
    /// the decision and upgrade histories.
    pub fn new(
        previous: Option<&ManagedClusterStatus>,
        now: Timestamp,
        resync: Duration,
        history_len: usize,
    ) -> Next {
        Next {
            status: previous.cloned().unwrap_or_default(),
            now,
            requeue: resync,
            history_len,
        }
    }

    /// Sets a condition (its transition time moves only when its status does); true when
    /// anything changed.
    pub fn condition(
        &mut self,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        msg: impl Into<String>,
    ) -> bool {
        let now = self.now.to_string();
        set_condition(
            &mut self.status.conditions,
            type_,
            status,
            reason,
            msg,
            &now,
        )
    }

    /// Come back no later than `at` (at least a second from now).
    pub fn requeue_at(&mut self, at: Timestamp) {
        let secs = (at.0 - self.now.0).max(1) as u64;
        self.requeue_within(Duration::from_secs(secs));
    }

    /// Come back no later than `d` from now.
    pub fn requeue_within(&mut self, d: Duration) {
        self.requeue = self.requeue.min(d);
    }

    /// Adds a decision's status entry to `status.lastDecisions` ([`decisions::push`]: bounded,
    /// and a repeat of the last answer of its kind leaves status, and writes, alone).
    pub fn decision(&mut self, entry: DecisionRecordStatus) {
        decisions::push(&mut self.status.last_decisions, entry, self.history_len);
    }

    /// The cluster is not its namespace's tenant's: `Rejected`. True when the condition changed
    /// (then the shell publishes a Warning Event `TenantMismatch`).
    pub fn tenant_mismatch(&mut self, msg: &str) -> bool {
        let changed = self.condition(
            "TenantMismatch",
            ConditionStatus::True,
            "TenantMismatch",
            msg,
        );
        self.status.phase = Phase::Rejected;
        changed
    }

    /// Tenancy holds: clears `TenantMismatch`.
    pub fn tenancy_ok(&mut self) {
        self.status
            .conditions
            .retain(|c| c.type_ != "TenantMismatch");
    }

    /// The spec cannot be acted on ([`crate::core::spec`]): `SpecValid=False` with the problem's
    /// reason and wording, `Rejected`, and come back only when something changes (the spec's
    /// edit is a watch event). True when the condition changed (then the shell publishes a
    /// Warning Event `InvalidSpec`, once per problem, not once per reconcile).
    pub fn spec_invalid(&mut self, problem: &SpecProblem) -> bool {
        let changed = self.condition(
            "SpecValid",
            ConditionStatus::False,
            problem.reason(),
            problem.to_string(),
        );
        self.status.phase = Phase::Rejected;
        changed
    }

    /// The spec can be acted on: `SpecValid=True` if it was ever reported false (a cluster whose
    /// spec was always valid carries no such condition and costs no write).
    /// A cluster rejected for its spec resumes as `Pending` (unplaced) or `Provisioning`
    /// (placed; [`Next::conclude`] moves it on from there).
    pub fn spec_valid(&mut self) {
        let was_invalid = self
            .status
            .conditions
            .iter()
            .any(|c| c.type_ == "SpecValid" && c.status != ConditionStatus::True);
        if self
            .status
            .conditions
            .iter()
            .any(|c| c.type_ == "SpecValid")
        {
            self.condition("SpecValid", ConditionStatus::True, "SpecValid", "");
        }
        if was_invalid && self.status.phase == Phase::Rejected {
            self.status.phase = if self.status.seed.is_none() {
                Phase::Pending
            } else {
                Phase::Provisioning
            };
        }
    }

    /// `spec.version`, or `None` after marking the cluster `Rejected` for an invalid one.
    pub fn desired_version(&mut self, spec: &ManagedClusterSpec) -> Option<KubeVersion> {
        match version(&spec.version, "spec.version") {
            Ok(v) => Some(v),
            Err(e) => {
                self.condition(
                    "Placed",
                    ConditionStatus::False,
                    "InvalidSpec",
                    e.to_string(),
                );
                self.status.phase = Phase::Rejected;
                None
            }
        }
    }

    /// No seed passes the host's filters.
    pub fn no_candidate(&mut self, rejected: &[crate::core::placement::Rejected]) {
        let why = crate::core::placement::explain(rejected);
        self.condition(
            "Placed",
            ConditionStatus::False,
            "NoCandidateSeed",
            format!("no seed passes the host's filters ({why})"),
        );
    }

    /// The placement policy chose no seed (`held`: it failed and the tenant holds).
    pub fn placement_refused(&mut self, held: bool, reason: &str) {
        let why = if held { "PolicyHold" } else { "NoSeedChosen" };
        self.condition("Placed", ConditionStatus::False, why, reason);
    }

    /// The chosen seed filled up while the policy decided: retry in a second.
    pub fn seed_filled(&mut self, seed: &str) {
        self.condition(
            "Placed",
            ConditionStatus::False,
            "SeedFilled",
            format!("seed {seed} filled up while deciding; retrying"),
        );
        self.requeue_within(Duration::from_secs(1));
    }

    /// Still unplaced after this reconcile: `Pending`. Not retried on a timer: a Seed's change
    /// requeues unplaced clusters, and placement sets its own retry after a policy failure
    /// (`reconcile::cluster::place`); otherwise the resync.
    pub fn unplaced(&mut self, failing: &[(DecisionKind, PolicyFailure)]) {
        self.policy_degraded(failing);
        self.status.phase = Phase::Pending;
    }

    /// The cluster's seed cannot be worked on now (unreachable, misconfigured, still
    /// connecting): `SeedReachable=False` and nothing else changes — no child is written, no
    /// step starts, no problem is recorded, so an API outage is never taken for a cluster
    /// failure. The Seed reconciler requeues the cluster when the seed's access changes.
    pub fn seed_unreachable(&mut self, seed: &str, problem: &str) {
        self.condition(
            "SeedReachable",
            ConditionStatus::False,
            "SeedUnreachable",
            format!("seed {seed}: {problem}"),
        );
    }

    /// The cluster's Seed or Tenant `name` is being deleted (`SeedDeleting` / `TenantDeleting`,
    /// true; the deletion waits for this cluster), or not (the condition goes). While it is,
    /// come back within seconds: the object's disappearance may reach this controller's caches
    /// after the event that asked for this reconcile.
    pub fn holder_of(&mut self, held: Held, name: &str, deleting: bool) {
        let type_ = match held {
            Held::Seed => "SeedDeleting",
            Held::Tenant => "TenantDeleting",
        };
        if deleting {
            let reason = match held {
                Held::Seed => "SeedBeingDeleted",
                Held::Tenant => "TenantBeingDeleted",
            };
            self.condition(
                type_,
                ConditionStatus::True,
                reason,
                holder_message(held, name),
            );
            self.requeue_within(DELETION_RECHECK);
        } else {
            self.status.conditions.retain(|c| c.type_ != type_);
        }
    }

    /// The cluster's Seed object no longer exists: `SeedReachable=False` (`SeedNotFound`), and,
    /// as for an unreachable seed, nothing else changes. The seed is never changed or guessed.
    pub fn seed_gone(&mut self, seed: &str) {
        self.status.conditions.retain(|c| c.type_ != "SeedDeleting");
        self.condition(
            "SeedReachable",
            ConditionStatus::False,
            "SeedNotFound",
            seed_gone_message(seed),
        );
    }

    /// The seed answers: `SeedReachable=True` if the cluster ever reported it false (a cluster
    /// that never lost its seed carries no such condition, and costs no write).
    pub fn seed_reachable(&mut self) {
        if self
            .status
            .conditions
            .iter()
            .any(|c| c.type_ == "SeedReachable")
        {
            self.condition("SeedReachable", ConditionStatus::True, "SeedReachable", "");
        }
    }

    /// Records a placement: the seed and the initial versions.
    pub fn placed(&mut self, spec: &ManagedClusterSpec, seed: &str, desired: KubeVersion) {
        self.status.seed = Some(seed.to_string());
        self.status.control_plane_version = Some(desired);
        self.status.node_pools = spec
            .node_pools
            .iter()
            .map(|p| NodePoolStatus {
                name: p.name.clone(),
                version: pool_initial(p.version.as_deref(), desired),
                replicas: p.replicas,
                ready_replicas: 0,
            })
            .collect();
    }

    /// Marks the cluster placed and returns the children to apply: at their current versions,
    /// except the in-flight step's target at its new one. Refreshes `status.nodePools` from the
    /// spec (a new pool starts at its own version, never newer than the control plane).
    ///
    /// # Errors
    /// [`Error::Invalid`] when a stored version does not parse.
    pub fn render(
        &mut self,
        namespace: &str,
        name: &str,
        spec: &ManagedClusterSpec,
        desired: KubeVersion,
    ) -> Result<ProvisionInput> {
        self.condition(
            "Placed",
            ConditionStatus::True,
            "Placed",
            format!("on seed {}", self.status.seed.clone().unwrap_or_default()),
        );
        let cp_current = match self.status.control_plane_version {
            Some(v) => v,
            None => version(&spec.version, "spec.version")?,
        };
        let step = self.status.in_progress.clone();
        let cp_render = match &step {
            Some(s) if s.target == UpgradeTarget::ControlPlane => s.to,
            _ => cp_current,
        };
        let mut pools = Vec::new();
        let mut statuses = Vec::new();
        for p in &spec.node_pools {
            let known = self.status.node_pools.iter().find(|s| s.name == p.name);
            let current = match known {
                Some(k) => k.version,
                None => pool_initial(p.version.as_deref(), desired).min(cp_current),
            };
            let render = match &step {
                Some(InProgressStep {
                    target: UpgradeTarget::NodePool { pool },
                    to,
                    ..
                }) if pool == &p.name => *to,
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
                version: current,
                replicas: p.replicas,
                ready_replicas: known.map(|k| k.ready_replicas).unwrap_or(0),
            });
        }
        self.status.node_pools = statuses;
        Ok(ProvisionInput {
            tenant: spec.tenant.clone(),
            cluster_namespace: namespace.to_string(),
            cluster_name: name.to_string(),
            control_plane_version: cp_render,
            control_plane_replicas: spec.control_plane.replicas,
            pools,
        })
    }

    /// Pool readiness and the `ControlPlaneReady` / `NodesReady` conditions.
    pub fn rollout(&mut self, input: &ProvisionInput, obs: &Observation) -> Rollout {
        let cp_version = input.control_plane_version.to_string();
        let control_plane = obs.workloads.iter().all(|w| w.settled_at(&cp_version));
        let mut nodes = true;
        for pool in &obs.pools {
            if let Some(p) = self
                .status
                .node_pools
                .iter_mut()
                .find(|p| p.name == pool.name)
            {
                p.ready_replicas = pool.ready_replicas;
            }
            nodes &= pool.settled();
        }
        if control_plane {
            self.condition(
                "ControlPlaneReady",
                ConditionStatus::True,
                "AllReplicasReady",
                "",
            );
        } else {
            self.condition(
                "ControlPlaneReady",
                ConditionStatus::False,
                "NotReady",
                "control-plane workloads are not all ready at their version",
            );
        }
        if nodes {
            self.condition("NodesReady", ConditionStatus::True, "AllMachinesReady", "");
        } else {
            self.condition(
                "NodesReady",
                ConditionStatus::False,
                "NotReady",
                "node pools are not all ready at their version",
            );
        }
        Rollout {
            control_plane,
            nodes,
        }
    }

    /// Completes the in-flight step once its target runs the new version and is ready.
    pub fn complete_step(&mut self, rollout: Rollout, obs: &Observation) {
        let Some(step) = self.status.in_progress.clone() else {
            return;
        };
        let to = step.to;
        let done = match &step.target {
            UpgradeTarget::ControlPlane => rollout.control_plane,
            UpgradeTarget::NodePool { pool } => obs
                .pools
                .iter()
                .any(|p| &p.name == pool && p.settled_at(&to.to_string())),
        };
        if !done {
            return;
        }
        match &step.target {
            UpgradeTarget::ControlPlane => self.status.control_plane_version = Some(to),
            UpgradeTarget::NodePool { pool } => {
                if let Some(p) = self.status.node_pools.iter_mut().find(|p| &p.name == pool) {
                    p.version = to;
                }
            }
        }
        let now = self.now;
        if let Some(h) = self
            .status
            .upgrade_history
            .iter_mut()
            .rev()
            .find(|h| h.target == step.target && h.to == to && h.completed_at.is_none())
        {
            h.completed_at = Some(now);
        } else {
            let entry = UpgradeHistoryEntry {
                target: step.target.clone(),
                from: step.from,
                to,
                started_at: step.started_at,
                completed_at: Some(now),
            };
            push_bounded(&mut self.status.upgrade_history, entry, self.history_len);
        }
        self.status.in_progress = None;
    }

    /// The control plane or a pool runs an older version than the spec asks for.
    pub fn needs_upgrade(&self, spec: &ManagedClusterSpec, desired: KubeVersion) -> bool {
        let cp = self.status.control_plane_version;
        if cp.is_some_and(|c| c < desired) {
            return true;
        }
        spec.node_pools.iter().any(|p| {
            let want = p
                .version
                .as_deref()
                .and_then(|v| KubeVersion::parse(v).ok())
                .unwrap_or(desired);
            self.status
                .node_pools
                .iter()
                .find(|s| s.name == p.name)
                .is_some_and(|s| s.version < want)
        })
    }

    /// The `PolicyDegraded` condition from the tenant's currently failing decision kinds.
    pub fn policy_degraded(&mut self, failing: &[(DecisionKind, PolicyFailure)]) {
        if failing.is_empty() {
            self.condition(
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
            self.condition("PolicyDegraded", ConditionStatus::True, &reason, msg);
        }
    }

    /// The last step of a placed cluster's reconcile: `UpgradeInProgress`, `settledSince`, the
    /// phase, `observedGeneration` and `PolicyDegraded`. Returns whether the tenant's upgrades
    /// need planning: this cluster waits for a step, or just finished one (a finished step frees
    /// a place under the tenant's caps and may end a wave, so the tenant's other clusters must
    /// not wait for their next resync to move).
    pub fn conclude(
        &mut self,
        spec: &ManagedClusterSpec,
        previous: Option<&ManagedClusterStatus>,
        generation: Option<i64>,
        desired: KubeVersion,
        rollout: Rollout,
        failing: &[(DecisionKind, PolicyFailure)],
    ) -> bool {
        let in_progress = self.status.in_progress.clone();
        let needs_upgrade = self.needs_upgrade(spec, desired);
        match &in_progress {
            Some(step) => self.condition(
                "UpgradeInProgress",
                ConditionStatus::True,
                "StepRunning",
                format!("{} {} -> {}", step.target, step.from, step.to),
            ),
            None if needs_upgrade => self.condition(
                "UpgradeInProgress",
                ConditionStatus::False,
                "Waiting",
                "waiting for the tenant's upgrade policy",
            ),
            None => self.condition("UpgradeInProgress", ConditionStatus::False, "UpToDate", ""),
        };
        let ready = rollout.control_plane && rollout.nodes;
        let st = &mut self.status;
        let settled = ready
            && st.problems.is_empty()
            && in_progress.is_none()
            && st
                .node_pools
                .iter()
                .all(|p| Some(&p.version) == st.control_plane_version.as_ref());
        if !settled {
            st.settled_since = None;
        } else if st.settled_since.is_none() {
            st.settled_since = Some(self.now);
        }
        st.phase = if in_progress.is_some() {
            Phase::Upgrading
        } else if !st.problems.is_empty()
            && st.phase != Phase::Provisioning
            && st.phase != Phase::Pending
        {
            Phase::Degraded
        } else if !ready && matches!(st.phase, Phase::Pending | Phase::Provisioning) {
            Phase::Provisioning
        } else if ready {
            Phase::Running
        } else {
            Phase::Degraded
        };
        st.observed_generation = generation;
        self.policy_degraded(failing);
        let finished_step =
            previous.is_some_and(|s| s.in_progress.is_some()) && in_progress.is_none();
        (needs_upgrade && in_progress.is_none()) || finished_step
    }
}

#[cfg(test)]
mod tests;
