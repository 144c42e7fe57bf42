//! Offline = live: judge a policy's answer with the controller's own validation functions.
//!
//! The engine only runs the module; what the controller then does with the answer (admit each
//! upgrade step through the invariants, accept a placement only on a candidate seed, accept a
//! remediation only about the problem's component) lives in `fleetward-controller`'s functional
//! core. `policy test` and `policy eval` call those same functions here, so an answer the host
//! would veto fails offline too, naming the invariant, unless a fixture expects the veto
//! (`"expect": {"error": {"kind": "vetoed", "code": "<Invariant>"}}`).
//!
//! What cannot be known offline is assumed at its most permissive: no other tenant's steps in
//! flight (only the request's own `in_progress` count against the caps), every seed reachable,
//! no other tenant waiting for a fair share, no remediation rate limit spent. Steps the caps
//! hold back are not vetoes (the live host lets them wait); they are reported as notes.

use std::collections::BTreeSet;

use fleetward_controller::core::fair_share::Allowance;
use fleetward_controller::core::invariants::{self, InFlight};
use fleetward_controller::core::{placement, planning, remediation};
use fleetward_sdk::testing::CallError;
use fleetward_sdk::wire::{
    DecisionKind, PlacementDecision, PlacementRequest, RemediationDecision, RemediationRequest,
    UpgradeDecision, UpgradeRequest,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The error kind of a vetoed answer in fixtures and reports.
pub const VETOED: &str = "vetoed";

/// One refusal: the invariant (or validation rule) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Veto {
    /// Stable name: an upgrade [`invariants::Invariant`] (`TenantOwnership`,
    /// `OneMinorAtATime`, ...), `NotACandidate` (placement) or `WrongComponent` (remediation).
    pub invariant: String,
    /// What was refused and why.
    pub message: String,
}

/// The host's verdict on an answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Refusals: each makes the answer fail unless expected.
    pub vetoes: Vec<Veto>,
    /// Steps the live host would hold back for now (caps), not faults of the answer.
    pub waits: Vec<String>,
}

/// Why an answer could not be judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unjudged {
    /// The request is not a valid request of its kind (a fixture the host could never send).
    Request(String),
    /// The answer does not have its decision's shape (the host's typed call fails on it).
    Answer(String),
}

/// Judges `decision`, the module's answer to `request`, like the controller does.
///
/// # Errors
/// [`Unjudged`] when the request or the answer does not parse as its wire type.
pub fn judge(kind: DecisionKind, request: &Value, decision: &Value) -> Result<Verdict, Unjudged> {
    match kind {
        DecisionKind::Placement => {
            let (req, d): (PlacementRequest, PlacementDecision) = parse(request, decision)?;
            Ok(placement_verdict(&req, &d))
        }
        DecisionKind::UpgradeOrdering => {
            let (req, d): (UpgradeRequest, UpgradeDecision) = parse(request, decision)?;
            Ok(upgrade_verdict(&req, &d))
        }
        DecisionKind::Remediation => {
            let (req, d): (RemediationRequest, RemediationDecision) = parse(request, decision)?;
            let vetoes = remediation::validate(&req.problem, &d.action)
                .err()
                .map(|e| Veto {
                    invariant: "WrongComponent".into(),
                    message: e.to_string(),
                })
                .into_iter()
                .collect();
            Ok(Verdict {
                vetoes,
                waits: vec![],
            })
        }
    }
}

fn parse<R: DeserializeOwned, D: DeserializeOwned>(
    request: &Value,
    decision: &Value,
) -> Result<(R, D), Unjudged> {
    let req = R::deserialize(request).map_err(|e| Unjudged::Request(e.to_string()))?;
    let d = D::deserialize(decision).map_err(|e| Unjudged::Answer(e.to_string()))?;
    Ok((req, d))
}

/// The live host offers only seeds that pass its hard filters ([`placement::candidates`]) and
/// accepts only one of them ([`placement::validate`]); a fixture may list others, so both run.
fn placement_verdict(req: &PlacementRequest, d: &PlacementDecision) -> Verdict {
    let (candidates, rejected) = placement::candidates(&req.cluster, &req.seeds);
    let vetoes = match placement::validate(d, &candidates) {
        Ok(_) => vec![],
        Err(err) => {
            let filtered = d
                .seed
                .as_ref()
                .and_then(|s| rejected.iter().find(|r| &r.seed == s))
                .map(|r| format!(" (the host filters it out: {})", r.reason))
                .unwrap_or_default();
            vec![Veto {
                invariant: "NotACandidate".into(),
                message: format!("{err}{filtered}"),
            }]
        }
    };
    Verdict {
        vetoes,
        waits: vec![],
    }
}

/// [`invariants::admit`] on the request's clusters, with the request's own steps in flight.
fn upgrade_verdict(req: &UpgradeRequest, d: &UpgradeDecision) -> Verdict {
    let mut in_flight = InFlight::default();
    for c in req.clusters.iter().filter(|c| c.in_progress.is_some()) {
        in_flight.total += 1;
        *in_flight
            .per_seed
            .entry(c.seed.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let admission = invariants::admit(
        &req.clusters,
        &d.start,
        &in_flight,
        &req.limits,
        &BTreeSet::new(),
        &Allowance::unlimited(),
    );
    let mut verdict = Verdict::default();
    for v in admission.vetoed {
        let what = format!("{} {} -> {}", v.step.cluster, v.step.target, v.step.to);
        if planning::wait_cause(v.invariant).is_some() {
            verdict
                .waits
                .push(format!("{what} waits ({}): {}", v.invariant, v.message));
        } else {
            verdict.vetoes.push(Veto {
                invariant: v.invariant.as_str().into(),
                message: format!("{what}: {}", v.message),
            });
        }
    }
    verdict
}

impl Verdict {
    /// The verdict as a fixture result: `Ok` when nothing is vetoed, else a [`VETOED`] error
    /// whose code is the invariant `expected` names when one of the vetoes breaks it (so a case
    /// expecting one of several vetoes matches), else the first veto's.
    pub fn as_call_error(&self, expected: Option<&str>) -> Option<CallError> {
        let first = self.vetoes.first()?;
        let code = expected
            .filter(|want| self.vetoes.iter().any(|v| v.invariant == *want))
            .unwrap_or(&first.invariant);
        Some(CallError {
            kind: VETOED,
            code: Some(code.to_string()),
            message: self.describe(),
        })
    }

    /// One line per veto: `the host vetoes: TenantOwnership: ...; OneMinorAtATime: ...`.
    pub fn describe(&self) -> String {
        let list: Vec<String> = self
            .vetoes
            .iter()
            .map(|v| format!("{}: {}", v.invariant, v.message))
            .collect();
        format!("the host vetoes the answer: {}", list.join("; "))
    }
}

/// [`Unjudged`] as a fixture result.
pub fn unjudged_error(err: &Unjudged) -> CallError {
    match err {
        Unjudged::Request(m) => CallError {
            kind: "invalid_request",
            code: None,
            message: format!("the fixture's request is not one the host could send: {m}"),
        },
        Unjudged::Answer(m) => CallError {
            kind: "invalid_output",
            code: None,
            message: format!("the answer does not have the decision's shape: {m}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn upgrade(to: &str, namespace: &str) -> (Value, Value) {
        let req = json!({"clusters": [{"id": {"namespace": "t", "name": "a"}, "labels": {},
            "seed": "eu-1", "control_plane": {"current": "1.31.0", "desired": "1.40.0"},
            "node_pools": [], "health": {"healthy": true}, "upgrades_paused": false}],
            "limits": {"max_concurrent": 1, "max_concurrent_per_seed": 1}});
        let d = json!({"start": [{"cluster": {"namespace": namespace, "name": "a"},
            "target": {"kind": "control_plane"}, "to": to}], "reason": ""});
        (req, d)
    }

    #[test]
    fn upgrade_answers_are_admitted_through_the_controllers_invariants() {
        let names = |(req, d): (Value, Value)| {
            judge(DecisionKind::UpgradeOrdering, &req, &d)
                .unwrap()
                .vetoes
                .into_iter()
                .map(|v| v.invariant)
                .collect::<Vec<_>>()
        };
        assert!(names(upgrade("1.32.0", "t")).is_empty());
        assert_eq!(names(upgrade("1.32.0", "u")), ["TenantOwnership"]);
        assert_eq!(names(upgrade("1.40.0", "t")), ["OneMinorAtATime"]);
        assert_eq!(names(upgrade("1.30.0", "t")), ["NoDowngrade"]);
    }

    #[test]
    fn an_expected_invariant_among_several_is_the_code() {
        let verdict = Verdict {
            vetoes: vec![
                Veto {
                    invariant: "A".into(),
                    message: "a".into(),
                },
                Veto {
                    invariant: "B".into(),
                    message: "b".into(),
                },
            ],
            waits: vec![],
        };
        let code = |want| verdict.as_call_error(want).unwrap().code.unwrap();
        assert_eq!(code(Some("B")), "B");
        assert_eq!(code(Some("C")), "A");
        assert_eq!(code(None), "A");
        assert!(Verdict::default().as_call_error(None).is_none());
    }

    #[test]
    fn a_malformed_answer_is_invalid_output() {
        let (req, _) = upgrade("1.32.0", "t");
        let err = judge(DecisionKind::UpgradeOrdering, &req, &json!({"start": 3})).unwrap_err();
        assert_eq!(unjudged_error(&err).kind, "invalid_output");
    }
}
