//! The built-in kinds served from start-up, with the real server's names and flags.
//!
//! Plural names, short names, scope and subresources match kube-apiserver 1.34 so that
//! `kubectl get deploy` and kube's discovery resolve exactly as against a real cluster. The
//! Cluster API kinds are served as preregistered CRD-like kinds with a permissive schema.

use crate::registry::{PrinterColumn, ResourceType, ScalePaths};

struct Def {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
    custom: bool,
    create_on_update: bool,
    fields: &'static [&'static str],
}

const fn def(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
) -> Def {
    Def {
        group,
        version,
        plural,
        kind,
        namespaced: true,
        short: &[],
        categories: &[],
        status: false,
        scale: false,
        generation: false,
        custom: false,
        create_on_update: false,
        fields: &[],
    }
}

/// Core Event field selectors (the `events.k8s.io/v1` view's are [`crate::events::V1_FIELDS`]).
pub(crate) const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

fn defs() -> Vec<Def> {
    vec![
        Def {
            namespaced: false,
            short: &["ns"],
            status: true,
            fields: &["status.phase"],
            ..def("", "v1", "namespaces", "Namespace")
        },
        Def {
            short: &["cm"],
            ..def("", "v1", "configmaps", "ConfigMap")
        },
        Def {
            fields: &["type"],
            ..def("", "v1", "secrets", "Secret")
        },
        Def {
            short: &["svc"],
            categories: &["all"],
            status: true,
            ..def("", "v1", "services", "Service")
        },
        Def {
            short: &["sa"],
            ..def("", "v1", "serviceaccounts", "ServiceAccount")
        },
        Def {
            short: &["ev"],
            create_on_update: true,
            fields: EVENT_FIELDS,
            ..def("", "v1", "events", "Event")
        },
        Def {
            short: &["ev"],
            create_on_update: true,
            fields: crate::events::V1_FIELDS,
            ..def("events.k8s.io", "v1", "events", "Event")
        },
        Def {
            short: &["deploy"],
            categories: &["all"],
            status: true,
            scale: true,
            generation: true,
            ..def("apps", "v1", "deployments", "Deployment")
        },
        Def {
            short: &["sts"],
            categories: &["all"],
            status: true,
            scale: true,
            generation: true,
            ..def("apps", "v1", "statefulsets", "StatefulSet")
        },
        Def {
            create_on_update: true,
            ..def("coordination.k8s.io", "v1", "leases", "Lease")
        },
        Def {
            short: &["pdb"],
            status: true,
            generation: true,
            ..def(
                "policy",
                "v1",
                "poddisruptionbudgets",
                "PodDisruptionBudget",
            )
        },
        def("rbac.authorization.k8s.io", "v1", "roles", "Role"),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
        ),
        Def {
            namespaced: false,
            ..def(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterroles",
                "ClusterRole",
            )
        },
        Def {
            namespaced: false,
            ..def(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterrolebindings",
                "ClusterRoleBinding",
            )
        },
        Def {
            namespaced: false,
            short: &["crd", "crds"],
            categories: &["api-extensions"],
            status: true,
            generation: true,
            ..def(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
            )
        },
        Def {
            short: &["md"],
            categories: &["cluster-api"],
            status: true,
            scale: true,
            generation: true,
            custom: true,
            ..def(
                "cluster.x-k8s.io",
                "v1beta1",
                "machinedeployments",
                "MachineDeployment",
            )
        },
        Def {
            short: &["ms"],
            categories: &["cluster-api"],
            status: true,
            scale: true,
            generation: true,
            custom: true,
            ..def("cluster.x-k8s.io", "v1beta1", "machinesets", "MachineSet")
        },
        Def {
            short: &["ma"],
            categories: &["cluster-api"],
            status: true,
            generation: true,
            custom: true,
            ..def("cluster.x-k8s.io", "v1beta1", "machines", "Machine")
        },
    ]
}

fn col(name: &str, type_: &str, json_path: &str, priority: i64) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        json_path: json_path.into(),
        priority,
        description: if json_path == ".metadata.creationTimestamp" {
            crate::api::table::CREATION_TIMESTAMP_DESCRIPTION.into()
        } else {
            String::new()
        },
    }
}

/// `kubectl get` columns after NAME, approximating the real server's printers with JSON paths.
fn columns(kind: &str) -> Vec<PrinterColumn> {
    let age = col("Age", "date", ".metadata.creationTimestamp", 0);
    match kind {
        "Namespace" => vec![col("Status", "string", ".status.phase", 0), age],
        "ConfigMap" => vec![col("Data", "integer", "len(.data)", 0), age],
        "Secret" => vec![
            col("Type", "string", ".type", 0),
            col("Data", "integer", "len(.data)", 0),
            age,
        ],
        "Service" => vec![
            col("Type", "string", ".spec.type", 0),
            col("Cluster-IP", "string", ".spec.clusterIP", 0),
            age,
        ],
        "Deployment" => vec![
            col(
                "Ready",
                "string",
                "ratio(.status.readyReplicas,.spec.replicas)",
                0,
            ),
            col("Up-to-date", "integer", ".status.updatedReplicas", 0),
            col("Available", "integer", ".status.availableReplicas", 0),
            age,
        ],
        "StatefulSet" => vec![
            col(
                "Ready",
                "string",
                "ratio(.status.readyReplicas,.spec.replicas)",
                0,
            ),
            age,
        ],
        "Lease" => vec![col("Holder", "string", ".spec.holderIdentity", 0), age],
        "ServiceAccount" => vec![col("Secrets", "integer", "len(.secrets)", 0), age],
        "PodDisruptionBudget" => vec![
            col("Min Available", "string", ".spec.minAvailable", 0),
            col("Max Unavailable", "string", ".spec.maxUnavailable", 0),
            col(
                "Allowed Disruptions",
                "integer",
                ".status.disruptionsAllowed",
                0,
            ),
            age,
        ],
        "Role" | "ClusterRole" => vec![col(
            "Created At",
            "string",
            ".metadata.creationTimestamp",
            0,
        )],
        "RoleBinding" | "ClusterRoleBinding" => vec![
            col("Role", "string", "join(/,.roleRef.kind,.roleRef.name)", 0),
            age,
        ],
        "Event" => vec![
            col("Type", "string", ".type", 0),
            col("Reason", "string", ".reason", 0),
            col("Message", "string", ".message", 0),
            age,
        ],
        "CustomResourceDefinition" => vec![col(
            "Created At",
            "string",
            ".metadata.creationTimestamp",
            0,
        )],
        "MachineDeployment" | "MachineSet" => vec![
            col("Cluster", "string", ".spec.clusterName", 0),
            col("Replicas", "integer", ".status.replicas", 0),
            col("Ready", "integer", ".status.readyReplicas", 0),
            col("Phase", "string", ".status.phase", 0),
            age,
            col("Version", "string", ".spec.template.spec.version", 0),
        ],
        "Machine" => vec![
            col("Cluster", "string", ".spec.clusterName", 0),
            col("Phase", "string", ".status.phase", 0),
            age,
            col("Version", "string", ".spec.version", 0),
        ],
        _ => vec![age],
    }
}

/// Every built-in type, ready to insert into a [`crate::registry::Registry`].
pub fn builtins() -> Vec<ResourceType> {
    defs()
        .into_iter()
        .map(|d| ResourceType {
            group: d.group.into(),
            version: d.version.into(),
            plural: d.plural.into(),
            singular: d.kind.to_lowercase(),
            kind: d.kind.into(),
            namespaced: d.namespaced,
            short_names: d.short.iter().map(|s| s.to_string()).collect(),
            categories: d.categories.iter().map(|s| s.to_string()).collect(),
            status_subresource: d.status,
            scale: d.scale.then(|| ScalePaths {
                spec_replicas: ".spec.replicas".into(),
                status_replicas: ".status.replicas".into(),
                label_selector: Some(".status.selector".into()),
            }),
            tracks_generation: d.generation,
            unconditional_update: !d.custom,
            create_on_update: d.create_on_update,
            custom: d.custom,
            schema: None,
            selectable_fields: d.fields.iter().map(|s| s.to_string()).collect(),
            printer_columns: columns(d.kind),
        })
        .collect()
}

/// Namespaces that exist from start-up, as in a fresh cluster.
pub const INITIAL_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];
