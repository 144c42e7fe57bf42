//! `metadata.managedFields`: who owns which fields of an object.
//!
//! A [`FieldSet`] is a tree of path elements in the `FieldsV1` encoding the real API server
//! stores (`f:<field>`, `k:<json key object>`, `v:<json value>`, `i:<index>`, `.` = the node
//! itself is owned). [`ManagedFieldsEntry`] is one entry of the list; [`read_entries`] and
//! [`write_entries`] convert to and from the object. Server-side apply ([`super::apply`]) does
//! its ownership arithmetic on these sets.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One path element in `FieldsV1` text form (`f:spec`, `k:{"name":"app"}`, `v:"x"`, `i:0`).
pub type PathElement = String;

/// A set of field paths, stored as a tree in the `FieldsV1` shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Whether the path leading to this node is itself in the set (`.` in `FieldsV1`).
    member: bool,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Decodes a `fieldsV1` object. `None` if it is not in the `FieldsV1` shape.
    pub fn from_fields_v1(value: &Value) -> Option<FieldSet> {
        let Value::Object(map) = value else {
            return None;
        };
        let mut node = FieldSet::default();
        for (key, child) in map {
            if key == "." {
                node.member = true;
                continue;
            }
            if !(key.starts_with("f:")
                || key.starts_with("k:")
                || key.starts_with("v:")
                || key.starts_with("i:"))
            {
                return None;
            }
            let mut sub = FieldSet::from_fields_v1(child)?;
            if sub.children.is_empty() {
                // A leaf `{}` is a member.
                sub.member = true;
            }
            node.children.insert(key.clone(), sub);
        }
        Some(node)
    }

    /// Encodes the set as a `fieldsV1` object.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (key, child) in &self.children {
            map.insert(key.clone(), child.to_fields_v1());
        }
        Value::Object(map)
    }

    /// Whether no path at all is in the set.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds `path` to the set.
    pub fn insert(&mut self, path: &[PathElement]) {
        let mut node = self;
        for element in path {
            node = node.children.entry(element.clone()).or_default();
        }
        node.member = true;
    }

    /// A set holding just the path that leads to it (`{}` in `FieldsV1`).
    pub(crate) fn leaf() -> FieldSet {
        FieldSet {
            member: true,
            children: BTreeMap::new(),
        }
    }

    /// Marks the path leading to this node as a member.
    pub(crate) fn mark(&mut self) {
        self.member = true;
    }

    /// Marks the node at `path` below this one as a member, if it is in the set.
    pub(crate) fn mark_child(&mut self, path: &[PathElement]) {
        let mut node = self;
        for element in path {
            match node.children.get_mut(element) {
                Some(child) => node = child,
                None => return,
            }
        }
        node.member = true;
    }

    /// Puts `child` under `element` (merging with what is there); empty sets are dropped.
    pub(crate) fn attach(&mut self, element: PathElement, child: FieldSet) {
        if child.is_empty() {
            return;
        }
        match self.children.get_mut(&element) {
            Some(existing) => existing.union_with(&child),
            None => {
                self.children.insert(element, child);
            }
        }
    }

    /// Whether `path` is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.node(path).is_some_and(|n| n.member)
    }

    /// Whether `path` or any path below it is in the set.
    pub fn contains_at_or_below(&self, path: &[PathElement]) -> bool {
        self.node(path).is_some_and(|n| !n.is_empty())
    }

    fn node(&self, path: &[PathElement]) -> Option<&FieldSet> {
        path.iter()
            .try_fold(self, |node, element| node.children.get(element))
    }

    /// Adds every path of `other`.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (key, child) in &other.children {
            self.children
                .entry(key.clone())
                .or_default()
                .union_with(child);
        }
    }

    /// Removes every path of `other` (paths below a removed one stay unless also in `other`).
    pub fn subtract(&mut self, other: &FieldSet) {
        if other.member {
            self.member = false;
        }
        for (key, child) in &other.children {
            if let Some(mine) = self.children.get_mut(key) {
                mine.subtract(child);
                if mine.is_empty() {
                    self.children.remove(key);
                }
            }
        }
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (key, child) in &self.children {
            if let Some(theirs) = other.children.get(key) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(key.clone(), both);
                }
            }
        }
        out
    }

    /// Every path in the set, in sorted order.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect(&mut prefix, &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (key, child) in &self.children {
            prefix.push(key.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The paths of the set that are members or lead to members, with their child sets; used
    /// to walk the tree alongside an object.
    pub(crate) fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    /// Whether this node itself is in the set.
    pub(crate) fn is_member(&self) -> bool {
        self.member
    }

    /// The subtree at `element`, if any.
    pub(crate) fn child(&self, element: &str) -> Option<&FieldSet> {
        self.children.get(element)
    }

    /// Removes the subtree at `element`.
    pub(crate) fn remove_child(&mut self, element: &str) {
        self.children.remove(element);
    }

    /// Keeps only the subtree at `element`.
    pub(crate) fn retain_only(&mut self, element: &str) {
        self.member = false;
        self.children.retain(|k, _| k == element);
    }

    /// Mutable access to the subtree at `element`.
    pub(crate) fn child_mut(&mut self, element: &str) -> Option<&mut FieldSet> {
        self.children.get_mut(element)
    }

    /// Clears the member flag of this node (keeps its children).
    pub(crate) fn unmark(&mut self) {
        self.member = false;
    }
}

/// Renders a path the way the real API server prints it in conflicts:
/// `.spec.template.spec.containers[name="app"].image`, `.metadata.finalizers[="x"]`.
pub fn display_path(path: &[PathElement]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = element.strip_prefix("k:") {
            out.push('[');
            match serde_json::from_str::<Map<String, Value>>(key) {
                Ok(fields) => {
                    let parts: Vec<String> =
                        fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    out.push_str(&parts.join(","));
                }
                Err(_) => out.push_str(key),
            }
            out.push(']');
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str("[=");
            out.push_str(value);
            out.push(']');
        } else if let Some(index) = element.strip_prefix("i:") {
            out.push('[');
            out.push_str(index);
            out.push(']');
        } else {
            out.push_str(element);
        }
    }
    out
}

/// `operation` of a managed fields entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Fields set by server-side apply.
    Apply,
    /// Fields changed by any other write (create, update, patch).
    Update,
}

impl Operation {
    /// The wire spelling (`Apply`, `Update`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedFieldsEntry {
    /// The field manager (`kubectl`, `fleetward-controller`…).
    pub manager: String,
    /// Whether the fields were applied or written by an update.
    pub operation: Operation,
    /// The `apiVersion` of the object the manager wrote.
    pub api_version: String,
    /// RFC 3339 time of the manager's last change.
    pub time: Option<String>,
    /// `status` (or another subresource) when the write went through a subresource.
    pub subresource: Option<String>,
    /// The owned fields.
    pub fields: FieldSet,
}

impl ManagedFieldsEntry {
    /// Whether this entry belongs to the given manager identity. The real server keys entries
    /// by manager, operation and subresource together.
    pub fn is(&self, manager: &str, operation: Operation, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    /// How the real server names this manager in conflict messages: `"kubectl"`,
    /// `"ctrl" with subresource "status"`, `"kubectl-edit" using apps/v1`. (The server prints
    /// the manager identifier, which carries the apiVersion of Update managers but no time.)
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        map.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        map.insert("fieldsV1".into(), self.fields.to_fields_v1());
        map.insert("manager".into(), Value::String(self.manager.clone()));
        map.insert(
            "operation".into(),
            Value::String(self.operation.as_str().into()),
        );
        if let Some(sub) = &self.subresource {
            map.insert("subresource".into(), Value::String(sub.clone()));
        }
        if let Some(time) = &self.time {
            map.insert("time".into(), Value::String(time.clone()));
        }
        Value::Object(map)
    }

    fn from_json(value: &Value) -> Option<ManagedFieldsEntry> {
        let s = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
        let operation = match value.get("operation").and_then(Value::as_str)? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        let fields = match value.get("fieldsV1") {
            Some(v) => FieldSet::from_fields_v1(v)?,
            None => FieldSet::new(),
        };
        Some(ManagedFieldsEntry {
            manager: s("manager").unwrap_or_default(),
            operation,
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").filter(|x| !x.is_empty()),
            fields,
        })
    }
}

/// The entries of `obj.metadata.managedFields`; entries that do not decode are skipped (the
/// real server resets undecodable managed fields rather than failing the write).
pub fn read_entries(obj: &Value) -> Vec<ManagedFieldsEntry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(ManagedFieldsEntry::from_json)
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `entries` into `obj.metadata.managedFields`, sorted like the real server (Apply
/// before Update, then by time, manager, apiVersion, subresource). An empty list removes the
/// field. Does nothing if `obj` is not an object.
pub fn write_entries(obj: &mut Value, entries: &[ManagedFieldsEntry]) {
    let Value::Object(root) = obj else {
        return;
    };
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(meta) = meta else {
        return;
    };
    // A manager that owns nothing any more is dropped, as the real server does.
    let mut sorted: Vec<&ManagedFieldsEntry> =
        entries.iter().filter(|e| !e.fields.is_empty()).collect();
    if sorted.is_empty() {
        meta.remove("managedFields");
        return;
    }
    sorted.sort_by(|a, b| {
        (
            a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    meta.insert(
        "managedFields".into(),
        Value::Array(
            sorted
                .into_iter()
                .map(ManagedFieldsEntry::to_json)
                .collect(),
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(elements: &[&str]) -> Vec<PathElement> {
        elements.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn fields_v1_round_trip() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}
            }}}}
        });
        let set = FieldSet::from_fields_v1(&v).unwrap();
        assert!(set.contains(&p(&["f:spec", "f:replicas"])));
        assert!(set.contains(&p(&["f:metadata", "f:labels"])));
        assert!(!set.contains(&p(&["f:spec"])));
        assert!(set.contains_at_or_below(&p(&["f:spec"])));
        assert!(set.contains(&p(&[
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"app\"}"
        ])));
        assert_eq!(set.to_fields_v1(), v);
        assert_eq!(set.paths().len(), 6);
        assert!(FieldSet::from_fields_v1(&json!({"spec": {}})).is_none());
        assert!(FieldSet::from_fields_v1(&json!([])).is_none());
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::new();
        a.insert(&p(&["f:spec", "f:replicas"]));
        a.insert(&p(&["f:spec", "f:paused"]));
        let mut b = FieldSet::new();
        b.insert(&p(&["f:spec", "f:replicas"]));
        b.insert(&p(&["f:metadata", "f:labels", "f:x"]));
        let both = a.intersection(&b);
        assert_eq!(both.paths(), vec![p(&["f:spec", "f:replicas"])]);
        let mut u = a.clone();
        u.union_with(&b);
        assert_eq!(u.paths().len(), 3);
        a.subtract(&b);
        assert_eq!(a.paths(), vec![p(&["f:spec", "f:paused"])]);
        a.subtract(&a.clone());
        assert!(a.is_empty());
        assert_eq!(a.to_fields_v1(), json!({}));
    }

    #[test]
    fn display_paths_like_the_real_server() {
        assert_eq!(
            display_path(&p(&["f:spec", "f:replicas"])),
            ".spec.replicas"
        );
        assert_eq!(
            display_path(&p(&[
                "f:spec",
                "f:containers",
                "k:{\"name\":\"app\"}",
                "f:image"
            ])),
            ".spec.containers[name=\"app\"].image"
        );
        assert_eq!(
            display_path(&p(&[
                "f:spec",
                "f:ports",
                "k:{\"containerPort\":80,\"protocol\":\"TCP\"}"
            ])),
            ".spec.ports[containerPort=80,protocol=\"TCP\"]"
        );
        assert_eq!(
            display_path(&p(&["f:metadata", "f:finalizers", "v:\"a\""])),
            ".metadata.finalizers[=\"a\"]"
        );
        assert_eq!(display_path(&p(&["f:args", "i:2"])), ".args[2]");
    }

    #[test]
    fn entries_round_trip_sorted() {
        let mut fields = FieldSet::new();
        fields.insert(&p(&["f:spec", "f:replicas"]));
        let update = ManagedFieldsEntry {
            manager: "kubectl-edit".into(),
            operation: Operation::Update,
            api_version: "apps/v1".into(),
            time: Some("2026-01-05T00:00:00Z".into()),
            subresource: None,
            fields: fields.clone(),
        };
        let apply = ManagedFieldsEntry {
            manager: "fleetward".into(),
            operation: Operation::Apply,
            api_version: "apps/v1".into(),
            time: Some("2026-01-05T00:01:00Z".into()),
            subresource: Some("status".into()),
            fields,
        };
        let mut obj = json!({"metadata": {"name": "x"}});
        write_entries(&mut obj, &[update.clone(), apply.clone()]);
        let mf = &obj["metadata"]["managedFields"];
        assert_eq!(mf[0]["operation"], "Apply", "Apply entries sort first");
        assert_eq!(mf[1]["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
        assert_eq!(mf[1]["fieldsType"], "FieldsV1");
        assert_eq!(read_entries(&obj), vec![apply.clone(), update.clone()]);
        assert_eq!(update.describe(), "\"kubectl-edit\" using apps/v1");
        assert_eq!(
            apply.describe(),
            "\"fleetward\" with subresource \"status\""
        );
        write_entries(&mut obj, &[]);
        assert_eq!(obj, json!({"metadata": {"name": "x"}}));
    }

    #[test]
    fn undecodable_entries_are_skipped() {
        let obj = json!({"metadata": {"managedFields": [
            {"manager": "a", "operation": "Bogus"},
            {"manager": "b", "operation": "Update", "fieldsV1": {"bad": {}}},
            {"manager": "c", "operation": "Update", "apiVersion": "v1", "fieldsV1": {"f:data": {}}}
        ]}});
        let entries = read_entries(&obj);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manager, "c");
    }
}
