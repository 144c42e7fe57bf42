//! From a seed's kubeconfig (the bytes of its Secret) to a `kube::Client`.
//!
//! A kubeconfig in a Secret is input from whoever can write that Secret, and a kubeconfig can
//! name files to read (`client-certificate`, `tokenFile`, …) and commands to run (`exec`,
//! `auth-provider`). The controller must not read its own filesystem or run programs on a
//! Secret author's behalf, so [`SeedKubeconfig::parse`] accepts only self-contained
//! kubeconfigs (inline certificate data and tokens) and says which field to inline otherwise.
//!
//! [`SeedConnector`] turns an accepted kubeconfig into a client. [`KubeconfigConnector`] is the
//! production one (TLS and HTTP through kube's own client stack); [`InProcessConnector`] maps a
//! kubeconfig's server URL to an already-built client, so tests and `fleetward simulate` can give
//! each seed its own in-process emulator on a paused clock while the Secret, its parsing and
//! its errors stay the real ones.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// A kubeconfig that passed [`SeedKubeconfig::parse`]: self-contained, one current context.
#[derive(Clone)]
pub struct SeedKubeconfig {
    /// The parsed kubeconfig.
    pub kubeconfig: Kubeconfig,
    /// The current context's server URL (what [`InProcessConnector`] looks up).
    pub server: String,
}

impl fmt::Debug for SeedKubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print credentials.
        f.debug_struct("SeedKubeconfig")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Why a seed's kubeconfig cannot be used (the message says what to change).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeconfigProblem {
    /// Not YAML/JSON of a kubeconfig.
    #[error("not a kubeconfig: {0}")]
    Unparsable(String),
    /// No usable current context, cluster or server.
    #[error("{0}")]
    Incomplete(String),
    /// Names a file or a program; only inline data is accepted.
    #[error(
        "{field} is not allowed in a seed kubeconfig: the controller does not read files or run programs for a Secret; inline the credential ({hint})"
    )]
    NotSelfContained {
        /// The offending field.
        field: String,
        /// What to use instead.
        hint: &'static str,
    },
}

impl SeedKubeconfig {
    /// Parses and checks a kubeconfig from a Secret's data.
    ///
    /// # Errors
    /// A [`KubeconfigProblem`] naming what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<SeedKubeconfig, KubeconfigProblem> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| KubeconfigProblem::Unparsable("not UTF-8 text".into()))?;
        let kubeconfig = Kubeconfig::from_yaml(text)
            .map_err(|e| KubeconfigProblem::Unparsable(one_line(&e.to_string())))?;
        let context_name = kubeconfig.current_context.clone().or_else(|| {
            (kubeconfig.contexts.len() == 1).then(|| kubeconfig.contexts[0].name.clone())
        });
        let Some(context_name) = context_name else {
            return Err(KubeconfigProblem::Incomplete(
                "no current-context (and not exactly one context)".into(),
            ));
        };
        let Some(context) = kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.clone())
        else {
            return Err(KubeconfigProblem::Incomplete(format!(
                "current-context {context_name:?} is not among the contexts"
            )));
        };
        let Some(cluster) = kubeconfig
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .and_then(|c| c.cluster.clone())
        else {
            return Err(KubeconfigProblem::Incomplete(format!(
                "cluster {:?} of context {context_name:?} is not among the clusters",
                context.cluster
            )));
        };
        let Some(server) = cluster.server.clone().filter(|s| !s.is_empty()) else {
            return Err(KubeconfigProblem::Incomplete(format!(
                "cluster {:?} has no server URL",
                context.cluster
            )));
        };
        let not_inline = |field: &str, hint| {
            Err(KubeconfigProblem::NotSelfContained {
                field: field.to_string(),
                hint,
            })
        };
        if cluster.certificate_authority.is_some() {
            return not_inline(
                "clusters[].cluster.certificate-authority",
                "certificate-authority-data",
            );
        }
        if let Some(user_name) = &context.user {
            let user = kubeconfig
                .auth_infos
                .iter()
                .find(|a| &a.name == user_name)
                .and_then(|a| a.auth_info.clone());
            let Some(user) = user else {
                return Err(KubeconfigProblem::Incomplete(format!(
                    "user {user_name:?} of context {context_name:?} is not among the users"
                )));
            };
            if user.exec.is_some() {
                return not_inline("users[].user.exec", "a token or client-certificate-data");
            }
            if user.auth_provider.is_some() {
                return not_inline(
                    "users[].user.auth-provider",
                    "a token or client-certificate-data",
                );
            }
            if user.client_certificate.is_some() {
                return not_inline("users[].user.client-certificate", "client-certificate-data");
            }
            if user.client_key.is_some() {
                return not_inline("users[].user.client-key", "client-key-data");
            }
            if user.token_file.is_some() {
                return not_inline("users[].user.tokenFile", "token");
            }
        }
        Ok(SeedKubeconfig { kubeconfig, server })
    }
}

/// The first line of a message, bounded: condition messages stay one readable line.
pub(crate) fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    let mut out: String = line.chars().take(300).collect();
    if line.chars().count() > 300 || s.lines().nth(1).is_some() {
        out.push('…');
    }
    out
}

/// Why building a client from an accepted kubeconfig failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(pub String);

/// Builds a seed's client from its kubeconfig. Called when a seed is first seen and whenever its
/// Secret changes; the client is then used for every request to that seed.
pub trait SeedConnector: Send + Sync + fmt::Debug {
    /// A client for the kubeconfig's current context. Must not contact the server: reachability
    /// and authorisation are probed afterwards, with the controller's per-seed timeout.
    fn connect<'a>(
        &'a self,
        kubeconfig: &'a SeedKubeconfig,
    ) -> BoxFuture<'a, Result<Client, ConnectError>>;
}

/// The production connector: kube's client stack (rustls) from the kubeconfig, with connect and
/// read timeouts so a dead seed fails a request instead of holding it.
#[derive(Debug, Clone)]
pub struct KubeconfigConnector {
    /// TCP/TLS connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Read timeout per response chunk (default 295 s, kube's default, which watches need).
    pub read_timeout: Duration,
}

impl Default for KubeconfigConnector {
    fn default() -> Self {
        KubeconfigConnector {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(295),
        }
    }
}

impl SeedConnector for KubeconfigConnector {
    fn connect<'a>(
        &'a self,
        kubeconfig: &'a SeedKubeconfig,
    ) -> BoxFuture<'a, Result<Client, ConnectError>> {
        Box::pin(async move {
            let mut config = kube::Config::from_custom_kubeconfig(
                kubeconfig.kubeconfig.clone(),
                &KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| ConnectError(one_line(&e.to_string())))?;
            config.connect_timeout = Some(self.connect_timeout);
            config.read_timeout = Some(self.read_timeout);
            Client::try_from(config).map_err(|e| ConnectError(one_line(&e.to_string())))
        })
    }
}

/// A connector over clients built in-process, looked up by the kubeconfig's server URL (tests
/// and simulation: each seed an in-process emulator). An unknown URL gets a client whose every
/// request is refused, as with a host nothing listens on: building a client never contacts the
/// server, so the seed's probe reports it `SeedUnreachable`, exactly as in production.
#[derive(Clone, Default)]
pub struct InProcessConnector {
    servers: BTreeMap<String, Client>,
}

impl fmt::Debug for InProcessConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessConnector")
            .field("servers", &self.servers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl InProcessConnector {
    /// An empty connector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `server` (a kubeconfig's `clusters[].cluster.server`) with `client`.
    pub fn with(mut self, server: impl Into<String>, client: Client) -> Self {
        self.servers.insert(server.into(), client);
        self
    }

    /// Adds a server in place.
    pub fn insert(&mut self, server: impl Into<String>, client: Client) {
        self.servers.insert(server.into(), client);
    }
}

impl SeedConnector for InProcessConnector {
    fn connect<'a>(
        &'a self,
        kubeconfig: &'a SeedKubeconfig,
    ) -> BoxFuture<'a, Result<Client, ConnectError>> {
        Box::pin(async move {
            Ok(match self.servers.get(&kubeconfig.server) {
                Some(client) => client.clone(),
                None => Client::new(
                    NothingListens {
                        server: kubeconfig.server.clone(),
                    },
                    "default",
                ),
            })
        })
    }
}

/// A transport refusing every request: the in-process stand-in for a server URL nothing
/// answers at.
#[derive(Clone, Debug)]
struct NothingListens {
    server: String,
}

impl<B> tower::Service<http::Request<B>> for NothingListens {
    type Response = http::Response<http_body_util::Empty<bytes::Bytes>>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: http::Request<B>) -> Self::Future {
        std::future::ready(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            format!("connection refused: nothing serves {}", self.server),
        )))
    }
}

/// A minimal self-contained kubeconfig for `server` with a bearer token (tests, simulation and
/// `fleetward emulator --seeds`, whose servers need no credentials; the token is not checked).
pub fn token_kubeconfig(name: &str, server: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: {name}\nclusters:\n- name: {name}\n  cluster:\n    server: {server}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\nusers:\n- name: {name}\n  user:\n    token: {token}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_contained_kubeconfig_is_accepted() {
        let k = SeedKubeconfig::parse(
            token_kubeconfig("eu-1", "https://eu-1.example:6443", "t").as_bytes(),
        )
        .expect("valid");
        assert_eq!(k.server, "https://eu-1.example:6443");
        assert!(
            !format!("{k:?}").contains("token"),
            "Debug hides credentials"
        );
    }

    #[test]
    fn files_and_programs_are_refused_by_field() {
        let base = token_kubeconfig("s", "https://s:6443", "t");
        let exec = base.replace(
            "    token: t\n",
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n",
        );
        let err = SeedKubeconfig::parse(exec.as_bytes()).expect_err("exec refused");
        assert!(
            err.to_string()
                .starts_with("users[].user.exec is not allowed"),
            "{err}"
        );
        let file = base.replace("    token: t\n", "    client-certificate: /etc/passwd\n");
        let err = SeedKubeconfig::parse(file.as_bytes()).expect_err("file refused");
        assert!(err.to_string().contains("client-certificate-data"), "{err}");
        let ca = base.replace(
            "    server: https://s:6443\n",
            "    server: https://s:6443\n    certificate-authority: /ca.crt\n",
        );
        assert!(matches!(
            SeedKubeconfig::parse(ca.as_bytes()),
            Err(KubeconfigProblem::NotSelfContained { .. })
        ));
    }

    #[test]
    fn broken_kubeconfigs_say_what_is_missing() {
        assert!(matches!(
            SeedKubeconfig::parse(b"\xff\xfe"),
            Err(KubeconfigProblem::Unparsable(_))
        ));
        assert!(matches!(
            SeedKubeconfig::parse(b"clusters: 7"),
            Err(KubeconfigProblem::Unparsable(_))
        ));
        let no_server = token_kubeconfig("s", "https://s", "t").replace(
            "    server: https://s\n",
            "    insecure-skip-tls-verify: true\n",
        );
        let err = SeedKubeconfig::parse(no_server.as_bytes()).expect_err("no server");
        assert_eq!(err.to_string(), "cluster \"s\" has no server URL");
        let wrong_ctx = token_kubeconfig("s", "https://s", "t")
            .replace("current-context: s", "current-context: other");
        let err = SeedKubeconfig::parse(wrong_ctx.as_bytes()).expect_err("bad context");
        assert!(err.to_string().contains("\"other\""), "{err}");
    }

    #[test]
    fn messages_stay_one_bounded_line() {
        assert_eq!(one_line("a\nb"), "a…");
        assert_eq!(one_line(&"x".repeat(400)).chars().count(), 301);
    }

    #[tokio::test]
    async fn an_unknown_in_process_server_is_unreachable_not_invalid() {
        let k = SeedKubeconfig::parse(
            token_kubeconfig("gone", "https://gone.test:6443", "t").as_bytes(),
        )
        .expect("valid");
        let client = InProcessConnector::new()
            .connect(&k)
            .await
            .expect("building a client never contacts the server");
        let err = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client)
            .list(&Default::default())
            .await
            .expect_err("nothing serves it");
        let problem = crate::core::seeds::classify(&err).expect("a seed-level problem");
        assert_eq!(problem.reason(), "SeedUnreachable", "{problem}");
        assert!(
            problem.to_string().contains("https://gone.test:6443"),
            "{problem}"
        );
    }
}
