//! One line of the decision log (format version 1; docs/audit.md is its reference).
//!
//! Every line is one JSON object with `"v": 1` and `"record"` saying what it is:
//! - `"decision"` ([`DecisionEntry`]): one policy call (or the built-in standing in for one)
//!   and everything the host made of its answer;
//! - `"dropped"` ([`DroppedEntry`]): the sink could not keep up and dropped records; written as
//!   soon as it can write again, so a gap in the log is never silent.
//!
//! `input` and `output` are embedded as raw JSON, byte for byte what the module read and wrote
//! (`input_sha256` is the hex SHA-256 of exactly those bytes, so a reader can prove the input
//! it replays is the one recorded). A reader must accept fields it does not know (a newer
//! controller may add some within version 1); a new version number means a change an old
//! reader cannot read correctly, and [`read_lines`] refuses such a line by name.

use std::io::BufRead;

use fleetward_sdk::wire::{ClusterRef, DecisionKind, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Which binding made a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The binding the controller acts on (a module, or the built-in).
    Live,
    /// A tenant's shadow binding: evaluated on the live decision's request, never acted on.
    Shadow,
}

/// What became of (part of) a decision: one per outcome the host recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeEntry {
    /// Clusters this outcome concerns (`namespace/name`).
    pub clusters: Vec<String>,
    /// `applied`, `fallback`, `held`, `vetoed`, `waiting`, `error`.
    pub outcome: String,
    /// The invariant a veto names (`vetoed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariant: Option<String>,
    /// What a waiting step waits for (`waiting` only: `cap`, `fair_share`, `seed_unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The policy's reason, the veto's message or the failure.
    pub reason: String,
}

/// A failed policy call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEntry {
    /// Stable label (`trap`, `timed_out`, `invalid_output`, `not_loaded`, …).
    pub label: String,
    /// What happened (one line; the policy's log tail is never recorded here).
    pub message: String,
}

/// How a shadow decision compares with the live one it shadowed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowEntry {
    /// Whether its output is byte-identical to the live decision's.
    pub agrees: bool,
    /// The live decision's module digest (`sha256:…` or `builtin`).
    pub live_module: String,
    /// Hex SHA-256 of the live decision's output bytes.
    pub live_output_sha256: String,
}

/// One decision: a policy call (or the built-in's answer) and what the host made of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DecisionEntry {
    /// Format version ([`FORMAT_VERSION`]).
    pub v: u32,
    /// Always `"decision"`.
    pub record: String,
    /// Position in this log, from 1, counted by the writer; dropped records use numbers too, so
    /// a gap matches a `dropped` line.
    pub seq: u64,
    /// Decision time: the `now` the policy saw.
    pub time: Timestamp,
    /// Tenant.
    pub tenant: String,
    /// Decision kind.
    pub kind: DecisionKind,
    /// Live or shadow.
    pub role: Role,
    /// Clusters concerned (`namespace/name`), sorted: placement and remediation one, upgrade
    /// ordering every cluster an outcome names.
    pub clusters: Vec<String>,
    /// Digest of the module that was asked (`sha256:…`), or `builtin` when no module was.
    pub module: String,
    /// Hex SHA-256 of the tenant config the module was bound with (canonical JSON); absent for
    /// the built-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
    /// Hex SHA-256 of `input`'s bytes.
    pub input_sha256: String,
    /// The input envelope, exactly the bytes the module read (for the built-in, the envelope a
    /// module would have read, with `config: null`).
    pub input: Box<RawValue>,
    /// The decision the module (or built-in) returned, exactly as read back; `null` when the
    /// call failed.
    pub output: Option<Box<RawValue>>,
    /// The call's failure, if it failed (the outcome then says fallback, held or error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorEntry>,
    /// Every outcome the host recorded for this decision, in the order it recorded them.
    pub outcomes: Vec<OutcomeEntry>,
    /// Fuel the call used (tenants with a fuel limit only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Wall-clock time of the call in microseconds; absent where time is virtual (`simulate`)
    /// and for the built-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    /// For a shadow decision: how it compares with the live one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowEntry>,
}

/// Records the sink dropped because it could not keep up (or could not write).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedEntry {
    /// Format version ([`FORMAT_VERSION`]).
    pub v: u32,
    /// Always `"dropped"`.
    pub record: String,
    /// How many records were dropped since the last line written.
    pub count: u64,
    /// First and last `seq` dropped.
    pub first_seq: u64,
    /// Last `seq` dropped.
    pub last_seq: u64,
    /// Why (`queue full`, or the write error).
    pub reason: String,
}

/// One parsed line.
#[derive(Clone, Debug)]
pub enum LogLine {
    /// A decision.
    Decision(Box<DecisionEntry>),
    /// A notice of dropped records.
    Dropped(DroppedEntry),
}

/// A line that cannot be used; [`read_lines`] reports it and goes on with the next line.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line is not one complete JSON object of a known shape.
    #[error(
        "line {line}: not a decision-log record ({source}); the line is truncated or corrupt, \
         skipped"
    )]
    Corrupt {
        /// 1-based line number.
        line: usize,
        /// What the parser found.
        #[source]
        source: serde_json::Error,
    },
    /// The line names a format version this build cannot read.
    #[error(
        "line {line}: decision-log format version {found}, this fleetward reads version \
         {FORMAT_VERSION}; replay it with the fleetward release that wrote it"
    )]
    UnknownVersion {
        /// 1-based line number.
        line: usize,
        /// The version the line names.
        found: u64,
    },
    /// The line's `record` type is not one this build knows.
    #[error("line {line}: unknown record type {found:?} (known: decision, dropped), skipped")]
    UnknownRecord {
        /// 1-based line number.
        line: usize,
        /// The type the line names.
        found: String,
    },
    /// The recorded input does not hash to its `input_sha256`: it was altered after writing.
    #[error(
        "line {line}: the recorded input does not match its input_sha256 (expected {expected}, \
         found {found}); the record was altered, skipped"
    )]
    InputAltered {
        /// 1-based line number.
        line: usize,
        /// `input_sha256` as recorded.
        expected: String,
        /// The hash of the bytes found.
        found: String,
    },
    /// The log could not be read at all.
    #[error("reading the decision log failed at line {line}: {source}")]
    Io {
        /// 1-based line number.
        line: usize,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl LineError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            LineError::Corrupt { line, .. }
            | LineError::UnknownVersion { line, .. }
            | LineError::UnknownRecord { line, .. }
            | LineError::InputAltered { line, .. }
            | LineError::Io { line, .. } => *line,
        }
    }
}

/// Hex SHA-256 of `bytes` (the log's digests: `input_sha256`, `config_sha256`, output hashes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl DecisionEntry {
    /// One JSON line, without the trailing newline. `input` and `output` are copied verbatim.
    ///
    /// # Panics
    /// Never: every field serialises (strings, numbers and already-valid raw JSON).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a decision entry always serialises")
    }
}

impl DroppedEntry {
    /// A notice for `first_seq..=last_seq`.
    pub fn new(first_seq: u64, last_seq: u64, reason: impl Into<String>) -> Self {
        DroppedEntry {
            v: FORMAT_VERSION,
            record: "dropped".into(),
            count: last_seq.saturating_sub(first_seq) + 1,
            first_seq,
            last_seq,
            reason: reason.into(),
        }
    }

    /// One JSON line, without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a dropped entry always serialises")
    }
}

/// Just enough of a line to know how to read the rest.
#[derive(Deserialize)]
struct Header {
    v: serde_json::Value,
    record: String,
}

/// Parses line number `line` (1-based) of a log.
///
/// # Errors
/// A [`LineError`] naming the line: corrupt or truncated JSON, an unknown version or record
/// type, or an input that does not match its digest.
pub fn parse_line(line: usize, text: &str) -> Result<LogLine, LineError> {
    let corrupt = |source| LineError::Corrupt { line, source };
    let header: Header = serde_json::from_str(text).map_err(corrupt)?;
    match header.v.as_u64() {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(found) => return Err(LineError::UnknownVersion { line, found }),
        None => {
            return Err(corrupt(serde::de::Error::custom(format!(
                "`v` must be a version number, found {}",
                header.v
            ))));
        }
    }
    match header.record.as_str() {
        "decision" => {
            let entry: DecisionEntry = serde_json::from_str(text).map_err(corrupt)?;
            let found = sha256_hex(entry.input.get().as_bytes());
            if found != entry.input_sha256 {
                return Err(LineError::InputAltered {
                    line,
                    expected: entry.input_sha256,
                    found,
                });
            }
            Ok(LogLine::Decision(Box::new(entry)))
        }
        "dropped" => serde_json::from_str(text)
            .map(LogLine::Dropped)
            .map_err(corrupt),
        other => Err(LineError::UnknownRecord {
            line,
            found: other.to_string(),
        }),
    }
}

/// Reads a whole log: every line parsed, bad ones as errors naming their line, empty lines
/// skipped. Reading stops only at the end or on an I/O error (reported as the last item).
pub fn read_lines(reader: impl BufRead) -> impl Iterator<Item = Result<LogLine, LineError>> {
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
                Ok(text) => return Some(parse_line(i + 1, &text)),
                Err(source) => {
                    failed = true;
                    return Some(Err(LineError::Io {
                        line: i + 1,
                        source,
                    }));
                }
            }
        }
    })
}

/// `namespace/name` of each cluster, sorted and without repeats (the log's `clusters`).
pub fn cluster_names<'a>(clusters: impl IntoIterator<Item = &'a ClusterRef>) -> Vec<String> {
    let mut names: Vec<String> = clusters.into_iter().map(ToString::to_string).collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(input: &str) -> DecisionEntry {
        DecisionEntry {
            v: FORMAT_VERSION,
            record: "decision".into(),
            seq: 1,
            time: Timestamp::parse("2026-12-07T10:00:00Z").unwrap(),
            tenant: "acme".into(),
            kind: DecisionKind::Placement,
            role: Role::Live,
            clusters: vec!["acme/c1".into()],
            module: "sha256:ab".into(),
            config_sha256: Some(sha256_hex(b"{}")),
            input_sha256: sha256_hex(input.as_bytes()),
            input: RawValue::from_string(input.into()).unwrap(),
            output: Some(RawValue::from_string(r#"{"seed":"eu-1"}"#.into()).unwrap()),
            error: None,
            outcomes: vec![OutcomeEntry {
                clusters: vec!["acme/c1".into()],
                outcome: "applied".into(),
                invariant: None,
                cause: None,
                reason: "closest".into(),
            }],
            fuel: None,
            duration_us: Some(42),
            shadow: None,
        }
    }

    #[test]
    fn a_line_keeps_the_input_bytes_exactly() {
        // Unusual but valid JSON spacing and key order must survive the round trip: replay
        // feeds these bytes to the module.
        let input = r#"{"b":1,  "a":[1,2.50,"\u00e9"]}"#;
        let line = entry(input).to_line();
        assert!(!line.contains('\n'));
        let LogLine::Decision(back) = parse_line(1, &line).unwrap() else {
            panic!("not a decision")
        };
        assert_eq!(back.input.get(), input);
        assert_eq!(back.output.unwrap().get(), r#"{"seed":"eu-1"}"#);
        assert_eq!(back.outcomes[0].reason, "closest");
    }

    #[test]
    fn bad_lines_are_named_and_reading_goes_on() {
        let good = entry(r#"{"x":1}"#).to_line();
        let truncated = &good[..good.len() / 2];
        let future = good.replacen("\"v\":1", "\"v\":2", 1);
        let altered = good.replacen(r#"{"x":1}"#, r#"{"x":2}"#, 1);
        let other = r#"{"v":1,"record":"checkpoint"}"#;
        let dropped = DroppedEntry::new(2, 5, "queue full").to_line();
        let log = [
            &good[..],
            truncated,
            "",
            &future,
            &altered,
            other,
            &dropped,
            &good,
        ]
        .join("\n");
        let read: Vec<_> = read_lines(log.as_bytes()).collect();
        assert_eq!(read.len(), 7, "the empty line is skipped, nothing else");
        assert!(matches!(read[0], Ok(LogLine::Decision(_))));
        assert!(matches!(read[1], Err(LineError::Corrupt { line: 2, .. })));
        assert!(matches!(
            read[2],
            Err(LineError::UnknownVersion { line: 4, found: 2 })
        ));
        assert!(matches!(
            read[3],
            Err(LineError::InputAltered { line: 5, .. })
        ));
        assert!(matches!(
            read[4],
            Err(LineError::UnknownRecord { line: 6, .. })
        ));
        match &read[5] {
            Ok(LogLine::Dropped(d)) => assert_eq!((d.count, d.first_seq, d.last_seq), (4, 2, 5)),
            other => panic!("expected a dropped notice, got {other:?}"),
        }
        assert!(matches!(read[6], Ok(LogLine::Decision(_))));
        let message = read[2].as_ref().unwrap_err().to_string();
        assert!(
            message.contains("line 4") && message.contains("version 2"),
            "{message}"
        );
    }

    #[test]
    fn unknown_fields_within_a_version_are_accepted() {
        let line = entry("{}")
            .to_line()
            .replacen('{', r#"{"added_later":true,"#, 1);
        assert!(matches!(parse_line(1, &line), Ok(LogLine::Decision(_))));
    }
}
