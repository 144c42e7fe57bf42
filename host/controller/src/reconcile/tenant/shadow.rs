//! The Tenant reconciler's half of shadow bindings (`policy/shadow.rs` is the evaluating half):
//! load each `spec.shadows.<kind>` with the same loader and digest check as a live binding,
//! report one that cannot load without touching `PoliciesReady` (a broken candidate is not a
//! broken tenant), announce a shadow module's first disagreement with one `ShadowDisagreed`
//! Event, and put the tallies into `status.shadows` without a write storm.
//!
//! Counts change with every decision, and every Tenant status write is itself a watch event that
//! reconciles the Tenant again, so writing them whenever they change would write once per
//! decision. [`coalesce`] writes what an operator must see at once (a shadow loaded, removed or
//! refused) at once, and changed counts at most every [`STATUS_INTERVAL`]; while a shadow is
//! bound, the Tenant is looked at again after that interval.
//!
//! A refused shadow is not evaluated at all, and no older shadow stands in for it: a shadow is
//! there to rehearse the module the spec names, and results of another module under its name
//! would mislead. It is loaded again when it changes or after the live bindings' back-off.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use fleetward_sdk::wire::DecisionKind;
use tokio::time::Instant;

use super::{TenantLoader, load_module, normalise_digest, retry_after};
use crate::crd::{ShadowBinding, ShadowStatus, Tenant};
use crate::policy::PolicyFailure;
use crate::policy::shadow::{ShadowSlot, Tally};
use crate::reconcile::Context;

/// Shortest time between two status writes caused only by changed shadow counts, per tenant.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(30);

/// What the Tenant reconciler remembers about shadows.
#[derive(Debug, Default)]
pub(crate) struct ShadowLoads {
    /// Fingerprint each loaded shadow was loaded from.
    loaded: Mutex<HashMap<(String, DecisionKind), String>>,
    /// Shadows whose last load was refused, and when to try again.
    refused: Mutex<HashMap<(String, DecisionKind), Refused>>,
    /// When each tenant's shadow counts were last written to status.
    written: Mutex<HashMap<String, Instant>>,
}

#[derive(Clone, Debug)]
struct Refused {
    fingerprint: String,
    failure: PolicyFailure,
    attempts: u32,
    retry_at: Instant,
}

/// The shadow binding of `kind` in a Tenant's spec.
pub(crate) fn shadow_of(t: &Tenant, kind: DecisionKind) -> Option<&ShadowBinding> {
    let s = &t.spec.shadows;
    match kind {
        DecisionKind::Placement => s.placement.as_ref(),
        DecisionKind::UpgradeOrdering => s.upgrade_ordering.as_ref(),
        DecisionKind::Remediation => s.remediation.as_ref(),
    }
}

/// Loads, replaces or removes the tenant's shadows and builds `status.shadows` (before
/// coalescing). Announces refusals and first disagreements with Events.
pub(crate) async fn reconcile(
    ctx: &Context,
    loader: &TenantLoader,
    t: &Tenant,
    tenant: &str,
    old: &BTreeMap<String, ShadowStatus>,
) -> BTreeMap<String, ShadowStatus> {
    let loads = &loader.shadows;
    let shadows = &ctx.policies.shadows;
    let mut out = BTreeMap::new();
    for kind in DecisionKind::ALL {
        let key = (tenant.to_string(), kind);
        let Some(b) = shadow_of(t, kind) else {
            shadows.set(tenant, kind, None);
            if let Ok(mut l) = loads.loaded.lock() {
                l.remove(&key);
            }
            if let Ok(mut r) = loads.refused.lock() {
                r.remove(&key);
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
        let unchanged = loads
            .loaded
            .lock()
            .is_ok_and(|l| l.get(&key) == Some(&fingerprint))
            && shadows.slot(tenant, kind).is_some();
        let backing_off = loads.refused.lock().ok().and_then(|r| {
            r.get(&key)
                .filter(|f| f.fingerprint == fingerprint && Instant::now() < f.retry_at)
                .map(|f| f.failure.clone())
        });
        let error = if unchanged {
            None
        } else if let Some(f) = backing_off {
            Some(f)
        } else {
            let config = b.config.clone().unwrap_or(serde_json::Value::Null);
            match load_module(ctx, loader, tenant, &b.module, &want, config, &b.limits).await {
                Ok(policy) => {
                    shadows.set(
                        tenant,
                        kind,
                        Some(ShadowSlot {
                            policy,
                            metrics: ctx.metrics.clone(),
                            log: ctx.decision_log.clone(),
                        }),
                    );
                    if let Ok(mut l) = loads.loaded.lock() {
                        l.insert(key.clone(), fingerprint.clone());
                    }
                    if let Ok(mut r) = loads.refused.lock() {
                        r.remove(&key);
                    }
                    tracing::info!(tenant, kind = %kind, digest = %want, "shadow policy module loaded");
                    ctx.event(t, false, "ShadowLoaded", format!("{kind} shadow: {want}"))
                        .await;
                    None
                }
                Err(f) => {
                    if let Ok(mut r) = loads.refused.lock() {
                        let attempts = r
                            .get(&key)
                            .filter(|old| old.fingerprint == fingerprint)
                            .map_or(1, |old| old.attempts.saturating_add(1));
                        r.insert(
                            key.clone(),
                            Refused {
                                fingerprint: fingerprint.clone(),
                                failure: f.clone(),
                                attempts,
                                retry_at: Instant::now() + retry_after(attempts),
                            },
                        );
                    }
                    Some(f)
                }
            }
        };
        let status = match error {
            Some(f) => {
                // Not evaluated while refused (see the module docs).
                shadows.set(tenant, kind, None);
                if let Ok(mut l) = loads.loaded.lock() {
                    l.remove(&key);
                }
                let message = refusal_message(kind, &want, &f);
                let already = old
                    .get(kind.as_str())
                    .is_some_and(|s| s.error.as_deref() == Some(message.as_str()));
                if !already {
                    tracing::warn!(tenant, kind = %kind, reason = %f.label, detail = %f.message, "shadow policy module rejected");
                    ctx.event(t, true, "ShadowRejected", message.clone()).await;
                }
                ShadowStatus {
                    digest: want,
                    error: Some(message),
                    ..Default::default()
                }
            }
            None => {
                if let Some(first) = shadows.take_unannounced(tenant, kind) {
                    let note = format!(
                        "{kind} shadow {want} disagrees with the live decision ({}) at {} on {}: live {} / shadow {}",
                        first.live_module,
                        first.time,
                        first.clusters.join(", "),
                        first.live,
                        first.shadow
                    );
                    ctx.event(t, false, "ShadowDisagreed", note).await;
                }
                shadows
                    .tally(tenant, kind)
                    .map(|tally| status_of(&tally))
                    .unwrap_or(ShadowStatus {
                        digest: want,
                        ..Default::default()
                    })
            }
        };
        out.insert(kind.as_str().to_string(), status);
    }
    out
}

/// Removes every shadow of a tenant that is going away, and what was remembered about them.
pub(crate) fn forget(ctx: &Context, loader: &TenantLoader, tenant: &str) {
    for kind in DecisionKind::ALL {
        ctx.policies.shadows.set(tenant, kind, None);
    }
    let loads = &loader.shadows;
    if let Ok(mut l) = loads.loaded.lock() {
        l.retain(|(t, _), _| t != tenant);
    }
    if let Ok(mut r) = loads.refused.lock() {
        r.retain(|(t, _), _| t != tenant);
    }
    loads.refreshed(tenant, None);
}

/// The condition-style message for a refused shadow: what failed and what to do.
fn refusal_message(kind: DecisionKind, want: &str, f: &PolicyFailure) -> String {
    format!(
        "{kind} shadow {want} is not evaluated ({}): {}; the live policy is unaffected. Fix \
         spec.shadows or the module and the shadow is loaded again",
        f.label, f.message
    )
}

/// A tally as `status.shadows.<kind>`.
pub fn status_of(t: &Tally) -> ShadowStatus {
    ShadowStatus {
        digest: t.digest.clone(),
        error: None,
        evaluated: t.evaluated,
        agreed: t.agreed,
        disagreed: t.disagreed,
        failed: t.failed,
        skipped: t.skipped,
        would_veto: t.would_veto,
        last_failure: t.last_failure.clone(),
        last_disagreements: t.last_disagreements.iter().cloned().collect(),
    }
}

/// What to write to `status.shadows`, and when to look again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coalesced {
    /// The value to write (`old` when only counts changed too recently).
    pub shadows: BTreeMap<String, ShadowStatus>,
    /// Whether counts were refreshed now (the caller remembers when).
    pub refreshed: bool,
    /// Look again after this long (while a shadow is bound).
    pub recheck: Option<Duration>,
}

/// Decides what of `fresh` goes into status now. A change an operator must see at once (a
/// kind's shadow added, removed, loaded as another digest, refused or recovered) is written
/// now; changed counts are written when the last refresh is at least [`STATUS_INTERVAL`] old,
/// otherwise `old` is kept and the caller looks again when the interval ends.
pub fn coalesce(
    old: &BTreeMap<String, ShadowStatus>,
    fresh: BTreeMap<String, ShadowStatus>,
    last_refresh: Option<Instant>,
    now: Instant,
) -> Coalesced {
    let recheck = (!fresh.is_empty()).then_some(STATUS_INTERVAL);
    let shape = |m: &BTreeMap<String, ShadowStatus>| -> Vec<(String, String, Option<String>)> {
        m.iter()
            .map(|(k, s)| (k.clone(), s.digest.clone(), s.error.clone()))
            .collect()
    };
    if shape(old) != shape(&fresh) {
        return Coalesced {
            shadows: fresh,
            refreshed: true,
            recheck,
        };
    }
    if *old == fresh {
        return Coalesced {
            shadows: fresh,
            refreshed: false,
            recheck,
        };
    }
    match last_refresh {
        Some(at) if now.saturating_duration_since(at) < STATUS_INTERVAL => Coalesced {
            shadows: old.clone(),
            refreshed: false,
            recheck: Some((at + STATUS_INTERVAL).saturating_duration_since(now)),
        },
        _ => Coalesced {
            shadows: fresh,
            refreshed: true,
            recheck,
        },
    }
}

impl ShadowLoads {
    /// When the tenant's shadow counts were last written.
    pub(crate) fn last_refresh(&self, tenant: &str) -> Option<Instant> {
        self.written.lock().ok()?.get(tenant).copied()
    }

    /// Remembers that the tenant's shadow counts were written now (or forgets the tenant when
    /// it has no shadow).
    pub(crate) fn refreshed(&self, tenant: &str, at: Option<Instant>) {
        if let Ok(mut w) = self.written.lock() {
            match at {
                Some(at) => {
                    w.insert(tenant.to_string(), at);
                }
                None => {
                    w.remove(tenant);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(digest: &str, evaluated: u64, error: Option<&str>) -> BTreeMap<String, ShadowStatus> {
        [(
            "upgrade_ordering".to_string(),
            ShadowStatus {
                digest: digest.into(),
                error: error.map(Into::into),
                evaluated,
                disagreed: evaluated,
                ..Default::default()
            },
        )]
        .into()
    }

    #[tokio::test(start_paused = true)]
    async fn counts_are_written_at_most_every_interval_changes_of_shape_at_once() {
        let t0 = Instant::now();
        // First sight: written.
        let c = coalesce(&BTreeMap::new(), counts("sha256:a", 0, None), None, t0);
        assert!(c.refreshed);
        assert_eq!(c.recheck, Some(STATUS_INTERVAL));
        let written = c.shadows;
        // A shadow that disagrees on every decision: 1000 decisions in the next 10 s change
        // the counts, but status keeps the written value until the interval has passed.
        let later = t0 + Duration::from_secs(10);
        let c = coalesce(&written, counts("sha256:a", 1000, None), Some(t0), later);
        assert!(!c.refreshed);
        assert_eq!(c.shadows, written, "no write within the interval");
        assert_eq!(
            c.recheck,
            Some(Duration::from_secs(20)),
            "looks again when it ends"
        );
        let c = coalesce(
            &written,
            counts("sha256:a", 1500, None),
            Some(t0),
            t0 + STATUS_INTERVAL,
        );
        assert!(c.refreshed);
        assert_eq!(c.shadows["upgrade_ordering"].evaluated, 1500);
        // Unchanged: nothing to write, whenever.
        let c = coalesce(&written, written.clone(), Some(t0), later);
        assert!(!c.refreshed);
        assert_eq!(c.shadows, written);
        // A refusal or a new digest is written at once, even within the interval.
        for fresh in [
            counts("sha256:a", 0, Some("digest_mismatch")),
            counts("sha256:b", 0, None),
            BTreeMap::new(),
        ] {
            let c = coalesce(&written, fresh.clone(), Some(t0), later);
            assert!(c.refreshed, "{fresh:?}");
            assert_eq!(c.shadows, fresh);
        }
        // No shadow bound: nothing to look at again.
        assert_eq!(
            coalesce(&BTreeMap::new(), BTreeMap::new(), None, t0).recheck,
            None
        );
    }
}
