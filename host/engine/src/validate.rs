//! Static checks of a module's bytes: what it imports, what it exports, and why `load` would
//! refuse it.
//!
//! This runs before any compilation, so a hostile upload costs a parse, not a Cranelift run,
//! and so `fleetward policy inspect` can explain a module without an engine. Compile time and
//! memory grow with what a module declares (a million tiny functions took a minute and 5.5 GB),
//! so the first thing read is each section's declared count, checked against the caps of
//! `docs/abi.md` ([`crate::MAX_FUNCTIONS`] and its neighbours) *before* its entries are
//! iterated: an over-cap module is refused at its first over-cap section header
//! ([`PolicyErrorKind::ModuleOverCap`], naming the cap), having cost a few header reads. A
//! module within the caps has *every* ABI problem listed at once (each forbidden import by
//! `module::name`, each missing or mistyped export): an operator fixing a module should not
//! discover its problems one load at a time.

use fleetward_sdk::wire::DecisionKind;
use wasmparser::{
    CompositeInnerType, ExternalKind, FuncType, Operator, Parser, Payload, TypeRef, ValType,
};

use crate::Digest;
use crate::config::{
    MAX_DATA_SEGMENTS, MAX_ELEM_SEGMENTS, MAX_EXPORTS, MAX_FUNCTIONS, MAX_GLOBALS, MAX_IMPORTS,
    MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES, MAX_TYPES,
};
use crate::error::{ModuleCap, PolicyError, PolicyErrorKind};
use crate::text::untrusted;
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
    /// Initial size of its linear memory in bytes (0 without one): checked against each
    /// tenant's memory limit at bind.
    pub initial_memory_bytes: u64,
    /// Why `load` would reject it for its ABI shape; empty when the static checks pass.
    pub problems: Vec<String>,
}

/// Inspects a module without compiling it, with the default caps (16 MiB, 128 MiB initial
/// memory, and the structural caps of `docs/abi.md`).
///
/// # Errors
/// [`PolicyErrorKind::ModuleTooLarge`] over the size cap, [`PolicyErrorKind::InvalidModule`]
/// when the bytes are not a parseable core Wasm module, [`PolicyErrorKind::ModuleOverCap`] at
/// the first structural cap exceeded; every ABI-shape problem is listed in
/// [`ModuleInfo::problems`] instead.
pub fn inspect(bytes: &[u8]) -> Result<ModuleInfo, PolicyError> {
    let d = crate::EngineConfig::default();
    inspect_with_caps(bytes, d.max_module_size, d.max_memory_per_instance)
}

/// [`inspect`] with an explicit size cap and initial-memory ceiling.
pub(crate) fn inspect_with_caps(
    bytes: &[u8],
    max_size: usize,
    max_memory: u64,
) -> Result<ModuleInfo, PolicyError> {
    let digest = Digest::of(bytes);
    if bytes.len() > max_size {
        return Err(PolicyError::new(PolicyErrorKind::ModuleTooLarge {
            size: bytes.len(),
            limit: max_size,
        })
        .with_digest(&digest));
    }
    let parsed =
        parse(bytes, max_memory).map_err(|kind| PolicyError::new(kind).with_digest(&digest))?;
    let mut problems = Vec::new();
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
        initial_memory_bytes: parsed.initial_memory_bytes,
        problems,
    })
}

/// Refuses a section that declares more than `limit` entries.
fn cap(cap: ModuleCap, found: u64, limit: u64) -> Result<(), PolicyErrorKind> {
    if found > limit {
        Err(PolicyErrorKind::ModuleOverCap { cap, found, limit })
    } else {
        Ok(())
    }
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
    /// Initial size of the (first) memory in bytes.
    initial_memory_bytes: u64,
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

fn parse(bytes: &[u8], max_memory: u64) -> Result<Parsed, PolicyErrorKind> {
    let not_wasm = |e: wasmparser::BinaryReaderError| PolicyErrorKind::InvalidModule {
        message: untrusted(&e.to_string()),
    };
    let mut p = Parsed::default();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(not_wasm)? {
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => {
                return Err(PolicyErrorKind::InvalidModule {
                    message: "a Wasm component, not a core module (ABI v1 needs a core module)"
                        .to_string(),
                });
            }
            Payload::TypeSection(reader) => {
                cap(ModuleCap::Types, reader.count().into(), MAX_TYPES.into())?;
                for group in reader {
                    for sub in group.map_err(not_wasm)?.into_types() {
                        cap(ModuleCap::Types, p.types.len() as u64 + 1, MAX_TYPES.into())?;
                        p.types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(ft) => Some(signature(ft)),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                cap(
                    ModuleCap::Imports,
                    reader.count().into(),
                    MAX_IMPORTS.into(),
                )?;
                for import in reader.into_imports() {
                    let import = import.map_err(not_wasm)?;
                    cap(
                        ModuleCap::Imports,
                        p.imports.len() as u64 + 1,
                        MAX_IMPORTS.into(),
                    )?;
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
                        module: untrusted(import.module),
                        name: untrusted(import.name),
                        ty,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                let declared = u64::from(reader.count()) + p.func_types.len() as u64;
                cap(ModuleCap::Functions, declared, MAX_FUNCTIONS.into())?;
                for ty in reader {
                    p.func_types.push(ty.map_err(not_wasm)?);
                }
            }
            Payload::TableSection(reader) => {
                cap(ModuleCap::Tables, reader.count().into(), MAX_TABLES.into())?;
                for table in reader {
                    let table = table.map_err(not_wasm)?;
                    cap(
                        ModuleCap::TableElements,
                        table.ty.initial,
                        MAX_TABLE_ELEMENTS,
                    )?;
                }
            }
            Payload::MemorySection(reader) => {
                cap(
                    ModuleCap::Memories,
                    reader.count().into(),
                    MAX_MEMORIES.into(),
                )?;
                for mem in reader {
                    let mem = mem.map_err(not_wasm)?;
                    let page = 1u64 << mem.page_size_log2.unwrap_or(16).min(16);
                    let initial = mem.initial.saturating_mul(page);
                    cap(ModuleCap::InitialMemory, initial, max_memory)?;
                    if p.memories.is_empty() {
                        p.initial_memory_bytes = initial;
                    }
                    p.memories.push(mem);
                }
            }
            Payload::GlobalSection(reader) => {
                cap(
                    ModuleCap::Globals,
                    reader.count().into(),
                    MAX_GLOBALS.into(),
                )?;
            }
            Payload::ExportSection(reader) => {
                cap(
                    ModuleCap::Exports,
                    reader.count().into(),
                    MAX_EXPORTS.into(),
                )?;
                for export in reader {
                    let e = export.map_err(not_wasm)?;
                    p.exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
            Payload::ElementSection(reader) => {
                cap(
                    ModuleCap::ElemSegments,
                    reader.count().into(),
                    MAX_ELEM_SEGMENTS.into(),
                )?;
            }
            Payload::DataCountSection { count, .. } => {
                cap(
                    ModuleCap::DataSegments,
                    count.into(),
                    MAX_DATA_SEGMENTS.into(),
                )?;
            }
            Payload::DataSection(reader) => {
                cap(
                    ModuleCap::DataSegments,
                    reader.count().into(),
                    MAX_DATA_SEGMENTS.into(),
                )?;
            }
            Payload::CodeSectionStart { count, .. } => {
                cap(ModuleCap::Functions, count.into(), MAX_FUNCTIONS.into())?;
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
