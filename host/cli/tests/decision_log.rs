//! The operator's audit path with the built binary (issue 10): `fleetward run --decision-log
//! PATH` against `fleetward emulator` records a placement by a tenant's module, loaded from a
//! ConfigMap, and `fleetward replay PATH --kubeconfig` finds that module in the cluster by its
//! digest and reproduces the decision byte for byte.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use common::{Running, client, create, scratch, serve};
use fleetward_controller::decision_log::record::sha256_hex;
use fleetward_controller::decision_log::{LogLine, read_lines};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

/// How long the controller may take to place the cluster (it compiles the module first).
const BUDGET: Duration = Duration::from_secs(120);

/// The decision records in the log so far (an unfinished last line is not there yet: every
/// line the writer ends is complete).
fn decisions(path: &Path) -> Vec<Value> {
    let Ok(file) = std::fs::File::open(path) else {
        return vec![];
    };
    read_lines(std::io::BufReader::new(file))
        .filter_map(|l| match l {
            Ok(LogLine::Decision(d)) => serde_json::to_value(&*d).ok(),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn run_writes_a_decision_log_that_replay_reproduces_from_the_clusters_modules() -> Result<()>
{
    let dir = scratch("decision-log-run");
    let (_emulator, kubeconfig) = serve(&dir)?;
    let client = client(&kubeconfig).await?;

    // The module a platform team publishes for acme, as a ConfigMap.
    let module = std::fs::read(fleetward_test_policies::PLACEMENT)?;
    let digest = format!("sha256:{}", sha256_hex(&module));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (name, tenant) in [("fleetward-system", None), ("tenant-acme", Some("acme"))] {
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": tenant.map(|t| json!({"fleetward.dev/tenant": t}))
                .unwrap_or_else(|| json!({}))}
        }))?;
        namespaces.create(&PostParams::default(), &ns).await?;
    }
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("acme-placement".into()),
            namespace: Some("fleetward-system".into()),
            ..Default::default()
        },
        binary_data: Some([("policy.wasm".to_string(), ByteString(module))].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), "fleetward-system")
        .create(&PostParams::default(), &cm)
        .await?;
    create(&client, "Tenant", "tenants", json!({
        "metadata": {"name": "acme"},
        "spec": {"placement": {
            "module": {"configMap": {"namespace": "fleetward-system", "name": "acme-placement", "key": "policy.wasm"}},
            "sha256": digest, "config": {}}}
    })).await?;
    for seed in ["eu-1", "eu-2"] {
        create(&client, "Seed", "seeds", json!({
            "metadata": {"name": seed},
            "spec": {"region": "eu-west", "provider": "aws", "zone": "eu-west-1a", "capacity": 10,
                     "minVersion": "1.30", "maxVersion": "1.34"}
        })).await?;
    }
    create(&client, "ManagedCluster", "managedclusters", json!({
        "metadata": {"name": "a1", "namespace": "tenant-acme"},
        "spec": {"tenant": "acme", "version": "1.31.2", "nodePools": [{"name": "workers", "replicas": 1}]}
    })).await?;

    // The controller, as an operator runs it with an audit volume.
    let log_path = dir.join("audit").join("decisions.jsonl");
    std::fs::create_dir_all(log_path.parent().unwrap())?;
    let run_log = std::fs::File::create(dir.join("run.log"))?;
    let controller = Running(
        Command::new(env!("CARGO_BIN_EXE_fleetward"))
            .args([
                "run",
                "--metrics-addr",
                "127.0.0.1:0",
                "--leader-election",
                "false",
            ])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--decision-log")
            .arg(&log_path)
            .env("RUST_LOG", "info")
            .stdout(run_log.try_clone()?)
            .stderr(run_log)
            .spawn()
            .context("fleetward run")?,
    );
    let deadline = std::time::Instant::now() + BUDGET;
    let placement = loop {
        let found = decisions(&log_path)
            .into_iter()
            .find(|d| d["kind"] == "placement" && d["outcomes"][0]["outcome"] == "applied");
        if let Some(d) = found {
            break d;
        }
        if std::time::Instant::now() > deadline {
            let run = std::fs::read_to_string(dir.join("run.log")).unwrap_or_default();
            bail!(
                "no applied placement in {} after {BUDGET:?}; controller log:\n{run}",
                log_path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(controller);
    assert_eq!(placement["module"], digest.as_str(), "{placement}");
    assert_eq!(placement["tenant"], "acme");
    assert_eq!(placement["clusters"], json!(["tenant-acme/a1"]));
    assert_eq!(
        placement["input"]["request"]["cluster"]["id"]["name"], "a1",
        "{placement}"
    );
    let seed = placement["output"]["seed"]
        .as_str()
        .context("a chosen seed")?;
    assert!(["eu-1", "eu-2"].contains(&seed), "{placement}");

    // Replay: the module is found in the cluster by its digest; every decision reproduces.
    let out = Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .arg("replay")
        .arg(&log_path)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--format", "json"])
        .stdin(Stdio::null())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "replay failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let report: Value = serde_json::from_str(&stdout).context("replay --format json")?;
    let total = report["totals"]["total"].as_u64().context("totals.total")?;
    assert!(total >= 1, "{report}");
    assert_eq!(report["totals"]["identical"], total, "{report}");
    Ok(())
}
