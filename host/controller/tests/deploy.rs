//! The deploy manifests are complete and consistent with what the controller does.

use serde_json::Value;

fn docs(file: &str) -> Vec<Value> {
    let path = format!("{}/../../deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split("\n---")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

#[test]
fn deployment_has_two_replicas_probes_and_runs_as_non_root() {
    let d = docs("deployment.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(pod["serviceAccountName"], "fleetward-controller");
}

#[test]
fn rbac_grants_what_the_controller_uses_and_no_wildcards() {
    let all = docs("rbac.yaml");
    let role = all.iter().find(|d| d["kind"] == "ClusterRole").unwrap();
    let rules = role["rules"].as_array().unwrap();
    let allows = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            let has = |k: &str, v: &str| r[k].as_array().unwrap().iter().any(|x| x == v);
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
    };
    for (g, r, v) in [
        ("fleetward.dev", "managedclusters", "watch"),
        ("fleetward.dev", "managedclusters/status", "update"),
        ("fleetward.dev", "tenants/status", "update"),
        ("apps", "deployments", "patch"),
        ("apps", "statefulsets", "delete"),
        ("cluster.x-k8s.io", "machinedeployments", "patch"),
        ("cluster.x-k8s.io", "machines", "delete"),
        ("", "configmaps", "watch"),
        ("", "namespaces", "create"),
        ("events.k8s.io", "events", "create"),
    ] {
        assert!(allows(g, r, v), "ClusterRole lacks {v} {g}/{r}");
    }
    assert!(
        !allows("", "secrets", "get"),
        "no cluster-wide Secret access: seed kubeconfigs are read in fleetward-system only"
    );
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains("\"*\""), "no wildcard rules");
    let role = |name: &str| {
        all.iter()
            .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("Role {name}"))
    };
    let lease_role = role("fleetward-leader-election");
    assert_eq!(lease_role["rules"][0]["resources"][0], "leases");
    let secrets_role = role("fleetward-seed-kubeconfigs");
    assert_eq!(secrets_role["metadata"]["namespace"], "fleetward-system");
    assert_eq!(secrets_role["rules"][0]["resources"][0], "secrets");
    assert_eq!(
        secrets_role["rules"][0]["verbs"],
        serde_json::json!(["get", "list", "watch"]),
        "read only"
    );
}

#[test]
fn kustomization_lists_every_manifest() {
    let k = &docs("kustomization.yaml")[0];
    let res: Vec<_> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for f in [
        "namespace.yaml",
        "crds.yaml",
        "rbac.yaml",
        "deployment.yaml",
    ] {
        assert!(res.contains(&f), "{f}");
    }
}
