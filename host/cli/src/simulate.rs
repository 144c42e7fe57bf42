//! `fleetward simulate`: run the real controller on an embedded emulated fleet, virtual time.
//!
//! All the work is in `fleetward-simulate`; this module maps flags to [`SimulateArgs`] and the
//! outcome to an exit code (1 when the controller ever wrote a state that breaks an invariant).

use std::io::Write;
use std::path::PathBuf;

use fleetward_simulate::SimulateArgs;

use crate::exit::{CliError, Status};

/// Arguments of `fleetward simulate`.
#[derive(Clone, Debug, clap::Args)]
pub struct SimulateCmd {
    /// The scenario YAML (see docs/simulate.md), e.g. examples/scenarios/rollout.yaml.
    pub scenario: PathBuf,
    /// Directory for report.html, ledger.json, summary.json [default: reports/<scenario name>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a tenant's module: TENANT=MODULE or TENANT/KIND=MODULE (MODULE: .wasm/.wat path
    /// or builtin:NAME). Repeatable.
    #[arg(long = "policy", value_parser = SimulateArgs::parse_override)]
    pub policy: Vec<(String, PathBuf)>,
    /// Run with and without the --policy overrides and report what changes.
    #[arg(long, requires = "policy")]
    pub compare: bool,
}

/// Runs the simulation: progress goes to `err` (redrawn in place on a terminal), the results
/// (per-tenant table, comparison, violations, report path) to `out`.
///
/// # Errors
/// [`CliError::Simulate`] when the scenario is invalid or the run cannot complete.
pub fn run(
    cmd: &SimulateCmd,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
    tty: bool,
) -> Result<Status, CliError> {
    let out_dir = cmd.out.clone().unwrap_or_else(|| {
        let stem = cmd
            .scenario
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "simulation".into());
        PathBuf::from("reports").join(stem)
    });
    let mut args = SimulateArgs::new(&cmd.scenario, out_dir);
    args.policy_overrides = cmd.policy.clone();
    args.compare = cmd.compare;
    let exit = fleetward_simulate::run(&args, err, tty)?;
    exit.write_results(out)?;
    if exit.exit_code() == 0 {
        Ok(Status::Ok)
    } else {
        writeln!(
            out,
            "FAILED: the controller wrote {} state(s) that violate an invariant (see the report)",
            exit.violations.len()
        )?;
        Ok(Status::Failed)
    }
}
