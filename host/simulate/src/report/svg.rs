//! The timeline chart: one row per cluster grouped by tenant (in the order their upgrades
//! began), spans as bars on three lanes (placement and upgrades; holds and remediation;
//! injected faults), event markers, and a time axis in simulated time. Hover text comes from SVG `<title>` elements.

use std::fmt::Write as _;

use fleetward_sdk::wire::Timestamp;

use super::{esc, tenant_colour};
use crate::record::{ClusterTrack, Recording, SpanKind, relative};
use crate::scenario::format_duration;

const LABEL_W: f64 = 230.0;
const CHART_W: f64 = 1060.0;
const ROW_H: f64 = 22.0;
const GROUP_H: f64 = 28.0;
const AXIS_H: f64 = 44.0;
const PAD_R: f64 = 20.0;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Idle stretches longer than this are drawn as a narrow break, so minutes-long upgrades stay
/// visible on a week-long run.
const MIN_BREAK: i64 = 3 * 3600;
/// Context kept around activity before an idle stretch counts as a break.
const ACTIVITY_PAD: i64 = 30 * 60;
/// Width of a break on the axis.
const BREAK_W: f64 = 34.0;

/// One piece of the time axis: `t0..t1` drawn at `x0..x1`; `gap` pieces are compressed.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    t0: i64,
    t1: i64,
    x0: f64,
    x1: f64,
    gap: bool,
}

/// A piecewise-linear time axis that compresses idle stretches.
#[derive(Debug)]
struct Axis {
    segments: Vec<Segment>,
}

impl Axis {
    fn new(r: &Recording) -> Axis {
        let (start, end) = (r.start, r.end.max(r.start + 60));
        // Moments where something happens: upgrades, remediation, faults, events, placement.
        let mut active: Vec<(i64, i64)> = r
            .clusters
            .iter()
            .flat_map(|c| c.spans.iter())
            .filter(|s| s.kind != SpanKind::Hold)
            .map(|s| (s.start, s.end))
            .chain(r.events.iter().map(|e| (e.at, e.at)))
            .chain(
                r.clusters
                    .iter()
                    .filter_map(|c| c.completed_at.map(|t| (t, t))),
            )
            .map(|(a, b)| ((a - ACTIVITY_PAD).max(start), (b + ACTIVITY_PAD).min(end)))
            .collect();
        active.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::new();
        for (a, b) in active {
            match merged.last_mut() {
                Some(last) if a - last.1 <= MIN_BREAK => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        // Pieces in order: gaps (if long) and active stretches covering start..end.
        let mut pieces: Vec<(i64, i64, bool)> = Vec::new();
        let mut cursor = start;
        for (a, b) in merged {
            if a - cursor > MIN_BREAK {
                pieces.push((cursor, a, true));
                cursor = a;
            }
            pieces.push((cursor, b.max(cursor), false));
            cursor = b.max(cursor);
        }
        if end - cursor > MIN_BREAK {
            pieces.push((cursor, end, true));
        } else if let Some(last) = pieces.last_mut().filter(|p| !p.2) {
            last.1 = end;
        } else {
            pieces.push((cursor, end, false));
        }
        pieces.retain(|p| p.1 > p.0);
        let gaps = pieces.iter().filter(|p| p.2).count() as f64;
        let active_secs: i64 = pieces.iter().filter(|p| !p.2).map(|p| p.1 - p.0).sum();
        let (active_w, gap_w) = if active_secs == 0 {
            (0.0, CHART_W / gaps.max(1.0))
        } else {
            (CHART_W - gaps * BREAK_W, BREAK_W)
        };
        let mut x = LABEL_W;
        let segments = pieces
            .into_iter()
            .map(|(t0, t1, gap)| {
                let w = if gap {
                    gap_w
                } else {
                    (t1 - t0) as f64 / active_secs.max(1) as f64 * active_w
                };
                let seg = Segment {
                    t0,
                    t1,
                    x0: x,
                    x1: x + w,
                    gap,
                };
                x += w;
                seg
            })
            .collect();
        Axis { segments }
    }

    fn x(&self, t: i64) -> f64 {
        let Some(first) = self.segments.first() else {
            return LABEL_W;
        };
        if t <= first.t0 {
            return first.x0;
        }
        for s in &self.segments {
            if t <= s.t1 {
                let f = (t - s.t0) as f64 / (s.t1 - s.t0).max(1) as f64;
                return s.x0 + f * (s.x1 - s.x0);
            }
        }
        self.segments.last().map_or(LABEL_W, |s| s.x1)
    }
}

/// Renders the chart as an `<svg>` element.
pub fn timeline(r: &Recording) -> String {
    let axis = Axis::new(r);
    let x = |t: i64| axis.x(t);
    let groups: Vec<(usize, &String)> = r
        .tenants
        .iter()
        .enumerate()
        .filter(|(_, t)| r.clusters.iter().any(|c| &c.tenant == *t))
        .collect();
    let height = AXIS_H + groups.len() as f64 * GROUP_H + r.clusters.len() as f64 * ROW_H + 16.0;
    let width = LABEL_W + CHART_W + PAD_R;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="Timeline of every cluster">"#
    );
    s.push_str(concat!(
        r#"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">"#,
        r##"<rect width="6" height="6" fill="#fde68a"/><line x1="0" y1="0" x2="0" y2="6" stroke="#d97706" stroke-width="2"/></pattern></defs>"##
    ));

    // Weekend and night shading plus day gridlines, so windows are visible at a glance.
    let first_day = r.start.div_euclid(86_400) * 86_400;
    let mut day = first_day;
    while day < r.end {
        let wd = Timestamp(day).weekday();
        if wd >= 5 {
            let (a, b) = (x(day.max(r.start)), x((day + 86_400).min(r.end)));
            let _ = write!(
                s,
                r#"<rect class="weekend" x="{a:.1}" y="{AXIS_H}" width="{:.1}" height="{:.1}"><title>weekend</title></rect>"#,
                (b - a).max(0.0),
                height - AXIS_H - 16.0
            );
        }
        day += 86_400;
    }
    // Ticks per active stretch, at a step that fits its width; breaks show what they skip.
    for seg in &axis.segments {
        if seg.gap {
            let mid = (seg.x0 + seg.x1) / 2.0;
            let _ = write!(
                s,
                r#"<g class="break"><rect x="{:.1}" y="{AXIS_H}" width="{:.1}" height="{:.1}"/><text x="{mid:.1}" y="24" text-anchor="middle">⋯ {} ⋯</text><title>{} to {}: nothing but holds; compressed</title></g>"#,
                seg.x0 + 2.0,
                (seg.x1 - seg.x0 - 4.0).max(1.0),
                height - AXIS_H - 16.0,
                esc(&format_duration(seg.t1 - seg.t0)),
                relative(r.start, seg.t0),
                relative(r.start, seg.t1)
            );
            continue;
        }
        let px_per_sec = (seg.x1 - seg.x0) / (seg.t1 - seg.t0).max(1) as f64;
        let step = [
            900,
            1800,
            3600,
            7200,
            3 * 3600,
            6 * 3600,
            12 * 3600,
            86_400,
            2 * 86_400,
        ]
        .into_iter()
        .find(|st| *st as f64 * px_per_sec >= 80.0)
        .unwrap_or(7 * 86_400);
        let mut t = seg.t0.div_euclid(step) * step;
        if t < seg.t0 {
            t += step;
        }
        while t <= seg.t1 {
            let px = x(t);
            let (_, mo, d, h, mi, _) = Timestamp(t).to_civil();
            let wd = WEEKDAYS[Timestamp(t).weekday() as usize];
            let top = if step >= 86_400 {
                format!("{wd} {d:02}/{mo:02}")
            } else {
                format!("{wd} {h:02}:{mi:02}")
            };
            let _ = write!(
                s,
                r#"<line class="grid" x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}"/><text class="tick" x="{px:.1}" y="16" text-anchor="middle">{}</text><text class="tick sub" x="{px:.1}" y="30" text-anchor="middle">{}</text>"#,
                AXIS_H - 8.0,
                height - 16.0,
                esc(&top),
                esc(&relative(r.start, t))
            );
            t += step;
        }
    }

    // Rows.
    let mut y = AXIS_H;
    for (ti, tenant) in &groups {
        let colour = tenant_colour(*ti);
        let _ = write!(
            s,
            r#"<g class="tenant" data-tenant="{t}"><rect x="0" y="{:.1}" width="6" height="{:.1}" fill="{colour}"/><text class="group" x="12" y="{:.1}" fill="{colour}">{t}</text>"#,
            y + 4.0,
            GROUP_H - 8.0,
            y + 19.0,
            t = esc(tenant)
        );
        y += GROUP_H;
        let mut rows: Vec<&ClusterTrack> =
            r.clusters.iter().filter(|c| &c.tenant == *tenant).collect();
        rows.sort_by_key(|c| (upgrade_began(c), c.id.name.as_str()));
        for (ci, c) in rows.into_iter().enumerate() {
            let band = if ci % 2 == 0 { "row even" } else { "row" };
            let _ = write!(
                s,
                r#"<g class="cluster-row" data-cluster="{id}"><rect class="{band}" x="0" y="{y:.1}" width="{width}" height="{ROW_H}"/><text class="name" x="12" y="{:.1}">{name}<title>{id}{seed}</title></text>"#,
                y + 15.0,
                id = esc(&c.id.to_string()),
                name = esc(&c.id.name),
                seed = esc(&c
                    .seed
                    .as_ref()
                    .map(|s| format!(" on {s}"))
                    .unwrap_or_default()),
            );
            if let Some(seed) = &c.seed {
                let _ = write!(
                    s,
                    r#"<text class="seed" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    LABEL_W - 8.0,
                    y + 15.0,
                    esc(seed)
                );
            }
            for sp in &c.spans {
                let (x0, x1) = (x(sp.start), x(sp.end));
                let w = (x1 - x0).max(2.0);
                let (lane_y, h) = match sp.kind {
                    SpanKind::Placement | SpanKind::ControlPlane | SpanKind::Pool { .. } => {
                        (y + 2.0, 8.0)
                    }
                    SpanKind::Hold | SpanKind::Remediation => (y + 11.0, 5.0),
                    SpanKind::Fault => (y + 17.0, 3.0),
                };
                let fill = match &sp.kind {
                    SpanKind::ControlPlane => format!(r#"fill="{colour}""#),
                    SpanKind::Pool { .. } => format!(r#"fill="{colour}" fill-opacity="0.5""#),
                    _ => String::new(),
                };
                let open = if sp.closed {
                    ""
                } else {
                    " (still running at the end)"
                };
                let _ = write!(
                    s,
                    r#"<rect class="span {css}" x="{x0:.1}" y="{lane_y:.1}" width="{w:.1}" height="{h}" rx="2" {fill}><title>{title} · {id}
{label}
{from} → {to} ({dur}){open}</title></rect>"#,
                    css = sp.kind.css(),
                    title = esc(&sp.kind.title()),
                    id = esc(&c.id.to_string()),
                    label = esc(&sp.label),
                    from = relative(r.start, sp.start),
                    to = relative(r.start, sp.end),
                    dur = format_duration(sp.end - sp.start),
                );
            }
            if let Some(done) = c.completed_at {
                let px = x(done);
                let _ = write!(
                    s,
                    r#"<path class="done" d="M{:.1} {:.1} l4 4 l-4 4 l-4 -4 z"><title>{} at {} ({})</title></path>"#,
                    px,
                    y + 3.0,
                    esc(&format!("{} reached {}", c.id, c.desired_version)),
                    relative(r.start, done),
                    c.requested_at.map_or_else(String::new, |q| format!(
                        "{} after the request",
                        format_duration(done - q)
                    )),
                );
            }
            s.push_str("</g>");
            y += ROW_H;
        }
        s.push_str("</g>");
    }
    // Event markers on top of the rows.
    for (i, e) in r.events.iter().enumerate() {
        let px = x(e.at);
        let _ = write!(
            s,
            r#"<g class="event"><line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}"/><circle cx="{px:.1}" cy="{:.1}" r="7"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text><title>{} · {}</title></g>"#,
            AXIS_H - 6.0,
            height - 16.0,
            AXIS_H - 2.0,
            AXIS_H + 1.5,
            i + 1,
            relative(r.start, e.at),
            esc(&e.description)
        );
    }
    s.push_str("</svg>");
    s
}

/// When a cluster's first upgrade step began (`i64::MAX` if none did). Rows within a tenant are
/// ordered by it, then by name, so a tenant's waves read as a staircase from top to bottom.
fn upgrade_began(c: &ClusterTrack) -> i64 {
    c.spans
        .iter()
        .filter(|s| matches!(s.kind, SpanKind::ControlPlane | SpanKind::Pool { .. }))
        .map(|s| s.start)
        .min()
        .unwrap_or(i64::MAX)
}
