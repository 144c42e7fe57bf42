//! What the tests that start the built `fleetward` binary as a child process share.
// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::Value;

/// How long `fleetward emulator` may take to print its ready line.
pub const EMULATOR_START: Duration = Duration::from_secs(90);

/// A child process (the emulator, the controller), killed when the test ends however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh, empty scratch path for the test `name` under Cargo's test tmpdir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fleetward-cli-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `fleetward emulator --kubeconfig-out DIR/kubeconfig --install-crds --fake-infra` (the README
/// quick-start), once it has printed its ready line (bounded).
pub fn serve(dir: &Path) -> Result<(Running, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .args([
            "emulator",
            "--install-crds",
            "--fake-infra",
            "--kubeconfig-out",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("run fleetward emulator")?;
    let stdout = child.stdout.take().context("stdout")?;
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(EMULATOR_START)
            .context("no ready line from fleetward emulator")??;
        if line.ends_with("(Ctrl-C to stop)") {
            return Ok((running, kubeconfig));
        }
    }
}

pub fn wat_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// WAT text of a module whose `export` returns the output envelope `output` verbatim, after
/// growing its memory by `grow_pages` 64 KiB pages.
pub fn constant_wat(export: &str, output: &Value, grow_pages: u32) -> String {
    let out = output.to_string();
    format!(
        r#"(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 32768))
  (func (export "fleetward_abi_version") (result i32) (i32.const 1))
  (func (export "fleetward_alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $bump))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.div_u (i32.sub (local.get $end)
                 (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1)))
               (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $bump (local.get $end))
    (local.get $p))
  (data (i32.const 1024) "{out_esc}")
  (func (export "{export}") (param i32 i32) (result i64)
    (if (i32.eq (memory.grow (i32.const {grow_pages})) (i32.const -1)) (then unreachable))
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const {out_len}))))"#,
        out_esc = wat_escape(&out),
        out_len = out.len(),
    )
}

/// A client for the API server of `kubeconfig` (what `serve` wrote).
pub async fn client(kubeconfig: &Path) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// The `fleetward.dev/v1alpha1` resource of `kind` (`plural`).
pub fn fleetward_resource(kind: &str, plural: &str) -> kube::discovery::ApiResource {
    kube::discovery::ApiResource {
        group: "fleetward.dev".into(),
        version: "v1alpha1".into(),
        api_version: "fleetward.dev/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Creates a Fleetward object of `kind` from its JSON (apiVersion and kind are filled in).
pub async fn create(client: &kube::Client, kind: &str, plural: &str, obj: Value) -> Result<()> {
    let ar = fleetward_resource(kind, plural);
    let mut obj = obj;
    obj["apiVersion"] = serde_json::json!("fleetward.dev/v1alpha1");
    obj["kind"] = serde_json::json!(kind);
    let dynamic: kube::api::DynamicObject = serde_json::from_value(obj)?;
    let api: kube::Api<kube::api::DynamicObject> = match dynamic.metadata.namespace.clone() {
        Some(ns) => kube::Api::namespaced_with(client.clone(), &ns, &ar),
        None => kube::Api::all_with(client.clone(), &ar),
    };
    api.create(&kube::api::PostParams::default(), &dynamic)
        .await
        .with_context(|| format!("creating {kind}"))?;
    Ok(())
}
