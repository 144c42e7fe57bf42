//! Seeds as separate API servers: how the controller reaches each one.
//!
//! A `Seed` without `spec.location.kubeconfigSecret` is the management cluster itself; a seed
//! with one is reached with the kubeconfig in that Secret ([`connect`]). Each API server gets one
//! [`SeedConn`] (client, reflector caches of Fleetward's children there, reachability, a
//! per-seed bound on concurrent work); the [`SeedRegistry`] holds them and answers whether a
//! reconcile may work on a seed now. What an API error means for a seed, and the `Ready`
//! condition's wording, are pure: [`crate::core::seeds`].

pub mod conn;
pub mod connect;
pub mod json_view;
pub mod registry;

pub use conn::{Reach, SeedConn};
pub use registry::{Access, SeedRegistry};

pub use connect::{
    ConnectError, InProcessConnector, KubeconfigConnector, KubeconfigProblem, SeedConnector,
    SeedKubeconfig, token_kubeconfig,
};
