//! `components.schemas` of the OpenAPI v3 group-version documents: what `kubectl explain`
//! reads.
//!
//! kubectl finds a kind's schema by its `x-kubernetes-group-version-kind` extension and follows
//! `$ref`s within the same document. Built-in kinds take the schemas `k8s-openapi` generates from
//! the upstream OpenAPI (same names, `io.k8s.api.core.v1.ConfigMap`, and descriptions as the
//! real server); custom resources take their CRD version's `openAPIV3Schema` with `apiVersion`,
//! `kind` and `metadata` added, as the real server publishes them. The schemas carry no
//! `x-kubernetes-patch-*` extensions and the PATCH operations declare no request body, so
//! client-side `kubectl apply` keeps computing strategic merge patches from its compiled-in
//! types (kubectl uses a v3 schema for that only when the operation lists
//! `application/strategic-merge-patch+json`).

use k8s_openapi::api::{apps, coordination, core, events, policy, rbac};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::registry::ResourceType;

/// The `$ref` of a schema generated as a definition, reduced to the definition's name.
fn ref_name(schema: &schemars::Schema) -> Option<String> {
    schema
        .get("$ref")?
        .as_str()?
        .strip_prefix("#/components/schemas/")
        .map(str::to_string)
}

/// The generated schema of a built-in kind, if the emulator serves it at this version.
fn builtin(g: &mut SchemaGenerator, rt: &ResourceType) -> Option<schemars::Schema> {
    let schema = match (rt.group.as_str(), rt.version.as_str(), rt.kind.as_str()) {
        ("", "v1", "Namespace") => g.subschema_for::<core::v1::Namespace>(),
        ("", "v1", "ConfigMap") => g.subschema_for::<core::v1::ConfigMap>(),
        ("", "v1", "Secret") => g.subschema_for::<core::v1::Secret>(),
        ("", "v1", "Service") => g.subschema_for::<core::v1::Service>(),
        ("", "v1", "ServiceAccount") => g.subschema_for::<core::v1::ServiceAccount>(),
        ("", "v1", "Event") => g.subschema_for::<core::v1::Event>(),
        ("events.k8s.io", "v1", "Event") => g.subschema_for::<events::v1::Event>(),
        ("apps", "v1", "Deployment") => g.subschema_for::<apps::v1::Deployment>(),
        ("apps", "v1", "StatefulSet") => g.subschema_for::<apps::v1::StatefulSet>(),
        ("coordination.k8s.io", "v1", "Lease") => g.subschema_for::<coordination::v1::Lease>(),
        ("policy", "v1", "PodDisruptionBudget") => {
            g.subschema_for::<policy::v1::PodDisruptionBudget>()
        }
        ("rbac.authorization.k8s.io", "v1", "Role") => g.subschema_for::<rbac::v1::Role>(),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding") => {
            g.subschema_for::<rbac::v1::RoleBinding>()
        }
        ("rbac.authorization.k8s.io", "v1", "ClusterRole") => {
            g.subschema_for::<rbac::v1::ClusterRole>()
        }
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => {
            g.subschema_for::<rbac::v1::ClusterRoleBinding>()
        }
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => {
            g.subschema_for::<CustomResourceDefinition>()
        }
        _ => return None,
    };
    Some(schema)
}

/// The real server's definition name of a custom resource: `dev.fleetward.v1alpha1.Tenant`.
fn custom_name(rt: &ResourceType) -> String {
    let reversed: Vec<&str> = rt.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind)
}

/// A custom resource's published schema: its `openAPIV3Schema` (or, without one, any object)
/// with `apiVersion`, `kind` and `metadata` as the real server adds them.
fn custom(rt: &ResourceType, object_meta: &str) -> Value {
    let mut schema =
        rt.schema.as_deref().cloned().unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
    if !schema.is_object() {
        schema = json!({"type": "object"});
    }
    let props = schema
        .as_object_mut()
        .map(|s| s.entry("properties").or_insert_with(|| json!({})));
    if let Some(Value::Object(props)) = props {
        props.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}),
        );
        props.insert(
            "kind".into(),
            json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}),
        );
        props.insert(
            "metadata".into(),
            json!({"allOf": [{"$ref": format!("#/components/schemas/{object_meta}")}], "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
        );
    }
    schema
}

/// `components.schemas` for the kinds of one group-version.
pub fn components<'a>(types: impl Iterator<Item = &'a ResourceType>) -> Map<String, Value> {
    let mut g = SchemaSettings::openapi3().into_generator();
    let object_meta = ref_name(&g.subschema_for::<ObjectMeta>()).unwrap_or_default();
    let mut kinds: Vec<(String, &ResourceType)> = Vec::new();
    let mut customs: Vec<(String, Value)> = Vec::new();
    for rt in types {
        match builtin(&mut g, rt).and_then(|s| ref_name(&s)) {
            Some(name) if !rt.custom => kinds.push((name, rt)),
            _ => {
                let name = custom_name(rt);
                customs.push((name.clone(), custom(rt, &object_meta)));
                kinds.push((name, rt));
            }
        }
    }
    let mut defs = g.take_definitions(true);
    defs.extend(customs);
    for (name, rt) in kinds {
        if let Some(Value::Object(schema)) = defs.get_mut(&name) {
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}]),
            );
        }
    }
    defs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::builtins;

    #[test]
    fn every_built_in_kind_has_a_schema_tagged_with_its_gvk() {
        let all = builtins();
        let defs = components(all.iter());
        for rt in &all {
            let tagged = defs.values().find(|s| {
                s["x-kubernetes-group-version-kind"]
                    == json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}])
            });
            let Some(schema) = tagged else {
                panic!("no schema for {}/{} {}", rt.group, rt.version, rt.kind);
            };
            assert!(schema["properties"]["metadata"].is_object(), "{}", rt.kind);
        }
        // Every `$ref` resolves inside the document.
        let text = serde_json::to_string(&defs).unwrap();
        for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &r[..r.find('"').unwrap()];
            assert!(defs.contains_key(name), "dangling $ref {name}");
        }
        assert!(
            defs["io.k8s.api.core.v1.ConfigMap"]["description"]
                .as_str()
                .unwrap()
                .starts_with("ConfigMap holds configuration data")
        );
    }

    #[test]
    fn a_custom_resource_gets_its_crd_schema_with_type_and_object_meta() {
        let mut rt = builtins()
            .into_iter()
            .find(|t| t.kind == "ConfigMap")
            .unwrap();
        rt.group = "fleetward.dev".into();
        rt.version = "v1alpha1".into();
        rt.kind = "Tenant".into();
        rt.custom = true;
        rt.schema = Some(std::sync::Arc::new(
            json!({"type": "object", "description": "A tenant.",
            "properties": {"spec": {"type": "object", "properties": {"paused": {"type": "boolean"}}}}}),
        ));
        let defs = components(std::iter::once(&rt));
        let t = &defs["dev.fleetward.v1alpha1.Tenant"];
        assert_eq!(t["description"], "A tenant.");
        assert_eq!(
            t["properties"]["spec"]["properties"]["paused"]["type"],
            "boolean"
        );
        assert_eq!(t["properties"]["kind"]["type"], "string");
        let meta_ref = t["properties"]["metadata"]["allOf"][0]["$ref"]
            .as_str()
            .unwrap();
        let meta = meta_ref.strip_prefix("#/components/schemas/").unwrap();
        assert!(defs[meta]["properties"]["labels"].is_object());
        assert_eq!(
            t["x-kubernetes-group-version-kind"],
            json!([{"group": "fleetward.dev", "version": "v1alpha1", "kind": "Tenant"}])
        );
    }
}
