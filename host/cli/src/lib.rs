//! The fleetward command-line tool.
#![forbid(unsafe_code)]

pub mod fixture;
