//! Which resources the emulator serves, and how each one behaves.
//!
//! A [`ResourceType`] describes one served group/version/resource: its Kind, scope,
//! subresources, discovery data and the few strategy flags that differ between kinds in the real
//! server (generation tracking, unconditional update, create-on-update). Built-ins come from
//! [`crate::builtin`]; custom resources are added when a CustomResourceDefinition is written.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// Where the scale subresource reads and writes replicas (`.spec.replicas` style JSON paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    /// e.g. `.spec.replicas`.
    pub spec_replicas: String,
    /// e.g. `.status.replicas`.
    pub status_replicas: String,
    /// e.g. `.status.selector`; label selector in string form.
    pub label_selector: Option<String>,
}

/// Key of a storage table: (group, resource plural). All served versions of a kind share one.
pub type StorageKey = (String, String);

/// One served group/version/resource.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group, "" for core.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Resource plural, e.g. `configmaps`.
    pub plural: String,
    /// Lower-case singular, e.g. `configmap`.
    pub singular: String,
    /// Kind, e.g. `ConfigMap`.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// kubectl short names.
    pub short_names: Vec<String>,
    /// Discovery categories (e.g. `all`).
    pub categories: Vec<String>,
    /// `/status` subresource served: status is only written through it.
    pub status_subresource: bool,
    /// `/scale` subresource, if served.
    pub scale: Option<ScalePaths>,
    /// `metadata.generation` is set and bumped on spec changes.
    pub tracks_generation: bool,
    /// PUT without `metadata.resourceVersion` is allowed (built-ins) or 422 (custom resources).
    pub unconditional_update: bool,
    /// PUT of a missing object creates it (Lease, Event).
    pub create_on_update: bool,
    /// Custom resource (JSON/merge patch and apply only; SMP is 415).
    pub custom: bool,
    /// openAPIV3Schema for validation and pruning (custom resources with a schema).
    pub schema: Option<Arc<Value>>,
    /// Extra field-selector paths beyond `metadata.name`/`metadata.namespace`.
    pub selectable_fields: Vec<String>,
    /// Server-side printing columns after NAME (custom resources: the CRD's
    /// `additionalPrinterColumns`; built-ins: see [`crate::api::table`]).
    pub printer_columns: Vec<PrinterColumn>,
}

/// One `kubectl get` column computed from a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Header, e.g. `Phase`.
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`.
    pub type_: String,
    /// Simple JSON path, e.g. `.status.phase`.
    pub json_path: String,
    /// 0 = shown by default, >0 = only with `-o wide`.
    pub priority: i64,
    /// The column's description in the Table (a CRD column's own, or the real server's
    /// `Custom resource definition column (in JSONPath format): <path>`; empty for built-ins
    /// other than `Age`).
    pub description: String,
}

impl ResourceType {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage table this type's objects live in (`events.k8s.io` Events live in the
    /// core Event table: [`crate::events`]).
    pub fn storage_key(&self) -> StorageKey {
        if crate::events::is_view(self) {
            return crate::events::storage_key();
        }
        (self.group.clone(), self.plural.clone())
    }

    /// The subject errors are reported about.
    pub fn subject(&self) -> crate::status::Subject<'_> {
        crate::status::Subject {
            group: &self.group,
            resource: &self.plural,
        }
    }

    /// `ConfigMapList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

/// All served resource types, keyed by (group, version, plural).
#[derive(Debug, Default, Clone)]
pub struct Registry {
    types: BTreeMap<(String, String, String), Arc<ResourceType>>,
    /// CRD name -> the (group, version, plural) keys it registered.
    from_crd: BTreeMap<String, Vec<(String, String, String)>>,
    /// Group -> preferred version (the first registered, or the CRD storage version).
    preferred: BTreeMap<String, String>,
}

impl Registry {
    /// Adds (or replaces) a served type.
    pub fn insert(&mut self, rt: ResourceType) {
        self.preferred
            .entry(rt.group.clone())
            .or_insert_with(|| rt.version.clone());
        self.types.insert(
            (rt.group.clone(), rt.version.clone(), rt.plural.clone()),
            Arc::new(rt),
        );
    }

    /// Registers all versions of a CRD, replacing what it registered before.
    pub fn register_crd(
        &mut self,
        crd_name: &str,
        types: Vec<ResourceType>,
        preferred_version: Option<String>,
    ) {
        self.unregister_crd(crd_name);
        let mut keys = Vec::new();
        for rt in types {
            keys.push((rt.group.clone(), rt.version.clone(), rt.plural.clone()));
            if let Some(v) = &preferred_version {
                self.preferred.insert(rt.group.clone(), v.clone());
            }
            self.insert(rt);
        }
        self.from_crd.insert(crd_name.to_string(), keys);
    }

    /// Removes what a CRD registered; returns the storage keys that no longer have any version.
    pub fn unregister_crd(&mut self, crd_name: &str) -> Vec<StorageKey> {
        let Some(keys) = self.from_crd.remove(crd_name) else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        for key in keys {
            if let Some(rt) = self.types.remove(&key) {
                let sk = rt.storage_key();
                if !self.types.values().any(|t| t.storage_key() == sk) && !gone.contains(&sk) {
                    gone.push(sk);
                }
                if !self.types.keys().any(|(g, _, _)| *g == rt.group) {
                    self.preferred.remove(&rt.group);
                }
            }
        }
        gone
    }

    /// The type served at group/version/plural.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// All types, ordered by (group, version, plural).
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.types.values()
    }

    /// Groups with their versions (core group "" included), preferred version first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (g, v, _) in self.types.keys() {
            let vs = out.entry(g.clone()).or_default();
            if !vs.contains(v) {
                vs.push(v.clone());
            }
        }
        out.into_iter()
            .map(|(g, mut vs)| {
                if let Some(p) = self.preferred.get(&g)
                    && let Some(i) = vs.iter().position(|v| v == p)
                {
                    let p = vs.remove(i);
                    vs.insert(0, p);
                }
                (g, vs)
            })
            .collect()
    }
}
