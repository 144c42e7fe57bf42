//! Loading hostile modules: every refusal has its own typed kind and costs a bounded amount of
//! work, limits are the tenant's, and module-written text comes back escaped and bounded.
//!
//! The big modules are generated here, never committed. Compile *budgets* are exercised with
//! the real compiler child in `host/cli/tests/cli.rs` (it needs the `fleetward` binary); the
//! time and peak RSS of a refusal are measured by `benches/loading.rs` (docs/perf/engine.md).

use std::time::Duration;

use fleetward_engine::{
    Compiler, Engine, EngineConfig, Limits, MAX_DATA_SEGMENTS, MAX_ELEM_SEGMENTS, MAX_EXPORTS,
    MAX_FUNCTIONS, MAX_GLOBALS, MAX_IMPORTS, MAX_MODULE_TEXT_BYTES, MAX_TABLE_ELEMENTS, MAX_TABLES,
    MAX_TYPES, ModuleCap, PolicyErrorKind,
};
use fleetward_sdk::wire::DecisionKind;
use serde_json::{Value, json};

use crate::modules::{assert_healthy, constant, data_str, engine, now, policy, policy_with, wasm};

/// Appends `n` as unsigned LEB128.
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

fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    leb(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// A valid core module of `n` empty functions `() -> ()` (about 4 MB for a million), written
/// byte by byte: what a hostile tenant would upload to make the compiler work for a minute.
pub fn many_functions(n: u32) -> Vec<u8> {
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

/// A fresh engine compiling in-process (counts its own compiles).
fn fresh() -> Engine {
    Engine::new(EngineConfig::default().compiler(Compiler::InProcess)).unwrap()
}

fn over_cap(bytes: &[u8]) -> (ModuleCap, u64, u64) {
    let engine = fresh();
    match engine.load(bytes).expect_err("over a cap").kind {
        PolicyErrorKind::ModuleOverCap { cap, found, limit } => {
            assert_eq!(engine.compiles(), 0, "refused before compiling");
            (cap, found, limit)
        }
        other => panic!("expected ModuleOverCap, got {other:?}"),
    }
}

#[test]
fn a_million_functions_are_refused_at_the_section_header_without_compiling() {
    let bytes = many_functions(1_000_000);
    assert!(bytes.len() > 3_000_000, "{}", bytes.len());
    let engine = fresh();
    let err = engine.load(&bytes).expect_err("refused");
    assert!(
        matches!(err.kind, PolicyErrorKind::ModuleOverCap { cap: ModuleCap::Functions, found: 1_000_000, limit }
            if limit == u64::from(MAX_FUNCTIONS)),
        "{err}"
    );
    assert_eq!(err.metric_label(), "module_over_cap");
    assert!(
        err.to_string()
            .contains("1000000 functions, over the cap of 50000"),
        "{err}"
    );
    assert_eq!(engine.compiles(), 0);
    // Static inspection (the CLI's `inspect`) refuses it the same way.
    assert!(matches!(
        fleetward_engine::inspect(&bytes).unwrap_err().kind,
        PolicyErrorKind::ModuleOverCap {
            cap: ModuleCap::Functions,
            ..
        }
    ));
}

#[test]
fn every_structural_cap_is_named_when_exceeded() {
    let func = r#"(func $f)"#;
    let repeat = |n: u64, item: &dyn Fn(u64) -> String| (0..n).map(item).collect::<String>();
    let cases: Vec<(ModuleCap, u64, String)> = vec![
        (
            ModuleCap::Exports,
            u64::from(MAX_EXPORTS) + 1,
            format!(
                "(module {func} {})",
                repeat(u64::from(MAX_EXPORTS) + 1, &|i| format!(
                    r#"(export "e{i}" (func $f))"#
                ))
            ),
        ),
        (
            ModuleCap::Imports,
            u64::from(MAX_IMPORTS) + 1,
            format!(
                "(module {})",
                repeat(u64::from(MAX_IMPORTS) + 1, &|i| format!(
                    r#"(import "wasi_snapshot_preview1" "i{i}" (func))"#
                ))
            ),
        ),
        (
            ModuleCap::Types,
            u64::from(MAX_TYPES) + 1,
            format!(
                "(module {})",
                repeat(u64::from(MAX_TYPES) + 1, &|i| format!(
                    "(type $t{i} (func))"
                ))
            ),
        ),
        (
            ModuleCap::Globals,
            u64::from(MAX_GLOBALS) + 1,
            format!(
                "(module {})",
                repeat(u64::from(MAX_GLOBALS) + 1, &|_| {
                    "(global i32 (i32.const 0))".to_string()
                })
            ),
        ),
        (
            ModuleCap::DataSegments,
            u64::from(MAX_DATA_SEGMENTS) + 1,
            format!(
                "(module (memory 1) {})",
                repeat(u64::from(MAX_DATA_SEGMENTS) + 1, &|_| r#"(data "")"#
                    .to_string())
            ),
        ),
        (
            ModuleCap::ElemSegments,
            u64::from(MAX_ELEM_SEGMENTS) + 1,
            format!(
                "(module {func} {})",
                repeat(u64::from(MAX_ELEM_SEGMENTS) + 1, &|_| "(elem func $f)"
                    .to_string())
            ),
        ),
        (
            ModuleCap::Tables,
            u64::from(MAX_TABLES) + 1,
            format!(
                "(module {})",
                repeat(u64::from(MAX_TABLES) + 1, &|_| "(table 1 funcref)"
                    .to_string())
            ),
        ),
        (
            ModuleCap::TableElements,
            10_000_000,
            "(module (table 10000000 funcref))".to_string(),
        ),
        (
            ModuleCap::Memories,
            2,
            "(module (memory 1) (memory 1))".to_string(),
        ),
        (
            ModuleCap::InitialMemory,
            2049 * 65536,
            "(module (memory 2049))".to_string(),
        ),
    ];
    for (cap, found, text) in cases {
        let (got, got_found, limit) = over_cap(&wasm(&text));
        assert_eq!((got, got_found), (cap, found), "{cap}");
        assert!(found > limit, "{cap}");
    }
    let (cap, _, limit) = over_cap(&many_functions(MAX_FUNCTIONS + 1));
    assert_eq!(
        (cap, limit),
        (ModuleCap::Functions, u64::from(MAX_FUNCTIONS))
    );
    assert_eq!(MAX_TABLE_ELEMENTS, 1 << 20);
}

#[test]
fn a_module_at_the_caps_loads() {
    // Right at the function cap is allowed (and is what the compile budget is for).
    let text = format!("(module (table {MAX_TABLE_ELEMENTS} funcref) (memory 2048))");
    let info = fleetward_engine::inspect(&wasm(&text)).unwrap();
    assert_eq!(info.initial_memory_bytes, 128 * 1024 * 1024);
}

#[test]
fn a_ten_million_entry_table_is_a_typed_refusal_not_an_internal_error() {
    let bytes = wasm(&policy_with(
        "",
        1,
        "(i64.const 0)",
        "(table 10000000 funcref)",
    ));
    let err = engine().load(&bytes).expect_err("refused");
    assert!(
        matches!(
            err.kind,
            PolicyErrorKind::ModuleOverCap {
                cap: ModuleCap::TableElements,
                found: 10_000_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("internal"), "{err}");
}

#[test]
fn an_oversized_module_is_module_too_large() {
    let engine = Engine::new(
        EngineConfig::default()
            .compiler(Compiler::InProcess)
            .max_module_size(1024),
    )
    .unwrap();
    let err = engine.load(&many_functions(1000)).expect_err("too large");
    assert!(
        matches!(err.kind, PolicyErrorKind::ModuleTooLarge { limit: 1024, size } if size > 1024),
        "{err}"
    );
    assert_eq!(err.metric_label(), "module_too_large");
}

#[test]
fn a_looping_initialize_stops_at_the_tenants_timeout_at_bind() {
    let bytes = policy(
        "(i64.const 0)",
        r#"(func (export "_initialize") (loop $l (br $l)))"#,
    );
    let module = engine()
        .load(&bytes)
        .expect("loads: nothing of it runs at load");
    let limit = Duration::from_millis(300);
    let err = engine()
        .bind(
            &module,
            "acme",
            Value::Null,
            Limits {
                timeout: limit,
                ..Limits::default()
            },
        )
        .expect_err("times out");
    assert!(
        matches!(err.kind, PolicyErrorKind::TimedOut { limit: l } if l == limit),
        "the tenant's 300 ms, not the default 100 ms: {err}"
    );
    assert_healthy();
}

#[test]
fn limits_out_of_range_are_refused_not_clamped() {
    let module = engine().load(&constant(br#"{"ok":null}"#)).unwrap();
    let bind = |limits: Limits| {
        engine()
            .bind(&module, "acme", Value::Null, limits)
            .expect_err("out of range")
            .kind
    };
    let ceiling = 128 * 1024 * 1024;
    for (limits, what, value) in [
        (
            Limits {
                memory_bytes: ceiling + 1,
                ..Limits::default()
            },
            "memory limit (bytes)",
            ceiling + 1,
        ),
        (
            Limits {
                timeout: Duration::ZERO,
                ..Limits::default()
            },
            "timeout (ms)",
            0,
        ),
        (
            Limits {
                timeout: Duration::from_millis(99_999_999_999),
                ..Limits::default()
            },
            "timeout (ms)",
            99_999_999_999,
        ),
        (
            Limits {
                fuel: Some(0),
                ..Limits::default()
            },
            "fuel",
            0,
        ),
    ] {
        match bind(limits) {
            PolicyErrorKind::LimitOutOfRange {
                what: w, value: v, ..
            } => {
                assert_eq!((w, v), (what, value));
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn alloc_returning_zero_under_the_limit_says_what_happened() {
    let bytes = wasm(&policy_with("", 1, "(i64.const 0)", "").replace(
        "(local.set $p (global.get $bump))",
        "(return (i32.const 0))",
    ));
    let err = crate::modules::bind(&bytes, Limits::default())
        .call_json_blocking(DecisionKind::Placement, &json!({}), now())
        .expect_err("alloc fails");
    match err.kind {
        PolicyErrorKind::AllocFailed {
            requested,
            memory_bytes,
            limit,
        } => {
            assert!(requested > 0);
            assert_eq!(memory_bytes, 2 * 65536, "the module's two pages");
            assert_eq!(limit, Limits::default().memory_bytes);
        }
        other => panic!("expected AllocFailed, got {other:?}"),
    }
    assert!(err.to_string().contains("131072 bytes of linear memory"));
}

#[test]
fn module_written_text_is_escaped_and_bounded() {
    // A decline message with ANSI, CR and BEL, 900 KiB long.
    let mut message = "\u{1b}[2J\u{1b}]0;owned\u{7}\rfake: ok".to_string();
    message.push_str(&"A".repeat(900 * 1024));
    let reply =
        serde_json::to_vec(&json!({"error": {"code": "x\u{1b}[31m", "message": message}})).unwrap();
    let text = policy_with(
        "",
        1,
        &format!("(call $pack (i32.const 20000) (i32.const {}))", reply.len()),
        &format!(r#"(data (i32.const 20000) "{}")"#, data_str(&reply)),
    );
    let bytes = wasm(&text.replace(
        r#"(memory (export "memory") 2)"#,
        r#"(memory (export "memory") 16)"#,
    ));
    let err = crate::modules::bind(&bytes, Limits::default())
        .call_json_blocking(DecisionKind::Placement, &json!({}), now())
        .expect_err("declines");
    let PolicyErrorKind::Declined { code, message } = &err.kind else {
        panic!("{err:?}");
    };
    assert_eq!(code, "x\\u{1b}[31m");
    assert!(
        message.starts_with("\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\rfake: ok"),
        "{}",
        &message[..60]
    );
    assert!(
        message.len() <= MAX_MODULE_TEXT_BYTES + 64,
        "{}",
        message.len()
    );
    assert!(
        message.ends_with("bytes in all, 1024 shown]") || message.contains("[cut:"),
        "{}",
        &message[message.len() - 60..]
    );
    let shown = err.to_string();
    assert!(
        !shown.chars().any(|c| c.is_control()),
        "no raw control character reaches the text"
    );

    // Import names are the module's text too.
    let bytes = wasm(&policy_with(
        r#"(import "env\1b[2J" "x\07" (func))"#,
        1,
        "(i64.const 0)",
        "",
    ));
    let PolicyErrorKind::ModuleRejected { reasons } = engine().load(&bytes).unwrap_err().kind
    else {
        panic!("forbidden import");
    };
    assert!(
        reasons.iter().any(|r| r.contains("env\\u{1b}[2J::x\\u{7}")),
        "{reasons:?}"
    );
    assert!(
        !reasons.iter().any(|r| r.chars().any(|c| c.is_control())),
        "{reasons:?}"
    );
}
