//! Placement: which seed hosts a new cluster's control plane.

use serde::{Deserialize, Serialize};

use super::{ClusterRef, KubeVersion, Labels};

/// The host asks: where should this cluster's control plane run?
///
/// `seeds` holds only the seeds that passed the host's hard filters (ready, under capacity,
/// supporting the cluster's version, matching its constraints). The answer must name one of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct PlacementRequest {
    /// The cluster to place.
    pub cluster: ClusterToPlace,
    /// Candidate seeds, sorted by name.
    pub seeds: Vec<SeedCandidate>,
    /// Where the tenant's other clusters already run, for spreading.
    #[serde(default)]
    pub tenant_placements: Vec<ExistingPlacement>,
}

/// The cluster being placed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct ClusterToPlace {
    /// Identity.
    pub id: ClusterRef,
    /// The ManagedCluster's labels (e.g. `env=prod`).
    #[serde(default)]
    pub labels: Labels,
    /// Desired Kubernetes version.
    pub version: KubeVersion,
    /// Constraints from the ManagedCluster spec.
    #[serde(default)]
    pub constraints: PlacementConstraints,
}

/// Placement constraints a ManagedCluster may carry. Empty lists mean "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct PlacementConstraints {
    /// Allowed seed regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Allowed seed providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Labels a seed must carry (all of them, equal values).
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub seed_labels: Labels,
}

/// A seed the cluster could go to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct SeedCandidate {
    /// Seed name.
    pub name: String,
    /// Region, e.g. `eu-west`.
    pub region: String,
    /// Provider, e.g. `aws`.
    pub provider: String,
    /// Zone or failure domain, if the seed declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Seed labels.
    #[serde(default)]
    pub labels: Labels,
    /// Maximum number of clusters this seed may host.
    pub capacity: u32,
    /// Clusters it hosts now.
    pub clusters: u32,
    /// Whether the seed is ready.
    pub ready: bool,
    /// Oldest Kubernetes version the seed can host.
    pub min_version: KubeVersion,
    /// Newest Kubernetes version the seed can host.
    pub max_version: KubeVersion,
}

/// One of the tenant's clusters that is already placed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct ExistingPlacement {
    /// The cluster.
    pub cluster: ClusterRef,
    /// The seed it runs on.
    pub seed: String,
}

/// The policy answers: this seed (or none for now), and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct PlacementDecision {
    /// The chosen seed; must be one of the request's candidates. `None`: no acceptable seed,
    /// the host leaves the cluster pending and reports `reason`.
    pub seed: Option<String>,
    /// A human-readable reason, shown in status and Events.
    pub reason: String,
    /// Optional per-candidate scores for the audit ledger (higher is better).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<SeedScore>,
}

/// How a policy rated one candidate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct SeedScore {
    /// Seed name.
    pub seed: String,
    /// Score; integers keep the output byte-identical across platforms.
    pub score: i64,
    /// Why this score.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}
