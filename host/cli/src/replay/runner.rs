//! The shell around the engine: load each recorded module once, bind it as the record says,
//! run the recorded input bytes, and hand the result to the pure comparison.
//!
//! Limits: the replay machine is not the one that recorded the log, so every call gets the
//! engine's longest timeout ([`fleetward_engine::MAX_TIMEOUT`]) and a recorded timeout is
//! never compared. Memory is the Tenant's limit when replay read it from the cluster, else the
//! engine default. A decision recorded with fuel is run fuel-metered (the same compiled code
//! the controller ran), with the Tenant's fuel limit when known, else an unlimited budget (so
//! the fuel used is reported and compared), or for a recorded `out_of_fuel` the fuel it
//! recorded.

use std::collections::HashMap;

use fleetward_controller::decision_log::DecisionEntry;
use fleetward_engine::{Engine, Limits, PolicyModule, TenantPolicy};
use fleetward_sdk::wire::{DecisionKind, InputEnvelope};
use serde_json::Value;
use serde_json::value::RawValue;

use super::compare::{self, KnownLimits, Rerun, Verdict};
use super::judge_view;
use super::modules::Modules;
use super::report::{CandidateOutcome, CandidateRun, Decision};
use super::select::Target;
use crate::exit::{CliError, one_line_chain};
use crate::policy::runtime;

/// A candidate module for one tenant's decisions of one kind.
#[derive(Debug)]
pub struct Candidate {
    /// Which decisions.
    pub target: Target,
    /// The loaded module.
    pub module: PolicyModule,
    /// A config replacing the recorded one (`--policy-config`), if any.
    pub config: Option<Value>,
}

/// Loads modules on first use and keeps bindings for reuse.
pub struct Runner {
    engine: Engine,
    modules: Modules,
    loaded: HashMap<String, Result<PolicyModule, String>>,
    bound: HashMap<(String, String, String, String), Result<TenantPolicy, String>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("modules", &self.modules.by_digest.len())
            .field("loaded", &self.loaded.len())
            .field("bound", &self.bound.len())
            .finish_non_exhaustive()
    }
}

/// The parts of a recorded envelope replay needs (the request kept as its bytes).
struct Envelope {
    now: fleetward_sdk::wire::Timestamp,
    tenant: String,
    config: Value,
    request: Box<RawValue>,
}

fn envelope(entry: &DecisionEntry) -> Result<Envelope, String> {
    let e: InputEnvelope<Box<RawValue>> = serde_json::from_str(entry.input.get())
        .map_err(|e| format!("the recorded input is not an input envelope: {e}"))?;
    Ok(Envelope {
        now: e.now,
        tenant: e.tenant,
        config: e.config,
        request: e.request,
    })
}

impl Runner {
    /// A runner over `modules`.
    ///
    /// # Errors
    /// [`CliError::Engine`] if the engine cannot start.
    pub fn new(modules: Modules) -> Result<Runner, CliError> {
        let engine = runtime::engine(&Limits::default())?;
        Ok(Runner {
            engine,
            modules,
            loaded: HashMap::new(),
            bound: HashMap::new(),
        })
    }

    /// The engine, for loading candidates.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The Tenant's limits read from the cluster, if any.
    fn tenant_limits(&self, tenant: &str, kind: DecisionKind) -> Option<&Limits> {
        self.modules.limits.get(&(tenant.to_string(), kind))
    }

    /// Re-runs `entry` with the module that made it and compares; the fuel note, if any.
    pub fn replay(&mut self, entry: &DecisionEntry) -> (Verdict, Option<String>) {
        let output = entry.output.as_deref().map(RawValue::get);
        let error = entry.error.as_ref();
        if let Some(v) = compare::precheck(entry.input.get(), output, error) {
            return (v, None);
        }
        let env = match envelope(entry) {
            Ok(env) => env,
            Err(why) => return (Verdict::FailedToRun { why }, None),
        };
        if entry.module == fleetward_controller::core::fallback::BUILTIN_DIGEST {
            let request: Value = match serde_json::from_str(env.request.get()) {
                Ok(v) => v,
                Err(e) => {
                    return (
                        Verdict::FailedToRun {
                            why: format!("the recorded request is not JSON: {e}"),
                        },
                        None,
                    );
                }
            };
            let rerun = super::builtin::rerun(entry.kind, &request);
            return (
                compare::compare(output, error, &rerun, KnownLimits::default()),
                None,
            );
        }
        let (limits, known) = self.limits_for(entry);
        let policy = match self.bind(&entry.module, &env.tenant, &env.config, limits) {
            Ok(p) => p,
            Err(why) => {
                return (
                    Verdict::FailedToRun {
                        why: format!(
                            "{why} (tenant {} {} decision at {})",
                            entry.tenant, entry.kind, entry.time
                        ),
                    },
                    None,
                );
            }
        };
        let rerun = call(&policy, entry.kind, entry.input.get().as_bytes(), env.now);
        let note = compare::fuel_note(entry.fuel, &rerun);
        (compare::compare(output, error, &rerun, known), note)
    }

    /// Runs `candidate` instead of the recorded module on `entry`'s input and judges its
    /// answer like the controller would.
    pub fn candidate(
        &mut self,
        candidate: &Candidate,
        entry: &DecisionEntry,
        decision: Decision,
        file: String,
    ) -> CandidateRun {
        let mut run = CandidateRun {
            decision,
            candidate: file,
            outcome: CandidateOutcome::Unchanged,
            vetoes: vec![],
            waits: vec![],
        };
        let fail = |label: &str, message: String| CandidateOutcome::Failed {
            label: label.into(),
            same_as_recorded: entry.error.as_ref().is_some_and(|e| e.label == label),
            message,
        };
        let env = match envelope(entry) {
            Ok(env) => env,
            Err(message) => {
                run.outcome = fail("invalid_request", message);
                return run;
            }
        };
        let (input, config) = match &candidate.config {
            None => (entry.input.get().as_bytes().to_vec(), env.config.clone()),
            Some(config) => match reconfigure(entry, config) {
                Ok(bytes) => (bytes, config.clone()),
                Err(message) => {
                    run.outcome = fail("invalid_request", message);
                    return run;
                }
            },
        };
        let mut limits = self
            .tenant_limits(&entry.tenant, entry.kind)
            .cloned()
            .unwrap_or_default();
        limits.timeout = fleetward_engine::MAX_TIMEOUT;
        let digest = candidate.module.digest().to_string();
        let key = (
            digest,
            env.tenant.clone(),
            config.to_string(),
            format!("{limits:?}"),
        );
        let engine = self.engine.clone();
        let policy = self
            .bound
            .entry(key)
            .or_insert_with(|| {
                engine
                    .bind(&candidate.module, &env.tenant, config, limits)
                    .map_err(|e| one_line_chain(&runtime::load_error(e)))
            })
            .clone();
        let policy = match policy {
            Ok(p) => p,
            Err(message) => {
                run.outcome = fail("config_rejected", message);
                return run;
            }
        };
        let rerun = call(&policy, entry.kind, &input, env.now);
        match rerun {
            Rerun::Failed { label, message } => run.outcome = fail(&label, message),
            Rerun::Answered { output, .. } => {
                run.outcome = match entry.output.as_deref().map(RawValue::get) {
                    Some(recorded) if recorded == output => CandidateOutcome::Unchanged,
                    Some(recorded) => match compare::compare(
                        Some(recorded),
                        None,
                        &Rerun::Answered {
                            output: output.clone(),
                            fuel: None,
                        },
                        KnownLimits::default(),
                    ) {
                        Verdict::Different { why, changes } => {
                            CandidateOutcome::Changed { changes, why }
                        }
                        _ => CandidateOutcome::Unchanged,
                    },
                    None => CandidateOutcome::Changed {
                        changes: vec![],
                        why: format!(
                            "recorded {}, the candidate answers {output}",
                            entry
                                .error
                                .as_ref()
                                .map(|e| format!("failure {}", e.label))
                                .unwrap_or_else(|| "no output".into())
                        ),
                    },
                };
                let (vetoes, waits, invalid) = judge_view::judge(entry.kind, &env.request, &output);
                run.vetoes = vetoes;
                run.waits = waits;
                if let Some(message) = invalid {
                    run.outcome = fail("invalid_output", message);
                }
            }
        }
        run
    }

    /// The limits to replay `entry` under, and which of them are the tenant's own.
    fn limits_for(&self, entry: &DecisionEntry) -> (Limits, KnownLimits) {
        let tenant = self.tenant_limits(&entry.tenant, entry.kind).cloned();
        let mut known = KnownLimits {
            fuel: false,
            memory: tenant.is_some(),
        };
        let mut limits = tenant.clone().unwrap_or_default();
        limits.timeout = fleetward_engine::MAX_TIMEOUT;
        let out_of_fuel = entry
            .error
            .as_ref()
            .is_some_and(|e| e.label == "out_of_fuel");
        let metered = entry.fuel.is_some() || out_of_fuel;
        limits.fuel = match tenant.and_then(|t| t.fuel) {
            _ if !metered => None,
            Some(f) => {
                known.fuel = true;
                Some(f)
            }
            None if out_of_fuel => entry.fuel.or(Some(u64::MAX)),
            None => Some(u64::MAX),
        };
        (limits, known)
    }

    fn bind(
        &mut self,
        digest: &str,
        tenant: &str,
        config: &Value,
        limits: Limits,
    ) -> Result<TenantPolicy, String> {
        let module = self.module(digest)?;
        let key = (
            digest.to_string(),
            tenant.to_string(),
            config.to_string(),
            format!("{limits:?}"),
        );
        let engine = self.engine.clone();
        self.bound
            .entry(key)
            .or_insert_with(|| {
                engine
                    .bind(&module, tenant, config.clone(), limits)
                    .map_err(|e| {
                        format!(
                            "module {digest} refused at bind: {}",
                            one_line_chain(&runtime::load_error(e))
                        )
                    })
            })
            .clone()
    }

    fn module(&mut self, digest: &str) -> Result<PolicyModule, String> {
        if let Some(m) = self.loaded.get(digest) {
            return m.clone();
        }
        let result = match self.modules.by_digest.get(digest) {
            None => Err(format!(
                "module {digest} not found in {}; put its file (.wasm or .wat, any name) in a \
                 --modules directory or pass --kubeconfig for the cluster's ConfigMaps",
                self.modules.searched()
            )),
            Some(found) => self.engine.load(&found.bytes).map_err(|e| {
                format!(
                    "module {digest} ({}) refused: {}",
                    found.origin,
                    one_line_chain(&runtime::load_error(e))
                )
            }),
        };
        self.loaded.insert(digest.to_string(), result.clone());
        result
    }
}

/// One call on exactly `input`.
fn call(
    policy: &TenantPolicy,
    kind: DecisionKind,
    input: &[u8],
    now: fleetward_sdk::wire::Timestamp,
) -> Rerun {
    match policy.call_envelope_blocking(kind, input, now) {
        Ok(outcome) => Rerun::Answered {
            output: outcome.output_json,
            fuel: outcome.fuel_consumed,
        },
        Err(e) => Rerun::Failed {
            label: e.metric_label().to_string(),
            message: one_line_chain(&e.kind),
        },
    }
}

/// The recorded envelope with `config` in place of the recorded one; every other field (the
/// request's bytes included) as recorded.
fn reconfigure(entry: &DecisionEntry, config: &Value) -> Result<Vec<u8>, String> {
    let mut e: InputEnvelope<Box<RawValue>> = serde_json::from_str(entry.input.get())
        .map_err(|e| format!("the recorded input is not an input envelope: {e}"))?;
    e.config = config.clone();
    serde_json::to_vec(&e).map_err(|e| e.to_string())
}
