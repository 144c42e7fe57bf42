//! The machine's `kubectl` against `fleetward emulator`, as an operator following README.md and
//! docs/operating.md meets it (issue 16): the built binary serves the emulator exactly as the
//! README quick-start starts it (`--install-crds --fake-infra`), `fleetward run` runs against
//! it, and every command below is one the docs give:
//!
//! - `kubectl create namespace fleetward-system` (the README quick-start), `kubectl create
//!   namespace` + `kubectl label namespace`, `kubectl create configmap --from-file` (text and a
//!   binary module) and `kubectl create secret generic --from-file`: kubectl sends these as
//!   protobuf, and the objects must hold exactly the files' bytes; a kind the emulator cannot
//!   decode from protobuf gets a 415 that names it and says what to do;
//! - `kubectl apply --server-side -k deploy/` applies every object over the CRDs
//!   `--install-crds` created, and a second apply changes nothing; `-f deploy/` fails only on
//!   `kustomization.yaml`, as against a real server;
//! - `kubectl explain` reads the CRDs' and built-ins' schemas from OpenAPI v3;
//! - with the controller running, `kubectl get tenants,seeds` shows READY `True` (printer
//!   columns with `[?(@.type=="…")]` filters) and `kubectl describe managedcluster` shows the
//!   Events the controller recorded.
//!
//! Skipped loudly when there is no kubectl on `PATH` (`scripts/setup.sh` installs Debian's).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use common::{Running, scratch, serve};
use fleetward_testenv::binary::announce_skip;
use fleetward_tests::kubectl::{
    Kubectl, KubectlOutput, assert_applied_everything, deploy_objects, parse_tables,
};
use fleetward_tests::repo_root;
use k8s_openapi::ByteString;
use serde_json::Value;

/// How long the emulator may take to start, and the controller to act.
const BUDGET: Duration = Duration::from_secs(90);

/// `fleetward run --kubeconfig KUBECONFIG` (leader election on, Lease in `fleetward-system`),
/// logging to `DIR/run.log`.
fn run_controller(dir: &Path, kubeconfig: &Path) -> Result<Running> {
    let log = std::fs::File::create(dir.join("run.log"))?;
    let child = Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .args(["run", "--metrics-addr", "127.0.0.1:0", "--kubeconfig"])
        .arg(kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("run fleetward run")?;
    Ok(Running(child))
}

/// Runs kubectl from the repository root and insists that it succeeds.
async fn ok(k: &Kubectl, args: &[&str]) -> Result<KubectlOutput> {
    let out = k.run(repo_root(), args).await?;
    ensure!(out.success, "{out}");
    Ok(out)
}

/// `kubectl get ARGS -o json`, parsed.
async fn get_json(k: &Kubectl, args: &[&str]) -> Result<Value> {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = ok(k, &all).await?;
    serde_json::from_str(&out.stdout).with_context(|| format!("not JSON:\n{out}"))
}

/// Polls `check` every 200 ms until it yields a value, for at most [`BUDGET`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + BUDGET;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {BUDGET:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What an apply can change of an object: everything but `status`, the `resourceVersion` and
/// the status subresource's `managedFields` entries (the fake kubelet writes those meanwhile).
fn applied_view(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("resourceVersion");
        if let Some(Value::Array(entries)) = md.get_mut("managedFields") {
            entries.retain(|e| e.get("subresource").and_then(Value::as_str) != Some("status"));
        }
    }
    v
}

/// The bytes stored under `key` of a ConfigMap's `data`/`binaryData` or a Secret's `data`.
fn stored_bytes(obj: &Value, key: &str) -> Result<Vec<u8>> {
    if let Some(text) = obj["data"][key].as_str()
        && obj["kind"] == "ConfigMap"
    {
        return Ok(text.as_bytes().to_vec());
    }
    let b64 = if obj["kind"] == "ConfigMap" {
        &obj["binaryData"][key]
    } else {
        &obj["data"][key]
    };
    let bytes: ByteString =
        serde_json::from_value(b64.clone()).with_context(|| format!("no {key} in {obj:#}"))?;
    Ok(bytes.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_against_fleetward_emulator_works_as_against_a_real_cluster() -> Result<()> {
    const TEST: &str = "kubectl_against_fleetward_emulator_works_as_against_a_real_cluster";
    let Some(bin) = Kubectl::find() else {
        announce_skip(
            TEST,
            "kubectl is not on PATH (scripts/setup.sh installs Debian's `kubectl`)",
        );
        return Ok(());
    };
    let dir = scratch("emulator-kubectl");
    let (_emulator, kubeconfig) = serve(&dir)?;
    let k = Kubectl::new(bin, kubeconfig.clone(), &dir.join("kubectl"))?;

    // README quick-start: the controller's namespace, for its Lease and seed Secrets.
    let out = ok(&k, &["create", "namespace", "fleetward-system"]).await?;
    assert_eq!(
        out.stdout.trim(),
        "namespace/fleetward-system created",
        "{out}"
    );

    // docs/operating.md: `kubectl apply --server-side -k deploy/`, over the CRDs that
    // `--install-crds` created (their `minimum: 1.0` is the file's `minimum: 1`), twice.
    let expected = deploy_objects()?;
    let apply = ["apply", "--server-side", "-k", "deploy/"];
    assert_applied_everything(&ok(&k, &apply).await?, &expected);
    let before = get_json(&k, &["get", "-k", "deploy/"]).await?;
    assert_applied_everything(&ok(&k, &apply).await?, &expected);
    let after = get_json(&k, &["get", "-k", "deploy/"]).await?;
    let items = |l: &Value| -> Vec<Value> {
        l["items"]
            .as_array()
            .map(|a| a.iter().map(applied_view).collect())
            .unwrap_or_default()
    };
    assert_eq!(items(&before).len(), expected.len(), "{before:#}");
    for (b, a) in items(&before).iter().zip(items(&after).iter()) {
        assert_eq!(b, a, "the second apply changed {}", a["metadata"]["name"]);
    }

    // `-f deploy/` applies every object too, and fails only where a real kube-apiserver fails
    // (checked against v1.37): `deploy/kustomization.yaml` is no API object. Not "failed to
    // download openapi".
    let out = k
        .run(repo_root(), &["apply", "--server-side", "-f", "deploy/"])
        .await?;
    for obj in &expected {
        let want = format!("{obj} serverside-applied");
        assert!(out.stdout.lines().any(|l| l == want), "no `{want}`:\n{out}");
    }
    assert!(!out.success, "{out}");
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect();
    assert_eq!(
        errors,
        [
            "resource mapping not found for name: \"\" namespace: \"\" from \"deploy/kustomization.yaml\": no matches for kind \"Kustomization\" in version \"kustomize.config.k8s.io/v1beta1\"",
            "ensure CRDs are installed first"
        ],
        "{out}"
    );

    // docs/operating.md, "Seeds and tenants": kubectl sends these as protobuf.
    ok(&k, &["create", "namespace", "tenant-acme"]).await?;
    ok(
        &k,
        &[
            "label",
            "namespace",
            "tenant-acme",
            "fleetward.dev/tenant=acme",
        ],
    )
    .await?;
    let ns = get_json(&k, &["get", "namespace", "tenant-acme"]).await?;
    assert_eq!(ns["metadata"]["labels"]["fleetward.dev/tenant"], "acme");
    assert_eq!(ns["status"]["phase"], "Active");

    // "Publish a tenant policy" and "Onboarding a seed": files as ConfigMap and Secret data.
    let text = dir.join("policy.yaml");
    std::fs::write(&text, "rules:\n- name: ü\n")?;
    let module = dir.join("policy.wasm");
    let wasm: Vec<u8> = b"\0asm\x01\0\0\0\xff\xfe".to_vec();
    std::fs::write(&module, &wasm)?;
    let kubeconfig_file = dir.join("eu-1.kubeconfig");
    std::fs::copy(&kubeconfig, &kubeconfig_file)?;
    let from = |key: &str, path: &Path| format!("--from-file={key}={}", path.display());
    let (text_arg, module_arg, kc_arg) = (
        from("policy.yaml", &text),
        from("policy.wasm", &module),
        from("kubeconfig", &kubeconfig_file),
    );
    let plain_arg = format!("--from-file={}", text.display());
    ok(
        &k,
        &[
            "-n",
            "tenant-acme",
            "create",
            "configmap",
            "rules",
            &plain_arg,
        ],
    )
    .await?;
    ok(
        &k,
        &[
            "-n",
            "fleetward-system",
            "create",
            "configmap",
            "acme-upgrades",
            &module_arg,
            &text_arg,
        ],
    )
    .await?;
    ok(
        &k,
        &[
            "-n",
            "fleetward-system",
            "create",
            "secret",
            "generic",
            "seed-eu-1-kubeconfig",
            &kc_arg,
        ],
    )
    .await?;
    let rules = get_json(&k, &["-n", "tenant-acme", "get", "configmap", "rules"]).await?;
    assert_eq!(stored_bytes(&rules, "policy.yaml")?, std::fs::read(&text)?);
    let upgrades = get_json(
        &k,
        &[
            "-n",
            "fleetward-system",
            "get",
            "configmap",
            "acme-upgrades",
        ],
    )
    .await?;
    assert_eq!(stored_bytes(&upgrades, "policy.wasm")?, wasm);
    assert!(
        upgrades["data"].get("policy.wasm").is_none(),
        "{upgrades:#}"
    );
    assert_eq!(
        stored_bytes(&upgrades, "policy.yaml")?,
        std::fs::read(&text)?
    );
    let secret = get_json(
        &k,
        &[
            "-n",
            "fleetward-system",
            "get",
            "secret",
            "seed-eu-1-kubeconfig",
        ],
    )
    .await?;
    assert_eq!(
        stored_bytes(&secret, "kubeconfig")?,
        std::fs::read(&kubeconfig)?
    );

    // A kind the emulator does not decode from protobuf: a 415 that says what to do.
    let refused = k
        .run(
            repo_root(),
            &["create", "deployment", "web", "--image=example.com/web:1"],
        )
        .await?;
    assert!(!refused.success, "{refused}");
    assert!(
        refused.stderr.contains("Deployment (apps/v1)")
            && refused.stderr.contains("kubectl apply --server-side"),
        "{refused}"
    );

    // `kubectl explain` reads schemas from OpenAPI v3: a CRD's and a built-in's.
    let out = ok(&k, &["explain", "managedcluster.spec.nodePools"]).await?;
    assert!(
        out.stdout.contains("KIND:       ManagedCluster") && out.stdout.contains("replicas"),
        "{out}"
    );
    let out = ok(&k, &["explain", "configmap.binaryData"]).await?;
    assert!(
        out.stdout.contains("BinaryData contains the binary data"),
        "{out}"
    );

    // A tenant, a local seed and a cluster; then the controller, as `fleetward run` runs it.
    let objects = r#"
apiVersion: fleetward.dev/v1alpha1
kind: Tenant
metadata: {name: acme}
spec: {}
---
apiVersion: fleetward.dev/v1alpha1
kind: Seed
metadata: {name: eu-1}
spec: {region: eu-west, provider: aws, zone: eu-west-1a, capacity: 100, minVersion: "1.30", maxVersion: "1.34"}
---
apiVersion: fleetward.dev/v1alpha1
kind: ManagedCluster
metadata: {name: a1, namespace: tenant-acme}
spec: {tenant: acme, version: 1.31.2, nodePools: [{name: workers, replicas: 2}]}
"#;
    let out = k
        .run_with_stdin(
            repo_root(),
            &["apply", "--server-side", "-f", "-"],
            Some(objects),
        )
        .await?;
    ensure!(out.success, "{out}");
    let _controller = run_controller(&dir, &kubeconfig)?;
    let log = || std::fs::read_to_string(dir.join("run.log")).unwrap_or_default();

    // READY comes from `[?(@.type=="…")]` printer columns.
    let tables = eventually("tenant and seed READY True", || async {
        let out = ok(&k, &["get", "tenants,seeds"]).await?;
        let tables = parse_tables(&out.stdout);
        let ready = tables.len() == 2
            && tables.iter().all(|t| {
                t.rows.len() == 1 && t.rows[0].get("READY").map(String::as_str) == Some("True")
            });
        Ok(ready.then_some(tables))
    })
    .await
    .with_context(log)?;
    assert_eq!(
        tables[0]
            .row("NAME", "tenant.fleetward.dev/acme")
            .map(|r| r["REASON"].as_str()),
        Some("Loaded"),
        "{tables:#?}"
    );
    assert_eq!(
        tables[1]
            .row("NAME", "seed.fleetward.dev/eu-1")
            .map(|r| r["REGION"].as_str()),
        Some("eu-west"),
        "{tables:#?}"
    );

    // `kubectl describe` shows the Events the controller recorded about the cluster.
    let events = eventually("Events about the ManagedCluster", || async {
        let list = get_json(&k, &["-n", "tenant-acme", "get", "events.events.k8s.io"]).await?;
        let about: Vec<Value> = list["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["regarding"]["name"] == "a1")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok((!about.is_empty()).then_some(about))
    })
    .await
    .with_context(log)?;
    let out = ok(
        &k,
        &["-n", "tenant-acme", "describe", "managedcluster", "a1"],
    )
    .await?;
    let section = out
        .stdout
        .split_once("\nEvents:")
        .map(|(_, s)| s)
        .with_context(|| format!("no Events section:\n{out}"))?;
    for e in &events {
        let reason = e["reason"].as_str().unwrap_or_default();
        let note = e["note"].as_str().unwrap_or_default();
        assert!(
            section
                .lines()
                .any(|l| l.contains(reason) && l.contains(note)),
            "describe does not show the {reason} event ({note:?}):\n{out}"
        );
    }
    Ok(())
}
