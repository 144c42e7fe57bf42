//! The functional core: pure functions that turn observed state plus policy answers into plans.
//!
//! Nothing here talks to Kubernetes or runs Wasm; the reconcilers (`crate::reconcile`) are the
//! shell around it. Every rule the host enforces whatever a policy says lives here, unit-tested.

pub mod decisions;
pub mod diff;
pub mod fair_share;
pub mod fallback;
pub mod health;
pub mod in_use;
pub mod invariants;
pub mod lifecycle;
pub mod placement;
pub mod planning;
pub mod provision;
pub mod rejection;
pub mod remediation;
pub mod retry;
pub mod rollout;
pub mod seeds;
pub mod signals;
pub mod spec;
pub mod write_budget;
