//! Typed status fields in the string forms earlier controllers stored.
//!
//! Status was first written with plain strings (`control-plane`, `pool/workers`,
//! `machine/workers/m-1`, an action as JSON text) that the controller parsed back on every
//! reconcile. The fields are typed now, but the stored form must not change: objects written by
//! an earlier controller still deserialise, and what this one writes reads back byte for byte
//! (the tests in `cluster.rs` pin it). The CRD schema carries a pattern for each form
//! ([`TARGET_PATTERN`], …) so the API server refuses a hand edit the controller could not read,
//! instead of a reflector failing to deserialise it.

use fleetward_sdk::wire::{Component, RemediationAction, UpgradeTarget};
use serde::{Deserialize, Deserializer, Serializer};

/// `control-plane` or `pool/<DNS label>`.
pub const TARGET_PATTERN: &str = r"^(control-plane|pool/[a-z0-9]([-a-z0-9]*[a-z0-9])?)$";
/// `control-plane/<workload>` or `machine/<pool>/<machine>`.
pub const COMPONENT_PATTERN: &str = r"^(control-plane/.+|machine/[^/]+/.+)$";
/// `1.32.0` (a leading `v` and a missing patch are read too).
pub const VERSION_PATTERN: &str = r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$";
/// RFC 3339, as [`fleetward_sdk::wire::Timestamp`] reads it.
pub const TIME_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$";
/// A JSON object naming its action, as [`RemediationAction`] serialises.
pub const ACTION_PATTERN: &str = r#"^\{"action":"[a-z_]+".*\}$"#;

/// Parses an upgrade target as its `Display` writes it: `control-plane` or `pool/<name>`.
fn parse_upgrade_target(s: &str) -> Option<UpgradeTarget> {
    if s == "control-plane" {
        return Some(UpgradeTarget::ControlPlane);
    }
    s.strip_prefix("pool/")
        .map(|p| UpgradeTarget::NodePool { pool: p.into() })
}

/// Parses a component as [`Component`]'s `Display` writes it (`control-plane/<name>`,
/// `machine/<pool>/<name>`).
fn parse_component(s: &str) -> Option<Component> {
    if let Some(name) = s.strip_prefix("control-plane/") {
        return Some(Component::ControlPlane { name: name.into() });
    }
    let rest = s.strip_prefix("machine/")?;
    let (pool, name) = rest.split_once('/')?;
    Some(Component::Machine {
        name: name.into(),
        pool: pool.into(),
    })
}

/// Serde for an [`UpgradeTarget`] stored as its string form.
pub mod target {
    use super::*;

    pub fn serialize<S: Serializer>(t: &UpgradeTarget, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UpgradeTarget, D::Error> {
        let s = String::deserialize(d)?;
        parse_upgrade_target(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "upgrade target {s:?} is neither control-plane nor pool/<name>"
            ))
        })
    }
}

/// Serde for a [`Component`] stored as its string form.
pub mod component {
    use super::*;

    pub fn serialize<S: Serializer>(c: &Component, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(c)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Component, D::Error> {
        let s = String::deserialize(d)?;
        parse_component(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "component {s:?} is neither control-plane/<name> nor machine/<pool>/<name>"
            ))
        })
    }
}

/// Serde for a [`RemediationAction`] stored as JSON text in a string.
pub mod action_json {
    use super::*;

    pub fn serialize<S: Serializer>(a: &RemediationAction, s: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(a).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RemediationAction, D::Error> {
        let s = String::deserialize(d)?;
        serde_json::from_str(&s).map_err(|e| {
            serde::de::Error::custom(format!("remediation action {s:?} is not an action: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_round_trip_through_their_string_form() {
        for c in [
            Component::ControlPlane {
                name: "etcd".into(),
            },
            Component::Machine {
                name: "m-1".into(),
                pool: "workers".into(),
            },
        ] {
            assert_eq!(parse_component(&c.to_string()), Some(c));
        }
        assert_eq!(parse_component("machine/no-pool"), None);
        assert_eq!(parse_component("node/x"), None);
    }
}
