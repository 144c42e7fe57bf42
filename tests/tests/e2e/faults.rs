//! Conflicts, 500s, timeouts and dropped watches: the controller still converges, safely.

use std::time::Duration;

use anyhow::Result;
use fleetward_emulator::{Fault, FaultRule, Verb};
use fleetward_tests::logs::LogCapture;
use fleetward_tests::{Harness, TenantPolicies};
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn converges_through_conflicts_errors_and_dropped_watches() -> Result<()> {
    crate::init_tracing();
    let logs = LogCapture::start("fleetward_controller=debug");
    let mut h = Harness::new().await?;
    h.seed("seed-0", "eu-west", 10).await?;
    h.seed("seed-1", "us-east", 10).await?;
    h.tenant("acme", TenantPolicies::default()).await?;
    h.tenant("globex", TenantPolicies::default()).await?;
    for i in 0..3 {
        h.cluster("acme", &format!("acme-{i}"), "1.31.0", json!({}))
            .await?;
        h.cluster("globex", &format!("globex-{i}"), "1.31.0", json!({}))
            .await?;
    }
    let f = h.emu().faults();
    // Faults on the controller's own write and read paths, from the very start.
    f.fail_ratio(
        FaultRule::any().verb(Verb::Apply).resource("deployments"),
        200,
        Fault::InternalError,
        25,
    );
    f.fail_ratio(
        FaultRule::any()
            .verb(Verb::Update)
            .resource("managedclusters"),
        200,
        Fault::Conflict,
        25,
    );
    f.fail_ratio(
        FaultRule::any().verb(Verb::Get).resource("namespaces"),
        100,
        Fault::Timeout,
        10,
    );
    f.fail_ratio(
        FaultRule::any()
            .verb(Verb::List)
            .resource("managedclusters"),
        300,
        Fault::TooManyRequests,
        10,
    );
    h.start_controller();
    // Cut every watch every 90 virtual seconds, a bounded number of times, and expire history once.
    let emu = h.emu().clone();
    let cutter = tokio::spawn(async move {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_secs(90)).await;
            if i == 5 {
                emu.faults().expire_watch_history();
            }
            emu.faults().cut_watches();
        }
    });
    h.wait_all_at("1.31.0", 6, Duration::from_secs(3600))
        .await?;
    h.bump_all("1.32.0").await?;
    h.wait_all_at("1.32.0", 6, Duration::from_secs(4 * 3600))
        .await?;
    cutter.abort();
    assert!(h.violations()?.is_empty(), "{:?}", h.violations()?);
    let metrics = h.controller().unwrap().metrics.render();
    let errors: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("fleetward_reconcile_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        errors > 0.0,
        "the faults should have hit the controller:\n{metrics}"
    );
    h.stop_controller().await;
    // A 409 is optimistic concurrency doing its job: one short DEBUG line, never a warning;
    // a 500 is a warning, one line with the API's code and message, no Status dump.
    let lines = logs.lines();
    let all = lines.join("\n");
    assert!(
        logs.has("DEBUG", &["conflict; retrying with a fresh read"]),
        "no conflict was logged at DEBUG:\n{all}"
    );
    for l in &lines {
        assert!(
            !(l.contains(" WARN ") && (l.contains("409") || l.contains("Conflict"))),
            "a conflict at WARN: {l}"
        );
        assert!(!l.contains("Status {"), "an API error dumped: {l}");
        if l.contains("conflict; retrying") {
            assert!(l.len() <= 300, "{} bytes: {l}", l.len());
        }
    }
    assert!(
        logs.has("WARN", &["reconcile failed", "500"]),
        "the injected 500s are warnings:\n{all}"
    );
    Ok(())
}
