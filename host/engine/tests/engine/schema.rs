//! The wire schemas in `docs/schema/` against real documents: for the Zig example policy (a
//! policy written without the SDK, from `docs/abi.md` alone) and the three reference policies,
//! every fixture's input envelope as the host builds it, and every output envelope the compiled
//! module actually returns, must validate. The validator is Python's `jsonschema` (draft
//! 2020-12); without it, or without the Zig module (`scripts/build-zig-example.sh`), the test
//! skips with a loud line, and `FLEETWARD_REQUIRE_SCHEMA_CHECK=1` (CI) turns a skip into a
//! failure. Two broken documents prove the validator is really checking.

use std::path::{Path, PathBuf};
use std::process::Command;

use fleetward_engine::{Limits, PolicyErrorKind};
use fleetward_sdk::testing::input_envelope;
use fleetward_sdk::wire::{CallKind, DecisionKind, Timestamp};
use serde_json::{Value, json};

use crate::modules::engine;

const VALIDATE: &str = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    sys.exit(3)
for case in json.load(open(sys.argv[1])):
    schema = json.load(open(case["schema"]))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    for e in cls(schema).iter_errors(case["document"]):
        path = "/".join(str(p) for p in e.absolute_path)
        print(f'{case["label"]}: {case["schema"].rsplit("/", 1)[-1]}: /{path}: {e.message}')
"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn skip(why: &str) {
    assert!(
        std::env::var("FLEETWARD_REQUIRE_SCHEMA_CHECK").as_deref() != Ok("1"),
        "{why}; FLEETWARD_REQUIRE_SCHEMA_CHECK=1 forbids skipping"
    );
    eprintln!("\n==== SKIPPED wire schema check: {why} ====\n");
}

/// One document to validate: (label, schema file in docs/schema, document).
type Check = (String, String, Value);

/// Validates every check; `None` when Python's `jsonschema` is not available. Returns one
/// line per violation.
fn validate(checks: &[Check]) -> Option<Vec<String>> {
    let cases: Vec<Value> = checks
        .iter()
        .map(|(label, schema, document)| {
            let schema = root().join("docs/schema").join(schema);
            json!({"label": label, "schema": schema.to_str().unwrap(), "document": document})
        })
        .collect();
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "schema-checks-{}-{}.json",
        std::process::id(),
        checks.len()
    ));
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(VALIDATE)
        .arg(&file)
        .output();
    let _ = std::fs::remove_file(&file);
    let out = out.ok()?;
    if out.status.code() == Some(3) {
        return None;
    }
    assert!(
        out.status.success(),
        "the validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs every fixture of `dir` through `module` in the engine and returns the documents to
/// check: input envelopes, the module's output envelopes, and the fixtures' expected decisions.
fn documents(label: &str, module: &[u8], dir: &Path, kind: DecisionKind) -> Vec<Check> {
    let name = kind.as_str();
    let module = engine().load(module).expect("module loads");
    let suite = read(&dir.join("suite.json"));
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "suite.json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
    let mut checks = Vec::new();
    for path in &paths {
        let case = read(path);
        let at = format!("{label} {}", path.file_name().unwrap().to_string_lossy());
        let config = case.get("config").unwrap_or(&suite["config"]).clone();
        let now = case.get("now").unwrap_or(&suite["now"]).as_str().unwrap();
        let now = Timestamp::parse(now).unwrap();
        let tenant = suite["tenant"].as_str().unwrap_or("acme");
        let request = &case["request"];
        let envelope = |call, request: &Value| -> Value {
            serde_json::from_str(&input_envelope(call, now, tenant, &config, request)).unwrap()
        };
        checks.push((
            at.clone(),
            format!("{name}.input.json"),
            envelope(kind.into(), request),
        ));
        checks.push((
            at.clone(),
            "validate_config.input.json".into(),
            envelope(CallKind::ValidateConfig, &Value::Null),
        ));
        checks.push((at.clone(), format!("{name}.request.json"), request.clone()));
        if let Some(decision) = case.pointer("/expect/decision") {
            checks.push((
                at.clone(),
                format!("{name}.decision.json"),
                decision.clone(),
            ));
        }
        let limits = Limits {
            timeout: std::time::Duration::from_secs(5),
            ..Limits::default()
        };
        let policy = match engine().bind(&module, tenant, config.clone(), limits) {
            Ok(policy) => policy,
            Err(e) => match e.kind {
                PolicyErrorKind::ConfigRejected { code, message } => {
                    let output = json!({"error": {"code": code, "message": message}});
                    checks.push((at, "validate_config.output.json".into(), output));
                    continue;
                }
                other => panic!("{at}: bind: {other}"),
            },
        };
        let output = match policy.call_json_blocking(kind, request, now) {
            // The `ok` value exactly as the module wrote it (parsed, not retyped).
            Ok(outcome) => json!({"ok": outcome.decision}),
            Err(e) => match e.kind {
                PolicyErrorKind::Declined { code, message } => {
                    json!({"error": {"code": code, "message": message}})
                }
                other => panic!("{at}: call: {other}"),
            },
        };
        checks.push((at, format!("{name}.output.json"), output));
    }
    checks
}

#[test]
fn zig_and_reference_policies_inputs_and_outputs_match_the_wire_schemas() {
    let mut checks = Vec::new();
    for (kind, path) in fleetward_test_policies::all() {
        let dir = root()
            .join("policies")
            .join(kind.as_str().replace('_', "-"))
            .join("fixtures");
        checks.extend(documents(
            kind.as_str(),
            &std::fs::read(path).unwrap(),
            &dir,
            kind,
        ));
    }
    let zig = root().join("target/examples/zig-placement.wasm");
    match std::fs::read(&zig) {
        Ok(bytes) => {
            let before = checks.len();
            checks.extend(documents(
                "zig",
                &bytes,
                &root().join("examples/policies/zig-placement/fixtures"),
                DecisionKind::Placement,
            ));
            let outputs = checks[before..]
                .iter()
                .filter(|(_, s, _)| s.ends_with(".output.json"))
                .count();
            assert!(outputs >= 6, "{outputs} Zig outputs checked");
        }
        Err(_) => skip(&format!(
            "{} not built (run scripts/build-zig-example.sh): the Zig example is not checked",
            zig.display()
        )),
    }
    // Two documents the schemas must refuse: the validator is really checking.
    checks.push((
        "broken decision".into(),
        "placement.output.json".into(),
        json!({"ok": {"seed": 5, "reason": "x"}}),
    ));
    checks.push((
        "broken envelope".into(),
        "placement.input.json".into(),
        json!({"abi_version": 1, "decision": "remediation", "now": "2026-11-25T17:00:00Z",
               "tenant": "acme", "config": null, "request": {}}),
    ));
    let Some(failures) = validate(&checks) else {
        return skip("python3 with the `jsonschema` package is not available");
    };
    let (expected, unexpected): (Vec<_>, Vec<_>) =
        failures.iter().partition(|l| l.starts_with("broken "));
    assert!(
        unexpected.is_empty(),
        "documents that do not match docs/schema/:\n{}",
        unexpected
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        expected.iter().any(|l| l.starts_with("broken decision")),
        "{expected:?}"
    );
    assert!(
        expected.iter().any(|l| l.starts_with("broken envelope")),
        "{expected:?}"
    );
}
