//! The differences between the emulator and kube-apiserver that are known and accepted, each
//! with its reason. The same list, with the same reasons, is in docs/emulator.md ("Differences
//! from kube-apiserver v1.37, checked by tests/tests/differential"). A difference not matched
//! here fails the test.

use crate::compare::Difference;

/// An accepted difference: a step name and a path in the answer, both glob patterns (`*`
/// matches any run of characters), and why it is accepted.
#[derive(Debug)]
pub struct KnownDifference {
    pub step: &'static str,
    pub path: &'static str,
    pub reason: &'static str,
}

impl KnownDifference {
    /// Whether `d` is this known difference.
    pub fn matches(&self, d: &Difference) -> bool {
        glob(self.step.as_bytes(), d.step.as_bytes())
            && glob(self.path.as_bytes(), d.path.as_bytes())
    }
}

/// `*`-only glob matching.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

const CAUSES: &str = "schema-error causes: the real server's order varies from run to run";
const DEFAULTS: &str = "built-in kinds are not defaulted by the emulator (Deployment strategy, pod template fields, status {}), so the defaults are neither stored nor owned";
const EMPTY_MAPS: &str =
    "built-in bodies are stored as sent: an empty map the real server drops (Go omitempty) is kept";
const LIST_ITEMS: &str = "items of built-in lists carry apiVersion/kind in the emulator (the real server omits them; clients take them from the list)";
const WORDING: &str = "error wording: the emulator's message says what was wrong where the real server's is generic or worded by its parser";
const NAMESPACE_DELETION: &str = "namespace deletion is synchronous in the emulator: the emptied namespace is gone at once, so a create in it is 404, not 403 Forbidden";
const CR_NODES: &str = "managedFields of custom resources: the real server also owns each nested object created by an update as a node (`.`)";
const CR_LISTS: &str = "lists in custom resources are keyed like the built-in lists of the same name (nodePools by name, conditions by type); the real server treats a CRD list without x-kubernetes-list-type as atomic";
const ATOMIC_REFERENCES: &str = "managedFields of Events: the emulator owns the fields of regarding (an ObjectReference) one by one; the real server owns it as an atomic struct";
const PRINTERS: &str = "built-in Table columns approximate the real printers: descriptions and types of columns other than Name and Age differ";

const fn known(step: &'static str, path: &'static str, reason: &'static str) -> KnownDifference {
    KnownDifference { step, path, reason }
}

/// The accepted differences.
pub const KNOWN: &[KnownDifference] = &[
    known(
        "create invalid managedcluster (Invalid)",
        "body.details.causes*",
        CAUSES,
    ),
    known(
        "create invalid managedcluster (Invalid)",
        "body.message",
        CAUSES,
    ),
    known(
        "merge patch of the status subresource",
        "body.details.causes*",
        CAUSES,
    ),
    known(
        "merge patch of the status subresource",
        "body.message",
        CAUSES,
    ),
    known("*deployment*", "body.spec.*", DEFAULTS),
    known("*of replicas", "body.spec.*", DEFAULTS),
    known("*deployment*", "body.status", DEFAULTS),
    known("*of replicas", "body.status", DEFAULTS),
    known(
        "*deployment*",
        "body.metadata.managedFields[0].fieldsV1.f:spec*",
        DEFAULTS,
    ),
    known(
        "*of replicas",
        "body.metadata.managedFields[*].fieldsV1.f:spec*",
        DEFAULTS,
    ),
    known("create with a dry run", "body.data", EMPTY_MAPS),
    known(
        "create with a dry run",
        "body.metadata.managedFields[0].fieldsV1.f:data",
        EMPTY_MAPS,
    ),
    known("*", "body.items[*].apiVersion", LIST_ITEMS),
    known("*", "body.items[*].kind", LIST_ITEMS),
    known("json patch failing test op", "body.*", WORDING),
    known("json patch removing a missing path", "body.*", WORDING),
    known("patch with an unsupported content type", "body.*", WORDING),
    known(
        "list unsupported field (BadRequest)",
        "body.message",
        WORDING,
    ),
    known(
        "list invalid label selector (BadRequest)",
        "body.message",
        WORDING,
    ),
    known(
        "list with a bad continue token (BadRequest)",
        "body.message",
        WORDING,
    ),
    known(
        "create in a terminating namespace (Forbidden)",
        "*",
        NAMESPACE_DELETION,
    ),
    known(
        "*",
        "*managedFields[*].fieldsV1.f:spec.f:controlPlane..",
        CR_NODES,
    ),
    known(
        "*",
        "*managedFields[*].fieldsV1.f:status.f:inProgress..",
        CR_NODES,
    ),
    known(
        "hand-edited status the controller could not read (Invalid, by pattern)",
        "body.details.causes*",
        CAUSES,
    ),
    known(
        "hand-edited status the controller could not read (Invalid, by pattern)",
        "body.message",
        CAUSES,
    ),
    known(
        "*",
        "*managedFields[*].fieldsV1.f:spec.f:nodePools.k:{\"name\":*",
        CR_LISTS,
    ),
    known(
        "*",
        "*managedFields[*].fieldsV1.f:status.f:conditions.k:{\"type\":*",
        CR_LISTS,
    ),
    known(
        "*event*",
        "*managedFields[*].fieldsV1.f:regarding.*",
        ATOMIC_REFERENCES,
    ),
    known(
        "*event*",
        "*managedFields[*].fieldsV1.f:involvedObject.*",
        ATOMIC_REFERENCES,
    ),
    known(
        "table of configmaps without objects",
        "body.columnDefinitions[1].*",
        PRINTERS,
    ),
    known(
        "table of the namespace",
        "body.columnDefinitions[1].description",
        PRINTERS,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_anywhere() {
        assert!(glob(b"body.items[*].kind", b"body.items[12].kind"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"body.items[*].kind", b"body.items[1].apiVersion"));
    }
}
