//! The `fleetward rollout status` report: a pure function from what the API server holds (the
//! Tenant, its ManagedClusters, its RolloutApprovals) to text or JSON.
//!
//! Pure so the exact output of every rollout state is unit-tested without a server, and so
//! `--watch` can compare two renderings and print a frame only when something an operator would
//! see has changed. Everything is in a fixed order (the status's own order for waves, gates and
//! waiting clusters, which the controller writes sorted or in first-seen order; clusters and
//! approvals sorted by `namespace/name`), so the same objects always give the same bytes.

use fleetward_controller::crd::{
    ManagedCluster, RolloutApproval, RolloutControl, RolloutState, RolloutStatus, Tenant,
};
use kube::ResourceExt;
use serde::Serialize;

/// What `rollout status` reports: the Tenant's `status.rollout` as the controller wrote it, the
/// operator's switches from its spec, and what the ManagedClusters and approvals say now.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Tenant name.
    pub tenant: String,
    /// `status.rollout`, absent until the controller has written it.
    pub rollout: Option<RolloutStatus>,
    /// `spec.rollout`: what operators asked for (the controller may not have seen it yet).
    pub control: RolloutControl,
    /// The tenant's clusters, by `namespace/name`.
    pub clusters: Vec<ClusterRow>,
    /// RolloutApprovals naming the tenant, by `namespace/name`.
    pub approvals: Vec<ApprovalRow>,
}

/// One ManagedCluster of the tenant.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRow {
    /// `namespace/name`.
    pub cluster: String,
    /// Control-plane version it runs (`status.controlPlaneVersion`).
    pub version: Option<String>,
    /// Version its spec asks for.
    pub desired: String,
    /// `status.phase`.
    pub phase: String,
    /// `spec.pauseUpgrades`: an operator paused this cluster.
    pub paused: bool,
    /// `status.upgradesPaused`: remediation escalation paused it.
    pub upgrades_paused: bool,
    /// The step in flight (`status.inProgress`).
    pub upgrading: Option<StepRow>,
}

/// An upgrade step in flight.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StepRow {
    /// `control-plane` or `pool/<name>`.
    pub target: String,
    /// From version.
    pub from: String,
    /// To version.
    pub to: String,
    /// Start time (RFC 3339).
    pub since: String,
    /// Wave, if the policy named one.
    pub wave: Option<String>,
}

/// One RolloutApproval naming the tenant.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRow {
    /// `namespace/name`.
    pub approval: String,
    /// Gate approved.
    pub gate: String,
    /// Rollout approved.
    pub rollout: String,
    /// Who approved.
    pub approver: String,
    /// Its `Accepted` condition: `True`, `False (Reason)`, or `-` before the controller saw it.
    pub accepted: String,
}

/// Builds the report from the objects read from the API server.
pub fn report(
    tenant: &Tenant,
    clusters: &[ManagedCluster],
    approvals: &[RolloutApproval],
) -> Report {
    let name = tenant.name_any();
    let mut rows: Vec<ClusterRow> = clusters
        .iter()
        .filter(|c| c.spec.tenant == name)
        .map(cluster_row)
        .collect();
    rows.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    let mut approval_rows: Vec<ApprovalRow> = approvals
        .iter()
        .filter(|a| a.spec.tenant == name)
        .map(approval_row)
        .collect();
    approval_rows.sort_by(|a, b| a.approval.cmp(&b.approval));
    Report {
        tenant: name,
        rollout: tenant.status.as_ref().and_then(|s| s.rollout.clone()),
        control: tenant.spec.rollout.clone(),
        clusters: rows,
        approvals: approval_rows,
    }
}

fn key(ns: Option<String>, name: String) -> String {
    format!("{}/{name}", ns.unwrap_or_default())
}

fn cluster_row(c: &ManagedCluster) -> ClusterRow {
    let status = c.status.clone().unwrap_or_default();
    ClusterRow {
        cluster: key(c.namespace(), c.name_any()),
        version: status.control_plane_version.map(|v| v.to_string()),
        desired: c.spec.version.clone(),
        phase: format!("{:?}", status.phase),
        paused: c.spec.pause_upgrades,
        upgrades_paused: status.upgrades_paused,
        upgrading: status.in_progress.map(|s| StepRow {
            target: s.target.to_string(),
            from: s.from.to_string(),
            to: s.to.to_string(),
            since: s.started_at.to_string(),
            wave: s.wave,
        }),
    }
}

fn approval_row(a: &RolloutApproval) -> ApprovalRow {
    let accepted = a
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Accepted"))
        .map(|c| {
            let status = format!("{:?}", c.status);
            if status == "True" || c.reason.is_empty() {
                status
            } else {
                format!("{status} ({})", c.reason)
            }
        })
        .unwrap_or_else(|| "-".into());
    ApprovalRow {
        approval: key(a.namespace(), a.name_any()),
        gate: a.spec.gate.clone(),
        rollout: a.spec.rollout.clone(),
        approver: a.spec.approver.clone(),
        accepted,
    }
}

/// The report as pretty JSON (one document, newline-terminated).
pub fn json(report: &Report) -> String {
    // Plain data with string keys: serialising cannot fail.
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

/// The report as text: a header, then one table per section that has rows.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(s.trim_end());
        out.push('\n');
    };
    let dash = |s: Option<&str>| s.filter(|s| !s.is_empty()).unwrap_or("-").to_string();
    match &report.rollout {
        None => {
            line(format!("Tenant {}: no rollout status yet", report.tenant));
            line(
                "(the controller has not written status.rollout: is `fleetward run` running \
                 and does the tenant have clusters to upgrade?)"
                    .into(),
            );
        }
        Some(r) => {
            line(format!(
                "Tenant {}  rollout {}  {}",
                report.tenant,
                r.id,
                state(r.state)
            ));
            let c = &r.clusters;
            line(format!(
                "Clusters: {} total, {} up to date, {} upgrading, {} waiting",
                c.total, c.up_to_date, c.upgrading, c.waiting
            ));
            if let Some(p) = &r.paused {
                line(format!(
                    "Paused by {} since {}: {}",
                    dash(p.by.as_deref()),
                    p.since,
                    dash(p.reason.as_deref())
                ));
                if !p.finishing.is_empty() {
                    line(format!("Finishing: {}", p.finishing.join(", ")));
                }
            }
            if let Some(a) = &r.aborted {
                line(format!(
                    "Aborted by {} at {}: {}",
                    a.by,
                    a.at,
                    dash(Some(&a.reason))
                ));
                for g in &a.reached {
                    let more = g.count as usize > g.clusters.len();
                    line(format!(
                        "  on {}: {} ({}{})",
                        g.version,
                        g.count,
                        g.clusters.join(", "),
                        if more { ", ..." } else { "" }
                    ));
                }
            }
            line(format!(
                "Next maintenance window: {}",
                dash(r.next_window.as_deref())
            ));
        }
    }
    // What operators asked for and the controller has not reported yet.
    let ctl = &report.control;
    let status_paused = report.rollout.as_ref().is_some_and(|r| r.paused.is_some());
    if ctl.paused && !status_paused {
        line(format!(
            "Pause requested by {} ({}): not yet reported by the controller",
            dash(ctl.paused_by.as_deref()),
            dash(ctl.pause_reason.as_deref())
        ));
    }
    if let Some(abort) = &ctl.abort {
        let current = report.rollout.as_ref().map(|r| r.id.as_str());
        let reported = report.rollout.as_ref().is_some_and(|r| r.aborted.is_some());
        if current == Some(abort.rollout.as_str()) && !reported {
            line(format!(
                "Abort requested by {}: not yet reported by the controller",
                abort.by
            ));
        }
    }

    if let Some(r) = &report.rollout {
        if !r.waves.is_empty() {
            line(String::new());
            let rows = r
                .waves
                .iter()
                .map(|w| {
                    vec![
                        w.name.clone(),
                        w.total.to_string(),
                        w.up_to_date.to_string(),
                        w.upgrading.to_string(),
                        w.waiting.to_string(),
                    ]
                })
                .collect();
            for l in grid(
                &["WAVE", "TOTAL", "UP-TO-DATE", "UPGRADING", "WAITING"],
                rows,
            ) {
                line(l);
            }
        }
        if !r.gates.is_empty() {
            line(String::new());
            let rows = r
                .gates
                .iter()
                .map(|g| {
                    let (state, by, at) = match &g.approved {
                        Some(a) => ("approved", a.by.clone(), a.at.clone()),
                        None => ("pending", "-".into(), "-".into()),
                    };
                    vec![
                        g.name.clone(),
                        state.into(),
                        g.clusters.len().to_string(),
                        g.since.clone(),
                        by,
                        at,
                    ]
                })
                .collect();
            for l in grid(
                &[
                    "GATE",
                    "STATE",
                    "WAITING",
                    "SINCE",
                    "APPROVED-BY",
                    "APPROVED-AT",
                ],
                rows,
            ) {
                line(l);
            }
        }
        if !r.waiting.is_empty() {
            line(String::new());
            let rows = r
                .waiting
                .iter()
                .map(|w| {
                    vec![
                        w.cluster.clone(),
                        w.cause.clone(),
                        dash(w.until.as_deref()),
                        dash(w.gate.as_deref()),
                        dash(w.wave.as_deref()),
                        dash(Some(&w.reason)),
                    ]
                })
                .collect();
            for l in grid(
                &["WAITING", "CAUSE", "UNTIL", "GATE", "WAVE", "REASON"],
                rows,
            ) {
                line(l);
            }
            if r.clusters.waiting as usize > r.waiting.len() {
                line(format!(
                    "(and {} more waiting)",
                    r.clusters.waiting as usize - r.waiting.len()
                ));
            }
        }
    }

    let upgrading: Vec<Vec<String>> = report
        .clusters
        .iter()
        .filter_map(|c| {
            c.upgrading.as_ref().map(|s| {
                vec![
                    c.cluster.clone(),
                    s.target.clone(),
                    s.from.clone(),
                    s.to.clone(),
                    s.since.clone(),
                    dash(s.wave.as_deref()),
                ]
            })
        })
        .collect();
    if !upgrading.is_empty() {
        line(String::new());
        for l in grid(
            &["UPGRADING", "TARGET", "FROM", "TO", "SINCE", "WAVE"],
            upgrading,
        ) {
            line(l);
        }
    }

    line(String::new());
    if report.clusters.is_empty() {
        line(format!("No ManagedClusters name tenant {}.", report.tenant));
    } else {
        let rows = report
            .clusters
            .iter()
            .map(|c| {
                let paused = match (c.paused, c.upgrades_paused) {
                    (true, true) => "spec,remediation",
                    (true, false) => "spec",
                    (false, true) => "remediation",
                    (false, false) => "-",
                };
                vec![
                    c.cluster.clone(),
                    dash(c.version.as_deref()),
                    c.desired.clone(),
                    c.phase.clone(),
                    paused.into(),
                ]
            })
            .collect();
        for l in grid(&["CLUSTER", "VERSION", "DESIRED", "PHASE", "PAUSED"], rows) {
            line(l);
        }
    }

    if !report.approvals.is_empty() {
        line(String::new());
        let rows = report
            .approvals
            .iter()
            .map(|a| {
                vec![
                    a.approval.clone(),
                    a.gate.clone(),
                    a.rollout.clone(),
                    a.approver.clone(),
                    a.accepted.clone(),
                ]
            })
            .collect();
        for l in grid(
            &["APPROVAL", "GATE", "ROLLOUT", "APPROVER", "ACCEPTED"],
            rows,
        ) {
            line(l);
        }
    }
    out
}

/// The state's name as `kubectl get tenants` shows it.
pub fn state(s: RolloutState) -> &'static str {
    match s {
        RolloutState::Progressing => "Progressing",
        RolloutState::Paused => "Paused",
        RolloutState::Aborted => "Aborted",
        RolloutState::Complete => "Complete",
    }
}

/// Left-aligned columns two spaces apart (widths in characters), trailing spaces trimmed.
fn grid(headers: &[&str], rows: Vec<Vec<String>>) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let fmt = |cells: Vec<String>| {
        let mut s = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            s.push_str(cell);
            for _ in cell.chars().count()..*w + 2 {
                s.push(' ');
            }
        }
        s.trim_end().to_string()
    };
    let mut lines = vec![fmt(headers.iter().map(|h| h.to_string()).collect())];
    lines.extend(rows.into_iter().map(fmt));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant(v: serde_json::Value) -> Tenant {
        let mut obj = json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "Tenant",
                             "metadata": {"name": "t1"}, "spec": {}});
        if let Some(m) = v.as_object() {
            for (k, x) in m {
                obj[k] = x.clone();
            }
        }
        serde_json::from_value(obj).unwrap()
    }

    fn cluster(ns: &str, name: &str, tenant: &str, status: serde_json::Value) -> ManagedCluster {
        serde_json::from_value(json!({
            "apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"tenant": tenant, "version": "1.32.0"}, "status": status
        }))
        .unwrap()
    }

    #[test]
    fn no_status_no_clusters_says_so() {
        let r = report(&tenant(json!({})), &[], &[]);
        assert_eq!(
            table(&r),
            "Tenant t1: no rollout status yet\n(the controller has not written status.rollout: \
             is `fleetward run` running and does the tenant have clusters to upgrade?)\n\n\
             No ManagedClusters name tenant t1.\n"
        );
    }

    #[test]
    fn clusters_are_the_tenants_only_sorted_with_their_pauses() {
        let cs = [
            cluster("b", "z", "t1", json!({"upgradesPaused": true})),
            cluster("a", "y", "t2", json!({})),
            cluster(
                "a",
                "x",
                "t1",
                json!({"phase": "Running", "controlPlaneVersion": "1.31.4"}),
            ),
        ];
        let r = report(&tenant(json!({})), &cs, &[]);
        let names: Vec<&str> = r.clusters.iter().map(|c| c.cluster.as_str()).collect();
        assert_eq!(names, ["a/x", "b/z"]);
        assert!(table(&r).ends_with(
            "CLUSTER  VERSION  DESIRED  PHASE    PAUSED\n\
             a/x      1.31.4   1.32.0   Running  -\n\
             b/z      -        1.32.0   Pending  remediation\n"
        ));
    }

    #[test]
    fn requests_the_controller_has_not_reported_are_shown() {
        let t = tenant(json!({
            "spec": {"rollout": {"paused": true, "pausedBy": "alice",
                                 "abort": {"rollout": "1.32.0", "by": "bob"}}},
            "status": {"rollout": {"id": "1.32.0", "state": "Progressing"}}
        }));
        let text = table(&report(&t, &[], &[]));
        assert!(
            text.contains("\nPause requested by alice (-): not yet reported by the controller\n")
        );
        assert!(text.contains("\nAbort requested by bob: not yet reported by the controller\n"));
        // An abort of an earlier rollout does not apply to this one.
        let t = tenant(json!({
            "spec": {"rollout": {"abort": {"rollout": "1.31.0", "by": "bob"}}},
            "status": {"rollout": {"id": "1.32.0", "state": "Progressing"}}
        }));
        assert!(!table(&report(&t, &[], &[])).contains("Abort requested"));
    }

    #[test]
    fn aborted_lists_versions_and_marks_a_cut_list() {
        let t = tenant(json!({"status": {"rollout": {
            "id": "1.32.0", "state": "Aborted",
            "aborted": {"by": "bob", "at": "2026-12-07T12:00:00Z", "reached": [
                {"version": "1.31.4", "count": 150, "clusters": ["a/1", "a/2"]}]}
        }}}));
        let text = table(&report(&t, &[], &[]));
        assert!(text.contains(
            "Aborted by bob at 2026-12-07T12:00:00Z: -\n  on 1.31.4: 150 (a/1, a/2, ...)\n"
        ));
    }

    #[test]
    fn waiting_beyond_the_listed_ones_is_counted() {
        let t = tenant(json!({"status": {"rollout": {
            "id": "1.32.0", "state": "Progressing",
            "clusters": {"total": 200, "upToDate": 0, "upgrading": 0, "waiting": 101},
            "waiting": [{"cluster": "a/1", "cause": "cap"}]
        }}}));
        let text = table(&report(&t, &[], &[]));
        assert!(text.contains(
            "WAITING  CAUSE  UNTIL  GATE  WAVE  REASON\na/1      cap    -      -     -     -\n\
             (and 100 more waiting)\n"
        ));
    }

    #[test]
    fn approvals_show_whether_the_controller_accepted_them() {
        let a: RolloutApproval = serde_json::from_value(json!({
            "apiVersion": "fleetward.dev/v1alpha1", "kind": "RolloutApproval",
            "metadata": {"name": "prod-1.32.0", "namespace": "other"},
            "spec": {"tenant": "t1", "gate": "prod", "rollout": "1.32.0", "approver": "eve"},
            "status": {"conditions": [{"type": "Accepted", "status": "False",
                "reason": "TenantMismatch", "message": "", "lastTransitionTime": ""}]}
        }))
        .unwrap();
        let r = report(&tenant(json!({})), &[], &[a]);
        assert_eq!(r.approvals[0].accepted, "False (TenantMismatch)");
        assert!(table(&r).ends_with(
            "APPROVAL           GATE  ROLLOUT  APPROVER  ACCEPTED\n\
             other/prod-1.32.0  prod  1.32.0   eve       False (TenantMismatch)\n"
        ));
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(v["approvals"][0]["approver"], "eve");
        assert_eq!(v["rollout"], serde_json::Value::Null);
    }

    #[test]
    fn grid_pads_to_the_widest_cell_and_trims() {
        assert_eq!(
            grid(&["A", "BB"], vec![vec!["long".into(), "x".into()]]),
            ["A     BB", "long  x"]
        );
    }
}
