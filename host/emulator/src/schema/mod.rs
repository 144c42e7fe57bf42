//! Structural validation and pruning of custom resources against their CRD's OpenAPI schema.
