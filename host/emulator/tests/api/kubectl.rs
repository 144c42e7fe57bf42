//! kubectl tests.
