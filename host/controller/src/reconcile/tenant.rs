//! The Tenant reconciler: (re)load each decision kind's module when the Tenant or its ConfigMap
//! changes, verify the digest, keep serving the last good module when a new one is rejected, and
//! say so in status.
//!
//! A module is the tenant's code and may be built to be expensive to load, so loading never
//! holds an async worker (the loader runs on the blocking pool; the engine compiles within a
//! budget, in a child process under `fleetward run`), and a refused binding is not loaded again
//! until it changes or its back-off ([`retry_after`]: 30 s doubling to 10 min) has passed. A
//! Tenant is reconciled on every status change, and its status changes with every decision
//! counter; without the back-off each of those would pay the refusal again.
//!
//! When what decides the tenant's upgrade ordering changes (a module loaded, refused or
//! removed, a new failure mode), its upgrades are planned again at once: a policy that was
//! failing waits out a back-off otherwise (`reconcile::upgrades`, `core::retry`).
//!
//! Shadow bindings (`spec.shadows`) are loaded the same way and reported in `status.shadows`,
//! never in `PoliciesReady` ([`shadow`]).
//!
//! A Tenant carries the finalizer `fleetward.dev/tenant-in-use`: deleting it waits, with a
//! `DeletionBlocked` condition naming its clusters, until none is left (`core::in_use`); its
//! policies keep serving them meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use fleetward_sdk::wire::DecisionKind;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;

use crate::core::in_use::{Held, Step};
use crate::core::rejection::{self, Serving};
use crate::crd::{
    ConditionStatus, LoadedModule, ModuleSource, ModuleSourceRef, PolicyBinding, PolicyLimits,
    Tenant, TenantStatus, reason_from_label, set_condition,
};
use crate::error::{Result, kube_err};
use crate::policy::{DecisionPolicy, ModuleLoader, PolicyFailure, Slot};
use crate::reconcile::{Context, in_use};

mod shadow;

pub use shadow::{Coalesced, STATUS_INTERVAL, coalesce, status_of};

/// Tenant-reconciler state: what each slot was last loaded from.
#[derive(Debug)]
pub struct TenantLoader {
    /// The module loader.
    pub loader: Arc<dyn ModuleLoader>,
    /// The controller's module directory, if configured.
    pub module_dir: Option<cap_std::fs::Dir>,
    loaded: Mutex<HashMap<(String, DecisionKind), String>>,
    /// Bindings whose last load was refused: not loaded again before `retry_at` unless the
    /// binding changes.
    refused: Mutex<HashMap<(String, DecisionKind), Refused>>,
    /// Shadow bindings' loads and status refreshes.
    shadows: shadow::ShadowLoads,
}

/// A refused binding and when it may be tried again.
#[derive(Clone, Debug)]
struct Refused {
    /// The binding's fingerprint when it was refused.
    fingerprint: String,
    failure: PolicyFailure,
    /// Consecutive refusals of this fingerprint.
    attempts: u32,
    retry_at: Instant,
}

/// Back-off after the `attempts`-th consecutive refusal of one binding: 30 s, doubling, at most
/// 10 minutes.
pub fn retry_after(attempts: u32) -> Duration {
    let base = Duration::from_secs(30);
    base.saturating_mul(1u32 << attempts.saturating_sub(1).min(5))
        .min(Duration::from_secs(600))
}

/// Longest `PoliciesReady` message (the three kinds' messages joined), in bytes: status stays
/// small whatever a module or its loader says.
const MAX_CONDITION_MESSAGE: usize = 4096;

impl TenantLoader {
    /// A loader reading files from `module_dir`.
    pub fn new(loader: Arc<dyn ModuleLoader>, module_dir: Option<cap_std::fs::Dir>) -> Self {
        TenantLoader {
            loader,
            module_dir,
            loaded: Default::default(),
            refused: Default::default(),
            shadows: Default::default(),
        }
    }
}

/// `sha256:<hex>` normalised from either spelling.
pub fn normalise_digest(s: &str) -> String {
    format!(
        "sha256:{}",
        s.trim().trim_start_matches("sha256:").to_ascii_lowercase()
    )
}

fn failure(label: &str, message: String) -> PolicyFailure {
    PolicyFailure {
        label: label.into(),
        message,
    }
}

fn binding_of(t: &Tenant, kind: DecisionKind) -> Option<&PolicyBinding> {
    match kind {
        DecisionKind::Placement => t.spec.placement.as_ref(),
        DecisionKind::UpgradeOrdering => t.spec.upgrade_ordering.as_ref(),
        DecisionKind::Remediation => t.spec.remediation.as_ref(),
    }
}

async fn fetch(
    ctx: &Context,
    loader: &TenantLoader,
    module: &ModuleSource,
) -> std::result::Result<Vec<u8>, PolicyFailure> {
    match module.resolve() {
        None => Err(failure(
            "invalid_source",
            "set exactly one of module.configMap or module.file".into(),
        )),
        Some(ModuleSourceRef::ConfigMap(r)) => {
            let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &r.namespace);
            let cm = api
                .get_opt(&r.name)
                .await
                .map_err(|e| {
                    failure(
                        "source_unavailable",
                        format!("reading ConfigMap {}/{}: {e}", r.namespace, r.name),
                    )
                })?
                .ok_or_else(|| {
                    failure(
                        "source_not_found",
                        format!("ConfigMap {}/{} not found", r.namespace, r.name),
                    )
                })?;
            cm.binary_data
                .and_then(|mut d| d.remove(&r.key))
                .map(|b| b.0)
                .ok_or_else(|| {
                    failure(
                        "source_not_found",
                        format!(
                            "ConfigMap {}/{} has no binaryData key {:?}",
                            r.namespace, r.name, r.key
                        ),
                    )
                })
        }
        Some(ModuleSourceRef::File(path)) => {
            let dir = loader.module_dir.as_ref().ok_or_else(|| {
                failure(
                    "source_unavailable",
                    format!(
                        "module file {path:?} requested but the controller has no --module-dir"
                    ),
                )
            })?;
            read_bounded(dir, path).map_err(|e| {
                failure(
                    "source_not_found",
                    format!("reading {path:?} in the module directory: {e}"),
                )
            })
        }
    }
}

/// Fetches a module, checks its bytes against `want` (`sha256:<hex>`), and loads it bound to
/// `config` and `limits`: the one way a live or shadow binding becomes a policy.
async fn load_module(
    ctx: &Context,
    loader: &TenantLoader,
    tenant: &str,
    module: &ModuleSource,
    want: &str,
    config: serde_json::Value,
    limits: &PolicyLimits,
) -> std::result::Result<Arc<dyn DecisionPolicy>, PolicyFailure> {
    let bytes = fetch(ctx, loader, module).await?;
    let got = fleetward_engine::Digest::of(&bytes).to_string();
    if got != want {
        return Err(failure(
            "digest_mismatch",
            format!("module bytes hash to {got}, but the Tenant requires {want}"),
        ));
    }
    loader
        .loader
        .load(tenant.to_string(), bytes, config, limits.clone())
        .await
}

/// Reads at most the engine's module size cap plus one byte (the engine then refuses an
/// over-cap module as `module_too_large`): a huge file or a device costs no more than a module
/// may.
fn read_bounded(dir: &cap_std::fs::Dir, path: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    dir.open(path)?
        .take(fleetward_engine::MAX_MODULE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reconciles one Tenant.
///
/// # Errors
/// API failures writing status.
pub async fn reconcile(
    t: Arc<Tenant>,
    ctx: Arc<Context>,
    loader: Arc<TenantLoader>,
) -> Result<Action> {
    let tenant = t.name_any();
    tracing::debug!(tenant, "reconciling tenant");
    // The finalizer that keeps a Tenant while clusters name it (`core::in_use`); while its
    // deletion waits, its policies keep serving those clusters.
    let (deletion, written) = in_use::finalize(&ctx, t.as_ref(), Held::Tenant).await?;
    if matches!(deletion, Step::Gone | Step::Release) {
        // A Tenant on its way out decides nothing more: stop shadowing it.
        shadow::forget(&ctx, &loader, &tenant);
        return Ok(Action::await_change());
    }
    // Carry on with the finalized object: its status is written on top of that version.
    let t = written.map(Arc::new).unwrap_or(t);
    let now = ctx.clock.now().to_string();
    let old = t.status.clone().unwrap_or_default();
    let mut st = TenantStatus {
        conditions: old.conditions.clone(),
        // The upgrade planner's to write (reconcile/upgrades.rs); carried over as it is.
        rollout: old.rollout.clone(),
        ..Default::default()
    };
    let mut problems: Vec<(String, String)> = Vec::new();
    let upgrade_policy = ctx.policies.version(&tenant, DecisionKind::UpgradeOrdering);
    for kind in DecisionKind::ALL {
        let Some(b) = binding_of(&t, kind) else {
            ctx.policies.set(&tenant, kind, None);
            if let Ok(mut l) = loader.loaded.lock() {
                l.remove(&(tenant.clone(), kind));
            }
            if let Ok(mut r) = loader.refused.lock() {
                r.remove(&(tenant.clone(), kind));
            }
            continue;
        };
        let want = normalise_digest(&b.sha256);
        let fingerprint = format!(
            "{want}|{}|{:?}|{:?}",
            serde_json::to_string(&b.config).unwrap_or_default(),
            b.limits,
            b.module
        );
        let prev = ctx.policies.slot(&tenant, kind);
        let serving_digest = prev
            .as_ref()
            .and_then(|s| s.serving.as_ref())
            .map(|p| p.digest());
        let unchanged = loader
            .loaded
            .lock()
            .map(|l| l.get(&(tenant.clone(), kind)) == Some(&fingerprint))
            .unwrap_or(false);
        let backing_off = loader.refused.lock().ok().and_then(|r| {
            r.get(&(tenant.clone(), kind))
                .filter(|f| f.fingerprint == fingerprint && Instant::now() < f.retry_at)
                .cloned()
        });
        let mut attempted = false;
        let result = if unchanged && serving_digest.is_some() {
            Ok(None)
        } else if let Some(refused) = backing_off {
            // Refused before and unchanged since: report it again, do not load it again yet.
            Err(refused.failure)
        } else {
            attempted = true;
            let config = b.config.clone().unwrap_or(serde_json::Value::Null);
            load_module(&ctx, &loader, &tenant, &b.module, &want, config, &b.limits)
                .await
                .map(Some)
        };
        match result {
            Ok(Some(policy)) => {
                ctx.policies.set(
                    &tenant,
                    kind,
                    Some(Slot {
                        failure_mode: b.failure_mode,
                        serving: Some(policy),
                        load_error: None,
                    }),
                );
                if let Ok(mut l) = loader.loaded.lock() {
                    l.insert((tenant.clone(), kind), fingerprint);
                }
                if let Ok(mut r) = loader.refused.lock() {
                    r.remove(&(tenant.clone(), kind));
                }
                tracing::info!(tenant = %tenant, kind = %kind, digest = %want, "policy module loaded");
                ctx.event(t.as_ref(), false, "PolicyLoaded", format!("{kind}: {want}"))
                    .await;
            }
            Ok(None) => {
                // Same binding as before; refresh the failure mode only.
                if let Some(mut s) = prev.clone() {
                    s.failure_mode = b.failure_mode;
                    ctx.policies.set(&tenant, kind, Some(s));
                }
            }
            Err(f) => {
                let serving = prev.as_ref().and_then(|s| s.serving.clone());
                let digest = serving.as_ref().map(|p| p.digest());
                let mode = format!("{:?}", b.failure_mode);
                let msg = rejection::condition_message(
                    kind,
                    &f,
                    match &digest {
                        Some(d) => Serving::LastGood(d),
                        None => Serving::Nothing(&mode),
                    },
                );
                if attempted {
                    ctx.metrics.load_rejection(&tenant, kind.as_str(), &f.label);
                    if let Ok(mut r) = loader.refused.lock() {
                        let key = (tenant.clone(), kind);
                        let previous = r.get(&key).filter(|old| old.fingerprint == fingerprint);
                        let attempts = previous.map_or(1, |old| old.attempts.saturating_add(1));
                        // One line per refused attempt; the refusal's full text once per cause
                        // (the condition carries the one-line summary).
                        if previous.is_some_and(|old| old.failure.message == f.message) {
                            tracing::warn!(tenant = %tenant, kind = %kind, reason = %f.label, attempts, "policy module rejected again: {msg}");
                        } else {
                            tracing::warn!(tenant = %tenant, kind = %kind, reason = %f.label, detail = %f.message, "policy module rejected: {msg}");
                        }
                        r.insert(
                            key,
                            Refused {
                                fingerprint: fingerprint.clone(),
                                failure: f.clone(),
                                attempts,
                                retry_at: Instant::now() + retry_after(attempts),
                            },
                        );
                    }
                }
                if !old
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "PoliciesReady" && c.message.contains(&msg))
                {
                    ctx.event(t.as_ref(), true, "PolicyRejected", msg.clone())
                        .await;
                }
                problems.push((f.label.clone(), msg));
                ctx.policies.set(
                    &tenant,
                    kind,
                    Some(Slot {
                        failure_mode: b.failure_mode,
                        serving,
                        load_error: Some(f),
                    }),
                );
                if let Ok(mut l) = loader.loaded.lock() {
                    l.remove(&(tenant.clone(), kind));
                }
            }
        }
        if let Some(p) = ctx.policies.slot(&tenant, kind).and_then(|s| s.serving) {
            let digest = p.digest();
            st.loaded.insert(
                kind.as_str().into(),
                LoadedModule {
                    stale: digest != want,
                    digest,
                },
            );
        }
    }
    ctx.policies.set_tenant_known(&tenant, true);
    if ctx.policies.version(&tenant, DecisionKind::UpgradeOrdering) != upgrade_policy {
        // A new policy is asked at once, whatever back-off the old one was in.
        ctx.planning.queue.request(&tenant, ctx.clock.now());
    }
    if problems.is_empty() {
        set_condition(
            &mut st.conditions,
            "PoliciesReady",
            ConditionStatus::True,
            "Loaded",
            "every configured policy is loaded at its digest",
            &now,
        );
    } else {
        let reason = reason_from_label(&problems[0].0);
        let msg = bounded(
            &problems
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            MAX_CONDITION_MESSAGE,
        );
        set_condition(
            &mut st.conditions,
            "PoliciesReady",
            ConditionStatus::False,
            &reason,
            msg,
            &now,
        );
    }
    if let Step::Blocked(msg) = &deletion {
        in_use::blocked(
            &ctx,
            t.as_ref(),
            &old.conditions,
            &mut st.conditions,
            msg,
            &now,
        )
        .await;
    }
    st.decisions = ctx.policies.counters(&tenant);
    st.observed_generation = t.metadata.generation;
    let fresh = shadow::reconcile(&ctx, &loader, &t, &tenant, &old.shadows).await;
    let shadows = coalesce(
        &old.shadows,
        fresh,
        loader.shadows.last_refresh(&tenant),
        Instant::now(),
    );
    st.shadows = shadows.shadows.clone();
    if st != old {
        let mut obj = (*t).clone();
        obj.status = Some(st);
        obj.metadata.managed_fields = None;
        ctx.metrics.write("Tenant/status");
        Api::<Tenant>::all(ctx.client.clone())
            .replace_status(&tenant, &PostParams::default(), &obj)
            .await
            .map_err(kube_err("writing tenant status"))?;
    }
    if shadows.refreshed {
        loader.shadows.refreshed(&tenant, Some(Instant::now()));
    } else if shadows.shadows.is_empty() {
        loader.shadows.refreshed(&tenant, None);
    }
    // A refused binding is looked at again when its back-off ends (or when it changes, which
    // is a watch event).
    let next_retry = loader.refused.lock().ok().and_then(|r| {
        r.iter()
            .filter(|((name, _), _)| *name == tenant)
            .map(|(_, f)| f.retry_at.saturating_duration_since(Instant::now()))
            .min()
    });
    let mut retry = match next_retry {
        Some(wait) if !problems.is_empty() => wait.max(Duration::from_secs(1)),
        _ if problems.is_empty() => ctx.settings.resync,
        _ => Duration::from_secs(30),
    };
    if let Some(recheck) = shadows.recheck {
        // Shadow counts reach status at most every STATUS_INTERVAL (`shadow::coalesce`).
        retry = retry.min(recheck.max(Duration::from_secs(1)));
    }
    if matches!(deletion, Step::Blocked(_)) {
        // A holder's deletion can reach this reconcile before the cluster cache drops it.
        retry = retry.min(crate::core::lifecycle::DELETION_RECHECK);
    }
    Ok(Action::requeue(retry))
}

/// `s` cut to at most `max` bytes at a character boundary, saying so.
fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [cut: {} bytes in all]", &s[..end], s.len())
}

/// Tenants that reference a ConfigMap (for the ConfigMap watch mapper).
pub fn tenants_using(tenants: &[Arc<Tenant>], cm_namespace: &str, cm_name: &str) -> Vec<String> {
    tenants
        .iter()
        .filter(|t| {
            DecisionKind::ALL.iter().any(|k| {
                let live = binding_of(t, *k).map(|b| &b.module);
                let shadow = shadow::shadow_of(t, *k).map(|b| &b.module);
                [live, shadow]
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.config_map.as_ref())
                    .any(|r| r.namespace == cm_namespace && r.name == cm_name)
            })
        })
        .map(|t| t.name_any())
        .collect()
}

/// Decision counters for status, keyed `<kind>/<outcome>`.
pub type Counters = BTreeMap<String, u64>;
