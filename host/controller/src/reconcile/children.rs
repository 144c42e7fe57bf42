//! Applying a cluster's desired child objects: GET, compare, server-side apply only on drift
//! (or apply at once for a cluster placed in this reconcile, whose children cannot exist yet).

use kube::Resource;
use kube::api::{Api, DynamicObject, GetParams, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind, Request};
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

/// The desired object's API resource, name and namespace.
fn identity(desired: &Value) -> Result<(ApiResource, &str, Option<&str>)> {
    Ok((
        api_resource(desired)?,
        desired["metadata"]["name"].as_str().unwrap_or_default(),
        desired["metadata"]["namespace"].as_str(),
    ))
}

/// Ensures one object: returns the live object (after the apply when one was needed).
pub async fn ensure(ctx: &Context, desired: &Value) -> Result<Value> {
    let (ar, name, ns) = identity(desired)?;
    if let Some(live) = get_value(ctx, &ar, ns, name).await?
        && is_subset(desired, &live)
    {
        return Ok(live);
    }
    apply(ctx, desired).await
}

/// Applies one object without reading it first: for children that cannot exist yet (their
/// cluster was placed in this reconcile). Server-side apply is idempotent, so a child left
/// behind by a crash before the placement's status write is simply applied again.
pub async fn apply(ctx: &Context, desired: &Value) -> Result<Value> {
    let (ar, name, ns) = identity(desired)?;
    let api = api_for(ctx, &ar, ns);
    ctx.metrics.write(&ar.kind);
    let applied = api
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(desired),
        )
        .await
        .map_err(kube_err(format!("applying {} {name}", ar.kind)))?;
    serde_json::to_value(&applied).map_err(|source| Error::Serialize {
        what: name.to_string(),
        source,
    })
}

/// GETs an object as plain JSON (`None` when it does not exist).
///
/// The comparison with the desired object needs JSON; reading straight into a `Value` skips
/// the `DynamicObject` round trip (parse, then serialise again), which was a sixth of a
/// resync's CPU time.
async fn get_value(
    ctx: &Context,
    ar: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>> {
    let req = Request::new(DynamicObject::url_path(ar, namespace))
        .get(name, &GetParams::default())
        .map_err(|e| Error::Invalid {
            what: format!("{} {name}", ar.kind),
            message: e.to_string(),
        })?;
    match ctx.client.request::<Value>(req).await {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(kube_err(format!("reading {} {name}", ar.kind))(e)),
    }
}

/// LISTs a kind in a namespace as plain JSON items (no `DynamicObject` round trip either).
pub async fn list_json(ctx: &Context, ar: &ApiResource, namespace: &str) -> Result<Vec<Value>> {
    let what = || format!("listing {} in {namespace}", ar.kind);
    let req = Request::new(DynamicObject::url_path(ar, Some(namespace)))
        .list(&ListParams::default())
        .map_err(|e| Error::Invalid {
            what: what(),
            message: e.to_string(),
        })?;
    let mut list: Value = ctx.client.request(req).await.map_err(kube_err(what()))?;
    Ok(match list.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    })
}

/// Deletes an object if it exists; true when it is gone.
pub async fn delete(ctx: &Context, desired: &Value) -> Result<bool> {
    let (ar, name, ns) = identity(desired)?;
    let api = api_for(ctx, &ar, ns);
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
