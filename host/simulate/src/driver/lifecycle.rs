//! `createCluster` / `deleteCluster`: ManagedClusters appearing and going away mid-run, written
//! as a tenant would write them (the controller places, provisions and tears them down).

use std::time::Duration;

use fleetward_sdk::wire::ClusterRef;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};

use super::DriverError;
use crate::scenario::{Cluster, objects};

fn managed_clusters(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "fleetward.dev",
        "v1alpha1",
        "ManagedCluster",
    ));
    Api::namespaced_with(client.clone(), namespace, &ar)
}

/// Creates the clusters one virtual second apart, in name order (as at the start of the run:
/// each placement then sees the seeds as the previous one left them).
pub async fn create_clusters(
    client: &kube::Client,
    clusters: &[Cluster],
) -> Result<(), DriverError> {
    for (i, c) in clusters.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let what = format!("create ManagedCluster {}", c.id);
        let obj: DynamicObject =
            serde_json::from_value(objects::managed_cluster(c)).map_err(|e| DriverError::Api {
                what: what.clone(),
                message: e.to_string(),
            })?;
        managed_clusters(client, &c.id.namespace)
            .create(&PostParams::default(), &obj)
            .await
            .map_err(|e| DriverError::Api {
                what,
                message: e.to_string(),
            })?;
    }
    Ok(())
}

/// Deletes a ManagedCluster (its finalizer lets the controller tear the children down first).
pub async fn delete_cluster(client: &kube::Client, id: &ClusterRef) -> Result<(), DriverError> {
    managed_clusters(client, &id.namespace)
        .delete(&id.name, &DeleteParams::default())
        .await
        .map(|_| ())
        .map_err(|e| DriverError::Api {
            what: format!("delete ManagedCluster {id}"),
            message: e.to_string(),
        })
}
