//! Fleetward controller: CRDs and the reconcilers that consult tenant policies.
#![forbid(unsafe_code)]

pub mod app;
pub mod clock;
pub mod core;
pub mod crd;
pub mod decision;
pub mod error;
pub mod metrics;
pub mod policy;
pub mod reconcile;
pub mod wasm;
