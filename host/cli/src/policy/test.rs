//! `fleetward policy test DIR`: run a fixture directory against a module, like `cargo test`.
//!
//! The shell around [`crate::fixture`]: it loads the module once, binds it per case (each case
//! may carry its own tenant and config), calls the decision and prints the verdicts. A case whose
//! config the module rejects is an [`Actual::Error`] like any other, so fixtures can assert on
//! `config_rejected` too.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use fleetward_engine::{Engine, Limits, PolicyModule};

use super::runtime::{self, LimitArgs};
use crate::exit::{CliError, Status};
use crate::fixture::{self, Actual, Case, Mismatch};

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
    let fixtures = fixture::load_dir(&args.dir)?;
    let module_path = args
        .module
        .clone()
        .or_else(|| fixtures.module.clone())
        .ok_or_else(|| CliError::NoModule {
            dir: args.dir.clone(),
        })?;
    let limits = args.limits.limits();
    let engine = runtime::engine(&limits)?;
    let module = runtime::load(&engine, &module_path)?;

    let n = fixtures.cases.len();
    let plural = if n == 1 { "" } else { "s" };
    writeln!(
        out,
        "\nrunning {n} test{plural} from {} against {} ({})",
        args.dir.display(),
        module_path.display(),
        module.digest()
    )?;
    let mut failures: Vec<(&Case, Mismatch)> = Vec::new();
    for case in &fixtures.cases {
        let actual = run_case(&engine, &module, case, &limits);
        match fixture::check(&case.expect, &actual) {
            Ok(()) => writeln!(out, "test {} ... ok", case.name)?,
            Err(mismatch) => {
                writeln!(out, "test {} ... FAILED", case.name)?;
                failures.push((case, mismatch));
            }
        }
    }

    if !failures.is_empty() {
        writeln!(out, "\nfailures:")?;
        for (case, mismatch) in &failures {
            writeln!(out, "\n---- {} ({}) ----", case.name, case.path.display())?;
            if let Some(description) = &case.description {
                writeln!(out, "{description}")?;
            }
            write!(out, "{}", mismatch.render())?;
        }
        writeln!(out, "\nfailures:")?;
        for (case, _) in &failures {
            writeln!(out, "    {}", case.name)?;
        }
    }
    let failed = failures.len();
    let passed = n - failed;
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    writeln!(
        out,
        "\ntest result: {verdict}. {passed} passed; {failed} failed; finished in {:.2}s\n",
        started.elapsed().as_secs_f64()
    )?;
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 {
        Status::Ok
    } else {
        Status::Failed
    })
}

/// Binds the module for the case's tenant and config, and calls the decision.
fn run_case(engine: &Engine, module: &PolicyModule, case: &Case, limits: &Limits) -> Actual {
    let policy = match engine.bind(module, &case.tenant, case.config.clone(), limits.clone()) {
        Ok(policy) => policy,
        Err(err) => return runtime::actual_error(&err),
    };
    match policy.call_json_blocking(case.decision, &case.request, case.now) {
        Ok(outcome) => Actual::Decision(outcome.decision),
        Err(err) => runtime::actual_error(&err),
    }
}
