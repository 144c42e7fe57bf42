//! The write context of one request: commits to the store, honours `dryRun`, and reports every
//! committed change to the audit log.

use std::sync::Arc;

use serde_json::Value;

use crate::audit::{Audit, Verb, WriteEvent};
use crate::registry::StorageKey;
use crate::store::Store;
use crate::store::object::{ObjKey, StoredObject};

/// Everything a mutating handler needs while it holds the store lock.
pub struct Writer<'a> {
    /// The store (locked).
    pub store: &'a mut Store,
    /// Where committed writes are reported.
    pub audit: &'a Audit,
    /// Current time, RFC 3339.
    pub now: String,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The request's verb.
    pub verb: Verb,
    /// `dryRun=All`: compute, never commit.
    pub dry_run: bool,
    /// `fieldValidation=Strict`: unknown fields of custom resources are rejected, not pruned.
    pub strict_fields: bool,
}

fn kind_of(v: &Value) -> String {
    v.get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Writer<'_> {
    fn publish(&self, verb: Verb, stored: &StoredObject, object: Value, by_request: bool) {
        if !self.audit.has_subscribers() {
            return;
        }
        self.audit.publish(WriteEvent {
            verb,
            api_version: stored.meta.api_version.clone(),
            kind: kind_of(&object),
            namespace: (!stored.meta.namespace.is_empty()).then(|| stored.meta.namespace.clone()),
            name: stored.meta.name.clone(),
            resource_version: stored.meta.rv,
            object,
            user_agent: if by_request {
                self.user_agent.clone()
            } else {
                None
            },
        });
    }

    /// Commits `obj` (create or replace).
    pub fn put(&mut self, sk: &StorageKey, obj: Value) -> Arc<StoredObject> {
        if self.dry_run {
            return Arc::new(StoredObject::from_value(&obj));
        }
        let stored = self.store.put(sk, obj);
        if self.audit.has_subscribers() {
            self.publish(self.verb, &stored, stored.to_value(), true);
        }
        stored
    }

    /// Commits a change the emulator makes on its own (garbage collection, namespace cleanup).
    pub fn put_system(&mut self, sk: &StorageKey, obj: Value) -> Arc<StoredObject> {
        if self.dry_run {
            return Arc::new(StoredObject::from_value(&obj));
        }
        let stored = self.store.put(sk, obj);
        if self.audit.has_subscribers() {
            self.publish(Verb::Update, &stored, stored.to_value(), false);
        }
        stored
    }

    /// Removes an object; `by_request` says whether the request itself (not cascading
    /// deletion) removed it.
    pub fn remove(
        &mut self,
        sk: &StorageKey,
        ok: &ObjKey,
        by_request: bool,
    ) -> Option<Arc<StoredObject>> {
        if self.dry_run {
            return self.store.get(sk, ok);
        }
        let removed = self.store.remove(sk, ok)?;
        if self.audit.has_subscribers() {
            self.publish(Verb::Delete, &removed, removed.to_value(), by_request);
        }
        Some(removed)
    }
}
