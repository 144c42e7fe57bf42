//! The rollout's pure half (issue 11): its id, whether the tenant's operators paused or aborted
//! it, which approvals count, and the `status.rollout` the planner writes (docs/rollout.md).
//!
//! `reconcile/upgrades.rs` is the shell: it reads the Tenant and the RolloutApprovals, calls
//! these functions around the policy call, and writes what they return.

use std::collections::{BTreeMap, BTreeSet};

use fleetward_sdk::wire::{
    Approval, ClusterRef, FleetCluster, HoldCause, KubeVersion, Timestamp, UpgradeDecision,
    UpgradeRequest,
};
use sha2::{Digest as _, Sha256};

use crate::core::invariants::Admission;
use crate::core::planning::wait_cause;
use crate::crd::{
    GateApproval, GateStatus, MAX_WAITING_LISTED, RolloutAborted, RolloutApprovalSpec,
    RolloutControl, RolloutCounts, RolloutPause, RolloutState, RolloutStatus, VersionGroup,
    WaitingCluster, WaveStatus,
};
use crate::decision::WaitCause;

/// Longest id written as is; a longer one is hashed.
const MAX_ID_LEN: usize = 63;

/// The rollout's id: the distinct versions the tenant's specs ask for (control planes and
/// pools), sorted by version and joined by `,` (`1.32.0`, `1.31.4,1.32.0`); `sha256:` and 12 hex
/// digits of that string when it is longer than 63 characters. Same desired versions, same
/// rollout: a cluster added at a version already asked for does not start a new one.
pub fn rollout_id(req: &UpgradeRequest) -> String {
    rollout_id_of(&req.clusters)
}

/// [`rollout_id`] of a list of clusters (the same clusters a request would carry).
pub fn rollout_id_of(clusters: &[FleetCluster]) -> String {
    let mut versions: Vec<_> = clusters
        .iter()
        .flat_map(|c| {
            std::iter::once(c.control_plane.desired).chain(c.node_pools.iter().map(|p| p.desired))
        })
        .collect();
    versions.sort();
    versions.dedup();
    let joined = versions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if joined.len() <= MAX_ID_LEN {
        return joined;
    }
    let digest = hex::encode(Sha256::digest(joined.as_bytes()));
    format!("sha256:{}", &digest[..12])
}

/// Whether the tenant's operators let its rollout go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gating {
    /// Neither paused nor aborted: the policy is asked.
    Go,
    /// `spec.rollout.paused`: the policy is not asked, no step starts, steps in flight finish.
    Paused,
    /// `spec.rollout.abort` names the current rollout: like a pause, for good.
    Aborted,
}

/// What the operators' switches say of rollout `id`. An abort of this rollout wins over a pause;
/// an abort of another rollout (an older id) does not apply.
pub fn gating(control: &RolloutControl, id: &str) -> Gating {
    if control.abort.as_ref().is_some_and(|a| a.rollout == id) {
        Gating::Aborted
    } else if control.paused {
        Gating::Paused
    } else {
        Gating::Go
    }
}

/// Longest gate name (a DNS label).
const MAX_GATE_LEN: usize = 63;

/// Whether `gate` is a DNS label of at most 63 characters (`prod`, `eu-west-2`).
pub fn valid_gate(gate: &str) -> bool {
    let b = gate.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_GATE_LEN
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// The host's check of an upgrade answer beyond the invariants: a hold that waits for an
/// approval must name the gate an operator can approve (a DNS label), or nobody could ever
/// release it. Such an answer is invalid output, like any other malformed answer.
///
/// # Errors
/// The first offending hold, named.
pub fn validate_answer(d: &UpgradeDecision) -> Result<(), String> {
    for h in &d.hold {
        if h.cause != Some(HoldCause::Approval) {
            continue;
        }
        match h.gate.as_deref() {
            None => {
                return Err(format!(
                    "hold for {} has cause approval but no gate",
                    h.cluster
                ));
            }
            Some(g) if !valid_gate(g) => {
                return Err(format!(
                    "hold for {} names gate {:?}, which is not a DNS label of at most 63 characters",
                    h.cluster,
                    crate::core::rejection::one_line(g, 80)
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// What the host makes of a RolloutApproval (its `Accepted` condition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It counts: it enters the policy's input.
    Accepted,
    /// Its namespace does not belong to `spec.tenant` (another tenant's, or none).
    TenantMismatch,
    /// No Tenant is named `spec.tenant`.
    UnknownTenant,
    /// `spec.rollout` is not the tenant's current rollout.
    OtherRollout,
    /// The current rollout never asked for `spec.gate`.
    UnknownGate,
}

impl Verdict {
    /// The condition reason (`Accepted` for an approval that counts).
    pub fn reason(&self) -> &'static str {
        match self {
            Verdict::Accepted => "Accepted",
            Verdict::TenantMismatch => "TenantMismatch",
            Verdict::UnknownTenant => "UnknownTenant",
            Verdict::OtherRollout => "OtherRollout",
            Verdict::UnknownGate => "UnknownGate",
        }
    }
}

/// The tenant as an approval is judged against: its current rollout and the gates it asked
/// for (`status.rollout`).
#[derive(Clone, Copy, Debug)]
pub struct TenantRollout<'a> {
    /// The current rollout id; `None` while the tenant has none (no status yet).
    pub id: Option<&'a str>,
    /// Gates the current rollout asked for.
    pub gates: &'a [GateStatus],
}

/// Judges one approval. `namespace_tenant` is its namespace's `fleetward.dev/tenant` label;
/// `tenant` is `None` when no Tenant is named `spec.tenant`. Checked in this order, so an
/// approval from another tenant's namespace learns nothing about the tenant it names.
pub fn verdict(
    namespace_tenant: Option<&str>,
    spec: &RolloutApprovalSpec,
    tenant: Option<TenantRollout<'_>>,
) -> (Verdict, String) {
    if namespace_tenant != Some(spec.tenant.as_str()) {
        let owner =
            namespace_tenant.map_or_else(|| "no tenant".to_string(), |t| format!("tenant {t:?}"));
        return (
            Verdict::TenantMismatch,
            format!(
                "this namespace belongs to {owner}, not to tenant {:?}: tenants cannot approve for each other; create the approval in a namespace labelled {}={}",
                spec.tenant,
                crate::crd::TENANT_LABEL,
                spec.tenant
            ),
        );
    }
    let Some(t) = tenant else {
        return (
            Verdict::UnknownTenant,
            format!("no Tenant {:?} exists", spec.tenant),
        );
    };
    if t.id != Some(spec.rollout.as_str()) {
        let current =
            t.id.map_or_else(|| "none yet".to_string(), |id| format!("{id:?}"));
        return (
            Verdict::OtherRollout,
            format!(
                "approves rollout {:?}, but the tenant's current rollout is {current} (status.rollout.id)",
                spec.rollout
            ),
        );
    }
    if !t.gates.iter().any(|g| g.name == spec.gate) {
        let asked: Vec<&str> = t.gates.iter().map(|g| g.name.as_str()).collect();
        return (
            Verdict::UnknownGate,
            format!(
                "rollout {:?} has not asked for gate {:?} (asked: {}); it is accepted if the policy asks for it",
                spec.rollout,
                spec.gate,
                if asked.is_empty() {
                    "none".to_string()
                } else {
                    asked.join(", ")
                }
            ),
        );
    }
    (
        Verdict::Accepted,
        format!(
            "approves gate {:?} of rollout {:?}",
            spec.gate, spec.rollout
        ),
    )
}

/// A RolloutApproval as the planner reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalObject {
    /// `namespace/name`.
    pub key: String,
    /// Its namespace's `fleetward.dev/tenant` label.
    pub namespace_tenant: Option<String>,
    /// Its spec.
    pub spec: RolloutApprovalSpec,
    /// `metadata.creationTimestamp`.
    pub created: Timestamp,
}

/// An approval that counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    /// The gate.
    pub gate: String,
    /// `spec.approver`.
    pub by: String,
    /// Created at.
    pub at: Timestamp,
    /// `namespace/name` of the object.
    pub approval: String,
}

/// The approvals that count for tenant `tenant`'s rollout `id`, whose requested gates are
/// `gates`: one per gate (the earliest created; equal times by name), sorted by gate.
pub fn counted(
    approvals: &[ApprovalObject],
    tenant: &str,
    id: &str,
    gates: &[GateStatus],
) -> Vec<Counted> {
    let view = TenantRollout {
        id: Some(id),
        gates,
    };
    let mut per_gate: BTreeMap<&str, &ApprovalObject> = BTreeMap::new();
    for a in approvals.iter().filter(|a| a.spec.tenant == tenant) {
        if verdict(a.namespace_tenant.as_deref(), &a.spec, Some(view)).0 != Verdict::Accepted {
            continue;
        }
        per_gate
            .entry(a.spec.gate.as_str())
            .and_modify(|e| {
                if (a.created, &a.key) < (e.created, &e.key) {
                    *e = a;
                }
            })
            .or_insert(a);
    }
    per_gate
        .into_values()
        .map(|a| Counted {
            gate: a.spec.gate.clone(),
            by: a.spec.approver.clone(),
            at: a.created,
            approval: a.key.clone(),
        })
        .collect()
}

/// The counted approvals as the policy's input has them.
pub fn wire(counted: &[Counted]) -> Vec<Approval> {
    counted
        .iter()
        .map(|c| Approval {
            gate: c.gate.clone(),
            approved_by: c.by.clone(),
            approved_at: c.at,
        })
        .collect()
}

/// Everything `status.rollout` is made of.
#[derive(Clone, Copy, Debug)]
pub struct StatusInput<'a> {
    /// The rollout id.
    pub id: &'a str,
    /// The operators' switches.
    pub control: &'a RolloutControl,
    /// Every cluster of the rollout, sorted.
    pub clusters: &'a [FleetCluster],
    /// The policy's answer, when it was asked and answered.
    pub decision: Option<&'a UpgradeDecision>,
    /// What the host admitted of it.
    pub admission: Option<&'a Admission>,
    /// The approvals that count.
    pub approvals: &'a [Counted],
    /// The status written before (its times are kept).
    pub previous: Option<&'a RolloutStatus>,
    /// Now.
    pub now: Timestamp,
}

fn key(id: &ClusterRef) -> String {
    format!("{}/{}", id.namespace, id.name)
}

/// Why a cluster that needs an upgrade and did not start one waits.
fn waiting_for(c: &FleetCluster, input: &StatusInput<'_>, gating: Gating) -> WaitingCluster {
    let mut w = WaitingCluster {
        cluster: key(&c.id),
        ..Default::default()
    };
    let control = input.control;
    match gating {
        Gating::Aborted => {
            let a = control.abort.as_ref();
            w.cause = "aborted".into();
            w.reason = format!(
                "rollout aborted by {}",
                a.map_or("unknown", |a| a.by.as_str())
            );
            return w;
        }
        Gating::Paused => {
            w.cause = "paused".into();
            w.reason = format!(
                "tenant rollout paused{}{}",
                control
                    .paused_by
                    .as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default(),
                control
                    .pause_reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            return w;
        }
        Gating::Go => {}
    }
    if c.upgrades_paused {
        w.cause = "paused".into();
        w.reason = "cluster upgrades paused (spec.pauseUpgrades or remediation)".into();
        return w;
    }
    if let Some(h) = input
        .decision
        .and_then(|d| d.hold.iter().find(|h| h.cluster == c.id))
    {
        w.cause = h.cause.unwrap_or(HoldCause::Other).as_str().into();
        w.reason = h.reason.clone();
        w.until = h.until.map(|u| u.to_string());
        w.gate = h.gate.clone();
        w.wave = h.wave.clone();
        return w;
    }
    if let Some(v) = input.admission.and_then(|a| {
        a.vetoed
            .iter()
            .find(|v| v.step.cluster == c.id && wait_cause(v.invariant).is_some())
    }) {
        w.cause = wait_cause(v.invariant)
            .map_or("other", WaitCause::as_str)
            .into();
        w.reason = format!("{}: {}", v.invariant, v.message);
        w.wave = v.step.wave.clone();
        return w;
    }
    w.cause = "other".into();
    w.reason = if input.decision.is_some() {
        "the policy neither started nor held it".into()
    } else {
        "the policy did not answer".into()
    };
    w
}

/// The tenant's `status.rollout` after a plan. Times (`paused.since`, `aborted.at`, gates'
/// `since`) come from `previous` when it describes the same rollout, so a status that says the
/// same thing is the same object and is not written again.
pub fn status(input: &StatusInput<'_>) -> RolloutStatus {
    let same = input.previous.filter(|p| p.id == input.id);
    let gating = gating(input.control, input.id);
    let now = input.now.to_string();
    let admitted: BTreeSet<&ClusterRef> = input
        .admission
        .map(|a| a.admitted.iter().map(|s| &s.cluster).collect())
        .unwrap_or_default();
    let mut counts = RolloutCounts {
        total: input.clusters.len() as u32,
        ..Default::default()
    };
    let mut waiting = Vec::new();
    // Wave of each cluster, as far as this plan names it.
    let mut wave_of: BTreeMap<&ClusterRef, &str> = BTreeMap::new();
    let mut wave_names: Vec<String> = same
        .map(|p| p.waves.iter().map(|w| w.name.clone()).collect())
        .unwrap_or_default();
    let name_wave = |w: &str, names: &mut Vec<String>| {
        if !names.iter().any(|n| n == w) {
            names.push(w.to_string());
        }
    };
    for c in input.clusters {
        if let Some(w) = c.in_progress.as_ref().and_then(|s| s.wave.as_deref()) {
            wave_of.insert(&c.id, w);
        }
    }
    if let Some(d) = input.decision {
        for s in &d.start {
            if let Some(w) = s.wave.as_deref() {
                wave_of.entry(&s.cluster).or_insert(w);
            }
        }
        for h in &d.hold {
            if let Some(w) = h.wave.as_deref() {
                wave_of.entry(&h.cluster).or_insert(w);
            }
        }
        for w in d
            .start
            .iter()
            .filter_map(|s| s.wave.as_deref())
            .chain(d.hold.iter().filter_map(|h| h.wave.as_deref()))
        {
            name_wave(w, &mut wave_names);
        }
    }
    for c in input.clusters {
        if let Some(w) = c.in_progress.as_ref().and_then(|s| s.wave.as_deref()) {
            name_wave(w, &mut wave_names);
        }
    }
    let mut waves: Vec<WaveStatus> = wave_names
        .into_iter()
        .map(|name| WaveStatus {
            name,
            ..Default::default()
        })
        .collect();
    let mut finishing = Vec::new();
    for c in input.clusters {
        let wave = wave_of
            .get(&c.id)
            .and_then(|w| waves.iter_mut().find(|x| x.name == *w));
        let state: fn(&mut RolloutCounts) = if c.in_progress.is_some() || admitted.contains(&c.id) {
            |n| n.upgrading += 1
        } else if c.needs_upgrade() {
            |n| n.waiting += 1
        } else {
            |n| n.up_to_date += 1
        };
        state(&mut counts);
        if let Some(w) = wave {
            let mut n = RolloutCounts::default();
            state(&mut n);
            w.total += 1;
            w.up_to_date += n.up_to_date;
            w.upgrading += n.upgrading;
            w.waiting += n.waiting;
        }
        if let Some(s) = &c.in_progress {
            finishing.push(format!("{} {} -> {}", key(&c.id), s.target, s.to));
        }
        if c.in_progress.is_none() && !admitted.contains(&c.id) && c.needs_upgrade() {
            waiting.push(waiting_for(c, input, gating));
        }
    }
    waiting.truncate(MAX_WAITING_LISTED);
    // Gates: every one this rollout asked for, since it was first asked.
    let mut gates: Vec<GateStatus> = same.map(|p| p.gates.clone()).unwrap_or_default();
    if let Some(d) = input.decision {
        for g in &mut gates {
            g.clusters.clear();
        }
        for h in d
            .hold
            .iter()
            .filter(|h| h.cause == Some(HoldCause::Approval))
        {
            let Some(name) = h.gate.as_deref() else {
                continue;
            };
            let i = match gates.iter().position(|g| g.name == name) {
                Some(i) => i,
                None => {
                    gates.push(GateStatus {
                        name: name.to_string(),
                        since: now.clone(),
                        ..Default::default()
                    });
                    gates.len() - 1
                }
            };
            gates[i].clusters.push(key(&h.cluster));
        }
    }
    for g in &mut gates {
        g.clusters.sort();
        g.clusters.dedup();
        g.approved = input
            .approvals
            .iter()
            .find(|a| a.gate == g.name)
            .map(|a| GateApproval {
                by: a.by.clone(),
                at: a.at.to_string(),
                approval: a.approval.clone(),
            });
    }
    gates.sort_by(|a, b| a.name.cmp(&b.name));
    let next_window = input.decision.and_then(|d| {
        d.hold
            .iter()
            .filter(|h| h.cause == Some(HoldCause::Window))
            .filter_map(|h| h.until)
            .min()
            .map(|t| t.to_string())
    });
    let paused = input.control.paused.then(|| RolloutPause {
        by: input.control.paused_by.clone(),
        reason: input.control.pause_reason.clone(),
        since: input
            .previous
            .and_then(|p| p.paused.as_ref())
            .map_or_else(|| now.clone(), |p| p.since.clone()),
        finishing: finishing.clone(),
    });
    let aborted = (gating == Gating::Aborted).then(|| {
        let a = input.control.abort.clone().unwrap_or_default();
        let mut by_version: BTreeMap<KubeVersion, Vec<String>> = BTreeMap::new();
        for c in input.clusters {
            by_version
                .entry(c.control_plane.current)
                .or_default()
                .push(key(&c.id));
        }
        RolloutAborted {
            by: a.by,
            reason: a.reason,
            at: same
                .and_then(|p| p.aborted.as_ref())
                .map_or_else(|| now.clone(), |p| p.at.clone()),
            reached: by_version
                .into_iter()
                .map(|(v, mut clusters)| {
                    clusters.sort();
                    let count = clusters.len() as u32;
                    clusters.truncate(MAX_WAITING_LISTED);
                    VersionGroup {
                        version: v.to_string(),
                        count,
                        clusters,
                    }
                })
                .collect(),
        }
    });
    let state = match gating {
        Gating::Aborted => RolloutState::Aborted,
        Gating::Paused => RolloutState::Paused,
        Gating::Go if counts.upgrading == 0 && counts.waiting == 0 => RolloutState::Complete,
        Gating::Go => RolloutState::Progressing,
    };
    RolloutStatus {
        id: input.id.to_string(),
        state,
        clusters: counts,
        waves,
        paused,
        aborted,
        gates,
        waiting,
        next_window,
    }
}
