//! Deleting a Seed or a Tenant that ManagedClusters still depend on.
//!
//! A Seed hosts its clusters' control planes and a Tenant owns its clusters' policies, and a
//! cluster's seed never changes by itself. So each carries a finalizer while it exists
//! ([`SEED_FINALIZER`], [`TENANT_FINALIZER`]): deleting one that clusters still use leaves it
//! in place, marked as being deleted, with a `DeletionBlocked` condition naming how many
//! clusters hold it, the first few, and what to do; the finalizer goes when the last of them is
//! gone. Meanwhile nothing is placed on a Seed being deleted, and each holding cluster carries
//! `SeedDeleting` / `TenantDeleting` saying the same from its side.
//!
//! Pure: the shell (`reconcile/in_use.rs`, the Seed and Tenant reconcilers) lists the holders
//! from its caches and writes what [`step`] says.

use crate::crd::{SEED_FINALIZER, TENANT_FINALIZER};

/// Holders named in a condition message; the rest are counted.
pub const NAMED_HOLDERS: usize = 5;

/// What depends on the object: a Seed's placed clusters or a Tenant's clusters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// A Seed, held by the clusters placed on it.
    Seed,
    /// A Tenant, held by the clusters whose `spec.tenant` names it.
    Tenant,
}

impl Held {
    /// The finalizer this kind carries.
    pub fn finalizer(self) -> &'static str {
        match self {
            Held::Seed => SEED_FINALIZER,
            Held::Tenant => TENANT_FINALIZER,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Held::Seed => "Seed",
            Held::Tenant => "Tenant",
        }
    }
}

/// What the shell does about the finalizer this reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Not being deleted, no finalizer yet: add it (then the next reconcile carries on).
    AddFinalizer,
    /// Not being deleted and finalized: nothing to do.
    InUse,
    /// Being deleted while clusters hold it: keep the finalizer, report `DeletionBlocked` with
    /// this message, and look again when a holder changes.
    Blocked(String),
    /// Being deleted and nothing holds it: remove the finalizer (the object goes).
    Release,
    /// Being deleted and our finalizer is already gone: nothing left to do.
    Gone,
}

/// The finalizer step for an object of kind `held` named `name`, `deleting` or not, carrying our
/// finalizer or not, held by `holders` (`namespace/name`, any order).
pub fn step(held: Held, name: &str, deleting: bool, finalized: bool, holders: &[String]) -> Step {
    match (deleting, finalized, holders.is_empty()) {
        (false, false, _) => Step::AddFinalizer,
        (false, true, _) => Step::InUse,
        (true, false, _) => Step::Gone,
        (true, true, true) => Step::Release,
        (true, true, false) => Step::Blocked(blocked_message(held, name, holders)),
    }
}

/// `DeletionBlocked`'s message: how many clusters hold the object, the first few by name, and
/// what the operator can do.
pub fn blocked_message(held: Held, name: &str, holders: &[String]) -> String {
    let mut sorted = holders.to_vec();
    sorted.sort();
    let named = sorted
        .iter()
        .take(NAMED_HOLDERS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = sorted.len().saturating_sub(NAMED_HOLDERS);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    let (how, fix) = match held {
        Held::Seed => (
            "placed on it",
            "delete those ManagedClusters (their control planes are removed from this seed); a cluster never moves to another seed by itself",
        ),
        Held::Tenant => (
            "of this tenant",
            "delete those ManagedClusters; the tenant's policies keep serving them until then",
        ),
    };
    format!(
        "deletion of {} {name} waits for {} ManagedCluster(s) {how}: {named}{more}; {fix}; the {} goes when the last one is gone",
        held.kind(),
        sorted.len(),
        held.kind()
    )
}

/// The condition a cluster carries while its Seed or Tenant `name` is being deleted.
pub fn holder_message(held: Held, name: &str) -> String {
    match held {
        Held::Seed => format!(
            "Seed {name} is being deleted and waits for this cluster; this cluster keeps running there and is never moved to another seed: delete this ManagedCluster to let the seed go"
        ),
        Held::Tenant => format!(
            "Tenant {name} is being deleted and waits for this cluster; the tenant's policies keep serving it until then: delete this ManagedCluster to let the tenant go"
        ),
    }
}

/// The `SeedReachable` message of a cluster whose Seed object no longer exists (its finalizer
/// was removed by hand): nothing of the cluster is touched, and its seed is not changed.
pub fn seed_gone_message(name: &str) -> String {
    format!(
        "Seed {name} no longer exists (deleted while this cluster was placed on it, its finalizer removed by hand); nothing of this cluster is touched and its seed is not changed: recreate Seed {name} with the same location to resume, or delete this ManagedCluster"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).rev().map(|i| format!("tenant-acme/c{i}")).collect()
    }

    #[test]
    fn the_finalizer_is_added_kept_and_released_when_no_cluster_holds() {
        assert_eq!(step(Held::Seed, "s", false, false, &[]), Step::AddFinalizer);
        assert_eq!(step(Held::Seed, "s", false, true, &names(2)), Step::InUse);
        assert_eq!(step(Held::Seed, "s", true, true, &[]), Step::Release);
        assert_eq!(step(Held::Tenant, "t", true, false, &names(1)), Step::Gone);
        assert!(matches!(
            step(Held::Tenant, "t", true, true, &names(1)),
            Step::Blocked(_)
        ));
    }

    #[test]
    fn blocked_names_the_count_the_first_few_and_the_fix() {
        let m = blocked_message(Held::Seed, "eu-1", &names(7));
        assert!(
            m.starts_with("deletion of Seed eu-1 waits for 7 ManagedCluster(s) placed on it: tenant-acme/c0, tenant-acme/c1, tenant-acme/c2, tenant-acme/c3, tenant-acme/c4 and 2 more;"),
            "{m}"
        );
        assert!(m.contains("delete those ManagedClusters"), "{m}");
        assert!(m.contains("never moves to another seed"), "{m}");
        let m = blocked_message(Held::Tenant, "acme", &names(1));
        assert!(
            m.starts_with("deletion of Tenant acme waits for 1 ManagedCluster(s) of this tenant: tenant-acme/c0;"),
            "{m}"
        );
        assert!(!m.contains("more"), "{m}");
    }

    #[test]
    fn holders_and_orphans_are_told_what_to_do() {
        assert!(holder_message(Held::Seed, "eu-1").contains("delete this ManagedCluster"));
        assert!(holder_message(Held::Tenant, "acme").contains("Tenant acme is being deleted"));
        let m = seed_gone_message("eu-1");
        assert!(m.contains("recreate Seed eu-1"), "{m}");
        assert!(m.contains("its seed is not changed"), "{m}");
    }
}
