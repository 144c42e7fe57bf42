//! What a policy function knows besides its request and config: the decision time and tenant.

use crate::wire::Timestamp;

/// The call's context, taken from the input envelope.
///
/// `now` is the only clock a policy may use: the same envelope must always give the same answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context<'a> {
    /// The decision time (envelope `now`).
    pub now: Timestamp,
    /// The tenant the decision is for (envelope `tenant`).
    pub tenant: &'a str,
}

impl<'a> Context<'a> {
    /// Builds a context, e.g. for calling a policy function directly in a unit test.
    pub fn new(now: Timestamp, tenant: &'a str) -> Self {
        Context { now, tenant }
    }
}
