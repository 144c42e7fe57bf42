//! The simulator's own, independent check of the host's safety invariants on written state.
//!
//! The controller enforces its invariants before it writes; this module checks what it actually
//! wrote, on every ManagedCluster write, comparing the status before and after. It does not
//! trust the controller's bookkeeping: a violation here means the controller published a state
//! that breaks a rule, which makes `fleetward simulate` exit non-zero. The controller's own
//! checker, when it flags something, is recorded alongside (see `driver`).

use fleetward_sdk::wire::{ClusterRef, KubeVersion};
use serde::Serialize;
use serde_json::Value;

/// Kubelets may be at most this many minors older than the control plane.
pub const MAX_KUBELET_SKEW: i64 = 3;

/// A rule broken by written state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    /// Virtual time of the write (seconds since the epoch).
    pub at: i64,
    /// The object (`namespace/name`).
    pub object: String,
    /// Which invariant (`no_downgrade`, `one_minor_at_a_time`, `pool_not_newer_than_cp`,
    /// `kubelet_skew`, `control_plane_first`, or the controller checker's name).
    pub invariant: String,
    /// What exactly was seen.
    pub detail: String,
}

fn version(v: Option<&Value>) -> Option<KubeVersion> {
    v.and_then(Value::as_str)
        .and_then(|s| KubeVersion::parse(s).ok())
}

/// Checks one ManagedCluster status transition `before → after`.
pub fn check_transition(id: &ClusterRef, at: i64, before: &Value, after: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut flag = |invariant: &str, detail: String| {
        out.push(Violation {
            at,
            object: id.to_string(),
            invariant: invariant.into(),
            detail,
        });
    };
    let cp_before = version(before.get("controlPlaneVersion"));
    let cp_after = version(after.get("controlPlaneVersion"));
    if let (Some(b), Some(a)) = (cp_before, cp_after) {
        if a < b {
            flag(
                "no_downgrade",
                format!("control plane went from {b} to {a}"),
            );
        } else if a.minor_distance(b) > 1 {
            flag(
                "one_minor_at_a_time",
                format!("control plane jumped from {b} to {a}"),
            );
        }
    }
    let pools = |s: &Value| -> Vec<(String, KubeVersion)> {
        s.get("nodePools")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| {
                        Some((
                            p.get("name")?.as_str()?.to_string(),
                            version(p.get("version"))?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let before_pools = pools(before);
    for (name, v) in pools(after) {
        if let Some(cp) = cp_after {
            if v > cp && v.minor_distance(cp) > 0 {
                flag(
                    "pool_not_newer_than_cp",
                    format!("pool {name} at {v} is newer than the control plane at {cp}"),
                );
            }
            if cp.minor_distance(v) > MAX_KUBELET_SKEW {
                flag(
                    "kubelet_skew",
                    format!(
                        "pool {name} at {v} is more than {MAX_KUBELET_SKEW} minors behind the control plane at {cp}"
                    ),
                );
            }
        }
        if let Some((_, b)) = before_pools.iter().find(|(n, _)| *n == name) {
            if v < *b {
                flag("no_downgrade", format!("pool {name} went from {b} to {v}"));
            } else if v.minor_distance(*b) > 1 {
                flag(
                    "one_minor_at_a_time",
                    format!("pool {name} jumped from {b} to {v}"),
                );
            }
        }
    }
    if let Some(step) = after.get("inProgress").filter(|s| !s.is_null()) {
        let target = step
            .get("target")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (from, to) = (version(step.get("from")), version(step.get("to")));
        if let (Some(f), Some(t)) = (from, to) {
            if t < f {
                flag(
                    "no_downgrade",
                    format!("step {target} goes from {f} to {t}"),
                );
            } else if t.minor_distance(f) > 1 {
                flag(
                    "one_minor_at_a_time",
                    format!("step {target} goes from {f} to {t}"),
                );
            }
            if let Some(cp) =
                cp_after.filter(|cp| target.starts_with("pool/") && t.minor_distance(*cp) > 0)
            {
                flag(
                    "control_plane_first",
                    format!("step {target} to {t} starts while the control plane is at {cp}"),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> ClusterRef {
        ClusterRef::new("tenant-a", "c1")
    }

    #[test]
    fn healthy_transitions_pass() {
        let before = json!({"controlPlaneVersion": "1.31.0", "nodePools": [{"name": "w", "version": "1.31.0"}]});
        let after = json!({"controlPlaneVersion": "1.32.0", "nodePools": [{"name": "w", "version": "1.31.0"}],
                           "inProgress": {"target": "pool/w", "from": "1.31.0", "to": "1.32.0", "startedAt": "x"}});
        assert!(check_transition(&id(), 0, &before, &after).is_empty());
    }

    #[test]
    fn each_rule_fires() {
        let before = json!({"controlPlaneVersion": "1.31.0", "nodePools": [{"name": "w", "version": "1.31.0"}]});
        let cases = [
            (json!({"controlPlaneVersion": "1.30.0"}), "no_downgrade"),
            (
                json!({"controlPlaneVersion": "1.33.0"}),
                "one_minor_at_a_time",
            ),
            (
                json!({"controlPlaneVersion": "1.31.0", "nodePools": [{"name": "w", "version": "1.32.0"}]}),
                "pool_not_newer_than_cp",
            ),
            (
                json!({"controlPlaneVersion": "1.35.0", "nodePools": [{"name": "w", "version": "1.31.0"}]}),
                "kubelet_skew",
            ),
            (
                json!({"controlPlaneVersion": "1.31.0", "inProgress": {"target": "pool/w", "from": "1.31.0", "to": "1.32.0"}}),
                "control_plane_first",
            ),
        ];
        for (after, rule) in cases {
            let v = check_transition(&id(), 7, &before, &after);
            assert!(v.iter().any(|v| v.invariant == rule), "{rule}: {v:?}");
        }
    }
}
