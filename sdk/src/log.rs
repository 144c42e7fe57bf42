//! Policy logging: one line on stderr per message.
//!
//! Inside a module, stderr is WASI fd 2, which the host captures as the call's policy log (at
//! most 64 KiB per call); natively it is the test's stderr. A log write never fails a decision.
//! Prefer [`log!`](crate::log!) for formatted messages.

use std::fmt::Display;
use std::io::Write as _;

/// Starts the line the SDK's panic hook writes inside a module:
/// `fleetward:panic at src/lib.rs:12:5: index out of bounds: …`, then the message to the end of
/// the log (a panic is the last thing a module writes before it traps). The host looks for the
/// last line starting with this prefix to report `policy panicked at …` instead of a bare trap
/// (`docs/abi.md`, "Panics"). Any module, in any language, may write it.
pub const PANIC_PREFIX: &str = "fleetward:panic at ";

/// Writes `level: message` as one line (one `fd_write` in a module).
pub fn write(level: &str, message: impl Display) {
    let line = format!("{level}: {message}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The line the SDK's panic hook writes: [`PANIC_PREFIX`], the location, `: `, the message.
pub fn panic_line(location: impl Display, message: &str) -> String {
    format!("{PANIC_PREFIX}{location}: {message}\n")
}

/// Logs at info level.
pub fn info(message: impl Display) {
    write("info", message);
}

/// Logs at warn level.
pub fn warn(message: impl Display) {
    write("warn", message);
}

/// Logs at debug level.
pub fn debug(message: impl Display) {
    write("debug", message);
}

/// Logs a formatted line at info level: `fleetward_sdk::log!("chose {seed}")`.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::info(::core::format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_line_is_prefix_location_message() {
        assert_eq!(
            panic_line(
                "src/lib.rs:12:5",
                "index out of bounds: the len is 0 but the index is 5"
            ),
            "fleetward:panic at src/lib.rs:12:5: index out of bounds: the len is 0 but the index is 5\n"
        );
    }
}
