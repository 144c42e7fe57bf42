//! `fleetward policy new KIND NAME --lang go|rust|wat`: scaffold a policy project in a new
//! directory.
//!
//! The project must build with one command, anywhere, without this repository: so the SDK's
//! sources (compiled into this binary) are copied into the project as `fleetward-sdk/`, and
//! the project points at them (Go: a `replace` in `go.mod`; Rust: a path dependency). A Rust
//! project also defines its own `[profile.policy]` (profiles are not inherited from a
//! workspace it is not part of) and an empty `[workspace]`, so it builds even when created
//! inside another Cargo workspace. The project gets a working decision for KIND, its export, a
//! fixture, and a native test that runs the fixture (`go test`, `cargo test`); a WAT project is
//! one module answering a fixed, valid decision, to start from. docs/policies.md and
//! docs/policies-go.md walk through the rest.

use std::io::Write;
use std::path::{Path, PathBuf};

use fleetward_sdk::wire::DecisionKind;

use crate::exit::{CliError, Status};

/// Languages `policy new` scaffolds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Standard Go (>= 1.24) with the Go SDK, built as a WASI reactor.
    Go,
    /// Rust with the Rust SDK (fleetward-sdk), built for wasm32-wasip1.
    Rust,
    /// A WebAssembly text module: no toolchain, `fleetward` reads .wat directly.
    Wat,
}

/// Arguments of `policy new`.
#[derive(Clone, Debug, clap::Args)]
pub struct NewArgs {
    /// The decision the policy makes: placement, upgrade_ordering or remediation.
    pub kind: DecisionKind,
    /// The project directory to create (its last component names the Go module or the Rust
    /// crate); must not exist yet.
    pub name: PathBuf,
    /// The language of the policy.
    #[arg(long, value_enum)]
    pub lang: Lang,
}

/// The Go SDK's sources, as `fleetward-sdk/PATH` in the new project.
const SDK_FILES: &[(&str, &str)] = &[
    ("go.mod", include_str!("../../../../sdk-go/go.mod")),
    ("doc.go", include_str!("../../../../sdk-go/doc.go")),
    ("types.go", include_str!("../../../../sdk-go/types.go")),
    ("time.go", include_str!("../../../../sdk-go/time.go")),
    ("version.go", include_str!("../../../../sdk-go/version.go")),
    ("policy.go", include_str!("../../../../sdk-go/policy.go")),
    (
        "glue_wasip1.go",
        include_str!("../../../../sdk-go/glue_wasip1.go"),
    ),
    (
        "export_native.go",
        include_str!("../../../../sdk-go/export_native.go"),
    ),
    (
        "fleetwardtest/fixtures.go",
        include_str!("../../../../sdk-go/fleetwardtest/fixtures.go"),
    ),
];

/// The one command that builds the module, as printed and documented.
pub const GO_BUILD: &str = "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o policy.wasm .";

/// The Rust SDK's sources, as `fleetward-sdk/src/PATH` in the new project (a unit test checks
/// the list against `sdk/src`, so a new SDK file cannot be forgotten).
const RUST_SDK_FILES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../../../../sdk/src/lib.rs")),
    ("context.rs", include_str!("../../../../sdk/src/context.rs")),
    ("entry.rs", include_str!("../../../../sdk/src/entry.rs")),
    ("exports.rs", include_str!("../../../../sdk/src/exports.rs")),
    ("guest.rs", include_str!("../../../../sdk/src/guest.rs")),
    (
        "json_path.rs",
        include_str!("../../../../sdk/src/json_path.rs"),
    ),
    ("log.rs", include_str!("../../../../sdk/src/log.rs")),
    ("schema.rs", include_str!("../../../../sdk/src/schema.rs")),
    ("macros.rs", include_str!("../../../../sdk/src/macros.rs")),
    ("testing.rs", include_str!("../../../../sdk/src/testing.rs")),
    (
        "wire/mod.rs",
        include_str!("../../../../sdk/src/wire/mod.rs"),
    ),
    (
        "wire/common.rs",
        include_str!("../../../../sdk/src/wire/common.rs"),
    ),
    (
        "wire/envelope.rs",
        include_str!("../../../../sdk/src/wire/envelope.rs"),
    ),
    (
        "wire/parse_str.rs",
        include_str!("../../../../sdk/src/wire/parse_str.rs"),
    ),
    (
        "wire/placement.rs",
        include_str!("../../../../sdk/src/wire/placement.rs"),
    ),
    (
        "wire/remediation.rs",
        include_str!("../../../../sdk/src/wire/remediation.rs"),
    ),
    (
        "wire/time.rs",
        include_str!("../../../../sdk/src/wire/time.rs"),
    ),
    (
        "wire/upgrade.rs",
        include_str!("../../../../sdk/src/wire/upgrade.rs"),
    ),
    (
        "wire/version.rs",
        include_str!("../../../../sdk/src/wire/version.rs"),
    ),
];

/// The copied SDK's manifest: the SDK's own dependencies, without the workspace's inheritance.
const RUST_SDK_MANIFEST: &str = r#"[package]
name = "fleetward-sdk"
description = "Fleetward policy SDK (copied into this project by `fleetward policy new`)."
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
serde = { version = "1", features = ["derive"] }
serde_json = "1"

[target.'cfg(not(target_arch = "wasm32"))'.dependencies]
thiserror = "2"
schemars = "1"
"#;

/// The one command that builds a Rust policy, as printed and documented.
pub const RUST_BUILD: &str = "cargo build --target wasm32-wasip1 --profile policy";

/// Runs `policy new`.
///
/// # Errors
/// The directory exists already, its name is not usable, or a file cannot be written (exit 2).
pub fn run(args: &NewArgs, out: &mut dyn Write) -> Result<Status, CliError> {
    let dir = &args.name;
    if dir.exists() {
        return Err(CliError::Scaffold {
            path: dir.clone(),
            message: "already exists; pick a new directory name".into(),
        });
    }
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| {
            !n.is_empty()
                && n.starts_with(|c: char| c.is_ascii_alphabetic())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        })
        .ok_or_else(|| CliError::Scaffold {
            path: dir.clone(),
            message: "the directory name must start with a letter and hold only letters, digits, '-' or '_' (it names the Go module or Rust crate)".into(),
        })?;
    let (files, next) = match args.lang {
        Lang::Go => go_files(args.kind, name),
        Lang::Rust => rust_files(args.kind, name),
        Lang::Wat => wat_files(args.kind, name),
    };
    for (path, text) in &files {
        let path = dir.join(path);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        written.map_err(|e| CliError::Scaffold {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    let lang = match args.lang {
        Lang::Go => "Go",
        Lang::Rust => "Rust",
        Lang::Wat => "WAT",
    };
    writeln!(
        out,
        "created {} ({} policy in {lang})\nnext:\n  cd {}\n{next}",
        dir.display(),
        args.kind,
        dir.display()
    )?;
    Ok(Status::Ok)
}

/// The fixture of the working Go and Rust scaffolds (same logic, same expectations).
fn fixture(kind: DecisionKind) -> &'static str {
    match kind {
        DecisionKind::Placement => include_str!("scaffold/placement.fixture.json"),
        DecisionKind::UpgradeOrdering => include_str!("scaffold/upgrade_ordering.fixture.json"),
        DecisionKind::Remediation => include_str!("scaffold/remediation.fixture.json"),
    }
}

fn suite(module: &str) -> String {
    format!(
        "{{\n  \"module\": \"{module}\",\n  \"tenant\": \"acme\",\n  \
         \"now\": \"2026-11-25T17:00:00Z\",\n  \"config\": null\n}}\n"
    )
}

type Files = Vec<(PathBuf, String)>;

fn go_files(kind: DecisionKind, module: &str) -> (Files, String) {
    let main = match kind {
        DecisionKind::Placement => include_str!("scaffold/placement.go.txt"),
        DecisionKind::UpgradeOrdering => include_str!("scaffold/upgrade_ordering.go.txt"),
        DecisionKind::Remediation => include_str!("scaffold/remediation.go.txt"),
    };
    let go_mod = format!(
        "module {module}\n\ngo 1.24\n\nrequire fleetward.dev/sdk-go v0.0.0\n\n\
         // The Go SDK, copied here by `fleetward policy new`: the project builds offline.\n\
         replace fleetward.dev/sdk-go => ./fleetward-sdk\n"
    );
    let readme = format!(
        "# {module}\n\nA Fleetward {kind} policy in Go (docs/policies-go.md in the Fleetward repository).\n\n\
         ```sh\ngo test ./...                      # the policy's logic on fixtures/, natively\n\
         {GO_BUILD}\nfleetward policy test fixtures     # the same fixtures against policy.wasm\n```\n"
    );
    let mut files: Files = vec![
        ("go.mod".into(), go_mod),
        ("main.go".into(), main.replace("{{NAME}}", module)),
        (
            "main_test.go".into(),
            include_str!("scaffold/main_test.go.txt").into(),
        ),
        ("fixtures/suite.json".into(), suite("../policy.wasm")),
        (
            format!("fixtures/01_{kind}.json").into(),
            fixture(kind).into(),
        ),
        ("README.md".into(), readme),
        (".gitignore".into(), "/policy.wasm\n".into()),
    ];
    for (path, text) in SDK_FILES {
        files.push((Path::new("fleetward-sdk").join(path), (*text).into()));
    }
    let next = format!("  go test ./...\n  {GO_BUILD}\n  fleetward policy test fixtures");
    (files, next)
}

fn rust_files(kind: DecisionKind, name: &str) -> (Files, String) {
    let lib = match kind {
        DecisionKind::Placement => include_str!("scaffold/placement.rs.txt"),
        DecisionKind::UpgradeOrdering => include_str!("scaffold/upgrade_ordering.rs.txt"),
        DecisionKind::Remediation => include_str!("scaffold/remediation.rs.txt"),
    };
    let krate = name.replace('-', "_");
    let manifest = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# cdylib: the Wasm module; rlib: `cargo test` runs the same code natively.
[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
# The SDK, copied here by `fleetward policy new`: no registry release to track.
fleetward-sdk = {{ path = "fleetward-sdk" }}
serde = {{ version = "1", features = ["derive"] }}

# Profiles are not inherited from a workspace this crate is not part of, so the project
# defines the one `{RUST_BUILD}` uses. opt-level 3 (fewer Wasm instructions than "s", a little
# larger); panic = "abort" (a panic is a trap the host reports); the name section is kept
# (strip only debug info) so a trap names the function it happened in.
[profile.policy]
inherits = "release"
opt-level = 3
lto = true
codegen-units = 1
panic = "abort"
debug = false
strip = "debuginfo"

# Its own workspace: the project builds the same inside another Cargo workspace's directory.
[workspace]
"#
    );
    let test = format!(
        "//! The fixtures `fleetward policy test fixtures` runs against the module, run natively.\n\n\
         #[test]\nfn fixtures() {{\n    let dir = concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/fixtures\");\n    \
         fleetward_sdk::testing::assert_fixture_dir(dir, &{krate}::EXPORTS);\n}}\n"
    );
    let readme = format!(
        "# {name}\n\nA Fleetward {kind} policy in Rust (docs/policies.md in the Fleetward repository).\n\n\
         ```sh\ncargo test                          # the policy's logic on fixtures/, natively\n\
         {RUST_BUILD}\nfleetward policy test fixtures      # the same fixtures against the module\n```\n\n\
         Needs the target once: `rustup target add wasm32-wasip1`. The module is\n\
         `target/wasm32-wasip1/policy/{krate}.wasm`. Without a network, add `--offline` (the\n\
         crates serde, serde_json and thiserror must then be in Cargo's cache).\n"
    );
    let mut files: Files = vec![
        ("Cargo.toml".into(), manifest),
        ("src/lib.rs".into(), lib.replace("{{NAME}}", name)),
        ("tests/fixtures.rs".into(), test),
        (
            "fixtures/suite.json".into(),
            suite(&format!("../target/wasm32-wasip1/policy/{krate}.wasm")),
        ),
        (
            format!("fixtures/01_{kind}.json").into(),
            fixture(kind).into(),
        ),
        ("README.md".into(), readme),
        (".gitignore".into(), "/target\n".into()),
        ("fleetward-sdk/Cargo.toml".into(), RUST_SDK_MANIFEST.into()),
    ];
    for (path, text) in RUST_SDK_FILES {
        files.push((Path::new("fleetward-sdk/src").join(path), (*text).into()));
    }
    let next = format!("  cargo test\n  {RUST_BUILD}\n  fleetward policy test fixtures");
    (files, next)
}

fn wat_files(kind: DecisionKind, name: &str) -> (Files, String) {
    // A fixed answer the host accepts for any request: the author replaces it with logic.
    let (answer, expect) = match kind {
        DecisionKind::Placement => (
            r#"{"ok":{"seed":null,"reason":"a WAT skeleton: places nothing yet"}}"#,
            r#"{"seed": null, "reason": "a WAT skeleton: places nothing yet"}"#,
        ),
        DecisionKind::UpgradeOrdering => (
            r#"{"ok":{"start":[],"hold":[],"reason":"a WAT skeleton: starts nothing yet"}}"#,
            r#"{"start": [], "hold": [], "reason": "a WAT skeleton: starts nothing yet"}"#,
        ),
        DecisionKind::Remediation => (
            r#"{"ok":{"action":{"action":"none"},"reason":"a WAT skeleton: does nothing yet"}}"#,
            r#"{"action": {"action": "none"}, "reason": "a WAT skeleton: does nothing yet"}"#,
        ),
    };
    let export = kind.export_name();
    let escaped = answer.replace('\\', "\\\\").replace('"', "\\\"");
    let module = format!(
        r#";; {name}: a Fleetward {kind} policy in WebAssembly text (ABI v1, docs/abi.md).
;; `fleetward policy test fixtures` and `fleetward policy eval policy.wat ...` read it as is.
(module
  ;; The host writes the input envelope into memory it gets from fleetward_alloc.
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  (func (export "fleetward_abi_version") (result i32) (i32.const 1))
  ;; A bump allocator that grows memory when needed; 0 means "out of memory".
  (func (export "fleetward_alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $bump))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.div_u (i32.sub (local.get $end)
                 (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1)))
               (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $bump (local.get $end))
    (local.get $p))
  ;; The output envelope this skeleton always returns.
  (data (i32.const 1024) "{escaped}")
  ;; (input pointer, input length) -> (output pointer << 32) | output length
  (func (export "{export}") (param $in i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const {len}))))
"#,
        len = answer.len(),
    );
    let case = fixture(kind);
    let mut value: serde_json::Value = serde_json::from_str(case).unwrap_or_default();
    value["description"] = "the skeleton's fixed answer".into();
    value["expect"] = serde_json::json!({"decision": serde_json::from_str::<serde_json::Value>(expect).unwrap_or_default()});
    let readme = format!(
        "# {name}\n\nA Fleetward {kind} policy in WebAssembly text.\n\n```sh\n\
         fleetward policy test fixtures\nfleetward policy inspect policy.wat\n```\n"
    );
    let files: Files = vec![
        ("policy.wat".into(), module),
        ("fixtures/suite.json".into(), suite("../policy.wat")),
        (
            format!("fixtures/01_{kind}.json").into(),
            format!("{}\n", super::pretty(&value)),
        ),
        ("README.md".into(), readme),
    ];
    (files, "  fleetward policy test fixtures".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `sdk/src` is copied into a Rust project (a new SDK module would otherwise
    /// break every scaffolded project's build).
    #[test]
    fn the_rust_scaffold_copies_every_sdk_source_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/src");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let rel = path.strip_prefix(&root).unwrap();
                    on_disk.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut copied: Vec<String> = RUST_SDK_FILES.iter().map(|(p, _)| p.to_string()).collect();
        copied.sort();
        assert_eq!(copied, on_disk);
    }

    /// The copied SDK declares exactly the SDK's dependencies (names, per section).
    #[test]
    fn the_copied_sdk_manifest_has_the_sdks_dependencies() {
        fn deps(manifest: &str) -> Vec<String> {
            let mut section = String::new();
            let mut out = Vec::new();
            for line in manifest.lines().map(str::trim) {
                if line.starts_with('[') {
                    section = line.to_string();
                } else if section.ends_with("dependencies]")
                    && let Some((name, _)) = line.split_once('=')
                {
                    out.push(format!("{section} {}", name.trim()));
                }
            }
            out
        }
        let sdk = include_str!("../../../../sdk/Cargo.toml");
        assert!(
            deps(sdk).iter().any(|d| d.ends_with(" serde_json")),
            "{:?}",
            deps(sdk)
        );
        assert_eq!(
            deps(RUST_SDK_MANIFEST),
            deps(sdk),
            "update RUST_SDK_MANIFEST"
        );
    }
}
