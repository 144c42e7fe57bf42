//! The Seed reconciler: the connection to a remote seed's API server (built from its kubeconfig
//! Secret, rebuilt when the Secret changes, probed), and the Seed's status — cluster count,
//! `Ready` (with the reason a seed cannot be used), `SeedFault`, and the server its clusters live
//! on.
//!
//! A Seed carries the finalizer `fleetward.dev/seed-in-use`: deleting it waits, with a
//! `DeletionBlocked` condition naming the clusters placed on it, until none is left
//! (`core::in_use`, `reconcile::in_use`).
//!
//! It runs on every Seed change, on a change of the Secret a Seed names, when a request to the
//! seed failed for a seed-level reason (the connection asks for a probe), and on a timer: every
//! `seed_probe_interval` while the seed answers, every `seed_retry` while it does not. When
//! whether the seed can be worked on changes, the clusters on it are requeued, so they set or
//! clear their `SeedReachable` condition and resume.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use crate::core::in_use::{Held, Step};
use crate::core::lifecycle::DELETION_RECHECK;
use crate::core::provision::LABEL_MANAGED_BY;
use crate::core::remediation::is_seed_fault;
use crate::core::seeds::{SeedProblem, check_server, classify, ready_condition};
use crate::crd::{ConditionStatus, KubeconfigSecretRef, Seed, set_condition};
use crate::error::{Result, kube_err};
use crate::reconcile::{Context, in_use, own_writes};
use crate::seeds::{Access, Reach, SeedConn, SeedKubeconfig};

/// Reconciles one Seed.
///
/// # Errors
/// API failures on the management cluster (reading the Secret, writing status).
pub async fn reconcile(seed: Arc<Seed>, ctx: Arc<Context>) -> Result<Action> {
    let name = seed.name_any();
    let uid = seed.uid().unwrap_or_default();
    if ctx
        .own_writes
        .is_stale(&uid, &seed.resource_version().unwrap_or_default())
    {
        // Our last status write has not reached the cache; its watch event reconciles again.
        return Ok(Action::requeue(own_writes::STALE_COPY_RECHECK));
    }
    let existing = ctx.seeds.state().iter().map(|s| s.name_any()).collect();
    ctx.seed_conns.retain(&existing);
    // The finalizer that keeps a Seed while clusters are placed on it (`core::in_use`).
    let (deletion, written) = in_use::finalize(&ctx, seed.as_ref(), Held::Seed).await?;
    match deletion {
        Step::Gone => return Ok(Action::await_change()),
        Step::Release => {
            ctx.seed_conns.remove(&name);
            return Ok(Action::await_change());
        }
        Step::AddFinalizer | Step::InUse | Step::Blocked(_) => {}
    }
    // Carry on with the finalized object: its status is written on top of that version.
    let seed = written.map(Arc::new).unwrap_or(seed);
    let now = ctx.clock.now().to_string();
    let old = seed.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let on_seed: Vec<_> = ctx
        .clusters
        .state()
        .into_iter()
        .filter(|c| {
            c.meta().deletion_timestamp.is_none()
                && c.status.as_ref().and_then(|s| s.seed.as_ref()) == Some(&name)
        })
        .collect();
    st.clusters = on_seed.len() as u32;

    let before = access_tag(&ctx.seed_conns.access(Some(&seed)));
    let mut requeue = ctx.settings.resync;
    if let Some(secret) = &seed.spec.location.kubeconfig_secret {
        let problem = match connect(&ctx, &seed, secret, st.clusters).await? {
            Ok(conn) => {
                let probed = probe(&conn).await;
                st.server = Some(conn.server.clone());
                ctx.seed_conns.set_problem(&name, None);
                conn.set_reach(match &probed {
                    Ok(()) => Reach::Reachable,
                    Err(p) => Reach::Failing(p.clone()),
                });
                probed.err()
            }
            Err(p) => {
                ctx.seed_conns.set_problem(&name, Some(p.clone()));
                Some(p)
            }
        };
        ctx.metrics.seed_reachable(&name, problem.is_none());
        requeue = if problem.is_none() {
            ctx.settings.seed_probe_interval
        } else {
            ctx.settings.seed_retry
        };
        if let Some(p) = &problem {
            // Said at WARN when the seed's access changes (below); each retry of the same
            // problem (every seed_retry) only at DEBUG.
            tracing::debug!(seed = %name, reason = p.reason(), "seed still unusable: {p}");
        }
    }
    let after = access_tag(&ctx.seed_conns.access(Some(&seed)));
    if before != after {
        match ctx.seed_conns.access(Some(&seed)) {
            Access::Unavailable(p) => {
                tracing::warn!(seed = %name, from = %before, to = %after, "seed access changed: {p}")
            }
            _ => tracing::info!(seed = %name, from = %before, to = %after, "seed access changed"),
        }
        ctx.seed_conns.trigger_clusters(
            on_seed
                .iter()
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect(),
        );
    }

    let bad_versions = (fleetward_sdk::wire::KubeVersion::parse(&seed.spec.min_version).is_err()
        || fleetward_sdk::wire::KubeVersion::parse(&seed.spec.max_version).is_err())
    .then(|| format!("{}..{}", seed.spec.min_version, seed.spec.max_version));
    let problem = match ctx.seed_conns.access(Some(&seed)) {
        Access::Unavailable(p) => Some(p),
        Access::Pending if seed.spec.location.kubeconfig_secret.is_some() => {
            Some(SeedProblem::Unreachable {
                message: "connected, but the watches of its objects have not listed yet".into(),
            })
        }
        _ => None,
    };
    let (ready, reason, msg) =
        ready_condition(seed.spec.unschedulable, bad_versions, problem.as_ref());
    set_condition(&mut st.conditions, "Ready", ready, reason, msg, &now);
    let unhealthy = on_seed
        .iter()
        .filter(|c| c.status.as_ref().is_some_and(|s| !s.problems.is_empty()))
        .count();
    if is_seed_fault(unhealthy, on_seed.len()) {
        let changed = set_condition(
            &mut st.conditions,
            "SeedFault",
            ConditionStatus::True,
            "ManyClustersUnhealthy",
            format!(
                "{unhealthy}/{} clusters unhealthy; per-cluster remediation stopped",
                on_seed.len()
            ),
            &now,
        );
        if changed {
            ctx.event(
                seed.as_ref(),
                true,
                "SeedFault",
                format!("{unhealthy}/{} clusters unhealthy", on_seed.len()),
            )
            .await;
        }
    } else {
        set_condition(
            &mut st.conditions,
            "SeedFault",
            ConditionStatus::False,
            "Healthy",
            "",
            &now,
        );
    }
    if let Step::Blocked(msg) = &deletion
        && in_use::blocked(
            &ctx,
            seed.as_ref(),
            &old.conditions,
            &mut st.conditions,
            msg,
            &now,
        )
        .await
    {
        // Its clusters say so too, at once (a Seed's update requeues only unplaced clusters).
        ctx.seed_conns.trigger_clusters(
            ctx.clusters
                .state()
                .iter()
                .filter(|c| c.status.as_ref().and_then(|s| s.seed.as_ref()) == Some(&name))
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect(),
        );
    }
    if matches!(deletion, Step::Blocked(_)) {
        // A holder's deletion can reach this reconcile before the cluster cache drops it.
        requeue = requeue.min(DELETION_RECHECK);
    }
    if st != old {
        let mut obj = (*seed).clone();
        obj.status = Some(st);
        obj.metadata.managed_fields = None;
        ctx.metrics.write("Seed/status");
        Api::<Seed>::all(ctx.client.clone())
            .replace_status(&name, &PostParams::default(), &obj)
            .await
            .map_err(kube_err("writing seed status"))?;
        ctx.own_writes
            .wrote(&uid, &seed.resource_version().unwrap_or_default());
    }
    Ok(Action::requeue(requeue))
}

/// A comparable summary of [`Access`] (which problem, not its wording).
fn access_tag(a: &Access) -> String {
    match a {
        Access::Ready(_) => "ready".into(),
        Access::Pending => "pending".into(),
        Access::Unavailable(p) => p.reason().into(),
    }
}

/// The seed's connection: the current one while its Secret is unchanged, else a new one built
/// from the Secret. `Ok(Err(problem))` when the Secret or kubeconfig cannot be used.
async fn connect(
    ctx: &Context,
    seed: &Seed,
    secret: &KubeconfigSecretRef,
    clusters: u32,
) -> Result<std::result::Result<Arc<SeedConn>, SeedProblem>> {
    let name = seed.name_any();
    let secret_name = format!("{}/{}", secret.namespace, secret.name);
    if secret.namespace != ctx.settings.seed_secret_namespace {
        ctx.seed_conns.remove(&name);
        return Ok(Err(SeedProblem::SecretNamespaceNotAllowed {
            secret: secret_name,
            allowed: ctx.settings.seed_secret_namespace.clone(),
        }));
    }
    let meta = ctx
        .secrets
        .get(&ObjectRef::new(&secret.name).within(&secret.namespace));
    let Some(meta) = meta else {
        ctx.seed_conns.remove(&name);
        return Ok(Err(SeedProblem::SecretNotFound {
            secret: secret_name,
        }));
    };
    let version = meta.resource_version().unwrap_or_default();
    if let Some(conn) = ctx.seed_conns.remote(&name)
        && conn.secret_version == version
    {
        return Ok(Ok(conn));
    }
    let Some(full) = Api::<Secret>::namespaced(ctx.client.clone(), &secret.namespace)
        .get_opt(&secret.name)
        .await
        .map_err(kube_err(format!("reading Secret {secret_name}")))?
    else {
        ctx.seed_conns.remove(&name);
        return Ok(Err(SeedProblem::SecretNotFound {
            secret: secret_name,
        }));
    };
    let key = secret.key.as_deref().unwrap_or("kubeconfig");
    let data = full.data.unwrap_or_default();
    let Some(bytes) = data.get(key) else {
        ctx.seed_conns.remove(&name);
        let keys: Vec<_> = data.keys().map(String::as_str).collect();
        return Ok(Err(SeedProblem::KubeconfigInvalid {
            message: format!(
                "Secret {secret_name} has no key `{key}` (it has: {})",
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                }
            ),
        }));
    };
    let kubeconfig = match SeedKubeconfig::parse(&bytes.0) {
        Ok(k) => k,
        Err(p) => {
            ctx.seed_conns.remove(&name);
            return Ok(Err(SeedProblem::KubeconfigInvalid {
                message: format!("Secret {secret_name} key `{key}`: {p}"),
            }));
        }
    };
    let recorded = seed.status.as_ref().and_then(|s| s.server.as_deref());
    if let Err(p) = check_server(recorded, &kubeconfig.server, clusters) {
        ctx.seed_conns.remove(&name);
        return Ok(Err(p));
    }
    let client = match ctx.seed_conns.connector.connect(&kubeconfig).await {
        Ok(c) => c,
        Err(e) => {
            ctx.seed_conns.remove(&name);
            return Ok(Err(SeedProblem::KubeconfigInvalid {
                message: format!("Secret {secret_name} key `{key}`: {e}"),
            }));
        }
    };
    tracing::info!(seed = %name, server = %kubeconfig.server, secret = %secret_name, "connecting to seed");
    Ok(Ok(ctx.seed_conns.install(
        &name,
        client,
        kubeconfig.server,
        version,
    )))
}

/// One cheap request that needs both authentication and the RBAC Fleetward's watches need (a
/// LIST of at most one managed namespace), then the caches' first listing.
async fn probe(conn: &SeedConn) -> std::result::Result<(), SeedProblem> {
    let lp = ListParams::default()
        .labels(&format!("{LABEL_MANAGED_BY}=fleetward"))
        .limit(1);
    conn.guard(Api::<Namespace>::all(conn.client.clone()).list_metadata(&lp))
        .await
        .map_err(|e| {
            classify(&e).unwrap_or_else(|| SeedProblem::Unreachable {
                message: crate::seeds::connect::one_line(&e.to_string()),
            })
        })?;
    if !conn.wait_synced().await {
        return Err(SeedProblem::Unreachable {
            message: format!(
                "answers, but the watches of its objects did not list within {:?}",
                conn.timeout()
            ),
        });
    }
    Ok(())
}
