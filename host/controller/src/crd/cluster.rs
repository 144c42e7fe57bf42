//! `ManagedCluster` (namespaced): one tenant cluster whose lifecycle Fleetward runs.
//!
//! Tenancy: a ManagedCluster belongs to the tenant named in `spec.tenant`, and its namespace must
//! carry the label `fleetward.dev/tenant=<that tenant>`. A namespace therefore maps to exactly
//! one tenant; a cluster whose `spec.tenant` disagrees with its namespace (or whose namespace has
//! no label) is not reconciled beyond a `TenantMismatch` condition and a Warning Event.

use std::collections::BTreeMap;

use fleetward_sdk::wire::{Component, KubeVersion, RemediationAction, Timestamp, UpgradeTarget};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;
use super::stored::{
    ACTION_PATTERN, COMPONENT_PATTERN, TARGET_PATTERN, TIME_PATTERN, VERSION_PATTERN,
};

/// The desired state of a tenant cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "fleetward.dev",
    version = "v1alpha1",
    kind = "ManagedCluster",
    namespaced,
    status = "ManagedClusterStatus",
    shortname = "mc",
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenant"}"#,
    printcolumn = r#"{"name":"Seed","type":"string","jsonPath":".status.seed"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.controlPlaneVersion"}"#,
    printcolumn = r#"{"name":"Desired","type":"string","jsonPath":".spec.version","priority":1}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Paused","type":"boolean","jsonPath":".spec.pauseUpgrades"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.tenant == oldSelf.tenant").message("spec.tenant is immutable"))]
pub struct ManagedClusterSpec {
    /// Owning tenant; must equal the namespace's `fleetward.dev/tenant` label.
    #[schemars(length(min = 1, max = 63))]
    pub tenant: String,
    /// Desired Kubernetes version of the control plane (`1.31.4`).
    #[schemars(pattern(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$"))]
    pub version: String,
    /// Hosted control plane shape.
    #[serde(default)]
    pub control_plane: ControlPlaneSpec,
    /// Worker node pools, one Cluster API MachineDeployment each (at most 50: a real API server
    /// refuses the uniqueness rule's CEL cost on an unbounded list).
    #[serde(default)]
    #[schemars(length(max = 50))]
    #[x_kube(validation = Rule::new("self.all(p, self.exists_one(q, q.name == p.name))").message("node pool names must be unique"))]
    pub node_pools: Vec<NodePoolSpec>,
    /// Where the control plane may run.
    #[serde(default)]
    pub placement: PlacementSpec,
    /// Labels policies read (waves, environment, canary, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Operator switch: no upgrade step starts while true.
    #[serde(default)]
    pub pause_upgrades: bool,
}

/// Control plane shape.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneSpec {
    /// kube-apiserver replicas (etcd uses 3 when this is above 1, else 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 5))]
    pub replicas: u32,
}

impl Default for ControlPlaneSpec {
    fn default() -> Self {
        ControlPlaneSpec { replicas: 1 }
    }
}

fn one() -> u32 {
    1
}

/// A worker pool.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolSpec {
    /// Pool name (DNS label).
    #[schemars(pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 40))]
    pub name: String,
    /// Machines.
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: u32,
    /// Kubelet version; unset follows the control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$"))]
    pub version: Option<String>,
    /// Infrastructure machine template for the MachineDeployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_template: Option<MachineTemplateRef>,
}

/// Reference to a Cluster API infrastructure machine template.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MachineTemplateRef {
    /// e.g. `infrastructure.cluster.x-k8s.io/v1beta1`.
    pub api_version: String,
    /// e.g. `AWSMachineTemplate`.
    pub kind: String,
    /// Template name.
    pub name: String,
}

/// Placement constraints. Empty lists mean "any".
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlacementSpec {
    /// Allowed seed regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Allowed seed providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Labels a seed must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seed_labels: BTreeMap<String, String>,
}

/// Lifecycle phase, for `kubectl get`.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum Phase {
    /// Waiting for placement.
    #[default]
    Pending,
    /// Control plane and pools being created.
    Provisioning,
    /// Everything ready at its version.
    Running,
    /// An upgrade step is in flight.
    Upgrading,
    /// Something is unhealthy.
    Degraded,
    /// The cluster cannot be reconciled as written (e.g. tenant mismatch).
    Rejected,
    /// Being deleted.
    Deleting,
}

/// What the controller observed and decided about a cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterStatus {
    /// Lifecycle phase.
    #[serde(default)]
    pub phase: Phase,
    /// Seed hosting the control plane, once placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Version the control plane runs (or is being provisioned at).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", pattern(VERSION_PATTERN))]
    pub control_plane_version: Option<KubeVersion>,
    /// Per-pool observed versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_pools: Vec<NodePoolStatus>,
    /// `Placed`, `ControlPlaneReady`, `NodesReady`, `UpgradeInProgress`, `Remediating`,
    /// `PolicyDegraded`, `TenantMismatch`, `SeedReachable`, `SpecValid`, `SeedDeleting`,
    /// `TenantDeleting`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The upgrade step in flight. Persisted before the step's first write, so a restarted
    /// controller resumes it instead of repeating or skipping it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<InProgressStep>,
    /// Recent upgrade steps (bounded, newest last).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upgrade_history: Vec<UpgradeHistoryEntry>,
    /// Components seen unhealthy and since when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ProblemStatus>,
    /// Recent policy decisions (bounded, newest last).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_decisions: Vec<DecisionRecordStatus>,
    /// Remediation actions taken (bounded, newest last).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediation_history: Vec<RemediationEntry>,
    /// Upgrades paused by remediation escalation (clear by setting it false with kubectl
    /// `--subresource=status`, or by fixing the cluster and toggling `spec.pauseUpgrades`).
    #[serde(default)]
    pub upgrades_paused: bool,
    /// Since when the cluster has been healthy and fully at its control-plane version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", pattern(TIME_PATTERN))]
    pub settled_since: Option<Timestamp>,
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A pool's observed state.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolStatus {
    /// Pool name.
    pub name: String,
    /// Kubelet version the pool runs.
    #[schemars(with = "String", pattern(VERSION_PATTERN))]
    pub version: KubeVersion,
    /// Desired machines.
    #[serde(default)]
    pub replicas: u32,
    /// Ready machines.
    #[serde(default)]
    pub ready_replicas: u32,
}

/// The step in flight.
///
/// Typed, stored as before: `target` as `control-plane` or `pool/<name>`, the versions as
/// `1.32.0` strings, the time as RFC 3339 (a test round-trips the stored form).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InProgressStep {
    /// `control-plane` or `pool/<name>`.
    #[serde(with = "super::stored::target")]
    #[schemars(with = "String", pattern(TARGET_PATTERN))]
    pub target: UpgradeTarget,
    /// From version.
    #[schemars(with = "String", pattern(VERSION_PATTERN))]
    pub from: KubeVersion,
    /// To version.
    #[schemars(with = "String", pattern(VERSION_PATTERN))]
    pub to: KubeVersion,
    /// RFC 3339 start time.
    #[schemars(with = "String", pattern(TIME_PATTERN))]
    pub started_at: Timestamp,
    /// Wave label from the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
}

/// A completed (or started) upgrade step, stored in the same forms as [`InProgressStep`].
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeHistoryEntry {
    /// `control-plane` or `pool/<name>`.
    #[serde(with = "super::stored::target")]
    #[schemars(with = "String", pattern(TARGET_PATTERN))]
    pub target: UpgradeTarget,
    /// From version.
    #[schemars(with = "String", pattern(VERSION_PATTERN))]
    pub from: KubeVersion,
    /// To version.
    #[schemars(with = "String", pattern(VERSION_PATTERN))]
    pub to: KubeVersion,
    /// Start time.
    #[schemars(with = "String", pattern(TIME_PATTERN))]
    pub started_at: Timestamp,
    /// Completion time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", pattern(TIME_PATTERN))]
    pub completed_at: Option<Timestamp>,
}

/// An unhealthy component and since when.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProblemStatus {
    /// `control-plane/<name>` or `machine/<pool>/<name>`.
    #[serde(with = "super::stored::component")]
    #[schemars(with = "String", pattern(COMPONENT_PATTERN))]
    pub component: Component,
    /// Failing condition.
    pub condition: String,
    /// Detail.
    #[serde(default)]
    pub detail: String,
    /// First seen unhealthy (RFC 3339).
    #[schemars(with = "String", pattern(TIME_PATTERN))]
    pub since: Timestamp,
}

/// One policy decision, as shown in status.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecordStatus {
    /// `placement`, `upgrade_ordering`, `remediation`.
    pub kind: String,
    /// Module digest, or `builtin`.
    pub digest: String,
    /// RFC 3339 time of the decision (of a repeated veto: the first time it was seen).
    pub time: String,
    /// `applied`, `fallback`, `held`, `vetoed`, `error`.
    pub outcome: String,
    /// Policy's reason, veto or error (of a repeated veto: the first one's).
    #[serde(default)]
    pub reason: String,
    /// A veto's invariant (e.g. `ControlPlaneFirst`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariant: Option<String>,
    /// What a vetoed upgrade step would have moved (`control-plane`, `pool/NAME`); absent when
    /// the step named no real target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// How often the same veto (kind, module, invariant, target) was seen since `time`, as of
    /// `lastTime`; absent means once. A repeat is not news: the count is written when it
    /// reaches 10, 100, 1000, … and not in between, so a repeating policy costs no writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// RFC 3339 time `count` was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<String>,
}

/// One remediation action taken.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RemediationEntry {
    /// RFC 3339 time.
    #[schemars(with = "String", pattern(TIME_PATTERN))]
    pub at: Timestamp,
    /// Component it concerned.
    #[serde(with = "super::stored::component")]
    #[schemars(with = "String", pattern(COMPONENT_PATTERN))]
    pub component: Component,
    /// Action as decided, stored as its JSON text (`{"action":"restart_component",...}`).
    #[serde(with = "super::stored::action_json")]
    #[schemars(with = "String", pattern(ACTION_PATTERN))]
    pub action: RemediationAction,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status as earlier controllers stored it (every typed field in its string form). It
    /// must read and write back byte for byte.
    const STORED: &str = r#"{"phase":"Upgrading","seed":"eu-1","controlPlaneVersion":"1.31.4","nodePools":[{"name":"workers","version":"1.31.0","replicas":2,"readyReplicas":2}],"inProgress":{"target":"control-plane","from":"1.31.4","to":"1.32.0","startedAt":"2026-01-05T00:00:00Z","wave":"dev"},"upgradeHistory":[{"target":"pool/workers","from":"1.30.0","to":"1.31.0","startedAt":"2026-01-04T00:00:00Z","completedAt":"2026-01-04T00:10:00Z"},{"target":"control-plane","from":"1.31.4","to":"1.32.0","startedAt":"2026-01-05T00:00:00Z"}],"problems":[{"component":"machine/workers/m-1","condition":"NotReady","detail":"","since":"2026-01-05T00:01:00Z"}],"remediationHistory":[{"at":"2026-01-05T00:02:00Z","component":"control-plane/etcd","action":"{\"action\":\"restart_component\",\"component\":\"etcd\"}"}],"upgradesPaused":false,"settledSince":"2026-01-04T00:10:00Z"}"#;

    #[test]
    fn status_keeps_its_stored_form() {
        let st: ManagedClusterStatus = serde_json::from_str(STORED).unwrap();
        assert_eq!(serde_json::to_string(&st).unwrap(), STORED);
        assert_eq!(st.control_plane_version, Some(KubeVersion::new(1, 31, 4)));
        assert_eq!(st.node_pools[0].version, KubeVersion::new(1, 31, 0));
        let step = st.in_progress.as_ref().unwrap();
        assert_eq!(step.target, UpgradeTarget::ControlPlane);
        assert_eq!(step.to, KubeVersion::new(1, 32, 0));
        assert_eq!(
            st.upgrade_history[0].target,
            UpgradeTarget::NodePool {
                pool: "workers".into()
            }
        );
        assert_eq!(
            st.upgrade_history[0].completed_at,
            Some(Timestamp::parse("2026-01-04T00:10:00Z").unwrap())
        );
        assert_eq!(
            st.problems[0].component,
            Component::Machine {
                name: "m-1".into(),
                pool: "workers".into()
            }
        );
        assert_eq!(
            st.remediation_history[0].action,
            RemediationAction::RestartComponent {
                component: "etcd".into()
            }
        );
    }

    /// Each typed field refuses what it cannot mean, naming the value (the CRD's patterns make
    /// the API server refuse such a hand edit first).
    #[test]
    fn status_refuses_values_it_cannot_type() {
        for (from, to, needle) in [
            (
                r#""target":"control-plane""#,
                r#""target":"node/x""#,
                "node/x",
            ),
            (
                r#""controlPlaneVersion":"1.31.4""#,
                r#""controlPlaneVersion":"latest""#,
                "latest",
            ),
            (
                r#""since":"2026-01-05T00:01:00Z""#,
                r#""since":"yesterday""#,
                "yesterday",
            ),
            (
                r#""component":"machine/workers/m-1""#,
                r#""component":"machine/m-1""#,
                "machine/m-1",
            ),
            (
                r#""action":"{\"action\":\"restart_component\",\"component\":\"etcd\"}""#,
                r#""action":"reboot""#,
                "reboot",
            ),
        ] {
            assert!(STORED.contains(from), "{from}");
            let bad = STORED.replacen(from, to, 1);
            let err = serde_json::from_str::<ManagedClusterStatus>(&bad).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }
}
