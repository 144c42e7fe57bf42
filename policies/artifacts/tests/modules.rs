//! Checks the built modules against the ABI's static rules (docs/abi.md): imports only from the
//! deterministic WASI subset, the required exports with the right signatures, size cap.

use std::collections::BTreeMap;

use fleetward_sdk::wire::DecisionKind;
use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, ValType};

/// docs/abi.md, "Imports": the only functions a module may import.
const ALLOWED_WASI: [&str; 16] = [
    "fd_write",
    "fd_fdstat_get",
    "fd_close",
    "fd_seek",
    "fd_read",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "environ_sizes_get",
    "args_sizes_get",
    "environ_get",
    "args_get",
    "clock_time_get",
    "clock_res_get",
    "random_get",
    "sched_yield",
    "proc_exit",
];

#[derive(Debug, Default)]
struct Module {
    imports: Vec<String>,
    /// export name -> Some(signature) for functions, None for other kinds.
    exports: BTreeMap<String, (ExternalKind, Option<FuncType>)>,
}

fn parse(bytes: &[u8]) -> Module {
    let mut types: Vec<FuncType> = Vec::new();
    let mut funcs: Vec<u32> = Vec::new(); // type index of every function, imports first
    let mut module = Module::default();
    let mut raw_exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.expect("module parses") {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for ty in group.expect("type").into_types() {
                        types.push(ty.unwrap_func().clone());
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.expect("import");
                    if let TypeRef::Func(t) = import.ty {
                        funcs.push(t);
                    }
                    module
                        .imports
                        .push(format!("{}::{}", import.module, import.name));
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    funcs.push(t.expect("function"));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let e = export.expect("export");
                    raw_exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
            _ => {}
        }
    }
    for (name, kind, index) in raw_exports {
        let sig =
            (kind == ExternalKind::Func).then(|| types[funcs[index as usize] as usize].clone());
        module.exports.insert(name, (kind, sig));
    }
    module
}

fn sig(params: &[ValType], results: &[ValType]) -> FuncType {
    FuncType::new(params.iter().copied(), results.iter().copied())
}

#[test]
fn modules_follow_the_abi() {
    use ValType::{I32, I64};
    for (kind, path) in fleetward_test_policies::all() {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(bytes.len() < 16 << 20, "{path} exceeds the 16 MiB cap");
        let module = parse(&bytes);

        let forbidden: Vec<_> = module
            .imports
            .iter()
            .filter(|i| {
                i.strip_prefix("wasi_snapshot_preview1::")
                    .is_none_or(|name| !ALLOWED_WASI.contains(&name))
            })
            .collect();
        assert!(
            forbidden.is_empty(),
            "{path}: forbidden imports {forbidden:?}"
        );

        let expect = |name: &str, want: Option<FuncType>| {
            let (k, got) = module
                .exports
                .get(name)
                .unwrap_or_else(|| panic!("{path}: missing export {name}"));
            match want {
                Some(want) => assert_eq!(got.as_ref(), Some(&want), "{path}: {name} signature"),
                None => assert_eq!(*k, ExternalKind::Memory, "{path}: {name} is a memory"),
            }
        };
        expect("memory", None);
        expect("fleetward_abi_version", Some(sig(&[], &[I32])));
        expect("fleetward_alloc", Some(sig(&[I32], &[I32])));
        expect("fleetward_validate_config", Some(sig(&[I32, I32], &[I64])));
        for other in DecisionKind::ALL {
            let name = other.export_name();
            if other == kind {
                expect(name, Some(sig(&[I32, I32], &[I64])));
            } else {
                assert!(
                    !module.exports.contains_key(name),
                    "{path}: unexpected export {name}"
                );
            }
        }
        // Nothing else is exported but the optional WASI reactor initialiser.
        let extra: Vec<_> = module
            .exports
            .keys()
            .filter(|n| {
                !n.starts_with("fleetward_")
                    && n.as_str() != "memory"
                    && n.as_str() != "_initialize"
            })
            .collect();
        assert!(extra.is_empty(), "{path}: unexpected exports {extra:?}");
    }
}

#[test]
fn paths_are_absolute_and_distinct() {
    let all = fleetward_test_policies::all();
    for (_, path) in all {
        assert!(std::path::Path::new(path).is_absolute(), "{path}");
        assert!(path.ends_with(".wasm"), "{path}");
    }
    assert_ne!(all[0].1, all[1].1);
    assert_ne!(all[1].1, all[2].1);
    assert_eq!(
        all.map(|(k, _)| k),
        [
            DecisionKind::Placement,
            DecisionKind::UpgradeOrdering,
            DecisionKind::Remediation
        ]
    );
}
