//! Discovery documents, as kube's discovery client and kubectl read them.

use fleetward_emulator::Emulator;
use kube::discovery::{Discovery, Scope, verbs};

use super::crds::install;

#[tokio::test]
async fn discovery_lists_builtins_and_registered_crds() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    install(&client).await?;
    let discovery = Discovery::new(client.clone()).run().await?;
    let find = |group: &str, kind: &str| {
        discovery
            .groups()
            .filter(|g| g.name() == group)
            .flat_map(|g| g.recommended_resources())
            .find(|(ar, _)| ar.kind == kind)
    };
    let (cm, caps) = find("", "ConfigMap").expect("ConfigMap discovered");
    assert_eq!(cm.plural, "configmaps");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(caps.supports_operation(verbs::WATCH));
    let (ns, caps) = find("", "Namespace").expect("Namespace discovered");
    assert_eq!(
        (ns.plural.as_str(), caps.scope.clone()),
        ("namespaces", Scope::Cluster)
    );
    let (dep, caps) = find("apps", "Deployment").expect("Deployment discovered");
    assert_eq!(dep.version, "v1");
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "deployments/status" || s.plural == "status")
    );
    assert!(find("cluster.x-k8s.io", "MachineDeployment").is_some());
    assert!(find("coordination.k8s.io", "Lease").is_some());
    assert!(find("example.com", "Widget").is_some());

    let raw = client
        .request_text(http::Request::get("/api/v1").body(Vec::new())?)
        .await?;
    let doc: serde_json::Value = serde_json::from_str(&raw)?;
    let cm_entry = doc["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|e| e["name"] == "configmaps"))
        .cloned();
    assert_eq!(
        cm_entry.map(|e| e["shortNames"].clone()),
        Some(serde_json::json!(["cm"]))
    );
    let version = client.apiserver_version().await?;
    assert_eq!(version.major, "1");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn table_responses_for_kubectl_get() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, PostParams};
    let emu = Emulator::new();
    let client = emu.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &super::common::cm("x", "v"))
        .await?;
    tokio::time::sleep(std::time::Duration::from_secs(150)).await;
    let req = http::Request::get("/api/v1/namespaces/default/configmaps")
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())?;
    let table: serde_json::Value = serde_json::from_str(&client.request_text(req).await?)?;
    assert_eq!(table["kind"], "Table");
    let headers: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .map(|c| c.iter().filter_map(|d| d["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(headers, ["Name", "Data", "Age"]);
    assert_eq!(
        table["rows"][0]["cells"],
        serde_json::json!(["x", 1, "2m30s"])
    );
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    Ok(())
}
