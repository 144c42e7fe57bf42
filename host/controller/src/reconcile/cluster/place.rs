//! Placement: the shared placement book, the Seed cache and the tenant's placement policy.

use fleetward_sdk::wire::{DecisionKind, KubeVersion, PlacementRequest};
use kube::{Resource, ResourceExt};

use super::{Run, cref};
use crate::core::lifecycle;
use crate::core::placement;
use crate::decision::DecisionOutcome;
use crate::error::Result;
use crate::policy::DecideEnv;
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
        // Policy calls run in parallel; capacity is re-checked under the lock afterwards.
        drop(book);
        let req = PlacementRequest {
            cluster,
            seeds: cands,
            tenant_placements,
        };
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
        self.note(
            &d,
            DecisionKind::Placement,
            d.outcome.clone(),
            reason.clone(),
        )
        .await;
        let Some(seed) = seed else {
            let before = self.placed_condition();
            self.next
                .placement_refused(d.outcome == DecisionOutcome::Held, &reason);
            self.placement_failed(before).await;
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
