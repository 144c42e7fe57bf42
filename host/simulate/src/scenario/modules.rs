//! Where a tenant's policy module comes from, resolved to bytes and a digest at load time.
//!
//! `builtin:NAME` names one of the reference policies embedded in the binary (`builtin.rs`);
//! anything else is a path relative to the scenario file: a `.wasm` module, or a `.wat` text
//! module compiled here (handy for small hand-written modules such as a policy that traps).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The reference policies a scenario can name as `builtin:NAME`.
pub const BUILTIN_MODULES: [&str; 3] = ["placement", "upgrade-ordering", "remediation"];

/// Where a module came from, for messages and the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleSource {
    /// A reference policy (`builtin:NAME`).
    Builtin(String),
    /// A file (path as written, resolved against the scenario's directory).
    File(PathBuf),
}

impl fmt::Display for ModuleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleSource::Builtin(name) => write!(f, "builtin:{name}"),
            ModuleSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A resolved module: its bytes and sha256 digest.
#[derive(Clone, Debug)]
pub struct Module {
    /// Where it came from.
    pub source: ModuleSource,
    /// The Wasm binary.
    pub bytes: Arc<[u8]>,
    /// `sha256:<64 hex>`.
    pub digest: String,
}

impl Module {
    /// Wraps bytes, computing the digest.
    pub fn from_bytes(source: ModuleSource, bytes: Vec<u8>) -> Module {
        let digest = fleetward_engine::Digest::of(&bytes).to_string();
        Module {
            source,
            bytes: bytes.into(),
            digest,
        }
    }

    /// The first 12 hex digits of the digest.
    pub fn short_digest(&self) -> &str {
        short_hex(&self.digest)
    }

    /// Resolves `spec` (`builtin:NAME` or a path) relative to `base_dir`.
    ///
    /// # Errors
    /// A message naming the module and what went wrong (unknown builtin, unreadable file, WAT
    /// that does not compile).
    pub fn resolve(spec: &str, base_dir: &Path) -> Result<Module, String> {
        if let Some(name) = spec.strip_prefix("builtin:") {
            let bytes = builtin_bytes(name)?;
            return Ok(Module::from_bytes(
                ModuleSource::Builtin(name.into()),
                bytes,
            ));
        }
        let rel = PathBuf::from(spec);
        let path = if rel.is_absolute() {
            rel.clone()
        } else {
            base_dir.join(&rel)
        };
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("cannot read module {}: {e}", path.display()))?;
        let bytes = if path.extension().is_some_and(|e| e == "wat") {
            wat::parse_bytes(&bytes)
                .map_err(|e| format!("module {} does not compile: {e}", path.display()))?
                .into_owned()
        } else {
            bytes
        };
        Ok(Module::from_bytes(ModuleSource::File(rel), bytes))
    }
}

/// The first 12 hex digits of a `sha256:<hex>` or bare hex digest.
pub(crate) fn short_hex(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex)
}

fn builtin_bytes(name: &str) -> Result<Vec<u8>, String> {
    if !BUILTIN_MODULES.contains(&name) {
        return Err(format!(
            "unknown builtin module {name:?}: expected one of {}",
            BUILTIN_MODULES
                .iter()
                .map(|n| format!("builtin:{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    crate::builtin::module_bytes(name)
}
