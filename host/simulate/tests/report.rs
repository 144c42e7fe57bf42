//! The pipeline after the world: recorder → summary → report, checked on a scripted world.
//! (The same checks against the real controller are in `tests/simulate.rs`.)

mod common;

use common::{ScriptedFleet, run_scripted, small};
use fleetward_simulate::record::SpanKind;
use fleetward_simulate::{summary, write_outputs};

#[test]
fn spans_summary_and_holds_follow_the_observations() {
    let s = small();
    let rec = run_scripted(&s, ScriptedFleet::new());
    assert!(rec.violations.is_empty(), "{:?}", rec.violations);
    let acme1 = rec
        .clusters
        .iter()
        .find(|c| c.id.name == "prod-1")
        .expect("prod-1");
    assert_eq!(acme1.seed.as_deref(), Some("eu-1"));
    let kinds: Vec<&SpanKind> = acme1.spans.iter().map(|s| &s.kind).collect();
    assert_eq!(kinds[0], &SpanKind::Placement);
    assert!(kinds.contains(&&SpanKind::ControlPlane));
    assert!(kinds.contains(&&SpanKind::Pool { pool: "gpu".into() }));
    // prod-3 waits for the two before it: a hold span with the policy's reason.
    let acme3 = rec
        .clusters
        .iter()
        .find(|c| c.id.name == "prod-3")
        .expect("prod-3");
    let hold = acme3
        .spans
        .iter()
        .find(|s| s.kind == SpanKind::Hold)
        .expect("hold");
    assert_eq!(hold.label, "one at a time");
    let web1 = rec
        .clusters
        .iter()
        .find(|c| c.id.name == "web-1")
        .expect("web-1");
    assert!(web1.spans.iter().any(|s| s.kind == SpanKind::Fault));
    assert!(web1.spans.iter().any(|s| s.kind == SpanKind::Remediation));

    let sum = summary::summarize(&rec);
    let acme = &sum.tenants[0];
    assert_eq!(
        (
            acme.tenant.as_str(),
            acme.clusters,
            acme.upgraded,
            acme.requested
        ),
        ("acme", 3, 3, 3)
    );
    // 3 clusters × (cp + 2 pools) × 10 minutes, serial.
    assert_eq!(acme.time_to_complete, Some(3 * 3 * 600));
    assert_eq!(sum.tenants[1].remediations, 1);
    let table = summary::table(&sum);
    assert!(
        table
            .lines()
            .nth(2)
            .is_some_and(|l| l.starts_with("acme") && l.contains("3/3") && l.contains("1h 30m")),
        "{table}"
    );
    // Ended early: settled two hours after the last event, not after a whole day.
    assert!(rec.end - rec.start < 86_400, "ran {}s", rec.end - rec.start);
}

#[test]
fn a_written_downgrade_is_a_violation_and_fails_the_exit_code() {
    let s = small();
    let mut fleet = ScriptedFleet::new();
    fleet.downgrade_on_upgrade = true;
    let rec = run_scripted(&s, fleet);
    assert!(
        rec.violations.iter().any(|v| v.invariant == "no_downgrade"),
        "{:?}",
        rec.violations
    );
    let dir = common::out_dir("violation");
    let sum = summary::summarize(&rec);
    assert_eq!(sum.violations, rec.violations.len());
    let report = write_outputs(&dir, &rec, &sum, None).expect("written");
    let html = std::fs::read_to_string(report).expect("report");
    assert!(html.contains("Invariant violations") && html.contains("no_downgrade"));
}

#[test]
fn report_html_is_self_contained_and_has_one_row_per_cluster() {
    let s = small();
    let rec = run_scripted(&s, ScriptedFleet::new());
    let dir = common::out_dir("html");
    let sum = summary::summarize(&rec);
    let report = write_outputs(&dir, &rec, &sum, None).expect("written");
    let html = std::fs::read_to_string(&report).expect("report");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches(r#"<g class="cluster-row""#).count(), 5);
    assert_eq!(html.matches(r#"<g class="tenant""#).count(), 2);
    assert!(html.contains(r#"<table class="ledger" data-tenant="acme">"#));
    assert!(html.contains("<details><summary>json</summary>"));
    for external in ["http://", "https://", "<script src", "<link "] {
        let stripped = html.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !stripped.contains(external),
            "external reference {external}"
        );
    }
    // Hover text for holds carries the reason.
    assert!(html.contains("<title>hold · tenant-acme/prod-3\none at a time"));
    for f in ["ledger.json", "summary.json", "spans.json"] {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(f)).expect(f)).expect(f);
        assert!(!v.is_null());
    }
}

#[test]
fn same_observations_same_bytes() {
    let s = small();
    let render = |name: &str| {
        let rec = run_scripted(&s, ScriptedFleet::new());
        let dir = common::out_dir(name);
        let sum = summary::summarize(&rec);
        write_outputs(&dir, &rec, &sum, None).expect("written");
        ["report.html", "ledger.json", "summary.json", "spans.json"]
            .map(|f| std::fs::read(dir.join(f)).expect(f))
    };
    assert_eq!(render("det-a"), render("det-b"));
}

/// Every changed answer is a ledger entry, even several in one virtual second (a pool step
/// started and the next one started in the same second must both show); an unchanged re-ask
/// is not.
#[test]
fn the_ledger_keeps_every_changed_answer_and_drops_unchanged_reasks() {
    use fleetward_simulate::record::{LedgerEntry, Observation, Recorder};
    let s = small();
    let mut rec = Recorder::new(&s);
    let at = s.start.0 + 600;
    let answer = |output: &str| {
        Observation::Decision(LedgerEntry {
            at,
            tenant: "acme".into(),
            clusters: vec!["tenant-acme/prod-1".into()],
            kind: "upgrade_ordering".into(),
            digest: "builtin".into(),
            input_sha256: format!("{:064x}", output.len()),
            output_json: output.into(),
            reason: "starting 1 step".into(),
            outcome: "applied".into(),
        })
    };
    rec.observe(answer(r#"{"start":["pool/workers"]}"#));
    rec.observe(answer(r#"{"start":["pool/gpu"]}"#));
    rec.observe(answer(r#"{"start":["pool/gpu"]}"#));
    let done = rec.finish(at);
    let outputs: Vec<&str> = done.ledger.iter().map(|e| e.output_json.as_str()).collect();
    assert_eq!(
        outputs,
        [r#"{"start":["pool/workers"]}"#, r#"{"start":["pool/gpu"]}"#]
    );
}

/// Tenant writes carrying `status.rollout` (a gate, a pause, an approval) become the report's
/// "Rollout control" section, `summary.json`'s `rollouts` and the terminal's lines; a run
/// without them has none of the three.
#[test]
fn rollout_control_reaches_the_report_summary_and_terminal() {
    use fleetward_simulate::record::{Observation, Recorder};
    use serde_json::json;
    let s = small();
    let t0 = s.start.0;
    let mut rec = Recorder::new(&s);
    let tenant = |rollout: serde_json::Value| json!({"metadata": {"name": "acme"}, "status": {"rollout": rollout}});
    let base = json!({"id": "1.32.0", "state": "Progressing",
        "clusters": {"total": 3, "upToDate": 1, "upgrading": 0, "waiting": 2}});
    let mut gated = base.clone();
    gated["gates"] = json!([{"name": "prod", "clusters": ["tenant-acme/prod-2"], "since": "x"}]);
    let mut paused = gated.clone();
    paused["state"] = json!("Paused");
    paused["paused"] = json!({"by": "alice", "reason": "incident <INC-7>", "since": "x"});
    let mut approved = base.clone();
    approved["gates"] = json!([{"name": "prod", "since": "x", "approved":
        {"by": "dana", "at": "2026-01-05T03:00:00Z", "approval": "tenant-acme/prod-1"}}]);
    for (at, r) in [
        (3600, gated),
        (7200, paused),
        (9000, approved.clone()),
        (9600, approved),
    ] {
        rec.observe(Observation::TenantWrite {
            at: t0 + at,
            object: tenant(r),
        });
    }
    let rec = rec.finish(t0 + 86_400);
    let sum = summary::summarize(&rec);
    let html = fleetward_simulate::report::render(&rec, &sum, None);
    assert!(html.contains("<h2>Rollout control</h2>"));
    assert!(
        html.contains("waiting for approval <b>prod</b>"),
        "gate row"
    );
    assert!(
        html.contains("alice: incident &lt;INC-7&gt;"),
        "escaped pause reason"
    );
    assert!(html.contains("<td><b>dana</b></td>"), "approver");
    let js = serde_json::to_value(&sum).unwrap();
    assert_eq!(js["rollouts"]["approvals"][0]["by"], "dana");
    assert_eq!(js["rollouts"]["spans"].as_array().unwrap().len(), 2);
    let text = fleetward_simulate::rollout_spans::text(&sum.rollouts, t0);
    assert!(
        text.contains("tenant acme paused T+02:00 → T+02:30 (30m): alice"),
        "{text}"
    );
    assert!(text.contains("gate prod approved by dana"), "{text}");

    // Without rollout status: no section, no key.
    let plain = run_scripted(&s, ScriptedFleet::new());
    let sum = summary::summarize(&plain);
    assert!(!fleetward_simulate::report::render(&plain, &sum, None).contains("Rollout control"));
    assert!(
        serde_json::to_value(&sum)
            .unwrap()
            .get("rollouts")
            .is_none()
    );
}
