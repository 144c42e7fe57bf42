//! Leader election on a Lease: one holder at a time, hand-over on release.

use anyhow::Result;
use fleetward_controller::leader::{LeaderElector, LeaseConfig};
use fleetward_emulator::Emulator;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};

#[tokio::test]
async fn one_holder_and_hand_over_on_release() -> Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "fleetward-system"}}))?;
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let a = LeaderElector::new(client.clone(), LeaseConfig::new("fleetward-system", "a"));
    let b = LeaderElector::new(client.clone(), LeaseConfig::new("fleetward-system", "b"));
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
