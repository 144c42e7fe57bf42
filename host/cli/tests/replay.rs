//! `fleetward replay` (issue 10 item 2), running the built binary on decision logs.
//!
//! The logs are written here the way the controller writes them: the reference policies
//! (built from source by `fleetward-test-policies`) run in the engine on requests taken from
//! their own fixtures, and each call becomes one `DecisionEntry` with the exact input bytes the
//! engine fed the module (checked against the engine's own `input_sha256`).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fleetward_controller::core::fallback;
use fleetward_controller::decision_log::record::sha256_hex;
use fleetward_controller::decision_log::{
    DecisionEntry, DroppedEntry, FORMAT_VERSION, OutcomeEntry, Role,
};
use fleetward_engine::{Engine, EngineConfig, Limits, TenantPolicy};
use fleetward_sdk::wire::{
    ABI_VERSION, CallKind, DecisionKind, InputEnvelope, RemediationRequest, Timestamp,
};
use serde_json::value::RawValue;
use serde_json::{Value, json};

fn fleetward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .args(args)
        .output()
        .expect("run fleetward")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fleetward-replay")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn fixture(kind: &str, name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../policies")
        .join(kind)
        .join("fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(&p).expect("fixture")).expect("fixture JSON")
}

/// A directory holding copies of the reference modules (names do not matter: found by digest).
fn modules_dir(dir: &Path) -> PathBuf {
    let modules = dir.join("modules");
    std::fs::create_dir_all(&modules).unwrap();
    for (kind, file) in fleetward_test_policies::all() {
        std::fs::copy(file, modules.join(format!("{kind}.wasm"))).unwrap();
    }
    modules
}

fn module_path(kind: DecisionKind) -> &'static str {
    fleetward_test_policies::all()
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, p)| p)
        .expect("a reference policy per kind")
}

struct Recorder {
    engine: Engine,
    seq: u64,
}

fn time(minute: i64) -> Timestamp {
    Timestamp(Timestamp::parse("2026-12-07T10:00:00Z").unwrap().0 + minute * 60)
}

impl Recorder {
    fn new() -> Recorder {
        let engine = Engine::new(EngineConfig::default().pooling(false)).expect("engine");
        Recorder { engine, seq: 0 }
    }

    fn bind(
        &self,
        kind: DecisionKind,
        tenant: &str,
        config: Value,
        fuel: Option<u64>,
    ) -> TenantPolicy {
        let bytes = std::fs::read(module_path(kind)).unwrap();
        self.bind_bytes(&bytes, tenant, config, fuel)
    }

    fn bind_bytes(
        &self,
        bytes: &[u8],
        tenant: &str,
        config: Value,
        fuel: Option<u64>,
    ) -> TenantPolicy {
        let module = self.engine.load(bytes).expect("load");
        let limits = Limits {
            fuel,
            ..Limits::default()
        };
        self.engine
            .bind(&module, tenant, config, limits)
            .expect("bind")
    }

    fn envelope(
        kind: DecisionKind,
        tenant: &str,
        config: &Value,
        request: &Value,
        now: Timestamp,
    ) -> Vec<u8> {
        serde_json::to_vec(&InputEnvelope {
            abi_version: ABI_VERSION,
            decision: CallKind::from(kind),
            now,
            tenant: tenant.to_string(),
            config: config.clone(),
            request: request.clone(),
        })
        .unwrap()
    }

    /// One module decision, recorded as the controller records it.
    fn module(
        &mut self,
        policy: &TenantPolicy,
        kind: DecisionKind,
        config: &Value,
        request: &Value,
        clusters: &[&str],
        now: Timestamp,
    ) -> DecisionEntry {
        let input = Self::envelope(kind, policy.tenant(), config, request, now);
        let outcome = policy
            .call_json_blocking(kind, request, now)
            .expect("the reference policy answers");
        assert_eq!(
            outcome.input_sha256,
            sha256_hex(&input),
            "the recorded input must be the bytes the engine fed the module"
        );
        let mut entry = self.entry(
            policy.tenant(),
            kind,
            policy.digest().to_string(),
            Some(sha256_hex(config.to_string().as_bytes())),
            input,
            Some(outcome.output_json),
            clusters,
            now,
        );
        entry.fuel = outcome.fuel_consumed;
        entry
    }

    /// One built-in decision (remediation), recorded with `config: null`.
    fn builtin(
        &mut self,
        tenant: &str,
        request: &Value,
        clusters: &[&str],
        now: Timestamp,
    ) -> DecisionEntry {
        let kind = DecisionKind::Remediation;
        let input = Self::envelope(kind, tenant, &Value::Null, request, now);
        let req: RemediationRequest = serde_json::from_value(request.clone()).unwrap();
        let output = serde_json::to_string(&fallback::remediate(&req)).unwrap();
        self.entry(
            tenant,
            kind,
            "builtin".into(),
            None,
            input,
            Some(output),
            clusters,
            now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &mut self,
        tenant: &str,
        kind: DecisionKind,
        module: String,
        config_sha256: Option<String>,
        input: Vec<u8>,
        output: Option<String>,
        clusters: &[&str],
        now: Timestamp,
    ) -> DecisionEntry {
        self.seq += 1;
        let input = String::from_utf8(input).unwrap();
        DecisionEntry {
            v: FORMAT_VERSION,
            record: "decision".into(),
            seq: self.seq,
            time: now,
            tenant: tenant.into(),
            kind,
            role: Role::Live,
            clusters: clusters.iter().map(|c| c.to_string()).collect(),
            module,
            config_sha256,
            input_sha256: sha256_hex(input.as_bytes()),
            input: RawValue::from_string(input).unwrap(),
            output: output.map(|o| RawValue::from_string(o).unwrap()),
            error: None,
            outcomes: vec![OutcomeEntry {
                clusters: clusters.iter().map(|c| c.to_string()).collect(),
                outcome: "applied".into(),
                invariant: None,
                cause: None,
                reason: String::new(),
            }],
            fuel: None,
            duration_us: Some(100),
            shadow: None,
        }
    }
}

/// A placement request for `acme/NAME` offered `seeds` (from the least-loaded fixture's seeds,
/// renamed).
fn placement_request(name: &str, seeds: &[&str]) -> Value {
    let mut req = fixture("placement", "01_least_loaded.json")["request"].clone();
    req["cluster"]["id"] = json!({"namespace": "acme", "name": name});
    let template = req["seeds"][0].clone();
    req["seeds"] = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut seed = template.clone();
            seed["name"] = json!(s);
            seed["clusters"] = json!(10 + 7 * i);
            seed
        })
        .collect();
    req
}

/// The standard log: tenant `acme` placements (c1, c2 offered eu-1 and eu-2; c3, c4 offered
/// us-1 and us-2) by the reference placement module, tenant `beta` upgrade ordering by the
/// reference module (its fixture's request and config; metered: a fuel limit), tenant `gamma` remediation by the
/// built-in. Times: one minute apart from 10:00.
fn standard_log() -> Vec<DecisionEntry> {
    let mut rec = Recorder::new();
    let mut log = Vec::new();
    let place_config = json!({});
    let place = rec.bind(DecisionKind::Placement, "acme", place_config.clone(), None);
    let offers: [(&str, &[&str]); 4] = [
        ("c1", &["eu-1", "eu-2"]),
        ("c2", &["eu-2", "eu-1"]),
        ("c3", &["us-1", "us-2"]),
        ("c4", &["us-2", "us-1"]),
    ];
    for (i, (name, seeds)) in offers.iter().enumerate() {
        let req = placement_request(name, seeds);
        let cluster = format!("acme/{name}");
        log.push(rec.module(
            &place,
            DecisionKind::Placement,
            &place_config,
            &req,
            &[&cluster],
            time(i as i64),
        ));
    }
    let suite = serde_json::from_slice::<Value>(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../policies/upgrade-ordering/fixtures/suite.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let upgrade_config = suite["config"].clone();
    let upgrade = rec.bind(
        DecisionKind::UpgradeOrdering,
        "beta",
        upgrade_config.clone(),
        Some(1_000_000_000),
    );
    let req = fixture("upgrade-ordering", "01_canary_first.json")["request"].clone();
    log.push(rec.module(
        &upgrade,
        DecisionKind::UpgradeOrdering,
        &upgrade_config,
        &req,
        &["tenant-acme/dev-0"],
        time(10),
    ));
    let req = fixture("remediation", "01_first_restart.json")["request"].clone();
    log.push(rec.builtin("gamma", &req, &["tenant-acme/prod-1"], time(20)));
    log
}

fn write_log(dir: &Path, lines: &[String]) -> PathBuf {
    let p = dir.join("decisions.jsonl");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

fn lines(log: &[DecisionEntry]) -> Vec<String> {
    log.iter().map(DecisionEntry::to_line).collect()
}

fn json_report(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(o)))
}

#[test]
fn a_recorded_log_replays_byte_identical_and_exits_0() {
    let dir = scratch("identical");
    let modules = modules_dir(&dir);
    let log = write_log(&dir, &lines(&standard_log()));
    let o = fleetward(&["replay", path(&log), "--modules", path(&modules)]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let text = stdout(&o);
    assert!(
        text.contains("6/6 comparable decision(s) byte-identical (100%)"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["acme", "placement", "live", "4", "4", "0", "0", "0"]),
        "{text}"
    );
    // The reference policies are built into fleetward: no --modules needed for them.
    let o = fleetward(&["replay", path(&log)]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(stdout(&o).contains("6/6 comparable decision(s) byte-identical (100%)"));

    let o = fleetward(&[
        "replay",
        path(&log),
        "--modules",
        path(&modules),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v = json_report(&o);
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["totals"]["total"], 6);
    assert_eq!(v["totals"]["identical"], 6);
    let groups: BTreeSet<(String, String, u64)> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["tenant"].as_str().unwrap().to_string(),
                g["kind"].as_str().unwrap().to_string(),
                g["identical"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        BTreeSet::from([
            ("acme".into(), "placement".into(), 4),
            ("beta".into(), "upgrade_ordering".into(), 1),
            ("gamma".into(), "remediation".into(), 1),
        ])
    );
}

#[test]
fn an_answer_that_differs_from_the_record_is_a_determinism_failure_with_its_diff() {
    let dir = scratch("different");
    let modules = modules_dir(&dir);
    let mut log = standard_log();
    // What a non-deterministic module would have produced: the recorded answer says another
    // seed than the module gives for the same input.
    let output = log[2].output.as_ref().unwrap().get().to_string();
    let mut v: Value = serde_json::from_str(&output).unwrap();
    let seed = v["seed"].as_str().unwrap().to_string();
    v["seed"] = json!("elsewhere");
    log[2].output = Some(RawValue::from_string(v.to_string()).unwrap());
    let file = write_log(&dir, &lines(&log));
    let o = fleetward(&["replay", path(&file), "--modules", path(&modules)]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let text = stdout(&o);
    assert!(text.contains("determinism bug"), "{text}");
    assert!(text.contains("decisions.jsonl line 3"), "{text}");
    assert!(
        text.contains(&format!("~ seed: \"elsewhere\" -> \"{seed}\"")),
        "{text}"
    );
    assert!(
        text.contains("5/6 comparable decision(s) byte-identical"),
        "{text}"
    );
}

#[test]
fn fuel_is_replayed_metered_and_a_difference_is_a_note_not_a_failure() {
    let dir = scratch("fuel");
    let modules = modules_dir(&dir);
    let mut log = standard_log();
    let fuel = log[4]
        .fuel
        .expect("the metered tenant's record carries its fuel");
    assert!(fuel > 0);
    log[4].fuel = Some(fuel + 1);
    let file = write_log(&dir, &lines(&log));
    let o = fleetward(&["replay", path(&file), "--modules", path(&modules)]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!(
            "fuel differs: recorded {}, replayed {fuel}",
            fuel + 1
        )),
        "{text}"
    );
}

#[test]
fn bad_lines_and_a_missing_module_are_named_and_the_rest_replays() {
    let dir = scratch("bad-lines");
    let modules = modules_dir(&dir);
    let log = standard_log();
    let mut text = lines(&log);
    let good = text[0].clone();
    let truncated = good[..good.len() / 2].to_string();
    let future = good.replacen("\"v\":1", "\"v\":7", 1);
    let mut missing = log[1].clone();
    missing.module = format!("sha256:{}", "0".repeat(64));
    // Lines: 1-6 good, 7 truncated, 8 corrupt, 9 version 7, 10 missing module, 11 dropped.
    text.push(truncated);
    text.push("{\"v\":1,\"record\":\"decision\",\"seq\":".to_string() + "garbage}");
    text.push(future);
    text.push(missing.to_line());
    text.push(DroppedEntry::new(20, 24, "queue full").to_line());
    let file = write_log(&dir, &text);
    let o = fleetward(&["replay", path(&file), "--modules", path(&modules)]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let out = stdout(&o);
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 4, "{out}");
    assert!(
        errors[0].contains("line 7") && errors[0].contains("truncated or corrupt"),
        "{out}"
    );
    assert!(
        errors[1].contains("line 8") && errors[1].contains("truncated or corrupt"),
        "{out}"
    );
    assert!(
        errors[2].contains("line 9") && errors[2].contains("version 7"),
        "{out}"
    );
    assert!(
        errors[3].contains("line 10")
            && errors[3].contains(&format!("module sha256:{} not found", "0".repeat(64))),
        "{out}"
    );
    assert!(out.contains("gap: "), "{out}");
    assert!(
        out.contains("5 record(s) dropped (seq 20..=24): queue full"),
        "{out}"
    );
    // Everything else still replayed: the six good records are identical.
    let o = fleetward(&[
        "replay",
        path(&file),
        "--modules",
        path(&modules),
        "--format",
        "json",
    ]);
    let v = json_report(&o);
    assert_eq!(v["totals"]["identical"], 6, "{}", show(&o));
    assert_eq!(v["totals"]["failed_to_run"], 1);
    assert_eq!(v["bad_lines"].as_array().unwrap().len(), 3);
    assert_eq!(v["gaps"][0]["count"], 5);
    assert_eq!(v["exit_code"], 1);
}

#[test]
fn a_candidate_config_changes_exactly_the_decisions_it_concerns() {
    let dir = scratch("candidate");
    let modules = modules_dir(&dir);
    let file = write_log(&dir, &lines(&standard_log()));
    let config = dir.join("exclude-eu-2.json");
    std::fs::write(&config, r#"{"excluded_seeds": ["eu-2"]}"#).unwrap();
    let candidate = module_path(DecisionKind::Placement);
    let o = fleetward(&[
        "replay",
        path(&file),
        "--modules",
        path(&modules),
        "--policy",
        &format!("acme/placement={candidate}"),
        "--policy-config",
        &format!("acme/placement={}", path(&config)),
        "--format",
        "json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a change is not an error: {}",
        show(&o)
    );
    let v = json_report(&o);
    let changed: BTreeSet<(String, String)> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "changed")
        .map(|c| {
            (
                c["clusters"][0].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        BTreeSet::from([
            ("acme/c1".to_string(), "placement".to_string()),
            ("acme/c2".to_string(), "placement".to_string()),
        ]),
        "{}",
        show(&o)
    );
    assert_eq!(v["candidates"].as_array().unwrap().len(), 4);
    // The decisions the candidate did not answer are still replayed for determinism.
    assert_eq!(v["totals"]["identical"], 2);
    // Each change comes with its diff: eu-2's score becomes an exclusion.
    let c1 = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clusters"][0] == "acme/c1")
        .unwrap();
    let paths: Vec<&str> = c1["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"scores[1].score"), "{paths:?}");
    let text = stdout(&fleetward(&[
        "replay",
        path(&file),
        "--modules",
        path(&modules),
        "--policy",
        &format!("acme/placement={candidate}"),
        "--policy-config",
        &format!("acme/placement={}", path(&config)),
    ]));
    assert!(
        text.contains("candidates change 2 of 4 decision(s)"),
        "{text}"
    );
}

/// WAT text of a placement module that always answers `decision`.
fn constant_placement_wat(decision: &Value) -> String {
    common::constant_wat("fleetward_place", &json!({"ok": decision}), 0)
}

#[test]
fn a_candidate_answer_the_host_would_veto_is_shown_with_its_invariant() {
    let dir = scratch("veto");
    let modules = modules_dir(&dir);
    let file = write_log(&dir, &lines(&standard_log()));
    let wat = dir.join("eu-1-always.wat");
    std::fs::write(
        &wat,
        constant_placement_wat(&json!({"seed": "eu-1", "reason": "always eu-1", "scores": []})),
    )
    .unwrap();
    let o = fleetward(&[
        "replay",
        path(&file),
        "--modules",
        path(&modules),
        "--policy",
        &format!("acme/placement={}", path(&wat)),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v = json_report(&o);
    // eu-1 is a candidate for c1 and c2 only: c3 and c4 were offered us-1 and us-2.
    let vetoed: BTreeSet<String> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["vetoes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["invariant"] == "NotACandidate")
        })
        .map(|c| c["clusters"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        vetoed,
        BTreeSet::from(["acme/c3".into(), "acme/c4".into()]),
        "{}",
        show(&o)
    );
    let o = fleetward(&[
        "replay",
        path(&file),
        "--modules",
        path(&modules),
        "--policy",
        &format!("acme/placement={}", path(&wat)),
    ]);
    let text = stdout(&o);
    assert!(text.contains("VETOED by the host: NotACandidate"), "{text}");

    // A candidate that does not load is an error (exit 3), before anything runs.
    let broken = dir.join("broken.wat");
    std::fs::write(&broken, "(module (func (export \"nope\")))").unwrap();
    let o = fleetward(&[
        "replay",
        path(&file),
        "--modules",
        path(&modules),
        "--policy",
        &format!("acme/placement={}", path(&broken)),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
}

#[test]
fn a_wat_module_in_the_modules_directory_is_found_by_its_binarys_digest() {
    let dir = scratch("wat-module");
    let modules = dir.join("modules");
    std::fs::create_dir_all(&modules).unwrap();
    let wat = constant_placement_wat(&json!({"seed": "eu-1", "reason": "fixed", "scores": []}));
    std::fs::write(modules.join("fixed.wat"), &wat).unwrap();
    let mut rec = Recorder::new();
    let binary = wat::parse_str(&wat).unwrap();
    let policy = rec.bind_bytes(&binary, "delta", Value::Null, None);
    let req = placement_request("d1", &["eu-1", "eu-2"]);
    let entry = rec.module(
        &policy,
        DecisionKind::Placement,
        &Value::Null,
        &req,
        &["acme/d1"],
        time(0),
    );
    let file = write_log(&dir, &[entry.to_line()]);
    let o = fleetward(&["replay", path(&file), "--modules", path(&modules)]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(stdout(&o).contains("1/1 comparable decision(s) byte-identical (100%)"));
    let o = fleetward(&["replay", path(&file)]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stdout(&o).contains(&format!("module {} not found", policy.digest())),
        "{}",
        show(&o)
    );
}

#[test]
fn filters_select_by_tenant_kind_and_time() {
    let dir = scratch("filters");
    let modules = modules_dir(&dir);
    let file = write_log(&dir, &lines(&standard_log()));
    let total = |extra: &[&str]| -> (u64, u64) {
        let mut args = vec![
            "replay",
            path(&file),
            "--modules",
            path(&modules),
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let o = fleetward(&args);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        let v = json_report(&o);
        (
            v["totals"]["total"].as_u64().unwrap(),
            v["filtered_out"].as_u64().unwrap(),
        )
    };
    assert_eq!(total(&["--tenant", "acme"]), (4, 2));
    assert_eq!(
        total(&["--kind", "remediation", "--kind", "upgrade-ordering"]),
        (2, 4)
    );
    // Placements at 10:00..10:03, upgrade at 10:10, remediation at 10:20; --until exclusive.
    assert_eq!(
        total(&[
            "--since",
            "2026-12-07T10:01:00Z",
            "--until",
            "2026-12-07T10:10:00Z"
        ]),
        (3, 3)
    );
    assert_eq!(
        total(&["--since", "2026-12-07T10:10:00Z", "--tenant", "beta"]),
        (1, 5)
    );
    let o = fleetward(&["replay", path(&file), "--since", "yesterday"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}

/// `--kubeconfig`: the module is found in the ConfigMap a Tenant's binding names (an emulator
/// serves the API), with no `--modules` directory at all; a decision whose module is in no
/// binding is named as missing.
#[test]
fn modules_are_found_in_the_clusters_configmaps() {
    use fleetward_controller::crd::Tenant;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, PostParams};

    let dir = scratch("kubeconfig");
    let file = write_log(&dir, &lines(&standard_log()));
    let kubeconfig = dir.join("kubeconfig");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(async {
        let emulator = fleetward_emulator::Emulator::new();
        let client = emulator.client();
        let pp = PostParams::default();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in fleetward_controller::crd::crds() {
            crds.create(&pp, &crd).await.unwrap();
        }
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": "fleetward-system"}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&pp, &ns)
            .await
            .unwrap();
        let bytes = std::fs::read(module_path(DecisionKind::Placement)).unwrap();
        let digest = fleetward_engine::Digest::of(&bytes).to_string();
        let mut cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "placement"}})).unwrap();
        cm.binary_data = Some([("policy.wasm".to_string(), ByteString(bytes))].into());
        Api::<ConfigMap>::namespaced(client.clone(), "fleetward-system")
            .create(&pp, &cm)
            .await
            .unwrap();
        let tenant: Tenant = serde_json::from_value(json!({
            "apiVersion": "fleetward.dev/v1alpha1", "kind": "Tenant",
            "metadata": {"name": "acme"},
            "spec": {"placement": {"sha256": digest, "module": {"configMap": {
                "namespace": "fleetward-system", "name": "placement", "key": "policy.wasm"}}}}
        }))
        .unwrap();
        Api::<Tenant>::all(client)
            .create(&pp, &tenant)
            .await
            .unwrap();
        let server = emulator
            .serve("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        server.write_kubeconfig(&kubeconfig).unwrap();
        (emulator, server)
    });
    let o = fleetward(&[
        "replay",
        path(&file),
        "--kubeconfig",
        path(&kubeconfig),
        "--tenant",
        "acme",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        stdout(&o).contains("4/4 comparable decision(s) byte-identical (100%)"),
        "{}",
        show(&o)
    );
    // A module in no ConfigMap (and not a reference policy) is named as missing.
    let mut log = standard_log();
    let mut missing = log[0].clone();
    missing.module = format!("sha256:{}", "1".repeat(64));
    log.push(missing);
    let file = write_log(&dir, &lines(&log));
    let o = fleetward(&["replay", path(&file), "--kubeconfig", path(&kubeconfig)]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let text = stdout(&o);
    assert!(
        text.contains("line 7: module sha256:1111")
            && text.contains("not found in the reference policies built into fleetward and the cluster of --kubeconfig"),
        "{text}"
    );
    runtime.block_on(server.1.shutdown());
}

/// A simulation's `decisions.jsonl` (`fleetward simulate`, the same record format) replays 100%
/// identical: module answers, trapping calls (the same trap again) and built-in decisions; and a
/// candidate changes exactly the decisions it answers differently.
#[test]
fn a_simulation_log_replays_identical_and_a_candidate_changes_exactly_the_trapped_decisions() {
    let dir = scratch("simulate");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenario = root.join("examples/scenarios/trapping-policy.yaml");
    let scenario_modules = root.join("examples/scenarios/modules");
    let out = dir.join("out");
    let o = fleetward(&["simulate", path(&scenario), "--out", path(&out)]);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        show(&o)
    );
    let log = out.join("decisions.jsonl");
    let records: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let traps = records
        .iter()
        .filter(|r| r["error"]["label"] == "trap")
        .count();
    assert!(
        traps > 0 && traps < records.len(),
        "{traps} of {}",
        records.len()
    );

    let o = fleetward(&[
        "replay",
        path(&log),
        "--modules",
        path(&scenario_modules),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v = json_report(&o);
    assert_eq!(v["totals"]["total"], records.len());
    assert_eq!(v["totals"]["identical"], records.len());

    // acme's and initech's upgrade ordering with the reference module: acme's decisions, which
    // the trapping module made, change (the candidate answers); initech's, which the reference
    // module made, do not.
    let candidate = module_path(DecisionKind::UpgradeOrdering);
    let o = fleetward(&[
        "replay",
        path(&log),
        "--modules",
        path(&scenario_modules),
        "--policy",
        &format!("acme/upgrade_ordering={candidate}"),
        "--policy",
        &format!("initech/upgrade_ordering={candidate}"),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v = json_report(&o);
    let expected: BTreeSet<(u64, String)> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r["tenant"] == "acme"
                && r["kind"] == "upgrade_ordering"
                && r["role"] == "live"
                && r["error"]["label"] == "trap"
        })
        .map(|(i, r)| (i as u64 + 1, r["clusters"].to_string()))
        .collect();
    let changed: BTreeSet<(u64, String)> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "changed")
        .map(|c| (c["at"]["line"].as_u64().unwrap(), c["clusters"].to_string()))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(changed, expected, "{}", show(&o));
    let answered = v["candidates"].as_array().unwrap().len();
    assert!(
        answered > expected.len(),
        "some acme decisions must stay unchanged"
    );
}
