//! Starting the real controller on the emulator with a virtual clock and a decision sink.

use fleetward_controller::decision::DecisionRecord;
use fleetward_emulator::Emulator;
use fleetward_sdk::wire::Timestamp;
use tokio::sync::mpsc::UnboundedReceiver;

use super::DriverError;

/// A running controller; stopped by [`ControllerHandle::stop`].
#[derive(Debug)]
pub struct ControllerHandle {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ControllerHandle {
    /// Stops the controller.
    pub async fn stop(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Starts the controller against `emulator` with its clock starting at `start`; returns its
/// handle and the receiving end of its decision sink.
///
/// # Errors
/// [`DriverError::Start`] when the controller cannot start.
pub async fn start(
    _emulator: &Emulator,
    _start: Timestamp,
) -> Result<(ControllerHandle, UnboundedReceiver<DecisionRecord>), DriverError> {
    Err(DriverError::Start {
        what: "controller".into(),
        message: "the controller's entry point is not available yet".into(),
    })
}
