//! A per-object timer queue on the tokio clock.
//!
//! Each object has at most one pending wake-up; scheduling again replaces it, so a change to the
//! object cancels a stale deadline. The controller loop sleeps until [`TimerQueue::next_deadline`]
//! (with `tokio::time::sleep_until`, so paused/virtual time works) and then reconciles the keys
//! returned by [`TimerQueue::pop_due`].

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use tokio::time::Instant;

/// Deadlines keyed by object.
#[derive(Debug)]
pub(crate) struct TimerQueue<K: Ord + Hash + Clone> {
    by_key: HashMap<K, Instant>,
    by_time: BTreeSet<(Instant, K)>,
}

impl<K: Ord + Hash + Clone> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue {
            by_key: HashMap::new(),
            by_time: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> TimerQueue<K> {
    /// Sets (or replaces) the wake-up for `key`; `None` cancels it.
    pub(crate) fn set(&mut self, key: &K, at: Option<Instant>) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_time.remove(&(old, key.clone()));
        }
        if let Some(at) = at {
            self.by_key.insert(key.clone(), at);
            self.by_time.insert((at, key.clone()));
        }
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns every key whose deadline is at or before `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_time.first() {
            if *at > now {
                break;
            }
            if let Some((_, key)) = self.by_time.pop_first() {
                self.by_key.remove(&key);
                due.push(key);
            }
        }
        due
    }

    /// Number of pending wake-ups.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rescheduling_replaces_and_pop_returns_due_in_order() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.set(&"b", Some(t0 + Duration::from_secs(5)));
        q.set(&"a", Some(t0 + Duration::from_secs(10)));
        q.set(&"b", Some(t0 + Duration::from_secs(20)));
        assert_eq!(q.len(), 2);
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(10)));
        assert!(q.pop_due(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(q.pop_due(t0 + Duration::from_secs(30)), vec!["a", "b"]);
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn none_cancels() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.set(&1u32, Some(t0));
        q.set(&1u32, None);
        assert_eq!(q.len(), 0);
        assert!(q.pop_due(t0 + Duration::from_secs(1)).is_empty());
    }
}
