//! OpenAPI v3 documents: kubectl's field-validation probe and `kubectl explain`.
//!
//! `kubectl apply` (client- and server-side) checks, per GroupVersionKind, whether the server's
//! OpenAPI v3 PATCH operation lists the `fieldValidation` query parameter; if it does, kubectl
//! leaves validation to the server instead of downloading the OpenAPI v2 (protobuf) document,
//! which the emulator does not serve ("failed to download openapi" when a kind is missing
//! here). So each group-version document declares the path operations of its kinds with their
//! `x-kubernetes-group-version-kind` and query parameters. `kubectl explain` reads the kinds'
//! schemas from `components.schemas` ([`super::schemas`]).
//!
//! `/openapi/v2` is a valid but empty document ([`v2`]): kubectl still asks for it where v3 has
//! no answer (a manifest of a kind no server serves, such as a `kustomization.yaml` under
//! `kubectl apply -f DIR`; client-side apply's strategic merge patch). With no definitions in
//! it, kubectl skips client-side validation and builds patches from its compiled-in types, as
//! it does for any kind the document does not describe, and the real error surfaces (`no
//! matches for kind "Kustomization"`) instead of "failed to download openapi".

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceType};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of group-version documents.
pub fn index(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in reg.groups() {
        for v in versions {
            let p = gv_path(&group, &v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// The `Content-Type` of `/openapi/v2` in protobuf, as the real server sends it (kubectl asks
/// for `…spec.v2@v1.0+protobuf`, but Go's MIME parser rejects the `@` in a response).
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2`: `swagger: "2.0"`, `info`, and empty `paths` and `definitions`; as the
/// protobuf `openapi.v2.Document` (gnostic) when `protobuf`, else as JSON. Returns the body and
/// its content type.
pub fn v2(protobuf: bool) -> (Vec<u8>, &'static str) {
    const TITLE: &[u8] = b"Kubernetes";
    const VERSION: &[u8] = b"v1.34.0";
    if !protobuf {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.34.0"},
            "paths": {}, "definitions": {}});
        return (doc.to_string().into_bytes(), "application/json");
    }
    // Length-delimited fields; every length here is below 128, so one byte.
    let field = |number: u8, bytes: &[u8]| -> Vec<u8> {
        let mut f = vec![number << 3 | 2, bytes.len() as u8];
        f.extend_from_slice(bytes);
        f
    };
    let info = [field(1, TITLE), field(2, VERSION)].concat();
    let doc = [
        field(1, b"2.0"),
        field(2, &info),
        field(8, b""),
        field(9, b""),
    ]
    .concat();
    (doc, V2_PROTOBUF)
}

fn params() -> Value {
    let q = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": true});
    json!([
        q("dryRun"),
        q("fieldManager"),
        q("fieldValidation"),
        q("force")
    ])
}

fn operations(rt: &ResourceType) -> Value {
    let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let op = |action: &str| {
        json!({
            "operationId": format!("{action}{}", rt.kind),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": params(),
            "responses": {"200": {"description": "OK"}}
        })
    };
    json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")})
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/{g}/{v}`, if served.
pub fn group_version(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut paths = Map::new();
    for rt in reg
        .all()
        .filter(|t| t.group == group && t.version == version)
    {
        let base = format!("/{}", gv_path(group, version));
        let p = if rt.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("{base}/{}/{{name}}", rt.plural)
        };
        paths.insert(p, operations(rt));
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": paths,
        "components": {"schemas": super::schemas::components(
            reg.all()
                .filter(|t| t.group == group && t.version == version)
                .map(|t| &**t)
        )}
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::wire::{Fields, WireValue};

    #[test]
    fn v2_document_is_well_formed_protobuf_and_json() {
        let (pb, ct) = v2(true);
        assert_eq!(ct, V2_PROTOBUF);
        let fields: Vec<(u32, WireValue<'_>)> = Fields::new(&pb).collect::<Result<_, _>>().unwrap();
        assert_eq!(fields[0], (1, WireValue::Bytes(b"2.0")));
        let WireValue::Bytes(info) = fields[1].1 else {
            panic!("info is a message")
        };
        let info: Vec<_> = Fields::new(info).collect::<Result<_, _>>().unwrap();
        assert_eq!(info[0], (1, WireValue::Bytes(b"Kubernetes")));
        assert_eq!(
            fields[2..],
            [(8, WireValue::Bytes(b"")), (9, WireValue::Bytes(b""))]
        );
        let (js, ct) = v2(false);
        assert_eq!(ct, "application/json");
        let doc: Value = serde_json::from_slice(&js).unwrap();
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["definitions"], json!({}));
    }
}
