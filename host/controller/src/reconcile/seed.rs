//! The Seed reconciler: cluster count, `Ready`, and `SeedFault` in status.

use std::sync::Arc;

use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use crate::core::remediation::is_seed_fault;
use crate::crd::{ConditionStatus, Seed, set_condition};
use crate::error::{Result, kube_err};
use crate::reconcile::{Context, own_writes};

/// Reconciles one Seed.
///
/// # Errors
/// API failures writing status.
pub async fn reconcile(seed: Arc<Seed>, ctx: Arc<Context>) -> Result<Action> {
    let name = seed.name_any();
    let uid = seed.uid().unwrap_or_default();
    if ctx
        .own_writes
        .is_stale(&uid, &seed.resource_version().unwrap_or_default())
    {
        // Our last status write has not reached the cache; its watch event reconciles again.
        return Ok(Action::requeue(own_writes::STALE_COPY_RECHECK));
    }
    let now = ctx.clock.now().to_string();
    let old = seed.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let on_seed: Vec<_> = ctx
        .clusters
        .state()
        .into_iter()
        .filter(|c| {
            c.meta().deletion_timestamp.is_none()
                && c.status.as_ref().and_then(|s| s.seed.as_ref()) == Some(&name)
        })
        .collect();
    st.clusters = on_seed.len() as u32;
    let (ready, reason, msg) = if seed.spec.location.kubeconfig_secret.is_some() {
        (ConditionStatus::False, "RemoteSeedNotSupported", "remote seeds (kubeconfig Secret) are not provisioned to yet; only the management cluster can be a seed".to_string())
    } else if seed.spec.unschedulable {
        (
            ConditionStatus::False,
            "Unschedulable",
            "spec.unschedulable is set".to_string(),
        )
    } else if fleetward_sdk::wire::KubeVersion::parse(&seed.spec.min_version).is_err()
        || fleetward_sdk::wire::KubeVersion::parse(&seed.spec.max_version).is_err()
    {
        (
            ConditionStatus::False,
            "InvalidVersionRange",
            format!(
                "{}..{} is not a version range",
                seed.spec.min_version, seed.spec.max_version
            ),
        )
    } else {
        (ConditionStatus::True, "Ready", String::new())
    };
    set_condition(&mut st.conditions, "Ready", ready, reason, msg, &now);
    let unhealthy = on_seed
        .iter()
        .filter(|c| c.status.as_ref().is_some_and(|s| !s.problems.is_empty()))
        .count();
    if is_seed_fault(unhealthy, on_seed.len()) {
        let changed = set_condition(
            &mut st.conditions,
            "SeedFault",
            ConditionStatus::True,
            "ManyClustersUnhealthy",
            format!(
                "{unhealthy}/{} clusters unhealthy; per-cluster remediation stopped",
                on_seed.len()
            ),
            &now,
        );
        if changed {
            ctx.event(
                seed.as_ref(),
                true,
                "SeedFault",
                format!("{unhealthy}/{} clusters unhealthy", on_seed.len()),
            )
            .await;
        }
    } else {
        set_condition(
            &mut st.conditions,
            "SeedFault",
            ConditionStatus::False,
            "Healthy",
            "",
            &now,
        );
    }
    if st != old {
        let mut obj = (*seed).clone();
        obj.status = Some(st);
        obj.metadata.managed_fields = None;
        ctx.metrics.write("Seed/status");
        Api::<Seed>::all(ctx.client.clone())
            .replace_status(&name, &PostParams::default(), &obj)
            .await
            .map_err(kube_err("writing seed status"))?;
        ctx.own_writes
            .wrote(&uid, &seed.resource_version().unwrap_or_default());
    }
    Ok(Action::requeue(ctx.settings.resync))
}
