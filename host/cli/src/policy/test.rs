//! `fleetward policy test DIR`: run a fixture directory against a module, like `cargo test`.
//!
//! The fixture format and the matching rules are the SDK's ([`fleetward_sdk::testing`], shared
//! with a policy crate's native `cargo test`); this module supplies how a case is called: it
//! loads the module once, binds it per case (each case may carry its own tenant and config),
//! calls the decision in the engine, and then judges the answer with the controller's own
//! validation ([`super::judge`]): an answer the host would veto fails as error kind `vetoed`
//! (code: the invariant) unless the case expects exactly that. A config the module rejects is
//! a `config_rejected` error like any other, so fixtures can assert on it.
//!
//! Each passing call is also measured (fuel, peak memory: [`runtime::measure`]); the report is
//! text like `cargo test`, one JSON document, or JUnit XML for CI ([`super::report`]).
//! `--bless` rewrites the expectation of each failing case with what actually came out.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use fleetward_engine::{Engine, Limits, PolicyModule};
use fleetward_sdk::testing::{
    CallError, Case, Expect, FixtureDir, ResolvedCase, check, load_fixture_dir,
};
use serde_json::{Value, json};

use super::judge;
use super::report::{CaseRun, Format, Run};
use super::runtime::{self, Cost, LimitArgs};
use crate::exit::{CliError, Status};

/// Arguments of `policy test`.
#[derive(Clone, Debug, clap::Args)]
pub struct TestArgs {
    /// The fixture directory.
    pub dir: PathBuf,
    /// The module to test (.wasm or .wat); overrides `module` in the directory's suite.json.
    #[arg(long, value_name = "MODULE")]
    pub module: Option<PathBuf>,
    /// Run only the cases whose name (file stem) contains SUBSTR.
    #[arg(long, value_name = "SUBSTR")]
    pub filter: Option<String>,
    /// Report format: text (like cargo test), json (one document) or junit (XML for CI).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write each failing case's actual outcome into its file as the expectation
    /// (`{"decision": ...}` or `{"error": {...}}`); review the diff before committing.
    #[arg(long)]
    pub bless: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Runs `policy test`. Exit 0 when every case passes (or was blessed), 1 when any fails.
///
/// # Errors
/// Unreadable or malformed fixtures, missing module, a filter matching no case (2); module
/// rejected at load (3).
pub fn run(args: &TestArgs, out: &mut dyn Write) -> Result<Status, CliError> {
    let started = Instant::now();
    let mut fixtures = load_fixture_dir(&args.dir)?;
    if let Some(filter) = &args.filter {
        fixtures
            .fixtures
            .retain(|f| f.name.contains(filter.as_str()));
        if fixtures.fixtures.is_empty() {
            return Err(CliError::Usage(format!(
                "--filter {filter:?} matches no case in {}",
                args.dir.display()
            )));
        }
    }
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

    let mut cases = run_all(&engine, &module, &fixtures, &limits);
    if args.bless {
        bless(&fixtures, &mut cases)?;
    }
    let run = Run {
        dir: args.dir.clone(),
        module: module_path,
        digest: module.digest().to_string(),
        cases,
        elapsed: started.elapsed(),
    };
    args.format.write(&run, out)?;
    Ok(if run.failed() == 0 {
        Status::Ok
    } else {
        Status::Failed
    })
}

/// Runs, judges and measures every case.
fn run_all(
    engine: &Engine,
    module: &PolicyModule,
    dir: &FixtureDir,
    limits: &Limits,
) -> Vec<CaseRun> {
    dir.fixtures
        .iter()
        .map(|fx| {
            let resolved = fx.case.resolve(&dir.suite);
            let started = Instant::now();
            let (actual, waits) = run_case(engine, module, &fx.case, &resolved, limits);
            let duration = started.elapsed();
            let cost = match &actual {
                Ok(_) => runtime::measure(
                    engine,
                    module,
                    resolved.tenant,
                    resolved.config,
                    resolved.decision,
                    resolved.request,
                    resolved.now,
                    limits,
                ),
                Err(_) => Cost::default(),
            };
            CaseRun {
                name: fx.name.clone(),
                path: fx.path.clone(),
                description: fx.case.description.clone(),
                outcome: check(&fx.case.expect, &actual),
                actual,
                waits,
                cost,
                duration,
                blessed: false,
            }
        })
        .collect()
}

/// Binds the module for the case's tenant and config, calls the decision, and judges the
/// answer like the controller. Returns the result as fixtures see it, and the steps the caps
/// would hold back.
fn run_case(
    engine: &Engine,
    module: &PolicyModule,
    case: &Case,
    resolved: &ResolvedCase<'_>,
    limits: &Limits,
) -> (Result<Value, CallError>, Vec<String>) {
    let policy = match engine.bind(
        module,
        resolved.tenant,
        resolved.config.clone(),
        limits.clone(),
    ) {
        Ok(p) => p,
        Err(err) => return (Err(runtime::call_error(&err)), vec![]),
    };
    let decision =
        match policy.call_json_blocking(resolved.decision, resolved.request, resolved.now) {
            Ok(outcome) => outcome.decision,
            Err(err) => return (Err(runtime::call_error(&err)), vec![]),
        };
    judged(case, resolved, decision)
}

/// The answer after the host's validation: a veto becomes a [`judge::VETOED`] error.
pub fn judged(
    case: &Case,
    resolved: &ResolvedCase<'_>,
    decision: Value,
) -> (Result<Value, CallError>, Vec<String>) {
    match judge::judge(resolved.decision, resolved.request, &decision) {
        Err(unjudged) => (Err(judge::unjudged_error(&unjudged)), vec![]),
        Ok(verdict) => {
            let expected = match &case.expect {
                Expect::Error(e) if e.kind == judge::VETOED => e.code.as_deref(),
                _ => None,
            };
            match verdict.as_call_error(expected) {
                Some(err) => (Err(err), verdict.waits),
                None => (Ok(decision), verdict.waits),
            }
        }
    }
}

/// Rewrites the expectation of each failing case with its actual outcome, keeping the case's
/// other fields; the case then counts as passed (and is marked blessed).
fn bless(dir: &FixtureDir, cases: &mut [CaseRun]) -> Result<(), CliError> {
    for (fx, run) in dir.fixtures.iter().zip(cases.iter_mut()) {
        if run.outcome.is_ok() {
            continue;
        }
        let expect = match &run.actual {
            Ok(decision) => json!({"decision": decision}),
            Err(e) => match &e.code {
                Some(code) => json!({"error": {"kind": e.kind, "code": code}}),
                None => json!({"error": {"kind": e.kind}}),
            },
        };
        let text = std::fs::read_to_string(&fx.path).map_err(|source| CliError::Read {
            path: fx.path.clone(),
            source,
        })?;
        let original: Value = serde_json::from_str(&text).map_err(|source| CliError::Json {
            path: fx.path.clone(),
            source,
        })?;
        std::fs::write(&fx.path, with_expect(&original, expect)).map_err(|source| {
            CliError::Write {
                path: fx.path.clone(),
                source,
            }
        })?;
        run.outcome = Ok(());
        run.blessed = true;
    }
    Ok(())
}

/// The case document with `expect` replaced, pretty-printed with its fields in the documented
/// order (description, decision, now, tenant, config, request, expect, then any other) rather
/// than serde_json's alphabetical one (its map keeps insertion order only with a feature the
/// workspace does not enable).
fn with_expect(case: &Value, expect: Value) -> String {
    const ORDER: [&str; 7] = [
        "description",
        "decision",
        "now",
        "tenant",
        "config",
        "request",
        "expect",
    ];
    let mut fields = case.as_object().cloned().unwrap_or_default();
    fields.insert("expect".into(), expect);
    let mut keys: Vec<&String> = fields.keys().collect();
    keys.sort_by_key(|k| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
    let lines: Vec<String> = keys
        .iter()
        .map(|k| {
            let value = super::pretty(&fields[k.as_str()]).replace('\n', "\n  ");
            format!("  {}: {value}", Value::from(k.as_str()))
        })
        .collect();
    format!("{{\n{}\n}}\n", lines.join(",\n"))
}
