//! The machine's `kubectl` against a real kube-apiserver (`fleetward-testenv`), as an operator
//! would use it (issue 19, item 6):
//!
//! - `kubectl apply --server-side -k deploy/` installs everything on a fresh server, the CRDs
//!   become Established, and a second apply changes nothing; an invalid ManagedCluster is refused
//!   with the CEL message of `deploy/crds.yaml`;
//! - on a server the controller works on, the same apply succeeds over the e2e harness's own
//!   server-side apply (another field manager), `kubectl get managedclusters,tenants,seeds -A`
//!   prints the printer columns `deploy/crds.yaml` declares with the values the objects have, and
//!   `kubectl describe managedcluster` shows the Events the controller recorded.
//!
//! Skipped loudly when there is no control plane on this machine or no kubectl on `PATH`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use fleetward_controller::crd::{ManagedCluster, Seed, Tenant};
use fleetward_testenv::binary::announce_skip;
use fleetward_testenv::{ApiServer, Identity, TestCluster};
use fleetward_tests::kubectl::{
    Kubectl, KubectlOutput, Table, assert_applied_everything, deploy_objects, parse_tables,
};
use fleetward_tests::{Backend, Harness, PolicySpec, TenantPolicies, read_manifest, repo_root};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};

/// Runtime budget for waiting on the server or the controller.
const BUDGET: Duration = Duration::from_secs(60);

/// kubectl for `server` as the administrator, or `None` (announced) when kubectl is missing.
fn kubectl_for(server: &ApiServer, test: &str) -> Result<Option<Kubectl>> {
    let Some(bin) = Kubectl::find() else {
        announce_skip(
            test,
            "kubectl is not on PATH, so the kubectl tests cannot run (the control plane is here)",
        );
        return Ok(None);
    };
    let kubeconfig = server.kubeconfig_file(&Identity::admin())?;
    Ok(Some(Kubectl::new(
        bin,
        kubeconfig,
        &server.dir().join("kubectl"),
    )?))
}

/// `kubectl apply --server-side -k deploy/`, which must succeed.
async fn apply_deploy(k: &Kubectl) -> Result<KubectlOutput> {
    let out = k
        .run(repo_root(), &["apply", "--server-side", "-k", "deploy/"])
        .await?;
    ensure!(out.success, "apply -k deploy/ failed:\n{out}");
    Ok(out)
}

/// The CRDs of `deploy/crds.yaml`.
fn deploy_crds() -> Result<Vec<Value>> {
    let crds = read_manifest(&repo_root().join("deploy/crds.yaml"))?;
    let expected = fleetward_controller::crd::crds().len();
    ensure!(
        crds.len() == expected,
        "expected {expected} CRDs in deploy/crds.yaml, found {}",
        crds.len()
    );
    Ok(crds)
}

/// The CRD of `kind`.
fn crd_of(crds: &[Value], kind: &str) -> Result<Value> {
    crds.iter()
        .find(|c| c["spec"]["names"]["kind"] == kind)
        .cloned()
        .with_context(|| format!("no CRD for {kind} in deploy/crds.yaml"))
}

/// A printer column declared in a CRD.
#[derive(Debug)]
struct PrinterColumn {
    name: String,
    json_path: String,
    type_: String,
    priority: i64,
}

/// The served version's `additionalPrinterColumns` of a CRD.
fn printer_columns(crd: &Value) -> Result<Vec<PrinterColumn>> {
    let versions = crd["spec"]["versions"].as_array().context("versions")?;
    let served: Vec<&Value> = versions.iter().filter(|v| v["served"] == true).collect();
    ensure!(served.len() == 1, "one served version expected");
    served[0]["additionalPrinterColumns"]
        .as_array()
        .context("additionalPrinterColumns")?
        .iter()
        .map(|c| {
            Ok(PrinterColumn {
                name: c["name"].as_str().context("name")?.to_string(),
                json_path: c["jsonPath"].as_str().context("jsonPath")?.to_string(),
                type_: c["type"].as_str().context("type")?.to_string(),
                priority: c["priority"].as_i64().unwrap_or(0),
            })
        })
        .collect()
}

/// Evaluates the printer-column JSONPath subset `deploy/crds.yaml` uses: `.a.b` and
/// `.a.list[?(@.key=="value")].field`. Panics on anything else, so a new kind of column is
/// noticed here rather than silently compared as empty.
fn json_path(obj: &Value, path: &str) -> Option<Value> {
    // Split at the dots outside `[...]` (the filter has one of its own).
    let mut segments = vec![String::new()];
    let mut depth = 0u32;
    for ch in path.trim_start_matches('.').chars() {
        match ch {
            '.' if depth == 0 => segments.push(String::new()),
            _ => {
                depth = match ch {
                    '[' => depth + 1,
                    ']' => depth.saturating_sub(1),
                    _ => depth,
                };
                segments.last_mut()?.push(ch);
            }
        }
    }
    let mut cur = obj.clone();
    for seg in &segments {
        let seg = seg.as_str();
        match seg.split_once("[?(@.") {
            None => cur = cur.get(seg)?.clone(),
            Some((field, filter)) => {
                let (key, value) = filter
                    .strip_suffix(")]")
                    .and_then(|f| f.split_once("=="))
                    .unwrap_or_else(|| panic!("unsupported JSONPath filter in {path}"));
                let value = value.trim_matches('"');
                cur = cur
                    .get(field)?
                    .as_array()?
                    .iter()
                    .find(|x| x.get(key).and_then(Value::as_str) == Some(value))?
                    .clone();
            }
        }
    }
    Some(cur)
}

/// How kubectl prints a printer column's value (`<none>` when the path finds nothing).
fn cell(obj: &Value, col: &PrinterColumn) -> String {
    match json_path(obj, &col.json_path) {
        None | Some(Value::Null) => "<none>".into(),
        Some(Value::String(s)) => s,
        Some(v) => v.to_string(),
    }
}

/// Asserts that a table `kubectl get -A` printed for a CRD's kind has the CRD's default
/// (priority 0) printer columns after NAMESPACE (blank for cluster-scoped kinds) and NAME, and
/// that each object's row shows its values.
fn assert_table(table: &Table, crd: &Value, objects: &[Value], stdout: &str) -> Result<()> {
    let kind = crd["spec"]["names"]["kind"].as_str().context("kind")?;
    let group = crd["spec"]["group"].as_str().context("group")?;
    let columns: Vec<PrinterColumn> = printer_columns(crd)?
        .into_iter()
        .filter(|c| c.priority == 0)
        .collect();
    let mut want: Vec<String> = vec!["NAMESPACE".into(), "NAME".into()];
    want.extend(columns.iter().map(|c| c.name.to_uppercase()));
    assert_eq!(
        table.header, want,
        "{kind}: header is not the printer columns of deploy/crds.yaml:\n{stdout}"
    );
    assert_eq!(
        table.rows.len(),
        objects.len(),
        "{kind}: one row per object expected:\n{stdout}"
    );
    for obj in objects {
        let name = format!(
            "{}.{group}/{}",
            kind.to_lowercase(),
            obj["metadata"]["name"].as_str().context("name")?
        );
        let row = table
            .row("NAME", &name)
            .with_context(|| format!("no row for {name}:\n{stdout}"))?;
        assert_eq!(
            row["NAMESPACE"].as_str(),
            obj["metadata"]["namespace"].as_str().unwrap_or_default(),
            "{name}: NAMESPACE:\n{stdout}"
        );
        for col in &columns {
            let got = &row[&col.name.to_uppercase()];
            if col.type_ == "date" {
                // Age: relative to now, so only its shape (`5s`, `2m3s`).
                assert!(
                    got.ends_with(['s', 'm', 'h', 'd'])
                        && got.starts_with(|c: char| c.is_ascii_digit()),
                    "{name}: {} {got:?} is not an age:\n{stdout}",
                    col.name
                );
            } else if cell(obj, col) == "<none>" {
                // A missing value: this kubectl leaves a custom resource's empty cell blank
                // (seen for the Tenant's Rollout and Paused columns before the planner writes
                // status.rollout); older ones print `<none>`.
                assert!(
                    got.is_empty() || got == "<none>",
                    "{name}: column {} ({}) shows {got:?} for a missing value:\n{stdout}",
                    col.name,
                    col.json_path
                );
            } else {
                assert_eq!(
                    *got,
                    cell(obj, col),
                    "{name}: column {} ({}) does not show the object's value:\n{stdout}",
                    col.name,
                    col.json_path
                );
            }
        }
    }
    Ok(())
}

/// The whole documents of a kind, as the API returns them (resourceVersion included).
async fn list_json<K>(client: &Client) -> Result<Vec<Value>>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let items = Api::<K>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    items.iter().map(|i| Ok(serde_json::to_value(i)?)).collect()
}

/// The Events (events.k8s.io/v1, any namespace) whose `regarding` is the object with `uid`,
/// waited for (bounded) until there is at least one.
async fn events_about(h: &Harness, uid: String) -> Result<Vec<Event>> {
    let api: Api<Event> = Api::all(h.client.clone());
    h.wait_for(&format!("Events about {uid}"), BUDGET, || async {
        let evs: Vec<Event> = api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| {
                e.regarding
                    .as_ref()
                    .is_some_and(|r| r.uid.as_deref() == Some(uid.as_str()))
            })
            .collect();
        Ok((!evs.is_empty()).then_some(evs))
    })
    .await
}

/// Asserts that every event's `regarding` names the object (apiVersion, kind, namespace, name).
fn assert_regarding(
    events: &[Event],
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<()> {
    for e in events {
        let r = e.regarding.as_ref().context("regarding")?;
        assert_eq!(
            (
                r.api_version.as_deref(),
                r.kind.as_deref(),
                r.namespace.as_deref().filter(|n| !n.is_empty()),
                r.name.as_deref()
            ),
            (
                Some("fleetward.dev/v1alpha1"),
                Some(kind),
                namespace,
                Some(name)
            ),
            "{e:#?}"
        );
    }
    Ok(())
}

/// Asserts that `kubectl describe` succeeded and its Events section has a line per event with
/// its reason, its note and `fleetward` as the source.
fn assert_describe_shows(out: &KubectlOutput, events: &[Event]) -> Result<()> {
    eprintln!("{out}");
    assert!(out.success, "{out}");
    let section = out
        .stdout
        .split_once("\nEvents:")
        .map(|(_, s)| s)
        .with_context(|| format!("no Events section:\n{out}"))?;
    assert!(
        !section.trim_start().starts_with("<none>"),
        "describe shows no Events:\n{out}"
    );
    for e in events {
        let reason = e.reason.as_deref().unwrap_or_default();
        let note = e.note.as_deref().unwrap_or_default();
        assert!(
            section
                .lines()
                .any(|l| l.contains(reason) && l.contains(note) && l.contains("fleetward")),
            "describe does not show the {reason} event ({note:?}) from fleetward:\n{out}"
        );
    }
    Ok(())
}

#[test]
fn json_path_reads_fields_and_condition_filters() {
    let obj = json!({"spec": {"region": "eu"}, "status": {"conditions": [
        {"type": "Ready", "status": "False"}, {"type": "PoliciesReady", "status": "True"}]}});
    assert_eq!(json_path(&obj, ".spec.region"), Some(json!("eu")));
    assert_eq!(
        json_path(
            &obj,
            ".status.conditions[?(@.type==\"PoliciesReady\")].status"
        ),
        Some(json!("True"))
    );
    assert_eq!(json_path(&obj, ".status.seed"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_k_deploy_on_a_fresh_server_is_idempotent_and_crds_validate() -> Result<()> {
    const TEST: &str = "apply_k_deploy_on_a_fresh_server_is_idempotent_and_crds_validate";
    let Some(cluster) = TestCluster::start_or_skip(TEST).await? else {
        return Ok(());
    };
    let Some(k) = kubectl_for(cluster.server(), TEST)? else {
        return Ok(());
    };
    let root = repo_root();
    let expected = deploy_objects()?;
    for kind in [
        "customresourcedefinition.apiextensions.k8s.io/",
        "namespace/",
        "serviceaccount/",
        "clusterrole.rbac.authorization.k8s.io/",
        "clusterrolebinding.rbac.authorization.k8s.io/",
        "role.rbac.authorization.k8s.io/",
        "rolebinding.rbac.authorization.k8s.io/",
        "deployment.apps/",
    ] {
        assert!(
            expected.iter().any(|o| o.starts_with(kind)),
            "deploy/ has no {kind}: {expected:?}"
        );
    }

    let first = apply_deploy(&k).await?;
    assert_applied_everything(&first, &expected);

    // Custom resources only once their CRDs are served.
    let crds = deploy_crds()?;
    let mut wait = vec!["wait", "--for", "condition=established", "--timeout=30s"];
    let crd_refs: Vec<String> = crds
        .iter()
        .map(|c| format!("crd/{}", c["metadata"]["name"].as_str().unwrap_or_default()))
        .collect();
    wait.extend(crd_refs.iter().map(String::as_str));
    let out = k.run(root, &wait).await?;
    assert!(out.success, "CRDs not established:\n{out}");

    // A second apply is a no-op: it succeeds, names every object again, and writes nothing
    // (no resourceVersion moves).
    let get_all = ["get", "-k", "deploy/", "-o", "json"];
    let before = k.run(root, &get_all).await?;
    assert!(before.success, "{before}");
    let second = apply_deploy(&k).await?;
    assert_applied_everything(&second, &expected);
    let after = k.run(root, &get_all).await?;
    assert!(after.success, "{after}");
    let versions = |out: &KubectlOutput| -> Result<BTreeMap<String, String>> {
        let list: Value = serde_json::from_str(&out.stdout)?;
        Ok(list["items"]
            .as_array()
            .context("items")?
            .iter()
            .map(|o| {
                (
                    format!("{}/{}", o["kind"], o["metadata"]["name"]),
                    o["metadata"]["resourceVersion"].to_string(),
                )
            })
            .collect())
    };
    let (rv_before, rv_after) = (versions(&before)?, versions(&after)?);
    assert_eq!(rv_before.len(), expected.len(), "{before}");
    assert_eq!(
        rv_before, rv_after,
        "the second apply wrote (resourceVersions moved):\n{second}"
    );

    // An invalid cluster is refused by the server with the CEL rule's message from crds.yaml.
    let mc_crd = crd_of(&crds, "ManagedCluster")?;
    let rule = &mc_crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["nodePools"]["x-kubernetes-validations"][0];
    let message = rule["message"].as_str().context("nodePools CEL message")?;
    let dup = json!({
        "apiVersion": "fleetward.dev/v1alpha1", "kind": "ManagedCluster",
        "metadata": {"name": "twins", "namespace": "fleetward-system"},
        "spec": {"tenant": "acme", "version": "1.31.2", "nodePools": [
            {"name": "workers", "replicas": 1}, {"name": "workers", "replicas": 2}]},
    });
    let out = k
        .run_with_stdin(
            root,
            &["apply", "--server-side", "-f", "-"],
            Some(&dup.to_string()),
        )
        .await?;
    assert!(
        !out.success,
        "a duplicate node pool name was accepted:\n{out}"
    );
    assert!(
        out.stderr.contains(message) && out.stderr.contains("spec.nodePools"),
        "refused without the CEL message {message:?} on spec.nodePools:\n{out}"
    );
    let out = k
        .run(
            root,
            &[
                "get",
                "managedclusters",
                "-n",
                "fleetward-system",
                "-o",
                "name",
            ],
        )
        .await?;
    assert!(out.success && out.stdout.trim().is_empty(), "{out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_shows_printer_columns_and_events_of_what_the_controller_did() -> Result<()> {
    const TEST: &str = "kubectl_shows_printer_columns_and_events_of_what_the_controller_did";
    let Some(mut h) = Harness::on(Backend::RealApiServer, TEST).await? else {
        return Ok(());
    };
    let server = h.real_cluster().context("a real API server")?.server();
    let Some(k) = kubectl_for(server, TEST)? else {
        return Ok(());
    };
    let root = repo_root();

    // The harness installed CRDs, namespace and RBAC by server-side apply under its own field
    // manager; an operator's kubectl apply of the same manifests must not conflict with it.
    let out = apply_deploy(&k).await?;
    assert_applied_everything(&out, &deploy_objects()?);

    h.seed("eu-1", "eu-west", 10).await?;
    h.seed("us-1", "us-east", 5).await?;
    let acme = TenantPolicies {
        placement: Some(PolicySpec::file(
            fleetward_test_policies::PLACEMENT,
            json!({"excluded_seeds": ["eu-1"], "preferred_regions": ["us-east"]}),
        )),
        ..Default::default()
    };
    h.tenant("acme", acme).await?;
    h.cluster("acme", "a1", "1.31.2", json!({"env": "prod"}))
        .await?;
    h.start_controller();
    let placed = h.wait_all_at("1.31.2", 1, BUDGET).await?;
    let a1 = &placed[0];
    assert_eq!(
        a1.status.as_ref().and_then(|s| s.seed.as_deref()),
        Some("us-1"),
        "acme's policy excludes eu-1"
    );

    // `kubectl get managedclusters,tenants,seeds -A`, compared with the objects read through the
    // API around it; retried (bounded) while the controller or fake infrastructure still writes.
    let crds = deploy_crds()?;
    let deadline = tokio::time::Instant::now() + BUDGET;
    loop {
        let snapshot = (
            list_json::<ManagedCluster>(&h.client).await?,
            list_json::<Tenant>(&h.client).await?,
            list_json::<Seed>(&h.client).await?,
        );
        let out = k
            .run(root, &["get", "managedclusters,tenants,seeds", "-A"])
            .await?;
        assert!(out.success, "{out}");
        let again = (
            list_json::<ManagedCluster>(&h.client).await?,
            list_json::<Tenant>(&h.client).await?,
            list_json::<Seed>(&h.client).await?,
        );
        if snapshot != again {
            ensure!(
                tokio::time::Instant::now() < deadline,
                "objects kept changing for {BUDGET:?}"
            );
            tokio::time::sleep(h.poll_interval()).await;
            continue;
        }
        let (clusters, tenants, seeds) = snapshot;
        eprintln!("{out}");
        let tables = parse_tables(&out.stdout);
        assert_eq!(tables.len(), 3, "one table per resource type:\n{out}");
        // The values under test are real ones, not blanks on both sides.
        assert_eq!(clusters[0]["status"]["phase"], "Running", "{clusters:?}");
        assert_table(
            &tables[0],
            &crd_of(&crds, "ManagedCluster")?,
            &clusters,
            &out.stdout,
        )?;
        assert_table(&tables[1], &crd_of(&crds, "Tenant")?, &tenants, &out.stdout)?;
        assert_table(&tables[2], &crd_of(&crds, "Seed")?, &seeds, &out.stdout)?;
        let row = tables[0]
            .row("NAME", "managedcluster.fleetward.dev/a1")
            .context("a1's row")?;
        assert_eq!(
            (
                row["SEED"].as_str(),
                row["VERSION"].as_str(),
                row["PHASE"].as_str()
            ),
            ("us-1", "1.31.2", "Running"),
            "{out}"
        );
        let row = tables[1]
            .row("NAME", "tenant.fleetward.dev/acme")
            .context("acme's row")?;
        assert_eq!(row["READY"], "True", "acme's policies are loaded:\n{out}");
        break;
    }

    // `kubectl describe` shows the Events the controller recorded: about a1 (namespaced) and
    // about acme (cluster-scoped, so its Events live in `default`).
    let a1_events = events_about(&h, a1.uid().context("a1 uid")?).await?;
    let reasons: Vec<&str> = a1_events
        .iter()
        .filter_map(|e| e.reason.as_deref())
        .collect();
    assert!(
        reasons.contains(&"Placed"),
        "no Placed event about a1: {a1_events:#?}"
    );
    assert_regarding(&a1_events, "ManagedCluster", Some("tenant-acme"), "a1")?;
    let out = k
        .run(
            root,
            &["describe", "managedcluster", "-n", "tenant-acme", "a1"],
        )
        .await?;
    assert_describe_shows(&out, &a1_events)?;

    let acme = Api::<Tenant>::all(h.client.clone()).get("acme").await?;
    let acme_events = events_about(&h, acme.uid().context("acme uid")?).await?;
    let reasons: Vec<&str> = acme_events
        .iter()
        .filter_map(|e| e.reason.as_deref())
        .collect();
    assert!(
        reasons.contains(&"PolicyLoaded"),
        "no PolicyLoaded event about acme: {acme_events:#?}"
    );
    assert_regarding(&acme_events, "Tenant", None, "acme")?;
    let out = k.run(root, &["describe", "tenant", "acme"]).await?;
    assert_describe_shows(&out, &acme_events)?;

    assert!(h.violations()?.is_empty(), "{:?}", h.violations()?);
    h.stop_controller().await;
    Ok(())
}
