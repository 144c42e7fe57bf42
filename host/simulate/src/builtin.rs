//! The reference policies (`builtin:NAME` in scenarios), as built by `fleetward-test-policies`
//! from this checkout's sources (never downloaded, never committed as blobs).

use fleetward_sdk::wire::DecisionKind;

/// The bytes of reference policy `name` (one of [`crate::scenario::BUILTIN_MODULES`]).
///
/// # Errors
/// A message when the name is unknown or the built module cannot be read.
pub(crate) fn module_bytes(name: &str) -> Result<Vec<u8>, String> {
    let kind = match name {
        "placement" => DecisionKind::Placement,
        "upgrade-ordering" => DecisionKind::UpgradeOrdering,
        "remediation" => DecisionKind::Remediation,
        other => return Err(format!("unknown reference policy {other:?}")),
    };
    let path = fleetward_test_policies::all()
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, p)| p)
        .ok_or_else(|| format!("reference policy {name} was not built"))?;
    std::fs::read(path).map_err(|e| format!("cannot read reference policy {name} at {path}: {e}"))
}
