//! Loading hostile modules through the `fleetward` binary and its compiler child: refusals exit
//! 3 with a typed one-line reason, the CLI stays within a memory limit while refusing a
//! million-function module, compile budgets are enforced on the child, limits are range-checked,
//! and module-written text is shown escaped.
//!
//! Big modules are generated here, never committed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fleetward_engine::{CompileBudget, Compiler, Engine, EngineConfig, Limits, PolicyErrorKind};
use fleetward_sdk::wire::{DecisionKind, Timestamp};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_fleetward");

fn fleetward(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run fleetward")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fleetward-loading-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path.display().to_string()
}

fn leb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A valid core module of `n` empty functions (about 4 MB for a million).
fn many_functions(n: u32) -> Vec<u8> {
    let section = |out: &mut Vec<u8>, id: u8, body: &[u8]| {
        out.push(id);
        leb(out, body.len() as u64);
        out.extend_from_slice(body);
    };
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(&mut m, 1, &[1, 0x60, 0, 0]);
    let mut funcs = Vec::new();
    leb(&mut funcs, n.into());
    funcs.resize(funcs.len() + n as usize, 0);
    section(&mut m, 3, &funcs);
    let mut code = Vec::new();
    leb(&mut code, n.into());
    for _ in 0..n {
        code.extend_from_slice(&[2, 0, 0x0b]);
    }
    section(&mut m, 10, &code);
    m
}

/// An ABI v1 placement module answering `{"ok":{"seed":null,"reason":"r","scores":[]}}`, with
/// `extra` added (functions, exports, an `_initialize`) and `pages` of initial memory.
fn abi_module(pages: u32, extra: &str) -> Vec<u8> {
    let out = r#"{"ok":{"seed":null,"reason":"r","scores":[]}}"#;
    let text = format!(
        r#"(module
  (memory (export "memory") {pages})
  (global $bump (mut i32) (i32.const 4096))
  (func (export "fleetward_abi_version") (result i32) (i32.const 1))
  (func (export "fleetward_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (local.get $p) (local.get $len)))
    (local.get $p))
  (data (i32.const 1024) "{esc}")
  (func (export "fleetward_place") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const {len})))
  {extra})"#,
        esc = out.replace('"', "\\\""),
        len = out.len(),
    );
    wat::parse_str(text).expect("valid wat")
}

/// `abi_module` plus `n` more empty functions: under the function cap, expensive to compile.
fn expensive(n: usize) -> Vec<u8> {
    abi_module(1, &"(func)\n".repeat(n))
}

fn request() -> Value {
    json!({
        "cluster": {"id": {"namespace": "t", "name": "c"}, "labels": {}, "version": "1.31.0",
                    "constraints": {"regions": [], "providers": [], "seed_labels": {}}},
        "seeds": [], "tenant_placements": []
    })
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-25T17:00:00Z").unwrap()
}

/// An engine compiling through the built binary with `budget`.
fn child_engine(budget: CompileBudget) -> Engine {
    Engine::new(
        EngineConfig::default()
            .compiler(Compiler::Subprocess(BIN.into()))
            .compile_budget(budget),
    )
    .expect("engine")
}

#[test]
fn the_cli_refuses_a_million_functions_within_a_256_mib_data_limit() {
    let dir = scratch("million");
    let module = write(&dir, "million.wasm", many_functions(1_000_000));
    let req = write(&dir, "req.json", request().to_string());
    // RLIMIT_DATA (KiB) caps the CLI's heap: compiling this module needs 5.5 GB, refusing it
    // must need almost nothing. Exceeding the limit would abort the process (not exit 3).
    for args in [
        vec!["policy", "inspect", module.as_str()],
        vec![
            "policy",
            "eval",
            module.as_str(),
            "--decision",
            "placement",
            "--input",
            req.as_str(),
            "--now",
            "2026-11-25T17:00:00Z",
        ],
    ] {
        let out = Command::new("sh")
            .arg("-c")
            .arg("ulimit -d 262144 && exec \"$0\" \"$@\"")
            .arg(BIN)
            .args(&args)
            .output()
            .expect("sh");
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("declares 1000000 functions, over the cap of 50000"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn module_reads_are_bounded_and_over_cap_files_exit_3() {
    let dir = scratch("big");
    let big = dir.join("big.wasm");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(200 * 1024 * 1024).unwrap(); // sparse: 200 MB that costs no disk
    for path in [big.display().to_string(), "/dev/zero".to_string()] {
        let out = fleetward(&["policy", "inspect", &path]);
        assert_eq!(out.status.code(), Some(3), "{path}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("16777217 bytes, over the 16777216-byte module size cap"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn limit_flags_out_of_range_are_usage_errors() {
    let dir = scratch("limits");
    let module = write(&dir, "m.wasm", abi_module(1, ""));
    let req = write(&dir, "req.json", request().to_string());
    for (flag, value) in [
        ("--timeout-ms", "0"),
        ("--timeout-ms", "99999999999"),
        ("--memory-mib", "0"),
        ("--memory-mib", "5000"),
        ("--fuel", "0"),
    ] {
        let out = fleetward(&[
            "policy",
            "eval",
            &module,
            "--decision",
            "placement",
            "--input",
            &req,
            "--now",
            "2026-11-25T17:00:00Z",
            flag,
            value,
        ]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {value}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("is not in"),
            "{flag} {value}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn load_refusals_exit_3_each_with_its_own_reason_and_limits_are_the_tenants() {
    let dir = scratch("refusals");
    let req = write(&dir, "req.json", request().to_string());
    let eval = |module: &str, extra: &[&str]| {
        let mut args = vec![
            "policy",
            "eval",
            module,
            "--decision",
            "placement",
            "--input",
            &req,
            "--now",
            "2026-11-25T17:00:00Z",
        ];
        args.extend_from_slice(extra);
        fleetward(&args)
    };
    // A 10M-entry table: a typed refusal, exit 3, not an internal error.
    let table = write(
        &dir,
        "table.wasm",
        abi_module(1, "(table 10000000 funcref)"),
    );
    let out = eval(&table, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("10000000 initial table elements"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("internal"), "{}", stderr(&out));
    // 100 MiB of initial memory: refused under the default 64 MiB, loads with --memory-mib 128.
    let big_memory = write(&dir, "mem.wasm", abi_module(1600, ""));
    let out = eval(&big_memory, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("declares 104857600 bytes of initial memory"),
        "{}",
        stderr(&out)
    );
    let out = eval(&big_memory, &["--memory-mib", "128"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A looping `_initialize` stops at the tenant's timeout, at load (exit 3).
    let looping = write(
        &dir,
        "init.wasm",
        abi_module(1, r#"(func (export "_initialize") (loop $l (br $l)))"#),
    );
    let out = eval(&looping, &["--timeout-ms", "300"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timed out after 300ms"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn module_text_is_shown_escaped() {
    let dir = scratch("escapes");
    let req = write(&dir, "req.json", request().to_string());
    let reply = serde_json::to_string(
        &json!({"error": {"code": "evil", "message": "\u{1b}[2J\u{1b}]0;pwned\u{7}\rall good"}}),
    )
    .unwrap();
    let log = "\u{1b}[31mred\u{1b}[0m\r\n";
    let text = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fleetward_abi_version") (result i32) (i32.const 1))
  (func (export "fleetward_alloc") (param i32) (result i32) (i32.const 8192))
  (data (i32.const 256) "{log_esc}")
  (data (i32.const 1024) "{reply_esc}")
  (func (export "fleetward_place") (param i32 i32) (result i64)
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const {log_len}))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const {reply_len}))))"#,
        log_esc = log
            .bytes()
            .map(|b| format!("\\{b:02x}"))
            .collect::<String>(),
        log_len = log.len(),
        reply_esc = reply
            .bytes()
            .map(|b| format!("\\{b:02x}"))
            .collect::<String>(),
        reply_len = reply.len(),
    );
    let module = write(&dir, "evil.wasm", wat::parse_str(text).unwrap());
    let out = fleetward(&[
        "policy",
        "eval",
        &module,
        "--decision",
        "placement",
        "--input",
        &req,
        "--now",
        "2026-11-25T17:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\rall good"),
        "{err}"
    );
    assert!(
        !out.stderr.iter().any(|b| matches!(b, 0x1b | 0x07 | b'\r')),
        "raw control bytes: {err:?}"
    );
}

#[test]
fn the_compiler_child_builds_modules_the_engine_runs_plain_and_metered() {
    let engine = child_engine(CompileBudget::default());
    let module = engine
        .load(&abi_module(1, ""))
        .expect("compiled in the child");
    assert_eq!(engine.compiles(), 1);
    for fuel in [None, Some(1_000_000)] {
        let policy = engine
            .bind(
                &module,
                "acme",
                Value::Null,
                Limits {
                    fuel,
                    ..Limits::default()
                },
            )
            .expect("binds");
        let out = policy
            .call_json_blocking(DecisionKind::Placement, &request(), now())
            .expect("decides");
        assert_eq!(out.decision["reason"], "r");
    }
}

#[test]
fn an_expensive_module_over_the_memory_budget_is_refused_once() {
    // 45,000 functions: under the 50,000 cap, but compiling them needs far more than 48 MiB,
    // while a small module compiles within the same budget.
    let budget = CompileBudget {
        time: Duration::from_secs(120),
        memory_bytes: 48 * 1024 * 1024,
    };
    let engine = child_engine(budget);
    engine
        .load(&abi_module(1, ""))
        .expect("a small module fits the budget");
    let bytes = expensive(45_000);
    let err = engine.load(&bytes).expect_err("over the memory budget");
    assert!(
        matches!(err.kind, PolicyErrorKind::CompileMemoryExceeded { limit } if limit == budget.memory_bytes),
        "{err}"
    );
    assert_eq!(err.metric_label(), "compile_memory_exceeded");
    let compiles = engine.compiles();
    // The same bytes under the same budget: answered from memory, not compiled again.
    let again = engine.load(&bytes).expect_err("still refused");
    assert!(matches!(
        again.kind,
        PolicyErrorKind::CompileMemoryExceeded { .. }
    ));
    assert_eq!(engine.compiles(), compiles);
}

#[test]
fn an_expensive_module_over_the_time_budget_is_stopped() {
    // 45,000 functions take seconds to compile (a million took 62 s); the budget is 50 ms.
    let budget = CompileBudget {
        time: Duration::from_millis(50),
        memory_bytes: fleetward_engine::DEFAULT_COMPILE_MEMORY,
    };
    let engine = child_engine(budget);
    let err = engine
        .load(&expensive(45_000))
        .expect_err("over the time budget");
    assert!(
        matches!(err.kind, PolicyErrorKind::CompileTimedOut { limit } if limit == budget.time),
        "{err}"
    );
}

#[test]
fn a_missing_compiler_is_the_hosts_fault_not_the_modules() {
    let engine = Engine::new(
        EngineConfig::default().compiler(Compiler::Subprocess("/nonexistent/fleetward".into())),
    )
    .unwrap();
    let err = engine.load(&abi_module(1, "")).expect_err("no compiler");
    assert!(
        matches!(err.kind, PolicyErrorKind::CompilerUnavailable { .. }),
        "{err}"
    );
}
