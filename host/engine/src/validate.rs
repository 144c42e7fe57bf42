//! Static checks of a module's bytes: what it imports, what it exports, and why `load` would
//! refuse it.
//!
//! This runs before any compilation, so a hostile upload costs a parse, not a Cranelift run,
//! and so `fleetward policy inspect` can explain a module without an engine. It lists *every*
//! problem at once (each forbidden import by `module::name`, each missing or mistyped export):
//! an operator fixing a module should not discover its problems one load at a time.

use fleetward_sdk::wire::DecisionKind;
use wasmparser::{
    CompositeInnerType, ExternalKind, FuncType, Operator, Parser, Payload, TypeRef, ValType,
};

use crate::Digest;
use crate::error::{PolicyError, PolicyErrorKind};
use crate::wasi::{ALLOWED_IMPORTS, WASI_MODULE};

/// Export names of the ABI.
pub(crate) const MEMORY: &str = "memory";
pub(crate) const ABI_VERSION: &str = "fleetward_abi_version";
pub(crate) const ALLOC: &str = "fleetward_alloc";
pub(crate) const VALIDATE_CONFIG: &str = "fleetward_validate_config";
pub(crate) const INITIALIZE: &str = "_initialize";

/// What a module is and does, read from its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    /// SHA-256 of the bytes.
    pub digest: Digest,
    /// Size in bytes.
    pub size: usize,
    /// The ABI version it reports: from a call after `load`, or read statically by `inspect`
    /// when `fleetward_abi_version` simply returns a constant (else `None`).
    pub abi_version: Option<u32>,
    /// Decisions it exports, in [`DecisionKind::ALL`] order.
    pub decisions: Vec<DecisionKind>,
    /// Every import, as `module::name`.
    pub imports: Vec<String>,
    /// Whether it exports `fleetward_validate_config`.
    pub validates_config: bool,
    /// Why `load` would reject it; empty when the static checks pass.
    pub problems: Vec<String>,
}

/// Inspects a module without compiling it, with the default 16 MiB size cap.
///
/// # Errors
/// [`PolicyErrorKind::ModuleRejected`] when the bytes are not a parseable core Wasm module at
/// all; every other problem is listed in [`ModuleInfo::problems`] instead.
pub fn inspect(bytes: &[u8]) -> Result<ModuleInfo, PolicyError> {
    inspect_with_cap(bytes, crate::EngineConfig::default().max_module_size)
}

/// [`inspect`] with an explicit size cap.
pub(crate) fn inspect_with_cap(bytes: &[u8], max_size: usize) -> Result<ModuleInfo, PolicyError> {
    let digest = Digest::of(bytes);
    let parsed = parse(bytes).map_err(|reason| {
        PolicyError::new(PolicyErrorKind::ModuleRejected {
            reasons: vec![reason],
        })
        .with_digest(&digest)
    })?;
    let mut problems = Vec::new();
    if bytes.len() > max_size {
        problems.push(format!(
            "module is {} bytes, over the {max_size}-byte cap",
            bytes.len()
        ));
    }
    check_imports(&parsed, &mut problems);
    check_exports(&parsed, &mut problems);
    let decisions: Vec<DecisionKind> = DecisionKind::ALL
        .into_iter()
        .filter(|k| parsed.export(k.export_name()).is_some())
        .collect();
    Ok(ModuleInfo {
        digest,
        size: bytes.len(),
        abi_version: parsed.constant_abi_version(),
        decisions,
        imports: parsed
            .imports
            .iter()
            .map(|i| format!("{}::{}", i.module, i.name))
            .collect(),
        validates_config: parsed.export(VALIDATE_CONFIG).is_some(),
        problems,
    })
}

/// One import, reduced to what the checks need.
#[derive(Debug)]
struct ImportDesc {
    module: String,
    name: String,
    /// `Ok(signature)` for functions, `Err(kind)` for memories, tables, globals, tags.
    ty: Result<Option<String>, &'static str>,
}

/// The parts of a module the checks look at.
#[derive(Debug, Default)]
struct Parsed {
    /// Signature per type index (`None` for non-function types).
    types: Vec<Option<String>>,
    imports: Vec<ImportDesc>,
    /// Type index of each function, imported ones first.
    func_types: Vec<u32>,
    imported_funcs: usize,
    exports: Vec<(String, ExternalKind, u32)>,
    memories: Vec<wasmparser::MemoryType>,
    /// Body of `fleetward_abi_version`'s function, if it is a single constant.
    constant_bodies: Vec<Option<i32>>,
}

impl Parsed {
    fn export(&self, name: &str) -> Option<(ExternalKind, u32)> {
        self.exports
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, kind, index)| (*kind, *index))
    }

    fn func_signature(&self, index: u32) -> Option<&str> {
        let ty = *self.func_types.get(index as usize)?;
        self.types.get(ty as usize)?.as_deref()
    }

    fn constant_abi_version(&self) -> Option<u32> {
        let (ExternalKind::Func, index) = self.export(ABI_VERSION)? else {
            return None;
        };
        let body = (index as usize).checked_sub(self.imported_funcs)?;
        let value = (*self.constant_bodies.get(body)?)?;
        u32::try_from(value).ok()
    }
}

/// `iI->i`-style signature string (`i` i32, `I` i64, `f`/`F` floats, `v` v128, `r` refs).
fn signature(ft: &FuncType) -> String {
    let code = |t: &ValType| match t {
        ValType::I32 => 'i',
        ValType::I64 => 'I',
        ValType::F32 => 'f',
        ValType::F64 => 'F',
        ValType::V128 => 'v',
        ValType::Ref(_) => 'r',
    };
    let params: String = ft.params().iter().map(code).collect();
    let results: String = ft.results().iter().map(code).collect();
    format!("{params}->{results}")
}

fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let not_wasm = |e: wasmparser::BinaryReaderError| format!("not a valid Wasm module: {e}");
    let mut p = Parsed::default();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(not_wasm)? {
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => {
                return Err(
                    "a Wasm component, not a core module (ABI v1 needs a core module)".to_string(),
                );
            }
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.map_err(not_wasm)?.into_types() {
                        p.types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(ft) => Some(signature(ft)),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(not_wasm)?;
                    let ty = match import.ty {
                        TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                            p.func_types.push(t);
                            p.imported_funcs += 1;
                            Ok(p.types.get(t as usize).cloned().flatten())
                        }
                        TypeRef::Memory(_) => Err("memory"),
                        TypeRef::Table(_) => Err("table"),
                        TypeRef::Global(_) => Err("global"),
                        TypeRef::Tag(_) => Err("tag"),
                    };
                    p.imports.push(ImportDesc {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        ty,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    p.func_types.push(ty.map_err(not_wasm)?);
                }
            }
            Payload::MemorySection(reader) => {
                for mem in reader {
                    p.memories.push(mem.map_err(not_wasm)?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let e = export.map_err(not_wasm)?;
                    p.exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
            Payload::CodeSectionEntry(body) => {
                p.constant_bodies.push(constant_body(&body));
            }
            _ => {}
        }
    }
    Ok(p)
}

/// `Some(n)` if the function body is exactly `i32.const n; end` (and has no locals).
fn constant_body(body: &wasmparser::FunctionBody<'_>) -> Option<i32> {
    let locals = body.get_locals_reader().ok()?;
    if locals.get_count() != 0 {
        return None;
    }
    let mut ops = body.get_operators_reader().ok()?;
    let first = ops.read().ok()?;
    let second = ops.read().ok()?;
    match (first, second, ops.eof()) {
        (Operator::I32Const { value }, Operator::End, true) => Some(value),
        _ => None,
    }
}

fn check_imports(p: &Parsed, problems: &mut Vec<String>) {
    for import in &p.imports {
        let full = format!("{}::{}", import.module, import.name);
        let allowed = ALLOWED_IMPORTS
            .iter()
            .find(|(name, _)| import.module == WASI_MODULE && *name == import.name);
        match (&import.ty, allowed) {
            (Err(kind), _) => problems.push(format!(
                "forbidden import `{full}` (an imported {kind}; only functions of \
                 {WASI_MODULE} may be imported)"
            )),
            (Ok(_), None) => problems.push(format!("forbidden import `{full}`")),
            (Ok(sig), Some((_, want))) if sig.as_deref() != Some(*want) => problems.push(format!(
                "import `{full}` has signature {}, expected {want}",
                sig.as_deref().unwrap_or("(not a function type)")
            )),
            (Ok(_), Some(_)) => {}
        }
    }
}

fn check_exports(p: &Parsed, problems: &mut Vec<String>) {
    match p.export(MEMORY) {
        None => problems.push(format!("missing export `{MEMORY}` (the linear memory)")),
        Some((ExternalKind::Memory, index)) => {
            if p.memories.get(index as usize).is_some_and(|m| m.memory64) {
                problems.push(format!(
                    "export `{MEMORY}` is a 64-bit memory; expected 32-bit"
                ));
            }
        }
        Some(_) => problems.push(format!("export `{MEMORY}` is not a memory")),
    }
    let mut check_func = |name: &str, want: &str, required: bool| match p.export(name) {
        None if required => problems.push(format!("missing export `{name}` ({want})")),
        None => {}
        Some((ExternalKind::Func, index)) => match p.func_signature(index) {
            Some(sig) if sig == want => {}
            sig => problems.push(format!(
                "export `{name}` has signature {}, expected {want}",
                sig.unwrap_or("(unknown)")
            )),
        },
        Some(_) => problems.push(format!("export `{name}` is not a function")),
    };
    check_func(ABI_VERSION, "->i", true);
    check_func(ALLOC, "i->i", true);
    check_func(VALIDATE_CONFIG, "ii->I", false);
    check_func(INITIALIZE, "->", false);
    for kind in DecisionKind::ALL {
        check_func(kind.export_name(), "ii->I", false);
    }
    if DecisionKind::ALL
        .iter()
        .all(|k| p.export(k.export_name()).is_none())
    {
        problems.push(format!(
            "no decision export: expected at least one of `{}`, `{}`, `{}`",
            DecisionKind::Placement.export_name(),
            DecisionKind::UpgradeOrdering.export_name(),
            DecisionKind::Remediation.export_name()
        ));
    }
}
