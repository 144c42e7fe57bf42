//! Which lists of built-in kinds merge element-wise, and by which key.
//!
//! The real API server reads this from Go struct tags (`patchStrategy`, `patchMergeKey`,
//! `+listType`, `+listMapKey`). The emulator has no typed schema, so the table below names
//! the lists Fleetward and its fake infrastructure patch, by the field names on their path
//! (list positions skipped): `spec.template.spec.containers.env` ends with `containers`,`env`.
//! Strategic merge patch and server-side apply share it so both agree on list identity.

use serde_json::Value;

/// How a list field combines with a patch or an applied configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// The list is one value: a patch or applied configuration replaces it whole.
    Atomic,
    /// A set of primitives (`metadata.finalizers`): union on merge, elements owned one by one.
    Set,
    /// A list of objects identified by the value of this key (`name`, `type`, `uid`…).
    MapByKey(&'static str),
}

const CONTAINERS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// `(path suffix, strategy)`; the first matching entry wins, so longer suffixes come first.
const TABLE: &[(&[&str], ListStrategy)] = &[
    (&["metadata", "finalizers"], ListStrategy::Set),
    (
        &["metadata", "ownerReferences"],
        ListStrategy::MapByKey("uid"),
    ),
    (&["resources", "claims"], ListStrategy::MapByKey("name")),
    (&["imagePullSecrets"], ListStrategy::MapByKey("name")),
    (&["volumes"], ListStrategy::MapByKey("name")),
    (&["hostAliases"], ListStrategy::MapByKey("ip")),
    (
        &["topologySpreadConstraints"],
        ListStrategy::MapByKey("topologyKey"),
    ),
    (&["resourceClaims"], ListStrategy::MapByKey("name")),
    (&["schedulingGates"], ListStrategy::MapByKey("name")),
    (&["conditions"], ListStrategy::MapByKey("type")),
    (&["tolerations"], ListStrategy::Atomic),
    (&["args"], ListStrategy::Atomic),
    (&["command"], ListStrategy::Atomic),
    (&["envFrom"], ListStrategy::Atomic),
];

/// Fields of a container that are keyed lists.
const CONTAINER_LISTS: &[(&str, ListStrategy)] = &[
    ("ports", ListStrategy::MapByKey("containerPort")),
    ("env", ListStrategy::MapByKey("name")),
    ("volumeMounts", ListStrategy::MapByKey("mountPath")),
    ("volumeDevices", ListStrategy::MapByKey("devicePath")),
];

/// The strategy the built-in type table gives the list at `path` (field names from the
/// object root, list positions skipped), or `None` when the table does not know it.
pub(crate) fn known_list_strategy<S: AsRef<str>>(path: &[S]) -> Option<ListStrategy> {
    let names: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
    if let [.., parent, field] = names.as_slice()
        && CONTAINERS.contains(parent)
        && let Some((_, s)) = CONTAINER_LISTS.iter().find(|(f, _)| f == field)
    {
        return Some(*s);
    }
    if let Some(last) = names.last()
        && CONTAINERS.contains(last)
    {
        return Some(ListStrategy::MapByKey("name"));
    }
    // A Service's ports are keyed by port (the emulator serves no other kind with root
    // `spec.ports`).
    if names == ["spec", "ports"] {
        return Some(ListStrategy::MapByKey("port"));
    }
    TABLE
        .iter()
        .find(|(suffix, _)| names.ends_with(suffix))
        .map(|(_, s)| *s)
}

/// Server-side apply's view of the list at `path`: the table above, else associative by
/// `name` when every element of every given list is an object with a distinct string `name`
/// (how Fleetward's own CRDs declare `x-kubernetes-list-map-keys`), else atomic.
pub(crate) fn apply_list_strategy<S: AsRef<str>>(path: &[S], lists: &[&[Value]]) -> ListStrategy {
    if let Some(known) = known_list_strategy(path) {
        return known;
    }
    let mut any = false;
    for list in lists {
        let mut seen = std::collections::BTreeSet::new();
        for item in *list {
            any = true;
            match item.get("name").and_then(Value::as_str) {
                Some(name) if seen.insert(name) => {}
                _ => return ListStrategy::Atomic,
            }
        }
    }
    if any {
        ListStrategy::MapByKey("name")
    } else {
        ListStrategy::Atomic
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_lookups() {
        let s = |p: &[&str]| known_list_strategy(p);
        assert_eq!(
            s(&["spec", "template", "spec", "containers"]),
            Some(ListStrategy::MapByKey("name"))
        );
        assert_eq!(
            s(&["spec", "template", "spec", "initContainers", "env"]),
            Some(ListStrategy::MapByKey("name"))
        );
        assert_eq!(
            s(&["spec", "template", "spec", "containers", "ports"]),
            Some(ListStrategy::MapByKey("containerPort"))
        );
        assert_eq!(
            s(&["spec", "template", "spec", "containers", "volumeMounts"]),
            Some(ListStrategy::MapByKey("mountPath"))
        );
        assert_eq!(s(&["spec", "ports"]), Some(ListStrategy::MapByKey("port")));
        assert_eq!(
            s(&["status", "conditions"]),
            Some(ListStrategy::MapByKey("type"))
        );
        assert_eq!(s(&["metadata", "finalizers"]), Some(ListStrategy::Set));
        assert_eq!(
            s(&["metadata", "ownerReferences"]),
            Some(ListStrategy::MapByKey("uid"))
        );
        assert_eq!(
            s(&["spec", "template", "spec", "containers", "args"]),
            Some(ListStrategy::Atomic)
        );
        assert_eq!(s(&["spec", "finalizers"]), None);
        assert_eq!(s(&["spec", "nodePools"]), None);
    }

    #[test]
    fn apply_heuristic_needs_distinct_names_everywhere() {
        let p = ["spec", "nodePools"];
        let named = [json!({"name": "a"}), json!({"name": "b"})];
        let dup = [json!({"name": "a"}), json!({"name": "a"})];
        let unnamed = [json!({"size": 1})];
        assert_eq!(
            apply_list_strategy(&p, &[&named]),
            ListStrategy::MapByKey("name")
        );
        assert_eq!(
            apply_list_strategy(&p, &[&named, &dup]),
            ListStrategy::Atomic
        );
        assert_eq!(
            apply_list_strategy(&p, &[&named, &unnamed]),
            ListStrategy::Atomic
        );
        assert_eq!(apply_list_strategy(&p, &[&[]]), ListStrategy::Atomic);
        assert_eq!(
            apply_list_strategy(&["spec", "args"], &[&[json!("x")]]),
            ListStrategy::Atomic
        );
    }
}
