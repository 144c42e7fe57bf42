//! Reference remediation policy.
