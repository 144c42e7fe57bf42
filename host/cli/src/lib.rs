//! The `fleetward` command-line tool, as a library so its commands are testable in-process.
//!
//! `main.rs` only parses flags ([`Cli`]) and maps the result of [`run`] to an exit code. Each
//! top-level subcommand is one variant of [`Command`] and one module with its own clap `Args`
//! and a `run` function; adding `crds`, `run`, `emulator` or `simulate` means adding one variant,
//! one module and one match arm in [`run`].
//!
//! ```no_run
//! use clap::Parser;
//! let cli = fleetward::Cli::parse_from(["fleetward", "policy", "inspect", "policy.wasm"]);
//! let status = fleetward::run(&cli, &mut std::io::stdout(), &mut std::io::stderr());
//! ```
#![forbid(unsafe_code)]

pub mod crds;
pub mod emulator;
pub mod exit;
pub mod policy;
pub mod replay;
pub mod rollout;
pub mod run;
pub mod simulate;

use std::io::{IsTerminal, Write};

pub use exit::{CliError, EXIT_CODES_HELP, Status};

/// Command-line arguments.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "fleetward", version, about = "Fleetward: policy-driven Kubernetes fleet lifecycle", after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Inspect, evaluate and test policy modules offline.
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    Policy(policy::PolicyCommand),
    /// Simulate a scenario: the real controller on an embedded emulated fleet, virtual time,
    /// terminal summary and HTML report (exit 1 if an invariant was ever violated).
    Simulate(simulate::SimulateCmd),
    /// Print the CustomResourceDefinitions (the content of deploy/crds.yaml).
    Crds(crds::CrdsArgs),
    /// Run the controller against the cluster in the kubeconfig (or in-cluster config).
    Run(run::RunOptions),
    /// Re-run recorded decisions offline and report how many come out byte-identical, per
    /// tenant and kind; with --policy, what a candidate module would decide instead.
    #[command(after_help = replay::REPLAY_EXIT_CODES)]
    Replay(replay::ReplayArgs),
    /// See and steer a tenant's upgrade rollout: status (--watch), pause, resume, approve, abort.
    #[command(after_help = rollout::ROLLOUT_EXIT_CODES)]
    Rollout(rollout::RolloutArgs),
    /// Serve the Kubernetes API emulator on 127.0.0.1 and write a kubeconfig for kubectl.
    Emulator(emulator::EmulatorArgs),
    /// Internal: compile one module from stdin within a budget (the engine's compiler child,
    /// `fleetward_engine::compile`). Not for people.
    #[command(name = "__compile-module", hide = true)]
    CompileModule(CompileModuleArgs),
}

/// Arguments of the hidden compiler subcommand, passed through to
/// [`fleetward_engine::compile::child_main`].
#[derive(Clone, Debug, clap::Args)]
pub struct CompileModuleArgs {
    /// `--memory-bytes=N --cpu-seconds=N --fuel=BOOL`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Runs a parsed command, writing results to `out` and diagnostics and progress to `err`
/// (`simulate` redraws its progress line in place when the process's stderr is a terminal).
///
/// # Errors
/// A [`CliError`]; its [`CliError::status`] is the exit code to use.
pub fn run(
    cli: &Cli,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> Result<Status, CliError> {
    match &cli.command {
        Command::Policy(command) => policy::run(command, out, err),
        Command::Simulate(cmd) => simulate::run(cmd, out, err, std::io::stderr().is_terminal()),
        Command::Crds(args) => crds::run(args, out),
        Command::Run(opts) => run::run(opts),
        Command::Replay(args) => replay::run(args, out, err),
        Command::Rollout(args) => rollout::run(args, out),
        Command::Emulator(args) => emulator::run(args, out),
        Command::CompileModule(args) => {
            let code =
                fleetward_engine::compile::child_main(&args.args, &mut std::io::stdin(), out, err);
            Ok(match code {
                0 => Status::Ok,
                2 => Status::Usage,
                3 => Status::Rejected,
                _ => Status::Failed,
            })
        }
    }
}
