//! Generated kubeconfigs for the HTTP server: one cluster, one credential-less user, one context.

use std::path::Path;

use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};

const NAME: &str = "fleetward-emulator";

/// A kubeconfig whose current context talks to `server` (an `http://127.0.0.1:PORT` URL).
pub fn for_server(server: &str) -> Kubeconfig {
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: NAME.into(),
            cluster: Some(Cluster {
                server: Some(server.to_string()),
                ..Cluster::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: NAME.into(),
            auth_info: Some(AuthInfo::default()),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: NAME.into(),
            context: Some(Context {
                cluster: NAME.into(),
                user: Some(NAME.into()),
                namespace: Some("default".into()),
                ..Context::default()
            }),
            other: Default::default(),
        }],
        current_context: Some(NAME.into()),
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        ..Kubeconfig::default()
    }
}

/// Writes `cfg` as JSON (valid YAML) to `path`.
pub fn write(cfg: &Kubeconfig, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(cfg).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}
