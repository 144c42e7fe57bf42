//! When to ask a policy again after it failed or held, if nothing else changed.
//!
//! A held or failing policy used to be asked again every 60 s forever: a tenant whose
//! upgrade-ordering module traps on every call cost 1,440 calls a day, each a Wasm run, a
//! ledger record and an Event, for an answer that cannot change until something does. Asking
//! again is only useful when
//!
//! - **its input changed** (a cluster's spec, version or placement; another seed) or **the
//!   policy changed** (a new module or config, a new failure mode): the caller compares a
//!   fingerprint of both and asks again at once; or
//! - **time passed**, for failures that depend on neither (a timeout under load): asked again
//!   after [`delay`] — 60 s, doubling with each consecutive failure of the same policy, at most
//!   [`MAX_DELAY`] (30 min). The schedule restarts when the policy answers again or is replaced.
//!
//! So a persistently failing policy is asked about log2(30) + 1 = 6 times in its first hour and
//! then twice an hour: ≤ 6 + 48·days calls, against 1,440 a day before. The cap keeps a failure
//! that fixes itself (a timeout) from waiting longer than half an hour.
//!
//! The clock is the caller's: every function takes `now`.

use fleetward_sdk::wire::Timestamp;

/// Delay before the first retry of a failing policy (seconds).
pub const FIRST_DELAY: i64 = 60;

/// Longest delay between two asks of a policy that keeps failing with unchanged input
/// (seconds).
pub const MAX_DELAY: i64 = 30 * 60;

/// Delay after the `failures`-th consecutive failure (1-based): 60 s, 120 s, 240 s, … capped
/// at [`MAX_DELAY`].
pub fn delay(failures: u32) -> i64 {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_DELAY.saturating_mul(1i64 << doublings).min(MAX_DELAY)
}

/// A policy that failed (or held) on its last ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failing {
    /// Which policy failed (module, config, failure mode): a new one starts a new streak.
    pub policy: String,
    /// Consecutive failures of that policy.
    pub failures: u32,
    /// When to ask again if nothing changes.
    pub retry_at: Timestamp,
}

/// The state after another failure of `policy` at `now`: the streak goes on while the same
/// policy keeps failing (whatever its input did), and starts over for a new policy.
pub fn failed(prev: Option<&Failing>, policy: &str, now: Timestamp) -> Failing {
    let failures = match prev {
        Some(p) if p.policy == policy => p.failures.saturating_add(1),
        _ => 1,
    };
    Failing {
        policy: policy.to_string(),
        failures,
        retry_at: Timestamp(now.0.saturating_add(delay(failures))),
    }
}

/// Whether to ask now: the input (policy included) changed since the last ask, or the delay
/// has passed.
pub fn due(last_input: &str, input: &str, retry_at: Timestamp, now: Timestamp) -> bool {
    last_input != input || now >= retry_at
}

/// The most asks a policy that keeps failing with unchanged input gets over `duration`
/// seconds from its first failure (that ask included): the bound the schedule promises.
pub fn max_asks(duration: i64) -> u32 {
    let mut asks = 1;
    let mut at = 0i64;
    loop {
        at = at.saturating_add(delay(asks));
        if at > duration {
            return asks;
        }
        asks += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_from_a_minute_to_half_an_hour() {
        let d: Vec<i64> = (1..=8).map(delay).collect();
        assert_eq!(d, [60, 120, 240, 480, 960, 1800, 1800, 1800]);
        assert_eq!(delay(0), 60, "no failure yet: the first delay");
        assert_eq!(delay(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn streak_continues_for_one_policy_and_restarts_for_a_new_one() {
        let now = Timestamp(1_000);
        let a1 = failed(None, "mod-a", now);
        assert_eq!((a1.failures, a1.retry_at), (1, Timestamp(1_060)));
        let a2 = failed(Some(&a1), "mod-a", Timestamp(1_060));
        assert_eq!((a2.failures, a2.retry_at), (2, Timestamp(1_180)));
        let b1 = failed(Some(&a2), "mod-b", Timestamp(1_100));
        assert_eq!((b1.failures, b1.retry_at), (1, Timestamp(1_160)));
    }

    #[test]
    fn asked_again_at_once_on_a_change_else_after_the_delay() {
        let retry_at = Timestamp(500);
        assert!(!due("in", "in", retry_at, Timestamp(499)));
        assert!(due("in", "in", retry_at, Timestamp(500)));
        assert!(due("in", "changed", retry_at, Timestamp(10)));
    }

    #[test]
    fn asks_grow_with_the_log_of_time_until_the_cap() {
        // 0, 60, 180, 420, 900, 1860: six asks in the first 31 minutes.
        assert_eq!(max_asks(0), 1);
        assert_eq!(max_asks(59), 1);
        assert_eq!(max_asks(60), 2);
        assert_eq!(max_asks(1_860), 6);
        // Then one every 30 minutes: a day is 52 asks, a week 340 (vs 1,441 and 10,081).
        assert_eq!(max_asks(86_400), 6 + (86_400 - 1_860) / 1_800);
        assert_eq!(max_asks(7 * 86_400), 6 + (7 * 86_400 - 1_860) / 1_800);
        // Within the first half hour the count is logarithmic in time.
        for t in [60i64, 120, 600, 1_200, 1_800] {
            let log = (t as f64 / 60.0).log2().floor() as u32 + 2;
            assert!(max_asks(t) <= log, "{t}: {} > {log}", max_asks(t));
        }
    }
}
