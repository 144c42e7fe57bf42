//! The Events the controller recorded about an object, as tests read them.
//!
//! Read through `events.k8s.io/v1` only: the real kube-apiserver and the emulator both serve
//! core and `events.k8s.io` Events as two views of one storage, so one view sees every Event.

use anyhow::Result;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams};

/// (type, note) of every Event with `reason` about the object of `kind` named `name`, in any
/// namespace.
pub async fn events_about(
    client: &Client,
    kind: &str,
    name: &str,
    reason: &str,
) -> Result<Vec<(String, String)>> {
    let all = Api::<Event>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    Ok(all
        .into_iter()
        .filter(|e| {
            let r = e.regarding.as_ref();
            r.and_then(|r| r.kind.as_deref()) == Some(kind)
                && r.and_then(|r| r.name.as_deref()) == Some(name)
                && e.reason.as_deref() == Some(reason)
        })
        .map(|e| (e.type_.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect())
}

/// How many `Warning` Events with `reason` are about the object of `kind` named `name`.
pub async fn warnings_about(
    client: &Client,
    kind: &str,
    name: &str,
    reason: &str,
) -> Result<usize> {
    Ok(events_about(client, kind, name, reason)
        .await?
        .iter()
        .filter(|(type_, _)| type_ == "Warning")
        .count())
}
