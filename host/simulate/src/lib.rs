//! fleetward simulate: the real controller on an emulated fleet under virtual time.
#![forbid(unsafe_code)]

mod builtin;
pub mod invariants;
pub mod record;
pub mod scenario;
pub mod summary;
