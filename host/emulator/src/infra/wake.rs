//! How a fake controller loop waits for work: the one wake-up policy both loops (the kubelet's
//! per kind, and the Cluster API one) share.
//!
//! A loop sleeps until the fault registry changes, a watch item arrives, or its next timer is
//! due, preferring them in that fixed order when several are ready so that runs are
//! reproducible. It then takes what else the watch has already delivered, up to
//! [`MAX_DRAIN`] items, so that one wake-up sees a burst of events at once, yet a busy stream
//! cannot starve the timers.

use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

/// Watch items taken per wake-up after the first, before reconciling.
const MAX_DRAIN: usize = 1024;

/// What one wake-up brought.
#[derive(Debug)]
pub(crate) struct Wake<T> {
    /// The fault registry changed: everything a fault can affect is to be looked at again.
    pub(crate) faults_changed: bool,
    /// Watch items, in arrival order (empty when a fault change or a timer woke the loop).
    pub(crate) items: Vec<T>,
}

/// Waits for the next wake-up of a loop whose earliest timer is `deadline`.
///
/// Draining stops early after an item for which `stop_after` holds (the kubelet stops at a
/// watch error and leaves the rest to the next wake-up). `None` means the loop is to end: the
/// fault registry or the watch stream is gone.
pub(crate) async fn next<S>(
    faults: &mut watch::Receiver<u64>,
    events: &mut S,
    deadline: Option<Instant>,
    stop_after: impl Fn(&S::Item) -> bool,
) -> Option<Wake<S::Item>>
where
    S: Stream + Unpin,
{
    let mut wake = Wake {
        faults_changed: false,
        items: Vec::new(),
    };
    tokio::select! {
        biased;
        changed = faults.changed() => {
            changed.ok()?;
            wake.faults_changed = true;
        }
        item = events.next() => wake.items.push(item?),
        () = sleep_until_opt(deadline) => {}
    }
    for _ in 0..MAX_DRAIN {
        let Some(item) = events.next().now_or_never() else {
            break;
        };
        let item = item?;
        let stop = stop_after(&item);
        wake.items.push(item);
        if stop {
            break;
        }
    }
    Some(wake)
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use futures::stream;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_fault_change_wins_and_waiting_items_are_drained() {
        let (tx, mut rx) = watch::channel(0);
        tx.send_replace(1);
        let mut events = stream::iter([1, 2, 3]).chain(stream::pending());
        let wake = next(&mut rx, &mut events, None, |_| false).await;
        let wake = wake.expect("registry and stream alive");
        assert!(wake.faults_changed);
        assert_eq!(wake.items, [1, 2, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn draining_stops_after_the_marked_item() {
        let (_tx, mut rx) = watch::channel(0);
        let mut events = stream::iter([1, 2, 3, 4]).chain(stream::pending());
        let wake = next(&mut rx, &mut events, None, |i| *i == 2).await;
        assert_eq!(wake.expect("alive").items, [1, 2]);
        let wake = next(&mut rx, &mut events, None, |_| false).await;
        assert_eq!(wake.expect("alive").items, [3, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_due_timer_wakes_with_nothing() {
        let (_tx, mut rx) = watch::channel(0);
        let mut events = stream::pending::<u32>();
        let at = Instant::now() + std::time::Duration::from_secs(5);
        let wake = next(&mut rx, &mut events, Some(at), |_| false).await;
        let wake = wake.expect("alive");
        assert!(!wake.faults_changed && wake.items.is_empty());
        assert!(Instant::now() >= at);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_registry_or_stream_ends_the_loop() {
        let (tx, mut rx) = watch::channel(0);
        let mut events = stream::pending::<u32>();
        drop(tx);
        assert!(next(&mut rx, &mut events, None, |_| false).await.is_none());
        let (_tx, mut rx) = watch::channel(0);
        let mut ended = stream::iter([1]);
        assert!(next(&mut rx, &mut ended, None, |_| false).await.is_none());
    }
}
