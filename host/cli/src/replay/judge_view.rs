//! A candidate's answer judged by the controller's own validation ([`crate::policy::judge`],
//! the same code `policy test` uses), in the replay report's terms.

use fleetward_sdk::wire::DecisionKind;
use serde_json::Value;
use serde_json::value::RawValue;

use super::report::VetoView;
use crate::policy::judge::{self, Unjudged};

/// The vetoes and waits for `output`, the answer to `request`; the third item is set when
/// the answer does not have its decision's shape (the host's typed call fails on it).
pub fn judge(
    kind: DecisionKind,
    request: &RawValue,
    output: &str,
) -> (Vec<VetoView>, Vec<String>, Option<String>) {
    let parsed = serde_json::from_str::<Value>(request.get())
        .and_then(|r| serde_json::from_str::<Value>(output).map(|o| (r, o)));
    let (request, decision) = match parsed {
        Ok(pair) => pair,
        Err(e) => return (vec![], vec![], Some(format!("not JSON: {e}"))),
    };
    match judge::judge(kind, &request, &decision) {
        Ok(verdict) => (
            verdict
                .vetoes
                .into_iter()
                .map(|v| VetoView {
                    invariant: v.invariant,
                    message: v.message,
                })
                .collect(),
            verdict.waits,
            None,
        ),
        Err(Unjudged::Answer(m)) => (
            vec![],
            vec![],
            Some(format!(
                "the answer does not have the decision's shape: {m}"
            )),
        ),
        Err(Unjudged::Request(m)) => (
            vec![],
            vec![format!(
                "not judged: the recorded request is not a valid {kind} request: {m}"
            )],
            None,
        ),
    }
}
