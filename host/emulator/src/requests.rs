//! Request accounting: how many requests the server answered, by verb and by resource.
//!
//! Benchmarks use it to measure API load ("requests per second reaching the API server while
//! the controller idles"); tests use it to assert that a steady state costs no requests. Counting
//! is a few relaxed atomic increments per request plus one short, uncontended lock for the
//! per-resource breakdown (the store lock every request takes anyway costs more).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::audit::Verb;

const VERBS: [Verb; 9] = [
    Verb::Get,
    Verb::List,
    Verb::Watch,
    Verb::Create,
    Verb::Update,
    Verb::Patch,
    Verb::Apply,
    Verb::Delete,
    Verb::DeleteCollection,
];

fn index(verb: Verb) -> usize {
    match verb {
        Verb::Get => 0,
        Verb::List => 1,
        Verb::Watch => 2,
        Verb::Create => 3,
        Verb::Update => 4,
        Verb::Patch => 5,
        Verb::Apply => 6,
        Verb::Delete => 7,
        Verb::DeleteCollection => 8,
    }
}

/// The live counters inside an emulator.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    total: AtomicU64,
    by_verb: [AtomicU64; 9],
    /// Keyed by `group/resource` (`resource` for the core group); one count per verb.
    by_resource: Mutex<HashMap<String, [u64; 9]>>,
}

impl Requests {
    /// Any request that reached the server (discovery, health and unknown paths included).
    pub(crate) fn request(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// A request routed to a resource with a verb (a subresource counts for its resource).
    pub(crate) fn resource(&self, verb: Verb, group: &str, plural: &str) {
        self.by_verb[index(verb)].fetch_add(1, Ordering::Relaxed);
        let key = if group.is_empty() {
            plural.to_string()
        } else {
            format!("{group}/{plural}")
        };
        let mut map = self.by_resource.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key).or_default()[index(verb)] += 1;
    }

    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> RequestCounts {
        // Resource counts are read before the total so that `other` never underflows.
        let by_resource: BTreeMap<(String, Verb), u64> = self
            .by_resource
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flat_map(|(r, counts)| {
                VERBS
                    .iter()
                    .zip(counts)
                    .filter(|(_, n)| **n > 0)
                    .map(|(v, n)| ((r.clone(), *v), *n))
            })
            .collect();
        let by_verb: BTreeMap<Verb, u64> = VERBS
            .iter()
            .map(|v| (*v, self.by_verb[index(*v)].load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let total = self.total();
        let routed: u64 = by_verb.values().sum();
        RequestCounts {
            total,
            by_verb,
            by_resource,
            other: total.saturating_sub(routed),
        }
    }
}

/// A snapshot of an emulator's request counters ([`crate::Emulator::request_counts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Every request answered: all verbs, watch starts (not watch events), discovery, health
    /// checks, unknown paths, and requests failed by injected faults. Requests refused by an
    /// [`crate::Outage`] before reaching the server are not counted.
    pub total: u64,
    /// Requests routed to a resource, by verb (verbs never seen are absent).
    pub by_verb: BTreeMap<Verb, u64>,
    /// Requests routed to a resource, by (`group/resource` — just `resource` for the core
    /// group, e.g. `configmaps`, `apps/deployments` — and verb).
    pub by_resource: BTreeMap<(String, Verb), u64>,
    /// Requests not routed to a resource (discovery, `/version`, health, unknown paths).
    pub other: u64,
}

impl RequestCounts {
    /// The requests made between `earlier` and `self` (counters only grow).
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        let sub = |now: u64, then: Option<&u64>| now.saturating_sub(then.copied().unwrap_or(0));
        RequestCounts {
            total: self.total.saturating_sub(earlier.total),
            by_verb: self
                .by_verb
                .iter()
                .map(|(v, n)| (*v, sub(*n, earlier.by_verb.get(v))))
                .filter(|(_, n)| *n > 0)
                .collect(),
            by_resource: self
                .by_resource
                .iter()
                .map(|(k, n)| (k.clone(), sub(*n, earlier.by_resource.get(k))))
                .filter(|(_, n)| *n > 0)
                .collect(),
            other: self.other.saturating_sub(earlier.other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_total_verbs_resources_and_other() {
        let r = Requests::default();
        r.request();
        r.resource(Verb::Get, "", "configmaps");
        r.request();
        r.resource(Verb::Get, "", "configmaps");
        r.request();
        r.resource(Verb::Watch, "apps", "deployments");
        r.request(); // discovery
        let s = r.snapshot();
        assert_eq!(s.total, 4);
        assert_eq!(s.other, 1);
        assert_eq!(s.by_verb.get(&Verb::Get), Some(&2));
        assert_eq!(s.by_verb.get(&Verb::Watch), Some(&1));
        assert_eq!(s.by_verb.get(&Verb::List), None);
        assert_eq!(
            s.by_resource.get(&("configmaps".to_string(), Verb::Get)),
            Some(&2)
        );
        assert_eq!(
            s.by_resource
                .get(&("apps/deployments".to_string(), Verb::Watch)),
            Some(&1)
        );
    }

    #[test]
    fn since_subtracts_an_earlier_snapshot() {
        let r = Requests::default();
        r.request();
        r.resource(Verb::List, "", "pods");
        let before = r.snapshot();
        r.request();
        r.resource(Verb::Create, "", "pods");
        r.request();
        let d = r.snapshot().since(&before);
        assert_eq!(d.total, 2);
        assert_eq!(d.other, 1);
        assert_eq!(d.by_verb, BTreeMap::from([(Verb::Create, 1)]));
        assert_eq!(
            d.by_resource,
            BTreeMap::from([(("pods".to_string(), Verb::Create), 1)])
        );
    }
}
