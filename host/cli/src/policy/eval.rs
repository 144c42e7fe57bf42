//! `fleetward policy eval`: run one decision of a module on a request file, exactly as the
//! host would (same engine, same limits), and print the decision.
//!
//! stdout carries only the decision JSON so it can be piped; everything else (policy logs,
//! the `now` used, fuel, peak memory and duration, the host's verdict) goes to stderr.
//!
//! The answer is judged with the controller's own validation ([`super::judge`]): one the host
//! would veto is printed, then reported with its invariant, and the exit status is 1. With
//! `--fixture FILE` the request, decision kind, `now`, tenant and config come from a fixture
//! case (and its directory's suite.json), and its expectation is checked too.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use fleetward_sdk::testing::{Case, DEFAULT_TENANT, FixtureError, Suite, check};
use fleetward_sdk::wire::{DecisionKind, Timestamp};
use serde_json::Value;

use super::judge;
use super::runtime::{self, LimitArgs};
use crate::exit::{CliError, Status};

/// Arguments of `policy eval`.
#[derive(Clone, Debug, clap::Args)]
pub struct EvalArgs {
    /// The policy module (.wasm or .wat).
    pub module: PathBuf,
    /// Which decision to call: placement, upgrade_ordering or remediation.
    #[arg(long, value_name = "KIND", value_parser = parse_kind, required_unless_present = "fixture", conflicts_with = "fixture")]
    pub decision: Option<DecisionKind>,
    /// The decision request (JSON, the `request` of the input envelope); `-` reads stdin.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "fixture",
        conflicts_with = "fixture"
    )]
    pub input: Option<PathBuf>,
    /// A fixture case file (docs/policy-testing.md) instead of --decision and --input; its
    /// directory's suite.json gives defaults, flags below override, and its `expect` is checked.
    #[arg(long, value_name = "FILE")]
    pub fixture: Option<PathBuf>,
    /// The tenant's config for the policy (JSON) [default: the fixture's, else null].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Tenant name passed in the envelope [default: the fixture's, else `test`].
    #[arg(long, value_name = "NAME")]
    pub tenant: Option<String>,
    /// Decision time (RFC 3339) [default: the current time, truncated to whole seconds and
    /// printed on stderr so the run can be reproduced].
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<Timestamp>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

fn parse_kind(s: &str) -> Result<DecisionKind, String> {
    s.parse()
}

fn parse_now(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).map_err(|e| e.to_string())
}

/// The current time in whole seconds.
fn current_time() -> Timestamp {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// A fixture case with its directory's suite.json applied.
struct FixtureCase {
    case: Case,
    suite: Suite,
}

fn read_fixture(path: &Path) -> Result<FixtureCase, CliError> {
    let invalid = |message: String| {
        CliError::Fixture(FixtureError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    };
    let case: Case =
        serde_json::from_value(runtime::read_json(path)?).map_err(|e| invalid(e.to_string()))?;
    let suite_path = path.parent().unwrap_or(Path::new(".")).join("suite.json");
    let suite = if suite_path.is_file() && suite_path != path {
        serde_json::from_value(runtime::read_json(&suite_path)?).map_err(|e| {
            CliError::Fixture(FixtureError::Invalid {
                path: suite_path.clone(),
                message: e.to_string(),
            })
        })?
    } else {
        Suite::default()
    };
    Ok(FixtureCase { case, suite })
}

/// Runs `policy eval`.
///
/// # Errors
/// I/O and JSON errors (2), module or config rejected (3), failed or vetoed decision (1).
pub fn run(args: &EvalArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Status, CliError> {
    let fixture = args.fixture.as_deref().map(read_fixture).transpose()?;
    let resolved = fixture.as_ref().map(|f| f.case.resolve(&f.suite));
    let (kind, request) = match (&resolved, args.decision, &args.input) {
        (Some(r), _, _) => (r.decision, r.request.clone()),
        (None, Some(kind), Some(input)) => (kind, runtime::read_json(input)?),
        _ => {
            return Err(CliError::Usage(
                "pass --decision and --input, or --fixture".into(),
            ));
        }
    };
    let config = match (&args.config, &resolved) {
        (Some(path), _) => runtime::read_json(path)?,
        (None, Some(r)) => r.config.clone(),
        (None, None) => Value::Null,
    };
    let tenant = args
        .tenant
        .clone()
        .or_else(|| resolved.map(|r| r.tenant.to_string()))
        .unwrap_or_else(|| DEFAULT_TENANT.to_string());
    let fixture_now = fixture.as_ref().and_then(|f| f.case.now.or(f.suite.now));
    let now = match args.now.or(fixture_now) {
        Some(now) => now,
        None => {
            let now = current_time();
            writeln!(
                err,
                "now: {now} (current time; pass --now {now} to reproduce)"
            )?;
            now
        }
    };
    let limits = args.limits.limits();
    let engine = runtime::engine(&limits)?;
    let module = runtime::load(&engine, &args.module)?;
    let policy = runtime::bind(&engine, &module, &tenant, config.clone(), limits.clone())?;
    let outcome = policy
        .call_json_blocking(kind, &request, now)
        .map_err(runtime::policy_error)?;
    for line in outcome.logs.lines() {
        writeln!(err, "policy log: {line}")?;
    }
    let cost = runtime::measure(
        &engine, &module, &tenant, &config, kind, &request, now, &limits,
    );
    let fuel = cost
        .fuel
        .map_or_else(|| "unknown".to_string(), |f| f.to_string());
    writeln!(err, "fuel used: {fuel}")?;
    if let Some(mem) = cost.peak_memory_bytes {
        writeln!(err, "peak memory: {}", runtime::human_bytes(mem))?;
    }
    writeln!(err, "duration: {:.3?}", outcome.duration)?;
    writeln!(out, "{}", super::pretty(&outcome.decision))?;

    let case_for_judging = fixture
        .as_ref()
        .map(|f| (&f.case, f.case.resolve(&f.suite)));
    let verdict = judge::judge(kind, &request, &outcome.decision);
    let status = match &case_for_judging {
        Some((case, resolved)) => {
            // The fixture decides what counts: the host's verdict, then its expectation.
            let (actual, waits) = super::test::judged(case, resolved, outcome.decision.clone());
            for w in waits {
                writeln!(err, "note: {w}")?;
            }
            if let Err(e) = &actual {
                writeln!(err, "{e}")?;
            }
            match check(&case.expect, &actual) {
                Ok(()) => {
                    writeln!(err, "expectation: ok")?;
                    Status::Ok
                }
                Err(why) => {
                    writeln!(err, "expectation: FAILED\n{}", why.trim_end())?;
                    Status::Failed
                }
            }
        }
        None => match verdict {
            Err(unjudged) => {
                let e = judge::unjudged_error(&unjudged);
                writeln!(err, "{e}")?;
                if e.kind == "invalid_request" {
                    Status::Usage
                } else {
                    Status::Failed
                }
            }
            Ok(verdict) => {
                for w in &verdict.waits {
                    writeln!(err, "note: {w}")?;
                }
                match verdict.as_call_error(None) {
                    Some(e) => {
                        writeln!(err, "{e}")?;
                        Status::Failed
                    }
                    None => Status::Ok,
                }
            }
        },
    };
    Ok(status)
}
