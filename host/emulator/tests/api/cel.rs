//! CEL `x-kubernetes-validations` of Fleetward's own CRDs (`deploy/crds.yaml`), enforced on
//! every write path as the real server enforces them: create, update, merge patch, server-side
//! apply and the status subresource.

use fleetward_emulator::Emulator;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use super::common::{api_status, create_ns};

/// Creates every CRD of `deploy/crds.yaml`.
async fn install_fleetward_crds(client: &kube::Client) -> anyhow::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/crds.yaml");
    let text = std::fs::read_to_string(path)?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for doc in text.split("\n---") {
        let value: Value = serde_saphyr::from_str(doc)?;
        if value.get("kind").is_none() {
            continue; // the leading comment
        }
        let crd: CustomResourceDefinition = serde_json::from_value(value)?;
        crds.create(&PostParams::default(), &crd).await?;
    }
    Ok(())
}

fn clusters(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("fleetward.dev", "v1alpha1", "ManagedCluster"),
        "managedclusters",
    );
    Api::namespaced_with(client.clone(), "team-a", &ar)
}

fn cluster(name: &str, spec: Value) -> anyhow::Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
        "metadata": {"name": name, "namespace": "team-a"}, "spec": spec
    }))?)
}

const DUPLICATES: &str = r#"ManagedCluster.fleetward.dev "twins" is invalid: spec.nodePools: Invalid value: node pool names must be unique"#;
const IMMUTABLE: &str = r#"ManagedCluster.fleetward.dev "c1" is invalid: spec: Invalid value: spec.tenant is immutable"#;

async fn setup() -> anyhow::Result<(Emulator, Api<DynamicObject>)> {
    let emu = Emulator::new();
    let client = emu.client();
    install_fleetward_crds(&client).await?;
    create_ns(&client, "team-a").await?;
    Ok((emu.clone(), clusters(&client)))
}

fn twins() -> Value {
    json!({"tenant": "acme", "version": "1.31.2", "nodePools": [
        {"name": "workers", "replicas": 1}, {"name": "workers", "replicas": 2}]})
}

#[tokio::test]
async fn duplicate_node_pools_are_refused_on_create_and_apply() -> anyhow::Result<()> {
    let (_emu, mcs) = setup().await?;
    let err = mcs
        .create(&PostParams::default(), &cluster("twins", twins())?)
        .await
        .expect_err("duplicate pool names must be refused");
    let status = api_status(err);
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert_eq!(status.message, DUPLICATES);
    let causes = status.details.expect("details").causes;
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].field, "spec.nodePools");
    assert_eq!(causes[0].reason, "FieldValueInvalid");
    assert_eq!(
        causes[0].message,
        r#"Invalid value: node pool names must be unique"#
    );

    let apply = PatchParams::apply("operator");
    let err = mcs
        .patch("twins", &apply, &Patch::Apply(cluster("twins", twins())?))
        .await
        .expect_err("server-side apply of duplicate pools must be refused");
    assert_eq!(api_status(err).message, DUPLICATES);
    assert!(mcs.get_opt("twins").await?.is_none(), "nothing was stored");
    Ok(())
}

#[tokio::test]
async fn the_tenant_is_immutable_on_every_update_path() -> anyhow::Result<()> {
    let (_emu, mcs) = setup().await?;
    let spec = json!({"tenant": "acme", "version": "1.31.2",
                      "nodePools": [{"name": "workers", "replicas": 1}]});
    let created = mcs
        .create(&PostParams::default(), &cluster("c1", spec)?)
        .await?;

    let merge = Patch::Merge(json!({"spec": {"tenant": "other"}}));
    let err = mcs
        .patch("c1", &PatchParams::default(), &merge)
        .await
        .expect_err("merge patch");
    assert_eq!(api_status(err).message, IMMUTABLE);

    let mut replaced = created.clone();
    replaced.data["spec"]["tenant"] = json!("other");
    let err = mcs
        .replace("c1", &PostParams::default(), &replaced)
        .await
        .expect_err("update");
    assert_eq!(api_status(err).message, IMMUTABLE);

    let applied = cluster(
        "c1",
        json!({"tenant": "other", "version": "1.31.2", "nodePools": [{"name": "workers", "replicas": 1}]}),
    )?;
    let err = mcs
        .patch(
            "c1",
            &PatchParams::apply("operator").force(),
            &Patch::Apply(applied),
        )
        .await
        .expect_err("apply");
    assert_eq!(api_status(err).message, IMMUTABLE);

    // Other changes go through, and a duplicate pool added by a patch is refused.
    let grow = Patch::Merge(json!({"spec": {"version": "1.32.0"}}));
    let patched = mcs.patch("c1", &PatchParams::default(), &grow).await?;
    assert_eq!(patched.data["spec"]["tenant"], "acme");
    let dup = Patch::Merge(json!({"spec": {"nodePools": [
        {"name": "workers", "replicas": 1}, {"name": "workers", "replicas": 3}]}}));
    let err = mcs
        .patch("c1", &PatchParams::default(), &dup)
        .await
        .expect_err("duplicate pools by patch");
    assert!(
        api_status(err)
            .message
            .ends_with("spec.nodePools: Invalid value: node pool names must be unique")
    );

    // A dry run is validated too, and the status subresource keeps working.
    let dry = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    assert!(mcs.patch("c1", &dry, &merge).await.is_err());
    let status = Patch::Merge(json!({"status": {"phase": "Pending"}}));
    mcs.patch_status("c1", &PatchParams::default(), &status)
        .await?;
    Ok(())
}

#[tokio::test]
async fn schema_errors_that_change_the_shape_skip_the_rules_with_the_real_notice()
-> anyhow::Result<()> {
    let (_emu, mcs) = setup().await?;
    let mut spec = twins();
    spec.as_object_mut().map(|s| s.remove("tenant"));
    let err = mcs
        .create(&PostParams::default(), &cluster("twins", spec)?)
        .await
        .expect_err("missing tenant");
    let status = api_status(err);
    assert_eq!(
        status.message,
        r#"ManagedCluster.fleetward.dev "twins" is invalid: [spec.tenant: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]"#
    );
    Ok(())
}

#[tokio::test]
async fn rules_under_status_are_checked_on_status_writes() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gauges.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gauges", "singular": "gauge", "kind": "Gauge"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"max": {"type": "integer"}}},
                    "status": {"type": "object",
                        "properties": {"level": {"type": "integer"}},
                        "x-kubernetes-validations": [
                            {"rule": "self.level >= 0", "message": "level is never negative"}]}}}}}]}
    }))?;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &crd)
        .await?;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Gauge"),
        "gauges",
    );
    let gauges: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let g: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Gauge",
        "metadata": {"name": "g"}, "spec": {"max": 3}}))?;
    gauges.create(&PostParams::default(), &g).await?;
    let ok = Patch::Merge(json!({"status": {"level": 2}}));
    gauges
        .patch_status("g", &PatchParams::default(), &ok)
        .await?;
    let bad = Patch::Merge(json!({"status": {"level": -1}}));
    let err = gauges
        .patch_status("g", &PatchParams::default(), &bad)
        .await
        .expect_err("a negative level on the status subresource");
    assert_eq!(
        api_status(err).message,
        r#"Gauge.example.com "g" is invalid: status: Invalid value: level is never negative"#
    );
    // A main-resource write keeps the stored status: its rules see no change and pass.
    let spec = Patch::Merge(json!({"spec": {"max": 4}}));
    gauges.patch("g", &PatchParams::default(), &spec).await?;
    Ok(())
}
