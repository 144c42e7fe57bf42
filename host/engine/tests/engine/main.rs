//! Integration tests of fleetward-engine, in one binary so each WAT module compiles once.

mod api;
mod failures;
mod go;
mod hostile;
mod loading;
mod modules;
mod reference;
mod sandbox;
mod schema;
