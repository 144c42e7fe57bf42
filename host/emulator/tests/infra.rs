//! The fake infrastructure driven through the in-process emulator on a paused tokio clock.
//!
//! Every wait is a watch with a bounded virtual-time deadline; no real time passes. Timing
//! assertions are exact because the clock only moves when every task is idle, straight to the
//! next timer.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use fleetward_emulator::infra::{FakeInfra, FakeInfraHandle, InfraTimings};
use fleetward_emulator::{Emulator, Fault, FaultRule, Verb};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};

const NS: &str = "fleet";
const READY: Duration = Duration::from_secs(30);
const MACHINE_READY: Duration = Duration::from_secs(120);
const DRAIN: Duration = Duration::from_secs(10);

fn timings() -> InfraTimings {
    InfraTimings {
        workload_ready: READY,
        machine_ready: MACHINE_READY,
        machine_delete: DRAIN,
        ..InfraTimings::default()
    }
}

async fn setup(t: InfraTimings) -> anyhow::Result<(Emulator, Client, FakeInfraHandle)> {
    let emulator = Emulator::new();
    let client = emulator.client();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let infra = FakeInfra::start(client.clone(), t);
    Ok((emulator, client, infra))
}

/// Watches `api` until `pred` holds for the full set of objects (by name), or `within` of
/// virtual time passes.
async fn watch_until<K>(
    api: Api<K>,
    within: Duration,
    mut pred: impl FnMut(&BTreeMap<String, K>) -> bool,
) -> anyhow::Result<BTreeMap<String, K>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let deadline = Instant::now() + within;
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
    let mut objects = BTreeMap::new();
    let mut buffer: Option<BTreeMap<String, K>> = None;
    let mut synced = false;
    let mut errors = 0;
    loop {
        let event = timeout_at(deadline, stream.next()).await.map_err(|_| {
            anyhow!(
                "condition not met within {within:?}; objects: {:?}",
                objects.keys()
            )
        })?;
        match event {
            None => bail!("watch ended"),
            Some(Err(e)) => {
                // The watcher recovers (re-watch or relist) on the next poll; bound the retries.
                errors += 1;
                if errors > 10 {
                    bail!("watch kept failing: {e}");
                }
            }
            Some(Ok(Event::Apply(o))) => {
                objects.insert(o.name_any(), o);
            }
            Some(Ok(Event::Delete(o))) => {
                objects.remove(&o.name_any());
            }
            Some(Ok(Event::Init)) => buffer = Some(BTreeMap::new()),
            Some(Ok(Event::InitApply(o))) => {
                buffer
                    .get_or_insert_with(BTreeMap::new)
                    .insert(o.name_any(), o);
            }
            Some(Ok(Event::InitDone)) => {
                objects = buffer.take().unwrap_or_default();
                synced = true;
            }
        }
        if synced && pred(&objects) {
            return Ok(objects);
        }
    }
}

/// Waits until object `name` satisfies `pred`.
async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    within: Duration,
    pred: impl Fn(&K) -> bool,
) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let objects = watch_until(api.clone(), within, |m| m.get(name).is_some_and(&pred))
        .await
        .with_context(|| format!("waiting for {name}"))?;
    objects
        .get(name)
        .cloned()
        .ok_or_else(|| anyhow!("{name} vanished"))
}

fn deployment(name: &str, replicas: i32) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}
    }))?)
}

fn restart_patch(at: &str) -> Value {
    json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": at}}}}})
}

fn ready(d: &Deployment) -> Option<i32> {
    d.status.as_ref().and_then(|s| s.ready_replicas)
}

fn condition(d: &Deployment, type_: &str) -> Option<(String, String)> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

fn fully_ready(d: &Deployment, replicas: i32) -> bool {
    let s = d.status.clone().unwrap_or_default();
    s.observed_generation == d.metadata.generation
        && s.ready_replicas == Some(replicas)
        && s.updated_replicas == Some(replicas)
        && s.available_replicas == Some(replicas)
}

#[tokio::test(start_paused = true)]
async fn deployment_becomes_ready_after_exactly_the_configured_delay() -> anyhow::Result<()> {
    let (emu, client, infra) = setup(timings()).await?;
    let api: Api<Deployment> = Api::namespaced(client, NS);
    api.create(&PostParams::default(), &deployment("web", 3)?)
        .await?;
    let t0 = Instant::now();

    let seen = wait_for(&api, "web", READY, |d| {
        d.status.as_ref().and_then(|s| s.observed_generation) == Some(1)
    })
    .await?;
    assert!(Instant::now() - t0 < READY);
    assert_eq!(ready(&seen), Some(0));
    assert_eq!(
        seen.status.as_ref().and_then(|s| s.updated_replicas),
        Some(3)
    );

    tokio::time::sleep_until(t0 + READY - Duration::from_millis(1)).await;
    let before = api.get("web").await?;
    assert_eq!(ready(&before), Some(0), "not ready 1 ms before the delay");

    let done = wait_for(&api, "web", READY, |d| fully_ready(d, 3)).await?;
    assert_eq!(Instant::now() - t0, READY, "ready exactly at the delay");
    assert_eq!(
        condition(&done, "Available"),
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );
    assert_eq!(
        condition(&done, "Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );
    // Condition times follow the virtual clock, in step with the emulator's own.
    let available = done
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Available"))
        .and_then(|c| c.last_transition_time.clone())
        .ok_or_else(|| anyhow!("no Available transition time"))?;
    assert_eq!(available.0, emu.now());
    assert_eq!(available.0.to_string(), "2026-01-05T00:00:30Z");
    assert_eq!(infra.stats().failures, 0);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn template_change_rolls_with_one_unavailable() -> anyhow::Result<()> {
    let (_emu, client, _infra) = setup(timings()).await?;
    let api: Api<Deployment> = Api::namespaced(client, NS);
    api.create(&PostParams::default(), &deployment("web", 3)?)
        .await?;
    wait_for(&api, "web", READY * 2, |d| fully_ready(d, 3)).await?;

    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(restart_patch("t1")),
    )
    .await?;
    let t1 = Instant::now();
    let rolling = wait_for(&api, "web", READY, |d| {
        d.status.as_ref().and_then(|s| s.observed_generation) == Some(2)
    })
    .await?;
    let s = rolling.status.clone().unwrap_or_default();
    assert_eq!((s.updated_replicas, s.ready_replicas), (Some(0), Some(2)));
    assert_eq!(
        condition(&rolling, "Available").map(|c| c.0),
        Some("True".into())
    );
    assert_eq!(
        condition(&rolling, "Progressing").map(|c| c.1),
        Some("ReplicaSetUpdated".into())
    );

    wait_for(&api, "web", READY * 2, |d| fully_ready(d, 3)).await?;
    assert_eq!(Instant::now() - t1, READY);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn statefulset_rolls_between_revisions() -> anyhow::Result<()> {
    let (_emu, client, _infra) = setup(timings()).await?;
    let api: Api<StatefulSet> = Api::namespaced(client, NS);
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db", "namespace": NS},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "db:1"}]}}}
    }))?;
    api.create(&PostParams::default(), &sts).await?;
    let revision = |s: &StatefulSet| {
        let st = s.status.clone().unwrap_or_default();
        (st.current_revision, st.update_revision, st.ready_replicas)
    };
    let first = wait_for(&api, "db", READY * 2, |s| revision(s).2 == Some(2)).await?;
    let (cur, upd, _) = revision(&first);
    assert!(cur.is_some() && cur == upd);

    api.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(restart_patch("t1")),
    )
    .await?;
    let rolling = wait_for(&api, "db", READY, |s| {
        s.status.as_ref().and_then(|st| st.observed_generation) == Some(2)
    })
    .await?;
    let (cur2, upd2, ready2) = revision(&rolling);
    assert_eq!(cur2, cur, "current revision stays until the roll finishes");
    assert_ne!(upd2, upd);
    assert_eq!(ready2, Some(1));

    let done = wait_for(&api, "db", READY * 2, |s| {
        let (c, u, r) = revision(s);
        c == u && r == Some(2)
    })
    .await?;
    assert_eq!(revision(&done).1, upd2);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn broken_workload_is_not_healed_by_a_restart_only_by_heal() -> anyhow::Result<()> {
    let (_emu, client, infra) = setup(timings()).await?;
    let api: Api<Deployment> = Api::namespaced(client, NS);
    api.create(&PostParams::default(), &deployment("api", 2)?)
        .await?;
    wait_for(&api, "api", READY * 2, |d| fully_ready(d, 2)).await?;

    infra.break_workload(NS, "api");
    let broken = wait_for(&api, "api", READY, |d| ready(d) == Some(0)).await?;
    assert_eq!(
        condition(&broken, "Available"),
        Some(("False".into(), "MinimumReplicasUnavailable".into()))
    );

    api.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(restart_patch("t1")),
    )
    .await?;
    tokio::time::sleep(READY * 4).await;
    let after_restart = api.get("api").await?;
    assert_eq!(
        after_restart
            .status
            .as_ref()
            .and_then(|s| s.observed_generation),
        Some(2)
    );
    assert_eq!(
        ready(&after_restart),
        Some(0),
        "a restart does not heal by default"
    );
    assert!(infra.is_workload_broken(NS, "api"));

    infra.heal_workload(NS, "api");
    let t = Instant::now();
    let healed = wait_for(&api, "api", READY, |d| fully_ready(d, 2)).await?;
    assert_eq!(Instant::now(), t, "healing a settled workload is immediate");
    assert_eq!(
        condition(&healed, "Available").map(|c| c.0),
        Some("True".into())
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn restart_heals_when_configured() -> anyhow::Result<()> {
    let t = InfraTimings {
        restart_heals: true,
        ..timings()
    };
    let (_emu, client, infra) = setup(t).await?;
    let api: Api<Deployment> = Api::namespaced(client, NS);
    api.create(&PostParams::default(), &deployment("api", 2)?)
        .await?;
    wait_for(&api, "api", READY * 2, |d| fully_ready(d, 2)).await?;
    infra.break_workload(NS, "api");
    wait_for(&api, "api", READY, |d| ready(d) == Some(0)).await?;

    api.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(restart_patch("t1")),
    )
    .await?;
    let t1 = Instant::now();
    wait_for(&api, "api", READY * 2, |d| fully_ready(d, 2)).await?;
    assert_eq!(
        Instant::now() - t1,
        READY,
        "new pods become ready after the usual delay"
    );
    assert!(!infra.is_workload_broken(NS, "api"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn seed_prefix_breaks_every_workload_in_matching_namespaces() -> anyhow::Result<()> {
    let (_emu, client, infra) = setup(timings()).await?;
    let api: Api<Deployment> = Api::namespaced(client, NS);
    api.create(&PostParams::default(), &deployment("a", 1)?)
        .await?;
    wait_for(&api, "a", READY * 2, |d| fully_ready(d, 1)).await?;
    infra.break_seed_namespaces("fle");
    wait_for(&api, "a", READY, |d| ready(d) == Some(0)).await?;
    infra.heal_seed_namespaces("fle");
    wait_for(&api, "a", READY, |d| fully_ready(d, 1)).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cluster API

fn capi(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta1", kind),
        plural,
    )
}

struct Capi {
    mds: Api<DynamicObject>,
    sets: Api<DynamicObject>,
    machines: Api<DynamicObject>,
}

impl Capi {
    fn new(client: &Client) -> Self {
        Capi {
            mds: Api::namespaced_with(
                client.clone(),
                NS,
                &capi("MachineDeployment", "machinedeployments"),
            ),
            sets: Api::namespaced_with(client.clone(), NS, &capi("MachineSet", "machinesets")),
            machines: Api::namespaced_with(client.clone(), NS, &capi("Machine", "machines")),
        }
    }
}

fn machine_deployment(replicas: u32, version: &str) -> anyhow::Result<DynamicObject> {
    machine_deployment_with(replicas, version, 1, 0)
}

fn machine_deployment_with(
    replicas: u32,
    version: &str,
    max_surge: u32,
    max_unavailable: u32,
) -> anyhow::Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment",
        "metadata": {"name": "pool", "namespace": NS},
        "spec": {"clusterName": "c1", "replicas": replicas,
            "selector": {"matchLabels": {"pool": "a"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}},
            "template": {"metadata": {"labels": {"pool": "a"}},
                "spec": {"clusterName": "c1", "version": version,
                    "bootstrap": {"dataSecretName": "boot"},
                    "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                        "kind": "FakeMachine", "name": "pool"}}}}
    }))?)
}

fn field<'a>(o: &'a DynamicObject, pointer: &str) -> &'a Value {
    o.data.pointer(pointer).unwrap_or(&Value::Null)
}

fn cond(o: &DynamicObject, type_: &str) -> Option<String> {
    field(o, "/status/conditions")
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .and_then(|c| c["status"].as_str().map(str::to_owned))
}

fn available(m: &DynamicObject) -> bool {
    m.metadata.deletion_timestamp.is_none()
        && field(m, "/status/phase") == "Running"
        && cond(m, "Ready").as_deref() == Some("True")
}

fn all_running(ms: &BTreeMap<String, DynamicObject>, n: usize, version: &str) -> bool {
    ms.len() == n
        && ms
            .values()
            .all(|m| available(m) && field(m, "/spec/version") == version)
}

async fn pool_running(
    c: &Capi,
    n: usize,
    version: &str,
) -> anyhow::Result<BTreeMap<String, DynamicObject>> {
    watch_until(c.machines.clone(), MACHINE_READY * 3, |ms| {
        all_running(ms, n, version)
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn machine_deployment_creates_a_set_and_running_machines() -> anyhow::Result<()> {
    let (_emu, client, infra) = setup(timings()).await?;
    let c = Capi::new(&client);
    c.mds
        .create(&PostParams::default(), &machine_deployment(3, "v1.30.4")?)
        .await?;
    let t0 = Instant::now();

    let machines = pool_running(&c, 3, "v1.30.4").await?;
    assert_eq!(
        Instant::now() - t0,
        MACHINE_READY,
        "machines run after exactly machine_ready"
    );

    let sets = c.sets.list(&Default::default()).await?.items;
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    let set_name = set.name_any();
    assert!(
        set_name.starts_with("pool-") && set_name.len() == "pool-".len() + 10,
        "{set_name}"
    );
    let owner = set
        .owner_references()
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("no owner"))?;
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("MachineDeployment", "pool", Some(true))
    );
    assert_eq!(field(set, "/spec/replicas"), 3);

    for m in machines.values() {
        let owner = m
            .owner_references()
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("no owner"))?;
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("MachineSet", set_name.as_str())
        );
        assert_eq!(field(m, "/status/nodeRef/name"), m.name_any().as_str());
        assert_eq!(field(m, "/status/nodeInfo/kubeletVersion"), "v1.30.4");
        assert_eq!(cond(m, "HealthCheckSucceeded").as_deref(), Some("True"));
    }

    let md = wait_for(&c.mds, "pool", MACHINE_READY, |md| {
        field(md, "/status/phase") == "Running"
    })
    .await?;
    for (f, want) in [
        ("replicas", 3),
        ("updatedReplicas", 3),
        ("readyReplicas", 3),
        ("availableReplicas", 3),
        ("unavailableReplicas", 0),
    ] {
        assert_eq!(field(&md, &format!("/status/{f}")), want, "{f}");
    }
    assert_eq!(
        field(&md, "/status/observedGeneration").as_i64(),
        md.metadata.generation
    );
    assert_eq!(infra.stats().failures, 0);
    Ok(())
}

#[derive(Clone, Debug)]
struct RollStats {
    steps: u32,
    max_total: usize,
    min_available: usize,
}

impl Default for RollStats {
    fn default() -> Self {
        RollStats {
            steps: 0,
            max_total: 0,
            min_available: usize::MAX,
        }
    }
}

/// Changes the pool's version and watches Machines until `replicas` run it, recording the
/// extremes of every observed state.
async fn roll_to(
    c: &Capi,
    replicas: usize,
    version: &'static str,
) -> anyhow::Result<(BTreeMap<String, DynamicObject>, RollStats)> {
    let (synced_tx, synced_rx) = tokio::sync::oneshot::channel();
    let stats = std::sync::Arc::new(std::sync::Mutex::new(RollStats::default()));
    let watch = tokio::spawn(watch_until(c.machines.clone(), MACHINE_READY * 20, {
        let stats = stats.clone();
        let mut synced_tx = Some(synced_tx);
        move |ms| {
            if let Some(tx) = synced_tx.take() {
                let _ = tx.send(());
            }
            let mut st = stats.lock().unwrap_or_else(|p| p.into_inner());
            st.steps += 1;
            let avail = ms.values().filter(|m| available(m)).count();
            st.max_total = st.max_total.max(ms.len());
            st.min_available = st.min_available.min(avail);
            all_running(ms, replicas, version)
        }
    }));
    // Change nothing before the watch has listed the current state.
    synced_rx.await?;
    c.mds
        .patch(
            "pool",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"version": version}}}})),
        )
        .await?;
    let machines = watch.await??;
    let st = stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok((machines, st))
}

#[tokio::test(start_paused = true)]
async fn version_change_rolls_within_max_surge_and_max_unavailable() -> anyhow::Result<()> {
    let (_emu, client, _infra) = setup(timings()).await?;
    let c = Capi::new(&client);
    c.mds
        .create(&PostParams::default(), &machine_deployment(3, "v1.30.4")?)
        .await?;
    let old = pool_running(&c, 3, "v1.30.4").await?;

    let t1 = Instant::now();
    let (new, st) = roll_to(&c, 3, "v1.31.0").await?;
    assert!(st.steps > 10, "the roll was observed step by step: {st:?}");
    assert!(
        st.min_available >= 3,
        "available never dropped below replicas: {st:?}"
    );
    assert_eq!(
        st.max_total, 4,
        "never more than replicas + maxSurge, and the surge was used: {st:?}"
    );
    assert!(
        new.keys().all(|n| !old.contains_key(n)),
        "every machine was replaced"
    );
    // Three sequential replacements, each: provision (machine_ready) then drain (DRAIN).
    assert!(Instant::now() - t1 >= MACHINE_READY * 3, "one at a time");

    let sets = c.sets.list(&Default::default()).await?.items;
    assert_eq!(sets.len(), 2);
    let replicas: BTreeMap<String, Value> = sets
        .iter()
        .map(|s| (s.name_any(), field(s, "/spec/replicas").clone()))
        .collect();
    assert_eq!(
        replicas.values().filter(|r| **r == 0).count(),
        1,
        "{replicas:?}"
    );
    assert_eq!(
        replicas.values().filter(|r| **r == 3).count(),
        1,
        "{replicas:?}"
    );
    let md = wait_for(&c.mds, "pool", MACHINE_READY, |md| {
        field(md, "/status/updatedReplicas") == 3 && field(md, "/status/phase") == "Running"
    })
    .await?;
    assert_eq!(field(&md, "/status/availableReplicas"), 3);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn deleted_machine_is_replaced_under_a_new_name() -> anyhow::Result<()> {
    let (_emu, client, _infra) = setup(timings()).await?;
    let c = Capi::new(&client);
    c.mds
        .create(&PostParams::default(), &machine_deployment(3, "v1.30.4")?)
        .await?;
    let before = pool_running(&c, 3, "v1.30.4").await?;
    let victim = before
        .keys()
        .next()
        .cloned()
        .ok_or_else(|| anyhow!("no machine"))?;

    c.machines.delete(&victim, &DeleteParams::default()).await?;
    let after = pool_running(&c, 3, "v1.30.4").await?;
    assert!(!after.contains_key(&victim), "the deleted machine is gone");
    let fresh: Vec<&String> = after.keys().filter(|n| !before.contains_key(*n)).collect();
    assert_eq!(fresh.len(), 1, "exactly one replacement: {fresh:?}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn broken_machine_fails_health_checks_until_healed_or_replaced() -> anyhow::Result<()> {
    let (_emu, client, infra) = setup(timings()).await?;
    let c = Capi::new(&client);
    c.mds
        .create(&PostParams::default(), &machine_deployment(2, "v1.30.4")?)
        .await?;
    let machines = pool_running(&c, 2, "v1.30.4").await?;
    let mut names = machines.keys().cloned();
    let (a, b) = (
        names.next().ok_or_else(|| anyhow!("no machine"))?,
        names.next().ok_or_else(|| anyhow!("no second machine"))?,
    );

    infra.break_machine(NS, &a);
    let broken = wait_for(&c.machines, &a, MACHINE_READY, |m| {
        cond(m, "HealthCheckSucceeded").as_deref() == Some("False")
    })
    .await?;
    assert_eq!(cond(&broken, "Ready").as_deref(), Some("False"));
    assert_eq!(field(&broken, "/status/phase"), "Failed");
    let md = wait_for(&c.mds, "pool", MACHINE_READY, |md| {
        field(md, "/status/availableReplicas") == 1
    })
    .await?;
    assert_eq!(field(&md, "/status/phase"), "ScalingUp");

    infra.heal_machine(NS, &a);
    wait_for(&c.machines, &a, MACHINE_READY, available).await?;

    // A broken machine that is deleted is replaced by a healthy one.
    infra.break_machine(NS, &b);
    wait_for(&c.machines, &b, MACHINE_READY, |m| !available(m)).await?;
    c.machines.delete(&b, &DeleteParams::default()).await?;
    let after = pool_running(&c, 2, "v1.30.4").await?;
    assert!(!after.contains_key(&b));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_all_fake_controllers() -> anyhow::Result<()> {
    let (emu, client, infra) = setup(timings()).await?;
    infra.shutdown();
    tokio::task::yield_now().await;
    let writes = emu.write_count();
    let api: Api<Deployment> = Api::namespaced(client, NS);
    api.create(&PostParams::default(), &deployment("late", 1)?)
        .await?;
    tokio::time::sleep(READY * 10).await;
    let late = api.get("late").await?;
    assert!(
        late.status.is_none(),
        "no status written after shutdown: {:?}",
        late.status
    );
    assert_eq!(emu.write_count(), writes + 1, "only our own create");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Request faults from the emulator: the fake must converge anyway.

#[tokio::test(start_paused = true)]
async fn status_writes_survive_conflicts_and_server_errors() -> anyhow::Result<()> {
    let (emu, client, infra) = setup(timings()).await?;
    let rule = FaultRule::any().verb(Verb::Patch).resource("deployments");
    emu.faults().fail_next(rule.clone(), 2, Fault::Conflict);
    emu.faults().fail_next(rule, 2, Fault::InternalError);
    let api: Api<Deployment> = Api::namespaced(client, NS);
    api.create(&PostParams::default(), &deployment("web", 2)?)
        .await?;
    let t0 = Instant::now();
    wait_for(&api, "web", READY * 2, |d| fully_ready(d, 2)).await?;
    assert_eq!(
        Instant::now() - t0,
        READY,
        "retries did not delay readiness"
    );
    let stats = infra.stats();
    assert!(stats.conflicts >= 2, "{stats:?}");
    assert!(stats.failures >= 2, "{stats:?}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn machine_creation_is_retried_after_throttling() -> anyhow::Result<()> {
    let (emu, client, infra) = setup(timings()).await?;
    let rule = FaultRule::any().verb(Verb::Create).resource("machines");
    emu.faults().fail_next(rule, 3, Fault::TooManyRequests);
    let c = Capi::new(&client);
    c.mds
        .create(&PostParams::default(), &machine_deployment(3, "v1.30.4")?)
        .await?;
    pool_running(&c, 3, "v1.30.4").await?;
    assert!(infra.stats().failures >= 3, "{:?}", infra.stats());
    assert_eq!(c.sets.list(&Default::default()).await?.items.len(), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn cut_watches_and_expired_history_do_not_stop_the_fake() -> anyhow::Result<()> {
    let (emu, client, _infra) = setup(timings()).await?;
    let c = Capi::new(&client);
    c.mds
        .create(&PostParams::default(), &machine_deployment(2, "v1.30.4")?)
        .await?;
    pool_running(&c, 2, "v1.30.4").await?;

    emu.faults().cut_watches();
    emu.faults().expire_watch_history();
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    api.create(&PostParams::default(), &deployment("late", 1)?)
        .await?;
    c.mds
        .patch(
            "pool",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"version": "v1.31.0"}}}})),
        )
        .await?;
    wait_for(&api, "late", READY * 2, |d| fully_ready(d, 1)).await?;
    let after = watch_until(c.machines.clone(), MACHINE_READY * 10, |ms| {
        all_running(ms, 2, "v1.31.0")
    })
    .await?;
    assert_eq!(after.len(), 2);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Write economy at moderate scale.

#[tokio::test(start_paused = true)]
async fn many_objects_converge_with_minimal_writes_and_no_churn() -> anyhow::Result<()> {
    const DEPLOYMENTS: usize = 200;
    const POOLS: usize = 40;
    let wall = std::time::Instant::now();
    let (_emu, client, infra) = setup(timings()).await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    for i in 0..DEPLOYMENTS {
        api.create(&PostParams::default(), &deployment(&format!("d{i}"), 2)?)
            .await?;
    }
    let c = Capi::new(&client);
    for i in 0..POOLS {
        let mut md = machine_deployment(3, "v1.30.4")?;
        md.metadata.name = Some(format!("pool{i}"));
        c.mds.create(&PostParams::default(), &md).await?;
    }
    watch_until(api.clone(), READY * 2, |ds| {
        ds.len() == DEPLOYMENTS && ds.values().all(|d| fully_ready(d, 2))
    })
    .await?;
    pool_running(&c, POOLS * 3, "v1.30.4").await?;
    watch_until(c.mds.clone(), MACHINE_READY, |mds| {
        mds.len() == POOLS
            && mds
                .values()
                .all(|md| field(md, "/status/phase") == "Running")
    })
    .await?;
    let settled = infra.stats();

    // Nothing changes for an hour of virtual time: the fake must not write at all.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(infra.stats(), settled, "no writes without changes");
    assert_eq!(settled.failures, 0);
    // Deployments: one status write at creation, one when ready.
    // Per pool: MachineSet create + statuses; per machine: create, finalizer, 2 statuses.
    let per_pool_max = 1 + 3 + 3 * 4 + 4;
    assert!(
        settled.writes <= (2 * DEPLOYMENTS + POOLS * per_pool_max) as u64,
        "{settled:?}"
    );
    eprintln!(
        "{DEPLOYMENTS} deployments + {POOLS} pools x 3 machines settled with {} writes in {:?} wall time",
        settled.writes,
        wall.elapsed()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scaling.

#[tokio::test(start_paused = true)]
async fn scaling_a_deployment_adds_ready_replicas_after_the_delay() -> anyhow::Result<()> {
    let (_emu, client, _infra) = setup(timings()).await?;
    let api: Api<Deployment> = Api::namespaced(client, NS);
    api.create(&PostParams::default(), &deployment("web", 2)?)
        .await?;
    wait_for(&api, "web", READY * 2, |d| fully_ready(d, 2)).await?;
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await?;
    let t1 = Instant::now();
    let scaling = wait_for(&api, "web", READY, |d| {
        d.status.as_ref().and_then(|s| s.replicas) == Some(4)
    })
    .await?;
    assert_eq!(ready(&scaling), Some(2), "existing pods stay ready");
    wait_for(&api, "web", READY * 2, |d| fully_ready(d, 4)).await?;
    assert_eq!(Instant::now() - t1, READY);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn broken_statefulset_reports_no_ready_replicas() -> anyhow::Result<()> {
    let (_emu, client, infra) = setup(timings()).await?;
    let api: Api<StatefulSet> = Api::namespaced(client, NS);
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db", "namespace": NS},
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "db:1"}]}}}
    }))?;
    api.create(&PostParams::default(), &sts).await?;
    let ready_sts = |s: &StatefulSet| s.status.as_ref().and_then(|st| st.ready_replicas);
    wait_for(&api, "db", READY * 2, |s| ready_sts(s) == Some(3)).await?;
    infra.break_workload(NS, "db");
    let broken = wait_for(&api, "db", READY, |s| ready_sts(s) == Some(0)).await?;
    assert_eq!(
        broken.status.as_ref().and_then(|s| s.available_replicas),
        Some(0)
    );
    infra.heal_workload(NS, "db");
    wait_for(&api, "db", READY, |s| ready_sts(s) == Some(3)).await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn scaling_a_machine_deployment_down_and_up() -> anyhow::Result<()> {
    let (_emu, client, _infra) = setup(timings()).await?;
    let c = Capi::new(&client);
    c.mds
        .create(&PostParams::default(), &machine_deployment(3, "v1.30.4")?)
        .await?;
    pool_running(&c, 3, "v1.30.4").await?;
    c.mds
        .patch(
            "pool",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await?;
    pool_running(&c, 1, "v1.30.4").await?;
    c.mds
        .patch(
            "pool",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await?;
    let t = Instant::now();
    pool_running(&c, 2, "v1.30.4").await?;
    assert_eq!(Instant::now() - t, MACHINE_READY);
    assert_eq!(
        c.sets.list(&Default::default()).await?.items.len(),
        1,
        "scaling is not a roll"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_clone_stops_the_fake() -> anyhow::Result<()> {
    let (_emu, client, infra) = setup(timings()).await?;
    let api: Api<Deployment> = Api::namespaced(client, NS);
    let clone = infra.clone();
    drop(infra);
    api.create(&PostParams::default(), &deployment("a", 1)?)
        .await?;
    wait_for(&api, "a", READY * 2, |d| fully_ready(d, 1)).await?;
    drop(clone);
    tokio::task::yield_now().await;
    api.create(&PostParams::default(), &deployment("b", 1)?)
        .await?;
    tokio::time::sleep(READY * 10).await;
    assert!(
        api.get("b").await?.status.is_none(),
        "no fake left to write status"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn roll_with_max_unavailable_and_instant_deletion_never_surges() -> anyhow::Result<()> {
    let t = InfraTimings {
        machine_delete: Duration::ZERO,
        ..timings()
    };
    let (_emu, client, _infra) = setup(t).await?;
    let c = Capi::new(&client);
    c.mds
        .create(
            &PostParams::default(),
            &machine_deployment_with(3, "v1.30.4", 0, 1)?,
        )
        .await?;
    let old = pool_running(&c, 3, "v1.30.4").await?;
    assert!(
        old.values().all(|m| m.metadata.finalizers.is_none()),
        "no finalizer when deletion is instant"
    );
    let (new, st) = roll_to(&c, 3, "v1.31.0").await?;
    assert_eq!(st.max_total, 3, "maxSurge 0: {st:?}");
    assert_eq!(st.min_available, 2, "maxUnavailable 1 was used: {st:?}");
    assert!(new.keys().all(|n| !old.contains_key(n)));
    Ok(())
}
