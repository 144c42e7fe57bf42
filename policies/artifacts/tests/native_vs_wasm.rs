//! Every fixture case, run through the compiled module and through the policy crate's native
//! `dispatch`, must give byte-identical output envelopes: what `cargo test` checks natively is
//! what the host gets.
//!
//! The harness is a minimal ABI v1 caller on plain wasmtime (a fresh store per call, the four
//! WASI imports the modules use stubbed deterministically), independent of the engine crate.

use std::path::Path;

use fleetward_sdk::PolicyExports;
use fleetward_sdk::testing::{case_envelopes, load_fixture_dir};
use fleetward_sdk::wire::CallKind;
use wasmtime::{Caller, Engine, Extern, Instance, Linker, Memory, Module, Store};

/// Store data: what the module wrote to stdout/stderr.
type Logs = Vec<u8>;

fn memory(caller: &mut Caller<'_, Logs>) -> Option<Memory> {
    caller.get_export("memory").and_then(Extern::into_memory)
}

fn linker(engine: &Engine) -> Linker<Logs> {
    const WASI: &str = "wasi_snapshot_preview1";
    let mut linker = Linker::new(engine);
    linker
        .func_wrap(
            WASI,
            "fd_write",
            |mut caller: Caller<'_, Logs>, fd: i32, iovs: i32, n: i32, written: i32| -> i32 {
                let Some(mem) = memory(&mut caller) else {
                    return 8;
                };
                if fd != 1 && fd != 2 {
                    return 8;
                }
                let data = mem.data(&caller);
                let mut out = Vec::new();
                for i in 0..n.max(0) as usize {
                    let at = iovs as usize + i * 8;
                    let Some(iov) = data.get(at..at + 8) else {
                        return 21;
                    };
                    let ptr = u32::from_le_bytes(iov[..4].try_into().unwrap()) as usize;
                    let len = u32::from_le_bytes(iov[4..].try_into().unwrap()) as usize;
                    let Some(bytes) = data.get(ptr..ptr + len) else {
                        return 21;
                    };
                    out.extend_from_slice(bytes);
                }
                let total = (out.len() as u32).to_le_bytes();
                caller.data_mut().extend_from_slice(&out);
                match mem.write(&mut caller, written as usize, &total) {
                    Ok(()) => 0,
                    Err(_) => 21,
                }
            },
        )
        .unwrap();
    linker
        .func_wrap(
            WASI,
            "environ_sizes_get",
            |mut caller: Caller<'_, Logs>, count: i32, size: i32| -> i32 {
                let Some(mem) = memory(&mut caller) else {
                    return 8;
                };
                let zero = 0u32.to_le_bytes();
                let ok = mem.write(&mut caller, count as usize, &zero).is_ok()
                    && mem.write(&mut caller, size as usize, &zero).is_ok();
                if ok { 0 } else { 21 }
            },
        )
        .unwrap();
    linker
        .func_wrap(WASI, "environ_get", |_: i32, _: i32| -> i32 { 0 })
        .unwrap();
    linker
        .func_wrap(WASI, "proc_exit", |code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::msg(format!("policy exited with {code}")))
        })
        .unwrap();
    linker
}

/// One ABI call in a fresh store; returns the output envelope and the policy's logs.
fn call_module(
    engine: &Engine,
    linker: &Linker<Logs>,
    module: &Module,
    export: &str,
    input: &str,
) -> (String, String) {
    let mut store = Store::new(engine, Logs::new());
    let instance: Instance = linker.instantiate(&mut store, module).unwrap();
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
        init.call(&mut store, ()).unwrap();
    }
    let version = instance
        .get_typed_func::<(), i32>(&mut store, "fleetward_abi_version")
        .unwrap();
    assert_eq!(version.call(&mut store, ()).unwrap(), 1);
    let alloc = instance
        .get_typed_func::<i32, i32>(&mut store, "fleetward_alloc")
        .unwrap();
    assert_eq!(alloc.call(&mut store, -1).unwrap(), 0, "negative length");
    let len = i32::try_from(input.len()).unwrap();
    let ptr = alloc.call(&mut store, len).unwrap();
    assert_ne!(ptr, 0);
    let mem = instance.get_memory(&mut store, "memory").unwrap();
    mem.write(&mut store, ptr as usize, input.as_bytes())
        .unwrap();
    let entry = instance
        .get_typed_func::<(i32, i32), i64>(&mut store, export)
        .unwrap();
    let packed = entry.call(&mut store, (ptr, len)).unwrap() as u64;
    let (out_ptr, out_len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    let bytes = mem.data(&store)[out_ptr..out_ptr + out_len].to_vec();
    let logs = String::from_utf8_lossy(store.data()).into_owned();
    (String::from_utf8(bytes).unwrap(), logs)
}

fn export_name(call: CallKind) -> &'static str {
    match call {
        CallKind::Placement => "fleetward_place",
        CallKind::UpgradeOrdering => "fleetward_order_upgrades",
        CallKind::Remediation => "fleetward_remediate",
        CallKind::ValidateConfig => "fleetward_validate_config",
    }
}

fn compare(wasm_path: &str, exports: &PolicyExports, fixtures: &str) -> usize {
    let engine = Engine::default();
    let linker = linker(&engine);
    let module = Module::from_file(&engine, wasm_path).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(fixtures)
        .join("fixtures");
    let dir = load_fixture_dir(dir).unwrap();
    let mut compared = 0;
    for fixture in &dir.fixtures {
        for (call, input) in case_envelopes(&dir.suite, &fixture.case) {
            let native = (exports.dispatch)(call, &input);
            let (wasm, _logs) = call_module(&engine, &linker, &module, export_name(call), &input);
            assert_eq!(
                wasm, native,
                "{fixtures}/{}: {call:?} output differs between module and native",
                fixture.name
            );
            compared += 1;
        }
    }
    compared
}

#[test]
fn placement_module_matches_native() {
    let n = compare(
        fleetward_test_policies::PLACEMENT,
        &fleetward_policy_placement::EXPORTS,
        "placement",
    );
    assert!(n >= 12, "{n}");
}

#[test]
fn upgrade_ordering_module_matches_native() {
    let n = compare(
        fleetward_test_policies::UPGRADE_ORDERING,
        &fleetward_policy_upgrade_ordering::EXPORTS,
        "upgrade-ordering",
    );
    assert!(n >= 12, "{n}");
}

#[test]
fn remediation_module_matches_native() {
    let n = compare(
        fleetward_test_policies::REMEDIATION,
        &fleetward_policy_remediation::EXPORTS,
        "remediation",
    );
    assert!(n >= 12, "{n}");
}

#[test]
fn module_logs_go_to_stderr_and_errors_name_the_path() {
    let engine = Engine::default();
    let linker = linker(&engine);
    let module = Module::from_file(&engine, fleetward_test_policies::PLACEMENT).unwrap();
    let request =
        r#"{"cluster":{"id":{"namespace":"t","name":"c"},"version":"1.31.0"},"seeds":[]}"#;
    let input = format!(
        r#"{{"abi_version":1,"decision":"placement","now":"2026-11-25T17:00:00Z","tenant":"t","config":null,"request":{request}}}"#
    );
    let (out, logs) = call_module(&engine, &linker, &module, "fleetward_place", &input);
    assert_eq!(logs, "info: placing t/c among 0 candidate seed(s)\n");
    assert!(out.contains(r#""code":"no_candidate""#), "{out}");

    let bad = input.replace(r#""version":"1.31.0""#, r#""version":"one""#);
    let (out, _) = call_module(&engine, &linker, &module, "fleetward_place", &bad);
    assert!(
        out.starts_with(r#"{"error":{"code":"invalid_request","message":"cluster.version: invalid Kubernetes version \"one\""#),
        "{out}"
    );
    let wrong = input.replace(r#""decision":"placement""#, r#""decision":"remediation""#);
    let (out, _) = call_module(&engine, &linker, &module, "fleetward_place", &wrong);
    assert!(out.contains(r#""code":"invalid_input""#), "{out}");
}
