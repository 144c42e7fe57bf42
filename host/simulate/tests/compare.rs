//! What-if comparison of two runs, and `--policy` argument handling.

mod common;

use common::{ScriptedFleet, run_scripted, small};
use fleetward_simulate::compare::{compare, text};
use fleetward_simulate::{SimulateArgs, summary, write_outputs};

#[test]
fn slower_variant_moves_every_cluster_later_and_reports_it() {
    let s = small();
    let base = run_scripted(&s, ScriptedFleet::new());
    let mut slow = ScriptedFleet::new();
    slow.step_secs = 900;
    let variant = run_scripted(&s, slow);
    let c = compare(&base, &variant, vec!["acme=slow.wasm".into()]);
    assert_eq!(c.moved.len(), 5, "{:?}", c.moved);
    assert_eq!(c.unchanged, 0);
    // prod-1: control plane + 2 pools, 300 s slower each.
    let p1 = c
        .moved
        .iter()
        .find(|d| d.cluster == "tenant-acme/prod-1")
        .expect("prod-1");
    assert_eq!(p1.delta(), Some(900));
    assert_eq!(p1.describe(), "15m later");
    let t = text(&c, base.start);
    assert!(
        t.contains("5 cluster(s) move") && t.contains("15m later"),
        "{t}"
    );
    // Same world both times: the decisions are identical.
    assert!(c.decisions.is_empty(), "{:?}", c.decisions);

    let dir =
        std::env::temp_dir().join(format!("fleetward-simulate-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report =
        write_outputs(&dir, &variant, &summary::summarize(&variant), Some(&c)).expect("written");
    let html = std::fs::read_to_string(report).expect("html");
    assert!(html.contains("What-if: acme=slow.wasm") && html.contains(r#"<table class="moved">"#));
    assert!(dir.join("compare.json").exists());
}

#[test]
fn identical_runs_compare_equal() {
    let s = small();
    let a = run_scripted(&s, ScriptedFleet::new());
    let b = run_scripted(&s, ScriptedFleet::new());
    let c = compare(&a, &b, vec![]);
    assert!(c.moved.is_empty() && c.decisions.is_empty());
    assert_eq!(c.unchanged, 5);
}

#[test]
fn policy_override_arguments() {
    assert_eq!(
        SimulateArgs::parse_override("acme=new.wasm"),
        Ok(("acme".into(), "new.wasm".into()))
    );
    assert_eq!(
        SimulateArgs::parse_override("acme/upgrade_ordering=builtin:upgrade-ordering"),
        Ok((
            "acme/upgrade_ordering".into(),
            "builtin:upgrade-ordering".into()
        ))
    );
    for bad in ["acme", "=x.wasm", "acme="] {
        assert!(SimulateArgs::parse_override(bad).is_err(), "{bad}");
    }
}

#[test]
fn unknown_override_tenant_is_an_error_naming_the_tenants() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios");
    let mut args = SimulateArgs::new(dir.join("trapping-policy.yaml"), std::env::temp_dir());
    args.policy_overrides = vec![(
        "nobody".into(),
        dir.join("modules/trapping-upgrade-ordering.wat"),
    )];
    let mut sink: Vec<u8> = Vec::new();
    let err = fleetward_simulate::run(&args, &mut sink, false).expect_err("unknown tenant");
    let msg = err.to_string();
    assert!(
        msg.contains("unknown tenant \"nobody\"") && msg.contains("acme, globex, initech"),
        "{msg}"
    );
}
