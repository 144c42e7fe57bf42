//! The two API servers an end-to-end scenario can run against, and what each needs before the
//! controller starts.
//!
//! - [`Backend::Emulator`]: `fleetward-emulator` in-process, on tokio's paused clock (minutes of
//!   machine rollouts take no real time); the test identity is the emulator's (no RBAC).
//! - [`Backend::RealApiServer`]: a real kube-apiserver over etcd with kube-controller-manager's
//!   garbage collector and namespace controller (`fleetward-testenv`), in real time. CRDs and the
//!   controller's RBAC are installed from `deploy/` by server-side apply, as an operator would;
//!   the controller authenticates as the `fleetward-controller` ServiceAccount, so it has exactly
//!   the permissions `deploy/rbac.yaml` grants.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use fleetward_sdk::wire::UpgradeLimits;
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, WatchEvent, WatchParams,
};
use kube::discovery::Scope;
use serde_json::Value;

use crate::ledger::{ObservedWrite, WriteLedger};

/// Which API server a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The in-process emulator, virtual time.
    Emulator,
    /// A real kube-apiserver, etcd and kube-controller-manager, real time.
    RealApiServer,
}

impl Backend {
    /// Whether tokio's clock is paused (so long waits cost nothing).
    pub fn has_virtual_time(self) -> bool {
        matches!(self, Backend::Emulator)
    }
}

/// The ServiceAccount `deploy/rbac.yaml` binds.
pub const CONTROLLER_SERVICE_ACCOUNT: (&str, &str) = ("fleetward-system", "fleetward-controller");
/// Field manager for manifests the test installs as an operator would.
pub const OPERATOR_FIELD_MANAGER: &str = "fleetward-e2e-operator";

/// The repository root (two levels above this crate).
pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Parses a multi-document YAML or JSON manifest (a `List` is flattened) into objects.
///
/// # Errors
/// Unreadable file or invalid YAML.
pub fn read_manifest(path: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs: Vec<Value> = if path.extension().is_some_and(|e| e == "json") {
        vec![serde_json::from_str(&text)?]
    } else {
        serde_saphyr::from_str_multiple(&text)
            .with_context(|| format!("parsing {}", path.display()))?
    };
    let mut out = Vec::new();
    for d in docs {
        if d.is_null() {
            continue;
        }
        if d["kind"] == "List" {
            out.extend(d["items"].as_array().cloned().unwrap_or_default());
        } else {
            out.push(d);
        }
    }
    Ok(out)
}

/// The resource of a manifest object, found by API discovery as kubectl does (plural, scope).
async fn api_resource(client: &Client, obj: &Value) -> Result<(ApiResource, bool)> {
    let api_version = obj["apiVersion"].as_str().context("apiVersion")?;
    let kind = obj["kind"].as_str().context("kind")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("discovering {api_version} {kind}"))?;
    Ok((ar, caps.scope == Scope::Namespaced))
}

/// Server-side applies every object of a manifest, as `kubectl apply --server-side` would.
///
/// # Errors
/// The first object the server refuses, with its message.
pub async fn apply_manifest(client: &Client, path: &Path) -> Result<()> {
    for obj in read_manifest(path)? {
        let (ar, namespaced) = api_resource(client, &obj).await?;
        let name = obj["metadata"]["name"]
            .as_str()
            .context("metadata.name")?
            .to_string();
        let api: Api<DynamicObject> = if namespaced {
            let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
            Api::namespaced_with(client.clone(), ns, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        api.patch(
            &name,
            &PatchParams::apply(OPERATOR_FIELD_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .with_context(|| format!("applying {} {name} from {}", ar.kind, path.display()))?;
    }
    Ok(())
}

/// Waits until every CRD is `Established` (served), bounded.
///
/// # Errors
/// Timeout.
pub async fn wait_crds_established(client: &Client) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let all = api.list(&Default::default()).await?;
        let pending: Vec<String> = all
            .items
            .iter()
            .filter(|c| {
                !c.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|x| x.type_ == "Established" && x.status == "True")
                    })
            })
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("CRDs not established after 60 s: {pending:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The kinds the write checker follows on the real API server: ManagedClusters and the
/// workloads Fleetward applies on a seed.
fn watched_kinds() -> Vec<(ApiResource, &'static str)> {
    let mut kinds = vec![(
        kind(
            "fleetward.dev",
            "v1alpha1",
            "ManagedCluster",
            "managedclusters",
        ),
        "ManagedCluster",
    )];
    kinds.extend(workload_kinds());
    kinds
}

/// An API resource by group, version, kind and plural.
pub(crate) fn kind(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The workloads Fleetward applies on a seed for each cluster's control plane and pools.
pub(crate) fn workload_kinds() -> Vec<(ApiResource, &'static str)> {
    vec![
        (
            kind("apps", "v1", "Deployment", "deployments"),
            "Deployment",
        ),
        (
            kind("apps", "v1", "StatefulSet", "statefulsets"),
            "StatefulSet",
        ),
        (
            kind(
                "cluster.x-k8s.io",
                "v1beta1",
                "MachineDeployment",
                "machinedeployments",
            ),
            "MachineDeployment",
        ),
    ]
}

/// Feeds `ledger` from one watch per kind, each started from a LIST's resourceVersion so no
/// change after this function returns is missed. A watch that loses its place (410 Gone) marks
/// the ledger `lagged`: the check would be incomplete, and the test fails.
///
/// # Errors
/// The initial LISTs.
pub async fn watch_writes(
    client: &Client,
    ledger: Arc<Mutex<WriteLedger>>,
    limits: UpgradeLimits,
) -> Result<()> {
    watch_kinds(client, ledger, limits, watched_kinds()).await
}

/// [`watch_writes`] on a remote seed's API server: its children only (ManagedClusters live on
/// the management server, which has its own feed into the same ledger).
///
/// # Errors
/// The initial LISTs.
pub(crate) async fn watch_seed_writes(
    client: &Client,
    ledger: Arc<Mutex<WriteLedger>>,
    limits: UpgradeLimits,
) -> Result<()> {
    let kinds = watched_kinds()
        .into_iter()
        .filter(|(_, kind)| *kind != "ManagedCluster")
        .collect();
    watch_kinds(client, ledger, limits, kinds).await
}

async fn watch_kinds(
    client: &Client,
    ledger: Arc<Mutex<WriteLedger>>,
    limits: UpgradeLimits,
    kinds: Vec<(ApiResource, &'static str)>,
) -> Result<()> {
    for (ar, kind) in kinds {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let list = api
            .list(&Default::default())
            .await
            .with_context(|| format!("listing {kind}"))?;
        let mut rv = list.metadata.resource_version.unwrap_or_default();
        for obj in list.items {
            record(&ledger, &limits, kind, &obj, false);
        }
        let ledger = ledger.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            // Bounded: each watch lasts at most 290 s server-side; the loop ends with the runtime
            // (the test) or when the server goes away.
            loop {
                let wp = WatchParams::default().timeout(290);
                let stream = match api.watch(&wp, &rv).await {
                    Ok(s) => s,
                    Err(_) => {
                        // No feed from here on: the check would be incomplete, so say so.
                        if let Ok(mut l) = ledger.lock() {
                            l.lagged = true;
                        }
                        return;
                    }
                };
                let mut stream = stream.boxed();
                loop {
                    match stream.try_next().await {
                        Ok(Some(WatchEvent::Added(o) | WatchEvent::Modified(o))) => {
                            rv = o.metadata.resource_version.clone().unwrap_or(rv);
                            record(&ledger, &limits, kind, &o, false);
                        }
                        Ok(Some(WatchEvent::Deleted(o))) => {
                            rv = o.metadata.resource_version.clone().unwrap_or(rv);
                            record(&ledger, &limits, kind, &o, true);
                        }
                        Ok(Some(WatchEvent::Bookmark(b))) => rv = b.metadata.resource_version,
                        Ok(Some(WatchEvent::Error(status))) if status.code == 410 => {
                            if let Ok(mut l) = ledger.lock() {
                                l.lagged = true;
                            }
                            return;
                        }
                        Ok(Some(WatchEvent::Error(_))) | Err(_) => break,
                        Ok(None) => break,
                    }
                }
            }
        });
    }
    Ok(())
}

fn record(
    ledger: &Mutex<WriteLedger>,
    limits: &UpgradeLimits,
    kind: &str,
    obj: &DynamicObject,
    deleted: bool,
) {
    let Ok(object) = serde_json::to_value(obj) else {
        return;
    };
    let ev = ObservedWrite {
        kind: kind.to_string(),
        namespace: obj.metadata.namespace.clone(),
        name: obj.metadata.name.clone().unwrap_or_default(),
        deleted,
        object,
    };
    if let Ok(mut l) = ledger.lock() {
        l.apply(&ev, limits);
    }
}
