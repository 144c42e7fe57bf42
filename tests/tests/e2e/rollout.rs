//! Operator control of a rollout (issue 11, docs/rollout.md): pause and resume, approval gates,
//! abort, and approvals that must not count — each through the controller on the emulator, with
//! every write checked against the upgrade invariants.
//!
//! The gate tests need a policy that waits for a named approval and goes on once the input
//! carries it; a native policy stands in for a module (the controller's `ModuleLoader` is
//! swapped for one that serves it), which also keeps every request it was asked, so the tests
//! read the policy's exact input.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use fleetward_controller::crd::{
    ManagedCluster, RolloutApproval, RolloutState, RolloutStatus, Tenant,
};
use fleetward_controller::policy::{
    Answer, CallFailed, DecisionPolicy, ModuleLoader, PolicyFailure,
};
use fleetward_sdk::wire::{
    HoldCause, PlacementDecision, PlacementRequest, RemediationDecision, RemediationRequest,
    Timestamp, UpgradeDecision, UpgradeRequest, UpgradeStep, UpgradeTarget,
};
use fleetward_tests::{Harness, PolicySpec, TenantPolicies};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use sha2::{Digest as _, Sha256};

const HOURS: Duration = Duration::from_secs(3600);

/// The tenant's `status.rollout`.
async fn rollout_of(h: &Harness, tenant: &str) -> Result<Option<RolloutStatus>> {
    let t = Api::<Tenant>::all(h.client.clone()).get(tenant).await?;
    Ok(t.status.and_then(|s| s.rollout))
}

async fn patch_rollout(h: &Harness, tenant: &str, rollout: serde_json::Value) -> Result<()> {
    Api::<Tenant>::all(h.client.clone())
        .patch(
            tenant,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"rollout": rollout}})),
        )
        .await
        .context("patching spec.rollout")?;
    Ok(())
}

/// Every upgrade step ever started, per cluster: (cluster, target, from, to).
async fn steps(h: &Harness) -> Result<BTreeSet<(String, String, String, String)>> {
    let mut all = BTreeSet::new();
    for c in h.all_clusters().await? {
        for e in c.status.map(|s| s.upgrade_history).unwrap_or_default() {
            all.insert((
                c.metadata.name.clone().unwrap_or_default(),
                e.target.to_string(),
                e.from.to_string(),
                e.to.to_string(),
            ));
        }
    }
    Ok(all)
}

fn in_flight(all: &[ManagedCluster]) -> Vec<String> {
    all.iter()
        .filter(|c| c.status.as_ref().is_some_and(|s| s.in_progress.is_some()))
        .map(ResourceExt::name_any)
        .collect()
}

/// Three clusters of tenant `acme` on the reference policy, one step at a time, Running at
/// 1.31.4, then bumped to 1.32.1; returns once the first step is in flight.
async fn rolling_fleet(h: &mut Harness) -> Result<Vec<String>> {
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant(
        "acme",
        TenantPolicies {
            upgrade_ordering: Some(PolicySpec::file(
                fleetward_test_policies::UPGRADE_ORDERING,
                json!({"max_concurrent": 1, "bake_minutes": 0}),
            )),
            ..Default::default()
        },
    )
    .await?;
    for i in 0..3 {
        h.cluster("acme", &format!("acme-{i}"), "1.31.4", json!({}))
            .await?;
    }
    h.start_controller();
    h.wait_all_at("1.31.4", 3, Duration::from_secs(1800))
        .await?;
    h.bump_all("1.32.1").await?;
    h.wait_for("a step in flight", HOURS, || async {
        let f = in_flight(&h.all_clusters().await?);
        Ok((!f.is_empty()).then_some(f))
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn pause_stops_new_steps_lets_the_running_one_finish_and_resume_completes() -> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    let running = rolling_fleet(&mut h).await?;
    patch_rollout(
        &h,
        "acme",
        json!({"paused": true, "pausedBy": "alice", "pauseReason": "incident 7"}),
    )
    .await?;
    let paused = h
        .wait_for("status.rollout Paused", HOURS, || async {
            Ok(rollout_of(&h, "acme")
                .await?
                .filter(|r| r.state == RolloutState::Paused))
        })
        .await?;
    assert_eq!(paused.id, "1.32.1");
    let p = paused.paused.clone().context("status.rollout.paused")?;
    assert_eq!(
        (p.by.as_deref(), p.reason.as_deref()),
        (Some("alice"), Some("incident 7"))
    );
    let started_at_pause = steps(&h).await?;
    // The steps in flight finish: the cluster reconciler drives them without the planner.
    h.wait_for("the in-flight steps to finish", HOURS, || async {
        Ok(in_flight(&h.all_clusters().await?).is_empty().then_some(()))
    })
    .await?;
    // An hour of paused time: no step starts.
    tokio::time::sleep(HOURS).await;
    assert_eq!(
        steps(&h).await?,
        started_at_pause,
        "no step may start while paused"
    );
    let all = h.all_clusters().await?;
    assert!(
        all.iter().any(|c| c
            .status
            .as_ref()
            .and_then(|s| s.control_plane_version)
            .is_some_and(|v| v.to_string() == "1.31.4")),
        "the pause came before the rollout ended"
    );
    let r = rollout_of(&h, "acme").await?.context("status.rollout")?;
    assert_eq!(r.state, RolloutState::Paused);
    assert!(r.clusters.waiting > 0, "{r:?}");
    assert!(
        r.waiting.iter().all(|w| w.cause == "paused"),
        "{:?}",
        r.waiting
    );
    assert!(
        r.paused.as_ref().is_some_and(|p| p.finishing.is_empty()),
        "nothing is finishing any more: {r:?}"
    );
    assert!(
        h.decisions()
            .iter()
            .any(|d| d.outcome.as_str() == "waiting" && d.reason.contains("paused")),
        "the paused plan is recorded as waiting"
    );
    // Resume: the rollout continues where it stopped and completes.
    patch_rollout(&h, "acme", json!({"paused": false})).await?;
    h.wait_all_at("1.32.1", 3, 4 * HOURS).await?;
    let done = h
        .wait_for("status.rollout Complete", HOURS, || async {
            Ok(rollout_of(&h, "acme")
                .await?
                .filter(|r| r.state == RolloutState::Complete))
        })
        .await?;
    assert!(done.paused.is_none());
    assert_eq!(done.clusters.up_to_date, 3);
    let violations = h.violations()?;
    assert!(violations.is_empty(), "{violations:#?}");
    // Each cluster's control plane and pool moved exactly once: nothing repeated or skipped.
    let all = steps(&h).await?;
    for i in 0..3 {
        let name = format!("acme-{i}");
        let mine: Vec<_> = all.iter().filter(|s| s.0 == name).collect();
        let targets: Vec<(&str, &str, &str)> = mine
            .iter()
            .map(|s| (s.1.as_str(), s.2.as_str(), s.3.as_str()))
            .collect();
        assert_eq!(
            targets,
            [
                ("control-plane", "1.31.4", "1.32.1"),
                ("pool/workers", "1.31.4", "1.32.1")
            ],
            "{name}"
        );
    }
    for c in h.all_clusters().await? {
        let hist = c
            .status
            .clone()
            .map(|s| s.upgrade_history)
            .unwrap_or_default();
        assert_eq!(
            hist.len(),
            2,
            "{}: one entry per step: {hist:?}",
            c.name_any()
        );
    }
    assert!(running.iter().all(|r| r.starts_with("acme-")));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn abort_leaves_versions_where_they_are_and_says_who_and_where() -> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    rolling_fleet(&mut h).await?;
    patch_rollout(
        &h,
        "acme",
        json!({"abort": {"rollout": "1.32.1", "by": "bob", "reason": "bad release"}}),
    )
    .await?;
    h.wait_for("status.rollout Aborted", HOURS, || async {
        Ok(rollout_of(&h, "acme")
            .await?
            .filter(|r| r.state == RolloutState::Aborted))
    })
    .await?;
    h.wait_for("the in-flight steps to finish", HOURS, || async {
        Ok(in_flight(&h.all_clusters().await?).is_empty().then_some(()))
    })
    .await?;
    let versions = |all: Vec<ManagedCluster>| {
        all.iter()
            .map(|c| {
                let st = c.status.clone().unwrap_or_default();
                (
                    c.name_any(),
                    st.control_plane_version.map(|v| v.to_string()),
                    st.node_pools
                        .iter()
                        .map(|p| p.version.to_string())
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = versions(h.all_clusters().await?);
    let started = steps(&h).await?;
    tokio::time::sleep(2 * HOURS).await;
    assert_eq!(versions(h.all_clusters().await?), before, "nothing moves");
    assert_eq!(steps(&h).await?, started, "no step starts");
    assert!(
        before
            .iter()
            .any(|(_, cp, _)| cp.as_deref() == Some("1.31.4")),
        "the abort came before the rollout ended: {before:?}"
    );
    // The status says who aborted, and which cluster is on which version.
    let r = h
        .wait_for(
            "status.rollout.aborted to list the reached versions",
            HOURS,
            || async {
                let r = rollout_of(&h, "acme").await?.context("status.rollout")?;
                let a = r.aborted.clone().context("aborted")?;
                let listed: usize = a.reached.iter().map(|g| g.count as usize).sum();
                Ok((listed == 3 && r.clusters.upgrading == 0).then_some(r))
            },
        )
        .await?;
    let a = r.aborted.clone().context("aborted")?;
    assert_eq!((a.by.as_str(), a.reason.as_str()), ("bob", "bad release"));
    for (name, cp, _) in &before {
        let group = a
            .reached
            .iter()
            .find(|g| g.clusters.contains(&format!("tenant-acme/{name}")))
            .with_context(|| format!("{name} in aborted.reached: {a:?}"))?;
        assert_eq!(Some(group.version.as_str()), cp.as_deref(), "{name}");
    }
    assert!(r.waiting.iter().all(|w| w.cause == "aborted"), "{r:?}");
    assert!(h.violations()?.is_empty());
    // A new rollout (another desired version) is not aborted.
    h.bump_all("1.32.2").await?;
    h.wait_for("the next rollout to progress", HOURS, || async {
        Ok(rollout_of(&h, "acme")
            .await?
            .filter(|r| r.id == "1.32.2" && r.state != RolloutState::Aborted))
    })
    .await?;
    Ok(())
}

/// A policy that upgrades one cluster at a time and holds clusters labelled `env=prod` for
/// gate `prod` until the input carries its approval. Keeps every request it is asked.
#[derive(Debug, Default)]
struct GatePolicy {
    digest: String,
    seen: Arc<Mutex<Vec<UpgradeRequest>>>,
}

impl GatePolicy {
    fn decide(req: &UpgradeRequest) -> UpgradeDecision {
        let approved = req.approvals.iter().any(|a| a.gate == "prod");
        let busy = req.clusters.iter().any(|c| c.in_progress.is_some());
        let mut d = UpgradeDecision::default();
        for c in req
            .clusters
            .iter()
            .filter(|c| c.needs_upgrade() && c.in_progress.is_none())
        {
            let prod = c.labels.get("env").map(String::as_str) == Some("prod");
            if prod && !approved {
                d.hold.push(fleetward_sdk::wire::Hold {
                    cluster: c.id.clone(),
                    reason: "production waits for approval".into(),
                    until: None,
                    cause: Some(HoldCause::Approval),
                    gate: Some("prod".into()),
                    wave: Some("prod".into()),
                });
                continue;
            }
            if busy || !d.start.is_empty() {
                continue;
            }
            let (target, to) = if c.control_plane.current != c.control_plane.desired {
                (UpgradeTarget::ControlPlane, c.control_plane.desired)
            } else {
                let Some(p) = c.node_pools.iter().find(|p| p.current != p.desired) else {
                    continue;
                };
                (
                    UpgradeTarget::NodePool {
                        pool: p.name.clone(),
                    },
                    p.desired,
                )
            };
            d.start.push(UpgradeStep {
                cluster: c.id.clone(),
                target,
                to,
                wave: Some(if prod { "prod" } else { "dev" }.into()),
            });
        }
        d.reason = "one at a time; prod after approval".into();
        d
    }
}

fn answer<T: serde::Serialize>(req: &impl serde::Serialize, decision: T) -> Answer<T> {
    let input: Arc<[u8]> = serde_json::to_vec(req).unwrap_or_default().into();
    Answer {
        input_sha256: hex::encode(Sha256::digest(&input)),
        output_json: serde_json::to_string(&decision).unwrap_or_default(),
        decision,
        input,
        fuel: None,
        duration: None,
    }
}

impl DecisionPolicy for GatePolicy {
    fn digest(&self) -> String {
        self.digest.clone()
    }
    fn place<'a>(
        &'a self,
        _: &'a PlacementRequest,
        _: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<PlacementDecision>, CallFailed>> {
        Box::pin(async {
            Err(PolicyFailure {
                label: "trap".into(),
                message: "not placement".into(),
            }
            .into())
        })
    }
    fn order_upgrades<'a>(
        &'a self,
        req: &'a UpgradeRequest,
        _: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<UpgradeDecision>, CallFailed>> {
        if let Ok(mut s) = self.seen.lock() {
            s.push(req.clone());
        }
        Box::pin(async move { Ok(answer(req, Self::decide(req))) })
    }
    fn remediate<'a>(
        &'a self,
        _: &'a RemediationRequest,
        _: Timestamp,
    ) -> BoxFuture<'a, Result<Answer<RemediationDecision>, CallFailed>> {
        Box::pin(async {
            Err(PolicyFailure {
                label: "trap".into(),
                message: "not remediation".into(),
            }
            .into())
        })
    }
}

/// Serves [`GatePolicy`] for any module bytes.
#[derive(Debug)]
struct GateLoader(Arc<Mutex<Vec<UpgradeRequest>>>);

impl ModuleLoader for GateLoader {
    fn load(
        &self,
        _tenant: String,
        bytes: Vec<u8>,
        _config: serde_json::Value,
        _limits: fleetward_controller::crd::PolicyLimits,
    ) -> BoxFuture<'static, Result<Arc<dyn DecisionPolicy>, PolicyFailure>> {
        let p = GatePolicy {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
            seen: self.0.clone(),
        };
        Box::pin(async move { Ok(Arc::new(p) as Arc<dyn DecisionPolicy>) })
    }
}

/// Tenant `acme` with a dev and a prod cluster on [`GatePolicy`], bumped to 1.32.1; returns once
/// the dev cluster is done and the prod one waits for gate `prod`.
async fn gated_fleet(h: &mut Harness) -> Result<Arc<Mutex<Vec<UpgradeRequest>>>> {
    let seen: Arc<Mutex<Vec<UpgradeRequest>>> = Default::default();
    let loader_seen = seen.clone();
    h.configure = Some(Box::new(move |cfg| {
        cfg.loader = Arc::new(GateLoader(loader_seen.clone()));
    }));
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant(
        "acme",
        TenantPolicies {
            upgrade_ordering: Some(PolicySpec {
                bytes: b"gate policy".to_vec(),
                config: json!({}),
                failure_mode: "Hold",
                limits: serde_json::Value::Null,
            }),
            ..Default::default()
        },
    )
    .await?;
    h.cluster("acme", "dev-0", "1.31.4", json!({"env": "dev"}))
        .await?;
    h.cluster("acme", "prod-0", "1.31.4", json!({"env": "prod"}))
        .await?;
    h.start_controller();
    h.wait_all_at("1.31.4", 2, Duration::from_secs(1800))
        .await?;
    h.bump_all("1.32.1").await?;
    h.wait_for("dev done and gate prod pending", 4 * HOURS, || async {
        let r = rollout_of(h, "acme").await?;
        let dev = h.clusters_in("acme").get("dev-0").await?;
        let dev_done = dev.status.as_ref().is_some_and(|s| {
            s.in_progress.is_none()
                && s.control_plane_version
                    .is_some_and(|v| v.to_string() == "1.32.1")
                && s.node_pools
                    .iter()
                    .all(|p| p.version.to_string() == "1.32.1")
        });
        Ok(r.filter(|r| {
            dev_done
                && r.gates.len() == 1
                && r.gates[0].name == "prod"
                && r.gates[0].clusters == ["tenant-acme/prod-0"]
        }))
    })
    .await?;
    Ok(seen)
}

async fn approve(h: &Harness, ns: &str, name: &str, spec: serde_json::Value) -> Result<()> {
    let a: RolloutApproval = serde_json::from_value(json!({
        "apiVersion": "fleetward.dev/v1alpha1", "kind": "RolloutApproval",
        "metadata": {"name": name, "namespace": ns}, "spec": spec}))?;
    Api::<RolloutApproval>::namespaced(h.client.clone(), ns)
        .create(&PostParams::default(), &a)
        .await
        .with_context(|| format!("creating approval {ns}/{name}"))?;
    Ok(())
}

/// The approval's `Accepted` condition once written: (status, reason).
async fn accepted(h: &Harness, ns: &str, name: &str) -> Result<(String, String)> {
    h.wait_for(&format!("{ns}/{name} judged"), HOURS, || async {
        let a = Api::<RolloutApproval>::namespaced(h.client.clone(), ns)
            .get(name)
            .await?;
        Ok(a.status
            .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Accepted"))
            .map(|c| (format!("{:?}", c.status), c.reason)))
    })
    .await
}

fn prod_version(all: &[ManagedCluster]) -> Option<String> {
    all.iter()
        .find(|c| c.name_any() == "prod-0")
        .and_then(|c| c.status.as_ref()?.control_plane_version)
        .map(|v| v.to_string())
}

#[tokio::test(start_paused = true)]
async fn a_gate_blocks_prod_until_approved_and_the_approval_reaches_the_input() -> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    let seen = gated_fleet(&mut h).await?;
    tokio::time::sleep(HOURS).await;
    let all = h.all_clusters().await?;
    assert_eq!(prod_version(&all).as_deref(), Some("1.31.4"), "prod waits");
    assert!(in_flight(&all).is_empty());
    let r = rollout_of(&h, "acme").await?.context("status.rollout")?;
    assert_eq!(r.gates[0].approved, None, "pending");
    let since = r.gates[0].since.clone();
    let w = r.waiting.iter().find(|w| w.cluster == "tenant-acme/prod-0");
    assert_eq!(
        w.map(|w| (w.cause.as_str(), w.gate.as_deref())),
        Some(("approval", Some("prod")))
    );
    let asked_before = seen.lock().map(|s| s.len()).unwrap_or(0);
    approve(
        &h,
        "tenant-acme",
        "prod-ok",
        json!({
        "tenant": "acme", "gate": "prod", "rollout": "1.32.1", "approver": "carol",
        "comment": "staging looked fine"}),
    )
    .await?;
    assert_eq!(
        accepted(&h, "tenant-acme", "prod-ok").await?,
        ("True".into(), "Accepted".into())
    );
    h.wait_all_at("1.32.1", 2, 4 * HOURS).await?;
    // The approval is in the policy's input from the first decision after it, and not before.
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(seen[..asked_before].iter().all(|r| r.approvals.is_empty()));
    let after = &seen[asked_before..];
    assert!(
        !after.is_empty(),
        "the policy was asked again after the approval"
    );
    let a = &after[0].approvals;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (a[0].gate.as_str(), a[0].approved_by.as_str()),
        ("prod", "carol")
    );
    // The status shows the gate approved, by whom and when, its since kept.
    let r = h
        .wait_for("status.rollout Complete", HOURS, || async {
            Ok(rollout_of(&h, "acme")
                .await?
                .filter(|r| r.state == RolloutState::Complete))
        })
        .await?;
    let g = &r.gates[0];
    assert_eq!(g.since, since);
    let ap = g.approved.clone().context("approved")?;
    assert_eq!(
        (ap.by.as_str(), ap.approval.as_str()),
        ("carol", "tenant-acme/prod-ok")
    );
    assert_eq!(ap.at, a[0].approved_at.to_string());
    assert!(h.violations()?.is_empty());
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn approvals_from_another_tenant_or_for_unknown_things_are_refused_and_change_nothing()
-> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    let seen = gated_fleet(&mut h).await?;
    let ns: Api<Namespace> = Api::all(h.client.clone());
    for (name, tenant) in [("tenant-globex", "globex"), ("tenant-ghost", "ghost")] {
        ns.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name,
                "labels": {"fleetward.dev/tenant": tenant}}}))?,
        )
        .await?;
    }
    let cases = [
        // Another tenant's operators approving acme's gate.
        (
            "tenant-globex",
            "sneaky",
            "acme",
            "prod",
            "1.32.1",
            "TenantMismatch",
        ),
        (
            "tenant-ghost",
            "ghostly",
            "ghost",
            "prod",
            "1.32.1",
            "UnknownTenant",
        ),
        (
            "tenant-acme",
            "wrong-gate",
            "acme",
            "stage",
            "1.32.1",
            "UnknownGate",
        ),
        (
            "tenant-acme",
            "old",
            "acme",
            "prod",
            "1.31.4",
            "OtherRollout",
        ),
    ];
    for (ns, name, tenant, gate, rollout, _) in cases {
        approve(
            &h,
            ns,
            name,
            json!({
            "tenant": tenant, "gate": gate, "rollout": rollout, "approver": "mallory"}),
        )
        .await?;
    }
    for (ns, name, _, _, _, reason) in cases {
        assert_eq!(
            accepted(&h, ns, name).await?,
            ("False".into(), reason.into()),
            "{ns}/{name}"
        );
    }
    tokio::time::sleep(HOURS).await;
    let all = h.all_clusters().await?;
    assert_eq!(
        prod_version(&all).as_deref(),
        Some("1.31.4"),
        "prod still waits"
    );
    let r = rollout_of(&h, "acme").await?.context("status.rollout")?;
    assert_eq!(r.gates[0].approved, None, "{r:?}");
    let asked = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        asked.iter().all(|r| r.approvals.is_empty()),
        "no refused approval reaches the input"
    );
    // The refusal is told on the approval, with what to do.
    let told = fleetward_tests::events::events_about(
        &h.client,
        "RolloutApproval",
        "sneaky",
        "ApprovalRejected",
    )
    .await?;
    assert!(
        told.iter()
            .any(|(t, note)| t == "Warning"
                && note.contains("tenants cannot approve for each other")),
        "{told:?}"
    );
    Ok(())
}
