//! A failing component: the remediation ladder follows the tenant's policy and the host's rate
//! limits; many unhealthy clusters on one seed are a seed fault.

use std::time::Duration;

use anyhow::Result;
use fleetward_controller::core::provision::{RESTARTED_AT, namespace_name};
use fleetward_controller::core::remediation::RateLimits;
use fleetward_controller::crd::{ConditionStatus, ManagedCluster};
use fleetward_controller::decision::DecisionOutcome;
use fleetward_controller::reconcile::Settings;
use fleetward_sdk::wire::DecisionKind;
use fleetward_tests::logs::LogCapture;
use fleetward_tests::{Backend, Harness, PolicySpec, TenantPolicies};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::json;

fn actions(c: &ManagedCluster) -> Vec<String> {
    c.status
        .as_ref()
        .map(|s| {
            s.remediation_history
                .iter()
                .map(|h| {
                    format!(
                        "{} {}",
                        h.component,
                        serde_json::to_string(&h.action).unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn remediating_reason(c: &ManagedCluster) -> Option<String> {
    c.status
        .as_ref()?
        .conditions
        .iter()
        .find(|x| x.type_ == "Remediating")
        .map(|x| x.reason.clone())
}

#[tokio::test(start_paused = true)]
async fn ladder_follows_policy_and_rate_limits() -> Result<()> {
    crate::init_tracing();
    let logs = LogCapture::start("fleetward_controller=info");
    let settings = Settings {
        remediation_limits: RateLimits {
            per_tenant: 1,
            ..RateLimits::default()
        },
        ..Settings::default()
    };
    let mut h = Harness::with_settings(settings).await?;
    for i in 0..3 {
        h.seed(&format!("seed-{i}"), "eu-west", 10).await?;
    }
    let ladder = json!({"grace_minutes": 2, "max_restarts": 1, "backoff_base_minutes": 1, "max_actions_per_hour": 5});
    h.tenant(
        "acme",
        TenantPolicies {
            remediation: Some(PolicySpec::file(
                fleetward_test_policies::REMEDIATION,
                ladder,
            )),
            ..Default::default()
        },
    )
    .await?;
    // globex: built-in remediation; the host allows it one action per 10 minutes (per tenant).
    h.tenant("globex", TenantPolicies::default()).await?;
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;
    h.cluster("globex", "g1", "1.31.0", json!({})).await?;
    h.cluster("globex", "g2", "1.31.0", json!({})).await?;
    h.start_controller();
    h.wait_all_at("1.31.0", 3, Duration::from_secs(1800))
        .await?;
    h.infra
        .break_workload(&namespace_name("acme", "tenant-acme", "a1"), "etcd");
    h.infra.break_workload(
        &namespace_name("globex", "tenant-globex", "g1"),
        "kube-scheduler",
    );
    h.infra.break_workload(
        &namespace_name("globex", "tenant-globex", "g2"),
        "kube-scheduler",
    );

    // acme: grace, then one restart, then escalation (upgrades paused), per its policy.
    let a1 = h
        .wait_for("acme escalated", Duration::from_secs(3600), || async {
            let c = h.clusters_in("acme").get("a1").await?;
            Ok(c.status
                .as_ref()
                .is_some_and(|s| s.upgrades_paused)
                .then_some(c))
        })
        .await?;
    let done = actions(&a1);
    assert_eq!(done.len(), 2, "{done:?}");
    assert_eq!(
        done[0],
        r#"control-plane/etcd {"action":"restart_component","component":"etcd"}"#
    );
    assert!(
        done[1].starts_with(r#"control-plane/etcd {"action":"pause_upgrades_and_escalate""#),
        "{done:?}"
    );
    let d = h.decisions();
    let acme: Vec<_> = d
        .iter()
        .filter(|r| r.tenant == "acme" && r.kind == DecisionKind::Remediation)
        .collect();
    assert!(acme.iter().all(|r| r.digest.starts_with("sha256:")));
    // Each action taken is one INFO line naming tenant, cluster, problem, action and why.
    assert!(
        logs.has(
            "INFO",
            &[
                "remediation:",
                "tenant=acme",
                "cluster=tenant-acme/a1",
                "problem=control-plane/etcd",
                "action=restart etcd",
            ]
        ),
        "{}",
        logs.lines().join("\n")
    );
    assert!(
        logs.has(
            "INFO",
            &["remediation:", "cluster=tenant-acme/a1", "action=escalate"]
        ),
        "{}",
        logs.lines().join("\n")
    );
    // The policy waited out its grace first (never acted on a fresh problem).
    assert!(
        acme[0].output_json.contains(r#""action":"wait""#),
        "{}",
        acme[0].output_json
    );

    // globex: one restart allowed by the tenant rate limit, the other cluster is vetoed.
    h.wait_for("globex rate limited", Duration::from_secs(600), || async {
        let d = h.decisions();
        Ok(d.iter()
            .any(|r| {
                r.tenant == "globex"
                    && r.outcome
                        == DecisionOutcome::Vetoed {
                            invariant: "RateLimited".into(),
                        }
            })
            .then_some(()))
    })
    .await?;
    let g: Vec<_> = [
        h.clusters_in("globex").get("g1").await?,
        h.clusters_in("globex").get("g2").await?,
    ]
    .into();
    let restarted: Vec<_> = g.iter().filter(|c| !actions(c).is_empty()).collect();
    assert_eq!(
        restarted.len(),
        1,
        "exactly one restart within the tenant limit"
    );
    assert!(
        g.iter()
            .any(|c| remediating_reason(c).as_deref() == Some("RateLimited"))
    );
    // The veto is announced on the cluster it concerns, as a Warning, before it is recorded.
    let vetoed = g.iter().find(|c| actions(c).is_empty()).unwrap();
    let events: Api<Event> = Api::all(h.client.clone());
    let notes: Vec<_> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some("DecisionVetoed")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref())
                    == Some(vetoed.name_any().as_str())
        })
        .map(|e| (e.type_, e.note.unwrap_or_default()))
        .collect();
    assert!(
        !notes.is_empty(),
        "no DecisionVetoed Event for {}",
        vetoed.name_any()
    );
    for (type_, note) in &notes {
        assert_eq!(type_.as_deref(), Some("Warning"));
        assert!(note.starts_with("remediation: "), "{note}");
    }

    // Escalated and still unhealthy: the host re-asks at most once per unhealthy threshold
    // (60 s), not on every reconcile (a past due time once meant a requeue every second).
    let asked = |h: &Harness| {
        h.decisions()
            .iter()
            .filter(|r| r.tenant == "acme" && r.kind == DecisionKind::Remediation)
            .count()
    };
    let before = asked(&h);
    let window = Duration::from_secs(1800);
    tokio::time::sleep(window).await;
    let reasks = asked(&h) - before;
    assert!(
        reasks >= 1 && reasks <= (window.as_secs() / 60 + 1) as usize,
        "{reasks} remediation asks in {window:?} after escalation"
    );
    h.stop_controller().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn many_unhealthy_clusters_on_one_seed_is_a_seed_fault() -> Result<()> {
    crate::init_tracing();
    let mut h = Harness::new().await?;
    h.seed("only", "eu-west", 10).await?;
    h.tenant("acme", TenantPolicies::default()).await?;
    for i in 0..3 {
        h.cluster("acme", &format!("a{i}"), "1.31.0", json!({}))
            .await?;
    }
    h.start_controller();
    h.wait_all_at("1.31.0", 3, Duration::from_secs(1800))
        .await?;
    for i in 0..3 {
        h.infra.break_workload(
            &namespace_name("acme", "tenant-acme", &format!("a{i}")),
            "kube-apiserver",
        );
    }
    let all = h
        .wait_for(
            "seed fault on every cluster",
            Duration::from_secs(900),
            || async {
                let all = h.all_clusters().await?;
                Ok(all
                    .iter()
                    .all(|c| remediating_reason(c).as_deref() == Some("SeedFault"))
                    .then_some(all))
            },
        )
        .await?;
    // Let the threshold pass several times: still no per-cluster action.
    tokio::time::sleep(Duration::from_secs(600)).await;
    for c in h.all_clusters().await? {
        assert!(
            actions(&c).is_empty(),
            "no per-cluster remediation during a seed fault: {:?}",
            actions(&c)
        );
    }
    assert_eq!(all.len(), 3);
    let seed = kube::Api::<fleetward_controller::crd::Seed>::all(h.client.clone())
        .get("only")
        .await?;
    let fault = seed
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "SeedFault")
        .unwrap();
    assert_eq!(fault.status, ConditionStatus::True);
    h.stop_controller().await;
    Ok(())
}

crate::on_both_backends!(remediation_acts_on_injected_conditions);

/// Unhealthy status written through the API (the fake infrastructure's injected faults) drives
/// remediation end to end, on the emulator and on the real API server: acme's ladder restarts a
/// failing etcd once (a pod-template annotation on its StatefulSet), then pauses upgrades and
/// escalates; globex's failed Machine is deleted by the built-in and replaced by a healthy one.
async fn remediation_acts_on_injected_conditions(backend: Backend) -> Result<()> {
    crate::init_tracing();
    // The host asks after 2 s of unhealthiness instead of 60 s, so this runs in real time.
    let settings = Settings {
        unhealthy_threshold: Duration::from_secs(2),
        ..Settings::default()
    };
    let Some(mut h) =
        Harness::on_with_settings(backend, "remediation_acts_on_injected_conditions", settings)
            .await?
    else {
        return Ok(());
    };
    h.seed("seed-0", "eu-west", 10).await?;
    let ladder = json!({"grace_minutes": 0, "max_restarts": 1, "backoff_base_minutes": 0,
        "backoff_max_minutes": 0, "escalate_after_minutes": null, "max_actions_per_hour": 5});
    h.tenant(
        "acme",
        TenantPolicies {
            remediation: Some(PolicySpec::file(
                fleetward_test_policies::REMEDIATION,
                ladder,
            )),
            ..Default::default()
        },
    )
    .await?;
    h.tenant("globex", TenantPolicies::default()).await?;
    h.cluster("acme", "a1", "1.31.0", json!({})).await?;
    h.cluster("globex", "g1", "1.31.0", json!({})).await?;
    h.start_controller();
    let budget = if backend.has_virtual_time() {
        Duration::from_secs(3600)
    } else {
        Duration::from_secs(90)
    };
    h.wait_all_at("1.31.0", 2, budget).await?;
    let a1_ns = namespace_name("acme", "tenant-acme", "a1");
    let g1_ns = namespace_name("globex", "tenant-globex", "g1");
    let machines: Api<DynamicObject> = Api::namespaced_with(
        h.client.clone(),
        &g1_ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "cluster.x-k8s.io",
            "v1beta1",
            "Machine",
        )),
    );
    let before = machines.list(&ListParams::default()).await?.items;
    assert_eq!(before.len(), 2, "g1's pool has two Machines");
    let failed = before[0].name_any();
    h.infra.break_workload(&a1_ns, "etcd");
    h.infra.break_machine(&g1_ns, &failed);

    let a1 = h
        .wait_for("acme escalated", budget, || async {
            let c = h.clusters_in("acme").get("a1").await?;
            Ok(c.status
                .as_ref()
                .is_some_and(|s| s.upgrades_paused)
                .then_some(c))
        })
        .await?;
    let done = actions(&a1);
    assert_eq!(done.len(), 2, "{done:?}");
    assert_eq!(
        done[0],
        r#"control-plane/etcd {"action":"restart_component","component":"etcd"}"#
    );
    assert!(
        done[1].starts_with(r#"control-plane/etcd {"action":"pause_upgrades_and_escalate""#),
        "{done:?}"
    );
    let etcd = Api::<StatefulSet>::namespaced(h.client.clone(), &a1_ns)
        .get("etcd")
        .await?;
    let restarted = etcd
        .spec
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.annotations)
        .and_then(|a| a.get(RESTARTED_AT).cloned());
    assert!(
        restarted.is_some(),
        "the restart is a pod-template annotation on etcd"
    );

    // globex: the failed Machine is gone, a healthy replacement keeps the pool at two.
    let g1 = h
        .wait_for("globex's machine recreated", budget, || async {
            let names: Vec<String> = machines
                .list(&ListParams::default())
                .await?
                .items
                .iter()
                .map(ResourceExt::name_any)
                .collect();
            let c = h.clusters_in("globex").get("g1").await?;
            let nodes_ready = c.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|x| x.type_ == "NodesReady" && x.status == ConditionStatus::True)
            });
            Ok((names.len() == 2 && !names.contains(&failed) && nodes_ready).then_some(c))
        })
        .await?;
    let done = actions(&g1);
    assert_eq!(
        done,
        [format!(
            r#"machine/workers/{failed} {{"action":"recreate_machine","machine":"{failed}"}}"#
        )],
        "one recreate by the built-in"
    );
    let d = h.decisions();
    assert!(
        d.iter()
            .filter(|r| r.tenant == "acme" && r.kind == DecisionKind::Remediation)
            .all(|r| r.digest.starts_with("sha256:"))
    );
    assert!(d.iter().any(|r| r.tenant == "globex"
        && r.kind == DecisionKind::Remediation
        && r.digest == "builtin"));
    let violations = h.violations()?;
    assert!(
        violations.is_empty(),
        "invariant violations on writes: {violations:#?}"
    );
    h.stop_controller().await;
    Ok(())
}
