//! The emulator's wall clock, driven by the tokio clock.
//!
//! Every timestamp the emulator writes (`creationTimestamp`, `deletionTimestamp`, managedFields
//! times) comes from here, so tests running under `#[tokio::test(start_paused = true)]` see
//! virtual time advance exactly as tokio's timers do. The system clock is read once at most,
//! for the start time of a server people use (`EmulatorBuilder::wall_clock`,
//! `fleetward emulator`); tests and `fleetward simulate` start at a fixed time and never read it.

use jiff::{Timestamp, ToSpan};

/// Maps tokio instants to wall-clock timestamps: `start + (now - origin)`.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    start: Timestamp,
    origin: tokio::time::Instant,
}

impl Clock {
    /// A clock that reads `start` right now.
    pub(crate) fn new(start: Timestamp) -> Clock {
        Clock {
            start,
            origin: tokio::time::Instant::now(),
        }
    }

    /// The current emulated wall-clock time.
    pub(crate) fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.origin);
        let nanos = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
        self.start
            .checked_add(nanos.nanoseconds())
            .unwrap_or(self.start)
    }

    /// The current time in the API server's wire format (RFC 3339, whole seconds, `Z`).
    pub(crate) fn now_rfc3339(&self) -> String {
        format_seconds(self.now())
    }
}

/// Formats a timestamp the way `metav1.Time` serialises: whole seconds, UTC, `Z` suffix.
pub(crate) fn format_seconds(ts: Timestamp) -> String {
    let secs = ts.as_second();
    Timestamp::from_second(secs).unwrap_or(ts).to_string()
}

/// The system's current time, whole seconds (the start of a wall-clock emulator).
pub(crate) fn system_now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// The default emulator start time: 2026-01-05T00:00:00Z.
pub(crate) fn default_start() -> Timestamp {
    // 2026-01-05T00:00:00Z as seconds since the Unix epoch.
    Timestamp::from_second(1_767_571_200).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_start_is_the_documented_date() {
        assert_eq!(format_seconds(default_start()), "2026-01-05T00:00:00Z");
    }

    #[test]
    fn system_now_is_the_wall_clock() {
        let before = Timestamp::now().as_second();
        let now = system_now().as_second();
        assert!(
            now >= before && now <= Timestamp::now().as_second(),
            "{now}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn follows_the_paused_tokio_clock() {
        let clock = Clock::new(default_start());
        tokio::time::sleep(std::time::Duration::from_secs(90)).await;
        assert_eq!(clock.now_rfc3339(), "2026-01-05T00:01:30Z");
    }
}
