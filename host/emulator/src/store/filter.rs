//! Which objects a list or watch wants: namespace, name, label and field selectors.

use serde_json::Value;

use super::object::StoredObject;
use crate::selectors::{FieldSelector, LabelSelector, lookup_path};

/// A list/watch filter evaluated against stored objects.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    /// Only this namespace (None = all namespaces / cluster-scoped).
    pub namespace: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
}

impl ObjectFilter {
    /// Whether `obj` passes the filter.
    pub fn matches(&self, obj: &StoredObject) -> bool {
        if let Some(ns) = &self.namespace
            && obj.meta.namespace != *ns
        {
            return false;
        }
        if !self.labels.matches(&obj.meta.labels) {
            return false;
        }
        if self.fields.is_empty() {
            return true;
        }
        let parsed: Option<Value> = if self.fields.metadata_only() {
            None
        } else {
            Some(obj.to_value())
        };
        self.fields.matches(|path| match path {
            "metadata.name" => Some(obj.meta.name.clone()),
            "metadata.namespace" => Some(obj.meta.namespace.clone()),
            other => parsed.as_ref().and_then(|v| lookup_path(v, other)),
        })
    }
}
