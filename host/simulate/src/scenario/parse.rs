//! The scenario's YAML shape and its conversion into the validated [`Scenario`] model.
//!
//! Raw structs mirror the file (camelCase, unknown fields rejected); every value that needs a
//! semantic check is read as `Spanned` so the error can name its line and column.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use fleetward_sdk::wire::{ClusterRef, DecisionKind, KubeVersion, Labels, Timestamp};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::timeline::{Action, ApiOutage, Selector, TimedAction, parse_at, parse_duration};
use super::{
    Cluster, ControllerTunables, FailureMode, InfraTimings, Module, PolicyBinding, Pool, Scenario,
    ScenarioError, Seed, Tenant, Topology, dir_of,
};

/// Default start: Monday 2026-01-05 00:00 UTC (the emulator's default epoch).
const DEFAULT_START: &str = "2026-01-05T00:00:00Z";
/// Default duration: one week.
const DEFAULT_DURATION: i64 = 7 * 86_400;
/// Default driver step: one minute.
const DEFAULT_STEP: i64 = 60;
/// Upper bound on generated clusters, so a typo in `count` cannot exhaust memory.
const MAX_CLUSTERS: usize = 20_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawScenario {
    name: Option<String>,
    #[serde(default)]
    description: String,
    start: Option<Spanned<String>>,
    duration: Option<Spanned<String>>,
    step: Option<Spanned<String>>,
    topology: Option<Spanned<String>>,
    #[serde(default)]
    infra: RawInfra,
    #[serde(default)]
    controller: RawController,
    #[serde(default)]
    tenants: Vec<Spanned<RawTenant>>,
    #[serde(default)]
    seeds: Vec<Spanned<RawSeed>>,
    #[serde(default)]
    clusters: Vec<Spanned<RawClusters>>,
    #[serde(default)]
    objects: Vec<Spanned<serde_json::Value>>,
    #[serde(default)]
    timeline: Vec<Spanned<RawEvent>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawInfra {
    workload_ready: Option<Spanned<String>>,
    machine_ready: Option<Spanned<String>>,
    machine_delete: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawController {
    resync: Option<Spanned<String>>,
    #[serde(default)]
    upgrades: RawUpgradeCaps,
    #[serde(default)]
    remediation: RawRemediationLimits,
}

/// `controller.upgrades`: the host's caps on upgrade steps in flight.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawUpgradeCaps {
    max_concurrent: Option<Spanned<u32>>,
    max_concurrent_per_seed: Option<Spanned<u32>>,
}

/// `controller.remediation`: the host's sliding-window rate limits on disruptive actions.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRemediationLimits {
    window: Option<Spanned<String>>,
    per_cluster: Option<Spanned<u32>>,
    per_seed: Option<Spanned<u32>>,
    per_tenant: Option<Spanned<u32>>,
}

/// Upper bound of every count under `controller:`, so a typo cannot mean "unlimited" by accident.
const MAX_CONTROLLER_COUNT: u32 = 100_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTenant {
    name: Spanned<String>,
    namespace: Option<String>,
    failure_mode: Option<Spanned<String>>,
    #[serde(default)]
    policies: BTreeMap<String, Spanned<RawBinding>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBinding {
    module: Spanned<String>,
    #[serde(default)]
    config: serde_json::Value,
    #[serde(default)]
    limits: serde_json::Value,
    failure_mode: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSeed {
    name: Spanned<String>,
    region: String,
    #[serde(default = "default_provider")]
    provider: String,
    zone: Option<String>,
    #[serde(default)]
    labels: Labels,
    #[serde(default = "default_capacity")]
    capacity: u32,
    min_version: Option<Spanned<String>>,
    max_version: Option<Spanned<String>>,
}

fn default_provider() -> String {
    "emulated".into()
}

fn default_capacity() -> u32 {
    100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawClusters {
    tenant: Spanned<String>,
    name: Spanned<String>,
    count: Option<u32>,
    version: Spanned<String>,
    #[serde(default)]
    labels: Labels,
    #[serde(default = "default_cp_replicas")]
    control_plane_replicas: u32,
    pools: Option<Vec<RawPool>>,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    providers: Vec<String>,
}

fn default_cp_replicas() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPool {
    name: String,
    #[serde(default = "default_pool_replicas")]
    replicas: u32,
}

fn default_pool_replicas() -> u32 {
    2
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEvent {
    at: Spanned<String>,
    set_version: Option<RawSetVersion>,
    break_workload: Option<RawWorkload>,
    heal_workload: Option<RawWorkload>,
    break_machine: Option<RawMachine>,
    heal_machine: Option<RawMachine>,
    update_policy: Option<RawUpdatePolicy>,
    seed_down: Option<RawSeedRef>,
    seed_up: Option<RawSeedRef>,
    seed_api_down: Option<RawSeedApi>,
    seed_api_hang: Option<RawSeedApi>,
    seed_api_slow: Option<RawSeedApi>,
    seed_api_errors: Option<RawSeedApi>,
    seed_api_up: Option<RawSeedRef>,
    restart_controller: Option<RawNothing>,
    create_cluster: Option<Spanned<RawClusters>>,
    delete_cluster: Option<RawClusterName>,
    pause_rollout: Option<RawPauseRollout>,
    resume_rollout: Option<RawTenantRef>,
    pause_cluster: Option<RawClusterRef>,
    resume_cluster: Option<RawClusterRef>,
    approve: Option<RawApprove>,
    abort_rollout: Option<RawAbortRollout>,
    signal: Option<RawSignal>,
}

/// `pauseRollout: {tenant, reason?, by?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPauseRollout {
    tenant: Spanned<String>,
    reason: Option<Spanned<String>>,
    by: Option<Spanned<String>>,
}

/// `resumeRollout: {tenant}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTenantRef {
    tenant: Spanned<String>,
}

/// `pauseCluster` / `resumeCluster: {cluster}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawClusterRef {
    cluster: Spanned<String>,
}

/// `approve: {tenant, gate, by, namespace?, comment?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawApprove {
    tenant: Spanned<String>,
    gate: Spanned<String>,
    by: Spanned<String>,
    namespace: Option<Spanned<String>>,
    comment: Option<Spanned<String>>,
}

/// `abortRollout: {tenant, by, reason?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAbortRollout {
    tenant: Spanned<String>,
    by: Spanned<String>,
    reason: Option<Spanned<String>>,
}

/// `signal: {cluster, name, firing, reason?, message?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSignal {
    cluster: Spanned<String>,
    name: Spanned<String>,
    firing: bool,
    reason: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
}

/// Who pauses when a `pauseRollout` does not say (`spec.rollout.pausedBy`).
pub const DEFAULT_PAUSED_BY: &str = "operator";
/// Longest `by` / approver accepted (the RolloutApproval schema's limit).
const MAX_WHO: usize = 253;
/// Longest reason / comment accepted (the RolloutApproval schema's comment limit).
const MAX_REASON: usize = 1024;
/// Longest signal message accepted (a Kubernetes condition message's limit).
const MAX_SIGNAL_MESSAGE: usize = 32_768;

/// `restartController: {}`: an action without fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNothing {}

/// `deleteCluster: {tenant, name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawClusterName {
    tenant: Spanned<String>,
    name: Spanned<String>,
}

/// `seedApiDown`, `seedApiHang`, `seedApiSlow` (needs `delay`), `seedApiErrors` (`code`,
/// default 500); `for` ends the outage after that long (an implied `seedApiUp`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSeedApi {
    seed: Spanned<String>,
    #[serde(rename = "for")]
    for_: Option<Spanned<String>>,
    delay: Option<Spanned<String>>,
    code: Option<Spanned<u16>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSetVersion {
    tenant: Option<Spanned<String>>,
    #[serde(default)]
    selector: Labels,
    version: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWorkload {
    cluster: Spanned<String>,
    #[serde(default = "default_workload")]
    workload: String,
}

fn default_workload() -> String {
    "etcd".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawMachine {
    cluster: Spanned<String>,
    pool: Option<Spanned<String>>,
    #[serde(default)]
    index: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawUpdatePolicy {
    tenant: Spanned<String>,
    decision: Spanned<String>,
    module: Spanned<String>,
    config: Option<serde_json::Value>,
    failure_mode: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSeedRef {
    seed: Spanned<String>,
}

/// Reads and validates a scenario file; module paths resolve against its directory.
///
/// # Errors
/// [`ScenarioError::Read`] if the file cannot be read; otherwise see [`parse_str`].
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut scenario = parse_str(&text, &path.display().to_string(), &dir_of(path))?;
    if scenario.name.is_empty() {
        scenario.name = path
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    }
    Ok(scenario)
}

/// Parses and validates scenario YAML. `label` names the source in errors; module paths
/// resolve against `base_dir`.
///
/// # Errors
/// [`ScenarioError::Syntax`] for malformed YAML or a wrong shape, [`ScenarioError::Invalid`] for
/// a bad value; both name the line and column.
pub fn parse_str(text: &str, label: &str, base_dir: &Path) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        ScenarioError::Syntax {
            path: label.into(),
            line,
            column,
            message: strip_location_suffix(&e.without_snippet().to_string()),
        }
    })?;
    Converter {
        label,
        base_dir,
        modules: BTreeMap::new(),
        namespaces: BTreeSet::new(),
    }
    .convert(raw)
}

struct Converter<'a> {
    label: &'a str,
    base_dir: &'a Path,
    /// Each module spec is resolved (and hashed) once.
    modules: BTreeMap<String, Module>,
    /// Namespaces that exist in the run (tenants' and `objects:` Namespaces): where an
    /// `approve` may create its RolloutApproval.
    namespaces: BTreeSet<String>,
}

impl Converter<'_> {
    fn err<T>(&self, at: &Spanned<T>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            path: self.label.into(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            message: message.into(),
        }
    }

    fn version(&self, s: &Spanned<String>) -> Result<KubeVersion, ScenarioError> {
        KubeVersion::parse(&s.value).map_err(|e| self.err(s, e.to_string()))
    }

    fn duration(&self, s: &Spanned<String>) -> Result<i64, ScenarioError> {
        parse_duration(&s.value).map_err(|e| self.err(s, e))
    }

    fn module(&mut self, s: &Spanned<String>) -> Result<Module, ScenarioError> {
        if let Some(m) = self.modules.get(&s.value) {
            return Ok(m.clone());
        }
        let m = Module::resolve(&s.value, self.base_dir).map_err(|e| self.err(s, e))?;
        self.modules.insert(s.value.clone(), m.clone());
        Ok(m)
    }

    fn decision_kind(
        &self,
        key: &str,
        at: &Spanned<impl Sized>,
    ) -> Result<DecisionKind, ScenarioError> {
        // Accept camelCase (`upgradeOrdering`) as well as the wire's snake_case.
        let mut snake = String::new();
        for c in key.chars() {
            if c.is_ascii_uppercase() {
                snake.push('_');
                snake.push(c.to_ascii_lowercase());
            } else {
                snake.push(c);
            }
        }
        snake.parse::<DecisionKind>().map_err(|e| self.err(at, e))
    }

    fn failure_mode(
        &self,
        raw: Option<&Spanned<String>>,
        default: FailureMode,
    ) -> Result<FailureMode, ScenarioError> {
        match raw {
            None => Ok(default),
            Some(m) => match m.value.as_str() {
                "Fallback" | "fallback" => Ok(FailureMode::Fallback),
                "Hold" | "hold" => Ok(FailureMode::Hold),
                other => Err(self.err(
                    m,
                    format!("unknown failureMode {other:?}: expected Fallback or Hold"),
                )),
            },
        }
    }

    fn binding(
        &mut self,
        raw: &RawBinding,
        default_mode: FailureMode,
    ) -> Result<PolicyBinding, ScenarioError> {
        if !(raw.limits.is_null() || raw.limits.is_object()) {
            return Err(self.err(
                &raw.module,
                "limits must be a mapping (memoryMib, timeoutMs, fuel)",
            ));
        }
        Ok(PolicyBinding {
            module: self.module(&raw.module)?,
            config: raw.config.clone(),
            limits: raw.limits.clone(),
            failure_mode: self.failure_mode(raw.failure_mode.as_ref(), default_mode)?,
        })
    }

    fn convert(mut self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        let start = match &raw.start {
            Some(s) => Timestamp::parse(&s.value).map_err(|e| self.err(s, e.to_string()))?,
            None => Timestamp::parse(DEFAULT_START).unwrap_or_default(),
        };
        let duration = match &raw.duration {
            Some(d) => {
                let v = self.duration(d)?;
                if v <= 0 || v > 366 * 86_400 {
                    return Err(self.err(d, "duration must be between 1s and 366d"));
                }
                v
            }
            None => DEFAULT_DURATION,
        };
        let step = match &raw.step {
            Some(s) => {
                let v = self.duration(s)?;
                if !(1..=3_600).contains(&v) {
                    return Err(self.err(s, "step must be between 1s and 1h"));
                }
                v
            }
            None => DEFAULT_STEP,
        };
        let mut infra = InfraTimings::default();
        for (field, slot) in [
            (&raw.infra.workload_ready, &mut infra.workload_ready),
            (&raw.infra.machine_ready, &mut infra.machine_ready),
            (&raw.infra.machine_delete, &mut infra.machine_delete),
        ] {
            if let Some(v) = field {
                *slot = self.duration(v)?;
            }
        }

        let controller = self.controller(&raw.controller)?;
        let topology = match &raw.topology {
            None => Topology::default(),
            Some(t) => match t.value.as_str() {
                "seeds" => Topology::Seeds,
                "single" => Topology::Single,
                other => {
                    return Err(self.err(
                        t,
                        format!(
                            "unknown topology {other:?}: expected seeds (each seed its own API \
                             server, the default) or single (every seed on the management server)"
                        ),
                    ));
                }
            },
        };
        let tenants = self.tenants(&raw.tenants)?;
        let seeds = self.seeds(&raw.seeds)?;
        let clusters = self.clusters(&raw.clusters, &tenants)?;
        let mut objects = Vec::new();
        for o in &raw.objects {
            let v = &o.value;
            let field = |k: &str| v.get(k).and_then(serde_json::Value::as_str).is_some();
            let named = v
                .pointer("/metadata/name")
                .and_then(serde_json::Value::as_str)
                .is_some();
            if !field("apiVersion") || !field("kind") || !named {
                return Err(self.err(
                    o,
                    "object needs string fields apiVersion, kind and metadata.name",
                ));
            }
            objects.push(v.clone());
        }
        self.namespaces = tenants
            .iter()
            .map(|t| t.namespace.clone())
            .chain(objects.iter().filter_map(|o| {
                (o.get("kind").and_then(serde_json::Value::as_str) == Some("Namespace"))
                    .then(|| o.pointer("/metadata/name")?.as_str().map(str::to_string))
                    .flatten()
            }))
            .collect();
        let end = start.0 + duration;
        let mut timeline = Vec::new();
        // Clusters a later entry may name: the initial ones and every `createCluster` so far
        // (file order); whether one exists at the entry's time is checked once sorted.
        let mut known = clusters.clone();
        for ev in &raw.timeline {
            let entries = self.event(ev, start, end, topology, &tenants, &seeds, &known)?;
            for e in &entries {
                if let Action::CreateCluster { clusters: new } = &e.action {
                    known.extend(new.iter().cloned());
                }
            }
            timeline.extend(entries);
        }
        timeline.sort_by_key(|e| e.at);
        self.check_cluster_lifetimes(&clusters, &timeline, start)?;

        Ok(Scenario {
            name: raw.name.unwrap_or_default(),
            description: raw.description,
            start,
            duration,
            step,
            infra,
            controller,
            tenants,
            seeds,
            clusters,
            objects,
            timeline,
            base_dir: self.base_dir.to_path_buf(),
            topology,
        })
    }

    fn tenants(&mut self, raw: &[Spanned<RawTenant>]) -> Result<Vec<Tenant>, ScenarioError> {
        let mut out: Vec<Tenant> = Vec::new();
        for t in raw {
            let name = &t.value.name;
            if !is_dns_label(&name.value) {
                return Err(self.err(
                    name,
                    format!("tenant name {:?} is not a DNS label", name.value),
                ));
            }
            if out.iter().any(|o| o.name == name.value) {
                return Err(self.err(name, format!("tenant {:?} defined twice", name.value)));
            }
            let failure_mode =
                self.failure_mode(t.value.failure_mode.as_ref(), FailureMode::Fallback)?;
            let mut policies = BTreeMap::new();
            for (key, b) in &t.value.policies {
                let kind = self.decision_kind(key, b)?;
                policies.insert(kind, self.binding(&b.value, failure_mode)?);
            }
            out.push(Tenant {
                name: name.value.clone(),
                namespace: t
                    .value
                    .namespace
                    .clone()
                    .unwrap_or_else(|| format!("tenant-{}", name.value)),
                policies,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn seeds(&self, raw: &[Spanned<RawSeed>]) -> Result<Vec<Seed>, ScenarioError> {
        let mut out: Vec<Seed> = Vec::new();
        for s in raw {
            let r = &s.value;
            if !is_dns_label(&r.name.value) {
                return Err(self.err(
                    &r.name,
                    format!("seed name {:?} is not a DNS label", r.name.value),
                ));
            }
            if out.iter().any(|o| o.name == r.name.value) {
                return Err(self.err(&r.name, format!("seed {:?} defined twice", r.name.value)));
            }
            let min_version = match &r.min_version {
                Some(v) => self.version(v)?,
                None => KubeVersion::new(1, 0, 0),
            };
            let max_version = match &r.max_version {
                Some(v) => self.version(v)?,
                None => KubeVersion::new(1, 99, 0),
            };
            out.push(Seed {
                name: r.name.value.clone(),
                region: r.region.clone(),
                provider: r.provider.clone(),
                zone: r.zone.clone(),
                labels: r.labels.clone(),
                capacity: r.capacity,
                min_version,
                max_version,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `controller:`: every value checked, errors naming the field.
    fn controller(&self, raw: &RawController) -> Result<ControllerTunables, ScenarioError> {
        let seconds = |v: &Option<Spanned<String>>,
                       field: &str,
                       range: std::ops::RangeInclusive<i64>,
                       bounds: &str|
         -> Result<Option<i64>, ScenarioError> {
            let Some(s) = v else { return Ok(None) };
            let secs = self.duration(s)?;
            if !range.contains(&secs) {
                return Err(self.err(s, format!("controller.{field} must be between {bounds}")));
            }
            Ok(Some(secs))
        };
        let count = |v: &Option<Spanned<u32>>,
                     field: &str,
                     min: u32|
         -> Result<Option<u32>, ScenarioError> {
            let Some(n) = v else { return Ok(None) };
            if !(min..=MAX_CONTROLLER_COUNT).contains(&n.value) {
                return Err(self.err(
                    n,
                    format!(
                        "controller.{field} must be between {min} and {MAX_CONTROLLER_COUNT} \
                         (got {})",
                        n.value
                    ),
                ));
            }
            Ok(Some(n.value))
        };
        let (u, r) = (&raw.upgrades, &raw.remediation);
        Ok(ControllerTunables {
            resync: seconds(&raw.resync, "resync", 10..=86_400, "10s and 1d")?,
            // A cap of 0 would stop every upgrade: say so rather than simulate a frozen fleet.
            max_concurrent: count(&u.max_concurrent, "upgrades.maxConcurrent", 1)?,
            max_concurrent_per_seed: count(
                &u.max_concurrent_per_seed,
                "upgrades.maxConcurrentPerSeed",
                1,
            )?,
            remediation_window: seconds(&r.window, "remediation.window", 60..=86_400, "1m and 1d")?,
            // 0 is allowed: "what if nothing may be remediated".
            remediation_per_cluster: count(&r.per_cluster, "remediation.perCluster", 0)?,
            remediation_per_seed: count(&r.per_seed, "remediation.perSeed", 0)?,
            remediation_per_tenant: count(&r.per_tenant, "remediation.perTenant", 0)?,
        })
    }

    /// In time order, every entry that names a cluster names one that exists then: created at
    /// the start or by an earlier `createCluster`, and not deleted before.
    fn check_cluster_lifetimes(
        &self,
        initial: &[Cluster],
        timeline: &[TimedAction],
        start: Timestamp,
    ) -> Result<(), ScenarioError> {
        let mut live: BTreeSet<ClusterRef> = initial.iter().map(|c| c.id.clone()).collect();
        for e in timeline {
            let err = |message: String| ScenarioError::Invalid {
                path: self.label.into(),
                line: e.line,
                column: 1,
                message,
            };
            let when = super::format_duration(e.at.0 - start.0);
            match &e.action {
                Action::CreateCluster { clusters } => {
                    for c in clusters {
                        if !live.insert(c.id.clone()) {
                            return Err(err(format!(
                                "cluster {} already exists at T+{when}",
                                c.id
                            )));
                        }
                    }
                }
                Action::DeleteCluster { cluster } if !live.remove(cluster) => {
                    return Err(err(format!(
                        "cluster {cluster} does not exist at T+{when} (created later, or \
                         already deleted)"
                    )));
                }
                Action::BreakWorkload { cluster, .. }
                | Action::HealWorkload { cluster, .. }
                | Action::BreakMachine { cluster, .. }
                | Action::HealMachine { cluster, .. }
                | Action::PauseCluster { cluster }
                | Action::ResumeCluster { cluster }
                | Action::Signal { cluster, .. }
                    if !live.contains(cluster) =>
                {
                    return Err(err(format!(
                        "cluster {cluster} does not exist at T+{when} (created later, or \
                         already deleted)"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn clusters(
        &self,
        raw: &[Spanned<RawClusters>],
        tenants: &[Tenant],
    ) -> Result<Vec<Cluster>, ScenarioError> {
        let mut out: Vec<Cluster> = Vec::new();
        let mut seen = BTreeSet::new();
        for g in raw {
            let r = &g.value;
            let Some(tenant) = tenants.iter().find(|t| t.name == r.tenant.value) else {
                return Err(self.err(
                    &r.tenant,
                    format!(
                        "unknown tenant {:?}: define it under tenants:",
                        r.tenant.value
                    ),
                ));
            };
            let version = self.version(&r.version)?;
            let count = r.count.unwrap_or(1);
            if count == 0 || out.len() + count as usize > MAX_CLUSTERS {
                return Err(self.err(
                    g,
                    format!("count must be between 1 and {MAX_CLUSTERS} clusters in total"),
                ));
            }
            if count > 1 && !r.name.value.contains("{n}") {
                return Err(self.err(
                    &r.name,
                    "with count > 1 the name needs a {n} placeholder (e.g. prod-{n})",
                ));
            }
            let pools = match &r.pools {
                Some(p) => p
                    .iter()
                    .map(|p| Pool {
                        name: p.name.clone(),
                        replicas: p.replicas,
                    })
                    .collect(),
                None => vec![Pool {
                    name: "workers".into(),
                    replicas: default_pool_replicas(),
                }],
            };
            for n in 1..=count {
                let name = r.name.value.replace("{n}", &n.to_string());
                if !is_dns_label(&name) {
                    return Err(
                        self.err(&r.name, format!("cluster name {name:?} is not a DNS label"))
                    );
                }
                let id = ClusterRef::new(tenant.namespace.clone(), name);
                if !seen.insert(id.clone()) {
                    return Err(self.err(&r.name, format!("cluster {id} defined twice")));
                }
                out.push(Cluster {
                    id,
                    tenant: tenant.name.clone(),
                    version,
                    labels: r.labels.clone(),
                    control_plane_replicas: r.control_plane_replicas,
                    pools: pools.clone(),
                    regions: r.regions.clone(),
                    providers: r.providers.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn cluster_ref(
        &self,
        s: &Spanned<String>,
        clusters: &[Cluster],
    ) -> Result<ClusterRef, ScenarioError> {
        let found: Vec<&Cluster> = match s.value.split_once('/') {
            Some((ns, name)) => clusters
                .iter()
                .filter(|c| (c.id.namespace == ns || c.tenant == ns) && c.id.name == name)
                .collect(),
            None => clusters.iter().filter(|c| c.id.name == s.value).collect(),
        };
        match found.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(self.err(s, format!("unknown cluster {:?}: name a cluster defined under clusters: (NAME, TENANT/NAME or NAMESPACE/NAME)", s.value))),
            _ => Err(self.err(s, format!("cluster name {:?} is ambiguous: write TENANT/NAME", s.value))),
        }
    }

    fn pool(
        &self,
        cluster: &ClusterRef,
        pool: Option<&Spanned<String>>,
        clusters: &[Cluster],
        at: &Spanned<String>,
    ) -> Result<String, ScenarioError> {
        let Some(c) = clusters.iter().find(|c| &c.id == cluster) else {
            return Err(self.err(at, format!("unknown cluster {cluster}")));
        };
        match pool {
            None => c
                .pools
                .first()
                .map(|p| p.name.clone())
                .ok_or_else(|| self.err(at, format!("cluster {cluster} has no node pools"))),
            Some(p) if c.pools.iter().any(|x| x.name == p.value) => Ok(p.value.clone()),
            Some(p) => Err(self.err(p, format!("cluster {cluster} has no pool {:?}", p.value))),
        }
    }

    /// One timeline entry; two when a seed API outage says how long it lasts (`for`).
    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        ev: &Spanned<RawEvent>,
        start: Timestamp,
        end: i64,
        topology: Topology,
        tenants: &[Tenant],
        seeds: &[Seed],
        clusters: &[Cluster],
    ) -> Result<Vec<TimedAction>, ScenarioError> {
        let r = &ev.value;
        let at = parse_at(&r.at.value, start).map_err(|e| self.err(&r.at, e))?;
        if at.0 < start.0 || at.0 > end {
            return Err(self.err(
                &r.at,
                format!("event time {at} is outside the run ({start} + duration)"),
            ));
        }
        let set = [
            r.set_version.is_some(),
            r.break_workload.is_some(),
            r.heal_workload.is_some(),
            r.break_machine.is_some(),
            r.heal_machine.is_some(),
            r.update_policy.is_some(),
            r.seed_down.is_some(),
            r.seed_up.is_some(),
            r.seed_api_down.is_some(),
            r.seed_api_hang.is_some(),
            r.seed_api_slow.is_some(),
            r.seed_api_errors.is_some(),
            r.seed_api_up.is_some(),
            r.restart_controller.is_some(),
            r.create_cluster.is_some(),
            r.delete_cluster.is_some(),
            r.pause_rollout.is_some(),
            r.resume_rollout.is_some(),
            r.pause_cluster.is_some(),
            r.resume_cluster.is_some(),
            r.approve.is_some(),
            r.abort_rollout.is_some(),
            r.signal.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set != 1 {
            return Err(self.err(
                ev,
                format!(
                    "a timeline entry needs exactly one action (setVersion, breakWorkload, \
                     healWorkload, breakMachine, healMachine, updatePolicy, seedDown, seedUp, \
                     seedApiDown, seedApiHang, seedApiSlow, seedApiErrors, seedApiUp, \
                     restartController, createCluster, deleteCluster, pauseRollout, \
                     resumeRollout, pauseCluster, resumeCluster, approve, abortRollout, \
                     signal); found {set}"
                ),
            ));
        }
        let seed_name = |s: &Spanned<String>| -> Result<String, ScenarioError> {
            if seeds.iter().any(|x| x.name == s.value) {
                Ok(s.value.clone())
            } else {
                Err(self.err(s, format!("unknown seed {:?}", s.value)))
            }
        };
        let api_seed = |s: &Spanned<String>| -> Result<String, ScenarioError> {
            if topology == Topology::Single {
                return Err(self.err(
                    s,
                    "seed API outages need each seed on its own API server: remove \
                     `topology: single` (or use seedDown/seedUp, which break the seed's workloads)",
                ));
            }
            seed_name(s)
        };
        let mut ends: Option<(Timestamp, String)> = None;
        let mut outage = |a: &RawSeedApi, kind: ApiOutage| -> Result<Action, ScenarioError> {
            let seed = api_seed(&a.seed)?;
            if let Some(f) = &a.for_ {
                let d = self.duration(f)?;
                if d <= 0 || at.0 + d > end {
                    return Err(self.err(
                        f,
                        "`for` must be positive and end within the run (add a seedApiUp later \
                         instead, or lengthen duration)",
                    ));
                }
                ends = Some((Timestamp(at.0 + d), seed.clone()));
            }
            Ok(Action::SeedApi { seed, outage: kind })
        };
        let action = if let Some(a) = &r.seed_api_down {
            if let Some(d) = &a.delay {
                return Err(self.err(d, "delay applies to seedApiSlow only"));
            }
            outage(a, ApiOutage::Down)?
        } else if let Some(a) = &r.seed_api_hang {
            if let Some(d) = &a.delay {
                return Err(self.err(d, "delay applies to seedApiSlow only"));
            }
            outage(a, ApiOutage::Hang)?
        } else if let Some(a) = &r.seed_api_slow {
            let Some(d) = &a.delay else {
                return Err(self.err(&a.seed, "seedApiSlow needs a delay (e.g. delay: 2s)"));
            };
            let secs = self.duration(d)?;
            if !(1..=3_600).contains(&secs) {
                return Err(self.err(d, "delay must be between 1s and 1h"));
            }
            outage(
                a,
                ApiOutage::Slow {
                    delay_ms: secs as u64 * 1000,
                },
            )?
        } else if let Some(a) = &r.seed_api_errors {
            let code = match &a.code {
                None => 500,
                Some(c) if matches!(c.value, 409 | 429 | 500 | 504) => c.value,
                Some(c) => {
                    return Err(self.err(
                        c,
                        format!(
                            "unsupported code {}: expected 409, 429, 500 or 504",
                            c.value
                        ),
                    ));
                }
            };
            outage(a, ApiOutage::Errors { code })?
        } else if let Some(s) = &r.seed_api_up {
            Action::SeedApiUp {
                seed: api_seed(&s.seed)?,
            }
        } else if let Some(v) = &r.set_version {
            let tenant = match &v.tenant {
                Some(t) if tenants.iter().any(|x| x.name == t.value) => Some(t.value.clone()),
                Some(t) => return Err(self.err(t, format!("unknown tenant {:?}", t.value))),
                None => None,
            };
            let selector = Selector {
                tenant,
                labels: v.selector.clone(),
            };
            if !clusters
                .iter()
                .any(|c| selector.matches(&c.tenant, &c.labels))
            {
                return Err(self.err(
                    &v.version,
                    format!("setVersion selects no cluster ({})", selector.describe()),
                ));
            }
            Action::SetVersion {
                selector,
                version: self.version(&v.version)?,
            }
        } else if let Some(w) = &r.break_workload {
            Action::BreakWorkload {
                cluster: self.cluster_ref(&w.cluster, clusters)?,
                workload: w.workload.clone(),
            }
        } else if let Some(w) = &r.heal_workload {
            Action::HealWorkload {
                cluster: self.cluster_ref(&w.cluster, clusters)?,
                workload: w.workload.clone(),
            }
        } else if let Some(m) = &r.break_machine {
            let cluster = self.cluster_ref(&m.cluster, clusters)?;
            let pool = self.pool(&cluster, m.pool.as_ref(), clusters, &m.cluster)?;
            Action::BreakMachine {
                cluster,
                pool,
                index: m.index,
            }
        } else if let Some(m) = &r.heal_machine {
            let cluster = self.cluster_ref(&m.cluster, clusters)?;
            let pool = self.pool(&cluster, m.pool.as_ref(), clusters, &m.cluster)?;
            Action::HealMachine { cluster, pool }
        } else if let Some(u) = &r.update_policy {
            if !tenants.iter().any(|t| t.name == u.tenant.value) {
                return Err(self.err(&u.tenant, format!("unknown tenant {:?}", u.tenant.value)));
            }
            let kind = self.decision_kind(&u.decision.value, &u.decision)?;
            let previous = tenants
                .iter()
                .find(|t| t.name == u.tenant.value)
                .and_then(|t| t.policies.get(&kind));
            let config = match &u.config {
                Some(c) => c.clone(),
                None => previous.map_or(serde_json::Value::Null, |b| b.config.clone()),
            };
            let default_mode = previous.map_or(FailureMode::Fallback, |b| b.failure_mode);
            Action::UpdatePolicy {
                tenant: u.tenant.value.clone(),
                kind,
                binding: PolicyBinding {
                    module: self.module(&u.module)?,
                    config,
                    limits: previous.map_or(serde_json::Value::Null, |b| b.limits.clone()),
                    failure_mode: self.failure_mode(u.failure_mode.as_ref(), default_mode)?,
                },
            }
        } else if r.restart_controller.is_some() {
            Action::RestartController
        } else if let Some(c) = &r.create_cluster {
            let new = self.clusters(std::slice::from_ref(c), tenants)?;
            if let Some(dup) = new.iter().find(|n| clusters.iter().any(|k| k.id == n.id)) {
                return Err(self.err(
                    &c.value.name,
                    format!(
                        "cluster {} is already defined (under clusters: or by an earlier \
                         createCluster); names are not reused",
                        dup.id
                    ),
                ));
            }
            if clusters.len() + new.len() > MAX_CLUSTERS {
                return Err(self.err(c, format!("at most {MAX_CLUSTERS} clusters in total")));
            }
            Action::CreateCluster { clusters: new }
        } else if let Some(d) = &r.delete_cluster {
            let Some(tenant) = tenants.iter().find(|t| t.name == d.tenant.value) else {
                return Err(self.err(&d.tenant, format!("unknown tenant {:?}", d.tenant.value)));
            };
            let id = ClusterRef::new(tenant.namespace.clone(), d.name.value.clone());
            if !clusters.iter().any(|c| c.id == id) {
                return Err(self.err(
                    &d.name,
                    format!(
                        "unknown cluster {:?} of tenant {}: name one defined under clusters: \
                         or by a createCluster",
                        d.name.value, tenant.name
                    ),
                ));
            }
            Action::DeleteCluster { cluster: id }
        } else if let Some(action) = self.control_action(r, tenants, clusters)? {
            action
        } else if let Some(s) = &r.seed_down {
            Action::SeedDown {
                seed: seed_name(&s.seed)?,
            }
        } else if let Some(s) = &r.seed_up {
            Action::SeedUp {
                seed: seed_name(&s.seed)?,
            }
        } else {
            return Err(self.err(ev, "a timeline entry needs an action"));
        };
        let line = ev.referenced.line();
        let mut out = vec![TimedAction { at, line, action }];
        if let Some((at, seed)) = ends {
            out.push(TimedAction {
                at,
                line,
                action: Action::SeedApiUp { seed },
            });
        }
        Ok(out)
    }
}

impl Converter<'_> {
    /// The operator-control actions (issue 11): pause, resume, approve, abort, signal.
    /// `None` when the entry holds none of them.
    fn control_action(
        &self,
        r: &RawEvent,
        tenants: &[Tenant],
        clusters: &[Cluster],
    ) -> Result<Option<Action>, ScenarioError> {
        let tenant = |t: &Spanned<String>| -> Result<String, ScenarioError> {
            if tenants.iter().any(|x| x.name == t.value) {
                Ok(t.value.clone())
            } else {
                Err(self.err(
                    t,
                    format!(
                        "unknown tenant {:?}: name one defined under tenants:",
                        t.value
                    ),
                ))
            }
        };
        let who = |field: &str, w: &Spanned<String>| -> Result<String, ScenarioError> {
            let v = w.value.trim();
            if v.is_empty() || v.len() > MAX_WHO || v.chars().any(char::is_control) {
                return Err(self.err(
                    w,
                    format!(
                        "{field} must name who acts: 1 to {MAX_WHO} characters, no control \
                         characters"
                    ),
                ));
            }
            Ok(v.to_string())
        };
        let text = |field: &str, t: Option<&Spanned<String>>, max: usize| match t {
            Some(t) if t.value.len() > max => {
                Err(self.err(t, format!("{field} is longer than {max} bytes")))
            }
            Some(t) => Ok(t.value.clone()),
            None => Ok(String::new()),
        };
        let action = if let Some(p) = &r.pause_rollout {
            Action::PauseRollout {
                tenant: tenant(&p.tenant)?,
                reason: text("pauseRollout.reason", p.reason.as_ref(), MAX_REASON)?,
                by: match &p.by {
                    Some(b) => who("pauseRollout.by", b)?,
                    None => DEFAULT_PAUSED_BY.into(),
                },
            }
        } else if let Some(p) = &r.resume_rollout {
            Action::ResumeRollout {
                tenant: tenant(&p.tenant)?,
            }
        } else if let Some(c) = &r.pause_cluster {
            Action::PauseCluster {
                cluster: self.cluster_ref(&c.cluster, clusters)?,
            }
        } else if let Some(c) = &r.resume_cluster {
            Action::ResumeCluster {
                cluster: self.cluster_ref(&c.cluster, clusters)?,
            }
        } else if let Some(a) = &r.approve {
            let name = tenant(&a.tenant)?;
            if !is_dns_label(&a.gate.value) {
                return Err(self.err(
                    &a.gate,
                    format!(
                        "approve.gate {:?} is not a gate name: a DNS label (lowercase letters, \
                         digits and '-', at most 63), e.g. the wave's name",
                        a.gate.value
                    ),
                ));
            }
            let namespace = match &a.namespace {
                None => tenants
                    .iter()
                    .find(|t| t.name == name)
                    .map(|t| t.namespace.clone())
                    .unwrap_or_default(),
                Some(ns) if self.namespaces.contains(&ns.value) => ns.value.clone(),
                Some(ns) => {
                    return Err(self.err(
                        ns,
                        format!(
                            "approve.namespace {:?} does not exist in the run: name a tenant's \
                             namespace or a Namespace under objects:",
                            ns.value
                        ),
                    ));
                }
            };
            Action::Approve {
                tenant: name,
                gate: a.gate.value.clone(),
                by: who("approve.by", &a.by)?,
                namespace,
                comment: text("approve.comment", a.comment.as_ref(), MAX_REASON)?,
            }
        } else if let Some(a) = &r.abort_rollout {
            Action::AbortRollout {
                tenant: tenant(&a.tenant)?,
                by: who("abortRollout.by", &a.by)?,
                reason: text("abortRollout.reason", a.reason.as_ref(), MAX_REASON)?,
            }
        } else if let Some(s) = &r.signal {
            let cluster = self.cluster_ref(&s.cluster, clusters)?;
            if !is_signal_name(&s.name.value) {
                return Err(self.err(
                    &s.name,
                    format!(
                        "signal.name {:?} is not a signal name: 1 to 63 letters, digits, '-', \
                         '_' or '.', starting and ending with a letter or digit (the condition \
                         type is signal.fleetward.dev/<name>)",
                        s.name.value
                    ),
                ));
            }
            let reason = match &s.reason {
                None if s.firing => "Firing".to_string(),
                None => "Resolved".to_string(),
                Some(r) if is_condition_reason(&r.value) => r.value.clone(),
                Some(r) => {
                    return Err(self.err(
                        r,
                        format!(
                            "signal.reason {:?} is not a condition reason: CamelCase letters, \
                             digits, '_', ',' or ':', starting with a letter (e.g. SLOBurn)",
                            r.value
                        ),
                    ));
                }
            };
            Action::Signal {
                cluster,
                name: s.name.value.clone(),
                firing: s.firing,
                reason,
                message: text("signal.message", s.message.as_ref(), MAX_SIGNAL_MESSAGE)?,
            }
        } else {
            return Ok(None);
        };
        Ok(Some(action))
    }
}

/// The name part of a Kubernetes qualified name (a condition type after its prefix): 1-63
/// characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
fn is_signal_name(s: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alnum(s.chars().next())
        && alnum(s.chars().last())
}

/// A condition reason as the API validates it: `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`,
/// at most 1024 characters.
fn is_condition_reason(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.len() <= 1024
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ',' | ':'))
        && s.chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// RFC 1123 label: lowercase alphanumerics and `-`, 1-63 chars, alphanumeric at both ends.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The YAML parser appends ` at line N, column M`; the error already leads with it.
fn strip_location_suffix(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => message[..i].to_string(),
        _ => message.to_string(),
    }
}
