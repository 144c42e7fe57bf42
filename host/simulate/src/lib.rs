//! fleetward simulate: the real controller on an emulated fleet under virtual time.
