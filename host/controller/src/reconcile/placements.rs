//! Where every cluster runs, kept incrementally so placing cluster N costs O(seeds), not
//! O(clusters): seed counts for the capacity filter and each tenant's existing placements for
//! spreading.
//!
//! Seeded once from the cluster cache (placements made by an earlier leader), then updated by
//! every reconcile (which reports its cluster's seed) and by this process's own placements,
//! which the cache may not show yet.
//!
//! It also remembers each unplaced cluster's last refusal (the policy chose no seed, or failed
//! under `failureMode: Hold`), so the policy is not asked the same question again before
//! something it sees changes ([`Refusal`]).

use std::collections::{BTreeMap, HashMap};

use fleetward_sdk::wire::{ClusterRef, ExistingPlacement, Timestamp};

use crate::core::retry;

/// The placement book.
#[derive(Debug, Default)]
pub struct PlacementBook {
    initialized: bool,
    by_cluster: HashMap<ClusterRef, (String, String)>,
    per_seed: HashMap<String, u32>,
    per_tenant: HashMap<String, BTreeMap<ClusterRef, String>>,
    refusals: HashMap<ClusterRef, Refusal>,
}

/// A cluster's last placement ask that placed nothing, and its answer. The cluster reconciler
/// asks again only when `input` (the request and the policy's version) changes or at
/// `retry_at`: the resync after a plain "no seed", [`retry`]'s back-off after a failure. A
/// cluster that cannot be placed is reconciled on every Seed change; without this each of
/// those (and, before, a one-minute timer) was another policy call with the same answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Hash of the placement request and the policy's version.
    pub input: String,
    /// Whether the policy failed and the tenant holds.
    pub held: bool,
    /// The reason shown (`Placed` condition).
    pub reason: String,
    /// Set when the policy failed: the back-off streak.
    pub failing: Option<retry::Failing>,
    /// When to ask again with unchanged input.
    pub retry_at: Timestamp,
}

impl PlacementBook {
    /// Whether the one-time seeding from the cache happened.
    pub fn initialized(&self) -> bool {
        self.initialized
    }

    /// Marks the book seeded.
    pub fn set_initialized(&mut self) {
        self.initialized = true;
    }

    /// Records (or moves) a cluster's placement.
    pub fn record(&mut self, cluster: &ClusterRef, tenant: &str, seed: &str) {
        if self
            .by_cluster
            .get(cluster)
            .is_some_and(|(t, s)| s == seed && t == tenant)
        {
            return;
        }
        self.remove(cluster);
        self.by_cluster
            .insert(cluster.clone(), (tenant.to_string(), seed.to_string()));
        *self.per_seed.entry(seed.to_string()).or_default() += 1;
        self.per_tenant
            .entry(tenant.to_string())
            .or_default()
            .insert(cluster.clone(), seed.to_string());
    }

    /// The cluster's last refusal, while it stays unplaced.
    pub fn refusal(&self, cluster: &ClusterRef) -> Option<&Refusal> {
        self.refusals.get(cluster)
    }

    /// Remembers that placing `cluster` was refused.
    pub fn refused(&mut self, cluster: &ClusterRef, refusal: Refusal) {
        self.refusals.insert(cluster.clone(), refusal);
    }

    /// Forgets a cluster (deleted).
    pub fn remove(&mut self, cluster: &ClusterRef) {
        self.refusals.remove(cluster);
        if let Some((tenant, seed)) = self.by_cluster.remove(cluster) {
            if let Some(n) = self.per_seed.get_mut(&seed) {
                *n = n.saturating_sub(1);
            }
            if let Some(m) = self.per_tenant.get_mut(&tenant) {
                m.remove(cluster);
            }
        }
    }

    /// Where a cluster was placed, if known.
    pub fn seed_of(&self, cluster: &ClusterRef) -> Option<&str> {
        self.by_cluster.get(cluster).map(|(_, s)| s.as_str())
    }

    /// Clusters on a seed.
    pub fn on_seed(&self, seed: &str) -> u32 {
        self.per_seed.get(seed).copied().unwrap_or(0)
    }

    /// A tenant's placements, sorted by cluster.
    pub fn tenant(&self, tenant: &str) -> Vec<ExistingPlacement> {
        self.per_tenant
            .get(tenant)
            .map(|m| {
                m.iter()
                    .map(|(c, s)| ExistingPlacement {
                        cluster: c.clone(),
                        seed: s.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_records_moves_and_removals() {
        let mut b = PlacementBook::default();
        let a = ClusterRef::new("t", "a");
        let c = ClusterRef::new("t", "c");
        b.record(&a, "t", "s1");
        b.record(&a, "t", "s1");
        b.record(&c, "t", "s1");
        assert_eq!(b.on_seed("s1"), 2);
        b.record(&a, "t", "s2");
        assert_eq!((b.on_seed("s1"), b.on_seed("s2")), (1, 1));
        assert_eq!(b.tenant("t").len(), 2);
        b.remove(&c);
        assert_eq!(b.on_seed("s1"), 0);
        assert_eq!(
            b.tenant("t"),
            vec![ExistingPlacement {
                cluster: a,
                seed: "s2".into()
            }]
        );
    }
}
