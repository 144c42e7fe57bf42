//! The reference upgrade-ordering policy, compiled to Wasm, must decide exactly as its native
//! build does on every fixture: the engine adds a sandbox, not a difference.

use std::path::Path;

use fleetward_engine::{Limits, PolicyErrorKind, inspect};
use fleetward_policy_upgrade_ordering::{Config, config::validate, order_upgrades};
use fleetward_sdk::Context;
use fleetward_sdk::wire::{DecisionKind, Timestamp, UpgradeRequest};
use serde_json::Value;

use crate::modules::engine;

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn reference_modules_pass_static_inspection() {
    for (kind, path) in fleetward_test_policies::all() {
        let info = inspect(&std::fs::read(path).unwrap()).unwrap();
        assert!(info.problems.is_empty(), "{path}: {:?}", info.problems);
        assert!(info.decisions.contains(&kind), "{path}");
        let module = engine().load(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(
            engine()
                .probe(&module, &fleetward_engine::Limits::default())
                .unwrap(),
            1
        );
    }
}

#[test]
fn wasm_and_native_upgrade_ordering_agree_on_every_fixture() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/upgrade-ordering/fixtures");
    let suite = read_json(&dir.join("suite.json"));
    let module = engine()
        .load(&std::fs::read(fleetward_test_policies::UPGRADE_ORDERING).unwrap())
        .unwrap();
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "suite.json"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 5, "{fixtures:?}");
    for path in fixtures {
        let fixture = read_json(&path);
        let name = path.display().to_string();
        let config = fixture.get("config").unwrap_or(&suite["config"]).clone();
        let now_text = fixture
            .get("now")
            .unwrap_or(&suite["now"])
            .as_str()
            .unwrap();
        let now = Timestamp::parse(now_text).unwrap();
        let tenant = suite["tenant"].as_str().unwrap();
        // The SDK reads a `null` config as `{}`.
        let as_object = if config.is_null() {
            serde_json::json!({})
        } else {
            config.clone()
        };
        let native_config = serde_json::from_value::<Config>(as_object)
            .map_err(|e| e.to_string())
            .and_then(|c| validate(&c).map(|()| c).map_err(|e| e.to_string()));
        let bound = engine().bind(&module, tenant, config, Limits::default());
        let native_config = match (native_config, bound) {
            (Err(_), Err(e)) => {
                assert!(
                    matches!(&e.kind, PolicyErrorKind::ConfigRejected { code, .. } if code == "invalid_config"),
                    "{name}: {e}"
                );
                continue;
            }
            (Ok(c), Ok(policy)) => (c, policy),
            (native, wasm) => panic!("{name}: native config {native:?}, wasm bind {wasm:?}"),
        };
        let (config, policy) = native_config;
        let request: UpgradeRequest = serde_json::from_value(fixture["request"].clone()).unwrap();
        let native = order_upgrades(&request, &config, &Context::new(now, tenant));
        let wasm =
            policy.call_json_blocking(DecisionKind::UpgradeOrdering, &fixture["request"], now);
        match (native, wasm) {
            (Ok(n), Ok(w)) => assert_eq!(serde_json::to_value(&n).unwrap(), w.decision, "{name}"),
            (Err(n), Err(w)) => assert!(
                matches!(&w.kind, PolicyErrorKind::Declined { code, message } if *code == n.code && *message == n.message),
                "{name}: native {n}, wasm {w}"
            ),
            (n, w) => panic!("{name}: native {n:?}, wasm {w:?}"),
        }
    }
}
