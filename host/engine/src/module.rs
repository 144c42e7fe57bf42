//! A loaded policy module: validated, compiled and pre-instantiated, shared by every tenant
//! that uses the same bytes.
//!
//! `InstancePre` resolves imports against the engine's linker once, so a call only has to
//! allocate an instance (from the pool) and run; the export handles below are resolved once
//! too, so a call never looks exports up by name.

use std::fmt;
use std::sync::{Arc, OnceLock};

use fleetward_sdk::wire::DecisionKind;
use wasmtime::{InstancePre, ModuleExport};

use crate::store::StoreData;
use crate::validate::{self, ModuleInfo};
use crate::{Digest, PolicyError, PolicyErrorKind};

/// A compiled, validated, pre-instantiated module. Cheap to clone.
///
/// Lifetime: the module (compiled code, bytes, fuel-metered variant) lives as long as a
/// `PolicyModule` clone or a [`TenantPolicy`](crate::TenantPolicy) bound to it does. The
/// engine's in-memory cache only refers to it weakly, because tenants replace modules over the
/// controller's lifetime; loading the same bytes again after the last holder is gone reads the
/// disk cache (if configured) or compiles again.
#[derive(Clone)]
pub struct PolicyModule {
    pub(crate) inner: Arc<ModuleInner>,
}

impl PolicyModule {
    /// A loaded module (compiled, linked, checked) and its bytes; the fuel-metered variant is
    /// compiled later, on first need.
    pub(crate) fn new(
        info: ModuleInfo,
        pre: InstancePre<StoreData>,
        exports: Exports,
        wasm: &[u8],
    ) -> Self {
        PolicyModule {
            inner: Arc::new(ModuleInner {
                info,
                pre,
                exports,
                wasm: wasm.into(),
                metered: OnceLock::new(),
            }),
        }
    }
}

pub(crate) struct ModuleInner {
    pub(crate) info: ModuleInfo,
    /// Pre-instantiated for the engine's plain (unmetered) wasmtime engine.
    pub(crate) pre: InstancePre<StoreData>,
    /// Export handles of `pre`'s module.
    pub(crate) exports: Exports,
    /// The module bytes, kept to compile the fuel-metered variant when first needed.
    pub(crate) wasm: Arc<[u8]>,
    /// The fuel-metered variant, compiled at the first bind of a tenant with a fuel limit.
    pub(crate) metered: OnceLock<Variant>,
}

/// One compilation of a module: its `InstancePre` and export handles (which belong to that
/// compilation: a `ModuleExport` of one `Module` does not resolve in another).
pub(crate) struct Variant {
    pub(crate) pre: InstancePre<StoreData>,
    pub(crate) exports: Exports,
}

/// Pre-resolved export handles.
pub(crate) struct Exports {
    pub(crate) memory: ModuleExport,
    pub(crate) abi_version: ModuleExport,
    pub(crate) alloc: ModuleExport,
    pub(crate) initialize: Option<ModuleExport>,
    pub(crate) validate_config: Option<ModuleExport>,
    /// Indexed like [`DecisionKind::ALL`].
    pub(crate) decisions: [Option<ModuleExport>; 3],
}

impl Exports {
    /// Resolves the ABI exports of a module that passed [`validate`].
    pub(crate) fn resolve(module: &wasmtime::Module) -> Result<Exports, PolicyErrorKind> {
        let required = |name: &str| {
            module
                .get_export_index(name)
                .ok_or_else(|| PolicyErrorKind::ModuleRejected {
                    reasons: vec![format!("missing export `{name}`")],
                })
        };
        Ok(Exports {
            memory: required(validate::MEMORY)?,
            abi_version: required(validate::ABI_VERSION)?,
            alloc: required(validate::ALLOC)?,
            initialize: module.get_export_index(validate::INITIALIZE),
            validate_config: module.get_export_index(validate::VALIDATE_CONFIG),
            decisions: DecisionKind::ALL.map(|k| module.get_export_index(k.export_name())),
        })
    }

    pub(crate) fn decision(&self, kind: DecisionKind) -> Option<&ModuleExport> {
        let index = DecisionKind::ALL.iter().position(|k| *k == kind)?;
        self.decisions.get(index)?.as_ref()
    }
}

impl PolicyModule {
    /// The SHA-256 of the module bytes.
    pub fn digest(&self) -> &Digest {
        &self.inner.info.digest
    }

    /// What the module imports and exports, and its ABI version.
    pub fn info(&self) -> &ModuleInfo {
        &self.inner.info
    }

    /// Whether the module exports `kind`'s entry point.
    pub fn implements(&self, kind: DecisionKind) -> bool {
        self.inner.exports.decision(kind).is_some()
    }

    pub(crate) fn error(&self, kind: PolicyErrorKind) -> PolicyError {
        PolicyError::new(kind).with_digest(self.digest())
    }
}

impl fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyModule")
            .field("digest", &self.inner.info.digest)
            .field("decisions", &self.inner.info.decisions)
            .finish_non_exhaustive()
    }
}
