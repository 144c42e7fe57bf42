//! Watch streams: newline-delimited watch events over a chunked body.
//!
//! A stream replays the events after the requested resourceVersion (or synthetic ADDED events
//! for the current state), then forwards live events from its bounded channel. It sends BOOKMARK
//! events on a timer when asked to, ends cleanly at `timeoutSeconds` (tokio clock), ends when
//! `Faults::cut_watches` fires, and ends with a 410 ERROR event when its channel overflowed
//! (the watcher was too slow) so the client relists instead of the server buffering without
//! bound.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::api::table::{self, Include};
use crate::clock::Clock;
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::store::object::{Rendering, StoredObject};
use crate::store::{EventType, Registration, Store, WatchItem};

/// Table rendering of watch events (`kubectl get -w`).
#[derive(Debug, Clone)]
pub struct WatchTable {
    /// The resource type (printer columns).
    pub rt: Arc<ResourceType>,
    /// Clock for ages.
    pub clock: Clock,
    /// `includeObject`.
    pub include: Include,
}

/// Per-stream settings.
#[derive(Debug, Clone)]
pub struct WatchParams {
    /// Served `apiVersion` (for bookmarks).
    pub api_version: String,
    /// How event objects are rendered.
    pub rendering: Rendering,
    /// Render each event object as a one-row Table instead.
    pub table: Option<WatchTable>,
    /// Kind, for bookmark objects.
    pub kind: String,
    /// When the stream ends cleanly.
    pub timeout: Duration,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// `sendInitialEvents=true`: a bookmark annotated `k8s.io/initial-events-end` follows the
    /// initial events.
    pub initial_events_end: bool,
    /// Period of progress bookmarks.
    pub bookmark_interval: Duration,
}

/// Encodes one watch event line.
pub fn event_line(kind: EventType, obj: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(obj.len() + 32);
    out.put_slice(b"{\"type\":\"");
    out.put_slice(kind.as_str().as_bytes());
    out.put_slice(b"\",\"object\":");
    out.put_slice(obj);
    out.put_slice(b"}\n");
    out.freeze()
}

/// Encodes an ERROR event carrying a `Status`.
pub fn error_line(e: &ApiError) -> Bytes {
    let mut s = json!({"type": "ERROR", "object": e.to_status()}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn bookmark_line(p: &WatchParams, rv: u64, initial_end: bool) -> Bytes {
    let mut md = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let mut s = json!({"type": "BOOKMARK", "object": {"kind": p.kind, "apiVersion": p.api_version, "metadata": md}})
        .to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Renders one event object, as a Table row when asked (headers only on the first).
fn render_event(params: &WatchParams, obj: &Arc<StoredObject>, headers: &mut bool) -> Bytes {
    match &params.table {
        None => obj.render(&params.rendering),
        Some(t) => {
            let md = json!({"resourceVersion": obj.meta.rv.to_string()});
            let tbl = table::table(
                &t.rt,
                std::slice::from_ref(obj),
                t.clock.now(),
                md,
                t.include,
                *headers,
            );
            *headers = false;
            Bytes::from(serde_json::to_vec(&tbl).unwrap_or_default())
        }
    }
}

struct State {
    headers: bool,
    out: VecDeque<Bytes>,
    pending: VecDeque<WatchItem>,
    rx: mpsc::Receiver<WatchItem>,
    overflow: Arc<std::sync::atomic::AtomicBool>,
    cut: watch::Receiver<u64>,
    deadline: Instant,
    next_bookmark: Instant,
    store: Arc<std::sync::Mutex<Store>>,
    params: WatchParams,
    done: bool,
}

impl State {
    fn push_item(&mut self, item: &WatchItem) {
        let obj = render_event(&self.params, &item.obj, &mut self.headers);
        self.out.push_back(event_line(item.kind, &obj));
    }

    /// Emits everything already committed up to the current rv, then a bookmark at that rv.
    fn bookmark(&mut self) {
        let rv = self
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current_rv();
        while let Ok(item) = self.rx.try_recv() {
            self.pending.push_back(item);
        }
        while self.pending.front().is_some_and(|i| i.obj.meta.rv <= rv) {
            if let Some(item) = self.pending.pop_front() {
                self.push_item(&item);
            }
        }
        if self.pending.is_empty() {
            self.out.push_back(bookmark_line(&self.params, rv, false));
        }
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.out.pop_front() {
                return Some(chunk);
            }
            if self.done {
                return None;
            }
            if let Some(item) = self.pending.pop_front() {
                self.push_item(&item);
                continue;
            }
            let bookmarks = self.params.bookmarks;
            tokio::select! {
                biased;
                _ = self.cut.changed() => {
                    self.done = true;
                }
                item = self.rx.recv() => match item {
                    Some(item) => self.push_item(&item),
                    None => {
                        if self.overflow.load(Ordering::SeqCst) {
                            let rv = self.store.lock().unwrap_or_else(|e| e.into_inner()).current_rv();
                            self.out.push_back(error_line(&ApiError::gone(0, rv)));
                        }
                        self.done = true;
                    }
                },
                _ = tokio::time::sleep_until(self.deadline) => {
                    if bookmarks {
                        self.bookmark();
                    }
                    self.done = true;
                }
                _ = tokio::time::sleep_until(self.next_bookmark), if bookmarks => {
                    self.bookmark();
                    self.next_bookmark = Instant::now() + self.params.bookmark_interval;
                }
            }
        }
    }
}

/// The body stream of a registered watch.
pub fn stream(
    reg: Registration,
    store: Arc<std::sync::Mutex<Store>>,
    cut: watch::Receiver<u64>,
    params: WatchParams,
) -> impl Stream<Item = Bytes> + Send + 'static {
    let now = Instant::now();
    let mut out = VecDeque::new();
    let mut headers = true;
    for item in &reg.initial {
        out.push_back(event_line(
            item.kind,
            &render_event(&params, &item.obj, &mut headers),
        ));
    }
    if params.initial_events_end && params.bookmarks {
        out.push_back(bookmark_line(&params, reg.start_rv, true));
    }
    let state = State {
        headers,
        out,
        pending: VecDeque::new(),
        rx: reg.rx,
        overflow: reg.overflow,
        cut,
        deadline: now + params.timeout,
        next_bookmark: now + params.bookmark_interval,
        store,
        params,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        st.next_chunk().await.map(|c| (c, st))
    })
}

/// A stream of a single ERROR event (e.g. 410 for a compacted resourceVersion).
pub fn error_stream(e: &ApiError) -> impl Stream<Item = Bytes> + Send + 'static {
    futures::stream::iter([error_line(e)])
}
