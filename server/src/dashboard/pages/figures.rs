//! The pages of figures: the overview of a region and a period (cards, the weekly chart, the
//! figures per subregion and per department) and the monthly ranking (考核).

use super::{Page, pct, table};
use crate::dashboard::clock::time_of;
use crate::dashboard::kpi::{Figures, Period};
use crate::dashboard::reports::Table;
use maud::{Markup, html};
use zhuqi_core::domain::text::date_of;

/// Everything the overview shows, computed from the projections (separated from rendering so the
/// benchmark and tests can call it).
pub struct OverviewPage {
    pub region_name: String,
    pub period: Period,
    pub total: Figures,
    pub by_region: Vec<(String, Figures)>,
    pub by_department: Vec<(String, Figures)>,
    /// Twelve weeks: each one's first day, problems opened and problems resolved.
    pub weeks: Vec<(i64, u32, u32)>,
    pub computed_at: i64,
}

impl Page for OverviewPage {
    const TITLE: &'static str = "概览";
    fn body(&self) -> Markup {
        let f = &self.total;
        let from = date_of(self.period.from);
        let to = date_of(self.period.to - 1);
        let cards = [
            ("上报问题", f.reported.to_string()),
            ("办结问题", f.resolved.to_string()),
            ("解决率", pct(f.resolution_rate)),
            ("按期办结率", pct(f.on_time_rate)),
            ("满意率", pct(f.satisfaction_rate)),
            ("平均评分", f.average_rating.map_or("—".into(), |r| format!("{r:.2}"))),
            ("当前超期", f.overdue_now.to_string()),
            ("走访次数", f.visits.to_string()),
            ("走访企业", f.enterprises_visited.to_string()),
        ];
        html! {
            form.period method="get" action="/" {
                label { "起" input type="date" name="from" value=(from); }
                label { "止" input type="date" name="to" value=(to); }
                button { "查询" }
            }
            h2 { (self.region_name) " · " (from) " 至 " (to) }
            div.cards { @for (label, value) in &cards { div.card { (label) b { (value) } } } }
            h3 { "每周新增与办结" }
            (chart(&self.weeks))
            h3 { "下级地区" }
            (figures_table("by-region", &self.by_region))
            h3 { "责任单位" }
            (figures_table("by-department", &self.by_department))
            p.muted {
                "计算于 " (time_of(self.computed_at))
                "（北京时间）。各项时间以手机上操作的时间为准；离线数据同步后，所属时段的数字随之更新。"
            }
        }
    }
}

/// The figures of named units, one row each. Rates sort by `data-v` (-1 when there is none).
fn figures_table(id: &str, rows: &[(String, Figures)]) -> Markup {
    let v = |x: Option<f64>| x.unwrap_or(-1.0);
    html! {
        table.sortable id=(id) {
            thead { tr {
                th { "单位" } th { "上报" } th { "办结" } th { "解决率" } th { "按期率" } th { "满意率" }
                th { "当前超期" } th { "走访次数" } th { "走访企业" }
            } }
            tbody {
                @for (name, f) in rows {
                    tr {
                        td { (name) }
                        td { (f.reported) }
                        td { (f.resolved) }
                        td data-v=(v(f.resolution_rate)) { (pct(f.resolution_rate)) }
                        td data-v=(v(f.on_time_rate)) { (pct(f.on_time_rate)) }
                        td data-v=(v(f.satisfaction_rate)) { (pct(f.satisfaction_rate)) }
                        td { (f.overdue_now) }
                        td { (f.visits) }
                        td { (f.enterprises_visited) }
                    }
                }
            }
        }
    }
}

/// A server-rendered chart of problems opened and resolved per week.
fn chart(weeks: &[(i64, u32, u32)]) -> Markup {
    const W: f64 = 640.0;
    const H: f64 = 180.0;
    const PAD: f64 = 24.0;
    let max = weeks.iter().map(|x| x.1.max(x.2)).max().unwrap_or(0).max(1) as f64;
    let n = weeks.len().max(1) as f64;
    let bar = (W - 2.0 * PAD) / n / 2.5;
    let one = |v: f64| format!("{v:.1}");
    html! {
        svg viewBox={ "0 0 " (W) " " (H) } role="img" aria-label="每周新增与办结问题" class="chart" {
            @for (i, (start, opened, resolved)) in weeks.iter().enumerate() {
                @let x = PAD + i as f64 * (W - 2.0 * PAD) / n;
                @for (j, (count, color, what)) in [(*opened, "#e57373", "新增"), (*resolved, "#43a047", "办结")].into_iter().enumerate() {
                    @let bh = f64::from(count) / max * (H - 2.0 * PAD);
                    rect x=(one(x + j as f64 * bar)) y=(one(H - PAD - bh)) width=(one(bar)) height=(one(bh)) fill=(color) {
                        title { (date_of(*start)) " " (what) "：" (count) }
                    }
                }
                @if i % 2 == 0 {
                    text x=(one(x)) y=(H - 6.0) font-size="9" fill="#555" { (date_of(*start)[5..]) }
                }
            }
            text x="24" y="14" font-size="11" fill="#e57373" { "■ 新增" }
            text x="84" y="14" font-size="11" fill="#43a047" { "■ 办结" }
        }
    }
}

/// The monthly ranking of the counties and of the departments, as the exports write them.
pub struct RankingPage {
    /// `YYYY-MM`.
    pub month: String,
    pub counties: Table,
    pub departments: Table,
}

impl Page for RankingPage {
    const TITLE: &'static str = "月度考核";
    fn body(&self) -> Markup {
        let month = &self.month;
        html! {
            form.period method="get" action="/ranking" {
                label { "月份" input type="month" name="month" value=(month); }
                button { "查询" }
                a href={ "/export/ranking.csv?month=" (month) } { "导出 CSV" }
                " "
                a href={ "/export/ranking.xlsx?month=" (month) } { "导出 Excel" }
            }
            h2 { (month) " 月度考核排名" }
            p.muted {
                "得分 = 40 × 解决率 + 25 × 按期办结率 + 25 × 满意率 + 10 × 走访覆盖率（当月走访过的包联企业占比）；"
                "某项当月无数据时按满分计。责任单位不计走访覆盖率项（按满分计）。"
            }
            h3 { "县区" }
            (table(&self.counties, "ranking-counties"))
            h3 { "责任单位" }
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
