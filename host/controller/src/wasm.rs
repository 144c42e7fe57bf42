//! The production [`ModuleLoader`]: tenant modules run in the sandboxed Wasm engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetward_engine::{Engine, Limits, Outcome, PolicyError, TenantPolicy};
use fleetward_sdk::wire::{
    DecisionKind, PlacementDecision, PlacementRequest, RemediationDecision, RemediationRequest,
    Timestamp, UpgradeDecision, UpgradeRequest,
};
use futures::future::BoxFuture;

use crate::crd::PolicyLimits;
use crate::policy::{Answer, CallFailed, DecisionPolicy, ModuleLoader, PolicyFailure};

/// Loads modules into one process-wide [`Engine`].
#[derive(Clone, Debug)]
pub struct EngineLoader {
    engine: Engine,
}

impl EngineLoader {
    /// Wraps an engine.
    pub fn new(engine: Engine) -> Self {
        EngineLoader { engine }
    }
}

/// The failure as the controller records it. The engine attaches the policy's last log lines
/// to a trap or panic; they go to the controller's log here, not into the message: the message
/// becomes decision reasons, `PolicyDegraded` and Events, which stay one line an operator reads
/// in `kubectl describe`, and a tenant's log output (up to 4 KiB) never grows status objects.
fn failure(mut e: PolicyError) -> PolicyFailure {
    let tail = e.log.take();
    let message = e.to_string();
    if let Some(tail) = tail {
        tracing::warn!(label = e.metric_label(), "{message}; {tail}");
    }
    PolicyFailure {
        label: e.metric_label().to_string(),
        message,
    }
}

/// Engine limits from the Tenant's limits (unset fields keep the engine defaults).
pub fn limits(l: &PolicyLimits) -> Limits {
    let d = Limits::default();
    Limits {
        memory_bytes: l
            .memory_mib
            .map(|m| u64::from(m) * 1024 * 1024)
            .unwrap_or(d.memory_bytes),
        timeout: l
            .timeout_ms
            .map(|t| Duration::from_millis(u64::from(t)))
            .unwrap_or(d.timeout),
        fuel: l.fuel.or(d.fuel),
    }
}

impl ModuleLoader for EngineLoader {
    /// Loads and binds on tokio's blocking pool: compiling may take the engine's whole compile
    /// budget (in a child process with `fleetward run`), and the `_initialize` probe the
    /// tenant's timeout; neither may hold an async worker.
    fn load(
        &self,
        tenant: String,
        bytes: Vec<u8>,
        config: serde_json::Value,
        l: PolicyLimits,
    ) -> BoxFuture<'static, Result<Arc<dyn DecisionPolicy>, PolicyFailure>> {
        let engine = self.engine.clone();
        let span = tracing::Span::current();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let _entered = span.enter();
                let module = engine.load(&bytes).map_err(failure)?;
                let bound = engine
                    .bind(&module, &tenant, config, limits(&l))
                    .map_err(failure)?;
                Ok(Arc::new(WasmPolicy(bound)) as Arc<dyn DecisionPolicy>)
            })
            .await
            .map_err(|e| PolicyFailure {
                label: "internal".into(),
                message: format!("module load task failed: {e}"),
            })?
        })
    }
}

/// A bound Wasm policy.
#[derive(Clone, Debug)]
pub struct WasmPolicy(pub TenantPolicy);

/// The answer, or the failure with the input it was given (`input`: the same envelope, made
/// again by the engine's own code, only when the call failed) and how long it ran (`started`:
/// when the call was asked).
fn answer<T>(
    r: Result<Outcome<T>, PolicyError>,
    started: Instant,
    input: impl FnOnce() -> Option<Arc<[u8]>>,
) -> Result<Answer<T>, CallFailed> {
    r.map(|o| Answer {
        decision: o.decision,
        input_sha256: o.input_sha256,
        output_json: o.output_json,
        input: o.input,
        fuel: o.fuel_consumed,
        duration: Some(o.duration),
    })
    .map_err(|e| {
        let input = input();
        CallFailed {
            failure: failure(e),
            duration: input.is_some().then(|| started.elapsed()),
            input,
        }
    })
}

impl DecisionPolicy for WasmPolicy {
    fn digest(&self) -> String {
        self.0.digest().to_string()
    }
    fn config_sha256(&self) -> Option<String> {
        Some(self.0.config_sha256().to_string())
    }
    fn place<'a>(
        &'a self,
        req: &'a PlacementRequest,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<PlacementDecision>, CallFailed>> {
        Box::pin(async move {
            let started = Instant::now();
            let input = || {
                self.0
                    .input(DecisionKind::Placement, req, now)
                    .ok()
                    .map(Arc::from)
            };
            answer(self.0.place(req, now).await, started, input)
        })
    }
    fn order_upgrades<'a>(
        &'a self,
        req: &'a UpgradeRequest,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<UpgradeDecision>, CallFailed>> {
        Box::pin(async move {
            let started = Instant::now();
            let input = || {
                self.0
                    .input(DecisionKind::UpgradeOrdering, req, now)
                    .ok()
                    .map(Arc::from)
            };
            answer(self.0.order_upgrades(req, now).await, started, input)
        })
    }
    fn remediate<'a>(
        &'a self,
        req: &'a RemediationRequest,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<RemediationDecision>, CallFailed>> {
        Box::pin(async move {
            let started = Instant::now();
            let input = || {
                self.0
                    .input(DecisionKind::Remediation, req, now)
                    .ok()
                    .map(Arc::from)
            };
            answer(self.0.remediate(req, now).await, started, input)
        })
    }
}

#[cfg(test)]
mod tests {
    use fleetward_engine::{LogTail, PolicyErrorKind};

    use super::*;

    /// A panic's message stays on the one line the controller records; the policy's log lines
    /// that came with it are not part of it.
    #[test]
    fn a_failure_with_a_log_tail_is_recorded_as_one_line() {
        let e = PolicyError {
            tenant: Some("acme".into()),
            digest: None,
            call: None,
            kind: PolicyErrorKind::Trap {
                message: "wasm trap: unreachable".into(),
                frames: vec![],
            },
            log: Some(Box::new(LogTail {
                lines: vec!["info: step 1".into(), "info: step 2".into()],
                earlier: 0,
            })),
        };
        assert!(
            e.to_string().contains("step 2"),
            "the engine's Display has the tail"
        );
        let f = failure(e);
        assert_eq!(f.label, "trap");
        assert!(!f.message.contains('\n'), "{:?}", f.message);
        assert!(!f.message.contains("step"), "{:?}", f.message);
        assert!(
            f.message.contains("wasm trap: unreachable"),
            "{:?}",
            f.message
        );
    }
}
