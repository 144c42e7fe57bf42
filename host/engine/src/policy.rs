//! A module bound to a tenant: its config, its limits, and the calls it answers.
//!
//! The async methods are what the controller uses. Guest code can spin for its whole timeout,
//! so it never runs on a tokio worker thread: each call waits for a permit of the engine's
//! semaphore (bounding how many guests run at once) and then runs on tokio's blocking pool, in
//! the caller's tracing span. `call_json_blocking` is the same call on the caller's thread, for
//! the CLI and benchmarks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Digest as _;

use fleetward_sdk::wire::{
    ABI_VERSION, CallKind, DecisionKind, PlacementDecision, PlacementRequest, RemediationDecision,
    RemediationRequest, Timestamp, UpgradeDecision, UpgradeRequest,
};

use crate::config::{MAX_CONFIG_BYTES, MAX_INPUT_BYTES};
use crate::engine::Engine;
use crate::error::call_name;
use crate::{Digest, Limits, PolicyError, PolicyErrorKind, PolicyModule, call, output};

/// What a successful decision produced.
#[derive(Clone, Debug)]
pub struct Outcome<T> {
    /// The decision, typed.
    pub decision: T,
    /// What the policy wrote to stdout/stderr (at most 64 KiB plus a truncation note).
    pub logs: String,
    /// Fuel the call used: `Some` only for tenants with a fuel limit ([`Limits::fuel`]), whose
    /// calls run fuel-metered code; `None` otherwise (unmetered code, 8-45% faster).
    pub fuel_consumed: Option<u64>,
    /// Wall-clock time of the call, instantiation included.
    pub duration: Duration,
    /// Hex SHA-256 of the exact input envelope bytes, for the audit ledger.
    pub input_sha256: String,
    /// The `ok` decision, re-serialised canonically (`serde_json::to_string` of the value).
    pub output_json: String,
    /// The exact input envelope bytes the module read (the decision log records them;
    /// `input_sha256` is their digest).
    pub input: Arc<[u8]>,
}

/// A module bound to a tenant, its config and limits. Cheap to clone.
#[derive(Clone)]
pub struct TenantPolicy {
    inner: Arc<TenantInner>,
}

struct TenantInner {
    engine: Engine,
    module: PolicyModule,
    tenant: String,
    config: Value,
    /// Hex SHA-256 of the config's canonical JSON (as it is embedded in every input envelope).
    config_sha256: String,
    limits: Limits,
}

/// The input envelope, borrowed; serialises exactly like `wire::InputEnvelope`.
#[derive(Serialize)]
struct InputRef<'a, R: Serialize> {
    abi_version: u32,
    decision: CallKind,
    now: Timestamp,
    tenant: &'a str,
    config: &'a Value,
    request: &'a R,
}

impl TenantPolicy {
    /// Binds and, if the module validates configs, checks `config` with it.
    pub(crate) fn bind(
        engine: Engine,
        module: &PolicyModule,
        tenant: &str,
        config: Value,
        mut limits: Limits,
    ) -> Result<TenantPolicy, PolicyError> {
        let err = |kind| module.error(kind).with_tenant(tenant);
        let canonical =
            serde_json::to_vec(&config).map_err(|e| err(PolicyErrorKind::internal(e)))?;
        let size = canonical.len();
        let config_sha256 = crate::digest::to_hex(&sha2::Sha256::digest(&canonical));
        drop(canonical);
        if size > MAX_CONFIG_BYTES {
            return Err(err(PolicyErrorKind::ConfigTooLarge {
                size,
                limit: MAX_CONFIG_BYTES,
            }));
        }
        check_limits(&limits, engine.max_memory_per_instance()).map_err(err)?;
        let declared = module.info().initial_memory_bytes;
        if declared > limits.memory_bytes {
            return Err(err(PolicyErrorKind::InitialMemoryOverLimit {
                declared,
                limit: limits.memory_bytes,
            }));
        }
        if limits.fuel.is_some() && !engine.fuel_metering() {
            tracing::warn!(
                tenant,
                "tenant fuel limit ignored: the engine was created without fuel metering"
            );
            limits.fuel = None;
        }
        let policy = TenantPolicy {
            inner: Arc::new(TenantInner {
                engine,
                module: module.clone(),
                tenant: tenant.to_string(),
                config,
                config_sha256,
                limits,
            }),
        };
        let target = policy
            .target()
            .map_err(|kind| policy.module().error(kind).with_tenant(tenant))?;
        let validate_config = target.exports.validate_config;
        if validate_config.is_none() {
            // Every call starts like this; a module that cannot start under this tenant's
            // limits is refused now, not at its first decision.
            call::probe(target, &policy.inner.limits)
                .map_err(|kind| policy.module().error(kind).with_tenant(tenant))?;
        }
        if let Some(export) = validate_config {
            match policy.run(
                CallKind::ValidateConfig,
                &export,
                &Value::Null,
                Timestamp(0),
            ) {
                Ok(_) => {}
                Err(mut e) => {
                    if let PolicyErrorKind::Declined { code, message } = e.kind {
                        e.kind = PolicyErrorKind::ConfigRejected { code, message };
                    }
                    return Err(e);
                }
            }
        }
        Ok(policy)
    }

    /// The tenant this policy is bound to.
    pub fn tenant(&self) -> &str {
        &self.inner.tenant
    }

    /// The module's digest.
    pub fn digest(&self) -> &Digest {
        self.inner.module.digest()
    }

    /// Hex SHA-256 of the tenant config's canonical JSON (`serde_json::to_vec`), the
    /// decision log's `config_sha256`.
    pub fn config_sha256(&self) -> &str {
        &self.inner.config_sha256
    }

    /// The limits in force (as given, except a fuel limit dropped when the engine does not
    /// meter fuel).
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The module.
    pub fn module(&self) -> &PolicyModule {
        &self.inner.module
    }

    /// The input envelope a call of `kind` on `request` at `now` reads, byte for byte (the same
    /// code builds both): the decision log records it for a call that failed.
    ///
    /// # Errors
    /// The request does not serialise, or the envelope is over the input cap
    /// ([`PolicyErrorKind::InputTooLarge`]).
    pub fn input<R: Serialize>(
        &self,
        kind: DecisionKind,
        request: &R,
        now: Timestamp,
    ) -> Result<Vec<u8>, PolicyError> {
        self.envelope(kind.into(), request, now)
    }

    /// Asks the placement decision.
    ///
    /// # Errors
    /// Any [`PolicyErrorKind`] a call can end with; see [`TenantPolicy::call_json_blocking`].
    pub async fn place(
        &self,
        req: &PlacementRequest,
        now: Timestamp,
    ) -> Result<Outcome<PlacementDecision>, PolicyError> {
        self.decide(DecisionKind::Placement, req, now).await
    }

    /// Asks the upgrade-ordering decision.
    ///
    /// # Errors
    /// Any [`PolicyErrorKind`] a call can end with; see [`TenantPolicy::call_json_blocking`].
    pub async fn order_upgrades(
        &self,
        req: &UpgradeRequest,
        now: Timestamp,
    ) -> Result<Outcome<UpgradeDecision>, PolicyError> {
        self.decide(DecisionKind::UpgradeOrdering, req, now).await
    }

    /// Asks the remediation decision.
    ///
    /// # Errors
    /// Any [`PolicyErrorKind`] a call can end with; see [`TenantPolicy::call_json_blocking`].
    pub async fn remediate(
        &self,
        req: &RemediationRequest,
        now: Timestamp,
    ) -> Result<Outcome<RemediationDecision>, PolicyError> {
        self.decide(DecisionKind::Remediation, req, now).await
    }

    /// One decision, untyped, on the caller's thread (no semaphore): for the CLI and benches.
    ///
    /// # Errors
    /// `DecisionNotImplemented` if the module lacks the export; `InputTooLarge` before running;
    /// `TimedOut`, `OutOfFuel`, `MemoryLimitExceeded`, `StackExhausted`, `Trap`,
    /// `PolicyExited`, `AbiMismatch` from the run; `InvalidOutput`, `OutputTooLarge`,
    /// `Declined` from the output. Every error names tenant, digest and call.
    pub fn call_json_blocking(
        &self,
        kind: DecisionKind,
        request: &Value,
        now: Timestamp,
    ) -> Result<Outcome<Value>, PolicyError> {
        let export = self.entry(kind)?;
        let input: Arc<[u8]> = self.envelope(kind.into(), request, now)?.into();
        let raw = self.run_bytes(kind.into(), &export, &input, now)?;
        Ok(Outcome {
            output_json: raw.ok.to_string(),
            decision: raw.ok,
            logs: raw.logs,
            fuel_consumed: raw.fuel_consumed,
            duration: raw.duration,
            input_sha256: raw.input_sha256,
            input,
        })
    }

    async fn decide<Req, D>(
        &self,
        kind: DecisionKind,
        req: &Req,
        now: Timestamp,
    ) -> Result<Outcome<D>, PolicyError>
    where
        Req: Serialize,
        D: DeserializeOwned + Send + 'static,
    {
        let export = self.entry(kind)?;
        let input: Arc<[u8]> = self.envelope(kind.into(), req, now)?.into();
        let internal = |e: &dyn fmt::Display| self.error(kind.into(), PolicyErrorKind::internal(e));
        let permit = Arc::clone(self.inner.engine.semaphore())
            .acquire_owned()
            .await
            .map_err(|e| internal(&e))?;
        let this = self.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _permit = permit;
            let raw = this.run_bytes(kind.into(), &export, &input, now)?;
            let output_json = raw.ok.to_string();
            let decision =
                output::typed::<D>("ok", raw.ok).map_err(|e| this.error(kind.into(), e))?;
            Ok(Outcome {
                decision,
                logs: raw.logs,
                fuel_consumed: raw.fuel_consumed,
                duration: raw.duration,
                input_sha256: raw.input_sha256,
                output_json,
                input,
            })
        })
        .await
        .map_err(|e| internal(&e))?
    }

    /// The engine and compiled module this tenant's calls run on: fuel-metered only if the
    /// tenant has a fuel limit (compiled for the metered engine at bind).
    fn target(&self) -> Result<call::Target<'_>, PolicyErrorKind> {
        self.inner
            .engine
            .target(&self.inner.module, self.inner.limits.fuel.is_some())
    }

    fn entry(&self, kind: DecisionKind) -> Result<wasmtime::ModuleExport, PolicyError> {
        self.target()
            .map_err(|e| self.error(kind.into(), e))?
            .exports
            .decision(kind)
            .copied()
            .ok_or_else(|| {
                self.error(
                    kind.into(),
                    PolicyErrorKind::DecisionNotImplemented { kind },
                )
            })
    }

    fn error(&self, call: CallKind, kind: PolicyErrorKind) -> PolicyError {
        self.inner
            .module
            .error(kind)
            .with_tenant(&self.inner.tenant)
            .with_call(call)
    }

    /// The serialised input envelope, refused if over the input cap.
    fn envelope<R: Serialize>(
        &self,
        call: CallKind,
        request: &R,
        now: Timestamp,
    ) -> Result<Vec<u8>, PolicyError> {
        let bytes = envelope_bytes(call, &self.inner.tenant, &self.inner.config, request, now)
            .map_err(|e| self.error(call, PolicyErrorKind::internal(e)))?;
        if bytes.len() > MAX_INPUT_BYTES {
            return Err(self.error(
                call,
                PolicyErrorKind::InputTooLarge {
                    size: bytes.len(),
                    limit: MAX_INPUT_BYTES,
                },
            ));
        }
        Ok(bytes)
    }

    fn run<R: Serialize>(
        &self,
        call: CallKind,
        export: &wasmtime::ModuleExport,
        request: &R,
        now: Timestamp,
    ) -> Result<call::RawOutcome, PolicyError> {
        let input = self.envelope(call, request, now)?;
        self.run_bytes(call, export, &input, now)
    }

    fn run_bytes(
        &self,
        call: CallKind,
        export: &wasmtime::ModuleExport,
        input: &[u8],
        now: Timestamp,
    ) -> Result<call::RawOutcome, PolicyError> {
        let span = tracing::debug_span!(
            "policy_call",
            tenant = %self.inner.tenant,
            digest = %self.digest(),
            call = call_name(call),
        );
        let _entered = span.enter();
        let target = self.target().map_err(|e| self.error(call, e))?;
        call::run(target, &self.inner.limits, export, input, now)
            .map_err(|f| self.error(call, f.kind).with_log(f.log))
    }
}

/// The input envelope of a `call` exactly as a policy call serialises it: the same code path,
/// so the same bytes. The controller uses it for the built-in's decisions (with `config` =
/// `null`), whose decision-log record then holds the envelope a module would have read.
///
/// # Errors
/// The request does not serialise (a map with non-string keys, a float that is not finite).
pub fn envelope_bytes<R: Serialize>(
    call: CallKind,
    tenant: &str,
    config: &Value,
    request: &R,
    now: Timestamp,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&InputRef {
        abi_version: ABI_VERSION,
        decision: call,
        now,
        tenant,
        config,
        request,
    })
}

/// Refuses limits the engine cannot enforce as written, instead of silently changing them.
fn check_limits(limits: &Limits, memory_ceiling: u64) -> Result<(), PolicyErrorKind> {
    let range = |what, value: u64, min: u64, max: u64| {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(PolicyErrorKind::LimitOutOfRange {
                what,
                value,
                min,
                max,
            })
        }
    };
    range(
        "memory limit (bytes)",
        limits.memory_bytes,
        64 * 1024,
        memory_ceiling,
    )?;
    let millis = u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX);
    range(
        "timeout (ms)",
        millis,
        1,
        crate::MAX_TIMEOUT.as_millis() as u64,
    )?;
    if let Some(fuel) = limits.fuel {
        range("fuel", fuel, 1, u64::MAX)?;
    }
    Ok(())
}

impl fmt::Debug for TenantPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantPolicy")
            .field("tenant", &self.inner.tenant)
            .field("digest", self.digest())
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use fleetward_sdk::wire::InputEnvelope;

    use super::*;

    #[test]
    fn borrowed_envelope_serialises_like_the_sdk_type() {
        let now = Timestamp::parse("2026-11-25T17:00:00Z").unwrap();
        let config = serde_json::json!({"waves": ["dev", "prod"]});
        let request = serde_json::json!({"x": 1});
        let borrowed = envelope_bytes(CallKind::Placement, "acme", &config, &request, now).unwrap();
        let owned = InputEnvelope {
            abi_version: ABI_VERSION,
            decision: CallKind::Placement,
            now,
            tenant: "acme".to_string(),
            config: config.clone(),
            request: request.clone(),
        };
        assert_eq!(borrowed, serde_json::to_vec(&owned).unwrap());
    }
}
