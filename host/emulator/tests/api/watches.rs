//! Watch: from a resourceVersion, synthetic initial state, bookmarks, timeouts, 410, slow
//! watchers, and kube-runtime's watcher surviving cut streams and expired history.

use std::time::Duration;

use fleetward_emulator::Emulator;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;

use super::common::{create_cm, rv_of};

fn label(ev: &WatchEvent<ConfigMap>) -> String {
    match ev {
        WatchEvent::Added(c) => format!("ADDED {}", c.metadata.name.as_deref().unwrap_or_default()),
        WatchEvent::Modified(c) => format!(
            "MODIFIED {}",
            c.metadata.name.as_deref().unwrap_or_default()
        ),
        WatchEvent::Deleted(c) => {
            format!("DELETED {}", c.metadata.name.as_deref().unwrap_or_default())
        }
        WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.metadata.resource_version),
        WatchEvent::Error(e) => format!("ERROR {}", e.code),
    }
}

#[tokio::test(start_paused = true)]
async fn watch_from_resource_version_sees_only_later_events() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    create_cm(&api, "before").await?;
    let rv = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    create_cm(&api, "after").await?;
    api.patch(
        "before",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"k": "2"}})),
    )
    .await?;
    api.delete("after", &DeleteParams::default()).await?;

    let stream = api
        .watch(&WatchParams::default().disable_bookmarks().timeout(5), &rv)
        .await?;
    let events: Vec<String> = stream.map_ok(|e| label(&e)).try_collect().await?;
    assert_eq!(events, ["ADDED after", "MODIFIED before", "DELETED after"]);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn watch_from_zero_starts_with_the_current_state() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    create_cm(&api, "a").await?;
    create_cm(&api, "b").await?;
    let mut stream = api
        .watch(&WatchParams::default().disable_bookmarks().timeout(30), "0")
        .await?
        .boxed();
    assert_eq!(label(&stream.try_next().await?.expect("event")), "ADDED a");
    assert_eq!(label(&stream.try_next().await?.expect("event")), "ADDED b");
    create_cm(&api, "c").await?;
    assert_eq!(label(&stream.try_next().await?.expect("event")), "ADDED c");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn label_selector_watch_reports_entering_and_leaving() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let c = create_cm(&api, "x").await?;
    let wp = WatchParams::default()
        .disable_bookmarks()
        .labels("app=web")
        .timeout(5);
    let stream = api.watch(&wp, &rv_of(&c.metadata).to_string()).await?;
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {"app": "web"}}})),
    )
    .await?;
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"k": "2"}})),
    )
    .await?;
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await?;
    let events: Vec<String> = stream.map_ok(|e| label(&e)).try_collect().await?;
    assert_eq!(events, ["ADDED x", "MODIFIED x", "DELETED x"]);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn bookmarks_and_clean_timeout() -> anyhow::Result<()> {
    let emu = Emulator::builder()
        .bookmark_interval(Duration::from_secs(10))
        .build();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let c = create_cm(&api, "x").await?;
    let start = tokio::time::Instant::now();
    let wp = WatchParams::default().timeout(25);
    let stream = api.watch(&wp, &rv_of(&c.metadata).to_string()).await?;
    let events: Vec<String> = stream.map_ok(|e| label(&e)).try_collect().await?;
    let rv = emu.resource_version();
    assert_eq!(
        events,
        [
            format!("BOOKMARK {rv}"),
            format!("BOOKMARK {rv}"),
            format!("BOOKMARK {rv}")
        ]
    );
    assert_eq!(
        start.elapsed().as_secs(),
        25,
        "the stream ends at timeoutSeconds on the tokio clock"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn too_old_resource_version_is_a_410_error_event() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let c = create_cm(&api, "x").await?;
    create_cm(&api, "y").await?;
    emu.faults().expire_watch_history();
    let events: Vec<WatchEvent<ConfigMap>> = api
        .watch(
            &WatchParams::default().disable_bookmarks().timeout(5),
            &rv_of(&c.metadata).to_string(),
        )
        .await?
        .try_collect()
        .await?;
    match events.as_slice() {
        [WatchEvent::Error(e)] => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected one 410 error event, got {other:?}"),
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn bounded_history_expires_old_versions() -> anyhow::Result<()> {
    let emu = Emulator::builder().watch_history(3).build();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let first = create_cm(&api, "c0").await?;
    for i in 1..6 {
        create_cm(&api, &format!("c{i}")).await?;
    }
    let events: Vec<WatchEvent<ConfigMap>> = api
        .watch(
            &WatchParams::default().disable_bookmarks().timeout(5),
            &rv_of(&first.metadata).to_string(),
        )
        .await?
        .try_collect()
        .await?;
    assert!(
        matches!(events.as_slice(), [WatchEvent::Error(e)] if e.code == 410),
        "{events:?}"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_slow_watcher_is_cut_off_with_410() -> anyhow::Result<()> {
    let emu = Emulator::builder().watch_buffer(4).build();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    let rv = emu.resource_version().to_string();
    let stream = api
        .watch(&WatchParams::default().disable_bookmarks().timeout(60), &rv)
        .await?;
    for i in 0..10 {
        create_cm(&api, &format!("c{i}")).await?;
    }
    let events: Vec<String> = stream.map_ok(|e| label(&e)).try_collect().await?;
    assert_eq!(events.last().map(String::as_str), Some("ERROR 410"));
    assert!(events.len() <= 6, "bounded buffering: {events:?}");
    Ok(())
}

async fn next_names(
    stream: &mut (
             impl futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin
         ),
    want: usize,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for _ in 0..50 {
        if out.len() >= want {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(600), stream.next()).await? {
            Some(Ok(watcher::Event::Apply(c) | watcher::Event::InitApply(c))) => {
                out.push(format!("apply {}", c.metadata.name.unwrap_or_default()))
            }
            Some(Ok(watcher::Event::Delete(c))) => {
                out.push(format!("delete {}", c.metadata.name.unwrap_or_default()))
            }
            Some(Ok(watcher::Event::Init)) => out.push("init".into()),
            Some(Ok(watcher::Event::InitDone)) => out.push("init-done".into()),
            // kube-runtime surfaces the 410 once, then relists on the next poll.
            Some(Err(watcher::Error::WatchError(e))) => out.push(format!("error {}", e.code)),
            Some(Err(e)) => return Err(e.into()),
            None => break,
        }
    }
    Ok(out)
}

#[tokio::test(start_paused = true)]
async fn runtime_watcher_resumes_after_cut_and_relists_after_410() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    create_cm(&api, "a").await?;
    let mut stream = watcher(api.clone(), watcher::Config::default().page_size(1)).boxed();
    assert_eq!(
        next_names(&mut stream, 3).await?,
        ["init", "apply a", "init-done"]
    );

    // Cut the stream, write while the watcher is disconnected: nothing is lost, no relist.
    emu.faults().cut_watches();
    create_cm(&api, "b").await?;
    api.delete("a", &DeleteParams::default()).await?;
    assert_eq!(next_names(&mut stream, 2).await?, ["apply b", "delete a"]);

    // A write the watcher has not consumed yet, then history expires and the stream is cut:
    // the re-watch from the watcher's last resourceVersion gets 410 and the watcher relists.
    create_cm(&api, "c").await?;
    assert_eq!(next_names(&mut stream, 1).await?, ["apply c"]);
    create_cm(&api, "d").await?;
    emu.faults().expire_watch_history();
    emu.faults().cut_watches();
    let relisted = next_names(&mut stream, 6).await?;
    assert_eq!(
        relisted,
        [
            "error 410",
            "init",
            "apply b",
            "apply c",
            "apply d",
            "init-done"
        ]
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn metadata_only_list_and_watch() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    create_cm(&api, "a").await?;
    let list = api.list_metadata(&ListParams::default()).await?;
    assert_eq!(list.items.len(), 1);
    assert_eq!(
        list.items[0].types.as_ref().map(|t| t.kind.as_str()),
        Some("PartialObjectMetadata")
    );
    let rv = list.metadata.resource_version.unwrap_or_default();
    let stream = api
        .watch_metadata(&WatchParams::default().disable_bookmarks().timeout(5), &rv)
        .await?;
    create_cm(&api, "b").await?;
    let events: Vec<_> = stream.try_collect().await?;
    assert!(
        matches!(events.as_slice(), [WatchEvent::Added(m)] if m.metadata.name.as_deref() == Some("b")),
        "{events:?}"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn legacy_watch_of_a_named_object() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    create_cm(&api, "watched").await?;
    create_cm(&api, "other").await?;
    let req = http::Request::get(
        "/api/v1/namespaces/default/configmaps/watched?watch=true&timeoutSeconds=5",
    )
    .body(Vec::new())?;
    let events: Vec<Result<WatchEvent<ConfigMap>, kube::Error>> =
        client.request_events(req).await?.collect().await;
    let names: Vec<String> = events
        .into_iter()
        .map(|e| e.map(|e| label(&e)))
        .collect::<Result<_, _>>()?;
    assert_eq!(names, ["ADDED watched"]);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn runtime_watcher_with_streaming_lists() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    create_cm(&api, "a").await?;
    create_cm(&api, "b").await?;
    let mut stream = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    assert_eq!(
        next_names(&mut stream, 4).await?,
        ["init", "apply a", "apply b", "init-done"]
    );
    create_cm(&api, "c").await?;
    assert_eq!(next_names(&mut stream, 1).await?, ["apply c"]);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn kube_runtime_controller_reconciles_against_the_emulator() -> anyhow::Result<()> {
    use kube::runtime::controller::{Action, Controller};
    use std::sync::Arc;

    #[derive(Debug, thiserror::Error)]
    #[error(transparent)]
    struct ReconcileError(#[from] kube::Error);

    async fn reconcile(
        cm: Arc<ConfigMap>,
        api: Arc<Api<ConfigMap>>,
    ) -> Result<Action, ReconcileError> {
        let name = cm.metadata.name.clone().unwrap_or_default();
        let patch = json!({"metadata": {"labels": {"reconciled": "true"}}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(Action::await_change())
    }

    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    for n in ["a", "b"] {
        create_cm(&api, n).await?;
    }
    let ctrl = Controller::new(api.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::await_change(),
            Arc::new(api.clone()),
        )
        .boxed();
    tokio::spawn(ctrl.for_each(|_| async {}));
    create_cm(&api, "c").await?;
    let wp = WatchParams::default()
        .disable_bookmarks()
        .labels("reconciled=true")
        .timeout(600);
    let mut stream = api.watch(&wp, "0").await?.boxed();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 3 {
        match stream.try_next().await? {
            Some(WatchEvent::Added(c) | WatchEvent::Modified(c)) => {
                seen.insert(c.metadata.name.unwrap_or_default());
            }
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    Ok(())
}
