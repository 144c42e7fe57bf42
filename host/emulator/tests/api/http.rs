//! The HTTP transport: a `kube::Client` built from the generated kubeconfig, including a
//! streamed watch, and loopback-only binding.

use std::time::Duration;

use fleetward_emulator::{Emulator, EmulatorError};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::config::KubeConfigOptions;

use super::common::{api_status, create_cm};

pub async fn http_client(
    emu: &Emulator,
) -> anyhow::Result<(kube::Client, fleetward_emulator::ServerHandle)> {
    let server = emu.serve("127.0.0.1:0".parse()?).await?;
    let config =
        kube::Config::from_custom_kubeconfig(server.kubeconfig(), &KubeConfigOptions::default())
            .await?;
    Ok((kube::Client::try_from(config)?, server))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_client_over_http() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let (client, server) = http_client(&emu).await?;
    assert!(server.addr.ip().is_loopback());
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    create_cm(&api, "over-http").await?;
    let list = api.list(&ListParams::default()).await?;
    assert_eq!(list.items.len(), 1);
    let err = api_status(api.get("missing").await.unwrap_err());
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "configmaps \"missing\" not found")
    );

    // A chunked watch stream delivers events as they happen.
    let rv = list.metadata.resource_version.unwrap_or_default();
    let mut stream = api
        .watch(&WatchParams::default().disable_bookmarks().timeout(10), &rv)
        .await?
        .boxed();
    create_cm(&api, "second").await?;
    let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await??;
    assert!(
        matches!(ev, Some(WatchEvent::Added(c)) if c.metadata.name.as_deref() == Some("second"))
    );
    drop(stream);
    server.shutdown().await;
    assert!(
        api.list(&ListParams::default()).await.is_err(),
        "server is gone after shutdown"
    );
    Ok(())
}

#[tokio::test]
async fn refuses_non_loopback_addresses() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let err = emu.serve("0.0.0.0:0".parse()?).await.unwrap_err();
    assert!(matches!(err, EmulatorError::NotLoopback(_)), "{err}");
    Ok(())
}

#[tokio::test]
async fn kubeconfig_file_round_trips() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let server = emu.serve("127.0.0.1:0".parse()?).await?;
    let dir = std::env::temp_dir().join(format!("fleetward-emu-kc-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("kubeconfig");
    server.write_kubeconfig(&path)?;
    let read = kube::config::Kubeconfig::read_from(&path)?;
    let cluster = read.clusters[0]
        .cluster
        .clone()
        .and_then(|c| c.server)
        .unwrap_or_default();
    assert_eq!(cluster, format!("http://{}", server.addr));
    assert_eq!(read.current_context.as_deref(), Some("fleetward-emulator"));
    std::fs::remove_dir_all(&dir)?;
    server.shutdown().await;
    Ok(())
}

use futures::StreamExt as _;
