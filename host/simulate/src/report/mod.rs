//! The self-contained HTML report: inline CSS, inline SVG, no scripts, no external assets.
//!
//! `svg` draws the timeline chart, `html` lays out the page around it (summary, events,
//! violations, what-if comparison, per-tenant decision ledgers). Both are pure functions of
//! the recording, so the report is byte-identical for identical runs.

mod html;
mod svg;

pub use html::render;
pub use svg::timeline;

/// Escapes text for HTML and SVG content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Per-tenant colours, assigned in tenant name order.
pub(crate) const PALETTE: [&str; 8] = [
    "#2563eb", "#0d9488", "#7c3aed", "#db2777", "#0284c7", "#65a30d", "#c2410c", "#4f46e5",
];

/// The colour of the `i`-th tenant.
pub(crate) fn tenant_colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}
