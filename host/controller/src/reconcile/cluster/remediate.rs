//! Remediation: asks the tenant's remediation policy about a due problem and makes the write
//! [`Next::remediation_answered`](crate::core::lifecycle::Next::remediation_answered) decided.

use fleetward_sdk::wire::{DecisionKind, Problem, RemediationRecord, RemediationRequest};
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::{Run, cref};
use crate::core::lifecycle::{RateScope, RemediationWrite};
use crate::core::provision::RESTARTED_AT;
use crate::error::{Result, kube_err};
use crate::policy::DecideEnv;
use crate::reconcile::children;
use crate::seeds::SeedConn;

impl Run<'_> {
    /// Asks the policy about `problem`, then writes, records and announces what the core made
    /// of the answer.
    pub(super) async fn remediate(
        &mut self,
        conn: &SeedConn,
        seed_ns: &str,
        problem: Problem,
        history: Vec<RemediationRecord>,
        threshold: i64,
    ) -> Result<()> {
        let tenant = self.tenant().to_string();
        let seed = self.next.status.seed.clone().unwrap_or_default();
        let req = RemediationRequest {
            cluster: cref(self.mc),
            labels: self.mc.spec.labels.clone(),
            seed: Some(seed.clone()),
            problem,
            history,
            upgrades_paused: self.next.status.upgrades_paused,
            signals: crate::core::signals::firing(&self.next.status.conditions),
        };
        let env = DecideEnv {
            tenant: &tenant,
            now: self.next.now,
            metrics: &self.ctx.metrics,
        };
        let d = self.ctx.policies.remediate(&env, &req).await;
        let cluster = cref(self.mc).to_string();
        let step = {
            let mut rate = self.ctx.remediation.rate.lock();
            self.next.remediation_answered(
                &req.problem,
                d.decision.as_ref(),
                d.outcome.clone(),
                &d.reason,
                rate.as_deref_mut().ok(),
                &self.ctx.settings.remediation_limits,
                RateScope {
                    cluster: &cluster,
                    seed: &seed,
                    tenant: &tenant,
                },
                threshold,
            )
        };
        let action = match &step.write {
            Some(RemediationWrite::Restart { component }) => format!("restart {component}"),
            Some(RemediationWrite::Recreate { machine }) => format!("recreate machine {machine}"),
            Some(RemediationWrite::Escalate { .. }) => "escalate (upgrades paused)".into(),
            None => "none".into(),
        };
        let problem = format!("{} {}", req.problem.component, req.problem.condition);
        if step.write.is_some() {
            tracing::info!(tenant = %tenant, cluster = %cluster, problem = %problem, action = %action, outcome = step.outcome.as_str(), "remediation: {}", step.reason);
        } else {
            tracing::debug!(tenant = %tenant, cluster = %cluster, problem = %problem, action = %action, outcome = step.outcome.as_str(), "remediation: {}", step.reason);
        }
        match step.write {
            Some(RemediationWrite::Restart { component }) => {
                self.restart(conn, seed_ns, &component).await?
            }
            Some(RemediationWrite::Recreate { machine }) => {
                self.recreate(conn, seed_ns, &machine).await?
            }
            Some(RemediationWrite::Escalate { note }) => {
                self.ctx
                    .event(self.mc, true, "RemediationEscalated", note)
                    .await
            }
            None => {}
        }
        self.note(&d, DecisionKind::Remediation, step.outcome, step.reason)
            .await;
        if let Some(note) = step.announce {
            self.ctx.event(self.mc, true, "Remediated", note).await;
        }
        Ok(())
    }

    async fn restart(&self, conn: &SeedConn, ns: &str, component: &str) -> Result<()> {
        let kind = if component == "etcd" {
            "StatefulSet"
        } else {
            "Deployment"
        };
        let ar = children::api_resource(&json!({"apiVersion": "apps/v1", "kind": kind}))?;
        let api = children::api_for(conn, &ar, Some(ns));
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: self.next.now.to_string()}}}}});
        self.ctx.metrics.write(kind);
        conn.guard(api.patch(component, &PatchParams::default(), &Patch::Merge(&patch)))
            .await
            .map_err(kube_err(format!("restarting {component}")))?;
        Ok(())
    }

    async fn recreate(&self, conn: &SeedConn, ns: &str, machine: &str) -> Result<()> {
        let m = json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine", "metadata": {"name": machine, "namespace": ns}});
        children::delete(self.ctx, conn, &m).await.map(|_| ())
    }
}
