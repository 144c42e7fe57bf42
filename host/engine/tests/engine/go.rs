//! Standard Go policies (`GOOS=wasip1`, `-buildmode=c-shared`, sdk-go): the runtime's WASI
//! imports are served deterministically, a panic comes back with its message and stack, and
//! hostile Go is stopped by the same limits as any module.
//!
//! The modules are built by `scripts/build-go-policies.sh` (run by `scripts/test.sh`) into
//! `target/go-policies/`. Without them these tests skip with a loud line on stderr; with
//! `FLEETWARD_REQUIRE_GO=1` (CI) a missing module fails the test instead.

use std::path::PathBuf;
use std::time::Duration;

use fleetward_engine::{Limits, PolicyErrorKind, TenantPolicy};
use fleetward_sdk::wire::{DecisionKind, Timestamp};
use serde_json::{Value, json};

use crate::modules::{assert_healthy, engine, now};

/// The bytes of `target/go-policies/NAME.wasm`, or `None` (skipped) when not built.
pub fn go_module(test: &str, name: &str) -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/go-policies")
        .join(format!("{name}.wasm"));
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if std::env::var("FLEETWARD_REQUIRE_GO").as_deref() == Ok("1") => panic!(
            "{}: {e}; FLEETWARD_REQUIRE_GO=1 forbids skipping: run scripts/build-go-policies.sh",
            path.display()
        ),
        Err(_) => {
            eprintln!(
                "\n==== SKIPPED {test}: {} not built; run scripts/build-go-policies.sh (needs Go >= 1.24) ====\n",
                path.display()
            );
            None
        }
    }
}

fn bind(bytes: &[u8], limits: Limits) -> TenantPolicy {
    let module = engine().load(bytes).expect("the Go module loads");
    engine()
        .bind(&module, "acme", Value::Null, limits)
        .expect("the Go module binds")
}

fn place(policy: &TenantPolicy, at: Timestamp) -> Result<Value, fleetward_engine::PolicyError> {
    policy
        .call_json_blocking(DecisionKind::Placement, &request(), at)
        .map(|o| o.decision)
}

fn request() -> Value {
    json!({"cluster": {"id": {"namespace": "tenant-acme", "name": "c"}, "version": "1.31.0"},
           "seeds": [{"name": "eu-1", "region": "eu-west", "provider": "aws", "capacity": 10,
                      "clusters": 1, "ready": true, "min_version": "1.30", "max_version": "1.33"},
                     {"name": "eu-2", "region": "eu-west", "provider": "aws", "capacity": 10,
                      "clusters": 1, "ready": true, "min_version": "1.30", "max_version": "1.33"}]})
}

/// Generous enough for a debug-build host on a loaded machine; the hostile tests set their own.
fn roomy() -> Limits {
    Limits {
        timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

#[test]
fn the_go_runtime_sees_the_envelope_clock_virtual_sleep_and_input_seeded_randomness() {
    let Some(bytes) = go_module("go_runtime_determinism", "test-clock") else {
        return;
    };
    let policy = bind(&bytes, roomy());
    let first = policy
        .call_json_blocking(DecisionKind::Placement, &request(), now())
        .expect("the clock probe decides");
    let reason = first.decision["reason"].as_str().unwrap().to_string();
    // time.Now() is the envelope's now; sleeping 90 s and waiting 30 s on a timer returns at
    // once but the monotonic clock shows 2 minutes; the wall clock stays at now.
    for part in [
        "now=2026-11-25T17:00:00Z",
        "ctx=2026-11-25T17:00:00Z",
        "slept=2m0s",
        "after=2026-11-25T17:00:00Z",
        "from a goroutine",
    ] {
        assert!(reason.contains(part), "{part} missing in {reason}");
    }
    assert!(
        first.logs.contains("info: clock probe for acme") && first.logs.contains("stdout works"),
        "{}",
        first.logs
    );
    // Same input, same bytes: random bytes and map order included.
    let again = place(&policy, now()).unwrap();
    assert_eq!(again["reason"].as_str().unwrap(), reason);
    // Another input (here: another now) gives another random stream.
    let later = place(&policy, Timestamp(now().0 + 1)).unwrap();
    let random = |r: &str| {
        r.split(' ')
            .find(|p| p.starts_with("random="))
            .unwrap()
            .to_string()
    };
    assert_ne!(random(later["reason"].as_str().unwrap()), random(&reason));
}

#[test]
fn a_go_panic_is_the_decisions_error_with_message_and_stack() {
    let Some(bytes) = go_module("go_panic", "test-panics") else {
        return;
    };
    let err = place(&bind(&bytes, roomy()), now()).expect_err("the policy panics");
    match &err.kind {
        PolicyErrorKind::Declined { code, message } => {
            assert_eq!(code, "panic");
            for want in [
                "panic: runtime error: index out of range [4] with length 2",
                "goroutine ",
                "main.pickSeed(",
                "main.place(",
            ] {
                assert!(message.contains(want), "{want:?} missing in:\n{message}");
            }
        }
        other => panic!("expected a declined(panic) error, got {other:?}"),
    }
    assert!(err.to_string().contains("index out of range"), "{err}");
    assert_healthy();
}

#[test]
fn a_go_goroutine_that_never_yields_times_out() {
    let Some(bytes) = go_module("go_spin", "test-spins") else {
        return;
    };
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let err = place(&bind(&bytes, limits), now()).expect_err("the spinning goroutine is stopped");
    assert!(
        matches!(err.kind, PolicyErrorKind::TimedOut { limit } if limit == Duration::from_millis(300)),
        "{err}"
    );
    assert_healthy();
}

#[test]
fn a_go_policy_allocating_a_gibibyte_hits_the_memory_limit() {
    let Some(bytes) = go_module("go_memory", "test-hogs") else {
        return;
    };
    let err = place(&bind(&bytes, roomy()), now()).expect_err("1 GiB does not fit in 64 MiB");
    assert!(
        matches!(err.kind, PolicyErrorKind::MemoryLimitExceeded { limit } if limit == Limits::default().memory_bytes),
        "{err}"
    );
    assert_healthy();
}

/// Under the default 100 ms deadline the Go runtime spins in its collector after the refused
/// growth until interrupted: still the memory limit, not "timed out".
#[test]
fn a_go_policy_allocating_a_gibibyte_hits_the_memory_limit_under_the_default_timeout() {
    let Some(bytes) = go_module("go_memory_default_timeout", "test-hogs") else {
        return;
    };
    let err =
        place(&bind(&bytes, Limits::default()), now()).expect_err("1 GiB does not fit in 64 MiB");
    assert!(
        err.to_string()
            .contains("memory limit exceeded (67108864 bytes)"),
        "{err}"
    );
    assert_healthy();
}

/// The Go port of the reference upgrade-ordering policy answers every fixture of the Rust
/// policy with the same bytes (the canonical `output_json`), or fails the same way.
#[test]
fn go_and_rust_upgrade_ordering_answer_byte_identically_on_every_fixture() {
    let Some(go_bytes) = go_module("go_vs_rust_upgrade_ordering", "upgrade-ordering") else {
        return;
    };
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies/upgrade-ordering/fixtures");
    let read = |p: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let suite = read(&dir.join("suite.json"));
    let go = engine().load(&go_bytes).expect("Go module loads");
    let rust = engine()
        .load(&std::fs::read(fleetward_test_policies::UPGRADE_ORDERING).unwrap())
        .unwrap();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "suite.json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 8, "{paths:?}");
    let mut decided = 0;
    for path in &paths {
        let case = read(path);
        let config = case.get("config").unwrap_or(&suite["config"]).clone();
        let now =
            Timestamp::parse(case.get("now").unwrap_or(&suite["now"]).as_str().unwrap()).unwrap();
        let answer = |module| -> Result<String, String> {
            let policy = engine()
                .bind(module, "acme", config.clone(), roomy())
                .map_err(|e| format!("bind: {}", e.metric_label()))?;
            policy
                .call_json_blocking(DecisionKind::UpgradeOrdering, &case["request"], now)
                .map(|o| o.output_json)
                .map_err(|e| format!("call: {}", e.metric_label()))
        };
        let (g, r) = (answer(&go), answer(&rust));
        assert_eq!(g, r, "{}", path.display());
        decided += usize::from(r.is_ok());
    }
    assert!(decided >= 7, "most fixtures decide ({decided})");
}
