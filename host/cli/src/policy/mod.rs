//! `fleetward policy …`: work with a policy module offline, without a cluster.
//!
//! Each subcommand is one module holding its clap `Args` and a `run` function; the engine is
//! reached only through [`runtime`], the controller's validation of an answer only through
//! [`judge`], and the `test` report is rendered by [`report`].

pub mod bench;
pub mod eval;
pub mod inspect;
pub mod judge;
pub mod new;
pub mod report;
pub mod runtime;
pub mod test;

use std::io::Write;

use serde_json::Value;

use crate::exit::{CliError, EXIT_CODES_HELP, Status};

/// The `policy` subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Show a module's digest, size, ABI version, decisions, imports and why the host would
    /// reject it (exit 3 if it would).
    #[command(after_help = EXIT_CODES_HELP)]
    Inspect(inspect::InspectArgs),
    /// Run one decision on a request file (or a fixture case) and print the decision JSON on
    /// stdout; policy logs, fuel, peak memory, duration and the host's verdict go to stderr
    /// (exit 1 if the host would veto the answer).
    #[command(after_help = EXIT_CODES_HELP)]
    Eval(eval::EvalArgs),
    /// Run a fixture directory (one JSON case per file, optional suite.json) against a module,
    /// judging each answer like the controller, reporting like `cargo test` (or JSON, JUnit).
    #[command(after_help = EXIT_CODES_HELP)]
    Test(test::TestArgs),
    /// Measure one decision: p50/p99 latency over N calls, fuel and peak memory.
    #[command(after_help = EXIT_CODES_HELP)]
    Bench(bench::BenchArgs),
    /// Create a policy project for one decision in a new directory: sources, a fixture and a
    /// native test; it builds with one command (docs/policies.md, docs/policies-go.md).
    #[command(after_help = EXIT_CODES_HELP)]
    New(new::NewArgs),
}

/// Runs a `policy` subcommand.
///
/// # Errors
/// The subcommand's [`CliError`].
pub fn run(
    command: &PolicyCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    match command {
        PolicyCommand::Inspect(args) => inspect::run(args, out),
        PolicyCommand::Eval(args) => eval::run(args, out, err),
        PolicyCommand::Test(args) => test::run(args, out),
        PolicyCommand::New(args) => new::run(args, out),
        PolicyCommand::Bench(args) => bench::run(args, out, err),
    }
}

/// Pretty JSON for stdout; serialising a `Value` cannot fail, but stay total anyway.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
