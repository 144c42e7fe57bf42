//! The planner's view of the fleet: the ManagedCluster cache, corrected by the planner's own
//! writes that the cache has not shown yet.
//!
//! # Why not a fresh LIST
//! The concurrency caps must count every step in flight, including one started a moment ago
//! whose watch event has not reached the cache. The planner used to LIST the whole fleet before
//! every plan for that. At 1,000 clusters those LISTs (the server encoding and the controller
//! decoding 1,000 objects, once per tenant per freed slot) were about 70% of a simulated
//! rollout's CPU (docs/performance.md, "Simulate at fleet size").
//!
//! The cache plus this overlay counts the same steps, because **only the planner starts a
//! step** (`core::planning::conclude` is the one place `status.inProgress` is set), and every
//! start goes through [`PlannedWrites::wrote`]:
//! - a step the planner started is in the view at once, whatever the cache says;
//! - a step that finished while the cache lags still counts as in flight: the view is
//!   conservative, never loose (a cap admits fewer steps for a moment, not more);
//! - anything else another writer changed meanwhile makes the planner's write fail on its
//!   `resourceVersion` precondition (409), and the plan is retried on a fresh view
//!   (`plan_queue`), exactly as a write racing the LIST did.
//!
//! A controller starts its caches only after it has taken the leader Lease (`run.rs`), and the
//! planner waits for the cluster cache's first LIST (`plan_queue::run`): a new leader's first
//! view includes every step its predecessor started, as the fresh LIST did.
//!
//! `resourceVersion`s are opaque and never compared for order (as in [`super::own_writes`]):
//! the cached copy is superseded only while it carries exactly the version our write replaced.
//! Our write was accepted with that version as its precondition, so any other version in the
//! cache is our write or a later one, and the entry is dropped.

use std::collections::HashMap;
use std::sync::Arc;

use kube::ResourceExt;

use crate::crd::ManagedCluster;

/// The planner's status writes the cache may not show yet, by cluster uid.
#[derive(Debug, Default)]
pub struct PlannedWrites {
    by_uid: HashMap<String, Written>,
}

#[derive(Debug)]
struct Written {
    /// The `resourceVersion` our write replaced (its precondition).
    replaced: String,
    /// The object as the API server returned it after our write.
    object: Arc<ManagedCluster>,
}

impl PlannedWrites {
    /// Records that a write of ours replaced `before` and the server answered `after`.
    pub fn wrote(&mut self, before: &ManagedCluster, after: ManagedCluster) {
        let (Some(uid), Some(replaced)) = (before.uid(), before.resource_version()) else {
            return;
        };
        self.by_uid.insert(
            uid,
            Written {
                replaced,
                object: Arc::new(after),
            },
        );
    }

    /// The fleet as the planner must see it: each cached cluster, or our newer copy of it while
    /// the cache still shows the version our write replaced. Entries the cache has caught up
    /// with (or whose cluster is gone from it) are forgotten.
    pub fn view(&mut self, cached: Vec<Arc<ManagedCluster>>) -> Vec<Arc<ManagedCluster>> {
        if self.by_uid.is_empty() {
            return cached;
        }
        // Whatever is not moved back belongs to clusters no longer cached (deleted).
        let mut pending = std::mem::take(&mut self.by_uid);
        cached
            .into_iter()
            .map(|c| {
                let Some(uid) = c.uid() else {
                    return c;
                };
                match pending.remove(&uid) {
                    Some(w) if c.resource_version().as_deref() == Some(w.replaced.as_str()) => {
                        let newer = w.object.clone();
                        self.by_uid.insert(uid, w);
                        newer
                    }
                    // Caught up (our write or a later one), or never written by us.
                    _ => c,
                }
            })
            .collect()
    }

    /// Writes still ahead of the cache.
    pub fn len(&self) -> usize {
        self.by_uid.len()
    }

    /// True when the cache shows every write of ours.
    pub fn is_empty(&self) -> bool {
        self.by_uid.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ManagedClusterSpec, ManagedClusterStatus};

    fn cluster(name: &str, rv: &str, seed: Option<&str>) -> Arc<ManagedCluster> {
        let spec: ManagedClusterSpec =
            serde_json::from_value(serde_json::json!({"tenant": "a", "version": "1.31.0"}))
                .expect("spec");
        let mut mc = ManagedCluster::new(name, spec);
        mc.metadata.namespace = Some("team-a".into());
        mc.metadata.uid = Some(format!("uid-{name}"));
        mc.metadata.resource_version = Some(rv.into());
        mc.status = seed.map(|s| ManagedClusterStatus {
            seed: Some(s.into()),
            ..Default::default()
        });
        Arc::new(mc)
    }

    fn seeds(view: &[Arc<ManagedCluster>]) -> Vec<(String, Option<String>)> {
        view.iter()
            .map(|c| (c.name_any(), c.status.as_ref().and_then(|s| s.seed.clone())))
            .collect()
    }

    #[test]
    fn our_write_shows_until_the_cache_moves_past_the_version_it_replaced() {
        let mut w = PlannedWrites::default();
        let old = cluster("c1", "10", None);
        let ours = cluster("c1", "11", Some("eu-1"));
        w.wrote(&old, (*ours).clone());

        let lagging = vec![old.clone(), cluster("c2", "5", None)];
        assert_eq!(
            seeds(&w.view(lagging.clone())),
            vec![("c1".into(), Some("eu-1".into())), ("c2".into(), None)],
            "the cache still shows the replaced version: the view shows our write"
        );
        assert_eq!(w.len(), 1, "kept while the cache lags");
        assert_eq!(
            seeds(&w.view(lagging)),
            vec![("c1".into(), Some("eu-1".into())), ("c2".into(), None)],
            "still lagging: still ours"
        );

        // The cache moved on: to our write, or past it (someone else's later write).
        let later = cluster("c1", "12", Some("eu-2"));
        assert_eq!(
            seeds(&w.view(vec![later])),
            vec![("c1".into(), Some("eu-2".into()))],
            "a newer cached copy wins over ours"
        );
        assert!(w.is_empty(), "forgotten once the cache caught up");
        assert_eq!(
            seeds(&w.view(vec![old])),
            vec![("c1".into(), None)],
            "versions are opaque: once forgotten, never resurrected"
        );
    }

    #[test]
    fn a_cluster_gone_from_the_cache_drops_its_entry() {
        let mut w = PlannedWrites::default();
        w.wrote(
            &cluster("c1", "10", None),
            (*cluster("c1", "11", Some("eu-1"))).clone(),
        );
        let view = w.view(vec![cluster("c2", "3", None)]);
        assert_eq!(seeds(&view), vec![("c2".into(), None)]);
        assert!(w.is_empty());
    }
}
