//! The decision log's queue: producers (reconcilers) hand records to a [`DecisionLog`] handle,
//! one writer thread writes them to a [`LineSink`].
//!
//! Why a bounded queue that drops instead of one that waits: the log is an audit trail, not a
//! part of deciding. A reconcile must never wait for a disk or a log shipper, so
//! [`DecisionLog::send`] only takes a short lock and pushes; when the queue is full the record
//! is dropped, counted in `fleetward_decision_log_dropped_total{reason="queue_full"}`, and the
//! gap is written into the log itself as a `dropped` line ([`DroppedEntry`]) in the place the
//! records would have had. A record the sink fails to write is dropped the same way
//! (`reason="write_failed"`), and its `dropped` line is written as soon as writing works again.
//!
//! `seq` is assigned here, under the queue's lock, in the order records enter the queue: the
//! log's lines are in `seq` order, and a dropped record's number appears in its `dropped` line,
//! so every number from 1 up is accounted for.
//!
//! The writer runs on its own OS thread (blocking I/O never runs on a tokio worker); it takes
//! everything queued at once, so the lock is held only for a swap.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::record::{DecisionEntry, DroppedEntry};
use crate::metrics::Metrics;

/// Default queue capacity, in records. A decision record is typically 1-20 KiB (its input
/// envelope), so a full queue holds at most tens of MiB.
pub const DEFAULT_CAPACITY: usize = 4096;

/// Where the writer puts complete lines.
pub trait LineSink: Send + 'static {
    /// Writes `line` (one record, no newline) as one whole line, or nothing of it.
    ///
    /// # Errors
    /// The I/O error; the sink must then hold nothing of `line` (see `file.rs`).
    fn write_line(&mut self, line: &str) -> io::Result<()>;
}

impl LineSink for Box<dyn LineSink> {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        (**self).write_line(line)
    }
}

/// The `fleetward::decision_log` tracing target: one INFO event per record, the JSON line as
/// its `record` field, for log shippers that read the controller's stdout.
#[derive(Debug, Default)]
pub struct TracingSink;

/// The tracing target decision records are emitted under.
pub const TRACING_TARGET: &str = "fleetward::decision_log";

impl LineSink for TracingSink {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        tracing::info!(target: TRACING_TARGET, record = %line, "decision");
        Ok(())
    }
}

/// Several sinks, each line to all: it fails if any failed (the others keep the line).
pub struct Tee(pub Vec<Box<dyn LineSink>>);

impl std::fmt::Debug for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tee({} sinks)", self.0.len())
    }
}

impl LineSink for Tee {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut result = Ok(());
        for sink in &mut self.0 {
            if let Err(e) = sink.write_line(line) {
                result = Err(e);
            }
        }
        result
    }
}

/// One queued item: a record, or the notice for records dropped at this place in the queue.
#[derive(Debug)]
enum Item {
    Entry(Box<DecisionEntry>),
    Dropped(DroppedEntry),
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Item>,
    /// Records (not notices) in `queue`.
    entries: usize,
    /// The last `seq` handed out.
    seq: u64,
    closed: bool,
}

#[derive(Debug)]
struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
    metrics: Arc<Metrics>,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, mut entry: DecisionEntry) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.seq += 1;
        let seq = state.seq;
        entry.seq = seq;
        if state.entries < self.capacity {
            state.entries += 1;
            state.queue.push_back(Item::Entry(Box::new(entry)));
            drop(state);
            self.ready.notify_one();
            return;
        }
        // Full: this number goes into the notice at the queue's end (one per run of drops).
        match state.queue.back_mut() {
            Some(Item::Dropped(d)) if d.last_seq + 1 == seq => {
                d.last_seq = seq;
                d.count += 1;
            }
            _ => state
                .queue
                .push_back(Item::Dropped(DroppedEntry::new(seq, seq, "queue full"))),
        }
        drop(state);
        self.metrics.decision_log_dropped("queue_full", 1);
    }

    /// Everything queued, waiting until there is something; `None` once closed and drained.
    fn take(&self) -> Option<VecDeque<Item>> {
        let mut state = self.lock();
        while state.queue.is_empty() && !state.closed {
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.queue.is_empty() {
            return None;
        }
        state.entries = 0;
        Some(std::mem::take(&mut state.queue))
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Writes items to a sink; a failed write drops the item into a notice written once a write
/// succeeds again.
struct Writer<S> {
    sink: S,
    failed: Option<DroppedEntry>,
    metrics: Arc<Metrics>,
}

impl<S: LineSink> Writer<S> {
    fn write(&mut self, item: Item) {
        if let Some(notice) = self.failed.take()
            && let Err(e) = self.sink.write_line(&notice.to_line())
        {
            self.failed = Some(notice);
            self.lost(item, &e);
            return;
        }
        let line = match &item {
            Item::Entry(e) => e.to_line(),
            Item::Dropped(d) => d.to_line(),
        };
        if let Err(e) = self.sink.write_line(&line) {
            self.lost(item, &e);
        }
    }

    /// Folds an item that could not be written into the pending notice.
    fn lost(&mut self, item: Item, error: &io::Error) {
        let (first, last, count) = match item {
            Item::Entry(e) => {
                self.metrics.decision_log_dropped("write_failed", 1);
                (e.seq, e.seq, 1)
            }
            // Already counted (queue full); only its notice is lost, folded into this one.
            Item::Dropped(d) => (d.first_seq, d.last_seq, d.count),
        };
        let notice = self.failed.get_or_insert_with(|| {
            let mut n = DroppedEntry::new(first, last, format!("write failed: {error}"));
            n.count = 0;
            n
        });
        notice.first_seq = notice.first_seq.min(first);
        notice.last_seq = notice.last_seq.max(last);
        notice.count += count;
        notice.reason = format!("write failed: {error}");
        tracing::warn!(
            target: "fleetward::decision_log::sink",
            error = %error,
            "decision log write failed; the record is dropped and a `dropped` line follows once writing works again"
        );
    }
}

#[derive(Debug)]
enum Inner {
    /// Records are discarded (no `--decision-log`).
    Off,
    /// Records go to the bounded queue and its writer thread.
    Queue(Arc<Closer>),
    /// Records are kept in memory, none dropped (simulation: written at the end, sorted).
    Memory(Arc<Mutex<Vec<DecisionEntry>>>),
}

/// Closes the queue when the last handle is gone, so the writer drains and ends.
#[derive(Debug)]
struct Closer(Arc<Queue>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A cloneable handle producers send decision records to (`reconcile::Context::decision_log`).
/// [`DecisionLog::default`] is off: records are discarded.
#[derive(Clone, Debug)]
pub struct DecisionLog(Arc<Inner>);

impl Default for DecisionLog {
    fn default() -> Self {
        DecisionLog(Arc::new(Inner::Off))
    }
}

/// The writer thread of a [`DecisionLog`]; [`WriterThread::join`] waits until every record
/// queued before [`DecisionLog::close`] is written.
#[derive(Debug)]
pub struct WriterThread(Option<JoinHandle<()>>);

impl WriterThread {
    /// Waits for the writer to drain the queue and end (after [`DecisionLog::close`], or once
    /// every handle is dropped).
    pub fn join(mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

/// Records kept in memory by [`DecisionLog::memory`].
#[derive(Clone, Debug, Default)]
pub struct Collected(Arc<Mutex<Vec<DecisionEntry>>>);

impl Collected {
    /// Takes the records sent so far.
    pub fn take(&self) -> Vec<DecisionEntry> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl DecisionLog {
    /// A log that discards records (the default).
    pub fn off() -> Self {
        Self::default()
    }

    /// A log writing to `sink` on its own thread through a queue of `capacity` records; drops
    /// are counted in `metrics`.
    ///
    /// # Errors
    /// The OS refused to start the writer thread.
    pub fn start(
        sink: impl LineSink,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> io::Result<(DecisionLog, WriterThread)> {
        let queue = Arc::new(Queue {
            state: Mutex::default(),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            metrics: metrics.clone(),
        });
        let mut writer = Writer {
            sink,
            failed: None,
            metrics,
        };
        let q = queue.clone();
        let thread = std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || {
                while let Some(batch) = q.take() {
                    for item in batch {
                        writer.write(item);
                    }
                }
                // A last notice that never found a working write is lost with the process; say
                // so where an operator looks.
                if let Some(n) = writer.failed.take()
                    && writer.sink.write_line(&n.to_line()).is_err()
                {
                    tracing::error!(
                        count = n.count,
                        first_seq = n.first_seq,
                        last_seq = n.last_seq,
                        "decision log closed with records it could not write"
                    );
                }
            })?;
        Ok((
            DecisionLog(Arc::new(Inner::Queue(Arc::new(Closer(queue))))),
            WriterThread(Some(thread)),
        ))
    }

    /// A log keeping every record in memory, none dropped, `seq` left 0 and `duration_us`
    /// removed: `fleetward simulate` writes them at the end in a defined order.
    pub fn memory() -> (DecisionLog, Collected) {
        let records = Collected::default();
        (
            DecisionLog(Arc::new(Inner::Memory(records.0.clone()))),
            records,
        )
    }

    /// Whether records are kept at all (producers may skip building one when not).
    pub fn is_on(&self) -> bool {
        !matches!(*self.0, Inner::Off)
    }

    /// Queues one record; never waits for the writer. A full queue drops it (counted, and
    /// noted in the log).
    pub fn send(&self, entry: DecisionEntry) {
        match &*self.0 {
            Inner::Off => {}
            Inner::Queue(q) => q.0.push(entry),
            Inner::Memory(m) => {
                // Kept for a simulation, whose time is virtual: a wall-clock duration would
                // make two runs differ.
                let mut entry = entry;
                entry.duration_us = None;
                m.lock().unwrap_or_else(|e| e.into_inner()).push(entry)
            }
        }
    }

    /// Stops accepting records (later ones are discarded); the writer drains what is queued and
    /// ends ([`WriterThread::join`] waits for that).
    pub fn close(&self) {
        if let Inner::Queue(q) = &*self.0 {
            q.0.close();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::mpsc;

    use fleetward_sdk::wire::{DecisionKind, Timestamp};
    use serde_json::value::RawValue;

    use super::*;
    use crate::decision_log::record::{FORMAT_VERSION, LogLine, Role, read_lines, sha256_hex};

    pub(crate) fn entry(tenant: &str) -> DecisionEntry {
        let input = r#"{"abi_version":1}"#;
        DecisionEntry {
            v: FORMAT_VERSION,
            record: "decision".into(),
            seq: 0,
            time: Timestamp(0),
            tenant: tenant.into(),
            kind: DecisionKind::Placement,
            role: Role::Live,
            clusters: vec![],
            module: "builtin".into(),
            config_sha256: None,
            input_sha256: sha256_hex(input.as_bytes()),
            input: RawValue::from_string(input.into()).unwrap(),
            output: None,
            error: None,
            outcomes: vec![],
            fuel: None,
            duration_us: None,
            shadow: None,
        }
    }

    /// Lines written, shared with the test.
    #[derive(Clone, Default)]
    pub(crate) struct Lines(pub(crate) Arc<Mutex<Vec<String>>>);

    impl Lines {
        fn text(&self) -> String {
            self.0.lock().unwrap().join("\n")
        }
    }

    /// A sink that waits for the test's go-ahead before each write, and fails while told to.
    struct Gate {
        lines: Lines,
        go: mpsc::Receiver<Result<(), ()>>,
    }

    impl LineSink for Gate {
        fn write_line(&mut self, line: &str) -> io::Result<()> {
            match self.go.recv() {
                Ok(Ok(())) | Err(_) => {
                    self.lines.0.lock().unwrap().push(line.to_string());
                    Ok(())
                }
                Ok(Err(())) => Err(io::Error::other("disk full")),
            }
        }
    }

    fn dropped(metrics: &Metrics, reason: &str) -> Option<u64> {
        let text = metrics.render();
        let key = format!("fleetward_decision_log_dropped_total{{reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .map(|n| n.trim().parse().unwrap())
    }

    #[test]
    fn a_full_queue_drops_counts_and_says_so_in_the_log_in_seq_order() {
        let metrics = Arc::new(Metrics::new());
        let lines = Lines::default();
        let (go, rx) = mpsc::channel();
        let (log, writer) = DecisionLog::start(
            Gate {
                lines: lines.clone(),
                go: rx,
            },
            2,
            metrics.clone(),
        )
        .unwrap();
        // The writer may already hold one or two records, waiting at the gate: the queue takes
        // at most 4 of the 10 (2 in the writer's hands, 2 queued), the rest are dropped, and
        // no send waits.
        for i in 0..10 {
            log.send(entry(&format!("t{i}")));
        }
        let drops = dropped(&metrics, "queue_full").expect("drops counted");
        assert!((6..=8).contains(&drops), "{drops}");
        // Let everything through.
        log.close();
        drop(go);
        writer.join();
        let read: Vec<LogLine> = read_lines(lines.text().as_bytes())
            .map(Result::unwrap)
            .collect();
        let mut seen = Vec::new();
        for line in &read {
            match line {
                LogLine::Decision(d) => seen.push(d.seq),
                LogLine::Dropped(d) => {
                    assert_eq!(d.reason, "queue full");
                    assert_eq!(d.count, drops);
                    seen.extend(d.first_seq..=d.last_seq);
                }
            }
        }
        assert_eq!(seen, (1..=10).collect::<Vec<_>>(), "every number, in order");
        assert_eq!(read.len() as u64, 10 - drops + 1, "one notice for the run");
    }

    #[test]
    fn a_failed_write_is_noted_once_writing_works_again() {
        let metrics = Arc::new(Metrics::new());
        let lines = Lines::default();
        let (go, rx) = mpsc::channel();
        let (log, writer) = DecisionLog::start(
            Gate {
                lines: lines.clone(),
                go: rx,
            },
            16,
            metrics.clone(),
        )
        .unwrap();
        for i in 0..4 {
            log.send(entry(&format!("t{i}")));
        }
        go.send(Ok(())).unwrap(); // 1 written
        go.send(Err(())).unwrap(); // 2 fails
        go.send(Err(())).unwrap(); // the notice before 3 fails: 3 is folded in
        go.send(Ok(())).unwrap(); // the notice for 2..=3
        go.send(Ok(())).unwrap(); // 4
        log.close();
        drop(go);
        writer.join();
        assert_eq!(dropped(&metrics, "write_failed"), Some(2));
        assert_eq!(dropped(&metrics, "queue_full"), None);
        let read: Vec<LogLine> = read_lines(lines.text().as_bytes())
            .map(Result::unwrap)
            .collect();
        assert_eq!(read.len(), 3);
        assert!(matches!(&read[0], LogLine::Decision(d) if d.seq == 1 && d.tenant == "t0"));
        match &read[1] {
            LogLine::Dropped(d) => {
                assert_eq!((d.first_seq, d.last_seq, d.count), (2, 3, 2));
                assert!(d.reason.contains("disk full"), "{}", d.reason);
            }
            other => panic!("expected a notice, got {other:?}"),
        }
        assert!(matches!(&read[2], LogLine::Decision(d) if d.seq == 4 && d.tenant == "t3"));
    }

    #[test]
    fn off_discards_and_memory_keeps_everything() {
        let off = DecisionLog::default();
        assert!(!off.is_on());
        off.send(entry("t"));
        let (log, kept) = DecisionLog::memory();
        assert!(log.is_on());
        for i in 0..5000 {
            log.clone().send(entry(&format!("t{i}")));
        }
        let all = kept.take();
        assert_eq!(all.len(), 5000);
        assert!(all.iter().all(|e| e.seq == 0));
        assert!(kept.take().is_empty());
    }
}
