//! Remediation safety: is the policy's action about the problem at hand, is it within the host's
//! rate limits, and is the seed itself at fault?

use std::collections::VecDeque;

use fleetward_sdk::wire::{Component, Problem, RemediationAction, Timestamp};

/// Why a remediation action is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RemediationVeto {
    /// The action names another component than the problem's.
    #[error("action {action} does not concern the problem's component {component}")]
    WrongComponent {
        /// Action name.
        action: String,
        /// The problem's component.
        component: String,
    },
    /// Too many actions recently in this scope.
    #[error(
        "rate limited: {count} action(s) in the last {window_secs}s for {scope} {name} (cap {cap})"
    )]
    RateLimited {
        /// `cluster`, `seed` or `tenant`.
        scope: &'static str,
        /// Which one.
        name: String,
        /// Actions in the window.
        count: u32,
        /// Cap.
        cap: u32,
        /// Window length.
        window_secs: i64,
    },
}

/// Checks the action concerns the problem's component.
///
/// # Errors
/// [`RemediationVeto::WrongComponent`].
pub fn validate(problem: &Problem, action: &RemediationAction) -> Result<(), RemediationVeto> {
    let wrong = |a: &str| RemediationVeto::WrongComponent {
        action: a.into(),
        component: problem.component.to_string(),
    };
    match (action, &problem.component) {
        (RemediationAction::RestartComponent { component }, Component::ControlPlane { name })
            if component == name =>
        {
            Ok(())
        }
        (RemediationAction::RestartComponent { component }, _) => {
            Err(wrong(&format!("restart_component {component}")))
        }
        (RemediationAction::RecreateMachine { machine }, Component::Machine { name, .. })
            if machine == name =>
        {
            Ok(())
        }
        (RemediationAction::RecreateMachine { machine }, _) => {
            Err(wrong(&format!("recreate_machine {machine}")))
        }
        _ => Ok(()),
    }
}

/// Whether an action changes anything (counts against rate limits).
pub fn is_disruptive(action: &RemediationAction) -> bool {
    matches!(
        action,
        RemediationAction::RestartComponent { .. } | RemediationAction::RecreateMachine { .. }
    )
}

/// Host rate limits on disruptive actions: sliding window per cluster, seed and tenant.
#[derive(Clone, Debug)]
pub struct RateLimits {
    /// Window length in seconds (default 600).
    pub window_secs: i64,
    /// Actions per cluster per window (default 3).
    pub per_cluster: u32,
    /// Actions per seed per window (default 10).
    pub per_seed: u32,
    /// Actions per tenant per window (default 20).
    pub per_tenant: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            window_secs: 600,
            per_cluster: 3,
            per_seed: 10,
            per_tenant: 20,
        }
    }
}

#[derive(Clone, Debug)]
struct Taken {
    at: Timestamp,
    cluster: String,
    seed: String,
    tenant: String,
}

/// The sliding-window ledger the limits are checked against.
#[derive(Clone, Debug, Default)]
pub struct RateLedger {
    taken: VecDeque<Taken>,
}

impl RateLedger {
    /// Checks whether one more action is allowed now.
    ///
    /// # Errors
    /// [`RemediationVeto::RateLimited`] naming the first scope over its cap.
    pub fn check(
        &mut self,
        limits: &RateLimits,
        now: Timestamp,
        cluster: &str,
        seed: &str,
        tenant: &str,
    ) -> Result<(), RemediationVeto> {
        while self
            .taken
            .front()
            .is_some_and(|t| now.0 - t.at.0 >= limits.window_secs)
        {
            self.taken.pop_front();
        }
        let count = |f: &dyn Fn(&Taken) -> bool| self.taken.iter().filter(|t| f(t)).count() as u32;
        for (scope, name, cap, n) in [
            (
                "cluster",
                cluster,
                limits.per_cluster,
                count(&|t| t.cluster == cluster),
            ),
            ("seed", seed, limits.per_seed, count(&|t| t.seed == seed)),
            (
                "tenant",
                tenant,
                limits.per_tenant,
                count(&|t| t.tenant == tenant),
            ),
        ] {
            if n >= cap {
                return Err(RemediationVeto::RateLimited {
                    scope,
                    name: name.into(),
                    count: n,
                    cap,
                    window_secs: limits.window_secs,
                });
            }
        }
        Ok(())
    }

    /// Records an action taken now.
    pub fn record(&mut self, now: Timestamp, cluster: &str, seed: &str, tenant: &str) {
        self.taken.push_back(Taken {
            at: now,
            cluster: cluster.into(),
            seed: seed.into(),
            tenant: tenant.into(),
        });
    }
}

/// A seed fault: at least 3 of its clusters, and at least half, are unhealthy at once. Then the
/// cause is probably the seed, and restarting each cluster's pieces would only add churn.
pub fn is_seed_fault(unhealthy: usize, total: usize) -> bool {
    unhealthy >= 3 && unhealthy * 2 >= total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(c: Component) -> Problem {
        Problem {
            component: c,
            condition: "NotReady".into(),
            detail: String::new(),
            unhealthy_since: Timestamp(0),
        }
    }

    #[test]
    fn action_must_concern_component() {
        let p = problem(Component::ControlPlane {
            name: "etcd".into(),
        });
        assert!(
            validate(
                &p,
                &RemediationAction::RestartComponent {
                    component: "etcd".into()
                }
            )
            .is_ok()
        );
        assert!(
            validate(
                &p,
                &RemediationAction::RestartComponent {
                    component: "kube-apiserver".into()
                }
            )
            .is_err()
        );
        assert!(
            validate(
                &p,
                &RemediationAction::RecreateMachine {
                    machine: "m".into()
                }
            )
            .is_err()
        );
        assert!(validate(&p, &RemediationAction::None).is_ok());
        let m = problem(Component::Machine {
            name: "m".into(),
            pool: "p".into(),
        });
        assert!(
            validate(
                &m,
                &RemediationAction::RecreateMachine {
                    machine: "m".into()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn rate_limits_slide() {
        let l = RateLimits {
            window_secs: 100,
            per_cluster: 2,
            per_seed: 3,
            per_tenant: 10,
        };
        let mut r = RateLedger::default();
        for i in 0..2 {
            r.check(&l, Timestamp(i), "a", "s", "t").unwrap();
            r.record(Timestamp(i), "a", "s", "t");
        }
        assert!(matches!(
            r.check(&l, Timestamp(5), "a", "s", "t"),
            Err(RemediationVeto::RateLimited {
                scope: "cluster",
                ..
            })
        ));
        r.check(&l, Timestamp(5), "b", "s", "t").unwrap();
        r.record(Timestamp(5), "b", "s", "t");
        assert!(matches!(
            r.check(&l, Timestamp(6), "c", "s", "t"),
            Err(RemediationVeto::RateLimited { scope: "seed", .. })
        ));
        assert!(r.check(&l, Timestamp(101), "a", "s", "t").is_ok());
    }

    #[test]
    fn seed_fault_threshold() {
        assert!(!is_seed_fault(2, 2));
        assert!(is_seed_fault(3, 6));
        assert!(!is_seed_fault(3, 7));
    }
}
