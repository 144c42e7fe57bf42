//! Status writes of ours that the reflector cache has not shown yet.
//!
//! A reconcile reads its ManagedCluster (or Seed) from the controller's cache. Right after we replace a
//! cluster's status, an unrelated trigger (a child's watch event) can start the next reconcile
//! before the watch event of our own write reaches the cache. That reconcile sees the old
//! status, computes the status we just wrote, finds it different from the stale copy and
//! writes again with the old `resourceVersion`: a guaranteed 409, a wasted request and an
//! error-metric tick, on every busy cluster. Remembering which `resourceVersion` each of our
//! writes replaced lets the reconciler recognise the stale copy and wait for the fresh one,
//! whose watch event triggers a reconcile of its own.
//!
//! `resourceVersion`s are opaque, so nothing is compared for order: a cached copy is stale only
//! when it carries exactly the version our last write replaced. Any other version means the
//! cache has moved on (our write, someone else's, or a relist), and the entry is dropped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How soon a reconcile that met a copy older than our own last write looks again, should the
/// write's watch event never come.
pub const STALE_COPY_RECHECK: Duration = Duration::from_secs(5);

/// Per object uid: the `resourceVersion` our last successful status write replaced.
#[derive(Debug, Default)]
pub struct OwnWrites {
    replaced: Mutex<HashMap<String, String>>,
}

impl OwnWrites {
    /// Records that a write of ours replaced `uid` at `resource_version`.
    pub fn wrote(&self, uid: &str, resource_version: &str) {
        if let Ok(mut m) = self.replaced.lock() {
            m.insert(uid.to_string(), resource_version.to_string());
        }
    }

    /// True when a cached copy at `resource_version` predates our last write to `uid`.
    /// Otherwise forgets the write: the cache has caught up.
    pub fn is_stale(&self, uid: &str, resource_version: &str) -> bool {
        let Ok(mut m) = self.replaced.lock() else {
            return false;
        };
        match m.get(uid) {
            Some(replaced) if replaced == resource_version => true,
            Some(_) => {
                m.remove(uid);
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replaced_version_is_stale_until_the_cache_moves_on() {
        let w = OwnWrites::default();
        assert!(!w.is_stale("u1", "10"), "nothing written yet");
        w.wrote("u1", "10");
        assert!(w.is_stale("u1", "10"), "the copy our write replaced");
        assert!(w.is_stale("u1", "10"), "still stale until the cache moves");
        assert!(!w.is_stale("u2", "10"), "other objects are unaffected");
        assert!(!w.is_stale("u1", "11"), "the cache caught up");
        assert!(
            !w.is_stale("u1", "10"),
            "forgotten once caught up: versions are opaque, never ordered"
        );
    }
}
