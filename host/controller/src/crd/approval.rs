//! `RolloutApproval` (namespaced): an operator's approval of one gate of one tenant's rollout.
//!
//! An object rather than a field of the Tenant, so GitOps or automation can approve with the
//! namespace-scoped RBAC a tenant's operators already have, and so each approval is its own
//! record (who, when, which gate) that stays after the fact. Tenancy is the namespace's, as for
//! ManagedClusters: an approval counts only in a namespace labelled
//! `fleetward.dev/tenant=<spec.tenant>`, so one tenant's operators cannot approve another
//! tenant's gate. The spec is immutable: an approval is changed by deleting it and creating a
//! new one.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;

/// Approve gate `gate` of tenant `tenant`'s rollout `rollout`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[kube(
    group = "fleetward.dev",
    version = "v1alpha1",
    kind = "RolloutApproval",
    namespaced,
    status = "RolloutApprovalStatus",
    shortname = "fwra",
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenant"}"#,
    printcolumn = r#"{"name":"Gate","type":"string","jsonPath":".spec.gate"}"#,
    printcolumn = r#"{"name":"Rollout","type":"string","jsonPath":".spec.rollout"}"#,
    printcolumn = r#"{"name":"Approver","type":"string","jsonPath":".spec.approver"}"#,
    printcolumn = r#"{"name":"Accepted","type":"string","jsonPath":".status.conditions[?(@.type==\"Accepted\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("a RolloutApproval is immutable: delete it and create a new one"))]
pub struct RolloutApprovalSpec {
    /// The tenant whose gate this approves; must equal the namespace's `fleetward.dev/tenant`
    /// label.
    #[schemars(length(min = 1, max = 63))]
    pub tenant: String,
    /// The gate, as the policy named it (`status.rollout.gates[].name` of the Tenant).
    #[schemars(pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(min = 1, max = 63))]
    pub gate: String,
    /// The rollout approved (`status.rollout.id` of the Tenant, e.g. `1.32.0`). An approval for
    /// another rollout does not count: next month's upgrade asks again.
    #[schemars(length(min = 1, max = 253))]
    pub rollout: String,
    /// Who approves (a person or an automation), recorded in the Tenant's status and in the
    /// policy's input.
    #[schemars(length(min = 1, max = 253))]
    pub approver: String,
    /// Free text: a ticket, what was checked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 1024))]
    pub comment: String,
}

/// What the controller made of an approval.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutApprovalStatus {
    /// `Accepted`: True when the approval counts (its namespace belongs to `spec.tenant`, the
    /// tenant exists, and its current rollout asked for the gate); False with the reason
    /// (`TenantMismatch`, `UnknownTenant`, `UnknownGate`, `OtherRollout`) otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
