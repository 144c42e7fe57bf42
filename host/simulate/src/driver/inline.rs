//! Policy calls that finish before anything else moves: the simulator's determinism lever.
//!
//! In production the engine runs guest code on tokio's blocking pool so a slow policy never
//! stalls the controller. In a simulation that concurrency is a source of noise: while a call
//! runs on a pool thread, the single-threaded runtime keeps polling the other tasks (fake
//! kubelet, watches, other reconciles), and how far they get depends on how many microseconds
//! of *real* time the call took. Two runs of one scenario could then see different states.
//!
//! [`InlineLoader`] wraps the controller's loader and makes every call synchronous from the
//! runtime's point of view: the call still runs on the blocking pool (guest code never runs on
//! the runtime thread), but the runtime thread waits for it, so no task moves and no virtual
//! time passes during a decision. Inputs, outputs and hashes are exactly those of the
//! production path.

use std::sync::Arc;

use fleetward_controller::crd::PolicyLimits;
use fleetward_controller::policy::{
    Answer, CallFailed, DecisionPolicy, ModuleLoader, PolicyFailure,
};
use fleetward_sdk::wire::{
    PlacementDecision, PlacementRequest, RemediationDecision, RemediationRequest, Timestamp,
    UpgradeDecision, UpgradeRequest,
};
use futures::future::BoxFuture;

/// A [`ModuleLoader`] whose policies answer without yielding to the runtime.
#[derive(Debug)]
pub struct InlineLoader(pub Arc<dyn ModuleLoader>);

impl ModuleLoader for InlineLoader {
    /// Loads before the returned future is first polled, like the calls (the load itself still
    /// runs on the blocking pool): a simulated tenant's modules are ready at the same virtual
    /// instant in every run.
    fn load(
        &self,
        tenant: String,
        bytes: Vec<u8>,
        config: serde_json::Value,
        limits: PolicyLimits,
    ) -> BoxFuture<'static, Result<Arc<dyn DecisionPolicy>, PolicyFailure>> {
        let loaded = futures::executor::block_on(self.0.load(tenant, bytes, config, limits));
        let r = loaded.map(|inner| Arc::new(InlinePolicy(inner)) as Arc<dyn DecisionPolicy>);
        Box::pin(std::future::ready(r))
    }
}

/// A policy whose calls complete before the returned future is first polled.
#[derive(Debug)]
struct InlinePolicy(Arc<dyn DecisionPolicy>);

type Answered<'a, T> = BoxFuture<'a, Result<Answer<T>, CallFailed>>;

impl DecisionPolicy for InlinePolicy {
    fn digest(&self) -> String {
        self.0.digest()
    }

    fn config_sha256(&self) -> Option<String> {
        self.0.config_sha256()
    }

    fn place<'a>(
        &'a self,
        req: &'a PlacementRequest,
        now: Timestamp,
    ) -> Answered<'a, PlacementDecision> {
        let r = futures::executor::block_on(self.0.place(req, now));
        Box::pin(std::future::ready(r))
    }

    fn order_upgrades<'a>(
        &'a self,
        req: &'a UpgradeRequest,
        now: Timestamp,
    ) -> Answered<'a, UpgradeDecision> {
        let r = futures::executor::block_on(self.0.order_upgrades(req, now));
        Box::pin(std::future::ready(r))
    }

    fn remediate<'a>(
        &'a self,
        req: &'a RemediationRequest,
        now: Timestamp,
    ) -> Answered<'a, RemediationDecision> {
        let r = futures::executor::block_on(self.0.remediate(req, now));
        Box::pin(std::future::ready(r))
    }
}
