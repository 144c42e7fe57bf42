//! JSON Schemas (draft 2020-12) of every wire document, generated from the types in
//! [`crate::wire`], so an author in another language reads the contract without reading Rust.
//!
//! The committed copies live in `docs/schema/` and a test (`sdk/tests/schema.rs`) regenerates
//! and compares them. The schemas describe what the SDK and the host **accept** (serde's
//! deserialisation): a property not in `required` may be omitted, and an `Option` field also
//! accepts `null`. What the host sends is always valid against them; see `docs/abi.md` for what
//! it omits. Native only: schemars never reaches a Wasm module.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use crate::wire::{
    InputEnvelope, KubeVersion, OutputEnvelope, PlacementDecision, PlacementRequest,
    RemediationDecision, RemediationRequest, Timestamp, UpgradeDecision, UpgradeRequest,
};

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An RFC 3339 time. The host sends UTC with whole seconds \
                (`2026-11-25T17:00:00Z`); fractions and offsets are accepted and read as the \
                same instant, truncated to the second.",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
        })
    }
}

impl JsonSchema for KubeVersion {
    fn schema_name() -> Cow<'static, str> {
        "KubeVersion".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A Kubernetes version `MAJOR.MINOR.PATCH` (`1.31.4`); `MAJOR.MINOR` \
                (patch 0) and a leading `v` are accepted. The host sends `MAJOR.MINOR.PATCH`.",
            "pattern": "^v?[0-9]+\\.[0-9]+(\\.[0-9]+)?$"
        })
    }
}

/// Every schema as `(file name in docs/schema/, schema)`, in a fixed order, keys sorted.
pub fn documents() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    decision::<PlacementRequest, PlacementDecision>(&mut out, "placement", "fleetward_place");
    decision::<UpgradeRequest, UpgradeDecision>(
        &mut out,
        "upgrade_ordering",
        "fleetward_order_upgrades",
    );
    decision::<RemediationRequest, RemediationDecision>(
        &mut out,
        "remediation",
        "fleetward_remediate",
    );
    out.push((
        "validate_config.input.json".to_string(),
        input::<()>(
            "validate_config",
            "The input envelope of `fleetward_validate_config`: the tenant's config, `request` null.",
        ),
    ));
    out.push((
        "validate_config.output.json".to_string(),
        root::<OutputEnvelope<()>>(
            "validate_config output envelope",
            "What `fleetward_validate_config` returns: `{\"ok\": null}` accepts the config, \
             `{\"error\": {...}}` rejects it with the policy's message.",
        ),
    ));
    out.into_iter().map(|(name, v)| (name, sorted(v))).collect()
}

/// `value` with every object's keys in sorted order, whatever serde_json's `preserve_order`.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn decision<Req: JsonSchema, Dec: JsonSchema>(
    out: &mut Vec<(String, Value)>,
    name: &str,
    export: &str,
) {
    let file = |suffix: &str| format!("{name}.{suffix}.json");
    out.push((
        file("request"),
        root::<Req>(
            &format!("{name} request"),
            &format!("The `request` of a {name} call's input envelope (`{export}`)."),
        ),
    ));
    out.push((
        file("decision"),
        root::<Dec>(
            &format!("{name} decision"),
            &format!("The `ok` of a {name} call's output envelope (`{export}`)."),
        ),
    ));
    out.push((
        file("input"),
        input::<Req>(
            name,
            &format!("The input envelope the host writes for `{export}`."),
        ),
    ));
    out.push((
        file("output"),
        root::<OutputEnvelope<Dec>>(
            &format!("{name} output envelope"),
            &format!("What `{export}` returns: exactly one of `ok` (the decision) or `error`."),
        ),
    ));
}

/// An input envelope's schema with `abi_version` and `decision` pinned to this call.
fn input<Req: JsonSchema>(call: &str, description: &str) -> Value {
    let mut schema = root::<InputEnvelope<Req>>(&format!("{call} input envelope"), description);
    let props = &mut schema["properties"];
    props["abi_version"] = json!({"const": crate::wire::ABI_VERSION});
    props["decision"] = json!({"const": call});
    schema
}

fn root<T: JsonSchema>(title: &str, description: &str) -> Value {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
    value["title"] = Value::String(title.to_string());
    value["description"] = Value::String(description.to_string());
    value
}
