//! A held upgrade policy backs off (issue 15, item 2): a tenant whose module traps on every call
//! under `failureMode: Hold` is asked again 60 s, 120 s, … up to every 30 minutes
//! (`fleetward_controller::core::retry`), not every minute forever; and a fixed module is asked
//! at once, whatever the back-off.
//!
//! The scenario is examples/scenarios/trapping-policy.yaml's globex alone (its neighbours would
//! add their own decisions to the counts): four clusters, the trapping module from the start,
//! 1.32 requested at T+1h.

use std::path::{Path, PathBuf};

mod common;

use common::out_dir;
use fleetward_controller::core::retry;
use fleetward_simulate::SimulationExit;
use serde_json::Value;

const CLUSTERS: u64 = 4;

fn scenario(dir: &Path, duration: &str, fix_at: Option<&str>) -> PathBuf {
    let trapping = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scenarios/modules/trapping-upgrade-ordering.wat");
    let trapping = trapping.canonicalize().expect("the trapping module exists");
    let fix = fix_at
        .map(|at| {
            format!(
                "  - at: {at}\n    updatePolicy: {{tenant: globex, decision: upgradeOrdering, \
                 module: builtin:upgrade-ordering, config: {{max_concurrent: 2}}}}\n"
            )
        })
        .unwrap_or_default();
    let yaml = format!(
        r#"
name: hold-backoff
description: globex's upgrade-ordering module traps; failureMode Hold.
start: 2026-01-05T00:00:00Z
duration: {duration}
step: 1m
infra: {{workloadReady: 30s, machineReady: 2m, machineDelete: 10s}}
tenants:
  - name: globex
    failureMode: Hold
    policies:
      upgradeOrdering:
        module: {module}
seeds:
  - {{name: eu-1, region: eu-west, capacity: 30, minVersion: "1.30", maxVersion: "1.33"}}
clusters:
  - {{tenant: globex, name: "app-{{n}}", count: {CLUSTERS}, version: 1.31.0}}
timeline:
  - at: T+1h
    setVersion: {{version: 1.32.0}}
{fix}"#,
        module = trapping.display(),
    );
    std::fs::create_dir_all(dir).expect("scenario dir");
    let path = dir.join(format!("hold-backoff-{duration}.yaml"));
    std::fs::write(&path, yaml).expect("scenario written");
    path
}

/// Policy calls of the run: every decision record (the four placements by the built-in, then
/// globex's held upgrade orderings).
fn calls(exit: &SimulationExit) -> u64 {
    exit.summary.raw_decisions
}

#[test]
fn held_policy_is_asked_on_a_back_off_schedule() {
    let dir = out_dir("backoff-hold");
    let day = common::simulate_file(&scenario(&dir.join("in"), "1d", None), &dir.join("1d"));
    let week = common::simulate_file(&scenario(&dir.join("in"), "7d", None), &dir.join("7d"));
    let globex = |e: &SimulationExit| {
        e.summary
            .tenants
            .iter()
            .find(|t| t.tenant == "globex")
            .cloned()
            .expect("globex")
    };
    assert_eq!(globex(&week).upgraded, 0, "the hold holds");
    assert!(globex(&week).policy_errors > 0);
    // First failure at T+1h (the version request); the schedule's bound from there, plus the
    // placements and a few asks on real changes (the version request reaching each cluster).
    let slack = CLUSTERS + 4;
    let (d1, d7) = (calls(&day), calls(&week));
    let bound = |secs: i64| u64::from(retry::max_asks(secs)) + slack;
    assert!(
        d1 <= bound(86_400 - 3_600),
        "1 d: {d1} calls > {}",
        bound(86_400 - 3_600)
    );
    assert!(
        d7 <= bound(7 * 86_400 - 3_600),
        "7 d: {d7} calls > {}",
        bound(7 * 86_400 - 3_600)
    );
    // Days 2-7 cost at most one ask per 30 minutes (a minute's timer: 8,640).
    let later = d7 - d1;
    let cap = (6 * 86_400 / retry::MAX_DELAY) as u64 + 1;
    assert!(later <= cap, "days 2-7: {later} calls > {cap}");
    // Still asked: a failure that goes away on its own is seen within the cap.
    assert!(
        later >= cap - 2,
        "days 2-7: only {later} calls (expected ~{cap})"
    );
    println!("held policy calls: 1 d {d1}, 7 d {d7} (days 2-7: {later})");
}

#[test]
fn fixed_module_is_asked_at_once_despite_the_back_off() {
    let dir = out_dir("backoff-fix");
    // At T+20h the back-off is at its 30-minute cap.
    let exit = common::simulate_file(
        &scenario(&dir.join("in"), "1d", Some("T+20h")),
        &dir.join("out"),
    );
    let fixed_at = exit.start + 20 * 3_600;
    let text = std::fs::read_to_string(dir.join("out/ledger.json")).expect("ledger");
    let ledger: Value = serde_json::from_str(&text).expect("ledger json");
    let first_answer = ledger
        .as_array()
        .expect("ledger is a list")
        .iter()
        .filter(|e| e["tenant"] == "globex" && e["kind"] == "upgrade_ordering")
        .filter(|e| e["digest"] != "none" && e["outcome"] != "held")
        .filter_map(|e| e["at"].as_i64())
        .find(|at| *at >= fixed_at)
        .expect("the fixed module decided");
    let waited = first_answer - fixed_at;
    assert!(
        (0..=5).contains(&waited),
        "the fixed module was first asked {waited} s after it was published"
    );
    let globex = exit
        .summary
        .tenants
        .iter()
        .find(|t| t.tenant == "globex")
        .expect("globex");
    assert_eq!(globex.upgraded, globex.requested, "{globex:?}");
}
