//! JSON merge patch, JSON patch, strategic merge patch and server-side apply.

use fleetward_emulator::Emulator;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::common::{api_status, create_cm};

#[tokio::test]
async fn merge_and_json_patches() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    create_cm(&api, "x").await?;
    let merged = api
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {"a": "1", "k": null}})),
        )
        .await?;
    assert_eq!(
        merged.data.unwrap_or_default(),
        [("a".to_string(), "1".to_string())].into()
    );

    let client = emu.client();
    let json_patch = |ops: serde_json::Value| {
        http::Request::patch("/api/v1/namespaces/default/configmaps/x")
            .header("content-type", "application/json-patch+json")
            .body(serde_json::to_vec(&ops).unwrap_or_default())
    };
    let ops = json!([
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "add", "path": "/data/b", "value": "2"}
    ]);
    let patched: ConfigMap = client.request(json_patch(ops)?).await?;
    assert_eq!(patched.data.unwrap_or_default().len(), 2);

    let failing = json!([{"op": "test", "path": "/data/a", "value": "nope"}]);
    let err = api_status(
        client
            .request::<ConfigMap>(json_patch(failing)?)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    Ok(())
}

#[tokio::test]
async fn strategic_merge_patch_merges_containers_by_name() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<Deployment> = Api::namespaced(emu.client(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]}}}
    }))?;
    api.create(&PostParams::default(), &d).await?;
    let smp =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}}}});
    let out = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(&smp))
        .await?;
    let containers = out
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers)
        .unwrap_or_default();
    let images: Vec<_> = containers
        .iter()
        .map(|c| (c.name.as_str(), c.image.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(images, [("app", "a:2"), ("side", "s:1")]);
    Ok(())
}

fn applied(data: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data})
}

#[tokio::test]
async fn server_side_apply_creates_merges_conflicts_and_forces() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let a = PatchParams::apply("alpha");
    let created = api
        .patch(
            "cfg",
            &a,
            &Patch::Apply(applied(json!({"x": "1", "y": "1"}))),
        )
        .await?;
    let managers: Vec<_> = created
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.manager, m.operation))
        .collect();
    assert_eq!(
        managers,
        [(Some("alpha".to_string()), Some("Apply".to_string()))]
    );

    // Another manager applying a disjoint field merges.
    let b = PatchParams::apply("beta");
    let merged = api
        .patch("cfg", &b, &Patch::Apply(applied(json!({"z": "2"}))))
        .await?;
    assert_eq!(merged.data.unwrap_or_default().len(), 3);

    // Changing alpha's field is a conflict naming alpha.
    let err = api_status(
        api.patch(
            "cfg",
            &b,
            &Patch::Apply(applied(json!({"z": "2", "x": "9"}))),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("conflict with \"alpha\""),
        "{}",
        err.message
    );
    assert!(err.message.contains(".data.x"), "{}", err.message);

    // Forcing takes ownership.
    let forced = api
        .patch(
            "cfg",
            &b.clone().force(),
            &Patch::Apply(applied(json!({"z": "2", "x": "9"}))),
        )
        .await?;
    assert_eq!(forced.data.unwrap_or_default()["x"], "9");

    // alpha stops applying y: it is removed (nobody else owns it).
    let shrunk = api
        .patch("cfg", &a, &Patch::Apply(applied(json!({}))))
        .await?;
    let data = shrunk.data.unwrap_or_default();
    assert!(!data.contains_key("y"), "{data:?}");
    assert_eq!(data["x"], "9");
    Ok(())
}

#[tokio::test]
async fn apply_requires_a_field_manager() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/cfg")
        .header("content-type", "application/apply-patch+yaml")
        .body(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n".to_vec())?;
    let err = client.request::<ConfigMap>(req).await.unwrap_err();
    let status = api_status(err);
    // As kube-apiserver answers (checked by tests/tests/differential): invalid PatchOptions.
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status.message.contains("fieldManager: Required value"),
        "{}",
        status.message
    );

    // YAML bodies work with a manager.
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/cfg?fieldManager=yaml")
        .header("content-type", "application/apply-patch+yaml")
        .body(
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n".to_vec(),
        )?;
    let cm: ConfigMap = client.request(req).await?;
    assert_eq!(cm.data.unwrap_or_default()["a"], "b");
    Ok(())
}

#[tokio::test]
async fn update_managers_are_recorded_and_conflict_with_apply() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    api.patch(
        "cfg",
        &PatchParams::apply("alpha"),
        &Patch::Apply(applied(json!({"x": "1"}))),
    )
    .await?;
    let pp = PatchParams {
        field_manager: Some("editor".into()),
        ..PatchParams::default()
    };
    api.patch("cfg", &pp, &Patch::Merge(&json!({"data": {"x": "2"}})))
        .await?;
    let err = api_status(
        api.patch(
            "cfg",
            &PatchParams::apply("alpha"),
            &Patch::Apply(applied(json!({"x": "3"}))),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    assert!(err.message.contains("\"editor\""), "{}", err.message);
    Ok(())
}
