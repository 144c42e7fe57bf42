//! Comparing a re-run with its record: the replay's verdict on one decision.
//!
//! Policies are deterministic, so the same module on the same input bytes must write the same
//! output bytes (or fail the same way). The exceptions are failures that depend on something
//! the input does not contain: a timeout depends on the machine's speed (never comparable), and
//! running out of fuel or memory depends on the tenant's limits, comparable only when replay
//! knows them (from the cluster's Tenant, `--kubeconfig`).

use fleetward_controller::decision_log::ErrorEntry;
use serde::Serialize;
use serde_json::Value;

use super::diff::{Change, diff};

/// What a re-run (of the recorded module, the built-in, or a candidate) produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rerun {
    /// An answer: the canonical JSON of the `ok` value, as the controller records `output`.
    Answered {
        /// Output bytes.
        output: String,
        /// Fuel used, for metered calls.
        fuel: Option<u64>,
    },
    /// The call failed.
    Failed {
        /// Stable label (`trap`, `declined`, …), as in the log's `error.label`.
        label: String,
        /// One-line message.
        message: String,
    },
}

/// The replay's verdict on one recorded decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Same output bytes, or the same failure.
    Identical,
    /// Not the same: a determinism bug (or a different engine build).
    Different {
        /// One line: what differs.
        why: String,
        /// Path by path, when both sides answered.
        changes: Vec<Change>,
    },
    /// The record cannot be compared (e.g. it timed out: wall-clock time is not replayable).
    NotComparable {
        /// Why.
        why: String,
    },
    /// Nothing could be run (module missing, module refused, input not an envelope).
    FailedToRun {
        /// What went wrong and what to do.
        why: String,
    },
}

/// Which of the tenant's limits replay knows (from the cluster's Tenant), so that failures
/// that depend on them are comparable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KnownLimits {
    /// The fuel limit.
    pub fuel: bool,
    /// The memory limit.
    pub memory: bool,
}

/// Failure labels a call itself ends with; any other recorded label (a module that was not
/// loaded, a rejected config, ...) means no module ran, so there is nothing to re-run.
const CALL_LABELS: [&str; 12] = [
    "declined",
    "trap",
    "stack_exhausted",
    "policy_exited",
    "invalid_output",
    "output_too_large",
    "out_of_fuel",
    "memory_limit_exceeded",
    "timed_out",
    "input_too_large",
    "decision_not_implemented",
    "abi_mismatch",
];

/// The verdict without running anything, for records that cannot be re-run at all: no input
/// recorded (`input: null`: the host built none, e.g. its module was not loaded), or a failure
/// before any module ran, or a timeout.
pub fn precheck(input: &str, output: Option<&str>, error: Option<&ErrorEntry>) -> Option<Verdict> {
    if input.trim() == "null" {
        return Some(Verdict::NotComparable {
            why: "the record carries no input (the host built none), nothing to replay".into(),
        });
    }
    match (output, error) {
        (None, None) => Some(Verdict::NotComparable {
            why: "the record has neither an output nor an error".into(),
        }),
        (None, Some(e)) if !CALL_LABELS.contains(&e.label.as_str()) => {
            Some(Verdict::NotComparable {
                why: format!(
                    "no module ran: the recorded failure ({}) happened before the call",
                    e.label
                ),
            })
        }
        (None, Some(e)) if e.label == "timed_out" => Some(Verdict::NotComparable {
            why: format!(
                "recorded timed_out ({}): wall-clock time is not replayable",
                e.message
            ),
        }),
        _ => None,
    }
}

/// Compares the record (`output`, or `error` when the call failed) with the re-run.
pub fn compare(
    output: Option<&str>,
    error: Option<&ErrorEntry>,
    rerun: &Rerun,
    known: KnownLimits,
) -> Verdict {
    if let Some(v) = precheck("{}", output, error) {
        return v;
    }
    let unknown_limit = |label: &str| match label {
        "out_of_fuel" => (!known.fuel).then_some("fuel"),
        "memory_limit_exceeded" => (!known.memory).then_some("memory"),
        _ => None,
    };
    match (output, error, rerun) {
        (Some(recorded), _, Rerun::Answered { output: new, .. }) => {
            if recorded.as_bytes() == new.as_bytes() {
                Verdict::Identical
            } else {
                output_changes(recorded, new)
            }
        }
        (_, Some(e), Rerun::Failed { label, .. }) if *label == e.label => Verdict::Identical,
        (_, _, Rerun::Failed { label, message }) if label == "timed_out" => {
            Verdict::NotComparable {
                why: format!("the replay timed out ({message}); wall-clock time is not replayable"),
            }
        }
        (_, _, Rerun::Failed { label, message }) if unknown_limit(label).is_some() => {
            Verdict::NotComparable {
                why: format!(
                    "the replay failed with {label} ({message}) under a {} limit the log does \
                     not record; pass --kubeconfig to replay with the Tenant's limits",
                    unknown_limit(label).unwrap_or_default()
                ),
            }
        }
        (_, Some(e), Rerun::Answered { .. }) if unknown_limit(&e.label).is_some() => {
            Verdict::NotComparable {
                why: format!(
                    "recorded {} under a {} limit the log does not record; pass --kubeconfig to \
                     replay with the Tenant's limits",
                    e.label,
                    unknown_limit(&e.label).unwrap_or_default()
                ),
            }
        }
        (Some(_), _, Rerun::Failed { label, message }) => Verdict::Different {
            why: format!("recorded an answer, the replay failed: {label}: {message}"),
            changes: vec![],
        },
        (_, Some(e), Rerun::Failed { label, message }) => Verdict::Different {
            why: format!(
                "recorded failure {}, the replay failed differently: {label}: {message}",
                e.label
            ),
            changes: vec![],
        },
        (_, Some(e), Rerun::Answered { output, .. }) => Verdict::Different {
            why: format!(
                "recorded failure {} ({}), the replay answered {output}",
                e.label, e.message
            ),
            changes: vec![],
        },
        (None, None, _) => Verdict::NotComparable {
            why: "the record has neither an output nor an error".into(),
        },
    }
}

/// Two answers that differ: the JSON diff, or the bytes when they are the same JSON written
/// differently (which is still a difference: the controller records canonical JSON).
fn output_changes(recorded: &str, new: &str) -> Verdict {
    match (
        serde_json::from_str::<Value>(recorded),
        serde_json::from_str::<Value>(new),
    ) {
        (Ok(a), Ok(b)) => {
            let changes = diff(&a, &b);
            let why = if changes.is_empty() {
                "the same JSON value in different bytes (key order or number format)".to_string()
            } else {
                format!("{} path(s) differ", changes.len())
            };
            Verdict::Different { why, changes }
        }
        _ => Verdict::Different {
            why: format!("the output bytes differ: recorded {recorded}, replayed {new}"),
            changes: vec![],
        },
    }
}

/// A note when both runs were metered and used different fuel: not a different decision (the
/// output decides that), but a sign that the engine build or the module's code path changed.
pub fn fuel_note(recorded: Option<u64>, rerun: &Rerun) -> Option<String> {
    match (recorded, rerun) {
        (Some(r), Rerun::Answered { fuel: Some(f), .. }) if r != *f => Some(format!(
            "fuel differs: recorded {r}, replayed {f} (a different engine build meters \
             differently)"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(s: &str) -> Rerun {
        Rerun::Answered {
            output: s.into(),
            fuel: None,
        }
    }

    fn failed(label: &str) -> Rerun {
        Rerun::Failed {
            label: label.into(),
            message: "m".into(),
        }
    }

    fn error(label: &str) -> ErrorEntry {
        ErrorEntry {
            label: label.into(),
            message: "recorded".into(),
        }
    }

    const NONE: KnownLimits = KnownLimits {
        fuel: false,
        memory: false,
    };

    #[test]
    fn identical_bytes_and_the_same_failure_are_identical() {
        let out = r#"{"seed":"eu-1"}"#;
        assert_eq!(
            compare(Some(out), None, &answered(out), NONE),
            Verdict::Identical
        );
        assert_eq!(
            compare(None, Some(&error("trap")), &failed("trap"), NONE),
            Verdict::Identical
        );
    }

    #[test]
    fn different_answers_carry_their_diff() {
        let v = compare(
            Some(r#"{"seed":"eu-1"}"#),
            None,
            &answered(r#"{"seed":"eu-2"}"#),
            NONE,
        );
        let Verdict::Different { changes, .. } = v else {
            panic!("{v:?}")
        };
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].line(), r#"~ seed: "eu-1" -> "eu-2""#);
        // Same value, different bytes: still different, and said so.
        let v = compare(
            Some(r#"{"a":1,"b":2}"#),
            None,
            &answered(r#"{"b":2,"a":1}"#),
            NONE,
        );
        assert!(
            matches!(&v, Verdict::Different { why, .. } if why.contains("key order")),
            "{v:?}"
        );
    }

    #[test]
    fn failing_one_way_and_not_the_other_is_different() {
        assert!(matches!(
            compare(Some("{}"), None, &failed("trap"), NONE),
            Verdict::Different { .. }
        ));
        assert!(matches!(
            compare(None, Some(&error("trap")), &answered("{}"), NONE),
            Verdict::Different { .. }
        ));
        assert!(matches!(
            compare(None, Some(&error("trap")), &failed("declined"), NONE),
            Verdict::Different { .. }
        ));
    }

    #[test]
    fn timeouts_are_never_comparable() {
        assert!(matches!(
            compare(None, Some(&error("timed_out")), &answered("{}"), NONE),
            Verdict::NotComparable { .. }
        ));
        assert!(matches!(
            compare(Some("{}"), None, &failed("timed_out"), NONE),
            Verdict::NotComparable { .. }
        ));
    }

    #[test]
    fn limit_failures_are_comparable_only_with_known_limits() {
        let fuel = error("out_of_fuel");
        assert!(matches!(
            compare(None, Some(&fuel), &answered("{}"), NONE),
            Verdict::NotComparable { why } if why.contains("--kubeconfig")
        ));
        let known = KnownLimits {
            fuel: true,
            memory: true,
        };
        assert!(matches!(
            compare(None, Some(&fuel), &answered("{}"), known),
            Verdict::Different { .. }
        ));
        assert_eq!(
            compare(None, Some(&fuel), &failed("out_of_fuel"), NONE),
            Verdict::Identical
        );
        assert!(matches!(
            compare(Some("{}"), None, &failed("memory_limit_exceeded"), NONE),
            Verdict::NotComparable { .. }
        ));
        assert!(matches!(
            compare(Some("{}"), None, &failed("memory_limit_exceeded"), known),
            Verdict::Different { .. }
        ));
    }

    #[test]
    fn failures_before_the_call_are_not_rerun() {
        assert!(matches!(
            precheck("{}", None, Some(&error("not_loaded"))),
            Some(Verdict::NotComparable { .. })
        ));
        assert_eq!(precheck("{}", None, Some(&error("trap"))), None);
        assert_eq!(precheck("{}", Some("{}"), None), None);
        assert!(matches!(
            precheck("null", Some("{}"), None),
            Some(Verdict::NotComparable { why }) if why.contains("no input")
        ));
    }

    #[test]
    fn fuel_differences_are_noted_not_judged() {
        let rerun = Rerun::Answered {
            output: "{}".into(),
            fuel: Some(10),
        };
        assert!(fuel_note(Some(11), &rerun).unwrap().contains("recorded 11"));
        assert_eq!(fuel_note(Some(10), &rerun), None);
        assert_eq!(fuel_note(None, &rerun), None);
    }
}
