//! Two `fleetward run` replicas against a real kube-apiserver, as the deploy/ ServiceAccount:
//! only the Lease holder reconciles; when it dies without releasing (SIGKILL), the other takes
//! over after the lease duration and carries on; a graceful stop (SIGTERM) releases the Lease.
//! What their `/metrics` and `/readyz` say along the way: the leader gauge, the reconcile
//! metrics, and a third replica pointed at a namespace it can never take a Lease in, which is
//! not ready and says why.
//!
//! Real processes, not in-process controllers: this is what two pods of deploy/deployment.yaml
//! do. The real API server only; on a machine without Go it is skipped loudly by testenv.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use fleetward_controller::crd::{ManagedCluster, Phase};
use fleetward_testenv::Identity;
use fleetward_tests::{Backend, CONTROLLER_SERVICE_ACCOUNT, Harness, TenantPolicies};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use serde_json::json;

const LEASE_NAMESPACE: &str = "fleetward-system";
const LEASE_NAME: &str = "fleetward-controller";

/// One `fleetward run` process, killed when dropped (even if the test panics).
struct Replica {
    identity: &'static str,
    child: Child,
    metrics_port: u16,
    log: PathBuf,
}

impl Replica {
    fn start(identity: &'static str, kubeconfig: &Path, dir: &Path) -> Result<Replica> {
        Self::start_with(identity, kubeconfig, dir, &[])
    }

    fn start_with(
        identity: &'static str,
        kubeconfig: &Path,
        dir: &Path,
        extra: &[&str],
    ) -> Result<Replica> {
        let metrics_port = unused_port()?;
        let log = dir.join(format!("{identity}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_fleetward"))
            .args(["run", "--leader-election", "true", "--identity", identity])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting fleetward run")?;
        Ok(Replica {
            identity,
            child,
            metrics_port,
            log,
        })
    }

    /// `GET path` on the replica's metrics port: (status code, body), or None if not listening.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, self.metrics_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((code, body))
    }

    /// Writes this replica's controller made (`fleetward_writes_total`, all kinds).
    fn writes(&self) -> Result<u64> {
        let (_, body) = self
            .get("/metrics")
            .with_context(|| format!("{} serves no /metrics", self.identity))?;
        Ok(body
            .lines()
            .filter(|l| l.starts_with("fleetward_writes_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64)
    }

    /// The sum of the `/metrics` samples whose line starts with `prefix` (name and labels).
    fn metric(&self, prefix: &str) -> Result<f64> {
        let (_, body) = self
            .get("/metrics")
            .with_context(|| format!("{} serves no /metrics", self.identity))?;
        let values: Vec<f64> = body
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .collect();
        anyhow::ensure!(
            !values.is_empty(),
            "{} has no {prefix} sample:\n{body}",
            self.identity
        );
        Ok(values.iter().sum())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now (the replica binds it a moment later).
fn unused_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// (holder, transitions) of the controller's Lease.
async fn lease(h: &Harness) -> Result<(Option<String>, i32)> {
    let lease = Api::<Lease>::namespaced(h.client.clone(), LEASE_NAMESPACE)
        .get_opt(LEASE_NAME)
        .await?;
    let spec = lease.and_then(|l| l.spec);
    Ok((
        spec.as_ref()
            .and_then(|s| s.holder_identity.clone())
            .filter(|h| !h.is_empty()),
        spec.and_then(|s| s.lease_transitions).unwrap_or(0),
    ))
}

async fn running(h: &Harness, name: &str) -> Result<bool> {
    let c: ManagedCluster = h.clusters_in("acme").get(name).await?;
    Ok(c.status.is_some_and(|s| s.phase == Phase::Running))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_replica_takes_over_when_the_leader_dies() -> Result<()> {
    let Some(h) = Harness::on(
        Backend::RealApiServer,
        "a_standby_replica_takes_over_when_the_leader_dies",
    )
    .await?
    else {
        return Ok(());
    };
    let cluster = h.real_cluster().context("a real API server")?;
    let (sa_ns, sa_name) = CONTROLLER_SERVICE_ACCOUNT;
    let kubeconfig = cluster
        .server()
        .kubeconfig_file(&Identity::service_account(sa_ns, sa_name))?;
    let dir = cluster.server().dir().to_path_buf();
    h.seed("seed-0", "eu-west", 10).await?;
    h.tenant("acme", TenantPolicies::default()).await?;
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;

    let mut a = Replica::start("replica-a", &kubeconfig, &dir)?;
    h.wait_for(
        "replica-a to hold the lease",
        Duration::from_secs(30),
        || async { Ok((lease(&h).await?.0.as_deref() == Some("replica-a")).then_some(())) },
    )
    .await
    .with_context(|| a.log_tail())?;
    // A replica told to use a namespace it can never take a Lease in (missing, or outside its
    // RBAC) can never lead: it is not ready, and says why, instead of warning every 5 s while
    // reporting ready.
    let lost = Replica::start_with(
        "replica-lost",
        &kubeconfig,
        &dir,
        &["--namespace", "fleetward-nowhere"],
    )?;
    let (code, body) = h
        .wait_for(
            "replica-lost to report not ready",
            Duration::from_secs(30),
            || async { Ok(lost.get("/readyz").filter(|(code, _)| *code == 503)) },
        )
        .await
        .with_context(|| lost.log_tail())?;
    assert_eq!(code, 503);
    assert!(
        body.contains("cannot take Lease fleetward-nowhere/fleetward-controller"),
        "{body}"
    );
    assert_eq!(lost.metric("fleetward_is_leader")?, 0.0);
    drop(lost);
    let b = Replica::start("replica-b", &kubeconfig, &dir)?;
    // A follower serves probes and is ready while it waits for the lease.
    h.wait_for(
        "replica-b ready as a follower",
        Duration::from_secs(30),
        || async { Ok((b.get("/readyz").map(|(code, _)| code) == Some(200)).then_some(())) },
    )
    .await
    .with_context(|| b.log_tail())?;
    h.wait_for("a1 Running", Duration::from_secs(60), || async {
        Ok(running(&h, "a1").await?.then_some(()))
    })
    .await
    .with_context(|| a.log_tail())?;
    assert!(a.writes()? > 0, "the leader provisioned a1");
    // The leader gauge, and the reconcile metrics of the replica that reconciles.
    assert_eq!(a.metric("fleetward_is_leader")?, 1.0);
    assert_eq!(b.metric("fleetward_is_leader")?, 0.0);
    for controller in ["cluster", "tenant", "seed"] {
        assert!(
            a.metric(&format!(
                "fleetward_reconciles_total{{controller=\"{controller}\",result=\"success\"}}"
            ))? >= 1.0,
            "{controller}"
        );
        assert!(
            a.metric(&format!(
                "fleetward_reconcile_duration_seconds_count{{controller=\"{controller}\"}}"
            ))? >= 1.0,
            "{controller}"
        );
        a.metric(&format!(
            "fleetward_reconciles_in_flight{{controller=\"{controller}\"}}"
        ))?;
    }
    a.metric("fleetward_plan_queue_depth")?;
    assert_eq!(
        b.writes()?,
        0,
        "the follower wrote nothing: {}",
        b.log_tail()
    );
    assert_eq!(lease(&h).await?, (Some("replica-a".into()), 0));

    // The leader dies without releasing; work arriving now waits for the standby.
    a.child.kill()?;
    a.child.wait()?;
    h.cluster("acme", "a2", "1.31.0", json!({})).await?;
    // Lease duration 15 s on the standby's own clock, plus one 5 s retry, plus provisioning.
    h.wait_for(
        "replica-b to take over and run a2",
        Duration::from_secs(60),
        || async { Ok(running(&h, "a2").await?.then_some(())) },
    )
    .await
    .with_context(|| b.log_tail())?;
    assert_eq!(lease(&h).await?, (Some("replica-b".into()), 1));
    assert!(b.writes()? > 0, "the new leader provisioned a2");

    // A graceful stop releases the lease, so a successor need not wait out its duration.
    let mut b = b;
    let status = Command::new("kill")
        .args(["-TERM", &b.child.id().to_string()])
        .status()?;
    assert!(status.success(), "sending SIGTERM");
    let exit = wait_exit(&mut b.child, Duration::from_secs(20))?;
    assert!(
        exit.success(),
        "SIGTERM is a clean exit: {exit:?}\n{}",
        b.log_tail()
    );
    assert_eq!(lease(&h).await?.0, None, "the lease was released");
    Ok(())
}

/// Waits for a child to exit, for at most `budget` (polling its status; bounded).
fn wait_exit(child: &mut Child, budget: Duration) -> Result<std::process::ExitStatus> {
    let step = Duration::from_millis(100);
    for _ in 0..(budget.as_millis() / step.as_millis()) {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(step);
    }
    bail!("did not exit within {budget:?}")
}
