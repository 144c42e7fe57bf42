//! CustomResourceDefinitions: registration, serving, schema validation and pruning, status
//! subresource, unsupported strategic merge patch, and removal.

use fleetward_emulator::Emulator;
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::json;

use super::common::api_status;

pub fn widget_crd() -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "required": ["size"], "properties": {
                            "size": {"type": "integer", "minimum": 1},
                            "color": {"type": "string", "enum": ["red", "blue"]},
                            "mode": {"type": "string", "default": "auto"}
                        }},
                        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
                    }
                }}
            }]
        }
    })
}

pub fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    )
}

pub async fn install(client: &kube::Client) -> anyhow::Result<Api<DynamicObject>> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(widget_crd())?;
    let created = crds.create(&PostParams::default(), &crd).await?;
    let conditions = created
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    Ok(Api::namespaced_with(
        client.clone(),
        "default",
        &widget_resource(),
    ))
}

fn widget(name: &str, spec: serde_json::Value) -> anyhow::Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec
    }))?)
}

#[tokio::test]
async fn crd_registers_a_served_kind() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let widgets = install(&client).await?;
    let w = widgets
        .create(
            &PostParams::default(),
            &widget("w1", json!({"size": 3, "unknown": "x"}))?,
        )
        .await?;
    assert_eq!(w.metadata.generation, Some(1));
    assert_eq!(
        w.data["spec"],
        json!({"size": 3, "mode": "auto"}),
        "unknown fields pruned, defaults applied"
    );
    let listed = widgets.list(&Default::default()).await?;
    assert_eq!(listed.items.len(), 1);

    // Status subresource: spec untouched, generation unchanged.
    let s = widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"ready": true}, "spec": {"size": 9}})),
        )
        .await?;
    assert_eq!(s.data["status"]["ready"], true);
    assert_eq!(s.data["spec"]["size"], 3);
    assert_eq!(s.metadata.generation, Some(1));
    let s2 = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"size": 4}})),
        )
        .await?;
    assert_eq!(s2.metadata.generation, Some(2));
    assert_eq!(s2.data["status"]["ready"], true);

    // Custom resources do not accept strategic merge patch, like the real server.
    let err = api_status(
        widgets
            .patch(
                "w1",
                &PatchParams::default(),
                &Patch::Strategic(&json!({"spec": {"size": 5}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.reason.as_str()),
        (415, "UnsupportedMediaType")
    );

    // Custom resources need a resourceVersion on update.
    let mut stale = widgets.get("w1").await?;
    stale.metadata.resource_version = None;
    let err = api_status(
        widgets
            .replace("w1", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    Ok(())
}

#[tokio::test]
async fn schema_violations_are_422_with_causes() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let widgets = install(&emu.client()).await?;
    let err = api_status(
        widgets
            .create(
                &PostParams::default(),
                &widget("bad", json!({"size": "three", "color": "green"}))?,
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message
            .starts_with("Widget.example.com \"bad\" is invalid: ["),
        "{}",
        err.message
    );
    let causes = err.details.map(|d| d.causes).unwrap_or_default();
    let fields: Vec<(&str, &str)> = causes
        .iter()
        .map(|c| (c.field.as_str(), c.reason.as_str()))
        .collect();
    assert!(
        fields.contains(&("spec.size", "FieldValueTypeInvalid")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("spec.color", "FieldValueNotSupported")),
        "{fields:?}"
    );

    let err = api_status(
        widgets
            .create(&PostParams::default(), &widget("bad", json!({}))?)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        "Widget.example.com \"bad\" is invalid: spec.size: Required value"
    );
    Ok(())
}

#[tokio::test]
async fn deleting_the_crd_removes_its_objects_and_stops_serving() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let widgets = install(&client).await?;
    widgets
        .create(&PostParams::default(), &widget("w1", json!({"size": 1}))?)
        .await?;
    let before_delete = emu.resource_version().to_string();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await?;
    let err = api_status(widgets.list(&Default::default()).await.unwrap_err());
    assert_eq!(err.code, 404);
    // Re-installing starts empty, and a watch from before the deletion must relist (410)
    // rather than silently miss the deleted objects.
    let widgets = install(&client).await?;
    assert!(widgets.list(&Default::default()).await?.items.is_empty());
    let wp = kube::api::WatchParams::default()
        .disable_bookmarks()
        .timeout(1);
    let events: Vec<_> = widgets.watch(&wp, &before_delete).await?.collect().await;
    assert!(
        matches!(events.as_slice(), [Ok(kube::api::WatchEvent::Error(e))] if e.code == 410),
        "{events:?}"
    );
    Ok(())
}

#[tokio::test]
async fn invalid_crd_is_rejected() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let crds: Api<CustomResourceDefinition> = Api::all(emu.client());
    let mut bad = widget_crd();
    bad["metadata"]["name"] = json!("wrong.example.com");
    let crd: CustomResourceDefinition = serde_json::from_value(bad)?;
    let err = api_status(crds.create(&PostParams::default(), &crd).await.unwrap_err());
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("must be spec.names.plural+\".\"+spec.group"),
        "{}",
        err.message
    );
    Ok(())
}

#[tokio::test]
async fn cluster_api_kinds_are_preregistered() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta1", "Machine"),
        "machines",
    );
    let machines: Api<DynamicObject> = Api::namespaced_with(emu.client(), "default", &ar);
    let m: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
        "metadata": {"name": "m1"}, "spec": {"clusterName": "c", "version": "v1.30.0", "anything": {"goes": 1}}
    }))?;
    let created = machines.create(&PostParams::default(), &m).await?;
    assert_eq!(created.data["spec"]["anything"]["goes"], 1);
    let st = machines
        .patch_status(
            "m1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"phase": "Running"}})),
        )
        .await?;
    assert_eq!(st.data["status"]["phase"], "Running");
    Ok(())
}

#[tokio::test]
async fn strict_field_validation_rejects_unknown_fields() -> anyhow::Result<()> {
    use kube::api::ValidationDirective;
    let emu = Emulator::new();
    let client = emu.client();
    let widgets = install(&client).await?;
    let strict = PatchParams {
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::apply("tester")
    };
    let applied = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                         "spec": {"size": 1, "colour": "red"}});
    let err = api_status(
        widgets
            .patch("w", &strict, &Patch::Apply(&applied))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    assert_eq!(err.message, ".spec.colour: field not declared in schema");
    // Known fields (and a null for a declared one) pass under Strict.
    let ok = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}});
    widgets.patch("w", &strict, &Patch::Apply(&ok)).await?;

    let req = http::Request::post("/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"size": 1, "x": 1}}))?)?;
    let err = api_status(client.request::<DynamicObject>(req).await.unwrap_err());
    assert_eq!(
        err.message,
        "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.x\""
    );
    // Without Strict the unknown field is pruned silently.
    let lenient = widgets
        .patch("w", &PatchParams::apply("tester"), &Patch::Apply(&applied))
        .await?;
    assert_eq!(lenient.data["spec"], json!({"size": 1, "mode": "auto"}));
    Ok(())
}
