//! Signals: conditions that other controllers or alert bridges set on a ManagedCluster's status
//! (type `signal.fleetward.dev/<name>`), passed to the upgrade-ordering and remediation policies
//! so a tenant's policy can hold a wave while an alert fires (docs/rollout.md, "Signals").
//!
//! The controller never writes these conditions and never drops them: it edits only the
//! condition types it owns (`crate::crd::set_condition` replaces by type), so a signal survives
//! every status write. What reaches a policy is bounded here, because the conditions are written
//! by parties the tenant's policy should not have to trust for size: only firing signals
//! (status `True`), at most [`MAX_SIGNALS_PER_CLUSTER`] per cluster (the first by name), each
//! message cut to [`MAX_SIGNAL_MESSAGE_BYTES`].

use fleetward_sdk::wire::{
    MAX_SIGNAL_MESSAGE_BYTES, MAX_SIGNALS_PER_CLUSTER, SIGNAL_PREFIX, Signal, Timestamp,
};

use crate::crd::{Condition, ConditionStatus};

/// The firing signals among `conditions`, sorted by name and bounded.
pub fn firing(conditions: &[Condition]) -> Vec<Signal> {
    let mut out: Vec<Signal> = conditions
        .iter()
        .filter(|c| c.status == ConditionStatus::True)
        .filter_map(|c| {
            let name = c.type_.strip_prefix(SIGNAL_PREFIX)?;
            (!name.is_empty()).then(|| Signal {
                name: name.to_string(),
                reason: cut(&c.reason, MAX_SIGNAL_MESSAGE_BYTES).to_string(),
                message: cut(&c.message, MAX_SIGNAL_MESSAGE_BYTES).to_string(),
                since: Timestamp::parse(&c.last_transition_time).ok(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out.truncate(MAX_SIGNALS_PER_CLUSTER);
    out
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(type_: &str, status: ConditionStatus, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status,
            reason: "AlertFiring".into(),
            message: message.into(),
            last_transition_time: "2026-01-05T10:00:00Z".into(),
        }
    }

    #[test]
    fn only_firing_signal_conditions_pass_sorted_without_prefix() {
        let got = firing(&[
            cond("ControlPlaneReady", ConditionStatus::True, ""),
            cond(
                "signal.fleetward.dev/SLOBurn",
                ConditionStatus::True,
                "burn 14x",
            ),
            cond("signal.fleetward.dev/Quiet", ConditionStatus::False, ""),
            cond("signal.fleetward.dev/Unknown", ConditionStatus::Unknown, ""),
            cond(
                "signal.fleetward.dev/AIncident",
                ConditionStatus::True,
                "INC-7",
            ),
            cond("signal.fleetward.dev/", ConditionStatus::True, "no name"),
            cond("other.example.com/SLOBurn", ConditionStatus::True, ""),
        ]);
        let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["AIncident", "SLOBurn"]);
        assert_eq!(got[1].message, "burn 14x");
        assert_eq!(got[1].reason, "AlertFiring");
        assert_eq!(
            got[1].since,
            Some(Timestamp::parse("2026-01-05T10:00:00Z").unwrap())
        );
    }

    #[test]
    fn at_most_the_bound_and_messages_cut_at_a_char_boundary() {
        let many: Vec<Condition> = (0..20)
            .map(|i| {
                cond(
                    &format!("signal.fleetward.dev/S{i:02}"),
                    ConditionStatus::True,
                    &"é".repeat(300),
                )
            })
            .collect();
        let got = firing(&many);
        assert_eq!(got.len(), MAX_SIGNALS_PER_CLUSTER);
        assert_eq!(got[0].name, "S00");
        assert!(got[0].message.len() <= MAX_SIGNAL_MESSAGE_BYTES);
        assert!(got[0].message.len() >= MAX_SIGNAL_MESSAGE_BYTES - 1);
        assert!(got[0].message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_bad_transition_time_drops_only_since() {
        let mut c = cond("signal.fleetward.dev/X", ConditionStatus::True, "");
        c.last_transition_time = "yesterday".into();
        let got = firing(&[c]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].since, None);
    }
}
