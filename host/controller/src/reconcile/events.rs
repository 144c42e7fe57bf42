//! Events: one Kubernetes Event per distinct cause; a repeat of the same cause counts on it.
//!
//! # Why not kube-runtime's `Recorder`
//! `kube::runtime::events::Recorder` correlates a series by (type, action, reason, regarding)
//! and leaves the note out, so a second cause with the same reason is published as a repeat of
//! the first and keeps the first one's note: a garbage module refused after a digest mismatch
//! showed only the digest mismatch, and the pool step's `UpgradeStarted` hid behind the
//! control-plane step's. Here the note is part of the key, as client-go's event correlator
//! compares messages: a new cause is a new Event, the same cause again within [`SERIES_TTL`]
//! increments `series.count` on the Event already written.
//!
//! Events stay `events.k8s.io/v1` (what the Recorder wrote, what `kubectl events` reads; the
//! API server also serves them as core/v1 to `kubectl describe`). [`EventBook`] decides create
//! or repeat (pure, unit-tested); [`Recorder::publish`] writes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use fleetward_sdk::wire::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

/// How long after its last occurrence a cause is still counted on its Event (kube-runtime's and
/// client-go's 6 minutes); later it is a new Event.
pub(crate) const SERIES_TTL_SECS: i64 = 6 * 60;

/// At most this many causes are remembered; beyond it the least recently seen are forgotten
/// (a forgotten cause seen again becomes a new Event, never an error).
const MAX_REMEMBERED: usize = 4096;

/// Longest note written, in bytes (the API server refuses notes over 1 KiB).
pub(crate) const MAX_NOTE_BYTES: usize = 1000;

/// `note` cut to [`MAX_NOTE_BYTES`] at a character boundary.
fn bounded_note(note: &str) -> &str {
    let mut end = note.len().min(MAX_NOTE_BYTES);
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    &note[..end]
}

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Severity {
    /// Something the operator may want to know happened.
    Normal,
    /// Something the operator may have to act on.
    Warning,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Normal => "Normal",
            Severity::Warning => "Warning",
        }
    }
}

/// What makes two Events the same cause: the object, severity, reason and note.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CauseKey {
    regarding: String,
    severity: Severity,
    reason: String,
    note: String,
}

impl CauseKey {
    /// The key of an Event about `regarding`.
    pub(crate) fn new(
        regarding: &ObjectReference,
        severity: Severity,
        reason: &str,
        note: &str,
    ) -> Self {
        CauseKey {
            regarding: format!(
                "{}/{}/{}/{}/{}",
                regarding.api_version.as_deref().unwrap_or_default(),
                regarding.kind.as_deref().unwrap_or_default(),
                regarding.namespace.as_deref().unwrap_or_default(),
                regarding.name.as_deref().unwrap_or_default(),
                regarding.uid.as_deref().unwrap_or_default(),
            ),
            severity,
            reason: reason.to_string(),
            note: note.to_string(),
        }
    }
}

/// What to write for one occurrence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Write {
    /// A new cause: create an Event with this name.
    Create {
        /// The new Event's name.
        name: String,
    },
    /// The same cause again: set `series.count` on the Event `name`.
    Repeat {
        /// The Event written for this cause.
        name: String,
        /// Occurrences so far, this one included (at least 2).
        count: i32,
    },
}

#[derive(Clone, Debug)]
struct Seen {
    name: String,
    count: i32,
    last: Timestamp,
}

/// The causes published recently and the Event each went to.
#[derive(Debug, Default)]
pub(crate) struct EventBook {
    seen: HashMap<CauseKey, Seen>,
}

impl EventBook {
    /// Decides the write for an occurrence of `key` at `now`; `fresh_name` names a new Event.
    pub(crate) fn occur(
        &mut self,
        key: CauseKey,
        now: Timestamp,
        fresh_name: impl FnOnce() -> String,
    ) -> Write {
        self.seen
            .retain(|_, s| now.0.saturating_sub(s.last.0) <= SERIES_TTL_SECS);
        if let Some(s) = self.seen.get_mut(&key) {
            s.count = s.count.saturating_add(1);
            s.last = now;
            return Write::Repeat {
                name: s.name.clone(),
                count: s.count,
            };
        }
        if self.seen.len() >= MAX_REMEMBERED
            && let Some(oldest) = self
                .seen
                .iter()
                .min_by_key(|(_, s)| s.last.0)
                .map(|(k, _)| k.clone())
        {
            self.seen.remove(&oldest);
        }
        let name = fresh_name();
        self.seen.insert(
            key,
            Seen {
                name: name.clone(),
                count: 1,
                last: now,
            },
        );
        Write::Create { name }
    }

    /// Forgets `key` (its write failed): the next occurrence creates a new Event.
    pub(crate) fn forget(&mut self, key: &CauseKey) {
        self.seen.remove(key);
    }
}

/// Writes Events as `reporting_controller` / `reporting_instance`.
pub(crate) struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    book: Mutex<EventBook>,
    sequence: AtomicU64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("controller", &self.controller)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder on `client`; `instance` defaults to the controller name.
    pub(crate) fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        Recorder {
            client,
            controller: controller.to_string(),
            instance: instance
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| controller.to_string())
                .chars()
                .take(128)
                .collect(),
            book: Mutex::default(),
            sequence: AtomicU64::new(0),
        }
    }

    /// A name no other Event of this process has: the object's name and a unique suffix.
    fn fresh_name(&self, regarding: &ObjectReference) -> String {
        let nanos = jiff::Timestamp::now().as_nanosecond() as u64;
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let base = regarding.name.as_deref().unwrap_or(&self.controller);
        format!("{base}.{nanos:x}{:04x}", seq & 0xffff)
    }

    /// Publishes one occurrence of (`severity`, `reason`, `note`) about `regarding` at `now`.
    ///
    /// # Errors
    /// The API server refused the write (the caller logs it: an Event never fails a reconcile).
    pub(crate) async fn publish(
        &self,
        regarding: &ObjectReference,
        severity: Severity,
        reason: &str,
        note: &str,
        now: Timestamp,
    ) -> Result<(), kube::Error> {
        let note = bounded_note(note);
        let key = CauseKey::new(regarding, severity, reason, note);
        let write = match self.book.lock() {
            Ok(mut book) => book.occur(key.clone(), now, || self.fresh_name(regarding)),
            Err(_) => Write::Create {
                name: self.fresh_name(regarding),
            },
        };
        let namespace = regarding
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let time = MicroTime(jiff::Timestamp::from_second(now.0).unwrap_or_default());
        let result = match &write {
            Write::Repeat { name, count } => {
                let patch = json!({"series": EventSeries {
                    count: *count,
                    last_observed_time: time.clone(),
                }});
                match api
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    // The Event expired on the server (its TTL is an hour): write it anew.
                    Err(kube::Error::Api(s)) if s.code == 404 => {
                        let name = self.fresh_name(regarding);
                        let ev =
                            self.event(&name, &namespace, regarding, severity, reason, note, time);
                        api.create(&PostParams::default(), &ev).await.map(|_| ())
                    }
                    r => r.map(|_| ()),
                }
            }
            Write::Create { name } => {
                let ev = self.event(name, &namespace, regarding, severity, reason, note, time);
                api.create(&PostParams::default(), &ev).await.map(|_| ())
            }
        };
        if result.is_err()
            && let Ok(mut book) = self.book.lock()
        {
            book.forget(&key);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        name: &str,
        namespace: &str,
        regarding: &ObjectReference,
        severity: Severity,
        reason: &str,
        note: &str,
        time: MicroTime,
    ) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                ..Default::default()
            },
            action: Some(reason.to_string()),
            reason: Some(reason.to_string()),
            note: Some(note.to_string()),
            type_: Some(severity.as_str().to_string()),
            event_time: Some(time),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("fleetward.dev/v1alpha1".into()),
            kind: Some("Tenant".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        }
    }

    fn key(o: &str, reason: &str, note: &str) -> CauseKey {
        CauseKey::new(&obj(o), Severity::Warning, reason, note)
    }

    #[test]
    fn a_new_cause_is_a_new_event_and_a_repeat_counts_on_the_old_one() {
        let mut book = EventBook::default();
        let mut n = 0;
        let mut fresh = || {
            n += 1;
            format!("ev{n}")
        };
        let digest = key("acme", "PolicyRejected", "placement: digest mismatch");
        let garbage = key(
            "acme",
            "PolicyRejected",
            "placement: not a valid Wasm module",
        );
        assert_eq!(
            book.occur(digest.clone(), Timestamp(0), &mut fresh),
            Write::Create { name: "ev1".into() }
        );
        assert_eq!(
            book.occur(digest.clone(), Timestamp(10), &mut fresh),
            Write::Repeat {
                name: "ev1".into(),
                count: 2
            }
        );
        // Same reason, another note: its own Event (kube-runtime's Recorder patched ev1).
        assert_eq!(
            book.occur(garbage.clone(), Timestamp(20), &mut fresh),
            Write::Create { name: "ev2".into() }
        );
        assert_eq!(
            book.occur(digest.clone(), Timestamp(30), &mut fresh),
            Write::Repeat {
                name: "ev1".into(),
                count: 3
            }
        );
        // Another object, or another severity, is another cause.
        assert_eq!(
            book.occur(
                key("globex", "PolicyRejected", "placement: digest mismatch"),
                Timestamp(30),
                &mut fresh
            ),
            Write::Create { name: "ev3".into() }
        );
        let normal = CauseKey::new(
            &obj("acme"),
            Severity::Normal,
            "PolicyRejected",
            "placement: digest mismatch",
        );
        assert_eq!(
            book.occur(normal, Timestamp(30), &mut fresh),
            Write::Create { name: "ev4".into() }
        );
    }

    #[test]
    fn a_cause_quiet_for_longer_than_the_series_ttl_starts_a_new_event() {
        let mut book = EventBook::default();
        let mut n = 0;
        let mut fresh = || {
            n += 1;
            format!("ev{n}")
        };
        let k = key("acme", "PolicyHeld", "holding");
        assert!(matches!(
            book.occur(k.clone(), Timestamp(0), &mut fresh),
            Write::Create { .. }
        ));
        assert!(matches!(
            book.occur(k.clone(), Timestamp(SERIES_TTL_SECS), &mut fresh),
            Write::Repeat { count: 2, .. }
        ));
        assert_eq!(
            book.occur(k.clone(), Timestamp(2 * SERIES_TTL_SECS + 1), &mut fresh),
            Write::Create { name: "ev2".into() }
        );
        // A failed write is forgotten: the next occurrence creates again.
        book.forget(&k);
        assert_eq!(
            book.occur(k, Timestamp(2 * SERIES_TTL_SECS + 2), &mut fresh),
            Write::Create { name: "ev3".into() }
        );
    }

    #[test]
    fn a_note_is_cut_to_what_the_api_server_accepts() {
        let long = "é".repeat(MAX_NOTE_BYTES);
        let cut = bounded_note(&long);
        assert!(cut.len() <= MAX_NOTE_BYTES && cut.len() >= MAX_NOTE_BYTES - 1);
        assert_eq!(bounded_note("short"), "short");
    }

    #[test]
    fn the_book_stays_bounded() {
        let mut book = EventBook::default();
        for i in 0..(MAX_REMEMBERED + 10) {
            book.occur(
                key(&format!("t{i}"), "Placed", "n"),
                Timestamp(i as i64 / 100),
                || format!("ev{i}"),
            );
        }
        assert_eq!(book.seen.len(), MAX_REMEMBERED);
    }
}
