//! The emulator held to the real thing (issue 19, item 5).
//!
//! Why: `fleetward-emulator` was written by the same hands as the controller, so a misreading of
//! Kubernetes semantics would show up identically in both and no emulator-only test could catch
//! it. This test sends one script of raw HTTP requests — the ones Fleetward's controller and
//! kubectl make (`script.rs`) — to the emulator and to a real kube-apiserver v1.37
//! (`fleetward-testenv`), normalises what differs legitimately (uids, resourceVersions,
//! timestamps, continue tokens, ages: `normalise.rs`) and compares the answers structurally
//! (`compare.rs`). Every remaining difference must be in the allow-list `known.rs`, each with its
//! reason, mirrored in docs/emulator.md; anything else fails with the full diff.
//!
//! Without a real control plane on the machine (no Go) the test announces the skip and passes.
//! `DIFFERENTIAL_DUMP=DIR` writes both servers' normalised answers per step into DIR, for
//! reading a failure side by side.

mod compare;
mod exchange;
mod known;
mod normalise;
mod script;
mod servers;
mod step;

use std::time::Duration;

use anyhow::{Result, bail};
use kube::Client;
use serde_json::Value;

use crate::compare::{Difference, differences};
use crate::exchange::{Outcome, Request, read_watch, send};
use crate::known::KNOWN;
use crate::normalise::normalise;
use crate::servers::Server;
use crate::step::{Action, Captures, Step};

/// How long a watch is read when the expected events do not all arrive.
const WATCH_DEADLINE: Duration = Duration::from_secs(5);

/// Runs the script against one server, answer by answer.
async fn run(server: &Server, script: &[Step]) -> Result<Vec<Outcome>> {
    let client = &server.client;
    let mut captures = Captures::default();
    let mut outcomes = Vec::with_capacity(script.len());
    for step in script {
        let outcome = match &step.action {
            Action::Send(request) => send(client, &captures.resolve(request)?).await?,
            Action::Watch {
                request,
                expected_events,
            } => {
                let request = captures.resolve(request)?;
                read_watch(client, &request, *expected_events, WATCH_DEADLINE).await?
            }
            Action::WaitUntilGone { path, deadline } => {
                wait_until_gone(client, &captures.substitute(path, true), *deadline).await?
            }
        };
        if let Outcome::Response { body, .. } = &outcome {
            captures.record(step, body)?;
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Polls `path` until it is 404 or `deadline` passes; the last answer is the outcome.
async fn wait_until_gone(client: &Client, path: &str, deadline: Duration) -> Result<Outcome> {
    let get = Request {
        method: http::Method::GET,
        path: path.to_string(),
        content_type: None,
        accept: None,
        body: None,
    };
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let outcome = send(client, &get).await?;
        if outcome.status() == 404 || tokio::time::Instant::now() >= until {
            return Ok(outcome);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn dump(dir: &std::path::Path, index: usize, step: &Step, emulator: &Value, real: &Value) {
    let name: String = step
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "step": step.name, "emulator": emulator, "real": real,
    }))
    .unwrap_or_default();
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(dir.join(format!("{index:03}-{name}.json")), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_answers_like_kube_apiserver() -> Result<()> {
    let Some(real) = servers::real("emulator_answers_like_kube_apiserver").await? else {
        return Ok(());
    };
    let emulator = servers::emulator().await?;
    let script = script::script();
    let started = std::time::Instant::now();
    let on_emulator = run(&emulator, &script).await?;
    let on_real = run(&real, &script).await?;
    eprintln!(
        "differential: {} steps on both servers in {:.1} s",
        script.len(),
        started.elapsed().as_secs_f64()
    );

    let dump_dir = std::env::var_os("DIFFERENTIAL_DUMP").map(std::path::PathBuf::from);
    let mut unexpected: Vec<Difference> = Vec::new();
    let mut known: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut steps_differing = 0;
    for (index, (step, (e, r))) in script
        .iter()
        .zip(on_emulator.iter().zip(&on_real))
        .enumerate()
    {
        let (e, r) = (normalise(&e.to_value()), normalise(&r.to_value()));
        if let Some(dir) = &dump_dir {
            dump(dir, index, step, &e, &r);
        }
        let found = differences(step.name, &e, &r);
        if !found.is_empty() {
            steps_differing += 1;
        }
        for d in found {
            if let Some(k) = KNOWN.iter().find(|k| k.matches(&d)) {
                *known.entry(k.reason).or_default() += 1;
            } else {
                unexpected.push(d);
            }
        }
    }
    eprintln!(
        "differential: {steps_differing} of {} steps differ; {} known differences, {} unexpected",
        script.len(),
        known.values().sum::<usize>(),
        unexpected.len()
    );
    for (reason, count) in &known {
        eprintln!("  {count:4} known: {reason}");
    }
    if !unexpected.is_empty() {
        let listing: Vec<String> = unexpected.iter().map(ToString::to_string).collect();
        bail!(
            "{} unexpected differences between the emulator and kube-apiserver \
             (fix the emulator, or add to tests/tests/differential/known.rs and docs/emulator.md \
             with the reason):\n{}",
            unexpected.len(),
            listing.join("\n")
        );
    }
    Ok(())
}
