//! Policy logging: one line on stderr per message.
//!
//! Inside a module, stderr is WASI fd 2, which the host captures as the call's policy log (at
//! most 64 KiB per call); natively it is the test's stderr. A log write never fails a decision.
//! Prefer [`log!`](crate::log!) for formatted messages.

use std::fmt::Display;
use std::io::Write as _;

/// Writes `level: message` as one line (one `fd_write` in a module).
pub fn write(level: &str, message: impl Display) {
    let line = format!("{level}: {message}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
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
