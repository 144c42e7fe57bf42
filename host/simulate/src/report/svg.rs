//! The timeline chart: one row per cluster grouped by tenant, spans as bars on three lanes
//! (placement and upgrades; holds and remediation; injected faults), event
//! markers, and a time axis in simulated time. Hover text comes from SVG `<title>` elements.

use std::fmt::Write as _;

use fleetward_sdk::wire::Timestamp;

use super::{esc, tenant_colour};
use crate::record::{Recording, SpanKind, relative};
use crate::scenario::format_duration;

const LABEL_W: f64 = 230.0;
const CHART_W: f64 = 1060.0;
const ROW_H: f64 = 22.0;
const GROUP_H: f64 = 28.0;
const AXIS_H: f64 = 44.0;
const PAD_R: f64 = 20.0;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Renders the chart as an `<svg>` element.
pub fn timeline(r: &Recording) -> String {
    let span = (r.end - r.start).max(60);
    let x = |t: i64| LABEL_W + (t - r.start).clamp(0, span) as f64 / span as f64 * CHART_W;
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
    // Axis ticks: daily for runs over two days, else every few hours.
    let step = if span > 2 * 86_400 {
        86_400
    } else if span > 12 * 3600 {
        6 * 3600
    } else if span > 3 * 3600 {
        3600
    } else {
        900
    };
    let mut t = r.start.div_euclid(step) * step;
    if t < r.start {
        t += step;
    }
    while t <= r.end {
        let px = x(t);
        let (_, mo, d, h, mi, _) = Timestamp(t).to_civil();
        let top = if step >= 86_400 {
            format!(
                "{} {d:02}/{mo:02}",
                WEEKDAYS[Timestamp(t).weekday() as usize]
            )
        } else {
            format!("{h:02}:{mi:02}")
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
        for (ci, c) in r
            .clusters
            .iter()
            .filter(|c| &c.tenant == *tenant)
            .enumerate()
        {
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
