//! Kubernetes-style status conditions, shared by the three resources.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `True`, `False` or `Unknown`, as in every Kubernetes condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// It does not.
    False,
    /// The controller cannot tell.
    Unknown,
}

/// One condition. `lastTransitionTime` changes only when `status` changes, so re-asserting the
/// same condition is not a write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Placed`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// CamelCase machine-readable reason, e.g. `NoCandidateSeed`.
    pub reason: String,
    /// Human-readable detail.
    #[serde(default)]
    pub message: String,
    /// RFC 3339 time of the last status change.
    pub last_transition_time: String,
}

/// A condition reason from a snake_case failure label (`timed_out` → `TimedOut`): engine error
/// labels become `PolicyDegraded` and `PoliciesReady` reasons this way.
pub fn reason_from_label(label: &str) -> String {
    label
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// Sets (or replaces) the condition of type `type_`; keeps `lastTransitionTime` when the status is
/// unchanged. Returns true when anything changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    now: &str,
) -> bool {
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status == status && c.reason == reason && c.message == message {
                return false;
            }
            if c.status != status {
                c.last_transition_time = now.to_string();
            }
            c.status = status;
            c.reason = reason.to_string();
            c.message = message;
            true
        }
        None => {
            conditions.push(Condition {
                type_: type_.to_string(),
                status,
                reason: reason.to_string(),
                message,
                last_transition_time: now.to_string(),
            });
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_from_labels_are_camel_case() {
        assert_eq!(reason_from_label("timed_out"), "TimedOut");
        assert_eq!(reason_from_label("trap"), "Trap");
        // An empty word (a doubled `_`) is skipped, not a panic.
        assert_eq!(reason_from_label("digest__mismatch"), "DigestMismatch");
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut c = Vec::new();
        assert!(set_condition(
            &mut c,
            "Placed",
            ConditionStatus::False,
            "Pending",
            "",
            "t1"
        ));
        assert!(!set_condition(
            &mut c,
            "Placed",
            ConditionStatus::False,
            "Pending",
            "",
            "t2"
        ));
        assert!(set_condition(
            &mut c,
            "Placed",
            ConditionStatus::False,
            "NoSeed",
            "x",
            "t3"
        ));
        assert_eq!(c[0].last_transition_time, "t1");
        assert!(set_condition(
            &mut c,
            "Placed",
            ConditionStatus::True,
            "Placed",
            "",
            "t4"
        ));
        assert_eq!(c[0].last_transition_time, "t4");
        assert_eq!(c.len(), 1);
    }
}
