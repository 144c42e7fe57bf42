//! The `fleetward` binary works wherever it is copied, the image's build has what it needs, and
//! the crate graph docs/architecture.md draws is the real one.
//!
//! These guard what a team taking the project over trips on first: a binary that reads its
//! reference policies from the build machine's `target/`, a Dockerfile whose build cannot
//! succeed, and a one-page map that no longer matches the crates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh empty directory under the system temp dir (removed first if a run left it).
fn empty_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fleetward-dist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// Copied with its scenario into an empty directory, the binary runs a scenario whose tenants
/// name `builtin:` policies: the modules are inside the binary, not in the build's `target/`.
/// The results go to stdout (so `> file` keeps them), progress to stderr.
#[test]
fn a_copied_binary_simulates_an_example_with_builtin_policies() {
    let dir = empty_dir("copied");
    let bin = dir.join("fleetward");
    std::fs::copy(env!("CARGO_BIN_EXE_fleetward"), &bin).expect("copy the binary");
    let scenario = workspace_root().join("examples/scenarios/remediation-storm.yaml");
    let text = std::fs::read_to_string(&scenario).expect("example scenario");
    assert!(
        text.contains("module: builtin:"),
        "the example names builtin: policies"
    );
    std::fs::write(dir.join("storm.yaml"), text).expect("copy the scenario");

    let out = Command::new(&bin)
        .current_dir(&dir)
        .args(["simulate", "storm.yaml", "--out", "report"])
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .expect("run the copied binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    // Results on stdout: the per-tenant table and the report's path ...
    assert!(stdout.contains("tenant"), "no table on stdout:\n{stdout}");
    assert!(stdout.contains("report: report"), "stdout:\n{stdout}");
    // ... progress on stderr only.
    assert!(stderr.contains("simulating remediation-storm"), "{stderr}");
    assert!(
        !stdout.contains("simulating"),
        "progress on stdout:\n{stdout}"
    );
    for file in ["report.html", "ledger.json", "summary.json", "spans.json"] {
        assert!(dir.join("report").join(file).is_file(), "{file} missing");
    }
    // The builtin placement policy decided (its digest, not the host's built-in stand-in).
    let ledger = std::fs::read_to_string(dir.join("report/ledger.json")).expect("ledger");
    assert!(ledger.contains("\"digest\": \"sha256:"), "{ledger}");
    // Every module compiled in the binary's compiler child (under RLIMIT_DATA, with the
    // binary's own global allocator): with mimalloc its thread pool could not start, every
    // module was refused and every decision fell back, while the run still succeeded.
    assert!(
        !ledger.contains("fallback to built-in"),
        "a module was refused, decisions fell back:\n{ledger}"
    );
    assert!(
        !stderr.contains("compiling the module failed"),
        "a module was refused:\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The image's build stage adds the `wasm32-wasip1` target before the `cargo build` that
/// compiles (and embeds) the reference policies, and builds the binary this crate defines.
#[test]
fn the_dockerfile_installs_the_wasm_target_before_building() {
    let text = std::fs::read_to_string(workspace_root().join("deploy/Dockerfile"))
        .expect("deploy/Dockerfile");
    // Join continuation lines, then keep the build stage's RUN commands in order.
    let joined = text.replace("\\\n", " ");
    let build_stage: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("FROM") || !l.contains(" AS build"))
        .take_while(|l| !l.starts_with("FROM") || l.contains(" AS build"))
        .collect();
    assert!(
        build_stage.first().is_some_and(|f| f.contains("rust:")),
        "the build stage starts from a Rust image: {build_stage:?}"
    );
    let runs: Vec<&str> = build_stage
        .iter()
        .filter_map(|l| l.strip_prefix("RUN "))
        .collect();
    let target = runs
        .iter()
        .position(|r| r.contains("rustup target add") && r.contains("wasm32-wasip1"))
        .unwrap_or_else(|| panic!("no `rustup target add wasm32-wasip1` in {runs:?}"));
    let build = runs
        .iter()
        .position(|r| r.contains("cargo build"))
        .unwrap_or_else(|| panic!("no `cargo build` in {runs:?}"));
    assert!(
        target < build,
        "the target is added after the build: {runs:?}"
    );
    let cmd = runs[build];
    assert!(
        cmd.contains("-p fleetward ")
            && cmd.contains("--bin fleetward")
            && cmd.contains("--locked"),
        "{cmd}"
    );
}

/// Workspace-internal normal and build dependencies of every crate under `sdk/`, `host/` and
/// `policies/`, from `cargo metadata`.
fn real_graph() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let root = std::fs::canonicalize(workspace_root()).expect("root");
    let packages = meta["packages"].as_array().expect("packages");
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut graph = BTreeMap::new();
    for p in packages {
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
        let rel = manifest.strip_prefix(&root).unwrap_or(&manifest);
        if !["sdk", "host", "policies"]
            .iter()
            .any(|top| rel.starts_with(top))
        {
            continue;
        }
        let deps: BTreeSet<String> = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .filter_map(|d| d["name"].as_str())
            .filter(|d| names.contains(d))
            .map(str::to_string)
            .collect();
        graph.insert(p["name"].as_str().unwrap_or_default().to_string(), deps);
    }
    graph
}

/// The table under "## Crates" in docs/architecture.md: `| \`crate\` | path | \`dep\`, … |`.
fn documented_graph() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(workspace_root().join("docs/architecture.md"))
        .expect("docs/architecture.md");
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Crates"))
        .expect("a Crates section");
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = ticked(cells[1]).remove(0);
            let deps = ticked(cells.get(3).copied().unwrap_or_default());
            (name, deps.into_iter().collect())
        })
        .collect()
}

/// The dependency table in docs/architecture.md is the real crate graph (normal and build
/// dependencies inside the workspace; dev-dependencies are not drawn).
#[test]
fn the_architecture_page_draws_the_real_crate_graph() {
    let real = real_graph();
    let documented = documented_graph();
    assert!(real.len() >= 10, "found too few crates: {real:?}");
    for (name, deps) in &real {
        assert_eq!(
            documented.get(name),
            Some(deps),
            "docs/architecture.md's crate table for {name} (cargo metadata says {deps:?})"
        );
    }
    for name in documented.keys() {
        assert!(
            real.contains_key(name),
            "docs/architecture.md lists {name}, which is not a crate under sdk/, host/ or policies/"
        );
    }
}
