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
    printcolumn = r#"{"name":"Rollout","type":"string","jsonPath":".status.rollout.state"}"#,
    printcolumn = r#"{"name":"Paused","type":"boolean","jsonPath":".spec.rollout.paused"}"#,
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
    /// Operator control of the tenant's upgrade rollout: pause and abort (docs/rollout.md).
    #[serde(default, skip_serializing_if = "RolloutControl::is_empty")]
    pub rollout: RolloutControl,
}

/// Operator switches for the tenant's rollout. Declarative, so GitOps can pause or abort; the
/// `fleetward rollout pause|resume|abort` commands patch the same fields.
///
/// A **rollout** is the move of the tenant's clusters to the versions their specs ask for; it is
/// named by its id (`status.rollout.id`: the distinct desired versions, e.g. `1.32.0`). Abort and
/// approvals name the rollout they are for, so neither carries over to the next one.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutControl {
    /// No new upgrade step starts for any of the tenant's clusters while true; steps already
    /// running finish. Setting it false resumes where the rollout stopped.
    #[serde(default)]
    pub paused: bool,
    /// Why it is paused (shown in status and `fleetward rollout status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub pause_reason: Option<String>,
    /// Who paused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub paused_by: Option<String>,
    /// Stop the named rollout for good: no new steps, steps in flight finish, clusters stay on
    /// the versions they reached. A new rollout (different desired versions) is not affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<RolloutAbort>,
}

impl RolloutControl {
    /// Whether nothing is set (the field is left out of the object).
    pub fn is_empty(&self) -> bool {
        self == &RolloutControl::default()
    }
}

/// A request to abort one rollout.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAbort {
    /// The id of the rollout to abort (`status.rollout.id` when it was requested).
    #[schemars(length(min = 1, max = 253))]
    pub rollout: String,
    /// Who aborted it.
    #[schemars(length(min = 1, max = 253))]
    pub by: String,
    /// Why.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub reason: String,
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
    /// Where the tenant's upgrade rollout stands, written by the upgrade planner when it changes
    /// (docs/rollout.md). The Tenant reconciler carries it over unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
}

/// The state of a tenant's rollout as the planner last saw it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The rollout's id: the distinct versions the tenant's specs ask for (control planes and
    /// pools), sorted and joined by `,` (e.g. `1.32.0`); a `sha256:` prefix of 12 hex digits
    /// when that is longer than 63 characters.
    pub id: String,
    /// `Progressing`, `Paused`, `Aborted` or `Complete`.
    pub state: RolloutState,
    /// Clusters by state.
    #[serde(default)]
    pub clusters: RolloutCounts,
    /// Each wave the policy named (holds' and steps' `wave`), in first-seen order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<WaveStatus>,
    /// Set while `spec.rollout.paused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<RolloutPause>,
    /// Set once the rollout with this id was aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<RolloutAborted>,
    /// Approval gates the policy asked for during this rollout, pending or approved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateStatus>,
    /// Clusters that need an upgrade and wait, with why and until when; at most
    /// [`MAX_WAITING_LISTED`], by cluster (the counts in `clusters` are complete).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<WaitingCluster>,
    /// The earliest `until` of a hold whose cause is `window` (the next maintenance window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_window: Option<String>,
}

/// At most this many waiting clusters are listed in `status.rollout.waiting`.
pub const MAX_WAITING_LISTED: usize = 100;

/// Rollout state.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum RolloutState {
    /// Some cluster needs an upgrade and the rollout may go on.
    #[default]
    Progressing,
    /// `spec.rollout.paused`: no new step starts.
    Paused,
    /// `spec.rollout.abort` names this rollout: no new step starts, ever.
    Aborted,
    /// No cluster needs an upgrade.
    Complete,
}

/// Clusters of the tenant by where they are in the rollout.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutCounts {
    /// Clusters in the rollout (placed, reconcilable).
    pub total: u32,
    /// At their desired versions.
    pub up_to_date: u32,
    /// With a step in flight.
    pub upgrading: u32,
    /// Needing an upgrade, not upgrading.
    pub waiting: u32,
}

/// One wave's progress.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WaveStatus {
    /// Wave name.
    pub name: String,
    /// Clusters in it (as far as the planner saw them named).
    pub total: u32,
    /// At their desired versions.
    pub up_to_date: u32,
    /// With a step in flight.
    pub upgrading: u32,
    /// Waiting.
    pub waiting: u32,
}

/// Who paused the rollout, why and since when.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPause {
    /// `spec.rollout.pausedBy`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// `spec.rollout.pauseReason`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the planner first saw the pause (RFC 3339).
    pub since: String,
    /// Steps that were in flight when the pause was seen and are allowed to finish.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finishing: Vec<String>,
}

/// An aborted rollout: who, when, why, and where every cluster stopped.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAborted {
    /// Who aborted it.
    pub by: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// When the planner first saw the abort (RFC 3339).
    pub at: String,
    /// The control-plane versions the clusters are on, by version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reached: Vec<VersionGroup>,
}

/// Clusters on one version.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VersionGroup {
    /// Control-plane version.
    pub version: String,
    /// How many clusters are on it.
    pub count: u32,
    /// The first [`MAX_WAITING_LISTED`] of them (`namespace/name`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
}

/// An approval gate of the current rollout.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GateStatus {
    /// Gate name, as the policy named it.
    pub name: String,
    /// Clusters waiting for it now (`namespace/name`), sorted; empty once approved and passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
    /// When the policy first asked for it in this rollout (RFC 3339).
    pub since: String,
    /// The approval, once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<GateApproval>,
}

/// Who approved a gate, when, and with which object.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GateApproval {
    /// `spec.approver` of the RolloutApproval.
    pub by: String,
    /// Its `creationTimestamp` (RFC 3339).
    pub at: String,
    /// The RolloutApproval (`namespace/name`).
    pub approval: String,
}

/// One waiting cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WaitingCluster {
    /// `namespace/name`.
    pub cluster: String,
    /// What it waits for: `bake`, `window`, `approval`, `signal`, `wave`, `health`,
    /// `concurrency`, `other` (the policy's hold), `cap`, `fair_share`, `seed_unavailable` (the
    /// host's caps), `paused` (tenant or cluster), `aborted`.
    pub cause: String,
    /// Why, in words.
    #[serde(default)]
    pub reason: String,
    /// Until when, if known (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The gate, for `approval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// The wave, if the policy named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
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
