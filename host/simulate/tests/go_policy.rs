//! A tenant whose upgrade-ordering policy is the Go port (`policies/go/upgrade-ordering`) gets
//! the same simulation, byte for byte, as with the Rust reference policy: the example rollout
//! with `--policy acme/upgrade_ordering=target/go-policies/upgrade-ordering.wasm` writes report
//! files that, once the Go module's digest is replaced by the Rust module's, hash exactly to the
//! committed expectations of the Rust run (`data/expected-reports.txt`).
//!
//! The module is built by `scripts/build-go-policies.sh` (run by `scripts/test.sh`); without it
//! the test skips loudly, and fails with `FLEETWARD_REQUIRE_GO=1` (CI).

use std::path::{Path, PathBuf};

mod common;

use common::{out_dir, report_files};
use fleetward_simulate::{SimulateArgs, run};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const EXPECTED: &str = include_str!("data/expected-reports.txt");

#[test]
fn rollout_with_the_go_policy_for_one_tenant_reports_the_same_as_with_rust() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let module = root.join("target/go-policies/upgrade-ordering.wasm");
    if !module.exists() {
        assert!(
            std::env::var("FLEETWARD_REQUIRE_GO").as_deref() != Ok("1"),
            "{} missing and FLEETWARD_REQUIRE_GO=1: run scripts/build-go-policies.sh",
            module.display()
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n==== SKIPPED rollout_with_the_go_policy_for_one_tenant_reports_the_same_as_with_rust: {} not built; run scripts/build-go-policies.sh ====\n",
            module.display()
        );
        return;
    }
    let go_hex = hex::encode(Sha256::digest(std::fs::read(&module).unwrap()));
    let dir = out_dir("go-policy");
    let mut args = SimulateArgs::new(root.join("examples/scenarios/rollout.yaml"), &dir);
    args.policy_overrides = vec![("acme/upgrade_ordering".into(), PathBuf::from(&module))];
    let mut log: Vec<u8> = Vec::new();
    let exit = run(&args, &mut log, false).expect("the scenario runs with the Go policy");
    assert!(exit.violations.is_empty(), "{:?}", exit.violations);

    // The ledger names the module of every decision: acme's upgrade decisions came from the Go
    // module, the other tenants' from the Rust reference policy.
    let ledger: Value =
        serde_json::from_slice(&std::fs::read(dir.join("ledger.json")).unwrap()).unwrap();
    let digest_of = |tenant: &str| -> Vec<String> {
        let mut d: Vec<String> = ledger
            .as_array()
            .expect("ledger is a list")
            .iter()
            .filter(|e| e["tenant"] == tenant && e["kind"] == "upgrade_ordering")
            .map(|e| e["digest"].as_str().unwrap().to_string())
            .collect();
        d.dedup();
        d
    };
    let acme = digest_of("acme");
    assert_eq!(
        acme,
        vec![format!("sha256:{go_hex}")],
        "acme used the Go module"
    );
    let rust = digest_of("globex");
    assert_eq!(rust.len(), 1, "{rust:?}");
    let rust_hex = rust[0].strip_prefix("sha256:").unwrap().to_string();
    assert_ne!(rust_hex, go_hex);

    let actual: Vec<String> = report_files(&dir)
        .into_iter()
        .map(|(file, bytes)| {
            let text = String::from_utf8(bytes)
                .unwrap()
                .replace(&go_hex, &rust_hex)
                .replace(&go_hex[..12], &rust_hex[..12]);
            format!(
                "rollout.yaml {file} {}",
                hex::encode(Sha256::digest(text.as_bytes()))
            )
        })
        .collect();
    let expected: Vec<&str> = EXPECTED
        .lines()
        .filter(|l| l.starts_with("rollout.yaml "))
        .collect();
    assert_eq!(
        actual,
        expected,
        "with the Go policy for acme the report differs from the Rust run's (files in {})",
        dir.display()
    );
}
