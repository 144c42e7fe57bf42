//! `fleetward simulate` end to end: the real controller, the emulator and the fake
//! infrastructure on a paused clock, driven by a small scenario.

use std::path::{Path, PathBuf};

mod common;

use common::{out_dir, report_files};
use fleetward_simulate::{SimulateArgs, run};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn same_scenario_twice_gives_byte_identical_reports() {
    let mut outputs = Vec::new();
    for i in 0..2 {
        let dir = out_dir(&format!("det{i}"));
        let args = SimulateArgs::new(data("tiny.yaml"), &dir);
        let mut log: Vec<u8> = Vec::new();
        let exit = run(&args, &mut log, false).expect("runs");
        let log = String::from_utf8_lossy(&log).to_string();
        assert_eq!(
            exit.exit_code(),
            0,
            "violations: {:?}\n{log}",
            exit.violations
        );
        // The rollout happened: every cluster reached 1.32 and the ledger has real decisions.
        for t in &exit.summary.tenants {
            assert_eq!((t.upgraded, t.requested), (2, 2), "{log}");
        }
        let acme = &exit.summary.tenants[0];
        assert!(acme.decisions > 0 && acme.holds > 0, "{acme:?}");
        outputs.push(report_files(&dir));
    }
    for ((name, a), (_, b)) in outputs[0].iter().zip(outputs[1].iter()) {
        assert!(
            a == b,
            "{name} differs between two runs of the same scenario"
        );
    }
}

#[test]
fn canary_goes_first_and_remediation_shows_on_the_timeline() {
    let dir = out_dir("canary");
    let args = SimulateArgs::new(data("tiny.yaml"), &dir);
    let mut log: Vec<u8> = Vec::new();
    run(&args, &mut log, false).expect("runs");
    let spans: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("spans.json")).expect("spans"))
            .expect("json");
    let cluster = |name: &str| {
        spans
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"]["name"] == name))
            .unwrap_or_else(|| panic!("{name} in spans.json"))
            .clone()
    };
    let done = |name: &str| cluster(name)["completed_at"].as_i64().expect("completed");
    assert!(done("canary") < done("prod"), "canary first");
    let cp_start = |name: &str| {
        cluster(name)["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["kind"]["kind"] == "control_plane"))
            .and_then(|s| s["start"].as_i64())
            .expect("control-plane span")
    };
    // prod waited for the canary to finish and bake (30 minutes).
    assert!(
        cp_start("prod") >= done("canary") + 30 * 60,
        "bake time respected"
    );
    let web1 = cluster("web-1");
    let kinds: Vec<String> = web1["spans"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| s["kind"]["kind"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        kinds.iter().any(|k| k == "fault") && kinds.iter().any(|k| k == "remediation"),
        "{kinds:?}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report");
    assert_eq!(html.matches(r#"<g class="cluster-row""#).count(), 4);
}

/// The periodic resync is a safety net, not a clock: every time-based step (a finished step
/// freeing a place, a bake ending, an unhealthy threshold) schedules its own reconcile, so the
/// recorded timeline is the same whether the controller resyncs every minute or every two hours.
#[test]
fn the_timeline_does_not_depend_on_the_resync_period() {
    let yaml = std::fs::read_to_string(data("tiny.yaml")).expect("tiny.yaml");
    let mut timelines = Vec::new();
    for resync in ["1m", "2h"] {
        let dir = out_dir(&format!("resync-{resync}"));
        std::fs::create_dir_all(&dir).expect("out dir");
        let scenario = dir.join("tiny.yaml");
        let text = yaml.replacen(
            "duration: 8h\n",
            &format!("duration: 8h\ncontroller: {{resync: {resync}}}\n"),
            1,
        );
        assert_ne!(text, yaml, "the resync line was inserted");
        std::fs::write(&scenario, text).expect("write scenario");
        let args = SimulateArgs::new(scenario, dir.join("out"));
        let mut log: Vec<u8> = Vec::new();
        let exit = run(&args, &mut log, false).expect("runs");
        for t in &exit.summary.tenants {
            assert_eq!((t.upgraded, t.requested), (2, 2), "resync {resync}");
        }
        timelines.push(std::fs::read(dir.join("out/spans.json")).expect("spans.json"));
    }
    assert!(
        timelines[0] == timelines[1],
        "spans.json differs between resync 1m and 2h"
    );
}
