//! The operator's loop with the built binaries and the real controller (issue 11): `fleetward
//! run` against `fleetward emulator --fake-infra` rolls a tenant out with the reference
//! upgrade-ordering policy and `approval_before: [prod]`; `fleetward rollout status` shows the
//! dev wave done and prod waiting at gate `prod` as the controller wrote it; `fleetward rollout
//! approve` opens the gate and `rollout status --watch --until-done` follows the rollout to
//! Complete, with the approver on record. `rollout.rs` asserts the report byte for byte on
//! hand-written statuses; this test holds the CLI to what the controller really writes.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use common::{Running, client, create, scratch, serve};
use fleetward_controller::decision_log::record::sha256_hex;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// How long each phase may take in real time (the controller compiles the module first).
const BUDGET: Duration = Duration::from_secs(120);

fn api(client: &kube::Client, ns: Option<&str>, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = common::fleetward_resource(kind, plural);
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// `fleetward rollout ARGS --kubeconfig KC`.
fn rollout(kubeconfig: &Path, args: &[&str]) -> Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .arg("rollout")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .context("run fleetward rollout")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Polls `get` (bounded by [`BUDGET`]) until it returns `Some`.
async fn eventually<T, F, Fut>(what: &str, dir: &Path, mut get: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + BUDGET;
    loop {
        if let Some(v) = get().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            let run = std::fs::read_to_string(dir.join("run.log")).unwrap_or_default();
            let tail: String = run
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            bail!("{what}: not within {BUDGET:?}; controller log (tail):\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn cluster(client: &kube::Client, name: &str) -> Result<Value> {
    let obj = api(
        client,
        Some("tenant-acme"),
        "ManagedCluster",
        "managedclusters",
    )
    .get(name)
    .await?;
    Ok(serde_json::to_value(obj)?)
}

#[tokio::test]
async fn an_approval_gate_before_prod_seen_approved_and_completed_from_the_cli() -> Result<()> {
    let dir = scratch("rollout-live");
    let (_emulator, kc) = serve(&dir)?;
    let c = client(&kc).await?;

    let module = std::fs::read(fleetward_test_policies::UPGRADE_ORDERING)?;
    let digest = format!("sha256:{}", sha256_hex(&module));
    let namespaces: Api<Namespace> = Api::all(c.clone());
    for (name, tenant) in [("fleetward-system", None), ("tenant-acme", Some("acme"))] {
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": tenant.map(|t| json!({"fleetward.dev/tenant": t}))
                .unwrap_or_else(|| json!({}))}
        }))?;
        namespaces.create(&PostParams::default(), &ns).await?;
    }
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("acme-upgrades".into()),
            namespace: Some("fleetward-system".into()),
            ..Default::default()
        },
        binary_data: Some([("policy.wasm".to_string(), ByteString(module))].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(c.clone(), "fleetward-system")
        .create(&PostParams::default(), &cm)
        .await?;
    create(&c, "Tenant", "tenants", json!({
        "metadata": {"name": "acme"},
        "spec": {"upgradeOrdering": {
            "module": {"configMap": {"namespace": "fleetward-system", "name": "acme-upgrades", "key": "policy.wasm"}},
            "sha256": digest,
            "config": {
                "waves": [
                    {"name": "dev", "selector": {"match_labels": {"env": "dev"}}},
                    {"name": "prod", "selector": {"match_labels": {"env": "prod"}}}
                ],
                "max_concurrent": 2, "bake_minutes": 0, "approval_before": ["prod"]
            }}}
    })).await?;
    create(
        &c,
        "Seed",
        "seeds",
        json!({
            "metadata": {"name": "eu-1"},
            "spec": {"region": "eu-west", "provider": "aws", "zone": "eu-west-1a", "capacity": 10,
                     "minVersion": "1.30", "maxVersion": "1.34"}
        }),
    )
    .await?;
    for (name, env) in [("dev-1", "dev"), ("prod-1", "prod")] {
        create(
            &c,
            "ManagedCluster",
            "managedclusters",
            json!({
                "metadata": {"name": name, "namespace": "tenant-acme"},
                "spec": {"tenant": "acme", "version": "1.31.2", "labels": {"env": env},
                         "nodePools": [{"name": "workers", "replicas": 0}]}
            }),
        )
        .await?;
    }

    let run_log = std::fs::File::create(dir.join("run.log"))?;
    let _controller = Running(
        Command::new(env!("CARGO_BIN_EXE_fleetward"))
            .args([
                "run",
                "--metrics-addr",
                "127.0.0.1:0",
                "--leader-election",
                "false",
            ])
            .arg("--kubeconfig")
            .arg(&kc)
            .env("RUST_LOG", "info")
            .stdout(run_log.try_clone()?)
            .stderr(run_log)
            .spawn()
            .context("fleetward run")?,
    );

    // Both clusters provisioned at 1.31.2, then the platform team asks for 1.32.0.
    for name in ["dev-1", "prod-1"] {
        let running = eventually(&format!("{name} running at 1.31.2"), &dir, || async {
            let mc = cluster(&c, name).await?;
            Ok((mc["status"]["phase"] == "Running"
                && mc["status"]["controlPlaneVersion"] == "1.31.2")
                .then_some(()))
        })
        .await;
        if let Err(e) = running {
            bail!("{e}\n{name}: {}", cluster(&c, name).await?["status"]);
        }
    }
    for name in ["dev-1", "prod-1"] {
        api(&c, Some("tenant-acme"), "ManagedCluster", "managedclusters")
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"version": "1.32.0"}})),
            )
            .await?;
    }

    // dev upgrades; prod waits at gate `prod`, as the controller writes it and the CLI shows it.
    let status = eventually("gate prod pending", &dir, || async {
        let out = rollout(&kc, &["status", "acme", "--format", "json"])?;
        ensure!(out.status.success(), "rollout status: {}", text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).context("status --format json")?;
        let pending = v["rollout"]["gates"].as_array().is_some_and(|gates| {
            gates
                .iter()
                .any(|g| g["name"] == "prod" && g["approved"].is_null())
        });
        Ok(pending.then_some(v))
    })
    .await?;
    // The dev wave is done (control plane and pool), prod has not moved.
    let dev = cluster(&c, "dev-1").await?;
    assert_eq!(dev["status"]["controlPlaneVersion"], "1.32.0", "{dev}");
    assert_eq!(dev["status"]["nodePools"][0]["version"], "1.32.0", "{dev}");
    let prod = cluster(&c, "prod-1").await?;
    assert_eq!(prod["status"]["controlPlaneVersion"], "1.31.2", "{prod}");
    let table = rollout(&kc, &["status", "acme"])?;
    let shown = text(&table);
    ensure!(table.status.success(), "{shown}");
    assert!(
        shown.contains("Tenant acme  rollout 1.32.0  Progressing"),
        "{shown}"
    );
    let gate_line = shown
        .lines()
        .find(|l| l.starts_with("prod ") && l.contains("pending"))
        .with_context(|| format!("a pending gate line for prod in:\n{shown}\n{status}"))?;
    assert!(gate_line.contains(" 1 "), "one cluster waits: {gate_line}");
    let waiting = shown
        .lines()
        .find(|l| l.starts_with("tenant-acme/prod-1"))
        .with_context(|| format!("prod-1 listed as waiting in:\n{shown}"))?;
    assert!(waiting.contains("approval"), "{waiting}");

    // The operator approves; the rollout completes and the approver is on record.
    let approve = rollout(&kc, &["approve", "acme", "prod", "--by", "dana"])?;
    ensure!(approve.status.success(), "approve: {}", text(&approve));
    let watch = rollout(
        &kc,
        &[
            "status",
            "acme",
            "--watch",
            "--until-done",
            "--timeout",
            "120s",
        ],
    )?;
    let frames = text(&watch);
    ensure!(
        watch.status.success(),
        "watch did not see Complete:\n{frames}"
    );
    let last = frames.rsplit("---").next().unwrap_or_default();
    assert!(
        last.contains("Tenant acme  rollout 1.32.0  Complete"),
        "{last}"
    );
    let gates = last
        .split("\n\n")
        .find(|t| t.starts_with("GATE "))
        .with_context(|| format!("a gate table in the last frame:\n{last}"))?;
    let gate_line = gates
        .lines()
        .find(|l| l.starts_with("prod "))
        .with_context(|| format!("gate prod in the last frame:\n{last}"))?;
    assert!(
        gate_line.contains("approved") && gate_line.contains("dana"),
        "{gate_line}\n{last}"
    );
    let prod = cluster(&c, "prod-1").await?;
    assert_eq!(prod["status"]["controlPlaneVersion"], "1.32.0", "{prod}");
    Ok(())
}
