//! Leader election on a Lease: one holder at a time, hand-over on release, takeover of an
//! abandoned lease only after a full lease duration on the candidate's own clock.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use fleetward_controller::http::Health;
use fleetward_controller::leader::{LeaderElector, LeaseConfig};
use fleetward_emulator::Emulator;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};

/// Two candidates, `a` and `b`, on a fresh emulator with the lease's namespace.
async fn candidates(emu: &Emulator) -> Result<(LeaderElector, LeaderElector)> {
    let client = emu.client();
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "fleetward-system"}}))?;
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok((
        LeaderElector::new(client.clone(), LeaseConfig::new("fleetward-system", "a")),
        LeaderElector::new(client, LeaseConfig::new("fleetward-system", "b")),
    ))
}

fn holder(lease: &Lease) -> (Option<&str>, Option<i32>) {
    let spec = lease.spec.as_ref();
    (
        spec.and_then(|s| s.holder_identity.as_deref()),
        spec.and_then(|s| s.lease_transitions),
    )
}

#[tokio::test]
async fn one_holder_and_hand_over_on_release() -> Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let (a, b) = candidates(&emu).await?;
    assert!(a.try_acquire_or_renew().await?, "a creates the lease");
    assert!(
        !b.try_acquire_or_renew().await?,
        "b cannot take a live lease"
    );
    assert!(a.try_acquire_or_renew().await?, "a renews");
    let lease = Api::<Lease>::namespaced(client.clone(), "fleetward-system")
        .get("fleetward-controller")
        .await?;
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some("a"));
    a.release().await?;
    assert!(
        b.try_acquire_or_renew().await?,
        "b takes over after release"
    );
    assert!(!a.try_acquire_or_renew().await?);
    let lease = Api::<Lease>::namespaced(client, "fleetward-system")
        .get("fleetward-controller")
        .await?;
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_lease_is_taken_over_after_one_lease_duration() -> Result<()> {
    let emu = Emulator::new();
    let leases = Api::<Lease>::namespaced(emu.client(), "fleetward-system");
    let (a, b) = candidates(&emu).await?;
    assert!(a.try_acquire_or_renew().await?, "a creates the lease");
    // a stops renewing (its process died). b first sees the record now ...
    assert!(!b.try_acquire_or_renew().await?);
    // ... and must see it unchanged for longer than the lease duration (15 s) on its own clock.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        !b.try_acquire_or_renew().await?,
        "10 s: the lease is still a's"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        b.try_acquire_or_renew().await?,
        "16 s unchanged: b takes over"
    );
    assert_eq!(
        holder(&leases.get("fleetward-controller").await?),
        (Some("b"), Some(1))
    );
    // a comes back: it sees b's lease and does not take it back; its hold() returns.
    assert!(!a.try_acquire_or_renew().await?);
    tokio::time::timeout(Duration::from_secs(6), a.hold())
        .await
        .map_err(|_| anyhow::anyhow!("a's hold() did not notice it lost the lease"))?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_renewing_holder_is_never_displaced() -> Result<()> {
    let emu = Emulator::new();
    let leases = Api::<Lease>::namespaced(emu.client(), "fleetward-system");
    let (a, b) = candidates(&emu).await?;
    assert!(a.try_acquire_or_renew().await?);
    // Two minutes of renewals every 5 s (the default) while b keeps trying.
    for _ in 0..24 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(a.try_acquire_or_renew().await?, "a renews");
        assert!(
            !b.try_acquire_or_renew().await?,
            "b never wins a live lease"
        );
    }
    assert_eq!(
        holder(&leases.get("fleetward-controller").await?),
        (Some("a"), Some(0))
    );
    Ok(())
}

/// A replica whose Lease namespace does not exist can never lead: it says so on `/readyz`
/// (not ready, with the reason) instead of reporting ready while it retries, and is ready again
/// once the namespace exists and it takes the lease.
#[tokio::test(start_paused = true)]
async fn a_replica_that_cannot_take_the_lease_is_not_ready_until_it_can() -> Result<()> {
    let emu = Emulator::new();
    let elector = LeaderElector::new(emu.client(), LeaseConfig::new("fleetward-system", "a"));
    let health = Arc::new(Health::default());
    // A follower is ready while it waits for the lease.
    health.set_ready(true);
    let acquiring = tokio::spawn({
        let (elector, health) = (elector.clone(), health.clone());
        async move { elector.acquire(&health).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while health.is_ready() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "still ready 30 s after the lease's namespace was found missing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reason = health.not_ready_reason().unwrap_or_default();
    assert!(
        reason.contains("fleetward-system") && reason.contains("does not exist"),
        "{reason}"
    );
    // The operator creates the namespace: the replica takes the lease and is ready again.
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "fleetward-system"}}))?;
    Api::<Namespace>::all(emu.client())
        .create(&PostParams::default(), &ns)
        .await?;
    tokio::time::timeout(Duration::from_secs(30), acquiring)
        .await
        .map_err(|_| anyhow::anyhow!("the lease was not taken once its namespace existed"))??;
    assert!(health.is_ready(), "{:?}", health.not_ready_reason());
    assert_eq!(health.not_ready_reason(), None);
    Ok(())
}
