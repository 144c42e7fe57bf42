//! Starting the real controller on the emulator with a virtual clock and a decision sink.
//!
//! This is `fleetward_controller::app::start`, unchanged, with the three things a simulation
//! swaps in: the emulator's in-process client, a [`VirtualClock`] on tokio's paused clock, and
//! a [`DecisionSink`](fleetward_controller::decision::DecisionSink) feeding the ledger. The
//! scenario's `controller:` overrides (resync, upgrade caps, remediation rate limits) go into
//! its [`Settings`](fleetward_controller::reconcile::Settings).
//!
//! [`ControllerHandle::restart`] (`restartController`) stops the controller and starts a fresh
//! one with the same configuration, the same clock and the same decision channel: the new
//! controller knows only what the API servers hold, as after a crash, while the ledger reads as
//! one stream.

use std::sync::Arc;

use fleetward_controller::app::{self, ControllerConfig};
use fleetward_controller::clock::VirtualClock;
use fleetward_controller::decision::DecisionRecord;
use fleetward_controller::decision_log::DecisionLog;
use fleetward_controller::decision_log::sink::Collected;
use fleetward_controller::reconcile::Settings;
use fleetward_controller::seeds::InProcessConnector;
use fleetward_controller::wasm::EngineLoader;
use fleetward_emulator::Emulator;
use fleetward_engine::{Engine, EngineConfig};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::DriverError;
use crate::scenario::{ControllerTunables, Scenario};

/// User agent of the controller's writes, as the emulator's audit log shows them.
pub const CONTROLLER_USER_AGENT: &str = "fleetward-controller";

/// A running controller; stopped by [`ControllerHandle::stop`], replaced by
/// [`ControllerHandle::restart`].
pub struct ControllerHandle {
    inner: Option<app::ControllerHandle>,
    /// What a (re)start needs: the management server, the one virtual clock, the decision
    /// channel's sending end, the seed connector and the settings.
    emulator: Emulator,
    clock: Arc<VirtualClock>,
    sink: UnboundedSender<DecisionRecord>,
    /// The decision log, kept in memory (`decisions.jsonl`); the same across restarts.
    log: DecisionLog,
    seeds: Option<InProcessConnector>,
    settings: Settings,
    /// Controllers started so far (1 + restarts).
    generation: u32,
}

impl std::fmt::Debug for ControllerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerHandle")
            .field("running", &self.inner.is_some())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl ControllerHandle {
    /// Stops the controller and waits for in-flight reconciles.
    pub async fn stop(mut self) {
        if let Some(h) = self.inner.take() {
            h.shutdown().await;
        }
    }

    /// Stops the running controller (graceful: in-flight reconciles finish) and starts a fresh
    /// one: new caches, work queues, planner memory, policy registry and metrics; same servers,
    /// clock, settings and decision channel.
    ///
    /// # Errors
    /// [`DriverError::Start`] when the new controller's policy engine cannot be created.
    pub async fn restart(&mut self) -> Result<(), DriverError> {
        if let Some(h) = self.inner.take() {
            h.shutdown().await;
        }
        self.inner = Some(launch(
            &self.emulator,
            &self.clock,
            &self.sink,
            &self.log,
            self.seeds.clone(),
            &self.settings,
        )?);
        self.generation += 1;
        Ok(())
    }
}

/// The controller's settings for a simulation: the defaults, the simulation's scheduling
/// measures and the scenario's `controller:` overrides.
pub fn settings(t: &ControllerTunables) -> Settings {
    let mut s = Settings {
        // Plan as soon as the instant's events have settled: under the paused clock the
        // planner's sleep ends only when every task is idle, and the shortest sleep keeps the
        // plan closest to the events that asked for it (tokio's timer resolution is 1 ms).
        plan_coalesce: std::time::Duration::from_millis(1),
        ..Settings::default()
    };
    if let Some(secs) = t.resync {
        s.resync = std::time::Duration::from_secs(secs.max(1) as u64);
    }
    if let Some(n) = t.max_concurrent {
        s.upgrade_limits.max_concurrent = n;
    }
    if let Some(n) = t.max_concurrent_per_seed {
        s.upgrade_limits.max_concurrent_per_seed = n;
    }
    if let Some(secs) = t.remediation_window {
        s.remediation_limits.window_secs = secs;
    }
    if let Some(n) = t.remediation_per_cluster {
        s.remediation_limits.per_cluster = n;
    }
    if let Some(n) = t.remediation_per_seed {
        s.remediation_limits.per_seed = n;
    }
    if let Some(n) = t.remediation_per_tenant {
        s.remediation_limits.per_tenant = n;
    }
    s
}

fn launch(
    emulator: &Emulator,
    clock: &Arc<VirtualClock>,
    sink: &UnboundedSender<DecisionRecord>,
    log: &DecisionLog,
    seeds: Option<InProcessConnector>,
    settings: &Settings,
) -> Result<app::ControllerHandle, DriverError> {
    let engine = Engine::new(EngineConfig::default()).map_err(|e| DriverError::Start {
        what: "policy engine".into(),
        message: e.to_string(),
    })?;
    let loader = super::inline::InlineLoader(Arc::new(EngineLoader::new(engine)));
    let mut config = ControllerConfig::new(Arc::new(loader));
    config.clock = clock.clone();
    config.decision_sink = Some(sink.clone());
    config.decision_log = log.clone();
    // No concurrency cap. With a cap, kube-runtime parks the objects that are due while the cap
    // is full in a HashSet and releases them in hash order, which differs between processes:
    // the same scenario then made a different number of intermediate status writes per run.
    // Uncapped, due objects start in their queue order; policy calls cannot reorder them
    // because they answer inline (see `inline`).
    config.concurrency = 0;
    config.settings = settings.clone();
    if let Some(connector) = seeds {
        config.seed_connector = Arc::new(connector);
    }
    Ok(app::start(
        emulator.client_with_user_agent(CONTROLLER_USER_AGENT),
        config,
    ))
}

/// Starts the controller against `emulator` with its clock at the scenario's start and the
/// scenario's `controller:` settings; returns its handle, the receiving end of its decision
/// sink and its decision log's records (both the same across restarts). `seeds` serves the seeds' own API servers
/// (`topology: seeds`); `None` keeps the controller's default connector, which no scenario
/// without seed locations ever uses.
///
/// # Errors
/// [`DriverError::Start`] when the policy engine cannot be created.
pub async fn start(
    emulator: &Emulator,
    scenario: &Scenario,
    seeds: Option<InProcessConnector>,
) -> Result<
    (
        ControllerHandle,
        UnboundedReceiver<DecisionRecord>,
        Collected,
    ),
    DriverError,
> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (log, logged) = DecisionLog::memory();
    let clock = Arc::new(VirtualClock::starting_at(scenario.start));
    let settings = settings(&scenario.controller);
    let inner = launch(emulator, &clock, &tx, &log, seeds.clone(), &settings)?;
    Ok((
        ControllerHandle {
            inner: Some(inner),
            emulator: emulator.clone(),
            clock,
            sink: tx,
            log,
            seeds,
            settings,
            generation: 1,
        },
        rx,
        logged,
    ))
}
