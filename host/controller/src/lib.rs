//! Fleetward controller: CRDs and the reconcilers that consult tenant policies.
