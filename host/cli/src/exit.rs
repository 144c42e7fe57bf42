//! Exit codes and the CLI's error type.
//!
//! Scripts and CI branch on the exit code, so the mapping from failure to code lives in one
//! place and is printed by `--help` from the same constant.

use std::path::PathBuf;
use std::process::ExitCode;

use fleetward_sdk::testing::FixtureError;

/// `--help` text listing the exit codes.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (inspect: module would load; test: every case passed)
  1  the decision failed (declined, timed out, trapped, invalid output, ...) or a test case failed
  2  usage or I/O error (bad flags, unreadable or invalid input/config/fixture files)
  3  module rejected at load (too large, not Wasm, over a structural cap, over the compile
     budget, forbidden imports, missing exports, ABI mismatch, a failing _initialize, limits out
     of range) or its config rejected by the module's validator (docs/abi.md lists the caps)";

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything succeeded (0).
    Ok,
    /// A decision failed or a test case failed (1).
    Failed,
    /// Usage or I/O error (2).
    Usage,
    /// The module (or its config) was rejected at load (3).
    Rejected,
}

impl Status {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Failed => 1,
            Status::Usage => 2,
            Status::Rejected => 3,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status.code())
    }
}

/// Everything that can make a command fail. Display is one line; the cause is the `source`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file named on the command line could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file named on the command line is not valid JSON.
    #[error("{} is not valid JSON", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A fixture directory is unreadable or malformed.
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    /// `policy new` cannot create its project.
    #[error("cannot create {}: {message}", path.display())]
    Scaffold {
        /// The directory or file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// `policy test` has no module to run.
    #[error(
        "no module for {}: pass --module or set \"module\" in its suite.json",
        dir.display()
    )]
    NoModule {
        /// The fixture directory.
        dir: PathBuf,
    },
    /// Flags or files that make sense alone but not together (e.g. a `--filter` matching no
    /// case): the message says what to change.
    #[error("{0}")]
    Usage(String),
    /// The engine refused the module, its config, or the call failed.
    #[error("{context}")]
    Policy {
        /// Who and what: `tenant "t" module sha256:… placement`.
        context: String,
        /// The engine's classification of the failure.
        #[source]
        source: fleetward_engine::PolicyErrorKind,
        /// Exit status this failure maps to.
        status: Status,
        /// The last lines the policy logged before it failed (`main` prints them after the
        /// one-line error, so a panic's message and the policy's own trace are on screen).
        log: Option<String>,
    },
    /// The engine could not start.
    #[error("cannot start the policy engine")]
    Engine(#[source] fleetward_engine::EngineError),
    /// An output file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The simulation could not run (an invalid scenario names its line).
    #[error(transparent)]
    Simulate(#[from] fleetward_simulate::SimulateError),
    /// The emulator or the controller failed at run time.
    #[error("{0}")]
    Runtime(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Writing to stdout/stderr failed (e.g. a closed pipe).
    #[error("cannot write output")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// Wraps a run-time failure of the emulator or controller.
    pub fn runtime(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        CliError::Runtime(err.into())
    }

    /// The policy's last log lines, for a call that failed after logging.
    pub fn policy_log(&self) -> Option<&str> {
        match self {
            CliError::Policy { log, .. } => log.as_deref(),
            _ => None,
        }
    }

    /// The exit status for this error.
    pub fn status(&self) -> Status {
        match self {
            CliError::Policy { status, .. } => *status,
            CliError::Engine(_) | CliError::Runtime(_) => Status::Failed,
            CliError::Simulate(fleetward_simulate::SimulateError::Driver(_)) => Status::Failed,
            CliError::Simulate(_) | CliError::Write { .. } => Status::Usage,
            CliError::Read { .. }
            | CliError::Json { .. }
            | CliError::Fixture(_)
            | CliError::NoModule { .. }
            | CliError::Scaffold { .. }
            | CliError::Usage(_)
            | CliError::Output(_) => Status::Usage,
        }
    }
}

/// Renders `err` and its causes as one line, `outer: cause: cause`.
///
/// Causes whose text the line already contains are skipped (some errors print their source in
/// their own message as well as returning it from `source()`), and line breaks inside a message
/// become spaces, so the result is always exactly one line.
pub fn one_line_chain(err: &dyn std::error::Error) -> String {
    let mut line = one_line(&err.to_string());
    let mut cause = err.source();
    while let Some(e) = cause {
        let text = one_line(&e.to_string());
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

/// Collapses a possibly multi-line message (e.g. a pretty-printed `Debug` inside a parser
/// error) into one line, each line trimmed and joined with a space.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(
            one_line("expected=[\n  0x0,\n\n  0x61,\n]\n"),
            "expected=[ 0x0, 0x61, ]"
        );
        assert_eq!(one_line("simple"), "simple");
    }

    #[test]
    fn chain_skips_causes_already_printed() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = CliError::Read {
            path: "x.json".into(),
            source: io,
        };
        assert_eq!(one_line_chain(&err), "cannot read x.json: no such file");
        let fixture = CliError::Fixture(FixtureError::Io {
            path: "d".into(),
            source: std::io::Error::other("denied"),
        });
        assert_eq!(one_line_chain(&fixture), "cannot read d: denied");
    }

    #[test]
    fn codes_are_stable_and_documented() {
        for (status, code) in [
            (Status::Ok, 0),
            (Status::Failed, 1),
            (Status::Usage, 2),
            (Status::Rejected, 3),
        ] {
            assert_eq!(status.code(), code);
            assert!(EXIT_CODES_HELP.contains(&format!("  {code}  ")));
        }
    }
}
