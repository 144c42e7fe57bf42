//! Live progress on the terminal: simulated time, clusters done/total, decisions so far.
//!
//! On a TTY one line is redrawn in place; otherwise (CI logs, pipes) a plain line is printed
//! every twelve simulated hours and at every timeline event, so logs stay short and diffable.

use std::io::Write;

use crate::record::relative;

/// Simulated seconds between plain progress lines when not on a TTY.
const PLAIN_EVERY: i64 = 12 * 3600;

/// Writes progress to a writer (normally stderr).
pub struct Progress<'a> {
    out: &'a mut (dyn Write + Send),
    tty: bool,
    start: i64,
    end: i64,
    last_plain: i64,
    dirty: bool,
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("tty", &self.tty)
            .finish_non_exhaustive()
    }
}

impl<'a> Progress<'a> {
    /// Progress for a run from `start` to `end` (epoch seconds). `tty` selects in-place redraws.
    pub fn new(out: &'a mut (dyn Write + Send), tty: bool, start: i64, end: i64) -> Self {
        Progress {
            out,
            tty,
            start,
            end,
            last_plain: start,
            dirty: false,
        }
    }

    /// A headline, e.g. the run's label.
    pub fn note(&mut self, text: &str) {
        self.clear();
        let _ = writeln!(self.out, "{text}");
    }

    /// Progress at virtual time `now`.
    pub fn tick(&mut self, now: i64, done: usize, total: usize, decisions: usize) {
        let pct = if self.end > self.start {
            ((now - self.start) * 100 / (self.end - self.start)).clamp(0, 100)
        } else {
            100
        };
        let line = format!(
            "  {:<14} {pct:>3}%  clusters done {done}/{total}  decisions {decisions}",
            relative(self.start, now)
        );
        if self.tty {
            let _ = write!(self.out, "\r\x1b[2K{line}");
            let _ = self.out.flush();
            self.dirty = true;
        } else if now - self.last_plain >= PLAIN_EVERY {
            self.last_plain = now;
            let _ = writeln!(self.out, "{line}");
        }
    }

    /// A timeline event happened at `now`.
    pub fn event(&mut self, now: i64, description: &str) {
        self.clear();
        let _ = writeln!(
            self.out,
            "  {:<14} ▶ {description}",
            relative(self.start, now)
        );
    }

    /// Ends the in-place line, if any.
    pub fn clear(&mut self) {
        if self.dirty {
            let _ = writeln!(self.out);
            self.dirty = false;
        }
    }
}
