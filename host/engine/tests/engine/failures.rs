//! A failing Rust policy must be debuggable from the error alone: a panic reads `policy
//! panicked at FILE:LINE:COL: MESSAGE` (the SDK's panic hook), the last lines the policy logged
//! come with the error (bounded), and a huge allocation names the memory limit. The module is
//! the test-only `fleetward-policy-misbehaving`, built with the `policy` profile like the
//! reference policies.

use fleetward_engine::{Limits, PolicyError, PolicyErrorKind};
use fleetward_sdk::wire::DecisionKind;
use serde_json::{Value, json};

use crate::modules::{assert_healthy, engine, now};

const SOURCE: &str = "policies/artifacts/misbehaving/src/lib.rs";

/// Runs the misbehaving policy with `config` under `limits` and returns its error.
fn fail(config: Value, limits: Limits) -> PolicyError {
    let bytes = std::fs::read(fleetward_test_policies::MISBEHAVING).unwrap();
    let module = engine().load(&bytes).expect("the misbehaving module loads");
    let policy = engine()
        .bind(&module, "acme", config, limits)
        .expect("the misbehaving module binds");
    let request = json!({
        "cluster": {"id": {"namespace": "tenant-acme", "name": "c"}, "version": "1.31.0"},
        "seeds": []
    });
    policy
        .call_json_blocking(DecisionKind::Placement, &request, now())
        .expect_err("the misbehaving policy fails")
}

/// `FILE:LINE` of the marked panic in the misbehaving policy's source, and the columns its
/// indexing expression spans (rustc picks the column within it).
fn panic_location() -> (String, std::ops::RangeInclusive<usize>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(SOURCE);
    let source = std::fs::read_to_string(path).unwrap();
    let (index, line) = source
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("MISBEHAVING: PANICS HERE"))
        .expect("the marked line");
    let expr = "empty[index]";
    let start = line.find(expr).expect("the indexing expression") + 1;
    (
        format!("{SOURCE}:{}", index + 1),
        start..=start + expr.len(),
    )
}

#[test]
fn a_rust_panic_reads_policy_panicked_at_its_location_with_the_message() {
    let err = fail(json!({"mode": "panic", "log_lines": 3}), Limits::default());
    let text = err.to_string();
    let (file_line, columns) = panic_location();
    let prefix = format!("in call placement: policy panicked at {file_line}:");
    let at = text.find(&prefix).map(|i| i + prefix.len());
    let rest = at.map_or("", |i| &text[i..]);
    let (column, message) = rest.split_once(": ").unwrap_or_default();
    assert!(
        column.parse().is_ok_and(|c: usize| columns.contains(&c)),
        "want {prefix}{columns:?}: … in:\n{text}"
    );
    assert!(
        message.starts_with("index out of bounds: the len is 0 but the index is 5\n"),
        "{text}"
    );
    assert!(
        matches!(err.kind, PolicyErrorKind::Panicked { .. }),
        "{:?}",
        err.kind
    );
    assert_eq!(err.metric_label(), "trap", "a panic is still a trap");
    // The lines logged before the panic come with it, and the panic line is not repeated.
    assert!(
        text.ends_with(
            "policy log (last 3 lines):\n  | info: step 1\n  | info: step 2\n  | info: step 3"
        ),
        "{text}"
    );
    assert_eq!(text.matches("index out of bounds").count(), 1, "{text}");
    assert_healthy();
}

#[test]
fn only_the_last_ten_log_lines_come_with_the_error() {
    let err = fail(json!({"mode": "panic", "log_lines": 25}), Limits::default());
    let text = err.to_string();
    assert!(
        text.contains("policy log (last 10 lines, 15 earlier not shown):\n  | info: step 16\n"),
        "{text}"
    );
    assert!(text.ends_with("  | info: step 25"), "{text}");
    assert!(!text.contains("step 15\n"), "{text}");
    assert!(text.len() < 4096, "{} bytes", text.len());
}

#[test]
fn a_rust_policy_allocating_a_gibibyte_reports_the_memory_limit() {
    let err = fail(json!({"mode": "alloc", "log_lines": 1}), Limits::default());
    let text = err.to_string();
    assert!(
        text.contains(": memory limit exceeded (67108864 bytes)\n"),
        "{text}"
    );
    assert_eq!(err.metric_label(), "memory_limit_exceeded");
    // std's allocation-failure message is in the log tail.
    assert!(text.contains("  | info: step 1"), "{text}");
    assert!(text.contains("memory allocation of"), "{text}");
    assert_healthy();
}

#[test]
fn a_rust_trap_names_the_policy_functions_from_the_name_section() {
    let err = fail(json!({"mode": "trap"}), Limits::default());
    match &err.kind {
        PolicyErrorKind::Trap { frames, .. } => {
            assert_eq!(
                frames.first().map(String::as_str),
                Some("fleetward_policy_misbehaving::trap_here"),
                "{frames:?}"
            );
            assert!(
                frames
                    .iter()
                    .any(|f| f == "fleetward_policy_misbehaving::place"),
                "{frames:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}
