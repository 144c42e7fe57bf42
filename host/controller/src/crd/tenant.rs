//! `Tenant` (cluster-scoped): which policy module decides each of the tenant's decisions.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;

/// What a tenant wants: one optional policy binding per decision kind. A kind without a binding
/// uses Fleetward's built-in default behaviour.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "fleetward.dev",
    version = "v1alpha1",
    kind = "Tenant",
    status = "TenantStatus",
    shortname = "fwt",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"PoliciesReady\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"PoliciesReady\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// Placement policy: which seed hosts a new cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PolicyBinding>,
    /// Upgrade-ordering policy: what upgrades now and what waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_ordering: Option<PolicyBinding>,
    /// Remediation policy: what to do about an unhealthy component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<PolicyBinding>,
    /// Candidate modules evaluated next to the live decisions and never acted on (docs/audit.md,
    /// "Shadow bindings").
    #[serde(default, skip_serializing_if = "ShadowBindings::is_empty")]
    pub shadows: ShadowBindings,
}

/// One optional shadow per decision kind.
///
/// A separate field rather than a `shadow` inside each live binding, for two reasons: a tenant
/// whose kind runs on the built-in (no live binding) can shadow its first module, which is the
/// rollout that most needs a rehearsal; and adding, changing or removing a shadow never edits
/// the live binding's object, so it cannot change, reload or fail the live policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShadowBindings {
    /// Shadow of the placement policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<ShadowBinding>,
    /// Shadow of the upgrade-ordering policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_ordering: Option<ShadowBinding>,
    /// Shadow of the remediation policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<ShadowBinding>,
}

impl ShadowBindings {
    /// Whether no kind has a shadow.
    pub fn is_empty(&self) -> bool {
        self.placement.is_none() && self.upgrade_ordering.is_none() && self.remediation.is_none()
    }
}

/// A module evaluated on the live decision's input after the live decision, off the path that
/// acts; its answer is compared with the live one and recorded, never acted on. Like a
/// [`PolicyBinding`] without a failure mode: a failing shadow only counts as failed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShadowBinding {
    /// Where the module's bytes come from.
    pub module: ModuleSource,
    /// Required sha256 of the module bytes (`sha256:<64 hex>` or bare hex). A module whose bytes
    /// do not hash to it is not evaluated (no older shadow stands in: a shadow is evaluated
    /// exactly as named or not at all).
    #[schemars(pattern(r"^(sha256:)?[0-9a-f]{64}$"))]
    pub sha256: String,
    /// The config for this module, passed verbatim to every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub config: Option<serde_json::Value>,
    /// Per-call sandbox limits.
    #[serde(default)]
    pub limits: PolicyLimits,
}

/// One decision kind's policy: module, expected digest, config, limits and failure mode.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyBinding {
    /// Where the module's bytes come from.
    pub module: ModuleSource,
    /// Required sha256 of the module bytes (`sha256:<64 hex>` or bare hex). A module whose bytes
    /// do not hash to it is rejected and the last good module keeps serving.
    #[schemars(pattern(r"^(sha256:)?[0-9a-f]{64}$"))]
    pub sha256: String,
    /// The tenant's config for this policy, passed verbatim to every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub config: Option<serde_json::Value>,
    /// Per-call sandbox limits.
    #[serde(default)]
    pub limits: PolicyLimits,
    /// What happens when the policy fails (traps, times out, answers nonsense, cannot load).
    #[serde(default)]
    pub failure_mode: FailureMode,
}

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
        "description": "Policy config, passed verbatim to the policy (any JSON object)."
    })
}

/// Where a module comes from: exactly one of a ConfigMap key or a file in the controller's
/// module directory.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.configMap) != has(self.file)").message("set exactly one of module.configMap or module.file"))]
pub struct ModuleSource {
    /// A key of a ConfigMap's `binaryData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapKeyRef>,
    /// A path relative to the controller's `--module-dir`; opened through a capability handle so
    /// `..` or absolute paths cannot escape it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub file: Option<String>,
}

/// A typed view of [`ModuleSource`] once validated: exactly one place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleSourceRef<'a> {
    /// ConfigMap `binaryData` key.
    ConfigMap(&'a ConfigMapKeyRef),
    /// File under the module directory.
    File(&'a str),
}

impl ModuleSource {
    /// The one source this names, or `None` when zero or both are set (the CRD's CEL rule rejects
    /// that, but the emulator and old servers do not evaluate CEL).
    pub fn resolve(&self) -> Option<ModuleSourceRef<'_>> {
        match (&self.config_map, &self.file) {
            (Some(cm), None) => Some(ModuleSourceRef::ConfigMap(cm)),
            (None, Some(f)) => Some(ModuleSourceRef::File(f)),
            _ => None,
        }
    }
}

/// A key in a ConfigMap's `binaryData`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// ConfigMap namespace.
    pub namespace: String,
    /// ConfigMap name.
    pub name: String,
    /// Key under `binaryData`.
    pub key: String,
}

/// Sandbox limits for each call. Unset fields take the engine defaults (64 MiB, 100 ms, no fuel).
/// The ranges are what the engine enforces as written (docs/abi.md): nothing is clamped.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyLimits {
    /// Linear memory cap in MiB, at most 128 (the controller's per-instance memory ceiling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 128))]
    pub memory_mib: Option<u32>,
    /// Wall-clock cap per call in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub timeout_ms: Option<u32>,
    /// Instruction fuel per call, at least 1; unset means unmetered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub fuel: Option<u64>,
}

/// What the host does when a tenant's policy fails.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum FailureMode {
    /// Use Fleetward's built-in default for this decision.
    #[default]
    Fallback,
    /// Change nothing and report.
    Hold,
}

/// What the controller observed about a tenant.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// The module serving each decision kind (`placement`, `upgrade_ordering`, `remediation`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub loaded: BTreeMap<String, LoadedModule>,
    /// `PoliciesReady`, and `DeletionBlocked` while a deletion waits for the tenant's clusters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Decisions made for this tenant, keyed `<kind>/<outcome>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub decisions: BTreeMap<String, u64>,
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Each shadow binding's state and how its answers compare with the live ones, keyed by
    /// kind (`placement`, `upgrade_ordering`, `remediation`). Refreshed at most every 30 s.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shadows: BTreeMap<String, ShadowStatus>,
}

/// One shadow binding as observed: loaded or refused, and its comparison counts since it was
/// loaded (per controller process: counts start again when the controller or the shadow's
/// module changes).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ShadowStatus {
    /// `sha256:<hex>` of the shadow module the spec names.
    pub digest: String,
    /// Why the shadow is not evaluated (it could not be fetched, its digest did not match, the
    /// engine refused it); absent while it is evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Live decisions the shadow was evaluated on (agreed + disagreed + failed).
    #[serde(default)]
    pub evaluated: u64,
    /// Shadow answers byte-identical to the live decision's.
    #[serde(default)]
    pub agreed: u64,
    /// Shadow answers that differ from the live decision's.
    #[serde(default)]
    pub disagreed: u64,
    /// Shadow calls that failed (trap, timeout, invalid output).
    #[serde(default)]
    pub failed: u64,
    /// Live decisions not shadowed because the shadow queue was full.
    #[serde(default)]
    pub skipped: u64,
    /// Upgrade steps of shadow answers the host would have vetoed (upgrade ordering only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub would_veto: u64,
    /// The last shadow failure (`label: message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// The most recent disagreements (at most 5), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_disagreements: Vec<ShadowDisagreement>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One decision on which the shadow answered differently from the live policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ShadowDisagreement {
    /// Decision time (RFC 3339).
    pub time: String,
    /// Clusters concerned (`namespace/name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
    /// Digest of the live module (`sha256:…` or `builtin`).
    pub live_module: String,
    /// The live decision, shortened.
    pub live: String,
    /// The shadow's answer, shortened.
    pub shadow: String,
}

/// The module that serves a decision kind now.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LoadedModule {
    /// `sha256:<hex>` of the serving module.
    pub digest: String,
    /// True when the spec asks for a different digest that was rejected, so an older module
    /// keeps serving.
    #[serde(default)]
    pub stale: bool,
}
