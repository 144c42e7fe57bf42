//! Identities and small shapes shared by all three decisions.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

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
