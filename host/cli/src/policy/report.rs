//! The `policy test` report: text like `cargo test`, one JSON document, or JUnit XML.
//!
//! The three forms render the same [`Run`], so a CI job and an author at a terminal see the
//! same cases, outcomes, fuel and peak memory.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use fleetward_sdk::testing::CallError;
use serde_json::{Value, json};

use super::runtime::{Cost, human_bytes};

/// Report formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Like `cargo test`, with fuel and peak memory per case.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
    /// JUnit XML on stdout, for CI test reports.
    Junit,
}

/// One case's run.
#[derive(Clone, Debug)]
pub struct CaseRun {
    /// Case name (file stem).
    pub name: String,
    /// The case file.
    pub path: PathBuf,
    /// The case's description.
    pub description: Option<String>,
    /// `Err(explanation)` when it failed.
    pub outcome: Result<(), String>,
    /// What came out, after the host's judgement.
    pub actual: Result<Value, CallError>,
    /// Steps the caps would hold back (not failures).
    pub waits: Vec<String>,
    /// Fuel and peak memory (when the call succeeded).
    pub cost: Cost,
    /// Wall-clock time of the judged call.
    pub duration: Duration,
    /// `--bless` rewrote its expectation.
    pub blessed: bool,
}

/// A whole `policy test` run.
#[derive(Clone, Debug)]
pub struct Run {
    /// The fixture directory.
    pub dir: PathBuf,
    /// The module file.
    pub module: PathBuf,
    /// Its digest.
    pub digest: String,
    /// The cases run, in file-name order.
    pub cases: Vec<CaseRun>,
    /// The whole run's time.
    pub elapsed: Duration,
}

impl Run {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.outcome.is_ok()).count()
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

impl Format {
    /// Writes `run` in this format.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write(self, run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Format::Text => write_text(run, out),
            Format::Json => writeln!(out, "{}", super::pretty(&to_json(run))),
            Format::Junit => out.write_all(to_junit(run).as_bytes()),
        }
    }
}

fn cost_text(cost: &Cost) -> String {
    match (cost.fuel, cost.peak_memory_bytes) {
        (Some(fuel), Some(mem)) => format!(" (fuel {fuel}, peak memory {})", human_bytes(mem)),
        (None, Some(mem)) => format!(" (peak memory {})", human_bytes(mem)),
        (Some(fuel), None) => format!(" (fuel {fuel})"),
        (None, None) => String::new(),
    }
}

fn write_text(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    let n = run.cases.len();
    let plural = if n == 1 { "" } else { "s" };
    writeln!(
        out,
        "\nrunning {n} test{plural} from {} against {} ({})",
        run.dir.display(),
        run.module.display(),
        run.digest
    )?;
    for c in &run.cases {
        let status = match (&c.outcome, c.blessed) {
            (Ok(()), true) => "blessed",
            (Ok(()), false) => "ok",
            (Err(_), _) => "FAILED",
        };
        writeln!(out, "test {} ... {status}{}", c.name, cost_text(&c.cost))?;
        for wait in &c.waits {
            writeln!(out, "    note: {wait}")?;
        }
    }
    if run.failed() > 0 {
        writeln!(out, "\nfailures:")?;
        for c in &run.cases {
            if let Err(why) = &c.outcome {
                writeln!(out, "\n---- {} ({}) ----", c.name, c.path.display())?;
                if let Some(description) = &c.description {
                    writeln!(out, "{description}")?;
                }
                writeln!(out, "{}", why.trim_end())?;
            }
        }
        writeln!(out, "\nfailures:")?;
        for c in run.cases.iter().filter(|c| c.outcome.is_err()) {
            writeln!(out, "    {}", c.name)?;
        }
    }
    let blessed = run.cases.iter().filter(|c| c.blessed).count();
    if blessed > 0 {
        writeln!(
            out,
            "\nblessed {blessed} case(s): their files now expect what the module answered"
        )?;
    }
    let verdict = if run.failed() == 0 { "ok" } else { "FAILED" };
    writeln!(
        out,
        "\ntest result: {verdict}. {} passed; {} failed; finished in {:.2}s",
        run.passed(),
        run.failed(),
        run.elapsed.as_secs_f64()
    )?;
    writeln!(out, "{} passed, {} failed", run.passed(), run.failed())
}

/// The `--format json` document.
pub fn to_json(run: &Run) -> Value {
    let cases: Vec<Value> = run
        .cases
        .iter()
        .map(|c| {
            let outcome = match (&c.outcome, c.blessed) {
                (Ok(()), true) => "blessed",
                (Ok(()), false) => "passed",
                (Err(_), _) => "failed",
            };
            let actual = match &c.actual {
                Ok(decision) => json!({"decision": decision}),
                Err(e) => json!({"error": {"kind": e.kind, "code": e.code, "message": e.message}}),
            };
            json!({
                "name": c.name,
                "file": c.path.display().to_string(),
                "description": c.description,
                "outcome": outcome,
                "message": c.outcome.as_ref().err(),
                "actual": actual,
                "waits": c.waits,
                "fuel": c.cost.fuel,
                "peak_memory_bytes": c.cost.peak_memory_bytes,
                "duration_us": c.duration.as_micros() as u64,
            })
        })
        .collect();
    json!({
        "dir": run.dir.display().to_string(),
        "module": run.module.display().to_string(),
        "digest": run.digest,
        "passed": run.passed(),
        "failed": run.failed(),
        "elapsed_ms": run.elapsed.as_millis() as u64,
        "cases": cases,
    })
}

/// XML text and attribute escaping.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

/// A failure's one-line summary for CI listings: its first line, joined with the next when
/// the first only introduces it (`1 of 2 assertions failed: /seed: expected "eu-2", got "eu-1"`).
fn headline(why: &str) -> String {
    let mut lines = why.lines();
    let first = lines.next().unwrap_or_default();
    match lines.next() {
        Some(next) if first.ends_with(':') => format!("{first} {next}"),
        _ => first.to_string(),
    }
}

/// The `--format junit` document: one `testsuite` named after the fixture directory, one
/// `testcase` per case, fuel and peak memory as `property` elements.
pub fn to_junit(run: &Run) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    s.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">\n",
        xml(&run.dir.display().to_string()),
        run.cases.len(),
        run.failed(),
        run.elapsed.as_secs_f64()
    ));
    for c in &run.cases {
        s.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.6}\">\n",
            xml(&c.name),
            xml(&run.module.display().to_string()),
            xml(&c.path.display().to_string()),
            c.duration.as_secs_f64()
        ));
        let mut props = Vec::new();
        if let Some(fuel) = c.cost.fuel {
            props.push(("fuel", fuel));
        }
        if let Some(mem) = c.cost.peak_memory_bytes {
            props.push(("peak_memory_bytes", mem));
        }
        if !props.is_empty() {
            s.push_str("      <properties>\n");
            for (name, value) in props {
                s.push_str(&format!(
                    "        <property name=\"{name}\" value=\"{value}\"/>\n"
                ));
            }
            s.push_str("      </properties>\n");
        }
        if let Err(why) = &c.outcome {
            s.push_str(&format!(
                "      <failure message=\"{}\">{}</failure>\n",
                xml(&headline(why)),
                xml(why)
            ));
        }
        s.push_str("    </testcase>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_module_text() {
        let run = Run {
            dir: "d".into(),
            module: "m.wasm".into(),
            digest: "sha256:x".into(),
            cases: vec![CaseRun {
                name: "a<b".into(),
                path: "d/a.json".into(),
                description: None,
                outcome: Err("expected \"x\" & got <y>\u{1b}[2J".into()),
                actual: Ok(Value::Null),
                waits: vec![],
                cost: Cost::default(),
                duration: Duration::ZERO,
                blessed: false,
            }],
            elapsed: Duration::ZERO,
        };
        let x = to_junit(&run);
        assert!(x.contains("name=\"a&lt;b\""), "{x}");
        assert!(
            x.contains("message=\"expected &quot;x&quot; &amp; got &lt;y&gt;\\u{1b}[2J\""),
            "{x}"
        );
        assert!(!x.contains('\u{1b}'));
        assert_eq!(
            headline("1 of 2 assertions failed:\n/seed: expected 1, got 2\nactual decision:"),
            "1 of 2 assertions failed: /seed: expected 1, got 2"
        );
    }
}
