//! Native test helpers: run a policy's fixture directory under plain `cargo test`.
//!
//! The fixture format is the one `fleetward policy test DIR` reads (one JSON case per file,
//! optional `suite.json` defaults; see `docs/policies.md`). Here each case runs through the
//! policy crate's generated `dispatch` function — the code the Wasm exports call — so a policy
//! author gets fast native feedback and the compiled module is held to the same expectations by
//! the CLI. (kubewarden's `policy-sdk-rust` `test.rs` plays the same role.)
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
    /// JSON-pointer partial asserts: each pointer's value equals the given JSON, or matches
    /// `{"$len": n}` (array/object/string length) or `{"$contains": "text"}` (substring of the
    /// string, or of the compact JSON of a non-string).
    Matches(BTreeMap<String, Value>),
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
/// [`FixtureError`] naming the file that cannot be read or parsed.
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
    let now = case.now.or(suite.now).unwrap_or_default();
    let tenant = case
        .tenant
        .as_deref()
        .or(suite.tenant.as_deref())
        .unwrap_or("test");
    let config = case
        .config
        .as_ref()
        .or(suite.config.as_ref())
        .cloned()
        .unwrap_or(Value::Null);
    let call = CallKind::from(case.decision);
    [
        (
            CallKind::ValidateConfig,
            input_envelope(CallKind::ValidateConfig, now, tenant, &config, &Value::Null),
        ),
        (
            call,
            input_envelope(call, now, tenant, &config, &case.request),
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

/// Checks a call's result against a case's expectation.
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
                    "{}\nactual decision:\n{}",
                    failures.join("\n"),
                    pretty(got)
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
        (_, Err(got)) => Err(format!("expected a decision, got error {got}")),
    }
}

fn check_pointer(actual: &Value, pointer: &str, want: &Value) -> Result<(), String> {
    let Some(got) = actual.pointer(pointer) else {
        return Err(format!("{pointer}: missing in the decision"));
    };
    if let Some(obj) = want.as_object().filter(|o| o.len() == 1) {
        if let Some(len) = obj.get("$len") {
            let got_len = match got {
                Value::Array(a) => Some(a.len()),
                Value::Object(o) => Some(o.len()),
                Value::String(s) => Some(s.chars().count()),
                _ => None,
            };
            return match (got_len, len.as_u64()) {
                (Some(g), Some(w)) if g as u64 == w => Ok(()),
                _ => Err(format!(
                    "{pointer}: expected length {len}, got {}",
                    compact(got)
                )),
            };
        }
        if let Some(needle) = obj.get("$contains") {
            let needle = needle.as_str().unwrap_or_default();
            let hay = got.as_str().map_or_else(|| compact(got), str::to_string);
            return if hay.contains(needle) {
                Ok(())
            } else {
                Err(format!(
                    "{pointer}: expected to contain {needle:?}, got {}",
                    compact(got)
                ))
            };
        }
    }
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{pointer}: expected {}, got {}",
            compact(want),
            compact(got)
        ))
    }
}

/// One case's result.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// Case name (file stem).
    pub name: String,
    /// `Err(explanation)` when it failed.
    pub outcome: Result<(), String>,
}

/// The results of a fixture directory, printable like `cargo test` output.
#[derive(Clone, Debug)]
pub struct Report {
    /// One per case, in file-name order.
    pub results: Vec<CaseResult>,
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
        for r in &self.results {
            if let Err(why) = &r.outcome {
                writeln!(f, "\n---- {} ----\n{why}", r.name)?;
            }
        }
        let verdict = if self.failed() == 0 { "ok" } else { "FAILED" };
        writeln!(
            f,
            "\ntest result: {verdict}. {} passed; {} failed",
            self.passed(),
            self.failed()
        )?;
        writeln!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

/// Runs every case of a loaded directory natively.
pub fn run_fixtures(exports: &PolicyExports, dir: &FixtureDir) -> Report {
    let results = dir
        .fixtures
        .iter()
        .map(|fx| CaseResult {
            name: fx.name.clone(),
            outcome: check(&fx.case.expect, &run_case(exports, &dir.suite, &fx.case)),
        })
        .collect();
    Report { results }
}

/// Loads and runs a fixture directory; panics with the report if it cannot be loaded, holds no
/// case, or any case fails. Meant for a policy crate's `#[test]`.
#[track_caller]
pub fn assert_fixture_dir(dir: impl AsRef<Path>, exports: &PolicyExports) -> Report {
    let dir = match load_fixture_dir(dir) {
        Ok(d) => d,
        Err(err) => panic!("fixture directory: {err}"),
    };
    assert!(
        !dir.fixtures.is_empty(),
        "no fixture cases in {}",
        dir.dir.display()
    );
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

    #[test]
    fn pointer_matchers() {
        let got = json!({"seed": "eu-1", "scores": [1, 2], "reason": "least loaded"});
        assert!(check_pointer(&got, "/seed", &json!("eu-1")).is_ok());
        assert!(check_pointer(&got, "/scores", &json!({"$len": 2})).is_ok());
        assert!(check_pointer(&got, "/scores", &json!({"$len": 3})).is_err());
        assert!(check_pointer(&got, "/reason", &json!({"$contains": "least"})).is_ok());
        assert!(check_pointer(&got, "/reason", &json!({"$contains": "most"})).is_err());
        let err = check_pointer(&got, "/nope", &json!(1)).unwrap_err();
        assert_eq!(err, "/nope: missing in the decision");
        let err = check_pointer(&got, "/seed", &json!("eu-2")).unwrap_err();
        assert_eq!(err, r#"/seed: expected "eu-2", got "eu-1""#);
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
