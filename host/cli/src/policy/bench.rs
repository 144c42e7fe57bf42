//! `fleetward policy bench MODULE REQUEST`: what one decision costs, like `kwctl bench` or
//! `opa bench`.
//!
//! The module is loaded and bound once (as the controller does per tenant), called once to
//! warm up, then `--iterations` times, each timed from the host's side (envelope
//! serialisation, a fresh instance, the guest, output parsing: what the controller pays per
//! decision). Fuel and peak memory come from [`runtime::measure`], outside the timed calls, so
//! metering does not slow the latencies reported. Iterations are bounded so a slow module
//! cannot keep the command running for hours.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fleetward_sdk::testing::{Case, DEFAULT_TENANT};
use fleetward_sdk::wire::{DecisionKind, Timestamp};
use serde_json::{Value, json};

use super::runtime::{self, LimitArgs};
use crate::exit::{CliError, Status};

/// Most `--iterations` (at the default 100 ms timeout, at most ~17 minutes).
pub const MAX_ITERATIONS: u64 = 10_000;

/// Output formats of `policy bench`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `policy bench`.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchArgs {
    /// The policy module (.wasm or .wat).
    pub module: PathBuf,
    /// The decision request (JSON), or a fixture case file (its request, decision kind, `now`,
    /// tenant and config are used).
    pub request: PathBuf,
    /// Which decision to call [required for a bare request].
    #[arg(long, value_name = "KIND", value_parser = parse_kind)]
    pub decision: Option<DecisionKind>,
    /// Timed calls, 1 to 10000.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=MAX_ITERATIONS))]
    pub iterations: u64,
    /// The tenant's config for the policy (JSON) [default: the fixture's, else null].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Tenant name passed in the envelope [default: the fixture's, else `test`].
    #[arg(long, value_name = "NAME")]
    pub tenant: Option<String>,
    /// Decision time (RFC 3339) [default: the fixture's, else 2026-01-01T00:00:00Z; a fixed
    /// time keeps runs comparable].
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<Timestamp>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: BenchFormat,
    #[command(flatten)]
    pub limits: LimitArgs,
}

fn parse_kind(s: &str) -> Result<DecisionKind, String> {
    s.parse()
}

fn parse_now(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).map_err(|e| e.to_string())
}

/// Latency statistics in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    /// Fastest call.
    pub min: f64,
    /// Median (nearest rank).
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest call.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Nearest-rank percentiles of `samples` (at least one).
pub fn latency(samples: &[Duration]) -> Latency {
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let i = ((p / 100.0) * us.len() as f64).ceil() as usize;
        us[i.clamp(1, us.len()) - 1]
    };
    Latency {
        min: us[0],
        p50: rank(50.0),
        p90: rank(90.0),
        p99: rank(99.0),
        max: us[us.len() - 1],
        mean: us.iter().sum::<f64>() / us.len() as f64,
    }
}

/// Runs `policy bench`.
///
/// # Errors
/// Unreadable files or a bare request without `--decision` (2); module rejected (3); a call
/// that fails (1: a benchmark of a failing decision measures nothing useful).
pub fn run(args: &BenchArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Status, CliError> {
    let doc = runtime::read_json(&args.request)?;
    let is_case = doc.get("request").is_some() && doc.get("expect").is_some();
    let case: Option<Case> = if is_case {
        Some(serde_json::from_value(doc.clone()).map_err(|e| {
            CliError::Usage(format!(
                "{} looks like a fixture case but is not one: {e}",
                args.request.display()
            ))
        })?)
    } else {
        None
    };
    let kind = match (args.decision, &case) {
        (Some(kind), _) => kind,
        (None, Some(case)) => case.decision,
        (None, None) => {
            return Err(CliError::Usage(format!(
                "{} is a bare request: pass --decision placement|upgrade_ordering|remediation",
                args.request.display()
            )));
        }
    };
    let request = case.as_ref().map_or(doc.clone(), |c| c.request.clone());
    let config = match (&args.config, &case) {
        (Some(path), _) => runtime::read_json(path)?,
        (None, Some(c)) => c.config.clone().unwrap_or(Value::Null),
        (None, None) => Value::Null,
    };
    let tenant = args
        .tenant
        .clone()
        .or_else(|| case.as_ref().and_then(|c| c.tenant.clone()))
        .unwrap_or_else(|| DEFAULT_TENANT.to_string());
    let now = args
        .now
        .or_else(|| case.as_ref().and_then(|c| c.now))
        .unwrap_or(Timestamp(1_767_225_600));

    let limits = args.limits.limits();
    let engine = runtime::engine(&limits)?;
    let module = runtime::load(&engine, &args.module)?;
    let policy = runtime::bind(&engine, &module, &tenant, config.clone(), limits.clone())?;
    let call = || {
        policy
            .call_json_blocking(kind, &request, now)
            .map_err(runtime::policy_error)
    };
    call()?; // warm-up: first-call costs (lazy init, page cache) are not the steady state
    let mut samples = Vec::with_capacity(usize::try_from(args.iterations).unwrap_or(0));
    for _ in 0..args.iterations {
        let started = Instant::now();
        call()?;
        samples.push(started.elapsed());
    }
    let lat = latency(&samples);
    let cost = runtime::measure(
        &engine, &module, &tenant, &config, kind, &request, now, &limits,
    );
    match args.format {
        BenchFormat::Json => {
            let doc = json!({
                "module": args.module.display().to_string(),
                "digest": module.digest().to_string(),
                "decision": kind.as_str(),
                "iterations": args.iterations,
                "latency_us": {"min": lat.min, "p50": lat.p50, "p90": lat.p90, "p99": lat.p99,
                               "max": lat.max, "mean": lat.mean},
                "fuel": cost.fuel,
                "peak_memory_bytes": cost.peak_memory_bytes,
            });
            writeln!(out, "{}", super::pretty(&doc))?;
        }
        BenchFormat::Text => {
            writeln!(
                out,
                "module:      {} ({})",
                args.module.display(),
                module.digest()
            )?;
            writeln!(
                out,
                "decision:    {kind}, {} timed call(s) after 1 warm-up",
                args.iterations
            )?;
            writeln!(
                out,
                "latency:     p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs (min {:.1}, max {:.1}, mean {:.1})",
                lat.p50, lat.p90, lat.p99, lat.min, lat.max, lat.mean
            )?;
            let fuel = cost.fuel.map_or("unknown".into(), |f| f.to_string());
            writeln!(out, "fuel:        {fuel}")?;
            let mem = cost
                .peak_memory_bytes
                .map_or("unknown".into(), runtime::human_bytes);
            writeln!(out, "peak memory: {mem}")?;
        }
    }
    if args.iterations < 20 {
        writeln!(
            err,
            "note: p99 of {} samples is the slowest call; use --iterations 100 or more",
            args.iterations
        )?;
    }
    Ok(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let l = latency(&samples);
        assert_eq!(
            (l.min, l.p50, l.p90, l.p99, l.max),
            (1.0, 50.0, 90.0, 99.0, 100.0)
        );
        let one = latency(&[Duration::from_micros(7)]);
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
    }
}
