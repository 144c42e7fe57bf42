//! Reference upgrade-ordering policy.
