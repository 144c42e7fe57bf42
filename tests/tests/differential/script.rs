//! The requests both servers get, in order: those Fleetward's controller and kubectl actually
//! make. Grouped by concern; every group works in the namespace [`NS`] (created first, deleted
//! last) so the servers' own objects (kube-system, default) never enter a comparison.

use serde_json::{Value, json};

use crate::step::{APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, Step, TABLE};

/// The namespace the script works in.
pub const NS: &str = "diff";

const CMS: &str = "/api/v1/namespaces/diff/configmaps";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/diff/deployments";
const MCS: &str = "/apis/fleetward.dev/v1alpha1/namespaces/diff/managedclusters";
const TENANTS: &str = "/apis/fleetward.dev/v1alpha1/tenants";
const CORE_EVENTS: &str = "/api/v1/namespaces/diff/events";
const EVENTS_V1: &str = "/apis/events.k8s.io/v1/namespaces/diff/events";

/// The whole script.
pub fn script() -> Vec<Step> {
    [
        namespace_and_creates(),
        selectors_and_paging(),
        patches_and_conflicts(),
        server_side_apply(),
        watches(),
        finalizers(),
        garbage_collection(),
        custom_resources(),
        tables(),
        events(),
        namespace_deletion(),
    ]
    .concat()
}

fn cm(name: &str, labels: Value, data: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": data,
    })
}

fn namespace_and_creates() -> Vec<Step> {
    vec![
        Step::post(
            "create namespace",
            "/api/v1/namespaces?fieldManager=script",
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": NS, "labels": {"fleetward.dev/tenant": "acme"}}}),
        ),
        Step::get("get namespace", "/api/v1/namespaces/diff"),
        Step::post(
            "create cm-a",
            format!("{CMS}?fieldManager=script"),
            cm(
                "cm-a",
                json!({"app": "web", "tier": "front"}),
                json!({"k": "v"}),
            ),
        )
        .capture("rv_after_a", "/metadata/resourceVersion"),
        Step::post(
            "create cm-a again (AlreadyExists)",
            format!("{CMS}?fieldManager=script"),
            cm("cm-a", json!({"app": "web"}), json!({})),
        ),
        Step::post(
            "create cm-b",
            format!("{CMS}?fieldManager=script"),
            cm(
                "cm-b",
                json!({"app": "web", "tier": "back"}),
                json!({"k": "b"}),
            ),
        ),
        Step::post(
            "create cm-c",
            format!("{CMS}?fieldManager=script"),
            cm("cm-c", json!({"app": "db"}), json!({"k": "c"})),
        ),
        Step::post(
            "create with an invalid name (Invalid)",
            format!("{CMS}?fieldManager=script"),
            cm("Bad_Name", json!({}), json!({})),
        ),
        Step::post(
            "create with a mismatched namespace (BadRequest)",
            format!("{CMS}?fieldManager=script"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "elsewhere", "namespace": "default"}}),
        ),
        Step::post(
            "create in a missing namespace (NotFound)",
            "/api/v1/namespaces/nowhere/configmaps?fieldManager=script",
            cm("lost", json!({}), json!({})),
        ),
        Step::post(
            "create with a dry run",
            format!("{CMS}?fieldManager=script&dryRun=All"),
            cm("dry", json!({"app": "dry"}), json!({})),
        ),
        Step::get("get cm-a", format!("{CMS}/cm-a")),
        Step::get(
            "get a missing configmap (NotFound)",
            format!("{CMS}/missing"),
        ),
        Step::get("get the dry-run object (NotFound)", format!("{CMS}/dry")),
    ]
}

fn selectors_and_paging() -> Vec<Step> {
    vec![
        Step::get("list all", CMS),
        Step::get(
            "list label app=web",
            format!("{CMS}?labelSelector=app%3Dweb"),
        ),
        Step::get(
            "list label set-based",
            format!("{CMS}?labelSelector=app%20in%20(web,db),tier!%3Dback"),
        ),
        Step::get("list label exists", format!("{CMS}?labelSelector=tier")),
        Step::get(
            "list label not-exists",
            format!("{CMS}?labelSelector=!tier"),
        ),
        Step::get(
            "list field metadata.name",
            format!("{CMS}?fieldSelector=metadata.name%3Dcm-b"),
        ),
        Step::get(
            "list field metadata.name!=",
            format!("{CMS}?fieldSelector=metadata.name!%3Dcm-b"),
        ),
        Step::get(
            "list unsupported field (BadRequest)",
            format!("{CMS}?fieldSelector=data.k%3Dv"),
        ),
        Step::get(
            "list invalid label selector (BadRequest)",
            format!("{CMS}?labelSelector=app%3D%3D%3Dx"),
        ),
        Step::get("list page 1 of 2", format!("{CMS}?limit=2"))
            .capture("continue_1", "/metadata/continue"),
        Step::get(
            "list page 2 of 2",
            format!("{CMS}?limit=2&continue=${{continue_1}}"),
        ),
        Step::get(
            "list with a bad continue token (BadRequest)",
            format!("{CMS}?limit=2&continue=garbage"),
        ),
        Step::get(
            "list namespaces by field status.phase",
            "/api/v1/namespaces?fieldSelector=status.phase%3DActive,metadata.name%3Ddiff",
        ),
    ]
}

fn patches_and_conflicts() -> Vec<Step> {
    vec![
        Step::patch(
            "merge patch",
            format!("{CMS}/cm-a?fieldManager=script"),
            MERGE_PATCH,
            json!({"metadata": {"labels": {"extra": "1"}}, "data": {"k2": "v2"}}),
        ),
        Step::patch(
            "merge patch removing a key with null",
            format!("{CMS}/cm-a?fieldManager=script"),
            MERGE_PATCH,
            json!({"metadata": {"labels": {"extra": null}}}),
        ),
        Step::patch(
            "json patch",
            format!("{CMS}/cm-a?fieldManager=script"),
            JSON_PATCH,
            json!([{"op": "add", "path": "/data/k3", "value": "v3"},
                   {"op": "remove", "path": "/data/k"}]),
        ),
        Step::patch(
            "json patch failing test op",
            format!("{CMS}/cm-a?fieldManager=script"),
            JSON_PATCH,
            json!([{"op": "test", "path": "/data/k2", "value": "nope"}]),
        ),
        Step::patch(
            "json patch removing a missing path",
            format!("{CMS}/cm-a?fieldManager=script"),
            JSON_PATCH,
            json!([{"op": "remove", "path": "/data/absent"}]),
        ),
        Step::patch(
            "strategic merge patch",
            format!("{CMS}/cm-b?fieldManager=kubectl-patch"),
            STRATEGIC_PATCH,
            json!({"data": {"s": "1"}}),
        ),
        Step::patch(
            "merge patch with a stale resourceVersion (Conflict)",
            format!("{CMS}/cm-a?fieldManager=script"),
            MERGE_PATCH,
            json!({"metadata": {"resourceVersion": "${rv_after_a}"}, "data": {"x": "y"}}),
        ),
        Step::put(
            "update with a stale resourceVersion (Conflict)",
            format!("{CMS}/cm-a?fieldManager=script"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm-a", "resourceVersion": "${rv_after_a}"},
                   "data": {"x": "y"}}),
        ),
        Step::get("get before update", format!("{CMS}/cm-b"))
            .capture("rv_b", "/metadata/resourceVersion"),
        Step::put(
            "update with the current resourceVersion",
            format!("{CMS}/cm-b?fieldManager=script"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm-b", "resourceVersion": "${rv_b}",
                                "labels": {"app": "web", "tier": "back"}},
                   "data": {"k": "b2"}}),
        ),
        Step::put(
            "update without a resourceVersion",
            format!("{CMS}/cm-b?fieldManager=script"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm-b", "labels": {"app": "web", "tier": "back"}},
                   "data": {"k": "b3"}}),
        ),
        Step::put(
            "update a missing configmap (NotFound)",
            format!("{CMS}/nope?fieldManager=script"),
            cm("nope", json!({}), json!({})),
        ),
        Step::patch(
            "merge patch a missing configmap (NotFound)",
            format!("{CMS}/nope?fieldManager=script"),
            MERGE_PATCH,
            json!({"data": {"a": "b"}}),
        ),
        Step::patch(
            "patch with an unsupported content type",
            format!("{CMS}/cm-a?fieldManager=script"),
            "application/xml",
            json!({}),
        ),
    ]
}

fn server_side_apply() -> Vec<Step> {
    let applied = |owner: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "cm-ssa", "labels": {"managed": "ssa"}},
               "data": {"owner": owner}})
    };
    vec![
        Step::patch(
            "apply create as alice",
            format!("{CMS}/cm-ssa?fieldManager=alice"),
            APPLY_PATCH,
            applied("alice"),
        ),
        Step::patch(
            "apply same as alice (no-op)",
            format!("{CMS}/cm-ssa?fieldManager=alice"),
            APPLY_PATCH,
            applied("alice"),
        ),
        Step::patch(
            "apply conflicting as bob (Conflict)",
            format!("{CMS}/cm-ssa?fieldManager=bob"),
            APPLY_PATCH,
            applied("bob"),
        ),
        Step::patch(
            "apply conflicting as bob with force",
            format!("{CMS}/cm-ssa?fieldManager=bob&force=true"),
            APPLY_PATCH,
            applied("bob"),
        ),
        Step::patch(
            "apply by alice dropping a field",
            format!("{CMS}/cm-ssa?fieldManager=alice"),
            APPLY_PATCH,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-ssa"}}),
        ),
        Step::patch(
            "apply without a field manager (BadRequest)",
            format!("{CMS}/cm-ssa"),
            APPLY_PATCH,
            applied("nobody"),
        ),
        Step::patch(
            "apply with force on a merge patch (BadRequest)",
            format!("{CMS}/cm-ssa?fieldManager=bob&force=true"),
            MERGE_PATCH,
            json!({"data": {"x": "1"}}),
        ),
        Step::get("get applied", format!("{CMS}/cm-ssa")),
    ]
}

fn watches() -> Vec<Step> {
    vec![
        // After cm-a was created: cm-b ADDED, two label-visible cm-a changes, cm-b updates.
        Step::watch(
            "watch app=web from a resourceVersion",
            format!("{CMS}?watch=true&labelSelector=app%3Dweb&resourceVersion=${{rv_after_a}}"),
            7,
        ),
        Step::watch(
            "watch with initial events and bookmarks",
            format!(
                "{CMS}?watch=true&labelSelector=app%3Dweb&sendInitialEvents=true\
                 &resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
            ),
            100,
        ),
        Step::watch(
            "watch from resourceVersion 0",
            format!("{CMS}?watch=true&labelSelector=app%3Ddb&resourceVersion=0"),
            1,
        ),
        // Every configmap change since cm-a was created, selector-free: both servers still
        // hold them (a 410 for a too-old resourceVersion cannot be produced on the real server
        // within a test, see servers.rs).
        Step::watch(
            "watch everything from an old resourceVersion",
            format!("{CMS}?watch=true&resourceVersion=${{rv_after_a}}"),
            11,
        ),
        Step::get(
            "list with resourceVersionMatch=Exact at an old resourceVersion",
            format!("{CMS}?resourceVersion=${{rv_after_a}}&resourceVersionMatch=Exact"),
        ),
        // Not compared: a resourceVersion from the future. The real server waits for its
        // cache to catch up and had not answered after 10 s; the emulator answers 504 at once
        // (docs/emulator.md).
    ]
}

fn finalizers() -> Vec<Step> {
    vec![
        Step::post(
            "create with a finalizer",
            format!("{CMS}?fieldManager=script"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm-fin", "finalizers": ["example.com/hold"]}}),
        ),
        Step::delete("delete held by a finalizer", format!("{CMS}/cm-fin"), None),
        Step::get("get terminating", format!("{CMS}/cm-fin")),
        Step::patch(
            "add a finalizer while terminating (Invalid)",
            format!("{CMS}/cm-fin?fieldManager=script"),
            MERGE_PATCH,
            json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}),
        ),
        Step::patch(
            "remove the finalizer",
            format!("{CMS}/cm-fin?fieldManager=script"),
            JSON_PATCH,
            json!([{"op": "remove", "path": "/metadata/finalizers"}]),
        ),
        Step::get(
            "get after the finalizer is gone (NotFound)",
            format!("{CMS}/cm-fin"),
        ),
        Step::delete("delete a plain configmap", format!("{CMS}/cm-c"), None),
        Step::delete(
            "delete it again (NotFound)",
            format!("{CMS}/cm-c"),
            Some(json!({"apiVersion": "v1", "kind": "DeleteOptions"})),
        ),
        Step::delete(
            "delete with a stale uid precondition (Conflict)",
            format!("{CMS}/cm-b"),
            Some(json!({"apiVersion": "v1", "kind": "DeleteOptions",
                        "preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}})),
        ),
    ]
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    })
}

fn garbage_collection() -> Vec<Step> {
    vec![
        Step::post(
            "create owner deployment",
            format!("{DEPLOYMENTS}?fieldManager=script"),
            deployment(),
        )
        .capture("web_uid", "/metadata/uid"),
        Step::patch(
            "strategic merge patch of replicas",
            format!("{DEPLOYMENTS}/web?fieldManager=kubectl-patch"),
            STRATEGIC_PATCH,
            json!({"spec": {"replicas": 3}}),
        ),
        Step::get("get scale", format!("{DEPLOYMENTS}/web/scale")),
        Step::post(
            "create dependent",
            format!("{CMS}?fieldManager=script"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm-dependent", "ownerReferences": [{
                       "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                       "uid": "${web_uid}", "controller": true, "blockOwnerDeletion": true}]}}),
        ),
        Step::delete(
            "delete owner in the background",
            format!("{DEPLOYMENTS}/web"),
            Some(json!({"apiVersion": "v1", "kind": "DeleteOptions",
                        "propagationPolicy": "Background"})),
        ),
        Step::wait_until_gone("dependent garbage collected", format!("{CMS}/cm-dependent")),
    ]
}

fn managed_cluster(name: &str, version: &str) -> Value {
    json!({
        "apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
        "metadata": {"name": name, "labels": {"fleetward.dev/tenant": "acme"}},
        "spec": {"tenant": "acme", "version": version},
    })
}

fn custom_resources() -> Vec<Step> {
    vec![
        Step::post(
            "create managedcluster (defaults)",
            format!("{MCS}?fieldManager=script"),
            managed_cluster("mc-1", "1.31.4"),
        ),
        Step::post(
            "create a second managedcluster",
            format!("{MCS}?fieldManager=script"),
            managed_cluster("mc-2", "1.30.0"),
        ),
        Step::post(
            "create invalid managedcluster (Invalid)",
            format!("{MCS}?fieldManager=script"),
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
                   "metadata": {"name": "mc-bad"},
                   "spec": {"version": "latest", "nodePools": [{"name": "Pool_1", "replicas": -1}]}}),
        ),
        Step::post(
            "create with an unknown field, strict (BadRequest)",
            format!("{MCS}?fieldManager=script&fieldValidation=Strict"),
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
                   "metadata": {"name": "mc-strict"},
                   "spec": {"tenant": "acme", "version": "1.31.4", "colour": "blue"}}),
        ),
        Step::post(
            "create with an unknown field, pruned",
            format!("{MCS}?fieldManager=script&fieldValidation=Ignore"),
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
                   "metadata": {"name": "mc-pruned"},
                   "spec": {"tenant": "acme", "version": "1.31.4", "colour": "blue"}}),
        ),
        // The two CEL steps are dry runs, so that a server accepting them would not store a
        // difference that shows again in every later step reading these objects.
        Step::post(
            "create with duplicate node pool names (CEL)",
            format!("{MCS}?fieldManager=script&dryRun=All"),
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
                   "metadata": {"name": "mc-dup"},
                   "spec": {"tenant": "acme", "version": "1.31.4",
                            "nodePools": [{"name": "a", "replicas": 1}, {"name": "a", "replicas": 2}]}}),
        ),
        Step::patch(
            "change the immutable tenant (CEL transition rule)",
            format!("{MCS}/mc-1?fieldManager=script&dryRun=All"),
            MERGE_PATCH,
            json!({"spec": {"tenant": "other"}}),
        ),
        Step::patch(
            "merge patch of status on the main resource (ignored)",
            format!("{MCS}/mc-1?fieldManager=script"),
            MERGE_PATCH,
            json!({"status": {"phase": "Ignored"}, "spec": {"pauseUpgrades": true}}),
        ),
        Step::patch(
            "merge patch of the status subresource",
            format!("{MCS}/mc-1/status?fieldManager=controller"),
            MERGE_PATCH,
            json!({"status": {"phase": "Ready", "seed": "seed-1", "controlPlaneVersion": "1.31.4"},
                   "spec": {"version": "9.9.9"}}),
        ),
        Step::get("get the status subresource", format!("{MCS}/mc-1/status")),
        Step::patch(
            "typed status in its stored forms",
            format!("{MCS}/mc-1/status?fieldManager=controller"),
            MERGE_PATCH,
            json!({"status": {
                "inProgress": {"target": "pool/p1", "from": "1.31.4", "to": "1.32.0",
                               "startedAt": "2026-01-05T00:00:00Z"},
                "problems": [{"component": "machine/p1/m-1", "condition": "NotReady",
                              "since": "2026-01-05T00:01:00Z"}],
                "remediationHistory": [{"at": "2026-01-05T00:02:00Z",
                    "component": "control-plane/etcd",
                    "action": "{\"action\":\"restart_component\",\"component\":\"etcd\"}"}]}}),
        ),
        Step::patch(
            "hand-edited status the controller could not read (Invalid, by pattern)",
            format!("{MCS}/mc-1/status?fieldManager=script"),
            MERGE_PATCH,
            json!({"status": {
                "controlPlaneVersion": "latest",
                "inProgress": {"target": "node/x", "from": "1.31.4", "to": "1.32.0",
                               "startedAt": "yesterday"},
                "problems": [{"component": "machine/m-1", "condition": "NotReady",
                              "since": "2026-01-05T00:01:00Z"}],
                "remediationHistory": [{"at": "2026-01-05T00:02:00Z",
                    "component": "control-plane/etcd", "action": "reboot"}]}}),
        ),
        Step::patch(
            "apply status as the controller",
            format!("{MCS}/mc-2/status?fieldManager=fleetward&force=true"),
            APPLY_PATCH,
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
                   "metadata": {"name": "mc-2"}, "status": {"phase": "Provisioning"}}),
        ),
        Step::patch(
            "json patch of a custom resource",
            format!("{MCS}/mc-2?fieldManager=script"),
            JSON_PATCH,
            json!([{"op": "replace", "path": "/spec/version", "value": "1.30.1"}]),
        ),
        Step::patch(
            "strategic merge patch of a custom resource (UnsupportedMediaType)",
            format!("{MCS}/mc-2?fieldManager=script"),
            STRATEGIC_PATCH,
            json!({"spec": {"version": "1.30.2"}}),
        ),
        Step::patch(
            "apply a custom resource as the controller",
            format!("{MCS}/mc-3?fieldManager=fleetward"),
            APPLY_PATCH,
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
                   "metadata": {"name": "mc-3", "labels": {"fleetward.dev/tenant": "acme"}},
                   "spec": {"tenant": "acme", "version": "1.31.4",
                            "nodePools": [{"name": "p1", "replicas": 2}]}}),
        ),
        Step::patch(
            "apply the custom resource conflicting (Conflict)",
            format!("{MCS}/mc-3?fieldManager=operator"),
            APPLY_PATCH,
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
                   "metadata": {"name": "mc-3"},
                   "spec": {"tenant": "acme", "version": "1.32.0"}}),
        ),
        Step::put(
            "update a custom resource without a resourceVersion (Invalid)",
            format!("{MCS}/mc-3?fieldManager=script"),
            managed_cluster("mc-3", "1.31.5"),
        ),
        Step::get(
            "list custom resources by label, paged",
            format!("{MCS}?labelSelector=fleetward.dev%2Ftenant%3Dacme&limit=2"),
        ),
        Step::get(
            "list custom resources by an unsupported field (BadRequest)",
            format!("{MCS}?fieldSelector=spec.tenant%3Dacme"),
        ),
        Step::post(
            "create a tenant",
            format!("{TENANTS}?fieldManager=script"),
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "Tenant",
                   "metadata": {"name": "acme"}, "spec": {}}),
        ),
        Step::patch(
            "tenant status with conditions",
            format!("{TENANTS}/acme/status?fieldManager=controller"),
            MERGE_PATCH,
            json!({"status": {"conditions": [
                {"type": "PoliciesReady", "status": "True", "reason": "Loaded",
                 "message": "ok", "lastTransitionTime": "2026-01-05T00:00:00Z"}]}}),
        ),
        Step::post(
            "create with a finalizer (custom resource)",
            format!("{MCS}?fieldManager=script"),
            json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
                   "metadata": {"name": "mc-fin", "finalizers": ["fleetward.dev/cleanup"]},
                   "spec": {"tenant": "acme", "version": "1.31.4"}}),
        ),
        Step::delete(
            "delete held by a finalizer (custom resource)",
            format!("{MCS}/mc-fin"),
            None,
        ),
        Step::patch(
            "remove the finalizer (custom resource)",
            format!("{MCS}/mc-fin?fieldManager=script"),
            MERGE_PATCH,
            json!({"metadata": {"finalizers": null}}),
        ),
        Step::delete("delete a custom resource", format!("{MCS}/mc-2"), None),
    ]
}

fn tables() -> Vec<Step> {
    vec![
        Step::get("table of managedclusters", MCS).accept(TABLE),
        Step::get("table of one managedcluster", format!("{MCS}/mc-1")).accept(TABLE),
        Step::get("table of tenants (JSONPath filters)", TENANTS).accept(TABLE),
        Step::get(
            "table of configmaps without objects",
            format!("{CMS}?includeObject=None"),
        )
        .accept(TABLE),
        Step::get(
            "table of the namespace",
            "/api/v1/namespaces?fieldSelector=metadata.name%3Ddiff",
        )
        .accept(TABLE),
    ]
}

/// An Event recorded through `events.k8s.io/v1` (as the controller does) is the core Event
/// `kubectl describe` lists by `involvedObject`: one storage, two views.
fn events() -> Vec<Step> {
    vec![
        Step::post(
            "record an event through events.k8s.io/v1",
            format!("{EVENTS_V1}?fieldManager=script"),
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                   "metadata": {"name": "cm-a.1"},
                   "eventTime": "2026-01-05T00:00:00.000000Z",
                   "reportingController": "fleetward.dev/controller",
                   "reportingInstance": "fleetward-0",
                   "action": "Reconcile", "reason": "Placed", "type": "Normal",
                   "regarding": {"apiVersion": "v1", "kind": "ConfigMap",
                                 "namespace": NS, "name": "cm-a"},
                   "note": "placed on seed-1"}),
        ),
        Step::get(
            "the event through core v1 by involvedObject (kubectl describe)",
            format!(
                "{CORE_EVENTS}?fieldSelector=involvedObject.kind%3DConfigMap,involvedObject.name%3Dcm-a"
            ),
        ),
        Step::patch(
            "a series update through events.k8s.io/v1",
            format!("{EVENTS_V1}/cm-a.1?fieldManager=script"),
            MERGE_PATCH,
            json!({"series": {"count": 2, "lastObservedTime": "2026-01-05T00:01:00.000000Z"}}),
        ),
        Step::get(
            "the event through events.k8s.io/v1 by regarding",
            format!("{EVENTS_V1}?fieldSelector=regarding.name%3Dcm-a"),
        ),
        Step::get("the event through core v1", format!("{CORE_EVENTS}/cm-a.1")),
    ]
}

fn namespace_deletion() -> Vec<Step> {
    vec![
        Step::delete("delete the tenant", format!("{TENANTS}/acme"), None),
        Step::delete("delete the namespace", "/api/v1/namespaces/diff", None),
        Step::post(
            "create in a terminating namespace (Forbidden)",
            format!("{CMS}?fieldManager=script"),
            cm("late", json!({}), json!({})),
        ),
        Step::wait_until_gone("namespace deleted", "/api/v1/namespaces/diff"),
    ]
}
