//! Time expressions (`90s`, `2h30m`, `T+1d2h`, RFC 3339) and the actions a timeline can hold.

use fleetward_sdk::wire::{ClusterRef, DecisionKind, KubeVersion, Labels, Timestamp};

use super::{Cluster, PolicyBinding};

/// One timeline entry: at this time, do this.
#[derive(Clone, Debug)]
pub struct TimedAction {
    /// When (absolute virtual time).
    pub at: Timestamp,
    /// The scenario line that defined it, for messages.
    pub line: u64,
    /// What happens.
    pub action: Action,
}

/// Which clusters an action applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    /// Only this tenant's clusters (`None`: any tenant).
    pub tenant: Option<String>,
    /// Label equalities that must all hold (empty: all clusters).
    pub labels: Labels,
}

impl Selector {
    /// Whether a cluster matches.
    pub fn matches(&self, tenant: &str, labels: &Labels) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// `tenant=acme,env=prod` style, for logs and the report.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.tenant {
            parts.push(format!("tenant {t}"));
        }
        for (k, v) in &self.labels {
            parts.push(format!("{k}={v}"));
        }
        if parts.is_empty() {
            "all clusters".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Something that happens to the fleet during the run.
#[derive(Clone, Debug)]
pub enum Action {
    /// Set `spec.version` of every matching ManagedCluster.
    SetVersion {
        /// Which clusters.
        selector: Selector,
        /// The new desired version.
        version: KubeVersion,
    },
    /// A control-plane workload of a cluster stops being ready.
    BreakWorkload {
        /// The cluster.
        cluster: ClusterRef,
        /// Workload name (`etcd`, `kube-apiserver`, …).
        workload: String,
    },
    /// The workload becomes ready again.
    HealWorkload {
        /// The cluster.
        cluster: ClusterRef,
        /// Workload name.
        workload: String,
    },
    /// A machine of a pool gets an unhealthy condition.
    BreakMachine {
        /// The cluster.
        cluster: ClusterRef,
        /// Pool name.
        pool: String,
        /// Which machine of the pool (0-based, in name order at the time of the event).
        index: usize,
    },
    /// Every machine of the pool that was broken becomes healthy again.
    HealMachine {
        /// The cluster.
        cluster: ClusterRef,
        /// Pool name.
        pool: String,
    },
    /// A tenant publishes a new module (and optionally config) for one decision kind.
    UpdatePolicy {
        /// The tenant.
        tenant: String,
        /// Which decision.
        kind: DecisionKind,
        /// The new binding.
        binding: PolicyBinding,
    },
    /// A seed goes down: its Seed is reported not ready and every control-plane workload it
    /// hosts stops being ready.
    SeedDown {
        /// Seed name.
        seed: String,
    },
    /// The seed comes back.
    SeedUp {
        /// Seed name.
        seed: String,
    },
    /// The seed's API server fails as a whole (`topology: seeds` only): the controller's
    /// requests to it are refused, hang, are slow or get errors. Unlike [`Action::SeedDown`]
    /// the workloads on the seed stay healthy; only the API in front of them is gone.
    SeedApi {
        /// Seed name.
        seed: String,
        /// How it fails.
        outage: ApiOutage,
    },
    /// The seed's API server answers normally again.
    SeedApiUp {
        /// Seed name.
        seed: String,
    },
    /// The controller stops (its handle's graceful shutdown) and a fresh one starts against
    /// the same emulated servers and virtual clock, as after a crash or a rolling deploy: it
    /// knows only what the API says.
    RestartController,
    /// New ManagedClusters appear (same fields as `clusters:`).
    CreateCluster {
        /// The clusters, sorted by namespace and name.
        clusters: Vec<Cluster>,
    },
    /// A ManagedCluster is deleted (the controller tears it down).
    DeleteCluster {
        /// The cluster.
        cluster: ClusterRef,
    },
    /// An operator pauses the tenant's rollout (`Tenant.spec.rollout.paused`, with the reason
    /// and who): no new step starts, steps in flight finish.
    PauseRollout {
        /// The tenant.
        tenant: String,
        /// `spec.rollout.pauseReason` (empty: none).
        reason: String,
        /// `spec.rollout.pausedBy`.
        by: String,
    },
    /// The tenant's rollout resumes (`spec.rollout.paused: false`; reason and who cleared).
    ResumeRollout {
        /// The tenant.
        tenant: String,
    },
    /// One cluster's upgrades are paused (`ManagedCluster.spec.pauseUpgrades: true`).
    PauseCluster {
        /// The cluster.
        cluster: ClusterRef,
    },
    /// One cluster's upgrades resume (`spec.pauseUpgrades: false`).
    ResumeCluster {
        /// The cluster.
        cluster: ClusterRef,
    },
    /// An operator approves a gate of the tenant's current rollout: a `RolloutApproval` is
    /// created in `namespace` (default: the tenant's).
    Approve {
        /// The tenant (`spec.tenant`).
        tenant: String,
        /// The gate (`spec.gate`).
        gate: String,
        /// Who approves (`spec.approver`).
        by: String,
        /// Where the approval object is created.
        namespace: String,
        /// `spec.comment` (empty: none).
        comment: String,
    },
    /// An operator aborts the tenant's current rollout (`spec.rollout.abort`).
    AbortRollout {
        /// The tenant.
        tenant: String,
        /// Who aborts.
        by: String,
        /// Why (empty: none).
        reason: String,
    },
    /// An alert bridge sets (`firing`) or clears a `signal.fleetward.dev/<name>` condition on
    /// a ManagedCluster's status.
    Signal {
        /// The cluster.
        cluster: ClusterRef,
        /// Signal name (the condition type after the prefix).
        name: String,
        /// `True` (firing) or `False` (resolved).
        firing: bool,
        /// The condition's reason.
        reason: String,
        /// The condition's message.
        message: String,
    },
}

/// How a seed's API server fails during a [`Action::SeedApi`] outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiOutage {
    /// Connections are refused.
    Down,
    /// Requests wait unanswered until the outage ends (or the client gives up).
    Hang,
    /// Every request is answered after this many extra milliseconds.
    Slow {
        /// Extra delay per request, in milliseconds.
        delay_ms: u64,
    },
    /// Every request is answered with this HTTP status (409, 429, 500 or 504).
    Errors {
        /// The status code.
        code: u16,
    },
}

impl ApiOutage {
    /// Short name for the report (`down`, `hang`, `slow 2s`, `errors 500`).
    pub fn describe(&self) -> String {
        match self {
            ApiOutage::Down => "down".into(),
            ApiOutage::Hang => "hang".into(),
            ApiOutage::Slow { delay_ms } if delay_ms % 1000 == 0 => {
                format!("slow {}", format_duration((delay_ms / 1000) as i64))
            }
            ApiOutage::Slow { delay_ms } => format!("slow {delay_ms}ms"),
            ApiOutage::Errors { code } => format!("errors {code}"),
        }
    }
}

impl Action {
    /// One line for progress output, the report's event markers and the ledger.
    pub fn describe(&self) -> String {
        match self {
            Action::SetVersion { selector, version } => {
                format!("set version {version} on {}", selector.describe())
            }
            Action::BreakWorkload { cluster, workload } => {
                format!("{workload} of {cluster} breaks")
            }
            Action::HealWorkload { cluster, workload } => format!("{workload} of {cluster} heals"),
            Action::BreakMachine {
                cluster,
                pool,
                index,
            } => format!("machine #{index} of {cluster} pool {pool} breaks"),
            Action::HealMachine { cluster, pool } => {
                format!("machines of {cluster} pool {pool} heal")
            }
            Action::UpdatePolicy {
                tenant,
                kind,
                binding,
            } => format!(
                "tenant {tenant} publishes {kind} module {} ({})",
                binding.module.source,
                binding.module.short_digest()
            ),
            Action::SeedDown { seed } => format!("seed {seed} goes down"),
            Action::SeedUp { seed } => format!("seed {seed} comes back"),
            Action::SeedApi { seed, outage } => match outage {
                ApiOutage::Down => format!("seed {seed}'s API server becomes unreachable"),
                ApiOutage::Hang => format!("seed {seed}'s API server hangs"),
                ApiOutage::Slow { .. } => {
                    format!("seed {seed}'s API server turns {}", outage.describe())
                }
                ApiOutage::Errors { code } => {
                    format!("seed {seed}'s API server answers every request with {code}")
                }
            },
            Action::SeedApiUp { seed } => format!("seed {seed}'s API server answers again"),
            Action::RestartController => "the controller restarts".into(),
            Action::CreateCluster { clusters } => match clusters.as_slice() {
                [one] => format!("cluster {} is created", one.id),
                many => format!(
                    "{} clusters are created ({} … {})",
                    many.len(),
                    many.first().map(|c| c.id.to_string()).unwrap_or_default(),
                    many.last().map(|c| c.id.to_string()).unwrap_or_default()
                ),
            },
            Action::DeleteCluster { cluster } => format!("cluster {cluster} is deleted"),
            Action::PauseRollout { tenant, reason, by } => {
                let why = if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                };
                format!("{by} pauses tenant {tenant}'s rollout{why}")
            }
            Action::ResumeRollout { tenant } => format!("tenant {tenant}'s rollout resumes"),
            Action::PauseCluster { cluster } => format!("upgrades of {cluster} are paused"),
            Action::ResumeCluster { cluster } => format!("upgrades of {cluster} resume"),
            Action::Approve {
                tenant, gate, by, ..
            } => format!("{by} approves gate {gate} of tenant {tenant}"),
            Action::AbortRollout { tenant, by, reason } => {
                let why = if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                };
                format!("{by} aborts tenant {tenant}'s rollout{why}")
            }
            Action::Signal {
                cluster,
                name,
                firing,
                ..
            } => {
                if *firing {
                    format!("signal {name} fires on {cluster}")
                } else {
                    format!("signal {name} clears on {cluster}")
                }
            }
        }
    }
}

/// Parses a duration: one or more `<integer><unit>` groups, units `w d h m s` (e.g. `90s`,
/// `2h30m`, `1w`), or a bare integer meaning seconds.
///
/// # Errors
/// A message explaining the accepted forms.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let err = || {
        format!(
            "invalid duration {s:?}: expected groups of <number><unit> with units w, d, h, m, s \
             (e.g. 90s, 2h30m, 1d12h)"
        )
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(err());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<i64>().map_err(|_| err());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(err()),
        };
        if digits.is_empty() {
            return Err(err());
        }
        let n: i64 = digits.parse().map_err(|_| err())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(err)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(err());
    }
    Ok(total)
}

/// Formats seconds compactly (`1d 2h`, `45m`, `30s`); the largest two units.
pub fn format_duration(secs: i64) -> String {
    if secs < 0 {
        return format!("-{}", format_duration(-secs));
    }
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, name) in units {
        if rest >= size {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// Parses an `at:` expression relative to `start`: `T+<duration>` or an RFC 3339 timestamp.
///
/// # Errors
/// A message explaining the accepted forms.
pub fn parse_at(s: &str, start: Timestamp) -> Result<Timestamp, String> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix("T+").or_else(|| t.strip_prefix("t+")) {
        return parse_duration(rest).map(|d| Timestamp(start.0 + d));
    }
    if t == "T" || t == "T+0" {
        return Ok(start);
    }
    Timestamp::parse(t).map_err(|_| {
        format!("invalid time {s:?}: expected T+<duration> (e.g. T+2h30m) or RFC 3339 (2026-01-05T02:00:00Z)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("2h30m"), Ok(9_000));
        assert_eq!(parse_duration("1w"), Ok(604_800));
        assert_eq!(parse_duration("1d12h"), Ok(129_600));
        assert_eq!(parse_duration("45"), Ok(45));
        for bad in ["", "h", "2x", "2h3", "-1h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(129_600), "1d 12h");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(3_601), "1h 1s");
    }

    #[test]
    fn at_expressions() {
        let start = Timestamp::parse("2026-01-05T00:00:00Z").unwrap();
        assert_eq!(parse_at("T+2h", start).unwrap().0, start.0 + 7_200);
        assert_eq!(
            parse_at("2026-01-05T01:00:00Z", start).unwrap().0,
            start.0 + 3_600
        );
        assert!(parse_at("tomorrow", start).is_err());
    }
}
