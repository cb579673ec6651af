//! The pages of figures: the overview of a region and a period (cards, the monthly trend, charts
//! and the figures per subregion and per department) and the rankings of a month or a year (考核).

use super::charts::{self, Bar, RatePoint};
use super::{Page, pct, table};
use crate::dashboard::clock::time_of;
use crate::dashboard::kpi::{Figures, Period};
use crate::dashboard::overview::{MonthFigures, NoticeCounts};
use crate::dashboard::reports::Table;
use maud::{Markup, html};
use zhuqi_core::domain::text::date_of;

/// A unit's line of the overview: its figures and its task notices' progress.
pub struct UnitLine {
    pub name: String,
    pub href: Option<String>,
    pub figures: Figures,
    pub notices: NoticeCounts,
}

/// Everything the overview shows, computed from the projections (separated from rendering so the
/// benchmark and tests can call it).
pub struct OverviewPage {
    pub region_name: String,
    pub period: Period,
    /// The calendar year shown, when the period is one.
    pub year: Option<i64>,
    pub total: Figures,
    pub by_region: Vec<UnitLine>,
    pub by_department: Vec<UnitLine>,
    /// Whether visits by the visiting cadres' departments were counted (see `overview::Live`).
    pub department_visits: bool,
    /// Twelve months ending with the period: the figures published, or counted now.
    pub trend: Vec<MonthFigures>,
    /// Per category (Chinese): reported in the period, open now.
    pub categories: Vec<(String, u32, u32)>,
    /// Problems overdue now for ≤ 7 days, 8–30, 31–90, > 90.
    pub overdue_ages: [u32; 4],
    pub notices: NoticeCounts,
    pub computed_at: i64,
}

fn notice_rate(n: &NoticeCounts) -> Option<f64> {
    (n.issued > 0).then(|| f64::from(n.on_time) / f64::from(n.issued))
}

impl Page for OverviewPage {
    const TITLE: &'static str = "概览";
    fn body(&self) -> Markup {
        let f = &self.total;
        let from = date_of(self.period.from);
        let to = date_of(self.period.to - 1);
        let cards = [
            ("上报问题", f.reported.to_string()),
            ("其中企业自报", f.reported_by_enterprise.to_string()),
            ("办结问题", f.resolved.to_string()),
            ("解决率", pct(f.resolution_rate)),
            ("按期办结率", pct(f.on_time_rate)),
            ("满意率", pct(f.satisfaction_rate)),
            ("平均评分", f.average_rating.map_or("—".into(), |r| format!("{r:.2}"))),
            ("提级督办", f.escalated.to_string()),
            ("当前超期", f.overdue_now.to_string()),
            ("走访次数", f.visits.to_string()),
            ("走访企业", f.enterprises_visited.to_string()),
            ("走访覆盖率", pct(f.visit_coverage)),
            ("任务通知", format!("{} 项", self.notices.issued)),
            ("通知按期完成率", pct(notice_rate(&self.notices))),
        ];
        let trend: Vec<RatePoint> = self
            .trend
            .iter()
            .map(|m| RatePoint {
                month: m.month.clone(),
                resolution: m.figures.resolution_rate,
                on_time: m.figures.on_time_rate,
                satisfaction: m.figures.satisfaction_rate,
                frozen: m.published,
            })
            .collect();
        let rate_bars = |rows: &[UnitLine]| -> Vec<Bar> {
            rows.iter()
                .map(|u| Bar {
                    label: u.name.clone(),
                    value: u.figures.resolution_rate.unwrap_or(0.0) * 100.0,
                    display: pct(u.figures.resolution_rate),
                    href: u.href.clone(),
                })
                .collect()
        };
        let ages: Vec<(String, u32)> = ["≤7天", "8–30天", "31–90天", ">90天"]
            .iter()
            .zip(self.overdue_ages)
            .map(|(l, n)| (l.to_string(), n))
            .collect();
        let this_year = date_of(self.computed_at)[..4].to_owned();
        html! {
            form.period method="get" action="/" {
                label { "起" input type="date" name="from" value=(from); }
                label { "止" input type="date" name="to" value=(to); }
                button { "查询" }
                " "
                a href={ "/?year=" (self.year.map_or(this_year, |y| y.to_string())) } { "全年" }
            }
            h2 {
                (self.region_name) " · "
                @match self.year { Some(y) => { (y) " 年" }, None => { (from) " 至 " (to) } }
            }
            div.cards { @for (label, value) in &cards { div.card { (label) b { (value) } } } }
            h3 { "月度趋势（解决率、按期办结率、满意率）" }
            (charts::rate_trend(&trend))
            h3 { "下级地区解决率" }
            (charts::bars("下级地区解决率", &rate_bars(&self.by_region)))
            h3 { "下级地区" }
            (figures_table("by-region", &self.by_region, true))
            h3 { "责任单位解决率" }
            (charts::bars("责任单位解决率", &rate_bars(&self.by_department)))
            h3 { "责任单位（本级及下一级）" }
            (figures_table("by-department", &self.by_department, self.department_visits))
            @if !self.department_visits {
                p.muted { "责任单位的走访次数按干部所在单位统计，仅在不超过 62 天的时段内计算。" }
            }
            h3 { "问题类别（时段内上报、当前未办结）" }
            (charts::category_bars(&self.categories))
            h3 { "当前超期问题的超期时长" }
            (charts::overdue_ages(&ages))
            p.muted {
                "计算于 " (time_of(self.computed_at))
                "（北京时间）。各项时间以手机上操作的时间为准；离线数据在 7 天内同步的，计入所属时段，"
                "超过的按到达时间计（补录）。已结束月份的趋势为公布时的数字。"
            }
        }
    }
}

/// The figures of named units, one row each. Rates sort by `data-v` (-1 when there is none).
fn figures_table(id: &str, rows: &[UnitLine], visits: bool) -> Markup {
    let v = |x: Option<f64>| x.unwrap_or(-1.0);
    let count = |n: u32| if visits { n.to_string() } else { "—".to_owned() };
    html! {
        table.sortable id=(id) {
            thead { tr {
                th { "单位" } th { "上报" } th { "企业自报" } th { "办结" } th { "解决率" } th { "按期率" }
                th { "满意率" } th { "平均评分" } th { "提级督办" } th { "当前超期" } th { "走访次数" }
                th { "走访企业" } th { "通知（完成/按期/下发）" }
            } }
            tbody {
                @for UnitLine { name, href, figures: f, notices: n } in rows {
                    tr {
                        td { @match href { Some(h) => a href=(h) { (name) }, None => (name) } }
                        td { (f.reported) }
                        td { (f.reported_by_enterprise) }
                        td { (f.resolved) }
                        td data-v=(v(f.resolution_rate)) { (pct(f.resolution_rate)) }
                        td data-v=(v(f.on_time_rate)) { (pct(f.on_time_rate)) }
                        td data-v=(v(f.satisfaction_rate)) { (pct(f.satisfaction_rate)) }
                        td data-v=(v(f.average_rating)) { (f.average_rating.map_or("—".into(), |r| format!("{r:.2}"))) }
                        td { (f.escalated) }
                        td { (f.overdue_now) }
                        td { (count(f.visits)) }
                        td { (count(f.enterprises_visited)) }
                        td { (n.done) " / " (n.on_time) " / " (n.issued) }
                    }
                }
            }
        }
    }
}

/// Bars drawn at each end of a long department ranking.
const BARS_AT_ENDS: usize = 20;

/// The ranking of a month or a year, of the counties and of the departments, as the exports write
/// them.
pub struct RankingPage {
    /// `YYYY-MM` or `YYYY`.
    pub term: String,
    /// When the figures were published (none: the period is still open, counted now).
    pub published_at: Option<i64>,
    /// When the corrections beside published figures were counted.
    pub recounted_at: Option<i64>,
    pub counties: Table,
    pub departments: Table,
    /// Scores, for the charts, in rank order.
    pub county_bars: Vec<(String, f64)>,
    pub department_bars: Vec<(String, f64)>,
}

impl Page for RankingPage {
    const TITLE: &'static str = "考核排名";
    fn body(&self) -> Markup {
        let term = &self.term;
        let is_year = term.len() == 4;
        let (kind, input) = if is_year { ("year", "number") } else { ("month", "month") };
        let bars = |rows: &[(String, f64)]| -> Vec<Bar> {
            rows.iter()
                .map(|(name, score)| Bar { label: name.clone(), value: *score, display: format!("{score:.1}"), href: None })
                .collect()
        };
        html! {
            form.period method="get" action="/ranking" {
                label { (if is_year { "年份" } else { "月份" }) input type=(input) name=(kind) value=(term); }
                button { "查询" }
                a href={ "/export/ranking.csv?" (kind) "=" (term) } { "导出 CSV" }
                " "
                a href={ "/export/ranking.xlsx?" (kind) "=" (term) } { "导出 Excel" }
                " "
                @if is_year { a href="/ranking" { "月度排名" } } @else { a href={ "/ranking?year=" (&term[..4]) } { "年度排名" } }
            }
            h2 { (term) (if is_year { " 年度考核排名" } else { " 月度考核排名" }) }
            @match self.published_at {
                Some(at) => p.published {
                    "本期排名已于 " (time_of(at)) "（北京时间）公布，数字保持公布时的样子；"
                    "公布后到达的数据使结果变化的，在“更正后得分、更正后排名”两列另行列出"
                    @if let Some(at) = self.recounted_at { "（更正截至 " (time_of(at)) "）" }
                    "。"
                },
                None => p.muted { "本期尚未结束（含 7 天离线补传期），排名为当前计算结果，结束后公布并固定。" },
            }
            p.muted {
                "得分 = 40 × 解决率 + 25 × 按期办结率 + 25 × 满意率 + 10 × 走访覆盖率（期内走访过的企业占比）；"
                "某项期内无数据时按满分计。责任单位不计走访覆盖率项（按满分计）。"
            }
            h3 { "县区" }
            (charts::bars("县区得分", &bars(&self.county_bars)))
            (table(&self.counties, "ranking-counties"))
            h3 { "责任单位" }
            @if self.department_bars.len() > 2 * BARS_AT_ENDS + 10 {
                // A province's 1,276 bureaus: the first and the last of the ranking drawn, the table lists all.
                @let n = self.department_bars.len();
                @let ends: Vec<(String, f64)> = self.department_bars[..BARS_AT_ENDS].iter()
                    .chain(&self.department_bars[n - BARS_AT_ENDS..]).cloned().collect();
                p.muted { "图中为得分前 " (BARS_AT_ENDS) " 名和后 " (BARS_AT_ENDS) " 名，全部 " (n) " 个单位见下表。" }
                (charts::bars("责任单位得分（前后各 20 名）", &bars(&ends)))
            } @else {
                (charts::bars("责任单位得分", &bars(&self.department_bars)))
            }
            (table(&self.departments, "ranking-departments"))
        }
    }
}

/// `/policies`: how far the policies reached the enterprises of the manager's region.
pub struct PolicyReachPage {
    pub policies: Table,
    pub regions: Table,
    pub unmatched: Table,
    pub unmatched_total: u32,
}

impl Page for PolicyReachPage {
    const TITLE: &'static str = "政策触达";
    fn body(&self) -> Markup {
        html! {
            p.actions {
                a href="/export/policies.csv" { "导出 CSV" }
                " "
                a href="/export/policies.xlsx" { "导出 Excel" }
            }
            p.muted {
                "符合条件：企业符合政策的全部条件且政策在有效期内；已宣讲：走访记录中宣讲过该政策；"
                "有意向、已申报：企业（或其包联干部代为）标记。"
            }
            h2 { "政策" }
            (table(&self.policies, "policy-reach"))
            h2 { "地区" }
            (table(&self.regions, "region-reach"))
            h2 { "无匹配政策的企业（" (self.unmatched_total) "家）" }
            @if (self.unmatched.rows.len() as u32) < self.unmatched_total {
                p.muted { "仅列出前 " (self.unmatched.rows.len()) " 家，完整名单请导出。" }
            }
            (table(&self.unmatched, "unmatched-enterprises"))
        }
    }
}
