//! `rollout status --watch`: a new frame whenever the report changes.
//!
//! Watches (kube watchers, not polling) Tenants, ManagedClusters and RolloutApprovals; after each
//! event it reads the tenant's objects again and prints the report if its text differs from the
//! last frame, so an event that changes nothing an operator sees (a resync, another tenant's
//! cluster) prints nothing. Table frames are separated by a `---` line; JSON frames are one
//! compact document per line. It stops at `--timeout`, or with
//! `--until-done` once the rollout is Complete or Aborted.

use std::io::Write;
use std::time::Duration;

use fleetward_controller::crd::{ManagedCluster, RolloutApproval, RolloutState, Tenant};
use futures::{FutureExt as _, Stream, StreamExt};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use super::{Format, snapshot};
use crate::exit::{CliError, Status};

/// Events of one kind, reduced to "something changed".
fn changes<K>(api: Api<K>) -> impl Stream<Item = ()> + Send
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
{
    watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(|e| async move { e.ok().map(|_| ()) })
}

/// Prints frames until the timeout (exit 0), or until the rollout is done with `until_done`
/// (exit 0; exit 1 when the timeout comes first).
pub async fn watch(
    client: &Client,
    tenant: &str,
    format: Format,
    timeout: Option<Duration>,
    until_done: bool,
    out: &mut dyn Write,
) -> Result<Status, CliError> {
    let mut events = futures::stream::select_all([
        changes(Api::<Tenant>::all(client.clone())).boxed(),
        changes(Api::<ManagedCluster>::all(client.clone())).boxed(),
        changes(Api::<RolloutApproval>::all(client.clone())).boxed(),
    ]);
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut last: Option<String> = None;
    loop {
        let (report, done) = {
            let report = snapshot(client, tenant).await?;
            let done = report
                .rollout
                .as_ref()
                .is_some_and(|r| matches!(r.state, RolloutState::Complete | RolloutState::Aborted));
            let text = match format {
                // One compact document per line (JSON Lines), so a consumer reads frame by frame.
                Format::Json => {
                    let mut line = serde_json::to_string(&report).unwrap_or_default();
                    line.push('\n');
                    line
                }
                Format::Table => format.render(&report),
            };
            (text, done)
        };
        if last.as_ref() != Some(&report) {
            if last.is_some() && format == Format::Table {
                writeln!(out, "---")?;
            }
            out.write_all(report.as_bytes())?;
            out.flush()?;
            last = Some(report);
        }
        if until_done && done {
            return Ok(Status::Ok);
        }
        let next = events.next();
        let got = match deadline {
            Some(d) => match tokio::time::timeout_at(d, next).await {
                Ok(e) => e,
                Err(_) if until_done => {
                    return Err(CliError::runtime(format!(
                        "timed out before the rollout of tenant \"{tenant}\" was Complete or \
                         Aborted"
                    )));
                }
                Err(_) => return Ok(Status::Ok),
            },
            None => next.await,
        };
        if got.is_none() {
            return Err(CliError::runtime("the watch ended"));
        }
        // Coalesce a burst (the initial listing, a write touching several objects) into one
        // re-read: take what is already queued without waiting.
        while let Some(Some(())) = events.next().now_or_never() {}
    }
}
