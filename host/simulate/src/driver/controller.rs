//! Starting the real controller on the emulator with a virtual clock and a decision sink.
//!
//! This is `fleetward_controller::app::start`, unchanged, with the three things a simulation
//! swaps in: the emulator's in-process client, a [`VirtualClock`] on tokio's paused clock, and
//! a [`DecisionSink`](fleetward_controller::decision::DecisionSink) feeding the ledger.

use std::sync::Arc;

use fleetward_controller::app::{self, ControllerConfig};
use fleetward_controller::clock::VirtualClock;
use fleetward_controller::decision::DecisionRecord;
use fleetward_controller::seeds::InProcessConnector;
use fleetward_controller::wasm::EngineLoader;
use fleetward_emulator::Emulator;
use fleetward_engine::{Engine, EngineConfig};
use fleetward_sdk::wire::Timestamp;
use tokio::sync::mpsc::UnboundedReceiver;

use super::DriverError;

/// User agent of the controller's writes, as the emulator's audit log shows them.
pub const CONTROLLER_USER_AGENT: &str = "fleetward-controller";

/// A running controller; stopped by [`ControllerHandle::stop`].
#[derive(Debug)]
pub struct ControllerHandle {
    inner: Option<app::ControllerHandle>,
}

impl ControllerHandle {
    /// Stops the controller and waits for in-flight reconciles.
    pub async fn stop(mut self) {
        if let Some(h) = self.inner.take() {
            h.shutdown().await;
        }
    }
}

/// Starts the controller against `emulator` with its clock starting at `start`; returns its
/// handle and the receiving end of its decision sink. `resync` overrides the controller's
/// periodic resync (seconds; `None`: the controller's default). `seeds` serves the seeds' own
/// API servers (`topology: seeds`); `None` keeps the controller's default connector, which no
/// scenario without seed locations ever uses.
///
/// # Errors
/// [`DriverError::Start`] when the policy engine cannot be created.
pub async fn start(
    emulator: &Emulator,
    start: Timestamp,
    resync: Option<i64>,
    seeds: Option<InProcessConnector>,
) -> Result<(ControllerHandle, UnboundedReceiver<DecisionRecord>), DriverError> {
    let engine = Engine::new(EngineConfig::default()).map_err(|e| DriverError::Start {
        what: "policy engine".into(),
        message: e.to_string(),
    })?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let loader = super::inline::InlineLoader(Arc::new(EngineLoader::new(engine)));
    let mut config = ControllerConfig::new(Arc::new(loader));
    config.clock = Arc::new(VirtualClock::starting_at(start));
    config.decision_sink = Some(tx);
    // No concurrency cap. With a cap, kube-runtime parks the objects that are due while the cap
    // is full in a HashSet and releases them in hash order, which differs between processes:
    // the same scenario then made a different number of intermediate status writes per run.
    // Uncapped, due objects start in their queue order; policy calls cannot reorder them
    // because they answer inline (see `inline`).
    config.concurrency = 0;
    // Plan as soon as the instant's events have settled: under the paused clock the planner's
    // sleep ends only when every task is idle, and the shortest sleep keeps the plan closest to
    // the events that asked for it (tokio's timer resolution is 1 ms).
    config.settings.plan_coalesce = std::time::Duration::from_millis(1);
    if let Some(connector) = seeds {
        config.seed_connector = Arc::new(connector);
    }
    if let Some(secs) = resync {
        config.settings.resync = std::time::Duration::from_secs(secs.max(1) as u64);
    }
    let handle = app::start(
        emulator.client_with_user_agent(CONTROLLER_USER_AGENT),
        config,
    );
    Ok((
        ControllerHandle {
            inner: Some(handle),
        },
        rx,
    ))
}
