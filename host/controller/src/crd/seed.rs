//! `Seed` (cluster-scoped): a cluster that hosts tenant control planes.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;

/// A seed's properties and capacity.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "fleetward.dev",
    version = "v1alpha1",
    kind = "Seed",
    status = "SeedStatus",
    shortname = "fws",
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.provider"}"#,
    printcolumn = r#"{"name":"Clusters","type":"integer","jsonPath":".status.clusters"}"#,
    printcolumn = r#"{"name":"Capacity","type":"integer","jsonPath":".spec.capacity"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minVersion.split('.').size() >= 2").message("minVersion must be MAJOR.MINOR[.PATCH]"))]
pub struct SeedSpec {
    /// Region, e.g. `eu-west`.
    #[schemars(length(min = 1, max = 63))]
    pub region: String,
    /// Infrastructure provider, e.g. `aws`.
    #[schemars(length(min = 1, max = 63))]
    pub provider: String,
    /// Zone or failure domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Labels placement constraints and policies match on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Maximum number of clusters this seed may host.
    #[schemars(range(min = 0, max = 100000))]
    pub capacity: u32,
    /// Oldest Kubernetes version it can host (`1.30` or `1.30.0`).
    #[schemars(pattern(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$"))]
    pub min_version: String,
    /// Newest Kubernetes version it can host.
    #[schemars(pattern(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$"))]
    pub max_version: String,
    /// Where the seed is. Defaults to the management cluster itself.
    #[serde(default)]
    pub location: SeedLocation,
    /// Take the seed out of placement (existing clusters stay).
    #[serde(default)]
    pub unschedulable: bool,
}

/// Where a seed's API server is.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SeedLocation {
    /// A Secret (in the management cluster) holding a self-contained kubeconfig for the seed's
    /// own API server: inline credentials only (`token`, `client-certificate-data`, …; no file
    /// paths, no `exec`). Unset: the seed is the cluster the controller runs in. The controller
    /// watches the Secret and reconnects when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret: Option<KubeconfigSecretRef>,
}

/// A kubeconfig inside a Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigSecretRef {
    /// Secret namespace.
    pub namespace: String,
    /// Secret name.
    pub name: String,
    /// Data key (default `kubeconfig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// What the controller observed about a seed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeedStatus {
    /// Clusters placed on this seed.
    #[serde(default)]
    pub clusters: u32,
    /// `Ready`, `SeedFault`, and `DeletionBlocked` while a deletion waits for the clusters placed
    /// here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The API server a remote seed's clusters live on (from its kubeconfig when first
    /// connected). A kubeconfig that later points elsewhere is refused while clusters are placed
    /// here, so a cluster's seed never moves silently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}
