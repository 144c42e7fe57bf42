//! The policy-binding types: what serves one tenant's decision kind, how it is made from module
//! bytes, and what a call returns.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

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
    /// The input envelope, exactly the bytes the module read (the decision log's `input`).
    pub input: Arc<[u8]>,
    /// Fuel the call used (tenants with a fuel limit).
    pub fuel: Option<u64>,
    /// Wall-clock time of the call.
    pub duration: Option<Duration>,
}

/// A failed policy call: the failure, and what the decision log records of the call.
#[derive(Clone, Debug)]
pub struct CallFailed {
    /// What failed.
    pub failure: PolicyFailure,
    /// The input envelope the module was given, if one was built.
    pub input: Option<Arc<[u8]>>,
    /// Wall-clock time until the call failed, if it ran.
    pub duration: Option<Duration>,
}

impl From<PolicyFailure> for CallFailed {
    fn from(failure: PolicyFailure) -> Self {
        CallFailed {
            failure,
            input: None,
            duration: None,
        }
    }
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
    /// Hex SHA-256 of the tenant config the module is bound with (canonical JSON), for the
    /// decision log; `None` where there is none (native stand-ins).
    fn config_sha256(&self) -> Option<String> {
        None
    }
    /// Placement.
    fn place<'a>(
        &'a self,
        req: &'a PlacementRequest,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<PlacementDecision>, CallFailed>>;
    /// Upgrade ordering.
    fn order_upgrades<'a>(
        &'a self,
        req: &'a UpgradeRequest,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<UpgradeDecision>, CallFailed>>;
    /// Remediation.
    fn remediate<'a>(
        &'a self,
        req: &'a RemediationRequest,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<RemediationDecision>, CallFailed>>;
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
