//! Identities and small shapes shared by all three decisions.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Labels as policies read them. A `BTreeMap` so serialisation order is fixed.
pub type Labels = BTreeMap<String, String>;

/// A ManagedCluster's identity: its namespace (which maps to one tenant) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct ClusterRef {
    /// Namespace of the ManagedCluster resource.
    pub namespace: String,
    /// Name of the ManagedCluster resource.
    pub name: String,
}

impl ClusterRef {
    /// Builds a reference.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ClusterRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ClusterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Observed health, as the host judged it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct Health {
    /// True when every control-plane workload and node pool is ready.
    pub healthy: bool,
    /// Why not, one line each (empty when healthy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// Prefix of the ManagedCluster condition types that are **signals**: conditions that other
/// controllers or alert bridges set on a cluster's status (e.g. `signal.fleetward.dev/SLOBurn`)
/// and that reach the upgrade-ordering and remediation inputs (docs/rollout.md, "Signals").
pub const SIGNAL_PREFIX: &str = "signal.fleetward.dev/";

/// At most this many signals of one cluster reach a policy (the first by name); the host counts
/// the rest in `signals_dropped`.
pub const MAX_SIGNALS_PER_CLUSTER: usize = 8;

/// At most this many bytes of a signal's `message` reach a policy (cut at a character boundary).
pub const MAX_SIGNAL_MESSAGE_BYTES: usize = 256;

/// A firing signal: a `signal.fleetward.dev/<name>` condition of the cluster whose status is
/// `True`. Signals whose status is `False` or `Unknown` are not passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct Signal {
    /// The condition type without the prefix, e.g. `SLOBurn`.
    pub name: String,
    /// The condition's reason.
    #[serde(default)]
    pub reason: String,
    /// The condition's message, at most [`MAX_SIGNAL_MESSAGE_BYTES`] bytes.
    #[serde(default)]
    pub message: String,
    /// When the condition last turned `True` (its `lastTransitionTime`), when it parses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
}
