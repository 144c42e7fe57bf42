//! Core `v1` `Event` and `events.k8s.io/v1` `Event`: two views of one storage, as in
//! kube-apiserver.
//!
//! Fleetward's controller writes Events through `events.k8s.io/v1`; `kubectl describe` reads
//! them through core `v1` (by `involvedObject`). With separate stores, `kubectl describe`
//! showed none of the controller's Events. Now every Event is stored in its core form (the
//! `("", "events")` table); the `events.k8s.io/v1` resource reads and watches that same table,
//! converted on the way out, and converts what it is sent to the core form on the way in
//! (create, update, every patch type and server-side apply see the `events.k8s.io/v1` shape).
//! A write through either view is a change on both, so watches on either see it.
//!
//! The field mapping is the real server's (`pkg/apis/events/v1` conversion): `regarding` ↔
//! `involvedObject`, `note` ↔ `message`, `reportingController` ↔ `reportingComponent`,
//! `deprecatedSource` ↔ `source`, `deprecatedFirstTimestamp` ↔ `firstTimestamp`,
//! `deprecatedLastTimestamp` ↔ `lastTimestamp`, `deprecatedCount` ↔ `count`; `eventTime`,
//! `series`, `action`, `reason`, `related`, `type` and `reportingInstance` keep their names.
//! The `events.k8s.io/v1` field selectors are the real server's too (`regarding.*`,
//! `reportingController`, `reason`, `type`), translated to the core fields they filter on.

use serde_json::{Map, Value};

use crate::registry::{ResourceType, StorageKey};

/// `events.k8s.io/v1` name → core `v1` name, for the fields that differ.
const RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// The core `apiVersion`.
pub const CORE_API_VERSION: &str = "v1";
/// The `events.k8s.io` `apiVersion`.
pub const EVENTS_API_VERSION: &str = "events.k8s.io/v1";

/// The field selectors the `events.k8s.io/v1` view accepts (besides `metadata.name` and
/// `metadata.namespace`), as the real server's field label conversion lists them.
pub const V1_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reportingController",
    "reason",
    "type",
];

/// Whether `rt` is the `events.k8s.io` view of the core Event storage.
pub fn is_view(rt: &ResourceType) -> bool {
    rt.group == "events.k8s.io" && rt.plural == "events"
}

/// The table both views read and write.
pub fn storage_key() -> StorageKey {
    (String::new(), "events".into())
}

/// Fields the real server's Go structs always serialise, with their zero values, in the core
/// form (no `omitempty`, or structs and times, which `omitempty` does not drop).
const CORE_ZEROES: &[(&str, Zero)] = &[
    ("involvedObject", Zero::Object),
    ("source", Zero::Object),
    ("firstTimestamp", Zero::Null),
    ("lastTimestamp", Zero::Null),
    ("eventTime", Zero::Null),
    ("reportingComponent", Zero::Empty),
    ("reportingInstance", Zero::Empty),
];
/// The same for the `events.k8s.io/v1` form.
const V1_ZEROES: &[(&str, Zero)] = &[
    ("regarding", Zero::Object),
    ("deprecatedSource", Zero::Object),
    ("deprecatedFirstTimestamp", Zero::Null),
    ("deprecatedLastTimestamp", Zero::Null),
    ("eventTime", Zero::Null),
];

#[derive(Clone, Copy)]
enum Zero {
    Null,
    Object,
    Empty,
}

impl Zero {
    fn value(self) -> Value {
        match self {
            Zero::Null => Value::Null,
            Zero::Object => Value::Object(Map::new()),
            Zero::Empty => Value::String(String::new()),
        }
    }
}

fn rename(
    obj: Value,
    map: impl Fn(&str) -> Option<&'static str>,
    api_version: &str,
    zeroes: &[(&str, Zero)],
) -> Value {
    let Value::Object(fields) = obj else {
        return obj;
    };
    let mut out = Map::with_capacity(fields.len());
    for (k, v) in fields {
        match map(&k) {
            Some(to) => out.insert(to.to_owned(), v),
            None => out.insert(k, v),
        };
    }
    for (k, zero) in zeroes {
        out.entry(*k).or_insert_with(|| zero.value());
    }
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    Value::Object(out)
}

/// An `events.k8s.io/v1` Event in its core `v1` form (what is stored), with the zero values
/// the real server's core form always carries.
pub fn to_core(obj: Value) -> Value {
    rename(
        obj,
        |k| {
            RENAMES
                .iter()
                .find(|(v1, _)| *v1 == k)
                .map(|(_, core)| *core)
        },
        CORE_API_VERSION,
        CORE_ZEROES,
    )
}

/// A stored (core `v1`) Event as `events.k8s.io/v1` serves it, with the zero values the real
/// server's `events.k8s.io/v1` form always carries.
pub fn to_v1(obj: Value) -> Value {
    rename(
        obj,
        |k| {
            RENAMES
                .iter()
                .find(|(_, core)| *core == k)
                .map(|(v1, _)| *v1)
        },
        EVENTS_API_VERSION,
        V1_ZEROES,
    )
}

/// The core field an `events.k8s.io/v1` field selector label filters on.
fn core_label(label: &str) -> String {
    if let Some(rest) = label.strip_prefix("regarding.") {
        return format!("involvedObject.{rest}");
    }
    match label {
        "reportingController" => "reportingComponent".into(),
        other => other.into(),
    }
}

/// An `events.k8s.io/v1` field selector (`regarding.name=x,type!=Normal`) over the core fields
/// it filters on (`involvedObject.name=x,type!=Normal`). Call after checking the labels
/// against [`V1_FIELDS`].
pub fn core_field_selector(selector: &str) -> String {
    selector
        .split(',')
        .map(|term| {
            let at = term.find(['=', '!']).unwrap_or(term.len());
            let (label, rest) = term.split_at(at);
            let trimmed = label.trim();
            format!("{}{rest}", core_label(trimmed))
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v1_event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "mc.1", "namespace": "team-a"},
            "eventTime": "2026-01-05T00:00:00.000000Z",
            "series": {"count": 2, "lastObservedTime": "2026-01-05T00:01:00.000000Z"},
            "reportingController": "fleetward.dev/controller", "reportingInstance": "pod-1",
            "action": "Upgrade", "reason": "UpgradeStarted", "type": "Normal",
            "regarding": {"kind": "ManagedCluster", "name": "mc", "namespace": "team-a", "uid": "u-1"},
            "related": {"kind": "Seed", "name": "s"},
            "note": "control plane 1.31 → 1.32",
            "deprecatedSource": {"component": "c"},
            "deprecatedFirstTimestamp": "2026-01-05T00:00:00Z",
            "deprecatedLastTimestamp": "2026-01-05T00:01:00Z",
            "deprecatedCount": 3
        })
    }

    #[test]
    fn the_mapping_is_the_real_servers() {
        let core = to_core(v1_event());
        assert_eq!(
            core,
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "mc.1", "namespace": "team-a"},
                "eventTime": "2026-01-05T00:00:00.000000Z",
                "series": {"count": 2, "lastObservedTime": "2026-01-05T00:01:00.000000Z"},
                "reportingComponent": "fleetward.dev/controller", "reportingInstance": "pod-1",
                "action": "Upgrade", "reason": "UpgradeStarted", "type": "Normal",
                "involvedObject": {"kind": "ManagedCluster", "name": "mc", "namespace": "team-a", "uid": "u-1"},
                "related": {"kind": "Seed", "name": "s"},
                "message": "control plane 1.31 → 1.32",
                "source": {"component": "c"},
                "firstTimestamp": "2026-01-05T00:00:00Z",
                "lastTimestamp": "2026-01-05T00:01:00Z",
                "count": 3
            })
        );
        assert_eq!(to_v1(core), v1_event(), "the round trip is lossless");
    }

    #[test]
    fn each_form_carries_the_real_servers_zero_values() {
        let minimal = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e"}, "note": "n", "reportingController": "c"});
        assert_eq!(
            to_core(minimal.clone()),
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
                   "message": "n", "reportingComponent": "c", "reportingInstance": "",
                   "involvedObject": {}, "source": {}, "firstTimestamp": null,
                   "lastTimestamp": null, "eventTime": null})
        );
        assert_eq!(
            to_v1(to_core(minimal)),
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
                   "note": "n", "reportingController": "c", "reportingInstance": "",
                   "regarding": {}, "deprecatedSource": {}, "deprecatedFirstTimestamp": null,
                   "deprecatedLastTimestamp": null, "eventTime": null})
        );
    }

    #[test]
    fn field_selectors_translate_to_core_fields() {
        assert_eq!(
            core_field_selector(
                "regarding.name=mc,reportingController!=x,type==Warning,metadata.name=e"
            ),
            "involvedObject.name=mc,reportingComponent!=x,type==Warning,metadata.name=e"
        );
        assert_eq!(core_field_selector(""), "");
    }
}
