//! Leader election on a `coordination.k8s.io/v1` Lease, so several replicas can run and exactly
//! one reconciles.
//!
//! The holder renews every `renew_every`. A candidate takes over a lease only once it has seen
//! the same record (holder and resourceVersion) unchanged for `leaseDurationSeconds` on its *own*
//! monotonic clock, as client-go does: comparing another replica's `renewTime` with the local
//! wall clock would make the election depend on clock skew between nodes. A candidate that
//! first sees a lease therefore waits a full lease duration before taking it over (a released
//! lease, with no holder, is taken at once). Every update carries the resourceVersion it read,
//! so two candidates racing for an expired lease cannot both win (the loser gets a 409).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::http::Health;

/// Why an election step failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The Lease's namespace does not exist, so the Lease cannot be created: this replica can
    /// never lead until someone creates it (or restarts the controller with another
    /// `--namespace`).
    #[error(
        "cannot take Lease {namespace}/{name}: namespace {namespace} does not exist; create it \
         (kubectl create namespace {namespace}) or run with --namespace naming the controller's \
         namespace"
    )]
    NamespaceMissing {
        /// The Lease's namespace.
        namespace: String,
        /// Lease name.
        name: String,
    },
    /// The API server refused this replica's identity access to the Lease (403): it can never
    /// lead until its RBAC is fixed.
    #[error(
        "cannot take Lease {namespace}/{name}: forbidden ({message}); grant the controller's \
         ServiceAccount get, create and update on coordination.k8s.io leases in {namespace} \
         (deploy/rbac.yaml's Role)"
    )]
    Forbidden {
        /// The Lease's namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The API server's message.
        message: String,
    },
    /// The API call failed (not a lost race, which is reported as `Ok(false)`).
    #[error("lease {name}: {}", crate::error::short(source))]
    Api {
        /// Lease name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

impl LeaderError {
    /// Whether retrying cannot fix this by itself: a missing namespace or a refusal. Transient
    /// failures (a dropped connection, a 5xx, a timeout) are not.
    pub fn is_lasting(&self) -> bool {
        matches!(
            self,
            LeaderError::NamespaceMissing { .. } | LeaderError::Forbidden { .. }
        )
    }
}

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Lease namespace.
    pub namespace: String,
    /// Lease name (default `fleetward-controller`).
    pub name: String,
    /// This replica's identity (default: pod name or hostname).
    pub identity: String,
    /// How long a lease is valid without renewal (default 15 s).
    pub duration: Duration,
    /// Renewal period (default 5 s).
    pub renew_every: Duration,
}

impl LeaseConfig {
    /// Defaults for a namespace and identity.
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: "fleetward-controller".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// One lease holder or candidate.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    /// The lease record last seen (holder, renewTime) and when, on this replica's clock.
    observed: Arc<Mutex<Option<(String, Instant)>>>,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    /// An elector for `cfg` on `client`.
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: Arc::default(),
        }
    }

    fn err(&self) -> impl FnOnce(kube::Error) -> LeaderError + '_ {
        move |source| {
            let (namespace, name) = (self.cfg.namespace.clone(), self.cfg.name.clone());
            match source {
                kube::Error::Api(s) if s.code == 403 => LeaderError::Forbidden {
                    namespace,
                    name,
                    message: s.message,
                },
                kube::Error::Api(s)
                    if s.code == 404
                        && s.details.as_ref().is_some_and(|d| d.kind == "namespaces") =>
                {
                    LeaderError::NamespaceMissing { namespace, name }
                }
                source => LeaderError::Api { name, source },
            }
        }
    }

    /// Tries once to acquire or renew. `Ok(true)`: we hold the lease now.
    ///
    /// # Errors
    /// API failures other than a lost race.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, LeaderError> {
        let me = &self.cfg.identity;
        let spec = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
            holder_identity: Some(me.clone()),
            lease_duration_seconds: Some(self.cfg.duration.as_secs() as i32),
            acquire_time: acquired.or(Some(MicroTime(now()))),
            renew_time: Some(MicroTime(now())),
            lease_transitions: Some(transitions),
            ..Default::default()
        };
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await.map_err(self.err())? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    ..Default::default()
                },
                spec: Some(spec(0, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(self.err()(e)),
            };
        };
        let cur = lease.spec.clone().unwrap_or_default();
        let holder = cur.holder_identity.clone().unwrap_or_default();
        let duration = Duration::from_secs(cur.lease_duration_seconds.unwrap_or(15).max(1) as u64);
        let expired = self.unchanged_for(&lease) > duration;
        let mine = &holder == me;
        if !mine && !holder.is_empty() && !expired {
            return Ok(false);
        }
        let transitions = cur.lease_transitions.unwrap_or(0) + i32::from(!mine);
        lease.spec = Some(spec(
            transitions,
            if mine { cur.acquire_time } else { None },
        ));
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(self.err()(e)),
        }
    }

    /// How long this replica has seen the lease unchanged (same holder, same resourceVersion:
    /// every renewal is a write, so it changes the resourceVersion).
    fn unchanged_for(&self, lease: &Lease) -> Duration {
        let record = format!(
            "{}@{}",
            lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                .unwrap_or_default(),
            lease
                .metadata
                .resource_version
                .as_deref()
                .unwrap_or_default()
        );
        let Ok(mut seen) = self.observed.lock() else {
            return Duration::ZERO;
        };
        match seen.as_ref() {
            Some((r, at)) if *r == record => at.elapsed(),
            _ => {
                *seen = Some((record, Instant::now()));
                Duration::ZERO
            }
        }
    }

    /// Gives the lease up (on graceful shutdown) so another replica takes over at once.
    ///
    /// # Errors
    /// API failures.
    pub async fn release(&self) -> Result<(), LeaderError> {
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await.map_err(self.err())? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(&self.cfg.identity) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => Ok(()),
            Err(e) => Err(self.err()(e)),
        }
    }

    /// Waits until this replica holds the lease, keeping `health` honest meanwhile: not ready
    /// (with the reason) while an attempt fails for a cause that will not fix itself (the
    /// Lease's namespace is missing, access is forbidden), ready again once an attempt gets an
    /// answer. A failure is logged once per change of cause, not on every retry.
    pub async fn acquire(&self, health: &Health) {
        let mut last_failure: Option<String> = None;
        loop {
            let attempt = self.try_acquire_or_renew().await;
            match &attempt {
                Ok(_) => {
                    if let Some(was) = last_failure.take() {
                        tracing::info!(lease = %self.lease_name(), previous = %was, "leader election attempts succeed again");
                        health.set_ready(true);
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    if last_failure.as_deref() != Some(text.as_str()) {
                        tracing::warn!(lease = %self.lease_name(), lasting = e.is_lasting(), "leader election attempt failed: {text}");
                    } else {
                        tracing::debug!(lease = %self.lease_name(), "leader election attempt failed again: {text}");
                    }
                    if e.is_lasting() {
                        health.set_not_ready(text.clone());
                    }
                    last_failure = Some(text);
                }
            }
            if matches!(attempt, Ok(true)) {
                return;
            }
            tokio::time::sleep(self.cfg.renew_every).await;
        }
    }

    fn lease_name(&self) -> String {
        format!("{}/{}", self.cfg.namespace, self.cfg.name)
    }

    /// Renews until a renewal fails for longer than the lease duration; returns when leadership
    /// is lost (the caller must stop reconciling).
    pub async fn hold(&self) {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.cfg.renew_every).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(lease = %self.lease_name(), "lease renewal failed: {e}");
                    if last_ok.elapsed() > self.cfg.duration {
                        return;
                    }
                }
            }
        }
    }
}
