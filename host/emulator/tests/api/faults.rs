//! Request faults and the write audit.

use fleetward_emulator::{Emulator, Fault, FaultRule, Verb};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::common::{api_status, create_cm};

#[tokio::test]
async fn fail_next_is_bounded_and_targeted() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    emu.faults().fail_next(
        FaultRule::any().verb(Verb::Create).resource("configmaps"),
        2,
        Fault::TooManyRequests,
    );
    for _ in 0..2 {
        let err = api_status(
            create_cm(&api, "x")
                .await
                .unwrap_err()
                .downcast::<kube::Error>()?,
        );
        assert_eq!((err.code, err.reason.as_str()), (429, "TooManyRequests"));
    }
    create_cm(&api, "x").await?;

    emu.faults().fail_next(
        FaultRule::any().name("x").verb(Verb::Get),
        1,
        Fault::InternalError,
    );
    assert_eq!(api_status(api.get("x").await.unwrap_err()).code, 500);
    api.get("x").await?;

    emu.faults()
        .fail_next(FaultRule::any().verb(Verb::Patch), 1, Fault::Conflict);
    let err = api_status(
        api.patch("x", &PatchParams::default(), &Patch::Merge(&json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));

    emu.faults().fail_next(FaultRule::any(), 5, Fault::Timeout);
    emu.faults().clear();
    api.get("x").await?;
    Ok(())
}

async fn ratio_run(seed: u64) -> anyhow::Result<Vec<bool>> {
    let emu = Emulator::builder().seed(seed).build();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    create_cm(&api, "x").await?;
    emu.faults()
        .fail_ratio(FaultRule::any().verb(Verb::Get), 500, Fault::Timeout, 5);
    let mut outcomes = Vec::new();
    for _ in 0..40 {
        outcomes.push(api.get("x").await.is_err());
    }
    Ok(outcomes)
}

#[tokio::test]
async fn fail_ratio_is_seeded_and_capped() -> anyhow::Result<()> {
    let a = ratio_run(7).await?;
    let b = ratio_run(7).await?;
    assert_eq!(a, b, "same seed, same faults");
    assert_eq!(a.iter().filter(|f| **f).count(), 5, "at most max failures");
    Ok(())
}

#[tokio::test]
async fn writes_are_counted_and_broadcast_with_user_agent() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let mut writes = emu.subscribe_writes();
    let before = emu.write_count();
    let api: Api<ConfigMap> = Api::namespaced(
        emu.client_with_user_agent("fleetward-controller/0.1"),
        "default",
    );
    create_cm(&api, "x").await?;
    api.get("x").await?;
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"k": "2"}})),
    )
    .await?;
    assert_eq!(emu.write_count() - before, 2);
    let created = writes.recv().await?;
    assert_eq!(
        (created.verb, created.kind.as_str(), created.name.as_str()),
        (Verb::Create, "ConfigMap", "x")
    );
    assert_eq!(created.namespace.as_deref(), Some("default"));
    assert_eq!(
        created.user_agent.as_deref(),
        Some("fleetward-controller/0.1")
    );
    let patched = writes.recv().await?;
    assert_eq!(patched.verb, Verb::Patch);
    assert_eq!(patched.object["data"]["k"], "2");
    assert!(patched.resource_version > created.resource_version);
    // The default field manager comes from the user agent.
    let cm = api.get("x").await?;
    let managers: Vec<_> = cm
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["fleetward-controller"]);
    assert_eq!(emu.object_count(), 5);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_server_outage_refuses_errors_hangs_and_slows_every_request() -> anyhow::Result<()> {
    use fleetward_emulator::Outage;
    use std::time::Duration;
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    create_cm(&api, "x").await?;

    emu.faults().begin_outage(Outage::Unreachable);
    let err = api.get("x").await.unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "an unreachable server gives a transport error, not a Status: {err:?}"
    );
    assert!(format!("{err:?}").contains("ConnectionRefused"), "{err:?}");

    emu.faults()
        .begin_outage(Outage::Errors(Fault::InternalError));
    assert_eq!(api_status(api.get("x").await.unwrap_err()).code, 500);

    emu.faults().begin_outage(Outage::Hang);
    let hung = tokio::time::timeout(Duration::from_secs(30), api.get("x")).await;
    assert!(hung.is_err(), "a hung server answers nothing: {hung:?}");
    // A request waiting in the hang is served once the outage ends.
    let waiting = tokio::spawn({
        let api = api.clone();
        async move { api.get("x").await }
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    emu.faults().end_outage();
    assert_eq!(waiting.await??.metadata.name.as_deref(), Some("x"));

    emu.faults()
        .begin_outage(Outage::Slow(Duration::from_secs(3)));
    let started = tokio::time::Instant::now();
    api.get("x").await?;
    assert_eq!(started.elapsed().as_secs(), 3, "slow by exactly the delay");
    emu.faults().end_outage();
    let started = tokio::time::Instant::now();
    api.get("x").await?;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(emu.faults().outage(), None);
    Ok(())
}
