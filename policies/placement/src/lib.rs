//! Reference placement policy.
