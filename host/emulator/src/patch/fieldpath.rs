//! Field paths of JSON objects: the set of fields an object sets, what changed between two
//! versions, and the merge of an applied configuration into a live object. Server-side apply
//! and `managedFields` bookkeeping are built from these three walks, which all agree on list
//! identity through [`super::list_types::apply_list_strategy`].

use serde_json::{Map, Value};

use super::equal::same;
use super::list_types::{ListStrategy, apply_list_strategy};
use super::managed_fields::{FieldSet, PathElement};

/// The paths added, modified and removed between two versions of an object.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    /// Paths present only in the new version (with everything below them).
    pub(crate) added: FieldSet,
    /// Leaf values (scalars, atomic lists) that differ.
    pub(crate) modified: FieldSet,
    /// Paths present only in the old version (with everything below them).
    pub(crate) removed: FieldSet,
}

/// The set of fields `value` (an object) sets: leaves (scalars, `null`, empty objects, atomic
/// lists) and every element of keyed/set lists. `metadata.managedFields` is skipped.
pub(crate) fn field_set(value: &Value) -> FieldSet {
    collect(value, &mut Vec::new())
}

/// Compares two versions of an object (`metadata.managedFields` skipped).
pub(crate) fn compare(old: &Value, new: &Value) -> Comparison {
    compare_values(old, new, &mut Vec::new())
}

fn field_element(name: &str) -> PathElement {
    format!("f:{name}")
}

/// The path elements of a non-atomic list's items.
fn list_elements(items: &[Value], strategy: ListStrategy) -> Vec<(PathElement, &Value)> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let element = match strategy {
                ListStrategy::MapByKey(key) => match item.get(key) {
                    Some(id) => format!("k:{{{}:{id}}}", Value::String(key.to_owned())),
                    None => format!("i:{i}"),
                },
                ListStrategy::Set => format!("v:{item}"),
                ListStrategy::Atomic => format!("i:{i}"),
            };
            (element, item)
        })
        .collect()
}

/// Items of lists whose item type is an atomic struct (`+structType=atomic`): owned whole.
fn atomic_struct_items(names: &[&str]) -> bool {
    names == ["metadata", "ownerReferences"]
}

fn is_leaf(value: &Value, names: &[&str]) -> bool {
    match value {
        Value::Object(map) => map.is_empty() || atomic_struct_items(names),
        Value::Array(items) => apply_list_strategy(names, &[items]) == ListStrategy::Atomic,
        _ => true,
    }
}

/// `metadata.managedFields` is bookkeeping, not content: never owned, never compared.
fn skipped(names: &[&str], key: &str) -> bool {
    key == "managedFields" && names == ["metadata"]
}

/// The fields `value` sets, relative to `value` (built bottom-up: no path copies).
fn collect<'a>(value: &'a Value, names: &mut Vec<&'a str>) -> FieldSet {
    let mut node = FieldSet::new();
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if skipped(names, key) {
                    continue;
                }
                names.push(key);
                let sub = if is_leaf(child, names) {
                    FieldSet::leaf()
                } else {
                    collect(child, names)
                };
                names.pop();
                node.attach(field_element(key), sub);
            }
        }
        Value::Array(items) => {
            let strategy = apply_list_strategy(names, &[items]);
            for (element, item) in list_elements(items, strategy) {
                let mut sub = if matches!(item, Value::Object(m) if !m.is_empty())
                    && !atomic_struct_items(names)
                {
                    collect(item, names)
                } else {
                    FieldSet::new()
                };
                sub.mark();
                node.attach(element, sub);
            }
        }
        _ => {}
    }
    node
}

/// `value`'s path itself and everything it sets below.
fn whole<'a>(value: &'a Value, names: &mut Vec<&'a str>) -> FieldSet {
    let mut node = if is_leaf(value, names) {
        FieldSet::new()
    } else {
        collect(value, names)
    };
    node.mark();
    if *names == ["metadata"]
        && let Value::Object(metadata) = value
    {
        // A new object: metadata's maps and lists (labels, annotations, finalizers, owner
        // references) are absent from the empty object the real server compares with, so
        // they are owned as nodes too (`.`).
        for (key, child) in metadata {
            names.push(key);
            let node_of_its_own = !is_leaf(child, names);
            names.pop();
            if node_of_its_own && key != "managedFields" {
                node.mark_child(&[field_element(key)]);
            }
        }
    }
    node
}

impl Comparison {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    fn attach(&mut self, element: &str, sub: Comparison) {
        for (mine, theirs) in [
            (&mut self.added, sub.added),
            (&mut self.modified, sub.modified),
            (&mut self.removed, sub.removed),
        ] {
            if !theirs.is_empty() {
                mine.attach(element.to_owned(), theirs);
            }
        }
    }
}

fn compare_values<'a>(old: &'a Value, new: &'a Value, names: &mut Vec<&'a str>) -> Comparison {
    let mut cmp = Comparison::default();
    if old == new {
        return cmp; // equal subtrees (the common case) cost one comparison, no allocation
    }
    if matches!((old, new), (Value::Number(_), Value::Number(_))) && same(old, new) {
        return cmp; // `5` and `5.0`: one value to the real server
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (key, ov) in o {
                if skipped(names, key) {
                    continue;
                }
                names.push(key);
                match n.get(key) {
                    Some(nv) => {
                        let sub = compare_values(ov, nv, names);
                        if !sub.is_empty() {
                            cmp.attach(&field_element(key), sub);
                        }
                    }
                    None => {
                        let gone = whole(ov, names);
                        cmp.removed.attach(field_element(key), gone);
                    }
                }
                names.pop();
            }
            for (key, nv) in n {
                if o.contains_key(key) || skipped(names, key) {
                    continue;
                }
                names.push(key);
                let new_field = whole(nv, names);
                names.pop();
                cmp.added.attach(field_element(key), new_field);
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            let strategy = apply_list_strategy(names, &[o, n]);
            if strategy == ListStrategy::Atomic {
                if !same(old, new) {
                    cmp.modified.mark();
                }
                return cmp;
            }
            let old_items = list_elements(o, strategy);
            let new_items = list_elements(n, strategy);
            for (element, ov) in &old_items {
                match new_items.iter().find(|(e, _)| e == element) {
                    Some((_, nv)) => {
                        let sub = compare_values(ov, nv, names);
                        cmp.attach(element, sub);
                    }
                    None => {
                        let gone = whole(ov, names);
                        cmp.removed.attach(element.clone(), gone);
                    }
                }
            }
            for (element, nv) in new_items {
                if !old_items.iter().any(|(e, _)| *e == element) {
                    let new_item = whole(nv, names);
                    cmp.added.attach(element, new_item);
                }
            }
        }
        _ => {
            if old != new {
                cmp.modified.mark();
                if !is_leaf(new, names) {
                    cmp.added = collect(new, names);
                }
                if !is_leaf(old, names) {
                    cmp.removed = collect(old, names);
                }
            }
        }
    }
    cmp
}

/// Whether list item `item` is the one path element `element` names.
fn matches_element(item: &Value, index: usize, element: &str) -> bool {
    if let Some(key) = element.strip_prefix("k:") {
        match serde_json::from_str::<Map<String, Value>>(key) {
            Ok(fields) => fields.iter().all(|(k, v)| item.get(k) == Some(v)),
            Err(_) => false,
        }
    } else if let Some(v) = element.strip_prefix("v:") {
        serde_json::from_str::<Value>(v).is_ok_and(|v| &v == item)
    } else if let Some(i) = element.strip_prefix("i:") {
        i.parse::<usize>().is_ok_and(|i| i == index)
    } else {
        false
    }
}

fn child_mut<'a>(value: &'a mut Value, element: &str) -> Option<&'a mut Value> {
    match value {
        Value::Object(map) => element.strip_prefix("f:").and_then(|k| map.get_mut(k)),
        Value::Array(items) => items
            .iter_mut()
            .enumerate()
            .find(|(i, item)| matches_element(item, *i, element))
            .map(|(_, item)| item),
        _ => None,
    }
}

/// Removes the field or list item at `path` from `value`; `false` if it was not there.
pub(crate) fn remove_path(value: &mut Value, path: &[PathElement]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let Some(parent) = parents
        .iter()
        .try_fold(value, |cur, element| child_mut(cur, element))
    else {
        return false;
    };
    match parent {
        Value::Object(map) => last
            .strip_prefix("f:")
            .is_some_and(|k| map.remove(k).is_some()),
        Value::Array(items) => {
            let position = items
                .iter()
                .enumerate()
                .position(|(i, item)| matches_element(item, i, last));
            position.map(|i| items.remove(i)).is_some()
        }
        _ => false,
    }
}

/// Merges an applied configuration into a live object the way server-side apply does: maps
/// recursively, keyed lists element by element, set lists as a union, everything else
/// (scalars, atomic lists) replaced. `null` in the configuration removes the field.
pub(crate) fn merge_applied(live: &mut Value, applied: &Value) {
    merge_at(live, applied, &mut Vec::new());
}

fn merge_at<'a>(live: &mut Value, applied: &'a Value, names: &mut Vec<&'a str>) {
    if *live == *applied {
        return;
    }
    if matches!((&*live, applied), (Value::Number(_), Value::Number(_))) && same(live, applied) {
        return; // keep the live spelling of an equal number: no change, no conflict
    }
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (key, av) in a {
                if av.is_null() {
                    l.remove(key);
                    continue;
                }
                names.push(key);
                match l.get_mut(key) {
                    Some(lv) => merge_at(lv, av, names),
                    None => {
                        l.insert(key.clone(), av.clone());
                    }
                }
                names.pop();
            }
        }
        (Value::Array(l), Value::Array(a)) => match apply_list_strategy(names, &[l, a]) {
            ListStrategy::Atomic => {
                if !(l.len() == a.len() && l.iter().zip(a).all(|(x, y)| same(x, y))) {
                    l.clone_from(a);
                }
            }
            ListStrategy::Set => {
                for item in a {
                    if !l.contains(item) {
                        l.push(item.clone());
                    }
                }
            }
            ListStrategy::MapByKey(key) => {
                for item in a {
                    let existing = item
                        .get(key)
                        .and_then(|id| l.iter_mut().find(|x| x.get(key) == Some(id)));
                    match existing {
                        Some(x) => merge_at(x, item, names),
                        None => l.push(item.clone()),
                    }
                }
            }
        },
        (live, applied) => *live = applied.clone(),
    }
}

/// Checks that every keyed list of an applied configuration has its key on every element,
/// once. Returns the real server's wording for the first problem.
pub(crate) fn check_keyed_lists(applied: &Value) -> Result<(), String> {
    check_at(applied, &mut Vec::new())
}

fn check_at(value: &Value, names: &mut Vec<String>) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                names.push(key.clone());
                let r = check_at(child, names);
                names.pop();
                r?;
            }
        }
        Value::Array(items) => {
            let strategy = apply_list_strategy(names, &[items]);
            if let ListStrategy::MapByKey(key) = strategy {
                let mut seen = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let Some(id) = item.get(key) else {
                        return Err(format!(
                            ".{}: element {i}: associative list with keys has an element that omits key field {key:?} (and doesn't have default value)",
                            names.join(".")
                        ));
                    };
                    if seen.contains(&id) {
                        return Err(format!(
                            ".{}: duplicate entries for key [{key}={id}]",
                            names.join(".")
                        ));
                    }
                    seen.push(id);
                }
            }
            for item in items {
                check_at(item, names)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::managed_fields::display_path;
    use serde_json::json;

    fn shown(set: &FieldSet) -> Vec<String> {
        set.paths().iter().map(|p| display_path(p)).collect()
    }

    #[test]
    fn field_set_of_a_deployment_config() {
        let cfg = json!({
            "metadata": {"labels": {"app": "web"}, "finalizers": ["f1"]},
            "spec": {"replicas": 3, "selector": {}, "template": {"spec": {"containers": [
                {"name": "app", "image": "app:1", "args": ["a"], "ports": [{"containerPort": 80}]}
            ]}}}
        });
        assert_eq!(
            shown(&field_set(&cfg)),
            vec![
                ".metadata.finalizers[=\"f1\"]",
                ".metadata.labels.app",
                ".spec.replicas",
                ".spec.selector",
                ".spec.template.spec.containers[name=\"app\"]",
                ".spec.template.spec.containers[name=\"app\"].args",
                ".spec.template.spec.containers[name=\"app\"].image",
                ".spec.template.spec.containers[name=\"app\"].name",
                ".spec.template.spec.containers[name=\"app\"].ports[containerPort=80]",
                ".spec.template.spec.containers[name=\"app\"].ports[containerPort=80].containerPort",
            ]
        );
    }

    #[test]
    fn compare_reports_added_modified_removed() {
        let old = json!({"spec": {"replicas": 1, "paused": true, "pools": [{"name": "a", "size": 1}, {"name": "b", "size": 1}]}});
        let new = json!({"spec": {"replicas": 2, "pools": [{"name": "a", "size": 2}, {"name": "c", "size": 1}], "x": {"y": 1}}});
        let cmp = compare(&old, &new);
        assert_eq!(
            shown(&cmp.modified),
            vec![".spec.pools[name=\"a\"].size", ".spec.replicas"]
        );
        assert_eq!(
            shown(&cmp.added),
            vec![
                ".spec.pools[name=\"c\"]",
                ".spec.pools[name=\"c\"].name",
                ".spec.pools[name=\"c\"].size",
                ".spec.x",
                ".spec.x.y"
            ]
        );
        assert_eq!(
            shown(&cmp.removed),
            vec![
                ".spec.paused",
                ".spec.pools[name=\"b\"]",
                ".spec.pools[name=\"b\"].name",
                ".spec.pools[name=\"b\"].size"
            ]
        );
        let same = compare(&new, &new);
        assert!(same.added.is_empty() && same.modified.is_empty() && same.removed.is_empty());
    }

    #[test]
    fn remove_path_handles_keys_values_and_fields() {
        let mut v = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"pools": [{"name": "a", "size": 1}, {"name": "b"}]}});
        let set = field_set(&v);
        let paths = set.paths();
        let size = paths
            .iter()
            .find(|p| display_path(p) == ".spec.pools[name=\"a\"].size")
            .unwrap();
        assert!(remove_path(&mut v, size));
        let b = paths
            .iter()
            .find(|p| display_path(p) == ".spec.pools[name=\"b\"]")
            .unwrap();
        assert!(remove_path(&mut v, b));
        let fin = paths
            .iter()
            .find(|p| display_path(p) == ".metadata.finalizers[=\"a\"]")
            .unwrap();
        assert!(remove_path(&mut v, fin));
        assert!(!remove_path(&mut v, fin), "already gone");
        assert_eq!(
            v,
            json!({"metadata": {"finalizers": ["b"]}, "spec": {"pools": [{"name": "a"}]}})
        );
    }

    #[test]
    fn merge_applied_by_list_kind() {
        let mut live = json!({"metadata": {"finalizers": ["a"], "labels": {"x": "1"}},
            "spec": {"args": ["1", "2"], "pools": [{"name": "a", "size": 1, "zone": "z"}]}});
        merge_applied(
            &mut live,
            &json!({"metadata": {"finalizers": ["b"], "labels": {"x": null, "y": "2"}},
            "spec": {"args": ["3"], "pools": [{"name": "a", "size": 5}, {"name": "b", "size": 1}]}}),
        );
        assert_eq!(
            live,
            json!({"metadata": {"finalizers": ["a", "b"], "labels": {"y": "2"}},
            "spec": {"args": ["3"], "pools": [{"name": "a", "size": 5, "zone": "z"}, {"name": "b", "size": 1}]}})
        );
    }

    #[test]
    fn keyed_list_checks() {
        let err = check_keyed_lists(
            &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ".spec.template.spec.containers: element 0: associative list with keys has an element that omits key field \"name\" (and doesn't have default value)"
        );
        let err =
            check_keyed_lists(&json!({"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}))
                .unwrap_err();
        assert_eq!(
            err,
            ".spec.containers: duplicate entries for key [name=\"a\"]"
        );
        assert!(
            check_keyed_lists(&json!({"spec": {"pools": [{"name": "a"}, {"name": "a"}]}})).is_ok(),
            "heuristic lists fall back to atomic"
        );
    }
}
