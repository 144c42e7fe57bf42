//! The fleetward command-line tool.
