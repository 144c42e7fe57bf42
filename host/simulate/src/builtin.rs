//! The reference policies (`builtin:NAME` in scenarios), compiled into the library.
//!
//! `build.rs` embeds the modules that `fleetward-test-policies` builds from this checkout's
//! sources (never downloaded, never committed as blobs), so a `fleetward` binary copied anywhere
//! still has them: nothing is read from the build machine at run time.

use fleetward_sdk::wire::DecisionKind;

include!(concat!(env!("OUT_DIR"), "/builtin_modules.rs"));

/// The bytes of reference policy `name` (one of [`crate::scenario::BUILTIN_MODULES`]).
///
/// # Errors
/// A message when the name is unknown.
pub(crate) fn module_bytes(name: &str) -> Result<Vec<u8>, String> {
    BUILTIN
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, bytes)| bytes.to_vec())
        .ok_or_else(|| format!("unknown reference policy {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_name_is_embedded_as_a_wasm_module() {
        for name in crate::scenario::BUILTIN_MODULES {
            let bytes = module_bytes(name).expect(name);
            assert!(bytes.starts_with(b"\0asm"), "{name} is not a Wasm module");
        }
        assert!(module_bytes("nope").is_err());
        // One module per decision kind, in the kinds' order.
        let kinds: Vec<DecisionKind> = BUILTIN.iter().map(|(_, k, _)| *k).collect();
        assert_eq!(kinds, DecisionKind::ALL);
    }
}
