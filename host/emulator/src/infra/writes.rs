//! Classifying write results and pacing retries.
//!
//! The fake controllers never give up on an object: a conflict (409) means "re-read and decide
//! again", a missing object means "forget it", and anything else (429, 500, a timeout injected by
//! the emulator's request faults) is retried after a per-object exponential backoff on the tokio
//! clock. Failures are logged with their full cause chain and counted in [`InfraStats`].

use std::collections::HashMap;
use std::error::Error as _;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::cache::ObjectKey;

/// A write that failed for a reason other than a conflict or a missing object.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// The API server rejected or failed the request; the object is retried after a backoff.
    #[error("{verb} {kind} {key} failed; retrying after a backoff")]
    Rejected {
        verb: &'static str,
        kind: &'static str,
        key: ObjectKey,
        #[source]
        source: kube::Error,
    },
}

impl WriteError {
    /// Logs the error with its whole source chain.
    pub(crate) fn log(&self) {
        let mut chain = self.to_string();
        let mut cause = self.source();
        while let Some(c) = cause {
            chain.push_str(": ");
            chain.push_str(&c.to_string());
            cause = c.source();
        }
        tracing::warn!(error = %chain, "fake infrastructure write failed");
    }
}

/// What became of a request.
#[derive(Debug)]
pub(crate) enum Outcome<T> {
    /// It succeeded with this response.
    Done(T),
    /// 409: the object changed (or already exists); re-read and decide again.
    Conflict,
    /// 404: the object is gone.
    NotFound,
    /// Anything else.
    Failed(kube::Error),
}

impl<T> Outcome<T> {
    pub(crate) fn of(result: Result<T, kube::Error>) -> Self {
        match result {
            Ok(v) => Outcome::Done(v),
            Err(kube::Error::Api(status)) if status.code == 409 => Outcome::Conflict,
            Err(kube::Error::Api(status)) if status.code == 404 => Outcome::NotFound,
            Err(e) => Outcome::Failed(e),
        }
    }
}

/// Write counters shared by all fake controllers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) writes: AtomicU64,
    pub(crate) conflicts: AtomicU64,
    pub(crate) failures: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> InfraStats {
        InfraStats {
            writes: self.writes.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    /// Counts an outcome; returns it unchanged.
    pub(crate) fn count<T>(&self, outcome: Outcome<T>) -> Outcome<T> {
        let counter = match &outcome {
            Outcome::Done(_) => &self.writes,
            Outcome::Conflict => &self.conflicts,
            Outcome::NotFound => return outcome,
            Outcome::Failed(_) => &self.failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }
}

/// What the fake infrastructure has written so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InfraStats {
    /// Successful writes (creates, patches, status patches, deletes).
    pub writes: u64,
    /// Writes answered with 409 Conflict (each followed by a re-read).
    pub conflicts: u64,
    /// Writes that failed otherwise and were scheduled for a retry.
    pub failures: u64,
}

/// Per-object exponential backoff for failed writes.
#[derive(Debug)]
pub(crate) struct Backoff<K: Eq + Hash> {
    failures: HashMap<K, u32>,
    base: Duration,
}

/// The backoff stops doubling after this many consecutive failures (32 x base).
const MAX_DOUBLINGS: u32 = 5;

impl<K: Eq + Hash + Clone> Backoff<K> {
    pub(crate) fn new(base: Duration) -> Self {
        Backoff {
            failures: HashMap::new(),
            base,
        }
    }

    /// Records a failure of `key`; returns when to retry.
    pub(crate) fn failed(&mut self, key: &K, now: Instant) -> Instant {
        let n = self.failures.entry(key.clone()).or_insert(0);
        let delay = self.base * 2u32.pow((*n).min(MAX_DOUBLINGS));
        *n = n.saturating_add(1);
        now + delay
    }

    pub(crate) fn succeeded(&mut self, key: &K) {
        self.failures.remove(key);
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code,
            ..Status::default()
        }))
    }

    #[test]
    fn classifies_conflict_not_found_and_other_failures() {
        assert!(matches!(
            Outcome::<()>::of(Err(api_error(409))),
            Outcome::Conflict
        ));
        assert!(matches!(
            Outcome::<()>::of(Err(api_error(404))),
            Outcome::NotFound
        ));
        assert!(matches!(
            Outcome::<()>::of(Err(api_error(429))),
            Outcome::Failed(_)
        ));
        assert!(matches!(Outcome::of(Ok(1)), Outcome::Done(1)));
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(1));
        let delays: Vec<u64> = (0..7)
            .map(|_| (b.failed(&"k", t0) - t0).as_secs())
            .collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 32]);
        b.succeeded(&"k");
        assert_eq!(b.failed(&"k", t0) - t0, Duration::from_secs(1));
    }

    #[test]
    fn counters_count_by_outcome() {
        let c = Counters::default();
        let _ = c.count(Outcome::Done(()));
        let _ = c.count(Outcome::<()>::Conflict);
        let _ = c.count(Outcome::<()>::Failed(api_error(500)));
        let _ = c.count(Outcome::<()>::NotFound);
        assert_eq!(
            c.snapshot(),
            InfraStats {
                writes: 1,
                conflicts: 1,
                failures: 1
            }
        );
    }

    #[test]
    fn earliest_picks_the_first_deadline() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(earliest(Some(t1), Some(t0)), Some(t0));
        assert_eq!(earliest(None, Some(t1)), Some(t1));
        assert_eq!(earliest(None, None), None);
    }
}
