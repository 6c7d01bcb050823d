//! Charts drawn on the server as inline SVG: nothing loaded from elsewhere, no script. Each
//! chart has a title and a description for screen readers, and its numbers are also in the
//! page as text.

use std::fmt::Write as _;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 10.0;

/// Escapes text for SVG (XML).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn open(out: &mut String, title: &str, description: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="t d" xmlns="http://www.w3.org/2000/svg"><title id="t">{}</title><desc id="d">{}</desc>"#,
        esc(title),
        esc(description)
    );
}

/// A bar per value (e.g. active users per day), with a dashed line at `reference` (e.g.
/// seats) when given.
pub(super) fn bars(
    title: &str,
    description: &str,
    values: &[(String, f64)],
    reference: Option<(f64, &str)>,
) -> String {
    let mut out = String::new();
    open(&mut out, title, description);
    let max = values
        .iter()
        .map(|(_, v)| *v)
        .chain(reference.map(|(r, _)| r))
        .fold(1.0_f64, f64::max);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h - v / max * plot_h;
    axis(&mut out, max, &y);
    let n = values.len().max(1) as f64;
    let step = plot_w / n;
    for (i, (label, value)) in values.iter().enumerate() {
        let x = LEFT + i as f64 * step;
        let top = y(*value);
        let _ = write!(
            out,
            r#"<rect class="bar" x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}"><title>{}: {}</title></rect>"#,
            x + step * 0.15,
            step * 0.7,
            (TOP + plot_h - top).max(0.0),
            esc(label),
            value
        );
    }
    // First and last labels only: the axis stays legible at any count.
    if let (Some((first, _)), Some((last, _))) = (values.first(), values.last()) {
        let _ = write!(
            out,
            r#"<text x="{LEFT}" y="{}" class="label">{}</text><text x="{}" y="{}" class="label" text-anchor="end">{}</text>"#,
            HEIGHT - 6.0,
            esc(first),
            WIDTH - 8.0,
            HEIGHT - 6.0,
            esc(last)
        );
    }
    if let Some((r, label)) = reference {
        let _ = write!(
            out,
            r#"<line class="reference" x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/><text x="{}" y="{:.1}" class="label" text-anchor="end">{}</text>"#,
            WIDTH - 8.0,
            y(r),
            y(r),
            WIDTH - 8.0,
            y(r) - 3.0,
            esc(label)
        );
    }
    out.push_str("</svg>");
    out
}

/// A goal's course: the value so far (solid, from the start to now), the forecast (dashed,
/// from now to the deadline) and the target (a horizontal line), over the goal's time.
pub(super) struct GoalCourse<'a> {
    pub title: &'a str,
    pub target: f64,
    pub value: f64,
    pub forecast: Option<f64>,
    pub start: i64,
    pub now: i64,
    pub deadline: i64,
}

pub(super) fn goal(course: &GoalCourse<'_>) -> String {
    let mut out = String::new();
    let description = format!(
        "Value {} of target {}{}",
        course.value,
        course.target,
        course
            .forecast
            .map(|f| format!(", forecast {f:.1} at the deadline"))
            .unwrap_or_default()
    );
    open(&mut out, course.title, &description);
    let max = [course.target, course.value, course.forecast.unwrap_or(0.0)]
        .into_iter()
        .fold(1.0_f64, f64::max)
        * 1.1;
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h - v / max * plot_h;
    let span = (course.deadline - course.start).max(1) as f64;
    let x = |t: i64| LEFT + ((t - course.start) as f64 / span).clamp(0.0, 1.0) * plot_w;
    axis(&mut out, max, &y);
    let _ = write!(
        out,
        r#"<line class="target" x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><text x="{:.1}" y="{:.1}" class="label" text-anchor="end">target {}</text>"#,
        LEFT + plot_w,
        y(course.target),
        y(course.target),
        LEFT + plot_w,
        y(course.target) - 3.0,
        course.target
    );
    let _ = write!(
        out,
        r#"<line class="actual" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
        y(0.0),
        x(course.now),
        y(course.value)
    );
    if let Some(forecast) = course.forecast {
        if course.now < course.deadline {
            let _ = write!(
                out,
                r#"<line class="forecast" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
                x(course.now),
                y(course.value),
                x(course.deadline),
                y(forecast)
            );
        }
    }
    let _ = write!(
        out,
        r#"<circle class="now" cx="{:.1}" cy="{:.1}" r="3.5"/><text x="{LEFT}" y="{}" class="label">start</text><text x="{:.1}" y="{}" class="label" text-anchor="end">deadline</text>"#,
        x(course.now),
        y(course.value),
        HEIGHT - 6.0,
        LEFT + plot_w,
        HEIGHT - 6.0
    );
    out.push_str("</svg>");
    out
}

/// The y axis: zero and the maximum.
fn axis(out: &mut String, max: f64, y: &dyn Fn(f64) -> f64) {
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}"/><line class="axis" x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/><text x="{}" y="{:.1}" class="label" text-anchor="end">0</text><text x="{}" y="{:.1}" class="label" text-anchor="end">{}</text>"#,
        y(0.0),
        WIDTH - 8.0,
        y(0.0),
        y(0.0),
        LEFT - 4.0,
        y(0.0),
        LEFT - 4.0,
        y(max) + 10.0,
        round(max)
    );
}

fn round(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_no_script_or_external_reference_is_drawn() {
        let svg = bars(
            "Active <users>",
            "a & b",
            &[("<script>".to_owned(), 3.0), ("day 2".to_owned(), 5.0)],
            Some((8.0, "8 seats")),
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("href"));
        assert_eq!(svg.matches("<rect").count(), 2);
    }

    #[test]
    fn a_goal_draws_its_target_value_and_forecast() {
        let svg = goal(&GoalCourse {
            title: "Active users",
            target: 10.0,
            value: 4.0,
            forecast: Some(7.0),
            start: 0,
            now: 50,
            deadline: 100,
        });
        assert!(svg.contains(r#"class="target""#));
        assert!(svg.contains(r#"class="forecast""#));
        assert!(svg.contains("forecast 7.0 at the deadline"));
    }
}
