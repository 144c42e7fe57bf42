//! The operator-control timeline actions (issue 11) write what an operator, GitOps or an alert
//! bridge would: the Tenant's `spec.rollout`, a cluster's `spec.pauseUpgrades`, a
//! RolloutApproval for the tenant's current rollout, a `signal.fleetward.dev/` condition on the
//! cluster's status. These checks read the writes themselves, at the virtual time of each action,
//! so they hold whatever the controller then does with them.

use std::sync::{Arc, Mutex};

use fleetward_sdk::wire::ClusterRef;
use fleetward_simulate::driver::emulated::EmulatedFleet;
use fleetward_simulate::driver::{Driver, DriverError};
use fleetward_simulate::record::Observation;
use fleetward_simulate::run_scenario_with;
use fleetward_simulate::scenario::{Action, Scenario, parse_str};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

const SCENARIO: &str = r#"
name: control
duration: 6h
tenants:
  - name: acme
    policies:
      upgradeOrdering:
        module: builtin:upgrade-ordering
        config: {max_concurrent: 1, bake_minutes: 30}
seeds:
  - {name: eu-1, region: eu-west}
clusters:
  - {tenant: acme, name: "web-{n}", count: 2, version: 1.31.0}
timeline:
  - at: T+10m
    setVersion: {tenant: acme, version: 1.32.0}
  - at: T+20m
    pauseRollout: {tenant: acme, reason: incident INC-7, by: alice}
  - at: T+30m
    pauseCluster: {cluster: web-2}
  - at: T+40m
    signal: {cluster: web-1, name: SLOBurn, firing: true, reason: SLOBurn, message: burn rate 14x}
  - at: T+50m
    approve: {tenant: acme, gate: prod, by: dana, comment: staging looked fine}
  - at: T+1h
    signal: {cluster: web-1, name: SLOBurn, firing: false}
  - at: T+1h10m
    resumeCluster: {cluster: web-2}
  - at: T+1h20m
    resumeRollout: {tenant: acme}
  - at: T+1h30m
    abortRollout: {tenant: acme, by: carol, reason: bad release}
"#;

/// (time, kind, object) of every Tenant and ManagedCluster write, and the RolloutApprovals
/// listed right after each `approve`.
#[derive(Default)]
struct Seen {
    writes: Vec<(i64, String, Value)>,
    approvals: Vec<(i64, Vec<Value>)>,
}

struct Watched {
    inner: EmulatedFleet,
    seen: Arc<Mutex<Seen>>,
    now: i64,
}

fn keep(seen: &Mutex<Seen>, obs: &[Observation]) {
    {
        let mut s = seen.lock().unwrap();
        for o in obs {
            match o {
                Observation::Write { at, kind, object } => {
                    s.writes.push((*at, kind.clone(), object.clone()))
                }
                Observation::TenantWrite { at, object } => {
                    s.writes.push((*at, "Tenant".into(), object.clone()))
                }
                _ => {}
            }
        }
    }
}

impl Driver for Watched {
    async fn setup(&mut self, s: &Scenario) -> Result<(), DriverError> {
        self.inner.setup(s).await
    }
    async fn advance_to(&mut self, at: i64) -> Vec<Observation> {
        let obs = self.inner.advance_to(at).await;
        self.now = at;
        keep(&self.seen, &obs);
        obs
    }
    async fn act(&mut self, a: &Action, affected: &[ClusterRef]) -> Result<(), DriverError> {
        self.inner.act(a, affected).await?;
        if let (Action::Approve { namespace, .. }, Some(client)) = (a, self.inner.client()) {
            let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
                "fleetward.dev",
                "v1alpha1",
                "RolloutApproval",
            ));
            let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &ar);
            let list = api.list(&Default::default()).await.expect("list approvals");
            let items = list
                .items
                .into_iter()
                .map(|o| serde_json::to_value(o).unwrap())
                .collect();
            self.seen.lock().unwrap().approvals.push((self.now, items));
        }
        Ok(())
    }
    async fn shutdown(self) -> Vec<Observation> {
        let seen = self.seen.clone();
        let obs = self.inner.shutdown().await;
        keep(&seen, &obs);
        obs
    }
}

/// The first write of `kind` `name` at or after `t` for which `pred` holds.
fn first_after<'a>(
    seen: &'a Seen,
    kind: &str,
    name: &str,
    t: i64,
    pred: impl Fn(&Value) -> bool,
) -> Option<(i64, &'a Value)> {
    seen.writes
        .iter()
        .filter(|(at, k, o)| *at >= t && k == kind && o["metadata"]["name"] == name)
        .find(|(_, _, o)| pred(o))
        .map(|(at, _, o)| (*at, o))
}

#[test]
fn control_actions_write_what_an_operator_would_at_their_time() {
    let sc = parse_str(SCENARIO, "control.yaml", ".".as_ref()).expect("valid");
    let start = sc.start.0;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s2 = seen.clone();
    let mut log = Vec::new();
    run_scenario_with(&sc, &mut log, false, move |s| Watched {
        inner: EmulatedFleet::new(s),
        seen: s2,
        now: 0,
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&log)));
    let seen = seen.lock().unwrap();
    let m = |min: i64| start + min * 60;

    // Pause: spec.rollout.{paused, pauseReason, pausedBy}, written at T+20m.
    let (at, t) = first_after(&seen, "Tenant", "acme", 0, |o| {
        o["spec"]["rollout"]["paused"] == true
    })
    .expect("the tenant was paused");
    assert_eq!(at, m(20));
    assert_eq!(t["spec"]["rollout"]["pauseReason"], "incident INC-7");
    assert_eq!(t["spec"]["rollout"]["pausedBy"], "alice");

    // Cluster pause and resume: spec.pauseUpgrades.
    let (at, _) = first_after(&seen, "ManagedCluster", "web-2", 0, |o| {
        o["spec"]["pauseUpgrades"] == true
    })
    .expect("web-2 paused");
    assert_eq!(at, m(30));
    let (at, _) = first_after(&seen, "ManagedCluster", "web-2", m(31), |o| {
        o["spec"]["pauseUpgrades"] == false
    })
    .expect("web-2 resumed");
    assert_eq!(at, m(70));

    // Signal: a status condition of the prefixed type, True then False, the controller's own
    // conditions kept in the same write.
    let signal = |o: &Value, status: &str| {
        o["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "signal.fleetward.dev/SLOBurn" && c["status"] == status)
        })
    };
    let before = first_after(&seen, "ManagedCluster", "web-1", 0, |o| {
        o["status"]["conditions"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    })
    .map(|(_, o)| o["status"]["conditions"].as_array().unwrap().len());
    let (at, fired) = first_after(&seen, "ManagedCluster", "web-1", 0, |o| signal(o, "True"))
        .expect("the signal fired");
    assert_eq!(at, m(40));
    let cond = fired["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "signal.fleetward.dev/SLOBurn")
        .unwrap();
    assert_eq!(cond["reason"], "SLOBurn");
    assert_eq!(cond["message"], "burn rate 14x");
    assert_eq!(cond["lastTransitionTime"], "2026-01-05T00:40:00Z");
    if let Some(n) = before {
        assert!(
            fired["status"]["conditions"].as_array().unwrap().len() > n.min(1),
            "the signal write kept the other conditions"
        );
    }
    let (at, _) = first_after(&seen, "ManagedCluster", "web-1", m(41), |o| {
        signal(o, "False")
    })
    .expect("the signal cleared");
    assert_eq!(at, m(60));

    // Approve: one RolloutApproval in the tenant's namespace for the current rollout.
    let (at, approvals) = &seen.approvals[0];
    assert_eq!(*at, m(50));
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    let a = &approvals[0];
    assert_eq!(a["metadata"]["name"], "prod-1");
    assert_eq!(a["metadata"]["namespace"], "tenant-acme");
    assert_eq!(a["spec"]["tenant"], "acme");
    assert_eq!(a["spec"]["gate"], "prod");
    assert_eq!(a["spec"]["rollout"], "1.32.0");
    assert_eq!(a["spec"]["approver"], "dana");
    assert_eq!(a["spec"]["comment"], "staging looked fine");
    assert_eq!(a["metadata"]["creationTimestamp"], "2026-01-05T00:50:00Z");

    // Resume: paused false, who and why removed.
    let (at, t) = first_after(&seen, "Tenant", "acme", m(21), |o| {
        o["spec"]["rollout"]["paused"] == false
    })
    .expect("the tenant resumed");
    assert_eq!(at, m(80));
    assert!(t["spec"]["rollout"].get("pausedBy").is_none(), "{t}");
    assert!(t["spec"]["rollout"].get("pauseReason").is_none(), "{t}");

    // Abort: names the current rollout, who and why.
    let (at, t) = first_after(&seen, "Tenant", "acme", 0, |o| {
        o["spec"]["rollout"].get("abort").is_some()
    })
    .expect("the rollout was aborted");
    assert_eq!(at, m(90));
    assert_eq!(
        t["spec"]["rollout"]["abort"],
        serde_json::json!({"rollout": "1.32.0", "by": "carol", "reason": "bad release"})
    );
}

/// An approval made from another tenant's namespace is refused by the controller (tenants cannot
/// approve for each other): the gate keeps waiting, and the report names only the approver whose
/// approval counted, when it counted.
#[test]
fn an_approval_from_another_tenants_namespace_does_not_open_the_gate() {
    const GATED: &str = r#"
name: gated
duration: 8h
tenants:
  - name: acme
    policies:
      upgradeOrdering:
        module: builtin:upgrade-ordering
        config:
          waves:
            - {name: dev, selector: {match_labels: {env: dev}}}
            - {name: prod, selector: {match_labels: {env: prod}}}
          bake_minutes: 10
          approval_before: [prod]
  - name: globex
seeds:
  - {name: eu-1, region: eu-west}
clusters:
  - {tenant: acme, name: dev-1, version: 1.31.0, labels: {env: dev}}
  - {tenant: acme, name: prod-1, version: 1.31.0, labels: {env: prod}}
  - {tenant: globex, name: web-1, version: 1.31.0}
timeline:
  - at: T+10m
    setVersion: {tenant: acme, version: 1.32.0}
  - at: T+2h
    approve: {tenant: acme, gate: prod, by: mallory, namespace: tenant-globex}
  - at: T+3h
    approve: {tenant: acme, gate: prod, by: dana}
"#;
    let sc = parse_str(GATED, "gated.yaml", ".".as_ref()).expect("valid");
    let t0 = sc.start.0;
    let mut log = Vec::new();
    let rec = fleetward_simulate::run_scenario(&sc, &mut log, false)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&log)));
    assert!(rec.violations.is_empty(), "{:?}", rec.violations);
    let r = &rec.rollouts;
    let by: Vec<&str> = r.approvals.iter().map(|a| a.by.as_str()).collect();
    assert_eq!(by, ["dana"], "{r:#?}");
    assert_eq!(r.approvals[0].approval, "tenant-acme/prod-1");
    let gate = r
        .spans
        .iter()
        .find(|s| s.gate.as_deref() == Some("prod"))
        .expect("prod waited at its gate");
    assert!(gate.start < t0 + 2 * 3600, "{gate:?}");
    assert!(
        (t0 + 3 * 3600..=t0 + 3 * 3600 + 60).contains(&gate.end),
        "the gate opened with dana's approval, not mallory's: {gate:?}"
    );
    let prod = rec
        .clusters
        .iter()
        .find(|c| c.id.name == "prod-1")
        .expect("prod-1");
    assert!(
        prod.completed_at.is_some_and(|t| t > t0 + 3 * 3600),
        "{prod:?}"
    );
}
