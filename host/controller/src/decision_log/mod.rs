//! The decision log: every decision the controller takes, with the exact input the policy saw,
//! one JSON line each, so that any decision can be audited and replayed byte for byte
//! (`fleetward replay`, docs/audit.md).
//!
//! Why a log of inputs and not only of outcomes: policies are deterministic, so a record that
//! keeps the exact input envelope, the module digest and the output is enough to ask two
//! questions exactly, long after the fact — "would the same module decide the same today?"
//! (anything but yes is a determinism bug) and "what would a candidate module have decided
//! instead?".
//!
//! - [`record`]: the versioned line format, shared by the live controller
//!   (`fleetward run --decision-log`), `fleetward simulate` (`decisions.jsonl` next to its
//!   report) and `fleetward replay`, with a reader that names the line of every bad record and
//!   goes on with the rest;
//! - [`entry`]: one decision's record built from the call and every outcome the host recorded
//!   for it (pure);
//! - [`file`]: the size-bounded rotating file, never holding a half-written line;
//! - [`sink`]: the cloneable [`DecisionLog`] handle reconcilers send records to, its bounded
//!   queue (a reconcile never waits: a full queue drops, counts and notes the gap) and the
//!   writer thread; the `fleetward::decision_log` tracing target.

pub mod entry;
pub mod file;
pub mod record;
pub mod sink;

pub use record::{
    DecisionEntry, DroppedEntry, ErrorEntry, FORMAT_VERSION, LineError, LogLine, OutcomeEntry,
    Role, ShadowEntry, read_lines,
};
pub use sink::{DecisionLog, LineSink, WriterThread};
