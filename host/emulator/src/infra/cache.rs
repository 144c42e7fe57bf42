//! A local copy of watched objects, fed by `kube::runtime::watcher` events and by the results of
//! our own writes.
//!
//! Writing results back immediately (instead of waiting for the watch to echo them) is what keeps
//! a MachineSet from creating the same Machine twice: the next reconcile already sees it. To stay
//! correct when the watch lags behind our writes, an event older than what we hold (by numeric
//! `resourceVersion`) is ignored, and an object we deleted outright is remembered until the watch
//! reports its deletion. An index by controlling owner answers "the Machines of this MachineSet"
//! without scanning every object.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use kube::api::ObjectMeta;
use kube::runtime::watcher::Event;
use kube::{Resource, ResourceExt};

/// Namespace and name of an object (namespace empty for cluster-scoped kinds).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjectKey {
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl ObjectKey {
    pub(crate) fn new(namespace: &str, name: &str) -> Self {
        ObjectKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    pub(crate) fn of<K: Resource>(obj: &K) -> Self {
        ObjectKey {
            namespace: obj.namespace().unwrap_or_default(),
            name: obj.name_any(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The controlling owner of an object, as `(namespace, owner kind, owner name)`.
type OwnerIndexKey = (String, String, String);

fn controller_of(meta: &ObjectMeta) -> Option<(String, String)> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| (r.kind.clone(), r.name.clone()))
}

fn owner_index_key(meta: &ObjectMeta) -> Option<OwnerIndexKey> {
    let (kind, name) = controller_of(meta)?;
    Some((meta.namespace.clone().unwrap_or_default(), kind, name))
}

fn numeric_rv(meta: &ObjectMeta) -> Option<u64> {
    meta.resource_version.as_deref()?.parse().ok()
}

/// Watched objects of one kind.
#[derive(Debug)]
pub(crate) struct Cache<K> {
    objects: BTreeMap<ObjectKey, K>,
    by_owner: BTreeMap<OwnerIndexKey, BTreeSet<String>>,
    deleted_uids: HashSet<String>,
    init_buffer: Option<Vec<K>>,
    synced: bool,
}

impl<K> Default for Cache<K> {
    fn default() -> Self {
        Cache {
            objects: BTreeMap::new(),
            by_owner: BTreeMap::new(),
            deleted_uids: HashSet::new(),
            init_buffer: None,
            synced: false,
        }
    }
}

impl<K: Resource + Clone> Cache<K> {
    /// Whether the initial list has completed at least once.
    pub(crate) fn synced(&self) -> bool {
        self.synced
    }

    pub(crate) fn get(&self, key: &ObjectKey) -> Option<&K> {
        self.objects.get(key)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.objects.keys()
    }

    /// Objects in `namespace` whose controlling owner is `owner_kind`/`owner_name`.
    pub(crate) fn children(&self, namespace: &str, owner_kind: &str, owner_name: &str) -> Vec<&K> {
        let key = (
            namespace.to_owned(),
            owner_kind.to_owned(),
            owner_name.to_owned(),
        );
        self.by_owner
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|name| self.objects.get(&ObjectKey::new(namespace, name)))
            .collect()
    }

    /// Applies one watcher event; returns the objects it touched (the last known version of a
    /// deleted one), so the caller can mark them and their owners for reconciliation.
    pub(crate) fn apply(&mut self, event: Event<K>) -> Vec<K> {
        match event {
            Event::Apply(obj) => {
                if self.upsert(obj.clone()) {
                    vec![obj]
                } else {
                    Vec::new()
                }
            }
            Event::Delete(obj) => {
                if let Some(uid) = obj.meta().uid.as_ref() {
                    self.deleted_uids.remove(uid);
                }
                let key = ObjectKey::of(&obj);
                let last = self.remove(&key).unwrap_or(obj);
                vec![last]
            }
            Event::Init => {
                self.init_buffer = Some(Vec::new());
                Vec::new()
            }
            Event::InitApply(obj) => {
                self.init_buffer.get_or_insert_with(Vec::new).push(obj);
                Vec::new()
            }
            Event::InitDone => {
                let listed = self.init_buffer.take().unwrap_or_default();
                let mut touched: Vec<K> = self.objects.values().cloned().collect();
                self.objects.clear();
                self.by_owner.clear();
                self.deleted_uids.clear();
                for obj in listed {
                    self.insert_unchecked(obj.clone());
                    touched.push(obj);
                }
                self.synced = true;
                touched
            }
        }
    }

    /// Stores `obj` unless we already hold a newer version or deleted it ourselves.
    /// Returns whether it was stored.
    pub(crate) fn upsert(&mut self, obj: K) -> bool {
        if let Some(uid) = obj.meta().uid.as_ref()
            && self.deleted_uids.contains(uid)
        {
            return false;
        }
        let key = ObjectKey::of(&obj);
        if let Some(held) = self.objects.get(&key)
            && held.meta().uid == obj.meta().uid
            && let (Some(held_rv), Some(new_rv)) = (numeric_rv(held.meta()), numeric_rv(obj.meta()))
            && new_rv < held_rv
        {
            return false;
        }
        self.remove(&key);
        self.insert_unchecked(obj);
        true
    }

    /// Records that we deleted `obj` and the server removed it at once (no finalizers).
    pub(crate) fn forget_deleted(&mut self, key: &ObjectKey) {
        if let Some(obj) = self.remove(key)
            && let Some(uid) = obj.meta().uid.clone()
        {
            self.deleted_uids.insert(uid);
        }
    }

    fn insert_unchecked(&mut self, obj: K) {
        let key = ObjectKey::of(&obj);
        if let Some(owner) = owner_index_key(obj.meta()) {
            self.by_owner
                .entry(owner)
                .or_default()
                .insert(key.name.clone());
        }
        self.objects.insert(key, obj);
    }

    fn remove(&mut self, key: &ObjectKey) -> Option<K> {
        let obj = self.objects.remove(key)?;
        if let Some(owner) = owner_index_key(obj.meta())
            && let Some(set) = self.by_owner.get_mut(&owner)
        {
            set.remove(&key.name);
            if set.is_empty() {
                self.by_owner.remove(&owner);
            }
        }
        Some(obj)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;

    fn cm(name: &str, uid: &str, rv: &str, owner: Option<&str>) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(uid.into()),
                resource_version: Some(rv.into()),
                owner_references: owner.map(|o| {
                    vec![OwnerReference {
                        api_version: "v1".into(),
                        kind: "Owner".into(),
                        name: o.into(),
                        uid: "owner-uid".into(),
                        controller: Some(true),
                        block_owner_deletion: None,
                    }]
                }),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn stale_events_are_ignored() {
        let mut c = Cache::default();
        assert!(c.upsert(cm("a", "u1", "10", None)));
        assert!(c.apply(Event::Apply(cm("a", "u1", "9", None))).is_empty());
        let held = c
            .get(&ObjectKey::new("ns", "a"))
            .map(|o| o.metadata.resource_version.clone());
        assert_eq!(held, Some(Some("10".into())));
        // A recreated object (new uid) replaces the old one whatever its version.
        assert!(c.upsert(cm("a", "u2", "3", None)));
    }

    #[test]
    fn deleted_by_us_is_not_resurrected_by_a_lagging_watch() {
        let mut c = Cache::default();
        c.upsert(cm("a", "u1", "10", Some("o")));
        c.forget_deleted(&ObjectKey::new("ns", "a"));
        assert!(
            c.apply(Event::Apply(cm("a", "u1", "11", Some("o"))))
                .is_empty()
        );
        assert!(c.children("ns", "Owner", "o").is_empty());
        let touched = c.apply(Event::Delete(cm("a", "u1", "12", Some("o"))));
        assert_eq!(touched.len(), 1);
        // After the watch confirmed the deletion the uid is no longer tracked.
        assert!(c.deleted_uids.is_empty());
    }

    #[test]
    fn owner_index_follows_inserts_and_removals() {
        let mut c = Cache::default();
        c.upsert(cm("a", "u1", "1", Some("o")));
        c.upsert(cm("b", "u2", "2", Some("o")));
        c.upsert(cm("c", "u3", "3", Some("p")));
        assert_eq!(c.children("ns", "Owner", "o").len(), 2);
        c.apply(Event::Delete(cm("a", "u1", "4", Some("o"))));
        let names: Vec<String> = c
            .children("ns", "Owner", "o")
            .iter()
            .map(|o| o.name_any())
            .collect();
        assert_eq!(names, vec!["b".to_string()]);
        assert!(c.children("ns", "Other", "o").is_empty());
    }

    #[test]
    fn relist_replaces_contents_atomically_and_marks_sync() {
        let mut c = Cache::default();
        c.upsert(cm("old", "u0", "1", None));
        assert!(!c.synced());
        c.apply(Event::Init);
        c.apply(Event::InitApply(cm("new", "u1", "5", None)));
        assert!(
            c.get(&ObjectKey::new("ns", "old")).is_some(),
            "old contents kept until InitDone"
        );
        let touched = c.apply(Event::InitDone);
        assert_eq!(touched.len(), 2);
        assert!(c.synced());
        assert!(c.get(&ObjectKey::new("ns", "old")).is_none());
        assert!(c.get(&ObjectKey::new("ns", "new")).is_some());
    }
}
