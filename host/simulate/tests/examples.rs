//! The shipped example scenarios (`examples/scenarios/`) do what their headers promise: each
//! tenant's rules are visibly at work in the recording, and a run repeats byte for byte.
//!
//! These run the real controller on the emulator for a simulated week; the rollout test is the
//! slowest in the workspace (two runs, about a minute in a dev build).
//!
//! Each run's five report files must also hash to the sha256 recorded in
//! `data/expected-reports.txt`: refactors of the controller, engine or simulation must not change
//! one byte of what the examples report. A deliberate behaviour change updates that file (the
//! failure message prints the new lines) in the same commit, so the change is reviewed.

use std::path::{Path, PathBuf};

mod common;

use common::{out_dir, report_files};
use fleetward_simulate::SimulationExit;
use fleetward_simulate::rollout_spans::RolloutSpanKind;
use fleetward_simulate::summary::TenantSummary;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scenarios")
        .join(name)
}

fn simulate(scenario: &str, out: &Path) -> SimulationExit {
    common::simulate_file(&example(scenario), out)
}

/// `data/expected-reports.txt`: lines `SCENARIO FILE SHA256`, `#` comments.
const EXPECTED: &str = include_str!("data/expected-reports.txt");

/// The report files of `scenario`'s run in `dir` hash to the committed expectations.
fn assert_reports_unchanged(scenario: &str, dir: &Path) {
    let actual: Vec<String> = report_files(dir)
        .iter()
        .map(|(file, bytes)| format!("{scenario} {file} {}", hex::encode(Sha256::digest(bytes))))
        .collect();
    let expected: Vec<&str> = EXPECTED
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(scenario))
        .collect();
    assert!(
        actual
            .iter()
            .map(String::as_str)
            .eq(expected.iter().copied()),
        "{scenario}: report files differ from host/simulate/tests/data/expected-reports.txt \
         (a behaviour change; if intended, replace its {scenario} lines with):\n{}\nin {}",
        actual.join("\n"),
        dir.display()
    );
}

/// `decisions.jsonl` repeats byte for byte, and holds every decision the ledger shows: each line
/// a record numbered from 1, with the input its module read (an envelope of its kind) and no
/// wall-clock duration.
fn assert_decision_log(a: &Path, b: &Path) {
    use fleetward_controller::decision_log::{LogLine, read_lines};
    let bytes = std::fs::read(a.join("decisions.jsonl")).expect("decisions.jsonl");
    assert!(
        bytes == std::fs::read(b.join("decisions.jsonl")).unwrap(),
        "decisions.jsonl differs between two runs ({} and {})",
        a.display(),
        b.display()
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut n = 0;
    for line in read_lines(&bytes[..]) {
        let LogLine::Decision(d) = line.expect("every line reads") else {
            panic!("simulate drops nothing")
        };
        n += 1;
        assert_eq!(d.seq, n);
        assert!(d.duration_us.is_none(), "virtual time has no durations");
        let (call, tenant, now) = envelope_of(d.kind, d.input.get());
        assert_eq!(call, d.kind.into());
        assert_eq!(tenant, d.tenant);
        assert_eq!(now, d.time);
        assert!(!d.outcomes.is_empty());
        for o in &d.outcomes {
            seen.insert((
                d.tenant.clone(),
                d.kind.as_str().to_string(),
                o.outcome.clone(),
            ));
        }
    }
    // Every (tenant, kind, outcome) of the ledger (which keeps only answers that changed) is in
    // the log; except the host's own entries that asked no module (no digest: a paused or
    // aborted rollout, where "the policy is not asked"), which have no input to log.
    let ledger = json(a, "ledger.json");
    for e in ledger.as_array().expect("ledger is a list") {
        if e["digest"].as_str().is_some_and(str::is_empty) {
            continue;
        }
        let key = (
            e["tenant"].as_str().unwrap().to_string(),
            e["kind"].as_str().unwrap().to_string(),
            e["outcome"].as_str().unwrap().to_string(),
        );
        assert!(seen.contains(&key), "{key:?} in the ledger, not in the log");
    }
    assert!(
        n as usize >= ledger.as_array().unwrap().len() / 4,
        "{n} records"
    );
}

/// The call, tenant and time of an input that parses as the envelope of `kind`'s request.
fn envelope_of(
    kind: fleetward_sdk::wire::DecisionKind,
    text: &str,
) -> (
    fleetward_sdk::wire::CallKind,
    String,
    fleetward_sdk::wire::Timestamp,
) {
    use fleetward_sdk::wire::{
        DecisionKind, InputEnvelope, PlacementRequest, RemediationRequest, UpgradeRequest,
    };
    fn parse<R: serde::de::DeserializeOwned>(text: &str) -> InputEnvelope<R> {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not an envelope ({e}): {text}"))
    }
    match kind {
        DecisionKind::Placement => {
            let e = parse::<PlacementRequest>(text);
            (e.decision, e.tenant, e.now)
        }
        DecisionKind::UpgradeOrdering => {
            let e = parse::<UpgradeRequest>(text);
            (e.decision, e.tenant, e.now)
        }
        DecisionKind::Remediation => {
            let e = parse::<RemediationRequest>(text);
            (e.decision, e.tenant, e.now)
        }
    }
}

fn json(dir: &Path, file: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(file)).expect(file);
    serde_json::from_str(&text).expect(file)
}

fn tenant<'a>(exit: &'a SimulationExit, name: &str) -> &'a TenantSummary {
    exit.summary
        .tenants
        .iter()
        .find(|t| t.tenant == name)
        .unwrap_or_else(|| panic!("tenant {name} in summary"))
}

/// One cluster's recorded timeline.
struct Track<'a>(&'a Value);

impl Track<'_> {
    fn name(&self) -> &str {
        self.0["id"]["name"].as_str().unwrap_or_default()
    }
    fn tenant(&self) -> &str {
        self.0["tenant"].as_str().unwrap_or_default()
    }
    fn seed(&self) -> &str {
        self.0["seed"].as_str().unwrap_or_default()
    }
    /// When its first upgrade step (control plane) started.
    fn upgrade_start(&self) -> i64 {
        self.spans("control_plane")
            .first()
            .map(|s| s["start"].as_i64().unwrap_or_default())
            .unwrap_or_else(|| panic!("{} has no control-plane span", self.name()))
    }
    fn completed(&self) -> i64 {
        self.0["completed_at"]
            .as_i64()
            .unwrap_or_else(|| panic!("{} never completed", self.name()))
    }
    fn spans(&self, kind: &str) -> Vec<&Value> {
        self.0["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["kind"]["kind"] == kind)
            .collect()
    }
}

fn tracks(spans: &Value) -> Vec<Track<'_>> {
    spans
        .as_array()
        .expect("spans.json is a list")
        .iter()
        .map(Track)
        .collect()
}

#[test]
fn rollout_shows_each_tenants_rules_and_repeats_byte_for_byte() {
    let (a, b) = (out_dir("ex-rollout-a"), out_dir("ex-rollout-b"));
    let exit = simulate("rollout.yaml", &a);
    simulate("rollout.yaml", &b);
    assert_reports_unchanged("rollout.yaml", &a);
    for ((name, x), (_, y)) in report_files(&a).iter().zip(report_files(&b).iter()) {
        assert!(x == y, "{name} differs between two runs of rollout.yaml");
    }
    assert_decision_log(&a, &b);
    for t in &exit.summary.tenants {
        assert_eq!((t.upgraded, t.requested), (10, 10), "{}", t.tenant);
        // The reference policy breaks no invariant: a step held back by a cap waits, it is not
        // a veto (issue 15: 2,508 "vetoes" for a well-behaved fleet were all cap back-pressure).
        assert_eq!(t.vetoes, 0, "{t:?}");
    }
    let spans = json(&a, "spans.json");
    let all = tracks(&spans);
    // No step completes faster than the infrastructure can roll it (rollout.yaml: a control-plane
    // workload takes 45 s, a new Machine 3 min). A one-Machine pool once counted as done the
    // moment its surge Machine existed.
    for t in &all {
        for (kind, least) in [("control_plane", 45), ("pool", 180)] {
            for s in t.spans(kind) {
                let took =
                    s["end"].as_i64().unwrap_or_default() - s["start"].as_i64().unwrap_or_default();
                assert!(
                    took >= least,
                    "{}/{} {kind} step took {took} s (< {least} s): {}",
                    t.tenant(),
                    t.name(),
                    s["label"]
                );
            }
        }
    }
    let of = |tenant: &str, prefix: &str| -> Vec<&Track<'_>> {
        all.iter()
            .filter(|t| t.tenant() == tenant && t.name().starts_with(prefix))
            .collect()
    };

    // acme: canary first, then dev → staging → prod, each wave after the previous one has
    // finished and baked for two hours.
    let bake = 120 * 60;
    let canary = of("acme", "canary");
    let waves = [
        canary,
        of("acme", "dev-"),
        of("acme", "staging-"),
        of("acme", "prod-"),
    ];
    for pair in waves.windows(2) {
        let done = pair[0].iter().map(|t| t.completed()).max().expect("wave");
        for t in &pair[1] {
            assert!(
                t.upgrade_start() >= done + bake,
                "acme {} started {} s after the previous wave finished (bake {bake} s)",
                t.name(),
                t.upgrade_start() - done
            );
        }
    }
    assert_eq!(tenant(&exit, "acme").waves, 4);
    // The chart lists a tenant's clusters in the order their upgrades began (a staircase).
    let html = std::fs::read_to_string(a.join("report.html")).expect("report.html");
    let row = |id: &str| {
        html.find(&format!(r#"data-cluster="{id}""#))
            .unwrap_or_else(|| panic!("row {id}"))
    };
    assert!(row("tenant-acme/canary") < row("tenant-acme/dev-1"));
    assert!(row("tenant-acme/dev-3") < row("tenant-acme/staging-1"));
    assert!(row("tenant-acme/staging-3") < row("tenant-acme/prod-1"));

    // globex: staging at once, prod only inside the weekend window (Sat/Sun 01:00-05:00 UTC).
    for t in of("globex", "prod-") {
        let start = t.upgrade_start();
        let weekday = (start.div_euclid(86_400) + 4) % 7; // 1970-01-01 was a Thursday (4)
        let minute_of_day = start.rem_euclid(86_400) / 60;
        assert!(
            (weekday == 6 || weekday == 0) && (60..300).contains(&minute_of_day),
            "globex {} started outside its window (weekday {weekday}, minute {minute_of_day})",
            t.name()
        );
    }
    for t in of("globex", "staging-") {
        let requested = t.0["requested_at"].as_i64().expect("requested_at");
        assert!(
            t.completed() - requested < 6 * 3600,
            "globex {} (staging) waited {} s: only prod waits for the weekend",
            t.name(),
            t.completed() - requested
        );
    }

    // initech: every control plane on an EU seed.
    for t in of("initech", "app-") {
        assert!(
            ["eu-1", "eu-2"].contains(&t.seed()),
            "initech {} placed on {}",
            t.name(),
            t.seed()
        );
    }
}

#[test]
fn remediation_storm_is_recognised_as_a_seed_fault() {
    let dir = out_dir("ex-storm");
    let exit = simulate("remediation-storm.yaml", &dir);
    assert_reports_unchanged("remediation-storm.yaml", &dir);
    // The eight control planes on the dark seed are not remediated one by one ...
    assert_eq!(tenant(&exit, "acme").remediations, 0);
    // ... while the unrelated etcd failure and the broken machine on eu-2 are.
    let ledger = json(&dir, "ledger.json");
    let acted: Vec<String> = ledger
        .as_array()
        .expect("ledger is a list")
        .iter()
        .filter(|e| e["kind"] == "remediation")
        .map(|e| format!("{} {}", e["clusters"][0], e["output_json"]))
        .collect();
    assert!(
        acted
            .iter()
            .any(|a| a.contains("globex/web-2") && a.contains("restart_component")),
        "{acted:#?}"
    );
    assert!(
        acted
            .iter()
            .any(|a| a.contains("globex/web-3") && a.contains("recreate_machine")),
        "{acted:#?}"
    );
    assert!(
        acted.iter().all(|a| !a.contains("tenant-acme/")),
        "{acted:#?}"
    );
    // The broken machine's fault ends when remediation replaces it, not at the end of the run.
    let spans = json(&dir, "spans.json");
    let web3 = tracks(&spans)
        .into_iter()
        .find(|t| t.tenant() == "globex" && t.name() == "web-3")
        .expect("web-3");
    let fault = web3.spans("fault");
    assert_eq!(fault.len(), 1, "{fault:?}");
    assert_eq!(fault[0]["closed"], true, "{fault:?}");
    let lasted = fault[0]["end"].as_i64().unwrap_or_default()
        - fault[0]["start"].as_i64().unwrap_or_default();
    assert!((1..600).contains(&lasted), "fault lasted {lasted} s");
}

#[test]
fn trapping_policy_falls_back_or_holds_per_tenant() {
    let dir = out_dir("ex-trap");
    let exit = simulate("trapping-policy.yaml", &dir);
    let (acme, globex, initech) = (
        tenant(&exit, "acme"),
        tenant(&exit, "globex"),
        tenant(&exit, "initech"),
    );
    // Fallback: the built-in ordering takes over and the rollout completes.
    assert!(
        acme.policy_errors > 0 && acme.fallbacks == acme.policy_errors,
        "{acme:?}"
    );
    assert_eq!(acme.upgraded, acme.requested);
    // Hold: nothing moves, and the holds say why.
    assert!(
        globex.policy_errors > 0 && globex.fallbacks == 0,
        "{globex:?}"
    );
    assert_eq!(globex.upgraded, 0);
    assert!(globex.holds > 0);
    // A neighbour's broken module changes nothing for initech.
    assert_eq!((initech.policy_errors, initech.fallbacks), (0, 0));
    assert_eq!(initech.upgraded, initech.requested);
    // Neither the reference policy nor the built-in fallback breaks an invariant.
    for t in [acme, globex, initech] {
        assert_eq!(t.vetoes, 0, "{t:?}");
    }
    // The controller's PolicyDegraded condition shows, with its reason, in the summary (stdout
    // and summary.json), in conditions.json and in the report: for both trapping tenants, never
    // for initech.
    let degraded = |t: &str| {
        exit.summary
            .conditions
            .iter()
            .find(|e| e.subject == format!("tenant {t}") && e.condition == "PolicyDegraded")
            .cloned()
    };
    let g = degraded("globex").expect("globex PolicyDegraded episode");
    assert_eq!(g.status, "True");
    assert!(
        !g.reasons.is_empty() && g.reasons.iter().all(|r| !r.is_empty()),
        "{g:?}"
    );
    assert!(g.objects.len() > 1, "{g:?}");
    assert!(degraded("acme").is_some());
    assert!(
        degraded("initech").is_none(),
        "{:?}",
        exit.summary.conditions
    );
    let mut out = Vec::new();
    exit.write_results(&mut out).expect("results");
    let out = String::from_utf8(out).expect("utf-8");
    let line = format!(
        "tenant globex PolicyDegraded=True ({})",
        g.reasons.join(", ")
    );
    assert!(out.contains(&line), "stdout lacks {line:?}:\n{out}");
    let summary = json(&dir, "summary.json");
    assert!(
        summary["conditions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["subject"] == "tenant globex")),
        "{summary}"
    );
    let changes = json(&dir, "conditions.json");
    assert!(
        changes
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c["type"] == "PolicyDegraded"
                && c["tenant"] == "globex"
                && c["status"] == "True"
                && c["reason"] == g.reasons[0].as_str())),
        "{changes}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(html.contains("<h2>Conditions</h2>") && html.contains(&g.reasons[0]));
    assert_reports_unchanged("trapping-policy.yaml", &dir);
}

/// seed-api-outage.yaml: eu-1's API hangs (T+1h05m..T+1h25m), then answers 500
/// (..T+1h50m) while both tenants roll out 1.32 from T+1h.
#[test]
fn seed_api_outage_stops_only_that_seed_and_repeats_byte_for_byte() {
    let (a, b) = (out_dir("ex-seedapi-a"), out_dir("ex-seedapi-b"));
    let exit = simulate("seed-api-outage.yaml", &a);
    simulate("seed-api-outage.yaml", &b);
    for ((name, x), (_, y)) in report_files(&a).iter().zip(report_files(&b).iter()) {
        assert!(
            x == y,
            "{name} differs between two runs of seed-api-outage.yaml"
        );
    }
    let t0 = exit.start;
    let (out_from, out_to) = (t0 + 3600 + 5 * 60, t0 + 3600 + 50 * 60);
    let spans = json(&a, "spans.json");
    let all = tracks(&spans);
    // Every cluster reaches 1.32, none is remediated for the seed's API being gone.
    for t in &exit.summary.tenants {
        assert_eq!((t.upgraded, t.requested), (6, 6), "{}", t.tenant);
        assert_eq!(t.remediations, 0, "{}", t.tenant);
        // A step on a seed that cannot be worked on waits; it is no breach of the policy's.
        assert_eq!(t.vetoes, 0, "{t:?}");
    }
    // globex (eu-2, us-1) finishes on schedule: during the outage, as if nothing happened.
    let globex: Vec<_> = all.iter().filter(|t| t.tenant() == "globex").collect();
    for t in &globex {
        assert_ne!(t.seed(), "eu-1", "globex {} placed on eu-1", t.name());
        assert!(
            t.completed() < out_to,
            "globex {} completed {} s after the eu-1 outage ended",
            t.name(),
            t.completed() - out_to
        );
    }
    assert!(
        globex
            .iter()
            .any(|t| (out_from..out_to).contains(&t.upgrade_start())),
        "no globex step started while eu-1 was out"
    );
    // acme (all on eu-1): nothing starts or finishes while eu-1's API is out; what was not done
    // when it went out finishes after it returns.
    let acme: Vec<_> = all.iter().filter(|t| t.tenant() == "acme").collect();
    let mut resumed = 0;
    for t in &acme {
        assert_eq!(t.seed(), "eu-1", "acme {}", t.name());
        for kind in ["control_plane", "pool"] {
            for s in t.spans(kind) {
                let start = s["start"].as_i64().unwrap_or_default();
                assert!(
                    !(out_from + 1..out_to).contains(&start),
                    "acme {} started a {kind} step at +{} s, while eu-1 was out",
                    t.name(),
                    start - t0
                );
            }
        }
        assert!(
            !(out_from + 1..out_to).contains(&t.completed()),
            "acme {} completed while eu-1 was out",
            t.name()
        );
        if t.completed() >= out_to {
            resumed += 1;
        }
    }
    assert!(resumed >= 2, "only {resumed} acme clusters waited for eu-1");
    // The report shows each seed: server, clusters, outages, Ready as the controller saw it.
    let seeds = &exit.summary.seeds;
    assert_eq!(
        seeds.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["eu-1", "eu-2", "us-1"]
    );
    let eu1 = &seeds[0];
    assert_eq!(eu1.server, "https://eu-1.seeds.simulate:6443");
    assert_eq!(eu1.clusters.len(), 6);
    let outages: Vec<(&str, i64, i64)> = eu1
        .outages
        .iter()
        .map(|o| (o.kind.as_str(), o.start - t0, o.end - t0))
        .collect();
    assert_eq!(
        outages,
        [("hang", 3900, 5100), ("errors 500", 5100, 6600)],
        "{eu1:?}"
    );
    let unreachable = eu1
        .ready
        .iter()
        .find(|c| c.status == "False")
        .unwrap_or_else(|| panic!("eu-1 never Ready=False: {eu1:?}"));
    assert_eq!(unreachable.reason, "SeedUnreachable");
    assert!((out_from..out_to).contains(&unreachable.at), "{eu1:?}");
    let last = eu1.ready.last().expect("eu-1 Ready");
    assert!(last.status == "True" && last.at >= out_to, "{eu1:?}");
    for other in &seeds[1..] {
        assert!(other.outages.is_empty());
        assert!(other.ready.iter().all(|c| c.status == "True"), "{other:?}");
        assert!(other.writes > 0, "{other:?}");
    }
    let html = std::fs::read_to_string(a.join("report.html")).expect("report.html");
    for seed in ["eu-1", "eu-2", "us-1"] {
        assert!(
            html.contains(&format!(r#"data-seed="{seed}""#)),
            "{seed} row"
        );
    }
    assert!(html.contains("SeedUnreachable"));
    // The seed fault in the condition episodes: eu-1 Ready=False and its clusters
    // SeedReachable=False, both inside the outage and cleared after it; nothing for the others.
    let episode = |condition: &str| {
        exit.summary
            .conditions
            .iter()
            .find(|e| e.subject == "seed eu-1" && e.condition == condition)
            .unwrap_or_else(|| panic!("no eu-1 {condition} episode: {:?}", exit.summary.conditions))
    };
    let ready = episode("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reasons[0].as_str()),
        ("False", "SeedUnreachable")
    );
    let reachable = episode("SeedReachable");
    assert_eq!(reachable.status, "False");
    assert!(reachable.objects.len() > 1, "{reachable:?}");
    for e in [ready, reachable] {
        assert!((out_from..out_to).contains(&e.start), "{e:?}");
        assert!(e.end.is_some_and(|end| end >= out_to), "{e:?}");
    }
    assert!(
        exit.summary
            .conditions
            .iter()
            .all(|e| e.subject == "seed eu-1"),
        "{:?}",
        exit.summary.conditions
    );
    let mut out = Vec::new();
    exit.write_results(&mut out).expect("results");
    let out = String::from_utf8(out).expect("utf-8");
    assert!(
        out.contains("seed eu-1 Ready=False (SeedUnreachable)"),
        "{out}"
    );
    assert_reports_unchanged("seed-api-outage.yaml", &a);
}

/// invariant-attack.yaml: mallory's policy answers every plan with illegal steps for all its 90
/// clusters, different ones each call; acme rolls out beside it with the reference policy.
/// Every illegal step is vetoed, and the churn does not turn into writes: a veto that repeats
/// is not news (issue 15: 23,164 ManagedCluster writes for 106 clusters in ~5 simulated minutes
/// before), so mallory's clusters cost no more writes than acme's, which really upgraded.
#[test]
fn an_invariant_attack_is_vetoed_and_costs_a_few_writes_per_cluster() {
    let started = std::time::Instant::now();
    let dir = out_dir("ex-attack");
    let exit = simulate("invariant-attack.yaml", &dir);
    assert_reports_unchanged("invariant-attack.yaml", &dir);
    let (mallory, acme) = (tenant(&exit, "mallory"), tenant(&exit, "acme"));
    assert_eq!(
        (mallory.requested, mallory.upgraded),
        (90, 0),
        "{mallory:?}"
    );
    assert!(mallory.vetoes > 0, "{mallory:?}");
    assert_eq!((acme.requested, acme.upgraded), (10, 10), "{acme:?}");
    // The reference policy breaks nothing: waiting for a cap is not a veto.
    assert_eq!(acme.vetoes, 0, "{acme:?}");
    let per_cluster = |t: &TenantSummary| t.writes as f64 / t.clusters as f64;
    assert!(
        per_cluster(mallory) <= per_cluster(acme),
        "mallory {} writes for {} clusters, acme (a real upgrade each) {} for {}",
        mallory.writes,
        mallory.clusters,
        acme.writes,
        acme.clusters
    );
    assert!(
        per_cluster(mallory) <= 20.0,
        "{} writes for {} clusters",
        mallory.writes,
        mallory.clusters
    );
    eprintln!(
        "invariant-attack: mallory {} writes / {} clusters, acme {} / {}, {} vetoes, {:.1} s",
        mallory.writes,
        mallory.clusters,
        acme.writes,
        acme.clusters,
        mallory.vetoes,
        started.elapsed().as_secs_f64()
    );
}

/// approval-gate.yaml (issue 11): waves dev → staging → prod with an approval gate before prod,
/// an incident pause in the middle of staging and an SLOBurn alert on prod. Two runs are byte
/// for byte the same; nothing starts while the rollout is paused (the step already running
/// finishes); no prod step starts before dana's approval, and none while the alert fires; the
/// report shows the pause, the wait at the gate and who approved.
#[test]
fn approval_gate_waits_for_the_approver_and_a_pause_stops_new_steps() {
    let (a, b) = (out_dir("ex-gate-a"), out_dir("ex-gate-b"));
    let exit = simulate("approval-gate.yaml", &a);
    simulate("approval-gate.yaml", &b);
    for ((name, x), (_, y)) in report_files(&a).iter().zip(report_files(&b).iter()) {
        assert!(
            x == y,
            "{name} differs between two runs of approval-gate.yaml"
        );
    }
    assert_decision_log(&a, &b);
    assert_eq!(exit.exit_code(), 0, "{:?}", exit.violations);
    let acme = tenant(&exit, "acme");
    assert_eq!((acme.upgraded, acme.requested), (8, 8), "{acme:?}");
    assert_eq!(acme.vetoes, 0, "{acme:?}");

    let t0 = exit.start;
    let at = |h: i64, m: i64| t0 + h * 3600 + m * 60;
    let (pause, resume, approve) = (at(1, 40), at(3, 0), at(6, 0));
    let (fires, clears) = (at(6, 2), at(6, 40));
    let r = &exit.summary.rollouts;

    // The pause: one span from the pause to the resume, by alice, with her reason.
    let paused: Vec<_> = r
        .spans
        .iter()
        .filter(|s| s.kind == RolloutSpanKind::Paused)
        .collect();
    assert_eq!(paused.len(), 1, "{r:#?}");
    assert!(
        paused[0].start >= pause && paused[0].start <= pause + 60,
        "{:?}",
        paused[0]
    );
    assert!(
        paused[0].end >= resume && paused[0].end <= resume + 60,
        "{:?}",
        paused[0]
    );
    assert!(paused[0].closed);
    assert_eq!(paused[0].detail, "alice: incident INC-4711: API latency");

    // The gate: prod waited for approval until dana's approval was accepted.
    let gate: Vec<_> = r
        .spans
        .iter()
        .filter(|s| s.kind == RolloutSpanKind::WaitingForApproval)
        .collect();
    assert_eq!(gate.len(), 1, "{r:#?}");
    assert_eq!(gate[0].gate.as_deref(), Some("prod"));
    assert!(gate[0].start < approve, "{:?}", gate[0]);
    assert!(
        gate[0].end >= approve && gate[0].end <= approve + 60,
        "{:?}",
        gate[0]
    );
    assert!(
        gate[0]
            .clusters
            .iter()
            .all(|c| c.starts_with("tenant-acme/prod-")),
        "{:?}",
        gate[0].clusters
    );
    assert_eq!(r.approvals.len(), 1, "{r:#?}");
    let ok = &r.approvals[0];
    assert_eq!((ok.gate.as_str(), ok.by.as_str()), ("prod", "dana"));
    assert_eq!(ok.approved_at, "2026-01-05T06:00:00Z");
    assert_eq!(ok.approval, "tenant-acme/prod-1");
    assert_eq!(ok.rollout, "1.32.0");
    assert!(r.spans.iter().all(|s| s.kind != RolloutSpanKind::Aborted));

    let spans = json(&a, "spans.json");
    let all = tracks(&spans);
    let starts: Vec<(String, i64)> = all
        .iter()
        .flat_map(|t| {
            t.spans("control_plane")
                .into_iter()
                .chain(t.spans("pool"))
                .map(|s| {
                    (
                        t.name().to_string(),
                        s["start"].as_i64().unwrap_or_default(),
                    )
                })
        })
        .collect();
    // Paused: no step starts.
    for (name, s) in &starts {
        assert!(
            !(pause < *s && *s < resume),
            "{name}: a step started at T+{} s while the rollout was paused",
            s - t0
        );
    }
    // Something was running when the pause came, and it finished (the pause is mid-staging).
    assert!(
        starts
            .iter()
            .any(|(n, s)| n.starts_with("staging-") && *s < pause),
        "staging had begun before the pause"
    );
    assert!(
        starts
            .iter()
            .any(|(n, s)| n.starts_with("staging-") && *s > resume),
        "staging went on after the resume"
    );
    // The gate: no prod step before the approval; the alert: no new step while it fires.
    for t in all.iter().filter(|t| t.name().starts_with("prod-")) {
        assert!(
            t.upgrade_start() >= approve,
            "{} started before approval",
            t.name()
        );
    }
    for (name, s) in &starts {
        let cp_start = all
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.upgrade_start())
            .unwrap_or_default();
        if *s == cp_start {
            assert!(
                !(fires < *s && *s < clears),
                "{name}: a new step started at T+{} s while SLOBurn fired",
                s - t0
            );
        }
    }
    // The report, the terminal and summary.json say the same.
    let html = std::fs::read_to_string(a.join("report.html")).expect("report.html");
    assert!(html.contains("<h2>Rollout control</h2>"));
    assert!(html.contains("waiting for approval <b>prod</b>"));
    assert!(html.contains("<td><b>dana</b></td>"));
    let mut out = Vec::new();
    exit.write_results(&mut out).expect("results");
    let out = String::from_utf8(out).expect("utf-8");
    assert!(
        out.contains("tenant acme gate prod approved by dana"),
        "{out}"
    );
    assert!(out.contains("tenant acme paused T+01:4"), "{out}");
    assert_eq!(
        json(&a, "summary.json")["rollouts"]["approvals"][0]["by"],
        "dana"
    );
    assert_reports_unchanged("approval-gate.yaml", &a);
}
