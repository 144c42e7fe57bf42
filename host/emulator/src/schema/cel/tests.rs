//! The walk over schema and object: Fleetward's own rules from `deploy/crds.yaml`, transition
//! rules, ratcheting, blocking schema errors, skipping, and the error formats.

use serde_json::{Value, json};

use super::parse::parse;
use crate::schema::{FieldErrorKind, validate_and_prune, validate_rules};

/// Every CRD in `deploy/crds.yaml`, by kind.
fn crd_schema(kind: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/crds.yaml");
    let text = std::fs::read_to_string(path).expect("deploy/crds.yaml");
    for doc in text.split("\n---") {
        if doc.trim().is_empty() {
            continue;
        }
        let crd: Value = serde_saphyr::from_str(doc).expect("a CRD");
        if crd["spec"]["names"]["kind"] == kind {
            return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
        }
    }
    panic!("no CRD for {kind} in deploy/crds.yaml");
}

fn rules_in(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(rules) = map
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
            {
                out.extend(
                    rules
                        .iter()
                        .filter_map(|r| r["rule"].as_str())
                        .map(str::to_owned),
                );
            }
            map.values().for_each(|v| rules_in(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| rules_in(v, out)),
        _ => {}
    }
}

/// Defaults and prunes like a write, then runs the rules; the messages.
fn check(schema: &Value, obj: &Value, old: Option<&Value>) -> Vec<String> {
    let mut obj = obj.clone();
    let schema_errors = validate_and_prune(&mut obj, schema)
        .err()
        .unwrap_or_default();
    let mut old = old.cloned();
    if let Some(o) = old.as_mut() {
        let _ = validate_and_prune(o, schema);
    }
    let mut messages: Vec<String> = schema_errors.iter().map(|e| e.message.clone()).collect();
    messages.extend(
        validate_rules(&obj, old.as_ref(), schema, &schema_errors)
            .into_iter()
            .map(|e| e.message),
    );
    messages
}

fn cluster(spec: Value) -> Value {
    json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
           "metadata": {"name": "c", "namespace": "team-a"}, "spec": spec})
}

#[test]
fn every_rule_of_deploy_crds_is_in_the_subset() {
    let mut rules = Vec::new();
    for kind in ["ManagedCluster", "Seed", "Tenant"] {
        rules_in(&crd_schema(kind), &mut rules);
    }
    assert!(rules.len() >= 4, "{rules:?}");
    for rule in &rules {
        parse(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
    }
}

#[test]
fn duplicate_node_pool_names_are_refused_with_the_crd_message() {
    let schema = crd_schema("ManagedCluster");
    let ok = cluster(json!({"tenant": "a", "version": "1.31.2",
        "nodePools": [{"name": "w", "replicas": 1}, {"name": "x", "replicas": 2}]}));
    assert!(check(&schema, &ok, None).is_empty());
    let dup = cluster(json!({"tenant": "a", "version": "1.31.2",
        "nodePools": [{"name": "w", "replicas": 1}, {"name": "w", "replicas": 2}]}));
    assert_eq!(
        check(&schema, &dup, None),
        [r#"spec.nodePools: Invalid value: node pool names must be unique"#]
    );
    let errors = validate_rules(&dup, None, &schema, &[]);
    assert_eq!(errors[0].path, "spec.nodePools");
    assert_eq!(errors[0].kind, FieldErrorKind::Invalid);
    assert_eq!(
        errors[0].cause_message(),
        r#"Invalid value: node pool names must be unique"#
    );
}

#[test]
fn the_tenant_is_immutable_on_update_only() {
    let schema = crd_schema("ManagedCluster");
    let old = cluster(json!({"tenant": "a", "version": "1.31.2"}));
    let moved = cluster(json!({"tenant": "b", "version": "1.31.2"}));
    assert!(
        check(&schema, &moved, None).is_empty(),
        "a create has no oldSelf"
    );
    assert_eq!(
        check(&schema, &moved, Some(&old)),
        [r#"spec: Invalid value: spec.tenant is immutable"#]
    );
    let upgraded = cluster(json!({"tenant": "a", "version": "1.32.0"}));
    assert!(check(&schema, &upgraded, Some(&old)).is_empty());
}

#[test]
fn seed_versions_need_major_and_minor() {
    let schema = crd_schema("Seed");
    let seed = |min: &str| {
        json!({"apiVersion": "fleetward.dev/v1alpha1", "kind": "Seed", "metadata": {"name": "s"},
               "spec": {"capacity": 10, "provider": "aws", "region": "eu", "minVersion": min, "maxVersion": "1.34"}})
    };
    assert!(check(&schema, &seed("1.30"), None).is_empty());
    let messages = check(&schema, &seed("130"), None);
    assert!(
        messages
            .contains(&r#"spec: Invalid value: minVersion must be MAJOR.MINOR[.PATCH]"#.to_owned()),
        "{messages:?}"
    );
}

#[test]
fn module_source_rule_on_the_tenant() {
    let schema = crd_schema("Tenant");
    let mut rules = Vec::new();
    rules_in(&schema, &mut rules);
    assert!(
        rules
            .iter()
            .any(|r| r == "has(self.configMap) != has(self.file)"),
        "{rules:?}"
    );
    // Find the first schema node carrying the rule and test it in place.
    fn find<'s>(s: &'s Value, path: &str, out: &mut Option<(String, &'s Value)>) {
        if out.is_some() {
            return;
        }
        if let Some(rules) = s.get("x-kubernetes-validations").and_then(Value::as_array)
            && rules
                .iter()
                .any(|r| r["rule"] == "has(self.configMap) != has(self.file)")
        {
            *out = Some((path.to_owned(), s));
            return;
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                find(v, &format!("{path}/{k}"), out);
            }
        }
        if let Some(items) = s.get("items") {
            find(items, &format!("{path}/0"), out);
        }
    }
    let mut found = None;
    find(&schema, "", &mut found);
    let (_, node) = found.expect("the module rule");
    let wrap = |module: Value| json!({"module": module});
    let node_schema = json!({"type": "object", "properties": {"module": node}});
    let run = |module: Value| {
        validate_rules(&wrap(module), None, &node_schema, &[])
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
    };
    assert!(run(json!({"file": "m.wasm"})).is_empty());
    assert!(
        run(json!({"file": "m.wasm", "configMap": null})).is_empty(),
        "null is absent"
    );
    assert_eq!(
        run(json!({"file": "m.wasm", "configMap": {"name": "c", "namespace": "n", "key": "k"}})),
        [r#"module: Invalid value: set exactly one of module.configMap or module.file"#]
    );
    assert_eq!(run(json!({"configMap": null, "file": null})).len(), 1);
}

#[test]
fn unchanged_values_are_ratcheted_changed_ones_are_not() {
    let schema = crd_schema("ManagedCluster");
    let stored = cluster(json!({"tenant": "a", "version": "1.31.2",
        "nodePools": [{"name": "w", "replicas": 1}, {"name": "w", "replicas": 2}]}));
    // An object stored before the rule existed: other fields may still change.
    let paused = cluster(
        json!({"tenant": "a", "version": "1.31.2", "pauseUpgrades": true,
        "nodePools": [{"name": "w", "replicas": 1}, {"name": "w", "replicas": 2}]}),
    );
    assert!(check(&schema, &paused, Some(&stored)).is_empty());
    let resized = cluster(json!({"tenant": "a", "version": "1.31.2",
        "nodePools": [{"name": "w", "replicas": 3}, {"name": "w", "replicas": 2}]}));
    assert_eq!(check(&schema, &resized, Some(&stored)).len(), 1);
}

#[test]
fn schema_errors_that_change_the_shape_block_the_rules() {
    let schema = crd_schema("ManagedCluster");
    // Missing tenant (Required): the duplicate pools are not checked.
    let obj = cluster(json!({"version": "1.31.2",
        "nodePools": [{"name": "w", "replicas": 1}, {"name": "w", "replicas": 2}]}));
    assert_eq!(
        check(&schema, &obj, None),
        [
            "spec.tenant: Required value",
            r#"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"#
        ]
    );
    // A bound violation does not block.
    let obj = cluster(json!({"tenant": "a", "version": "1.31.2",
        "nodePools": [{"name": "w", "replicas": -1}, {"name": "w", "replicas": 2}]}));
    let messages = check(&schema, &obj, None);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[1].ends_with("node pool names must be unique"),
        "{messages:?}"
    );
    // No rules in the schema: no notice.
    let plain =
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["a"]}}});
    let mut obj = json!({"spec": {}});
    let errors = validate_and_prune(&mut obj, &plain).unwrap_err();
    assert!(validate_rules(&obj, None, &plain, &errors).is_empty());
}

fn spec_schema(rules: Value, properties: Value) -> Value {
    json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": properties, "x-kubernetes-validations": rules}}})
}

#[test]
fn messages_reasons_and_field_paths() {
    let props = json!({"a": {"type": "integer"}, "b": {"type": "integer"}});
    let run = |rule: Value, spec: Value| {
        validate_rules(
            &json!({"spec": spec}),
            None,
            &spec_schema(json!([rule]), props.clone()),
            &[],
        )
        .into_iter()
        .map(|e| (e.path, e.kind, e.message))
        .collect::<Vec<_>>()
    };
    assert_eq!(
        run(json!({"rule": "self.a < self.b"}), json!({"a": 2, "b": 1})),
        [(
            "spec".into(),
            FieldErrorKind::Invalid,
            r#"spec: Invalid value: failed rule: self.a < self.b"#.into()
        )]
    );
    assert_eq!(
        run(
            json!({"rule": "self.a < self.b", "messageExpression": "'a must be below ' + string(self.b)", "message": "m"}),
            json!({"a": 2, "b": 1})
        )[0]
            .2,
        r#"spec: Invalid value: a must be below 1"#
    );
    assert_eq!(
        run(
            json!({"rule": "self.a < self.b", "reason": "FieldValueForbidden", "fieldPath": ".a", "message": "too big"}),
            json!({"a": 2, "b": 1})
        ),
        [(
            "spec.a".into(),
            FieldErrorKind::Forbidden,
            "spec.a: Forbidden: too big".into()
        )]
    );
    assert_eq!(
        run(
            json!({"rule": "self.a / self.b > 0", "message": "ratio"}),
            json!({"a": 2, "b": 0})
        )[0]
        .2,
        r#"spec: Invalid value: division by zero evaluating rule: ratio"#
    );
    assert_eq!(
        run(json!({"rule": "self.c == 1"}), json!({"a": 1}))[0].2,
        r#"spec: Invalid value: no such key: c evaluating rule: self.c == 1"#
    );
}

#[test]
fn rules_outside_the_subset_are_skipped_and_nulls_not_evaluated() {
    let props = json!({"a": {"type": "string", "nullable": true,
        "x-kubernetes-validations": [{"rule": "self.size() > 3"}]},
        "t": {"type": "string", "format": "date-time",
        "x-kubernetes-validations": [{"rule": "self == 'x'"}]}});
    let rules = json!([{"rule": "self.a.isSorted()"}, {"rule": "type(self) == int"}, {"rule": "self.?a == 'x'"},
                       {"rule": "has(self.a)", "optionalOldSelf": true}]);
    let schema = spec_schema(rules, props);
    let obj = json!({"spec": {"a": null, "t": "2026-01-05T00:00:00Z"}});
    assert!(validate_rules(&obj, None, &schema, &[]).is_empty());
    let obj = json!({"spec": {"a": "ab"}});
    assert_eq!(
        validate_rules(&obj, None, &schema, &[])
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>(),
        [r#"spec.a: Invalid value: failed rule: self.size() > 3"#]
    );
}

#[test]
fn transition_rules_correlate_map_list_items_by_key_only() {
    let item = json!({"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.size >= oldSelf.size", "message": "pools only grow"}]});
    let schema = |list_type: &str| {
        let mut pools = json!({"type": "array", "items": item.clone()});
        if list_type == "map" {
            pools["x-kubernetes-list-type"] = json!("map");
            pools["x-kubernetes-list-map-keys"] = json!(["name"]);
        }
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"pools": pools}}}})
    };
    let old = json!({"spec": {"pools": [{"name": "a", "size": 3}, {"name": "b", "size": 1}]}});
    let new = json!({"spec": {"pools": [{"name": "b", "size": 2}, {"name": "a", "size": 2}]}});
    let errors = validate_rules(&new, Some(&old), &schema("map"), &[]);
    assert_eq!(
        errors.into_iter().map(|e| e.message).collect::<Vec<_>>(),
        [r#"spec.pools[1]: Invalid value: pools only grow"#]
    );
    assert!(
        validate_rules(&new, Some(&old), &schema("atomic"), &[]).is_empty(),
        "atomic items do not correlate"
    );
}

#[test]
fn a_quadratic_rule_over_a_huge_list_ends_with_the_cost_error() {
    let pools: Vec<Value> = (0..3_000)
        .map(|i| json!({"name": format!("p{i}")}))
        .collect();
    let schema = json!({"type": "object", "properties": {"pools": {"type": "array",
        "items": {"type": "object", "properties": {"name": {"type": "string"}}},
        "x-kubernetes-validations": [{"rule": "self.all(p, self.exists_one(q, q.name == p.name))", "message": "unique"},
                                     {"rule": "self.size() < 10"}]}}});
    let errors = validate_rules(&json!({"pools": pools}), None, &schema, &[]);
    assert_eq!(
        errors.len(),
        1,
        "no rule runs after the budget is spent: {errors:?}"
    );
    assert!(
        errors[0].message.contains("cost limit exceeded"),
        "{}",
        errors[0].message
    );
}
