//! The same controller against a real cluster, when `KUBECONFIG` is set.

#[tokio::test]
async fn real_cluster_smoke() {
    if std::env::var_os("KUBECONFIG").is_none() {
        // Straight to the process's stderr: libtest captures `eprintln!` of passing tests, and a
        // skip nobody sees is a silent one.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED real_cluster_smoke: KUBECONFIG is not set; the end-to-end suite ran only against the emulator ***\n"
        );
        return;
    }
    let client = kube::Client::try_default()
        .await
        .expect("client from KUBECONFIG");
    // Installing CRDs and running the controller needs cluster-admin; here we only check that the
    // generated CRDs are accepted by a real API server (dry run).
    let api: kube::Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = kube::Api::all(client);
    let pp = kube::api::PostParams {
        dry_run: true,
        ..Default::default()
    };
    for crd in fleetward_controller::crd::crds() {
        match api.create(&pp, &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!(
                "the real API server rejected {}: {e}",
                crd.metadata.name.unwrap_or_default()
            ),
        }
    }
}
