//! Where the `fleetward-testcp` binary is, and whether its absence is a skip or a failure.
//!
//! `scripts/build-control-plane.sh` builds it into a cache keyed by the Go sources; this module
//! computes the same key from the same files (embedded at compile time), so a test binary always
//! looks for the control plane that matches the checkout it was built from.

use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use crate::Error;

/// Environment variable naming a `fleetward-testcp` binary to use instead of the cache.
pub const BINARY_ENV: &str = "FLEETWARD_TESTCP";
/// Environment variable that makes a missing control plane a failure instead of a skip (CI).
pub const REQUIRE_ENV: &str = "FLEETWARD_REQUIRE_CONTROL_PLANE";

const GO_MOD: &[u8] = include_bytes!("../controlplane/go.mod");
const GO_SUM: &[u8] = include_bytes!("../controlplane/go.sum");
const MAIN_GO: &[u8] = include_bytes!("../controlplane/cmd/fleetward-testcp/main.go");

/// The cache key `scripts/build-control-plane.sh` uses: the first 16 hex digits of
/// sha256(go.mod ‖ go.sum ‖ main.go).
pub fn cache_key() -> String {
    let mut h = Sha256::new();
    h.update(GO_MOD);
    h.update(GO_SUM);
    h.update(MAIN_GO);
    hex::encode(h.finalize())[..16].to_string()
}

/// Where the build script puts the binary for this checkout.
pub fn cached_binary_path() -> PathBuf {
    let base = std::env::var_os("FLEETWARD_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("fleetward")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/fleetward")))
        .unwrap_or_else(|| std::env::temp_dir().join("fleetward-cache"));
    base.join("control-plane")
        .join(cache_key())
        .join("fleetward-testcp")
}

/// The outcome of looking for the control plane.
#[derive(Debug)]
pub enum Availability {
    /// The binary exists.
    Ready(PathBuf),
    /// It cannot exist on this machine (no Go) and it is not required: skip, loudly.
    Unavailable(String),
}

/// Finds the control plane binary.
///
/// # Errors
/// [`Error::NotBuilt`] when it is missing but could be built (Go is installed) or is required
/// (`FLEETWARD_REQUIRE_CONTROL_PLANE=1`): a test must fail rather than skip in those cases.
pub fn locate() -> Result<Availability, Error> {
    if let Some(path) = std::env::var_os(BINARY_ENV).map(PathBuf::from) {
        return if path.is_file() {
            Ok(Availability::Ready(path))
        } else {
            Err(Error::NotBuilt {
                path,
                hint: format!("{BINARY_ENV} names a file that does not exist"),
            })
        };
    }
    let path = cached_binary_path();
    if path.is_file() {
        return Ok(Availability::Ready(path));
    }
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
    let have_go = std::process::Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_go || required {
        return Err(Error::NotBuilt {
            path,
            hint: if have_go {
                "run scripts/build-control-plane.sh (scripts/setup.sh and scripts/test.sh do)"
                    .into()
            } else {
                format!(
                    "{REQUIRE_ENV}=1 but Go is not installed: install Go >= 1.26, then run scripts/build-control-plane.sh"
                )
            },
        });
    }
    Ok(Availability::Unavailable(
        "Go is not installed, so the real control plane (kube-apiserver, etcd) cannot be built on this machine".into(),
    ))
}

/// Writes a skip notice straight to the process's stderr (libtest captures `eprintln!` of passing
/// tests, and a skip nobody sees is a silent one).
pub fn announce_skip(test: &str, reason: &str) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test} against the real kube-apiserver: {reason} ***\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_matches_the_build_script() {
        // The build script hashes `cat go.mod go.sum main.go | sha256sum`; so do we.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/controlplane");
        let mut bytes = Vec::new();
        for f in ["go.mod", "go.sum", "cmd/fleetward-testcp/main.go"] {
            bytes.extend(std::fs::read(format!("{dir}/{f}")).unwrap());
        }
        let expected = hex::encode(Sha256::digest(&bytes))[..16].to_string();
        assert_eq!(cache_key(), expected);
        assert!(cached_binary_path().ends_with(format!("{expected}/fleetward-testcp")));
    }
}
