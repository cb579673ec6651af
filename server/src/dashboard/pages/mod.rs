//! The dashboard's HTML: one typed view struct per page, rendered with maud's `html!` macro. A
//! handler gathers what a page shows into its struct (`ProblemPage`, `RankingPage`, …) and calls
//! [`render`]; it never writes markup itself.
//!
//! Why maud: the HTML is Rust code, checked by the compiler with the rest of the relay (a missing
//! field or a misspelt variable fails the build, not a page); every interpolated value is escaped by
//! default, so safety does not rest on remembering to escape each of them; there are no template
//! files to keep in sync with the structs, and no runtime: nothing is parsed or loaded while the
//! relay runs, a page renders straight into one `String`.
//! Markup that is already HTML could go in only through an explicit `PreEscaped`; the pages use
//! none, so nothing taken from a request, a document or the directory reaches a page unescaped.
//!
//! To change a page safely: keep its element ids, classes, texts and form field names — the tests
//! (`tests/tests/web.rs`, `tests/browser/dashboard.test.mjs`) and the table-sorting script find
//! things by them — and write no inline script or `style` attribute: the Content-Security-Policy
//! forbids both (the stylesheet and script are `/static/app.css` and `/static/app.js`).

pub mod charts;
pub mod figures;
pub mod problems;
pub mod records;

use super::clock::time_of;
use super::reports::{Cell, Table};
use maud::{DOCTYPE, Markup, html};

/// A page the dashboard serves: its title and the contents of its `<main>`.
pub trait Page {
    /// Shown in the browser's tab and the header.
    const TITLE: &'static str;
    fn body(&self) -> Markup;
}

/// The signed-in manager a page is shown to: the name in the header, and the CSRF token of the
/// session, which every form carries.
#[derive(Clone, Copy)]
pub struct Viewer<'a> {
    pub name: &'a str,
    pub csrf: &'a str,
}

/// A whole page: the header (with the navigation and the sign-out form when somebody is signed in)
/// around the page's body.
pub fn render<P: Page>(page: &P, viewer: Option<Viewer<'_>>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (P::TITLE) " · 万人助万企" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header {
                    h1 { "万人助万企 · " (P::TITLE) }
                    @if let Some(v) = viewer {
                        nav {
                            a href="/" { "概览" }
                            a href="/problems" { "问题" }
                            a href="/notices" { "任务通知" }
                            a href="/ranking" { "考核" }
                            a href="/policies" { "政策" }
                            a href="/photos/missing" { "照片未上传" }
                            span.who { (v.name) }
                            form method="post" action="/logout" {
                                (csrf_field(v.csrf))
                                button { "退出" }
                            }
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

/// A region or a department to choose in a form.
pub struct Choice<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// One `<option>` of a `<select>`.
pub fn option(value: &str, label: &str, selected: bool) -> Markup {
    html! { option value=(value) selected[selected] { (label) } }
}

/// A share as a percentage with one decimal, or a dash when there was nothing to measure.
pub fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

/// A time, or a dash when there is none.
pub fn time_or_dash(t: Option<i64>) -> String {
    t.map_or("—".into(), time_of)
}

/// A photo an event names, as a page shows it.
pub struct PhotoThumb {
    pub sha256: String,
    /// Whether the relay holds it whole.
    pub uploaded: bool,
    /// Why its evidence is doubtful, in Chinese (see `zhuqi_core::domain::photo::flags`).
    pub flags: Vec<String>,
}

/// Photos as thumbnails opening the original, each followed by its flags, or 未上传 for those not
/// uploaded yet.
pub fn photo_thumbs(photos: &[PhotoThumb], alt: &str) -> Markup {
    html! {
        @for p in photos {
            @if p.uploaded {
                a.photo href={ "/photos/" (p.sha256) } {
                    img.thumb src={ "/photos/" (p.sha256) "/thumbnail" } alt=(alt) loading="lazy";
                }
                @for f in &p.flags { span.flag { (f) } }
            } @else {
                span.missing { "未上传" }
            }
        }
    }
}

/// A sortable table of the reports (`id` for tests and styling): numbers carry their value in
/// `data-v` for the sorting script; an empty cell sorts below every number.
pub fn table(t: &Table, id: &str) -> Markup {
    html! {
        table.sortable id=(id) {
            thead { tr { @for h in &t.headers { th { (h) } } } }
            tbody {
                @for row in &t.rows {
                    tr {
                        @for cell in row {
                            @match cell {
                                Cell::Text(x) => td { (x) },
                                Cell::Number(n) => td data-v=(n) { (n) },
                                Cell::Empty => td data-v="-1" { "—" },
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The sign-in form. Its CSRF token matches the secret in the sign-in page's own cookie.
pub struct LoginPage<'a> {
    pub csrf: &'a str,
    /// Why the last attempt failed, if it did.
    pub error: Option<&'a str>,
    pub max_login_chars: usize,
}

impl Page for LoginPage<'_> {
    const TITLE: &'static str = "登录";
    fn body(&self) -> Markup {
        html! {
            form.login method="post" action="/login" {
                h2 { "登录" }
                @if let Some(e) = self.error { p.error { (e) } }
                (csrf_field(self.csrf))
                label { "账号" input name="login" autocomplete="username" maxlength=(self.max_login_chars) required; }
                label { "密码" input name="password" type="password" autocomplete="current-password" required; }
                button.primary type="submit" { "登录" }
            }
        }
    }
}

/// What a signed-in account that is not a manager sees.
pub struct ForbiddenPage;

impl Page for ForbiddenPage {
    const TITLE: &'static str = "无权访问";
    fn body(&self) -> Markup {
        html! {
            p { "此页面仅供活动办（管理人员）使用。" }
            p { a href="/login" { "换一个账号登录" } }
        }
    }
}

/// A desk action the relay refused: why (in Chinese, then the technical message), and the way back.
pub struct RefusalPage<'a> {
    pub message_zh: &'a str,
    pub message: &'a str,
    pub back: &'a str,
}

impl Page for RefusalPage<'_> {
    const TITLE: &'static str = "操作未完成";
    fn body(&self) -> Markup {
        html! {
            p.error { (self.message_zh) }
            p { (self.message) }
            p { a href=(self.back) { "返回" } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::problems::{EventOutcome, ProblemPage, TimelineEvent};
    use super::*;
    use zhuqi_core::domain::{ProblemState, ProblemStatus};

    #[test]
    fn values_are_escaped_and_the_layout_keeps_its_hooks() {
        let state = ProblemState {
            title: "<script>alert(1)</script>".into(),
            description: "a & b".into(),
            status: ProblemStatus::Routed,
            level: 1,
            ..Default::default()
        };
        let origin =
            zhuqi_core::domain::Origin { record: "豫\"<1>".into(), person: Some("赵<六>".into()), user: None };
        let event = |outcome| TimelineEvent {
            verb: "上报",
            by: "张<三>".into(),
            device: "\"><img src=x onerror=alert(1)>",
            at: 0,
            received_at: None,
            late_entry: false,
            origin: None,
            text: "</td>".into(),
            outcome,
            photos: vec![],
        };
        let page = ProblemPage {
            id: "p\"1",
            state: &state,
            enterprise_name: "企业",
            department: None,
            timeline: vec![
                event(EventOutcome::Applied),
                event(EventOutcome::Conflict { with: "李<四>".into() }),
                TimelineEvent {
                    origin: Some(&origin),
                    photos: vec![
                        PhotoThumb { sha256: "\"><script>".into(), uploaded: true, flags: vec!["<b>".into()] },
                        PhotoThumb { sha256: "x".into(), uploaded: false, flags: vec![] },
                    ],
                    ..event(EventOutcome::Applied)
                },
            ],
            departments: vec![],
            answer_days: 15,
            working_days: true,
            csrf: "token",
        };
        let html = render(&page, Some(Viewer { name: "王&五", csrf: "token" })).into_string();
        assert!(html.contains("<h2>&lt;script&gt;alert(1)&lt;/script&gt;</h2>") && html.contains("<p>a &amp; b</p>"));
        assert!(
            html.contains("<td>&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</td>")
                && html.contains("<td>&lt;/td&gt;</td>")
        );
        assert!(html.contains(r#"action="/problems/p&quot;1/urge""#));
        assert!(html.contains(
            r#"<a class="photo" href="/photos/&quot;&gt;&lt;script&gt;"><img class="thumb" src="/photos/&quot;&gt;&lt;script&gt;/thumbnail" alt="问题照片" loading="lazy"></a><span class="flag">&lt;b&gt;</span><span class="missing">未上传</span>"#
        ), "{html}");
        assert!(html.contains(r#"<tr class="event conflict">"#) && html.contains(r#"<tr class="event">"#));
        assert!(html.contains(r#"<td><b class="error">冲突</b>：与 李&lt;四&gt; 的操作冲突，未生效但已保留</td>"#));
        assert!(html.contains(r#"<span class="who">王&amp;五</span>"#));
        // An imported step: the person its record names, marked with the record's number.
        assert!(
            html.contains(r#"<td>赵&lt;六&gt; <span class="imported" title="从原平台导入，原编号 豫&quot;&lt;1&gt;">导入</span></td>"#),
            "{html}"
        );
        assert_eq!(
            html.matches(r#"<input type="hidden" name="csrf" value="token">"#).count(),
            4,
            "sign-out, urge, escalate, route"
        );
        assert!(html.contains(r#"<script src="/static/app.js" defer></script>"#));
        assert!(html.contains(r#"<link rel="stylesheet" href="/static/app.css">"#));
        assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains(" style="));
    }

    #[test]
    fn report_tables_sort_by_their_numbers() {
        let t = Table {
            headers: vec!["单位".into(), "得分".into()],
            rows: vec![vec![Cell::Text("<b>".into()), Cell::Number(92.5)], vec![Cell::Text("x".into()), Cell::Empty]],
        };
        assert_eq!(
            table(&t, "r").into_string(),
            r#"<table class="sortable" id="r"><thead><tr><th>单位</th><th>得分</th></tr></thead><tbody><tr><td>&lt;b&gt;</td><td data-v="92.5">92.5</td></tr><tr><td>x</td><td data-v="-1">—</td></tr></tbody></table>"#
        );
    }
}
