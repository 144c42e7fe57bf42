//! Remediation safety: may the policy be asked now ([`gate`]), is its action about the problem at
//! hand ([`validate`]), is it within the host's rate limits ([`RateLedger`]), and is the seed
//! itself at fault ([`is_seed_fault`])?

use std::collections::VecDeque;

use fleetward_sdk::wire::{Component, Problem, RemediationAction, RemediationRecord, Timestamp};

use crate::core::health::{self, Observed};
use crate::crd::{ProblemStatus, RemediationEntry};

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

/// How many of the clusters on a cluster's seed are unhealthy (read from the cluster cache).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeedLoad {
    /// Clusters on the seed with at least one problem recorded.
    pub unhealthy: usize,
    /// Clusters on the seed.
    pub total: usize,
}

/// What remediation may do about a cluster's problems now.
#[derive(Clone, Debug, PartialEq)]
pub enum Gate {
    /// Nothing is unhealthy.
    Healthy,
    /// Many clusters on the seed are unhealthy ([`is_seed_fault`]): no per-cluster remediation.
    SeedFault(SeedLoad),
    /// Problems exist but none has lasted the threshold yet; `component` is the first of them.
    Observing {
        /// The first observed problem's component.
        component: Component,
    },
    /// The due problem's component was acted on less than a threshold ago: give that action
    /// time to work and come back at `until`.
    CoolingDown {
        /// When the last action's threshold has passed.
        until: Timestamp,
    },
    /// Ask the tenant's remediation policy about `problem`.
    Ask {
        /// The first due problem.
        problem: Problem,
        /// The cluster's remediation history, as the policy sees it.
        history: Vec<RemediationRecord>,
    },
}

/// Decides whether the remediation policy is asked about a cluster's problems: not while healthy,
/// not on a seed fault, not before a problem has lasted `threshold_secs`, and not again for a
/// component acted on less than `threshold_secs` ago.
///
/// `tracked` are the problems as [`health::track`] recorded them for `observed`.
pub fn gate(
    tracked: &[ProblemStatus],
    observed: &[Observed],
    history: &[RemediationEntry],
    load: SeedLoad,
    now: Timestamp,
    threshold_secs: i64,
) -> Gate {
    let Some(first) = observed.first() else {
        return Gate::Healthy;
    };
    if is_seed_fault(load.unhealthy, load.total) {
        return Gate::SeedFault(load);
    }
    let Some(problem) = health::due(tracked, observed, now, threshold_secs)
        .into_iter()
        .next()
    else {
        return Gate::Observing {
            component: first.component.clone(),
        };
    };
    if let Some(last) = history
        .iter()
        .rev()
        .find(|h| h.component == problem.component)
        && now.0 - last.at.0 < threshold_secs
    {
        return Gate::CoolingDown {
            until: Timestamp(last.at.0 + threshold_secs),
        };
    }
    Gate::Ask {
        problem,
        history: history_records(history),
    }
}

/// The remediation history as the policy sees it.
pub fn history_records(history: &[RemediationEntry]) -> Vec<RemediationRecord> {
    history
        .iter()
        .map(|h| RemediationRecord {
            at: h.at,
            component: h.component.clone(),
            action: h.action.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etcd_down() -> Observed {
        Observed {
            component: Component::ControlPlane {
                name: "etcd".into(),
            },
            condition: "NotReady".into(),
            detail: "0/1 replicas ready".into(),
        }
    }

    #[test]
    fn gate_waits_for_threshold_seed_fault_and_cooldown() {
        let t0 = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let obs = [etcd_down()];
        let healthy_seed = SeedLoad {
            unhealthy: 1,
            total: 10,
        };
        assert_eq!(gate(&[], &[], &[], healthy_seed, t0, 60), Gate::Healthy);
        let tracked = health::track(&[], &obs, t0);
        assert_eq!(
            gate(&tracked, &obs, &[], healthy_seed, Timestamp(t0.0 + 59), 60),
            Gate::Observing {
                component: obs[0].component.clone()
            }
        );
        let t1 = Timestamp(t0.0 + 60);
        let sick_seed = SeedLoad {
            unhealthy: 3,
            total: 4,
        };
        assert_eq!(
            gate(&tracked, &obs, &[], sick_seed, t1, 60),
            Gate::SeedFault(sick_seed)
        );
        let restarted = RemediationEntry {
            at: Timestamp(t0.0 + 30),
            component: Component::ControlPlane {
                name: "etcd".into(),
            },
            action: RemediationAction::RestartComponent {
                component: "etcd".into(),
            },
        };
        let other = RemediationEntry {
            at: Timestamp(t0.0 + 30),
            component: Component::ControlPlane {
                name: "kube-apiserver".into(),
            },
            action: RemediationAction::RestartComponent {
                component: "kube-apiserver".into(),
            },
        };
        assert_eq!(
            gate(
                &tracked,
                &obs,
                std::slice::from_ref(&restarted),
                healthy_seed,
                t1,
                60
            ),
            Gate::CoolingDown {
                until: Timestamp(t0.0 + 90)
            }
        );
        // Another component's action does not cool this one down, but the policy sees it.
        match gate(
            &tracked,
            &obs,
            std::slice::from_ref(&other),
            healthy_seed,
            t1,
            60,
        ) {
            Gate::Ask { problem, history } => {
                assert_eq!(problem.unhealthy_since, t0);
                assert_eq!(history.len(), 1);
                assert_eq!(history[0].component, other.component);
            }
            g => panic!("expected Ask, got {g:?}"),
        }
        match gate(
            &tracked,
            &obs,
            &[restarted],
            healthy_seed,
            Timestamp(t0.0 + 90),
            60,
        ) {
            Gate::Ask { history, .. } => {
                assert_eq!(history.len(), 1);
                assert_eq!(
                    history[0].action,
                    RemediationAction::RestartComponent {
                        component: "etcd".into()
                    }
                );
            }
            g => panic!("expected Ask, got {g:?}"),
        }
    }

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
