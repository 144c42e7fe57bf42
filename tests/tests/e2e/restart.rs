//! The controller restarted mid-upgrade resumes without repeating or skipping a step.

use std::time::Duration;

use anyhow::Result;
use fleetward_tests::{Harness, PolicySpec, TenantPolicies};
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn restart_mid_upgrade_resumes_without_repeating_or_skipping() -> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    h.seed("seed-0", "eu-west", 10).await?;
    h.seed("seed-1", "eu-west", 10).await?;
    let policy = PolicySpec::file(
        fleetward_test_policies::UPGRADE_ORDERING,
        json!({"bake_minutes": 0, "max_concurrent": 2}),
    );
    h.tenant(
        "acme",
        TenantPolicies {
            upgrade_ordering: Some(policy),
            ..Default::default()
        },
    )
    .await?;
    h.tenant("initech", TenantPolicies::default()).await?;
    for i in 0..4 {
        h.cluster("acme", &format!("acme-{i}"), "1.31.0", json!({}))
            .await?;
        h.cluster("initech", &format!("initech-{i}"), "1.31.0", json!({}))
            .await?;
    }
    h.start_controller();
    h.wait_all_at("1.31.0", 8, Duration::from_secs(1800))
        .await?;
    h.bump_all("1.32.0").await?;
    // Stop once some steps completed and others are in flight.
    h.wait_for("upgrade half way", Duration::from_secs(3600), || async {
        let all = h.all_clusters().await?;
        let done = all
            .iter()
            .filter(|c| {
                c.status.as_ref().is_some_and(|s| {
                    s.control_plane_version
                        .is_some_and(|v| v.to_string() == "1.32.0")
                })
            })
            .count();
        let running = all
            .iter()
            .filter(|c| c.status.as_ref().is_some_and(|s| s.in_progress.is_some()))
            .count();
        Ok((done >= 2 && running >= 1).then_some(()))
    })
    .await?;
    h.stop_controller().await;
    // The infrastructure keeps rolling while no controller runs.
    tokio::time::sleep(Duration::from_secs(180)).await;
    h.start_controller();
    let all = h
        .wait_all_at("1.32.0", 8, Duration::from_secs(4 * 3600))
        .await?;
    assert!(h.violations()?.is_empty(), "{:?}", h.violations()?);
    let changes = h.version_changes();
    for c in &all {
        let name = c.metadata.name.clone().unwrap();
        for target in [
            "control-plane/kube-apiserver",
            "control-plane/etcd",
            "pool/workers",
        ] {
            let n = changes
                .iter()
                .filter(|(id, t, _, _)| id.name == name && t == target)
                .count();
            assert_eq!(n, 1, "{name} {target} moved {n} times: {changes:?}");
        }
        let hist = &c.status.as_ref().unwrap().upgrade_history;
        let targets: Vec<_> = hist
            .iter()
            .map(|e| {
                (
                    e.target.to_string(),
                    e.to.to_string(),
                    e.completed_at.is_some(),
                )
            })
            .collect();
        assert_eq!(
            targets,
            [
                ("control-plane".to_string(), "1.32.0".to_string(), true),
                ("pool/workers".to_string(), "1.32.0".to_string(), true)
            ],
            "{name}"
        );
    }
    assert_eq!(h.max_in_flight("tenant-initech"), 1);
    h.stop_controller().await;
    Ok(())
}
