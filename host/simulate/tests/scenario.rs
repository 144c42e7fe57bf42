//! Scenario parsing: valid files load; invalid ones fail naming the line and column.

use std::path::{Path, PathBuf};

use fleetward_simulate::scenario::{Action, ScenarioError, parse_str};

fn modules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios")
}

const VALID: &str = r#"
name: tiny
start: 2026-01-05T00:00:00Z
duration: 2d
infra:
  workloadReady: 20s
  machineReady: 1m
tenants:
  - name: acme
    failureMode: Hold
    policies:
      upgradeOrdering:
        module: modules/trapping-upgrade-ordering.wat
        config: {waves: [canary]}
seeds:
  - name: eu-1
    region: eu-west
    capacity: 10
    minVersion: "1.30"
    maxVersion: "1.33"
clusters:
  - tenant: acme
    name: prod-{n}
    count: 3
    version: 1.31.0
    labels: {env: prod}
timeline:
  - at: T+2h
    setVersion: {tenant: acme, selector: {env: prod}, version: 1.32.0}
  - at: T+1h
    breakWorkload: {cluster: prod-2, workload: etcd}
  - at: 2026-01-05T03:00:00Z
    seedDown: {seed: eu-1}
"#;

#[test]
fn valid_scenario_loads_with_defaults_and_sorted_timeline() {
    let s = parse_str(VALID, "tiny.yaml", &modules_dir()).expect("valid scenario");
    assert_eq!(s.clusters.len(), 3);
    assert_eq!(s.clusters[1].id.to_string(), "tenant-acme/prod-2");
    assert_eq!(s.infra.workload_ready, 20);
    assert_eq!(s.infra.machine_ready, 60);
    assert_eq!(s.infra.machine_delete, 10);
    assert_eq!(s.duration, 2 * 86_400);
    // Sorted by time, not file order.
    assert!(matches!(s.timeline[0].action, Action::BreakWorkload { .. }));
    assert!(matches!(s.timeline[1].action, Action::SetVersion { .. }));
    assert_eq!(s.timeline[2].at.0 - s.start.0, 3 * 3600);
    let binding = &s.tenants[0].policies.values().next().expect("one binding");
    assert!(binding.module.digest.starts_with("sha256:"));
    assert_eq!(
        binding.module.bytes[..4],
        *b"\0asm",
        "WAT compiled to a binary module"
    );
}

fn error_of(yaml: &str) -> ScenarioError {
    match parse_str(yaml, "bad.yaml", &modules_dir()) {
        Ok(_) => panic!("scenario should be rejected:\n{yaml}"),
        Err(e) => e,
    }
}

/// Replaces `from` by `to` once in VALID and returns the line (1-based) of the change.
fn mutate(from: &str, to: &str) -> (String, u64) {
    let pos = VALID
        .find(from)
        .unwrap_or_else(|| panic!("{from} not in VALID"));
    let line = VALID[..pos].matches('\n').count() as u64 + 1;
    (VALID.replacen(from, to, 1), line)
}

#[test]
fn semantic_errors_name_line_and_column() {
    let cases = [
        (
            "version: 1.31.0",
            "version: one.two",
            "invalid Kubernetes version",
        ),
        ("at: T+2h", "at: T+2 hours", "invalid duration"),
        ("at: T+2h", "at: next monday", "invalid time"),
        ("duration: 2d", "duration: 2 days", "invalid duration"),
        ("cluster: prod-2", "cluster: prod-9", "unknown cluster"),
        ("seed: eu-1}", "seed: us-1}", "unknown seed"),
        (
            "failureMode: Hold",
            "failureMode: Maybe",
            "unknown failureMode",
        ),
        (
            "module: modules/trapping-upgrade-ordering.wat",
            "module: modules/missing.wasm",
            "cannot read module",
        ),
        (
            "module: modules/trapping-upgrade-ordering.wat",
            "module: builtin:nope",
            "unknown builtin",
        ),
        (
            "upgradeOrdering:",
            "upgradeOrdrng:",
            "unknown decision kind",
        ),
        ("at: T+1h", "at: T+5d", "outside the run"),
        (
            "tenant: acme\n    name",
            "tenant: acne\n    name",
            "unknown tenant",
        ),
    ];
    for (from, to, expected) in cases {
        let (yaml, line) = mutate(from, to);
        let err = error_of(&yaml);
        let msg = err.to_string();
        assert!(msg.contains(expected), "{to}: {msg}");
        let (l, c) = err.line_column().expect("has a location");
        // Either the line of the value itself or of its key (for nested map values).
        assert!(
            l == line || l == line + 1,
            "{to}: expected line {line}, got {l}: {msg}"
        );
        assert!(c >= 1, "{to}: column {c}");
        assert!(msg.starts_with(&format!("bad.yaml:{l}:{c}: ")), "{msg}");
    }
}

#[test]
fn syntax_and_shape_errors_name_the_line() {
    // An unknown field.
    let (yaml, line) = mutate("capacity: 10", "capacty: 10");
    let err = error_of(&yaml);
    assert!(matches!(err, ScenarioError::Syntax { .. }), "{err}");
    assert_eq!(err.line_column().map(|x| x.0), Some(line), "{err}");
    assert!(err.to_string().contains("capacty"), "{err}");
    eprintln!("sample syntax error: {err}");
    // Broken YAML (unclosed flow mapping).
    let (yaml, line) = mutate("{env: prod}\n", "{env: prod\n");
    let err = error_of(&yaml);
    let (l, _) = err.line_column().expect("location");
    assert!(l >= line, "{err}");
    // A wrong type.
    let (yaml, line) = mutate("count: 3", "count: many");
    let err = error_of(&yaml);
    assert_eq!(err.line_column().map(|x| x.0), Some(line), "{err}");
}

#[test]
fn timeline_entry_needs_exactly_one_action() {
    let (yaml, line) = mutate(
        "    breakWorkload: {cluster: prod-2, workload: etcd}",
        "    breakWorkload: {cluster: prod-2, workload: etcd}\n    seedUp: {seed: eu-1}",
    );
    let err = error_of(&yaml);
    assert!(err.to_string().contains("exactly one action"), "{err}");
    // The entry starts on the `at:` line just above.
    assert_eq!(err.line_column().map(|x| x.0), Some(line - 1), "{err}");
}

#[test]
fn every_example_scenario_loads() {
    let mut n = 0;
    for entry in std::fs::read_dir(modules_dir()).expect("examples/scenarios") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let s = fleetward_simulate::scenario::load(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                !s.clusters.is_empty() && !s.timeline.is_empty(),
                "{}",
                path.display()
            );
            n += 1;
        }
    }
    assert!(n >= 3, "found {n} example scenarios");
}

#[test]
fn rollout_example_has_thirty_clusters_in_three_tenants() {
    let s = fleetward_simulate::scenario::load(&modules_dir().join("rollout.yaml")).expect("loads");
    assert_eq!((s.clusters.len(), s.tenants.len()), (30, 3));
}

#[test]
fn seed_api_outages_parse_with_an_implied_end_and_need_seed_topology() {
    use fleetward_simulate::scenario::{ApiOutage, Topology};
    let with = |topology: &str, timeline: &str| {
        let text = VALID.replace("timeline:\n", &format!("{topology}timeline:\n{timeline}"));
        parse_str(&text, "tiny.yaml", &modules_dir())
    };
    let s = with(
        "",
        "  - at: T+4h\n    seedApiSlow: {seed: eu-1, delay: 2s, for: 30m}\n  - at: T+5h\n    seedApiErrors: {seed: eu-1}\n  - at: T+6h\n    seedApiUp: {seed: eu-1}\n",
    )
    .expect("valid");
    assert_eq!(s.topology, Topology::Seeds);
    let api: Vec<(i64, String)> = s
        .timeline
        .iter()
        .filter(|e| matches!(e.action, Action::SeedApi { .. } | Action::SeedApiUp { .. }))
        .map(|e| ((e.at.0 - s.start.0) / 60, e.action.describe()))
        .collect();
    assert_eq!(
        api,
        [
            (240, "seed eu-1's API server turns slow 2s".to_string()),
            (270, "seed eu-1's API server answers again".to_string()),
            (
                300,
                "seed eu-1's API server answers every request with 500".to_string()
            ),
            (360, "seed eu-1's API server answers again".to_string()),
        ]
    );
    assert!(s.timeline.iter().any(|e| matches!(
        e.action,
        Action::SeedApi {
            outage: ApiOutage::Slow { delay_ms: 2000 },
            ..
        }
    )));
    // Each mistake names its line.
    for (topology, timeline, needle) in [
        (
            "",
            "  - at: T+4h\n    seedApiHang: {seed: us-9}\n",
            "unknown seed",
        ),
        (
            "topology: single\n",
            "  - at: T+4h\n    seedApiDown: {seed: eu-1}\n",
            "topology: single",
        ),
        (
            "",
            "  - at: T+4h\n    seedApiSlow: {seed: eu-1}\n",
            "needs a delay",
        ),
        (
            "",
            "  - at: T+4h\n    seedApiErrors: {seed: eu-1, code: 418}\n",
            "unsupported code",
        ),
        (
            "",
            "  - at: T+47h\n    seedApiDown: {seed: eu-1, for: 2h}\n",
            "within the run",
        ),
        ("topology: mesh\n", "", "unknown topology"),
    ] {
        let e = with(topology, timeline).expect_err(needle);
        assert!(e.to_string().contains(needle), "{needle}: {e}");
        assert!(e.line_column().is_some_and(|(l, _)| l > 0), "{e}");
    }
    let single = with("topology: single\n", "").expect("valid");
    assert_eq!(single.topology, Topology::Single);
}

/// VALID plus one timeline entry (appended last); returns the YAML and the entry's line.
fn with_entry(entry: &str) -> (String, u64) {
    let line = VALID.matches('\n').count() as u64 + 1;
    (format!("{VALID}  - at: T+3h\n    {entry}\n"), line)
}

#[test]
fn rollout_control_actions_parse_with_their_defaults() {
    let entries = [
        "pauseRollout: {tenant: acme, reason: incident INC-7, by: alice}",
        "pauseRollout: {tenant: acme}",
        "resumeRollout: {tenant: acme}",
        "pauseCluster: {cluster: prod-1}",
        "resumeCluster: {cluster: acme/prod-1}",
        "approve: {tenant: acme, gate: prod, by: dana, comment: staging looked fine}",
        "abortRollout: {tenant: acme, by: carol, reason: bad release}",
        "signal: {cluster: prod-2, name: SLOBurn, firing: true, message: burn rate 14x}",
        "signal: {cluster: prod-2, name: SLOBurn, firing: false}",
    ];
    let mut yaml = VALID.to_string();
    for (i, e) in entries.iter().enumerate() {
        yaml.push_str(&format!("  - at: T+{}h\n    {e}\n", 10 + i));
    }
    let s = parse_str(&yaml, "ok.yaml", &modules_dir()).expect("valid");
    let actions: Vec<&Action> = s.timeline[3..].iter().map(|e| &e.action).collect();
    match actions[0] {
        Action::PauseRollout { tenant, reason, by } => {
            assert_eq!(
                (tenant.as_str(), reason.as_str(), by.as_str()),
                ("acme", "incident INC-7", "alice")
            );
        }
        other => panic!("{other:?}"),
    }
    match actions[1] {
        Action::PauseRollout { reason, by, .. } => {
            assert_eq!((reason.as_str(), by.as_str()), ("", "operator"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(actions[2], Action::ResumeRollout { tenant } if tenant == "acme"));
    assert!(
        matches!(actions[3], Action::PauseCluster { cluster } if cluster.to_string() == "tenant-acme/prod-1")
    );
    assert!(
        matches!(actions[4], Action::ResumeCluster { cluster } if cluster.to_string() == "tenant-acme/prod-1")
    );
    match actions[5] {
        Action::Approve {
            tenant,
            gate,
            by,
            namespace,
            comment,
        } => {
            assert_eq!(
                (
                    tenant.as_str(),
                    gate.as_str(),
                    by.as_str(),
                    namespace.as_str(),
                    comment.as_str()
                ),
                ("acme", "prod", "dana", "tenant-acme", "staging looked fine")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(actions[6], Action::AbortRollout { by, reason, .. } if by == "carol" && reason == "bad release")
    );
    match actions[7] {
        Action::Signal {
            cluster,
            name,
            firing,
            reason,
            message,
        } => {
            assert_eq!(cluster.to_string(), "tenant-acme/prod-2");
            assert_eq!(
                (name.as_str(), *firing, reason.as_str(), message.as_str()),
                ("SLOBurn", true, "Firing", "burn rate 14x")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(actions[8], Action::Signal { firing: false, reason, .. } if reason == "Resolved")
    );
    // Each says what happened, for the events list.
    assert_eq!(
        actions[0].describe(),
        "alice pauses tenant acme's rollout: incident INC-7"
    );
    assert_eq!(
        actions[5].describe(),
        "dana approves gate prod of tenant acme"
    );
    assert_eq!(
        actions[7].describe(),
        "signal SLOBurn fires on tenant-acme/prod-2"
    );
}

#[test]
fn bad_rollout_control_actions_name_the_line_and_field() {
    let cases = [
        ("pauseRollout: {tenant: acne}", "unknown tenant \"acne\""),
        (
            "resumeRollout: {tenant: globex}",
            "unknown tenant \"globex\"",
        ),
        (
            "abortRollout: {tenant: nope, by: carol}",
            "unknown tenant \"nope\"",
        ),
        (
            "approve: {tenant: nobody, gate: prod, by: dana}",
            "unknown tenant \"nobody\"",
        ),
        (
            "pauseCluster: {cluster: prod-9}",
            "unknown cluster \"prod-9\"",
        ),
        ("resumeCluster: {cluster: other/prod-1}", "unknown cluster"),
        (
            "signal: {cluster: prod-7, name: SLOBurn, firing: true}",
            "unknown cluster \"prod-7\"",
        ),
        (
            "approve: {tenant: acme, gate: Prod_Gate, by: dana}",
            "approve.gate \"Prod_Gate\" is not a gate name",
        ),
        (
            "approve: {tenant: acme, gate: prod, by: \"  \"}",
            "approve.by must name who acts",
        ),
        (
            "approve: {tenant: acme, gate: prod, by: dana, namespace: tenant-zzz}",
            "approve.namespace \"tenant-zzz\" does not exist",
        ),
        (
            "abortRollout: {tenant: acme, by: \"\"}",
            "abortRollout.by must name who acts",
        ),
        (
            "signal: {cluster: prod-2, name: \"slo burn\", firing: true}",
            "signal.name \"slo burn\" is not a signal name",
        ),
        (
            "signal: {cluster: prod-2, name: SLOBurn, firing: true, reason: \"burning!\"}",
            "signal.reason \"burning!\" is not a condition reason",
        ),
    ];
    for (entry, expected) in cases {
        let (yaml, line) = with_entry(entry);
        let err = error_of(&yaml);
        let msg = err.to_string();
        assert!(msg.contains(expected), "{entry}: {msg}");
        let (l, _) = err.line_column().expect("has a location");
        assert_eq!(l, line + 1, "{entry}: {msg}");
        assert!(
            matches!(err, ScenarioError::Invalid { .. }),
            "{entry}: {msg}"
        );
    }
    // Shape errors: a missing required field, an unknown field, a wrong type.
    for (entry, expected) in [
        ("abortRollout: {tenant: acme}", "by"),
        ("approve: {tenant: acme, by: dana}", "gate"),
        ("pauseRollout: {tenant: acme, why: incident}", "why"),
        (
            "signal: {cluster: prod-2, name: SLOBurn, firing: maybe}",
            "invalid boolean",
        ),
        ("signal: {cluster: prod-2, name: SLOBurn}", "firing"),
    ] {
        let (yaml, line) = with_entry(entry);
        let err = error_of(&yaml);
        assert!(
            matches!(err, ScenarioError::Syntax { .. }),
            "{entry}: {err}"
        );
        assert!(err.to_string().contains(expected), "{entry}: {err}");
        assert!(
            err.line_column().map(|x| x.0) >= Some(line),
            "{entry}: {err}"
        );
    }
    // A cluster action on a cluster deleted earlier is rejected with the entry's line.
    let yaml = format!(
        "{VALID}  - at: T+3h\n    deleteCluster: {{tenant: acme, name: prod-3}}\n  - at: T+4h\n    signal: {{cluster: prod-3, name: SLOBurn, firing: true}}\n"
    );
    let err = error_of(&yaml);
    assert!(err.to_string().contains("does not exist at T+4h"), "{err}");
}
