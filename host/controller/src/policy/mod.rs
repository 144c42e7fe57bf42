//! Which policy serves each tenant's decisions, and how a failure is turned into a decision per
//! the tenant's failure mode.
//!
//! `policy/binding.rs` holds what binds a module to a tenant's decision kind: the [`DecisionPolicy`]
//! trait, the [`ModuleLoader`] that makes one from module bytes, the registry's [`Slot`]s, and
//! the [`Answer`] / [`PolicyFailure`] a call returns. `crate::wasm` implements them with the
//! Wasm engine; `fleetward-simulate` and the tests import them from here.
//!
//! The registry holds, per tenant and decision kind, the module serving now (the last one that
//! loaded and matched its digest) and the failure mode. [`PolicyRegistry::decide`] is the one
//! place a decision is made: policy call → validation → on failure fallback or hold → record to
//! metrics and the decision sink.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use fleetward_sdk::wire::{
    DecisionKind, PlacementDecision, PlacementRequest, RemediationDecision, RemediationRequest,
    Timestamp, UpgradeDecision, UpgradeRequest,
};
use futures::future::BoxFuture;
use serde::Serialize;

mod binding;
pub mod shadow;

pub use binding::{Answer, CallFailed, DecisionPolicy, ModuleLoader, PolicyFailure, Slot};

use crate::core::fallback::{self, BUILTIN_DIGEST};
use crate::crd::FailureMode;
use crate::decision::DecisionOutcome;
use crate::metrics::Metrics;

/// A decision as the reconcilers receive it.
#[derive(Clone, Debug)]
pub struct Decided<T> {
    /// The decision to act on; `None` when held.
    pub decision: Option<T>,
    /// Digest of the module that decided, or `builtin`.
    pub digest: String,
    /// Outcome so far (reconcilers may still veto parts).
    pub outcome: DecisionOutcome,
    /// The policy failure, if one happened (drives `PolicyDegraded`).
    pub failure: Option<PolicyFailure>,
    /// Reason (policy's, or the failure).
    pub reason: String,
    /// Input digest for the ledger.
    pub input_sha256: String,
    /// Output JSON for the ledger.
    pub output_json: String,
    /// What the decision log records of the call.
    pub call: CallRecord,
}

/// The call behind a decision, as the decision log records it (`decision_log::entry`).
#[derive(Clone, Debug, Default)]
pub struct CallRecord {
    /// Digest of the module asked (`sha256:…`), or `builtin` when no module was (no binding, or
    /// the wanted module is not loaded).
    pub module: String,
    /// Hex SHA-256 of the module's tenant config (modules only).
    pub config_sha256: Option<String>,
    /// The input envelope the module read; for the built-in, the one a module would have read
    /// (`config: null`). `None` when none could be built, or when the registry does not record
    /// inputs ([`PolicyRegistry::recording_inputs`]).
    pub input: Option<Arc<[u8]>>,
    /// What the asked module (or built-in) answered, canonical JSON; `None` when the call failed
    /// before answering. A module's answer the host refused (`invalid_output`) is kept here.
    pub output: Option<String>,
    /// The call's failure.
    pub error: Option<PolicyFailure>,
    /// Fuel used (tenants with a fuel limit).
    pub fuel: Option<u64>,
    /// Wall-clock time of the call (modules only).
    pub duration: Option<Duration>,
}

/// All tenants' policies. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct PolicyRegistry {
    slots: Arc<RwLock<HashMap<(String, DecisionKind), Slot>>>,
    known_tenants: Arc<RwLock<HashMap<String, ()>>>,
    counters: Arc<RwLock<HashMap<String, std::collections::BTreeMap<String, u64>>>>,
    /// Bumped whenever a slot's policy, failure mode or load error changes (see
    /// [`PolicyRegistry::version`]).
    versions: Arc<RwLock<HashMap<(String, DecisionKind), u64>>>,
    /// Whether built-in decisions get their input envelope serialised for the decision log.
    record_inputs: bool,
    /// Tenants' shadow bindings, evaluated after each live decision (`policy/shadow.rs`).
    pub shadows: shadow::Shadows,
}

/// Whether two slots decide alike: the same loaded module (by identity: a reload with a new
/// config is a new one), failure mode and load error.
fn same_slot(a: Option<&Slot>, b: Option<&Slot>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let serving = match (&a.serving, &b.serving) {
                (None, None) => true,
                (Some(x), Some(y)) => Arc::ptr_eq(x, y),
                _ => false,
            };
            serving && a.failure_mode == b.failure_mode && a.load_error == b.load_error
        }
        _ => false,
    }
}

fn canonical<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl PolicyRegistry {
    /// Whether the built-in's decisions carry the input envelope a module would have read
    /// (default off: serialising a large fleet's upgrade request costs time no one reads
    /// without a decision log). A module's input is always kept: it exists anyway.
    pub fn recording_inputs(mut self, on: bool) -> Self {
        self.record_inputs = on;
        self
    }

    /// The built-in's input for the log: the envelope a module would have read, `config: null`.
    fn builtin_input<R: Serialize>(
        &self,
        env: &DecideEnv<'_>,
        kind: DecisionKind,
        req: &R,
    ) -> Option<Arc<[u8]>> {
        if !self.record_inputs {
            return None;
        }
        fleetward_engine::envelope_bytes(
            kind.into(),
            env.tenant,
            &serde_json::Value::Null,
            req,
            env.now,
        )
        .ok()
        .map(Arc::from)
    }

    /// Replaces a slot (the tenant reconciler calls this after (re)loading).
    pub fn set(&self, tenant: &str, kind: DecisionKind, slot: Option<Slot>) {
        if let Ok(mut s) = self.slots.write() {
            let key = (tenant.to_string(), kind);
            if !same_slot(s.get(&key), slot.as_ref())
                && let Ok(mut v) = self.versions.write()
            {
                *v.entry(key).or_insert(0) += 1;
            }
            match slot {
                Some(slot) => {
                    s.insert((tenant.to_string(), kind), slot);
                }
                None => {
                    s.remove(&(tenant.to_string(), kind));
                }
            }
        }
    }

    /// Marks a tenant as existing (or gone).
    pub fn set_tenant_known(&self, tenant: &str, known: bool) {
        if let Ok(mut t) = self.known_tenants.write() {
            if known {
                t.insert(tenant.to_string(), ());
            } else {
                t.remove(tenant);
                drop(t);
                for kind in DecisionKind::ALL {
                    self.set(tenant, kind, None);
                }
            }
        }
    }

    /// Whether a Tenant resource with this name exists.
    pub fn tenant_known(&self, tenant: &str) -> bool {
        self.known_tenants
            .read()
            .map(|t| t.contains_key(tenant))
            .unwrap_or(false)
    }

    /// Decisions made for a tenant so far, keyed `<kind>/<outcome>`.
    pub fn counters(&self, tenant: &str) -> std::collections::BTreeMap<String, u64> {
        self.counters
            .read()
            .ok()
            .and_then(|c| c.get(tenant).cloned())
            .unwrap_or_default()
    }

    /// A number that changes whenever what decides a tenant's `kind` changes: a module loaded
    /// (a new digest or config), removed or refused, or the failure mode changed. Callers that
    /// skip asking an unchanged policy about unchanged input (`reconcile::upgrades`,
    /// `reconcile::cluster::place`) key on it, so a new module is asked at once.
    pub fn version(&self, tenant: &str, kind: DecisionKind) -> u64 {
        self.versions
            .read()
            .ok()
            .and_then(|v| v.get(&(tenant.to_string(), kind)).copied())
            .unwrap_or(0)
    }

    /// The slot for a tenant and kind.
    pub fn slot(&self, tenant: &str, kind: DecisionKind) -> Option<Slot> {
        self.slots
            .read()
            .ok()?
            .get(&(tenant.to_string(), kind))
            .cloned()
    }

    async fn decide<'r, T, R, C, B>(
        &self,
        env: &DecideEnv<'_>,
        kind: DecisionKind,
        req: &R,
        call: C,
        builtin: B,
        validate: impl Fn(&T) -> Result<(), String>,
    ) -> Decided<T>
    where
        T: Serialize + Clone,
        R: Serialize,
        C: FnOnce(Arc<dyn DecisionPolicy>) -> BoxFuture<'r, Result<Answer<T>, CallFailed>>,
        B: FnOnce() -> T,
    {
        let started = Instant::now();
        let slot = self.slot(env.tenant, kind);
        let builtin_call = |output: Option<String>, error: Option<PolicyFailure>| CallRecord {
            module: BUILTIN_DIGEST.into(),
            input: self.builtin_input(env, kind, req),
            output,
            error,
            ..CallRecord::default()
        };
        type Failed = (PolicyFailure, Option<String>, FailureMode, CallRecord);
        let result: Result<(Answer<T>, String, CallRecord), Failed> = match &slot {
            None => {
                let decision = builtin();
                let output_json = canonical(&decision);
                return self.finish(
                    env,
                    kind,
                    started,
                    Decided {
                        reason: String::new(),
                        decision: Some(decision),
                        digest: BUILTIN_DIGEST.into(),
                        outcome: DecisionOutcome::Applied,
                        failure: None,
                        input_sha256: String::new(),
                        call: builtin_call(Some(output_json.clone()), None),
                        output_json,
                    },
                );
            }
            Some(Slot {
                serving: None,
                load_error,
                failure_mode,
            }) => {
                let failure = load_error.clone().unwrap_or(PolicyFailure {
                    label: "not_loaded".into(),
                    message: "policy module not loaded".into(),
                });
                // No module was asked: the built-in's envelope, and (with fallback) its answer.
                let call = builtin_call(None, Some(failure.clone()));
                Err((failure, None, *failure_mode, call))
            }
            Some(Slot {
                serving: Some(p),
                failure_mode,
                ..
            }) => {
                let digest = p.digest();
                let mut record = CallRecord {
                    module: digest.clone(),
                    config_sha256: p.config_sha256(),
                    ..CallRecord::default()
                };
                match call(p.clone()).await {
                    Ok(a) => {
                        record.input = Some(a.input.clone());
                        record.output = Some(a.output_json.clone());
                        record.fuel = a.fuel;
                        record.duration = a.duration;
                        match validate(&a.decision) {
                            Ok(()) => Ok((a, digest, record)),
                            Err(m) => {
                                let failure = PolicyFailure {
                                    label: "invalid_output".into(),
                                    message: format!("policy {digest}: {m}"),
                                };
                                record.error = Some(failure.clone());
                                Err((failure, Some(digest), *failure_mode, record))
                            }
                        }
                    }
                    Err(e) => {
                        record.input = e.input;
                        record.duration = e.duration;
                        record.error = Some(e.failure.clone());
                        Err((e.failure, Some(digest), *failure_mode, record))
                    }
                }
            }
        };
        let decided = match result {
            Ok((a, digest, call)) => Decided {
                reason: String::new(),
                decision: Some(a.decision),
                digest,
                outcome: DecisionOutcome::Applied,
                failure: None,
                input_sha256: a.input_sha256,
                output_json: a.output_json,
                call,
            },
            Err((failure, digest, mode, mut call)) => {
                env.metrics
                    .fallback(env.tenant, kind.as_str(), &failure.label);
                let digest = digest.unwrap_or_else(|| "none".into());
                match mode {
                    FailureMode::Fallback => {
                        let d = builtin();
                        let output_json = canonical(&d);
                        if call.module == BUILTIN_DIGEST {
                            call.output = Some(output_json.clone());
                        }
                        Decided {
                            output_json,
                            decision: Some(d),
                            digest: BUILTIN_DIGEST.into(),
                            outcome: DecisionOutcome::Fallback,
                            reason: fallback::fallback_reason(&failure),
                            failure: Some(failure),
                            input_sha256: String::new(),
                            call,
                        }
                    }
                    FailureMode::Hold => Decided {
                        decision: None,
                        digest,
                        outcome: DecisionOutcome::Held,
                        reason: fallback::hold_reason(&failure),
                        failure: Some(failure),
                        input_sha256: String::new(),
                        output_json: String::new(),
                        call,
                    },
                }
            }
        };
        self.finish(env, kind, started, decided)
    }

    fn finish<T>(
        &self,
        env: &DecideEnv<'_>,
        kind: DecisionKind,
        started: Instant,
        d: Decided<T>,
    ) -> Decided<T> {
        env.metrics.decision(
            env.tenant,
            kind.as_str(),
            d.outcome.as_str(),
            started.elapsed().as_secs_f64(),
        );
        d
    }

    /// Counts one outcome of a tenant's decision (`Tenant.status.decisions`, keyed
    /// `kind/outcome`). Called by the recording path (`reconcile::decisions`), once per outcome.
    pub(crate) fn count(&self, tenant: &str, kind: DecisionKind, outcome: &DecisionOutcome) {
        if let Ok(mut counters) = self.counters.write() {
            *counters
                .entry(tenant.to_string())
                .or_default()
                .entry(format!("{}/{}", kind.as_str(), outcome.as_str()))
                .or_insert(0) += 1;
        }
    }

    /// Placement for one cluster; the answer must name one of `req.seeds`.
    pub async fn place(
        &self,
        env: &DecideEnv<'_>,
        req: &PlacementRequest,
    ) -> Decided<PlacementDecision> {
        let now = env.now;
        let d = self
            .decide(
                env,
                DecisionKind::Placement,
                req,
                |p| Box::pin(async move { p.place(req, now).await }),
                || fallback::place(req),
                |d| {
                    crate::core::placement::validate(d, &req.seeds)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                },
            )
            .await;
        self.shadows.place(env, req, &d);
        d
    }

    /// Upgrade ordering for one tenant's fleet (invariants are applied by the caller).
    pub async fn order_upgrades(
        &self,
        env: &DecideEnv<'_>,
        req: &UpgradeRequest,
    ) -> Decided<UpgradeDecision> {
        let now = env.now;
        let d = self
            .decide(
                env,
                DecisionKind::UpgradeOrdering,
                req,
                |p| Box::pin(async move { p.order_upgrades(req, now).await }),
                || fallback::order_upgrades(req),
                // A hold waiting for approval must name a gate an operator can approve.
                crate::core::rollout::validate_answer,
            )
            .await;
        self.shadows.order_upgrades(env, req, &d);
        d
    }

    /// Remediation for one problem; the action must concern the problem's component.
    pub async fn remediate(
        &self,
        env: &DecideEnv<'_>,
        req: &RemediationRequest,
    ) -> Decided<RemediationDecision> {
        let now = env.now;
        let d = self
            .decide(
                env,
                DecisionKind::Remediation,
                req,
                |p| Box::pin(async move { p.remediate(req, now).await }),
                || fallback::remediate(req),
                |d| {
                    crate::core::remediation::validate(&req.problem, &d.action)
                        .map_err(|e| e.to_string())
                },
            )
            .await;
        self.shadows.remediate(env, req, &d);
        d
    }
}

/// Per-call environment for a decision.
#[derive(Debug)]
pub struct DecideEnv<'a> {
    /// Tenant.
    pub tenant: &'a str,
    /// Decision time.
    pub now: Timestamp,
    /// Metrics.
    pub metrics: &'a Metrics,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::placement::tests::{seed, to_place};

    #[derive(Debug)]
    struct Broken;
    impl DecisionPolicy for Broken {
        fn digest(&self) -> String {
            "sha256:broken".into()
        }
        fn place<'a>(
            &'a self,
            _: &'a PlacementRequest,
            _: Timestamp,
        ) -> BoxFuture<'a, Result<Answer<PlacementDecision>, CallFailed>> {
            Box::pin(async {
                Ok(Answer {
                    decision: PlacementDecision {
                        seed: Some("nowhere".into()),
                        reason: String::new(),
                        scores: vec![],
                    },
                    input_sha256: String::new(),
                    output_json: r#"{"reason":"","scores":[],"seed":"nowhere"}"#.into(),
                    input: Arc::from(&b"{}"[..]),
                    fuel: Some(7),
                    duration: None,
                })
            })
        }
        fn order_upgrades<'a>(
            &'a self,
            _: &'a UpgradeRequest,
            _: Timestamp,
        ) -> BoxFuture<'a, Result<Answer<UpgradeDecision>, CallFailed>> {
            Box::pin(async {
                Err(PolicyFailure {
                    label: "timed_out".into(),
                    message: "timed out after 100ms".into(),
                }
                .into())
            })
        }
        fn remediate<'a>(
            &'a self,
            _: &'a RemediationRequest,
            _: Timestamp,
        ) -> BoxFuture<'a, Result<Answer<RemediationDecision>, CallFailed>> {
            Box::pin(async {
                Err(PolicyFailure {
                    label: "trap".into(),
                    message: "unreachable".into(),
                }
                .into())
            })
        }
    }

    #[test]
    fn version_changes_when_what_decides_changes() {
        let reg = PolicyRegistry::default();
        let k = DecisionKind::UpgradeOrdering;
        let v0 = reg.version("t", k);
        let module: Arc<dyn DecisionPolicy> = Arc::new(Broken);
        let slot = |p: &Arc<dyn DecisionPolicy>, mode| Slot {
            failure_mode: mode,
            serving: Some(p.clone()),
            load_error: None,
        };
        reg.set("t", k, Some(slot(&module, FailureMode::Hold)));
        let v1 = reg.version("t", k);
        assert_ne!(v1, v0, "a module loaded");
        // The tenant reconciler sets the same slot again on every pass: no change.
        reg.set("t", k, Some(slot(&module, FailureMode::Hold)));
        assert_eq!(reg.version("t", k), v1);
        assert_eq!(reg.version("other", k), 0, "per tenant");
        reg.set("t", k, Some(slot(&module, FailureMode::Fallback)));
        let v2 = reg.version("t", k);
        assert_ne!(v2, v1, "failure mode changed");
        // A reload (new config, same digest) is a new module.
        let reloaded: Arc<dyn DecisionPolicy> = Arc::new(Broken);
        reg.set("t", k, Some(slot(&reloaded, FailureMode::Fallback)));
        assert_ne!(reg.version("t", k), v2);
        let v3 = reg.version("t", k);
        reg.set("t", k, None);
        assert_ne!(reg.version("t", k), v3, "removed");
    }

    #[tokio::test]
    async fn failure_modes() {
        let reg = PolicyRegistry::default();
        let m = Metrics::new();
        let env = DecideEnv {
            tenant: "t",
            now: Timestamp(0),
            metrics: &m,
        };
        let req = PlacementRequest {
            cluster: to_place("1.31.0", &[]),
            seeds: vec![seed("a", "eu", 0, 5)],
            tenant_placements: vec![],
        };
        // No slot: built-in, applied. Without a decision log no input is serialised for it.
        let d = reg.place(&env, &req).await;
        assert!(d.call.input.is_none());
        assert_eq!(
            (d.outcome, d.digest.as_str()),
            (DecisionOutcome::Applied, "builtin")
        );
        // With one, the envelope a module would have read: `config: null`, the same request.
        let logged = reg.clone().recording_inputs(true).place(&env, &req).await;
        let input: serde_json::Value =
            serde_json::from_slice(logged.call.input.as_deref().unwrap()).unwrap();
        assert_eq!(input["config"], serde_json::Value::Null);
        assert_eq!(input["decision"], "placement");
        assert_eq!(input["tenant"], "t");
        assert_eq!(input["request"], serde_json::to_value(&req).unwrap());
        assert_eq!(
            logged.call.output.as_deref(),
            Some(logged.output_json.as_str())
        );
        assert_eq!(logged.call.module, "builtin");
        // Policy answers a non-candidate: fallback.
        reg.set(
            "t",
            DecisionKind::Placement,
            Some(Slot {
                failure_mode: FailureMode::Fallback,
                serving: Some(Arc::new(Broken)),
                load_error: None,
            }),
        );
        let d = reg.place(&env, &req).await;
        assert_eq!(d.outcome, DecisionOutcome::Fallback);
        assert_eq!(d.decision.unwrap().seed.as_deref(), Some("a"));
        assert_eq!(d.failure.unwrap().label, "invalid_output");
        // The log records the module asked, what it read and the answer the host refused.
        assert_eq!(d.call.module, "sha256:broken");
        assert_eq!(d.call.input.as_deref(), Some(&b"{}"[..]));
        assert_eq!(
            d.call.output.as_deref(),
            Some(r#"{"reason":"","scores":[],"seed":"nowhere"}"#)
        );
        assert_eq!(d.call.fuel, Some(7));
        assert_eq!(d.call.error.unwrap().label, "invalid_output");
        // Hold: nothing.
        reg.set(
            "t",
            DecisionKind::Placement,
            Some(Slot {
                failure_mode: FailureMode::Hold,
                serving: Some(Arc::new(Broken)),
                load_error: None,
            }),
        );
        let d = reg.place(&env, &req).await;
        assert_eq!(d.outcome, DecisionOutcome::Held);
        assert!(d.decision.is_none());
        assert_eq!(d.call.module, "sha256:broken");
        // Other tenants unaffected.
        let env2 = DecideEnv {
            tenant: "u",
            now: Timestamp(0),
            metrics: &m,
        };
        assert_eq!(
            reg.place(&env2, &req).await.outcome,
            DecisionOutcome::Applied
        );
        assert!(m.render().contains(r#"fleetward_policy_fallbacks_total{tenant="t",kind="placement",error="invalid_output"} 2"#));
        // Deciding counts nothing: the recording path counts each final outcome (a decision
        // applied by the policy may still be vetoed by the host), per tenant, `<kind>/<outcome>`.
        assert!(reg.counters("t").is_empty());
        for outcome in [
            DecisionOutcome::Applied,
            DecisionOutcome::Held,
            DecisionOutcome::Vetoed {
                invariant: "RateLimited".into(),
            },
            DecisionOutcome::Vetoed {
                invariant: "SkewLimit".into(),
            },
        ] {
            reg.count("t", DecisionKind::Placement, &outcome);
        }
        reg.count("u", DecisionKind::Remediation, &DecisionOutcome::Applied);
        let counted: Vec<(String, u64)> = reg.counters("t").into_iter().collect();
        assert_eq!(
            counted,
            [
                ("placement/applied".to_string(), 1),
                ("placement/held".to_string(), 1),
                ("placement/vetoed".to_string(), 2)
            ]
        );
        assert_eq!(reg.counters("u").get("remediation/applied"), Some(&1));
    }
}
