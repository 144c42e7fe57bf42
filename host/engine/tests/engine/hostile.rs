//! Hostile modules: each must fail with its own specific error, and the same engine must
//! serve a normal call right after.

use std::time::{Duration, Instant};

use fleetward_engine::{Limits, MAX_OUTPUT_BYTES, PolicyError, PolicyErrorKind};
use fleetward_sdk::wire::{CallKind, DecisionKind};
use serde_json::{Value, json};

use crate::modules::{
    assert_healthy, bind, constant, data_str, engine, now, policy, policy_with, wasm,
};

/// Runs `bytes` once as a placement decision under `limits` and returns the error.
fn fail(bytes: &[u8], limits: Limits) -> PolicyError {
    let policy = bind(bytes, limits);
    let err = policy
        .call_json_blocking(DecisionKind::Placement, &json!({}), now())
        .expect_err("the hostile call must fail");
    assert_eq!(err.tenant.as_deref(), Some("acme"), "{err}");
    assert_eq!(err.call, Some(CallKind::Placement), "{err}");
    assert_eq!(err.digest.as_ref(), Some(policy.digest()), "{err}");
    err
}

fn load_err(bytes: &[u8]) -> PolicyErrorKind {
    engine().load(bytes).expect_err("load must fail").kind
}

fn rejected_reasons(bytes: &[u8]) -> Vec<String> {
    match load_err(bytes) {
        PolicyErrorKind::ModuleRejected { reasons } => reasons,
        other => panic!("expected ModuleRejected, got {other:?}"),
    }
}

#[test]
fn infinite_loop_times_out_within_its_limit() {
    let limit = Duration::from_millis(30);
    let started = Instant::now();
    let err = fail(
        &policy("(loop $forever (br $forever)) (unreachable)", ""),
        Limits {
            timeout: limit,
            ..Limits::default()
        },
    );
    let elapsed = started.elapsed();
    assert!(
        matches!(err.kind, PolicyErrorKind::TimedOut { limit: l } if l == limit),
        "{err}"
    );
    assert_eq!(err.metric_label(), "timed_out");
    assert!(elapsed >= limit, "interrupted early: {elapsed:?}");
    assert!(elapsed < limit + Duration::from_secs(1), "{elapsed:?}");
    assert_healthy();
}

#[test]
fn memory_growth_past_the_cap_is_memory_limit_exceeded() {
    let limit = 4 * 1024 * 1024;
    // Grows 1 MiB at a time until refused, then traps as an allocator would.
    let err = fail(
        &policy(
            "(loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (unreachable)",
            "",
        ),
        Limits {
            memory_bytes: limit,
            ..Limits::default()
        },
    );
    assert!(
        matches!(err.kind, PolicyErrorKind::MemoryLimitExceeded { limit: l } if l == limit),
        "{err}"
    );
    assert_healthy();
}

#[test]
fn a_refused_growth_wins_over_the_timeout_it_caused() {
    // Asks for 1 GiB under the default 64 MiB, then spins as a collector that cannot grow would
    // (Go does): the deadline interrupts it, but the cause is the memory limit.
    let err = fail(
        &policy(
            "(drop (memory.grow (i32.const 16384))) (loop $gc (br $gc)) (unreachable)",
            "",
        ),
        Limits::default(),
    );
    assert!(
        err.to_string()
            .ends_with("memory limit exceeded (67108864 bytes)"),
        "{err}"
    );
    assert_eq!(err.metric_label(), "memory_limit_exceeded");
    assert_healthy();
}

#[test]
fn initial_memory_over_the_tenant_limit_is_refused_at_bind_and_loads_under_a_larger_one() {
    let bytes = wasm(&policy_with("", 1, "(unreachable)", "").replace(
        r#"(memory (export "memory") 2)"#,
        r#"(memory (export "memory") 200)"#,
    ));
    let module = engine().load(&bytes).unwrap();
    // 200 pages = 12.5 MiB > 8 MiB.
    let err = engine()
        .bind(
            &module,
            "acme",
            Value::Null,
            Limits {
                memory_bytes: 8 * 1024 * 1024,
                ..Limits::default()
            },
        )
        .expect_err("over the tenant's limit");
    assert!(
        matches!(err.kind, PolicyErrorKind::InitialMemoryOverLimit { declared, limit }
            if declared == 200 * 65536 && limit == 8 * 1024 * 1024),
        "{err}"
    );
    assert_eq!(err.metric_label(), "initial_memory_over_limit");
    // The load-time check uses the tenant's limits: 16 MiB admits it.
    engine()
        .bind(
            &module,
            "acme",
            Value::Null,
            Limits {
                memory_bytes: 16 * 1024 * 1024,
                ..Limits::default()
            },
        )
        .expect("binds under a limit that admits its initial memory");
    assert_healthy();
}

#[test]
fn unbounded_recursion_exhausts_the_stack() {
    let err = fail(
        &policy(
            "(drop (call $recurse (i32.const 0))) (unreachable)",
            "(func $recurse (param i32) (result i32) (call $recurse (i32.add (local.get 0) (i32.const 1))))",
        ),
        Limits::default(),
    );
    assert!(matches!(err.kind, PolicyErrorKind::StackExhausted), "{err}");
    assert_healthy();
}

#[test]
fn out_of_bounds_output_is_invalid_output() {
    for (ptr, len) in [(0xFFFF_0000u32, 100u32), (131_000, 1_000), (0, u32::MAX)] {
        let err = fail(
            &policy(
                &format!(
                    "(call $pack (i32.const {}) (i32.const {}))",
                    ptr as i32, len as i32
                ),
                "",
            ),
            Limits::default(),
        );
        match &err.kind {
            PolicyErrorKind::InvalidOutput { path, message } => {
                assert_eq!(path, "$");
                assert!(message.contains("out of bounds"), "{message}");
            }
            other => panic!("{ptr}/{len}: {other:?}"),
        }
        assert_healthy();
    }
}

#[test]
fn oversized_output_is_output_too_large() {
    let size = 2 * 1024 * 1024;
    let err = fail(
        &policy(
            &format!(
                "(drop (memory.grow (i32.const 40))) (call $pack (i32.const 0) (i32.const {size}))"
            ),
            "",
        ),
        Limits::default(),
    );
    assert!(
        matches!(err.kind, PolicyErrorKind::OutputTooLarge { size: s, limit } if s == size && limit == MAX_OUTPUT_BYTES),
        "{err}"
    );
    assert_healthy();
}

#[test]
fn invalid_utf8_and_invalid_json_are_invalid_output() {
    for (bytes, expect) in [
        (&b"{\"ok\":\"\xff\xfe\"}"[..], "not UTF-8"),
        (b"{\"ok\": {", "not JSON"),
        (b"{\"answer\": 42}", "`ok` or `error`"),
    ] {
        let err = fail(&constant(bytes), Limits::default());
        match &err.kind {
            PolicyErrorKind::InvalidOutput { path, message } => {
                assert_eq!(path, "$");
                assert!(message.contains(expect), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_healthy();
    }
}

#[test]
fn missing_exports_are_rejected_by_name() {
    let reasons = rejected_reasons(&wasm(r#"(module (memory (export "mem") 1))"#));
    let all = reasons.join("\n");
    for name in [
        "memory",
        "fleetward_abi_version",
        "fleetward_alloc",
        "no decision export",
    ] {
        assert!(all.contains(name), "{name} not in {all}");
    }
    assert_healthy();
}

#[test]
fn mistyped_exports_are_rejected_with_the_signature() {
    let bytes = wasm(&policy_with("", 1, "(i64.const 0)", "").replace(
        "(export \"fleetward_remediate\" (func $decide))",
        "(func (export \"fleetward_remediate\") (param i32) (result i32) (i32.const 0))",
    ));
    let all = rejected_reasons(&bytes).join("\n");
    assert!(
        all.contains("`fleetward_remediate` has signature i->i, expected ii->I"),
        "{all}"
    );
    assert_healthy();
}

#[test]
fn forbidden_imports_are_rejected_each_by_name() {
    let imports = r#"
  (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))
  (import "env" "socket" (func (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))
  (import "env" "shared_memory" (memory 1))
  (import "env" "table" (table 1 funcref))
  (import "env" "global" (global i32))"#;
    let bytes = wasm(&policy_with(imports, 1, "(i64.const 0)", "").replace(
        r#"(memory (export "memory") 2)"#,
        "(export \"memory\" (memory 0))",
    ));
    let reasons = rejected_reasons(&bytes);
    let all = reasons.join("\n");
    for name in [
        "forbidden import `wasi_snapshot_preview1::path_open`",
        "forbidden import `wasi_snapshot_preview1::sock_accept`",
        "forbidden import `env::socket`",
        "import `wasi_snapshot_preview1::fd_write` has signature i->i, expected iiii->i",
        "forbidden import `env::shared_memory` (an imported memory",
        "forbidden import `env::table` (an imported table",
        "forbidden import `env::global` (an imported global",
    ] {
        assert!(all.contains(name), "{name} not in\n{all}");
    }
    assert_eq!(reasons.len(), 7, "{all}");
    assert_healthy();
}

#[test]
fn unreachable_trap_reports_the_guest_function() {
    let err = fail(
        &policy(
            "(call $policy_panicked) (i64.const 0)",
            "(func $policy_panicked (unreachable))",
        ),
        Limits::default(),
    );
    match &err.kind {
        PolicyErrorKind::Trap { message, frames } => {
            assert!(message.contains("unreachable"), "{message}");
            assert_eq!(
                frames.first().map(String::as_str),
                Some("policy_panicked"),
                "{frames:?}"
            );
            assert!(frames.iter().any(|f| f == "decide"), "{frames:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_healthy();
}

#[test]
fn fuel_exhaustion_is_out_of_fuel() {
    let err = fail(
        &policy("(loop $forever (br $forever)) (unreachable)", ""),
        Limits {
            fuel: Some(100_000),
            timeout: Duration::from_secs(10),
            ..Limits::default()
        },
    );
    assert!(
        matches!(err.kind, PolicyErrorKind::OutOfFuel { limit: 100_000 }),
        "{err}"
    );
    assert_healthy();
}

#[test]
fn oversized_config_is_refused_at_bind() {
    let module = engine().load(&constant(br#"{"ok":{}}"#)).unwrap();
    let config = json!({"blob": "x".repeat(300 * 1024)});
    let err = engine()
        .bind(&module, "acme", config, Limits::default())
        .expect_err("config too large");
    assert!(
        matches!(
            err.kind,
            PolicyErrorKind::ConfigTooLarge { limit: 262_144, .. }
        ),
        "{err}"
    );
    assert_eq!(err.tenant.as_deref(), Some("acme"));
    assert_healthy();
}

#[test]
fn oversized_input_is_refused_before_running() {
    let policy = bind(&constant(br#"{"ok":{}}"#), Limits::default());
    let request = Value::String("x".repeat(5 * 1024 * 1024));
    let err = policy
        .call_json_blocking(DecisionKind::Placement, &request, now())
        .expect_err("input too large");
    assert!(
        matches!(
            err.kind,
            PolicyErrorKind::InputTooLarge {
                limit: 4_194_304,
                ..
            }
        ),
        "{err}"
    );
    assert_healthy();
}

#[test]
fn proc_exit_ends_the_call_with_its_code() {
    let bytes = wasm(&policy_with(
        r#"(import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))"#,
        1,
        "(call $proc_exit (i32.const 3)) (i64.const 0)",
        "",
    ));
    let err = fail(&bytes, Limits::default());
    assert!(
        matches!(err.kind, PolicyErrorKind::PolicyExited { code: 3 }),
        "{err}"
    );
    assert_healthy();
}

#[test]
fn abi_mismatch_is_refused_at_bind() {
    let module = engine()
        .load(&wasm(&policy_with("", 2, "(i64.const 0)", "")))
        .unwrap();
    let err = engine()
        .bind(&module, "acme", Value::Null, Limits::default())
        .expect_err("ABI 2");
    assert!(
        matches!(err.kind, PolicyErrorKind::AbiMismatch { found: 2 }),
        "{err}"
    );
    assert_healthy();
}

#[test]
fn not_wasm_and_components_are_invalid_modules() {
    for (bytes, says) in [
        (b"\0asm garbage".to_vec(), "unknown binary version"),
        (wasm("(component)"), "component"),
    ] {
        match load_err(&bytes) {
            PolicyErrorKind::InvalidModule { message } => {
                assert!(message.contains(says), "{message}")
            }
            other => panic!("expected InvalidModule, got {other:?}"),
        }
    }
    assert_healthy();
}

#[test]
fn a_declined_decision_is_declined_with_code_and_message() {
    let err = fail(
        &constant(br#"{"error":{"code":"no_candidate","message":"no seed fits"}}"#),
        Limits::default(),
    );
    match &err.kind {
        PolicyErrorKind::Declined { code, message } => {
            assert_eq!(
                (code.as_str(), message.as_str()),
                ("no_candidate", "no seed fits")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_healthy();
}

#[test]
fn config_rejected_by_the_module_validator() {
    let reply = br#"{"error":{"code":"invalid_config","message":"waves[2]: unknown operator"}}"#;
    let bytes = policy(
        "(i64.const 0)",
        &format!(
            r#"(data (i32.const 1024) "{}")
  (func (export "fleetward_validate_config") (param i32 i32) (result i64)
    (call $pack (i32.const 1024) (i32.const {})))"#,
            data_str(reply),
            reply.len()
        ),
    );
    let module = engine().load(&bytes).unwrap();
    assert!(module.info().validates_config);
    let err = engine()
        .bind(&module, "acme", json!({"waves": []}), Limits::default())
        .expect_err("config rejected");
    assert_eq!(err.call, Some(CallKind::ValidateConfig));
    match &err.kind {
        PolicyErrorKind::ConfigRejected { code, message } => {
            assert_eq!(code, "invalid_config");
            assert_eq!(message, "waves[2]: unknown operator");
        }
        other => panic!("{other:?}"),
    }
    assert_healthy();
}

#[test]
fn alloc_returning_a_bad_pointer_is_invalid_output() {
    let bytes = wasm(&policy_with("", 1, "(i64.const 0)", "").replace(
        "(local.set $p (global.get $bump))",
        "(return (i32.const 2147483632))",
    ));
    let err = fail(&bytes, Limits::default());
    assert!(
        matches!(&err.kind, PolicyErrorKind::InvalidOutput { path, .. } if path == "fleetward_alloc"),
        "{err}"
    );
    assert_healthy();
}
