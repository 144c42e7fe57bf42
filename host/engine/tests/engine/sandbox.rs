//! What a policy can observe: only its own input. No wall clock, no host environment, no
//! files, no state from other calls or tenants; and what it does observe is deterministic.

use fleetward_engine::{Engine, EngineConfig, Limits, MAX_LOG_BYTES};
use fleetward_sdk::wire::{DecisionKind, Timestamp};
use serde_json::json;

use crate::modules::{bind, data_str, emitted, engine, now, policy, policy_with, wasm};

const WASI_IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_res_get" (func $clock_res_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))"#;

/// Probes every observable WASI function and emits the results (see `modules.rs` layout):
/// 0 realtime clock, 1 monotonic clock, 2 clock resolution, 3 environ sizes (count | size << 32,
/// pre-filled with all ones), 4 its errno, 5 args sizes, 6 fd_prestat_get(3) errno,
/// 7 fd_write(5) errno, 8 fd_read(0) errno | nread << 32, 9 fd_fdstat_get(1) filetype,
/// 10 and 11 sixteen bytes of random_get, 12 fd_write(1) errno.
fn probe() -> Vec<u8> {
    let body = r#"
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 512)))
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 520)))
    (drop (call $clock_res_get (i32.const 0) (i32.const 528)))
    (i64.store (i32.const 536) (i64.const -1))
    (i64.store (i32.const 544) (i64.extend_i32_u
      (call $environ_sizes_get (i32.const 536) (i32.const 540))))
    (i64.store (i32.const 552) (i64.const -1))
    (drop (call $args_sizes_get (i32.const 552) (i32.const 556)))
    (i64.store (i32.const 560) (i64.extend_i32_u (call $fd_prestat_get (i32.const 3) (i32.const 4000))))
    ;; iovec at 4000: "hello from the policy\n" at 1024
    (i32.store (i32.const 4000) (i32.const 1024))
    (i32.store (i32.const 4004) (i32.const 22))
    (i64.store (i32.const 568) (i64.extend_i32_u
      (call $fd_write (i32.const 5) (i32.const 4000) (i32.const 1) (i32.const 4008))))
    (i32.store (i32.const 4012) (i32.const 77))
    (i64.store (i32.const 576) (i64.extend_i32_u
      (call $fd_read (i32.const 0) (i32.const 4000) (i32.const 1) (i32.const 4012))))
    (i32.store (i32.const 580) (i32.load (i32.const 4012)))
    (drop (call $fd_fdstat_get (i32.const 1) (i32.const 4100)))
    (i64.store (i32.const 584) (i64.load8_u (i32.const 4100)))
    (drop (call $random_get (i32.const 592) (i32.const 16)))
    (i64.store (i32.const 608) (i64.extend_i32_u
      (call $fd_write (i32.const 1) (i32.const 4000) (i32.const 1) (i32.const 4008))))
    (call $emit (i32.const 13))"#;
    wasm(&policy_with(
        WASI_IMPORTS,
        1,
        body,
        &format!(
            "(data (i32.const 1024) \"{}\")",
            data_str(b"hello from the policy\n")
        ),
    ))
}

#[test]
fn a_policy_sees_the_envelope_clock_and_nothing_of_the_host() {
    assert!(
        std::env::vars_os().next().is_some(),
        "precondition: the host process has environment variables"
    );
    let policy = bind(&probe(), Limits::default());
    let out = policy
        .call_json_blocking(DecisionKind::Placement, &json!({}), now())
        .unwrap();
    let v = emitted(&out.decision);
    let now_ns = now().unix_seconds() as u64 * 1_000_000_000;
    assert_eq!(v[0], now_ns, "realtime clock is the envelope's now");
    assert_eq!(v[1], now_ns, "monotonic clock is the envelope's now");
    assert_eq!(v[2], 1_000_000_000, "clock resolution is one second");
    assert_eq!(v[3], 0, "no environment variables, no bytes");
    assert_eq!(v[4], 0, "environ_sizes_get succeeds");
    assert_eq!(v[5], 0, "no arguments");
    assert_eq!(v[6], 8, "no preopened directories: EBADF");
    assert_eq!(v[7], 8, "fd 5 is not writable: EBADF");
    assert_eq!(v[8], 0, "stdin reads succeed with 0 bytes");
    assert_eq!(v[9], 2, "stdout is a character device");
    assert_eq!(v[12], 0, "stdout writes succeed");
    assert_eq!(out.logs, "hello from the policy\n");

    // Another `now`, same module: the clock follows the envelope, not the host.
    let later = Timestamp(now().unix_seconds() + 3600);
    let out2 = policy
        .call_json_blocking(DecisionKind::Placement, &json!({}), later)
        .unwrap();
    assert_eq!(emitted(&out2.decision)[0], now_ns + 3_600_000_000_000);
    assert_ne!(
        emitted(&out2.decision)[10..12],
        v[10..12],
        "the random stream depends on the input"
    );
}

#[test]
fn file_access_is_impossible() {
    let imports = r#"(import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#;
    let err = engine()
        .load(&wasm(&policy_with(imports, 1, "(i64.const 0)", "")))
        .expect_err("path_open is rejected");
    assert!(
        err.to_string()
            .contains("forbidden import `wasi_snapshot_preview1::path_open`"),
        "{err}"
    );
    // fd_prestat_get(3) is EBADF in the probe above; here, every fd from 3 to 9.
    let body = r#"
    (local.set $i (i32.const 0))
    (loop $fds
      (i64.store (i32.add (i32.const 512) (i32.shl (local.get $i) (i32.const 3)))
        (i64.extend_i32_u (call $fd_prestat_get (i32.add (local.get $i) (i32.const 3)) (i32.const 4000))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fds (i32.lt_u (local.get $i) (i32.const 7))))
    (call $emit (i32.const 7))"#;
    let policy = bind(
        &wasm(&policy_with(WASI_IMPORTS, 1, body, "")),
        Limits::default(),
    );
    let out = policy
        .call_json_blocking(DecisionKind::Placement, &json!({}), now())
        .unwrap();
    assert_eq!(emitted(&out.decision), vec![8; 7]);
}

/// A module with a global counter: if state survived between calls, it would count up.
fn counter() -> Vec<u8> {
    policy(
        r#"(global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i64.store (i32.const 512) (i64.extend_i32_u (global.get $count)))
    (call $emit (i32.const 1))"#,
        "(global $count (mut i32) (i32.const 0))",
    )
}

#[test]
fn calls_and_tenants_share_no_state() {
    let module = engine().load(&counter()).unwrap();
    let a = engine()
        .bind(&module, "tenant-a", json!(null), Limits::default())
        .unwrap();
    let b = engine()
        .bind(&module, "tenant-b", json!(null), Limits::default())
        .unwrap();
    for round in 0..5 {
        for policy in [&a, &b] {
            let out = policy
                .call_json_blocking(DecisionKind::UpgradeOrdering, &json!({}), now())
                .unwrap();
            assert_eq!(
                emitted(&out.decision),
                vec![1],
                "round {round}, {}",
                policy.tenant()
            );
        }
    }
}

/// Addresses the memory-state module reads then overwrites: inside its data segment, in
/// initial zero memory (both pages), and in grown memory below and above the pool's 8 MiB
/// kept-resident window (`engine.rs`: `KEEP_RESIDENT`).
const SCRIBBLED: [u32; 5] = [1104, 40_000, 100_000, 5 << 20, 12 << 20];

/// Reads each of [`SCRIBBLED`] (after growing memory to 13 MiB), emits what it found, then
/// overwrites them all, and the rest of the grown pages' first bytes, with a marker.
fn scribbler() -> Vec<u8> {
    let mut body = String::from("(drop (memory.grow (i32.const 206)))\n");
    for (i, addr) in SCRIBBLED.iter().enumerate() {
        body += &format!(
            "(i64.store (i32.const {}) (i64.load (i32.const {addr})))\n",
            512 + 8 * i
        );
    }
    for addr in SCRIBBLED {
        body += &format!("(i64.store (i32.const {addr}) (i64.const 0x5eed5eed5eed5eed))\n");
    }
    body += r#"(local.set $i (i32.const 131072))
    (block $done (loop $pages
      (br_if $done (i32.ge_u (local.get $i) (i32.const 13631488)))
      (i32.store (local.get $i) (i32.const -1))
      (local.set $i (i32.add (local.get $i) (i32.const 65536)))
      (br $pages)))
    (call $emit (i32.const 5))"#;
    policy(&body, "(data (i32.const 1104) \"ABCDEFGH\")")
}

#[test]
fn memory_a_call_wrote_is_reset_for_the_next_one() {
    let module = engine().load(&scribbler()).unwrap();
    let tenants: Vec<_> = ["tenant-a", "tenant-b"]
        .iter()
        .map(|t| {
            engine()
                .bind(&module, t, json!(null), Limits::default())
                .unwrap()
        })
        .collect();
    let pristine = vec![u64::from_le_bytes(*b"ABCDEFGH"), 0, 0, 0, 0];
    for round in 0..10 {
        for policy in &tenants {
            let out = policy
                .call_json_blocking(DecisionKind::UpgradeOrdering, &json!({}), now())
                .unwrap();
            assert_eq!(
                emitted(&out.decision),
                pristine,
                "round {round}, {}: memory written by an earlier call is visible",
                policy.tenant()
            );
        }
    }
}

#[test]
fn same_input_gives_byte_identical_output_and_logs_across_calls_and_engines() {
    let other = Engine::new(EngineConfig::default().pooling(false)).unwrap();
    let bytes = probe();
    let request = json!({"clusters": [{"name": "a"}, {"name": "b"}]});
    let mut seen = Vec::new();
    for engine in [engine(), &other] {
        let module = engine.load(&bytes).unwrap();
        let policy = engine
            .bind(&module, "acme", json!({"waves": 2}), Limits::default())
            .unwrap();
        for _ in 0..3 {
            let out = policy
                .call_json_blocking(DecisionKind::Remediation, &request, now())
                .unwrap();
            seen.push((out.output_json, out.logs, out.input_sha256));
        }
    }
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:#?}");
    assert_eq!(seen[0].2.len(), 64);
}

#[test]
fn logs_are_capped_and_say_so() {
    // Writes 1 KiB to stdout 100 times.
    let body = r#"
    (i32.store (i32.const 4000) (i32.const 20000))
    (i32.store (i32.const 4004) (i32.const 1024))
    (local.set $i (i32.const 0))
    (loop $write
      (drop (call $fd_write (i32.const 1) (i32.const 4000) (i32.const 1) (i32.const 4008)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $write (i32.lt_u (local.get $i) (i32.const 100))))
    (i64.store (i32.const 512) (i64.extend_i32_u (i32.load (i32.const 4008))))
    (call $emit (i32.const 1))"#;
    let policy = bind(
        &wasm(&policy_with(WASI_IMPORTS, 1, body, "")),
        Limits::default(),
    );
    let out = policy
        .call_json_blocking(DecisionKind::Placement, &json!({}), now())
        .unwrap();
    assert_eq!(
        emitted(&out.decision),
        vec![1024],
        "writes still report success"
    );
    // The module wrote NUL bytes: kept (up to the cap) but shown escaped.
    assert!(
        out.logs.starts_with(&"\\u{0}".repeat(1024)),
        "{}",
        &out.logs[..64]
    );
    assert!(!out.logs.contains('\0'));
    assert_eq!(out.logs.matches("\\u{0}").count(), MAX_LOG_BYTES);
    assert!(
        out.logs.ends_with("truncated at 65536 bytes]\n"),
        "{}",
        &out.logs[out.logs.len() - 100..]
    );
    assert_eq!(out.logs.matches("truncated").count(), 1);
}
