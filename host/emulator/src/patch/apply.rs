//! Server-side apply and `managedFields` bookkeeping, a faithful subset of the real API
//! server's field manager (structured-merge-diff).
//!
//! Every field of an object is owned by zero or more managers. An apply merges the applied
//! configuration into the live object, fails with a conflict when it would change a value
//! another manager owns (unless forced, which transfers ownership), makes the applier the
//! owner of exactly the fields it applied, and removes fields it applied before but no longer
//! applies unless someone else owns them. Every other write ([`record_update`]) makes its
//! manager the owner of the fields it changed. Controllers rely on these rules to share
//! objects safely, so tests that exercise Fleetward's apply logic need them.

use serde_json::{Map, Value};

use super::fieldpath::{self, Comparison};
use super::managed_fields::{
    FieldSet, ManagedFieldsEntry, Operation, display_path, read_entries, write_entries,
};

/// How an apply request was made.
#[derive(Debug, Clone, Copy)]
pub struct ApplyParams<'a> {
    /// `fieldManager` query parameter (required for apply by the real server).
    pub manager: &'a str,
    /// `force=true`: take ownership of conflicting fields instead of failing.
    pub force: bool,
    /// Current time, RFC 3339 (`2026-01-05T00:00:00Z`), written into `managedFields[].time`.
    pub now: &'a str,
    /// `Some("status")` for an apply to the status subresource.
    pub subresource: Option<&'a str>,
}

/// A field another manager owns and the apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// The other manager's name.
    pub manager: String,
    /// The field, printed like the real server: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="app"].image`.
    pub path: String,
    /// The other manager as the real server describes it in messages:
    /// `"kubectl-edit" using apps/v1` for an Update manager, `"other"` for an Apply manager,
    /// `"kubelet" with subresource "status" using v1` through a subresource.
    pub described_manager: String,
}

impl FieldConflict {
    /// `message` of the `FieldManagerConflict` cause in the 409 Status:
    /// `conflict with "kubectl-edit" using apps/v1`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.described_manager)
    }
}

/// Why an apply was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// 409 Conflict: the configuration changes fields other managers own. Retry with `force`
    /// to take them over, or stop applying them. Each conflict becomes a `FieldManagerConflict`
    /// cause (`field` = path, `message` = [`FieldConflict::cause_message`]).
    #[error("{}", conflict_message(conflicts))]
    Conflict {
        /// The conflicting fields, sorted by manager then path.
        conflicts: Vec<FieldConflict>,
    },
    /// 400: the applied configuration itself is unacceptable (not an object, kind or name
    /// differs from the live object, `managedFields` set, keyed list element without its key).
    #[error("{message}")]
    Invalid {
        /// What is wrong, in the real server's wording where it has one.
        message: String,
    },
}

impl ApplyError {
    /// HTTP status the real server answers: 409 for conflicts, 400 for an unacceptable
    /// configuration (the real server's `BadRequest` for mismatched kind/name and set
    /// `managedFields`; it answers 500 for keyed-list errors, which the emulator reports as 400).
    pub fn http_status(&self) -> u16 {
        match self {
            ApplyError::Conflict { .. } => 409,
            ApplyError::Invalid { .. } => 400,
        }
    }
}

fn conflict_message(conflicts: &[FieldConflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.described_manager, only.path
        );
    }
    let mut lines = Vec::new();
    let mut current: Option<&str> = None;
    for c in conflicts {
        if current != Some(c.described_manager.as_str()) {
            lines.push(format!("conflicts with {}:", c.described_manager));
            current = Some(&c.described_manager);
        }
        lines.push(format!("- {}", c.path));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Fields the server sets or that identify the object; never owned (the real server's
/// "strip meta" list).
const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Drops the paths a write through `subresource` never owns: status for main-resource
/// writes, everything but status for status writes, and server-set metadata.
fn drop_ignored(set: &mut FieldSet, subresource: Option<&str>) {
    if subresource == Some("status") {
        set.retain_only("f:status");
        return;
    }
    set.unmark();
    set.remove_child("f:status");
    set.remove_child("f:apiVersion");
    set.remove_child("f:kind");
    let mut empty_meta = false;
    if let Some(meta) = set.child_mut("f:metadata") {
        meta.unmark();
        for field in SERVER_META {
            meta.remove_child(&format!("f:{field}"));
        }
        empty_meta = meta.is_empty();
    }
    if empty_meta {
        set.remove_child("f:metadata");
    }
}

fn filtered(mut cmp: Comparison, subresource: Option<&str>) -> Comparison {
    drop_ignored(&mut cmp.added, subresource);
    drop_ignored(&mut cmp.modified, subresource);
    drop_ignored(&mut cmp.removed, subresource);
    cmp
}

fn invalid(message: impl Into<String>) -> ApplyError {
    ApplyError::Invalid {
        message: message.into(),
    }
}

fn validate_applied(live: Option<&Value>, applied: &Value) -> Result<(), ApplyError> {
    let Value::Object(map) = applied else {
        return Err(invalid("the applied configuration must be an object"));
    };
    for field in ["apiVersion", "kind"] {
        if map
            .get(field)
            .is_none_or(|v| v.as_str().is_none_or(|s| s.is_empty()))
        {
            return Err(invalid(format!(
                "{field} must be set in the applied configuration"
            )));
        }
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(invalid("metadata.managedFields must be nil"));
    }
    if let Some(live) = live {
        let kind = |v: &Value| v.get("kind").and_then(Value::as_str).map(str::to_owned);
        if kind(live) != kind(applied) {
            return Err(invalid(format!(
                "the applied kind {:?} does not match the live object's kind {:?}",
                kind(applied).unwrap_or_default(),
                kind(live).unwrap_or_default()
            )));
        }
        let name = |v: &Value| {
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        if let (Some(applied_name), Some(live_name)) = (name(applied), name(live))
            && applied_name != live_name
        {
            return Err(invalid(format!(
                "the name of the object ({applied_name}) does not match the name on the URL ({live_name})"
            )));
        }
    } else if applied
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(invalid("metadata.name: Required value: name is required"));
    }
    fieldpath::check_keyed_lists(applied)
        .map_err(|e| invalid(format!("failed to create typed patch object: {e}")))
}

/// Server-side apply of `applied` by `p.manager` onto `live` (`None`: the object does not
/// exist and is created from the configuration).
///
/// Returns the resulting object with `metadata.managedFields` updated. Server-owned metadata
/// (`resourceVersion`, `uid`…) is copied from `live` unchanged; the caller sets it. The whole
/// configuration is merged, including `status` on a main-resource apply and `spec` on a
/// status apply: the caller resets them like it does for updates. Those fields are never owned
/// by such an apply, so they never conflict.
///
/// # Errors
/// [`ApplyError::Conflict`] when the configuration changes fields other managers own and
/// `p.force` is false; [`ApplyError::Invalid`] when the configuration is not acceptable.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    p: &ApplyParams,
) -> Result<Value, ApplyError> {
    validate_applied(live, applied)?;
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut entries = live.map(read_entries).unwrap_or_default();
    let live_plain = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(live) = live
        && entries.is_empty()
    {
        // An object written before managed fields existed: the real server gives all its
        // fields to a synthetic Update manager, so applies conflict with them.
        let mut fields = fieldpath::field_set(&live_plain);
        drop_ignored(&mut fields, None);
        if !fields.is_empty() {
            entries.push(ManagedFieldsEntry {
                manager: "before-first-apply".to_owned(),
                operation: Operation::Update,
                api_version: live
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                time: Some(p.now.to_owned()),
                subresource: None,
                fields,
            });
        }
    }
    let is_me = |e: &ManagedFieldsEntry| e.is(p.manager, Operation::Apply, p.subresource);
    let had_entry = entries.iter().any(is_me);
    let last_set = entries
        .iter()
        .find(|e| is_me(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    let mut config_set = fieldpath::field_set(applied);
    drop_ignored(&mut config_set, p.subresource);
    let set_changed = !had_entry || last_set != config_set;
    // What this manager applied last time and no longer applies: candidates for removal.
    let mut dropped = last_set;
    dropped.subtract(&config_set);

    let mut merged = live_plain.clone();
    fieldpath::merge_applied(&mut merged, applied);
    let cmp = filtered(fieldpath::compare(&live_plain, &merged), p.subresource);
    let mut changed = cmp.added;
    changed.union_with(&cmp.modified);

    let mut conflicts = Vec::new();
    for entry in entries.iter().filter(|e| !is_me(e) && !changed.is_empty()) {
        for path in entry.fields.intersection(&changed).paths() {
            conflicts.push(FieldConflict {
                manager: entry.manager.clone(),
                path: display_path(&path),
                described_manager: entry.describe(),
            });
        }
    }
    if !conflicts.is_empty() && !p.force {
        conflicts.sort_by(|a, b| {
            (&a.manager, &a.described_manager, &a.path).cmp(&(
                &b.manager,
                &b.described_manager,
                &b.path,
            ))
        });
        return Err(ApplyError::Conflict { conflicts });
    }
    for entry in entries.iter_mut().filter(|e| !is_me(e)) {
        entry.fields.subtract(&changed);
    }
    match entries.iter_mut().find(|e| is_me(e)) {
        Some(entry) => entry.fields = config_set,
        None => entries.push(ManagedFieldsEntry {
            manager: p.manager.to_owned(),
            operation: Operation::Apply,
            api_version: api_version.clone(),
            time: Some(p.now.to_owned()),
            subresource: p.subresource.map(str::to_owned),
            fields: config_set,
        }),
    }

    // Remove what this manager applied last time, no longer applies, and nobody else owns.
    if !dropped.is_empty() {
        let mut owned = FieldSet::new();
        for entry in &entries {
            owned.union_with(&entry.fields);
        }
        if prune(&mut merged, &dropped, Some(&owned), &mut Vec::new()) {
            let removed = filtered(fieldpath::compare(&live_plain, &merged), p.subresource).removed;
            for entry in &mut entries {
                entry.fields.subtract(&removed);
            }
        }
    }
    entries.retain(|e| is_me(e) || !e.fields.is_empty());
    drop_empty_metadata(&mut merged);

    let object_changed = merged != live_plain;
    if let Some(me) = entries.iter_mut().find(|e| is_me(e)) {
        if object_changed || set_changed {
            me.time = Some(p.now.to_owned());
        }
        me.api_version = api_version;
    }
    write_entries(&mut merged, &entries);
    Ok(merged)
}

/// ObjectMeta's collections are `omitempty`: once pruning empties them the real server stores
/// them absent, not as `{}`/`[]`.
fn drop_empty_metadata(obj: &mut Value) {
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
            let empty = match meta.get(field) {
                Some(Value::Object(m)) => m.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                _ => false,
            };
            if empty {
                meta.remove(field);
            }
        }
    }
}

/// Removes from `obj` the members of `dropped` that nobody owns at or below them (`owned` is
/// the subtree of all owners' fields at the same position); whether anything was removed.
fn prune(
    obj: &mut Value,
    dropped: &FieldSet,
    owned: Option<&FieldSet>,
    prefix: &mut Vec<String>,
) -> bool {
    let mut removed = false;
    for (element, child) in dropped.children() {
        let owned_child = owned.and_then(|o| o.child(element));
        prefix.push(element.clone());
        if child.is_member() && owned_child.is_none_or(FieldSet::is_empty) {
            removed |= fieldpath::remove_path(obj, prefix);
        } else {
            removed |= prune(obj, child, owned_child, prefix);
        }
        prefix.pop();
    }
    removed
}

/// Updates `after.metadata.managedFields` for a non-apply write (create, update, patch) by
/// `manager`, as the real server does: the fields this write added or changed move to
/// `manager`'s `Update` entry (taken from whichever managers owned them), removed fields are
/// dropped from every entry, and entries left empty disappear.
///
/// `before` is the live object (`None` on create). If the client sent `managedFields` that
/// differ from `before`'s, they are taken as the new baseline (`[]` clears them all, and the
/// write is not recorded), like the real server. `subresource = Some("status")` records only
/// status fields; otherwise status and server-set metadata are never owned.
pub fn record_update(
    before: Option<&Value>,
    after: &mut Value,
    manager: &str,
    now: &str,
    subresource: Option<&str>,
) {
    if !after.is_object() {
        return;
    }
    let before_managed = before.and_then(|b| b.pointer("/metadata/managedFields"));
    let sent = after
        .pointer("/metadata/managedFields")
        .filter(|v| !v.is_null());
    let client_reset = sent.is_some() && sent != before_managed;
    if client_reset && sent.and_then(Value::as_array).is_some_and(Vec::is_empty) {
        write_entries(after, &[]);
        return;
    }
    let empty = Value::Object(Map::new());
    let cmp = filtered(
        fieldpath::compare(before.unwrap_or(&empty), after),
        subresource,
    );
    let mut changed = cmp.added;
    changed.union_with(&cmp.modified);
    if changed.is_empty() && cmp.removed.is_empty() && !client_reset {
        // Nothing owned changed: keep the live entries exactly as they were.
        match before_managed {
            Some(m) => {
                let m = m.clone();
                if let Some(Value::Object(meta)) = after.get_mut("metadata") {
                    meta.insert("managedFields".into(), m);
                }
            }
            None => write_entries(after, &[]),
        }
        return;
    }
    let mut entries = if client_reset {
        read_entries(after)
    } else {
        before.map(read_entries).unwrap_or_default()
    };

    let is_me = |e: &ManagedFieldsEntry| e.is(manager, Operation::Update, subresource);
    for entry in &mut entries {
        entry.fields.subtract(&cmp.removed);
        if !is_me(entry) {
            entry.fields.subtract(&changed);
        }
    }
    if !changed.is_empty() {
        let api_version = after
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match entries.iter_mut().find(|e| is_me(e)) {
            Some(entry) => {
                entry.fields.union_with(&changed);
                entry.time = Some(now.to_owned());
                entry.api_version = api_version;
            }
            None => entries.push(ManagedFieldsEntry {
                manager: manager.to_owned(),
                operation: Operation::Update,
                api_version,
                time: Some(now.to_owned()),
                subresource: subresource.map(str::to_owned),
                fields: changed,
            }),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    write_entries(after, &entries);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: &str = "2026-01-05T00:00:00Z";
    const T1: &str = "2026-01-05T00:01:00Z";
    const T2: &str = "2026-01-05T00:02:00Z";

    fn params<'a>(manager: &'a str, now: &'a str) -> ApplyParams<'a> {
        ApplyParams {
            manager,
            force: false,
            now,
            subresource: None,
        }
    }

    fn deploy(replicas: i64, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": labels},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}
        })
    }

    fn entry<'a>(obj: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
        obj["metadata"]["managedFields"]
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
    }

    /// Creates the object through a plain create by `manager` (an Update entry).
    fn created_by(manager: &str, obj: Value) -> Value {
        let mut o = obj;
        record_update(None, &mut o, manager, T0, None);
        o
    }

    #[test]
    fn apply_creates_with_an_apply_entry() {
        let cfg = deploy(2, json!({"app": "web"}));
        let out = server_side_apply(None, &cfg, &params("fleetward", T0)).unwrap();
        let mut expected = cfg.clone();
        expected["metadata"]["managedFields"] = json!([{
            "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "manager": "fleetward", "operation": "Apply", "time": T0,
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}}
            }
        }]);
        assert_eq!(out, expected);
    }

    #[test]
    fn conflict_with_an_update_manager_then_force_transfers() {
        let live = created_by(
            "kubectl-client-side-apply",
            deploy(1, json!({"app": "web"})),
        );
        let err = server_side_apply(
            Some(&live),
            &deploy(3, json!({"app": "web"})),
            &params("fleetward", T1),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        assert_eq!(err.http_status(), 409);
        let ApplyError::Conflict { conflicts } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(conflicts[0].manager, "kubectl-client-side-apply");
        assert_eq!(
            conflicts[0].cause_message(),
            "conflict with \"kubectl-client-side-apply\" using apps/v1"
        );

        let forced = server_side_apply(
            Some(&live),
            &deploy(3, json!({"app": "web"})),
            &ApplyParams {
                force: true,
                ..params("fleetward", T1)
            },
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let old = entry(&forced, "kubectl-client-side-apply", "Update").unwrap();
        assert!(
            old["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
            "ownership moved: {old}"
        );
        assert!(
            old["fieldsV1"]["f:metadata"]["f:labels"]
                .get("f:app")
                .is_some(),
            "shared field stays shared"
        );
        let mine = entry(&forced, "fleetward", "Apply").unwrap();
        assert_eq!(mine["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
        assert_eq!(mine["time"], T1);
    }

    #[test]
    fn same_value_is_shared_ownership_without_conflict() {
        let live = created_by(
            "kubectl-client-side-apply",
            deploy(1, json!({"app": "web"})),
        );
        let out = server_side_apply(
            Some(&live),
            &deploy(1, json!({"app": "web"})),
            &params("fleetward", T1),
        )
        .unwrap();
        for (m, op) in [
            ("kubectl-client-side-apply", "Update"),
            ("fleetward", "Apply"),
        ] {
            assert_eq!(
                entry(&out, m, op).unwrap()["fieldsV1"]["f:spec"]["f:replicas"],
                json!({}),
                "{m}"
            );
        }
    }

    #[test]
    fn numerically_equal_values_do_not_conflict_and_keep_the_live_spelling() {
        // `fleetward emulator --install-crds` creates with `minimum: 5.0` (serde's f64);
        // `kubectl apply --server-side -f deploy/crds.yaml` sends `5` (and an atomic list
        // `[1.0, 2]` as `[1, 2]`): one value to the real server.
        let crd = |min: Value, list: Value| {
            json!({"apiVersion": "example.com/v1", "kind": "Schema", "metadata": {"name": "s"},
                "spec": {"minimum": min, "maximum": 10, "enumValues": list}})
        };
        let live = created_by("fleetward", crd(json!(5.0), json!([1.0, 2])));
        let out = server_side_apply(
            Some(&live),
            &crd(json!(5), json!([1, 2.0])),
            &params("kubectl", T1),
        )
        .expect("5 and 5.0 are the same number: no conflict");
        assert_eq!(out["spec"]["minimum"], json!(5.0), "live value kept");
        assert_eq!(out["spec"]["enumValues"], json!([1.0, 2]));
        assert_eq!(
            entry(&out, "kubectl", "Apply").unwrap()["fieldsV1"]["f:spec"]["f:minimum"],
            json!({})
        );
        // A different number still conflicts.
        let err = server_side_apply(
            Some(&live),
            &crd(json!(5.5), json!([1, 2])),
            &params("kubectl", T1),
        )
        .unwrap_err();
        assert!(err.to_string().ends_with(".spec.minimum"), "{err}");
    }

    #[test]
    fn conflicts_between_appliers_and_multi_conflict_message() {
        let live = server_side_apply(
            None,
            &deploy(1, json!({"app": "web", "tier": "a"})),
            &params("alpha", T0),
        )
        .unwrap();
        let err = server_side_apply(
            Some(&live),
            &deploy(2, json!({"app": "web", "tier": "b"})),
            &params("beta", T1),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"alpha\":\n- .metadata.labels.tier\n- .spec.replicas"
        );
    }

    #[test]
    fn fields_no_longer_applied_are_removed_unless_owned_elsewhere() {
        let v1 = server_side_apply(
            None,
            &deploy(1, json!({"app": "web", "a": "1", "b": "2"})),
            &params("alpha", T0),
        )
        .unwrap();
        // beta co-owns label b (same value: no conflict).
        let beta_cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"b": "2"}}});
        let v2 = server_side_apply(Some(&v1), &beta_cfg, &params("beta", T1)).unwrap();
        // alpha stops applying a and b.
        let v3 = server_side_apply(
            Some(&v2),
            &deploy(1, json!({"app": "web"})),
            &params("alpha", T2),
        )
        .unwrap();
        assert_eq!(
            v3["metadata"]["labels"],
            json!({"app": "web", "b": "2"}),
            "a pruned, b kept for beta"
        );
        let alpha = entry(&v3, "alpha", "Apply").unwrap();
        assert_eq!(
            alpha["fieldsV1"]["f:metadata"]["f:labels"],
            json!({"f:app": {}})
        );
        assert_eq!(alpha["time"], T2);
        // alpha stops applying the container: it goes away with its fields.
        let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"replicas": 1}});
        let v4 = server_side_apply(Some(&v3), &cfg, &params("alpha", T2)).unwrap();
        assert_eq!(v4["spec"]["template"]["spec"]["containers"], json!([]));
    }

    #[test]
    fn keyed_list_items_are_owned_separately() {
        let with = |name: &str, image: &str| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}}})
        };
        let v1 = server_side_apply(None, &with("app", "app:1"), &params("alpha", T0)).unwrap();
        let v2 =
            server_side_apply(Some(&v1), &with("sidecar", "side:1"), &params("beta", T1)).unwrap();
        let names: Vec<&str> = v2["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app", "sidecar"]);
        let err = server_side_apply(Some(&v2), &with("sidecar", "side:2"), &params("alpha", T2))
            .unwrap_err();
        let ApplyError::Conflict { conflicts } = err else {
            panic!()
        };
        assert_eq!(
            conflicts[0].path,
            ".spec.template.spec.containers[name=\"sidecar\"].image"
        );
        assert_eq!(conflicts[0].described_manager, "\"beta\"");
    }

    #[test]
    fn update_takes_ownership_and_later_apply_conflicts() {
        let v1 = server_side_apply(
            None,
            &deploy(1, json!({"app": "web"})),
            &params("fleetward", T0),
        )
        .unwrap();
        let mut v2 = v1.clone();
        v2["spec"]["replicas"] = json!(5);
        record_update(Some(&v1), &mut v2, "hpa", T1, None);
        let hpa = entry(&v2, "hpa", "Update").unwrap();
        assert_eq!(hpa["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
        assert_eq!(hpa["time"], T1);
        assert!(
            entry(&v2, "fleetward", "Apply").unwrap()["fieldsV1"]["f:spec"]
                .get("f:replicas")
                .is_none()
        );
        let err = server_side_apply(
            Some(&v2),
            &deploy(1, json!({"app": "web"})),
            &params("fleetward", T2),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("conflict with \"hpa\" using apps/v1: .spec.replicas"),
            "{err}"
        );
        // Applying without replicas is fine and does not delete hpa's value.
        let mut cfg = deploy(1, json!({"app": "web"}));
        cfg["spec"].as_object_mut().unwrap().remove("replicas");
        let v3 = server_side_apply(Some(&v2), &cfg, &params("fleetward", T2)).unwrap();
        assert_eq!(v3["spec"]["replicas"], 5);
    }

    #[test]
    fn update_that_changes_nothing_keeps_entries_and_removed_fields_leave_every_set() {
        let v1 = created_by("creator", deploy(1, json!({"app": "web", "x": "1"})));
        let mut same = v1.clone();
        record_update(Some(&v1), &mut same, "noop", T1, None);
        assert_eq!(same, v1, "no entry for a manager that changed nothing");
        let mut v2 = v1.clone();
        v2["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("x");
        record_update(Some(&v1), &mut v2, "editor", T1, None);
        let creator = entry(&v2, "creator", "Update").unwrap();
        assert!(
            creator["fieldsV1"]["f:metadata"]["f:labels"]
                .get("f:x")
                .is_none()
        );
        assert!(
            entry(&v2, "editor", "Update").is_none(),
            "removing only gives no ownership"
        );
    }

    #[test]
    fn status_is_owned_only_through_the_status_subresource() {
        let mut obj = deploy(1, json!({"app": "web"}));
        obj["status"] = json!({"readyReplicas": 1});
        let v1 = created_by("creator", obj);
        assert!(
            entry(&v1, "creator", "Update").unwrap()["fieldsV1"]
                .get("f:status")
                .is_none()
        );
        let mut v2 = v1.clone();
        v2["status"]["readyReplicas"] = json!(2);
        record_update(Some(&v1), &mut v2, "kubelet", T1, Some("status"));
        let kubelet = entry(&v2, "kubelet", "Update").unwrap();
        assert_eq!(kubelet["subresource"], "status");
        assert_eq!(
            kubelet["fieldsV1"],
            json!({"f:status": {"f:readyReplicas": {}}})
        );
        // A status apply by another manager conflicts on status only.
        let status_cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"readyReplicas": 3}, "spec": {"replicas": 9}});
        let err = server_side_apply(
            Some(&v2),
            &status_cfg,
            &ApplyParams {
                subresource: Some("status"),
                ..params("other", T2)
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubelet\" with subresource \"status\" using apps/v1: .status.readyReplicas"
        );
    }

    #[test]
    fn identity_fields_never_conflict_or_get_owned() {
        let live = created_by("creator", deploy(1, json!({"app": "web"})));
        let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"}});
        let out = server_side_apply(Some(&live), &cfg, &params("other", T1)).unwrap();
        // Owning nothing, the applier gets no entry (kube-apiserver drops empty ones).
        assert!(entry(&out, "other", "Apply").is_none());
    }

    #[test]
    fn objects_without_managed_fields_belong_to_before_first_apply() {
        let live = deploy(1, json!({"app": "web"}));
        let err = server_side_apply(
            Some(&live),
            &deploy(2, json!({"app": "web"})),
            &params("fleetward", T1),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("conflict with \"before-first-apply\" using apps/v1"),
            "{err}"
        );
    }

    #[test]
    fn client_can_reset_managed_fields() {
        let v1 = created_by("creator", deploy(1, json!({"app": "web"})));
        let mut v2 = v1.clone();
        v2["metadata"]["managedFields"] = json!([]);
        v2["spec"]["replicas"] = json!(3);
        record_update(Some(&v1), &mut v2, "resetter", T1, None);
        assert!(v2["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn finalizers_are_a_set_owned_per_value() {
        let cfg = |f: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": f}});
        let v1 = server_side_apply(None, &cfg(json!(["a"])), &params("alpha", T0)).unwrap();
        let v2 = server_side_apply(Some(&v1), &cfg(json!(["b"])), &params("beta", T1)).unwrap();
        assert_eq!(v2["metadata"]["finalizers"], json!(["a", "b"]));
        let v3 = server_side_apply(Some(&v2), &cfg(json!([])), &params("alpha", T2)).unwrap();
        assert_eq!(v3["metadata"]["finalizers"], json!(["b"]));
        let v4 = server_side_apply(Some(&v3), &cfg(json!([])), &params("beta", T2)).unwrap();
        assert!(
            v4["metadata"].get("finalizers").is_none(),
            "emptied metadata collections are dropped: {v4}"
        );
    }

    #[test]
    fn invalid_configurations() {
        let live = created_by("creator", deploy(1, json!({"app": "web"})));
        let cases = [
            (json!([1]), "must be an object"),
            (
                json!({"kind": "Deployment", "metadata": {"name": "web"}}),
                "apiVersion must be set",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}}),
                "does not match the live object's kind",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "other"}}),
                "does not match the name on the URL",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "managedFields": []}}),
                "metadata.managedFields must be nil",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
                "omits key field \"name\"",
            ),
        ];
        for (cfg, needle) in cases {
            let err = server_side_apply(Some(&live), &cfg, &params("m", T1)).unwrap_err();
            assert!(
                matches!(&err, ApplyError::Invalid { message } if message.contains(needle)),
                "{cfg}: {err}"
            );
        }
        let dup = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}});
        let err = server_side_apply(Some(&live), &dup, &params("m", T1)).unwrap_err();
        assert_eq!(err.http_status(), 400);
        assert_eq!(
            err.to_string(),
            "failed to create typed patch object: .spec.template.spec.containers: duplicate entries for key [name=\"a\"]"
        );
        let err = server_side_apply(
            None,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
            &params("m", T1),
        )
        .unwrap_err();
        assert!(err.to_string().contains("name is required"), "{err}");
    }

    #[test]
    fn reapplying_the_same_config_is_a_no_op() {
        let cfg = deploy(2, json!({"app": "web"}));
        let v1 = server_side_apply(None, &cfg, &params("fleetward", T0)).unwrap();
        let v2 = server_side_apply(Some(&v1), &cfg, &params("fleetward", T1)).unwrap();
        assert_eq!(v1, v2, "same object, same managedFields, time unchanged");
    }
}
