//! The record pages: an enterprise (profile, cadres, visits, problems, whether its contacts were
//! reached and the form for a web sign-in link, and the link once issued), a cadre (assigned
//! enterprises, visits per month, those not visited for 30 days, those never reached), and the task
//! notices (the list, the form to issue one, and one notice's recipients).

use super::problems::status_zh;
use super::{Page, PhotoThumb, csrf_field, photo_thumbs, time_or_dash};
use crate::storage::ProblemRow;
use maud::{Markup, html};
use zhuqi_core::domain::text::date_of;
use zhuqi_core::domain::{Profile, VisitRecord};

/// A cadre assigned to an enterprise.
pub struct AssignedCadre<'a> {
    pub id: &'a str,
    pub name: String,
    /// The enterprise's chief service officer (首席服务官).
    pub chief: bool,
}

/// A visit to an enterprise, by a cadre (a name).
pub struct VisitLine<'a> {
    pub cadre: String,
    pub record: &'a VisitRecord,
    /// The visit's photos (in the record's order).
    pub photos: Vec<PhotoThumb>,
}

/// A photo an event named that has not arrived.
pub struct MissingPhoto {
    pub enterprise_id: String,
    pub enterprise_name: String,
    /// The problem whose event named it; none for a visit.
    pub problem_id: Option<String>,
    /// When the relay received the event.
    pub received_at: i64,
}

/// `/photos/missing`.
pub struct MissingPhotosPage {
    pub days: u32,
    /// Per cadre (by name), their missing photos, oldest first.
    pub cadres: Vec<(String, Vec<MissingPhoto>)>,
}

impl Page for MissingPhotosPage {
    const TITLE: &'static str = "照片未上传";
    fn body(&self) -> Markup {
        html! {
            h2 { "照片未上传（记录同步满" (self.days) "天）" }
            @if self.cadres.is_empty() {
                p id="none" { "没有未上传的照片。" }
            }
            table id="missing" {
                thead { tr { th { "上传人" } th { "张数" } th { "记录（同步时间 · 走访或问题 · 企业）" } } }
                tbody {
                    @for (cadre, photos) in &self.cadres {
                        tr {
                            td { (cadre) }
                            td { (photos.len()) }
                            td {
                                @for p in photos {
                                    span.missing {
                                        (crate::dashboard::clock::time_of(p.received_at)) " · "
                                        @match &p.problem_id {
                                            Some(id) => a href={ "/problems/" (id) } { "问题" },
                                            None => "走访",
                                        }
                                        " · "
                                        a href={ "/enterprises/" (p.enterprise_id) } { (p.enterprise_name) }
                                    }
                                    br;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `/enterprises/{id}`.
pub struct EnterprisePage<'a> {
    pub profile: &'a Profile,
    pub region_name: &'a str,
    pub cadres: Vec<AssignedCadre<'a>>,
    /// Newest first.
    pub visits: Vec<VisitLine<'a>>,
    pub problems: Vec<ProblemRow>,
    /// Whether its contacts were reached, and the form for a web sign-in link.
    pub web_access: WebAccess,
}

/// An enterprise's web access, as its page shows it to the campaign office: whether any contact
/// ever signed in (app or web), and the form that issues a contact's one-time web sign-in link
/// (picking a contact, or naming one when the enterprise has none).
pub struct WebAccess {
    pub enterprise_id: String,
    /// Its contacts: (user id, name).
    pub contacts: Vec<(String, String)>,
    /// None before the relay holds the enterprise's projection.
    pub reach: Option<crate::storage::Reach>,
    pub csrf: String,
}

fn web_access(w: &WebAccess) -> Markup {
    html! {
        h3 { "企业联系人触达" }
        @match &w.reach {
            Some(r) if r.never_reached() => p id="reach" { b.error { "从未触达" } "：企业联系人既未启用App，也未通过网页登录。" },
            Some(r) => p id="reach" {
                "已触达：App " (r.app_devices) " 台，网页登录 " (r.web_sign_ins) " 次"
                @if let Some(t) = r.last_sign_in_at { "，最近 " (date_of(t)) }
            },
            None => p id="reach" { "—" },
        }
        @if let Some(until) = w.reach.as_ref().and_then(|r| r.link_expires_at) {
            p.muted { "已发出的网页登录链接尚未使用，" (crate::dashboard::clock::time_of(until)) " 前有效。" }
        }
        form id="web-link" method="post" action={ "/enterprises/" (super::problems::enc(&w.enterprise_id)) "/web-link" } {
            (csrf_field(&w.csrf))
            @if w.contacts.is_empty() {
                p.muted { "该企业尚无联系人账号：填写联系人后生成链接，系统将为其建立账号。" }
                label { "联系人姓名 " input name="contact_name" maxlength="50" required; }
                " "
                label { "手机号（选填） " input name="contact_mobile" maxlength="11" inputmode="numeric"; }
            } @else {
                label {
                    "联系人 "
                    select name="contact" {
                        @for (id, name) in &w.contacts { option value=(id) { (name) } }
                    }
                }
            }
            " "
            button.primary { "生成网页登录链接" }
            p.muted { "链接72小时内有效，仅可使用一次；再次生成将使未使用的链接作废。企业无需安装App，用手机浏览器打开即可确认、评价和反映问题。" }
        }
    }
}

/// A web sign-in link just issued, shown once: the address and code to send by SMS.
pub struct WebLinkPage<'a> {
    /// The enterprise's page.
    pub back: &'a str,
    pub enterprise_name: &'a str,
    pub contact_name: &'a str,
    pub url: &'a str,
    pub code: &'a str,
    pub expires_at: i64,
}

impl Page for WebLinkPage<'_> {
    const TITLE: &'static str = "网页登录链接";
    fn body(&self) -> Markup {
        let until = crate::dashboard::clock::time_of(self.expires_at);
        html! {
            h2 { (self.enterprise_name) " · " (self.contact_name) }
            p { "网页登录链接（" (until) " 前有效，仅可使用一次）：" }
            p { a id="link-url" href=(self.url) { (self.url) } }
            p { "登录码：" b id="link-code" { (self.code) } }
            h3 { "短信内容" }
            p id="sms" {
                "【万人助万企】" (self.enterprise_name) (self.contact_name) "您好：请用手机打开 " (self.url)
                " 查看贵企业问题的办理情况，确认办理结果并评价，或反映新问题；无需安装App。链接" (until) "前有效，仅可使用一次。"
            }
            p.muted { "本页关闭后不再显示此链接；如需再次发送，请重新生成（原链接随即作废）。" }
            p { a href=(self.back) { "返回企业" } }
        }
    }
}

impl Page for EnterprisePage<'_> {
    const TITLE: &'static str = "企业";
    fn body(&self) -> Markup {
        let p = self.profile;
        let contacts =
            p.contacts.iter().map(|c| format!("{} {} {}", c.name, c.title, c.phone)).collect::<Vec<_>>().join("；");
        html! {
            h2 { (p.name) }
            p { "统一社会信用代码 " (p.uscc) " · " (self.region_name) " · " (p.industry) " · " (p.address) }
            p { "标签：" (p.tags.join("、")) }
            p { "联系人：" (contacts) }
            h3 { "包联干部" }
            ul id="cadres" {
                @for a in &self.cadres {
                    li { a href={ "/cadres/" (a.id) } { (a.name) } @if a.chief { "（首席服务官）" } }
                }
            }
            h3 { "走访记录" }
            table id="visits" {
                thead { tr { th { "日期" } th { "干部" } th { "走访对象" } th { "记录" } th { "宣讲政策" } th { "照片" } } }
                tbody {
                    @for v in &self.visits {
                        tr {
                            td {
                                (v.record.date)
                                @if v.record.location.is_some_and(|l| l.mock) {
                                    " " span.flag title="手机报告该位置来自模拟定位" { "模拟定位" }
                                }
                            }
                            td { (v.cadre) }
                            td { (v.record.people_met.join("、")) }
                            td { (v.record.notes) }
                            td { (v.record.policies.join("、")) }
                            td { (photo_thumbs(&v.photos, "走访照片")) }
                        }
                    }
                }
            }
            h3 { "问题" }
            ul id="problems" {
                @for r in &self.problems {
                    li { a href={ "/problems/" (r.id) } { (r.title) } " · " (status_zh(&r.status)) }
                }
            }
            (web_access(&self.web_access))
        }
    }
}

/// An enterprise assigned to a cadre.
pub struct AssignedEnterprise<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The day of the latest visit, if any.
    pub last_visit: Option<i64>,
    /// Not visited in the last 30 days.
    pub stale: bool,
}

/// `/cadres/{id}`.
pub struct CadrePage<'a> {
    pub name: &'a str,
    pub enterprises: Vec<AssignedEnterprise<'a>>,
    pub visits: usize,
    /// Visits per month (`YYYY-MM`), newest first.
    pub per_month: Vec<(String, u32)>,
    /// Assigned enterprises none of whose contacts ever activated the app or signed in on the web:
    /// (id, name).
    pub never_reached: Vec<(String, String)>,
}

impl Page for CadrePage<'_> {
    const TITLE: &'static str = "干部";
    fn body(&self) -> Markup {
        let stale: Vec<_> = self.enterprises.iter().filter(|e| e.stale).collect();
        html! {
            h2 { (self.name) }
            p { "包联企业 " (self.enterprises.len()) " 家，走访 " (self.visits) " 次" }
            h3 { "包联企业" }
            table id="assigned" {
                thead { tr { th { "企业" } th { "最近走访" } } }
                tbody {
                    @for e in &self.enterprises {
                        tr {
                            td { a href={ "/enterprises/" (e.id) } { (e.name) } }
                            td { @if let Some(d) = e.last_visit { (date_of(d)) } @else { "从未走访" } }
                        }
                    }
                }
            }
            h3 { "每月走访次数" }
            table id="per-month" {
                thead { tr { th { "月份" } th { "次数" } } }
                tbody { @for (m, n) in &self.per_month { tr { td { (m) } td { (n) } } } }
            }
            h3 { "30天未走访的包联企业（" (stale.len()) "家）" }
            ul id="stale" {
                @for e in stale { li { a href={ "/enterprises/" (e.id) } { (e.name) } } }
            }
            h3 { "从未触达的包联企业（" (self.never_reached.len()) "家）" }
            p.muted { "企业联系人既未启用App，也未通过网页登录：可在企业页面生成网页登录链接发给企业。" }
            ul id="never-reached" {
                @for (id, name) in &self.never_reached { li { a href={ "/enterprises/" (id) } { (name) } } }
            }
        }
    }
}

/// Where a task notice stands.
pub enum NoticeProgress {
    Completed,
    /// Not completed, and past its deadline.
    Late,
    Open,
}

/// A task notice of the list.
pub struct ListedNotice {
    pub id: String,
    pub title: String,
    pub issued_at: i64,
    pub deadline: i64,
    /// Recipients that completed it, of `recipients`.
    pub done: usize,
    pub recipients: usize,
    pub progress: NoticeProgress,
}

/// A recipient the issue form offers: its `to` value (`department:ID`, `cadre:ID`), its name, what
/// tells it apart from others of the same name, and whether it is ticked.
pub struct Pick<'a> {
    pub key: String,
    pub name: &'a str,
    /// A cadre's work unit and account; a department's region.
    pub detail: String,
    pub checked: bool,
}

/// What a search of the issue form found.
pub struct RecipientSearch<'a> {
    /// The words searched for, as typed.
    pub q: &'a str,
    /// Cadres (at most [`FOUND_MAX`]), then departments below the office's own region, not ticked.
    pub found: Vec<Pick<'a>>,
    /// Cadres that matched too but are not listed.
    pub more: usize,
}

/// Cadres a search lists at most: the form never lists every cadre of a region (4,000 in a city,
/// 76,000 in the province).
pub const FOUND_MAX: usize = 50;

/// The recipients the issue form offers.
pub struct RecipientPicker<'a> {
    /// The departments of the office's own region, always offered.
    pub departments: Vec<Pick<'a>>,
    /// Recipients ticked before the last search that are not among the others (all ticked).
    pub ticked: Vec<Pick<'a>>,
    /// The last search, if one was made.
    pub search: Option<RecipientSearch<'a>>,
}

/// `/notices`: the notices of the manager's subtree, and the form to issue one to its departments
/// and cadres. The form searches (its first button sends it back by GET) instead of listing every
/// cadre; what was typed and ticked comes back with the search, filled in.
pub struct NoticesPage<'a> {
    pub notices: Vec<ListedNotice>,
    /// The manager's region, which a new notice belongs to.
    pub region: &'a str,
    /// The title, body and deadline as last sent (empty at first).
    pub title: &'a str,
    pub body: &'a str,
    pub deadline: &'a str,
    pub picker: RecipientPicker<'a>,
    pub csrf: &'a str,
}

/// A recipient's checkbox.
fn pick(p: &Pick<'_>) -> Markup {
    html! {
        label.pick {
            input type="checkbox" name="to" value=(p.key) checked[p.checked];
            (p.name)
            @if !p.detail.is_empty() { " " span.muted { (p.detail) } }
        }
    }
}

impl Page for NoticesPage<'_> {
    const TITLE: &'static str = "任务通知";
    fn body(&self) -> Markup {
        let picker = &self.picker;
        html! {
            h2 { "任务通知" }
            table.sortable id="notices" {
                thead { tr { th { "标题" } th { "下发" } th { "时限" } th { "完成" } th { "状态" } } }
                tbody {
                    @for n in &self.notices {
                        tr data-id=(n.id) {
                            td { a href={ "/notices/" (n.id) } { (n.title) } }
                            td { (date_of(n.issued_at)) }
                            td { (date_of(n.deadline)) }
                            td { (n.done) "/" (n.recipients) }
                            td {
                                @match n.progress {
                                    NoticeProgress::Completed => "已完成",
                                    NoticeProgress::Late => b.error { "超期未完成" },
                                    NoticeProgress::Open => "办理中",
                                }
                            }
                        }
                    }
                }
            }
            h3 id="issue" { "下发任务通知" }
            form id="issue-form" method="post" action="/notices" {
                (csrf_field(self.csrf))
                input type="hidden" name="region" value=(self.region);
                p { input name="title" placeholder="标题" required size="40" value=(self.title); }
                p { textarea name="body" rows="4" cols="60" placeholder="内容" required { (self.body) } }
                p { "时限 " input type="date" name="deadline" required value=(self.deadline); }
                fieldset.picks {
                    legend { "接收单位与干部" }
                    @if !picker.departments.is_empty() {
                        p id="own-departments" { "本级责任单位：" @for d in &picker.departments { (pick(d)) } }
                    }
                    @if !picker.ticked.is_empty() {
                        p id="ticked" { "已选（" (picker.ticked.len()) "）：" @for t in &picker.ticked { (pick(t)) } }
                    }
                    // The first button of the form, so that Enter in a field searches rather than issues.
                    p.search {
                        label {
                            "查找干部或下级责任单位 "
                            input type="search" name="q" maxlength="100" placeholder="姓名、账号、手机号或工作单位"
                                value=(picker.search.as_ref().map_or("", |s| s.q));
                        }
                        " "
                        button name="search" value="1" formmethod="get" formaction="/notices#issue" formnovalidate { "搜索" }
                    }
                    @if let Some(s) = &picker.search {
                        @if s.q.trim().is_empty() {
                            p.muted { "请输入姓名、账号、手机号或工作单位后搜索。" }
                        } @else if s.found.is_empty() {
                            p.muted id="found" { "没有找到与“" (s.q) "”相符的未选干部或责任单位。" }
                        } @else {
                            p id="found" { "搜索结果：" @for f in &s.found { (pick(f)) } }
                        }
                        @if s.more > 0 {
                            p.muted id="more" { "另有 " (s.more) " 名干部相符，未列出；请输入更多关键词缩小范围。" }
                        }
                    }
                    p.muted { "勾选后可继续搜索，已勾选的接收方和已填写的内容会保留。" }
                }
                button.primary { "下发" }
            }
        }
    }
}

/// A recipient of a task notice (a department or a cadre, by name).
pub struct NoticeRecipient {
    pub name: String,
    pub acknowledged_at: Option<i64>,
    pub completed_at: Option<i64>,
}

/// `/notices/{id}`.
pub struct NoticePage<'a> {
    pub title: &'a str,
    /// Who issued it (a name).
    pub issued_by: &'a str,
    pub issued_at: i64,
    pub deadline: i64,
    pub completed: bool,
    pub recipients: Vec<NoticeRecipient>,
    /// Now, for the recipients still due.
    pub now: i64,
}

impl Page for NoticePage<'_> {
    const TITLE: &'static str = "任务通知";
    fn body(&self) -> Markup {
        let on_time = |r: &NoticeRecipient| match r.completed_at {
            Some(d) if d <= self.deadline => "是",
            Some(_) => "否",
            None if self.deadline < self.now => "超期",
            None => "—",
        };
        html! {
            h2 { (self.title) }
            p {
                (self.issued_by) " 下发于 " (date_of(self.issued_at)) " · 时限 " (date_of(self.deadline)) " · "
                @if self.completed { "已全部完成" } @else { "办理中" }
            }
            table id="recipients" {
                thead { tr { th { "接收方" } th { "签收" } th { "完成" } th { "按期" } } }
                tbody {
                    @for r in &self.recipients {
                        tr {
                            td { (r.name) }
                            td { (time_or_dash(r.acknowledged_at)) }
                            td { (time_or_dash(r.completed_at)) }
                            td { (on_time(r)) }
                        }
                    }
                }
            }
        }
    }
}
