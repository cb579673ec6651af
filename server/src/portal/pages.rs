//! The enterprise pages' HTML, rendered with maud like the dashboard's (`dashboard::pages`: markup
//! checked by the compiler, every value escaped). Written for a phone on weak 4G and for the
//! browsers inside messaging apps: one small stylesheet (`/e/e.css`), no script, no images, no
//! fonts; every action is a plain form. A page is a view struct; handlers never write markup.
//!
//! To change a page safely: keep its ids, classes, texts and field names — the end-to-end and
//! browser tests (`tests/tests/enterprise_web.rs`, `tests/browser/enterprise.test.mjs`) find things
//! by them — and write no inline script or `style` attribute (the Content-Security-Policy forbids
//! both).

use crate::http::error::ApiError;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use zhuqi_core::domain::text::date_of;
use zhuqi_core::domain::{Category, ProblemStatus};

/// A page: its title and the contents of its `<main>`.
pub trait Page {
    const TITLE: &'static str;
    fn body(&self) -> Markup;
}

/// Who a page is shown to: the enterprise and contact in the header, and the CSRF token of the
/// sign-out form.
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    pub enterprise: &'a str,
    pub contact: &'a str,
    pub csrf: &'a str,
}

/// A whole page.
pub fn render<P: Page>(page: &P, frame: Option<Frame<'_>>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (P::TITLE) " · 万人助万企" }
                link rel="stylesheet" href="/e/e.css";
            }
            body {
                header {
                    b { "万人助万企 · 企业服务" }
                    @if let Some(f) = frame {
                        span { (f.contact) }
                        form method="post" action="/e/sign-out" {
                            (csrf_field(f.csrf))
                            button id="sign-out" { "退出" }
                        }
                    }
                }
                main { (page.body()) }
            }
        }
    }
}

/// The hidden field that carries the CSRF token in a form.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A day (China time).
fn day(ms: i64) -> String {
    date_of(ms)
}

/// A moment to the minute (China time).
pub fn minute(ms: i64) -> String {
    let local = ms + 8 * 3_600_000;
    let in_day = local.rem_euclid(86_400_000) / 60_000;
    format!("{} {:02}:{:02}", date_of(ms), in_day / 60, in_day % 60)
}

/// A refusal as a page: the status, why (in Chinese, with its code for tests and support), and the
/// way back.
pub fn refusal(e: &ApiError, back: &str) -> Response {
    let page = RefusalPage { code: e.code, message_zh: e.message_zh, back };
    let mut r = (e.status, render(&page, None)).into_response();
    if let Some(s) = e.retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        r.headers_mut().insert(header::RETRY_AFTER, s);
    }
    r
}

struct RefusalPage<'a> {
    code: &'a str,
    message_zh: &'a str,
    back: &'a str,
}

impl Page for RefusalPage<'_> {
    const TITLE: &'static str = "未完成";
    fn body(&self) -> Markup {
        html! {
            p.error id="error" data-code=(self.code) { (self.message_zh) }
            a.btn.plain href=(self.back) { "返回" }
        }
    }
}

/// `/e/` without a session, and a link's landing page: a button that signs in with the link's code,
/// or a field to type one.
pub struct SignInPage<'a> {
    /// The link's code (then the form is a button), or none (a field to type it).
    pub code: Option<&'a str>,
    pub csrf: &'a str,
    /// Why the last attempt failed: (code, message).
    pub error: Option<(&'a str, &'a str)>,
}

impl Page for SignInPage<'_> {
    const TITLE: &'static str = "企业登录";
    fn body(&self) -> Markup {
        html! {
            h1 { "企业问题办理查询" }
            @if let Some((code, message)) = self.error {
                p.error id="error" data-code=(code) { (message) }
            }
            form method="post" action="/e/sign-in" id="sign-in" {
                (csrf_field(self.csrf))
                @match self.code {
                    Some(code) => {
                        p { "您好！点击下方按钮登录，即可查看贵企业反映问题的办理情况，确认办理结果并评价，或反映新的问题。" }
                        input type="hidden" name="code" value=(code);
                        button.btn type="submit" { "登录查看" }
                        p.meta { "此链接仅可登录一次。无需安装App，登录20分钟内无操作将自动退出。" }
                    }
                    None => {
                        p { "请输入包联干部或活动办发给您的登录码（16位，字母不区分大小写）。" }
                        label for="code" { "登录码" }
                        input id="code" type="text" name="code" maxlength="64" autocomplete="one-time-code"
                            autocapitalize="characters" spellcheck="false" required placeholder="XXXX-XXXX-XXXX-XXXX";
                        button.btn type="submit" { "登录" }
                    }
                }
            }
        }
    }
}

/// A problem as the lists show it.
pub struct Listed {
    pub id: String,
    pub title: String,
    pub category: Category,
    pub status: ProblemStatus,
    pub department: Option<String>,
    pub deadline: Option<i64>,
    pub reported_at: i64,
    /// Past its deadline now (see `zhuqi_core::domain::problem::is_overdue`).
    pub overdue: bool,
}

fn listed(p: &Listed) -> Markup {
    html! {
        a.card.problem href={ "/e/problems/" (p.id) } data-id=(p.id) {
            b { (p.title) }
            span.badge.wait[p.status == ProblemStatus::Resolved] { (p.status.zh()) }
            " "
            span.meta {
                (p.category.zh())
                " · " (p.department.as_deref().unwrap_or("待交办"))
                @if let Some(d) = p.deadline {
                    " · 时限 "
                    @if p.overdue { span.late { (day(d)) " 已超期" } } @else { (day(d)) }
                }
                " · " (day(p.reported_at)) "反映"
            }
        }
    }
}

/// `/e/`: the enterprise's problems, those waiting for its answer first.
pub struct HomePage<'a> {
    pub enterprise: &'a str,
    /// Resolved, waiting for the enterprise to confirm or reject.
    pub awaiting: Vec<Listed>,
    /// All the others, newest first.
    pub others: Vec<Listed>,
    /// Policies in force the enterprise matches.
    pub policies: usize,
}

impl Page for HomePage<'_> {
    const TITLE: &'static str = "我的问题";
    fn body(&self) -> Markup {
        html! {
            h1 { (self.enterprise) }
            @if !self.awaiting.is_empty() {
                h2 id="awaiting" { "待您确认（" (self.awaiting.len()) "）" }
                p.meta { "以下问题已办结，请确认办理结果并评价；如未解决，可退回重新办理。" }
                @for p in &self.awaiting { (listed(p)) }
            }
            a.btn href="/e/report" id="report" { "反映新问题" }
            @if self.policies > 0 {
                a.btn.plain href="/e/policies" id="policies" { "可享受的惠企政策（" (self.policies) "）" }
            }
            h2 { "全部问题（" (self.awaiting.len() + self.others.len()) "）" }
            @if self.awaiting.is_empty() && self.others.is_empty() {
                p.note id="none" { "贵企业暂无反映的问题。" }
            }
            div id="problems" {
                @for p in &self.awaiting { (listed(p)) }
                @for p in &self.others { (listed(p)) }
            }
        }
    }
}

/// One step of a problem's history, as the enterprise sees it.
pub struct Step {
    pub at: i64,
    pub verb: &'static str,
    /// Who (a name) and in what role.
    pub by: String,
    pub role: &'static str,
    pub text: String,
    pub photos: usize,
    /// Kept but without effect: it conflicted with a step made at the same time elsewhere.
    pub conflict: bool,
}

/// `/e/problems/{id}`.
pub struct ProblemPage<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub category: Category,
    pub status: ProblemStatus,
    pub department: Option<&'a str>,
    pub deadline: Option<i64>,
    pub overdue: bool,
    pub reported_at: i64,
    pub rating: Option<u8>,
    /// Oldest first.
    pub steps: Vec<Step>,
    /// The forms to confirm or reject (only while resolved).
    pub answerable: bool,
    pub csrf: &'a str,
}

impl Page for ProblemPage<'_> {
    const TITLE: &'static str = "问题详情";
    fn body(&self) -> Markup {
        html! {
            p.meta { a href="/e/" { "‹ 全部问题" } }
            h1 { (self.title) }
            p id="status" {
                span.badge.wait[self.answerable] { (self.status.zh()) }
                " "
                span.meta {
                    (self.category.zh()) " · " (self.department.unwrap_or("待交办"))
                    @if let Some(d) = self.deadline {
                        " · 时限 " @if self.overdue { span.late { (day(d)) " 已超期" } } @else { (day(d)) }
                    }
                }
            }
            @if let Some(r) = self.rating { p.meta { "您的评价：" (r) " 分" } }
            p.text.note { (self.description) }
            @if self.answerable {
                h2 { "确认办理结果" }
                form method="post" action={ "/e/problems/" (self.id) "/confirm" } id="confirm" {
                    (csrf_field(self.csrf))
                    fieldset {
                        legend { "满意度评价" }
                        div.stars {
                            @for r in 1..=5u8 {
                                label { input type="radio" name="rating" value=(r) required; (r) "分" }
                            }
                        }
                    }
                    label for="comment" { "评价（选填）" }
                    textarea id="comment" name="comment" maxlength="500" rows="3" {}
                    button.btn type="submit" { "确认已解决" }
                }
                details id="reject-box" {
                    summary { "问题未解决？退回重新办理" }
                    form method="post" action={ "/e/problems/" (self.id) "/reject" } id="reject" {
                        (csrf_field(self.csrf))
                        label for="reason" { "退回理由" }
                        textarea id="reason" name="reason" maxlength="500" rows="3" required {}
                        button.btn.plain type="submit" { "退回" }
                    }
                }
            }
            h2 { "办理过程" }
            ol.timeline id="timeline" {
                @for s in &self.steps {
                    li.conflict[s.conflict] {
                        span.meta { (minute(s.at)) " · " (s.by) "（" (s.role) "）" }
                        br;
                        b { (s.verb) }
                        @if !s.text.is_empty() { " " span.text { (s.text) } }
                        @if s.photos > 0 { br; span.meta { "附照片 " (s.photos) " 张（请在App中查看）" } }
                        @if s.conflict { br; span.meta { "与同时进行的其他操作冲突，未生效" } }
                    }
                }
            }
            p.meta { "反映于 " (minute(self.reported_at)) }
        }
    }
}

/// `/e/report`: a new problem.
pub struct ReportPage<'a> {
    pub csrf: &'a str,
}

impl Page for ReportPage<'_> {
    const TITLE: &'static str = "反映问题";
    fn body(&self) -> Markup {
        html! {
            p.meta { a href="/e/" { "‹ 全部问题" } }
            h1 { "反映新问题" }
            p.meta { "提交后，包联干部将在手机上收到，并转交有关部门办理。" }
            form method="post" action="/e/report" id="report-form" {
                (csrf_field(self.csrf))
                label for="category" { "问题类别" }
                select id="category" name="category" required {
                    @for c in Category::ALL { option value=(c.as_str()) selected[c == Category::Other] { (c.zh()) } }
                }
                label for="title" { "标题" }
                input id="title" type="text" name="title" maxlength="100" required placeholder="一句话说明问题";
                label for="description" { "具体情况" }
                textarea id="description" name="description" maxlength="4000" rows="6" required
                    placeholder="问题的具体情况、希望得到的帮助" {}
                button.btn type="submit" { "提交" }
            }
        }
    }
}

/// A policy the enterprise matches.
pub struct MatchedPolicy {
    pub title: String,
    pub issuer: String,
    pub doc_number: String,
    pub valid_until: String,
    /// Why it matches (地区：…；行业：…).
    pub reasons: Vec<String>,
}

/// `/e/policies`.
pub struct PoliciesPage {
    pub policies: Vec<MatchedPolicy>,
}

impl Page for PoliciesPage {
    const TITLE: &'static str = "惠企政策";
    fn body(&self) -> Markup {
        html! {
            p.meta { a href="/e/" { "‹ 全部问题" } }
            h1 { "可享受的惠企政策" }
            @if self.policies.is_empty() {
                p.note id="none" { "暂无与贵企业条件相符的在效政策。" }
            }
            div id="matched" {
                @for p in &self.policies {
                    div.card.policy {
                        b { (p.title) }
                        span.meta {
                            (p.issuer) @if !p.doc_number.is_empty() { " · " (p.doc_number) } " · 有效期至 " (p.valid_until)
                        }
                        br;
                        span.meta { "符合条件：" (p.reasons.join("；")) }
                    }
                }
            }
            p.meta { "如需申报，请联系您的包联干部。" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_nothing_is_inline() {
        let page = ProblemPage {
            id: "p\"1",
            title: "<script>alert(1)</script>",
            description: "a & b",
            category: Category::Land,
            status: ProblemStatus::Resolved,
            department: Some("<b>局</b>"),
            deadline: Some(0),
            overdue: true,
            reported_at: 0,
            rating: None,
            steps: vec![Step {
                at: 0,
                verb: "办结",
                by: "张<三>".into(),
                role: "责任单位",
                text: "\"><img src=x>".into(),
                photos: 1,
                conflict: true,
            }],
            answerable: true,
            csrf: "t\"",
        };
        let html = render(&page, Some(Frame { enterprise: "企业", contact: "刘<总>", csrf: "t\"" })).into_string();
        assert!(html.contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>"), "{html}");
        assert!(html.contains("a &amp; b") && html.contains("&lt;b&gt;局&lt;/b&gt;") && html.contains("张&lt;三&gt;"));
        assert!(html.contains(r#"action="/e/problems/p&quot;1/confirm""#));
        assert!(html.contains("&quot;&gt;&lt;img src=x&gt;"));
        assert_eq!(html.matches(r#"name="csrf" value="t&quot;""#).count(), 3, "sign-out, confirm, reject");
        assert!(!html.contains("<script") && !html.contains("<style") && !html.contains(" style="));
        assert!(html.contains("1970-01-01 08:00"));
    }

    #[test]
    fn minutes_are_china_time() {
        assert_eq!(minute(0), "1970-01-01 08:00");
        assert_eq!(minute(16 * 3_600_000 - 60_000), "1970-01-01 23:59");
        assert_eq!(minute(16 * 3_600_000), "1970-01-02 00:00");
    }
}
