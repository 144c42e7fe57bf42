//! `fleetward policy eval`: run one decision of a module on a request file, exactly as the
//! host would (same engine, same limits), and print the decision.
//!
//! stdout carries only the decision JSON so it can be piped; everything else (policy logs,
//! the `now` used, fuel and duration) goes to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use fleetward_sdk::wire::{DecisionKind, Timestamp};
use serde_json::Value;

use super::runtime::{self, LimitArgs};
use crate::exit::{CliError, Status};

/// Arguments of `policy eval`.
#[derive(Clone, Debug, clap::Args)]
pub struct EvalArgs {
    /// The policy module (.wasm).
    pub module: PathBuf,
    /// Which decision to call: placement, upgrade_ordering or remediation.
    #[arg(long, value_name = "KIND", value_parser = parse_kind)]
    pub decision: DecisionKind,
    /// The decision request (JSON, the `request` of the input envelope); `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// The tenant's config for the policy (JSON) [default: null].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Tenant name passed in the envelope.
    #[arg(long, value_name = "NAME", default_value = "test")]
    pub tenant: String,
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

/// Runs `policy eval`.
///
/// # Errors
/// I/O and JSON errors (2), module or config rejected (3), failed decision (1).
pub fn run(args: &EvalArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Status, CliError> {
    let request = runtime::read_json(&args.input)?;
    let config = match &args.config {
        Some(path) => runtime::read_json(path)?,
        None => Value::Null,
    };
    let now = match args.now {
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
    let policy = runtime::bind(&engine, &module, &args.tenant, config, limits)?;
    let outcome = policy
        .call_json_blocking(args.decision, &request, now)
        .map_err(runtime::policy_error)?;
    for line in outcome.logs.lines() {
        writeln!(err, "policy log: {line}")?;
    }
    let fuel = outcome.fuel_consumed.map_or_else(
        || "not metered (pass --fuel N)".to_string(),
        |f| f.to_string(),
    );
    writeln!(err, "fuel used: {fuel}")?;
    writeln!(err, "duration: {:.3?}", outcome.duration)?;
    writeln!(out, "{}", super::pretty(&outcome.decision))?;
    Ok(Status::Ok)
}
