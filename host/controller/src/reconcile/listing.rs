//! A LIST of every ManagedCluster without their `managedFields`.
//!
//! The upgrade planner reads a fresh LIST of the whole fleet (see [`super::upgrades`]). The API
//! server returns each object's `managedFields`: one entry per field manager, each a `fieldsV1`
//! tree as large as the fields it owns (for a cluster's status: every condition, pool and
//! decision record). Nothing in the controller reads them, the reflector caches drop them
//! (`app.rs`), and every status write sends `managedFields: null`. Deserialized into
//! [`ObjectMeta`] they were most of the planner's cost at fleet size: at 1,000 clusters the
//! `fieldsV1` trees were ~70% of `fleetward simulate`'s CPU, half of it in freeing them
//! (docs/performance.md "Simulate at fleet size (issue #15)"). Here the metadata is read field
//! by field and `managedFields` is skipped by the JSON parser without being built.
//!
//! Same request, same answer otherwise: a real API server sees exactly the LIST it saw before.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::{ListParams, Request};
use kube::{Client, Resource};
use serde::Deserialize;

use crate::crd::{ManagedCluster, ManagedClusterSpec, ManagedClusterStatus};

/// [`ObjectMeta`] without `managedFields` (unknown keys are skipped, not parsed into values).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Meta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

impl From<Meta> for ObjectMeta {
    fn from(m: Meta) -> Self {
        ObjectMeta {
            annotations: m.annotations,
            creation_timestamp: m.creation_timestamp,
            deletion_grace_period_seconds: m.deletion_grace_period_seconds,
            deletion_timestamp: m.deletion_timestamp,
            finalizers: m.finalizers,
            generate_name: m.generate_name,
            generation: m.generation,
            labels: m.labels,
            managed_fields: None,
            name: m.name,
            namespace: m.namespace,
            owner_references: m.owner_references,
            resource_version: m.resource_version,
            self_link: m.self_link,
            uid: m.uid,
        }
    }
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    metadata: Meta,
    spec: ManagedClusterSpec,
    #[serde(default)]
    status: Option<ManagedClusterStatus>,
}

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    items: Vec<Item>,
}

/// Every ManagedCluster in every namespace, as `Api::<ManagedCluster>::all(client).list(..)`
/// returns them but with `metadata.managedFields` unset.
///
/// # Errors
/// The request's error, as `Api::list` would return it.
pub async fn clusters(client: &Client) -> Result<Vec<ManagedCluster>, kube::Error> {
    let url = ManagedCluster::url_path(&(), None);
    let req = Request::new(url)
        .list(&ListParams::default())
        .map_err(kube::Error::BuildRequest)?;
    let list: List = client.request(req).await?;
    Ok(list
        .items
        .into_iter()
        .map(|i| {
            let mut mc =
                ManagedCluster::new(i.metadata.name.as_deref().unwrap_or_default(), i.spec);
            mc.metadata = i.metadata.into();
            mc.status = i.status;
            mc
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slim parse equals the full one with `managedFields` removed, field for field.
    #[test]
    fn parses_like_object_meta_without_managed_fields() {
        let obj = serde_json::json!({
            "apiVersion": "fleetward.dev/v1alpha1",
            "kind": "ManagedCluster",
            "metadata": {
                "name": "prod-1", "namespace": "team-a", "uid": "u-1", "resourceVersion": "42",
                "generation": 3, "labels": {"env": "prod"}, "annotations": {"a": "b"},
                "finalizers": ["fleetward.dev/cleanup"],
                "creationTimestamp": "2026-01-05T00:00:00Z",
                "managedFields": [{"manager": "fleetward-controller", "operation": "Update",
                    "apiVersion": "fleetward.dev/v1alpha1", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:seed": {}}}, "subresource": "status"}]
            },
            "spec": {"tenant": "a", "version": "1.31.0"},
            "status": {"seed": "eu-1"}
        });
        let list = serde_json::json!({"items": [obj.clone()]});
        let slim: List = serde_json::from_value(list).expect("slim parse");
        let item = slim.items.into_iter().next().expect("one item");
        let mut full: ManagedCluster = serde_json::from_value(obj).expect("full parse");
        assert!(full.metadata.managed_fields.is_some());
        full.metadata.managed_fields = None;
        let mut mc = ManagedCluster::new("prod-1", item.spec);
        mc.metadata = item.metadata.into();
        mc.status = item.status;
        assert_eq!(
            serde_json::to_value(&mc).expect("slim"),
            serde_json::to_value(&full).expect("full")
        );
    }
}
