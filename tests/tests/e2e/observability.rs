//! What the controller tells an operator: one Event per distinct cause (a new cause is a new
//! Event, not a repeat of the old one), Events when a step and a rollout complete and when
//! placement fails, one-line condition messages for refused modules, and one log line per
//! decision and rejection (tenant, cluster, what, why), with optimistic-concurrency conflicts
//! kept out of the WARN level.

use std::time::Duration;

use anyhow::{Context as _, Result};
use fleetward_controller::crd::{ConditionStatus, Tenant};
use fleetward_tests::events::events_about;
use fleetward_tests::logs::LogCapture;
use fleetward_tests::{Backend, Harness, PolicySpec, TenantPolicies};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use sha2::{Digest as _, Sha256};

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Waits (bounded) until at least `n` Events match, and returns them.
async fn wait_events(
    h: &Harness,
    kind: &str,
    name: &str,
    reason: &str,
    n: usize,
) -> Result<Vec<(String, String)>> {
    h.wait_for(
        &format!("{n} {reason} Event(s) about {kind} {name}"),
        Duration::from_secs(300),
        || async {
            let evs = events_about(&h.client, kind, name, reason).await?;
            Ok((evs.len() >= n).then_some(evs))
        },
    )
    .await
}

/// `PoliciesReady` of tenant acme once its reason is `reason`.
async fn policies_ready(h: &Harness, reason: &str) -> Result<(ConditionStatus, String)> {
    let api: Api<Tenant> = Api::all(h.client.clone());
    h.wait_for(
        &format!("acme PoliciesReady reason {reason}"),
        Duration::from_secs(300),
        || async {
            let t = api.get("acme").await?;
            Ok(t.status.and_then(|s| {
                s.conditions
                    .into_iter()
                    .find(|c| c.type_ == "PoliciesReady" && c.reason == reason)
                    .map(|c| (c.status, c.message))
            }))
        },
    )
    .await
}

/// A condition message an operator can read in `kubectl get -o wide` / `describe`: one line,
/// bounded.
fn assert_one_line(message: &str) {
    assert!(
        !message.contains('\n') && !message.contains("\\n"),
        "multi-line message: {message}"
    );
    assert!(message.len() <= 512, "{} bytes: {message}", message.len());
}

crate::on_both_backends!(an_operator_sees_each_decision_and_each_cause);

async fn an_operator_sees_each_decision_and_each_cause(backend: Backend) -> Result<()> {
    let logs = LogCapture::start("fleetward_controller=debug");
    let Some(mut h) = Harness::on(backend, "an_operator_sees_each_decision_and_each_cause").await?
    else {
        return Ok(());
    };
    h.seed("seed-0", "eu-west", 10).await?;
    let v1 = PolicySpec::file(fleetward_test_policies::PLACEMENT, json!({}));
    h.tenant(
        "acme",
        TenantPolicies {
            placement: Some(v1.clone()),
            ..Default::default()
        },
    )
    .await?;
    h.tenant("globex", TenantPolicies::default()).await?;
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;
    h.start_controller();
    h.wait_all_at("1.31.0", 1, Duration::from_secs(900)).await?;

    // A rollout: the control-plane step, then the pool step, each its own Event; then the
    // rollout's completion.
    h.bump_all("1.32.1").await?;
    h.wait_all_at("1.32.1", 1, Duration::from_secs(3600))
        .await?;
    let started = wait_events(&h, "ManagedCluster", "a1", "UpgradeStarted", 2).await?;
    assert!(
        started.iter().any(|(_, n)| n.contains("control-plane"))
            && started.iter().any(|(_, n)| n.contains("pool/workers")),
        "each step is its own Event: {started:?}"
    );
    let completed = wait_events(&h, "ManagedCluster", "a1", "UpgradeStepCompleted", 2).await?;
    assert!(
        completed.iter().any(|(_, n)| n.contains("control-plane"))
            && completed.iter().any(|(_, n)| n.contains("pool/workers")),
        "{completed:?}"
    );
    let rollout = wait_events(&h, "ManagedCluster", "a1", "RolloutCompleted", 1).await?;
    assert_eq!(rollout.len(), 1, "{rollout:?}");
    assert_eq!(rollout[0].0, "Normal");
    assert!(rollout[0].1.contains("1.32.1"), "{rollout:?}");

    // Placement that cannot succeed is announced as a Warning.
    h.cluster_in_region("globex", "stray", "1.31.0", "mars")
        .await?;
    let failed = wait_events(&h, "ManagedCluster", "stray", "PlacementFailed", 1).await?;
    assert_eq!(failed[0].0, "Warning", "{failed:?}");
    assert!(
        failed[0].1.contains("region eu-west not allowed"),
        "{failed:?}"
    );

    // Two different causes of refusing acme's placement module: two Events, each with its own
    // note (a series merged by reason would keep showing the first).
    let tenants: Api<Tenant> = Api::all(h.client.clone());
    let unpublished = digest(b"a module nobody published");
    tenants
        .patch(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"placement": {"sha256": unpublished}}})),
        )
        .await?;
    let (status, message) = policies_ready(&h, "DigestMismatch").await?;
    assert_eq!(status, ConditionStatus::False);
    assert_one_line(&message);
    wait_events(&h, "Tenant", "acme", "PolicyRejected", 1).await?;
    let garbage = b"garbage bytes where a compiled module should be".to_vec();
    h.put_module("acme-placement", &garbage).await?;
    tenants
        .patch(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"placement": {"sha256": digest(&garbage)}}})),
        )
        .await?;
    let (status, message) = policies_ready(&h, "InvalidModule").await?;
    assert_eq!(status, ConditionStatus::False);
    assert_one_line(&message);
    assert!(
        message.starts_with("placement: "),
        "the cause comes first: {message}"
    );
    assert!(
        message.contains("still serving last good module"),
        "{message}"
    );
    let rejected = wait_events(&h, "Tenant", "acme", "PolicyRejected", 2).await?;
    assert!(
        rejected.iter().any(|(_, n)| n.contains(&unpublished))
            && rejected.iter().any(|(_, n)| !n.contains(&unpublished)),
        "each cause is its own Event: {rejected:?}"
    );
    for (type_, note) in &rejected {
        assert_eq!(type_, "Warning");
        assert_one_line(note);
    }
    h.stop_controller().await;

    // The log: each decision and each rejection one INFO/WARN line naming tenant, cluster (or
    // kind), what and why; conflicts never at WARN; no dumps.
    let lines = logs.lines();
    let has = |level: &str, parts: &[&str]| logs.has(level.trim(), parts);
    let all = lines.join("\n");
    assert!(
        has(
            " INFO ",
            &[
                "placed cluster",
                "tenant=acme",
                "cluster=tenant-acme/a1",
                "seed=seed-0"
            ]
        ),
        "{all}"
    );
    for target in ["control-plane", "pool/workers"] {
        for what in ["upgrade step started", "upgrade step completed"] {
            assert!(
                has(
                    " INFO ",
                    &[what, "tenant=acme", "cluster=tenant-acme/a1", target]
                ),
                "{what} {target}:\n{all}"
            );
        }
    }
    assert!(
        has(
            " INFO ",
            &["rollout completed", "cluster=tenant-acme/a1", "1.32.1"]
        ),
        "{all}"
    );
    assert!(
        has(
            " WARN ",
            &[
                "placement failed",
                "tenant=globex",
                "cluster=tenant-globex/stray"
            ]
        ),
        "{all}"
    );
    for reason in ["digest_mismatch", "invalid_module"] {
        assert!(
            has(
                " WARN ",
                &[
                    "policy module rejected",
                    "tenant=acme",
                    "kind=placement",
                    reason
                ]
            ),
            "{reason}:\n{all}"
        );
    }
    for l in lines
        .iter()
        .filter(|l| l.contains(" INFO ") || l.contains(" WARN "))
    {
        assert!(l.len() <= 1200, "{} bytes: {l}", l.len());
        assert!(
            !(l.contains(" WARN ") && (l.contains("409") || l.contains("Conflict"))),
            "an optimistic-concurrency retry at WARN: {l}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("ApiError") && l.contains("Status {")),
        "an API error dumped with its Debug form:\n{all}"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_reconcile_metrics_count_each_controller() -> Result<()> {
    let mut h = Harness::new().await?;
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant("acme", TenantPolicies::default()).await?;
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;
    h.start_controller();
    h.wait_all_at("1.31.0", 1, Duration::from_secs(900)).await?;
    let text = h.controller().context("running")?.metrics.render();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    for controller in ["cluster", "tenant", "seed"] {
        assert!(
            value(&format!(
                "fleetward_reconciles_total{{controller=\"{controller}\",result=\"success\"}}"
            )) >= 1.0,
            "{controller}:\n{text}"
        );
        assert!(
            value(&format!(
                "fleetward_reconcile_duration_seconds_count{{controller=\"{controller}\"}}"
            )) >= 1.0,
            "{controller}:\n{text}"
        );
        assert!(
            text.contains(&format!(
                "fleetward_reconciles_in_flight{{controller=\"{controller}\"}}"
            )),
            "{controller}:\n{text}"
        );
    }
    assert!(text.contains("fleetward_plan_queue_depth"), "{text}");
    h.stop_controller().await;
    Ok(())
}
