//! What a seed's API server answers means for the seed: reachable, unreachable, refusing our
//! credentials — and the `Ready` condition that tells the operator what to do about it.
//!
//! Pure: the shell (`reconcile/seed.rs`, `seeds/`) feeds in API errors and what it found of the
//! seed's kubeconfig Secret; this module classifies and words them. A classified problem is
//! about the seed, never about one of its clusters: remediation does not count it as a cluster
//! failure, placement skips the seed, no upgrade step starts there.

use std::fmt;

use crate::crd::ConditionStatus;

/// Why a seed cannot be used right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedProblem {
    /// The kubeconfig Secret does not exist.
    SecretNotFound {
        /// `namespace/name`.
        secret: String,
    },
    /// The Seed names a Secret outside the one namespace the controller reads Secrets in.
    SecretNamespaceNotAllowed {
        /// `namespace/name`.
        secret: String,
        /// The namespace seed kubeconfig Secrets must be in.
        allowed: String,
    },
    /// The Secret exists but its kubeconfig is missing, unparsable or not self-contained, or a
    /// client cannot be built from it.
    KubeconfigInvalid {
        /// What is wrong (one line).
        message: String,
    },
    /// No answer: connection refused or reset, DNS, TLS, timeout, or 5xx/429 from the server.
    Unreachable {
        /// What failed (one line).
        message: String,
    },
    /// 401: the credentials are not accepted.
    Unauthorized {
        /// The server's message.
        message: String,
    },
    /// 403: authenticated but not allowed what Fleetward needs.
    Forbidden {
        /// The server's message.
        message: String,
    },
    /// The kubeconfig now points at another API server than the one the seed's clusters live on.
    ServerChanged {
        /// Where the clusters are.
        was: String,
        /// Where the Secret points now.
        now: String,
        /// How many clusters are placed on the seed.
        clusters: u32,
    },
}

impl SeedProblem {
    /// The `Ready` condition's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SeedProblem::SecretNotFound { .. } => "KubeconfigSecretNotFound",
            SeedProblem::SecretNamespaceNotAllowed { .. } => "KubeconfigSecretNamespaceNotAllowed",
            SeedProblem::KubeconfigInvalid { .. } => "KubeconfigInvalid",
            SeedProblem::Unreachable { .. } => "SeedUnreachable",
            SeedProblem::Unauthorized { .. } => "SeedUnauthorized",
            SeedProblem::Forbidden { .. } => "SeedForbidden",
            SeedProblem::ServerChanged { .. } => "SeedServerChanged",
        }
    }
}

impl fmt::Display for SeedProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedProblem::SecretNotFound { secret } => write!(
                f,
                "kubeconfig Secret {secret} not found: create it in the management cluster with the seed's kubeconfig under the key the Seed names (default `kubeconfig`); see docs/operating.md, Onboarding a seed"
            ),
            SeedProblem::SecretNamespaceNotAllowed { secret, allowed } => write!(
                f,
                "kubeconfig Secret {secret} is outside namespace {allowed}, the only namespace whose Secrets the controller reads (its --namespace); move the Secret to {allowed} and point the Seed's location.kubeconfigSecret at it"
            ),
            SeedProblem::KubeconfigInvalid { message } => write!(
                f,
                "the seed's kubeconfig cannot be used: {message}; fix the Secret (the controller picks the change up without a restart)"
            ),
            SeedProblem::Unreachable { message } => write!(
                f,
                "the seed's API server does not answer: {message}; clusters on this seed keep their state and resume when it answers again"
            ),
            SeedProblem::Unauthorized { message } => write!(
                f,
                "the seed's API server rejects the kubeconfig's credentials (401: {message}); issue a new token or certificate and update the Secret"
            ),
            SeedProblem::Forbidden { message } => write!(
                f,
                "the seed's API server forbids what Fleetward needs (403: {message}); apply deploy/seed/rbac.yaml on the seed and bind it to the kubeconfig's identity"
            ),
            SeedProblem::ServerChanged { was, now, clusters } => write!(
                f,
                "the kubeconfig now points at {now}, but this seed's {clusters} cluster(s) live on {was}; a cluster's seed never moves silently: restore the Secret, or delete the clusters first"
            ),
        }
    }
}

/// A seed-level problem in an API error, or `None` when the error is about the request (404,
/// 409, 422, …) and says nothing about the seed.
pub fn classify(err: &kube::Error) -> Option<SeedProblem> {
    match err {
        kube::Error::Api(s) => match s.code {
            401 => Some(SeedProblem::Unauthorized {
                message: one_line(&s.message),
            }),
            403 => Some(SeedProblem::Forbidden {
                message: one_line(&s.message),
            }),
            429 | 500.. => Some(SeedProblem::Unreachable {
                message: format!("HTTP {}: {}", s.code, one_line(&s.message)),
            }),
            _ => None,
        },
        other => Some(SeedProblem::Unreachable {
            message: one_line(&error_chain(other)),
        }),
    }
}

/// An error with its causes, `: `-joined (transport errors hide the useful part in a source).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut src = err.source();
    while let Some(e) = src {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        src = e.source();
    }
    out
}

fn one_line(s: &str) -> String {
    crate::seeds::connect::one_line(s)
}

/// The seed's `Ready` condition: the first of unschedulable, a bad version range, or a problem
/// reaching it; otherwise ready.
pub fn ready_condition(
    unschedulable: bool,
    bad_versions: Option<String>,
    problem: Option<&SeedProblem>,
) -> (ConditionStatus, &'static str, String) {
    if let Some(p) = problem {
        return (ConditionStatus::False, p.reason(), p.to_string());
    }
    if unschedulable {
        return (
            ConditionStatus::False,
            "Unschedulable",
            "spec.unschedulable is set".to_string(),
        );
    }
    if let Some(range) = bad_versions {
        return (
            ConditionStatus::False,
            "InvalidVersionRange",
            format!("{range} is not a version range"),
        );
    }
    (ConditionStatus::True, "Ready", String::new())
}

/// Whether a kubeconfig pointing at `now` may replace the seed's recorded server `was`.
///
/// # Errors
/// [`SeedProblem::ServerChanged`] when clusters live on the old server.
pub fn check_server(was: Option<&str>, now: &str, clusters: u32) -> Result<(), SeedProblem> {
    match was {
        Some(was) if was != now && clusters > 0 => Err(SeedProblem::ServerChanged {
            was: was.to_string(),
            now: now.to_string(),
            clusters,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure(&format!("m{code}\nsecond line"), "R").with_code(code),
        ))
    }

    #[test]
    fn api_errors_about_the_request_are_not_seed_problems() {
        for code in [400, 404, 409, 410, 422] {
            assert_eq!(classify(&api(code)), None, "{code}");
        }
    }

    #[test]
    fn credentials_authorisation_and_outages_are_told_apart() {
        assert_eq!(
            classify(&api(401)).map(|p| p.reason()),
            Some("SeedUnauthorized")
        );
        assert_eq!(
            classify(&api(403)).map(|p| p.reason()),
            Some("SeedForbidden")
        );
        for code in [429, 500, 503, 504] {
            assert_eq!(
                classify(&api(code)).map(|p| p.reason()),
                Some("SeedUnreachable")
            );
        }
        let refused = kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        )));
        let p = classify(&refused).expect("transport error");
        assert_eq!(p.reason(), "SeedUnreachable");
        assert!(p.to_string().contains("connection refused"), "{p}");
        assert!(!p.to_string().contains('\n'));
        let msg = classify(&api(401)).expect("401").to_string();
        assert!(
            msg.contains("m401…") && msg.contains("update the Secret"),
            "{msg}"
        );
    }

    #[test]
    fn the_ready_condition_names_the_first_problem() {
        let p = SeedProblem::SecretNotFound {
            secret: "fleetward-system/eu-1".into(),
        };
        let (s, r, m) = ready_condition(true, None, Some(&p));
        assert_eq!((s, r), (ConditionStatus::False, "KubeconfigSecretNotFound"));
        assert!(m.contains("fleetward-system/eu-1") && m.contains("Onboarding a seed"));
        assert_eq!(ready_condition(true, None, None).1, "Unschedulable");
        assert_eq!(
            ready_condition(false, Some("1.x..2".into()), None).1,
            "InvalidVersionRange"
        );
        assert_eq!(ready_condition(false, None, None).0, ConditionStatus::True);
    }

    #[test]
    fn a_seed_with_clusters_never_moves_to_another_server() {
        assert!(check_server(None, "https://a", 5).is_ok());
        assert!(check_server(Some("https://a"), "https://a", 5).is_ok());
        assert!(check_server(Some("https://a"), "https://b", 0).is_ok());
        let err = check_server(Some("https://a"), "https://b", 2).expect_err("moved");
        assert_eq!(err.reason(), "SeedServerChanged");
        assert!(err.to_string().contains("2 cluster(s) live on https://a"));
    }
}
