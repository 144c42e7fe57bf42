//! Applying a cluster's desired child objects: GET, compare, server-side apply only on drift.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use crate::core::diff::is_subset;
use crate::error::{Error, Result, kube_err};
use crate::reconcile::Context;

/// Field manager for everything the controller owns.
pub const FIELD_MANAGER: &str = "fleetward";

/// The API resource of a desired object, from its apiVersion/kind.
pub fn api_resource(obj: &Value) -> Result<ApiResource> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "Namespace" => "namespaces",
        "Service" => "services",
        "Deployment" => "deployments",
        "StatefulSet" => "statefulsets",
        "MachineDeployment" => "machinedeployments",
        "Machine" => "machines",
        other => {
            return Err(Error::Invalid {
                what: "child object".into(),
                message: format!("unknown kind {other}"),
            });
        }
    };
    Ok(ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, kind),
        plural,
    ))
}

/// A dynamic API for the object's kind and namespace.
pub fn api_for(ctx: &Context, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, ar),
        None => Api::all_with(ctx.client.clone(), ar),
    }
}

/// Ensures one object: returns the live object (after the apply when one was needed).
pub async fn ensure(ctx: &Context, desired: &Value) -> Result<Value> {
    let ar = api_resource(desired)?;
    let name = desired["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ns = desired["metadata"]["namespace"].as_str();
    let api = api_for(ctx, &ar, ns);
    let live = api
        .get_opt(&name)
        .await
        .map_err(kube_err(format!("reading {} {name}", ar.kind)))?;
    if let Some(live) = live {
        let live = serde_json::to_value(&live).map_err(|source| Error::Serialize {
            what: name.clone(),
            source,
        })?;
        if is_subset(desired, &live) {
            return Ok(live);
        }
    }
    ctx.metrics.write(&ar.kind);
    let applied = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(desired),
        )
        .await
        .map_err(kube_err(format!("applying {} {name}", ar.kind)))?;
    serde_json::to_value(&applied).map_err(|source| Error::Serialize { what: name, source })
}

/// Deletes an object if it exists; true when it is gone.
pub async fn delete(ctx: &Context, desired: &Value) -> Result<bool> {
    let ar = api_resource(desired)?;
    let name = desired["metadata"]["name"].as_str().unwrap_or_default();
    let api = api_for(ctx, &ar, desired["metadata"]["namespace"].as_str());
    match api
        .get_opt(name)
        .await
        .map_err(kube_err(format!("reading {} {name}", ar.kind)))?
    {
        None => Ok(true),
        Some(obj) if obj.metadata.deletion_timestamp.is_some() => Ok(false),
        Some(_) => {
            ctx.metrics.write(&ar.kind);
            match api.delete(name, &Default::default()).await {
                Ok(_) => Ok(false),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(true),
                Err(e) => Err(kube_err(format!("deleting {} {name}", ar.kind))(e)),
            }
        }
    }
}
