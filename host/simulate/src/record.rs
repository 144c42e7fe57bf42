//! What happened during a run: per-cluster spans, the decision ledger, faults and violations.
//!
//! The [`Recorder`] is a pure state machine fed with [`Observation`]s (every committed write,
//! every decision record, every timeline action) in the order they happened. It never looks at
//! a clock or a map with random iteration order, so the same observations always give the same
//! [`Recording`], byte for byte once serialised.

use std::collections::{BTreeMap, BTreeSet};

use fleetward_sdk::wire::{ClusterRef, Timestamp, UpgradeDecision};
use serde::Serialize;
use serde_json::Value;

use crate::invariants::{self, Violation};
use crate::scenario::{Action, Scenario, Topology};

/// The API server URL of a seed's own emulated API server (`topology: seeds`), as its
/// kubeconfig names it.
pub fn seed_server(seed: &str) -> String {
    format!("https://{seed}.seeds.simulate:6443")
}

/// What a span on the timeline stands for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SpanKind {
    /// From creation until a seed is chosen.
    Placement,
    /// The control plane moves to a new version.
    ControlPlane,
    /// A node pool moves to a new version.
    Pool {
        /// Pool name.
        pool: String,
    },
    /// The controller is remediating a problem.
    Remediation,
    /// The cluster needs an upgrade but waits (policy hold, paused upgrades).
    Hold,
    /// An injected fault (broken workload or machine, seed down).
    Fault,
}

impl SpanKind {
    /// Short lowercase name for CSS classes and JSON.
    pub fn css(&self) -> &'static str {
        match self {
            SpanKind::Placement => "placement",
            SpanKind::ControlPlane => "cp",
            SpanKind::Pool { .. } => "pool",
            SpanKind::Remediation => "remediation",
            SpanKind::Hold => "hold",
            SpanKind::Fault => "fault",
        }
    }

    /// Human name for legends and tooltips.
    pub fn title(&self) -> String {
        match self {
            SpanKind::Placement => "placement".into(),
            SpanKind::ControlPlane => "control-plane upgrade".into(),
            SpanKind::Pool { pool } => format!("pool {pool} upgrade"),
            SpanKind::Remediation => "remediation".into(),
            SpanKind::Hold => "hold".into(),
            SpanKind::Fault => "fault".into(),
        }
    }
}

/// One coloured bar: `kind` from `start` to `end` (seconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    /// What it stands for.
    pub kind: SpanKind,
    /// Start.
    pub start: i64,
    /// End (the run's end if it never closed).
    pub end: i64,
    /// False when still running at the end of the run.
    pub closed: bool,
    /// One-line description (versions, wave, reason).
    pub label: String,
}

/// Everything recorded about one cluster.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterTrack {
    /// Identity.
    pub id: ClusterRef,
    /// Owning tenant.
    pub tenant: String,
    /// Seed, once placed.
    pub seed: Option<String>,
    /// Version at the start.
    pub initial_version: String,
    /// Desired version at the end.
    pub desired_version: String,
    /// Control-plane version at the end.
    pub control_plane_version: Option<String>,
    /// When the desired version last changed (a rollout began for this cluster).
    pub requested_at: Option<i64>,
    /// When control plane and every pool reached the desired version after a change.
    pub completed_at: Option<i64>,
    /// Remediation actions carried out.
    pub remediations: u32,
    /// Wave labels of the steps it went through.
    pub waves: BTreeSet<String>,
    /// Spans in start order.
    pub spans: Vec<Span>,
    /// When a `createCluster` action created it (absent: it existed from the start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// When a `deleteCluster` action deleted it (absent: it was never deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<i64>,
}

/// One policy decision, as the controller recorded it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LedgerEntry {
    /// Decision time (virtual, seconds since the epoch).
    pub at: i64,
    /// Tenant.
    pub tenant: String,
    /// Clusters it concerned (`namespace/name`), sorted.
    pub clusters: Vec<String>,
    /// `placement`, `upgrade_ordering`, `remediation`.
    pub kind: String,
    /// Module digest (`sha256:…`) or `builtin`.
    pub digest: String,
    /// Hex sha256 of the input envelope.
    pub input_sha256: String,
    /// The decision JSON (canonical), or empty when the policy failed.
    pub output_json: String,
    /// The policy's reason, the veto or the error.
    pub reason: String,
    /// `applied`, `fallback`, `held`, `vetoed`, `waiting`, `error`.
    pub outcome: String,
}

impl LedgerEntry {
    /// Ledger order: time, tenant, kind, clusters. The sort is stable, so answers to the same
    /// question within one second stay in the order they were given.
    fn key(&self) -> (i64, &str, &str, &[String]) {
        (self.at, &self.tenant, &self.kind, &self.clusters)
    }
}

/// One seed as the run saw it: its API server, the clusters placed on it, the outages injected
/// into its API and its `Ready` condition as the controller wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeedTrack {
    /// Seed name.
    pub name: String,
    /// Its API server (`management` when the seed is the management server itself).
    pub server: String,
    /// Clusters placed on it at the end of the run (`namespace/name`), sorted.
    pub clusters: Vec<String>,
    /// Injected API outages, in time order.
    pub outages: Vec<SeedOutage>,
    /// The Seed's `Ready` condition each time it changed (status or reason), in time order.
    pub ready: Vec<ReadyChange>,
    /// Successful mutating requests its API server served (the management server's count when
    /// the seed is the management server).
    pub writes: u64,
}

/// An injected outage of a seed's API server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeedOutage {
    /// How it failed (`down`, `hang`, `slow 2s`, `errors 500`).
    pub kind: String,
    /// Start.
    pub start: i64,
    /// End (the run's end if it never ended).
    pub end: i64,
    /// False when still running at the end of the run.
    pub closed: bool,
}

/// The Seed's `Ready` condition from this instant on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadyChange {
    /// When the controller wrote it.
    pub at: i64,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// The condition's reason.
    pub reason: String,
}

/// Cluster conditions whose transitions are recorded: the tenant's policy health and the seed
/// faults a cluster sees. (Seed and Tenant conditions are recorded whatever their type.)
pub const CLUSTER_CONDITIONS: [&str; 3] = ["PolicyDegraded", "SeedReachable", "SeedDeleting"];

/// Whether a condition in this status is the healthy one: `True` for positive conditions
/// (`Ready`, `SeedReachable`, `PoliciesReady`, …), `False` for the negative ones (`…Degraded`,
/// `…Blocked`, `…Fault`, `…Deleting`).
pub fn condition_healthy(type_: &str, status: &str) -> bool {
    let negative = ["Degraded", "Blocked", "Fault", "Deleting"]
        .iter()
        .any(|suffix| type_.ends_with(suffix));
    if negative {
        status == "False"
    } else {
        status == "True"
    }
}

/// A condition of a ManagedCluster, Seed or Tenant changed (status or reason), as the controller
/// wrote it. A condition first seen healthy is not a change; from then on every change is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ConditionChange {
    /// When the controller wrote it.
    pub at: i64,
    /// `ManagedCluster`, `Seed` or `Tenant`.
    pub kind: String,
    /// `namespace/name` for a cluster, the name otherwise.
    pub object: String,
    /// The tenant it concerns (clusters and tenants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The seed it concerns (seeds, and clusters once placed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Condition type.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// The condition's reason.
    pub reason: String,
    /// Its message when it changed.
    pub message: String,
    /// Whether this status is the healthy one (see [`condition_healthy`]).
    pub healthy: bool,
}

/// A timeline action that was applied, for markers on the chart.
#[derive(Clone, Debug, Serialize)]
pub struct EventMark {
    /// When.
    pub at: i64,
    /// What.
    pub description: String,
}

/// An input to the recorder.
#[derive(Clone, Debug)]
pub enum Observation {
    /// A committed write to the API (object after the write).
    Write {
        /// Virtual time of the write.
        at: i64,
        /// Object kind.
        kind: String,
        /// The object.
        object: Value,
    },
    /// A decision record from the controller.
    Decision(LedgerEntry),
    /// A decision-log record from the controller (`decisions.jsonl`).
    Logged(Box<fleetward_controller::decision_log::DecisionEntry>),
    /// The controller's own invariant checker flagged observed state.
    Violation(Violation),
    /// An injected fault stopped applying without a heal action: the broken Machine was
    /// deleted (remediation replaced it), so its fault span ends here.
    FaultGone {
        /// Virtual time.
        at: i64,
        /// The cluster.
        cluster: ClusterRef,
        /// The pool and the machine's index, as the `breakMachine` action named them.
        pool: String,
        /// Index within the pool at the time of the break.
        index: usize,
    },
    /// At the end of the run: how many writes a seed's API server served.
    SeedWrites {
        /// Virtual time.
        at: i64,
        /// Seed name.
        seed: String,
        /// Successful mutating requests.
        writes: u64,
    },
    /// A Seed written in the management server (its status as the controller sees the seed).
    SeedWrite {
        /// Virtual time of the write.
        at: i64,
        /// The Seed object.
        object: Value,
    },
    /// A Tenant written in the management server (its status: policies loaded, degraded, …).
    TenantWrite {
        /// Virtual time of the write.
        at: i64,
        /// The Tenant object.
        object: Value,
    },
}

impl Observation {
    /// Virtual time of the observation.
    pub fn at(&self) -> i64 {
        match self {
            Observation::Write { at, .. }
            | Observation::FaultGone { at, .. }
            | Observation::SeedWrite { at, .. }
            | Observation::TenantWrite { at, .. }
            | Observation::SeedWrites { at, .. } => *at,
            Observation::Decision(d) => d.at,
            Observation::Logged(d) => d.time.0,
            Observation::Violation(v) => v.at,
        }
    }
}

/// The recorded run.
#[derive(Clone, Debug, Serialize)]
pub struct Recording {
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// Start (seconds since the epoch).
    pub start: i64,
    /// When the run stopped.
    pub end: i64,
    /// Tenants in name order.
    pub tenants: Vec<String>,
    /// Clusters sorted by tenant, namespace, name.
    pub clusters: Vec<ClusterTrack>,
    /// Decisions in time order.
    pub ledger: Vec<LedgerEntry>,
    /// Timeline actions applied.
    pub events: Vec<EventMark>,
    /// Invariant violations seen in written state.
    pub violations: Vec<Violation>,
    /// Seeds in name order.
    pub seeds: Vec<SeedTrack>,
    /// Condition changes of clusters, seeds and tenants, in time order (`conditions.json`).
    pub conditions: Vec<ConditionChange>,
    /// Paused, waiting-for-approval and aborted spans of each tenant's rollout, and who
    /// approved which gate, from the Tenants' `status.rollout` (in `summary.json` when not
    /// empty).
    #[serde(skip)]
    pub rollouts: crate::rollout_spans::RolloutControl,
    /// ManagedCluster writes observed (terminal only; see [`crate::summary::Summary::writes`]).
    #[serde(skip)]
    pub writes: u64,
    /// Of those, per tenant (terminal only).
    #[serde(skip)]
    pub tenant_writes: BTreeMap<String, u64>,
    /// Decision records received, unchanged re-asks included (terminal only).
    #[serde(skip)]
    pub raw_decisions: u64,
    /// The decision log, one record per decision, in a defined order (`decisions.jsonl`,
    /// [`crate::write_outputs`]; `seq` is numbered when written).
    #[serde(skip)]
    pub decision_log: Vec<fleetward_controller::decision_log::DecisionEntry>,
}

impl Recording {
    /// Clusters done / clusters with a pending version change.
    pub fn progress(&self) -> (usize, usize) {
        let asked = self.clusters.iter().filter(|c| c.requested_at.is_some());
        let total = asked.clone().count();
        let done = asked.filter(|c| c.completed_at.is_some()).count();
        (done, total)
    }
}

#[derive(Default)]
struct ClusterState {
    track: Option<ClusterTrack>,
    /// Open spans by key (kind + discriminator).
    open: BTreeMap<String, Span>,
    last_status: Value,
    remediation_seen: usize,
    previous_desired: Option<String>,
}

/// (tenant, kind, clusters): what was asked.
type QuestionKey = (String, String, Vec<String>);
/// (digest, output, outcome, reason): what was answered.
type AnswerKey = (String, String, String, String);

/// Builds a [`Recording`] from observations.
#[derive(Default)]
pub struct Recorder {
    scenario: String,
    description: String,
    start: i64,
    tenants: Vec<String>,
    clusters: BTreeMap<ClusterRef, ClusterState>,
    ledger: Vec<LedgerEntry>,
    /// The last answer per (tenant, kind, clusters), to drop unchanged re-asks.
    last_answer: BTreeMap<QuestionKey, AnswerKey>,
    /// Every decision record received, re-asks included (terminal only).
    raw_decisions: u64,
    /// Decision-log records, in arrival order.
    decision_log: Vec<fleetward_controller::decision_log::DecisionEntry>,
    events: Vec<EventMark>,
    violations: Vec<Violation>,
    writes: u64,
    tenant_writes: BTreeMap<String, u64>,
    seeds: BTreeMap<String, SeedTrack>,
    conditions: Vec<ConditionChange>,
    /// Last (status, reason) per (kind, object, condition type).
    condition_state: BTreeMap<(String, String, String), (String, String)>,
    /// Each tenant's rollout as its `status.rollout` writes show it.
    rollouts: crate::rollout_spans::Tracker,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("clusters", &self.clusters.len())
            .field("ledger", &self.ledger.len())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder for this scenario: every cluster gets a track from the start.
    pub fn new(s: &Scenario) -> Recorder {
        let mut r = Recorder {
            scenario: s.name.clone(),
            description: s.description.clone(),
            start: s.start.0,
            tenants: s.tenants.iter().map(|t| t.name.clone()).collect(),
            ..Recorder::default()
        };
        for seed in &s.seeds {
            r.seeds.insert(
                seed.name.clone(),
                SeedTrack {
                    name: seed.name.clone(),
                    server: match s.topology {
                        Topology::Seeds => seed_server(&seed.name),
                        Topology::Single => "management".into(),
                    },
                    clusters: Vec::new(),
                    outages: Vec::new(),
                    ready: Vec::new(),
                    writes: 0,
                },
            );
        }
        for c in &s.clusters {
            r.add_cluster(c, s.start.0, None);
        }
        r
    }

    /// Gives a cluster its track, waiting for a seed from `at`.
    fn add_cluster(&mut self, c: &crate::scenario::Cluster, at: i64, created_at: Option<i64>) {
        {
            let st = self.clusters.entry(c.id.clone()).or_default();
            st.track = Some(ClusterTrack {
                id: c.id.clone(),
                tenant: c.tenant.clone(),
                seed: None,
                initial_version: c.version.to_string(),
                desired_version: c.version.to_string(),
                control_plane_version: None,
                requested_at: None,
                completed_at: None,
                remediations: 0,
                waves: BTreeSet::new(),
                spans: Vec::new(),
                created_at,
                deleted_at: None,
            });
            st.previous_desired = Some(c.version.to_string());
            open(
                st,
                "placement",
                SpanKind::Placement,
                at,
                "waiting for a seed",
            );
        }
    }

    /// Records a condition's state; a change (or a first sight that is not healthy) becomes a
    /// [`ConditionChange`].
    #[allow(clippy::too_many_arguments)]
    fn condition_seen(
        &mut self,
        at: i64,
        kind: &str,
        object: &str,
        tenant: Option<&str>,
        seed: Option<&str>,
        c: &Value,
    ) {
        let field = |k: &str| {
            c.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (type_, status, reason) = (field("type"), field("status"), field("reason"));
        if type_.is_empty() {
            return;
        }
        let key = (kind.to_string(), object.to_string(), type_.clone());
        let now = (status.clone(), reason.clone());
        let healthy = condition_healthy(&type_, &status);
        match self.condition_state.get(&key) {
            Some(prev) if *prev == now => return,
            None if healthy => {
                self.condition_state.insert(key, now);
                return;
            }
            _ => {}
        }
        self.condition_state.insert(key, now);
        self.conditions.push(ConditionChange {
            at,
            kind: kind.to_string(),
            object: object.to_string(),
            tenant: tenant.map(str::to_string),
            seed: seed.map(str::to_string),
            type_,
            status,
            reason,
            message: field("message"),
            healthy,
        });
    }

    fn tenant_write(&mut self, at: i64, obj: &Value) {
        let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) else {
            return;
        };
        for c in &status_conditions(obj) {
            self.condition_seen(at, "Tenant", name, Some(name), None, c);
        }
        self.rollouts
            .observe(at, name, obj.pointer("/status/rollout"));
    }

    /// Clusters currently placed on `seed`, sorted.
    pub fn clusters_on_seed(&self, seed: &str) -> Vec<ClusterRef> {
        self.clusters
            .iter()
            .filter(|(_, s)| {
                s.track
                    .as_ref()
                    .filter(|t| t.deleted_at.is_none())
                    .and_then(|t| t.seed.as_deref())
                    == Some(seed)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Number of decisions so far (ledger entries: answers that changed).
    pub fn decision_count(&self) -> usize {
        self.ledger.len()
    }

    /// Decision records received so far, unchanged re-asks included.
    pub fn raw_decision_count(&self) -> u64 {
        self.raw_decisions
    }

    /// Number of violations so far.
    pub fn violation_count(&self) -> usize {
        self.violations.len()
    }

    /// (done, requested) clusters so far.
    pub fn progress(&self) -> (usize, usize) {
        let asked = self
            .clusters
            .values()
            .filter_map(|s| s.track.as_ref())
            .filter(|t| t.requested_at.is_some());
        let total = asked.clone().count();
        let done = asked.filter(|t| t.completed_at.is_some()).count();
        (done, total)
    }

    /// True when no cluster has a pending upgrade, remediation or placement.
    pub fn settled(&self) -> bool {
        self.clusters.values().all(|s| {
            s.open.keys().all(|k| k.starts_with("hold/"))
                && s.track.as_ref().is_some_and(|t| {
                    t.requested_at.is_none() || t.completed_at.is_some() || t.deleted_at.is_some()
                })
        })
    }

    /// Feeds one observation.
    pub fn observe(&mut self, obs: Observation) {
        match obs {
            Observation::Write { at, kind, object } => {
                self.writes += 1;
                if kind == "ManagedCluster" {
                    self.cluster_write(at, &object);
                }
            }
            Observation::Decision(entry) => self.decision(entry),
            Observation::Logged(entry) => self.decision_log.push(*entry),
            Observation::Violation(v) => self.violations.push(v),
            Observation::FaultGone {
                at,
                cluster,
                pool,
                index,
            } => {
                if let Some(st) = self.clusters.get_mut(&cluster) {
                    close(st, &format!("fault/machine/{pool}/{index}"), at);
                }
            }
            Observation::SeedWrite { at, object } => self.seed_write(at, &object),
            Observation::TenantWrite { at, object } => self.tenant_write(at, &object),
            Observation::SeedWrites { seed, writes, .. } => {
                if let Some(t) = self.seeds.get_mut(&seed) {
                    t.writes = writes;
                }
            }
        }
    }

    fn seed_write(&mut self, at: i64, obj: &Value) {
        if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str)
            && self.seeds.contains_key(name)
        {
            for c in &status_conditions(obj) {
                self.condition_seen(at, "Seed", name, None, Some(name), c);
            }
        }
        let Some(track) = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .and_then(|n| self.seeds.get_mut(n))
        else {
            return;
        };
        let Some(c) = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        else {
            return;
        };
        let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        let (status, reason) = (field("status"), field("reason"));
        if track
            .ready
            .last()
            .is_some_and(|l| l.status == status && l.reason == reason)
        {
            return;
        }
        track.ready.push(ReadyChange { at, status, reason });
    }

    /// Records that a timeline action was applied, affecting these clusters.
    pub fn action(&mut self, at: i64, action: &Action, affected: &[ClusterRef]) {
        self.events.push(EventMark {
            at,
            description: action.describe(),
        });
        match action {
            Action::CreateCluster { clusters } => {
                for c in clusters {
                    self.add_cluster(c, at, Some(at));
                }
            }
            Action::DeleteCluster { cluster } => {
                if let Some(st) = self.clusters.get_mut(cluster) {
                    // Whatever was under way ends with the cluster; its teardown is the
                    // controller's business and not a rollout.
                    let keys: Vec<String> = st.open.keys().cloned().collect();
                    for k in keys {
                        close(st, &k, at);
                    }
                    if let Some(t) = st.track.as_mut() {
                        t.deleted_at = Some(at);
                    }
                }
            }
            _ => {}
        }
        for id in affected {
            let Some(st) = self.clusters.get_mut(id) else {
                continue;
            };
            match action {
                Action::BreakWorkload { workload, .. } => {
                    open(
                        st,
                        &format!("fault/{workload}"),
                        SpanKind::Fault,
                        at,
                        &format!("{workload} not ready (injected)"),
                    );
                }
                Action::HealWorkload { workload, .. } => {
                    close(st, &format!("fault/{workload}"), at)
                }
                Action::BreakMachine { pool, index, .. } => {
                    open(
                        st,
                        &format!("fault/machine/{pool}/{index}"),
                        SpanKind::Fault,
                        at,
                        &format!("machine #{index} of pool {pool} unhealthy (injected)"),
                    );
                }
                Action::HealMachine { pool, .. } => {
                    let keys: Vec<String> = st
                        .open
                        .keys()
                        .filter(|k| k.starts_with(&format!("fault/machine/{pool}/")))
                        .cloned()
                        .collect();
                    for k in keys {
                        close(st, &k, at);
                    }
                }
                Action::SeedDown { seed } => {
                    open(
                        st,
                        "fault/seed",
                        SpanKind::Fault,
                        at,
                        &format!("seed {seed} down (injected)"),
                    );
                }
                Action::SeedUp { .. } => close(st, "fault/seed", at),
                Action::PauseCluster { .. } => open(
                    st,
                    "hold/operator",
                    SpanKind::Hold,
                    at,
                    "upgrades paused by the operator (spec.pauseUpgrades)",
                ),
                Action::ResumeCluster { .. } => close(st, "hold/operator", at),
                Action::Signal {
                    name,
                    firing: true,
                    reason,
                    ..
                } => open(
                    st,
                    &format!("fault/signal/{name}"),
                    SpanKind::Fault,
                    at,
                    &format!("signal {name} firing: {reason} (injected)"),
                ),
                Action::Signal {
                    name,
                    firing: false,
                    ..
                } => close(st, &format!("fault/signal/{name}"), at),
                Action::SetVersion { .. }
                | Action::PauseRollout { .. }
                | Action::ResumeRollout { .. }
                | Action::Approve { .. }
                | Action::AbortRollout { .. }
                | Action::UpdatePolicy { .. }
                | Action::SeedApi { .. }
                | Action::SeedApiUp { .. }
                | Action::RestartController
                | Action::CreateCluster { .. }
                | Action::DeleteCluster { .. } => {}
            }
        }
        match action {
            Action::SeedApi { seed, outage } => {
                if let Some(t) = self.seeds.get_mut(seed) {
                    if let Some(open) = t.outages.last_mut().filter(|o| !o.closed) {
                        open.end = at;
                        open.closed = true;
                    }
                    t.outages.push(SeedOutage {
                        kind: outage.describe(),
                        start: at,
                        end: at,
                        closed: false,
                    });
                }
            }
            Action::SeedApiUp { seed } => {
                if let Some(open) = self
                    .seeds
                    .get_mut(seed)
                    .and_then(|t| t.outages.last_mut())
                    .filter(|o| !o.closed)
                {
                    open.end = at;
                    open.closed = true;
                }
            }
            _ => {}
        }
    }

    fn cluster_write(&mut self, at: i64, obj: &Value) {
        let (Some(ns), Some(name)) = (
            obj.pointer("/metadata/namespace").and_then(Value::as_str),
            obj.pointer("/metadata/name").and_then(Value::as_str),
        ) else {
            return;
        };
        let id = ClusterRef::new(ns, name);
        let Some(st) = self.clusters.get(&id) else {
            return;
        };
        let Some((tenant, seed)) = st
            .track
            .as_ref()
            .filter(|t| t.deleted_at.is_none())
            .map(|t| (t.tenant.clone(), t.seed.clone()))
        else {
            // Unknown, or deleted: its teardown writes are not part of a rollout.
            return;
        };
        let seed = seed.or_else(|| {
            obj.pointer("/status/seed")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        for c in &status_conditions(obj) {
            if CLUSTER_CONDITIONS.contains(&c.get("type").and_then(Value::as_str).unwrap_or("")) {
                self.condition_seen(
                    at,
                    "ManagedCluster",
                    &id.to_string(),
                    Some(&tenant),
                    seed.as_deref(),
                    c,
                );
            }
        }
        let Some(st) = self.clusters.get_mut(&id) else {
            return;
        };
        let status = obj.get("status").cloned().unwrap_or(Value::Null);
        let desired = obj
            .pointer("/spec/version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        for v in invariants::check_transition(&id, at, &st.last_status, &status) {
            self.violations.push(v);
        }
        let Some(track) = st.track.as_mut() else {
            return;
        };
        *self.tenant_writes.entry(track.tenant.clone()).or_default() += 1;
        // A new desired version starts a rollout for this cluster.
        if st.previous_desired.as_deref() != Some(desired.as_str()) && !desired.is_empty() {
            st.previous_desired = Some(desired.clone());
            track.desired_version = desired.clone();
            track.requested_at = Some(at);
            track.completed_at = None;
        }
        let seed = status
            .get("seed")
            .and_then(Value::as_str)
            .map(str::to_string);
        if seed.is_some() && track.seed.is_none() {
            track.seed = seed.clone();
            let label = format!("placed on {}", seed.as_deref().unwrap_or_default());
            relabel(st, "placement", &label);
            close(st, "placement", at);
        }
        let Some(track) = st.track.as_mut() else {
            return;
        };
        let cp = status
            .get("controlPlaneVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        track.control_plane_version.clone_from(&cp);

        // The step in flight: one span per target.
        let step = status.get("inProgress").filter(|v| !v.is_null());
        let step_key = step
            .and_then(|s| s.get("target"))
            .and_then(Value::as_str)
            .map(|t| format!("step/{t}"));
        let open_steps: Vec<String> = st
            .open
            .keys()
            .filter(|k| k.starts_with("step/"))
            .cloned()
            .collect();
        for k in open_steps {
            if Some(&k) != step_key.as_ref() {
                close(st, &k, at);
            }
        }
        if let (Some(step), Some(key)) = (step, step_key)
            && !st.open.contains_key(&key)
        {
            let target = step
                .get("target")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let kind = match target.strip_prefix("pool/") {
                Some(pool) => SpanKind::Pool { pool: pool.into() },
                None => SpanKind::ControlPlane,
            };
            let s = |k: &str| step.get(k).and_then(Value::as_str).unwrap_or_default();
            let wave = s("wave");
            let mut label = format!("{target}: {} → {}", s("from"), s("to"));
            if !wave.is_empty() {
                label.push_str(&format!(" (wave {wave})"));
                if let Some(t) = st.track.as_mut() {
                    t.waves.insert(wave.to_string());
                }
            }
            open(st, &key, kind, at, &label);
        }

        // Remediation: the Remediating condition, plus executed actions from the history.
        let remediating = condition(&status, "Remediating");
        match remediating {
            Some((true, msg)) => {
                if !st.open.contains_key("remediation") {
                    open(st, "remediation", SpanKind::Remediation, at, &msg);
                }
            }
            _ => close(st, "remediation", at),
        }
        let history = status
            .get("remediationHistory")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if let Some(t) = st.track.as_mut() {
            // The history is bounded; count growth, and at least one when it rotates.
            if history > st.remediation_seen {
                t.remediations += (history - st.remediation_seen) as u32;
            } else if history > 0
                && status.get("remediationHistory") != st.last_status.get("remediationHistory")
            {
                t.remediations += 1;
            }
        }
        st.remediation_seen = history;

        // Paused upgrades are a hold with a clear reason.
        if status.get("upgradesPaused").and_then(Value::as_bool) == Some(true) {
            if !st.open.contains_key("hold/paused") {
                open(
                    st,
                    "hold/paused",
                    SpanKind::Hold,
                    at,
                    "upgrades paused by remediation escalation",
                );
            }
        } else {
            close(st, "hold/paused", at);
        }

        // Done: control plane and every pool at the desired version.
        let pools_done = status
            .get("nodePools")
            .and_then(Value::as_array)
            .is_some_and(|ps| {
                ps.iter()
                    .all(|p| p.get("version").and_then(Value::as_str) == Some(desired.as_str()))
            });
        let Some(track) = st.track.as_mut() else {
            return;
        };
        if track.requested_at.is_some()
            && track.completed_at.is_none()
            && cp.as_deref() == Some(desired.as_str())
            && pools_done
            && step.is_none()
        {
            track.completed_at = Some(at);
            let holds: Vec<String> = st
                .open
                .keys()
                .filter(|k| k.starts_with("hold/"))
                .cloned()
                .collect();
            for k in holds {
                close(st, &k, at);
            }
        }
        st.last_status = status;
    }

    fn decision(&mut self, entry: LedgerEntry) {
        self.raw_decisions += 1;
        let key = (
            entry.tenant.clone(),
            entry.kind.clone(),
            entry.clusters.clone(),
        );
        let answer = (
            entry.digest.clone(),
            entry.output_json.clone(),
            entry.outcome.clone(),
            entry.reason.clone(),
        );
        // A controller also re-asks on every resync and watch event; an unchanged answer (and
        // outcome) is not a new decision, so only changes enter the ledger.
        if self.last_answer.get(&key) == Some(&answer) {
            return;
        }
        self.last_answer.insert(key, answer);
        self.apply_holds(&entry);
        self.ledger.push(entry);
    }

    fn apply_holds(&mut self, entry: &LedgerEntry) {
        if entry.kind == "upgrade_ordering" {
            let tenant_clusters: Vec<ClusterRef> = self
                .clusters
                .iter()
                .filter(|(_, s)| {
                    s.track
                        .as_ref()
                        .is_some_and(|t| t.tenant == entry.tenant && t.deleted_at.is_none())
                })
                .map(|(id, _)| id.clone())
                .collect();
            let mut held: BTreeMap<ClusterRef, String> = BTreeMap::new();
            if entry.outcome == "held" {
                // The policy failed under failureMode Hold: every cluster still waiting for
                // its new version is held, for that reason.
                for id in &tenant_clusters {
                    let waiting = self
                        .clusters
                        .get(id)
                        .and_then(|s| s.track.as_ref())
                        .is_some_and(|t| t.requested_at.is_some() && t.completed_at.is_none());
                    if waiting {
                        // The controller's reason is the whole sentence (cause and remedy).
                        held.insert(id.clone(), entry.reason.clone());
                    }
                }
            } else if let Ok(d) = serde_json::from_str::<UpgradeDecision>(&entry.output_json) {
                for h in d.hold {
                    let mut reason = h.reason;
                    if let Some(u) = h.until {
                        reason.push_str(&format!(" (until {u})"));
                    }
                    held.insert(h.cluster, reason);
                }
            }
            for id in tenant_clusters {
                let Some(st) = self.clusters.get_mut(&id) else {
                    continue;
                };
                let reason = held.get(&id);
                let current = st.open.get("hold/policy").map(|s| s.label.clone());
                match (reason, current) {
                    (Some(r), Some(c)) if *r == c => {}
                    (Some(r), _) => {
                        close(st, "hold/policy", entry.at);
                        open(st, "hold/policy", SpanKind::Hold, entry.at, r);
                    }
                    (None, _) => close(st, "hold/policy", entry.at),
                }
            }
        }
    }

    /// Closes every open span at `end` and returns the recording.
    pub fn finish(mut self, end: i64) -> Recording {
        let mut clusters = Vec::new();
        for (_, mut st) in std::mem::take(&mut self.clusters) {
            let Some(mut track) = st.track.take() else {
                continue;
            };
            for (_, mut span) in std::mem::take(&mut st.open) {
                span.end = end.max(span.start);
                span.closed = false;
                track.spans.push(span);
            }
            track.spans.sort_by(|a, b| {
                (a.start, &a.kind, a.end, &a.label).cmp(&(b.start, &b.kind, b.end, &b.label))
            });
            clusters.push(track);
        }
        clusters.sort_by(|a, b| (&a.tenant, &a.id).cmp(&(&b.tenant, &b.id)));
        let mut ledger = self.ledger;
        ledger.sort_by(|a, b| a.key().cmp(&b.key()));
        // Decisions within one virtual instant arrive in scheduling order: sort by what they
        // are (time, tenant, kind, clusters, then the whole line) so two runs write one file.
        let mut decision_log: Vec<(String, _)> = std::mem::take(&mut self.decision_log)
            .into_iter()
            .map(|e| (e.to_line(), e))
            .collect();
        decision_log.sort_by(|(la, a), (lb, b)| {
            (a.time, &a.tenant, a.kind.as_str(), &a.clusters, la).cmp(&(
                b.time,
                &b.tenant,
                b.kind.as_str(),
                &b.clusters,
                lb,
            ))
        });
        let decision_log = decision_log.into_iter().map(|(_, e)| e).collect();
        let mut violations = self.violations;
        violations.sort();
        violations.dedup();
        // Writes of different objects within one instant arrive in scheduling order: sort them
        // by object (stable, so one object's changes within a second keep their order).
        let mut conditions = std::mem::take(&mut self.conditions);
        conditions.sort_by(|a, b| (a.at, &a.kind, &a.object).cmp(&(b.at, &b.kind, &b.object)));
        let mut seeds: Vec<SeedTrack> = std::mem::take(&mut self.seeds).into_values().collect();
        for seed in &mut seeds {
            seed.clusters = clusters
                .iter()
                .filter(|c| c.seed.as_deref() == Some(seed.name.as_str()))
                .map(|c| c.id.to_string())
                .collect();
            seed.clusters.sort();
            for o in seed.outages.iter_mut().filter(|o| !o.closed) {
                o.end = end.max(o.start);
            }
        }
        Recording {
            scenario: self.scenario,
            description: self.description,
            start: self.start,
            end,
            tenants: self.tenants,
            clusters,
            ledger,
            events: self.events,
            violations,
            seeds,
            conditions,
            rollouts: std::mem::take(&mut self.rollouts).finish(end),
            writes: self.writes,
            tenant_writes: self.tenant_writes,
            raw_decisions: self.raw_decisions,
            decision_log,
        }
    }
}

fn open(st: &mut ClusterState, key: &str, kind: SpanKind, at: i64, label: &str) {
    if st.open.contains_key(key) {
        return;
    }
    st.open.insert(
        key.to_string(),
        Span {
            kind,
            start: at,
            end: at,
            closed: false,
            label: label.to_string(),
        },
    );
}

fn relabel(st: &mut ClusterState, key: &str, label: &str) {
    if let Some(s) = st.open.get_mut(key) {
        s.label = label.to_string();
    }
}

fn close(st: &mut ClusterState, key: &str, at: i64) {
    if let Some(mut span) = st.open.remove(key) {
        span.end = at.max(span.start);
        span.closed = true;
        // A hold replaced within the same second never held anything.
        if span.kind == SpanKind::Hold && span.end == span.start {
            return;
        }
        if let Some(t) = st.track.as_mut() {
            t.spans.push(span);
        }
    }
}

/// `(status == "True", "reason: message")` of a condition, if present.
fn condition(status: &Value, type_: &str) -> Option<(bool, String)> {
    let c = status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?;
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
    let text = if s("message").is_empty() {
        s("reason").to_string()
    } else {
        format!("{}: {}", s("reason"), s("message"))
    };
    Some((s("status") == "True", text))
}

/// Formats epoch seconds as `T+1d 02:30` relative to `start`.
pub fn relative(start: i64, at: i64) -> String {
    let d = at - start;
    let sign = if d < 0 { "-" } else { "+" };
    let d = d.abs();
    let (days, rem) = (d / 86_400, d % 86_400);
    if days > 0 {
        format!("T{sign}{days}d {:02}:{:02}", rem / 3600, (rem % 3600) / 60)
    } else {
        format!("T{sign}{:02}:{:02}", rem / 3600, (rem % 3600) / 60)
    }
}

/// Formats epoch seconds as RFC 3339.
pub fn absolute(at: i64) -> String {
    Timestamp(at).to_string()
}

/// An object's `status.conditions` (empty when it has none).
fn status_conditions(obj: &Value) -> Vec<Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}
