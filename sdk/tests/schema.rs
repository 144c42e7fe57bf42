//! `docs/schema/*.json` are the JSON Schemas `fleetward_sdk::schema` generates from the wire
//! types: a changed type without regenerated schemas fails here, with the command to run.

use std::collections::BTreeSet;
use std::path::PathBuf;

const REGENERATE: &str = "FLEETWARD_BLESS=1 cargo test -p fleetward-sdk --test schema";

#[test]
fn docs_schema_matches_the_wire_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/schema");
    let bless = std::env::var_os("FLEETWARD_BLESS").is_some();
    let documents = fleetward_sdk::schema::documents();
    let mut stale = Vec::new();
    for (name, schema) in &documents {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(schema).unwrap() + "\n";
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(format!("docs/schema/{name}"));
        }
    }
    let wanted: BTreeSet<&str> = documents.iter().map(|(n, _)| n.as_str()).collect();
    let extra: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".json") && !wanted.contains(n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "docs/schema/ does not match the wire types in sdk/src/wire/: out of date {stale:?}, \
         no longer generated {extra:?}.\nRegenerate with `{REGENERATE}` (and delete files no \
         longer generated), then review and commit docs/schema/."
    );
}

#[test]
fn every_call_has_its_four_documents_and_envelopes_pin_the_call() {
    let documents = fleetward_sdk::schema::documents();
    let names: Vec<&str> = documents.iter().map(|(n, _)| n.as_str()).collect();
    for call in ["placement", "upgrade_ordering", "remediation"] {
        for part in ["input", "request", "output", "decision"] {
            let name = format!("{call}.{part}.json");
            assert!(names.contains(&name.as_str()), "{name} missing: {names:?}");
        }
    }
    for (name, schema) in &documents {
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        if let Some(call) = name.strip_suffix(".input.json") {
            assert_eq!(schema["properties"]["decision"]["const"], call, "{name}");
            assert_eq!(schema["properties"]["abi_version"]["const"], 1, "{name}");
        }
    }
}
