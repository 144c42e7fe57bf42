//! The reference policies (`builtin:NAME` in scenarios), as built by `fleetward-test-policies`.

/// The bytes of reference policy `name` (one of [`crate::scenario::BUILTIN_MODULES`]).
///
/// # Errors
/// A message when the module was not built or cannot be read.
pub(crate) fn module_bytes(name: &str) -> Result<Vec<u8>, String> {
    Err(format!(
        "reference policy {name} is not available in this build"
    ))
}
