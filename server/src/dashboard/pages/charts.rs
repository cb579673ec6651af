//! Server-rendered charts for the dashboard's pages: inline `<svg>` markup drawn from plain data,
//! with no script and no `style` attribute (the Content-Security-Policy allows neither), coloured by
//! presentation attributes and by classes of the static stylesheet.
//!
//! Every chart is a `<figure>` holding the picture (`role="img"`, with an `aria-label` and a
//! `<title>` summarising it in Chinese) and, under a `<details>` below it, a table of the same
//! numbers, so that they can be read, copied or heard without the picture. Each mark carries a
//! `<title>` of its own (shown when hovered). Labels are escaped like every other value of a page.

use super::pct;
use maud::{Markup, html};

/// One month of the trend of the three rates.
pub struct RatePoint {
    /// `YYYY-MM`.
    pub month: String,
    /// Shares from 0 to 1 (as `kpi::Figures` holds them); `None` when there was nothing to measure.
    pub resolution: Option<f64>,
    pub on_time: Option<f64>,
    pub satisfaction: Option<f64>,
    /// The month's figures are published (fixed); otherwise they are counted now and may still move.
    pub frozen: bool,
}

/// One bar of [`bars`].
pub struct Bar {
    pub label: String,
    /// What the bar's length shows (scaled to the largest of the chart; below zero counts as zero).
    pub value: f64,
    /// The value as written beside the bar and in the table (e.g. "87.5%", "1,234").
    pub display: String,
    /// Where the bar leads, if anywhere.
    pub href: Option<String>,
}

/// The width every chart is drawn at (the stylesheet scales it down on narrow screens).
const W: f64 = 720.0;
/// The colours of the three rates, of problems reported and open, opened and resolved.
const RESOLUTION: &str = "#1565c0";
const ON_TIME: &str = "#ef6c00";
const SATISFACTION: &str = "#2e7d32";
const REPORTED: &str = "#64b5f6";
const OPEN: &str = "#e53935";
const BAR: &str = "#3f51b5";
/// From the youngest overdue problems to the oldest.
const AGE_RAMP: [&str; 4] = ["#ffb74d", "#fb8c00", "#e53935", "#b71c1c"];

/// A coordinate, with one decimal.
fn c(v: f64) -> String {
    format!("{v:.1}")
}

/// A count as Chinese statistics write it: thousands separated by commas.
pub fn count(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A label cut to `max` characters, with an ellipsis when it was longer.
fn cut(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

/// The top of a count axis and the step between its ticks (1, 2 or 5 times a power of ten, about
/// four ticks), for counts up to `max`.
fn count_scale(max: u32) -> (u32, u32) {
    let raw = (f64::from(max) / 4.0).max(1.0);
    let mut magnitude = 1u32;
    while f64::from(magnitude) * 10.0 <= raw {
        magnitude = magnitude.saturating_mul(10);
    }
    let step =
        [1, 2, 5, 10].iter().map(|k| magnitude.saturating_mul(*k)).find(|s| f64::from(*s) >= raw).unwrap_or(magnitude);
    (max.div_ceil(step).max(1).saturating_mul(step), step)
}

/// Every `n`-th label is written so that labels `width` apart, each `need` wide, do not overlap.
fn label_every(width: f64, need: f64) -> usize {
    if width <= 0.0 { 1 } else { (need / width).ceil().max(1.0) as usize }
}

/// The figure around a chart: the picture, then its numbers as a table under a `<details>`.
fn figure(kind: &str, height: f64, summary: &str, marks: Markup, table: Markup) -> Markup {
    html! {
        figure class={ "chart-box " (kind) } {
            div.chart-scroll {
                svg class={ "chart " (kind) } viewBox={ "0 0 " (W) " " (c(height)) } width=(W) height=(c(height))
                    role="img" aria-label=(summary) {
                    title { (summary) }
                    (marks)
                }
            }
            details.chart-data {
                summary { "查看数据" }
                (table)
            }
        }
    }
}

/// A line from (x1, y1) to (x2, y2).
fn line(class: &str, (x1, y1): (f64, f64), (x2, y2): (f64, f64)) -> Markup {
    html! { line class=(class) x1=(c(x1)) y1=(c(y1)) x2=(c(x2)) y2=(c(y2)) {} }
}

/// Horizontal grid lines and their labels on the left, from `top` (at `y_top`) down to 0 (at
/// `y_zero`), every `step`.
fn count_axis(left: f64, right: f64, y_top: f64, y_zero: f64, top: u32, step: u32) -> Markup {
    let ticks: Vec<u32> = (0..=top / step.max(1)).map(|k| k * step).collect();
    html! {
        @for t in ticks {
            @let y = y_zero - f64::from(t) / f64::from(top.max(1)) * (y_zero - y_top);
            (line("grid", (left, y), (right, y)))
            text.axis x=(c(left - 6.0)) y=(c(y + 4.0)) text-anchor="end" font-size="11" { (count(t)) }
        }
    }
}

/// A legend entry: a square of `colour`, then `label`.
fn swatch(x: f64, y: f64, colour: &str, label: &str) -> Markup {
    html! {
        rect x=(c(x)) y=(c(y - 9.0)) width="10" height="10" fill=(colour) {}
        text.legend x=(c(x + 14.0)) y=(c(y)) font-size="12" { (label) }
    }
}

/// A rate of the trend: its class, its name, its colour, and its value in a month.
type Series = (&'static str, &'static str, &'static str, fn(&RatePoint) -> Option<f64>);

/// The three rates by month, 0–100 %: one line per rate, a gap where a month has no value; the
/// published months' points are filled, those still counted (the current month) hollow, on a shaded
/// band, joined by a dashed line.
pub fn rate_trend(months: &[RatePoint]) -> Markup {
    const H: f64 = 270.0;
    const LEFT: f64 = 46.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 36.0;
    const BOTTOM: f64 = 44.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = months.len().max(1) as f64;
    let step = plot_w / n;
    let x = |i: usize| LEFT + (i as f64 + 0.5) * step;
    let y = |v: f64| TOP + (1.0 - if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 }) * plot_h;
    let series: [Series; 3] = [
        ("resolution", "解决率", RESOLUTION, |p| p.resolution),
        ("on-time", "按期办结率", ON_TIME, |p| p.on_time),
        ("satisfaction", "满意率", SATISFACTION, |p| p.satisfaction),
    ];
    let every = label_every(step, 56.0);
    let state = |p: &RatePoint| if p.frozen { "已公布" } else { "实时" };
    let summary = match (months.first(), months.last()) {
        (Some(first), Some(last)) => format!(
            "{}至{}各月解决率、按期办结率、满意率走势。{}（{}）：解决率 {}，按期办结率 {}，满意率 {}。",
            first.month,
            last.month,
            last.month,
            state(last),
            pct(last.resolution),
            pct(last.on_time),
            pct(last.satisfaction)
        ),
        _ => "各月解决率、按期办结率、满意率走势：暂无数据。".to_owned(),
    };
    let marks = html! {
        // The months still counted, shaded.
        @for (i, p) in months.iter().enumerate() {
            @if !p.frozen {
                rect.live-band x=(c(x(i) - step / 2.0)) y=(c(TOP)) width=(c(step)) height=(c(plot_h)) fill="#fff8e1" {}
            }
        }
        @for k in 0..=4 {
            @let v = f64::from(k) / 4.0;
            (line("grid", (LEFT, y(v)), (W - RIGHT, y(v))))
            text.axis x=(c(LEFT - 6.0)) y=(c(y(v) + 4.0)) text-anchor="end" font-size="11" { (k * 25) "%" }
        }
        @for (i, p) in months.iter().enumerate() {
            @if i % every == 0 || !p.frozen {
                text.axis x=(c(x(i))) y=(c(H - BOTTOM + 16.0)) text-anchor="middle" font-size="11" { (p.month) }
            }
            @if !p.frozen {
                text.live x=(c(x(i))) y=(c(H - BOTTOM + 30.0)) text-anchor="middle" font-size="11" { "实时" }
            }
        }
        @for (key, name, colour, value) in series {
            g class={ "series " (key) } {
                @for (i, pair) in months.windows(2).enumerate() {
                    @if let (Some(a), Some(b)) = (value(&pair[0]), value(&pair[1])) {
                        line x1=(c(x(i))) y1=(c(y(a))) x2=(c(x(i + 1))) y2=(c(y(b))) stroke=(colour) stroke-width="2"
                            stroke-dasharray=[(!(pair[0].frozen && pair[1].frozen)).then_some("5 4")] {}
                    }
                }
                @for (i, p) in months.iter().enumerate() {
                    @if let Some(v) = value(p) {
                        circle class={ "pt " (key) } cx=(c(x(i))) cy=(c(y(v))) r="3.5" stroke=(colour) stroke-width="2"
                            fill=(if p.frozen { colour } else { "#fff" }) {
                            title { (p.month) " " (name) " " (pct(Some(v))) "（" (state(p)) "）" }
                        }
                    }
                }
            }
        }
        // The legend: the rates, then what filled and hollow points mean.
        @for (j, (_, name, colour, _)) in series.iter().enumerate() {
            @let lx = LEFT + j as f64 * 112.0;
            line x1=(c(lx)) y1="14" x2=(c(lx + 18.0)) y2="14" stroke=(colour) stroke-width="2" {}
            text.legend x=(c(lx + 23.0)) y="18" font-size="12" { (name) }
        }
        circle cx=(c(LEFT + 348.0)) cy="14" r="3.5" fill="#555" stroke="#555" stroke-width="2" {}
        text.legend x=(c(LEFT + 356.0)) y="18" font-size="12" { "已公布" }
        circle cx=(c(LEFT + 416.0)) cy="14" r="3.5" fill="#fff" stroke="#555" stroke-width="2" {}
        text.legend x=(c(LEFT + 424.0)) y="18" font-size="12" { "实时（未公布）" }
    };
    let table = html! {
        table.chart-table {
            thead { tr { th { "月份" } th { "解决率" } th { "按期办结率" } th { "满意率" } th { "状态" } } }
            tbody {
                @for p in months {
                    tr {
                        td { (p.month) }
                        td { (pct(p.resolution)) }
                        td { (pct(p.on_time)) }
                        td { (pct(p.satisfaction)) }
                        td { (state(p)) }
                    }
                }
            }
        }
    };
    figure("rate-trend", H, &summary, marks, table)
}

/// Horizontal bars in the order given, scaled to the largest: the label on the left, the value on
/// the right, a link when the bar has one. A row is 16 px high, so the chart grows with its rows and
/// 150 counties stay readable.
pub fn bars(title_zh: &str, rows: &[Bar]) -> Markup {
    const ROW: f64 = 16.0;
    const TOP: f64 = 6.0;
    const LABEL_RIGHT: f64 = 166.0;
    const X0: f64 = 172.0;
    const VALUE_RIGHT: f64 = W - 6.0;
    let bar_w = W - X0 - 84.0;
    let h = TOP + rows.len().max(1) as f64 * ROW + 6.0;
    let len = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
    let max = rows.iter().map(|b| len(b.value)).fold(0.0, f64::max);
    let highest = rows.iter().max_by(|a, b| len(a.value).total_cmp(&len(b.value)));
    let lowest = rows.iter().min_by(|a, b| len(a.value).total_cmp(&len(b.value)));
    let summary = match (highest, lowest) {
        (Some(hi), Some(lo)) => format!(
            "{title_zh}：共 {} 项；最高 {} {}，最低 {} {}。",
            rows.len(),
            hi.label,
            hi.display,
            lo.label,
            lo.display
        ),
        _ => format!("{title_zh}：暂无数据。"),
    };
    let row = |i: usize, b: &Bar| {
        let top = TOP + i as f64 * ROW;
        let w = if max > 0.0 { len(b.value) / max * bar_w } else { 0.0 };
        html! {
            title { (b.label) "：" (b.display) }
            rect x=(c(X0)) y=(c(top + 2.5)) width=(c(w)) height="11" fill=(BAR) {}
            text.lbl x=(c(LABEL_RIGHT)) y=(c(top + 12.0)) text-anchor="end" font-size="12" { (cut(&b.label, 13)) }
            text.val x=(c(VALUE_RIGHT)) y=(c(top + 12.0)) text-anchor="end" font-size="12" { (b.display) }
        }
    };
    let marks = html! {
        @if rows.is_empty() {
            text.axis x=(c(X0)) y=(c(TOP + 12.0)) font-size="12" { "暂无数据" }
        }
        (line("grid", (X0, TOP), (X0, h - 6.0)))
        @for (i, b) in rows.iter().enumerate() {
            @match &b.href {
                Some(href) => a.bar-link href=(href) { g.bar { (row(i, b)) } },
                None => g.bar { (row(i, b)) },
            }
        }
    };
    let table = html! {
        table.chart-table {
            thead { tr { th { "名称" } th { (title_zh) } } }
            tbody {
                @for b in rows {
                    tr {
                        td { @match &b.href { Some(h) => a href=(h) { (b.label) }, None => (b.label) } }
                        td { (b.display) }
                    }
                }
            }
        }
    };
    figure("bars", h, &summary, marks, table)
}

/// Per category (a Chinese label): the problems reported and those still open, as a pair of bars.
pub fn category_bars(rows: &[(String, u32, u32)]) -> Markup {
    const ROW: f64 = 30.0;
    const TOP: f64 = 28.0;
    const LABEL_RIGHT: f64 = 136.0;
    const X0: f64 = 142.0;
    let bar_w = W - X0 - 70.0;
    let h = TOP + rows.len().max(1) as f64 * ROW + 6.0;
    let max = rows.iter().map(|r| r.1.max(r.2)).max().unwrap_or(0);
    let width = |n: u32| if max > 0 { f64::from(n) / f64::from(max) * bar_w } else { 0.0 };
    let reported: u32 = rows.iter().map(|r| r.1).sum();
    let open: u32 = rows.iter().map(|r| r.2).sum();
    let most = rows.iter().max_by_key(|r| r.1);
    let summary = match most {
        Some((name, n, _)) => format!(
            "各类问题的上报数与未办结数：共 {} 类，上报合计 {} 个，未办结合计 {} 个；上报最多的是{}（{} 个）。",
            rows.len(),
            count(reported),
            count(open),
            name,
            count(*n)
        ),
        None => "各类问题的上报数与未办结数：暂无数据。".to_owned(),
    };
    let marks = html! {
        (swatch(X0, 16.0, REPORTED, "上报"))
        (swatch(X0 + 70.0, 16.0, OPEN, "未办结"))
        @if rows.is_empty() {
            text.axis x=(c(X0)) y=(c(TOP + 16.0)) font-size="12" { "暂无数据" }
        }
        (line("grid", (X0, TOP), (X0, h - 6.0)))
        @for (i, (name, rep, opn)) in rows.iter().enumerate() {
            @let top = TOP + i as f64 * ROW;
            g.pair {
                title { (name) "：上报 " (count(*rep)) " 个，未办结 " (count(*opn)) " 个" }
                text.lbl x=(c(LABEL_RIGHT)) y=(c(top + 18.0)) text-anchor="end" font-size="12" { (cut(name, 10)) }
                rect x=(c(X0)) y=(c(top + 3.0)) width=(c(width(*rep))) height="11" fill=(REPORTED) {}
                text.val x=(c(X0 + width(*rep) + 4.0)) y=(c(top + 12.5)) font-size="11" { (count(*rep)) }
                rect x=(c(X0)) y=(c(top + 15.0)) width=(c(width(*opn))) height="11" fill=(OPEN) {}
                text.val x=(c(X0 + width(*opn) + 4.0)) y=(c(top + 24.5)) font-size="11" { (count(*opn)) }
            }
        }
    };
    let table = html! {
        table.chart-table {
            thead { tr { th { "类别" } th { "上报" } th { "未办结" } } }
            tbody { @for (name, rep, opn) in rows { tr { td { (name) } td { (count(*rep)) } td { (count(*opn)) } } } }
        }
    };
    figure("category-bars", h, &summary, marks, table)
}

/// Columns of `(label, count)` on a count axis, each `colour(i)`, with its count above it.
fn columns(rows: &[(String, u32)], h: f64, colour: impl Fn(usize) -> &'static str, what: &str) -> Markup {
    const LEFT: f64 = 46.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 28.0;
    let plot_w = W - LEFT - RIGHT;
    let y_zero = h - BOTTOM;
    let (top, step) = count_scale(rows.iter().map(|r| r.1).max().unwrap_or(0));
    let slot = plot_w / rows.len().max(1) as f64;
    let col_w = (slot * 0.6).min(90.0);
    let height = |n: u32| f64::from(n) / f64::from(top) * (y_zero - TOP);
    html! {
        (count_axis(LEFT, W - RIGHT, TOP, y_zero, top, step))
        @for (i, (label, n)) in rows.iter().enumerate() {
            @let mid = LEFT + (i as f64 + 0.5) * slot;
            g.column {
                title { (label) "：" (count(*n)) " " (what) }
                rect x=(c(mid - col_w / 2.0)) y=(c(y_zero - height(*n))) width=(c(col_w)) height=(c(height(*n))) fill=(colour(i)) {}
                text.val x=(c(mid)) y=(c(y_zero - height(*n) - 4.0)) text-anchor="middle" font-size="12" { (count(*n)) }
                text.axis x=(c(mid)) y=(c(y_zero + 16.0)) text-anchor="middle" font-size="12" { (label) }
            }
        }
    }
}

/// How long the problems overdue now have been overdue: a column per age bucket (labels such as
/// "≤7天", "8–30天", "31–90天", ">90天"), darker for the older.
pub fn overdue_ages(buckets: &[(String, u32)]) -> Markup {
    const H: f64 = 220.0;
    let total: u32 = buckets.iter().map(|b| b.1).sum();
    let parts: Vec<String> = buckets.iter().map(|(l, n)| format!("{l} {} 个", count(*n))).collect();
    let summary = if buckets.is_empty() {
        "当前超期问题按超期时长分布：暂无数据。".to_owned()
    } else {
        format!("当前超期问题按超期时长分布：{}；共 {} 个。", parts.join("，"), count(total))
    };
    let n = buckets.len().max(1);
    let colour = |i: usize| AGE_RAMP[(i * AGE_RAMP.len() / n).min(AGE_RAMP.len() - 1)];
    let marks = columns(buckets, H, colour, "个");
    let table = html! {
        table.chart-table {
            thead { tr { th { "超期时长" } th { "问题数" } } }
            tbody {
                @for (label, n) in buckets { tr { td { (label) } td { (count(*n)) } } }
                tr { td { "合计" } td { (count(total)) } }
            }
        }
    };
    figure("overdue-ages", H, &summary, marks, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `s` is well-formed XML: tags balanced and properly nested, attributes quoted and
    /// not repeated, no `<` in a value, every `&` an entity. Returns the start tags' names.
    fn well_formed(s: &str) -> Vec<String> {
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut rest = s;
        while let Some(at) = rest.find(['<', '&']) {
            let text = &rest[..at];
            assert!(!text.contains('>'), "a bare > in text: {text}");
            rest = &rest[at..];
            if rest.starts_with('&') {
                let end =
                    rest.find(';').unwrap_or_else(|| panic!("unterminated entity: {}", &rest[..20.min(rest.len())]));
                let name = &rest[1..end];
                assert!(
                    ["amp", "lt", "gt", "quot", "apos"].contains(&name) || name.starts_with('#'),
                    "entity &{name};"
                );
                rest = &rest[end + 1..];
                continue;
            }
            let end = {
                let mut quoted = false;
                rest.char_indices().find(|&(_, ch)| {
                    if ch == '"' {
                        quoted = !quoted;
                    }
                    ch == '>' && !quoted
                })
            }
            .expect("an unterminated tag")
            .0;
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "closing {name}");
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
            assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "tag {name}");
            let mut seen = std::collections::HashSet::new();
            while !attrs.trim().is_empty() {
                let a = attrs.trim_start();
                let (key, value) = a.split_once("=\"").unwrap_or_else(|| panic!("unquoted attribute in <{tag}>"));
                assert!(seen.insert(key.to_owned()), "attribute {key} twice in <{tag}>");
                let close = value.find('"').expect("a closing quote");
                assert!(!value[..close].contains('<'), "< in {key}");
                attrs = &value[close + 1..];
            }
            names.push(name.to_owned());
            if !self_closing {
                stack.push(name.to_owned());
            }
        }
        assert!(!rest.contains('>'));
        assert!(stack.is_empty(), "unclosed {stack:?}");
        names
    }

    /// What every chart must be: well-formed, an accessible picture, no script or inline style.
    fn check(markup: &Markup) -> String {
        let s = markup.clone().into_string();
        let names = well_formed(&s);
        assert_eq!(names.iter().filter(|n| *n == "svg").count(), 1);
        assert!(s.contains(r#"role="img""#) && s.contains("aria-label=\"") && s.contains("<title>"));
        assert!(s.contains("<details class=\"chart-data\"><summary>查看数据</summary><table"));
        assert!(!s.contains("style=") && !s.to_lowercase().contains("<script") && !s.contains("<style"), "{s}");
        assert!(!s.contains(" onclick=") && !s.contains(" onload="), "no event handler attribute");
        s
    }

    /// The fallback table of a chart.
    fn table_of(s: &str) -> &str {
        &s[s.find("<details").unwrap()..]
    }

    fn month(m: &str, r: Option<f64>, o: Option<f64>, s: Option<f64>, frozen: bool) -> RatePoint {
        RatePoint { month: m.into(), resolution: r, on_time: o, satisfaction: s, frozen }
    }

    #[test]
    fn the_rate_trend_leaves_gaps_and_marks_the_live_month() {
        let months = vec![
            month("2026-01", Some(0.875), Some(0.8), Some(0.95), true),
            month("2026-02", None, Some(0.5), Some(1.0), true),
            month("2026-03", Some(0.9), None, Some(0.333), false),
        ];
        let s = check(&rate_trend(&months));
        // A point per value, none where there is none.
        assert_eq!(s.matches(r#"<circle class="pt resolution""#).count(), 2);
        assert_eq!(s.matches(r#"<circle class="pt on-time""#).count(), 2);
        assert_eq!(s.matches(r#"<circle class="pt satisfaction""#).count(), 3);
        assert!(!s.contains("2026-02 解决率") && !s.contains("2026-03 按期办结率"));
        assert!(s.contains("<title>2026-01 解决率 87.5%（已公布）</title>"));
        assert!(s.contains("<title>2026-03 解决率 90.0%（实时）</title>"));
        // No line across a gap: resolution has none (Jan–Feb and Feb–Mar both touch February), on-time
        // one (Jan–Feb), satisfaction two, the one into the live month dashed.
        let lines = |key: &str| {
            let g = &s[s.find(&format!(r#"<g class="series {key}">"#)).unwrap()..];
            g[..g.find("</g>").unwrap()].matches("<line ").count()
        };
        assert_eq!((lines("resolution"), lines("on-time"), lines("satisfaction")), (0, 1, 2));
        assert_eq!(s.matches(r#"stroke-dasharray="5 4""#).count(), 1);
        // The live month: shaded, hollow points, named so.
        assert_eq!(s.matches("<rect class=\"live-band\"").count(), 1);
        assert!(s.contains(r##"fill="#fff"><title>2026-03"##));
        assert!(s.contains("2026-03（实时）：解决率 90.0%，按期办结率 —，满意率 33.3%"));
        let t = table_of(&s);
        for v in ["87.5%", "80.0%", "95.0%", "50.0%", "100.0%", "90.0%", "33.3%", "已公布", "实时"] {
            assert!(t.contains(&format!("<td>{v}</td>")), "{v}");
        }
        assert_eq!(t.matches("<td>—</td>").count(), 2);
        // Nothing at all.
        check(&rate_trend(&[]));
        check(&rate_trend(&[month("2026-03", None, None, None, false)]));
    }

    #[test]
    fn bars_grow_with_their_rows_link_and_escape() {
        let rows: Vec<Bar> = (0..150)
            .map(|i| Bar {
                label: format!("第{i}县<b>&"),
                value: f64::from(i) * 1.5,
                display: count(i * 1000),
                href: (i % 2 == 0).then(|| format!("/?region=41{i:04}&x=\"1\"")),
            })
            .collect();
        let s = check(&bars("县区得分", &rows));
        assert_eq!(s.matches("<rect ").count(), 150);
        assert!(s.contains(r#"viewBox="0 0 720 2412.0""#), "16 px a row: {}", &s[..300]);
        assert_eq!(s.matches(r#"<a class="bar-link" href="/?region=41"#).count(), 75);
        assert!(s.contains(r#"href="/?region=410000&amp;x=&quot;1&quot;""#));
        assert!(s.contains("第7县&lt;b&gt;&amp;") && !s.contains("<b>"));
        assert!(s.contains("最高 第149县&lt;b&gt;&amp; 149,000，最低 第0县&lt;b&gt;&amp; 0"));
        let t = table_of(&s);
        for r in &rows {
            assert!(t.contains(&format!("<td>{}</td>", r.display)), "{}", r.display);
        }
        // The largest fills the width; a negative or undefined value draws nothing.
        let odd = [
            Bar { label: "a".into(), value: 2.0, display: "2".into(), href: None },
            Bar { label: "b".into(), value: -1.0, display: "-1".into(), href: None },
            Bar { label: "c".into(), value: f64::NAN, display: "—".into(), href: None },
        ];
        let s = check(&bars("x", &odd));
        assert!(s.contains(r#"width="464.0""#) && s.matches(r#"width="0.0""#).count() == 2);
        check(&bars("空", &[]));
    }

    #[test]
    fn categories_ages_and_weeks_show_every_number() {
        let cats = vec![("融资".to_owned(), 1234, 56), ("用地".to_owned(), 7, 0), ("<人才>".to_owned(), 0, 3)];
        let s = check(&category_bars(&cats));
        assert_eq!(s.matches("<g class=\"pair\">").count(), 3);
        for v in ["1,234", "56", "7", "0", "3", "&lt;人才&gt;"] {
            assert!(table_of(&s).contains(&format!("<td>{v}</td>")), "{v}");
        }
        assert!(s.contains("上报合计 1,241 个，未办结合计 59 个；上报最多的是融资（1,234 个）"));

        let ages: Vec<(String, u32)> = [("≤7天", 3), ("8–30天", 12), ("31–90天", 0), (">90天", 1)]
            .iter()
            .map(|(l, n)| (l.to_string(), *n))
            .collect();
        let s = check(&overdue_ages(&ages));
        for (l, n) in &ages {
            let l = maud::html! { (l) }.into_string();
            assert!(table_of(&s).contains(&format!("<tr><td>{l}</td><td>{n}</td></tr>")), "{l}");
        }
        assert!(s.contains("共 16 个") && s.contains(AGE_RAMP[0]) && s.contains(AGE_RAMP[3]));

        check(&overdue_ages(&[]));
        check(&category_bars(&[]));
    }

    #[test]
    fn count_scales_and_separators() {
        assert_eq!(count_scale(0), (1, 1));
        assert_eq!(count_scale(3), (3, 1));
        assert_eq!(count_scale(17), (20, 5));
        assert_eq!(count_scale(1234), (1500, 500));
        assert_eq!(
            (count(0), count(999), count(1000), count(1_234_567)),
            ("0".into(), "999".into(), "1,000".into(), "1,234,567".into())
        );
        assert_eq!(cut("一二三四五", 5), "一二三四五");
        assert_eq!(cut("一二三四五六", 5), "一二三四…");
    }
}
