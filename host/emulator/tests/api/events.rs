//! Core `v1` Events and `events.k8s.io/v1` Events are two views of one storage, as in the real
//! server: what the controller records through `events.k8s.io/v1` is what `kubectl describe`
//! finds through core `v1` by `involvedObject`, and the other way round.

use std::time::Duration;

use fleetward_emulator::Emulator;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
use k8s_openapi::api::events::v1::Event as V1Event;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::json;

use super::common::{api_status, create_cm};

const UID: &str = "6f1d9a9e-0000-4000-8000-000000000001";

fn regarding() -> ObjectReference {
    ObjectReference {
        api_version: Some("fleetward.dev/v1alpha1".into()),
        kind: Some("ManagedCluster".into()),
        name: Some("c1".into()),
        namespace: Some("default".into()),
        uid: Some(UID.into()),
        ..ObjectReference::default()
    }
}

fn v1_event(name: &str, note: &str) -> anyhow::Result<V1Event> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "eventTime": "2026-01-05T00:00:00.000000Z",
        "reportingController": "fleetward.dev/controller",
        "reportingInstance": "fleetward-0",
        "action": "Upgrade", "reason": "UpgradeStarted", "type": "Normal",
        "regarding": regarding(),
        "note": note,
    }))?)
}

/// What `kubectl describe` asks for: core Events by involvedObject.
fn describe_selector() -> ListParams {
    ListParams::default().fields(&format!(
        "involvedObject.name=c1,involvedObject.namespace=default,involvedObject.kind=ManagedCluster,involvedObject.uid={UID}"
    ))
}

#[tokio::test]
async fn an_events_v1_event_is_a_core_event_by_involved_object() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let v1: Api<V1Event> = Api::namespaced(client.clone(), "default");
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    v1.create(
        &PostParams::default(),
        &v1_event("c1.1", "control plane 1.31 -> 1.32")?,
    )
    .await?;

    let found = core.list(&describe_selector()).await?.items;
    assert_eq!(found.len(), 1, "{found:?}");
    let e = &found[0];
    assert_eq!(e.message.as_deref(), Some("control plane 1.31 -> 1.32"));
    assert_eq!(e.involved_object.uid.as_deref(), Some(UID));
    assert_eq!(
        e.reporting_component.as_deref(),
        Some("fleetward.dev/controller")
    );
    assert_eq!(e.reporting_instance.as_deref(), Some("fleetward-0"));
    assert_eq!(e.reason.as_deref(), Some("UpgradeStarted"));
    assert_eq!(e.action.as_deref(), Some("Upgrade"));

    // The same object through both views, and one list.
    let back = v1.get("c1.1").await?;
    assert_eq!(back.note.as_deref(), Some("control plane 1.31 -> 1.32"));
    assert_eq!(
        back.regarding.as_ref().and_then(|r| r.uid.as_deref()),
        Some(UID)
    );
    assert_eq!(back.metadata.uid, e.metadata.uid);
    assert_eq!(v1.list(&ListParams::default()).await?.items.len(), 1);

    // A core Event reads as events.k8s.io/v1.
    let core_written: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "c1.2", "namespace": "default"},
        "involvedObject": regarding(), "reason": "Placed", "message": "on seed-1",
        "type": "Normal", "count": 2, "source": {"component": "kubectl"},
        "firstTimestamp": "2026-01-05T00:00:00Z", "lastTimestamp": "2026-01-05T00:01:00Z"
    }))?;
    core.create(&PostParams::default(), &core_written).await?;
    let seen = v1.get("c1.2").await?;
    assert_eq!(seen.note.as_deref(), Some("on seed-1"));
    assert_eq!(seen.deprecated_count, Some(2));
    assert_eq!(
        seen.deprecated_source.and_then(|s| s.component).as_deref(),
        Some("kubectl")
    );
    assert!(seen.deprecated_first_timestamp.is_some());
    assert_eq!(core.list(&describe_selector()).await?.items.len(), 2);

    // Deleting through one view deletes it from both.
    v1.delete("c1.2", &Default::default()).await?;
    assert!(core.get_opt("c1.2").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn patches_and_apply_through_events_v1_change_the_core_event() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let v1: Api<V1Event> = Api::namespaced(client.clone(), "default");
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    v1.create(&PostParams::default(), &v1_event("c1.1", "first")?)
        .await?;
    let series = Patch::Merge(json!({"note": "second",
        "series": {"count": 2, "lastObservedTime": "2026-01-05T00:02:00.000000Z"}}));
    let patched = v1.patch("c1.1", &PatchParams::default(), &series).await?;
    assert_eq!(patched.note.as_deref(), Some("second"));
    let c = core.get("c1.1").await?;
    assert_eq!(c.message.as_deref(), Some("second"));
    assert_eq!(c.series.map(|s| s.count), Some(Some(2)));

    let applied = serde_json::from_value::<V1Event>(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "c1.9", "namespace": "default"},
        "eventTime": "2026-01-05T00:03:00.000000Z", "reportingController": "x",
        "reportingInstance": "x-0", "action": "A", "reason": "Applied", "type": "Warning",
        "regarding": regarding(), "note": "by apply"
    }))?;
    v1.patch("c1.9", &PatchParams::apply("ssa"), &Patch::Apply(&applied))
        .await?;
    let c = core.get("c1.9").await?;
    assert_eq!(c.message.as_deref(), Some("by apply"));
    assert_eq!(c.type_.as_deref(), Some("Warning"));

    // A core body sent to the events.k8s.io endpoint is refused, as before.
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("events.k8s.io", "v1", "Event"),
        "events",
    );
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let wrong = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "w"}});
    let err = raw
        .create(&PostParams::default(), &serde_json::from_value(wrong)?)
        .await
        .expect_err("a core body on the events.k8s.io endpoint");
    assert_eq!(api_status(err).code, 400);
    Ok(())
}

#[tokio::test]
async fn field_selectors_of_the_events_v1_view_are_the_real_servers() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let v1: Api<V1Event> = Api::namespaced(client.clone(), "default");
    v1.create(&PostParams::default(), &v1_event("c1.1", "n")?)
        .await?;
    let by = |s: &str| ListParams::default().fields(s);
    assert_eq!(v1.list(&by("regarding.name=c1")).await?.items.len(), 1);
    assert_eq!(
        v1.list(&by(&format!("regarding.uid={UID},type=Normal")))
            .await?
            .items
            .len(),
        1
    );
    assert_eq!(
        v1.list(&by("reportingController=fleetward.dev/controller"))
            .await?
            .items
            .len(),
        1
    );
    assert!(v1.list(&by("regarding.name=other")).await?.items.is_empty());
    let err = v1
        .list(&by("involvedObject.name=c1"))
        .await
        .expect_err("core field names are not the view's");
    assert_eq!(api_status(err).code, 400);
    Ok(())
}

#[tokio::test]
async fn watches_on_either_view_see_writes_through_the_other() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let v1: Api<V1Event> = Api::namespaced(client.clone(), "default");
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let mut core_watch = core.watch(&WatchParams::default(), "0").await?.boxed();
    let mut v1_watch = v1.watch(&WatchParams::default(), "0").await?.boxed();

    v1.create(&PostParams::default(), &v1_event("c1.1", "via v1")?)
        .await?;
    let next = tokio::time::timeout(Duration::from_secs(5), core_watch.try_next()).await??;
    match next {
        Some(WatchEvent::Added(e)) => assert_eq!(e.message.as_deref(), Some("via v1")),
        other => panic!("expected ADDED on the core watch, got {other:?}"),
    }
    let next = tokio::time::timeout(Duration::from_secs(5), v1_watch.try_next()).await??;
    assert!(
        matches!(next, Some(WatchEvent::Added(ref e)) if e.note.as_deref() == Some("via v1")),
        "{next:?}"
    );

    let patch = Patch::Merge(json!({"message": "via core"}));
    core.patch("c1.1", &PatchParams::default(), &patch).await?;
    let next = tokio::time::timeout(Duration::from_secs(5), v1_watch.try_next()).await??;
    match next {
        Some(WatchEvent::Modified(e)) => assert_eq!(e.note.as_deref(), Some("via core")),
        other => panic!("expected MODIFIED on the events.k8s.io watch, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn kube_recorder_events_show_up_for_kubectl_describe() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    let cms = Api::namespaced(client.clone(), "default");
    let cm = create_cm(&cms, "subject").await?;
    let recorder = Recorder::new(client.clone(), Reporter::from("fleetward-controller"));
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: cm.metadata.name.clone(),
        namespace: Some("default".into()),
        uid: cm.metadata.uid.clone(),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: "ModuleRejected".into(),
        note: Some("bad magic number".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await?;
    recorder.publish(&event, &reference).await?; // a series: patched, not created again
    let core: Api<CoreEvent> = Api::namespaced(client, "default");
    let uid = cm.metadata.uid.unwrap_or_default();
    let found = core
        .list(&ListParams::default().fields(&format!(
            "involvedObject.name=subject,involvedObject.namespace=default,involvedObject.kind=ConfigMap,involvedObject.uid={uid}"
        )))
        .await?
        .items;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].message.as_deref(), Some("bad magic number"));
    assert_eq!(found[0].type_.as_deref(), Some("Warning"));
    assert_eq!(
        found[0].reporting_component.as_deref(),
        Some("fleetward-controller")
    );
    Ok(())
}
