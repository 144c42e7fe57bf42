//! `kubectl` against the HTTP server: get, apply --server-side, patch, delete, get -w, CRDs.
//! Skipped (with a message) when kubectl is not installed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fleetward_emulator::{Emulator, ServerHandle};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::common::cm;

struct Kubectl {
    bin: PathBuf,
    dir: PathBuf,
    _server: ServerHandle,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn find_kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

impl Kubectl {
    async fn start(emu: &Emulator, test: &str) -> anyhow::Result<Option<Kubectl>> {
        let Some(bin) = find_kubectl() else {
            eprintln!("skipping {test}: kubectl not found on PATH");
            return Ok(None);
        };
        let server = emu.serve("127.0.0.1:0".parse()?).await?;
        let dir = std::env::temp_dir().join(format!(
            "fleetward-emu-kubectl-{test}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        server.write_kubeconfig(&dir.join("kubeconfig"))?;
        Ok(Some(Kubectl {
            bin,
            dir,
            _server: server,
        }))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .env("HOME", &self.dir)
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Out> {
        let mut c = self.command(args);
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::piped());
        let mut child = c.spawn()?;
        if let Some(input) = stdin
            && let Some(mut w) = child.stdin.take()
        {
            use tokio::io::AsyncWriteExt;
            w.write_all(input.as_bytes()).await?;
        }
        drop(child.stdin.take());
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await??;
        Ok(Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const CM_YAML: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  labels:\n    app: demo\ndata:\n  a: b\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_apply_patch_delete() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let Some(k) = Kubectl::start(&emu, "crud").await? else {
        return Ok(());
    };

    let out = k.run(&["get", "namespaces", "-o", "name"], None).await?;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("namespace/kube-system"),
        "{}",
        out.stdout
    );

    let out = k
        .run(&["apply", "--server-side", "-f", "-"], Some(CM_YAML))
        .await?;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "configmap/applied serverside-applied");

    let out = k
        .run(
            &[
                "patch",
                "configmap",
                "applied",
                "-p",
                r#"{"data":{"c":"d"}}"#,
            ],
            None,
        )
        .await?;
    assert!(out.ok, "{}", out.stderr);
    let out = k
        .run(
            &[
                "patch",
                "cm",
                "applied",
                "--type",
                "merge",
                "-p",
                r#"{"data":{"a":null}}"#,
            ],
            None,
        )
        .await?;
    assert!(out.ok, "{}", out.stderr);
    let out = k
        .run(&["get", "cm", "applied", "-o", "jsonpath={.data}"], None)
        .await?;
    assert_eq!(out.stdout, r#"{"c":"d"}"#);
    let out = k
        .run(&["get", "cm", "-l", "app=demo", "-o", "name"], None)
        .await?;
    assert_eq!(out.stdout.trim(), "configmap/applied");

    // The object is visible to in-process clients too.
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    assert_eq!(api.get("applied").await?.data.unwrap_or_default()["c"], "d");

    let out = k.run(&["delete", "configmap", "applied"], None).await?;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "configmap \"applied\" deleted");
    let out = k.run(&["get", "configmap", "applied"], None).await?;
    assert!(!out.ok);
    assert_eq!(
        out.stderr.trim(),
        "Error from server (NotFound): configmaps \"applied\" not found"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_streams_changes() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let Some(k) = Kubectl::start(&emu, "watch").await? else {
        return Ok(());
    };
    let mut child = k
        .command(&[
            "get",
            "configmaps",
            "--watch",
            "-o",
            "name",
            "--request-timeout",
            "30s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    api.create(&PostParams::default(), &cm("seen-1", "v"))
        .await?;
    api.create(&PostParams::default(), &cm("seen-2", "v"))
        .await?;
    let mut seen = Vec::new();
    for _ in 0..10 {
        if seen.len() >= 2 {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await?? {
            Some(l) => seen.push(l),
            None => break,
        }
    }
    child.kill().await?;
    assert_eq!(seen, ["configmap/seen-1", "configmap/seen-2"]);
    Ok(())
}

const CRD_YAML: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_custom_resources() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let Some(k) = Kubectl::start(&emu, "crd").await? else {
        return Ok(());
    };
    let out = k
        .run(&["apply", "--server-side", "-f", "-"], Some(CRD_YAML))
        .await?;
    assert!(out.ok, "{}", out.stderr);
    let widget =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 2\n";
    let out = k
        .run(&["apply", "--server-side", "-f", "-"], Some(widget))
        .await?;
    assert!(out.ok, "{}", out.stderr);
    let out = k
        .run(&["get", "wd", "w1", "-o", "jsonpath={.spec.size}"], None)
        .await?;
    assert_eq!(out.stdout, "2", "{}", out.stderr);
    let bad =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\nspec:\n  size: two\n";
    let out = k
        .run(&["apply", "--server-side", "-f", "-"], Some(bad))
        .await?;
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("The Widget \"w2\" is invalid: spec.size: Invalid value"),
        "{}",
        out.stderr
    );
    // kubectl asks for fieldValidation=Strict: unknown fields are rejected, not pruned.
    let unknown = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w3\nspec:\n  size: 1\n  colour: red\n";
    let out = k
        .run(&["apply", "--server-side", "-f", "-"], Some(unknown))
        .await?;
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains(".spec.colour: field not declared in schema"),
        "{}",
        out.stderr
    );
    Ok(())
}
