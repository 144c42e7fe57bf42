//! Runs the built `fleetward` binary on hand-written WAT modules and fixture directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
        .join("fleetward-cli-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn wat_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The ABI v1 boilerplate: memory, version, a bump allocator that grows memory.
const PRELUDE: &str = r#"
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  (func (export "fleetward_abi_version") (result i32) (i32.const 1))
  (func (export "fleetward_alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $bump))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.div_u (i32.sub (local.get $end)
                 (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1)))
               (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $bump (local.get $end))
    (local.get $p))
"#;

/// A placement module that logs `hello from wat` to stderr and returns `output` verbatim.
fn constant_module(output: &Value) -> Vec<u8> {
    let out = output.to_string();
    let log = "hello from wat\n";
    let text = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  {PRELUDE}
  (data (i32.const 256) "{log_esc}")
  (data (i32.const 1024) "{out_esc}")
  (func (export "fleetward_place") (param i32 i32) (result i64)
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const {log_len}))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const {out_len}))))"#,
        log_esc = wat_escape(log).replace('\n', "\\n"),
        log_len = log.len(),
        out_esc = wat_escape(&out),
        out_len = out.len(),
    );
    wat::parse_str(text).expect("valid wat")
}

/// A placement module that never returns.
fn looping_module() -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module {PRELUDE}
  (func (export "fleetward_place") (param i32 i32) (result i64)
    (loop $l (br $l))
    (i64.const 0)))"#
    ))
    .expect("valid wat")
}

/// A module importing a function outside the allowed WASI subset.
fn forbidden_import_module() -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "env" "evil" (func $evil))
  {PRELUDE}
  (func (export "fleetward_place") (param i32 i32) (result i64) (call $evil) (i64.const 0)))"#
    ))
    .expect("valid wat")
}

fn eu1() -> Value {
    json!({"seed": "eu-1", "reason": "always eu-1"})
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write file");
    path.to_string_lossy().into_owned()
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

#[test]
fn inspect_reports_exports_imports_and_no_problems() {
    let dir = scratch("inspect-ok");
    let module = write(&dir, "p.wasm", constant_module(&json!({"ok": eu1()})));
    let o = fleetward(&["policy", "inspect", &module]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("digest:           sha256:"), "{text}");
    assert!(text.contains("abi version:      1"), "{text}");
    assert!(text.contains("decisions:        placement"), "{text}");
    assert!(text.contains("wasi_snapshot_preview1::fd_write"), "{text}");
    assert!(text.contains("validates config: no"), "{text}");
    assert!(text.contains("problems:         none"), "{text}");

    let o = fleetward(&["policy", "inspect", "--json", &module]);
    assert_eq!(o.status.code(), Some(0));
    let doc: Value = serde_json::from_str(&stdout(&o)).expect("inspect --json is JSON");
    assert_eq!(doc["decisions"], json!(["placement"]));
    assert_eq!(doc["imports"], json!(["wasi_snapshot_preview1::fd_write"]));
    assert_eq!(doc["abi_version"], json!(1));
    assert_eq!(doc["loadable"], json!(true));
    assert_eq!(
        doc["size"],
        json!(std::fs::metadata(&module).unwrap().len())
    );
    let digest = doc["digest"].as_str().unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 7 + 64,
        "{digest}"
    );
}

#[test]
fn inspect_names_forbidden_imports_and_exits_3() {
    let dir = scratch("inspect-rejected");
    let module = write(&dir, "bad.wasm", forbidden_import_module());
    let o = fleetward(&["policy", "inspect", "--json", &module]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["loadable"], json!(false));
    let problems = doc["problems"].to_string();
    assert!(problems.contains("env::evil"), "{problems}");
}

#[test]
fn eval_prints_the_decision_and_reports_logs_fuel_and_duration() {
    let dir = scratch("eval-ok");
    let module = write(&dir, "p.wasm", constant_module(&json!({"ok": eu1()})));
    let input = write(&dir, "req.json", placement_request().to_string());
    let o = fleetward(&[
        "policy",
        "eval",
        &module,
        "--decision",
        "placement",
        "--input",
        &input,
        "--now",
        "2026-11-25T17:00:00Z",
        "--fuel",
        "1000000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let decision: Value = serde_json::from_str(&stdout(&o)).expect("stdout is the decision");
    assert_eq!(decision, eu1());
    let err = stderr(&o);
    assert!(err.contains("policy log: hello from wat"), "{err}");
    let fuel_line = err
        .lines()
        .find(|l| l.starts_with("fuel used: "))
        .expect(&err);
    let fuel: u64 = fuel_line["fuel used: ".len()..].parse().expect(fuel_line);
    assert!(fuel > 0 && fuel < 1_000_000, "{fuel}");
    assert!(err.lines().any(|l| l.starts_with("duration: ")), "{err}");
    assert!(!err.contains("now:"), "explicit --now is not echoed: {err}");
}

#[test]
fn eval_without_now_prints_the_time_it_used() {
    let dir = scratch("eval-now");
    let module = write(&dir, "p.wasm", constant_module(&json!({"ok": eu1()})));
    let input = write(&dir, "req.json", placement_request().to_string());
    let o = fleetward(&[
        "policy",
        "eval",
        &module,
        "--decision",
        "placement",
        "--input",
        &input,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err.lines().find(|l| l.starts_with("now: ")).expect(&err);
    let ts = line["now: ".len()..].split(' ').next().unwrap();
    assert!(fleetward_sdk::wire::Timestamp::parse(ts).is_ok(), "{line}");
    assert!(line.contains(&format!("--now {ts}")), "{line}");
}

#[test]
fn eval_timeout_is_one_typed_line_and_exit_1() {
    let dir = scratch("eval-timeout");
    let module = write(&dir, "loop.wasm", looping_module());
    let input = write(&dir, "req.json", placement_request().to_string());
    let o = fleetward(&[
        "policy",
        "eval",
        &module,
        "--decision",
        "placement",
        "--input",
        &input,
        "--now",
        "2026-11-25T17:00:00Z",
        "--tenant",
        "t",
        "--timeout-ms",
        "50",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "no decision on stdout");
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {err}");
    let line = lines[0];
    assert!(
        line.starts_with("error: tenant \"t\" module sha256:"),
        "{line}"
    );
    assert!(line.contains(" placement: "), "{line}");
    assert!(line.contains("timed out"), "{line}");
}

#[test]
fn eval_declined_and_rejected_modules_have_distinct_exit_codes() {
    let dir = scratch("eval-declined");
    let declining = write(
        &dir,
        "no.wasm",
        constant_module(&json!({"error": {"code": "no_candidate", "message": "nothing fits"}})),
    );
    let rejected = write(&dir, "bad.wasm", forbidden_import_module());
    let input = write(&dir, "req.json", placement_request().to_string());
    let args = |m: &str| {
        fleetward(&[
            "policy",
            "eval",
            m,
            "--decision",
            "placement",
            "--input",
            &input,
            "--now",
            "2026-11-25T17:00:00Z",
        ])
    };
    let o = args(&declining);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no_candidate"), "{}", stderr(&o));
    let o = args(&rejected);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("env::evil"), "{}", stderr(&o));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = scratch("usage");
    let module = write(&dir, "p.wasm", constant_module(&json!({"ok": eu1()})));
    let missing = dir.join("missing.json");
    let o = fleetward(&[
        "policy",
        "eval",
        &module,
        "--decision",
        "placement",
        "--input",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.json"), "{}", stderr(&o));

    let o = fleetward(&[
        "policy",
        "eval",
        &module,
        "--decision",
        "bogus",
        "--input",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown decision kind"),
        "{}",
        stderr(&o)
    );

    let not_json = write(&dir, "bad.json", "{not json");
    let o = fleetward(&[
        "policy",
        "eval",
        &module,
        "--decision",
        "placement",
        "--input",
        &not_json,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not valid JSON"), "{}", stderr(&o));

    let help = fleetward(&["policy", "--help"]);
    assert!(stdout(&help).contains("Exit codes:"), "{}", stdout(&help));
}

/// A fixture dir with two passing cases and one deliberately failing one.
fn fixture_dir(name: &str, failing: bool) -> PathBuf {
    let dir = scratch(name);
    write(&dir, "p.wasm", constant_module(&json!({"ok": eu1()})));
    let suite = json!({"module": "p.wasm", "tenant": "acme", "now": "2026-11-25T17:00:00Z"});
    write(&dir, "suite.json", suite.to_string());
    let case = |expect: Value| {
        json!({"decision": "placement", "request": placement_request(), "expect": expect})
            .to_string()
    };
    write(&dir, "a-exact.json", case(json!({"decision": eu1()})));
    write(
        &dir,
        "b-matches.json",
        case(json!({"matches": {"/seed": "eu-1", "/reason": {"$contains": "always"}}})),
    );
    if failing {
        write(
            &dir,
            "c-wrong-seed.json",
            case(json!({"decision": {"seed": "eu-9", "reason": "always eu-1"}})),
        );
    }
    dir
}

#[test]
fn test_counts_passes_and_shows_a_diff_for_failures() {
    let dir = fixture_dir("test-fail", true);
    let o = fleetward(&["policy", "test", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("test a-exact ... ok"), "{out}");
    assert!(out.contains("test b-matches ... ok"), "{out}");
    assert!(out.contains("test c-wrong-seed ... FAILED"), "{out}");
    assert!(out.contains("---- c-wrong-seed ("), "{out}");
    assert!(
        out.contains("c-wrong-seed.json) ----\n"),
        "file named: {out}"
    );
    assert!(
        out.contains("decision differs (-expected +actual):\n"),
        "{out}"
    );
    assert!(out.contains("\n-  \"seed\": \"eu-9\"\n"), "{out}");
    assert!(out.contains("\n+  \"seed\": \"eu-1\"\n"), "{out}");
    assert!(
        out.contains("\n   \"reason\": \"always eu-1\""),
        "unchanged line as context: {out}"
    );
    assert!(out.contains("\nfailures:\n    c-wrong-seed\n"), "{out}");
    assert!(
        out.contains("test result: FAILED. 2 passed; 1 failed"),
        "{out}"
    );
    assert_eq!(
        out.trim_end().lines().last(),
        Some("2 passed, 1 failed"),
        "{out}"
    );
}

#[test]
fn test_all_passing_exits_0_and_module_flag_overrides_suite() {
    let dir = fixture_dir("test-pass", false);
    let o = fleetward(&["policy", "test", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stdout(&o).trim_end().lines().last(),
        Some("2 passed, 0 failed")
    );

    // --module wins over suite.json: a declining module makes both cases fail.
    let other = write(
        &dir.join(".."),
        "declines.wasm",
        constant_module(&json!({"error": {"code": "no_candidate", "message": "none"}})),
    );
    let o = fleetward(&["policy", "test", dir.to_str().unwrap(), "--module", &other]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("the call failed"), "{out}");
    assert_eq!(
        out.trim_end().lines().last(),
        Some("0 passed, 2 failed"),
        "{out}"
    );
}

#[test]
fn test_expected_errors_and_malformed_fixtures() {
    let dir = scratch("test-errors");
    let module = write(&dir, "loop.wasm", looping_module());
    let case = json!({
        "decision": "placement", "now": "2026-11-25T17:00:00Z", "request": placement_request(),
        "expect": {"error": {"kind": "timed_out"}}
    });
    write(&dir, "times-out.json", case.to_string());
    let o = fleetward(&[
        "policy",
        "test",
        dir.to_str().unwrap(),
        "--module",
        &module,
        "--timeout-ms",
        "20",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("1 passed, 0 failed"));

    // Malformed fixtures are usage errors (2) whose message names the file and what is wrong.
    let refused = |dir: &Path, wanted: &str| {
        let o = fleetward(&["policy", "test", dir.to_str().unwrap(), "--module", &module]);
        assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
        assert!(stderr(&o).contains(wanted), "{}", stderr(&o));
    };
    write(
        &dir,
        "broken.json",
        r#"{"decision": "placement", "expectt": {}}"#,
    );
    refused(&dir, "broken.json");
    // Operators are checked when the case is read.
    let bad_op = scratch("test-bad-operator");
    let mut typo = case.clone();
    typo["expect"] = json!({"matches": {"/seed": {"$lenght": 1}}});
    write(&bad_op, "typo.json", typo.to_string());
    refused(
        &bad_op,
        r#"typo.json: expect.matches./seed: unknown operator "$lenght""#,
    );
    // A directory without a case file asserts nothing: not a pass.
    refused(&scratch("test-no-cases"), "no fixture cases");

    let empty = scratch("test-no-module");
    write(&empty, "x.json", case.to_string());
    let o = fleetward(&["policy", "test", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--module"), "{}", stderr(&o));
}

/// The Zig example policy, built by `scripts/build-zig-example.sh` (CI runs it before the tests).
#[test]
fn zig_example_policy_passes_its_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let module = root.join("target/examples/zig-placement.wasm");
    let fixtures = root.join("examples/policies/zig-placement/fixtures");
    if !module.exists() {
        use std::io::Write as _;
        // Straight to stderr: libtest captures eprintln! of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "\n==== SKIPPED zig_example_policy_passes_its_fixtures: {} not built; run scripts/build-zig-example.sh ====\n",
            module.display()
        );
        return;
    }
    let o = fleetward(&["policy", "inspect", module.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "zig module must load: {}",
        stdout(&o)
    );
    let o = fleetward(&[
        "policy",
        "test",
        fixtures.to_str().unwrap(),
        "--module",
        module.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(" 0 failed"), "{}", stdout(&o));
}

/// The Go port of the upgrade-ordering policy (built by `scripts/build-go-policies.sh`, which
/// `scripts/test.sh` runs) passes the Rust policy's own fixture directory through the CLI.
#[test]
fn go_upgrade_ordering_passes_the_rust_policys_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let module = root.join("target/go-policies/upgrade-ordering.wasm");
    let fixtures = root.join("policies/upgrade-ordering/fixtures");
    if !module.exists() {
        assert!(
            std::env::var("FLEETWARD_REQUIRE_GO").as_deref() != Ok("1"),
            "{} missing and FLEETWARD_REQUIRE_GO=1: run scripts/build-go-policies.sh",
            module.display()
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n==== SKIPPED go_upgrade_ordering_passes_the_rust_policys_fixtures: {} not built; run scripts/build-go-policies.sh ====\n",
            module.display()
        );
        return;
    }
    let o = fleetward(&["policy", "inspect", module.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "Go module must load: {}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("upgrade_ordering"), "{}", stdout(&o));
    let o = fleetward(&[
        "policy",
        "test",
        fixtures.to_str().unwrap(),
        "--module",
        module.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("14 passed, 0 failed"), "{}", stdout(&o));
}

/// Each reference policy (built from source by `fleetward-test-policies`) passes the fixture
/// directory next to its sources, run through the CLI against the built module.
#[test]
fn reference_policies_pass_their_fixture_dirs() {
    use fleetward_sdk::wire::DecisionKind;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut ran = 0;
    for (kind, module) in fleetward_test_policies::all() {
        let name = match kind {
            DecisionKind::Placement => "placement",
            DecisionKind::UpgradeOrdering => "upgrade-ordering",
            DecisionKind::Remediation => "remediation",
        };
        let fixtures = root.join("policies").join(name).join("fixtures");
        if !fixtures.is_dir() {
            eprintln!(
                "==== SKIPPED {name}: no fixture directory {} ====",
                fixtures.display()
            );
            continue;
        }
        let o = fleetward(&["policy", "inspect", module]);
        assert_eq!(o.status.code(), Some(0), "{name} must load: {}", stdout(&o));
        assert!(
            stdout(&o).contains(&format!("decisions:        {kind}")),
            "{}",
            stdout(&o)
        );
        let o = fleetward(&[
            "policy",
            "test",
            fixtures.to_str().unwrap(),
            "--module",
            module,
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{name}:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(
            stdout(&o).trim_end().ends_with(" 0 failed"),
            "{}",
            stdout(&o)
        );
        ran += 1;
    }
    assert!(ran >= 1, "at least the placement policy has fixtures");
}

#[test]
fn eval_reads_the_request_from_stdin() {
    use std::io::Write;
    let dir = scratch("eval-stdin");
    let module = write(&dir, "p.wasm", constant_module(&json!({"ok": eu1()})));
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .args([
            "policy",
            "eval",
            &module,
            "--decision",
            "placement",
            "--input",
            "-",
            "--now",
            "2026-11-25T17:00:00Z",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn fleetward");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(placement_request().to_string().as_bytes())
        .expect("write request");
    drop(stdin);
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(serde_json::from_slice::<Value>(&o.stdout).unwrap(), eu1());
}

/// The Go toolchain, if installed (on PATH or in /usr/local/go); `None` after a loud skip line,
/// or a panic when `FLEETWARD_REQUIRE_GO=1` (CI).
fn go_tool(test: &str) -> Option<PathBuf> {
    let candidates = [PathBuf::from("go"), PathBuf::from("/usr/local/go/bin/go")];
    for go in candidates {
        if Command::new(&go)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(go);
        }
    }
    assert!(
        std::env::var("FLEETWARD_REQUIRE_GO").as_deref() != Ok("1"),
        "{test}: Go is not installed and FLEETWARD_REQUIRE_GO=1"
    );
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "\n==== SKIPPED {test}: Go (>= 1.24) is not installed ====\n"
    );
    None
}

/// `policy new KIND NAME --lang go` scaffolds, outside this repository, a project whose native
/// `go test` passes, which builds with the one documented command, and whose module passes its
/// own fixture through `fleetward policy test`.
#[test]
fn policy_new_go_scaffolds_a_project_that_builds_with_one_command() {
    let root = scratch("policy-new-go");
    let existing = fleetward(&[
        "policy",
        "new",
        "placement",
        root.to_str().unwrap(),
        "--lang",
        "go",
    ]);
    assert_eq!(existing.status.code(), Some(2), "{}", stderr(&existing));
    assert!(
        stderr(&existing).contains("already exists"),
        "{}",
        stderr(&existing)
    );
    let Some(go) = go_tool("policy_new_go_scaffolds_a_project_that_builds_with_one_command") else {
        return;
    };
    for kind in ["placement", "upgrade_ordering", "remediation"] {
        let dir = root.join(format!("my-{kind}"));
        let o = fleetward(&["policy", "new", kind, dir.to_str().unwrap(), "--lang", "go"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            stdout(&o).contains("go build -buildmode=c-shared"),
            "{}",
            stdout(&o)
        );
        let run = |cmd: &mut Command| {
            let o = cmd
                .current_dir(&dir)
                .env("GOTOOLCHAIN", "local")
                .output()
                .expect("go runs");
            assert!(
                o.status.success(),
                "{kind}: {cmd:?}\n{}{}",
                stdout(&o),
                stderr(&o)
            );
        };
        run(Command::new(&go).args(["test", "./..."]));
        // docs/policies-go.md's one build command.
        run(Command::new(&go)
            .args(["build", "-buildmode=c-shared", "-o", "policy.wasm", "."])
            .env("GOOS", "wasip1")
            .env("GOARCH", "wasm"));
        let fixtures = dir.join("fixtures");
        let o = fleetward(&["policy", "test", fixtures.to_str().unwrap()]);
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
