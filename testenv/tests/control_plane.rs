//! The test control plane itself: a real API server answers, authenticates identities by client
//! certificate, authorises them by RBAC, audits them, and deletes namespaces through
//! kube-controller-manager.

use std::time::Duration;

use fleetward_testenv::{Identity, TestCluster};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn api_server_authenticates_authorises_and_audits() -> anyhow::Result<()> {
    let Some(cluster) =
        TestCluster::start_or_skip("api_server_authenticates_authorises_and_audits").await?
    else {
        return Ok(());
    };
    let admin = cluster.client(&Identity::admin()).await?;
    let version = admin.apiserver_version().await?;
    assert_eq!(version.minor, "37", "{version:?}");

    let nobody = cluster.client(&Identity::user("nobody")).await?;
    let err = Api::<Namespace>::all(nobody)
        .list(&ListParams::default())
        .await
        .expect_err("RBAC grants nobody nothing");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403, "{s:?}");
            assert!(s.message.contains("User \"nobody\""), "{}", s.message);
        }
        other => panic!("expected 403, got {other}"),
    }
    let events = cluster.server().audit_events()?;
    assert!(
        events.iter().any(|e| e.user.username == "nobody"
            && e.verb == "list"
            && e.code() == Some(403)
            && e.rbac_resource() == Some((String::new(), "namespaces".into()))),
        "the audit log records the refused list"
    );
    Ok(())
}

#[tokio::test]
async fn namespace_deletion_completes_with_the_controller_manager() -> anyhow::Result<()> {
    let Some(mut cluster) =
        TestCluster::start_or_skip("namespace_deletion_completes_with_the_controller_manager")
            .await?
    else {
        return Ok(());
    };
    cluster
        .start_controller_manager(&["namespace", "garbagecollector"])
        .await?;
    let admin = cluster.client(&Identity::admin()).await?;
    let ns: Api<Namespace> = Api::all(admin);
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "doomed"}}))?,
    )
    .await?;
    ns.delete("doomed", &DeleteParams::default()).await?;
    // Bounded wait on an observable condition: the namespace controller removes the finalizer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match ns.get_opt("doomed").await? {
            None => break,
            Some(_) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!(
                    "namespace doomed still exists after 60 s; kube-controller-manager log:\n{}",
                    cluster.controller_manager_log_tail(30)
                )
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    Ok(())
}

#[tokio::test]
async fn two_api_servers_over_one_etcd_are_separate_clusters() -> anyhow::Result<()> {
    let Some(a) =
        TestCluster::start_or_skip("two_api_servers_over_one_etcd_are_separate_clusters").await?
    else {
        return Ok(());
    };
    let b = TestCluster::start_with(a.binary().to_path_buf()).await?;
    assert_ne!(a.server().etcd_prefix(), b.server().etcd_prefix());
    let na: Api<Namespace> = Api::all(a.client(&Identity::admin()).await?);
    let nb: Api<Namespace> = Api::all(b.client(&Identity::admin()).await?);
    na.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "only-in-a"}}))?,
    )
    .await?;
    assert!(na.get_opt("only-in-a").await?.is_some());
    assert!(nb.get_opt("only-in-a").await?.is_none());
    // Stopping one leaves the other serving.
    let pid_dir = a.server().dir().to_path_buf();
    drop(a);
    assert!(
        !pid_dir.exists(),
        "the stopped server's directory is removed"
    );
    assert!(nb.list(&ListParams::default()).await.is_ok());
    Ok(())
}
