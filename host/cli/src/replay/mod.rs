//! `fleetward replay LOG...`: re-run recorded decisions offline and say whether they come out
//! the same; or run a candidate module on them and show what would change.
//!
//! A decision-log record keeps the exact input bytes a module read, the module's digest and
//! the output it wrote (docs/audit.md). Policies are deterministic, so running the same module
//! on the same bytes must give the same bytes back: replay checks that for every record, and
//! anything but 100% identical is a determinism bug (exit 1). With `--policy TENANT/KIND=FILE`
//! a candidate answers those decisions instead, and replay shows which decisions change, a
//! diff of each, and which answers the host would veto (the controller's own validation, as in
//! `policy test`).
//!
//! Layout: the functional core decides — [`select`] (which records, which candidate),
//! [`compare`] (the verdict on one record), [`diff`] (what changed, path by path),
//! [`builtin`] (the controller's built-ins on a recorded request), [`report`] (per tenant and
//! kind, text or JSON, the exit status); the shell acts — [`modules`] (find modules by digest
//! in a directory or the cluster), [`runner`] (load, bind, run the recorded bytes), and
//! [`run`] here (read the logs, drive the rest).

pub mod builtin;
pub mod compare;
pub mod diff;
pub mod judge_view;
pub mod modules;
pub mod report;
pub mod runner;
pub mod select;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use fleetward_controller::decision_log::{DecisionEntry, LineError, LogLine, record};
use fleetward_sdk::wire::{DecisionKind, Timestamp};

use self::modules::Modules;
use self::report::{At, BadLine, Decision, Gap, Replayed, Report};
use self::runner::{Candidate, Runner};
use self::select::{Filter, Target};
use crate::exit::{CliError, Status};
use crate::policy::runtime;

/// `--help` text for the exit codes of `replay`.
pub const REPLAY_EXIT_CODES: &str = "\
Exit codes:
  0  every comparable decision replayed byte-identical (or failed the same way) and every line
     was usable; with --policy, candidate changes and vetoes do not change this
  1  a decision replayed differently (a determinism bug), could not be run (module missing or
     refused), or a log line was unusable (truncated, corrupt, unknown version or record type,
     altered input); the rest of the log was still replayed and reported
  2  usage or I/O error (bad flags, unreadable log, --modules directory or kubeconfig)
  3  a --policy candidate module (or its --policy-config) was rejected at load";

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table per tenant and kind, then the details.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// `fleetward replay` arguments.
#[derive(Clone, Debug, clap::Args)]
pub struct ReplayArgs {
    /// Decision logs (`fleetward run --decision-log`, rotated files included, or a simulation's
    /// `decisions.jsonl`), replayed in the order given.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Directory of modules: every `*.wasm` and `*.wat` file in it is found by its digest (the
    /// SHA-256 of the Wasm binary; a `.wat` file is assembled first). Repeatable. The reference
    /// policies built into fleetward (a scenario's `builtin:NAME`) are always found.
    #[arg(long, value_name = "DIR")]
    pub modules: Vec<PathBuf>,
    /// Also find modules in the cluster's ConfigMaps (every Tenant binding's `binaryData`),
    /// and replay with the Tenants' limits.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Run a candidate module instead for TENANT's live KIND decisions, show which change, how,
    /// and which answers the host would veto. Repeatable.
    #[arg(long = "policy", value_name = "TENANT/KIND=FILE")]
    pub policies: Vec<Target>,
    /// Bind a candidate with this JSON config instead of the recorded one. Repeatable; needs a
    /// matching --policy.
    #[arg(long = "policy-config", value_name = "TENANT/KIND=FILE")]
    pub policy_configs: Vec<Target>,
    /// Only this tenant's decisions (repeatable: any of them).
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Only decisions of this kind: placement, upgrade_ordering, remediation (repeatable).
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<DecisionKind>,
    /// Only decisions at or after this time (RFC 3339, e.g. 2026-12-07T10:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = select::parse_time)]
    pub since: Option<Timestamp>,
    /// Only decisions before this time (RFC 3339; exclusive).
    #[arg(long, value_name = "TIME", value_parser = select::parse_time)]
    pub until: Option<Timestamp>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Runs `fleetward replay`.
///
/// # Errors
/// [`CliError`] for usage and I/O errors (exit 2) and a rejected candidate (exit 3); problems
/// inside the logs are reported, not returned.
pub fn run(
    args: &ReplayArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let filter = Filter {
        tenants: args.tenants.clone(),
        kinds: args.kinds.clone(),
        since: args.since,
        until: args.until,
    };
    let mut modules = Modules::with_reference_policies();
    for dir in &args.modules {
        modules.add_dir(dir)?;
    }
    if let Some(kubeconfig) = &args.kubeconfig {
        modules.add_cluster(kubeconfig)?;
    }
    for w in &modules.warnings {
        writeln!(err, "warning: {w}")?;
    }
    let mut runner = Runner::new(modules)?;
    let candidates = candidates(args, &runner)?;

    let mut report = Report {
        logs: args.logs.iter().map(|p| p.display().to_string()).collect(),
        ..Report::default()
    };
    for path in &args.logs {
        let file = std::fs::File::open(path).map_err(|source| CliError::Read {
            path: path.clone(),
            source,
        })?;
        let name = path.display().to_string();
        for (line, item) in numbered_lines(BufReader::new(file)) {
            let at = At {
                file: name.clone(),
                line,
            };
            match item {
                Err(e) => report.bad_lines.push(BadLine {
                    at,
                    message: e.to_string(),
                }),
                Ok(LogLine::Dropped(d)) => report.gaps.push(Gap {
                    at,
                    count: d.count,
                    first_seq: d.first_seq,
                    last_seq: d.last_seq,
                    reason: d.reason,
                }),
                Ok(LogLine::Decision(entry)) if !filter.matches(&entry) => {
                    report.filtered_out += 1;
                }
                Ok(LogLine::Decision(entry)) => {
                    let decision = decision(&entry, at);
                    // A record without input cannot be answered by a candidate either: the
                    // replay says why.
                    let has_input = entry.input.get().trim() != "null";
                    match candidates
                        .iter()
                        .find(|c| has_input && c.target.applies_to(&entry))
                    {
                        Some(c) => {
                            let file = c.target.file.display().to_string();
                            report
                                .candidates
                                .push(runner.candidate(c, &entry, decision, file));
                        }
                        None => {
                            let (verdict, fuel_note) = runner.replay(&entry);
                            report.replayed.push(Replayed {
                                decision,
                                verdict,
                                fuel_note,
                            });
                        }
                    }
                }
            }
        }
    }
    match args.format {
        Format::Text => out.write_all(report.text().as_bytes())?,
        Format::Json => writeln!(out, "{}", crate::policy::pretty(&report.json()))?,
    }
    Ok(report.status())
}

fn decision(entry: &DecisionEntry, at: At) -> Decision {
    Decision {
        at,
        time: entry.time,
        tenant: entry.tenant.clone(),
        kind: entry.kind,
        role: entry.role,
        clusters: entry.clusters.clone(),
        module: entry.module.clone(),
    }
}

/// Every non-empty line parsed by the decision log's own reader ([`record::parse_line`], what
/// [`fleetward_controller::decision_log::read_lines`] uses), with its line number, which
/// replay needs for every record it reports on (`read_lines` numbers only its errors).
fn numbered_lines(
    reader: impl BufRead,
) -> impl Iterator<Item = (usize, Result<LogLine, LineError>)> {
    let mut lines = reader.lines().enumerate();
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        loop {
            let (i, line) = lines.next()?;
            match line {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => return Some((i + 1, record::parse_line(i + 1, &text))),
                Err(source) => {
                    failed = true;
                    return Some((
                        i + 1,
                        Err(LineError::Io {
                            line: i + 1,
                            source,
                        }),
                    ));
                }
            }
        }
    })
}

/// Loads every `--policy` module and reads every `--policy-config`.
fn candidates(args: &ReplayArgs, runner: &Runner) -> Result<Vec<Candidate>, CliError> {
    let mut seen = BTreeSet::new();
    for t in &args.policies {
        if !seen.insert((t.tenant.clone(), t.kind)) {
            return Err(CliError::Usage(format!(
                "--policy {}/{} given twice: one candidate per tenant and kind",
                t.tenant, t.kind
            )));
        }
    }
    for c in &args.policy_configs {
        if !seen.contains(&(c.tenant.clone(), c.kind)) {
            return Err(CliError::Usage(format!(
                "--policy-config {}/{} has no matching --policy {}/{}=FILE",
                c.tenant, c.kind, c.tenant, c.kind
            )));
        }
    }
    let mut out = Vec::new();
    for target in &args.policies {
        let module = runtime::load(runner.engine(), &target.file)?;
        let config = match args
            .policy_configs
            .iter()
            .find(|c| c.tenant == target.tenant && c.kind == target.kind)
        {
            Some(c) => {
                let config = runtime::read_json(&c.file)?;
                // A config the candidate's validator rejects is a rejected candidate (exit 3),
                // not a per-decision failure.
                runtime::bind(
                    runner.engine(),
                    &module,
                    &target.tenant,
                    config.clone(),
                    fleetward_engine::Limits::default(),
                )?;
                Some(config)
            }
            None => None,
        };
        out.push(Candidate {
            target: target.clone(),
            module,
            config,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_as_in_the_file_with_empty_lines_skipped() {
        let dropped = fleetward_controller::decision_log::DroppedEntry::new(1, 2, "full").to_line();
        let log = format!("\n{dropped}\n\n{{not json\n");
        let items: Vec<_> = numbered_lines(log.as_bytes()).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].0, 2);
        assert!(matches!(items[0].1, Ok(LogLine::Dropped(_))));
        assert_eq!(items[1].0, 4);
        assert!(matches!(
            items[1].1,
            Err(LineError::Corrupt { line: 4, .. })
        ));
    }
}
