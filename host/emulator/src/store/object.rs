//! A stored object: its compact JSON bytes plus the metadata the store indexes.
//!
//! Objects are kept serialised (not as `serde_json::Value` trees) so that 150,000 of them fit in
//! a few hundred megabytes and a list is a byte concatenation; the fields selectors, ownership
//! and finalizer logic need are extracted once, at write time, into [`ObjMeta`].

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;

/// (namespace or "", name): the key of an object inside its table, in list order.
pub type ObjKey = (String, String);

/// Indexed metadata of a stored object.
#[derive(Debug, Clone, Default)]
pub struct ObjMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` ("" for cluster-scoped).
    pub namespace: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion` as an integer.
    pub rv: u64,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// UIDs from `metadata.ownerReferences`.
    pub owners: Vec<String>,
    /// `apiVersion` as stored.
    pub api_version: String,
}

/// An immutable stored object version.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// Compact JSON of the whole object.
    pub json: Bytes,
    /// Indexed metadata.
    pub meta: ObjMeta,
}

impl StoredObject {
    /// Serialises `obj` and extracts its metadata.
    pub fn from_value(obj: &Value) -> StoredObject {
        let json = Bytes::from(serde_json::to_vec(obj).unwrap_or_default());
        StoredObject {
            json,
            meta: extract_meta(obj),
        }
    }

    /// Parses the stored JSON back into a tree (the store wrote it, so it parses).
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// The key of this object in its table.
    pub fn key(&self) -> ObjKey {
        (self.meta.namespace.clone(), self.meta.name.clone())
    }

    /// The JSON bytes with `apiVersion` rewritten to `api_version` if it differs
    /// (custom resources served at several versions, conversion strategy `None`), or converted
    /// for the `events.k8s.io/v1` view of a core Event ([`crate::events`]).
    pub fn json_as(&self, api_version: &str) -> Bytes {
        if self.meta.api_version == api_version {
            return self.json.clone();
        }
        if self.meta.api_version == crate::events::CORE_API_VERSION
            && api_version == crate::events::EVENTS_API_VERSION
        {
            let v = crate::events::to_v1(self.to_value());
            return Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
        }
        let mut v = self.to_value();
        v["apiVersion"] = Value::String(api_version.to_string());
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }
}

/// How objects are rendered in responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendering {
    /// The whole object, with `apiVersion` as served.
    Full {
        /// The served `apiVersion`.
        api_version: String,
    },
    /// `meta.k8s.io/v1` `PartialObjectMetadata` (requested with
    /// `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`).
    PartialMetadata,
}

impl Rendering {
    /// Picks the rendering from an `Accept` header.
    pub fn from_accept(accept: &str, api_version: String) -> Rendering {
        if accept.contains("as=PartialObjectMetadata") {
            Rendering::PartialMetadata
        } else {
            Rendering::Full { api_version }
        }
    }

    /// `(kind, apiVersion)` of a list in this rendering, given the full list kind.
    pub fn list_type(&self, list_kind: String) -> (String, String) {
        match self {
            Rendering::Full { api_version } => (list_kind, api_version.clone()),
            Rendering::PartialMetadata => {
                ("PartialObjectMetadataList".into(), "meta.k8s.io/v1".into())
            }
        }
    }
}

impl StoredObject {
    /// The object's JSON in the requested rendering.
    pub fn render(&self, r: &Rendering) -> Bytes {
        match r {
            Rendering::Full { api_version } => self.json_as(api_version),
            Rendering::PartialMetadata => {
                let v = self.to_value();
                let partial = serde_json::json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": v.get("metadata").cloned().unwrap_or(Value::Null),
                });
                Bytes::from(serde_json::to_vec(&partial).unwrap_or_default())
            }
        }
    }
}

fn str_at<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Extracts [`ObjMeta`] from an object tree.
pub fn extract_meta(obj: &Value) -> ObjMeta {
    let md = obj.get("metadata").unwrap_or(&Value::Null);
    let labels = md
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let owners = md
        .get("ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|o| str_at(o, "uid").to_string())
                .filter(|u| !u.is_empty())
                .collect()
        })
        .unwrap_or_default();
    ObjMeta {
        name: str_at(md, "name").to_string(),
        namespace: str_at(md, "namespace").to_string(),
        uid: str_at(md, "uid").to_string(),
        rv: str_at(md, "resourceVersion").parse().unwrap_or(0),
        labels,
        owners,
        api_version: str_at(obj, "apiVersion").to_string(),
    }
}
