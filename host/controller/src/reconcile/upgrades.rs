//! The per-tenant upgrade planner: build the tenant's `UpgradeRequest`, ask its policy, admit
//! steps through the invariants, and start admitted steps by persisting them in the cluster's
//! `status.inProgress` (the cluster reconciler then renders the new version).
//!
//! Planning runs in one task ([`super::plan_queue`]) and reads the cluster cache corrected by
//! its own writes the cache has not shown yet ([`super::plan_view`]), so the concurrency caps
//! count every step in flight, including steps started a moment ago, without an API read. A
//! tenant whose inputs did not change since its last plan is not asked again before the
//! policy's `recheck_at`; and when that view shows nothing moved (same resource versions for
//! the tenant's clusters, same steps in flight fleet-wide) the request is not even built.
//!
//! A policy that failed under `failureMode: Hold` (no decision) is asked again on the schedule
//! of [`crate::core::retry`] — 60 s doubling to 30 min while the same policy keeps failing —
//! not every minute; but at once when what it would see changes: its input (a cluster's spec,
//! version, placement or history: the request's hash) or the policy itself (a new module,
//! config or failure mode: [`crate::policy::PolicyRegistry::version`], and the Tenant
//! reconciler requests a plan when it changes). Steps in flight elsewhere in the fleet are not
//! its input: they wake a tenant whose policy answers (its caps may admit more), not one whose
//! policy fails. The schedule restarts when the policy answers.
//!
//! The operators' switches (issue 11, docs/rollout.md) sit in front of the policy: while the
//! Tenant's `spec.rollout` pauses or aborts the current rollout ([`rollout::gating`]) the policy
//! is not asked and no step starts (steps in flight finish: the cluster reconciler drives them).
//! The accepted RolloutApprovals are part of the policy's input. Both are part of what makes
//! the planner ask again: the tenant's `spec.rollout` and its approvals' resource versions are
//! folded into the view fingerprint, and `spec.rollout` and the approvals into the input hash.
//! After every plan the tenant's `status.rollout` is rebuilt ([`rollout::status`]) and written
//! when it changed; a write that conflicts with another writer of the Tenant's status is tried
//! again when the Tenant's next watch event has refreshed the cache (a plan request, no timer:
//! a timer would add plan batches and change when other tenants are planned), without asking
//! the policy again.

use std::collections::HashMap;
use std::sync::Arc;

use fleetward_sdk::wire::{ClusterRef, DecisionKind, Timestamp};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use sha2::{Digest as _, Sha256};

use crate::core::planning;
use crate::core::rollout::{self, ApprovalObject, Gating, StatusInput};
use crate::core::{fair_share, invariants, retry};
use crate::crd::{ManagedCluster, RolloutControl, RolloutStatus, TENANT_LABEL, Tenant};
use crate::decision::{DecisionOutcome, WaitCause};
use crate::error::Result;
use crate::policy::DecideEnv;
use crate::reconcile::Context;
use crate::reconcile::decisions::{self, Outcome};

/// What the planner remembers: per tenant, and its writes the cache has not shown yet.
#[derive(Debug, Default)]
pub struct PlannerState {
    last: HashMap<String, LastPlan>,
    writes: super::plan_view::PlannedWrites,
    /// The `status.rollout` last written per tenant (the cache may not show it yet).
    rollout: HashMap<String, RolloutStatus>,
    /// A `status.rollout` whose write conflicted: written again on the next plan.
    unwritten: HashMap<String, RolloutStatus>,
}

/// The tenant's RolloutApprovals (by `spec.tenant`), each with its namespace's tenant label.
fn approvals_of(ctx: &Context, tenant: &str) -> Vec<(ApprovalObject, String)> {
    let mut v: Vec<(ApprovalObject, String)> = ctx
        .approvals
        .state()
        .iter()
        .filter(|a| a.spec.tenant == tenant)
        .map(|a| {
            let ns = a.namespace().unwrap_or_default();
            let namespace_tenant = ctx
                .namespaces
                .get(&ObjectRef::<PartialObjectMeta<Namespace>>::new(&ns))
                .and_then(|n| n.labels().get(TENANT_LABEL).cloned());
            let created = a
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(Timestamp(0), |t| Timestamp(t.0.as_second()));
            (
                ApprovalObject {
                    key: format!("{ns}/{}", a.name_any()),
                    namespace_tenant,
                    spec: a.spec.clone(),
                    created,
                },
                a.resource_version().unwrap_or_default(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    v
}

/// What of the operators' side makes the planner look again: the tenant's switches and its
/// approvals (resource versions and namespace tenancy).
fn operator_fingerprint(
    control: &RolloutControl,
    approvals: &[(ApprovalObject, String)],
) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(control).unwrap_or_default());
    for (a, rv) in approvals {
        h.update(format!(
            "{}@{rv}:{};",
            a.key,
            a.namespace_tenant.as_deref().unwrap_or("-")
        ));
    }
    hex::encode(h.finalize())
}

/// Writes `st` as the tenant's `status.rollout` unless it already says so. Returns false when
/// the write must be tried again (a conflict or another API failure; logged).
async fn write_rollout(
    ctx: &Context,
    state: &mut PlannerState,
    tenant: &str,
    obj: Option<&Arc<Tenant>>,
    st: RolloutStatus,
) -> bool {
    let Some(obj) = obj else {
        return true;
    };
    // Written before (the cache may not show it yet), or shown already (after a restart).
    if state.rollout.get(tenant) == Some(&st) {
        return true;
    }
    if obj.status.as_ref().and_then(|s| s.rollout.as_ref()) == Some(&st) {
        state.rollout.insert(tenant.into(), st);
        return true;
    }
    let mut t = (**obj).clone();
    t.metadata.managed_fields = None;
    t.status.get_or_insert_with(Default::default).rollout = Some(st.clone());
    ctx.metrics.write("Tenant/status");
    match Api::<Tenant>::all(ctx.client.clone())
        .replace_status(tenant, &PostParams::default(), &t)
        .await
    {
        Ok(_) => {
            state.rollout.insert(tenant.into(), st);
            if let Ok(mut r) = ctx.planning.status_retry.lock() {
                r.remove(tenant);
            }
            true
        }
        Err(e) => {
            tracing::debug!(
                tenant,
                "writing status.rollout failed, trying again: {}",
                crate::error::short(&e)
            );
            state.unwritten.insert(tenant.into(), st);
            if let Ok(mut r) = ctx.planning.status_retry.lock() {
                r.insert(tenant.to_string());
            }
            // The Tenant's next watch event plans it again (`app.rs`); if the cache has
            // already moved on, that event has been and gone: plan again now.
            let fresh = ctx.tenants.get(&ObjectRef::<Tenant>::new(tenant));
            if fresh.is_some_and(|f| f.resource_version() != obj.resource_version()) {
                ctx.planning.queue.request(tenant, ctx.clock.now());
            }
            false
        }
    }
}

#[derive(Debug, Clone)]
struct LastPlan {
    /// Hash of the policy input and the caps' view (from the planner's view of the fleet).
    fingerprint: String,
    /// Hash of what the policy sees: its input and which policy it is.
    input: String,
    /// Set while the policy fails (held): when to ask it again if `input` stays the same.
    failing: Option<retry::Failing>,
    /// Hash of the planner's view of the tenant's clusters (see [`view_fingerprint`]).
    cached: String,
    recheck_at: Option<Timestamp>,
}

/// What the planner's view says of the tenant's clusters (resource versions) and of the steps
/// in flight fleet-wide. Unchanged since the last plan means nothing new that this controller
/// has been told about; a change arriving later requests a new plan.
fn view_fingerprint(all: &[Arc<ManagedCluster>], tenant: &str, policy: u64) -> String {
    let mut mine: Vec<(String, String, String)> = Vec::new();
    let mut in_flight = 0u64;
    for c in all {
        if c.status.as_ref().is_some_and(|s| s.in_progress.is_some()) {
            in_flight += 1;
        }
        if c.spec.tenant == tenant {
            mine.push((
                c.namespace().unwrap_or_default(),
                c.name_any(),
                c.resource_version().unwrap_or_default(),
            ));
        }
    }
    mine.sort();
    let mut h = Sha256::new();
    h.update(policy.to_le_bytes());
    h.update(in_flight.to_le_bytes());
    for (ns, name, rv) in &mine {
        h.update(format!("{ns}/{name}@{rv};"));
    }
    hex::encode(h.finalize())
}

/// Plans one tenant's upgrades now; returns when to plan it again even if nothing changes
/// (the policy's `recheck_at`, a retry after a failed decision or held-back steps). A failed
/// decision is reported through the tenant's `PolicyDegraded` state, not here.
///
/// The decisions are [`crate::core::planning`]'s; this reads, asks, records and writes.
///
/// # Errors
/// API failures listing or writing clusters.
pub async fn plan_tenant(ctx: &Context, tenant: &str) -> Result<Option<Timestamp>> {
    let mut state = ctx.planning.state.lock().await;
    let now = ctx.clock.now();
    let policy = ctx.policies.version(tenant, DecisionKind::UpgradeOrdering);
    let all = state.writes.view(ctx.clusters.state());
    let tenant_obj = ctx.tenants.get(&ObjectRef::<Tenant>::new(tenant));
    let control = tenant_obj
        .as_ref()
        .map(|t| t.spec.rollout.clone())
        .unwrap_or_default();
    let approvals = approvals_of(ctx, tenant);
    let cached = {
        let mut h = Sha256::new();
        h.update(view_fingerprint(&all, tenant, policy));
        h.update(operator_fingerprint(&control, &approvals));
        hex::encode(h.finalize())
    };
    if let Some(st) = state.unwritten.remove(tenant) {
        write_rollout(ctx, &mut state, tenant, tenant_obj.as_ref(), st).await;
    }
    if let Some(last) = state.last.get(tenant)
        && last.cached == cached
        && last.recheck_at.is_none_or(|r| now < r)
    {
        let r = last.recheck_at;
        return Ok(r);
    }
    let approvals: Vec<ApprovalObject> = approvals.into_iter().map(|(a, _)| a).collect();
    let previous = state
        .rollout
        .get(tenant)
        .cloned()
        .or_else(|| tenant_obj.as_ref().and_then(|t| t.status.clone()?.rollout));
    let in_flight = planning::in_flight(all.iter().map(AsRef::as_ref));
    let share = fair_share::FleetLoad::from_clusters(all.iter().map(AsRef::as_ref))
        .with_satisfied(ctx.planning.queue.satisfied())
        .allowance(tenant, &ctx.settings.upgrade_limits);
    let mine: Vec<&ManagedCluster> = all
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| c.spec.tenant == tenant)
        .collect();
    let Some(mut req) = planning::request(&mine, ctx.settings.upgrade_limits.clone()) else {
        // Nothing to upgrade: the rollout is complete (or the tenant has no cluster yet).
        let fleet = planning::fleet(&mine);
        if !fleet.is_empty() {
            let id = rollout::rollout_id_of(&fleet);
            let counted = counted_for(&approvals, tenant, &id, previous.as_ref());
            let st = rollout::status(&StatusInput {
                id: &id,
                control: &control,
                clusters: &fleet,
                decision: None,
                admission: None,
                approvals: &counted,
                previous: previous.as_ref(),
                now,
            });
            write_rollout(ctx, &mut state, tenant, tenant_obj.as_ref(), st).await;
        }
        state.last.remove(tenant);
        return Ok(None);
    };
    let id = rollout::rollout_id(&req);
    let counted = counted_for(&approvals, tenant, &id, previous.as_ref());
    req.approvals = rollout::wire(&counted);
    // `status.rollout` after this plan: the same rollout, approvals and previous status on every
    // path; only what the policy answered (if it was asked) differs.
    let status_after = |decision, admission| {
        rollout::status(&StatusInput {
            id: &id,
            control: &control,
            clusters: &req.clusters,
            decision,
            admission,
            approvals: &counted,
            previous: previous.as_ref(),
            now,
        })
    };
    let input = {
        let mut h = Sha256::new();
        h.update(policy.to_le_bytes());
        h.update(serde_json::to_vec(&req).unwrap_or_default());
        h.update(serde_json::to_vec(&control).unwrap_or_default());
        hex::encode(h.finalize())
    };
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(&input);
        h.update(format!("{in_flight:?}{share:?}"));
        hex::encode(h.finalize())
    };
    if let Some(last) = state.last.get_mut(tenant) {
        // A failing policy is asked again when what it sees changes (or its back-off ends);
        // an answering one also when the caps' view changes.
        let ask = match &last.failing {
            Some(f) => retry::due(&last.input, &input, f.retry_at, now),
            None => last.fingerprint != fingerprint || last.recheck_at.is_some_and(|r| now >= r),
        };
        if !ask {
            last.cached = cached;
            let r = last.recheck_at;
            return Ok(r);
        }
    }
    let gating = rollout::gating(&control, &id);
    if gating != Gating::Go {
        // Paused or aborted: the policy is not asked and no step starts. Steps in flight
        // finish on their own (the cluster reconciler drives them).
        let cause = if gating == Gating::Paused {
            WaitCause::Paused
        } else {
            WaitCause::Aborted
        };
        let waiting = DecisionOutcome::Waiting { cause };
        ctx.metrics.wait(tenant, cause.as_str());
        ctx.policies
            .count(tenant, DecisionKind::UpgradeOrdering, &waiting);
        if let Some(sink) = &ctx.sink {
            let _ = sink.send(crate::decision::DecisionRecord {
                time: now,
                tenant: tenant.into(),
                clusters: req
                    .clusters
                    .iter()
                    .filter(|c| c.needs_upgrade() && c.in_progress.is_none())
                    .map(|c| c.id.clone())
                    .collect(),
                kind: DecisionKind::UpgradeOrdering,
                digest: String::new(),
                input_sha256: String::new(),
                output_json: String::new(),
                reason: format!("rollout {id} {}: the policy is not asked", cause.as_str()),
                outcome: waiting,
            });
        }
        let st = status_after(None, None);
        write_rollout(ctx, &mut state, tenant, tenant_obj.as_ref(), st).await;
        state.last.insert(
            tenant.into(),
            LastPlan {
                fingerprint,
                input,
                failing: None,
                cached,
                recheck_at: None,
            },
        );
        return Ok(None);
    }
    let env = DecideEnv {
        tenant,
        now,
        metrics: &ctx.metrics,
    };
    let d = ctx.policies.order_upgrades(&env, &req).await;
    let find = |id: &ClusterRef| {
        mine.iter()
            .find(|c| c.namespace().as_deref() == Some(&id.namespace) && c.name_any() == id.name)
            .copied()
    };
    // Tenant-wide outcomes (the plan itself, a hold) are announced on the Tenant.
    let tenant_ref = decisions::tenant_ref(tenant);
    let Some(decision) = d.decision.as_ref() else {
        let clusters = req
            .clusters
            .iter()
            .filter(|c| c.needs_upgrade())
            .map(|c| c.id.clone())
            .collect();
        let held = Outcome {
            kind: DecisionKind::UpgradeOrdering,
            clusters,
            outcome: d.outcome.clone(),
            reason: d.reason.clone(),
        };
        ctx.record(&d, tenant, now, Some(&tenant_ref), held.clone())
            .await;
        ctx.log(&d, tenant, now, DecisionKind::UpgradeOrdering, &[held]);
        ctx.planning.queue.set_satisfied(tenant, true);
        let failing = retry::failed(
            state.last.get(tenant).and_then(|l| l.failing.as_ref()),
            &policy.to_string(),
            now,
        );
        let recheck = Some(failing.retry_at);
        tracing::debug!(tenant, failures = failing.failures, retry_at = %failing.retry_at, "upgrade policy held; asking again then or when its input changes");
        let st = status_after(None, None);
        write_rollout(ctx, &mut state, tenant, tenant_obj.as_ref(), st).await;
        state.last.insert(
            tenant.into(),
            LastPlan {
                fingerprint,
                input,
                failing: Some(failing),
                cached,
                recheck_at: recheck,
            },
        );
        return Ok(recheck);
    };
    // Seeds whose API server cannot be worked on now: no step starts there.
    let unavailable: std::collections::BTreeSet<String> = ctx
        .seeds
        .state()
        .iter()
        .filter(|s| {
            !matches!(
                ctx.seed_conns.access(Some(s)),
                crate::seeds::Access::Ready(_)
            )
        })
        .map(|s| s.name_any())
        .collect();
    let adm = invariants::admit(
        &req.clusters,
        &decision.start,
        &in_flight,
        &req.limits,
        &unavailable,
        &share,
    );
    ctx.planning
        .queue
        .set_satisfied(tenant, !fair_share::wants_more(&adm));
    // An answer made only of breaches is a failure for the retry schedule (core/retry.rs).
    let failing = planning::only_breaches(&adm).then(|| {
        retry::failed(
            state.last.get(tenant).and_then(|l| l.failing.as_ref()),
            &policy.to_string(),
            now,
        )
    });
    let rollout_status = status_after(Some(decision), Some(&adm));
    let mut plan = planning::conclude(
        &req,
        planning::Decided {
            decision,
            outcome: &d.outcome,
            host_reason: &d.reason,
            digest: &d.digest,
        },
        &adm,
        |id| find(id).map(|c| c.status.clone().unwrap_or_default()),
        now,
        ctx.settings.history_len,
        &mut ctx
            .status_writes
            .repeats
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    ctx.spend_write_budget(tenant, now, &mut plan);
    // Each outcome is recorded as it comes; the decision log gets the call once, with all.
    let mut recorded = Vec::with_capacity(plan.outcomes.len());
    for o in plan.outcomes {
        let about = match (&o.on_cluster, o.routine) {
            (_, true) => None,
            (Some(id), false) => find(id).map(|c| c.object_ref(&())),
            (None, false) => Some(tenant_ref.clone()),
        };
        let rec = Outcome {
            kind: DecisionKind::UpgradeOrdering,
            clusters: o.clusters,
            outcome: o.outcome,
            reason: o.reason,
        };
        ctx.record(&d, tenant, now, about.as_ref(), rec.clone())
            .await;
        recorded.push(rec);
    }
    ctx.log(&d, tenant, now, DecisionKind::UpgradeOrdering, &recorded);
    for w in plan.writes {
        let Some(mc) = find(&w.cluster) else {
            continue;
        };
        let ns_api: Api<ManagedCluster> = Api::namespaced(ctx.client.clone(), &w.cluster.namespace);
        let from = w.status.in_progress.as_ref().map(|s| s.from.to_string());
        let written = super::cluster::write_status(ctx, &ns_api, mc, w.status).await?;
        state.writes.wrote(mc, written);
        if let Some(step) = &w.step {
            tracing::info!(
                tenant = %tenant,
                cluster = %w.cluster,
                target = %step.target,
                from = from.as_deref().unwrap_or("?"),
                to = %step.to,
                "upgrade step started: {}",
                plan.reason
            );
            ctx.event(
                mc,
                false,
                "UpgradeStarted",
                format!("{} -> {} ({})", step.target, step.to, plan.reason),
            )
            .await;
        }
    }
    write_rollout(ctx, &mut state, tenant, tenant_obj.as_ref(), rollout_status).await;
    // A failing answer is asked again on its back-off (or a new input), which also retries
    // any write the budget deferred.
    let recheck_at = match &failing {
        Some(f) => Some(f.retry_at),
        None => plan.recheck_at,
    };
    state.last.insert(
        tenant.into(),
        LastPlan {
            fingerprint,
            input,
            failing,
            cached,
            recheck_at,
        },
    );
    Ok(recheck_at)
}

/// The approvals that count for rollout `id`: gates asked for are those of the previous status
/// when it describes the same rollout.
fn counted_for(
    approvals: &[ApprovalObject],
    tenant: &str,
    id: &str,
    previous: Option<&RolloutStatus>,
) -> Vec<rollout::Counted> {
    let gates = previous
        .filter(|p| p.id == id)
        .map(|p| p.gates.as_slice())
        .unwrap_or_default();
    rollout::counted(approvals, tenant, id, gates)
}
