//! Shared helpers for Fleetward's integration and end-to-end tests.
