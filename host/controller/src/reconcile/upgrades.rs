//! The per-tenant upgrade planner: build the tenant's `UpgradeRequest`, ask its policy, admit
//! steps through the invariants, and start admitted steps by persisting them in the cluster's
//! `status.inProgress` (the cluster reconciler then renders the new version).
//!
//! Planning runs in one task ([`super::plan_queue`]) and reads a fresh LIST, so the concurrency
//! caps count every step in flight, including steps started a moment ago. A tenant whose inputs
//! did not change since its last plan is not asked again before the policy's `recheck_at`; and
//! when the reflector cache shows nothing moved (same resource versions for the tenant's
//! clusters, same steps in flight fleet-wide) the LIST itself is skipped, so a resync of a
//! waiting fleet costs no API reads.

use std::collections::{BTreeMap, HashMap};

use fleetward_sdk::wire::{
    ClusterRef, DecisionKind, FleetCluster, Health, KubeVersion, PoolState, Timestamp,
    UpgradeRecord, UpgradeRequest, UpgradeStep, UpgradeTarget, VersionState,
};
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use sha2::{Digest as _, Sha256};

use crate::core::decisions as core_decisions;
use crate::core::invariants::{self, InFlight};
use crate::crd::{
    DecisionRecordStatus, InProgressStep, ManagedCluster, Phase, UpgradeHistoryEntry,
};
use crate::decision::DecisionOutcome;
use crate::error::{Result, kube_err};
use crate::policy::DecideEnv;
use crate::reconcile::Context;
use crate::reconcile::decisions::{self, Outcome};

/// What the planner remembers per tenant.
#[derive(Debug, Default)]
pub struct PlannerState {
    last: HashMap<String, LastPlan>,
}

#[derive(Debug, Clone)]
struct LastPlan {
    /// Hash of the policy input and the caps' view (from the fresh LIST).
    fingerprint: String,
    /// Hash of the cache's view, taken before the LIST (see [`cache_fingerprint`]).
    cached: String,
    recheck_at: Option<Timestamp>,
}

/// What the reflector cache says of the tenant's clusters (resource versions) and of the steps
/// in flight fleet-wide. Unchanged since the last plan means the LIST would show nothing new
/// that this controller has been told about; a change arriving later requests a new plan.
fn cache_fingerprint(ctx: &Context, tenant: &str) -> String {
    let mut mine: Vec<(String, String, String)> = Vec::new();
    let mut in_flight = 0u64;
    for c in ctx.clusters.state() {
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
    h.update(in_flight.to_le_bytes());
    for (ns, name, rv) in &mine {
        h.update(format!("{ns}/{name}@{rv};"));
    }
    hex::encode(h.finalize())
}

/// The policy's view of one cluster (None when it is not placed or not reconcilable).
pub fn fleet_cluster(mc: &ManagedCluster) -> Option<FleetCluster> {
    let st = mc.status.as_ref()?;
    if st.phase == Phase::Rejected || mc.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let seed = st.seed.clone()?;
    let desired = KubeVersion::parse(&mc.spec.version).ok()?;
    let cp_current = st.control_plane_version?;
    let mut node_pools: Vec<PoolState> = mc
        .spec
        .node_pools
        .iter()
        .filter_map(|p| {
            let s = st.node_pools.iter().find(|s| s.name == p.name)?;
            Some(PoolState {
                name: p.name.clone(),
                current: s.version,
                desired: p
                    .version
                    .as_deref()
                    .and_then(|v| KubeVersion::parse(v).ok())
                    .unwrap_or(desired),
                replicas: p.replicas,
                ready_replicas: s.ready_replicas,
            })
        })
        .collect();
    node_pools.sort_by(|a, b| a.name.cmp(&b.name));
    let in_progress = st.in_progress.as_ref().and_then(|s| {
        Some(UpgradeStep {
            cluster: ClusterRef::new(mc.namespace()?, mc.name_any()),
            target: s.target.clone(),
            to: s.to,
            wave: s.wave.clone(),
        })
    });
    let reasons: Vec<String> = st
        .problems
        .iter()
        .map(|p| format!("{} {}", p.component, p.condition))
        .collect();
    let ready = |t: &str| {
        st.conditions
            .iter()
            .any(|c| c.type_ == t && c.status == crate::crd::ConditionStatus::True)
    };
    let mut reasons = reasons;
    if !ready("ControlPlaneReady") {
        reasons.push("control plane not ready".into());
    }
    if !ready("NodesReady") {
        reasons.push("nodes not ready".into());
    }
    Some(FleetCluster {
        id: ClusterRef::new(mc.namespace()?, mc.name_any()),
        labels: mc.spec.labels.clone(),
        seed: Some(seed),
        control_plane: VersionState {
            current: cp_current,
            desired,
        },
        node_pools,
        health: Health {
            healthy: reasons.is_empty(),
            reasons,
        },
        in_progress,
        upgrades_paused: st.upgrades_paused || mc.spec.pause_upgrades,
        settled_since: st.settled_since,
    })
}

fn history(mc: &ManagedCluster) -> Vec<UpgradeRecord> {
    let Some(st) = mc.status.as_ref() else {
        return vec![];
    };
    st.upgrade_history
        .iter()
        .filter_map(|h| {
            Some(UpgradeRecord {
                cluster: ClusterRef::new(mc.namespace()?, mc.name_any()),
                target: h.target.clone(),
                from: h.from,
                to: h.to,
                started_at: h.started_at,
                completed_at: h.completed_at,
            })
        })
        .collect()
}

/// Plans one tenant's upgrades now; returns when to plan it again even if nothing changes
/// (the policy's `recheck_at`, a retry after a failed decision or held-back steps). A failed
/// decision is reported through the tenant's `PolicyDegraded` state, not here.
///
/// # Errors
/// API failures listing or writing clusters.
pub async fn plan_tenant(ctx: &Context, tenant: &str) -> Result<Option<Timestamp>> {
    let mut state = ctx.planning.state.lock().await;
    let now = ctx.clock.now();
    let cached = cache_fingerprint(ctx, tenant);
    if let Some(last) = state.last.get(tenant)
        && last.cached == cached
        && last.recheck_at.is_none_or(|r| now < r)
    {
        return Ok(last.recheck_at);
    }
    let api: Api<ManagedCluster> = Api::all(ctx.client.clone());
    let all = api
        .list(&ListParams::default())
        .await
        .map_err(kube_err("listing clusters for upgrade planning"))?
        .items;
    let mut in_flight = InFlight::default();
    for c in &all {
        if let Some(st) = c.status.as_ref().filter(|s| s.in_progress.is_some()) {
            in_flight.total += 1;
            *in_flight
                .per_seed
                .entry(st.seed.clone().unwrap_or_default())
                .or_default() += 1;
        }
    }
    let mine: Vec<&ManagedCluster> = all.iter().filter(|c| c.spec.tenant == tenant).collect();
    let mut clusters: Vec<FleetCluster> = mine.iter().filter_map(|c| fleet_cluster(c)).collect();
    clusters.sort_by(|a, b| a.id.cmp(&b.id));
    if !clusters.iter().any(FleetCluster::needs_upgrade) {
        state.last.remove(tenant);
        return Ok(None);
    }
    let mut hist: Vec<UpgradeRecord> = mine.iter().flat_map(|c| history(c)).collect();
    hist.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| a.cluster.cmp(&b.cluster))
    });
    let req = UpgradeRequest {
        clusters,
        history: hist,
        limits: ctx.settings.upgrade_limits.clone(),
    };
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&req).unwrap_or_default());
        h.update(format!("{in_flight:?}"));
        hex::encode(h.finalize())
    };
    if let Some(last) = state.last.get_mut(tenant)
        && last.fingerprint == fingerprint
        && last.recheck_at.is_none_or(|r| now < r)
    {
        last.cached = cached;
        return Ok(last.recheck_at);
    }
    let env = DecideEnv {
        tenant,
        now,
        metrics: &ctx.metrics,
    };
    let d = ctx.policies.order_upgrades(&env, &req).await;
    // Each outcome of this plan goes through the one recording path (ledger, counters,
    // degraded state, Events); the tenant-wide ones are announced on the Tenant.
    let tenant_ref = decisions::tenant_ref(tenant);
    let outcome = |clusters: Vec<ClusterRef>, outcome: DecisionOutcome, reason: String| Outcome {
        kind: DecisionKind::UpgradeOrdering,
        clusters,
        outcome,
        reason,
    };
    // How the cluster's status shows this plan's outcome for it.
    let on_cluster = |outcome: DecisionOutcome, reason: String| {
        core_decisions::entry(
            DecisionKind::UpgradeOrdering,
            &d.digest,
            now,
            &outcome,
            &reason,
        )
    };
    let Some(decision) = d.decision.clone() else {
        let clusters = req
            .clusters
            .iter()
            .filter(|c| c.needs_upgrade())
            .map(|c| c.id.clone())
            .collect();
        let held = outcome(clusters, d.outcome.clone(), d.reason.clone());
        ctx.record(&d, tenant, now, Some(&tenant_ref), held).await;
        let recheck = Some(Timestamp(now.0 + 60));
        state.last.insert(
            tenant.into(),
            LastPlan {
                fingerprint,
                cached,
                recheck_at: recheck,
            },
        );
        return Ok(recheck);
    };
    let adm = invariants::admit(&req.clusters, &decision.start, &in_flight, &req.limits);
    let reason = if d.reason.is_empty() {
        decision.reason.clone()
    } else {
        d.reason.clone()
    };
    let mut writes: BTreeMap<ClusterRef, (Option<UpgradeStep>, Vec<DecisionRecordStatus>)> =
        BTreeMap::new();
    for step in &adm.admitted {
        let e = writes.entry(step.cluster.clone()).or_default();
        e.0 = Some(step.clone());
        e.1.push(on_cluster(
            d.outcome.clone(),
            format!("start {} -> {}: {reason}", step.target, step.to),
        ));
    }
    for veto in &adm.vetoed {
        let vetoed = DecisionOutcome::Vetoed {
            invariant: veto.invariant.as_str().into(),
        };
        // Caps are routine back-pressure: recorded, but neither announced nor put on the
        // cluster; a real invariant breach is both.
        let routine = matches!(
            veto.invariant,
            invariants::Invariant::GlobalConcurrency | invariants::Invariant::SeedConcurrency
        );
        let about = mine
            .iter()
            .find(|c| {
                c.namespace().as_deref() == Some(&veto.step.cluster.namespace)
                    && c.name_any() == veto.step.cluster.name
            })
            .filter(|_| !routine)
            .map(|c| c.object_ref(&()));
        let rec = outcome(
            vec![veto.step.cluster.clone()],
            vetoed.clone(),
            format!("{}: {}", veto.invariant, veto.message),
        );
        ctx.record(&d, tenant, now, about.as_ref(), rec).await;
        if !routine && req.clusters.iter().any(|c| c.id == veto.step.cluster) {
            writes
                .entry(veto.step.cluster.clone())
                .or_default()
                .1
                .push(on_cluster(
                    vetoed,
                    format!(
                        "{} {} -> {} vetoed: {}: {}",
                        veto.step.cluster,
                        veto.step.target,
                        veto.step.to,
                        veto.invariant,
                        veto.message
                    ),
                ));
        }
    }
    let started: Vec<ClusterRef> = adm.admitted.iter().map(|s| s.cluster.clone()).collect();
    let planned = outcome(started, d.outcome.clone(), reason.clone());
    ctx.record(&d, tenant, now, Some(&tenant_ref), planned)
        .await;
    for (id, (step, decisions)) in writes {
        let Some(mc) = mine
            .iter()
            .find(|c| c.namespace().as_deref() == Some(&id.namespace) && c.name_any() == id.name)
        else {
            continue;
        };
        let mut st = mc.status.clone().unwrap_or_default();
        if let Some(step) = &step {
            // admit() starts steps only on the request's clusters and their known pools.
            let Some(current) = req
                .clusters
                .iter()
                .find(|c| c.id == id)
                .and_then(|c| match &step.target {
                    UpgradeTarget::ControlPlane => Some(c.control_plane.current),
                    UpgradeTarget::NodePool { pool } => c
                        .node_pools
                        .iter()
                        .find(|p| &p.name == pool)
                        .map(|p| p.current),
                })
            else {
                continue;
            };
            st.in_progress = Some(InProgressStep {
                target: step.target.clone(),
                from: current,
                to: step.to,
                started_at: now,
                wave: step.wave.clone(),
            });
            st.upgrade_history.push(UpgradeHistoryEntry {
                target: step.target.clone(),
                from: current,
                to: step.to,
                started_at: now,
                completed_at: None,
            });
            let excess = st
                .upgrade_history
                .len()
                .saturating_sub(ctx.settings.history_len);
            st.upgrade_history.drain(..excess);
            st.phase = Phase::Upgrading;
        }
        for rec in decisions {
            core_decisions::push(&mut st.last_decisions, rec, ctx.settings.history_len);
        }
        if mc.status.as_ref() == Some(&st) {
            // Only repeats of what status already says: nothing a user could see changed.
            continue;
        }
        let ns_api: Api<ManagedCluster> = Api::namespaced(ctx.client.clone(), &id.namespace);
        super::cluster::write_status(ctx, &ns_api, mc, st).await?;
        if let Some(step) = &step {
            ctx.event(
                *mc,
                false,
                "UpgradeStarted",
                format!("{} -> {} ({})", step.target, step.to, reason),
            )
            .await;
        }
    }
    // Re-ask when the policy wants, or soon if caps held steps back.
    let capped = adm.vetoed.iter().any(|v| {
        matches!(
            v.invariant,
            invariants::Invariant::GlobalConcurrency | invariants::Invariant::SeedConcurrency
        )
    });
    let recheck = decision
        .recheck_at
        .or(capped.then_some(Timestamp(now.0 + 30)));
    state.last.insert(
        tenant.into(),
        LastPlan {
            fingerprint,
            cached,
            recheck_at: recheck,
        },
    );
    Ok(recheck)
}
