//! When tenants' upgrades are planned: a queue of per-tenant plan requests and the one task that
//! works through it.
//!
//! Cluster reconciles do not plan; they [`PlanQueue::request`] a plan for their tenant and return.
//! The planner task ([`run`]) waits [`Settings::plan_coalesce`](super::Settings) after the first
//! request, then plans every tenant that is due, one at a time, in the fair order of
//! [`FleetLoad::order`] (fewest steps in flight, longest since its last start, then name). Two
//! reasons for the batch:
//!
//! - **Coalescing.** A burst of cluster events (a wave finishing, a resync, a watch restart)
//!   becomes one plan per tenant instead of one per event.
//! - **Determinism.** kube-runtime releases objects that are due in the same instant in hash
//!   order, which differs between processes. A plan taken in the middle of such a burst sees
//!   some of the burst's writes and not others, so the policy's input (and its ledger hash)
//!   would differ between two runs of one simulation. Under a paused clock, the coalescing
//!   sleep only ends once every task has gone idle, so the plan sees the instant's settled
//!   state, and tenants are planned in the same order every run.
//!
//! **Fairness.** A step finishing asks for a plan of its own tenant only, which would then take
//! the freed slot again. So while the fleet has a free slot, each batch also plans every tenant
//! that could take one and is not satisfied ([`FleetLoad::slot_seekers`]), and the order hands
//! the slot to the tenant that waited longest; each plan reads the planner's view (the cache
//! plus the planner's own writes, [`super::plan_view`]), so the next one sees the slot taken.
//! A seeker whose inputs did not change costs no policy call (`upgrades::plan_tenant` skips
//! it).
//!
//! Rechecks go through the same queue: the policy's `recheck_at`, the 30 s retry when caps held
//! steps back, and the backoff after an API error.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetward_sdk::wire::Timestamp;
use tokio::sync::Notify;

use super::{Context, upgrades};
use crate::core::fair_share::FleetLoad;

/// Tenants waiting for a plan, each with the earliest time it is wanted, and the tenants whose
/// last plan got every slot it asked for (they lend their fair share: [`crate::core::fair_share::wants_more`]).
#[derive(Debug, Default)]
pub struct PlanQueue {
    due: Mutex<BTreeMap<String, Timestamp>>,
    wake: Notify,
    satisfied: Mutex<BTreeSet<String>>,
}

impl PlanQueue {
    /// Records whether `tenant`'s last plan was satisfied (no step held back for capacity).
    pub fn set_satisfied(&self, tenant: &str, satisfied: bool) {
        if let Ok(mut s) = self.satisfied.lock() {
            if satisfied {
                s.insert(tenant.to_string());
            } else {
                s.remove(tenant);
            }
        }
    }

    /// The tenants whose last plan was satisfied.
    pub fn satisfied(&self) -> BTreeSet<String> {
        self.satisfied.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Asks for `tenant` to be planned at `at` or later (an earlier request wins).
    pub fn request(&self, tenant: &str, at: Timestamp) {
        if let Ok(mut due) = self.due.lock() {
            due.entry(tenant.to_string())
                .and_modify(|t| *t = (*t).min(at))
                .or_insert(at);
        }
        self.wake.notify_one();
    }

    /// The earliest requested time, if any tenant waits.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.due
            .lock()
            .ok()
            .and_then(|due| due.values().min().copied())
    }

    /// How many tenants wait.
    pub fn len(&self) -> usize {
        self.due.lock().map(|d| d.len()).unwrap_or(0)
    }

    /// Whether no tenant waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns the tenants due at `now`, in name order.
    pub fn take_due(&self, now: Timestamp) -> Vec<String> {
        let Ok(mut due) = self.due.lock() else {
            return Vec::new();
        };
        let ready: Vec<String> = due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for t in &ready {
            due.remove(t);
        }
        ready
    }
}

/// Works the queue until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    // Plans read the cluster cache (`plan_view`): never one that has not listed yet, which
    // would count no step in flight.
    tokio::select! {
        biased;
        () = &mut shutdown => return,
        () = crate::app::wait_ready(&ctx.clusters) => {}
    }
    loop {
        ctx.metrics.plan_queue_depth(ctx.planning.queue.len());
        let now = ctx.clock.now();
        let wait = ctx
            .planning
            .queue
            .next_due()
            .map(|at| Duration::from_secs((at.0 - now.0).max(0) as u64));
        if wait != Some(Duration::ZERO) {
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                () = ctx.planning.queue.wake.notified() => {}
                () = sleep_or_forever(wait) => {}
            }
            continue;
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = tokio::time::sleep(ctx.settings.plan_coalesce) => {}
        }
        let now = ctx.clock.now();
        let due = ctx.planning.queue.take_due(now);
        for tenant in fair_turns(&ctx, due) {
            plan_one(&ctx, &tenant, now).await;
        }
    }
}

/// The due tenants plus those that could take a free slot, in fair order
/// (see [`crate::core::fair_share`]), from the cluster cache.
fn fair_turns(ctx: &Context, due: Vec<String>) -> Vec<String> {
    let clusters = ctx.clusters.state();
    let fleet = FleetLoad::from_clusters(clusters.iter().map(AsRef::as_ref))
        .with_satisfied(ctx.planning.queue.satisfied());
    let seekers = fleet.slot_seekers(&ctx.settings.upgrade_limits);
    fleet.order(due.into_iter().chain(seekers))
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Plans one tenant and queues its recheck (or its retry after an error).
async fn plan_one(ctx: &Context, tenant: &str, now: Timestamp) {
    let key = format!("plan/{tenant}");
    let timer = ctx.metrics.reconcile_started("planner");
    let planned = upgrades::plan_tenant(ctx, tenant).await;
    timer.finish(planned.is_ok());
    match planned {
        Ok(recheck_at) => {
            ctx.backoff.reset(&key);
            if let Some(at) = recheck_at {
                ctx.planning.queue.request(tenant, at);
            }
        }
        Err(e) => {
            ctx.metrics.reconcile_error("planner", e.metric_label());
            let delay = ctx.backoff.next(&key);
            if e.is_conflict() {
                tracing::debug!(tenant, retry_in = ?delay, "upgrade planning met a conflict; retrying with a fresh read");
            } else {
                tracing::warn!(tenant, retry_in = ?delay, "upgrade planning failed: {e}");
            }
            let secs = delay.as_secs().max(1) as i64;
            ctx.planning.queue.request(tenant, Timestamp(now.0 + secs));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_request_wins_and_due_tenants_come_out_in_name_order() {
        let q = PlanQueue::default();
        q.request("zeta", Timestamp(100));
        q.request("alpha", Timestamp(130));
        q.request("alpha", Timestamp(90));
        q.request("alpha", Timestamp(120));
        q.request("mid", Timestamp(200));
        assert_eq!(q.next_due(), Some(Timestamp(90)));
        assert_eq!(q.take_due(Timestamp(100)), ["alpha", "zeta"]);
        assert_eq!(q.next_due(), Some(Timestamp(200)));
        assert!(q.take_due(Timestamp(199)).is_empty());
        assert_eq!(q.take_due(Timestamp(200)), ["mid"]);
        assert_eq!(q.next_due(), None);
    }
}
