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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_by_verb_and_resource_over_both_transports() -> anyhow::Result<()> {
    use fleetward_emulator::Verb;
    let emu = Emulator::new();
    assert_eq!(emu.request_count(), 0);
    let in_process: Api<ConfigMap> = Api::default_namespaced(emu.client());
    create_cm(&in_process, "counted").await?;
    in_process.get("counted").await?;
    let _ = in_process.get("missing").await; // a 404 is a request too
    let before = emu.request_counts();
    assert_eq!(before.total, 3);
    assert_eq!(before.by_verb.get(&Verb::Get), Some(&2));
    assert_eq!(before.by_verb.get(&Verb::Create), Some(&1));

    let (client, server) = http_client(&emu).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.list(&ListParams::default()).await?;
    // A watch start is one request however many events it delivers.
    let mut stream = api
        .watch(&WatchParams::default().timeout(5), "0")
        .await?
        .boxed();
    let first = stream.try_next().await?;
    assert!(matches!(first, Some(WatchEvent::Added(_))));
    drop(stream);
    client_version(&server).await?;
    let window = emu.request_counts().since(&before);
    assert_eq!(window.total, 3, "{window:?}");
    assert_eq!(window.other, 1, "/version");
    assert_eq!(
        window.by_resource,
        [
            (("configmaps".to_string(), Verb::List), 1),
            (("configmaps".to_string(), Verb::Watch), 1),
        ]
        .into()
    );
    assert_eq!(emu.request_count(), 6);
    server.shutdown().await;
    Ok(())
}

async fn client_version(server: &fleetward_emulator::ServerHandle) -> anyhow::Result<()> {
    let config =
        kube::Config::from_custom_kubeconfig(server.kubeconfig(), &KubeConfigOptions::default())
            .await?;
    kube::Client::try_from(config)?.apiserver_version().await?;
    Ok(())
}
