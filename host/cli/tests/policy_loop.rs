//! The policy author's loop (issue 12): offline tools judge answers like the live host, and
//! `policy test`/`eval`/`bench`/`inspect` are usable from a fixture file to a CI report.
//!
//! Modules are hand-written WAT that answer a constant, so each test controls the answer
//! exactly; the built `fleetward` binary runs as a child process.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::constant_wat;
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fleetward-policy-loop")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write file");
    path.to_string_lossy().into_owned()
}

fn module(dir: &Path, name: &str, export: &str, decision: &Value) -> String {
    let bytes = wat::parse_str(constant_wat(export, &json!({"ok": decision}), 0)).unwrap();
    write(dir, name, bytes)
}

fn cluster(name: &str, current: &str, desired: &str) -> Value {
    json!({"id": {"namespace": "tenant-acme", "name": name}, "labels": {}, "seed": "eu-1",
           "control_plane": {"current": current, "desired": desired}, "node_pools": [],
           "health": {"healthy": true}, "upgrades_paused": false})
}

fn upgrade_request() -> Value {
    json!({"clusters": [cluster("a", "1.31.0", "1.40.0")], "history": [],
           "limits": {"max_concurrent": 10, "max_concurrent_per_seed": 3}})
}

fn cp_step(namespace: &str, name: &str, to: &str) -> Value {
    json!({"cluster": {"namespace": namespace, "name": name},
           "target": {"kind": "control_plane"}, "to": to})
}

fn upgrade_answer(step: Value) -> Value {
    json!({"start": [step], "hold": [], "reason": "go"})
}

fn placement_request() -> Value {
    json!({
        "cluster": {"id": {"namespace": "tenant-acme", "name": "prod-1"}, "labels": {},
                    "version": "1.31.0", "constraints": {}},
        "seeds": [{"name": "eu-1", "region": "eu-west", "provider": "aws", "labels": {},
                   "capacity": 100, "clusters": 12, "ready": true,
                   "min_version": "1.30.0", "max_version": "1.33.0"}],
        "tenant_placements": []
    })
}

const NOW: &str = "2026-11-25T17:00:00Z";

/// One case file in `dir` with the module as suite default.
fn case_dir(
    name: &str,
    module_of: impl FnOnce(&Path) -> String,
    cases: &[(&str, Value)],
) -> PathBuf {
    let dir = scratch(name);
    let module = module_of(&dir);
    write(
        &dir,
        "suite.json",
        json!({"module": module, "tenant": "acme", "now": NOW}).to_string(),
    );
    for (file, case) in cases {
        write(&dir, &format!("{file}.json"), case.to_string());
    }
    dir
}

/// Runs `policy test DIR` and `policy eval` on the answer `decision` to `request`, expecting
/// the host to veto it with `invariant`: both fail (exit 1) naming the invariant, and a
/// fixture that expects the veto passes.
fn assert_vetoed(
    name: &str,
    kind: &str,
    export: &str,
    request: Value,
    decision: Value,
    invariant: &str,
) {
    let plain = json!({"decision": kind, "request": request, "expect": {"decision": decision}});
    let dir = case_dir(
        name,
        |d| module(d, "p.wasm", export, &decision),
        &[("answer", plain)],
    );
    let o = fleetward(&["policy", "test", dir.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the host vetoes this answer:\n{out}{}",
        stderr(&o)
    );
    assert!(out.contains("test answer ... FAILED"), "{out}");
    assert!(out.contains(&format!("vetoed ({invariant})")), "{out}");

    // The same answer, with the veto expected, passes.
    let expecting = json!({"decision": kind, "request": request,
                           "expect": {"error": {"kind": "vetoed", "code": invariant}}});
    write(&dir, "answer.json", expecting.to_string());
    let o = fleetward(&["policy", "test", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // Expecting another invariant fails.
    let wrong = json!({"decision": kind, "request": request,
                       "expect": {"error": {"kind": "vetoed", "code": "NoSuchInvariant"}}});
    write(&dir, "answer.json", wrong.to_string());
    let o = fleetward(&["policy", "test", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));

    let input = write(&dir, "request.json", request.to_string());
    let o = fleetward(&[
        "policy",
        "eval",
        &dir.join("p.wasm").to_string_lossy(),
        "--decision",
        kind,
        "--input",
        &input,
        "--now",
        NOW,
    ]);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "eval must fail a vetoed answer: {err}"
    );
    assert!(err.contains(invariant), "{err}");
    assert!(err.contains("vetoed"), "{err}");
    // The answer still goes to stdout: the author sees what was refused.
    let printed: Value = serde_json::from_slice(&o.stdout).expect("decision on stdout");
    assert_eq!(printed, decision);
}

#[test]
fn an_upgrade_step_on_another_tenants_cluster_is_vetoed_offline() {
    assert_vetoed(
        "veto-tenant",
        "upgrade_ordering",
        "fleetward_order_upgrades",
        upgrade_request(),
        upgrade_answer(cp_step("tenant-other", "a", "1.32.0")),
        "TenantOwnership",
    );
}

#[test]
fn a_jump_of_nine_minors_is_vetoed_offline() {
    assert_vetoed(
        "veto-jump",
        "upgrade_ordering",
        "fleetward_order_upgrades",
        upgrade_request(),
        upgrade_answer(cp_step("tenant-acme", "a", "1.40.0")),
        "OneMinorAtATime",
    );
}

#[test]
fn a_placement_on_a_seed_that_is_not_a_candidate_is_vetoed_offline() {
    assert_vetoed(
        "veto-seed",
        "placement",
        "fleetward_place",
        placement_request(),
        json!({"seed": "eu-9", "reason": "mine"}),
        "NotACandidate",
    );
}

#[test]
fn a_legal_answer_is_not_vetoed_and_eval_exits_0() {
    let dir = scratch("legal");
    let decision = upgrade_answer(cp_step("tenant-acme", "a", "1.32.0"));
    let m = module(&dir, "p.wasm", "fleetward_order_upgrades", &decision);
    let input = write(&dir, "request.json", upgrade_request().to_string());
    let o = fleetward(&[
        "policy",
        "eval",
        &m,
        "--decision",
        "upgrade_ordering",
        "--input",
        &input,
        "--now",
        NOW,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn inspect_test_eval_and_bench_accept_wat_text() {
    let dir = scratch("wat-text");
    let wat = constant_wat(
        "fleetward_place",
        &json!({"ok": {"seed": "eu-1", "reason": "r"}}),
        0,
    );
    let m = write(&dir, "p.wat", wat);
    let o = fleetward(&["policy", "inspect", &m]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("decisions:        placement"),
        "{}",
        stdout(&o)
    );
    let input = write(&dir, "request.json", placement_request().to_string());
    let o = fleetward(&[
        "policy",
        "eval",
        &m,
        "--decision",
        "placement",
        "--input",
        &input,
        "--now",
        NOW,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Broken text names the file and the line.
    let bad = write(
        &dir,
        "bad.wat",
        "(module (func $f (param i32) (result i32) (i32.add)))x",
    );
    let o = fleetward(&["policy", "inspect", &bad]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.wat"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("magic header"), "{}", stderr(&o));
}

fn placement_case(expect: Value) -> Value {
    json!({"decision": "placement", "request": placement_request(), "expect": expect})
}

#[test]
fn test_filter_runs_only_matching_cases_and_a_filter_matching_none_is_an_error() {
    let dir = case_dir(
        "filter",
        |d| {
            module(
                d,
                "p.wasm",
                "fleetward_place",
                &json!({"seed": "eu-1", "reason": "r"}),
            )
        },
        &[
            (
                "eu1-passes",
                placement_case(json!({"matches": {"/seed": "eu-1"}})),
            ),
            (
                "eu2-fails",
                placement_case(json!({"matches": {"/seed": "eu-2"}})),
            ),
        ],
    );
    let o = fleetward(&["policy", "test", dir.to_str().unwrap(), "--filter", "eu1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(!stdout(&o).contains("eu2-fails"), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 passed, 0 failed"), "{}", stdout(&o));
    let o = fleetward(&[
        "policy",
        "test",
        dir.to_str().unwrap(),
        "--filter",
        "nothing",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("nothing"), "{}", stderr(&o));
}

#[test]
fn test_reports_json_and_junit_with_fuel_and_peak_memory_per_case() {
    let dir = scratch("formats");
    // Grows memory by 3 pages: peak 4 pages (256 KiB).
    let wat = constant_wat(
        "fleetward_place",
        &json!({"ok": {"seed": "eu-1", "reason": "r"}}),
        3,
    );
    let m = write(&dir, "p.wat", wat);
    write(
        &dir,
        "suite.json",
        json!({"module": m, "now": NOW}).to_string(),
    );
    write(
        &dir,
        "ok.json",
        placement_case(json!({"matches": {"/seed": "eu-1"}})).to_string(),
    );
    write(
        &dir,
        "bad.json",
        placement_case(json!({"matches": {"/seed": "eu-2"}})).to_string(),
    );

    let o = fleetward(&["policy", "test", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 1);
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    let bad = cases.iter().find(|c| c["name"] == "bad").unwrap();
    assert_eq!(bad["outcome"], "failed");
    assert!(bad["message"].as_str().unwrap().contains("/seed"), "{bad}");
    for c in cases {
        assert!(c["fuel"].as_u64().unwrap() > 0, "{c}");
        assert_eq!(c["peak_memory_bytes"], 4 * 65536, "{c}");
    }
    assert!(
        stderr(&o).is_empty() || !stderr(&o).contains("error"),
        "{}",
        stderr(&o)
    );

    let o = fleetward(&["policy", "test", dir.to_str().unwrap(), "--format", "junit"]);
    assert_eq!(o.status.code(), Some(1));
    let xml = stdout(&o);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains(r#"<testsuite name="#), "{xml}");
    assert!(xml.contains(r#"tests="2" failures="1""#), "{xml}");
    assert!(xml.contains(r#"<testcase name="bad""#), "{xml}");
    assert!(
        xml.contains(r#"<failure message="1 of 1 assertions failed: /seed: expected &quot;eu-2&quot;, got &quot;eu-1&quot;""#),
        "{xml}"
    );

    // Text shows them too.
    let o = fleetward(&["policy", "test", dir.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("test ok ... ok (fuel "),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("peak memory 256 KiB"), "{}", stdout(&o));
}

#[test]
fn len_failures_name_the_length_not_the_whole_array() {
    let scores: Vec<Value> = (0..200)
        .map(|i| json!({"seed": format!("seed-{i:03}"), "score": i, "reason": "r"}))
        .collect();
    let decision = json!({"seed": "eu-1", "reason": "r", "scores": scores});
    let dir = case_dir(
        "len",
        |d| module(d, "p.wasm", "fleetward_place", &decision),
        &[(
            "len",
            placement_case(json!({"matches": {"/scores": {"$len": 3}}})),
        )],
    );
    let o = fleetward(&["policy", "test", dir.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("/scores: expected length 3, got length 200"),
        "{out}"
    );
    assert!(
        !out.contains("seed-150"),
        "the array is not printed:\n{out}"
    );
}

#[test]
fn bless_writes_the_actual_answers_into_the_fixtures() {
    let decision = json!({"seed": "eu-1", "reason": "least loaded"});
    let dir = case_dir(
        "bless",
        |d| module(d, "p.wasm", "fleetward_place", &decision),
        &[
            (
                "stale",
                placement_case(json!({"decision": {"seed": "old", "reason": "x"}})),
            ),
            (
                "partial",
                placement_case(json!({"matches": {"/seed": "eu-2"}})),
            ),
        ],
    );
    let o = fleetward(&["policy", "test", dir.to_str().unwrap(), "--bless"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("blessed"), "{}", stdout(&o));
    for name in ["stale", "partial"] {
        let case: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(case["expect"], json!({"decision": decision}), "{name}");
        assert_eq!(case["request"], placement_request(), "the rest is kept");
    }
    let o = fleetward(&["policy", "test", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn eval_runs_a_fixture_file() {
    let decision = json!({"seed": "eu-1", "reason": "r"});
    let dir = case_dir(
        "eval-fixture",
        |d| module(d, "p.wasm", "fleetward_place", &decision),
        &[("one", placement_case(json!({"decision": decision})))],
    );
    let m = dir.join("p.wasm");
    let o = fleetward(&[
        "policy",
        "eval",
        m.to_str().unwrap(),
        "--fixture",
        dir.join("one.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        decision
    );
    // The fixture's suite gives `now` and the tenant.
    assert!(!stderr(&o).contains("current time"), "{}", stderr(&o));
    // A fixture and --input together are a usage error.
    let o = fleetward(&[
        "policy",
        "eval",
        m.to_str().unwrap(),
        "--fixture",
        dir.join("one.json").to_str().unwrap(),
        "--input",
        dir.join("one.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn bench_reports_latency_percentiles_fuel_and_peak_memory() {
    let dir = scratch("bench");
    let wat = constant_wat(
        "fleetward_place",
        &json!({"ok": {"seed": "eu-1", "reason": "r"}}),
        1,
    );
    let m = write(&dir, "p.wat", wat);
    let input = write(&dir, "request.json", placement_request().to_string());
    let o = fleetward(&[
        "policy",
        "bench",
        &m,
        &input,
        "--decision",
        "placement",
        "--iterations",
        "20",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(r["iterations"], 20);
    let p50 = r["latency_us"]["p50"].as_f64().unwrap();
    let p99 = r["latency_us"]["p99"].as_f64().unwrap();
    assert!(p50 > 0.0 && p99 >= p50, "{r}");
    assert!(r["fuel"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["peak_memory_bytes"], 2 * 65536, "{r}");
    // A fixture file is a request too (its decision kind is used).
    let fx = write(
        &dir,
        "case.json",
        placement_case(json!({"matches": {}})).to_string(),
    );
    let o = fleetward(&["policy", "bench", &m, &fx, "--iterations", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("p99"), "{}", stdout(&o));
    // Iterations are bounded.
    let o = fleetward(&["policy", "bench", &m, &fx, "--iterations", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let o = fleetward(&["policy", "bench", &m, &fx, "--iterations", "100000000"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Whether `rustup` has the wasm32-wasip1 target (the Rust scaffold builds for it).
fn has_wasip1() -> bool {
    Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|sysroot| sysroot.join("lib/rustlib/wasm32-wasip1").is_dir())
}

/// `policy new KIND NAME --lang rust` scaffolds a crate outside any workspace whose native
/// `cargo test` passes, which builds with the one documented command, and whose module passes
/// its own fixture through `fleetward policy test`. Built offline from Cargo's cache (the
/// scaffold needs only serde, serde_json and thiserror, which the workspace uses too).
#[test]
fn policy_new_rust_scaffolds_a_crate_that_builds_and_passes_its_fixtures() {
    let root = scratch("policy-new-rust");
    if !has_wasip1() {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n==== SKIPPED policy_new_rust_scaffolds_a_crate_that_builds_and_passes_its_fixtures: \
             the wasm32-wasip1 target is not installed (rustup target add wasm32-wasip1) ====\n"
        );
        return;
    }
    // One shared target dir: the three crates share the SDK and serde builds.
    let target = root.join("target");
    for kind in ["placement", "upgrade_ordering", "remediation"] {
        let dir = root.join(format!("my-{}", kind.replace('_', "-")));
        let o = fleetward(&[
            "policy",
            "new",
            kind,
            dir.to_str().unwrap(),
            "--lang",
            "rust",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            stdout(&o).contains("cargo build --target wasm32-wasip1 --profile policy"),
            "{}",
            stdout(&o)
        );
        let cargo = |args: &[&str]| {
            let o = Command::new(env!("CARGO"))
                .args(args)
                .arg("--offline")
                .current_dir(&dir)
                .env("CARGO_TARGET_DIR", &target)
                .env_remove("RUSTFLAGS")
                .env("CARGO_INCREMENTAL", "0")
                .output()
                .expect("cargo runs");
            assert!(o.status.success(), "{kind}: cargo {args:?}\n{}", stderr(&o));
        };
        cargo(&["test", "--quiet"]);
        cargo(&["build", "--target", "wasm32-wasip1", "--profile", "policy"]);
        // The suite points at ./target; with the shared target dir, name the module instead.
        let krate = format!("my_{kind}");
        let module = target.join(format!("wasm32-wasip1/policy/{krate}.wasm"));
        assert!(module.is_file(), "{}", module.display());
        let fixtures = dir.join("fixtures");
        let o = fleetward(&[
            "policy",
            "test",
            fixtures.to_str().unwrap(),
            "--module",
            module.to_str().unwrap(),
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{kind}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(stdout(&o).contains("1 passed, 0 failed"), "{}", stdout(&o));
    }
}

/// `policy new KIND NAME --lang wat` writes a module and a fixture that `policy test` passes
/// with no toolchain at all, and that the host would load.
#[test]
fn policy_new_wat_scaffolds_a_module_that_passes_its_fixture() {
    let root = scratch("policy-new-wat");
    for kind in ["placement", "upgrade_ordering", "remediation"] {
        let dir = root.join(format!("wat-{}", kind.replace('_', "-")));
        let o = fleetward(&[
            "policy",
            "new",
            kind,
            dir.to_str().unwrap(),
            "--lang",
            "wat",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let o = fleetward(&["policy", "test", dir.join("fixtures").to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{kind}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(stdout(&o).contains("1 passed, 0 failed"), "{}", stdout(&o));
        let o = fleetward(&[
            "policy",
            "inspect",
            dir.join("policy.wat").to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        assert!(
            stdout(&o).contains(&format!("decisions:        {kind}")),
            "{}",
            stdout(&o)
        );
    }
}

/// A panicking policy: `eval` names the panic's message (from the SDK's panic hook) on the
/// error line, and prints the lines the policy logged before it, oldest first.
#[test]
fn eval_of_a_panicking_policy_shows_the_panic_and_the_last_log_lines() {
    let dir = scratch("panicking");
    let config = write(
        &dir,
        "config.json",
        json!({"mode": "panic", "log_lines": 3}).to_string(),
    );
    let input = write(&dir, "request.json", placement_request().to_string());
    let o = fleetward(&[
        "policy",
        "eval",
        fleetward_test_policies::MISBEHAVING,
        "--decision",
        "placement",
        "--input",
        &input,
        "--config",
        &config,
        "--now",
        NOW,
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        line.contains("policy panicked at ")
            && line.contains("index out of bounds: the len is 0 but the index is "),
        "the error line names the panic:\n{err}"
    );
    assert!(
        err.contains(
            "policy log (last 3 lines):\n  | info: step 1\n  | info: step 2\n  | info: step 3"
        ),
        "the log tail follows the error:\n{err}"
    );
}

/// `policy test` on a panicking policy: the failed case shows the panic and the policy's last
/// log lines, so the author sees where the decision got to.
#[test]
fn test_of_a_panicking_policy_shows_the_last_log_lines_of_the_failed_case() {
    let mut case = placement_case(json!({"matches": {"/seed": "eu-1"}}));
    case["config"] = json!({"mode": "panic", "log_lines": 2});
    let dir = case_dir(
        "panicking-suite",
        |_| fleetward_test_policies::MISBEHAVING.to_string(),
        &[("panics", case)],
    );
    let o = fleetward(&["policy", "test", dir.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("policy panicked at "), "{out}");
    assert!(
        out.contains("policy log (last 2 lines):") && out.contains("info: step 2"),
        "{out}"
    );
}
