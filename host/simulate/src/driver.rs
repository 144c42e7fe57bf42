//! The driver loop: advance virtual time through the timeline and feed the recorder.
//!
//! [`Driver`] is the boundary to the world being simulated. The production driver
//! ([`emulated::EmulatedFleet`]) runs the real controller and the fake infrastructure against
//! the in-process emulator; tests can drive the loop with a scripted world. [`simulate`] itself
//! only decides *when* things happen: it steps virtual time in `scenario.step` increments,
//! applies each timeline action at its instant, and stops at the end of the run or once the
//! fleet has stayed settled for [`SETTLE_GRACE`] with no event pending.

mod control;
mod controller;
pub mod emulated;
mod inline;
mod lifecycle;

use std::future::Future;

use fleetward_sdk::wire::ClusterRef;

use crate::progress::Progress;
use crate::record::{Observation, Recorder, Recording};
use crate::scenario::{Action, Cluster, Scenario};

/// How long the fleet must stay settled (no step, remediation or fault open, every requested
/// cluster done) after the last event before the run ends early.
pub const SETTLE_GRACE: i64 = 2 * 3600;

/// Why the world could not be driven.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A request to the (emulated) API failed.
    #[error("{what}: {message}")]
    Api {
        /// What the driver was doing, e.g. `create ManagedCluster tenant-a/prod-1`.
        what: String,
        /// The API's answer.
        message: String,
    },
    /// The controller or infrastructure could not be started.
    #[error("cannot start {what}: {message}")]
    Start {
        /// Which part.
        what: String,
        /// Why.
        message: String,
    },
}

/// The world a scenario runs in.
pub trait Driver {
    /// Creates the scenario's objects and starts whatever runs the fleet.
    fn setup(&mut self, scenario: &Scenario) -> impl Future<Output = Result<(), DriverError>>;

    /// Lets virtual time run until `at` (epoch seconds); returns what was observed, in order.
    fn advance_to(&mut self, at: i64) -> impl Future<Output = Vec<Observation>>;

    /// Performs a timeline action on the clusters it concerns (`affected`, resolved by the loop).
    fn act(
        &mut self,
        action: &Action,
        affected: &[ClusterRef],
    ) -> impl Future<Output = Result<(), DriverError>>;

    /// Stops everything and returns the observations still buffered.
    fn shutdown(self) -> impl Future<Output = Vec<Observation>>;
}

/// Runs `scenario` in `driver`, reporting progress, and returns the recording.
///
/// # Errors
/// [`DriverError`] when the world cannot be set up or an action cannot be applied.
pub async fn simulate<D: Driver>(
    scenario: &Scenario,
    mut driver: D,
    progress: &mut Progress<'_>,
) -> Result<Recording, DriverError> {
    driver.setup(scenario).await?;
    let mut rec = Recorder::new(scenario);
    let end = scenario.end().0;
    let mut now = scenario.start.0;
    let mut next = 0;
    let mut settled_since: Option<i64> = None;
    // The clusters that exist now: the scenario's, plus those created, minus those deleted.
    let mut fleet: Vec<Cluster> = scenario.clusters.clone();
    loop {
        while let Some(ev) = scenario.timeline.get(next).filter(|e| e.at.0 <= now) {
            let affected = affected_clusters(&fleet, &rec, &ev.action);
            match &ev.action {
                Action::CreateCluster { clusters } => fleet.extend(clusters.iter().cloned()),
                Action::DeleteCluster { cluster } => fleet.retain(|c| &c.id != cluster),
                _ => {}
            }
            driver.act(&ev.action, &affected).await?;
            rec.action(now, &ev.action, &affected);
            progress.event(now, &ev.action.describe());
            next += 1;
            settled_since = None;
        }
        if now >= end {
            break;
        }
        let mut target = (now + scenario.step).min(end);
        if let Some(ev) = scenario.timeline.get(next) {
            target = target.min(ev.at.0);
        }
        for obs in driver.advance_to(target).await {
            rec.observe(obs);
        }
        now = target;
        let (done, total) = rec.progress();
        progress.tick(now, done, total, rec.decision_count());
        if next == scenario.timeline.len() && rec.settled() {
            let since = *settled_since.get_or_insert(now);
            if now - since >= SETTLE_GRACE {
                break;
            }
        } else {
            settled_since = None;
        }
    }
    for obs in driver.shutdown().await {
        rec.observe(obs);
    }
    progress.clear();
    Ok(rec.finish(now))
}

/// The clusters an action concerns, from the clusters that exist (`fleet`) and what has been
/// observed so far.
pub fn affected_clusters(fleet: &[Cluster], rec: &Recorder, action: &Action) -> Vec<ClusterRef> {
    match action {
        Action::SetVersion { selector, .. } => fleet
            .iter()
            .filter(|c| selector.matches(&c.tenant, &c.labels))
            .map(|c| c.id.clone())
            .collect(),
        Action::BreakWorkload { cluster, .. }
        | Action::HealWorkload { cluster, .. }
        | Action::BreakMachine { cluster, .. }
        | Action::HealMachine { cluster, .. }
        | Action::PauseCluster { cluster }
        | Action::ResumeCluster { cluster }
        | Action::Signal { cluster, .. } => vec![cluster.clone()],
        Action::SeedDown { seed }
        | Action::SeedUp { seed }
        | Action::SeedApi { seed, .. }
        | Action::SeedApiUp { seed } => rec.clusters_on_seed(seed),
        Action::UpdatePolicy { tenant, .. }
        | Action::PauseRollout { tenant, .. }
        | Action::ResumeRollout { tenant }
        | Action::Approve { tenant, .. }
        | Action::AbortRollout { tenant, .. } => fleet
            .iter()
            .filter(|c| &c.tenant == tenant)
            .map(|c| c.id.clone())
            .collect(),
        Action::CreateCluster { clusters } => clusters.iter().map(|c| c.id.clone()).collect(),
        Action::DeleteCluster { cluster } => vec![cluster.clone()],
        Action::RestartController => Vec::new(),
    }
}
