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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::invariants::tests::{cluster, v};
    use crate::core::invariants::{Invariant, Veto};
    use crate::crd::RolloutAbort;
    use fleetward_sdk::wire::{Hold, UpgradeStep, UpgradeTarget};

    fn control(paused: bool, abort: Option<&str>) -> RolloutControl {
        RolloutControl {
            paused,
            pause_reason: paused.then(|| "incident 42".into()),
            paused_by: paused.then(|| "alice".into()),
            abort: abort.map(|id| RolloutAbort {
                rollout: id.into(),
                by: "bob".into(),
                reason: "bad release".into(),
            }),
        }
    }

    fn spec(tenant: &str, gate: &str, rollout: &str) -> RolloutApprovalSpec {
        RolloutApprovalSpec {
            tenant: tenant.into(),
            gate: gate.into(),
            rollout: rollout.into(),
            approver: "carol".into(),
            comment: String::new(),
        }
    }

    fn gate(name: &str) -> GateStatus {
        GateStatus {
            name: name.into(),
            since: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        }
    }

    fn hold(name: &str, cause: HoldCause, gate: Option<&str>) -> Hold {
        Hold {
            cluster: ClusterRef::new("t", name),
            reason: format!("{name} waits"),
            until: (cause == HoldCause::Window).then_some(Timestamp(5000)),
            cause: Some(cause),
            gate: gate.map(Into::into),
            wave: Some("prod".into()),
        }
    }

    #[test]
    fn rollout_id_is_the_sorted_distinct_desired_versions_or_a_hash() {
        let a = cluster("a", "s", ("1.31.0", "1.32.0"), ("1.31.0", "1.31.4"));
        let b = cluster("b", "s", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0"));
        assert_eq!(rollout_id_of(&[b.clone(), a]), "1.31.4,1.32.0");
        assert_eq!(rollout_id_of(&[b]), "1.32.0");
        let many: Vec<FleetCluster> = (0..20)
            .map(|i| {
                let d = format!("1.{}.{i}", 20 + i);
                cluster(&format!("c{i}"), "s", ("1.20.0", &d), ("1.20.0", &d))
            })
            .collect();
        let id = rollout_id_of(&many);
        assert!(id.starts_with("sha256:") && id.len() == 19, "{id}");
    }

    #[test]
    fn an_abort_of_this_rollout_wins_over_a_pause_and_another_rollouts_abort_does_not_apply() {
        assert_eq!(gating(&control(false, None), "1.32.0"), Gating::Go);
        assert_eq!(gating(&control(true, None), "1.32.0"), Gating::Paused);
        assert_eq!(
            gating(&control(true, Some("1.32.0")), "1.32.0"),
            Gating::Aborted
        );
        assert_eq!(
            gating(&control(false, Some("1.31.0")), "1.32.0"),
            Gating::Go
        );
        assert_eq!(
            gating(&control(true, Some("1.31.0")), "1.32.0"),
            Gating::Paused
        );
    }

    #[test]
    fn gates_are_dns_labels_and_an_approval_hold_must_name_one() {
        for ok in ["prod", "eu-west-2", "a", &"x".repeat(63)] {
            assert!(valid_gate(ok), "{ok}");
        }
        for bad in [
            "",
            "-prod",
            "prod-",
            "Prod",
            "prod_1",
            "pr od",
            &"x".repeat(64),
        ] {
            assert!(!valid_gate(bad), "{bad}");
        }
        let mut d = UpgradeDecision {
            hold: vec![hold("a", HoldCause::Bake, None)],
            ..Default::default()
        };
        assert_eq!(validate_answer(&d), Ok(()), "other causes need no gate");
        d.hold.push(hold("b", HoldCause::Approval, Some("prod")));
        assert_eq!(validate_answer(&d), Ok(()));
        d.hold.push(hold("c", HoldCause::Approval, None));
        assert_eq!(
            validate_answer(&d).unwrap_err(),
            "hold for t/c has cause approval but no gate"
        );
        d.hold[2].gate = Some("Not A Label".into());
        assert!(
            validate_answer(&d)
                .unwrap_err()
                .contains("not a DNS label of at most 63 characters")
        );
    }

    #[test]
    fn verdicts_check_tenancy_then_tenant_then_rollout_then_gate() {
        let gates = [gate("prod")];
        let t = Some(TenantRollout {
            id: Some("1.32.0"),
            gates: &gates,
        });
        let s = spec("acme", "prod", "1.32.0");
        assert_eq!(verdict(Some("acme"), &s, t).0, Verdict::Accepted);
        // Another tenant's namespace, or a namespace of none: rejected before anything else.
        let (v, m) = verdict(Some("globex"), &s, t);
        assert_eq!(v, Verdict::TenantMismatch);
        assert!(m.contains("tenants cannot approve for each other"), "{m}");
        assert_eq!(verdict(None, &s, None).0, Verdict::TenantMismatch);
        assert_eq!(verdict(Some("acme"), &s, None).0, Verdict::UnknownTenant);
        assert_eq!(
            verdict(Some("acme"), &spec("acme", "prod", "1.31.0"), t).0,
            Verdict::OtherRollout
        );
        let none = Some(TenantRollout {
            id: None,
            gates: &[],
        });
        assert_eq!(verdict(Some("acme"), &s, none).0, Verdict::OtherRollout);
        let (v, m) = verdict(Some("acme"), &spec("acme", "stage", "1.32.0"), t);
        assert_eq!(
            (v.clone(), v.reason()),
            (Verdict::UnknownGate, "UnknownGate")
        );
        assert!(m.contains("asked: prod"), "{m}");
    }

    fn approval(key: &str, ns_tenant: &str, gate: &str, rollout: &str, at: i64) -> ApprovalObject {
        let mut s = spec("acme", gate, rollout);
        s.approver = key.into();
        ApprovalObject {
            key: key.into(),
            namespace_tenant: Some(ns_tenant.into()),
            spec: s,
            created: Timestamp(at),
        }
    }

    #[test]
    fn one_approval_counts_per_gate_the_earliest_sorted_by_gate() {
        let gates = [gate("prod"), gate("canary")];
        let approvals = [
            approval("ns/late", "acme", "prod", "1.32.0", 30),
            approval("ns/early", "acme", "prod", "1.32.0", 10),
            approval("ns/tie-b", "acme", "canary", "1.32.0", 20),
            approval("ns/tie-a", "acme", "canary", "1.32.0", 20),
            approval("other/x", "globex", "prod", "1.32.0", 1),
            approval("ns/old", "acme", "prod", "1.31.0", 1),
            approval("ns/never", "acme", "stage", "1.32.0", 1),
        ];
        let c = counted(&approvals, "acme", "1.32.0", &gates);
        let got: Vec<(&str, &str, i64)> = c
            .iter()
            .map(|c| (c.gate.as_str(), c.approval.as_str(), c.at.0))
            .collect();
        assert_eq!(got, [("canary", "ns/tie-a", 20), ("prod", "ns/early", 10)]);
        assert_eq!(
            wire(&c),
            [
                Approval {
                    gate: "canary".into(),
                    approved_by: "ns/tie-a".into(),
                    approved_at: Timestamp(20)
                },
                Approval {
                    gate: "prod".into(),
                    approved_by: "ns/early".into(),
                    approved_at: Timestamp(10)
                }
            ]
        );
        assert!(counted(&approvals, "acme", "1.32.0", &[]).is_empty());
        assert!(counted(&approvals, "globex", "1.32.0", &gates).is_empty());
    }

    fn fleet() -> Vec<FleetCluster> {
        let mut busy = cluster("a", "s", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0"));
        busy.in_progress = Some(UpgradeStep {
            cluster: busy.id.clone(),
            target: UpgradeTarget::ControlPlane,
            to: v("1.32.0"),
            wave: Some("canary".into()),
        });
        vec![
            busy,
            cluster("b", "s", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
            cluster("c", "s", ("1.31.0", "1.32.0"), ("1.31.0", "1.32.0")),
            cluster("d", "s", ("1.32.0", "1.32.0"), ("1.32.0", "1.32.0")),
        ]
    }

    fn input<'a>(
        clusters: &'a [FleetCluster],
        control: &'a RolloutControl,
        decision: Option<&'a UpgradeDecision>,
        approvals: &'a [Counted],
        previous: Option<&'a RolloutStatus>,
        now: i64,
    ) -> StatusInput<'a> {
        StatusInput {
            id: "1.32.0",
            control,
            clusters,
            decision,
            admission: None,
            approvals,
            previous,
            now: Timestamp(now),
        }
    }

    #[test]
    fn a_pause_lists_every_waiting_cluster_as_paused_and_the_steps_finishing() {
        let clusters = fleet();
        let c = control(true, None);
        let st = status(&input(&clusters, &c, None, &[], None, 100));
        assert_eq!(st.state, RolloutState::Paused);
        assert_eq!(
            st.clusters,
            RolloutCounts {
                total: 4,
                up_to_date: 1,
                upgrading: 1,
                waiting: 2
            }
        );
        let p = st.paused.clone().unwrap();
        assert_eq!(
            (p.by.as_deref(), p.reason.as_deref()),
            (Some("alice"), Some("incident 42"))
        );
        assert_eq!(p.since, Timestamp(100).to_string());
        assert_eq!(p.finishing, ["t/a control-plane -> 1.32.0"]);
        let causes: Vec<(&str, &str)> = st
            .waiting
            .iter()
            .map(|w| (w.cluster.as_str(), w.cause.as_str()))
            .collect();
        assert_eq!(causes, [("t/b", "paused"), ("t/c", "paused")]);
        assert!(
            st.waiting[0]
                .reason
                .contains("paused by alice: incident 42")
        );
        // Later, the same pause: the same status (since kept), so nothing to write.
        let again = status(&input(&clusters, &c, None, &[], Some(&st), 900));
        assert_eq!(again, st);
    }

    #[test]
    fn an_abort_says_who_when_and_where_every_cluster_stopped() {
        let clusters = fleet();
        let c = control(false, Some("1.32.0"));
        let st = status(&input(&clusters, &c, None, &[], None, 100));
        assert_eq!(st.state, RolloutState::Aborted);
        let a = st.aborted.clone().unwrap();
        assert_eq!((a.by.as_str(), a.reason.as_str()), ("bob", "bad release"));
        let reached: Vec<(&str, u32, Vec<String>)> = a
            .reached
            .iter()
            .map(|g| (g.version.as_str(), g.count, g.clusters.clone()))
            .collect();
        assert_eq!(
            reached,
            [
                ("1.31.0", 3, vec!["t/a".into(), "t/b".into(), "t/c".into()]),
                ("1.32.0", 1, vec!["t/d".into()])
            ]
        );
        assert!(st.waiting.iter().all(|w| w.cause == "aborted"));
        let later = status(&input(&clusters, &c, None, &[], Some(&st), 500));
        assert_eq!(later.aborted.unwrap().at, a.at, "first seen, kept");
        // A new rollout (another id) is not aborted.
        let mut next = input(&clusters, &c, None, &[], Some(&st), 600);
        next.id = "1.33.0";
        assert_eq!(status(&next).state, RolloutState::Progressing);
    }

    #[test]
    fn holds_become_waiting_entries_gates_and_the_next_window() {
        let clusters = fleet();
        let c = control(false, None);
        let d = UpgradeDecision {
            hold: vec![
                hold("b", HoldCause::Approval, Some("prod")),
                hold("c", HoldCause::Window, None),
            ],
            ..Default::default()
        };
        let first = status(&input(&clusters, &c, Some(&d), &[], None, 100));
        assert_eq!(first.state, RolloutState::Progressing);
        assert_eq!(first.next_window, Some(Timestamp(5000).to_string()));
        assert_eq!(first.gates.len(), 1);
        assert_eq!(first.gates[0].clusters, ["t/b"]);
        assert_eq!(first.gates[0].since, Timestamp(100).to_string());
        assert_eq!(first.gates[0].approved, None);
        let w: Vec<(&str, Option<&str>, Option<&str>)> = first
            .waiting
            .iter()
            .map(|w| (w.cause.as_str(), w.gate.as_deref(), w.wave.as_deref()))
            .collect();
        assert_eq!(
            w,
            [
                ("approval", Some("prod"), Some("prod")),
                ("window", None, Some("prod"))
            ]
        );
        let names: Vec<&str> = first.waves.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["prod", "canary"]);
        assert_eq!((first.waves[1].total, first.waves[1].upgrading), (1, 1));
        // Approved and passed: the gate stays listed, since kept, with who approved.
        let approved = [Counted {
            gate: "prod".into(),
            by: "carol".into(),
            at: Timestamp(150),
            approval: "tenant-acme/ok".into(),
        }];
        let after = UpgradeDecision::default();
        let second = status(&input(
            &clusters,
            &c,
            Some(&after),
            &approved,
            Some(&first),
            200,
        ));
        assert_eq!(second.gates[0].since, first.gates[0].since);
        assert!(second.gates[0].clusters.is_empty());
        let a = second.gates[0].approved.clone().unwrap();
        assert_eq!(
            (a.by.as_str(), a.approval.as_str()),
            ("carol", "tenant-acme/ok")
        );
        assert_eq!(second.waiting[0].cause, "other");
    }

    #[test]
    fn host_waits_and_cluster_pauses_are_named_and_admitted_steps_count_as_upgrading() {
        let mut clusters = fleet();
        clusters[2].upgrades_paused = true;
        let c = control(false, None);
        let d = UpgradeDecision::default();
        let step = |name: &str| UpgradeStep {
            cluster: ClusterRef::new("t", name),
            target: UpgradeTarget::ControlPlane,
            to: v("1.32.0"),
            wave: None,
        };
        let adm = Admission {
            admitted: vec![],
            vetoed: vec![Veto {
                step: step("b"),
                invariant: Invariant::GlobalConcurrency,
                message: "10 in flight".into(),
            }],
        };
        let mut i = input(&clusters, &c, Some(&d), &[], None, 100);
        i.admission = Some(&adm);
        let st = status(&i);
        let w: Vec<(&str, &str)> = st
            .waiting
            .iter()
            .map(|w| (w.cluster.as_str(), w.cause.as_str()))
            .collect();
        assert_eq!(w, [("t/b", "cap"), ("t/c", "paused")]);
        let started = Admission {
            admitted: vec![step("b")],
            vetoed: vec![],
        };
        i.admission = Some(&started);
        let st = status(&i);
        assert_eq!((st.clusters.upgrading, st.clusters.waiting), (2, 1));
        // Nothing left to do: complete.
        let done = vec![cluster(
            "d",
            "s",
            ("1.32.0", "1.32.0"),
            ("1.32.0", "1.32.0"),
        )];
        let st = status(&input(&done, &c, None, &[], None, 100));
        assert_eq!(st.state, RolloutState::Complete);
        assert!(st.waiting.is_empty());
    }
}
