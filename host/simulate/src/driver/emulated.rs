//! The production driver: the real controller and fake infrastructure on the emulator.

use fleetward_sdk::wire::ClusterRef;

use super::{Driver, DriverError};
use crate::record::Observation;
use crate::scenario::{Action, Scenario};

/// The real controller on an emulated fleet.
#[derive(Debug)]
pub struct EmulatedFleet {}

impl EmulatedFleet {
    /// A fleet for this scenario (started by [`Driver::setup`]).
    pub fn new(_scenario: &Scenario) -> Self {
        EmulatedFleet {}
    }
}

impl Driver for EmulatedFleet {
    async fn setup(&mut self, _scenario: &Scenario) -> Result<(), DriverError> {
        Err(DriverError::Start {
            what: "controller".into(),
            message: "not integrated yet".into(),
        })
    }

    async fn advance_to(&mut self, _at: i64) -> Vec<Observation> {
        Vec::new()
    }

    async fn act(&mut self, _action: &Action, _affected: &[ClusterRef]) -> Result<(), DriverError> {
        Ok(())
    }

    async fn shutdown(self) -> Vec<Observation> {
        Vec::new()
    }
}
