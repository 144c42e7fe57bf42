//! Seeds as separate API servers: how the controller reaches each one.
//!
//! A `Seed` without `spec.location.kubeconfigSecret` is the management cluster itself; a seed
//! with one is reached with the kubeconfig in that Secret ([`connect`]).

pub mod connect;

pub use connect::{
    ConnectError, InProcessConnector, KubeconfigConnector, KubeconfigProblem, SeedConnector,
    SeedKubeconfig, token_kubeconfig,
};
