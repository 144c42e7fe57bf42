//! The policy-binding types: what serves one tenant's decision kind, how it is made from module
//! bytes, and what a call returns.

use std::fmt::Debug;
use std::sync::Arc;

use fleetward_sdk::wire::{
    PlacementDecision, PlacementRequest, RemediationDecision, RemediationRequest, Timestamp,
    UpgradeDecision, UpgradeRequest,
};
use futures::future::BoxFuture;

use crate::crd::{FailureMode, PolicyLimits};

/// A policy's successful answer with its audit data.
#[derive(Clone, Debug)]
pub struct Answer<T> {
    /// The decision.
    pub decision: T,
    /// Hex sha256 of the input envelope.
    pub input_sha256: String,
    /// Canonical decision JSON.
    pub output_json: String,
}

/// A failed policy call: a stable label (metrics, condition reason) and the full message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyFailure {
    /// e.g. `timed_out`, `trap`, `invalid_output`, `not_loaded`.
    pub label: String,
    /// What happened, naming tenant, digest and call.
    pub message: String,
}

/// Something that makes decisions for one tenant: a bound Wasm module, or a native stand-in in
/// tests. Object-safe so the registry can hold either.
pub trait DecisionPolicy: Send + Sync + Debug {
    /// `sha256:<hex>` of the module.
    fn digest(&self) -> String;
    /// Placement.
    fn place<'a>(
        &'a self,
        req: &'a PlacementRequest,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<PlacementDecision>, PolicyFailure>>;
    /// Upgrade ordering.
    fn order_upgrades<'a>(
        &'a self,
        req: &'a UpgradeRequest,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<UpgradeDecision>, PolicyFailure>>;
    /// Remediation.
    fn remediate<'a>(
        &'a self,
        req: &'a RemediationRequest,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<RemediationDecision>, PolicyFailure>>;
}

/// The state of one (tenant, kind) slot.
#[derive(Clone, Debug)]
pub struct Slot {
    /// What the Tenant asks for when its module fails.
    pub failure_mode: FailureMode,
    /// The module serving now, if any loaded.
    pub serving: Option<Arc<dyn DecisionPolicy>>,
    /// Why the wanted module is not serving (load error, digest mismatch), if so.
    pub load_error: Option<PolicyFailure>,
}

/// Turns verified module bytes into a bound policy (the Wasm engine in production:
/// `crate::wasm::EngineLoader`).
///
/// Asynchronous because loading can take up to the engine's compile budget (seconds, for a
/// module built to be expensive): the production loader runs it on tokio's blocking pool so no
/// async worker, and so no other tenant's reconcile, waits for it.
pub trait ModuleLoader: Send + Sync + Debug {
    /// Compiles (or fetches from cache) and binds `bytes` for `tenant`.
    ///
    /// # Errors
    /// A [`PolicyFailure`] naming why the module or config was rejected.
    fn load(
        &self,
        tenant: String,
        bytes: Vec<u8>,
        config: serde_json::Value,
        limits: PolicyLimits,
    ) -> BoxFuture<'static, std::result::Result<Arc<dyn DecisionPolicy>, PolicyFailure>>;
}
