//! Fleetward controller: CRDs and the reconcilers that consult tenant policies.
#![forbid(unsafe_code)]

pub mod core;
pub mod crd;
