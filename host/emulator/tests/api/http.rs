//! HTTP transport tests.
