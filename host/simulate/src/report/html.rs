//! The report page around the chart: header, summary, legend, events, violations, what-if
//! comparison and one decision ledger per tenant.

use std::fmt::Write as _;

use super::{esc, svg, tenant_colour};
use crate::compare::Comparison;
use crate::record::{LedgerEntry, Recording, absolute, relative};
use crate::scenario::format_duration;
use crate::summary::Summary;

/// Ledger rows shown per tenant before the table says how many were left out (`ledger.json`
/// always has all of them).
const MAX_LEDGER_ROWS: usize = 1500;

const CSS: &str = r#"
:root{--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 ui-sans-serif,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1340px;margin:0 auto;padding:28px 24px 64px}
h1{font-size:26px;margin:0 0 4px;letter-spacing:-.01em}
h2{font-size:18px;margin:36px 0 12px}
h3{font-size:15px;margin:24px 0 8px;display:flex;align-items:center;gap:8px}
p.lead{color:var(--muted);margin:0 0 16px;max-width:900px}
.meta{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0 0}
.pill{background:var(--card);border:1px solid var(--line);border-radius:999px;padding:3px 12px;font-size:13px;color:var(--muted)}
.pill b{color:var(--fg);font-weight:600}
.ok{color:#047857;border-color:#a7f3d0;background:#ecfdf5}
.bad{color:#b91c1c;border-color:#fecaca;background:#fef2f2}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:16px 18px;box-shadow:0 1px 2px rgba(15,23,42,.04)}
.chart{overflow-x:auto;padding:10px 8px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.dot{display:inline-block;width:10px;height:10px;border-radius:3px;vertical-align:middle}
.legend{display:flex;flex-wrap:wrap;gap:16px;margin:4px 0 10px;color:var(--muted);font-size:13px}
.legend span{display:inline-flex;align-items:center;gap:6px}
.sw{display:inline-block;width:26px;height:9px;border-radius:2px}
details summary{cursor:pointer;color:#2563eb}
details pre{white-space:pre-wrap;word-break:break-all;background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px;max-height:320px;overflow:auto;margin:6px 0 0}
.outcome{border-radius:4px;padding:1px 6px;font-size:12px;font-weight:600}
.o-applied{background:#ecfdf5;color:#047857}.o-vetoed{background:#fff7ed;color:#c2410c}
.o-fallback,.o-held,.o-error{background:#fef2f2;color:#b91c1c}
span.repeat{color:#64748b;font-size:11px}
ol.events{margin:0;padding-left:22px}ol.events li{margin:2px 0}
svg.timeline{font-family:inherit;display:block}
svg .row{fill:#fff}svg .row.even{fill:#f8fafc}
svg .weekend{fill:#eef2ff;opacity:.7}
svg .grid{stroke:#e2e8f0;stroke-width:1}
svg .tick{font-size:11px;fill:#334155}svg .tick.sub{fill:#94a3b8;font-size:10px}
svg .group{font-size:13px;font-weight:700}
svg .name{font-size:12px;fill:#0f172a}svg .seed{font-size:10px;fill:#94a3b8}
svg .span.placement{fill:#94a3b8}svg .span.remediation{fill:#f97316}
svg .span.hold{fill:url(#hatch)}svg .span.fault{fill:#dc2626}
svg .span:hover{stroke:#0f172a;stroke-width:1.5}
svg .done{fill:#0f172a}
svg .break rect{fill:#f1f5f9}svg .break text{font-size:10px;fill:#64748b}
svg .event line{stroke:#475569;stroke-dasharray:3 3;stroke-width:1}
svg .event circle{fill:#0f172a}svg .event text{fill:#fff;font-size:9px;font-weight:700}
footer{margin-top:40px;color:var(--muted);font-size:12px}
"#;

/// Renders the full page.
pub fn render(r: &Recording, s: &Summary, compare: Option<&Comparison>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{} · fleetward simulate</title><style>{CSS}</style></head><body><main>"#,
        esc(&r.scenario)
    );
    let _ = write!(h, "<h1>{}</h1>", esc(&r.scenario));
    if !r.description.is_empty() {
        let _ = write!(h, r#"<p class="lead">{}</p>"#, esc(&r.description));
    }
    let (done, total) = r.progress();
    let verdict = if r.violations.is_empty() {
        r#"<span class="pill ok">no invariant violated</span>"#.to_string()
    } else {
        format!(
            r#"<span class="pill bad"><b>{}</b> invariant violation(s)</span>"#,
            r.violations.len()
        )
    };
    let _ = write!(
        h,
        r#"<div class="meta"><span class="pill">start <b>{}</b></span><span class="pill">simulated <b>{}</b></span><span class="pill">clusters done <b>{done}/{total}</b></span><span class="pill">decisions <b>{}</b></span>{verdict}</div>"#,
        absolute(r.start),
        format_duration(r.end - r.start),
        r.ledger.len(),
    );

    summary_table(&mut h, r, s);
    conditions(&mut h, r, s);
    rollout_control(&mut h, r);
    seeds(&mut h, r);

    h.push_str(r#"<h2>Timeline</h2><div class="card chart">"#);
    legend(&mut h, r);
    h.push_str(&svg::timeline(r));
    h.push_str("</div>");

    if !r.events.is_empty() {
        h.push_str(r#"<h2>Events</h2><div class="card"><ol class="events">"#);
        for e in &r.events {
            let _ = write!(
                h,
                r#"<li><span class="mono">{}</span> — {}</li>"#,
                relative(r.start, e.at),
                esc(&e.description)
            );
        }
        h.push_str("</ol></div>");
    }

    if !r.violations.is_empty() {
        h.push_str(r#"<h2>Invariant violations</h2><div class="card"><table><thead><tr><th>time</th><th>object</th><th>invariant</th><th>detail</th></tr></thead><tbody>"#);
        for v in &r.violations {
            let _ = write!(
                h,
                r#"<tr><td class="mono">{}</td><td class="mono">{}</td><td><b>{}</b></td><td>{}</td></tr>"#,
                relative(r.start, v.at),
                esc(&v.object),
                esc(&v.invariant),
                esc(&v.detail)
            );
        }
        h.push_str("</tbody></table></div>");
    }

    if let Some(c) = compare {
        comparison(&mut h, r, c);
    }

    h.push_str("<h2>Decision ledger</h2>");
    for (ti, tenant) in r.tenants.iter().enumerate() {
        ledger(&mut h, r, ti, tenant);
    }
    h.push_str("<footer>Generated by <code>fleetward simulate</code> from the real controller running against the embedded API emulator on a virtual clock. Same scenario, same report.</footer></main></body></html>\n");
    h
}

fn summary_table(h: &mut String, r: &Recording, s: &Summary) {
    h.push_str(r#"<h2>Summary</h2><div class="card"><table><thead><tr><th>tenant</th><th class="num">clusters</th><th class="num">upgraded</th><th class="num">waves</th><th class="num">time to complete</th><th class="num">remediations</th><th class="num">holds</th><th class="num">policy errors</th><th class="num">fallbacks</th><th class="num">vetoes</th><th class="num">waiting</th><th class="num">decisions</th></tr></thead><tbody>"#);
    for t in &s.tenants {
        let i = r.tenants.iter().position(|x| *x == t.tenant).unwrap_or(0);
        let ttc = match t.time_to_complete {
            Some(d) => format_duration(d),
            None if t.requested == 0 => "—".into(),
            None => "incomplete".into(),
        };
        let _ = write!(
            h,
            r#"<tr><td><span class="dot" style="background:{}"></span> <b>{}</b></td><td class="num">{}</td><td class="num">{}/{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            tenant_colour(i),
            esc(&t.tenant),
            t.clusters,
            t.upgraded,
            t.requested,
            t.waves,
            ttc,
            t.remediations,
            t.holds,
            t.policy_errors,
            t.fallbacks,
            t.vetoes,
            t.waiting,
            t.decisions
        );
    }
    h.push_str("</tbody></table></div>");
}

/// One row per condition episode (a tenant's policy degraded, a seed unreachable, …), with its
/// reasons; nothing when the controller reported no unhealthy condition.
fn conditions(h: &mut String, r: &Recording, s: &Summary) {
    if s.conditions.is_empty() {
        return;
    }
    h.push_str(r#"<h2>Conditions</h2><div class="card"><table><thead><tr><th>subject</th><th>condition</th><th>reasons</th><th>from</th><th>to</th><th class="num">objects</th><th>message</th></tr></thead><tbody>"#);
    for e in &s.conditions {
        let _ = write!(
            h,
            r#"<tr><td><b>{}</b></td><td class="mono">{}={}</td><td class="mono">{}</td><td class="mono">{}</td><td class="mono">{}</td><td class="num" title="{}">{}</td><td>{}</td></tr>"#,
            esc(&e.subject),
            esc(&e.condition),
            esc(&e.status),
            esc(&e.reasons.join(", ")),
            relative(r.start, e.start),
            e.end
                .map_or_else(|| "end of run".into(), |t| relative(r.start, t)),
            esc(&e.objects.join(", ")),
            e.objects.len(),
            esc(&crate::conditions::one_line(&e.message, 300))
        );
    }
    h.push_str("</tbody></table></div>");
}

/// Operator control of each tenant's rollout (left out when there was none): one row per
/// paused, waiting-for-approval or aborted span, then who approved which gate.
fn rollout_control(h: &mut String, r: &Recording) {
    let rc = &r.rollouts;
    if rc.is_empty() {
        return;
    }
    h.push_str(r#"<h2>Rollout control</h2><div class="card">"#);
    if !rc.spans.is_empty() {
        h.push_str(r#"<table><thead><tr><th>tenant</th><th>rollout</th><th>state</th><th>from</th><th>to</th><th class="num">for</th><th>who / why</th><th>clusters</th></tr></thead><tbody>"#);
        for sp in &rc.spans {
            let state = match &sp.gate {
                Some(g) => format!("{} <b>{}</b>", sp.kind.title(), esc(g)),
                None => format!("<b>{}</b>", sp.kind.title()),
            };
            let detail = match sp.kind {
                crate::rollout_spans::RolloutSpanKind::WaitingForApproval => String::new(),
                _ => esc(&sp.detail),
            };
            let _ = write!(
                h,
                r#"<tr><td><b>{}</b></td><td class="mono">{}</td><td>{state}</td><td class="mono">{}</td><td class="mono">{}</td><td class="num">{}</td><td>{detail}</td><td class="mono" title="{}">{}</td></tr>"#,
                esc(&sp.tenant),
                esc(&sp.rollout),
                relative(r.start, sp.start),
                if sp.closed {
                    relative(r.start, sp.end)
                } else {
                    "end of run".into()
                },
                format_duration(sp.end - sp.start),
                esc(&sp.clusters.join(", ")),
                sp.clusters.len(),
            );
        }
        h.push_str("</tbody></table>");
    }
    if !rc.approvals.is_empty() {
        h.push_str(r#"<table><thead><tr><th>tenant</th><th>rollout</th><th>gate</th><th>approved by</th><th>approved at</th><th>accepted</th><th>approval</th></tr></thead><tbody>"#);
        for a in &rc.approvals {
            let _ = write!(
                h,
                r#"<tr><td><b>{}</b></td><td class="mono">{}</td><td><b>{}</b></td><td><b>{}</b></td><td class="mono">{}</td><td class="mono">{}</td><td class="mono">{}</td></tr>"#,
                esc(&a.tenant),
                esc(&a.rollout),
                esc(&a.gate),
                esc(&a.by),
                esc(&a.approved_at),
                relative(r.start, a.seen_at),
                esc(&a.approval),
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</div>");
}

/// One row per seed: its API server, clusters, injected API outages, how the controller saw it
/// (`Ready` over time) and the writes its server served.
fn seeds(h: &mut String, r: &Recording) {
    if r.seeds.is_empty() {
        return;
    }
    h.push_str(r#"<h2>Seeds</h2><div class="card"><table><thead><tr><th>seed</th><th>API server</th><th class="num">clusters</th><th>API outages</th><th>Ready (as the controller saw it)</th><th class="num">writes</th></tr></thead><tbody>"#);
    for seed in &r.seeds {
        let outages = if seed.outages.is_empty() {
            "—".to_string()
        } else {
            seed.outages
                .iter()
                .map(|o| {
                    format!(
                        "{} {}–{}{}",
                        esc(&o.kind),
                        relative(r.start, o.start),
                        relative(r.start, o.end),
                        if o.closed { "" } else { " (still out)" }
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let ready = if seed.ready.is_empty() {
            "—".to_string()
        } else {
            seed.ready
                .iter()
                .map(|c| {
                    format!(
                        r#"<span class="mono">{}</span> {} <small>{}</small>"#,
                        relative(r.start, c.at),
                        esc(&c.status),
                        esc(&c.reason)
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let _ = write!(
            h,
            r#"<tr data-seed="{}"><td><b>{}</b></td><td class="mono">{}</td><td class="num" title="{}">{}</td><td>{outages}</td><td>{ready}</td><td class="num">{}</td></tr>"#,
            esc(&seed.name),
            esc(&seed.name),
            // host:port only: the page carries no URL (it is self-contained, nothing to follow).
            esc(seed.server.trim_start_matches("https://")),
            esc(&seed.clusters.join(" ")),
            seed.clusters.len(),
            seed.writes
        );
    }
    h.push_str("</tbody></table></div>");
}

fn legend(h: &mut String, r: &Recording) {
    h.push_str(r#"<div class="legend">"#);
    for (i, t) in r.tenants.iter().enumerate() {
        let c = tenant_colour(i);
        let _ = write!(
            h,
            r#"<span><i class="sw" style="background:{c}"></i>{} control plane</span><span><i class="sw" style="background:{c};opacity:.5"></i>{} node pools</span>"#,
            esc(t),
            esc(t)
        );
    }
    h.push_str(concat!(
        r#"<span><i class="sw" style="background:#94a3b8"></i>placement</span>"#,
        r#"<span><i class="sw" style="background:repeating-linear-gradient(45deg,#fde68a 0 3px,#d97706 3px 5px)"></i>hold (hover for reason)</span>"#,
        r#"<span><i class="sw" style="background:#f97316"></i>remediation</span>"#,
        r#"<span><i class="sw" style="background:#dc2626"></i>injected fault</span>"#,
        r##"<span><svg width="12" height="12" viewBox="0 0 12 12"><path d="M6 1 l5 5 l-5 5 l-5 -5 z" fill="#0f172a"/></svg>done</span><span><svg width="14" height="14" viewBox="0 0 14 14"><circle cx="7" cy="7" r="6" fill="#0f172a"/><text x="7" y="10" text-anchor="middle" font-size="8" fill="#fff" font-weight="700">1</text></svg>timeline event</span>"##,
        r#"<span><i class="sw" style="background:#eef2ff"></i>weekend</span>"#,
        r#"<span><i class="sw" style="background:#f1f5f9;border:1px dashed #cbd5e1"></i>idle stretch, compressed</span>"#,
        "</div>"
    ));
}

fn comparison(h: &mut String, r: &Recording, c: &Comparison) {
    let _ = write!(
        h,
        r#"<h2>What-if: {}</h2><div class="card">"#,
        esc(&c.overrides.join(", "))
    );
    let _ = write!(
        h,
        "<p>{} cluster(s) finish at a different time, {} unchanged; {} decision(s) changed. The timeline above shows the run <b>with</b> the override.</p>",
        c.moved.len(),
        c.unchanged,
        c.decisions.len()
    );
    if !c.moved.is_empty() {
        h.push_str(r#"<table class="moved"><thead><tr><th>cluster</th><th>tenant</th><th>baseline</th><th>with override</th><th>change</th></tr></thead><tbody>"#);
        for d in &c.moved {
            let at = |t: Option<i64>| t.map_or_else(|| "never".into(), |t| relative(r.start, t));
            let class = match d.delta() {
                Some(x) if x < 0 => "ok",
                Some(0) => "",
                _ => "bad",
            };
            let _ = write!(
                h,
                r#"<tr><td class="mono">{}</td><td>{}</td><td class="mono">{}</td><td class="mono">{}</td><td><span class="pill {class}">{}</span></td></tr>"#,
                esc(&d.cluster),
                esc(&d.tenant),
                at(d.baseline),
                at(d.variant),
                esc(&d.describe())
            );
        }
        h.push_str("</tbody></table>");
    }
    if !c.decisions.is_empty() {
        h.push_str(r#"<h3>Decisions that changed</h3><table><thead><tr><th>time</th><th>tenant</th><th>kind</th><th>baseline</th><th>with override</th></tr></thead><tbody>"#);
        for d in c.decisions.iter().take(MAX_LEDGER_ROWS) {
            let side = |e: &Option<crate::record::LedgerEntry>| match e {
                None => "<i>no decision</i>".to_string(),
                Some(e) => format!(
                    r#"<span class="outcome o-{o}">{o}</span> {}<details><summary>output</summary><pre>{}</pre></details>"#,
                    esc(&e.reason),
                    esc(&pretty(&e.output_json)),
                    o = esc(&e.outcome)
                ),
            };
            let _ = write!(
                h,
                r#"<tr><td class="mono">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                relative(r.start, d.at),
                esc(&d.tenant),
                esc(&d.kind),
                side(&d.baseline),
                side(&d.variant)
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</div>");
}

fn ledger(h: &mut String, r: &Recording, ti: usize, tenant: &str) {
    let entries: Vec<_> = r.ledger.iter().filter(|e| e.tenant == tenant).collect();
    let _ = write!(
        h,
        r#"<h3 id="ledger-{t}"><span class="dot" style="background:{}"></span>{t} <span class="pill">{} decisions</span></h3><div class="card"><table class="ledger" data-tenant="{t}"><thead><tr><th>time</th><th>decision</th><th>module</th><th>input</th><th>outcome</th><th>reason</th><th>output</th></tr></thead><tbody>"#,
        tenant_colour(ti),
        entries.len(),
        t = esc(tenant)
    );
    // Consecutive identical answers (a controller re-asking while nothing changes) collapse
    // into one row with a count; ledger.json keeps every record.
    let mut groups: Vec<(&LedgerEntry, &LedgerEntry, usize)> = Vec::new();
    for e in entries.iter().copied() {
        match groups.last_mut() {
            Some((first, last, n)) if same_answer(first, e) => {
                *last = e;
                *n += 1;
            }
            _ => groups.push((e, e, 1)),
        }
    }
    for (e, last, n) in groups.iter().take(MAX_LEDGER_ROWS) {
        let clusters = if e.clusters.len() > 3 {
            format!("{} clusters", e.clusters.len())
        } else {
            e.clusters.join(", ")
        };
        let when = if *n > 1 {
            format!(
                "{}<br><span class=\"repeat\">×{n} until {}</span>",
                relative(r.start, e.at),
                relative(r.start, last.at)
            )
        } else {
            relative(r.start, e.at)
        };
        let _ = write!(
            h,
            r#"<tr><td class="mono" title="{}">{when}</td><td>{}<br><span class="mono" style="color:#64748b">{}</span></td><td class="mono" title="{}">{}</td><td class="mono" title="{}">{}</td><td><span class="outcome o-{o}">{o}</span></td><td>{}</td><td><details><summary>json</summary><pre>{}</pre></details></td></tr>"#,
            absolute(e.at),
            esc(&e.kind),
            esc(&clusters),
            esc(&e.digest),
            esc(short(&e.digest)),
            esc(&e.input_sha256),
            esc(short(&e.input_sha256)),
            esc(&e.reason),
            esc(&pretty(&e.output_json)),
            o = esc(&e.outcome),
        );
    }
    h.push_str("</tbody></table>");
    if groups.len() > MAX_LEDGER_ROWS {
        let _ = write!(
            h,
            "<p>{} more rows in <code>ledger.json</code>.</p>",
            groups.len() - MAX_LEDGER_ROWS
        );
    }
    h.push_str("</div>");
}

/// Same decision content (the time and input may differ).
fn same_answer(a: &LedgerEntry, b: &LedgerEntry) -> bool {
    a.kind == b.kind
        && a.clusters == b.clusters
        && a.digest == b.digest
        && a.output_json == b.output_json
        && a.outcome == b.outcome
        && a.reason == b.reason
}

fn short(digest: &str) -> &str {
    crate::scenario::short_hex(digest)
}

fn pretty(json: &str) -> String {
    if json.is_empty() {
        return "(no output)".into();
    }
    serde_json::from_str::<serde_json::Value>(json)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| json.to_string())
}
