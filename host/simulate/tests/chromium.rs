//! Renders a report in headless Chromium (Debian's `chromium`) and checks the chart is there:
//! the DOM after layout has one timeline row per cluster, and the screenshot is a real picture.
//! Skipped, loudly, when `/usr/bin/chromium` is not installed (`apt-get install chromium`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ScriptedFleet, run_scripted, small};
use fleetward_simulate::{summary, write_outputs};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(dir: &Path, mode: &[String], report: &Path) -> std::process::Output {
    let profile = dir.join("profile");
    let mut cmd = Command::new("timeout");
    cmd.arg("120").arg(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,900",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd.args(mode);
    cmd.arg(format!("file://{}", report.display()));
    cmd.output().expect("chromium runs")
}

#[test]
fn report_renders_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        use std::io::Write as _;
        // Straight to stderr: libtest captures eprintln! of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "\n==============================================================\n\
             SKIPPED report_renders_in_headless_chromium: {CHROMIUM} not found.\n\
             Install it with `apt-get install -y chromium` to run this check.\n\
             ==============================================================\n"
        );
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "fleetward-simulate-chromium-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let s = small();
    let rec = run_scripted(&s, ScriptedFleet::new());
    let report = write_outputs(&dir, &rec, &summary::summarize(&rec), None).expect("written");

    let dom = chromium(&dir, &["--dump-dom".to_string()], &report);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom.matches(r#"class="cluster-row""#).count(),
        s.clusters.len(),
        "one chart row per cluster after Chromium parsed the page"
    );
    assert!(dom.contains("<svg") && dom.contains(r#"class="span cp""#));

    let png = dir.join("shot.png");
    let out = chromium(&dir, &[format!("--screenshot={}", png.display())], &report);
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}); chromium said: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(&bytes[1..4], b"PNG");
    // A blank 1400×900 page compresses to a few KB; the report with its chart is far larger.
    assert!(
        bytes.len() > 40_000,
        "screenshot only {} bytes",
        bytes.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
