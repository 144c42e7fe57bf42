//! The RolloutApproval reconciler: says in each approval's `Accepted` condition whether it
//! counts (docs/rollout.md, "Approval gates"), and asks for a plan of its tenant so an approval
//! that counts reaches the policy's input at once.
//!
//! Whether it counts is [`crate::core::rollout::verdict`]'s: the approval's namespace must
//! carry the tenant's label (tenants cannot approve for each other), the Tenant must exist, and
//! the approval must name the tenant's current rollout and a gate that rollout asked for. The
//! planner does not read this condition: it applies the same function to the same objects
//! itself, so the policy's input never depends on whether this status write happened yet. The
//! condition is for the operator, and is judged again when the Tenant's rollout or the
//! namespace's labels change (`app.rs` maps those events to the approvals concerned).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use crate::core::rollout::{self, TenantRollout, Verdict};
use crate::crd::{ConditionStatus, RolloutApproval, TENANT_LABEL, Tenant, set_condition};
use crate::error::{Result, kube_err};
use crate::reconcile::Context;

/// The condition this reconciler owns.
pub const ACCEPTED: &str = "Accepted";

/// Reconciles one RolloutApproval.
///
/// # Errors
/// API failures writing its status.
pub async fn reconcile(a: Arc<RolloutApproval>, ctx: Arc<Context>) -> Result<Action> {
    let ns = a.namespace().unwrap_or_default();
    let namespace_tenant = ctx
        .namespaces
        .get(&ObjectRef::<PartialObjectMeta<Namespace>>::new(&ns))
        .and_then(|n| n.labels().get(TENANT_LABEL).cloned());
    let tenant = ctx.tenants.get(&ObjectRef::<Tenant>::new(&a.spec.tenant));
    let rollout = tenant
        .as_ref()
        .and_then(|t| t.status.as_ref())
        .and_then(|s| s.rollout.as_ref());
    let view = tenant.as_ref().map(|_| TenantRollout {
        id: rollout.map(|r| r.id.as_str()),
        gates: rollout.map(|r| r.gates.as_slice()).unwrap_or_default(),
    });
    let (verdict, message) = rollout::verdict(namespace_tenant.as_deref(), &a.spec, view);
    let now = ctx.clock.now();
    let mut st = a.status.clone().unwrap_or_default();
    let status = if verdict == Verdict::Accepted {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let changed = set_condition(
        &mut st.conditions,
        ACCEPTED,
        status,
        verdict.reason(),
        message.clone(),
        &now.to_string(),
    );
    let generation = a.metadata.generation;
    if changed || st.observed_generation != generation {
        st.observed_generation = generation;
        let mut obj = (*a).clone();
        obj.metadata.managed_fields = None;
        obj.status = Some(st);
        ctx.metrics.write("RolloutApproval/status");
        Api::<RolloutApproval>::namespaced(ctx.client.clone(), &ns)
            .replace_status(&a.name_any(), &PostParams::default(), &obj)
            .await
            .map_err(kube_err("writing rollout approval status"))?;
        if changed {
            // Told once per change of verdict: a refusal is a Warning the approver should see.
            let refused = verdict != Verdict::Accepted;
            let reason = if refused {
                "ApprovalRejected"
            } else {
                "ApprovalAccepted"
            };
            ctx.event(
                a.as_ref(),
                refused,
                reason,
                format!("{}: {message}", verdict.reason()),
            )
            .await;
        }
    }
    // The planner judges the same objects itself; a new or changed approval of an existing
    // tenant, from its own namespace, may change the policy's input.
    if tenant.is_some() && verdict != Verdict::TenantMismatch {
        ctx.planning.queue.request(&a.spec.tenant, now);
    }
    Ok(Action::await_change())
}

/// The approvals naming `tenant`.
pub fn of_tenant(
    approvals: &[Arc<RolloutApproval>],
    tenant: &str,
) -> Vec<ObjectRef<RolloutApproval>> {
    approvals
        .iter()
        .filter(|a| a.spec.tenant == tenant)
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}

/// The approvals in namespace `ns`.
pub fn in_namespace(
    approvals: &[Arc<RolloutApproval>],
    ns: &str,
) -> Vec<ObjectRef<RolloutApproval>> {
    approvals
        .iter()
        .filter(|a| a.meta().namespace.as_deref() == Some(ns))
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}
