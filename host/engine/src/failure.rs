//! What a failed call leaves behind, made readable: the policy's last log lines and, when the
//! module reported a panic before trapping, the panic's location and message.
//!
//! A trap alone says `wasm 'unreachable' instruction executed`, which is how every Rust panic
//! (and abort) ends under `panic = "abort"`; the author needs the panic message and what the
//! policy logged just before. The Rust SDK's panic hook writes one line starting with
//! [`PANIC_PREFIX`] as the last thing before the trap, so the text from the last such line to
//! the end of the log is the panic; the lines before it are the log tail shown with the error.
//! Everything here is module-written text: escaped and bounded before it is stored.

use fleetward_sdk::log::PANIC_PREFIX;

use crate::config::{MAX_LOG_TAIL_BYTES, MAX_LOG_TAIL_LINES};
use crate::error::LogTail;
use crate::text;

/// The log split at the module's panic report: `(log before it, "FILE:LINE:COL: MESSAGE")`.
/// Without a report the whole log comes back and no panic.
pub(crate) fn split_panic(log: &str) -> (&str, Option<String>) {
    let start = if log.starts_with(PANIC_PREFIX) {
        Some(0)
    } else {
        log.rfind(&format!("\n{PANIC_PREFIX}")).map(|i| i + 1)
    };
    let Some(start) = start else {
        return (log, None);
    };
    let report = &log[start + PANIC_PREFIX.len()..];
    let report = report.strip_suffix('\n').unwrap_or(report);
    (&log[..start], Some(text::untrusted(report)))
}

/// The last non-empty lines of `log`, at most [`MAX_LOG_TAIL_LINES`] and
/// [`MAX_LOG_TAIL_BYTES`] once escaped (each line also cut at the module-text cap); `None` when
/// the policy logged nothing.
pub(crate) fn log_tail(log: &str) -> Option<LogTail> {
    let all: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut lines = Vec::new();
    let mut bytes = 0;
    for line in all.iter().rev().take(MAX_LOG_TAIL_LINES) {
        let escaped = text::untrusted(line);
        if bytes + escaped.len() > MAX_LOG_TAIL_BYTES {
            break;
        }
        bytes += escaped.len();
        lines.push(escaped);
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(LogTail {
        earlier: all.len() - lines.len(),
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_panic_report_runs_to_the_end_of_the_log() {
        let log = "info: a\nfleetward:panic at old.rs:1:1: x\ninfo: b\nfleetward:panic at src/lib.rs:12:5: two\nlines\n";
        let (before, panic) = split_panic(log);
        assert_eq!(
            before,
            "info: a\nfleetward:panic at old.rs:1:1: x\ninfo: b\n"
        );
        assert_eq!(panic.as_deref(), Some("src/lib.rs:12:5: two\\nlines"));
        assert_eq!(
            split_panic("fleetward:panic at a.rs:1:2: m\n"),
            ("", Some("a.rs:1:2: m".to_string()))
        );
        assert_eq!(split_panic("no panic\n"), ("no panic\n", None));
        // Only at the start of a line.
        assert_eq!(split_panic("x fleetward:panic at a").1, None);
    }

    #[test]
    fn the_tail_keeps_the_last_lines_within_both_bounds_escaped() {
        let log: String = (1..=25).map(|i| format!("step {i}\n\n")).collect();
        let tail = log_tail(&log).unwrap();
        let want: Vec<String> = (16..=25).map(|i| format!("step {i}")).collect();
        assert_eq!(tail.lines, want);
        assert_eq!(tail.earlier, 15);

        // Each 3000-byte line is cut to ~1 KiB; three of them and the last line fit in 4 KiB.
        let long = "x".repeat(3000);
        let log = format!("first\n{}\u{1b}[2Jlast\n", format!("{long}\n").repeat(6));
        let tail = log_tail(&log).unwrap();
        assert_eq!(tail.lines.len(), 4, "{tail:?}");
        assert!(tail.lines[0].starts_with("xxx") && tail.lines[0].contains("[cut: 3000 bytes"));
        assert_eq!(tail.lines[3], "\\u{1b}[2Jlast");
        assert_eq!(tail.earlier, 4);
        let shown: usize = tail.lines.iter().map(String::len).sum();
        assert!(shown <= MAX_LOG_TAIL_BYTES);

        assert_eq!(log_tail(""), None);
        assert_eq!(log_tail("\n  \n"), None);
    }
}
