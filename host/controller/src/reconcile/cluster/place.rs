//! Placement: the shared placement book, the Seed cache and the tenant's placement policy.
//!
//! A cluster that cannot be placed is not retried on a timer. When no seed passes the host's
//! filters the policy is not asked at all; when the policy chose no seed (or failed and the
//! tenant holds) the same question is not asked again until its answer could differ: the
//! request changed (a seed's capacity, labels, readiness or cluster count, the tenant's other
//! placements) or the policy did (`PolicyRegistry::version`), or the resync passed — after a
//! failure, the back-off of [`crate::core::retry`] instead. Every Seed change requeues the
//! unplaced clusters (`app.rs`), so a cluster waiting for capacity is placed as soon as a seed
//! has room. The reason shown says what the host filtered out as well as what the policy said
//! ([`placement::refusal_reason`]).

use fleetward_sdk::wire::{DecisionKind, KubeVersion, PlacementRequest, Timestamp};
use kube::{Resource, ResourceExt};
use sha2::{Digest as _, Sha256};

use super::{Run, cref};
use crate::core::lifecycle;
use crate::core::placement;
use crate::core::retry;
use crate::decision::DecisionOutcome;
use crate::error::Result;
use crate::policy::DecideEnv;
use crate::reconcile::placements::Refusal;
use crate::seeds::Access;

impl Run<'_> {
    /// Places the cluster on a seed; false when it stays unplaced for now (the conditions say
    /// why).
    pub(super) async fn place(&mut self, desired: KubeVersion) -> Result<bool> {
        let tenant = self.tenant().to_string();
        let id = cref(self.mc);
        let mut book = self.ctx.placement.book.lock().await;
        if !book.initialized() {
            for c in self.ctx.clusters.state() {
                if let Some(seed) = c
                    .status
                    .as_ref()
                    .and_then(|s| s.seed.as_ref())
                    .filter(|_| c.meta().deletion_timestamp.is_none())
                {
                    book.record(&cref(&c), &c.spec.tenant, seed);
                }
            }
            book.set_initialized();
        }
        // Decided before but the status write failed (conflict): keep that answer.
        if let Some(seed) = book.seed_of(&id).map(str::to_string) {
            drop(book);
            self.next.placed(&self.mc.spec, &seed, desired);
            return Ok(true);
        }
        let all_seeds = self.ctx.seeds.state();
        let seeds: Vec<_> = all_seeds
            .iter()
            .filter_map(|s| {
                let name = s.name_any();
                // Nothing new is placed on a Seed being deleted (`core::in_use`).
                let reachable =
                    self.ctx.seed_conns.placeable(s) && s.meta().deletion_timestamp.is_none();
                placement::seed_candidate(name.clone(), &s.spec, book.on_seed(&name), reachable)
            })
            .collect();
        let cluster = placement::cluster_to_place(id.clone(), &self.mc.spec, desired);
        let (cands, mut rejected) = placement::candidates(&cluster, &seeds);
        // Say why a seed is not ready when it is its API server.
        for r in &mut rejected {
            let seed = all_seeds.iter().find(|s| s.name_any() == r.seed);
            if r.reason == "not ready"
                && let Some(seed) = seed.filter(|s| !s.spec.unschedulable)
            {
                r.reason = if seed.meta().deletion_timestamp.is_some() {
                    "being deleted".into()
                } else {
                    match self.ctx.seed_conns.access(Some(seed)) {
                        Access::Unavailable(p) => format!("not ready ({})", p.reason()),
                        Access::Pending => "not ready (connecting)".into(),
                        Access::Ready(_) => r.reason.clone(),
                    }
                };
            }
        }
        if cands.is_empty() {
            let before = self.placed_condition();
            self.next.no_candidate(&rejected);
            self.placement_failed(before).await;
            return Ok(false);
        }
        let tenant_placements = book.tenant(&tenant);
        let req = PlacementRequest {
            cluster,
            seeds: cands,
            tenant_placements,
        };
        let now = self.next.now;
        let policy = self.ctx.policies.version(&tenant, DecisionKind::Placement);
        let input = {
            let mut h = Sha256::new();
            h.update(policy.to_le_bytes());
            h.update(serde_json::to_vec(&req).unwrap_or_default());
            hex::encode(h.finalize())
        };
        if let Some(r) = book
            .refusal(&id)
            .filter(|r| !retry::due(&r.input, &input, r.retry_at, now))
            .cloned()
        {
            // Asked this before, and nothing it sees changed: the same answer stands.
            drop(book);
            let before = self.placed_condition();
            self.next.placement_refused(r.held, &r.reason);
            self.placement_failed(before).await;
            self.next.requeue_at(r.retry_at);
            return Ok(false);
        }
        // Policy calls run in parallel; capacity is re-checked under the lock afterwards.
        drop(book);
        let env = DecideEnv {
            tenant: &tenant,
            now: self.next.now,
            metrics: &self.ctx.metrics,
        };
        let d = self.ctx.policies.place(&env, &req).await;
        let (seed, reason) = match &d.decision {
            Some(dec) => (dec.seed.clone(), lifecycle::reason(&d.reason, &dec.reason)),
            None => (None, d.reason.clone()),
        };
        // Nothing chosen: say what the host filtered out too (the policy never saw those).
        let reason = if seed.is_none() {
            placement::refusal_reason(&reason, &rejected)
        } else {
            reason
        };
        self.note(
            &d,
            DecisionKind::Placement,
            d.outcome.clone(),
            reason.clone(),
        )
        .await;
        let Some(seed) = seed else {
            let held = d.outcome == DecisionOutcome::Held;
            let mut book = self.ctx.placement.book.lock().await;
            let failing = d.failure.as_ref().map(|_| {
                retry::failed(
                    book.refusal(&id).and_then(|r| r.failing.as_ref()),
                    &policy.to_string(),
                    now,
                )
            });
            // A plain "no seed" stands until something changes (or the resync); a failure is
            // retried on the back-off.
            let resync = self.ctx.settings.resync.as_secs() as i64;
            let retry_at = failing
                .as_ref()
                .map_or(Timestamp(now.0.saturating_add(resync)), |f| f.retry_at);
            book.refused(
                &id,
                Refusal {
                    input,
                    held,
                    reason: reason.clone(),
                    failing,
                    retry_at,
                },
            );
            drop(book);
            let before = self.placed_condition();
            self.next.placement_refused(held, &reason);
            self.placement_failed(before).await;
            self.next.requeue_at(retry_at);
            return Ok(false);
        };
        let capacity = req
            .seeds
            .iter()
            .find(|s| s.name == seed)
            .map(|s| s.capacity)
            .unwrap_or(0);
        let mut book = self.ctx.placement.book.lock().await;
        if book.on_seed(&seed) >= capacity {
            drop(book);
            let before = self.placed_condition();
            self.next.seed_filled(&seed);
            self.placement_failed(before).await;
            return Ok(false);
        }
        book.record(&id, &tenant, &seed);
        drop(book);
        self.next.placed(&self.mc.spec, &seed, desired);
        tracing::info!(tenant = %tenant, cluster = %id, seed = %seed, "placed cluster: {reason}");
        self.ctx
            .event(
                self.mc,
                false,
                "Placed",
                format!("placed on seed {seed}: {reason}"),
            )
            .await;
        Ok(true)
    }

    /// The `Placed` condition's (reason, message), to tell a new cause of failure from a
    /// repeat.
    fn placed_condition(&self) -> Option<(String, String)> {
        self.next
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "Placed")
            .map(|c| (c.reason.clone(), c.message.clone()))
    }

    /// Announces a placement failure (a Warning Event `PlacementFailed` and a WARN line) when
    /// its cause differs from `before`'s: once per cause, not on every retry.
    async fn placement_failed(&self, before: Option<(String, String)>) {
        let now = self.placed_condition();
        if now == before {
            return;
        }
        let Some((reason, message)) = now else {
            return;
        };
        tracing::warn!(
            tenant = %self.tenant(),
            cluster = %cref(self.mc),
            reason = %reason,
            "placement failed: {message}"
        );
        self.ctx
            .event(
                self.mc,
                true,
                "PlacementFailed",
                format!("{reason}: {message}"),
            )
            .await;
    }
}
