//! Text a module wrote is data, not terminal input: escaping and bounding it.
//!
//! A policy's error messages and codes, its logs, the names in its trap frames and imports, and
//! the bits of its output that serde quotes back all end up on an operator's terminal, in the
//! controller's logs, in Kubernetes Events and conditions and in the simulate report. Unescaped,
//! a module could rewrite the terminal (ANSI `ESC [` sequences, `CR` over a line, `BEL`), reorder
//! text with Unicode bidi controls, or bloat every status write with a megabyte message. So every
//! such string goes through [`untrusted`] (or [`untrusted_log`] for logs, which keep their line
//! breaks) before the engine stores it, and is then safe to show anywhere.

use std::fmt::Write as _;

use crate::config::MAX_MODULE_TEXT_BYTES;

/// `s` with every control character (C0, DEL, C1), line break included, and every Unicode
/// bidi/format control written as `\u{…}` (`\n`, `\r`, `\t` as those two-character escapes;
/// `\` itself stays), cut to at most [`MAX_MODULE_TEXT_BYTES`] bytes with a note of the
/// original length.
pub fn untrusted(s: &str) -> String {
    escape(s, MAX_MODULE_TEXT_BYTES, false)
}

/// Like [`untrusted`] but keeping `\n` (a log is lines), bounded at `max_bytes`.
pub(crate) fn untrusted_log(s: &str, max_bytes: usize) -> String {
    escape(s, max_bytes, true)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
            | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

fn escape(s: &str, max_bytes: usize, keep_newlines: bool) -> String {
    if !s.chars().any(needs_escape) && s.len() <= max_bytes {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len().min(max_bytes) + 16);
    for (i, c) in s.char_indices() {
        let mut piece = String::new();
        match c {
            '\n' if keep_newlines => piece.push('\n'),
            '\t' if keep_newlines => piece.push('\t'),
            '\n' => piece.push_str("\\n"),
            '\r' => piece.push_str("\\r"),
            '\t' => piece.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(piece, "\\u{{{:x}}}", u32::from(c));
            }
            c => piece.push(c),
        }
        if out.len() + piece.len() > max_bytes {
            let _ = write!(out, "… [cut: {} bytes in all, {} shown]", s.len(), i);
            return out;
        }
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(
            untrusted("waves[2]: unknown operator ü"),
            "waves[2]: unknown operator ü"
        );
    }

    #[test]
    fn control_ansi_and_bidi_characters_are_escaped() {
        assert_eq!(
            untrusted("a\u{1b}[2J\rb\u{7}c\nd\u{202e}e\u{9b}"),
            "a\\u{1b}[2J\\rb\\u{7}c\\nd\\u{202e}e\\u{9b}"
        );
        assert_eq!(
            untrusted_log("l1\nl2\u{1b}]0;x\u{7}", 100),
            "l1\nl2\\u{1b}]0;x\\u{7}"
        );
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary_and_says_so() {
        let long = "é".repeat(2000);
        let cut = untrusted(&long);
        assert!(cut.len() <= MAX_MODULE_TEXT_BYTES + 64, "{}", cut.len());
        assert!(
            cut.ends_with("[cut: 4000 bytes in all, 1024 shown]"),
            "{cut}"
        );
        // Escapes count toward the bound: a message of nothing but ESC is bounded too.
        let escapes = untrusted(&"\u{1b}".repeat(10_000));
        assert!(
            escapes.len() <= MAX_MODULE_TEXT_BYTES + 64,
            "{}",
            escapes.len()
        );
    }
}
