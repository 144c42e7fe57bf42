//! The built-in kinds served from start-up, with the real server's names and flags.
//!
//! Plural names, short names, scope and subresources match kube-apiserver 1.34 so that
//! `kubectl get deploy` and kube's discovery resolve exactly as against a real cluster. The
//! Cluster API kinds are served as preregistered CRD-like kinds with a permissive schema.

use crate::registry::{ResourceType, ScalePaths};

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

const EVENT_FIELDS: &[&str] = &[
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
            short: &["ev"],
            create_on_update: true,
            fields: EVENT_FIELDS,
            ..def("", "v1", "events", "Event")
        },
        Def {
            short: &["ev"],
            create_on_update: true,
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
        })
        .collect()
}

/// Namespaces that exist from start-up, as in a fresh cluster.
pub const INITIAL_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];
