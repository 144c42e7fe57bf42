//! Remediation: what to do about an unhealthy component or machine.

use serde::{Deserialize, Serialize};

use super::{ClusterRef, Labels, Signal, Timestamp};

/// The host asks: this component of this cluster is unhealthy; what now?
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct RemediationRequest {
    /// The cluster.
    pub cluster: ClusterRef,
    /// Its labels.
    #[serde(default)]
    pub labels: Labels,
    /// The seed it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// What is wrong.
    pub problem: Problem,
    /// The cluster's remediation history (bounded by the host), oldest first.
    #[serde(default)]
    pub history: Vec<RemediationRecord>,
    /// Whether upgrades of this cluster are already paused.
    #[serde(default)]
    pub upgrades_paused: bool,
    /// The cluster's firing signals, sorted by name, at most
    /// [`super::MAX_SIGNALS_PER_CLUSTER`] (docs/rollout.md, "Signals").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<Signal>,
}

/// The unhealthy thing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Component {
    /// A hosted control-plane workload: `etcd`, `kube-apiserver`, `kube-controller-manager`,
    /// `kube-scheduler`.
    ControlPlane {
        /// Workload name.
        name: String,
    },
    /// A Cluster API Machine of a node pool.
    Machine {
        /// Machine name.
        name: String,
        /// Pool (MachineDeployment) it belongs to.
        pool: String,
    },
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Component::ControlPlane { name } => write!(f, "control-plane/{name}"),
            Component::Machine { name, pool } => write!(f, "machine/{pool}/{name}"),
        }
    }
}

/// A problem the host observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct Problem {
    /// What is unhealthy.
    pub component: Component,
    /// The failing condition, e.g. `NotReady`, `MachineHealthCheckFailed`.
    pub condition: String,
    /// Detail from the observed object.
    #[serde(default)]
    pub detail: String,
    /// When it was first seen unhealthy.
    pub unhealthy_since: Timestamp,
}

/// What the host should do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RemediationAction {
    /// Rollout-restart the control-plane workload (pod-template annotation).
    RestartComponent {
        /// Workload name; must be the problem's component.
        component: String,
    },
    /// Delete the Machine so its MachineSet replaces it.
    RecreateMachine {
        /// Machine name; must be the problem's machine.
        machine: String,
    },
    /// Pause upgrades of the cluster and page a human.
    PauseUpgradesAndEscalate {
        /// What the human should know.
        message: String,
    },
    /// Do nothing until this time (backoff), then ask again.
    Wait {
        /// When to ask again.
        until: Timestamp,
    },
    /// Do nothing (e.g. already escalated).
    None,
}

impl RemediationAction {
    /// A short stable name for metrics and history (`restart_component`, …).
    pub fn name(&self) -> &'static str {
        match self {
            RemediationAction::RestartComponent { .. } => "restart_component",
            RemediationAction::RecreateMachine { .. } => "recreate_machine",
            RemediationAction::PauseUpgradesAndEscalate { .. } => "pause_upgrades_and_escalate",
            RemediationAction::Wait { .. } => "wait",
            RemediationAction::None => "none",
        }
    }
}

/// A remediation the host carried out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct RemediationRecord {
    /// When.
    pub at: Timestamp,
    /// On what.
    pub component: Component,
    /// What was done.
    pub action: RemediationAction,
}

/// The policy answers: this action, for this reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct RemediationDecision {
    /// The action.
    pub action: RemediationAction,
    /// Why, for status, Events and the ledger.
    pub reason: String,
}
