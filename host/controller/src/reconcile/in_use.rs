//! The shell around [`crate::core::in_use`]: lists what holds a Seed or Tenant from the cluster
//! cache and adds or removes its finalizer as the core says (a merge patch carrying
//! `resourceVersion`, so a concurrent change conflicts instead of being overwritten, as for
//! the cluster finalizer).

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::core::ClusterResourceScope;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::core::in_use::{Held, Step, step};
use crate::crd::{Condition, ConditionStatus, set_condition};
use crate::error::{Result, kube_err};
use crate::reconcile::Context;

/// The clusters (`namespace/name`) holding the Seed or Tenant `name`: placed on the seed, or of
/// the tenant. Clusters being deleted count: their teardown still needs the seed's connection.
pub(crate) fn holders(ctx: &Context, held: Held, name: &str) -> Vec<String> {
    ctx.clusters
        .state()
        .into_iter()
        .filter(|c| match held {
            Held::Seed => c.status.as_ref().and_then(|s| s.seed.as_deref()) == Some(name),
            Held::Tenant => c.spec.tenant == name,
        })
        .map(|c| format!("{}/{}", c.namespace().unwrap_or_default(), c.name_any()))
        .collect()
}

/// Decides the finalizer step for `obj` and makes its write (adding or removing the finalizer);
/// returns the step and, when it wrote, the object as the server answered (the caller carries
/// on with it, so its status write is not based on the version before the finalizer).
///
/// # Errors
/// API failures patching the object.
pub(crate) async fn finalize<K>(ctx: &Context, obj: &K, held: Held) -> Result<(Step, Option<K>)>
where
    K: Resource<DynamicType = (), Scope = ClusterResourceScope> + Clone + DeserializeOwned + Debug,
{
    let name = obj.name_any();
    let fin = held.finalizer();
    let finalizers = obj.finalizers();
    let finalized = finalizers.iter().any(|f| f == fin);
    let deleting = obj.meta().deletion_timestamp.is_some();
    let holders = if deleting {
        holders(ctx, held, &name)
    } else {
        Vec::new()
    };
    let s = step(held, &name, deleting, finalized, &holders);
    let new: Option<Vec<String>> = match &s {
        Step::AddFinalizer => {
            let mut f = finalizers.to_vec();
            f.push(fin.to_string());
            Some(f)
        }
        Step::Release => Some(finalizers.iter().filter(|f| *f != fin).cloned().collect()),
        _ => None,
    };
    let Some(fins) = new else {
        return Ok((s, None));
    };
    let kind = K::kind(&()).to_string();
    ctx.metrics.write(&kind);
    let patch =
        json!({"metadata": {"finalizers": fins, "resourceVersion": obj.resource_version()}});
    let written = Api::<K>::all(ctx.client.clone())
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_err(format!(
            "updating the finalizers of {kind} {name}"
        )))?;
    if s == Step::Release {
        tracing::info!(
            kind,
            name,
            "no cluster holds it any more; deletion proceeds"
        );
    }
    Ok((s, Some(written)))
}

/// Sets `DeletionBlocked` (reason `ClustersPlaced` for a Seed, `ClustersExist` for a Tenant) and,
/// when the deletion was not blocked before, publishes one Warning Event saying so; true then.
pub(crate) async fn blocked<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    old: &[Condition],
    conditions: &mut Vec<Condition>,
    msg: &str,
    now: &str,
) -> bool {
    let reason = if K::kind(&()) == "Seed" {
        "ClustersPlaced"
    } else {
        "ClustersExist"
    };
    set_condition(
        conditions,
        "DeletionBlocked",
        ConditionStatus::True,
        reason,
        msg,
        now,
    );
    let was = old
        .iter()
        .any(|c| c.type_ == "DeletionBlocked" && c.status == ConditionStatus::True);
    if !was {
        tracing::info!(kind = %K::kind(&()), name = ?obj.meta().name, "{msg}");
        ctx.event(obj, true, "DeletionBlocked", msg.to_string())
            .await;
    }
    !was
}
