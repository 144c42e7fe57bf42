//! `fleetward policy test DIR`: run a fixture directory against a module, like `cargo test`.
//!
//! The fixture format, the matching rules and the report are the SDK's
//! ([`fleetward_sdk::testing`], shared with a policy crate's native `cargo test`); this module
//! only supplies how a case is called: it loads the module once, binds it per case (each case
//! may carry its own tenant and config) and calls the decision in the engine. A config the
//! module rejects is a `config_rejected` error like any other, so fixtures can assert on it.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use fleetward_engine::{Engine, Limits, PolicyModule};
use fleetward_sdk::testing::{CallError, ResolvedCase, load_fixture_dir, run_fixtures_with};
use serde_json::Value;

use super::runtime::{self, LimitArgs};
use crate::exit::{CliError, Status};

/// Arguments of `policy test`.
#[derive(Clone, Debug, clap::Args)]
pub struct TestArgs {
    /// The fixture directory.
    pub dir: PathBuf,
    /// The module to test; overrides `module` in the directory's suite.json.
    #[arg(long, value_name = "MODULE")]
    pub module: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Runs `policy test`. Exit 0 when every case passes, 1 when any fails.
///
/// # Errors
/// Unreadable or malformed fixtures, missing module (2); module rejected at load (3).
pub fn run(args: &TestArgs, out: &mut dyn Write) -> Result<Status, CliError> {
    let started = Instant::now();
    let fixtures = load_fixture_dir(&args.dir)?;
    let module_path = args
        .module
        .clone()
        .or_else(|| fixtures.suite.module.as_ref().map(|m| fixtures.dir.join(m)))
        .ok_or_else(|| CliError::NoModule {
            dir: args.dir.clone(),
        })?;
    let limits = args.limits.limits();
    let engine = runtime::engine(&limits)?;
    let module = runtime::load(&engine, &module_path)?;

    let n = fixtures.fixtures.len();
    let plural = if n == 1 { "" } else { "s" };
    writeln!(
        out,
        "\nrunning {n} test{plural} from {} against {} ({})",
        args.dir.display(),
        module_path.display(),
        module.digest()
    )?;
    let mut report = run_fixtures_with(&fixtures, |suite, case| {
        run_case(&engine, &module, &case.resolve(suite), &limits)
    });
    report.elapsed = Some(started.elapsed());
    write!(out, "{report}")?;
    Ok(if report.failed() == 0 {
        Status::Ok
    } else {
        Status::Failed
    })
}

/// Binds the module for the case's tenant and config, and calls the decision.
fn run_case(
    engine: &Engine,
    module: &PolicyModule,
    case: &ResolvedCase<'_>,
    limits: &Limits,
) -> Result<Value, CallError> {
    let policy = engine
        .bind(module, case.tenant, case.config.clone(), limits.clone())
        .map_err(|err| runtime::call_error(&err))?;
    policy
        .call_json_blocking(case.decision, case.request, case.now)
        .map(|outcome| outcome.decision)
        .map_err(|err| runtime::call_error(&err))
}
