//! Which recorded decisions to replay, and which of them a candidate module answers instead.
//!
//! Pure: flags in, a predicate out, so the selection is unit-tested without a log file.

use std::path::PathBuf;
use std::str::FromStr;

use fleetward_controller::decision_log::{DecisionEntry, Role};
use fleetward_sdk::wire::{DecisionKind, Timestamp};

/// `--tenant`, `--kind`, `--since`, `--until`: a decision is replayed when it passes all of them.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Tenants to keep (any of them); empty keeps every tenant.
    pub tenants: Vec<String>,
    /// Kinds to keep (any of them); empty keeps every kind.
    pub kinds: Vec<DecisionKind>,
    /// Keep decisions at or after this time.
    pub since: Option<Timestamp>,
    /// Keep decisions strictly before this time (so `--since A --until B` and `--since B` split
    /// a log without overlap).
    pub until: Option<Timestamp>,
}

impl Filter {
    /// Whether `entry` is selected.
    pub fn matches(&self, entry: &DecisionEntry) -> bool {
        (self.tenants.is_empty() || self.tenants.contains(&entry.tenant))
            && (self.kinds.is_empty() || self.kinds.contains(&entry.kind))
            && self.since.is_none_or(|s| entry.time >= s)
            && self.until.is_none_or(|u| entry.time < u)
    }
}

/// `TENANT/KIND=FILE`: a module file (or a JSON config file, for `--policy-config`) for one
/// tenant's decisions of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The tenant.
    pub tenant: String,
    /// The decision kind.
    pub kind: DecisionKind,
    /// The file.
    pub file: PathBuf,
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("{s:?}: expected TENANT/KIND=FILE, e.g. acme/placement=new.wasm");
        let (who, file) = s.split_once('=').ok_or_else(usage)?;
        let (tenant, kind) = who.split_once('/').ok_or_else(usage)?;
        if tenant.is_empty() || file.is_empty() {
            return Err(usage());
        }
        Ok(Target {
            tenant: tenant.to_string(),
            kind: kind.parse().map_err(|e| format!("{s:?}: {e}"))?,
            file: PathBuf::from(file),
        })
    }
}

impl Target {
    /// Whether this target is for `entry`: the tenant's live decisions of its kind (shadow
    /// decisions are replayed with their own module, never with a candidate).
    pub fn applies_to(&self, entry: &DecisionEntry) -> bool {
        entry.role == Role::Live && entry.tenant == self.tenant && entry.kind == self.kind
    }
}

/// Parses an RFC 3339 flag value.
///
/// # Errors
/// A message naming the value.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use fleetward_controller::decision_log::{FORMAT_VERSION, record::sha256_hex};
    use serde_json::value::RawValue;

    use super::*;

    fn entry(tenant: &str, kind: DecisionKind, time: &str) -> DecisionEntry {
        DecisionEntry {
            v: FORMAT_VERSION,
            record: "decision".into(),
            seq: 0,
            time: Timestamp::parse(time).unwrap(),
            tenant: tenant.into(),
            kind,
            role: Role::Live,
            clusters: vec![],
            module: "builtin".into(),
            config_sha256: None,
            input_sha256: sha256_hex(b"{}"),
            input: RawValue::from_string("{}".into()).unwrap(),
            output: None,
            error: None,
            outcomes: vec![],
            fuel: None,
            duration_us: None,
            shadow: None,
        }
    }

    #[test]
    fn every_filter_must_pass_and_until_is_exclusive() {
        let f = Filter {
            tenants: vec!["a".into(), "b".into()],
            kinds: vec![DecisionKind::Placement],
            since: Some(Timestamp::parse("2026-01-01T00:00:00Z").unwrap()),
            until: Some(Timestamp::parse("2026-01-02T00:00:00Z").unwrap()),
        };
        let p = DecisionKind::Placement;
        assert!(f.matches(&entry("a", p, "2026-01-01T00:00:00Z")));
        assert!(f.matches(&entry("b", p, "2026-01-01T23:59:59Z")));
        assert!(!f.matches(&entry("b", p, "2026-01-02T00:00:00Z")));
        assert!(!f.matches(&entry("a", p, "2025-12-31T23:59:59Z")));
        assert!(!f.matches(&entry("c", p, "2026-01-01T12:00:00Z")));
        assert!(!f.matches(&entry(
            "a",
            DecisionKind::Remediation,
            "2026-01-01T12:00:00Z"
        )));
        assert!(Filter::default().matches(&entry("z", p, "1999-01-01T00:00:00Z")));
    }

    #[test]
    fn targets_parse_and_apply_to_live_decisions_of_their_tenant_and_kind() {
        let t: Target = "acme/upgrade-ordering=/tmp/new.wasm".parse().unwrap();
        assert_eq!(t.tenant, "acme");
        assert_eq!(t.kind, DecisionKind::UpgradeOrdering);
        assert_eq!(t.file, PathBuf::from("/tmp/new.wasm"));
        let mut e = entry(
            "acme",
            DecisionKind::UpgradeOrdering,
            "2026-01-01T00:00:00Z",
        );
        assert!(t.applies_to(&e));
        e.role = Role::Shadow;
        assert!(!t.applies_to(&e));
        for bad in [
            "acme=x.wasm",
            "acme/placement",
            "/placement=x",
            "acme/nope=x.wasm",
        ] {
            let err = bad.parse::<Target>().unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }
}
