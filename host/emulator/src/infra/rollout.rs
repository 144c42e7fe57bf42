//! The pure model of a workload's pods: how many are updated and ready at a given instant.
//!
//! There are no pods in the emulator; a [`Rollout`] remembers, per Deployment or StatefulSet,
//! the pod-template hash and replica count it last saw, when that last changed, and what the
//! counts were at that moment. Until `workload_ready` has passed since the change the workload
//! shows the "during" counts; afterwards everything is updated and ready. A template change
//! starts a roll with `updatedReplicas` 0 and `readyReplicas` `replicas - 1` (a roll with
//! maxUnavailable 1); a creation shows everything updated and nothing ready.

use std::time::Duration;

use tokio::time::Instant;

/// Replica counts shown in a workload's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) replicas: u32,
    pub(crate) updated: u32,
    pub(crate) ready: u32,
}

impl Counts {
    fn full(replicas: u32) -> Self {
        Counts {
            replicas,
            updated: replicas,
            ready: replicas,
        }
    }

    /// The counts of a workload whose pods all fail their readiness checks.
    pub(crate) fn broken(self) -> Self {
        Counts { ready: 0, ..self }
    }
}

/// What the fake knows about one workload's pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rollout {
    /// Hash of the pod template the pods are moving to.
    pub(crate) hash: String,
    /// Hash of the last template whose roll completed, while a newer one is rolling out.
    pub(crate) previous_hash: Option<String>,
    pub(crate) replicas: u32,
    /// When the template or replica count last changed.
    pub(crate) since: Instant,
    /// Counts shown until `since + workload_ready`.
    pub(crate) during: Counts,
}

/// What changed when a workload was observed again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    None,
    Template,
    Scale,
}

impl Rollout {
    /// A workload seen for the first time. `settled` says its status already shows the current
    /// template fully rolled out (for example after the fake restarted), so it stays ready.
    pub(crate) fn first_seen(hash: String, replicas: u32, now: Instant, settled: bool) -> Self {
        let during = if settled {
            Counts::full(replicas)
        } else {
            Counts {
                replicas,
                updated: replicas,
                ready: 0,
            }
        };
        Rollout {
            hash,
            previous_hash: None,
            replicas,
            since: now,
            during,
        }
    }

    /// Whether the pods have caught up with the latest change at `now`.
    pub(crate) fn done(&self, now: Instant, delay: Duration) -> bool {
        now >= self.since + delay
    }

    /// Counts of a healthy workload at `now`.
    pub(crate) fn counts(&self, now: Instant, delay: Duration) -> Counts {
        if self.done(now, delay) {
            Counts::full(self.replicas)
        } else {
            self.during
        }
    }

    /// The instant the counts will next change, if any.
    pub(crate) fn next_change(&self, now: Instant, delay: Duration) -> Option<Instant> {
        let at = self.since + delay;
        (now < at).then_some(at)
    }

    /// The revision pods are moving to and the one that is fully rolled out.
    pub(crate) fn revisions(&self, now: Instant, delay: Duration) -> (&str, &str) {
        let current = if self.done(now, delay) {
            self.hash.as_str()
        } else {
            self.previous_hash.as_deref().unwrap_or(self.hash.as_str())
        };
        (self.hash.as_str(), current)
    }

    /// Updates the model with the workload's current template hash and replica count.
    pub(crate) fn observe(
        &mut self,
        hash: &str,
        replicas: u32,
        now: Instant,
        delay: Duration,
    ) -> Change {
        if hash == self.hash && replicas == self.replicas {
            return Change::None;
        }
        let before = self.counts(now, delay);
        let change = if hash != self.hash {
            self.previous_hash = if self.done(now, delay) {
                Some(self.hash.clone())
            } else {
                self.previous_hash.take()
            };
            self.hash = hash.to_owned();
            self.during = Counts {
                replicas,
                updated: 0,
                ready: before.ready.min(replicas.saturating_sub(1)),
            };
            Change::Template
        } else {
            self.during = Counts {
                replicas,
                updated: before.updated.min(replicas),
                ready: before.ready.min(replicas),
            };
            if self.done(now, delay) {
                self.previous_hash = None;
            }
            Change::Scale
        };
        self.replicas = replicas;
        self.since = now;
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(30);

    fn at(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn creation_becomes_ready_after_exactly_the_delay() {
        let t0 = Instant::now();
        let r = Rollout::first_seen("h1".into(), 3, t0, false);
        let c = r.counts(t0 + D - Duration::from_millis(1), D);
        assert_eq!((c.updated, c.ready), (3, 0));
        assert_eq!(r.counts(t0 + D, D), Counts::full(3));
        assert_eq!(r.next_change(t0, D), Some(t0 + D));
        assert_eq!(r.next_change(t0 + D, D), None);
    }

    #[test]
    fn settled_workload_is_ready_at_once() {
        let t0 = Instant::now();
        let r = Rollout::first_seen("h1".into(), 2, t0, true);
        assert_eq!(r.counts(t0, D), Counts::full(2));
    }

    #[test]
    fn template_change_rolls_with_one_unavailable() {
        let t0 = Instant::now();
        let mut r = Rollout::first_seen("h1".into(), 3, t0, false);
        assert_eq!(r.observe("h2", 3, at(t0, 60), D), Change::Template);
        let c = r.counts(at(t0, 61), D);
        assert_eq!((c.replicas, c.updated, c.ready), (3, 0, 2));
        assert_eq!(r.revisions(at(t0, 61), D), ("h2", "h1"));
        assert_eq!(r.counts(at(t0, 90), D), Counts::full(3));
        assert_eq!(r.revisions(at(t0, 90), D), ("h2", "h2"));
    }

    #[test]
    fn template_change_before_ready_keeps_zero_ready_and_no_previous_revision() {
        let t0 = Instant::now();
        let mut r = Rollout::first_seen("h1".into(), 3, t0, false);
        r.observe("h2", 3, at(t0, 10), D);
        assert_eq!(r.counts(at(t0, 11), D).ready, 0);
        assert_eq!(r.revisions(at(t0, 11), D), ("h2", "h2"));
        assert_eq!(r.next_change(at(t0, 11), D), Some(at(t0, 40)));
    }

    #[test]
    fn scale_up_keeps_ready_pods_and_adds_the_rest_after_the_delay() {
        let t0 = Instant::now();
        let mut r = Rollout::first_seen("h1".into(), 2, t0, true);
        assert_eq!(r.observe("h1", 4, at(t0, 5), D), Change::Scale);
        let c = r.counts(at(t0, 6), D);
        assert_eq!((c.replicas, c.updated, c.ready), (4, 2, 2));
        assert_eq!(r.counts(at(t0, 35), D), Counts::full(4));
        assert_eq!(r.observe("h1", 4, at(t0, 40), D), Change::None);
    }

    #[test]
    fn single_replica_roll_has_nothing_ready_until_done() {
        let t0 = Instant::now();
        let mut r = Rollout::first_seen("h1".into(), 1, t0, true);
        r.observe("h2", 1, t0, D);
        assert_eq!(r.counts(t0, D).ready, 0);
        assert_eq!(r.counts(t0, D).broken().ready, 0);
        assert_eq!(r.counts(at(t0, 30), D).ready, 1);
    }
}
