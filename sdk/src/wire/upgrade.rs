//! Upgrade ordering: which clusters and node pools upgrade now, in what order, and what waits.

use serde::{Deserialize, Serialize};

use super::{ClusterRef, Health, KubeVersion, Labels, Signal, Timestamp};

/// The host asks: given the tenant's fleet, what should start upgrading now?
///
/// Only the tenant's own clusters are present. The host enforces its invariants on the answer
/// whatever the policy says (control plane before pools, one minor at a time, skew, no
/// downgrades, concurrency caps) and records any step it vetoes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct UpgradeRequest {
    /// Every cluster of the tenant, sorted by namespace and name.
    pub clusters: Vec<FleetCluster>,
    /// Recent upgrade steps of the tenant (started and completed), oldest first.
    #[serde(default)]
    pub history: Vec<UpgradeRecord>,
    /// The host's concurrency caps, so a policy can plan within them.
    pub limits: UpgradeLimits,
    /// Approval gates an operator has approved for the tenant's current rollout, sorted by gate
    /// (docs/rollout.md, "Approval gates"). A gate the policy asked for in a [`Hold`] and that is
    /// listed here is approved: the policy may go past it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
}

/// An operator's approval of a gate, as recorded by the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct Approval {
    /// The gate approved (a name the policy chose, e.g. `prod`).
    pub gate: String,
    /// Who approved, as the approval object says (`spec.approver`).
    pub approved_by: String,
    /// When the approval was created (the approval object's `creationTimestamp`).
    pub approved_at: Timestamp,
}

/// One cluster as the upgrade policy sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct FleetCluster {
    /// Identity.
    pub id: ClusterRef,
    /// ManagedCluster labels (waves, canaries, …).
    #[serde(default)]
    pub labels: Labels,
    /// Seed the control plane runs on, once placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Control-plane versions.
    pub control_plane: VersionState,
    /// Node pools, sorted by name.
    #[serde(default)]
    pub node_pools: Vec<PoolState>,
    /// Current health.
    pub health: Health,
    /// The step running now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<UpgradeStep>,
    /// Upgrades paused by remediation or an operator.
    #[serde(default)]
    pub upgrades_paused: bool,
    /// Since when the cluster has been healthy and fully on its current control-plane version
    /// (all pools included); `None` while it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_since: Option<Timestamp>,
    /// The cluster's firing signals, sorted by name, at most
    /// [`super::MAX_SIGNALS_PER_CLUSTER`] (docs/rollout.md, "Signals").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<Signal>,
}

impl FleetCluster {
    /// True when the control plane or any pool is not yet at its desired version.
    pub fn needs_upgrade(&self) -> bool {
        self.control_plane.current != self.control_plane.desired
            || self.node_pools.iter().any(|p| p.current != p.desired)
    }
}

/// Current and desired version of a control plane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct VersionState {
    /// Version running now.
    pub current: KubeVersion,
    /// Version the spec asks for.
    pub desired: KubeVersion,
}

/// A node pool's versions and readiness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct PoolState {
    /// Pool name.
    pub name: String,
    /// Kubelet version running now.
    pub current: KubeVersion,
    /// Version the pool should reach (its own, or the control plane's).
    pub desired: KubeVersion,
    /// Desired machines.
    pub replicas: u32,
    /// Ready machines.
    pub ready_replicas: u32,
}

/// What an upgrade step moves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UpgradeTarget {
    /// The hosted control plane.
    ControlPlane,
    /// One node pool (a MachineDeployment).
    NodePool {
        /// Pool name.
        pool: String,
    },
}

impl std::fmt::Display for UpgradeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpgradeTarget::ControlPlane => f.write_str("control-plane"),
            UpgradeTarget::NodePool { pool } => write!(f, "pool/{pool}"),
        }
    }
}

/// One step: move this target of this cluster to this version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct UpgradeStep {
    /// The cluster.
    pub cluster: ClusterRef,
    /// What moves.
    pub target: UpgradeTarget,
    /// The version it moves to (one minor at most beyond current).
    pub to: KubeVersion,
    /// The wave or batch this step belongs to, for reports (`canary`, `staging`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
}

/// A step that happened, for bake-time and pacing logic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct UpgradeRecord {
    /// The cluster.
    pub cluster: ClusterRef,
    /// What moved.
    pub target: UpgradeTarget,
    /// From version.
    pub from: KubeVersion,
    /// To version.
    pub to: KubeVersion,
    /// When the host started it.
    pub started_at: Timestamp,
    /// When it finished (`None` while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
}

/// The host's concurrency caps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct UpgradeLimits {
    /// Steps in flight across the whole fleet.
    pub max_concurrent: u32,
    /// Steps in flight per seed.
    pub max_concurrent_per_seed: u32,
}

/// The policy answers: start these now, in this order; these wait, for these reasons.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct UpgradeDecision {
    /// Steps to start now, in priority order. The host starts them in order while its caps allow.
    #[serde(default)]
    pub start: Vec<UpgradeStep>,
    /// Clusters that need an upgrade but wait, with the reason.
    #[serde(default)]
    pub hold: Vec<Hold>,
    /// When the policy wants to be asked again even if nothing changes (a window opens, a bake
    /// time ends). The host requeues at that time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck_at: Option<Timestamp>,
    /// A summary for status and the audit ledger.
    #[serde(default)]
    pub reason: String,
}

/// A cluster that waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct Hold {
    /// The cluster.
    pub cluster: ClusterRef,
    /// Why it waits, e.g. `outside maintenance window (Sat-Sun 01:00-05:00 UTC)`.
    pub reason: String,
    /// When the hold is expected to lift, if the policy knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// What kind of wait this is, for `fleetward rollout status` and the Tenant's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<HoldCause>,
    /// The approval gate the cluster waits for (with `cause: approval`): the host lists it as
    /// pending in the Tenant's status until an operator approves it for this rollout. A DNS
    /// label, at most 63 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// The wave the cluster belongs to, for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
}

impl Hold {
    /// A hold of `cluster` for `reason`, with no `until`, cause, gate or wave: set those with
    /// the `with_*` methods. Prefer this to a struct literal, which stops compiling whenever a
    /// new optional field is added to the wire type.
    pub fn new(cluster: ClusterRef, reason: impl Into<String>) -> Self {
        Hold {
            cluster,
            reason: reason.into(),
            until: None,
            cause: None,
            gate: None,
            wave: None,
        }
    }

    /// The same hold, expected to lift at `until`.
    pub fn with_until(mut self, until: Timestamp) -> Self {
        self.until = Some(until);
        self
    }

    /// The same hold, with its cause.
    pub fn with_cause(mut self, cause: HoldCause) -> Self {
        self.cause = Some(cause);
        self
    }

    /// The same hold, waiting for approval of `gate` (sets the cause to
    /// [`HoldCause::Approval`]).
    pub fn awaiting_approval(mut self, gate: impl Into<String>) -> Self {
        self.cause = Some(HoldCause::Approval);
        self.gate = Some(gate.into());
        self
    }

    /// The same hold, in `wave`.
    pub fn with_wave(mut self, wave: impl Into<String>) -> Self {
        self.wave = Some(wave.into());
        self
    }
}

/// Why a held cluster waits, as far as the policy says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HoldCause {
    /// An earlier wave has not baked long enough.
    Bake,
    /// Outside the maintenance window; `until` is when the next one opens.
    Window,
    /// Waiting for an operator to approve the hold's `gate`.
    Approval,
    /// A signal on the cluster or its fleet holds it (an alert fires).
    Signal,
    /// An earlier wave has not finished.
    Wave,
    /// The cluster is unhealthy or paused.
    Health,
    /// The policy's own concurrency limit.
    Concurrency,
    /// Anything else; the reason says what.
    Other,
}

impl HoldCause {
    /// Stable lower-case name (`bake`, `window`, …), as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            HoldCause::Bake => "bake",
            HoldCause::Window => "window",
            HoldCause::Approval => "approval",
            HoldCause::Signal => "signal",
            HoldCause::Wave => "wave",
            HoldCause::Health => "health",
            HoldCause::Concurrency => "concurrency",
            HoldCause::Other => "other",
        }
    }
}
