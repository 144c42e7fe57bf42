//! The JSON form of one seed cache's objects, by namespace: what a cluster reconcile compares its
//! rendered children with and parses its Machines from.
//!
//! # Why
//! Every reconcile (a 10-minute resync of an idle cluster too) read each child and every Machine
//! of its namespace as `serde_json::Value`, converting the cached `DynamicObject` again each time,
//! and found the Machines by scanning the kind's whole store: on an idle fleet that was about a
//! quarter of the controller's CPU (docs/performance.md, "Third session"). Here each object is
//! converted on its first read and the conversion is kept, keyed by the object's
//! `resourceVersion`; and the names are indexed by namespace.
//!
//! # Why it cannot serve a stale object
//! The view follows the reflector's events exactly as kube's `reflector::store::Writer` applies
//! them (`Init` starts a buffer, `InitApply` fills it, `InitDone` swaps it in, `Apply` inserts,
//! `Delete` removes), so it names the same objects as the store. The conversion is never trusted
//! on its own: [`JsonView::json_of`] is handed the store's current object and returns the kept
//! JSON only when it was made from an object with that same `resourceVersion` (the API server
//! changes it on every write); otherwise it converts again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kube::api::DynamicObject;
use kube::runtime::watcher;
use serde_json::Value;

/// One object's slot: the `resourceVersion` and JSON of the object last converted, if any.
type Slot = Option<(String, Arc<Value>)>;
/// Namespace (`""` for cluster-scoped objects) → name → slot.
type ByNamespace = HashMap<String, BTreeMap<String, Slot>>;

/// The names of one cache's objects by namespace, with their kept JSON (see the module docs).
#[derive(Debug, Default)]
pub struct JsonView {
    by_ns: ByNamespace,
    /// The relist being received (between `Init` and `InitDone`).
    relist: Option<ByNamespace>,
}

fn place(obj: &DynamicObject) -> (String, String) {
    (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

impl JsonView {
    /// Follows one watch event, as the reflector's store does.
    pub fn apply(&mut self, event: &watcher::Event<DynamicObject>) {
        match event {
            watcher::Event::Apply(o) => {
                let (ns, name) = place(o);
                self.by_ns.entry(ns).or_default().insert(name, None);
            }
            watcher::Event::Delete(o) => {
                let (ns, name) = place(o);
                if let Some(names) = self.by_ns.get_mut(&ns) {
                    names.remove(&name);
                    if names.is_empty() {
                        self.by_ns.remove(&ns);
                    }
                }
            }
            watcher::Event::Init => self.relist = Some(HashMap::new()),
            watcher::Event::InitApply(o) => {
                let (ns, name) = place(o);
                self.relist
                    .get_or_insert_with(HashMap::new)
                    .entry(ns)
                    .or_default()
                    .insert(name, None);
            }
            watcher::Event::InitDone => self.by_ns = self.relist.take().unwrap_or_default(),
        }
    }

    /// The names of the objects in `namespace`, sorted.
    pub fn names_in(&self, namespace: &str) -> Vec<String> {
        self.by_ns
            .get(namespace)
            .map(|names| names.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The kept JSON of `current` (the store's object) when it was made from this same
    /// `resourceVersion`.
    fn kept(&self, current: &DynamicObject) -> Option<Arc<Value>> {
        let rv = current.metadata.resource_version.as_deref()?;
        let ns = current.metadata.namespace.as_deref().unwrap_or_default();
        let name = current.metadata.name.as_deref()?;
        match self.by_ns.get(ns)?.get(name)? {
            Some((kept_rv, json)) if kept_rv == rv => Some(json.clone()),
            _ => None,
        }
    }

    /// Keeps `json` as the conversion of `current`, if the view still names the object.
    fn keep(&mut self, current: &DynamicObject, json: &Arc<Value>) {
        let (Some(rv), Some(name)) = (
            current.metadata.resource_version.as_ref(),
            current.metadata.name.as_deref(),
        ) else {
            return;
        };
        let ns = current.metadata.namespace.as_deref().unwrap_or_default();
        if let Some(slot) = self.by_ns.get_mut(ns).and_then(|n| n.get_mut(name)) {
            *slot = Some((rv.clone(), json.clone()));
        }
    }

    /// `current` (the store's object) as JSON: the kept conversion when it was made from the
    /// same `resourceVersion`, else a new one (kept for the next read).
    pub fn json_of(
        view: &std::sync::Mutex<JsonView>,
        current: &DynamicObject,
    ) -> Option<Arc<Value>> {
        if let Some(json) = view.lock().ok().and_then(|v| v.kept(current)) {
            return Some(json);
        }
        let json = Arc::new(serde_json::to_value(current).ok()?);
        if let Ok(mut v) = view.lock() {
            v.keep(current, &json);
        }
        Some(json)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use serde_json::json;

    fn machine(ns: &str, name: &str, rv: &str, phase: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1",
            "kind": "Machine",
            "metadata": {"namespace": ns, "name": name, "resourceVersion": rv},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    #[test]
    fn names_follow_apply_delete_and_relist() {
        let mut v = JsonView::default();
        v.apply(&watcher::Event::Apply(machine("a", "m2", "1", "Running")));
        v.apply(&watcher::Event::Apply(machine("a", "m1", "2", "Running")));
        v.apply(&watcher::Event::Apply(machine("b", "m3", "3", "Running")));
        assert_eq!(v.names_in("a"), ["m1", "m2"]);
        v.apply(&watcher::Event::Delete(machine("a", "m2", "4", "Running")));
        assert_eq!(v.names_in("a"), ["m1"]);
        assert_eq!(v.names_in("c"), Vec::<String>::new());
        // A relist replaces everything once it is done, not before.
        v.apply(&watcher::Event::Init);
        v.apply(&watcher::Event::InitApply(machine(
            "c", "m4", "5", "Running",
        )));
        assert_eq!(v.names_in("a"), ["m1"]);
        v.apply(&watcher::Event::InitDone);
        assert_eq!(v.names_in("a"), Vec::<String>::new());
        assert_eq!(v.names_in("b"), Vec::<String>::new());
        assert_eq!(v.names_in("c"), ["m4"]);
    }

    #[test]
    fn kept_json_is_served_only_for_the_same_resource_version() {
        let view = Mutex::new(JsonView::default());
        let first = machine("a", "m1", "1", "Provisioning");
        view.lock()
            .unwrap()
            .apply(&watcher::Event::Apply(first.clone()));
        let a = JsonView::json_of(&view, &first).unwrap();
        assert_eq!(a["status"]["phase"], "Provisioning");
        // Same object again: the same conversion, not a new one.
        assert!(Arc::ptr_eq(&a, &JsonView::json_of(&view, &first).unwrap()));
        // The store moved on before the view saw the event: the kept JSON is not trusted.
        let second = machine("a", "m1", "2", "Running");
        let b = JsonView::json_of(&view, &second).unwrap();
        assert_eq!(b["status"]["phase"], "Running");
        assert_eq!(b.as_ref(), &serde_json::to_value(&second).unwrap());
        // Its event arrives: the slot is emptied, and the next read converts again.
        view.lock()
            .unwrap()
            .apply(&watcher::Event::Apply(second.clone()));
        let c = JsonView::json_of(&view, &second).unwrap();
        assert!(!Arc::ptr_eq(&b, &c));
        assert_eq!(c, b);
        // An object without a resourceVersion is converted every time.
        let mut bare = second.clone();
        bare.metadata.resource_version = None;
        let d = JsonView::json_of(&view, &bare).unwrap();
        assert!(!Arc::ptr_eq(&d, &JsonView::json_of(&view, &bare).unwrap()));
    }

    #[test]
    fn a_deleted_object_keeps_nothing() {
        let view = Mutex::new(JsonView::default());
        let m = machine("a", "m1", "1", "Running");
        view.lock()
            .unwrap()
            .apply(&watcher::Event::Apply(m.clone()));
        JsonView::json_of(&view, &m).unwrap();
        view.lock()
            .unwrap()
            .apply(&watcher::Event::Delete(m.clone()));
        assert!(view.lock().unwrap().by_ns.is_empty());
        // Read once more (a reader racing the deletion): converted, not kept.
        JsonView::json_of(&view, &m).unwrap();
        assert!(view.lock().unwrap().by_ns.is_empty());
    }
}
