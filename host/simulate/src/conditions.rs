//! Condition episodes: what the controller reported as wrong, per tenant and per seed.
//!
//! The recorder keeps every condition change of every object (`conditions.json`); an operator
//! reading the summary wants the story instead: "globex's policy was degraded from T+02:00 to
//! the end, reason PolicyTrapped, on 10 clusters", "seed eu-1 was unreachable 20 minutes". An
//! episode is a maximal stretch of time during which at least one object of a subject had a
//! condition in its unhealthy state. Cluster conditions belong to a subject: `PolicyDegraded`
//! to the cluster's tenant (it is the tenant's policy that fails), `SeedReachable` and
//! `SeedDeleting` to the cluster's seed (the fault is the seed's).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::record::{ConditionChange, relative};

/// One stretch of a subject's unhealthy condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConditionEpisode {
    /// `tenant NAME` or `seed NAME`.
    pub subject: String,
    /// Condition type.
    pub condition: String,
    /// The unhealthy status (`True`, `False`, `Unknown`) first seen in the episode.
    pub status: String,
    /// Every reason seen in the episode, in order of first appearance.
    pub reasons: Vec<String>,
    /// The message of the episode's first change.
    pub message: String,
    /// Objects that had the condition in the episode (`Kind name`), sorted.
    pub objects: Vec<String>,
    /// Start.
    pub start: i64,
    /// End (`None`: still unhealthy when the run ended).
    pub end: Option<i64>,
}

fn subject(c: &ConditionChange) -> String {
    match (c.kind.as_str(), c.type_.as_str()) {
        ("ManagedCluster", "PolicyDegraded") | ("Tenant", _) => {
            format!("tenant {}", c.tenant.as_deref().unwrap_or("?"))
        }
        ("ManagedCluster", _) => format!("seed {}", c.seed.as_deref().unwrap_or("(unplaced)")),
        _ => format!("seed {}", c.object),
    }
}

/// Folds condition changes (in time order) into episodes, sorted by start, subject, condition.
pub fn episodes(changes: &[ConditionChange]) -> Vec<ConditionEpisode> {
    struct Open {
        episode: ConditionEpisode,
        unhealthy: BTreeSet<String>,
    }
    let mut open: BTreeMap<(String, String), Open> = BTreeMap::new();
    let mut done = Vec::new();
    for c in changes {
        let key = (subject(c), c.type_.clone());
        let object = format!("{} {}", c.kind, c.object);
        if c.healthy {
            if let Some(o) = open.get_mut(&key) {
                o.unhealthy.remove(&object);
                if o.unhealthy.is_empty()
                    && let Some(mut o) = open.remove(&key)
                {
                    o.episode.end = Some(c.at);
                    done.push(o.episode);
                }
            }
            continue;
        }
        let o = open.entry(key.clone()).or_insert_with(|| Open {
            episode: ConditionEpisode {
                subject: key.0.clone(),
                condition: key.1.clone(),
                status: c.status.clone(),
                reasons: Vec::new(),
                message: c.message.clone(),
                objects: Vec::new(),
                start: c.at,
                end: None,
            },
            unhealthy: BTreeSet::new(),
        });
        o.unhealthy.insert(object.clone());
        if !o.episode.reasons.contains(&c.reason) {
            o.episode.reasons.push(c.reason.clone());
        }
        if let Err(i) = o.episode.objects.binary_search(&object) {
            o.episode.objects.insert(i, object);
        }
    }
    done.extend(open.into_values().map(|o| o.episode));
    done.sort_by(|a, b| {
        (a.start, &a.subject, &a.condition).cmp(&(b.start, &b.subject, &b.condition))
    });
    done
}

/// One line per episode for the terminal, times relative to `start`; empty when none.
pub fn text(episodes: &[ConditionEpisode], start: i64) -> String {
    if episodes.is_empty() {
        return String::new();
    }
    let mut out = String::from("conditions:\n");
    for e in episodes {
        let until = e
            .end
            .map_or_else(|| "end of run".to_string(), |t| relative(start, t));
        let n = e.objects.len();
        let objects = if n == 1 {
            e.objects[0].clone()
        } else {
            format!("{n} objects")
        };
        out.push_str(&format!(
            "  {} {}={} ({}) {} → {} on {}",
            e.subject,
            e.condition,
            e.status,
            e.reasons.join(", "),
            relative(start, e.start),
            until,
            objects
        ));
        if !e.message.is_empty() {
            out.push_str(&format!(": {}", one_line(&e.message, 160)));
        }
        out.push('\n');
    }
    out
}

/// The first `max` characters of `s` on one line.
pub fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(at: i64, object: &str, status: &str, reason: &str) -> ConditionChange {
        ConditionChange {
            at,
            kind: "ManagedCluster".into(),
            object: object.into(),
            tenant: Some("globex".into()),
            seed: Some("eu-1".into()),
            type_: "PolicyDegraded".into(),
            status: status.into(),
            reason: reason.into(),
            message: format!("{reason} on {object}"),
            healthy: status == "False",
        }
    }

    #[test]
    fn an_episode_lasts_while_any_object_is_unhealthy() {
        let eps = episodes(&[
            change(10, "t/a", "True", "PolicyTrapped"),
            change(12, "t/b", "True", "PolicyFailed"),
            change(20, "t/a", "False", "PoliciesHealthy"),
            change(30, "t/b", "False", "PoliciesHealthy"),
            change(40, "t/a", "True", "PolicyTrapped"),
        ]);
        assert_eq!(eps.len(), 2, "{eps:?}");
        assert_eq!(eps[0].subject, "tenant globex");
        assert_eq!((eps[0].start, eps[0].end), (10, Some(30)));
        assert_eq!(eps[0].reasons, ["PolicyTrapped", "PolicyFailed"]);
        assert_eq!(eps[0].objects.len(), 2);
        assert_eq!((eps[1].start, eps[1].end), (40, None));
        let t = text(&eps, 0);
        assert!(t.contains("tenant globex PolicyDegraded=True (PolicyTrapped, PolicyFailed)"));
        assert!(t.contains("end of run"), "{t}");
    }

    #[test]
    fn cluster_seed_faults_belong_to_the_seed() {
        let mut c = change(5, "t/a", "False", "SeedUnreachable");
        c.type_ = "SeedReachable".into();
        c.healthy = false;
        assert_eq!(episodes(&[c])[0].subject, "seed eu-1");
    }
}
