//! The WAT policy modules every test uses, and a shared engine, so concurrent tests share
//! one compilation of a module (the engine keeps a module only while a test holds it).
//!
//! Memory layout of the generated modules: 0..512 constant strings (`data`), 512.. values for
//! `$emit`, 8192.. the `$emit` output buffer, 16384.. the bump heap of `fleetward_alloc`.

use std::sync::OnceLock;

use fleetward_engine::{CompileBudget, Engine, EngineConfig, Limits, PolicyModule, TenantPolicy};
use fleetward_sdk::wire::{DecisionKind, Timestamp};
use serde_json::{Value, json};

/// The engine most tests share. Its compile budget is generous (2 min instead of 10 s): these
/// test binaries compile in-process with a debug host, and a standard-Go module (2–3 MB) took
/// over 10 s there when the machine was loaded, failing the `go::` tests with
/// `CompileTimedOut`. The budget itself is tested with its own engines
/// (`host/cli/tests/loading.rs`, `compile.rs` unit tests).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let budget = CompileBudget {
            time: std::time::Duration::from_secs(120),
            ..CompileBudget::default()
        };
        Engine::new(EngineConfig::default().compile_budget(budget)).expect("engine")
    })
}

/// The decision time tests use.
pub fn now() -> Timestamp {
    Timestamp::parse("2026-11-25T17:00:00Z").unwrap()
}

/// Compiles WAT text to Wasm bytes.
pub fn wasm(wat_text: &str) -> Vec<u8> {
    wat::parse_str(wat_text).unwrap_or_else(|e| panic!("bad test WAT: {e}\n{wat_text}"))
}

/// Escapes bytes for a WAT data string.
pub fn data_str(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A complete ABI v1 module: `imports` first, then memory, `fleetward_abi_version` returning
/// `abi`, a bump `fleetward_alloc`, helper functions `$pack`, `$emit`, `$const_out`, and
/// `$decide` (with `decide_body`, params `$ptr $len`, locals `$i $o` i32 and `$v` i64)
/// exported as all three decisions. `extra` adds functions, data and exports.
pub fn policy_with(imports: &str, abi: i32, decide_body: &str, extra: &str) -> String {
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 16384))
  (func (export "fleetward_abi_version") (result i32) i32.const {abi})
  (func $alloc (export "fleetward_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (block $fits
      (loop $grow
        (br_if $fits (i32.le_u (i32.add (local.get $p) (local.get $len))
                               (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (return (i32.const 0))))
        (br $grow)))
    (global.set $bump (i32.add (local.get $p) (local.get $len)))
    (local.get $p))
  (func $pack (param $p i32) (param $l i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
            (i64.extend_i32_u (local.get $l))))
  (func $hexdigit (param $v i32) (result i32)
    (select (i32.add (local.get $v) (i32.const 48)) (i32.add (local.get $v) (i32.const 87))
            (i32.lt_u (local.get $v) (i32.const 10))))
  ;; {{"ok":["<16 hex digits of the i64 at 512+8i>", ...]}} for i < $n
  (func $emit (param $n i32) (result i64)
    (local $i i32) (local $o i32) (local $v i64) (local $j i32)
    (memory.copy (i32.const 8192) (i32.const 448) (i32.const 7))
    (local.set $o (i32.const 8199))
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (if (local.get $i) (then
        (i32.store8 (local.get $o) (i32.const 44))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))))
      (i32.store8 (local.get $o) (i32.const 34))
      (local.set $v (i64.load (i32.add (i32.const 512) (i32.shl (local.get $i) (i32.const 3)))))
      (local.set $j (i32.const 0))
      (loop $digits
        (i32.store8 (i32.add (local.get $o) (i32.sub (i32.const 16) (local.get $j)))
          (call $hexdigit (i32.wrap_i64 (i64.and (local.get $v) (i64.const 15)))))
        (local.set $v (i64.shr_u (local.get $v) (i64.const 4)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $digits (i32.lt_u (local.get $j) (i32.const 16))))
      (i32.store8 (i32.add (local.get $o) (i32.const 17)) (i32.const 34))
      (local.set $o (i32.add (local.get $o) (i32.const 18)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $each)))
    (i32.store8 (local.get $o) (i32.const 93))
    (i32.store8 (i32.add (local.get $o) (i32.const 1)) (i32.const 125))
    (call $pack (i32.const 8192) (i32.sub (i32.add (local.get $o) (i32.const 2)) (i32.const 8192))))
  (data (i32.const 448) "{{\"ok\":[")
  (func $decide (param $ptr i32) (param $len i32) (result i64)
    (local $i i32) (local $o i32) (local $v i64)
    {decide_body})
  (export "fleetward_place" (func $decide))
  (export "fleetward_order_upgrades" (func $decide))
  (export "fleetward_remediate" (func $decide))
  {extra}
)"#
    )
}

/// [`policy_with`] without imports, ABI 1.
pub fn policy(decide_body: &str, extra: &str) -> Vec<u8> {
    wasm(&policy_with("", 1, decide_body, extra))
}

/// A policy that returns `output` verbatim from every decision.
pub fn constant(output: &[u8]) -> Vec<u8> {
    policy(
        &format!("(call $pack (i32.const 1024) (i32.const {}))", output.len()),
        &format!("(data (i32.const 1024) \"{}\")", data_str(output)),
    )
}

/// The good module: answers `{"ok": <the input envelope>}`, proving data flows both ways.
pub fn echo() -> Vec<u8> {
    policy(
        r#"(local.set $o (call $alloc (i32.add (local.get $len) (i32.const 7))))
    (memory.copy (local.get $o) (i32.const 0) (i32.const 6))
    (memory.copy (i32.add (local.get $o) (i32.const 6)) (local.get $ptr) (local.get $len))
    (i32.store8 (i32.add (i32.add (local.get $o) (i32.const 6)) (local.get $len)) (i32.const 125))
    (call $pack (local.get $o) (i32.add (local.get $len) (i32.const 7)))"#,
        r#"(data (i32.const 0) "{\"ok\":")"#,
    )
}

/// The echo module, loaded in the shared engine.
pub fn echo_module() -> PolicyModule {
    engine().load(&echo()).expect("echo module loads")
}

/// Binds `bytes` in the shared engine for tenant `acme`.
pub fn bind(bytes: &[u8], limits: Limits) -> TenantPolicy {
    let module = engine().load(bytes).expect("module loads");
    engine()
        .bind(&module, "acme", Value::Null, limits)
        .expect("module binds")
}

/// Asserts the shared engine still serves a normal call correctly.
pub fn assert_healthy() {
    let policy = engine()
        .bind(
            &echo_module(),
            "healthy",
            json!({"k": "v"}),
            Limits::default(),
        )
        .expect("bind echo");
    let request = json!({"probe": [1, 2, 3]});
    let out = policy
        .call_json_blocking(DecisionKind::Remediation, &request, now())
        .expect("the engine serves a normal call after a hostile one");
    assert_eq!(out.decision["tenant"], "healthy");
    assert_eq!(out.decision["decision"], "remediation");
    assert_eq!(out.decision["config"], json!({"k": "v"}));
    assert_eq!(out.decision["request"], request);
    assert_eq!(out.decision["now"], "2026-11-25T17:00:00Z");
}

/// The hex strings an `$emit` module returned, as integers.
pub fn emitted(decision: &Value) -> Vec<u64> {
    decision
        .as_array()
        .expect("an array of hex strings")
        .iter()
        .map(|v| u64::from_str_radix(v.as_str().expect("hex string"), 16).expect("hex"))
        .collect()
}
