//! `fleetward policy new KIND NAME --lang go`: scaffold a policy project in a new directory.
//!
//! The project must build with one command, anywhere, without this repository and without a
//! network: so the Go SDK's sources (`sdk-go/`, compiled into this binary) are copied into the
//! project as `fleetward-sdk/`, and `go.mod` points at them with a `replace`. The project gets
//! a working decision for KIND, its export, a fixture, and a `go test` that runs the fixture
//! natively; `docs/policies-go.md` walks through the rest.

use std::io::Write;
use std::path::{Path, PathBuf};

use fleetward_sdk::wire::DecisionKind;

use crate::exit::{CliError, Status};

/// Languages `policy new` scaffolds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Standard Go (>= 1.24) with the Go SDK, built as a WASI reactor.
    Go,
}

/// Arguments of `policy new`.
#[derive(Clone, Debug, clap::Args)]
pub struct NewArgs {
    /// The decision the policy makes: placement, upgrade_ordering or remediation.
    pub kind: DecisionKind,
    /// The project directory to create (its last component names the Go module); must not
    /// exist yet.
    pub name: PathBuf,
    /// The language of the policy (Rust policies: see docs/policies.md).
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

/// Runs `policy new`.
///
/// # Errors
/// The directory exists already, or a file cannot be written (exit 2).
pub fn run(args: &NewArgs, out: &mut dyn Write) -> Result<Status, CliError> {
    let dir = &args.name;
    if dir.exists() {
        return Err(CliError::Scaffold {
            path: dir.clone(),
            message: "already exists; pick a new directory name".into(),
        });
    }
    let module = dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .ok_or_else(|| CliError::Scaffold {
            path: dir.clone(),
            message: "the directory name must be letters, digits, '-', '_' or '.' (it names the Go module)".into(),
        })?;
    let (main, fixture) = match args.kind {
        DecisionKind::Placement => (
            include_str!("scaffold/placement.go.txt"),
            include_str!("scaffold/placement.fixture.json"),
        ),
        DecisionKind::UpgradeOrdering => (
            include_str!("scaffold/upgrade_ordering.go.txt"),
            include_str!("scaffold/upgrade_ordering.fixture.json"),
        ),
        DecisionKind::Remediation => (
            include_str!("scaffold/remediation.go.txt"),
            include_str!("scaffold/remediation.fixture.json"),
        ),
    };
    let go_mod = format!(
        "module {module}\n\ngo 1.24\n\nrequire fleetward.dev/sdk-go v0.0.0\n\n\
         // The Go SDK, copied here by `fleetward policy new`: the project builds offline.\n\
         replace fleetward.dev/sdk-go => ./fleetward-sdk\n"
    );
    let suite = "{\n  \"module\": \"../policy.wasm\",\n  \"tenant\": \"acme\",\n  \
                 \"now\": \"2026-11-25T17:00:00Z\",\n  \"config\": null\n}\n";
    let readme = format!(
        "# {module}\n\nA Fleetward {kind} policy in Go (docs/policies-go.md in the Fleetward repository).\n\n\
         ```sh\ngo test ./...                      # the policy's logic on fixtures/, natively\n\
         {GO_BUILD}\nfleetward policy test fixtures     # the same fixtures against policy.wasm\n```\n",
        kind = args.kind
    );
    let mut files: Vec<(PathBuf, String)> = vec![
        ("go.mod".into(), go_mod),
        ("main.go".into(), main.replace("{{NAME}}", module)),
        (
            "main_test.go".into(),
            include_str!("scaffold/main_test.go.txt").into(),
        ),
        ("fixtures/suite.json".into(), suite.into()),
        (
            format!("fixtures/01_{}.json", args.kind).into(),
            fixture.into(),
        ),
        ("README.md".into(), readme),
        (".gitignore".into(), "/policy.wasm\n".into()),
    ];
    for (path, text) in SDK_FILES {
        files.push((Path::new("fleetward-sdk").join(path), (*text).into()));
    }
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
    writeln!(
        out,
        "created {} ({} policy in Go)\nnext:\n  cd {}\n  go test ./...\n  {GO_BUILD}\n  fleetward policy test fixtures",
        dir.display(),
        args.kind,
        dir.display()
    )?;
    Ok(Status::Ok)
}
