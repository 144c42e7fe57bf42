//! Building a decision's log record: pure functions from what the registry returned (the
//! call's [`CallRecord`]) and the outcomes the host recorded for it.
//!
//! One record per decision, never one per outcome: the upgrade planner's one call can start
//! steps on some clusters, veto others and leave others waiting, and a replay must see that as
//! the one call it was. So the recording path collects the outcomes and builds the record once
//! (`reconcile::decisions`).

use fleetward_sdk::wire::{ClusterRef, DecisionKind, Timestamp};
use serde_json::value::RawValue;

use super::record::{
    DecisionEntry, ErrorEntry, FORMAT_VERSION, OutcomeEntry, Role, cluster_names, sha256_hex,
};
use crate::decision::DecisionOutcome;
use crate::policy::CallRecord;

/// One outcome as the log records it.
pub fn outcome(clusters: &[ClusterRef], outcome: &DecisionOutcome, reason: &str) -> OutcomeEntry {
    OutcomeEntry {
        clusters: cluster_names(clusters),
        outcome: outcome.as_str().to_string(),
        invariant: match outcome {
            DecisionOutcome::Vetoed { invariant } => Some(invariant.clone()),
            _ => None,
        },
        cause: match outcome {
            DecisionOutcome::Waiting { cause } => Some(cause.as_str().to_string()),
            _ => None,
        },
        reason: reason.to_string(),
    }
}

/// Raw JSON from bytes known to be JSON (the engine serialised them); anything else, which
/// would be a bug, is recorded as `null` rather than written as a broken line.
fn raw(bytes: &[u8]) -> Box<RawValue> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| RawValue::from_string(s.to_string()).ok())
        .unwrap_or_else(null)
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".into()).expect("null is JSON")
}

/// The record of one decision: `call` as the registry returned it, made at `time` for
/// `tenant`, with every outcome the host recorded for it, in order. `seq` is left 0 (the sink
/// numbers records); `clusters` is every cluster an outcome names.
pub fn decision(
    call: &CallRecord,
    time: Timestamp,
    tenant: &str,
    kind: DecisionKind,
    role: Role,
    outcomes: Vec<OutcomeEntry>,
) -> DecisionEntry {
    let input = call.input.as_deref().map_or_else(null, raw);
    let mut clusters: Vec<String> = outcomes
        .iter()
        .flat_map(|o| o.clusters.iter().cloned())
        .collect();
    clusters.sort();
    clusters.dedup();
    DecisionEntry {
        v: FORMAT_VERSION,
        record: "decision".into(),
        seq: 0,
        time,
        tenant: tenant.to_string(),
        kind,
        role,
        clusters,
        module: call.module.clone(),
        config_sha256: call.config_sha256.clone(),
        input_sha256: sha256_hex(input.get().as_bytes()),
        input,
        output: call.output.as_deref().map(|o| raw(o.as_bytes())),
        error: call.error.as_ref().map(|e| ErrorEntry {
            label: e.label.clone(),
            message: e.message.clone(),
        }),
        outcomes,
        fuel: call.fuel,
        duration_us: call
            .duration
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        shadow: None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::decision::WaitCause;
    use crate::decision_log::record::{LogLine, parse_line};
    use crate::policy::PolicyFailure;

    fn c(name: &str) -> ClusterRef {
        ClusterRef {
            namespace: "acme".into(),
            name: name.into(),
        }
    }

    #[test]
    fn one_record_holds_every_outcome_of_the_call() {
        let input = br#"{"abi_version":1,"decision":"upgrade_ordering","request":{"x":[1, 2]}}"#;
        let call = CallRecord {
            module: "sha256:ab".into(),
            config_sha256: Some("cf".into()),
            input: Some(Arc::from(&input[..])),
            output: Some(r#"{"start":[]}"#.into()),
            error: None,
            fuel: Some(1200),
            duration: Some(Duration::from_micros(1500)),
        };
        let outcomes = vec![
            outcome(&[c("b")], &DecisionOutcome::Applied, "wave 1"),
            outcome(
                &[c("c"), c("a")],
                &DecisionOutcome::Vetoed {
                    invariant: "SkewLimit".into(),
                },
                "too far",
            ),
            outcome(
                &[c("b")],
                &DecisionOutcome::Waiting {
                    cause: WaitCause::Cap,
                },
                "cap full",
            ),
        ];
        let e = decision(
            &call,
            Timestamp(100),
            "acme",
            DecisionKind::UpgradeOrdering,
            Role::Live,
            outcomes,
        );
        assert_eq!(e.clusters, ["acme/a", "acme/b", "acme/c"]);
        assert_eq!(e.outcomes.len(), 3);
        assert_eq!(e.outcomes[1].clusters, ["acme/a", "acme/c"]);
        assert_eq!(e.outcomes[1].invariant.as_deref(), Some("SkewLimit"));
        assert_eq!(e.outcomes[2].cause.as_deref(), Some("cap"));
        assert_eq!(e.outcomes[0].invariant, None);
        assert_eq!((e.fuel, e.duration_us), (Some(1200), Some(1500)));
        assert_eq!(e.config_sha256.as_deref(), Some("cf"));
        // The input's bytes, spacing included, and its digest; the line reads back.
        assert_eq!(e.input.get().as_bytes(), &input[..]);
        assert_eq!(e.input_sha256, sha256_hex(input));
        let Ok(LogLine::Decision(back)) = parse_line(1, &e.to_line()) else {
            panic!("does not read back")
        };
        assert_eq!(back.output.unwrap().get(), r#"{"start":[]}"#);
        assert_eq!(back.seq, 0, "numbered by the sink");
    }

    #[test]
    fn a_failed_call_records_its_error_and_no_output() {
        let call = CallRecord {
            module: "sha256:ab".into(),
            input: Some(Arc::from(&b"{}"[..])),
            error: Some(PolicyFailure {
                label: "timed_out".into(),
                message: "timed out after 100ms".into(),
            }),
            ..CallRecord::default()
        };
        let e = decision(
            &call,
            Timestamp(0),
            "acme",
            DecisionKind::Placement,
            Role::Live,
            vec![outcome(&[c("a")], &DecisionOutcome::Held, "holding")],
        );
        assert!(e.output.is_none());
        assert_eq!(e.error.as_ref().unwrap().label, "timed_out");
        assert_eq!(e.outcomes[0].outcome, "held");
        assert!(e.to_line().contains(r#""output":null"#), "{}", e.to_line());
        assert_eq!((e.fuel, e.duration_us), (None, None));
        assert!(!e.to_line().contains("duration_us"));
    }

    #[test]
    fn an_input_that_could_not_be_built_is_null_not_a_broken_line() {
        for input in [None, Some(Arc::from(&b"{\"cut"[..]))] {
            let call = CallRecord {
                module: "builtin".into(),
                input,
                ..CallRecord::default()
            };
            let e = decision(
                &call,
                Timestamp(0),
                "acme",
                DecisionKind::Remediation,
                Role::Live,
                vec![],
            );
            assert_eq!(e.input.get(), "null");
            assert!(parse_line(1, &e.to_line()).is_ok());
        }
    }
}
