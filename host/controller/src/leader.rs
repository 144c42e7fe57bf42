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

/// Why an election step failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The API call failed (not a lost race, which is reported as `Ok(false)`).
    #[error("lease {name}: {source}")]
    Api {
        /// Lease name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
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
        move |source| LeaderError::Api {
            name: self.cfg.name.clone(),
            source,
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

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(self.cfg.renew_every).await;
        }
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
                    tracing::warn!(error = %e, "lease renewal failed");
                    if last_ok.elapsed() > self.cfg.duration {
                        return;
                    }
                }
            }
        }
    }
}
