//! fleetward simulate: the real controller on an emulated fleet under virtual time.
//!
//! A platform team asks "if 1.32 ships on Monday, which clusters upgrade when, and what waits?".
//! Because policy decisions are deterministic and the controller runs unchanged against the
//! in-process API emulator, Fleetward can answer by *running* the fleet: a week of maintenance
//! windows passes in seconds on a paused tokio clock, every write is checked against the host's
//! invariants, and the result is a terminal summary plus a self-contained HTML report.
//!
//! The pipeline: [`scenario::load`] (YAML, errors with line and column) → [`driver::simulate`]
//! (virtual time, timeline actions, observations) → [`record::Recorder`] (spans, ledger,
//! violations) → [`summary`], [`report`], [`compare`].
//!
//! Progress and results are separate streams, so `fleetward simulate x.yaml > out.txt` keeps the
//! table: [`run`] writes progress to the writer it is given, [`SimulationExit::write_results`]
//! writes the table, comparison, violations and report path.
//!
//! ```no_run
//! use fleetward_simulate::{SimulateArgs, run};
//! let args = SimulateArgs::new("examples/scenarios/rollout.yaml", "reports/rollout");
//! let exit = run(&args, &mut std::io::stderr(), false)?;
//! exit.write_results(&mut std::io::stdout()).expect("stdout");
//! std::process::exit(exit.exit_code());
//! # Ok::<(), fleetward_simulate::SimulateError>(())
//! ```
#![forbid(unsafe_code)]

mod builtin;
pub mod compare;
pub mod conditions;
pub mod driver;
pub mod invariants;
pub mod progress;
pub mod record;
pub mod report;
pub mod rollout_spans;
pub mod scenario;
pub mod summary;

use std::io::Write;
use std::path::{Path, PathBuf};

use fleetward_sdk::wire::DecisionKind;

use crate::compare::Comparison;
use crate::driver::DriverError;
use crate::invariants::Violation;
use crate::progress::Progress;
use crate::record::Recording;
use crate::scenario::{Module, Scenario, ScenarioError};
use crate::summary::Summary;

/// What `fleetward simulate` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulateArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Where `report.html`, `ledger.json`, `summary.json` (and `compare.json`) go; created if
    /// missing.
    pub out_dir: PathBuf,
    /// `--policy TENANT=MODULE` (or `TENANT/KIND=MODULE` for one decision kind): MODULE is a
    /// `.wasm`/`.wat` path relative to the working directory, or `builtin:NAME`.
    pub policy_overrides: Vec<(String, PathBuf)>,
    /// `--compare`: run with and without the overrides and report the differences.
    pub compare: bool,
}

impl SimulateArgs {
    /// Arguments for a plain run (no overrides, no comparison).
    pub fn new(scenario: impl Into<PathBuf>, out_dir: impl Into<PathBuf>) -> Self {
        SimulateArgs {
            scenario: scenario.into(),
            out_dir: out_dir.into(),
            policy_overrides: Vec::new(),
            compare: false,
        }
    }

    /// Parses one `--policy` value, `TENANT=MODULE` or `TENANT/KIND=MODULE`.
    ///
    /// # Errors
    /// A message when there is no `=` or either side is empty.
    pub fn parse_override(s: &str) -> Result<(String, PathBuf), String> {
        match s.split_once('=') {
            Some((t, m)) if !t.is_empty() && !m.is_empty() => Ok((t.into(), m.into())),
            _ => Err(format!(
                "invalid --policy {s:?}: expected TENANT=MODULE or TENANT/KIND=MODULE"
            )),
        }
    }
}

/// The outcome of a simulation.
#[derive(Clone, Debug)]
pub struct SimulationExit {
    /// Per-tenant numbers of the (override) run.
    pub summary: Summary,
    /// Invariant violations seen in written state.
    pub violations: Vec<Violation>,
    /// The what-if comparison, with `--compare`.
    pub comparison: Option<Comparison>,
    /// Path of `report.html`.
    pub report: PathBuf,
    /// The run's virtual start (epoch seconds), for times relative to it in the results.
    pub start: i64,
}

impl SimulationExit {
    /// 0 when no write violated an invariant, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.violations.is_empty() { 0 } else { 1 }
    }

    /// Writes the results: the per-tenant table, the comparison, every violation and the
    /// report's path (what `fleetward simulate` prints on stdout).
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_results(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write!(out, "{}", summary::table(&self.summary))?;
        write!(
            out,
            "{}",
            conditions::text(&self.summary.conditions, self.start)
        )?;
        write!(
            out,
            "{}",
            rollout_spans::text(&self.summary.rollouts, self.start)
        )?;
        if let Some(c) = &self.comparison {
            write!(out, "\n{}", compare::text(c, self.start))?;
        }
        for v in &self.violations {
            writeln!(
                out,
                "VIOLATION {} {} {}: {}",
                record::relative(self.start, v.at),
                v.object,
                v.invariant,
                v.detail
            )?;
        }
        writeln!(out, "\nreport: {}", self.report.display())
    }
}

/// Why a simulation could not run (a violation is not an error: see [`SimulationExit`]).
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The scenario (or an override) is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A `--policy` override is malformed or its module does not load.
    #[error("--policy {spec}: {message}")]
    Override {
        /// The override as given.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// The simulated world failed.
    #[error("simulation failed: {0}")]
    Driver(#[from] DriverError),
    /// The virtual-time runtime could not be built.
    #[error("cannot build the simulation runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Runs a simulation: loads the scenario, runs it (twice with `compare`), prints progress to
/// `out` (redrawing in place when `tty`), and writes the report files. The results are in the
/// returned [`SimulationExit`] ([`SimulationExit::write_results`] prints them).
///
/// Safe to call from anywhere, including inside a tokio runtime: each run gets its own
/// paused-clock current-thread runtime on a scoped thread.
///
/// # Errors
/// [`SimulateError`] when the scenario or an override is invalid, the world cannot be driven or
/// an output cannot be written. Invariant violations are reported in the result instead.
pub fn run(
    args: &SimulateArgs,
    out: &mut (dyn Write + Send),
    tty: bool,
) -> Result<SimulationExit, SimulateError> {
    let baseline = scenario::load(&args.scenario)?;
    let mut variant = baseline.clone();
    let mut labels = Vec::new();
    for (target, module) in &args.policy_overrides {
        labels.push(format!("{target}={}", module.display()));
        apply_override(&mut variant, target, module)?;
    }
    let _ = writeln!(
        out,
        "simulating {} ({} clusters, {} tenants, up to {})",
        baseline.name,
        baseline.clusters.len(),
        baseline.tenants.len(),
        scenario::format_duration(baseline.duration)
    );
    let comparison_base = if args.compare && !labels.is_empty() {
        let _ = writeln!(out, "baseline run (scenario as written):");
        Some(run_scenario(&baseline, out, tty)?)
    } else {
        None
    };
    if !labels.is_empty() {
        let _ = writeln!(out, "run with {}:", labels.join(", "));
    }
    let rec = run_scenario(&variant, out, tty)?;
    let comparison = comparison_base.map(|b| compare::compare(&b, &rec, labels.clone()));
    let summary = summary::summarize(&rec);
    let report = write_outputs(&args.out_dir, &rec, &summary, comparison.as_ref())?;

    if comparison.is_none() && args.compare {
        let _ = writeln!(
            out,
            "--compare needs at least one --policy override; nothing to compare"
        );
    }
    Ok(SimulationExit {
        summary,
        violations: rec.violations.clone(),
        comparison,
        report,
        start: rec.start,
    })
}

/// Seed of the simulation thread's random generator (backoff jitter).
const JITTER_SEED: u64 = 0x5EED_F1EE;

/// Runs one scenario on a fresh emulator and controller, on a paused clock.
///
/// # Errors
/// See [`run`].
pub fn run_scenario(
    scenario: &Scenario,
    out: &mut (dyn Write + Send),
    tty: bool,
) -> Result<Recording, SimulateError> {
    run_scenario_with(scenario, out, tty, driver::emulated::EmulatedFleet::new)
}

/// [`run_scenario`] with the driver `make` builds for the scenario (tests wrap the emulated
/// fleet to watch what it observes), on the same fresh paused-clock runtime.
///
/// # Errors
/// See [`run`].
pub fn run_scenario_with<D: driver::Driver>(
    scenario: &Scenario,
    out: &mut (dyn Write + Send),
    tty: bool,
    make: impl FnOnce(&Scenario) -> D + Send,
) -> Result<Recording, SimulateError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // Backoff jitter (kube-runtime's watchers, through backon) forks this thread's
                // generator: seeded, a watch that failed during a seed API outage reconnects at
                // the same virtual instant in every run.
                fastrand::seed(JITTER_SEED);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .start_paused(true)
                    .build()
                    .map_err(SimulateError::Runtime)?;
                rt.block_on(async {
                    let mut progress = Progress::new(out, tty, scenario.start.0, scenario.end().0);
                    let fleet = make(scenario);
                    Ok(driver::simulate(scenario, fleet, &mut progress).await?)
                })
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn apply_override(s: &mut Scenario, target: &str, module: &Path) -> Result<(), SimulateError> {
    let spec = format!("{target}={}", module.display());
    let err = |message: String| SimulateError::Override {
        spec: spec.clone(),
        message,
    };
    let (tenant, kind) = match target.split_once('/') {
        Some((t, k)) => (t, Some(k.parse::<DecisionKind>().map_err(err)?)),
        None => (target, None),
    };
    let m = Module::resolve(&module.to_string_lossy(), Path::new(".")).map_err(err)?;
    s.override_policy(tenant, &m, kind)
        .map_err(|e| err(e.to_string()))
}

/// Writes `report.html`, `ledger.json`, `summary.json`, `spans.json`, `conditions.json`,
/// `decisions.jsonl` (the decision log, docs/audit.md) and (with a comparison) `compare.json`
/// into `dir`; returns the report's path.
///
/// # Errors
/// [`SimulateError::Write`] naming the file that could not be written.
pub fn write_outputs(
    dir: &Path,
    rec: &Recording,
    summary: &Summary,
    comparison: Option<&Comparison>,
) -> Result<PathBuf, SimulateError> {
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, SimulateError> {
        let path = dir.join(name);
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, bytes))
            .map_err(|source| SimulateError::Write {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    };
    let json = |v: &dyn erased::Json| v.pretty();
    write("ledger.json", json(&rec.ledger).as_bytes())?;
    write("summary.json", json(summary).as_bytes())?;
    write("spans.json", json(&rec.clusters).as_bytes())?;
    write("conditions.json", json(&rec.conditions).as_bytes())?;
    write_decision_log(&dir.join("decisions.jsonl"), &rec.decision_log)?;
    if let Some(c) = comparison {
        write("compare.json", json(c).as_bytes())?;
    }
    write(
        "report.html",
        report::render(rec, summary, comparison).as_bytes(),
    )
}

/// `decisions.jsonl`: the run's decision log through the controller's own log writer (one
/// file, no rotation), replacing any earlier run's.
fn write_decision_log(
    path: &Path,
    entries: &[fleetward_controller::decision_log::DecisionEntry],
) -> Result<(), SimulateError> {
    use fleetward_controller::decision_log::{file::RotatingFile, sink::write_numbered};
    let err = |source| SimulateError::Write {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        _ => {}
    }
    let mut file = RotatingFile::open(path, u64::MAX, 1).map_err(err)?;
    write_numbered(&mut file, entries.iter().cloned()).map_err(err)?;
    Ok(())
}

mod erased {
    //! Pretty JSON for any serialisable value behind one `dyn`.
    pub(crate) trait Json {
        fn pretty(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn pretty(&self) -> String {
            let mut s = serde_json::to_string_pretty(self)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            s.push('\n');
            s
        }
    }
}
