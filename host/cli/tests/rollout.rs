//! `fleetward rollout` with the built binary against `fleetward emulator` (issue 11). No
//! controller runs: the tests write the Tenant's `status.rollout` and the ManagedClusters'
//! status themselves, so each rollout state is exactly what the report is asserted against, and
//! every write the CLI makes is checked field by field.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use common::{client, scratch, serve};
use fleetward_controller::crd::{ManagedCluster, RolloutApproval, Tenant};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// `fleetward rollout ARGS --kubeconfig KC` with `USER=tester` (the default `--by`).
fn fleetward(kubeconfig: &Path, args: &[&str]) -> Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .arg("rollout")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .env("USER", "tester")
        .output()
        .context("run fleetward rollout")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Namespaces team-a and team-b of tenant t1 and `other` of t2; Tenants t1, t2; clusters
/// team-a/a1, team-a/a2 (upgrading, canary), team-b/b1 of t1 and other/o1 of t2.
async fn fleet(c: &kube::Client) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(c.clone());
    for (ns, tenant) in [("team-a", "t1"), ("team-b", "t1"), ("other", "t2")] {
        let obj: Namespace = serde_json::from_value(json!({
            "metadata": {"name": ns, "labels": {"fleetward.dev/tenant": tenant}}
        }))?;
        namespaces.create(&PostParams::default(), &obj).await?;
    }
    let tenants: Api<Tenant> = Api::all(c.clone());
    for t in ["t1", "t2"] {
        let obj: Tenant = serde_json::from_value(json!({
            "apiVersion": "fleetward.dev/v1alpha1", "kind": "Tenant",
            "metadata": {"name": t}, "spec": {}
        }))?;
        tenants.create(&PostParams::default(), &obj).await?;
    }
    for (ns, name, tenant, status) in [
        (
            "team-a",
            "a1",
            "t1",
            json!({"phase": "Running", "controlPlaneVersion": "1.31.4"}),
        ),
        (
            "team-a",
            "a2",
            "t1",
            json!({"phase": "Upgrading", "controlPlaneVersion": "1.31.4", "inProgress": {
                "target": "control-plane", "from": "1.31.4", "to": "1.32.0",
                "startedAt": "2026-12-07T10:05:00Z", "wave": "canary"}}),
        ),
        (
            "team-b",
            "b1",
            "t1",
            json!({"phase": "Running", "controlPlaneVersion": "1.31.4"}),
        ),
        (
            "other",
            "o1",
            "t2",
            json!({"phase": "Running", "controlPlaneVersion": "1.31.4"}),
        ),
    ] {
        let api: Api<ManagedCluster> = Api::namespaced(c.clone(), ns);
        let obj: ManagedCluster = serde_json::from_value(json!({
            "apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"tenant": tenant, "version": "1.32.0"}
        }))?;
        api.create(&PostParams::default(), &obj).await?;
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await?;
    }
    Ok(())
}

const SINCE: &str = "2026-12-07T10:00:00Z";

/// `status.rollout` of t1 while progressing: a2 upgrading in the canary wave, a1 waiting for
/// gate prod, b1 for the window.
fn progressing() -> Value {
    json!({
        "id": "1.32.0", "state": "Progressing",
        "clusters": {"total": 3, "upToDate": 0, "upgrading": 1, "waiting": 2},
        "waves": [
            {"name": "canary", "total": 1, "upToDate": 0, "upgrading": 1, "waiting": 0},
            {"name": "prod", "total": 2, "upToDate": 0, "upgrading": 0, "waiting": 2}
        ],
        "gates": [{"name": "prod", "clusters": ["team-a/a1"], "since": SINCE}],
        "waiting": [
            {"cluster": "team-a/a1", "cause": "approval", "reason": "wave prod needs approval",
             "gate": "prod", "wave": "prod"},
            {"cluster": "team-b/b1", "cause": "window", "reason": "outside the maintenance window",
             "until": "2026-12-08T02:00:00Z", "wave": "prod"}
        ],
        "nextWindow": "2026-12-08T02:00:00Z"
    })
}

/// Replaces t1's `status.rollout` (`null` removes it).
async fn set_rollout(c: &kube::Client, tenant: &str, rollout: Value) -> Result<()> {
    Api::<Tenant>::all(c.clone())
        .patch_status(
            tenant,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"rollout": null}})),
        )
        .await?;
    Api::<Tenant>::all(c.clone())
        .patch_status(
            tenant,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"rollout": rollout}})),
        )
        .await?;
    Ok(())
}

/// Runs `rollout status t1` and asserts success and the exact text.
fn assert_status(kc: &Path, expected: &str) -> Result<()> {
    let o = fleetward(kc, &["status", "t1"])?;
    ensure!(o.status.success(), "status failed: {}", stderr(&o));
    let got = stdout(&o);
    ensure!(
        got == expected,
        "rollout status t1:\n--- got\n{got}--- expected\n{expected}"
    );
    Ok(())
}

const CLUSTERS: &str = "\
CLUSTER    VERSION  DESIRED  PHASE      PAUSED
team-a/a1  1.31.4   1.32.0   Running    -
team-a/a2  1.31.4   1.32.0   Upgrading  -
team-b/b1  1.31.4   1.32.0   Running    -
";

const UPGRADING: &str = "\
UPGRADING  TARGET         FROM    TO      SINCE                 WAVE
team-a/a2  control-plane  1.31.4  1.32.0  2026-12-07T10:05:00Z  canary
";

#[tokio::test]
async fn status_shows_each_rollout_state_exactly() -> Result<()> {
    let dir = scratch("rollout-status");
    let (_emulator, kc) = serve(&dir)?;
    let c = client(&kc).await?;
    fleet(&c).await?;

    // Before the controller has written anything: said plainly, clusters still listed.
    assert_status(
        &kc,
        &format!(
            "Tenant t1: no rollout status yet\n(the controller has not written status.rollout: \
             is `fleetward run` running and does the tenant have clusters to upgrade?)\n\n\
             {UPGRADING}\n{CLUSTERS}"
        ),
    )?;

    set_rollout(&c, "t1", progressing()).await?;
    let header = "\
Tenant t1  rollout 1.32.0  Progressing
Clusters: 3 total, 0 up to date, 1 upgrading, 2 waiting
";
    let tables = "
WAVE    TOTAL  UP-TO-DATE  UPGRADING  WAITING
canary  1      0           1          0
prod    2      0           0          2

GATE  STATE    WAITING  SINCE                 APPROVED-BY  APPROVED-AT
prod  pending  1        2026-12-07T10:00:00Z  -            -

WAITING    CAUSE     UNTIL                 GATE  WAVE  REASON
team-a/a1  approval  -                     prod  prod  wave prod needs approval
team-b/b1  window    2026-12-08T02:00:00Z  -     prod  outside the maintenance window
";
    assert_status(
        &kc,
        &format!(
            "{header}Next maintenance window: 2026-12-08T02:00:00Z\n{tables}\n{UPGRADING}\n{CLUSTERS}"
        ),
    )?;

    // Paused (and one cluster paused by its spec).
    let mut paused = progressing();
    paused["state"] = json!("Paused");
    paused["paused"] = json!({"by": "alice", "reason": "incident 42", "since": "2026-12-07T11:00:00Z",
                              "finishing": ["team-a/a2"]});
    set_rollout(&c, "t1", paused).await?;
    Api::<ManagedCluster>::namespaced(c.clone(), "team-b")
        .patch(
            "b1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"pauseUpgrades": true}})),
        )
        .await?;
    let clusters_b1_paused = CLUSTERS.replace(
        "team-b/b1  1.31.4   1.32.0   Running    -",
        "team-b/b1  1.31.4   1.32.0   Running    spec",
    );
    assert_status(
        &kc,
        &format!(
            "Tenant t1  rollout 1.32.0  Paused\n\
             Clusters: 3 total, 0 up to date, 1 upgrading, 2 waiting\n\
             Paused by alice since 2026-12-07T11:00:00Z: incident 42\n\
             Finishing: team-a/a2\n\
             Next maintenance window: 2026-12-08T02:00:00Z\n{tables}\n{UPGRADING}\n{clusters_b1_paused}"
        ),
    )?;

    // Aborted: who, when, why, and who is on which version.
    set_rollout(
        &c,
        "t1",
        json!({
            "id": "1.32.0", "state": "Aborted",
            "clusters": {"total": 3, "upToDate": 1, "upgrading": 0, "waiting": 2},
            "aborted": {"by": "bob", "reason": "bad release", "at": "2026-12-07T12:00:00Z",
                        "reached": [
                            {"version": "1.31.4", "count": 2, "clusters": ["team-a/a1", "team-b/b1"]},
                            {"version": "1.32.0", "count": 1, "clusters": ["team-a/a2"]}
                        ]}
        }),
    )
    .await?;
    assert_status(
        &kc,
        &format!(
            "Tenant t1  rollout 1.32.0  Aborted\n\
             Clusters: 3 total, 1 up to date, 0 upgrading, 2 waiting\n\
             Aborted by bob at 2026-12-07T12:00:00Z: bad release\n  \
             on 1.31.4: 2 (team-a/a1, team-b/b1)\n  \
             on 1.32.0: 1 (team-a/a2)\n\
             Next maintenance window: -\n\n{UPGRADING}\n{clusters_b1_paused}"
        ),
    )?;

    // Complete, with the approved gate.
    set_rollout(
        &c,
        "t1",
        json!({
            "id": "1.32.0", "state": "Complete",
            "clusters": {"total": 3, "upToDate": 3, "upgrading": 0, "waiting": 0},
            "gates": [{"name": "prod", "since": SINCE, "approved": {
                "by": "carol", "at": "2026-12-07T10:30:00Z", "approval": "team-a/prod-1.32.0"}}]
        }),
    )
    .await?;
    assert_status(
        &kc,
        &format!(
            "Tenant t1  rollout 1.32.0  Complete\n\
             Clusters: 3 total, 3 up to date, 0 upgrading, 0 waiting\n\
             Next maintenance window: -\n\n\
             GATE  STATE     WAITING  SINCE                 APPROVED-BY  APPROVED-AT\n\
             prod  approved  0        2026-12-07T10:00:00Z  carol        2026-12-07T10:30:00Z\n\
             \n{UPGRADING}\n{clusters_b1_paused}"
        ),
    )?;

    // JSON: the status as written, plus the clusters.
    let o = fleetward(&kc, &["status", "t1", "--format", "json"])?;
    ensure!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout)?;
    ensure!(
        v["tenant"] == "t1" && v["rollout"]["state"] == "Complete",
        "{v}"
    );
    ensure!(v["rollout"]["gates"][0]["approved"]["by"] == "carol", "{v}");
    ensure!(v["clusters"].as_array().map(Vec::len) == Some(3), "{v}");
    ensure!(v["clusters"][1]["upgrading"]["to"] == "1.32.0", "{v}");
    ensure!(v["clusters"][2]["paused"] == true, "{v}");

    // An unknown tenant.
    let o = fleetward(&kc, &["status", "nope"])?;
    ensure!(o.status.code() == Some(2), "{o:?}");
    ensure!(
        stderr(&o).contains("tenant \"nope\" not found"),
        "{}",
        stderr(&o)
    );
    Ok(())
}

/// The Tenant as stored (untyped, so a field the types would leave out still shows).
async fn tenant_json(c: &kube::Client, name: &str) -> Result<Value> {
    let ar = ApiResource::erase::<Tenant>(&());
    let t = Api::<DynamicObject>::all_with(c.clone(), &ar)
        .get(name)
        .await?;
    Ok(serde_json::to_value(&t)?)
}

async fn cluster_spec(c: &kube::Client, ns: &str, name: &str) -> Result<Value> {
    let mc = Api::<ManagedCluster>::namespaced(c.clone(), ns)
        .get(name)
        .await?;
    Ok(serde_json::to_value(&mc.spec)?)
}

#[tokio::test]
async fn pause_resume_and_abort_write_exactly_their_fields() -> Result<()> {
    let dir = scratch("rollout-pause");
    let (_emulator, kc) = serve(&dir)?;
    let c = client(&kc).await?;
    fleet(&c).await?;
    set_rollout(&c, "t1", progressing()).await?;
    let before = tenant_json(&c, "t1").await?;

    let o = fleetward(
        &kc,
        &["pause", "t1", "--reason", "incident 42", "--by", "alice"],
    )?;
    ensure!(o.status.success(), "{}", stderr(&o));
    ensure!(
        stdout(&o).starts_with("tenant t1: rollout paused by alice"),
        "{}",
        stdout(&o)
    );
    let after = tenant_json(&c, "t1").await?;
    ensure!(
        after["spec"]
            == json!({"rollout": {"paused": true, "pauseReason": "incident 42", "pausedBy": "alice"}}),
        "{}",
        after["spec"]
    );
    ensure!(after["status"] == before["status"], "status changed");

    // --by defaults to $USER; the old reason goes.
    let o = fleetward(&kc, &["pause", "t1"])?;
    ensure!(o.status.success(), "{}", stderr(&o));
    let after = tenant_json(&c, "t1").await?;
    ensure!(
        after["spec"] == json!({"rollout": {"paused": true, "pausedBy": "tester"}}),
        "{}",
        after["spec"]
    );

    let o = fleetward(&kc, &["resume", "t1"])?;
    ensure!(o.status.success(), "{}", stderr(&o));
    let after = tenant_json(&c, "t1").await?;
    ensure!(
        after["spec"] == json!({"rollout": {"paused": false}}),
        "{}",
        after["spec"]
    );

    // One cluster.
    let b1 = cluster_spec(&c, "team-b", "b1").await?;
    let o = fleetward(&kc, &["pause", "t1", "--cluster", "team-b/b1"])?;
    ensure!(o.status.success(), "{}", stderr(&o));
    let mut expected = b1.clone();
    expected["pauseUpgrades"] = json!(true);
    ensure!(
        cluster_spec(&c, "team-b", "b1").await? == expected,
        "b1 spec"
    );
    let o = fleetward(&kc, &["resume", "t1", "--cluster", "team-b/b1"])?;
    ensure!(o.status.success(), "{}", stderr(&o));
    ensure!(
        cluster_spec(&c, "team-b", "b1").await? == b1,
        "b1 spec after resume"
    );

    // A cluster of another tenant, a missing cluster, a missing tenant: refused, nothing changed.
    let o1 = cluster_spec(&c, "other", "o1").await?;
    let t1 = tenant_json(&c, "t1").await?;
    for (args, message) in [
        (
            vec!["pause", "t1", "--cluster", "other/o1"],
            "ManagedCluster other/o1 belongs to tenant \"t2\", not \"t1\"",
        ),
        (
            vec!["pause", "t1", "--cluster", "team-a/zz"],
            "ManagedCluster team-a/zz not found",
        ),
        (vec!["pause", "nope"], "tenant \"nope\" not found"),
        (vec!["resume", "nope"], "tenant \"nope\" not found"),
        (vec!["abort", "nope"], "tenant \"nope\" not found"),
        (
            vec!["abort", "t2"],
            "tenant \"t2\" has no rollout in progress",
        ),
    ] {
        let o = fleetward(&kc, &args)?;
        ensure!(o.status.code() == Some(2), "{args:?}: {o:?}");
        ensure!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    }
    ensure!(cluster_spec(&c, "other", "o1").await? == o1, "o1 changed");
    ensure!(tenant_json(&c, "t1").await? == t1, "t1 changed");
    ensure!(
        Api::<Tenant>::all(c.clone())
            .get_opt("nope")
            .await?
            .is_none(),
        "nope created"
    );

    // Abort the current rollout.
    let o = fleetward(
        &kc,
        &["abort", "t1", "--reason", "bad release", "--by", "bob"],
    )?;
    ensure!(o.status.success(), "{}", stderr(&o));
    let after = tenant_json(&c, "t1").await?;
    ensure!(
        after["spec"]
            == json!({"rollout": {"paused": false, "abort": {
                "rollout": "1.32.0", "by": "bob", "reason": "bad release"}}}),
        "{}",
        after["spec"]
    );
    // Twice: refused. Complete: nothing to abort.
    let o = fleetward(&kc, &["abort", "t1"])?;
    ensure!(o.status.code() == Some(2), "{o:?}");
    ensure!(
        stderr(&o).contains("already being aborted (by bob)"),
        "{}",
        stderr(&o)
    );
    set_rollout(
        &c,
        "t1",
        json!({"id": "1.32.0", "state": "Complete",
               "clusters": {"total": 3, "upToDate": 3, "upgrading": 0, "waiting": 0}}),
    )
    .await?;
    let o = fleetward(&kc, &["abort", "t1"])?;
    ensure!(o.status.code() == Some(2), "{o:?}");
    ensure!(
        stderr(&o).contains("rollout 1.32.0 of tenant \"t1\" is complete: nothing to abort"),
        "{}",
        stderr(&o)
    );
    Ok(())
}

async fn approvals(c: &kube::Client) -> Result<Vec<String>> {
    let mut names: Vec<String> = Api::<RolloutApproval>::all(c.clone())
        .list(&ListParams::default())
        .await?
        .into_iter()
        .map(|a| {
            format!(
                "{}/{}",
                a.metadata.namespace.unwrap_or_default(),
                a.metadata.name.unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    Ok(names)
}

#[tokio::test]
async fn approve_creates_the_approval_and_refuses_bad_input() -> Result<()> {
    let dir = scratch("rollout-approve");
    let (_emulator, kc) = serve(&dir)?;
    let c = client(&kc).await?;
    fleet(&c).await?;

    // Refused, nothing created.
    let refused: Vec<(Vec<&str>, &str)> = vec![
        (vec!["approve", "nope", "prod"], "tenant \"nope\" not found"),
        (
            vec!["approve", "t1", "prod"],
            "tenant \"t1\" has no rollout status yet",
        ),
    ];
    for (args, message) in &refused {
        let o = fleetward(&kc, args)?;
        ensure!(o.status.code() == Some(2), "{args:?}: {o:?}");
        ensure!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    }
    set_rollout(&c, "t1", progressing()).await?;
    let refused: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["approve", "t1", "staging"],
            "gate \"staging\" was not requested in rollout 1.32.0 of tenant \"t1\" (pending \
             gates: prod); to approve a gate of another rollout ahead of time, pass --rollout ID",
        ),
        (
            vec!["approve", "t1", "prod", "--namespace", "other"],
            "namespace other belongs to tenant \"t2\", not \"t1\": tenants cannot approve for \
             each other",
        ),
        (
            vec!["approve", "t1", "prod", "--namespace", "default"],
            "namespace default has no fleetward.dev/tenant label",
        ),
    ];
    for (args, message) in &refused {
        let o = fleetward(&kc, args)?;
        ensure!(o.status.code() == Some(2), "{args:?}: {o:?}");
        ensure!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    }
    ensure!(approvals(&c).await?.is_empty(), "something was created");

    // The approval, in the namespace of the cluster waiting on the gate.
    let o = fleetward(
        &kc,
        &[
            "approve",
            "t1",
            "prod",
            "--by",
            "carol",
            "--comment",
            "CHG-7",
        ],
    )?;
    ensure!(o.status.success(), "{}", stderr(&o));
    ensure!(
        stdout(&o)
            == "created RolloutApproval team-a/prod-1.32.0: gate prod of rollout 1.32.0 of tenant \
                t1 approved by carol\n",
        "{}",
        stdout(&o)
    );
    let a = Api::<RolloutApproval>::namespaced(c.clone(), "team-a")
        .get("prod-1.32.0")
        .await?;
    ensure!(
        serde_json::to_value(&a.spec)?
            == json!({"tenant": "t1", "gate": "prod", "rollout": "1.32.0", "approver": "carol",
                      "comment": "CHG-7"}),
        "{:?}",
        a.spec
    );
    ensure!(
        approvals(&c).await? == ["team-a/prod-1.32.0"],
        "one approval"
    );

    // Again before the controller saw it: the object exists.
    let o = fleetward(&kc, &["approve", "t1", "prod"])?;
    ensure!(o.status.code() == Some(2), "{o:?}");
    ensure!(
        stderr(&o).contains("already exists (approved by carol)"),
        "{}",
        stderr(&o)
    );
    // Once the controller recorded it: already approved, by whom.
    let mut approved = progressing();
    approved["gates"][0]["approved"] =
        json!({"by": "carol", "at": "2026-12-07T10:30:00Z", "approval": "team-a/prod-1.32.0"});
    set_rollout(&c, "t1", approved).await?;
    let o = fleetward(&kc, &["approve", "t1", "prod", "--namespace", "team-b"])?;
    ensure!(o.status.code() == Some(2), "{o:?}");
    ensure!(
        stderr(&o).contains("already approved by carol at 2026-12-07T10:30:00Z"),
        "{}",
        stderr(&o)
    );
    ensure!(
        approvals(&c).await? == ["team-a/prod-1.32.0"],
        "one approval"
    );

    // Ahead of time for another rollout, in the tenant's first namespace.
    let o = fleetward(
        &kc,
        &[
            "approve",
            "t1",
            "prod",
            "--rollout",
            "1.33.0",
            "--by",
            "dave",
        ],
    )?;
    ensure!(o.status.success(), "{}", stderr(&o));
    ensure!(
        approvals(&c).await? == ["team-a/prod-1.32.0", "team-a/prod-1.33.0"],
        "{:?}",
        approvals(&c).await?
    );

    // The report lists both.
    let o = fleetward(&kc, &["status", "t1"])?;
    ensure!(
        stdout(&o).ends_with(
            "\nAPPROVAL            GATE  ROLLOUT  APPROVER  ACCEPTED\n\
             team-a/prod-1.32.0  prod  1.32.0   carol     -\n\
             team-a/prod-1.33.0  prod  1.33.0   dave      -\n"
        ),
        "{}",
        stdout(&o)
    );
    Ok(())
}

/// Lines of a running child's stdout, through a channel (so waiting for one is bounded).
fn lines(child: &mut std::process::Child) -> Result<mpsc::Receiver<String>> {
    let out = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// Reads lines until one equals `want` (bounded).
fn wait_for(rx: &mpsc::Receiver<String>, want: &str) -> Result<Vec<String>> {
    let mut seen = vec![];
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .with_context(|| format!("no line {want:?}; saw {seen:#?}"))?;
        let done = line == want;
        seen.push(line);
        if done {
            return Ok(seen);
        }
    }
}

#[tokio::test]
async fn watch_prints_a_frame_per_change_and_stops_when_done() -> Result<()> {
    let dir = scratch("rollout-watch");
    let (_emulator, kc) = serve(&dir)?;
    let c = client(&kc).await?;
    fleet(&c).await?;
    set_rollout(&c, "t1", progressing()).await?;

    let mut child = common::Running(
        Command::new(env!("CARGO_BIN_EXE_fleetward"))
            .args(["rollout", "status", "t1", "--watch", "--until-done"])
            .args(["--timeout", "120s", "--kubeconfig"])
            .arg(&kc)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let rx = lines(&mut child.0)?;
    let first = wait_for(&rx, "Tenant t1  rollout 1.32.0  Progressing")?;
    ensure!(first.len() == 1, "{first:?}");
    wait_for(&rx, "team-b/b1  1.31.4   1.32.0   Running    -")?;

    // A cluster paused: a new frame.
    Api::<ManagedCluster>::namespaced(c.clone(), "team-b")
        .patch(
            "b1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"pauseUpgrades": true}})),
        )
        .await?;
    let frame = wait_for(&rx, "team-b/b1  1.31.4   1.32.0   Running    spec")?;
    ensure!(frame[0] == "---", "{frame:?}");
    ensure!(
        frame[1] == "Tenant t1  rollout 1.32.0  Progressing",
        "{frame:?}"
    );

    // Complete: a last frame, then the watch ends by itself.
    set_rollout(
        &c,
        "t1",
        json!({"id": "1.32.0", "state": "Complete",
               "clusters": {"total": 3, "upToDate": 3, "upgrading": 0, "waiting": 0}}),
    )
    .await?;
    wait_for(&rx, "Tenant t1  rollout 1.32.0  Complete")?;
    let (tx, done) = mpsc::channel();
    let mut child = child;
    std::thread::spawn(move || {
        let _ = tx.send(child.0.wait());
    });
    let status = done
        .recv_timeout(Duration::from_secs(60))
        .context("watch did not exit after Complete")??;
    ensure!(status.success(), "{status:?}");

    // JSON frames are JSON Lines; --timeout alone ends the watch with success.
    let o = fleetward(
        &kc,
        &[
            "status",
            "t1",
            "--watch",
            "--format",
            "json",
            "--timeout",
            "2s",
        ],
    )?;
    ensure!(o.status.success(), "{}", stderr(&o));
    let frames: Vec<Value> = stdout(&o)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(frames.len() == 1, "{frames:?}");
    ensure!(
        frames[0]["rollout"]["state"] == "Complete",
        "{:?}",
        frames[0]
    );
    Ok(())
}

#[tokio::test]
async fn works_as_a_kubectl_plugin_named_kubectl_fleetward() -> Result<()> {
    let dir = scratch("rollout-plugin");
    let (_emulator, kc) = serve(&dir)?;
    let c = client(&kc).await?;
    fleet(&c).await?;
    set_rollout(&c, "t1", progressing()).await?;

    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    let plugin: PathBuf = bin.join("kubectl-fleetward");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fleetward"), &plugin)?;
    // kubectl runs `kubectl-fleetward rollout status t1` with KUBECONFIG in the environment.
    let o = Command::new(&plugin)
        .args(["rollout", "status", "t1"])
        .env("KUBECONFIG", &kc)
        .output()?;
    ensure!(o.status.success(), "{}", stderr(&o));
    ensure!(
        stdout(&o).starts_with("Tenant t1  rollout 1.32.0  Progressing\n"),
        "{}",
        stdout(&o)
    );
    let o = Command::new(&plugin).args(["rollout", "--help"]).output()?;
    ensure!(
        o.status.success() && stdout(&o).contains("approve"),
        "{o:?}"
    );
    Ok(())
}
