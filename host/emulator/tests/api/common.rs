//! Shared helpers for the emulator API tests.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::core::Status;

/// A ConfigMap named `name` with one data entry.
pub fn cm(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), value.to_string())])),
        ..ConfigMap::default()
    }
}

/// A ConfigMap with labels.
pub fn cm_labeled(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    let mut c = cm(name, "v");
    c.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    c
}

/// Creates a ConfigMap in `api`'s namespace.
pub async fn create_cm(api: &Api<ConfigMap>, name: &str) -> anyhow::Result<ConfigMap> {
    Ok(api.create(&PostParams::default(), &cm(name, "v")).await?)
}

/// The API `Status` of a failed request (panics with context if the error is another kind).
pub fn api_status(e: kube::Error) -> Box<Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API Status error, got {other:?}"),
    }
}

/// Creates namespace `name`.
pub async fn create_ns(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    api.create(&PostParams::default(), &ns).await?;
    Ok(())
}

/// The resourceVersion as an integer.
pub fn rv_of(meta: &ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no numeric rv in {meta:?}"))
}
