//! create/get/replace/delete, generateName, conflicts, generation vs status, finalizers,
//! cascading deletion and namespaces.

use fleetward_emulator::Emulator;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

use super::common::{api_status, cm, create_cm, create_ns, rv_of};

#[tokio::test]
async fn create_get_replace_delete() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let created = create_cm(&api, "x").await?;
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(created.metadata.uid.as_ref().map(String::len), Some(36));
    assert_eq!(
        created
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .as_deref(),
        Some("2026-01-05T00:00:00Z")
    );
    assert_eq!(
        created.metadata.generation, None,
        "ConfigMaps have no generation"
    );
    let got = api.get("x").await?;
    assert_eq!(
        got.metadata.resource_version,
        created.metadata.resource_version
    );

    let mut changed = got.clone();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    let replaced = api.replace("x", &PostParams::default(), &changed).await?;
    assert!(rv_of(&replaced.metadata) > rv_of(&created.metadata));
    assert_eq!(replaced.metadata.uid, created.metadata.uid);

    api.delete("x", &DeleteParams::default()).await?;
    let err = api_status(api.get("x").await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "configmaps \"x\" not found");
    Ok(())
}

#[tokio::test]
async fn duplicate_create_is_already_exists() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    create_cm(&api, "x").await?;
    let err = api_status(
        create_cm(&api, "x")
            .await
            .unwrap_err()
            .downcast::<kube::Error>()?,
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(err.message, "configmaps \"x\" already exists");
    Ok(())
}

#[tokio::test]
async fn generate_name_appends_five_characters() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let mut c = cm("", "v");
    c.metadata.name = None;
    c.metadata.generate_name = Some("job-".into());
    let a = api.create(&PostParams::default(), &c).await?;
    let b = api.create(&PostParams::default(), &c).await?;
    let (a, b) = (
        a.metadata.name.unwrap_or_default(),
        b.metadata.name.unwrap_or_default(),
    );
    assert!(a.starts_with("job-") && a.len() == 9, "{a}");
    assert_ne!(a, b);
    c.metadata.generate_name = None;
    let err = api_status(api.create(&PostParams::default(), &c).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    Ok(())
}

#[tokio::test]
async fn invalid_name_is_rejected() {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let err = api_status(
        api.create(&PostParams::default(), &cm("Bad_Name", "v"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn stale_resource_version_is_a_conflict() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let first = create_cm(&api, "x").await?;
    let mut a = first.clone();
    a.data = Some([("k".to_string(), "a".to_string())].into());
    api.replace("x", &PostParams::default(), &a).await?;
    let mut b = first.clone();
    b.data = Some([("k".to_string(), "b".to_string())].into());
    let err = api_status(
        api.replace("x", &PostParams::default(), &b)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        err.message,
        "Operation cannot be fulfilled on configmaps \"x\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // A merge patch carrying the stale resourceVersion conflicts as well.
    let patch = json!({"metadata": {"resourceVersion": first.metadata.resource_version}, "data": {"k": "c"}});
    let err = api_status(
        api.patch("x", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    assert_eq!(api.get("x").await?.data.unwrap_or_default()["k"], "a");
    Ok(())
}

#[tokio::test]
async fn no_op_update_keeps_resource_version() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let c = create_cm(&api, "x").await?;
    let same = api.replace("x", &PostParams::default(), &c).await?;
    assert_eq!(same.metadata.resource_version, c.metadata.resource_version);
    Ok(())
}

#[tokio::test]
async fn create_in_missing_namespace_is_not_found() {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "nope");
    let err = api_status(
        api.create(&PostParams::default(), &cm("x", "v"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"nope\" not found")
    );
}

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}},
        "status": {"replicas": 99}
    }))
    .unwrap_or_default()
}

#[tokio::test]
async fn spec_changes_bump_generation_status_writes_do_not() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<Deployment> = Api::namespaced(emu.client(), "default");
    let d = api
        .create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await?;
    assert_eq!(d.metadata.generation, Some(1));
    assert!(
        d.status.as_ref().and_then(|s| s.replicas).is_none(),
        "status is dropped on create"
    );

    let status = json!({"status": {"replicas": 2, "readyReplicas": 2, "observedGeneration": 1}});
    let s = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    assert_eq!(s.metadata.generation, Some(1));
    assert_eq!(s.status.as_ref().and_then(|s| s.ready_replicas), Some(2));

    // Main-resource writes ignore status and bump generation for spec changes.
    let spec = json!({"spec": {"replicas": 3}, "status": {"readyReplicas": 0}});
    let d2 = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&spec))
        .await?;
    assert_eq!(d2.metadata.generation, Some(2));
    assert_eq!(d2.status.as_ref().and_then(|s| s.ready_replicas), Some(2));

    // Metadata-only changes do not bump generation.
    let labels = json!({"metadata": {"labels": {"x": "y"}}});
    let d3 = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&labels))
        .await?;
    assert_eq!(d3.metadata.generation, Some(2));
    assert!(rv_of(&d3.metadata) > rv_of(&d2.metadata));

    // The scale subresource reads and writes spec.replicas.
    let scale = api.get_scale("web").await?;
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(3));
    api.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 5}})),
    )
    .await?;
    let d4 = api.get("web").await?;
    assert_eq!(d4.spec.and_then(|s| s.replicas), Some(5));
    assert_eq!(d4.metadata.generation, Some(3));
    Ok(())
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let mut c = cm("held", "v");
    c.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &c).await?;

    let res = api.delete("held", &DeleteParams::default()).await?;
    let pending = res
        .left()
        .expect("a finalizer-held delete returns the object");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let still = api.get("held").await?;
    assert!(still.metadata.deletion_timestamp.is_some());

    // Adding a finalizer to a terminating object is refused.
    let add = json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}});
    let err = api_status(
        api.patch("held", &PatchParams::default(), &Patch::Merge(&add))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);

    let clear = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(&clear))
        .await?;
    assert_eq!(api_status(api.get("held").await.unwrap_err()).code, 404);
    Ok(())
}

fn owner_ref(owner: &ConfigMap) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.metadata.name.clone().unwrap_or_default(),
        uid: owner.metadata.uid.clone().unwrap_or_default(),
        ..OwnerReference::default()
    }
}

#[tokio::test]
async fn deleting_an_owner_cascades_in_the_background() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let owner = create_cm(&api, "owner").await?;
    let other = create_cm(&api, "other-owner").await?;
    let mut child = cm("child", "v");
    child.metadata.owner_references = Some(vec![owner_ref(&owner)]);
    api.create(&PostParams::default(), &child).await?;
    let mut grandchild = cm("grandchild", "v");
    let child_obj = api.get("child").await?;
    grandchild.metadata.owner_references = Some(vec![owner_ref(&child_obj)]);
    api.create(&PostParams::default(), &grandchild).await?;
    let mut shared = cm("shared", "v");
    shared.metadata.owner_references = Some(vec![owner_ref(&owner), owner_ref(&other)]);
    api.create(&PostParams::default(), &shared).await?;

    api.delete("owner", &DeleteParams::default()).await?;
    assert_eq!(api_status(api.get("child").await.unwrap_err()).code, 404);
    assert_eq!(
        api_status(api.get("grandchild").await.unwrap_err()).code,
        404
    );
    let survivor = api.get("shared").await?;
    let refs = survivor.metadata.owner_references.unwrap_or_default();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].name, "other-owner");

    // Orphan propagation leaves dependents, without the owner reference.
    let mut orphan = cm("orphan", "v");
    orphan.metadata.owner_references = Some(vec![owner_ref(&other)]);
    api.create(&PostParams::default(), &orphan).await?;
    api.delete("other-owner", &DeleteParams::orphan()).await?;
    let kept = api.get("orphan").await?;
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_contents() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    create_ns(&client, "team").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    create_cm(&api, "a").await?;
    let mut held = cm("held", "v");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await?;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces.delete("team", &DeleteParams::default()).await?;
    assert_eq!(api_status(api.get("a").await.unwrap_err()).code, 404);
    let ns = namespaces.get("team").await?;
    assert_eq!(
        ns.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    let err = api_status(
        api.create(&PostParams::default(), &cm("late", "v"))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));

    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    assert_eq!(
        api_status(namespaces.get("team").await.unwrap_err()).code,
        404
    );
    Ok(())
}

#[tokio::test]
async fn cluster_scoped_objects_have_no_namespace() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    create_ns(&client, "n1").await?;
    let namespaces: Api<Namespace> = Api::all(client);
    let ns = namespaces.get("n1").await?;
    assert_eq!(ns.metadata.namespace, None);
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    let names: Vec<String> = namespaces
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(
        names,
        [
            "default",
            "kube-node-lease",
            "kube-public",
            "kube-system",
            "n1"
        ]
    );
    let _ = ObjectMeta::default();
    Ok(())
}

#[tokio::test]
async fn dry_run_writes_nothing() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let before = emu.resource_version();
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let would = api.create(&pp, &cm("dry", "v")).await?;
    assert_eq!(would.metadata.name.as_deref(), Some("dry"));
    assert_eq!(api_status(api.get("dry").await.unwrap_err()).code, 404);
    assert_eq!(emu.resource_version(), before);
    assert_eq!(emu.write_count(), 0);
    Ok(())
}

#[tokio::test]
async fn delete_collection_honours_selectors() -> anyhow::Result<()> {
    use kube::api::ListParams;
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        api.create(
            &PostParams::default(),
            &super::common::cm_labeled(name, &[("app", app)]),
        )
        .await?;
    }
    let deleted = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app=x"),
        )
        .await?;
    let names: Vec<String> = deleted
        .left()
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|c| c.metadata.name)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, ["a", "b"]);
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["c"]);
    Ok(())
}

#[tokio::test]
async fn unsupported_methods_and_paths() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let post_named = http::Request::post("/api/v1/namespaces/default/configmaps/x")
        .header("content-type", "application/json")
        .body(b"{}".to_vec())?;
    let err = api_status(client.request::<ConfigMap>(post_named).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (405, "MethodNotAllowed"));
    let unknown = http::Request::get("/apis/nope.example.com/v1/things").body(Vec::new())?;
    let err = api_status(client.request::<ConfigMap>(unknown).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    // Protobuf: the magic alone names no kind (400); a kind the emulator does not decode
    // from protobuf is a 415 that names it; CBOR is a 415 listing what is accepted.
    let protobuf = |body: Vec<u8>| {
        http::Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", "application/vnd.kubernetes.protobuf")
            .body(body)
    };
    let err = api_status(
        client
            .request::<ConfigMap>(protobuf(b"k8s\0".to_vec())?)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    assert!(err.message.contains("no typeMeta kind"), "{}", err.message);
    // k8s\0, Unknown{typeMeta{apiVersion "apps/v1", kind "Deployment"}}
    let mut deployment = b"k8s\0\x0a\x15\x0a\x07apps/v1\x12\x0aDeployment".to_vec();
    deployment.extend(b"\x12\x00");
    let err = api_status(
        client
            .request::<ConfigMap>(protobuf(deployment)?)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.reason.as_str()),
        (415, "UnsupportedMediaType")
    );
    assert!(
        err.message.contains("not Deployment (apps/v1)")
            && err.message.contains("kubectl apply --server-side"),
        "{}",
        err.message
    );
    let cbor = http::Request::post("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/cbor")
        .body(vec![0xa0])?;
    let err = api_status(client.request::<ConfigMap>(cbor).await.unwrap_err());
    assert_eq!(
        (err.code, err.reason.as_str()),
        (415, "UnsupportedMediaType")
    );
    assert!(
        err.message.contains("application/vnd.kubernetes.protobuf"),
        "{}",
        err.message
    );
    Ok(())
}

#[tokio::test]
async fn protobuf_bodies_of_config_maps_secrets_and_namespaces_are_decoded() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::{Namespace, Secret};
    // What `kubectl create configmap cfg --from-file=f.yaml` sends (captured from kubectl 1.32):
    // the magic, then Unknown{typeMeta, raw: ConfigMap{metadata{name "cfg", Go's empty
    // fields}, data{"f.yaml": "a: 1\n"}}, contentEncoding "", contentType ""}.
    let config_map = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x26\x0a\x13\x0a\x03cfg\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12\x0f\x0a\x06f.yaml\x12\x05a: 1\n\x1a\x00\x22\x00";
    // `kubectl create namespace tenant-acme`: Namespace{metadata, spec{}, status{phase ""}}.
    let namespace = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x23\x0a\x1b\x0a\x0btenant-acme\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";
    // A Secret with binary data and a type.
    let secret = b"k8s\0\x0a\x0c\x0a\x02v1\x12\x06Secret\x12\x18\x0a\x03\x0a\x01s\x12\x09\x0a\x01k\x12\x04\x00\xff\x01\x02\x1a\x06Opaque";
    let emu = Emulator::new();
    let client = emu.client();
    let post = |path: &str, body: &[u8]| {
        http::Request::post(path)
            .header("content-type", "application/vnd.kubernetes.protobuf")
            .header(
                "accept",
                "application/vnd.kubernetes.protobuf,application/json",
            )
            .body(body.to_vec())
    };
    let cm: ConfigMap = client
        .request(post("/api/v1/namespaces/default/configmaps", config_map)?)
        .await?;
    assert_eq!(cm.metadata.name.as_deref(), Some("cfg"));
    assert_eq!(
        cm.data
            .unwrap_or_default()
            .get("f.yaml")
            .map(String::as_str),
        Some("a: 1\n")
    );
    let ns: Namespace = client
        .request(post("/api/v1/namespaces", namespace)?)
        .await?;
    assert_eq!(ns.metadata.name.as_deref(), Some("tenant-acme"));
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    let s: Secret = client
        .request(post("/api/v1/namespaces/default/secrets", secret)?)
        .await?;
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        s.data.unwrap_or_default().get("k").map(|b| b.0.clone()),
        Some(vec![0, 0xff, 1, 2])
    );
    // A client that accepts protobuf only could not read the JSON answer: 406.
    let only_protobuf = http::Request::post("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/vnd.kubernetes.protobuf")
        .header("accept", "application/vnd.kubernetes.protobuf")
        .body(config_map.to_vec())?;
    let err = api_status(
        client
            .request::<ConfigMap>(only_protobuf)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (406, "NotAcceptable"));
    // The decoded kind must match the URL's, as for JSON bodies.
    let err = api_status(
        client
            .request::<ConfigMap>(post("/api/v1/namespaces/default/secrets", config_map)?)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    Ok(())
}

#[tokio::test]
async fn kube_runtime_event_recorder_creates_and_updates_series() -> anyhow::Result<()> {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use kube::Resource;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let emu = Emulator::new();
    let client = emu.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let target = create_cm(&api, "subject").await?;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "fleetward".into(),
            instance: None,
        },
    );
    let ev = Event {
        type_: EventType::Normal,
        reason: "Placed".into(),
        note: Some("placed".into()),
        action: "Place".into(),
        secondary: None,
    };
    recorder.publish(&ev, &target.object_ref(&())).await?;
    recorder.publish(&ev, &target.object_ref(&())).await?;
    let events: Api<K8sEvent> = Api::namespaced(client, "default");
    let list = events.list(&Default::default()).await?;
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].series.as_ref().map(|s| s.count), Some(2));
    assert_eq!(
        list.items[0]
            .regarding
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("subject")
    );
    Ok(())
}
