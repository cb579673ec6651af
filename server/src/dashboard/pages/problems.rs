//! The problem pages: the filtered list (with its exports) and one problem's page, with its whole
//! timeline and the desk's forms to urge (催办), route (交办) and escalate (提级督办) it, and, once
//! resolved, to record a call-back (回访代确认) or close it unanswered (超时未确认).

use super::{Choice, Page, PhotoThumb, csrf_field, option, photo_thumbs, time_or_dash};
use crate::dashboard::clock::time_of;
use crate::storage::ProblemRow;
use maud::{Markup, html};
use zhuqi_core::domain::problem::level_zh;
use zhuqi_core::domain::text::date_of;
use zhuqi_core::domain::{Category, ProblemState, ProblemStatus};

/// A problem status in Chinese, from its stored name.
pub fn status_zh(s: &str) -> &'static str {
    ProblemStatus::parse(s).map_or("未知", |s| s.zh())
}

/// A problem category in Chinese, from its stored name.
pub fn category_zh(c: &str) -> &'static str {
    Category::parse(c).map_or("其他", |c| c.zh())
}

/// The list's filters: the query of `/problems` and of its exports, and the form that sets it (the
/// field names are the form's).
#[derive(serde::Deserialize, Default)]
pub struct ProblemFilters {
    pub status: Option<String>,
    pub category: Option<String>,
    /// Text, not a number: an empty `level=` from the form means "all levels".
    pub level: Option<String>,
    pub department: Option<String>,
    pub region: Option<String>,
    pub overdue: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub q: Option<String>,
    /// Where the page starts: after the problem reported at this time (ms) with this id, as
    /// `<ms>.<id>` (the list's `rel="next"` link writes it).
    pub after: Option<String>,
}

impl ProblemFilters {
    /// Whether only problems past their deadline are asked for.
    pub fn overdue_only(&self) -> bool {
        self.overdue.as_deref() == Some("1")
    }

    /// The start of the page asked for (see `after`).
    pub fn cursor(&self) -> Option<(i64, String)> {
        let (at, id) = self.after.as_deref()?.split_once('.')?;
        Some((at.parse().ok()?, id.to_owned()))
    }

    /// The text searched for, trimmed.
    pub fn text(&self) -> &str {
        self.q.as_deref().map(str::trim).unwrap_or("")
    }

    /// `k=v&…` of the non-empty filters, percent-encoded: the same list, exported.
    pub fn query_string(&self) -> String {
        [
            ("status", &self.status),
            ("category", &self.category),
            ("level", &self.level),
            ("department", &self.department),
            ("region", &self.region),
            ("overdue", &self.overdue),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}", enc(v))))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// `s` percent-encoded for a URL's query.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One problem of the list.
pub struct ListedProblem<'a> {
    pub row: &'a ProblemRow,
    /// The responsible department's name, if it is routed to one.
    pub department: Option<&'a str>,
    /// Routed and past its deadline now.
    pub overdue: bool,
}

/// `/problems`: the manager's problems that match the filters.
pub struct ProblemsPage<'a> {
    pub filters: &'a ProblemFilters,
    /// The regions and departments of the manager's subtree, for the filters.
    pub regions: Vec<Choice<'a>>,
    pub departments: Vec<Choice<'a>>,
    pub problems: Vec<ListedProblem<'a>>,
    /// How many problems match the filters, on every page.
    pub total: u64,
    /// The cursor of the next page (see `ProblemFilters::after`), when there is one.
    pub next: Option<String>,
}

impl Page for ProblemsPage<'_> {
    const TITLE: &'static str = "问题";
    fn body(&self) -> Markup {
        let f = self.filters;
        let selected = |current: &Option<String>, value: &str| current.as_deref() == Some(value);
        let qs = f.query_string();
        html! {
            form.period method="get" action="/problems" {
                select name="region" {
                    option value="" { "全部地区" }
                    @for r in &self.regions { (option(r.id, r.name, selected(&f.region, r.id))) }
                }
                select name="status" {
                    option value="" { "全部状态" }
                    @for s in ProblemStatus::ALL { (option(s.as_str(), s.zh(), selected(&f.status, s.as_str()))) }
                }
                select name="category" {
                    option value="" { "全部类别" }
                    @for c in Category::ALL { (option(c.as_str(), c.zh(), selected(&f.category, c.as_str()))) }
                }
                select name="department" {
                    option value="" { "全部责任单位" }
                    @for d in &self.departments { (option(d.id, d.name, selected(&f.department, d.id))) }
                }
                select name="level" {
                    option value="" { "全部层级" }
                    @for l in 1..=5u8 { (option(&l.to_string(), level_zh(l), selected(&f.level, &l.to_string()))) }
                }
                label { input type="checkbox" name="overdue" value="1" checked[f.overdue_only()]; "仅超期" }
                label { "上报自" input type="date" name="from" value=(f.from.as_deref().unwrap_or("")); }
                label { "至" input type="date" name="to" value=(f.to.as_deref().unwrap_or("")); }
                input name="q" placeholder="搜索标题、描述、企业" value=(f.text());
                button { "筛选" }
            }
            p {
                a href={ "/export/problems.csv?" (qs) } { "导出 CSV" }
                " "
                a href={ "/export/problems.xlsx?" (qs) } { "导出 Excel" }
            }
            p {
                "共 " (self.total) " 个问题"
                @if self.problems.len() as u64 != self.total { "，本页 " (self.problems.len()) " 个" }
                @if f.after.is_some() { " · " a href={ "/problems?" (qs) } { "回到第一页" } }
            }
            table.sortable id="problems" {
                thead { tr {
                    th { "问题" } th { "企业" } th { "类别" } th { "状态" } th { "层级" } th { "责任单位" }
                    th { "上报" } th { "时限" } th { "催办" }
                } }
                tbody {
                    @for ListedProblem { row: p, department, overdue } in &self.problems {
                        tr data-id=(p.id) {
                            td {
                                a href={ "/problems/" (p.id) } { (p.title) }
                                @if p.conflict_count > 0 { " ⚠" }
                            }
                            td { a href={ "/enterprises/" (p.enterprise_id) } { (p.enterprise_name) } }
                            td { (category_zh(&p.category)) }
                            td { (status_zh(&p.status)) }
                            td { (p.level) }
                            td { (department.unwrap_or("—")) }
                            td data-v=(p.reported_at) { (date_of(p.reported_at)) }
                            td data-v=(p.deadline.unwrap_or(0)) {
                                @match p.deadline {
                                    Some(d) if *overdue => b.error { (date_of(d)) " 超期" },
                                    Some(d) => (date_of(d)),
                                    // Not routed within the acceptance limit.
                                    None if *overdue => b.error { "受理超期" },
                                    None => "—",
                                }
                            }
                            td { (p.urge_count) }
                        }
                    }
                }
            }
            @if let Some(next) = &self.next {
                p.pager {
                    @let sep = if qs.is_empty() { "" } else { "&" };
                    a rel="next" href={ "/problems?" (qs) (sep) "after=" (next) } { "下一页" }
                }
            }
        }
    }
}

/// What became of an event of the timeline.
pub enum EventOutcome {
    Applied,
    /// Applied, though its author had not seen some earlier events (both were made offline).
    AppliedConcurrently,
    /// Kept but not applied: it conflicted with an action by `with` (a name).
    Conflict {
        with: String,
    },
    Rejected,
    /// An action of a newer app version, which this relay does not know.
    Newer,
}

/// One event of a problem's timeline.
pub struct TimelineEvent<'a> {
    /// The action, in Chinese (上报, 交办, …).
    pub verb: &'static str,
    /// Who took it (a name).
    pub by: String,
    pub device: &'a str,
    /// The device's time.
    pub at: i64,
    /// When the relay received it, if it knows.
    pub received_at: Option<i64>,
    /// Entered late (补录): received after the offline window; the figures count it at its arrival.
    pub late_entry: bool,
    /// The photos it names (a report, a progress note, a resolution).
    pub photos: Vec<PhotoThumb>,
    /// Imported from a previous platform's history (导入): its record there and the person it names.
    pub origin: Option<&'a zhuqi_core::domain::Origin>,
    /// What the action says (a note, a resolution, a department and deadline…).
    pub text: String,
    pub outcome: EventOutcome,
}

/// `/problems/{id}`: a problem, its timeline, and the desk's actions its status allows.
pub struct ProblemPage<'a> {
    pub id: &'a str,
    pub state: &'a ProblemState,
    pub enterprise_name: &'a str,
    /// The responsible department's name, if any.
    pub department: Option<&'a str>,
    pub timeline: Vec<TimelineEvent<'a>>,
    /// The departments of the manager's subtree, to route or escalate to.
    pub departments: Vec<Choice<'a>>,
    /// The enterprise's time to answer a resolution, as the office settings at its region give it.
    pub answer_days: u32,
    /// Whether the manager's office counts deadlines given in days as working days.
    pub working_days: bool,
    pub csrf: &'a str,
}

impl Page for ProblemPage<'_> {
    const TITLE: &'static str = "问题详情";
    fn body(&self) -> Markup {
        let s = self.state;
        let id = self.id;
        let dept_options = html! {
            @for d in &self.departments { (option(d.id, d.name, s.department_id.as_deref() == Some(d.id))) }
        };
        let levels = |from: u8| html! { @for l in from..=5 { (option(&l.to_string(), level_zh(l), false)) } };
        // A deadline as a date, or as a number of days the office counts its own way.
        let deadline = html! {
            input type="date" name="deadline" title="办理时限（日期）";
            input type="number" name="days" min="1" max="366"
                placeholder=(if self.working_days { "或 N 个工作日" } else { "或 N 天" });
        };
        html! {
            h2 { (s.title) }
            p {
                (self.enterprise_name) " · " (s.category.zh()) " · " (s.status.zh())
                " · 第" (s.level) "级（" (level_zh(s.level)) "） · 责任单位：" (self.department.unwrap_or("—"))
                " · 时限：" (time_or_dash(s.deadline)) " · 催办 " (s.urge_count) " 次"
            }
            p { (s.description) }
            h3 { "全程记录" }
            table id="timeline" {
                thead { tr {
                    th { "操作" } th { "操作人" } th { "设备" } th { "设备时间" } th { "到达服务器" } th { "内容" }
                    th { "结果" }
                } }
                tbody {
                    @for e in &self.timeline {
                        tr.event.conflict[matches!(e.outcome, EventOutcome::Conflict { .. })] {
                            td { (e.verb) }
                            td {
                                @match e.origin {
                                    Some(o) => {
                                        (o.person.as_deref().unwrap_or(&e.by)) " "
                                        span.imported title={ "从原平台导入，原编号 " (o.record) } { "导入" }
                                    }
                                    None => (e.by),
                                }
                            }
                            td { (e.device) }
                            td { (time_of(e.at)) }
                            td {
                                (time_or_dash(e.received_at))
                                @if e.late_entry { " " span.late-entry title="超过离线期限才同步，考核按到达时间计" { "补录" } }
                            }
                            td { (e.text) (photo_thumbs(&e.photos, "问题照片")) }
                            td {
                                @match &e.outcome {
                                    EventOutcome::Applied => "生效",
                                    EventOutcome::AppliedConcurrently => "生效（与其他操作同时离线进行）",
                                    EventOutcome::Conflict { with } => {
                                        b.error { "冲突" } "：与 " (with) " 的操作冲突，未生效但已保留"
                                    }
                                    EventOutcome::Rejected => "无效",
                                    EventOutcome::Newer => "新版本操作",
                                }
                            }
                        }
                    }
                }
            }
            @if s.status == ProblemStatus::Routed {
                h3 { "催办" }
                form method="post" action={ "/problems/" (id) "/urge" } {
                    (csrf_field(self.csrf))
                    input name="note" placeholder="催办说明" size="40";
                    button.primary id="urge" { "催办" }
                }
                h3 { "提级督办" }
                form method="post" action={ "/problems/" (id) "/escalate" } {
                    (csrf_field(self.csrf))
                    select name="level" { (levels(s.level.saturating_add(1).min(5))) }
                    select name="department" { option value="" { "责任单位不变" } (dept_options) }
                    (deadline)
                    input name="note" placeholder="提级原因" required;
                    button { "提级" }
                }
            }
            @if s.status == ProblemStatus::Resolved {
                h3 { "回访代确认" }
                form method="post" action={ "/problems/" (id) "/call-back" } {
                    (csrf_field(self.csrf))
                    input name="contact" placeholder="回访对象（姓名、电话）" required;
                    select name="accepted" { option value="yes" { "企业认可" } option value="no" { "企业不认可" } }
                    select name="rating" { @for r in (1..=5).rev() { option value=(r) { "满意度 " (r) } } }
                    input name="note" placeholder="回访记录（不认可时必填原因）";
                    button id="call-back" { "记录回访" }
                }
                h3 { "超时未确认销号" }
                form method="post" action={ "/problems/" (id) "/close-unanswered" } {
                    (csrf_field(self.csrf))
                    input name="note" placeholder="说明（如多次联系未回复）";
                    button { "销号（" (self.answer_days) "天未确认）" }
                }
            }
            @if matches!(s.status, ProblemStatus::Reported | ProblemStatus::Accepted | ProblemStatus::Routed) {
                h3 { @if s.status == ProblemStatus::Routed { "改派" } @else { "交办" } }
                form method="post" action={ "/problems/" (id) "/route" } {
                    (csrf_field(self.csrf))
                    select name="department" required { (dept_options) }
                    select name="level" { (levels(s.level.max(1))) }
                    (deadline)
                    input name="note" placeholder="交办说明";
                    button { "交办" }
                }
            }
        }
    }
}
