//! Native test helpers: run a policy's fixture directory under plain `cargo test`.
//!
//! The fixture format is the one `fleetward policy test DIR` reads (one JSON case per file,
//! optional `suite.json` defaults; see `docs/policy-testing.md`), and this module is its only
//! parser and matcher: the CLI loads directories with [`load_fixture_dir`], judges results with
//! [`check`] and reports with [`run_fixtures_with`], supplying only how a case is called (the
//! Wasm engine). Here each case runs through the policy crate's generated `dispatch` function —
//! the code the Wasm exports call — so a policy author gets fast native feedback and the compiled
//! module is held to the same expectations by the CLI. (kubewarden's `policy-sdk-rust` `test.rs`
//! plays the same role.)
//!
//! ```ignore
//! #[test]
//! fn fixtures() {
//!     let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
//!     fleetward_sdk::testing::assert_fixture_dir(dir, &crate::EXPORTS);
//! }
//! ```
//!
//! Call order per case mirrors the host: if the policy exports `validate_config`, the config is
//! validated first (a rejection is error kind `config_rejected`, as when the host binds the
//! tenant's config), then the decision runs (`{"error": ...}` is kind `declined`; a panic is
//! kind `trap`).

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::PolicyExports;
use crate::wire::{ABI_VERSION, CallKind, DecisionKind, InputEnvelope, OutputEnvelope, Timestamp};

/// Why a fixture directory or case could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// A file or the directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a valid case or suite document.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the JSON path of the bad field.
        message: String,
    },
    /// A case has no `now` and `suite.json` gives none.
    #[error("{path}: no `now` in the case and none in suite.json")]
    MissingNow {
        /// The case file.
        path: PathBuf,
    },
    /// The directory holds no case file (a suite that asserts nothing must not pass).
    #[error("no fixture cases (*.json other than suite.json) in {dir}")]
    NoCases {
        /// The directory.
        dir: PathBuf,
    },
}

/// `suite.json`: defaults for every case of a directory.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// The module, relative to the directory (used by the CLI, ignored natively).
    #[serde(default)]
    pub module: Option<String>,
    /// Default tenant (else `test`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Default config (else `null`).
    #[serde(default, deserialize_with = "present")]
    pub config: Option<Value>,
    /// Default decision time.
    #[serde(default)]
    pub now: Option<Timestamp>,
}

/// One case file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// One line saying what the case checks.
    #[serde(default)]
    pub description: Option<String>,
    /// Which decision to call.
    pub decision: DecisionKind,
    /// Decision time (else the suite's).
    #[serde(default)]
    pub now: Option<Timestamp>,
    /// Tenant (else the suite's, else `test`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Config (else the suite's, else `null`). An explicit `null` means no config.
    #[serde(default, deserialize_with = "present")]
    pub config: Option<Value>,
    /// The decision request, as JSON.
    pub request: Value,
    /// What must come out.
    pub expect: Expect,
}

/// A case's expectation.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// The decision equals this JSON exactly.
    Decision(Value),
    /// The call fails with this error kind (and code, if given).
    Error(ExpectedError),
    /// JSON-pointer partial asserts (keys are RFC 6901 pointers, checked when the case is read).
    #[serde(deserialize_with = "pointers")]
    Matches(BTreeMap<String, Operator>),
}

/// One `matches` assertion. Objects with a `$` key are operators, checked when the case is read
/// (an unknown or malformed operator is an error, not an equality that silently never holds).
#[derive(Clone, Debug, PartialEq)]
pub enum Operator {
    /// A plain value: the value at the pointer equals it.
    Equals(Value),
    /// `{"$len": n}`: the array (object, string) at the pointer has `n` elements (entries,
    /// characters).
    Len(u64),
    /// `{"$contains": x}`: the string at the pointer contains the string `x`, or the array at
    /// the pointer has an element equal to `x`.
    Contains(Value),
}

impl Operator {
    /// Reads an assertion as written in a case.
    ///
    /// # Errors
    /// A message when an operator object is malformed or unknown.
    pub fn from_json(value: Value) -> Result<Operator, String> {
        let Value::Object(map) = &value else {
            return Ok(Operator::Equals(value));
        };
        if !map.keys().any(|k| k.starts_with('$')) {
            return Ok(Operator::Equals(value));
        }
        let mut ops = map.iter();
        let (Some((op, arg)), None) = (ops.next(), ops.next()) else {
            return Err("an operator object ($len, $contains) must have exactly one key".into());
        };
        match op.as_str() {
            "$len" => arg
                .as_u64()
                .map(Operator::Len)
                .ok_or_else(|| format!("$len needs a non-negative integer, got {arg}")),
            "$contains" => Ok(Operator::Contains(arg.clone())),
            other => Err(format!(
                "unknown operator {other:?} (known: $len, $contains)"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Operator::from_json(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// Reads `matches`, refusing keys that are not JSON pointers (`seed` instead of `/seed` would
/// otherwise only fail at run time, as "missing").
fn pointers<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Operator>, D::Error> {
    let map = BTreeMap::<String, Operator>::deserialize(d)?;
    match map.keys().find(|p| !(p.is_empty() || p.starts_with('/'))) {
        Some(bad) => Err(D::Error::custom(format!(
            "matches key {bad:?} is not a JSON pointer (empty, or starting with '/')"
        ))),
        None => Ok(map),
    }
}

/// An expected failure.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedError {
    /// Host error kind (`PolicyError::metric_label()`): `declined`, `config_rejected`, `trap`, ...
    pub kind: String,
    /// The policy's error code, for `declined` and `config_rejected`.
    #[serde(default)]
    pub code: Option<String>,
}

/// A case with the suite's defaults applied: what the host is called with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResolvedCase<'a> {
    /// Which decision to call.
    pub decision: DecisionKind,
    /// Decision time (the case's, else the suite's).
    pub now: Timestamp,
    /// Tenant (the case's, else the suite's, else `test`).
    pub tenant: &'a str,
    /// Config (the case's, else the suite's, else `null`).
    pub config: &'a Value,
    /// The decision request.
    pub request: &'a Value,
}

/// Tenant used when neither the case nor `suite.json` names one.
pub const DEFAULT_TENANT: &str = "test";

static NULL: Value = Value::Null;

impl Case {
    /// Applies the suite's defaults. A case without `now` in a suite without one (refused by
    /// [`load_fixture_dir`]) gets time 0.
    pub fn resolve<'a>(&'a self, suite: &'a Suite) -> ResolvedCase<'a> {
        ResolvedCase {
            decision: self.decision,
            now: self.now.or(suite.now).unwrap_or_default(),
            tenant: self
                .tenant
                .as_deref()
                .or(suite.tenant.as_deref())
                .unwrap_or(DEFAULT_TENANT),
            config: self
                .config
                .as_ref()
                .or(suite.config.as_ref())
                .unwrap_or(&NULL),
            request: &self.request,
        }
    }
}

/// A loaded case with its name (file stem) and path.
#[derive(Clone, Debug, PartialEq)]
pub struct Fixture {
    /// File stem, used as the test name.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The case.
    pub case: Case,
}

/// A fixture directory: suite defaults and cases sorted by file name.
#[derive(Clone, Debug, PartialEq)]
pub struct FixtureDir {
    /// The directory.
    pub dir: PathBuf,
    /// `suite.json`, or defaults.
    pub suite: Suite,
    /// The cases.
    pub fixtures: Vec<Fixture>,
}

/// Reads a fixture directory.
///
/// # Errors
/// [`FixtureError`] naming the file that cannot be read or parsed, or `NoCases`.
pub fn load_fixture_dir(dir: impl AsRef<Path>) -> Result<FixtureDir, FixtureError> {
    let dir = dir.as_ref();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FixtureError::Io { path, source }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    files.retain(|p| p.extension().is_some_and(|e| e == "json") && p.is_file());
    files.sort();
    let mut suite = Suite::default();
    let mut fixtures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let invalid = |message| FixtureError::Invalid {
            path: path.clone(),
            message,
        };
        if path.file_name().is_some_and(|n| n == "suite.json") {
            suite = crate::json_path::from_str_with_path(&text).map_err(invalid)?;
        } else {
            let case: Case = crate::json_path::from_str_with_path(&text).map_err(invalid)?;
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            fixtures.push(Fixture { name, path, case });
        }
    }
    if fixtures.is_empty() {
        return Err(FixtureError::NoCases {
            dir: dir.to_path_buf(),
        });
    }
    for fixture in &fixtures {
        if fixture.case.now.is_none() && suite.now.is_none() {
            return Err(FixtureError::MissingNow {
                path: fixture.path.clone(),
            });
        }
    }
    Ok(FixtureDir {
        dir: dir.to_path_buf(),
        suite,
        fixtures,
    })
}

/// How a call failed, classified like the host's `PolicyError::metric_label()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// `config_rejected`, `declined`, `trap`, `invalid_output` or `decision_not_implemented`.
    pub kind: &'static str,
    /// The policy's error code (for `config_rejected` and `declined`).
    pub code: Option<String>,
    /// The message.
    pub message: String,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({code}): {}", self.kind, self.message),
            None => write!(f, "{}: {}", self.kind, self.message),
        }
    }
}

/// The input envelope the host would send for `call`, as JSON text.
pub fn input_envelope(
    call: CallKind,
    now: Timestamp,
    tenant: &str,
    config: &Value,
    request: &Value,
) -> String {
    let envelope = InputEnvelope {
        abi_version: ABI_VERSION,
        decision: call,
        now,
        tenant: tenant.to_string(),
        config: config.clone(),
        request: request.clone(),
    };
    serde_json::to_string(&envelope).unwrap_or_default()
}

/// Runs one call through `exports.dispatch` and returns the raw output envelope text, turning a
/// panic into a `trap` error.
///
/// # Errors
/// [`CallError`] of kind `trap` when the policy panics.
pub fn dispatch_raw(
    exports: &PolicyExports,
    call: CallKind,
    input: &str,
) -> Result<String, CallError> {
    catch_unwind(AssertUnwindSafe(|| (exports.dispatch)(call, input))).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "policy panicked".to_string());
        CallError {
            kind: "trap",
            code: None,
            message,
        }
    })
}

fn decode(output: &str, error_kind: &'static str) -> Result<Value, CallError> {
    match serde_json::from_str::<OutputEnvelope<Value>>(output) {
        Ok(OutputEnvelope::Ok(value)) => Ok(value),
        Ok(OutputEnvelope::Error(e)) => Err(CallError {
            kind: error_kind,
            code: Some(e.code),
            message: e.message,
        }),
        Err(err) => Err(CallError {
            kind: "invalid_output",
            code: None,
            message: format!("{err}: {output}"),
        }),
    }
}

/// The input envelopes the host sends for a case, in order: `validate_config` (sent only when
/// the policy exports it) and the decision, after applying the suite's defaults.
pub fn case_envelopes(suite: &Suite, case: &Case) -> [(CallKind, String); 2] {
    let r = case.resolve(suite);
    let call = CallKind::from(r.decision);
    let validate = CallKind::ValidateConfig;
    [
        (
            validate,
            input_envelope(validate, r.now, r.tenant, r.config, &Value::Null),
        ),
        (
            call,
            input_envelope(call, r.now, r.tenant, r.config, r.request),
        ),
    ]
}

/// Runs a case the way the host would: validate the config (if the policy can), then decide.
///
/// # Errors
/// [`CallError`] classified like the host's errors (see the module docs).
pub fn run_case(exports: &PolicyExports, suite: &Suite, case: &Case) -> Result<Value, CallError> {
    let [(validate, validate_input), (call, input)] = case_envelopes(suite, case);
    if exports.validate_config {
        let output = dispatch_raw(exports, validate, &validate_input)?;
        decode(&output, "config_rejected")?;
    }
    if !exports.implements(case.decision) {
        return Err(CallError {
            kind: "decision_not_implemented",
            code: None,
            message: format!("the policy does not implement {}", case.decision),
        });
    }
    let output = dispatch_raw(exports, call, &input)?;
    decode(&output, "declined")
}

/// Checks a call's result against a case's expectation. `actual` is what any runner produces:
/// the decision, or the failure classified like the host's `PolicyError::metric_label()`.
///
/// # Errors
/// A readable explanation (with a line diff for decisions) when it does not match.
pub fn check(expect: &Expect, actual: &Result<Value, CallError>) -> Result<(), String> {
    match (expect, actual) {
        (Expect::Decision(want), Ok(got)) => {
            if want == got {
                Ok(())
            } else {
                Err(format!(
                    "decision differs (-expected +actual):\n{}",
                    json_diff(want, got)
                ))
            }
        }
        (Expect::Matches(asserts), Ok(got)) => {
            let failures: Vec<String> = asserts
                .iter()
                .filter_map(|(pointer, want)| check_pointer(got, pointer, want).err())
                .collect();
            if failures.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} of {} assertions failed:\n{}\nactual decision:\n{}",
                    failures.len(),
                    asserts.len(),
                    failures.join("\n"),
                    head(&pretty(got), ACTUAL_LINES)
                ))
            }
        }
        (Expect::Error(want), Err(got)) => {
            let code_ok = want.code.is_none() || want.code.as_deref() == got.code.as_deref();
            if want.kind == got.kind && code_ok {
                Ok(())
            } else {
                Err(format!(
                    "expected error kind {}{}, got {got}",
                    want.kind,
                    want.code
                        .as_deref()
                        .map(|c| format!(" code {c}"))
                        .unwrap_or_default()
                ))
            }
        }
        (Expect::Error(want), Ok(got)) => Err(format!(
            "expected error kind {}, got a decision:\n{}",
            want.kind,
            pretty(got)
        )),
        (_, Err(got)) => Err(format!("expected a decision, the call failed: {got}")),
    }
}

fn check_pointer(actual: &Value, pointer: &str, want: &Operator) -> Result<(), String> {
    let Some(got) = actual.pointer(pointer) else {
        return Err(format!("{pointer}: missing in the decision"));
    };
    let holds = match want {
        Operator::Equals(value) => got == value,
        Operator::Len(n) => match got {
            Value::Array(a) => a.len() as u64 == *n,
            Value::Object(o) => o.len() as u64 == *n,
            Value::String(s) => s.chars().count() as u64 == *n,
            _ => false,
        },
        Operator::Contains(needle) => match (got, needle) {
            (Value::String(hay), Value::String(needle)) => hay.contains(needle.as_str()),
            (Value::Array(items), needle) => items.contains(needle),
            _ => false,
        },
    };
    if holds {
        return Ok(());
    }
    let expected = match want {
        Operator::Equals(value) => compact(value),
        Operator::Len(n) => format!("length {n}"),
        Operator::Contains(needle) => format!("to contain {}", compact(needle)),
    };
    // A length is compared with a length: a 500-element array is not printed for it.
    let got = match (want, got) {
        (Operator::Len(_), Value::Array(a)) => format!("length {}", a.len()),
        (Operator::Len(_), Value::Object(o)) => format!("length {}", o.len()),
        (Operator::Len(_), Value::String(s)) => format!("length {}", s.chars().count()),
        _ => head(&compact(got), ACTUAL_LINES * 80),
    };
    Err(format!("{pointer}: expected {expected}, got {got}"))
}

/// How much of an actual decision a failure shows (lines of its pretty form).
const ACTUAL_LINES: usize = 60;

/// The first `max` lines of `text` (or, for one long line, its first `max` characters), with a
/// note of what was cut: a failure stays readable whatever the decision's size.
fn head(text: &str, max: usize) -> String {
    let lines = text.lines().count();
    if lines > 1 && lines > max {
        let kept: Vec<&str> = text.lines().take(max).collect();
        return format!("{}\n… ({} more lines)", kept.join("\n"), lines - max);
    }
    if lines <= 1 && text.chars().count() > max {
        let kept: String = text.chars().take(max).collect();
        return format!("{kept}… ({} characters in all)", text.chars().count());
    }
    text.to_string()
}

/// One case's result.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// Case name (file stem).
    pub name: String,
    /// The case file.
    pub path: PathBuf,
    /// The case's description, shown with a failure.
    pub description: Option<String>,
    /// `Err(explanation)` when it failed.
    pub outcome: Result<(), String>,
}

/// The results of a fixture directory, printable like `cargo test` output.
#[derive(Clone, Debug)]
pub struct Report {
    /// One per case, in file-name order.
    pub results: Vec<CaseResult>,
    /// How long the run took, printed as `finished in …` when set.
    pub elapsed: Option<Duration>,
}

impl Report {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.outcome.is_ok()).count()
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            let status = if r.outcome.is_ok() { "ok" } else { "FAILED" };
            writeln!(f, "test {} ... {status}", r.name)?;
        }
        if self.failed() > 0 {
            writeln!(f, "\nfailures:")?;
            for r in &self.results {
                if let Err(why) = &r.outcome {
                    writeln!(f, "\n---- {} ({}) ----", r.name, r.path.display())?;
                    if let Some(description) = &r.description {
                        writeln!(f, "{description}")?;
                    }
                    writeln!(f, "{}", why.trim_end())?;
                }
            }
            writeln!(f, "\nfailures:")?;
            for r in self.results.iter().filter(|r| r.outcome.is_err()) {
                writeln!(f, "    {}", r.name)?;
            }
        }
        let verdict = if self.failed() == 0 { "ok" } else { "FAILED" };
        let elapsed = self
            .elapsed
            .map(|d| format!("; finished in {:.2}s", d.as_secs_f64()))
            .unwrap_or_default();
        writeln!(
            f,
            "\ntest result: {verdict}. {} passed; {} failed{elapsed}",
            self.passed(),
            self.failed()
        )?;
        writeln!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

/// Runs every case of a loaded directory natively.
pub fn run_fixtures(exports: &PolicyExports, dir: &FixtureDir) -> Report {
    run_fixtures_with(dir, |suite, case| run_case(exports, suite, case))
}

/// Runs every case of a loaded directory through `call` (natively [`run_case`]; the CLI calls
/// the compiled module in the engine) and checks each result against its expectation.
pub fn run_fixtures_with(
    dir: &FixtureDir,
    mut call: impl FnMut(&Suite, &Case) -> Result<Value, CallError>,
) -> Report {
    let results = dir
        .fixtures
        .iter()
        .map(|fx| CaseResult {
            name: fx.name.clone(),
            path: fx.path.clone(),
            description: fx.case.description.clone(),
            outcome: check(&fx.case.expect, &call(&dir.suite, &fx.case)),
        })
        .collect();
    Report {
        results,
        elapsed: None,
    }
}

/// Loads and runs a fixture directory; panics with the report if it cannot be loaded, holds no
/// case, or any case fails. Meant for a policy crate's `#[test]`.
#[track_caller]
pub fn assert_fixture_dir(dir: impl AsRef<Path>, exports: &PolicyExports) -> Report {
    let dir = match load_fixture_dir(dir) {
        Ok(d) => d,
        Err(err) => panic!("fixture directory: {err}"),
    };
    let report = run_fixtures(exports, &dir);
    assert_eq!(report.failed(), 0, "fixtures failed:\n{report}");
    report
}

/// Panics with a line diff when two JSON values differ.
#[track_caller]
pub fn assert_json_eq(expected: &Value, actual: &Value) {
    if expected != actual {
        panic!(
            "JSON differs (-expected +actual):\n{}",
            json_diff(expected, actual)
        );
    }
}

/// A unified-style line diff of the pretty forms of two JSON values (`-` expected, `+` actual).
pub fn json_diff(expected: &Value, actual: &Value) -> String {
    line_diff(&pretty(expected), &pretty(actual))
}

/// A line diff by longest common subsequence; beyond ~4M cells it lists both sides instead.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    if a.len().saturating_mul(b.len()) > 4_000_000 {
        for line in &a {
            out.push_str(&format!("-{line}\n"));
        }
        for line in &b {
            out.push_str(&format!("+{line}\n"));
        }
        return out;
    }
    // lcs[i][j] = LCS length of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
    out
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Deserialises a present field (even `null`) as `Some`, so `"config": null` overrides a default.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fake_dispatch(call: CallKind, input: &str) -> String {
        let env: InputEnvelope<Value> = serde_json::from_str(input).unwrap();
        match call {
            CallKind::ValidateConfig if env.config == json!({"bad": true}) => {
                r#"{"error":{"code":"invalid_config","message":"bad"}}"#.into()
            }
            CallKind::ValidateConfig => r#"{"ok":null}"#.into(),
            CallKind::Placement if env.request == json!("panic") => panic!("boom"),
            CallKind::Placement if env.request == json!("none") => {
                r#"{"error":{"code":"no_candidate","message":"nothing fits"}}"#.into()
            }
            CallKind::Placement => serde_json::to_string(&json!({"ok": {
                "seed": "eu-1", "tenant": env.tenant, "config": env.config, "scores": [1, 2]
            }}))
            .unwrap(),
            _ => "not json".into(),
        }
    }

    const FAKE: PolicyExports = PolicyExports {
        place: true,
        order_upgrades: false,
        remediate: true,
        validate_config: true,
        dispatch: fake_dispatch,
    };

    fn case(request: Value, config: Option<Value>) -> Case {
        Case {
            description: None,
            decision: DecisionKind::Placement,
            now: Some(Timestamp(0)),
            tenant: None,
            config,
            request,
            expect: Expect::Matches(BTreeMap::new()),
        }
    }

    #[test]
    fn suite_defaults_apply_and_explicit_null_config_overrides() {
        let suite = Suite {
            tenant: Some("acme".into()),
            config: Some(json!({"w": 1})),
            ..Suite::default()
        };
        let got = run_case(&FAKE, &suite, &case(json!({}), None)).unwrap();
        assert_eq!(got["tenant"], "acme");
        assert_eq!(got["config"], json!({"w": 1}));
        let got = run_case(&FAKE, &suite, &case(json!({}), Some(Value::Null))).unwrap();
        assert_eq!(got["config"], Value::Null);
    }

    #[test]
    fn errors_are_classified_like_the_host() {
        let suite = Suite::default();
        let kind = |c: Case| run_case(&FAKE, &suite, &c).unwrap_err();
        let e = kind(case(json!({}), Some(json!({"bad": true}))));
        assert_eq!(
            (e.kind, e.code.as_deref()),
            ("config_rejected", Some("invalid_config"))
        );
        let e = kind(case(json!("none"), None));
        assert_eq!(
            (e.kind, e.code.as_deref()),
            ("declined", Some("no_candidate"))
        );
        let e = kind(case(json!("panic"), None));
        assert_eq!((e.kind, e.message.as_str()), ("trap", "boom"));
        let mut c = case(json!({}), None);
        c.decision = DecisionKind::Remediation;
        assert_eq!(kind(c).kind, "invalid_output");
        let mut c = case(json!({}), None);
        c.decision = DecisionKind::UpgradeOrdering;
        assert_eq!(kind(c).kind, "decision_not_implemented");
    }

    fn op(v: Value) -> Operator {
        Operator::from_json(v).unwrap()
    }

    #[test]
    fn pointer_matchers() {
        let got = json!({"seed": "eu-1", "scores": [1, 2], "reason": "least loaded"});
        assert!(check_pointer(&got, "/seed", &op(json!("eu-1"))).is_ok());
        assert!(check_pointer(&got, "/scores", &op(json!({"$len": 2}))).is_ok());
        assert!(check_pointer(&got, "/scores", &op(json!({"$len": 3}))).is_err());
        assert!(check_pointer(&got, "/reason", &op(json!({"$contains": "least"}))).is_ok());
        assert!(check_pointer(&got, "/reason", &op(json!({"$contains": "most"}))).is_err());
        let err = check_pointer(&got, "/nope", &op(json!(1))).unwrap_err();
        assert_eq!(err, "/nope: missing in the decision");
        let err = check_pointer(&got, "/seed", &op(json!("eu-2"))).unwrap_err();
        assert_eq!(err, r#"/seed: expected "eu-2", got "eu-1""#);
    }

    #[test]
    fn len_counts_characters_and_contains_checks_array_elements() {
        let got =
            json!({"s": "héllo", "o": {"a": 1}, "n": 3, "tags": ["a", "bc"], "obj": {"k": "bc"}});
        assert!(check_pointer(&got, "/s", &op(json!({"$len": 5}))).is_ok());
        assert!(check_pointer(&got, "/o", &op(json!({"$len": 1}))).is_ok());
        let err = check_pointer(&got, "/n", &op(json!({"$len": 1}))).unwrap_err();
        assert_eq!(err, "/n: expected length 1, got 3");
        // A length is compared with a length, not with the whole array.
        let err = check_pointer(&got, "/tags", &op(json!({"$len": 5}))).unwrap_err();
        assert_eq!(err, "/tags: expected length 5, got length 2");
        assert!(check_pointer(&got, "/tags", &op(json!({"$contains": "bc"}))).is_ok());
        // An element must be equal, not merely share text; a non-string needle never matches
        // inside a string; objects are not searched.
        assert!(check_pointer(&got, "/tags", &op(json!({"$contains": "b"}))).is_err());
        assert!(check_pointer(&got, "/s", &op(json!({"$contains": 1}))).is_err());
        let err = check_pointer(&got, "/obj", &op(json!({"$contains": "bc"}))).unwrap_err();
        assert_eq!(err, r#"/obj: expected to contain "bc", got {"k":"bc"}"#);
    }

    #[test]
    fn malformed_operators_and_pointers_are_refused_when_read() {
        assert_eq!(op(json!({"a": 1})), Operator::Equals(json!({"a": 1})));
        assert_eq!(
            op(json!({"$contains": [1]})),
            Operator::Contains(json!([1]))
        );
        let parse = |expect: Value| {
            let text = json!({"decision": "placement", "request": {}, "expect": expect});
            crate::json_path::from_str_with_path::<Case>(&text.to_string()).unwrap_err()
        };
        let err = parse(json!({"matches": {"/n": {"$len": -1}}}));
        assert!(
            err.contains("$len needs a non-negative integer, got -1"),
            "{err}"
        );
        let err = parse(json!({"matches": {"/n": {"$size": 1}}}));
        assert!(err.contains(r#"unknown operator "$size""#), "{err}");
        let err = parse(json!({"matches": {"/n": {"$len": 1, "$contains": "x"}}}));
        assert!(err.contains("exactly one key"), "{err}");
        let err = parse(json!({"matches": {"seed": "eu-1"}}));
        assert!(
            err.contains(r#"matches key "seed" is not a JSON pointer"#),
            "{err}"
        );
    }

    #[test]
    fn a_generic_runner_sees_the_resolved_case_and_its_failures_are_specific() {
        let dir = FixtureDir {
            dir: "d".into(),
            suite: Suite {
                tenant: Some("acme".into()),
                now: Some(Timestamp(60)),
                ..Suite::default()
            },
            fixtures: vec![Fixture {
                name: "declines".into(),
                path: "d/declines.json".into(),
                case: Case {
                    description: Some("a decision is wanted".into()),
                    ..case(json!({"x": 1}), None)
                },
            }],
        };
        let mut seen = Vec::new();
        let mut report = run_fixtures_with(&dir, |suite, case| {
            let r = case.resolve(suite);
            seen.push((
                r.tenant.to_string(),
                r.now,
                r.config.clone(),
                r.request.clone(),
            ));
            Err(CallError {
                kind: "timed_out",
                code: None,
                message: "timed out after 100ms".into(),
            })
        });
        // The case's own `now` wins over the suite's; tenant and config fall back.
        let want = (
            "acme".to_string(),
            Timestamp(0),
            Value::Null,
            json!({"x": 1}),
        );
        assert_eq!(seen, vec![want]);
        report.elapsed = Some(Duration::from_millis(1500));
        let text = report.to_string();
        assert!(
            text.contains(
                "---- declines (d/declines.json) ----\na decision is wanted\n\
                 expected a decision, the call failed: timed_out: timed out after 100ms\n"
            ),
            "{text}"
        );
        assert!(text.contains("\nfailures:\n    declines\n"), "{text}");
        assert!(
            text.ends_with(
                "test result: FAILED. 0 passed; 1 failed; finished in 1.50s\n0 passed, 1 failed\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_directory_without_cases_is_an_error() {
        let dir = std::env::temp_dir().join(format!("fw-fixtures-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("suite.json"), r#"{"tenant": "acme"}"#).unwrap();
        let err = load_fixture_dir(&dir).unwrap_err();
        assert!(matches!(err, FixtureError::NoCases { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn error_expectations_check_kind_and_code() {
        let declined = Err(CallError {
            kind: "declined",
            code: Some("no_candidate".into()),
            message: "m".into(),
        });
        let want = |kind: &str, code: Option<&str>| {
            Expect::Error(ExpectedError {
                kind: kind.into(),
                code: code.map(Into::into),
            })
        };
        assert!(check(&want("declined", None), &declined).is_ok());
        assert!(check(&want("declined", Some("no_candidate")), &declined).is_ok());
        assert!(check(&want("declined", Some("other")), &declined).is_err());
        assert!(check(&want("trap", None), &declined).is_err());
        assert!(check(&want("declined", None), &Ok(json!(1))).is_err());
    }

    #[test]
    fn diff_marks_changed_lines_only() {
        let d = json_diff(
            &json!({"a": 1, "b": 2, "c": 3}),
            &json!({"a": 1, "b": 5, "c": 3}),
        );
        assert_eq!(
            d,
            " {\n   \"a\": 1,\n-  \"b\": 2,\n+  \"b\": 5,\n   \"c\": 3\n }\n"
        );
    }

    #[test]
    fn loads_a_directory_and_reports_like_cargo_test() {
        let dir = std::env::temp_dir().join(format!("fw-fixtures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("suite.json"),
            r#"{"now": "2026-11-25T17:00:00Z", "tenant": "acme"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("a_ok.json"),
            r#"{"decision": "placement", "request": {}, "expect": {"matches": {"/seed": "eu-1"}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("b_fails.json"),
            r#"{"decision": "placement", "request": {}, "expect": {"decision": {"seed": "eu-2"}}}"#,
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let loaded = load_fixture_dir(&dir).unwrap();
        assert_eq!(loaded.suite.tenant.as_deref(), Some("acme"));
        let report = run_fixtures(&FAKE, &loaded);
        let text = report.to_string();
        assert!(
            text.starts_with("test a_ok ... ok\ntest b_fails ... FAILED\n"),
            "{text}"
        );
        assert!(text.contains("-  \"seed\": \"eu-2\""), "{text}");
        assert!(text.ends_with("test result: FAILED. 1 passed; 1 failed\n1 passed, 1 failed\n"));

        std::fs::write(
            dir.join("c_typo.json"),
            r#"{"decision": "placement", "request": {}, "expect": {"decision": {}}, "expct": 1}"#,
        )
        .unwrap();
        let err = load_fixture_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("c_typo.json: unknown field `expct`"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
