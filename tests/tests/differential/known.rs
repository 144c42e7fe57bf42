//! The differences between the emulator and kube-apiserver that are known and accepted, each
//! with its reason. The same list, with the same reasons, is in docs/emulator.md ("Differences
//! from kube-apiserver v1.37"). A difference not matched here fails the test.

use crate::compare::Difference;

/// An accepted difference: a step (or `*`), a path (exact, or a prefix ending in `*`), why.
#[derive(Debug)]
pub struct KnownDifference {
    pub step: &'static str,
    pub path: &'static str,
    pub reason: &'static str,
}

impl KnownDifference {
    /// Whether `d` is this known difference.
    pub fn matches(&self, d: &Difference) -> bool {
        let step = self.step == "*" || self.step == d.step;
        let path = match self.path.strip_suffix('*') {
            Some(prefix) => d.path.starts_with(prefix),
            None => d.path == self.path,
        };
        step && path
    }
}

/// The accepted differences.
pub const KNOWN: &[KnownDifference] = &[];
