//! The shell: kube-runtime reconcilers around the functional core.
//!
//! Each reconciler is a free `reconcile` function plus `error_policy` over a shared [`Context`]
//! (kube-rs controller-rs style). Writes go through [`children`] (server-side apply, field manager
//! `fleetward`, only when the live object differs) and `replace_status` with optimistic
//! concurrency, so a no-op resync issues zero writes.

pub mod approvals;
pub mod children;
pub mod cluster;
pub(crate) mod decisions;
pub(crate) mod events;
pub(crate) mod in_use;
pub mod own_writes;
pub mod placements;
pub mod plan_queue;
pub mod plan_view;
pub mod seed;
pub mod tenant;
pub mod upgrades;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fleetward_sdk::wire::{DecisionKind, UpgradeLimits};
use k8s_openapi::api::core::v1::{Namespace, ObjectReference, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource};

use crate::clock::Clock;
use crate::core::remediation::{RateLedger, RateLimits};
use crate::crd::{ManagedCluster, RolloutApproval, Seed, Tenant};
use crate::decision::DecisionSink;
use crate::decision_log::DecisionLog;
use crate::metrics::Metrics;
use crate::policy::{PolicyFailure, PolicyRegistry};
use crate::seeds::SeedRegistry;

/// Tunables of the host's safety rules. Every field documents its default.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Upgrade concurrency caps (default 10 fleet-wide, 3 per seed).
    pub upgrade_limits: UpgradeLimits,
    /// Remediation rate limits (default 3/cluster, 10/seed, 20/tenant per 10 min).
    pub remediation_limits: RateLimits,
    /// How long a component must be unhealthy before remediation is asked (default 60 s).
    pub unhealthy_threshold: Duration,
    /// Periodic resync of every object (default 10 min, as Cluster API's `--sync-period`).
    /// A safety net only: watches drive reconciles, and every time-based step (unhealthy
    /// thresholds, policy rechecks, maintenance windows) schedules its own requeue.
    pub resync: Duration,
    /// Entries kept in each bounded status list (default 10; remediation history 20).
    pub history_len: usize,
    /// How long the planner waits after a tenant's first plan request before planning, so a
    /// burst of cluster events becomes one plan (default 100 ms; see [`plan_queue`]).
    pub plan_coalesce: Duration,
    /// How long one request to a seed's API server may take before the seed is suspected and
    /// probed (default 10 s). Bounds how long a hung seed holds a worker.
    pub seed_timeout: Duration,
    /// How often a reachable remote seed is probed (default 60 s; one LIST of at most one
    /// namespace: 40 seeds cost 0.7 requests/s).
    pub seed_probe_interval: Duration,
    /// How often an unreachable or misconfigured remote seed is tried again (default 10 s).
    pub seed_retry: Duration,
    /// Cluster reconciles working on one seed at once (default 4); more come back 1 s later
    /// instead of waiting, so a hung seed holds at most this many workers.
    pub seed_concurrency: usize,
    /// The one namespace whose Secrets the controller reads: seed kubeconfig Secrets must live
    /// here (default `fleetward-system`; `fleetward run` uses its `--namespace`). Reading
    /// Secrets cluster-wide would hand the controller every tenant's credentials.
    pub seed_secret_namespace: String,
    /// The budget for status writes that only record a decision (default: per cluster 3 at
    /// once then 6/h, per tenant 30 at once then 120/h; see [`crate::core::write_budget`]).
    pub status_write_budget: crate::core::write_budget::Rates,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            upgrade_limits: UpgradeLimits {
                max_concurrent: 10,
                max_concurrent_per_seed: 3,
            },
            remediation_limits: RateLimits::default(),
            unhealthy_threshold: Duration::from_secs(60),
            resync: Duration::from_secs(600),
            history_len: 10,
            plan_coalesce: Duration::from_millis(100),
            seed_timeout: Duration::from_secs(10),
            seed_probe_interval: Duration::from_secs(60),
            seed_retry: Duration::from_secs(10),
            seed_concurrency: 4,
            seed_secret_namespace: "fleetward-system".into(),
            status_write_budget: Default::default(),
        }
    }
}

/// What the reconcilers share: services every one of them uses (API client, clock, policies,
/// metrics, the decision sink, settings, the reflector caches, Events, error backoff), and the
/// state each part of the controller owns, kept apart so a reader sees who touches what:
/// [`Placement`] (the cluster reconciler's placement book and seed-namespace index),
/// [`Planning`] (the upgrade planner's memory and request queue) and [`Remediation`] (the
/// rate-limit ledger).
pub struct Context {
    /// API client.
    pub client: Client,
    /// Source of `now`.
    pub clock: Arc<dyn Clock>,
    /// Tenants' policies.
    pub policies: PolicyRegistry,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Decision ledger hook.
    pub sink: Option<DecisionSink>,
    /// The decision log (`crate::decision_log`): one record per decision, with its input.
    /// `ctx.decision_log.send(entry)` never waits.
    pub decision_log: DecisionLog,
    /// Safety tunables.
    pub settings: Settings,
    /// Seeds (reflector cache).
    pub seeds: Store<Seed>,
    /// ManagedClusters (the cluster controller's cache).
    pub clusters: Store<ManagedCluster>,
    /// Tenants (reflector cache).
    pub tenants: Store<Tenant>,
    /// The management cluster's Namespaces, metadata only (tenancy labels).
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// The management cluster's Secrets, metadata only (which seed kubeconfig changed).
    pub secrets: Store<PartialObjectMeta<Secret>>,
    /// Connections to the seeds' API servers.
    pub seed_conns: Arc<SeedRegistry>,
    /// RolloutApprovals (the approval controller's cache; the planner reads it).
    pub approvals: Store<RolloutApproval>,
    /// The tenants' failing decision kinds (set by whoever decided, read for `PolicyDegraded`).
    pub(crate) degraded: Mutex<HashMap<(String, DecisionKind), PolicyFailure>>,
    pub(crate) recorder: events::Recorder,
    pub(crate) backoff: Backoff,
    pub(crate) placement: Placement,
    pub(crate) planning: Planning,
    pub(crate) remediation: Remediation,
    /// Status writes the cluster cache has not shown yet (skip reconciling stale copies).
    pub(crate) own_writes: own_writes::OwnWrites,
    /// Decision outcomes already announced with an Event (see [`decisions`]).
    pub(crate) announced: decisions::Announced,
    /// Veto repeat counts and the status-write budget (see [`decisions::StatusWrites`]).
    pub(crate) status_writes: decisions::StatusWrites,
}

/// The caches and connections [`Context::new`] takes from the wiring (`app.rs`).
pub(crate) struct ManagementCaches {
    pub(crate) namespaces: Store<PartialObjectMeta<Namespace>>,
    pub(crate) secrets: Store<PartialObjectMeta<Secret>>,
    pub(crate) seed_conns: Arc<SeedRegistry>,
    pub(crate) approvals: Store<RolloutApproval>,
}

/// State the cluster reconciler owns for placement.
#[derive(Debug)]
pub(crate) struct Placement {
    /// Which cluster is on which seed (capacity is checked against it).
    pub(crate) book: tokio::sync::Mutex<placements::PlacementBook>,
    /// Seed namespace → its cluster, so children's events map back to their cluster.
    pub(crate) seed_namespaces: Arc<RwLock<HashMap<String, ObjectRef<ManagedCluster>>>>,
}

/// State the upgrade planner owns.
#[derive(Debug, Default)]
pub(crate) struct Planning {
    /// What the planner remembers per tenant.
    pub(crate) state: tokio::sync::Mutex<upgrades::PlannerState>,
    /// Tenants waiting to be planned, and when.
    pub(crate) queue: plan_queue::PlanQueue,
    /// Tenants whose `status.rollout` write conflicted: their next Tenant event plans them.
    pub(crate) status_retry: Mutex<std::collections::BTreeSet<String>>,
}

/// State remediation owns.
#[derive(Debug, Default)]
pub(crate) struct Remediation {
    /// Disruptive actions taken recently, for the host's rate limits.
    pub(crate) rate: Mutex<RateLedger>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("clock", &self.clock)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Builds a context; the stores come from the running reflectors.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: Client,
        clock: Arc<dyn Clock>,
        policies: PolicyRegistry,
        metrics: Arc<Metrics>,
        sink: Option<DecisionSink>,
        decision_log: DecisionLog,
        settings: Settings,
        seeds: Store<Seed>,
        clusters: Store<ManagedCluster>,
        tenants: Store<Tenant>,
        seed_namespaces: Arc<RwLock<HashMap<String, ObjectRef<ManagedCluster>>>>,
        caches: ManagementCaches,
    ) -> Self {
        let status_writes = decisions::StatusWrites::new(settings.status_write_budget);
        Context {
            recorder: events::Recorder::new(
                client.clone(),
                "fleetward",
                std::env::var("POD_NAME").ok(),
            ),
            client,
            clock,
            policies,
            metrics,
            sink,
            decision_log,
            settings,
            seeds,
            clusters,
            tenants,
            namespaces: caches.namespaces,
            secrets: caches.secrets,
            seed_conns: caches.seed_conns,
            approvals: caches.approvals,
            degraded: Default::default(),
            backoff: Backoff::default(),
            placement: Placement {
                book: Default::default(),
                seed_namespaces,
            },
            planning: Planning::default(),
            remediation: Remediation::default(),
            own_writes: Default::default(),
            announced: Default::default(),
            status_writes,
        }
    }

    /// Publishes an Event about `obj` (best effort: a failed Event never fails a reconcile).
    pub(crate) async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        self.event_about(&obj.object_ref(&()), warning, reason, note)
            .await;
    }

    /// Publishes an Event about the object `about` refers to (best effort, like [`Self::event`]).
    /// Each distinct (reason, note) is its own Event; the same one again counts on it
    /// ([`events`]).
    pub(crate) async fn event_about(
        &self,
        about: &ObjectReference,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let severity = if warning {
            events::Severity::Warning
        } else {
            events::Severity::Normal
        };
        self.metrics.write("Event");
        if let Err(e) = self
            .recorder
            .publish(about, severity, reason, &note, self.clock.now())
            .await
        {
            tracing::debug!(
                reason,
                "publishing event failed: {}",
                crate::error::short(&e)
            );
        }
    }

    /// Records the latest outcome of a tenant's decision kind (drives `PolicyDegraded`).
    pub(crate) fn set_degraded(
        &self,
        tenant: &str,
        kind: DecisionKind,
        failure: Option<PolicyFailure>,
    ) {
        if let Ok(mut d) = self.degraded.lock() {
            match failure {
                Some(f) => {
                    d.insert((tenant.to_string(), kind), f);
                }
                None => {
                    d.remove(&(tenant.to_string(), kind));
                }
            }
        }
    }

    /// The tenant's currently failing decision kinds.
    pub(crate) fn degraded_for(&self, tenant: &str) -> Vec<(DecisionKind, PolicyFailure)> {
        let mut v: Vec<_> = self
            .degraded
            .lock()
            .map(|d| {
                d.iter()
                    .filter(|((t, _), _)| t == tenant)
                    .map(|((_, k), f)| (*k, f.clone()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by_key(|(k, _)| *k);
        v
    }
}

/// Exponential backoff for reconcile errors: 1 s doubling to a cap of 256 s (2^8), per object,
/// reset on success.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Delay before the next retry of `key` after another failure.
    pub fn next(&self, key: &str) -> Duration {
        let n = self
            .failures
            .lock()
            .map(|mut f| {
                let e = f.entry(key.to_string()).or_insert(0);
                *e = e.saturating_add(1);
                *e
            })
            .unwrap_or(1);
        Duration::from_secs(1u64 << (n - 1).min(8)).min(Duration::from_secs(300))
    }

    /// Forget `key`'s failures.
    pub fn reset(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_resets() {
        let b = Backoff::default();
        let d: Vec<_> = (0..11).map(|_| b.next("a").as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 64, 128, 256, 256, 256]);
        b.reset("a");
        assert_eq!(b.next("a").as_secs(), 1);
        assert_eq!(b.next("b").as_secs(), 1);
    }
}
