//! How a decision outcome is shown: its `status.lastDecisions` entry and whether it is
//! announced with an Event.
//!
//! Pure rules behind the one recording path (`reconcile::decisions`). A repeat of the last
//! answer of the same kind is not news: it adds no status entry (so no status write) and no
//! Event. Outcomes an operator must see — a fallback, a hold, a veto, an error — are announced
//! as Warning Events; an applied decision is not (its effect has its own Event: `Placed`,
//! `UpgradeStarted`, `Remediated`), nor is a step that waits (cap back-pressure, a seed that
//! cannot be worked on: routine, recorded in the ledger only).
//!
//! An upgrade veto repeats by its *identity*, not its text: the same invariant on the same
//! cluster and target from the same module is the same veto whatever versions or message the
//! proposal carried ([`push_veto`]). A policy that varies its illegal proposals from plan to plan
//! therefore adds at most one entry per (invariant, target) to a cluster's status; after that
//! only a count changes, and the count is written when it reaches 10, 100, 1000, … (a power of
//! ten: the order of magnitude is what an operator reads), not on every repeat. [`Repeats`]
//! keeps the exact tally in memory between those writes.

use std::collections::BTreeMap;

use fleetward_sdk::wire::{ClusterRef, DecisionKind, Timestamp};

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
        invariant: match outcome {
            DecisionOutcome::Vetoed { invariant } => Some(invariant.clone()),
            _ => None,
        },
        target: None,
        count: None,
        last_time: None,
    }
}

/// The status entry of an upgrade veto: [`entry`] plus the target the step named (`None` when
/// it names no real target: a made-up pool is not an identity a policy may vary).
pub fn veto_entry(
    kind: DecisionKind,
    digest: &str,
    now: Timestamp,
    invariant: &str,
    target: Option<String>,
    reason: &str,
) -> DecisionRecordStatus {
    let outcome = DecisionOutcome::Vetoed {
        invariant: invariant.into(),
    };
    DecisionRecordStatus {
        target,
        ..entry(kind, digest, now, &outcome, reason)
    }
}

/// Whether `a` and `b` record the same veto: kind, module, invariant and target (time, message
/// and versions aside).
fn same_veto(a: &DecisionRecordStatus, b: &DecisionRecordStatus) -> bool {
    a.outcome == "vetoed"
        && b.outcome == "vetoed"
        && a.invariant.is_some()
        && a.kind == b.kind
        && a.digest == b.digest
        && a.invariant == b.invariant
        && a.target == b.target
}

/// The identity [`Repeats`] tallies a veto under.
fn veto_key(e: &DecisionRecordStatus) -> String {
    format!(
        "{}|{}|{}|{}",
        e.kind,
        e.digest,
        e.invariant.as_deref().unwrap_or_default(),
        e.target.as_deref().unwrap_or_default()
    )
}

/// Tallies kept before the map is cleared (a tally lost that way restarts from the count the
/// status shows, so it only makes the next written count lower than the truth).
const REPEATS_KEPT: usize = 100_000;

/// How often each veto shown on a cluster's status has been seen: the exact count between the
/// writes of its (power-of-ten) count. In memory only; after a restart counting resumes from the
/// count the status shows.
#[derive(Clone, Debug, Default)]
pub struct Repeats(BTreeMap<(ClusterRef, String), u64>);

impl Repeats {
    /// One more sighting of the veto `e` on `cluster` whose status entry shows `shown` (`None`:
    /// the status has no entry for it yet). Returns the total seen.
    fn saw(&mut self, cluster: &ClusterRef, e: &DecisionRecordStatus, shown: Option<u64>) -> u64 {
        if self.0.len() >= REPEATS_KEPT {
            self.0.clear();
        }
        let tally = self.0.entry((cluster.clone(), veto_key(e))).or_default();
        *tally = match shown {
            None => 1,
            Some(shown) => (*tally).max(shown) + 1,
        };
        *tally
    }
}

/// The smallest power of ten above `n` (the next count worth writing).
fn next_power_of_ten(n: u64) -> u64 {
    let mut p = 10u64;
    while p <= n {
        p = p.saturating_mul(10);
        if p == u64::MAX {
            break;
        }
    }
    p
}

/// What [`push_veto`] did to the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folded {
    /// A veto the list did not show: added (news, announced).
    New,
    /// A repeat whose count reached a power of ten: the count changed (written, not announced).
    Counted,
    /// A repeat: the list is unchanged.
    Repeat,
}

/// Adds the veto `entry` on `cluster` to a bounded `lastDecisions` list, or folds it into the
/// entry already showing the same veto (see the module doc): that entry keeps its first time and
/// message, and its `count`/`lastTime` change only when the count reaches the next power of ten.
pub fn push_veto(
    list: &mut Vec<DecisionRecordStatus>,
    entry: DecisionRecordStatus,
    cluster: &ClusterRef,
    repeats: &mut Repeats,
    max: usize,
) -> Folded {
    let Some(shown) = list.iter_mut().rev().find(|d| same_veto(d, &entry)) else {
        repeats.saw(cluster, &entry, None);
        push(list, entry, max);
        return Folded::New;
    };
    let before = shown.count.unwrap_or(1);
    let seen = repeats.saw(cluster, &entry, Some(before));
    if seen < next_power_of_ten(before) {
        return Folded::Repeat;
    }
    shown.count = Some(seen);
    shown.last_time = Some(entry.time);
    Folded::Counted
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
        DecisionOutcome::Waiting { .. } => None,
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
        assert_eq!(
            announcement(&DecisionOutcome::Waiting {
                cause: crate::decision::WaitCause::Cap
            }),
            None
        );
    }

    fn veto(t: i64, invariant: &str, target: Option<&str>, msg: &str) -> DecisionRecordStatus {
        veto_entry(
            DecisionKind::UpgradeOrdering,
            "sha256:m",
            Timestamp(t),
            invariant,
            target.map(str::to_string),
            msg,
        )
    }

    /// A policy that varies its illegal proposals (versions, messages, alternating targets and
    /// invariants) adds one entry per distinct veto; repeats only count, and the count is
    /// written at 10, 100, 1000.
    #[test]
    fn a_repeated_veto_keeps_its_first_time_and_writes_its_count_at_powers_of_ten() {
        let c = ClusterRef::new("t", "m-1");
        let mut list = Vec::new();
        let mut repeats = Repeats::default();
        let kinds = [
            ("NoDowngrade", Some("control-plane")),
            ("ControlPlaneFirst", Some("pool/workers")),
            ("UnknownTarget", None),
        ];
        let mut changes = Vec::new();
        for i in 0..1000 {
            let (inv, target) = kinds[i % 3];
            let e = veto(
                i as i64,
                inv,
                target,
                &format!("to 1.2{}.0 (plan {i})", i % 10),
            );
            match push_veto(&mut list, e, &c, &mut repeats, 10) {
                Folded::Repeat => {}
                Folded::New => changes.push((i, "new")),
                Folded::Counted => changes.push((i, "count")),
            }
        }
        assert_eq!(list.len(), 3);
        // Three new entries, then each veto's 10th and 100th sighting (its 1000th would be
        // sighting 3000 of the loop).
        assert_eq!(
            changes,
            [
                (0, "new"),
                (1, "new"),
                (2, "new"),
                (27, "count"),
                (28, "count"),
                (29, "count"),
                (297, "count"),
                (298, "count"),
                (299, "count")
            ]
        );
        let first = &list[0];
        assert_eq!(
            (first.time.as_str(), first.reason.as_str()),
            (Timestamp(0).to_string().as_str(), "to 1.20.0 (plan 0)")
        );
        assert_eq!(first.count, Some(100));
        assert_eq!(first.last_time, Some(Timestamp(297).to_string()));
        assert_eq!(first.invariant.as_deref(), Some("NoDowngrade"));
        // Another module's veto, or another target, is news.
        let other = DecisionRecordStatus {
            digest: "sha256:n".into(),
            ..veto(5000, "NoDowngrade", Some("control-plane"), "x")
        };
        assert_eq!(
            push_veto(&mut list, other, &c, &mut repeats, 10),
            Folded::New
        );
        let pool = veto(5001, "NoDowngrade", Some("pool/gpu"), "x");
        assert_eq!(
            push_veto(&mut list, pool, &c, &mut repeats, 10),
            Folded::New
        );
    }

    /// After a restart the tally is gone: counting resumes from what the status shows.
    #[test]
    fn counting_resumes_from_the_status_after_a_restart() {
        let c = ClusterRef::new("t", "m-1");
        let mut e = veto(0, "NoDowngrade", Some("control-plane"), "x");
        e.count = Some(10);
        let mut list = vec![e];
        let mut fresh = Repeats::default();
        let writes = (0..100)
            .filter(|i| {
                let again = veto(10 + i, "NoDowngrade", Some("control-plane"), "y");
                push_veto(&mut list, again, &c, &mut fresh, 10) != Folded::Repeat
            })
            .count();
        assert_eq!(writes, 1);
        assert_eq!(list[0].count, Some(100));
        assert_eq!(next_power_of_ten(0), 10);
        assert_eq!(next_power_of_ten(99), 100);
        assert_eq!(next_power_of_ten(100), 1000);
    }
}
