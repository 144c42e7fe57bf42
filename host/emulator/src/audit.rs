//! The write audit: a counter of successful mutating requests and a broadcast of every committed
//! object change, attributed to the client's user agent.
//!
//! Tests use it to assert "the controller wrote nothing in steady state" or "this Machine was
//! deleted by the remediation path", without polling the API.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

/// An API verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH other than server-side apply.
    Patch,
    /// PATCH with `application/apply-patch+yaml`.
    Apply,
    /// DELETE of one object (also: the removal or finalizer-pending marking it causes).
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
}

impl Verb {
    /// Whether the verb mutates state.
    pub fn is_write(self) -> bool {
        !matches!(self, Verb::Get | Verb::List | Verb::Watch)
    }
}

/// One committed write.
#[derive(Debug, Clone)]
pub struct WriteEvent {
    /// The request verb that caused it (garbage collection reports `Delete`).
    pub verb: Verb,
    /// e.g. `apps/v1`.
    pub api_version: String,
    /// e.g. `Deployment`.
    pub kind: String,
    /// Namespace, None for cluster-scoped.
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
    /// The resourceVersion of the write.
    pub resource_version: u64,
    /// The object after the write (for deletions: its last state).
    pub object: serde_json::Value,
    /// The client's `User-Agent`; None for the emulator's own writes (garbage collection).
    pub user_agent: Option<String>,
}

/// Counter plus broadcast channel.
#[derive(Debug)]
pub(crate) struct Audit {
    writes: AtomicU64,
    tx: broadcast::Sender<WriteEvent>,
}

impl Audit {
    pub(crate) fn new(capacity: usize) -> Audit {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Audit {
            writes: AtomicU64::new(0),
            tx,
        }
    }

    /// Counts one successful mutating request.
    pub(crate) fn count_request(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn write_count(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Whether anyone listens (so callers can skip building events).
    pub(crate) fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub(crate) fn publish(&self, ev: WriteEvent) {
        // No receivers is fine: nobody is auditing.
        let _ = self.tx.send(ev);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<WriteEvent> {
        self.tx.subscribe()
    }
}
