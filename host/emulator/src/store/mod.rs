//! The object store: tables of objects, the global resourceVersion, bounded change history and
//! watch fan-out.
//!
//! Everything here runs under one mutex held by the caller, so a write, its history entry and
//! its delivery to every watcher's channel happen atomically and in resourceVersion order. The
//! store knows nothing about HTTP or API semantics (finalizers, generation, …): it commits
//! whole objects and answers "what did this table look like at resourceVersion N".

pub mod filter;
pub mod object;
pub mod rng;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tokio::sync::mpsc;

use self::filter::ObjectFilter;
use self::object::{ObjKey, StoredObject};
use self::rng::Rng;
use crate::registry::{Registry, StorageKey};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created (or started matching a watcher's filter).
    Added,
    /// Changed.
    Modified,
    /// Deleted (or stopped matching a watcher's filter).
    Deleted,
}

impl EventType {
    /// The watch event `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change, kept in a table's history.
#[derive(Debug)]
pub struct Change {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for deletions: the last state, with the deletion's rv).
    pub obj: Arc<StoredObject>,
    /// The object before the change.
    pub prev: Option<Arc<StoredObject>>,
}

/// One event delivered to a watcher.
#[derive(Debug, Clone)]
pub struct WatchItem {
    /// Event type as seen through the watcher's filter.
    pub kind: EventType,
    /// The object.
    pub obj: Arc<StoredObject>,
}

/// A request for a resourceVersion the bounded history no longer covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct Compacted {
    /// The requested resourceVersion.
    pub requested: u64,
    /// The oldest resourceVersion that can still be served.
    pub oldest: u64,
}

/// A registered watch: the events to replay first, then the live channel.
#[derive(Debug)]
pub struct Registration {
    /// Replayed history or synthetic ADDED events, in order.
    pub initial: Vec<WatchItem>,
    /// Live events after `initial`.
    pub rx: mpsc::Receiver<WatchItem>,
    /// Set when the watcher fell behind and its channel was dropped.
    pub overflow: Arc<AtomicBool>,
    /// The resourceVersion the watch is current at after `initial`.
    pub start_rv: u64,
}

#[derive(Debug)]
struct WatcherSlot {
    tx: mpsc::Sender<WatchItem>,
    filter: ObjectFilter,
    overflow: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct Table {
    objects: BTreeMap<ObjKey, Arc<StoredObject>>,
    history: VecDeque<Arc<Change>>,
    compacted_rv: u64,
    watchers: Vec<WatcherSlot>,
}

/// Sizes of the bounded buffers.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Changes retained per table for watch resumption and paged lists.
    pub history: usize,
    /// Events buffered per watcher before it is dropped as too slow.
    pub watch_buffer: usize,
}

/// All stored state of the emulator.
pub struct Store {
    rv: u64,
    tables: HashMap<StorageKey, Table>,
    uids: HashMap<String, (StorageKey, ObjKey)>,
    /// resourceVersion at which a table was dropped (CRD deleted).
    dropped: HashMap<StorageKey, u64>,
    dependents: HashMap<String, BTreeSet<(StorageKey, ObjKey)>>,
    limits: StoreLimits,
    /// Seeded randomness for uids and generated names.
    pub rng: Rng,
    /// The served resource types.
    pub registry: Registry,
}

impl std::fmt::Debug for Store {
    // A summary: printing 150,000 objects through `{:?}` of an `Emulator` helps nobody.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.rv)
            .field("tables", &self.tables.len())
            .field("objects", &self.object_count())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// How a watcher sees a change through its filter (None: not at all).
fn filtered(change: &Change, filter: &ObjectFilter) -> Option<EventType> {
    let new_match = change.kind != EventType::Deleted && filter.matches(&change.obj);
    let old_match = change.prev.as_ref().is_some_and(|p| filter.matches(p));
    match (change.kind, old_match, new_match) {
        (EventType::Deleted, true, _) => Some(EventType::Deleted),
        (EventType::Deleted, false, _) => None,
        (_, true, true) => Some(EventType::Modified),
        (_, false, true) => Some(EventType::Added),
        (_, true, false) => Some(EventType::Deleted),
        (_, false, false) => None,
    }
}

/// The table for `sk`, created on first use (compacted at its drop point if it existed before).
fn table_mut<'a>(
    tables: &'a mut HashMap<StorageKey, Table>,
    dropped: &HashMap<StorageKey, u64>,
    sk: &StorageKey,
) -> &'a mut Table {
    tables.entry(sk.clone()).or_insert_with(|| Table {
        compacted_rv: dropped.get(sk).copied().unwrap_or(0),
        ..Table::default()
    })
}

impl Store {
    /// An empty store.
    pub fn new(limits: StoreLimits, seed: u64, registry: Registry) -> Store {
        Store {
            rv: 1,
            tables: HashMap::new(),
            uids: HashMap::new(),
            dropped: HashMap::new(),
            dependents: HashMap::new(),
            limits,
            rng: Rng::new(seed),
            registry,
        }
    }

    /// The latest committed resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// Number of stored objects.
    pub fn object_count(&self) -> usize {
        self.tables.values().map(|t| t.objects.len()).sum()
    }

    /// One object.
    pub fn get(&self, key: &StorageKey, ok: &ObjKey) -> Option<Arc<StoredObject>> {
        self.tables.get(key)?.objects.get(ok).cloned()
    }

    /// Whether an object with this uid exists.
    pub fn uid_exists(&self, uid: &str) -> bool {
        self.uids.contains_key(uid)
    }

    /// Objects whose ownerReferences name `uid`.
    pub fn dependents_of(&self, uid: &str) -> Vec<(StorageKey, ObjKey)> {
        self.dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Keys of every object in namespace `ns`, across all tables.
    pub fn keys_in_namespace(&self, ns: &str) -> Vec<(StorageKey, ObjKey)> {
        let mut out = Vec::new();
        for (sk, t) in &self.tables {
            let start = (ns.to_string(), String::new());
            for (k, _) in t.objects.range(start..) {
                if k.0 != ns {
                    break;
                }
                out.push((sk.clone(), k.clone()));
            }
        }
        out
    }

    /// Keys of every object in a table.
    pub fn keys_in_table(&self, key: &StorageKey) -> Vec<ObjKey> {
        self.tables
            .get(key)
            .map(|t| t.objects.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn index_remove(&mut self, sk: &StorageKey, old: &StoredObject) {
        self.uids.remove(&old.meta.uid);
        for owner in &old.meta.owners {
            if let Some(set) = self.dependents.get_mut(owner) {
                set.remove(&(sk.clone(), old.key()));
                if set.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
    }

    fn index_add(&mut self, sk: &StorageKey, new: &StoredObject) {
        self.uids
            .insert(new.meta.uid.clone(), (sk.clone(), new.key()));
        for owner in &new.meta.owners {
            self.dependents
                .entry(owner.clone())
                .or_default()
                .insert((sk.clone(), new.key()));
        }
    }

    /// Commits `obj` (create or replace), stamping the next resourceVersion.
    pub fn put(&mut self, sk: &StorageKey, mut obj: Value) -> Arc<StoredObject> {
        self.rv += 1;
        let rv = self.rv;
        if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            md.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let stored = Arc::new(StoredObject::from_value(&obj));
        let table = table_mut(&mut self.tables, &self.dropped, sk);
        let prev = table.objects.insert(stored.key(), stored.clone());
        if let Some(p) = &prev {
            self.index_remove(sk, p);
        }
        self.index_add(sk, &stored);
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(
            sk,
            Change {
                rv,
                kind,
                obj: stored.clone(),
                prev,
            },
        );
        stored
    }

    /// Removes an object; the returned last state carries the deletion's resourceVersion.
    pub fn remove(&mut self, sk: &StorageKey, ok: &ObjKey) -> Option<Arc<StoredObject>> {
        let prev = self.tables.get_mut(sk)?.objects.remove(ok)?;
        self.index_remove(sk, &prev);
        self.rv += 1;
        let rv = self.rv;
        let mut v = prev.to_value();
        if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            md.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let obj = Arc::new(StoredObject::from_value(&v));
        self.record(
            sk,
            Change {
                rv,
                kind: EventType::Deleted,
                obj: obj.clone(),
                prev: Some(prev),
            },
        );
        Some(obj)
    }

    fn record(&mut self, sk: &StorageKey, change: Change) {
        let cap = self.limits.history.max(1);
        let Some(table) = self.tables.get_mut(sk) else {
            return;
        };
        let change = Arc::new(change);
        table.watchers.retain(|w| {
            let Some(kind) = filtered(&change, &w.filter) else {
                return !w.tx.is_closed();
            };
            match w.tx.try_send(WatchItem {
                kind,
                obj: change.obj.clone(),
            }) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    w.overflow.store(true, Ordering::SeqCst);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        table.history.push_back(change);
        while table.history.len() > cap {
            if let Some(old) = table.history.pop_front() {
                table.compacted_rv = old.rv;
            }
        }
    }

    /// Matching objects with keys after `after`, as of `at` (None: now), in key order.
    ///
    /// # Errors
    /// [`Compacted`] if `at` is older than this table's retained history.
    pub fn list(
        &self,
        sk: &StorageKey,
        at: Option<u64>,
        after: Option<&ObjKey>,
        filter: &ObjectFilter,
    ) -> Result<(Vec<Arc<StoredObject>>, u64), Compacted> {
        let at_rv = at.unwrap_or(self.rv).min(self.rv);
        let Some(table) = self.tables.get(sk) else {
            return Ok((Vec::new(), at_rv));
        };
        if at_rv < table.compacted_rv {
            return Err(Compacted {
                requested: at_rv,
                oldest: table.compacted_rv,
            });
        }
        let lower = match after {
            Some(k) => Bound::Excluded(k.clone()),
            None => Bound::Unbounded,
        };
        // Undo every change after `at_rv`: the first change per key tells its state at `at_rv`.
        let mut overlay: BTreeMap<ObjKey, Option<Arc<StoredObject>>> = BTreeMap::new();
        for c in table.history.iter().filter(|c| c.rv > at_rv) {
            overlay.entry(c.obj.key()).or_insert_with(|| c.prev.clone());
        }
        let ns_range = |ns: &Option<String>| -> (Bound<ObjKey>, Bound<ObjKey>) {
            match ns {
                Some(ns) if after.is_none() => (
                    Bound::Included((ns.clone(), String::new())),
                    Bound::Unbounded,
                ),
                _ => (lower.clone(), Bound::Unbounded),
            }
        };
        let range = ns_range(&filter.namespace);
        let mut out = Vec::new();
        let keep = |o: &Arc<StoredObject>, out: &mut Vec<Arc<StoredObject>>| {
            if filter.matches(o) {
                out.push(o.clone());
            }
        };
        let past_ns = |k: &ObjKey| filter.namespace.as_ref().is_some_and(|ns| k.0 > *ns);
        if overlay.is_empty() {
            for (k, o) in table.objects.range(range) {
                if past_ns(k) {
                    break;
                }
                keep(o, &mut out);
            }
        } else {
            let mut merged: BTreeMap<ObjKey, Arc<StoredObject>> = BTreeMap::new();
            for (k, o) in table.objects.range(range.clone()) {
                if past_ns(k) {
                    break;
                }
                merged.insert(k.clone(), o.clone());
            }
            for (k, state) in overlay.range(range) {
                match state {
                    Some(o) => merged.insert(k.clone(), o.clone()),
                    None => merged.remove(k),
                };
            }
            for (k, o) in &merged {
                if past_ns(k) {
                    break;
                }
                keep(o, &mut out);
            }
        }
        Ok((out, at_rv))
    }

    /// Registers a watcher on a table, starting after `from` (None: synthetic ADDED for the
    /// current state, then live events).
    ///
    /// # Errors
    /// [`Compacted`] if `from` is older than the retained history.
    pub fn watch(
        &mut self,
        sk: &StorageKey,
        filter: ObjectFilter,
        from: Option<u64>,
    ) -> Result<Registration, Compacted> {
        let buffer = self.limits.watch_buffer.max(1);
        let current = self.rv;
        let table = table_mut(&mut self.tables, &self.dropped, sk);
        let initial = match from {
            None => table
                .objects
                .values()
                .filter(|o| filter.matches(o))
                .map(|o| WatchItem {
                    kind: EventType::Added,
                    obj: o.clone(),
                })
                .collect(),
            Some(rv) => {
                if rv < table.compacted_rv {
                    return Err(Compacted {
                        requested: rv,
                        oldest: table.compacted_rv,
                    });
                }
                table
                    .history
                    .iter()
                    .filter(|c| c.rv > rv)
                    .filter_map(|c| {
                        filtered(c, &filter).map(|kind| WatchItem {
                            kind,
                            obj: c.obj.clone(),
                        })
                    })
                    .collect()
            }
        };
        let (tx, rx) = mpsc::channel(buffer);
        let overflow = Arc::new(AtomicBool::new(false));
        table.watchers.push(WatcherSlot {
            tx,
            filter,
            overflow: overflow.clone(),
        });
        Ok(Registration {
            initial,
            rx,
            overflow,
            start_rv: current,
        })
    }

    /// Forgets all history: watches and paged lists from any older resourceVersion get 410.
    pub fn expire_history(&mut self) {
        let rv = self.rv;
        for t in self.tables.values_mut() {
            t.history.clear();
            t.compacted_rv = rv;
        }
    }

    /// Drops every watcher of every table (their streams end once drained).
    pub fn drop_watchers(&mut self) {
        for t in self.tables.values_mut() {
            t.watchers.clear();
        }
    }

    /// Removes an (empty) table, closing its watchers. A table created again later (a CRD
    /// re-installed) answers 410 to watches and lists from before the drop, so clients relist
    /// instead of missing the deletions.
    pub fn drop_table(&mut self, sk: &StorageKey) {
        self.tables.remove(sk);
        self.dropped.insert(sk.clone(), self.rv);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn store(history: usize) -> Store {
        Store::new(
            StoreLimits {
                history,
                watch_buffer: 8,
            },
            1,
            Registry::default(),
        )
    }

    fn sk() -> StorageKey {
        (String::new(), "configmaps".into())
    }

    fn obj(name: &str, v: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns", "uid": name}, "data": {"v": v}})
    }

    fn names(items: &[Arc<StoredObject>]) -> Vec<String> {
        items.iter().map(|o| o.meta.name.clone()).collect()
    }

    #[test]
    fn list_at_an_old_version_undoes_later_changes() {
        let mut s = store(100);
        s.put(&sk(), obj("a", "1"));
        s.put(&sk(), obj("c", "1"));
        let at = s.current_rv();
        s.put(&sk(), obj("b", "1"));
        s.remove(&sk(), &("ns".into(), "c".into()));
        s.put(&sk(), obj("a", "2"));
        let f = ObjectFilter::default();
        let (then, rv) = s.list(&sk(), Some(at), None, &f).unwrap();
        assert_eq!(rv, at);
        assert_eq!(names(&then), ["a", "c"]);
        assert_eq!(then[0].to_value()["data"]["v"], "1");
        let (now, _) = s.list(&sk(), None, None, &f).unwrap();
        assert_eq!(names(&now), ["a", "b"]);
        let (after_a, _) = s
            .list(&sk(), Some(at), Some(&("ns".into(), "a".into())), &f)
            .unwrap();
        assert_eq!(names(&after_a), ["c"]);
    }

    #[test]
    fn history_is_bounded_and_old_versions_are_compacted() {
        let mut s = store(2);
        let first = s.put(&sk(), obj("a", "1")).meta.rv;
        s.put(&sk(), obj("a", "2"));
        s.put(&sk(), obj("a", "3"));
        s.put(&sk(), obj("a", "4"));
        let err = s
            .list(&sk(), Some(first), None, &ObjectFilter::default())
            .unwrap_err();
        assert_eq!(err.requested, first);
        assert!(
            s.watch(&sk(), ObjectFilter::default(), Some(first))
                .is_err()
        );
        // Two changes retained: the state just before them can still be served.
        assert!(
            s.watch(&sk(), ObjectFilter::default(), Some(first + 1))
                .is_ok()
        );
    }

    #[test]
    fn deletion_carries_a_new_resource_version_and_indexes_follow() {
        let mut s = store(10);
        let a = s.put(&sk(), obj("a", "1"));
        let mut child = obj("b", "1");
        child["metadata"]["ownerReferences"] = json!([{"uid": "a"}]);
        s.put(&sk(), child);
        assert_eq!(s.dependents_of("a").len(), 1);
        let gone = s.remove(&sk(), &a.key()).unwrap();
        assert!(gone.meta.rv > a.meta.rv);
        assert!(!s.uid_exists("a"));
        assert_eq!(s.object_count(), 1);
    }
}
