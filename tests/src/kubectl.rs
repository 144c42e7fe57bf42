//! The machine's `kubectl`, driven from tests against a real API server.
//!
//! [`Kubectl`] runs the binary found on `PATH` with a kubeconfig, a private `HOME` and discovery
//! cache (nothing of the user's `~/.kube` is read or written) and a timeout, and keeps its whole
//! output, so an assertion can show exactly what kubectl said ([`KubectlOutput`]'s `Display`).
//! [`parse_tables`] reads the tables `kubectl get` prints.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::{read_manifest, repo_root};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

/// How long one kubectl invocation may take before it is killed and the test fails.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(30);

/// `kubectl` with a kubeconfig and a scratch directory of its own.
#[derive(Clone, Debug)]
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    home: PathBuf,
}

/// What one kubectl invocation did.
#[derive(Clone, Debug)]
pub struct KubectlOutput {
    /// The command line, for messages.
    pub command: String,
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its exit code (`None` if a signal ended it).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl fmt::Display for KubectlOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited with {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

impl Kubectl {
    /// The first `kubectl` on `PATH`, if any.
    pub fn find() -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
    }

    /// kubectl at `bin` talking to the server of `kubeconfig`; `scratch` (created if missing)
    /// becomes its `HOME` and holds its discovery cache.
    ///
    /// # Errors
    /// When `scratch` cannot be created.
    pub fn new(bin: PathBuf, kubeconfig: PathBuf, scratch: &Path) -> Result<Kubectl> {
        std::fs::create_dir_all(scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        Ok(Kubectl {
            bin,
            kubeconfig,
            home: scratch.to_path_buf(),
        })
    }

    /// Runs `kubectl ARGS` from `dir` (the repository root for `-k deploy/`).
    ///
    /// # Errors
    /// When kubectl cannot be started or does not finish within [`KUBECTL_TIMEOUT`]; a non-zero
    /// exit is not an error (see [`KubectlOutput::success`]).
    pub async fn run(&self, dir: &Path, args: &[&str]) -> Result<KubectlOutput> {
        self.run_with_stdin(dir, args, None).await
    }

    /// [`Kubectl::run`] with `stdin` fed to the process (`-f -`).
    ///
    /// # Errors
    /// As [`Kubectl::run`].
    pub async fn run_with_stdin(
        &self,
        dir: &Path,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<KubectlOutput> {
        let command = format!("kubectl {}", args.join(" "));
        let mut c = Command::new(&self.bin);
        c.args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.join("cache"))
            .current_dir(dir)
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = c
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let mut input = child.stdin.take().context("kubectl's stdin")?;
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await?;
        }
        drop(input);
        // On timeout the future (and with it the child, `kill_on_drop`) is dropped.
        let out = tokio::time::timeout(KUBECTL_TIMEOUT, child.wait_with_output())
            .await
            .with_context(|| format!("`{command}` did not finish within {KUBECTL_TIMEOUT:?}"))?
            .with_context(|| format!("waiting for `{command}`"))?;
        Ok(KubectlOutput {
            command,
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Every object `deploy/kustomization.yaml` lists, as kubectl names it (`kind[.group]/name`).
///
/// # Errors
/// When the kustomization or a file it lists cannot be read, or an object lacks its type or name.
pub fn deploy_objects() -> Result<Vec<String>> {
    let deploy = repo_root().join("deploy");
    let kustomization = read_manifest(&deploy.join("kustomization.yaml"))?;
    let files = kustomization[0]["resources"]
        .as_array()
        .context("kustomization resources")?;
    let mut names = Vec::new();
    for f in files {
        let f = f.as_str().context("resource file name")?;
        for obj in read_manifest(&deploy.join(f))? {
            let api_version = obj["apiVersion"].as_str().context("apiVersion")?;
            let kind = obj["kind"].as_str().context("kind")?.to_lowercase();
            let name = obj["metadata"]["name"].as_str().context("metadata.name")?;
            names.push(match api_version.rsplit_once('/') {
                Some((group, _)) => format!("{kind}.{group}/{name}"),
                None => format!("{kind}/{name}"),
            });
        }
    }
    Ok(names)
}

/// Asserts that an apply's output has exactly one `<object> serverside-applied` line per object
/// of `deploy/`.
///
/// # Panics
/// When a line is missing or there are others.
pub fn assert_applied_everything(out: &KubectlOutput, expected: &[String]) {
    let lines: Vec<&str> = out.stdout.lines().filter(|l| !l.is_empty()).collect();
    for obj in expected {
        let want = format!("{obj} serverside-applied");
        assert!(lines.contains(&want.as_str()), "no `{want}` line:\n{out}");
    }
    assert_eq!(
        lines.len(),
        expected.len(),
        "one line per object of deploy/ expected:\n{out}"
    );
}

/// One table of `kubectl get` output: its header and its rows, each cell cut at the column's
/// left edge in the header (kubectl aligns columns with a tab writer, so an empty cell is blanks,
/// not a shifted row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Column names, as printed (upper case).
    pub header: Vec<String>,
    /// Rows, keyed by column name.
    pub rows: Vec<BTreeMap<String, String>>,
}

impl Table {
    /// The row whose `column` is `value`.
    pub fn row(&self, column: &str, value: &str) -> Option<&BTreeMap<String, String>> {
        self.rows
            .iter()
            .find(|r| r.get(column).is_some_and(|v| v == value))
    }
}

/// The tables of `kubectl get` output: `kubectl get a,b` prints one per resource type, separated
/// by a blank line.
pub fn parse_tables(stdout: &str) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    for line in stdout.lines().chain(std::iter::once("")) {
        if !line.trim().is_empty() {
            block.push(line);
            continue;
        }
        if let Some((head, rows)) = block.split_first() {
            tables.push(parse_table(head, rows));
        }
        block.clear();
    }
    tables
}

fn parse_table(head: &str, rows: &[&str]) -> Table {
    // Column starts: every non-blank character after a blank (or at 0) in the header.
    let mut starts = Vec::new();
    let bytes = head.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b != b' ' && (i == 0 || bytes[i - 1] == b' ') {
            starts.push(i);
        }
    }
    let cut = |line: &str, k: usize| -> String {
        let from = starts[k].min(line.len());
        let to = starts.get(k + 1).map_or(line.len(), |&e| e.min(line.len()));
        line.get(from..to).unwrap_or_default().trim().to_string()
    };
    let header: Vec<String> = (0..starts.len()).map(|k| cut(head, k)).collect();
    let rows = rows
        .iter()
        .map(|line| {
            header
                .iter()
                .enumerate()
                .map(|(k, name)| (name.clone(), cut(line, k)))
                .collect()
        })
        .collect();
    Table { header, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_cut_at_the_header_columns() {
        let out = "NAMESPACE     NAME                              TENANT   SEED   PHASE\n\
                   tenant-acme   managedcluster.fleetward.dev/a1   acme            Pending\n\
                   \n\
                   NAME                   REGION\n\
                   seed.fleetward.dev/x   eu-west\n";
        let t = parse_tables(out);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0].header,
            ["NAMESPACE", "NAME", "TENANT", "SEED", "PHASE"]
        );
        let r = t[0].row("NAME", "managedcluster.fleetward.dev/a1").unwrap();
        assert_eq!(r["SEED"], "");
        assert_eq!(r["PHASE"], "Pending");
        assert_eq!(t[1].rows[0]["REGION"], "eu-west");
    }
}
