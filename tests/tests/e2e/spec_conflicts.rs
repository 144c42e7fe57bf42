//! A spec the API server accepted but the controller cannot render — two node pools of one name —
//! gets a condition and an Event, never a write loop (issue 16: the MachineDeployment was
//! rewritten ~87 times a second, replicas flipping 1 ↔ 2).
//!
//! How such a spec gets stored: the CRD's CEL rule (`node pool names must be unique`) refuses it
//! on any server that evaluates CEL. The test does what an operator on such a server would have to
//! do to reach this state: it edits the CRD to drop the rule (an older server, or an emulator
//! without CEL, stores the object as they are). Creating the object through the API after that
//! edit works on the real kube-apiserver and on the emulator whether or not the emulator
//! evaluates CEL, so the scenario runs on both backends.
//!
//! Write counting: on the emulator the request accounting (`Emulator::request_counts`) counts the
//! controller's server-side applies to MachineDeployments (the fake infrastructure writes their
//! status with merge patches, another verb); on the real API server a MachineDeployment's
//! `metadata.generation` counts its spec writes. A write loop stalls tokio's paused clock (the
//! runtime is never idle, so virtual time never advances), so on the emulator every wait also
//! wakes on committed writes and fails as soon as the count passes its bound.

use std::time::Duration;

use anyhow::{Result, bail};
use fleetward_controller::core::provision::namespace_name;
use fleetward_controller::crd::{ConditionStatus, ManagedCluster, Phase};
use fleetward_emulator::Verb;
use fleetward_tests::events::warnings_about;
use fleetward_tests::{Backend, Harness, TenantPolicies};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// Most MachineDeployment applies a cluster may cost from creation to settled (its one pool is
/// applied once at placement; a few more for reconciles racing the first status write).
const MD_WRITE_BOUND: u64 = 6;

/// Removes the uniqueness rule from `spec.nodePools` in the ManagedCluster CRD.
async fn drop_node_pool_uniqueness_rule(h: &Harness) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(h.client.clone());
    let name = "managedclusters.fleetward.dev";
    let mut crd = serde_json::to_value(crds.get(name).await?)?;
    let pools = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"]["nodePools"];
    let removed = pools
        .as_object_mut()
        .and_then(|o| o.remove("x-kubernetes-validations"));
    if removed.is_none() {
        bail!("the CRD has no nodePools rule to drop: {pools}");
    }
    crds.replace(name, &PostParams::default(), &serde_json::from_value(crd)?)
        .await?;
    Ok(())
}

fn cluster(name: &str, pools: Value) -> Result<ManagedCluster> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
        "metadata": {"name": name, "namespace": "tenant-acme"},
        "spec": {"tenant": "acme", "version": "1.31.0", "nodePools": pools},
    }))?)
}

fn duplicate_pools() -> Value {
    json!([{"name": "workers", "replicas": 1}, {"name": "workers", "replicas": 2}])
}

/// How many spec writes the controller made to MachineDeployments: server-side applies counted
/// by the emulator, or the sum of their generations on the real API server.
async fn md_writes(h: &Harness) -> Result<u64> {
    if h.backend() == Backend::Emulator {
        let counts = h.emu().request_counts();
        return Ok(counts
            .by_resource
            .get(&(
                "cluster.x-k8s.io/machinedeployments".to_string(),
                Verb::Apply,
            ))
            .copied()
            .unwrap_or(0));
    }
    let ar = ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
        "cluster.x-k8s.io",
        "v1beta1",
        "MachineDeployment",
    ));
    let mds: Api<DynamicObject> = Api::all_with(h.client.clone(), &ar);
    Ok(mds
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|m| m.metadata.generation.unwrap_or(0) as u64)
        .sum())
}

/// Waits (at most `budget`) until `check` answers, failing at once when the controller's
/// MachineDeployment writes pass `bound`. On the emulator it also wakes on every committed write,
/// so a write loop that stalls the paused clock is caught rather than waited out.
async fn wait_bounded<T, F, Fut>(
    h: &Harness,
    what: &str,
    budget: Duration,
    bound: u64,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let mut writes = (h.backend() == Backend::Emulator).then(|| h.emu().subscribe_writes());
    let deadline = tokio::time::Instant::now() + budget;
    loop {
        let n = md_writes(h).await?;
        if n > bound {
            bail!(
                "{n} MachineDeployment writes while waiting for {what} (bound {bound}): a write loop"
            );
        }
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {budget:?} waiting for {what} ({n} MachineDeployment writes)");
        }
        match &mut writes {
            Some(rx) => {
                tokio::select! {
                    () = tokio::time::sleep(h.poll_interval()) => {}
                    _ = rx.recv() => {}
                }
            }
            None => tokio::time::sleep(h.poll_interval()).await,
        }
    }
}

/// The cluster's `SpecValid` condition (status, reason, message), if any.
async fn spec_valid(h: &Harness, name: &str) -> Result<Option<(ConditionStatus, String, String)>> {
    let mc = h.clusters_in("acme").get(name).await?;
    Ok(mc.status.and_then(|s| {
        s.conditions
            .into_iter()
            .find(|c| c.type_ == "SpecValid")
            .map(|c| (c.status, c.reason, c.message))
    }))
}

crate::on_both_backends!(duplicate_node_pools_get_a_condition_not_a_write_loop);

async fn duplicate_node_pools_get_a_condition_not_a_write_loop(backend: Backend) -> Result<()> {
    crate::init_tracing();
    let Some(mut h) = Harness::on(
        backend,
        "duplicate_node_pools_get_a_condition_not_a_write_loop",
    )
    .await?
    else {
        return Ok(());
    };
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant("acme", TenantPolicies::default()).await?;
    drop_node_pool_uniqueness_rule(&h).await?;
    // The real API server picks up a CRD edit asynchronously: retry the create until it does.
    h.wait_for(
        "the duplicate-pool cluster accepted",
        Duration::from_secs(60),
        || async {
            h.clusters_in("acme")
                .create(&PostParams::default(), &cluster("dup", duplicate_pools())?)
                .await?;
            Ok(Some(()))
        },
    )
    .await?;
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;
    h.start_controller();

    // 1. Created with duplicate pools: refused with a condition and an Event, never placed.
    let (status, reason, message) = wait_bounded(
        &h,
        "SpecValid=False on dup",
        Duration::from_secs(120),
        MD_WRITE_BOUND,
        || async {
            Ok(spec_valid(&h, "dup")
                .await?
                .filter(|c| c.0 == ConditionStatus::False))
        },
    )
    .await?;
    assert_eq!(reason, "DuplicateNodePool", "{message}");
    assert!(
        message.contains("\"workers\" appears 2 times") && message.contains("rename or remove"),
        "{message}"
    );
    let dup = h.clusters_in("acme").get("dup").await?;
    let st = dup.status.clone().unwrap_or_default();
    assert_eq!(st.phase, Phase::Rejected);
    assert_eq!(
        st.seed, None,
        "a spec that cannot be rendered is not placed"
    );
    assert_eq!(status, ConditionStatus::False);
    assert_eq!(
        warnings_about(&h.client, "ManagedCluster", "dup", "InvalidSpec").await?,
        1
    );

    // 2. A running cluster edited to duplicate pools: its children are left alone.
    wait_bounded(
        &h,
        "a1 Running",
        Duration::from_secs(900),
        MD_WRITE_BOUND,
        || async {
            let a1 = h.clusters_in("acme").get("a1").await?;
            Ok(a1.status.filter(|s| s.phase == Phase::Running).map(|_| ()))
        },
    )
    .await?;
    h.clusters_in("acme")
        .patch(
            "a1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"nodePools": duplicate_pools()}})),
        )
        .await?;
    let before = md_writes(&h).await?;
    let (_, reason, _) = wait_bounded(
        &h,
        "SpecValid=False on a1",
        Duration::from_secs(120),
        before + 2,
        || async {
            Ok(spec_valid(&h, "a1")
                .await?
                .filter(|c| c.0 == ConditionStatus::False))
        },
    )
    .await?;
    assert_eq!(reason, "DuplicateNodePool");
    let at_condition = md_writes(&h).await?;
    let a1_version = h
        .clusters_in("acme")
        .get("a1")
        .await?
        .metadata
        .resource_version;
    // A quiet window: nothing here is waited for, the assertion is that nothing happens in it
    // (a minute of virtual time on the emulator; on the real server a write loop runs at ~87
    // writes a second, so three seconds show it).
    let window = if backend.has_virtual_time() {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(3)
    };
    let counts_before = (h.backend() == Backend::Emulator).then(|| h.emu().request_counts());
    tokio::time::sleep(window).await;
    if let Some(before) = counts_before {
        // Nothing in the window writes a ManagedCluster or applies anything: the controller
        // left the refused cluster alone (the fake infrastructure's status patches go on).
        let during = h.emu().request_counts().since(&before);
        let writes: Vec<_> = during
            .by_resource
            .iter()
            .filter(|((resource, verb), _)| {
                *verb == Verb::Apply
                    || (resource == "fleetward.dev/managedclusters"
                        && matches!(verb, Verb::Update | Verb::Patch | Verb::Create))
            })
            .collect();
        assert!(writes.is_empty(), "writes in the quiet window: {writes:?}");
    }
    assert_eq!(
        md_writes(&h).await?,
        at_condition,
        "MachineDeployments written after the spec was refused"
    );
    assert_eq!(
        h.clusters_in("acme")
            .get("a1")
            .await?
            .metadata
            .resource_version,
        a1_version,
        "the refused cluster's status kept changing"
    );
    assert_eq!(
        warnings_about(&h.client, "ManagedCluster", "a1", "InvalidSpec").await?,
        1
    );
    let ns = namespace_name("acme", "tenant-acme", "a1");
    let ar = ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
        "cluster.x-k8s.io",
        "v1beta1",
        "MachineDeployment",
    ));
    let md = Api::<DynamicObject>::namespaced_with(h.client.clone(), &ns, &ar)
        .get("workers")
        .await?;
    assert_eq!(md.data["spec"]["replicas"], 2, "the last good spec stays");

    // 3. Fixed: the condition clears and the cluster converges on the new spec.
    h.clusters_in("acme")
        .patch(
            "a1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"nodePools": [{"name": "workers", "replicas": 1}]}})),
        )
        .await?;
    wait_bounded(
        &h,
        "a1 valid and Running with one machine",
        Duration::from_secs(900),
        at_condition + MD_WRITE_BOUND,
        || async {
            let a1 = h.clusters_in("acme").get("a1").await?;
            let st = a1.status.unwrap_or_default();
            let valid = st
                .conditions
                .iter()
                .any(|c| c.type_ == "SpecValid" && c.status == ConditionStatus::True);
            let one = st.node_pools.len() == 1 && st.node_pools[0].replicas == 1;
            Ok((valid && one && st.phase == Phase::Running).then_some(()))
        },
    )
    .await?;
    h.stop_controller().await;
    Ok(())
}
