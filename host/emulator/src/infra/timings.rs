//! How long the fake infrastructure takes to do things, and which clock labels its timestamps.
//!
//! Every delay is measured on the tokio clock (`tokio::time::Instant`), so a test under
//! `#[tokio::test(start_paused = true)]` or a simulation on a paused runtime moves machines and
//! workloads through their lifecycles in virtual time. Wall-clock time is never used to decide
//! anything; [`InfraClock`] only turns a tokio instant into the RFC 3339 label written into
//! condition `lastTransitionTime` fields.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;

/// Delays and behaviour switches of the fake kubelet and Cluster API controllers.
#[derive(Clone, Debug, PartialEq)]
pub struct InfraTimings {
    /// Time from a workload's creation or last pod-template change until all its replicas are
    /// ready. During a roll `readyReplicas` stays at `replicas - 1`. Default: 30 s.
    pub workload_ready: Duration,
    /// Time from a Machine's creation until it is `Running` with a `nodeRef`. Default: 2 min.
    pub machine_ready: Duration,
    /// Time a deleted Machine spends in phase `Deleting` (its finalizer is held) before it goes
    /// away. Zero means the fake adds no finalizer and deletion is immediate. Default: 10 s.
    pub machine_delete: Duration,
    /// Whether a pod-template change (for example a `kubectl rollout restart`, which sets the
    /// `kubectl.kubernetes.io/restartedAt` template annotation) heals a workload broken with
    /// [`FakeInfraHandle::break_workload`](super::FakeInfraHandle::break_workload).
    /// Default: `false` (only `heal_workload` heals).
    pub restart_heals: bool,
    /// First delay before retrying a write that failed with something other than a conflict;
    /// doubles on each further failure of the same object, up to 32 times this. Default: 1 s.
    pub retry_backoff: Duration,
    /// Which wall-clock label the tokio clock maps to. Default: [`InfraClock::default`].
    pub clock: InfraClock,
}

impl Default for InfraTimings {
    fn default() -> Self {
        InfraTimings {
            workload_ready: Duration::from_secs(30),
            machine_ready: Duration::from_secs(120),
            machine_delete: Duration::from_secs(10),
            restart_heals: false,
            retry_backoff: Duration::from_secs(1),
            clock: InfraClock::default(),
        }
    }
}

/// Maps tokio instants to timestamps written into conditions.
///
/// The emulator's clock is `start_time + (tokio now - creation instant)`; anchoring this clock
/// to the same pair (`InfraClock::Anchored { origin: emulator.now(), at: Instant::now() }`)
/// makes the fake's condition times agree with the emulator's `creationTimestamp`s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InfraClock {
    /// `origin` is the time at the instant [`FakeInfra::start`](super::FakeInfra::start) runs.
    StartsAt(Timestamp),
    /// `origin` is the time at the tokio instant `at`.
    Anchored {
        /// Timestamp that corresponds to `at`.
        origin: Timestamp,
        /// Tokio instant that corresponds to `origin`.
        at: Instant,
    },
    /// The system clock: for running the fake against a real cluster. Only labels use it.
    System,
}

impl Default for InfraClock {
    /// `StartsAt(2026-01-05T00:00:00Z)`, the default start time of `Emulator::new()`, so a fake
    /// started together with a fresh emulator agrees with it.
    fn default() -> Self {
        InfraClock::StartsAt(Timestamp::from_second(EMULATOR_EPOCH_SECONDS).unwrap_or_default())
    }
}

/// 2026-01-05T00:00:00Z, the emulator's default start time.
const EMULATOR_EPOCH_SECONDS: i64 = 1_767_571_200;

impl InfraClock {
    /// Fixes a `StartsAt` clock to the instant `at`; other clocks are returned unchanged.
    pub(crate) fn anchor(self, at: Instant) -> InfraClock {
        match self {
            InfraClock::StartsAt(origin) => InfraClock::Anchored { origin, at },
            other => other,
        }
    }

    /// The label for tokio instant `now`, truncated to whole seconds as the API server does.
    pub(crate) fn timestamp_at(&self, now: Instant) -> Timestamp {
        let exact = match *self {
            InfraClock::StartsAt(origin) => origin,
            InfraClock::Anchored { origin, at } => {
                if now >= at {
                    origin.checked_add(now - at).unwrap_or(origin)
                } else {
                    origin.checked_sub(at - now).unwrap_or(origin)
                }
            }
            InfraClock::System => Timestamp::now(),
        };
        Timestamp::from_second(exact.as_second()).unwrap_or(exact)
    }

    /// RFC 3339 rendering of [`InfraClock::timestamp_at`], e.g. `2026-01-05T00:02:00Z`.
    pub(crate) fn rfc3339_at(&self, now: Instant) -> String {
        self.timestamp_at(now).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_clock_is_the_emulator_epoch() {
        let InfraClock::StartsAt(origin) = InfraClock::default() else {
            panic!("default clock should be StartsAt");
        };
        assert_eq!(origin.to_string(), "2026-01-05T00:00:00Z");
    }

    #[tokio::test(start_paused = true)]
    async fn anchored_clock_follows_virtual_time_in_whole_seconds() {
        let at = Instant::now();
        let clock = InfraClock::default().anchor(at);
        assert_eq!(clock.rfc3339_at(at), "2026-01-05T00:00:00Z");
        tokio::time::advance(Duration::from_millis(120_700)).await;
        assert_eq!(clock.rfc3339_at(Instant::now()), "2026-01-05T00:02:00Z");
    }

    #[test]
    fn default_timings_match_the_documented_values() {
        let t = InfraTimings::default();
        assert_eq!(t.workload_ready, Duration::from_secs(30));
        assert_eq!(t.machine_ready, Duration::from_secs(120));
        assert_eq!(t.machine_delete, Duration::from_secs(10));
        assert!(!t.restart_heals);
    }
}
