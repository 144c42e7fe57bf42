//! Operator control of each tenant's rollout, as the report shows it: when the rollout was
//! paused, when it waited for an approval (which gate, which clusters), when it was aborted,
//! and who approved which gate when.
//!
//! Everything is derived from what the controller wrote to `Tenant.status.rollout` (the planner
//! writes it whenever it changes), not from the timeline's actions: the report then shows what
//! the controller *did* with an operator's pause or approval — a pause the planner never
//! honoured shows no paused span, an approval it rejected shows no approver. [`Tracker`] is a
//! pure state machine fed with each Tenant write in order, like the recorder it lives in.

use std::collections::{BTreeMap, BTreeSet};

use fleetward_controller::crd::RolloutStatus;
use serde::Serialize;
use serde_json::Value;

use crate::record::relative;
use crate::scenario::format_duration;

/// What a rollout span stands for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutSpanKind {
    /// `status.rollout.paused` was set: no new step started.
    Paused,
    /// A gate of the rollout was requested and not yet approved.
    WaitingForApproval,
    /// `status.rollout.aborted` was set: the rollout stopped for good.
    Aborted,
}

impl RolloutSpanKind {
    /// Words for the report.
    pub fn title(&self) -> &'static str {
        match self {
            RolloutSpanKind::Paused => "paused",
            RolloutSpanKind::WaitingForApproval => "waiting for approval",
            RolloutSpanKind::Aborted => "aborted",
        }
    }
}

/// One stretch of a tenant's rollout in one state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RolloutSpan {
    /// Tenant.
    pub tenant: String,
    /// The rollout's id (`status.rollout.id`).
    pub rollout: String,
    /// What it was.
    pub kind: RolloutSpanKind,
    /// The gate (waiting for approval only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// First write that showed it.
    pub start: i64,
    /// First write that no longer showed it (the run's end if none).
    pub end: i64,
    /// False when still open at the end of the run.
    pub closed: bool,
    /// Who and why (`alice: incident INC-7`), or where an abort left the clusters.
    pub detail: String,
    /// Clusters concerned: waiting on the gate, or finishing their step during a pause.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
}

/// A gate approval as the controller accepted it (`status.rollout.gates[].approved`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovalSeen {
    /// Tenant.
    pub tenant: String,
    /// The rollout it approved.
    pub rollout: String,
    /// The gate.
    pub gate: String,
    /// Who approved (`spec.approver`).
    pub by: String,
    /// When the approval was made (its creation time, RFC 3339).
    pub approved_at: String,
    /// The RolloutApproval (`namespace/name`).
    pub approval: String,
    /// When the status first showed it (the gate's wait ended here).
    pub seen_at: i64,
}

/// The report's rollout-control data: spans and approvals, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RolloutControl {
    /// Spans sorted by tenant, start, kind, gate.
    pub spans: Vec<RolloutSpan>,
    /// Approvals sorted by tenant, time seen, gate.
    pub approvals: Vec<ApprovalSeen>,
}

impl RolloutControl {
    /// True when no tenant's rollout was paused, gated or aborted (the report then leaves the
    /// section out, so scenarios without operator control report as before).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.approvals.is_empty()
    }
}

/// Builds [`RolloutControl`] from Tenant writes.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Open spans by (tenant, key).
    open: BTreeMap<(String, String), RolloutSpan>,
    done: Vec<RolloutSpan>,
    approvals: Vec<ApprovalSeen>,
    /// (tenant, rollout, gate) approvals already recorded.
    approved: BTreeSet<(String, String, String)>,
}

impl Tracker {
    /// Feeds one Tenant write: its name and `status.rollout` (absent or unreadable: no rollout).
    pub fn observe(&mut self, at: i64, tenant: &str, rollout: Option<&Value>) {
        let status: Option<RolloutStatus> =
            rollout.and_then(|v| serde_json::from_value(v.clone()).ok());
        let mut now: BTreeMap<String, RolloutSpan> = BTreeMap::new();
        if let Some(s) = &status {
            let span =
                |kind, gate: Option<String>, detail: String, clusters: Vec<String>| RolloutSpan {
                    tenant: tenant.to_string(),
                    rollout: s.id.clone(),
                    kind,
                    gate,
                    start: at,
                    end: at,
                    closed: false,
                    detail,
                    clusters,
                };
            if let Some(p) = &s.paused {
                now.insert(
                    format!("paused/{}", s.id),
                    span(
                        RolloutSpanKind::Paused,
                        None,
                        who_why(
                            p.by.as_deref().unwrap_or(""),
                            p.reason.as_deref().unwrap_or(""),
                        ),
                        p.finishing.clone(),
                    ),
                );
            }
            if let Some(a) = &s.aborted {
                let reached: Vec<String> = a
                    .reached
                    .iter()
                    .map(|g| format!("{} ×{}", g.version, g.count))
                    .collect();
                let mut detail = who_why(&a.by, &a.reason);
                if !reached.is_empty() {
                    detail.push_str(&format!("; clusters stay on {}", reached.join(", ")));
                }
                now.insert(
                    format!("aborted/{}", s.id),
                    span(RolloutSpanKind::Aborted, None, detail, Vec::new()),
                );
            }
            for g in &s.gates {
                match &g.approved {
                    None => {
                        now.insert(
                            format!("gate/{}/{}", s.id, g.name),
                            span(
                                RolloutSpanKind::WaitingForApproval,
                                Some(g.name.clone()),
                                format!("gate {}", g.name),
                                g.clusters.clone(),
                            ),
                        );
                    }
                    Some(ok) => {
                        let key = (tenant.to_string(), s.id.clone(), g.name.clone());
                        if self.approved.insert(key) {
                            self.approvals.push(ApprovalSeen {
                                tenant: tenant.to_string(),
                                rollout: s.id.clone(),
                                gate: g.name.clone(),
                                by: ok.by.clone(),
                                approved_at: ok.at.clone(),
                                approval: ok.approval.clone(),
                                seen_at: at,
                            });
                        }
                    }
                }
            }
        }
        // Close what this write no longer shows; extend what it still shows.
        let keys: Vec<(String, String)> = self
            .open
            .keys()
            .filter(|(t, _)| t == tenant)
            .cloned()
            .collect();
        for k in keys {
            match now.remove(&k.1) {
                Some(still) => {
                    if let Some(open) = self.open.get_mut(&k) {
                        // Details may fill in (who finishes, which clusters wait): keep the
                        // latest words and every cluster seen.
                        open.detail = still.detail;
                        for c in still.clusters {
                            if !open.clusters.contains(&c) {
                                open.clusters.push(c);
                            }
                        }
                        open.clusters.sort();
                    }
                }
                None => {
                    if let Some(mut span) = self.open.remove(&k) {
                        span.end = at.max(span.start);
                        span.closed = true;
                        self.done.push(span);
                    }
                }
            }
        }
        for (key, mut span) in now {
            span.clusters.sort();
            self.open.insert((tenant.to_string(), key), span);
        }
    }

    /// Closes what is still open at `end` and returns the sorted result.
    pub fn finish(mut self, end: i64) -> RolloutControl {
        for (_, mut span) in std::mem::take(&mut self.open) {
            span.end = end.max(span.start);
            span.closed = false;
            self.done.push(span);
        }
        let mut spans = self.done;
        spans.sort_by(|a, b| {
            (&a.tenant, a.start, &a.kind, &a.gate, a.end)
                .cmp(&(&b.tenant, b.start, &b.kind, &b.gate, b.end))
        });
        let mut approvals = self.approvals;
        approvals.sort_by(|a, b| {
            (&a.tenant, a.seen_at, &a.gate, &a.rollout)
                .cmp(&(&b.tenant, b.seen_at, &b.gate, &b.rollout))
        });
        RolloutControl { spans, approvals }
    }
}

/// `alice: incident INC-7`, `alice`, `incident INC-7` or `-`.
fn who_why(by: &str, reason: &str) -> String {
    match (by.is_empty(), reason.is_empty()) {
        (false, false) => format!("{by}: {reason}"),
        (false, true) => by.to_string(),
        (true, false) => reason.to_string(),
        (true, true) => "-".into(),
    }
}

/// The terminal's lines (empty when there is nothing to show).
pub fn text(r: &RolloutControl, start: i64) -> String {
    if r.is_empty() {
        return String::new();
    }
    let mut out = String::from("rollout control:\n");
    for s in &r.spans {
        let until = if s.closed {
            relative(start, s.end)
        } else {
            "end of run".into()
        };
        let what = match &s.gate {
            Some(g) => format!("{} (gate {g})", s.kind.title()),
            None => s.kind.title().to_string(),
        };
        out.push_str(&format!(
            "  tenant {} {what} {} → {until} ({})",
            s.tenant,
            relative(start, s.start),
            format_duration(s.end - s.start)
        ));
        if s.kind != RolloutSpanKind::WaitingForApproval {
            out.push_str(&format!(": {}", s.detail));
        }
        if !s.clusters.is_empty() {
            out.push_str(&format!(" [{}]", s.clusters.join(", ")));
        }
        out.push('\n');
    }
    for a in &r.approvals {
        out.push_str(&format!(
            "  tenant {} gate {} approved by {} at {} ({}, rollout {})\n",
            a.tenant, a.gate, a.by, a.approved_at, a.approval, a.rollout
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const T0: i64 = 1_767_571_200; // 2026-01-05T00:00:00Z

    fn status(extra: Value) -> Value {
        let mut s = json!({"id": "1.32.0", "state": "Progressing",
            "clusters": {"total": 3, "upToDate": 0, "upgrading": 0, "waiting": 3}});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    }

    #[test]
    fn pause_gate_and_approval_become_spans_and_an_approver() {
        let mut t = Tracker::default();
        t.observe(T0, "acme", None);
        t.observe(T0 + 60, "acme", Some(&status(json!({}))));
        // The policy asks for gate prod for two clusters.
        let gate = json!([{"name": "prod", "clusters": ["tenant-acme/p-1", "tenant-acme/p-2"],
            "since": "2026-01-05T00:02:00Z"}]);
        t.observe(T0 + 120, "acme", Some(&status(json!({"gates": gate}))));
        // An incident: paused while the gate still waits; one step finishing.
        let paused = json!({"by": "alice", "reason": "incident INC-7",
            "since": "2026-01-05T00:05:00Z", "finishing": ["tenant-acme/s-1"]});
        t.observe(
            T0 + 300,
            "acme",
            Some(&status(
                json!({"state": "Paused", "gates": gate, "paused": paused}),
            )),
        );
        // Another tenant's writes never touch acme's spans.
        t.observe(T0 + 310, "globex", None);
        // Resumed; then dana approves.
        t.observe(T0 + 600, "acme", Some(&status(json!({"gates": gate}))));
        let approved = json!([{"name": "prod", "since": "2026-01-05T00:02:00Z",
            "approved": {"by": "dana", "at": "2026-01-05T00:15:00Z",
                         "approval": "tenant-acme/prod-1"}}]);
        t.observe(T0 + 900, "acme", Some(&status(json!({"gates": approved}))));
        // The same approval in a later write is not a second one.
        t.observe(T0 + 960, "acme", Some(&status(json!({"gates": approved}))));
        let r = t.finish(T0 + 3600);
        assert_eq!(r.spans.len(), 2, "{:#?}", r.spans);
        let gate = &r.spans[0];
        assert_eq!(gate.kind, RolloutSpanKind::WaitingForApproval);
        assert_eq!(gate.gate.as_deref(), Some("prod"));
        assert_eq!(
            (gate.start, gate.end, gate.closed),
            (T0 + 120, T0 + 900, true)
        );
        assert_eq!(gate.clusters, ["tenant-acme/p-1", "tenant-acme/p-2"]);
        let pause = &r.spans[1];
        assert_eq!(pause.kind, RolloutSpanKind::Paused);
        assert_eq!((pause.start, pause.end), (T0 + 300, T0 + 600));
        assert_eq!(pause.detail, "alice: incident INC-7");
        assert_eq!(pause.clusters, ["tenant-acme/s-1"]);
        assert_eq!(r.approvals.len(), 1);
        let a = &r.approvals[0];
        assert_eq!(
            (
                a.gate.as_str(),
                a.by.as_str(),
                a.approved_at.as_str(),
                a.seen_at
            ),
            ("prod", "dana", "2026-01-05T00:15:00Z", T0 + 900)
        );
        assert_eq!(a.approval, "tenant-acme/prod-1");
        let text = text(&r, T0);
        assert!(
            text.contains("tenant acme waiting for approval (gate prod) T+00:02 → T+00:15 (13m)"),
            "{text}"
        );
        assert!(
            text.contains("tenant acme paused T+00:05 → T+00:10 (5m): alice: incident INC-7"),
            "{text}"
        );
        assert!(
            text.contains("gate prod approved by dana at 2026-01-05T00:15:00Z"),
            "{text}"
        );
    }

    #[test]
    fn abort_stays_open_and_a_new_rollout_ends_the_old_gate() {
        let mut t = Tracker::default();
        let gate = json!([{"name": "prod", "since": "x", "clusters": ["a/b"]}]);
        t.observe(T0, "acme", Some(&status(json!({"gates": gate}))));
        let aborted = json!({"by": "carol", "reason": "bad release", "at": "x",
            "reached": [{"version": "1.31.0", "count": 2}, {"version": "1.32.0", "count": 1}]});
        t.observe(
            T0 + 60,
            "acme",
            Some(&status(
                json!({"state": "Aborted", "gates": gate, "aborted": aborted}),
            )),
        );
        // Desired versions change: a new rollout; the old one's gate and abort no longer apply.
        let mut next = status(json!({}));
        next["id"] = json!("1.33.0");
        t.observe(T0 + 120, "acme", Some(&next));
        let aborted_again = json!({"by": "carol", "at": "y"});
        let mut next = status(json!({"state": "Aborted", "aborted": aborted_again}));
        next["id"] = json!("1.33.0");
        t.observe(T0 + 180, "acme", Some(&next));
        let r = t.finish(T0 + 600);
        let kinds: Vec<_> = r
            .spans
            .iter()
            .map(|s| (s.kind.clone(), s.rollout.as_str(), s.start, s.end, s.closed))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    RolloutSpanKind::WaitingForApproval,
                    "1.32.0",
                    T0,
                    T0 + 120,
                    true
                ),
                (RolloutSpanKind::Aborted, "1.32.0", T0 + 60, T0 + 120, true),
                (
                    RolloutSpanKind::Aborted,
                    "1.33.0",
                    T0 + 180,
                    T0 + 600,
                    false
                ),
            ]
        );
        assert_eq!(
            r.spans[1].detail,
            "carol: bad release; clusters stay on 1.31.0 ×2, 1.32.0 ×1"
        );
        assert_eq!(r.spans[2].detail, "carol");
        assert!(r.approvals.is_empty());
        assert!(text(&r, T0).contains("(end of run)") || text(&r, T0).contains("end of run"));
    }

    #[test]
    fn no_rollout_status_means_nothing_to_report() {
        let mut t = Tracker::default();
        t.observe(T0, "acme", None);
        t.observe(T0 + 1, "acme", Some(&json!({"not": "a rollout"})));
        t.observe(T0 + 2, "acme", Some(&status(json!({}))));
        let r = t.finish(T0 + 10);
        assert!(r.is_empty());
        assert_eq!(text(&r, T0), "");
    }
}
