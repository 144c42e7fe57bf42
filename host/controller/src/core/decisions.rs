//! How a decision outcome is shown: its `status.lastDecisions` entry and whether it is
//! announced with an Event.
//!
//! Pure rules behind the one recording path (`reconcile::decisions`). A repeat of the last
//! answer of the same kind is not news: it adds no status entry (so no status write) and no
//! Event. Outcomes an operator must see — a fallback, a hold, a veto, an error — are announced
//! as Warning Events; an applied decision is not (its effect has its own Event: `Placed`,
//! `UpgradeStarted`, `Remediated`).

use fleetward_sdk::wire::{DecisionKind, Timestamp};

use crate::crd::DecisionRecordStatus;
use crate::decision::DecisionOutcome;

/// Longest reason kept in a status entry (the ledger keeps the whole reason).
pub const STATUS_REASON_CHARS: usize = 300;

/// The status entry of one outcome.
pub fn entry(
    kind: DecisionKind,
    digest: &str,
    now: Timestamp,
    outcome: &DecisionOutcome,
    reason: &str,
) -> DecisionRecordStatus {
    DecisionRecordStatus {
        kind: kind.as_str().into(),
        digest: digest.into(),
        time: now.to_string(),
        outcome: outcome.as_str().into(),
        reason: reason.chars().take(STATUS_REASON_CHARS).collect(),
    }
}

/// Adds `entry` to a bounded `lastDecisions` list unless it repeats the last entry of its kind
/// (time aside). Returns whether it was added.
pub fn push(list: &mut Vec<DecisionRecordStatus>, entry: DecisionRecordStatus, max: usize) -> bool {
    let repeats = list
        .iter()
        .rev()
        .find(|d| d.kind == entry.kind)
        .is_some_and(|d| {
            d.digest == entry.digest && d.outcome == entry.outcome && d.reason == entry.reason
        });
    if repeats {
        return false;
    }
    list.push(entry);
    if list.len() > max {
        let excess = list.len() - max;
        list.drain(..excess);
    }
    true
}

/// The Event reason announcing an outcome, if it is one an operator must see.
pub fn announcement(outcome: &DecisionOutcome) -> Option<&'static str> {
    match outcome {
        DecisionOutcome::Applied => None,
        DecisionOutcome::Fallback => Some("PolicyFallback"),
        DecisionOutcome::Held => Some("PolicyHeld"),
        DecisionOutcome::Vetoed { .. } => Some("DecisionVetoed"),
        DecisionOutcome::Error => Some("PolicyError"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_not_news_and_the_list_is_bounded() {
        let mut list = Vec::new();
        let e = |t: i64, outcome: &DecisionOutcome, reason: &str| {
            entry(DecisionKind::Placement, "d", Timestamp(t), outcome, reason)
        };
        assert!(push(&mut list, e(0, &DecisionOutcome::Applied, "r"), 10));
        assert!(!push(&mut list, e(5, &DecisionOutcome::Applied, "r"), 10));
        assert!(push(&mut list, e(6, &DecisionOutcome::Held, "r"), 10));
        // Another kind in between does not hide the last entry of this kind.
        let other = entry(
            DecisionKind::Remediation,
            "d",
            Timestamp(7),
            &DecisionOutcome::Applied,
            "x",
        );
        assert!(push(&mut list, other, 10));
        assert!(!push(&mut list, e(8, &DecisionOutcome::Held, "r"), 10));
        for i in 0..20 {
            push(
                &mut list,
                e(10 + i, &DecisionOutcome::Applied, &i.to_string()),
                10,
            );
        }
        assert_eq!(list.len(), 10);
        assert_eq!(list[9].reason, "19");
        let long = e(99, &DecisionOutcome::Error, &"x".repeat(1000));
        assert_eq!(long.reason.chars().count(), STATUS_REASON_CHARS);
    }

    #[test]
    fn only_outcomes_an_operator_must_see_are_announced() {
        assert_eq!(announcement(&DecisionOutcome::Applied), None);
        assert_eq!(
            announcement(&DecisionOutcome::Fallback),
            Some("PolicyFallback")
        );
        assert_eq!(announcement(&DecisionOutcome::Held), Some("PolicyHeld"));
        assert_eq!(
            announcement(&DecisionOutcome::Vetoed {
                invariant: "ControlPlaneFirst".into()
            }),
            Some("DecisionVetoed")
        );
        assert_eq!(announcement(&DecisionOutcome::Error), Some("PolicyError"));
    }
}
