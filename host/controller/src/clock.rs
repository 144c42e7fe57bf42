//! Where every decision's `now` comes from.
//!
//! Production uses [`SystemClock`]. Simulation and paused-time tests use [`VirtualClock`], which
//! reads tokio's clock (`base + (Instant::now() - start)`), so `tokio::time::advance` moves the
//! controller's notion of time and the emulator's together.

use std::fmt::Debug;

use fleetward_sdk::wire::Timestamp;

/// A source of "now" for decisions, conditions and history.
pub trait Clock: Send + Sync + Debug {
    /// The current time, whole seconds.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp(secs)
    }
}

/// tokio's (possibly paused) clock, offset to a chosen start time.
#[derive(Clone, Copy, Debug)]
pub struct VirtualClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl VirtualClock {
    /// A clock that reads `base` now and advances with tokio's clock.
    pub fn starting_at(base: Timestamp) -> Self {
        VirtualClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.start);
        Timestamp(self.base.0 + elapsed.as_secs() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn virtual_clock_follows_tokio_time() {
        let c = VirtualClock::starting_at(Timestamp(1000));
        assert_eq!(c.now(), Timestamp(1000));
        tokio::time::advance(std::time::Duration::from_secs(90)).await;
        assert_eq!(c.now(), Timestamp(1090));
    }
}
