//! Applying a cluster's desired child objects on its seed: compare with the seed's reflector
//! cache, server-side apply only on drift (or at once for a cluster placed in this reconcile,
//! whose children cannot exist yet). Every request goes through the seed connection's guard
//! (timeout, seed-level error accounting; see [`crate::seeds::conn`]).

use std::sync::Arc;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::Value;

use crate::core::diff::is_subset;
use crate::error::{Error, Result, kube_err};
use crate::reconcile::Context;
use crate::seeds::SeedConn;
use crate::seeds::conn::{WATCHED, api_resource as watched_resource};

/// Field manager for everything the controller owns.
pub const FIELD_MANAGER: &str = "fleetward";

/// The API resource of a desired object, from its apiVersion/kind.
pub fn api_resource(obj: &Value) -> Result<ApiResource> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    if !WATCHED.iter().any(|(_, _, k, _)| *k == kind) {
        return Err(Error::Invalid {
            what: "child object".into(),
            message: format!("unknown kind {kind}"),
        });
    }
    Ok(watched_resource(group, version, kind))
}

/// A dynamic API for the object's kind and namespace on the seed.
pub fn api_for(conn: &SeedConn, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(conn.client.clone(), ns, ar),
        None => Api::all_with(conn.client.clone(), ar),
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

/// Ensures one object: returns the live object (from the seed's cache, or the apply's answer
/// when it drifted or is missing).
pub async fn ensure(ctx: &Context, conn: &SeedConn, desired: &Value) -> Result<Arc<Value>> {
    let (ar, name, ns) = identity(desired)?;
    if let Some(live) = conn.cached(&ar.kind, ns, name)
        && is_subset(desired, &live)
    {
        return Ok(live);
    }
    apply(ctx, conn, desired).await
}

/// Applies one object without comparing first: for children that cannot exist yet (their
/// cluster was placed in this reconcile). Server-side apply is idempotent, so a child left
/// behind by a crash before the placement's status write is simply applied again.
pub async fn apply(ctx: &Context, conn: &SeedConn, desired: &Value) -> Result<Arc<Value>> {
    let (ar, name, ns) = identity(desired)?;
    let api = api_for(conn, &ar, ns);
    ctx.metrics.write(&ar.kind);
    let applied = conn
        .guard(api.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(desired),
        ))
        .await
        .map_err(kube_err(format!(
            "applying {} {name} on {}",
            ar.kind,
            conn.display_name()
        )))?;
    serde_json::to_value(&applied)
        .map(Arc::new)
        .map_err(|source| Error::Serialize {
            what: name.to_string(),
            source,
        })
}

/// Deletes an object if it exists; true when it is gone. Reads the server, not the cache: a
/// cluster's finalizer must not be released on a cache that has not seen the object yet.
pub async fn delete(ctx: &Context, conn: &SeedConn, desired: &Value) -> Result<bool> {
    let (ar, name, ns) = identity(desired)?;
    let api = api_for(conn, &ar, ns);
    let on = conn.display_name();
    match conn
        .guard(api.get_opt(name))
        .await
        .map_err(kube_err(format!("reading {} {name} on {on}", ar.kind)))?
    {
        None => Ok(true),
        Some(obj) if obj.metadata.deletion_timestamp.is_some() => Ok(false),
        Some(_) => {
            ctx.metrics.write(&ar.kind);
            match conn.guard(api.delete(name, &Default::default())).await {
                Ok(_) => Ok(false),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(true),
                Err(e) => Err(kube_err(format!("deleting {} {name} on {on}", ar.kind))(e)),
            }
        }
    }
}

/// The cluster's children and Machines as the seed's server has them now, bypassing the caches:
/// what a disruptive action is decided on. Each kind has its own watch, so in a burst of changes
/// (a seed recovering: every workload healed at once) the caches can disagree with each other
/// and with the server for a moment; a restart or recreate must not be decided on that.
/// A child that does not exist reads as JSON `null`, as it would parse from a missing cache entry.
pub async fn read_fresh(
    conn: &SeedConn,
    desired: &[Value],
    namespace: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let on = conn.display_name();
    let mut live = Vec::with_capacity(desired.len());
    for d in desired {
        let (ar, name, ns) = identity(d)?;
        let obj = conn
            .guard(api_for(conn, &ar, ns).get_opt(name))
            .await
            .map_err(kube_err(format!("reading {} {name} on {on}", ar.kind)))?;
        live.push(
            obj.and_then(|o| serde_json::to_value(o).ok())
                .unwrap_or(Value::Null),
        );
    }
    let machines = watched_resource("cluster.x-k8s.io", "v1beta1", "Machine");
    let list = conn
        .guard(api_for(conn, &machines, Some(namespace)).list(&Default::default()))
        .await
        .map_err(kube_err(format!("listing Machines in {namespace} on {on}")))?;
    let mut machines: Vec<Value> = list
        .items
        .into_iter()
        .filter_map(|m| serde_json::to_value(m).ok())
        .collect();
    machines.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    Ok((live, machines))
}
