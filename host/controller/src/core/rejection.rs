//! How a refused policy module is told to the operator.
//!
//! A refusal's own message can be long and multi-line: the Wasm parser's explanation of a
//! garbage module is a `Debug` dump of the expected and actual bytes (`bad magic number -
//! expected=[\n 0x0, …`). A condition message is read in `kubectl describe` and in alerts, so
//! [`condition_message`] makes it one line of bounded length: the decision kind and the cause
//! first, then what to do, then what serves meanwhile. The full text goes to the log once
//! (the Tenant reconciler logs it when a load attempt is refused for a new cause).

use fleetward_sdk::wire::DecisionKind;

use crate::policy::PolicyFailure;

/// Longest cause kept in a condition message, in bytes (the rest is in the log).
pub const MAX_CAUSE_BYTES: usize = 240;

/// What serves a decision kind while its binding is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serving<'a> {
    /// The last module that loaded, by digest.
    LastGood(&'a str),
    /// Nothing: the binding's failure mode (`Fallback`, `Hold`) applies.
    Nothing(&'a str),
}

/// The cause of `message` as one line of at most `max` bytes: the first line (an error chain's
/// summary; a `Debug` dump starts on the next), whitespace collapsed, a dangling opener of the
/// dump trimmed, cut at a character boundary with `…`.
pub fn one_line(message: &str, max: usize) -> String {
    let first = message
        .split(['\n', '\r'])
        .next()
        .unwrap_or_default()
        .split("\\n")
        .next()
        .unwrap_or_default();
    let mut line = first.split_whitespace().collect::<Vec<_>>().join(" ");
    let trimmed = line
        .trim_end_matches(|c: char| "[{(=,:- ".contains(c))
        .len();
    line.truncate(trimmed);
    if line.len() <= max {
        return line;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.truncate(end);
    line.push('…');
    line
}

/// The message without the engine's context prefix (`policy sha256:… for tenant "…": `): the
/// module's digest is the one the Tenant names, and the cause should come first.
fn without_context(message: &str) -> &str {
    message
        .strip_prefix("policy sha256:")
        .and_then(|rest| rest.split_once(": "))
        .map_or(message, |(_, cause)| cause)
}

/// What the operator does about a refusal labelled `label`.
fn remedy(label: &str, kind: DecisionKind) -> String {
    let field = match kind {
        DecisionKind::Placement => "placement",
        DecisionKind::UpgradeOrdering => "upgradeOrdering",
        DecisionKind::Remediation => "remediation",
    };
    match label {
        "digest_mismatch" => format!(
            "publish the module spec.{field}.sha256 names, or set it to the published module's digest"
        ),
        "invalid_module" => {
            "publish the compiled .wasm file's bytes (binaryData), built for wasm32-wasip1".into()
        }
        "module_rejected" | "abi_mismatch" => {
            "rebuild the module with the Fleetward SDK (docs/abi.md)".into()
        }
        "module_too_large" | "module_over_cap" | "initial_memory_over_limit" => {
            "shrink the module or raise the tenant's limits (docs/abi.md lists the caps)".into()
        }
        "compile_timed_out" | "compile_memory_exceeded" => {
            "make the module cheaper to compile (fewer, smaller functions)".into()
        }
        "config_rejected" | "config_too_large" => format!("fix spec.{field}.config"),
        "limit_out_of_range" => format!("fix spec.{field}.limits"),
        "source_not_found" | "source_unavailable" | "invalid_source" => {
            format!("check spec.{field}.module and that the controller can read it")
        }
        _ => "see the controller's log for the full error".into(),
    }
}

/// The `PoliciesReady` message for one refused decision kind: one line, the cause first, then
/// what to do, then what serves meanwhile.
pub fn condition_message(kind: DecisionKind, f: &PolicyFailure, serving: Serving<'_>) -> String {
    let meanwhile = match serving {
        Serving::LastGood(digest) => format!("still serving last good module {digest}"),
        Serving::Nothing(mode) => format!("no module serving: failure mode {mode} applies"),
    };
    format!(
        "{kind}: {}; to fix: {}; {meanwhile}",
        one_line(without_context(&f.message), MAX_CAUSE_BYTES),
        remedy(&f.label, kind),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(label: &str, message: &str) -> PolicyFailure {
        PolicyFailure {
            label: label.into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_parser_dump_becomes_one_bounded_line_with_the_cause_first() {
        // What the engine said of a garbage module (escaped newlines, a Debug dump).
        let dump = "policy sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef: \
                    not a valid core Wasm module: failed to parse WebAssembly module: magic header \
                    not detected: bad magic number - expected=[\\n    0x0,\\n    0x61,\\n    0x73,\\n    0x6d,\\n] actual=[\\n    0x67,\\n]";
        let m = condition_message(
            DecisionKind::Placement,
            &failure("invalid_module", dump),
            Serving::LastGood("sha256:abc"),
        );
        assert_eq!(
            m,
            "placement: not a valid core Wasm module: failed to parse WebAssembly module: magic \
             header not detected: bad magic number - expected; to fix: publish the compiled .wasm \
             file's bytes (binaryData), built for wasm32-wasip1; still serving last good module \
             sha256:abc"
        );
        // Real newlines too.
        let m = condition_message(
            DecisionKind::Remediation,
            &failure("trap", "first line\nsecond line"),
            Serving::Nothing("Hold"),
        );
        assert!(!m.contains('\n'), "{m}");
        assert!(
            m.starts_with("remediation: first line; to fix: see the controller's log"),
            "{m}"
        );
        assert!(
            m.ends_with("no module serving: failure mode Hold applies"),
            "{m}"
        );
    }

    #[test]
    fn a_long_cause_is_cut_at_a_character_boundary() {
        let long = "é".repeat(500);
        let line = one_line(&long, MAX_CAUSE_BYTES);
        assert!(line.len() <= MAX_CAUSE_BYTES, "{}", line.len());
        assert!(line.ends_with('…'));
        let m = condition_message(
            DecisionKind::UpgradeOrdering,
            &failure("digest_mismatch", &long),
            Serving::LastGood("sha256:abc"),
        );
        assert!(m.len() <= 512, "{}", m.len());
        assert!(m.contains("spec.upgradeOrdering.sha256"), "{m}");
    }

    #[test]
    fn a_one_line_cause_is_kept_whole() {
        let msg = "module bytes hash to sha256:aa, but the Tenant requires sha256:bb";
        assert_eq!(one_line(msg, MAX_CAUSE_BYTES), msg);
        assert_eq!(one_line("  a \t b  ", 10), "a b");
        // The engine's context prefix goes; a message without one is kept.
        assert_eq!(
            without_context(
                "policy sha256:00ff for tenant \"acme\": config rejected by the policy (x): y"
            ),
            "config rejected by the policy (x): y"
        );
        assert_eq!(without_context(msg), msg);
    }
}
