//! The public API: loading (memory and disk caches, cap-std files), inspection, binding,
//! typed async decisions and their errors.

use std::path::PathBuf;

use fleetward_engine::{Digest, Engine, EngineConfig, Limits, PolicyErrorKind, inspect};
use fleetward_sdk::wire::{
    ClusterRef, ClusterToPlace, Component, DecisionKind, KubeVersion, PlacementConstraints,
    PlacementRequest, Problem, RemediationAction, RemediationRequest,
};
use serde_json::json;

use crate::modules::{constant, echo, engine, now, policy, policy_with, wasm};

/// A fresh directory under the system temp dir, unique to this test and process.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fleetward-engine-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn placement_request() -> PlacementRequest {
    PlacementRequest {
        cluster: ClusterToPlace {
            id: ClusterRef::new("tenant-acme", "prod-1"),
            labels: Default::default(),
            version: KubeVersion::new(1, 31, 0),
            constraints: PlacementConstraints::default(),
        },
        seeds: vec![],
        tenant_placements: vec![],
    }
}

fn remediation_request() -> RemediationRequest {
    RemediationRequest {
        cluster: ClusterRef::new("tenant-acme", "prod-1"),
        labels: Default::default(),
        seed: None,
        problem: Problem {
            component: Component::ControlPlane {
                name: "etcd".into(),
            },
            condition: "NotReady".into(),
            detail: String::new(),
            unhealthy_since: now(),
        },
        history: vec![],
        upgrades_paused: false,
        signals: Vec::new(),
    }
}

#[test]
fn load_is_cached_per_digest_and_inspect_describes_the_module() {
    let bytes = echo();
    let a = engine().load(&bytes).unwrap();
    let b = engine().load(&bytes).unwrap();
    assert_eq!(a.digest(), &Digest::of(&bytes));
    assert_eq!(a.info().abi_version, Some(1));
    assert_eq!(a.info().decisions, DecisionKind::ALL.to_vec());
    assert!(a.info().problems.is_empty());
    assert_eq!(a.info(), b.info());
    let info = inspect(&bytes).unwrap();
    assert_eq!(
        info.abi_version,
        Some(1),
        "read statically from the constant body"
    );
    assert!(info.imports.is_empty());
    assert!(!info.validates_config);

    let bad = wasm(&policy_with(
        r#"(import "env" "socket" (func))"#,
        1,
        "(i64.const 0)",
        "",
    ));
    let info = inspect(&bad).unwrap();
    assert_eq!(info.imports, vec!["env::socket".to_string()]);
    assert_eq!(
        info.problems,
        vec!["forbidden import `env::socket`".to_string()]
    );
}

#[test]
fn a_missing_decision_is_not_implemented() {
    let bytes = wasm(
        &policy_with("", 1, "(i64.const 0)", "")
            .replace("(export \"fleetward_remediate\" (func $decide))", "")
            .replace("(export \"fleetward_order_upgrades\" (func $decide))", ""),
    );
    let module = engine().load(&bytes).unwrap();
    assert!(module.implements(DecisionKind::Placement));
    assert!(!module.implements(DecisionKind::Remediation));
    let policy = engine()
        .bind(&module, "acme", json!(null), Limits::default())
        .unwrap();
    let err = policy
        .call_json_blocking(DecisionKind::Remediation, &json!({}), now())
        .unwrap_err();
    assert!(matches!(
        err.kind,
        PolicyErrorKind::DecisionNotImplemented {
            kind: DecisionKind::Remediation
        }
    ));
}

#[test]
fn the_disk_cache_is_reused_and_survives_corruption() {
    let dir = temp_dir("cache");
    let bytes = policy(
        "(call $pack (i32.const 1024) (i32.const 9))",
        r#"(data (i32.const 1024) "{\"ok\":{}}")"#,
    );
    let digest = Digest::of(&bytes);
    let run = |engine: &Engine| {
        let module = engine.load(&bytes).unwrap();
        let policy = engine
            .bind(&module, "acme", json!(null), Limits::default())
            .unwrap();
        policy
            .call_json_blocking(DecisionKind::Placement, &json!({}), now())
            .unwrap()
            .output_json
    };
    let first = Engine::new(EngineConfig::default().cache_dir(dir.clone())).unwrap();
    assert_eq!(run(&first), "{}");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(digest.hex()) && name.ends_with(".cwasm"),
        "{name}"
    );
    let written = std::fs::read(&files[0]).unwrap();

    // A second engine (as after a restart) loads from the file.
    let second = Engine::new(EngineConfig::default().cache_dir(dir.clone())).unwrap();
    assert_eq!(run(&second), "{}");
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        written,
        "not rewritten on a hit"
    );

    // A corrupted file is ignored, the module recompiled and the file rewritten.
    let mut corrupted = written.clone();
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0xff;
    std::fs::write(&files[0], &corrupted).unwrap();
    let third = Engine::new(EngineConfig::default().cache_dir(dir.clone())).unwrap();
    assert_eq!(run(&third), "{}");
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        written,
        "rewritten after corruption"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A placement decision of `module` for tenant `acme`, as JSON.
fn decide(engine: &Engine, module: &fleetward_engine::PolicyModule) -> String {
    engine
        .bind(module, "acme", json!(null), Limits::default())
        .unwrap()
        .call_json_blocking(DecisionKind::Placement, &json!({}), now())
        .unwrap()
        .output_json
}

#[test]
fn an_unused_module_is_freed_and_a_reload_compiles_or_reads_the_disk_cache() {
    let bytes = constant(br#"{"ok":"freed"}"#);
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let module = engine.load(&bytes).unwrap();
    let again = engine.load(&bytes).unwrap();
    assert_eq!((engine.loaded_modules(), engine.compiles()), (1, 1));
    let policy = engine
        .bind(&module, "acme", json!(null), Limits::default())
        .unwrap();
    drop((module, again));
    assert_eq!(engine.loaded_modules(), 1, "the bound tenant keeps it");
    drop(policy);
    assert_eq!(engine.loaded_modules(), 0, "the engine alone keeps nothing");
    let reloaded = engine.load(&bytes).unwrap();
    assert_eq!((engine.loaded_modules(), engine.compiles()), (1, 2));
    assert_eq!(decide(&engine, &reloaded), r#""freed""#);

    // With a disk cache, the reload of a freed module is a disk hit, not a compilation.
    let dir = temp_dir("freed");
    let cached = Engine::new(EngineConfig::default().cache_dir(dir.clone())).unwrap();
    drop(cached.load(&bytes).unwrap());
    assert_eq!((cached.loaded_modules(), cached.compiles()), (0, 1));
    let reloaded = cached.load(&bytes).unwrap();
    assert_eq!((cached.loaded_modules(), cached.compiles()), (1, 1));
    assert_eq!(decide(&cached, &reloaded), r#""freed""#);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn concurrent_loads_of_a_new_module_compile_it_once() {
    const THREADS: usize = 8;
    let bytes = constant(br#"{"ok":"once"}"#);
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let barrier = std::sync::Barrier::new(THREADS);
    let modules: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    engine.load(&bytes)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let modules: Vec<_> = modules.into_iter().map(Result::unwrap).collect();
    assert_eq!(engine.compiles(), 1);
    assert_eq!(engine.loaded_modules(), 1);
    assert!(modules.iter().all(|m| m.digest() == &Digest::of(&bytes)));
    assert_eq!(decide(&engine, &modules[THREADS - 1]), r#""once""#);
}

#[test]
fn load_file_reads_only_inside_the_directory_handle() {
    let dir = temp_dir("load-file");
    std::fs::write(dir.join("echo.wasm"), echo()).unwrap();
    let handle = cap_std::fs::Dir::open_ambient_dir(&dir, cap_std::ambient_authority()).unwrap();
    let module = engine().load_file(&handle, "echo.wasm").unwrap();
    assert_eq!(module.digest(), &Digest::of(&echo()));
    for escape in ["../echo.wasm", "/etc/passwd", "missing.wasm"] {
        let err = engine().load_file(&handle, escape).unwrap_err();
        assert!(
            matches!(err.kind, PolicyErrorKind::Io { .. }),
            "{escape}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_async_decisions_decode_or_name_the_bad_field() {
    let good = constant(br#"{"ok":{"seed":"eu-1","reason":"least loaded"}}"#);
    let policy = engine()
        .bind(
            &engine().load(&good).unwrap(),
            "acme",
            json!(null),
            Limits::default(),
        )
        .unwrap();
    let out = policy.place(&placement_request(), now()).await.unwrap();
    assert_eq!(out.decision.seed.as_deref(), Some("eu-1"));
    assert_eq!(
        out.output_json,
        r#"{"reason":"least loaded","seed":"eu-1"}"#
    );
    assert_eq!(out.input_sha256.len(), 64);
    // The input the module read comes back (the decision log records it), byte for byte what
    // `envelope_bytes` makes of the same request, and `input_sha256` is its digest.
    let expected = fleetward_engine::envelope_bytes(
        fleetward_sdk::wire::CallKind::Placement,
        "acme",
        &json!(null),
        &placement_request(),
        now(),
    )
    .unwrap();
    assert_eq!(&out.input[..], &expected[..]);
    assert_eq!(
        out.input_sha256,
        fleetward_engine::Digest::of(&expected).hex()
    );
    assert_eq!(
        policy.config_sha256(),
        fleetward_engine::Digest::of(b"null").hex()
    );
    // No fuel limit: unmetered code, nothing counted.
    assert_eq!(out.fuel_consumed, None);
    let metered = engine()
        .bind(
            &engine().load(&good).unwrap(),
            "acme",
            json!(null),
            Limits {
                fuel: Some(10_000_000),
                ..Limits::default()
            },
        )
        .unwrap();
    let out = metered.place(&placement_request(), now()).await.unwrap();
    assert_eq!(out.decision.seed.as_deref(), Some("eu-1"));
    assert!(out.fuel_consumed.is_some_and(|f| f > 0 && f < 10_000_000));

    let bad = constant(br#"{"ok":{"seed":5,"reason":"r"}}"#);
    let policy = engine()
        .bind(
            &engine().load(&bad).unwrap(),
            "acme",
            json!(null),
            Limits::default(),
        )
        .unwrap();
    let err = policy.place(&placement_request(), now()).await.unwrap_err();
    assert!(
        matches!(&err.kind, PolicyErrorKind::InvalidOutput { path, .. } if path == "ok.seed"),
        "{err}"
    );
    // A failed decision's input can be had again, byte for byte (the decision log records it).
    assert_eq!(
        policy
            .input(
                fleetward_sdk::wire::DecisionKind::Placement,
                &placement_request(),
                now()
            )
            .unwrap(),
        expected
    );

    let remedy = constant(
        br#"{"ok":{"action":{"action":"restart_component","component":"etcd"},"reason":"first"}}"#,
    );
    let policy = engine()
        .bind(
            &engine().load(&remedy).unwrap(),
            "acme",
            json!(null),
            Limits::default(),
        )
        .unwrap();
    let calls = (0..16).map(|_| {
        let policy = policy.clone();
        tokio::spawn(async move { policy.remediate(&remediation_request(), now()).await })
    });
    for call in calls.collect::<Vec<_>>() {
        let out = call.await.unwrap().unwrap();
        assert_eq!(
            out.decision.action,
            RemediationAction::RestartComponent {
                component: "etcd".into()
            }
        );
    }
}
