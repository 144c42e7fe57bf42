//! What a replay found, summed up per tenant and kind, as a terminal report or JSON; and the
//! exit status that follows from it.
//!
//! Pure: the shell fills a [`Report`] and prints [`Report::text`] or [`Report::json`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use fleetward_controller::decision_log::Role;
use fleetward_sdk::wire::{DecisionKind, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};

use super::compare::Verdict;
use super::diff::Change;
use crate::exit::Status;

/// Where a record is: file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct At {
    /// The log file as named on the command line.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.file, self.line)
    }
}

/// A decision as the report names it.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// Where it is in the log.
    pub at: At,
    /// Decision time.
    pub time: Timestamp,
    /// Tenant.
    pub tenant: String,
    /// Kind.
    pub kind: DecisionKind,
    /// Live or shadow.
    pub role: Role,
    /// Clusters concerned.
    pub clusters: Vec<String>,
    /// The recorded module digest, or `builtin`.
    pub module: String,
}

impl Decision {
    fn head(&self) -> String {
        let role = match self.role {
            Role::Live => "",
            Role::Shadow => " (shadow)",
        };
        format!(
            "{}: {} {} {}{role} [{}] module {}",
            self.at,
            self.time,
            self.tenant,
            self.kind,
            self.clusters.join(", "),
            short_digest(&self.module)
        )
    }
}

/// One replayed decision and its verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Replayed {
    /// Which decision.
    #[serde(flatten)]
    pub decision: Decision,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// A fuel difference, if any (reported, not judged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_note: Option<String>,
}

/// What a candidate module made of one decision.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CandidateOutcome {
    /// The candidate wrote exactly the recorded output.
    Unchanged,
    /// The candidate answered differently (or answered where the record failed).
    Changed {
        /// Path by path (empty when one side is a failure).
        changes: Vec<Change>,
        /// One line.
        why: String,
    },
    /// The candidate's call failed.
    Failed {
        /// Stable label.
        label: String,
        /// One line.
        message: String,
        /// Whether the recorded call failed with the same label (then nothing changes).
        same_as_recorded: bool,
    },
}

/// A host veto of a candidate's answer, with the invariant, as `policy test` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct VetoView {
    /// The invariant (`TenantOwnership`, `NotACandidate`, `WrongComponent`, ...).
    pub invariant: String,
    /// What was refused and why.
    pub message: String,
}

/// A candidate's answer to one recorded decision.
#[derive(Clone, Debug, Serialize)]
pub struct CandidateRun {
    /// Which decision.
    #[serde(flatten)]
    pub decision: Decision,
    /// The candidate file.
    pub candidate: String,
    /// What changed.
    #[serde(flatten)]
    pub outcome: CandidateOutcome,
    /// What the host would veto in the candidate's answer.
    pub vetoes: Vec<VetoView>,
    /// Steps the host would hold back for now (caps), not faults of the answer.
    pub waits: Vec<String>,
}

impl CandidateRun {
    /// Whether the candidate's decision differs from the recorded one.
    pub fn changed(&self) -> bool {
        match &self.outcome {
            CandidateOutcome::Unchanged => false,
            CandidateOutcome::Changed { .. } => true,
            CandidateOutcome::Failed {
                same_as_recorded, ..
            } => !same_as_recorded,
        }
    }
}

/// A line that could not be used.
#[derive(Clone, Debug, Serialize)]
pub struct BadLine {
    /// Where.
    pub at: At,
    /// The reader's message (names the line and what to do).
    pub message: String,
}

/// A `dropped` notice: records the writer could not keep.
#[derive(Clone, Debug, Serialize)]
pub struct Gap {
    /// Where the notice is.
    pub at: At,
    /// How many records are missing.
    pub count: u64,
    /// First missing `seq`.
    pub first_seq: u64,
    /// Last missing `seq`.
    pub last_seq: u64,
    /// Why the writer dropped them.
    pub reason: String,
}

/// Everything a replay found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The logs read, as named.
    pub logs: Vec<String>,
    /// Lines that could not be used.
    pub bad_lines: Vec<BadLine>,
    /// Gaps.
    pub gaps: Vec<Gap>,
    /// Decisions replayed with their own module (or the built-in).
    pub replayed: Vec<Replayed>,
    /// Decisions a candidate answered instead.
    pub candidates: Vec<CandidateRun>,
    /// Decisions the filters left out.
    pub filtered_out: usize,
}

/// Per tenant and kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Decisions replayed.
    pub total: usize,
    /// Byte-identical (or the same failure).
    pub identical: usize,
    /// Not identical.
    pub different: usize,
    /// Not comparable (timeouts; limit failures with unknown limits).
    pub not_comparable: usize,
    /// Could not be run (module missing or refused).
    pub failed_to_run: usize,
}

impl Counts {
    fn add(&mut self, v: &Verdict) {
        self.total += 1;
        match v {
            Verdict::Identical => self.identical += 1,
            Verdict::Different { .. } => self.different += 1,
            Verdict::NotComparable { .. } => self.not_comparable += 1,
            Verdict::FailedToRun { .. } => self.failed_to_run += 1,
        }
    }
}

/// Per tenant and kind, for candidates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CandidateCounts {
    /// Decisions the candidate answered.
    pub total: usize,
    /// Decisions whose outcome changes.
    pub changed: usize,
    /// Answers the host would veto.
    pub vetoed: usize,
    /// Calls that failed.
    pub failed: usize,
}

/// The key of a table row: tenant, kind (in their declared order), role.
type Key = (String, DecisionKind, &'static str);

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Live => "live",
        Role::Shadow => "shadow",
    }
}

impl Report {
    /// Counts per tenant, kind and role, in that order.
    pub fn groups(&self) -> BTreeMap<(String, String, &'static str), Counts> {
        let mut out: BTreeMap<Key, Counts> = BTreeMap::new();
        for r in &self.replayed {
            let d = &r.decision;
            out.entry((d.tenant.clone(), d.kind, role_name(d.role)))
                .or_default()
                .add(&r.verdict);
        }
        out.into_iter()
            .map(|((t, k, r), c)| ((t, k.to_string(), r), c))
            .collect()
    }

    /// Candidate counts per tenant and kind.
    pub fn candidate_groups(&self) -> BTreeMap<(String, String), CandidateCounts> {
        let mut out: BTreeMap<(String, String), CandidateCounts> = BTreeMap::new();
        for c in &self.candidates {
            let e = out
                .entry((c.decision.tenant.clone(), c.decision.kind.to_string()))
                .or_default();
            e.total += 1;
            e.changed += usize::from(c.changed());
            e.vetoed += usize::from(!c.vetoes.is_empty());
            e.failed += usize::from(matches!(c.outcome, CandidateOutcome::Failed { .. }));
        }
        out
    }

    /// The sum of every group.
    pub fn totals(&self) -> Counts {
        let mut t = Counts::default();
        for r in &self.replayed {
            t.add(&r.verdict);
        }
        t
    }

    /// 0 when every comparable decision replayed byte-identical and every line was usable;
    /// 1 otherwise (a difference is a determinism bug; a bad line or a decision that could
    /// not run means the replay is incomplete). Candidate changes and vetoes never fail it:
    /// showing them is the point.
    pub fn status(&self) -> Status {
        let t = self.totals();
        if t.different > 0 || t.failed_to_run > 0 || !self.bad_lines.is_empty() {
            Status::Failed
        } else {
            Status::Ok
        }
    }

    /// The terminal report.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let t = self.totals();
        let dropped: u64 = self.gaps.iter().map(|g| g.count).sum();
        let _ = writeln!(
            s,
            "replay of {}: {} decision(s) replayed, {} answered by a candidate, {} filtered out, \
             {} bad line(s), {} record(s) dropped by the writer",
            self.logs.join(", "),
            t.total,
            self.candidates.len(),
            self.filtered_out,
            self.bad_lines.len(),
            dropped
        );
        // Bad lines, gaps and decisions that could not run, in log order.
        let mut problems: Vec<(&At, String)> = Vec::new();
        for b in &self.bad_lines {
            // The reader's message starts with `line N: `.
            problems.push((&b.at, format!("error: {}: {}", b.at.file, b.message)));
        }
        for g in &self.gaps {
            problems.push((
                &g.at,
                format!(
                    "gap: {}: {} record(s) dropped (seq {}..={}): {}",
                    g.at, g.count, g.first_seq, g.last_seq, g.reason
                ),
            ));
        }
        for r in &self.replayed {
            if let Verdict::FailedToRun { why } = &r.verdict {
                problems.push((&r.decision.at, format!("error: {}: {why}", r.decision.at)));
            }
        }
        problems.sort_by(|a, b| a.0.cmp(b.0));
        for (_, line) in problems {
            let _ = writeln!(s, "{line}");
        }
        if !self.replayed.is_empty() {
            s.push('\n');
            s.push_str(&self.table());
        }
        self.details(&mut s);
        if !self.candidates.is_empty() {
            self.candidate_text(&mut s);
        }
        s.push('\n');
        s.push_str(&self.verdict_line());
        s.push('\n');
        s
    }

    fn table(&self) -> String {
        let mut rows = vec![[
            "TENANT".to_string(),
            "KIND".into(),
            "ROLE".into(),
            "TOTAL".into(),
            "IDENTICAL".into(),
            "DIFFERENT".into(),
            "NOT COMPARABLE".into(),
            "FAILED TO RUN".into(),
        ]];
        for ((tenant, kind, role), c) in self.groups() {
            rows.push([
                tenant,
                kind,
                role.to_string(),
                c.total.to_string(),
                c.identical.to_string(),
                c.different.to_string(),
                c.not_comparable.to_string(),
                c.failed_to_run.to_string(),
            ]);
        }
        render_table(&rows, 3)
    }

    fn details(&self, s: &mut String) {
        let different: Vec<&Replayed> = self
            .replayed
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Different { .. }))
            .collect();
        if !different.is_empty() {
            let _ = writeln!(s, "\ndifferent (the same input gave another answer):");
            for r in different {
                if let Verdict::Different { why, changes } = &r.verdict {
                    let _ = writeln!(s, "  {}: {why}", r.decision.head());
                    for c in changes {
                        let _ = writeln!(s, "      {}", c.line());
                    }
                }
            }
        }
        let not_comparable: Vec<&Replayed> = self
            .replayed
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::NotComparable { .. }))
            .collect();
        if !not_comparable.is_empty() {
            let _ = writeln!(s, "\nnot comparable:");
            for r in not_comparable {
                if let Verdict::NotComparable { why } = &r.verdict {
                    let _ = writeln!(s, "  {}: {why}", r.decision.head());
                }
            }
        }
        let notes: Vec<&Replayed> = self
            .replayed
            .iter()
            .filter(|r| r.fuel_note.is_some())
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(s, "\nnotes:");
            for r in notes {
                let _ = writeln!(
                    s,
                    "  {}: {}",
                    r.decision.head(),
                    r.fuel_note.as_deref().unwrap_or_default()
                );
            }
        }
    }

    fn candidate_text(&self, s: &mut String) {
        let mut rows = vec![[
            "TENANT".to_string(),
            "KIND".into(),
            "DECISIONS".into(),
            "CHANGED".into(),
            "VETOED".into(),
            "FAILED".into(),
        ]];
        for ((tenant, kind), c) in self.candidate_groups() {
            rows.push([
                tenant,
                kind,
                c.total.to_string(),
                c.changed.to_string(),
                c.vetoed.to_string(),
                c.failed.to_string(),
            ]);
        }
        let _ = writeln!(s, "\ncandidates:");
        s.push_str(&render_table(&rows, 2));
        let interesting: Vec<&CandidateRun> = self
            .candidates
            .iter()
            .filter(|c| c.changed() || !c.vetoes.is_empty() || !c.waits.is_empty())
            .collect();
        if interesting.is_empty() {
            let _ = writeln!(s, "no decision changes");
            return;
        }
        let _ = writeln!(s, "\nchanged or vetoed decisions:");
        for c in interesting {
            let status = match &c.outcome {
                CandidateOutcome::Unchanged => "unchanged".to_string(),
                CandidateOutcome::Changed { why, .. } => format!("changed: {why}"),
                CandidateOutcome::Failed { label, message, .. } => {
                    format!("the candidate failed: {label}: {message}")
                }
            };
            let _ = writeln!(s, "  {} -> {}: {status}", c.decision.head(), c.candidate);
            if let CandidateOutcome::Changed { changes, .. } = &c.outcome {
                for ch in changes {
                    let _ = writeln!(s, "      {}", ch.line());
                }
            }
            for v in &c.vetoes {
                let _ = writeln!(
                    s,
                    "      VETOED by the host: {}: {}",
                    v.invariant, v.message
                );
            }
            for w in &c.waits {
                let _ = writeln!(s, "      the host would hold back: {w}");
            }
        }
    }

    fn verdict_line(&self) -> String {
        let t = self.totals();
        let comparable = t.identical + t.different + t.failed_to_run;
        let mut parts = Vec::new();
        if t.total > 0 {
            parts.push(format!(
                "{}/{} comparable decision(s) byte-identical ({})",
                t.identical,
                comparable,
                percent(t.identical, comparable)
            ));
        }
        if t.different > 0 {
            parts.push(format!(
                "{} decision(s) differ: a module that answers the same input differently is a \
                 determinism bug (or this fleetward's engine differs from the one that recorded \
                 the log)",
                t.different
            ));
        }
        if t.failed_to_run > 0 {
            parts.push(format!("{} decision(s) could not be run", t.failed_to_run));
        }
        if !self.bad_lines.is_empty() {
            parts.push(format!("{} bad line(s) skipped", self.bad_lines.len()));
        }
        let changed = self.candidates.iter().filter(|c| c.changed()).count();
        let vetoed = self
            .candidates
            .iter()
            .filter(|c| !c.vetoes.is_empty())
            .count();
        if !self.candidates.is_empty() {
            parts.push(format!(
                "candidates change {changed} of {} decision(s), the host would veto {vetoed}",
                self.candidates.len()
            ));
        }
        if parts.is_empty() {
            parts.push("nothing to replay".into());
        }
        format!(
            "result: {} (exit {})",
            parts.join("; "),
            self.status().code()
        )
    }

    /// The machine-readable report (`--format json`).
    pub fn json(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .into_iter()
            .map(|((tenant, kind, role), c)| {
                let mut v = json!({"tenant": tenant, "kind": kind, "role": role});
                merge(&mut v, json!(c));
                v
            })
            .collect();
        let candidate_groups: Vec<Value> = self
            .candidate_groups()
            .into_iter()
            .map(|((tenant, kind), c)| {
                let mut v = json!({"tenant": tenant, "kind": kind});
                merge(&mut v, json!(c));
                v
            })
            .collect();
        let not_identical: Vec<&Replayed> = self
            .replayed
            .iter()
            .filter(|r| !matches!(r.verdict, Verdict::Identical) || r.fuel_note.is_some())
            .collect();
        json!({
            "logs": self.logs,
            "exit_code": self.status().code(),
            "totals": self.totals(),
            "filtered_out": self.filtered_out,
            "groups": groups,
            "not_identical": not_identical,
            "bad_lines": self.bad_lines,
            "gaps": self.gaps,
            "candidate_groups": candidate_groups,
            "candidates": self.candidates,
        })
    }
}

/// `sha256:` and the first 12 hex digits (the terminal report; JSON keeps the whole digest).
fn short_digest(module: &str) -> String {
    match module.strip_prefix("sha256:") {
        Some(hex) if hex.len() > 12 => format!("sha256:{}…", &hex[..12]),
        _ => module.to_string(),
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

fn percent(n: usize, of: usize) -> String {
    if of == 0 {
        return "n/a".into();
    }
    let p = n as f64 * 100.0 / of as f64;
    if n == of {
        "100%".into()
    } else {
        // Never round a shortfall up to 100%.
        format!("{:.1}%", p.min(99.9))
    }
}

/// Columns padded to their widest cell; the first `text_columns` left-aligned, the rest
/// right-aligned numbers.
fn render_table<const N: usize>(rows: &[[String; N]], text_columns: usize) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i < text_columns {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(tenant: &str, kind: DecisionKind, line: usize, verdict: Verdict) -> Replayed {
        Replayed {
            decision: Decision {
                at: At {
                    file: "log".into(),
                    line,
                },
                time: Timestamp(0),
                tenant: tenant.into(),
                kind,
                role: Role::Live,
                clusters: vec![format!("{tenant}/c{line}")],
                module: "builtin".into(),
            },
            verdict,
            fuel_note: None,
        }
    }

    #[test]
    fn all_identical_is_exit_0_and_a_difference_is_exit_1() {
        let mut report = Report {
            logs: vec!["log".into()],
            replayed: vec![
                replayed("a", DecisionKind::Placement, 1, Verdict::Identical),
                replayed(
                    "a",
                    DecisionKind::Placement,
                    2,
                    Verdict::NotComparable {
                        why: "timed out".into(),
                    },
                ),
                replayed("b", DecisionKind::Remediation, 3, Verdict::Identical),
            ],
            ..Report::default()
        };
        assert_eq!(report.status(), Status::Ok);
        let text = report.text();
        assert!(
            text.contains("2/2 comparable decision(s) byte-identical (100%)"),
            "{text}"
        );
        report.replayed.push(replayed(
            "b",
            DecisionKind::Remediation,
            4,
            Verdict::Different {
                why: "1 path(s) differ".into(),
                changes: vec![],
            },
        ));
        assert_eq!(report.status(), Status::Failed);
        let groups = report.groups();
        let b = groups[&("b".to_string(), "remediation".to_string(), "live")];
        assert_eq!((b.total, b.identical, b.different), (2, 1, 1));
        let text = report.text();
        assert!(text.contains("determinism bug"), "{text}");
        assert!(text.contains("log line 4"), "{text}");
        assert!(
            text.contains("2/3 comparable decision(s) byte-identical (66.7%)"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_line_or_a_missing_module_fails_the_replay() {
        let bad = Report {
            bad_lines: vec![BadLine {
                at: At {
                    file: "log".into(),
                    line: 7,
                },
                message: "line 7: corrupt".into(),
            }],
            ..Report::default()
        };
        assert_eq!(bad.status(), Status::Failed);
        let missing = Report {
            replayed: vec![replayed(
                "a",
                DecisionKind::Placement,
                1,
                Verdict::FailedToRun {
                    why: "module sha256:ab not found".into(),
                },
            )],
            ..Report::default()
        };
        assert_eq!(missing.status(), Status::Failed);
        assert!(
            missing
                .text()
                .contains("error: log line 1: module sha256:ab not found")
        );
    }

    #[test]
    fn percentages_never_round_up_to_100() {
        assert_eq!(percent(999_999, 1_000_000), "99.9%");
        assert_eq!(percent(5, 5), "100%");
        assert_eq!(percent(0, 0), "n/a");
    }

    #[test]
    fn json_report_has_groups_and_exit_code() {
        let report = Report {
            replayed: vec![replayed(
                "a",
                DecisionKind::Placement,
                1,
                Verdict::Identical,
            )],
            ..Report::default()
        };
        let v = report.json();
        assert_eq!(v["exit_code"], 0);
        assert_eq!(v["groups"][0]["tenant"], "a");
        assert_eq!(v["groups"][0]["identical"], 1);
        assert_eq!(v["totals"]["total"], 1);
    }
}
