//! The infrastructure audit's report as HTML ([`render_audit`]): the same figures as the
//! terminal table, with charts drawn as inline SVG (hours per category, per week stacked by
//! traps / strategic / other, per CSM), one inline stylesheet, no script and no external
//! asset, so the file opens anywhere and can be mailed. The console shows the same report
//! as a fragment inside its own page.
//!
//! Rendered by minijinja templates whose `.html` names turn auto-escaping on: every note,
//! CSM and label from the CSV is user text and is escaped. The chart geometry is computed
//! here, in Rust; the templates only place it.

use onboard_core::audit::{CategoryKind, Report};
use serde::Serialize;
use std::sync::OnceLock;

/// Whether to render a whole HTML document or a fragment for another page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditHtml {
    /// `<!doctype html>…`, with its stylesheet.
    Document,
    /// The report's `<section>` alone (the host page brings the styles).
    Fragment,
}

/// How many bad rows the page lists (the JSON report has them all).
const N_BAD_ROWS_SHOWN: usize = 50;

const COLOR_TRAP: &str = "#c2410c";
const COLOR_STRATEGIC: &str = "#2458c6";
const COLOR_OTHER: &str = "#9aa5b1";

/// The stylesheet of the document (classes prefixed `audit-` so the fragment can share a
/// page).
pub const AUDIT_STYLE: &str = r#":root { --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; --soft: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: var(--ink); background: #fff; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem 1rem 4rem; }
h1 { font-size: 1.8rem; line-height: 1.25; margin: .4rem 0 .5rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.audit-muted { color: var(--muted); }
.audit-kpis { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0; padding: 0; list-style: none; }
.audit-kpis li { border: 1px solid var(--line); border-radius: .5rem; padding: .6rem .9rem; min-width: 10rem; background: var(--soft); }
.audit-kpis strong { display: block; font-size: 1.4rem; }
.audit-table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .95rem; }
.audit-table th, .audit-table td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
.audit-table td.num, .audit-table th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.audit-chart { width: 100%; height: auto; max-width: 100%; }
.audit-chart text { font-size: 12px; fill: var(--ink); }
.audit-legend { display: flex; gap: 1rem; flex-wrap: wrap; padding: 0; list-style: none; font-size: .9rem; }
.audit-swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: .15rem; margin-right: .3rem; vertical-align: -.05rem; }
.audit-yes { color: #1a7f4b; font-weight: 600; }
.audit-no { color: #b42318; font-weight: 600; }
.audit-examples { margin: .3rem 0 .8rem; padding-left: 1.2rem; }
.audit-examples q { quotes: "\201C" "\201D"; }
"#;

const DOCUMENT: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
{{ style }}</style>
</head>
<body>
<main>
{% include "report.html" %}
</main>
</body>
</html>
"#;

const REPORT: &str = r##"<section class="audit" aria-labelledby="audit-title">
<h1 id="audit-title">{{ title }}</h1>
<p class="audit-muted">{{ r.n_good_rows }} interactions from {{ first }} to {{ last }} ({{ r.span_days }} days, {{ r.months }} months){% if r.n_bad_rows %}; {{ r.n_bad_rows }} row(s) skipped, listed at the end{% endif %}.</p>
<ul class="audit-kpis">
<li>Total time<strong>{{ total_hours }} h</strong></li>
<li>Manual traps<strong>{{ trap_hours }} h · {{ trap_share }}</strong></li>
<li>Traps per month<strong>{{ trap_per_month }} h</strong></li>
<li>Saved per month by the program<strong>{{ saved_per_month }} h</strong></li>
<li>Traps automated<strong>{{ r.traps.n_covered }} of {{ r.traps.n_traps }}</strong></li>
</ul>
{{ legend }}

<h2>Hours per category</h2>
<svg class="audit-chart" role="img" aria-labelledby="audit-cat-title" viewBox="0 0 {{ cat.width }} {{ cat.height }}" width="{{ cat.width }}" height="{{ cat.height }}" xmlns="http://www.w3.org/2000/svg">
<title id="audit-cat-title">Hours per category</title>
{% for b in cat.bars %}<g>
<title>{{ b.label }}: {{ b.value }}</title>
<text x="{{ b.label_x }}" y="{{ b.text_y }}" text-anchor="end">{{ b.label }}</text>
<rect x="{{ b.x }}" y="{{ b.y }}" width="{{ b.width }}" height="{{ b.height }}" fill="{{ b.color }}"></rect>
<text x="{{ b.value_x }}" y="{{ b.text_y }}">{{ b.value }}</text>
</g>
{% endfor %}</svg>
<table class="audit-table">
<thead><tr><th>Category</th><th>Kind</th><th class="num">Interactions</th><th class="num">Hours</th><th class="num">Share</th><th class="num">Hours / month</th><th>Automated by the program</th><th class="num">Saved / month</th></tr></thead>
<tbody>
{% for c in categories %}<tr><td>{{ c.label }}</td><td>{{ c.kind }}</td><td class="num">{{ c.n }}</td><td class="num">{{ c.hours }}</td><td class="num">{{ c.share }}</td><td class="num">{{ c.per_month }}</td><td>{% if c.trap %}{% if c.automated %}<span class="audit-yes">yes</span>: {{ c.covered_by }}{% else %}<span class="audit-no">no</span>{% if c.looked_for %} <span class="audit-muted">(looked for {{ c.looked_for }})</span>{% endif %}{% endif %}{% endif %}</td><td class="num">{% if c.trap %}{{ c.saved }}{% endif %}</td></tr>
{% endfor %}</tbody>
</table>

<h2>Manual traps</h2>
{% for c in categories %}{% if c.trap %}<h3>{{ c.label }}: {{ c.hours }} h, {{ c.share }}</h3>
<p>{% if c.automated %}<span class="audit-yes">Automated</span> by {{ c.covered_by }}: saves about {{ c.saved }} h a month ({{ c.automation }} of {{ c.per_month }} h).{% else %}<span class="audit-no">Not automated</span> by the program{% if c.looked_for %} (it has nothing of {{ c.looked_for }}){% endif %}.{% endif %}</p>
{% if c.examples %}<ul class="audit-examples">
{% for e in c.examples %}<li><q>{{ e.note }}</q> <span class="audit-muted">× {{ e.count }}, {{ e.hours }} h, first on line {{ e.first_line }}</span></li>
{% endfor %}</ul>{% endif %}
{% endif %}{% endfor %}

<h2>Hours per week</h2>
<svg class="audit-chart" role="img" aria-labelledby="audit-week-title" viewBox="0 0 {{ week.width }} {{ week.height }}" width="{{ week.width }}" height="{{ week.height }}" xmlns="http://www.w3.org/2000/svg">
<title id="audit-week-title">Hours per week, stacked by traps, strategic work and other</title>
{% for g in week.grid %}<line x1="{{ g.x1 }}" x2="{{ g.x2 }}" y1="{{ g.y }}" y2="{{ g.y }}" stroke="#d9e2ec"></line>
<text x="{{ g.label_x }}" y="{{ g.text_y }}" text-anchor="end">{{ g.label }}</text>
{% endfor %}{% for c in week.columns %}<g>
<title>Week of {{ c.label }}: {{ c.value }}</title>
{% for s in c.segments %}<rect x="{{ c.x }}" y="{{ s.y }}" width="{{ c.width }}" height="{{ s.height }}" fill="{{ s.color }}"></rect>
{% endfor %}{% if c.show_label %}<text x="{{ c.label_x }}" y="{{ week.label_y }}" text-anchor="middle">{{ c.short_label }}</text>{% endif %}
</g>
{% endfor %}</svg>

<h2>Hours per CSM</h2>
<svg class="audit-chart" role="img" aria-labelledby="audit-csm-title" viewBox="0 0 {{ csm.width }} {{ csm.height }}" width="{{ csm.width }}" height="{{ csm.height }}" xmlns="http://www.w3.org/2000/svg">
<title id="audit-csm-title">Hours per CSM, stacked by traps, strategic work and other</title>
{% for b in csm.bars %}<g>
<title>{{ b.label }}: {{ b.value }}</title>
<text x="{{ b.label_x }}" y="{{ b.text_y }}" text-anchor="end">{{ b.label }}</text>
{% for s in b.segments %}<rect x="{{ s.x }}" y="{{ b.y }}" width="{{ s.width }}" height="{{ b.height }}" fill="{{ s.color }}"></rect>
{% endfor %}<text x="{{ b.value_x }}" y="{{ b.text_y }}">{{ b.value }}</text>
</g>
{% endfor %}</svg>
<table class="audit-table">
<thead><tr><th>CSM</th><th class="num">Interactions</th><th class="num">Hours</th><th class="num">Trap hours</th><th class="num">Trap share</th></tr></thead>
<tbody>
{% for c in csms %}<tr><td>{{ c.csm }}</td><td class="num">{{ c.n }}</td><td class="num">{{ c.hours }}</td><td class="num">{{ c.trap_hours }}</td><td class="num">{{ c.trap_share }}</td></tr>
{% endfor %}</tbody>
</table>
{% if bad_rows %}
<h2>Skipped rows</h2>
<p class="audit-muted">{{ r.n_bad_rows }} row(s) could not be read{% if more_bad_rows %}; the first {{ bad_rows|length }} problems are listed, the JSON report has all{% endif %}.</p>
<table class="audit-table">
<thead><tr><th class="num">Line</th><th>Column</th><th>Value</th><th>Problem</th></tr></thead>
<tbody>
{% for b in bad_rows %}<tr><td class="num">{{ b.line }}</td><td>{{ b.column or "" }}</td><td>{{ b.value or "" }}</td><td>{{ b.problem }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}
</section>
"##;

const LEGEND: &str = r#"<ul class="audit-legend">
{% for l in legend %}<li><span class="audit-swatch" style="background: {{ l.color }}"></span>{{ l.label }}</li>
{% endfor %}</ul>
"#;

fn templates() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        crate::academy::pages::environment(&[
            ("document.html", DOCUMENT),
            ("report.html", REPORT),
            ("legend.html", LEGEND),
        ])
    })
}

/// Renders `report` under `title`, as a whole document or as a fragment.
pub fn render_audit(
    report: &Report,
    title: &str,
    what: AuditHtml,
) -> Result<String, minijinja::Error> {
    let env = templates();
    let legend = env
        .get_template("legend.html")?
        .render(minijinja::context! {
            legend => [
                Legend { label: "Manual traps", color: COLOR_TRAP },
                Legend { label: "Strategic work", color: COLOR_STRATEGIC },
                Legend { label: "Other", color: COLOR_OTHER },
            ],
        })?;
    let context = minijinja::context! {
        title => title,
        style => minijinja::Value::from_safe_string(AUDIT_STYLE.to_owned()),
        legend => minijinja::Value::from_safe_string(legend),
        r => minijinja::Value::from_serialize(report),
        first => day(&report.first),
        last => day(&report.last),
        total_hours => number(report.total_hours),
        trap_hours => number(report.traps.hours),
        trap_share => percent(report.traps.share),
        trap_per_month => number(report.traps.hours_per_month),
        saved_per_month => number(report.traps.saved_hours_per_month),
        categories => category_rows(report),
        csms => csm_rows(report),
        cat => category_chart(report),
        week => week_chart(report),
        csm => csm_chart(report),
        bad_rows => report.bad_rows.iter().take(N_BAD_ROWS_SHOWN).collect::<Vec<_>>(),
        more_bad_rows => report.bad_rows.len() > N_BAD_ROWS_SHOWN,
    };
    let name = match what {
        AuditHtml::Document => "document.html",
        AuditHtml::Fragment => "report.html",
    };
    env.get_template(name)?.render(context)
}

#[derive(Serialize)]
struct Legend {
    label: &'static str,
    color: &'static str,
}

#[derive(Serialize)]
struct CategoryRow {
    label: String,
    kind: &'static str,
    n: u64,
    hours: String,
    share: String,
    per_month: String,
    trap: bool,
    automated: bool,
    covered_by: String,
    looked_for: String,
    automation: String,
    saved: String,
    examples: Vec<ExampleRow>,
}

#[derive(Serialize)]
struct ExampleRow {
    note: String,
    count: u64,
    hours: String,
    first_line: u64,
}

#[derive(Serialize)]
struct CsmRow {
    csm: String,
    n: u64,
    hours: String,
    trap_hours: String,
    trap_share: String,
}

fn category_rows(report: &Report) -> Vec<CategoryRow> {
    report
        .categories
        .iter()
        .map(|c| {
            let coverage = c.coverage.as_ref();
            CategoryRow {
                label: c.label.clone(),
                kind: c.kind.as_str(),
                n: c.n_interactions,
                hours: number(c.hours),
                share: percent(c.share),
                per_month: number(c.hours_per_month),
                trap: c.kind == CategoryKind::Trap,
                automated: coverage.is_some_and(|c| c.automated),
                covered_by: coverage
                    .map(|c| {
                        c.covered_by
                            .iter()
                            .map(|by| format!("{} {}", by.kind, by.key))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                looked_for: coverage
                    .map(|c| c.looked_for.join(", "))
                    .unwrap_or_default(),
                automation: percent(coverage.map_or(0.0, |c| c.automation)),
                saved: format!(
                    "{} h",
                    number(coverage.map_or(0.0, |c| c.saved_hours_per_month))
                ),
                examples: c
                    .examples
                    .iter()
                    .map(|e| ExampleRow {
                        note: e.note.clone(),
                        count: e.count,
                        hours: number(e.hours),
                        first_line: e.first_line,
                    })
                    .collect(),
            }
        })
        .collect()
}

fn csm_rows(report: &Report) -> Vec<CsmRow> {
    report
        .csms
        .iter()
        .map(|c| CsmRow {
            csm: c.csm.clone(),
            n: c.n_interactions,
            hours: number(c.hours),
            trap_hours: number(c.trap_hours),
            trap_share: percent(c.trap_share),
        })
        .collect()
}

// ------------------------------------------------------------------------------ charts

const CHART_WIDTH: f64 = 720.0;
const LABEL_WIDTH: f64 = 210.0;
const VALUE_WIDTH: f64 = 170.0;
const ROW: f64 = 26.0;
const BAR: f64 = 18.0;

#[derive(Serialize)]
struct BarChart {
    width: String,
    height: String,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct Bar {
    label: String,
    value: String,
    label_x: String,
    value_x: String,
    text_y: String,
    x: String,
    y: String,
    width: String,
    height: String,
    color: &'static str,
    /// For stacked bars.
    segments: Vec<Segment>,
}

#[derive(Serialize)]
struct Segment {
    x: String,
    y: String,
    width: String,
    height: String,
    color: &'static str,
}

fn color(kind: CategoryKind) -> &'static str {
    match kind {
        CategoryKind::Trap => COLOR_TRAP,
        CategoryKind::Strategic => COLOR_STRATEGIC,
        CategoryKind::Other => COLOR_OTHER,
    }
}

/// One horizontal bar per category, as long as its hours.
fn category_chart(report: &Report) -> BarChart {
    let max = report
        .categories
        .iter()
        .map(|c| c.hours)
        .fold(0.0, f64::max);
    let area = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let bars = report
        .categories
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let y = 6.0 + i as f64 * ROW;
            let width = scale(c.hours, max, area);
            Bar {
                label: c.label.clone(),
                value: format!("{} h ({})", number(c.hours), percent(c.share)),
                label_x: px(LABEL_WIDTH - 8.0),
                value_x: px(LABEL_WIDTH + width + 6.0),
                text_y: px(y + BAR - 5.0),
                x: px(LABEL_WIDTH),
                y: px(y),
                width: px(width),
                height: px(BAR),
                color: color(c.kind),
                segments: Vec::new(),
            }
        })
        .collect();
    BarChart {
        width: px(CHART_WIDTH),
        height: px(12.0 + report.categories.len() as f64 * ROW),
        bars,
    }
}

/// One horizontal bar per CSM, stacked traps, strategic, other.
fn csm_chart(report: &Report) -> BarChart {
    let max = report.csms.iter().map(|c| c.hours).fold(0.0, f64::max);
    let area = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let bars = report
        .csms
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let y = 6.0 + i as f64 * ROW;
            let mut x = LABEL_WIDTH;
            let mut segments = Vec::new();
            for (kind, hours) in by_kind(report, &c.hours_by_category) {
                let width = scale(hours, max, area);
                if width > 0.0 {
                    segments.push(Segment {
                        x: px(x),
                        y: px(y),
                        width: px(width),
                        height: px(BAR),
                        color: color(kind),
                    });
                }
                x += width;
            }
            Bar {
                label: c.csm.clone(),
                value: format!("{} h, {} traps", number(c.hours), percent(c.trap_share)),
                label_x: px(LABEL_WIDTH - 8.0),
                value_x: px(x + 6.0),
                text_y: px(y + BAR - 5.0),
                x: px(LABEL_WIDTH),
                y: px(y),
                width: px(x - LABEL_WIDTH),
                height: px(BAR),
                color: COLOR_OTHER,
                segments,
            }
        })
        .collect();
    BarChart {
        width: px(CHART_WIDTH),
        height: px(12.0 + report.csms.len() as f64 * ROW),
        bars,
    }
}

/// Hours of a per-category list summed by kind, in the order traps, strategic, other.
fn by_kind(report: &Report, hours_by_category: &[f64]) -> [(CategoryKind, f64); 3] {
    let mut sums = [
        (CategoryKind::Trap, 0.0),
        (CategoryKind::Strategic, 0.0),
        (CategoryKind::Other, 0.0),
    ];
    for (category, hours) in report.categories.iter().zip(hours_by_category) {
        if let Some(sum) = sums.iter_mut().find(|(kind, _)| *kind == category.kind) {
            sum.1 += hours;
        }
    }
    sums
}

#[derive(Serialize)]
struct ColumnChart {
    width: String,
    height: String,
    label_y: String,
    grid: Vec<GridLine>,
    columns: Vec<Column>,
}

#[derive(Serialize)]
struct GridLine {
    x1: String,
    x2: String,
    y: String,
    label_x: String,
    text_y: String,
    label: String,
}

#[derive(Serialize)]
struct Column {
    label: String,
    short_label: String,
    show_label: bool,
    value: String,
    x: String,
    width: String,
    label_x: String,
    segments: Vec<Segment>,
}

/// One column per week, stacked traps (bottom), strategic, other.
fn week_chart(report: &Report) -> ColumnChart {
    let (height, top, bottom, left) = (260.0, 16.0, 28.0, 64.0);
    let plot_height = height - top - bottom;
    let plot_width = CHART_WIDTH - left - 8.0;
    let max = nice_ceiling(report.weeks.iter().map(|w| w.hours).fold(0.0, f64::max));
    let n = report.weeks.len().max(1);
    let slot = plot_width / n as f64;
    let width = (slot * 0.7).max(1.0);
    // At most about ten labels along the axis.
    let step = n.div_ceil(10).max(1);
    let columns = report
        .weeks
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let x = left + i as f64 * slot + (slot - width) / 2.0;
            let mut base = top + plot_height;
            let mut segments = Vec::new();
            for (kind, hours) in [
                (CategoryKind::Trap, w.trap_hours),
                (CategoryKind::Strategic, w.strategic_hours),
                (CategoryKind::Other, w.other_hours),
            ] {
                let h = scale(hours, max, plot_height);
                if h > 0.0 {
                    base -= h;
                    segments.push(Segment {
                        x: px(x),
                        y: px(base),
                        width: px(width),
                        height: px(h),
                        color: color(kind),
                    });
                }
            }
            Column {
                label: w.week.clone(),
                short_label: w.week.get(5..).unwrap_or(&w.week).to_owned(),
                show_label: i % step == 0,
                value: format!(
                    "{} h ({} h traps, {} h strategic, {} h other)",
                    number(w.hours),
                    number(w.trap_hours),
                    number(w.strategic_hours),
                    number(w.other_hours)
                ),
                x: px(x),
                width: px(width),
                label_x: px(x + width / 2.0),
                segments,
            }
        })
        .collect();
    let grid = [0.0, 0.5, 1.0]
        .iter()
        .map(|f| {
            let y = top + plot_height - f * plot_height;
            GridLine {
                x1: px(left),
                x2: px(CHART_WIDTH - 8.0),
                y: px(y),
                label_x: px(left - 6.0),
                text_y: px(y + 4.0),
                label: format!("{} h", number(max * f)),
            }
        })
        .collect();
    ColumnChart {
        width: px(CHART_WIDTH),
        height: px(height),
        label_y: px(height - 8.0),
        grid,
        columns,
    }
}

/// The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at
/// least `value`, for the top of an axis.
fn nice_ceiling(value: f64) -> f64 {
    if !(value > 0.0 && value.is_finite()) {
        return 0.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&top| top >= value)
        .unwrap_or(10.0 * magnitude)
}

fn scale(value: f64, max: f64, length: f64) -> f64 {
    if max > 0.0 {
        (value / max * length).max(0.0)
    } else {
        0.0
    }
}

/// A coordinate with one decimal.
fn px(value: f64) -> String {
    format!("{value:.1}")
}

/// Hours as written in the report (up to 2 decimals, no trailing zeros).
fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// The date of an RFC 3339 timestamp.
fn day(timestamp: &str) -> &str {
    timestamp.get(..10).unwrap_or(timestamp)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use onboard_core::audit::{audit, Categories};

    fn report(csv: &str) -> Report {
        audit(csv.as_bytes(), &Categories::builtin(), None).unwrap()
    }

    const CSV: &str = "timestamp,csm,account,channel,minutes,note\n\
        2025-01-06,Ann,Acme,email,30,<script>alert(1)</script> password reset\n\
        2025-01-14,Bob & Co,Acme,call,90,QBR\n";

    #[test]
    fn the_document_has_svg_charts_and_no_script() {
        let html = render_audit(&report(CSV), "Audit", AuditHtml::Document).unwrap();
        assert!(html.starts_with("<!doctype html>"));
        assert_eq!(html.matches("<svg").count(), 3);
        assert!(!html.to_lowercase().contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
        assert!(html.contains("Bob &amp; Co"));
    }

    #[test]
    fn a_fragment_is_the_section_alone() {
        let html = render_audit(&report(CSV), "Audit", AuditHtml::Fragment).unwrap();
        assert!(html.starts_with("<section"));
        assert!(!html.contains("<style>"));
    }

    #[test]
    fn numbers_drop_trailing_zeros() {
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(percent(0.1234), "12.3 %");
        assert_eq!(nice_ceiling(135.67), 150.0);
        assert_eq!(nice_ceiling(7.0), 8.0);
        assert_eq!(nice_ceiling(0.0), 0.0);
    }
}
