//! The managers' web pages, served by the relay itself: sign-in (a web session — its own cookie,
//! HttpOnly, Secure, SameSite=Strict, ending after 30 idle minutes or 12 hours, never a device
//! token — and a CSRF token in every form, the sign-in form included) and the overview of a region
//! and a period. Pages are server-rendered HTML in Chinese; their stylesheet and table-sorting
//! script are static files (`/static/…`), so the Content-Security-Policy forbids anything inline.

pub mod kpi;
pub mod reports;


use crate::auth::{self, token_hash};
use crate::http::error::ApiError;
use kpi::{Figures, Period, ProblemFact, VisitFact};
use crate::storage::Session;
use crate::{AppState, now_ms};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::sync::Arc;
use zhuqi_core::domain::Role;
use zhuqi_core::domain::directory::path_covers;
use zhuqi_core::domain::text::{civil_from_days, date_of, parse_date};

const COOKIE: &str = "zhuqi_session";
const DAY: i64 = 86_400_000;
const CST: i64 = 8 * 3_600_000;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, user: Option<&str>, csrf: Option<&str>, body: &str) -> Html<String> {
    let nav = match (user, csrf) {
        (Some(u), Some(c)) => format!(
            r#"<nav><a href="/">概览</a><a href="/problems">问题</a><a href="/notices">任务通知</a><a href="/ranking">考核</a><span class="who">{}</span><form method="post" action="/logout"><input type="hidden" name="csrf" value="{c}"><button>退出</button></form></nav>"#,
            esc(u)
        ),
        _ => String::new(),
    };
    Html(format!(
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t} · 万人助万企</title><link rel="stylesheet" href="/static/app.css"><script src="/static/app.js" defer></script></head>
<body><header><h1>万人助万企 · {t}</h1>{nav}</header><main>{body}</main></body></html>"#,
        t = esc(title)
    ))
}

const CSS: &str = "body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;margin:0;color:#222;background:#f6f7f9}\
header{background:#b71c1c;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;align-items:center;gap:1rem}\
header h1{font-size:1.15rem;margin:0;flex:1}nav{display:flex;gap:1rem;align-items:center}nav a{color:#fff}\
nav form{display:inline}nav button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;cursor:pointer}\
main{padding:1rem;max-width:1200px;margin:auto}.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:.75rem}\
.card{background:#fff;border-radius:8px;padding:.75rem;box-shadow:0 1px 2px #0002}.card b{display:block;font-size:1.5rem}\
table{border-collapse:collapse;width:100%;background:#fff;margin:1rem 0}th,td{padding:.4rem .5rem;border-bottom:1px solid #eee;text-align:right}\
th:first-child,td:first-child{text-align:left}#timeline td,#timeline th,#visits td,#visits th{text-align:left}th{cursor:pointer;background:#fafafa}.muted{color:#777;font-size:.85rem}\
form.period{display:flex;gap:.5rem;flex-wrap:wrap;align-items:end}.login{max-width:360px;margin:3rem auto;background:#fff;padding:1.5rem;border-radius:8px}\
.login input{width:100%;padding:.5rem;margin:.25rem 0 .75rem;box-sizing:border-box}.error{color:#b71c1c}button.primary{background:#b71c1c;color:#fff;border:0;padding:.5rem 1rem;border-radius:4px}\
svg.chart{width:100%;max-width:720px;background:#fff}";

/// Sorts a table by the clicked column (numbers numerically).
const JS: &str = "document.querySelectorAll('table.sortable th').forEach((th,i)=>th.addEventListener('click',()=>{\
const tb=th.closest('table').tBodies[0];const rows=[...tb.rows];const asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';\
const v=r=>{const t=r.cells[i].dataset.v??r.cells[i].textContent;const n=parseFloat(t);return isNaN(n)?t:n};\
rows.sort((a,b)=>{const x=v(a),y=v(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});rows.forEach(r=>tb.appendChild(r))}));";

/// `GET /static/{app.css,app.js}`: the pages' stylesheet and script.
pub async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return ApiError::not_found("no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// A web session ends after this long without a page being loaded...
pub const WEB_IDLE_MS: i64 = 30 * 60_000;
/// ... and this long after sign-in in any case.
pub const WEB_SESSION_MS: i64 = 12 * 3_600_000;
/// The sign-in form's own CSRF cookie (login CSRF: a page elsewhere must not sign a manager in as
/// somebody else).
const LOGIN_COOKIE: &str = "zhuqi_login";

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty() && v.len() < 200)
        .map(|(_, v)| v.to_owned())
}

/// The CSRF token of a session: derived from its secret, so nothing more is stored.
fn csrf_of(token: &str) -> String {
    Sha256::digest(format!("csrf:{token}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a form's CSRF token is the one of `secret`, compared in constant time.
fn csrf_ok(form_token: &str, secret: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(form_token.as_bytes(), csrf_of(secret).as_bytes()).into()
}

fn set_cookie(name: &str, value: &str, path: &str, max_age_s: i64) -> (header::HeaderName, String) {
    (header::SET_COOKIE, format!("{name}={value}; Path={path}; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_s}"))
}

/// The signed-in manager of a request (and the session's secret, for CSRF tokens), or where to send
/// the browser instead.
async fn manager(state: &Arc<AppState>, headers: &HeaderMap) -> Result<(Session, String), Response> {
    let Some(token) = cookie(headers, COOKIE) else { return Err(Redirect::to("/login").into_response()) };
    let st = state.clone();
    let t = token.clone();
    let user = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let now = now_ms();
        let Some(user_id) = st.storage.web_session(&token_hash(&t), now, WEB_IDLE_MS)? else { return Ok(None) };
        Ok(st.directory.get(st.storage.as_ref())?.users.get(&user_id).cloned())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()).into_response())?
    .map_err(IntoResponse::into_response)?;
    let Some(user) = user else { return Err(Redirect::to("/login").into_response()) };
    if user.role != Role::Manager {
        let body = "<p>此页面仅供活动办（管理人员）使用。</p><p><a href=\"/login\">换一个账号登录</a></p>";
        return Err((StatusCode::FORBIDDEN, page("无权访问", None, None, body)).into_response());
    }
    // Web sessions are not devices: this one has no device id, and opens no `/v1/*` route.
    Ok((Session { device_id: String::new(), user, revoked: false, expires_at: 0 }, token))
}

pub async fn login_page() -> Response {
    login_form(StatusCode::OK, "")
}

/// The sign-in form, with a fresh login-CSRF secret in its cookie and the matching token in the form.
fn login_form(status: StatusCode, error: &str) -> Response {
    let secret = auth::random_token();
    let error = if error.is_empty() { String::new() } else { format!(r#"<p class="error">{}</p>"#, esc(error)) };
    let html = page(
        "登录",
        None,
        None,
        &format!(
            r#"<form class="login" method="post" action="/login"><h2>登录</h2>{error}
<input type="hidden" name="csrf" value="{}">
<label>账号<input name="login" autocomplete="username" maxlength="{}" required></label>
<label>密码<input name="password" type="password" autocomplete="current-password" required></label>
<button class="primary" type="submit">登录</button></form>"#,
            csrf_of(&secret),
            auth::MAX_LOGIN_CHARS
        ),
    );
    (status, [set_cookie(LOGIN_COOKIE, &secret, "/login", 3600)], html).into_response()
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    crate::http::net::ClientAddr(client): crate::http::net::ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    state.metrics.request(crate::http::metrics::Route::Web);
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|secret| csrf_ok(&f.csrf, &secret)) {
        return login_form(StatusCode::FORBIDDEN, "登录页面已过期，请重新登录");
    }
    let user = match auth::sign_in(&state, f.login.trim().to_owned(), f.password, client).await {
        Ok(user) => user,
        Err(e) => {
            let mut r = login_form(e.status, e.message_zh);
            if let Some(s) = e.retry_after.and_then(|s| header::HeaderValue::from_str(&s.to_string()).ok()) {
                r.headers_mut().insert(header::RETRY_AFTER, s);
            }
            return r;
        }
    };
    let token = auth::random_token();
    let now = now_ms();
    let session = crate::storage::WebSession {
        id_hash: token_hash(&token),
        user_id: user.id,
        created_at: now,
        expires_at: now + WEB_SESSION_MS,
    };
    let st = state.clone();
    match tokio::task::spawn_blocking(move || st.storage.create_web_session(&session)).await {
        Ok(Ok(())) => {
            let mut r = Redirect::to("/").into_response();
            for (name, value) in [set_cookie(COOKIE, &token, "/", WEB_SESSION_MS / 1000), set_cookie(LOGIN_COOKIE, "", "/login", 0)] {
                if let Ok(v) = header::HeaderValue::from_str(&value) {
                    r.headers_mut().append(name, v);
                }
            }
            r
        }
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    if let Some(token) = cookie(&headers, COOKIE)
        && csrf_ok(&f.csrf, &token)
    {
        let st = state.clone();
        let _ = tokio::task::spawn_blocking(move || st.storage.end_web_session(&token_hash(&token))).await;
    }
    ([set_cookie(COOKIE, "", "/", 0)], Redirect::to("/login")).into_response()
}

#[derive(serde::Deserialize, Default)]
pub struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

/// 00:00 China Standard Time of a day number.
fn day_start(day: i64) -> i64 {
    day * DAY - CST
}

/// The period asked for (inclusive dates), by default the current month.
fn period_of(q: &PeriodQuery, now: i64) -> Period {
    let today = (now + CST).div_euclid(DAY);
    let (y, m, _) = civil_from_days(today);
    let first = zhuqi_core::domain::text::days_from_civil(y, m, 1);
    let from = q.from.as_deref().and_then(|d| parse_date("from", d).ok()).unwrap_or(first);
    let to = q.to.as_deref().and_then(|d| parse_date("to", d).ok()).unwrap_or(today).max(from);
    Period { from: day_start(from), to: day_start(to + 1) }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

fn figures_row(name: &str, f: &Figures) -> String {
    let v = |x: Option<f64>| x.map_or(-1.0, |v| v);
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(name),
        f.reported,
        f.resolved,
        v(f.resolution_rate),
        pct(f.resolution_rate),
        v(f.on_time_rate),
        pct(f.on_time_rate),
        v(f.satisfaction_rate),
        pct(f.satisfaction_rate),
        f.overdue_now,
        f.visits,
        f.enterprises_visited
    )
}

const TABLE_HEAD: &str = "<thead><tr><th>单位</th><th>上报</th><th>办结</th><th>解决率</th><th>按期率</th><th>满意率</th><th>当前超期</th><th>走访次数</th><th>走访企业</th></tr></thead>";

/// A server-rendered chart of problems opened and resolved per week.
fn chart(weeks: &[(i64, u32, u32)]) -> String {
    let (w, h, pad) = (640.0, 180.0, 24.0);
    let max = weeks.iter().map(|x| x.1.max(x.2)).max().unwrap_or(0).max(1) as f64;
    let n = weeks.len().max(1) as f64;
    let bar = (w - 2.0 * pad) / n / 2.5;
    let mut svg = format!(
        r##"<svg viewBox="0 0 {w} {h}" role="img" aria-label="每周新增与办结问题" class="chart">"##
    );
    for (i, (start, opened, resolved)) in weeks.iter().enumerate() {
        let x = pad + i as f64 * (w - 2.0 * pad) / n;
        for (j, (count, color)) in [(*opened, "#e57373"), (*resolved, "#43a047")].iter().enumerate() {
            let bh = (*count as f64) / max * (h - 2.0 * pad);
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{bar:.1}" height="{bh:.1}" fill="{color}"><title>{} {}：{count}</title></rect>"#,
                x + j as f64 * bar,
                h - pad - bh,
                date_of(*start),
                if j == 0 { "新增" } else { "办结" }
            );
        }
        if i % 2 == 0 {
            let _ = write!(
                svg,
                r##"<text x="{x:.1}" y="{}" font-size="9" fill="#555">{}</text>"##,
                h - 6.0,
                &date_of(*start)[5..]
            );
        }
    }
    svg.push_str(r##"<text x="24" y="14" font-size="11" fill="#e57373">■ 新增</text><text x="84" y="14" font-size="11" fill="#43a047">■ 办结</text></svg>"##);
    svg
}

/// Everything the overview shows, computed from the projections (separated from rendering so the
/// benchmark and tests can call it).
pub struct Overview {
    pub region_name: String,
    pub period: Period,
    pub total: Figures,
    pub by_region: Vec<(String, Figures)>,
    pub by_department: Vec<(String, Figures)>,
    pub weeks: Vec<(i64, u32, u32)>,
    pub computed_at: i64,
}

pub fn overview(state: &AppState, session: &Session, period: Period, now: i64) -> Result<Overview, ApiError> {
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let root = session.user.region_id.clone().unwrap_or_default();
    let root_path = dir.paths.get(&root).cloned().unwrap_or_default();
    let in_scope = |region: &str| dir.paths.get(region).is_some_and(|p| path_covers(&root_path, p));
    let problems: Vec<ProblemFact> = storage.problem_facts()?.into_iter().filter(|p| in_scope(&p.region_id)).collect();
    let visits: Vec<VisitFact> = storage.visit_facts()?.into_iter().filter(|v| in_scope(&v.region_id)).collect();
    let total = kpi::figures(&problems, &visits, period, now);
    // Direct children of the manager's region, each with its subtree.
    let mut children: Vec<_> = dir.regions.values().filter(|r| r.parent_id.as_deref() == Some(root.as_str())).collect();
    children.sort_by(|a, b| a.id.cmp(&b.id));
    let by_region = children
        .iter()
        .map(|c| {
            let cp = dir.paths.get(&c.id).cloned().unwrap_or_default();
            let under = |r: &str| dir.paths.get(r).is_some_and(|p| path_covers(&cp, p));
            let f = kpi::figures(
                problems.iter().filter(|p| under(&p.region_id)),
                visits.iter().filter(|v| under(&v.region_id)),
                period,
                now,
            );
            (c.name.clone(), f)
        })
        .collect();
    let mut departments: Vec<_> = dir
        .departments
        .values()
        .filter(|d| dir.paths.get(&d.region_id).is_some_and(|p| path_covers(&root_path, p)))
        .collect();
    departments.sort_by(|a, b| a.id.cmp(&b.id));
    let by_department = departments
        .iter()
        .map(|d| {
            let f = kpi::figures(
                problems.iter().filter(|p| p.department_id.as_deref() == Some(d.id.as_str())),
                [],
                period,
                now,
            );
            (d.name.clone(), f)
        })
        .collect();
    // Twelve weeks ending with the period (or today, if the period reaches into the future),
    // starting on a Monday (1970-01-05 was one).
    let end_day = (period.to.min(now + 1) - 1 + CST).div_euclid(DAY);
    let monday = end_day - (end_day - 4).rem_euclid(7);
    let weeks = kpi::weekly(&problems, day_start(monday - 11 * 7), 12);
    let region_name = dir.regions.get(&root).map_or(root.clone(), |r| r.name.clone());
    Ok(Overview { region_name, period, total, by_region, by_department, weeks, computed_at: now })
}

pub fn render_overview(o: &Overview, user: &str, csrf: &str) -> Html<String> {
    let f = &o.total;
    let card = |label: &str, value: String| format!(r#"<div class="card">{label}<b>{value}</b></div>"#);
    let mut body = String::new();
    let from = date_of(o.period.from);
    let to = date_of(o.period.to - 1);
    let _ = write!(
        body,
        r#"<form class="period" method="get" action="/"><label>起<input type="date" name="from" value="{from}"></label><label>止<input type="date" name="to" value="{to}"></label><button>查询</button></form>
<h2>{} · {from} 至 {to}</h2><div class="cards">{}{}{}{}{}{}{}{}{}</div>"#,
        esc(&o.region_name),
        card("上报问题", f.reported.to_string()),
        card("办结问题", f.resolved.to_string()),
        card("解决率", pct(f.resolution_rate)),
        card("按期办结率", pct(f.on_time_rate)),
        card("满意率", pct(f.satisfaction_rate)),
        card("平均评分", f.average_rating.map_or("—".into(), |r| format!("{r:.2}"))),
        card("当前超期", f.overdue_now.to_string()),
        card("走访次数", f.visits.to_string()),
        card("走访企业", f.enterprises_visited.to_string()),
    );
    let _ = write!(body, "<h3>每周新增与办结</h3>{}", chart(&o.weeks));
    for (title, rows) in [("下级地区", &o.by_region), ("责任单位", &o.by_department)] {
        let _ = write!(
            body,
            r#"<h3>{title}</h3><table class="sortable" id="{}">{TABLE_HEAD}<tbody>"#,
            if title == "下级地区" { "by-region" } else { "by-department" }
        );
        for (name, f) in rows.iter() {
            body.push_str(&figures_row(name, f));
        }
        body.push_str("</tbody></table>");
    }
    let _ = write!(
        body,
        r#"<p class="muted">计算于 {}（北京时间）。各项时间以手机上操作的时间为准；离线数据同步后，所属时段的数字随之更新。</p>"#,
        time_of(o.computed_at)
    );
    page("概览", Some(user), Some(csrf), &body)
}

fn time_of(ms: i64) -> String {
    let s = (ms + CST).div_euclid(1000).rem_euclid(86_400);
    format!("{} {:02}:{:02}:{:02}", date_of(ms), s / 3600, s / 60 % 60, s % 60)
}

pub async fn overview_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<PeriodQuery>,
) -> Response {
    managed(state, headers, move |st, session, csrf| {
        let now = now_ms();
        let o = overview(st, session, period_of(&q, now), now)?;
        Ok(render_overview(&o, &session.user.name, csrf).into_response())
    })
    .await
}

// ---- problems ----

#[derive(serde::Deserialize, Default)]
pub struct ProblemsQuery {
    status: Option<String>,
    category: Option<String>,
    /// Text, not a number: an empty `level=` from the form means "all levels".
    level: Option<String>,
    department: Option<String>,
    region: Option<String>,
    overdue: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
}

fn status_zh(s: &str) -> &'static str {
    zhuqi_core::domain::ProblemStatus::parse(s).map_or("未知", |s| s.zh())
}

fn category_zh(c: &str) -> &'static str {
    zhuqi_core::domain::Category::parse(c).map_or("其他", |c| c.zh())
}

fn option(value: &str, label: &str, selected: Option<&str>) -> String {
    let sel = if selected == Some(value) { " selected" } else { "" };
    format!(r#"<option value="{}"{sel}>{}</option>"#, esc(value), esc(label))
}

pub async fn problems_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ProblemsQuery>,
) -> Response {
    managed(state, headers, move |st, session, csrf| Ok(problems_html(st, session, &q, csrf)?.into_response())).await
}

/// The manager's problems matching the list's filters (shared by the page and the exports).
fn filtered_problems(
    state: &AppState,
    session: &Session,
    q: &ProblemsQuery,
) -> Result<Vec<crate::storage::ProblemRow>, ApiError> {
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let now = now_ms();
    let root_path = session.user.region_id.as_deref().and_then(|r| dir.paths.get(r)).cloned().unwrap_or_default();
    let region_path = q.region.as_deref().filter(|r| !r.is_empty()).and_then(|r| dir.paths.get(r)).cloned();
    let day = |d: &Option<String>| d.as_deref().filter(|d| !d.is_empty()).and_then(|d| parse_date("date", d).ok());
    let (from, to) = (day(&q.from).map(day_start), day(&q.to).map(|d| day_start(d + 1)));
    let text = q.q.as_deref().map(str::trim).unwrap_or("");
    let overdue_only = q.overdue.as_deref() == Some("1");
    Ok(storage
        .problem_rows()?
        .into_iter()
        .filter(|p| dir.paths.get(&p.region_id).is_some_and(|path| path_covers(&root_path, path)))
        .filter(|p| {
            region_path.as_ref().is_none_or(|rp| dir.paths.get(&p.region_id).is_some_and(|path| path_covers(rp, path)))
        })
        .filter(|p| q.status.as_deref().is_none_or(|s| s.is_empty() || p.status == s))
        .filter(|p| q.category.as_deref().is_none_or(|c| c.is_empty() || p.category == c))
        .filter(|p| q.level.as_deref().and_then(|l| l.parse::<u8>().ok()).is_none_or(|l| p.level == l))
        .filter(|p| q.department.as_deref().is_none_or(|d| d.is_empty() || p.department_id.as_deref() == Some(d)))
        .filter(|p| !overdue_only || (p.status == "routed" && p.deadline.is_some_and(|d| d < now)))
        .filter(|p| from.is_none_or(|f| p.reported_at >= f) && to.is_none_or(|t| p.reported_at < t))
        .filter(|p| {
            text.is_empty()
                || p.title.contains(text)
                || p.description.contains(text)
                || p.enterprise_name.contains(text)
        })
        .collect())
}

fn problems_html(state: &AppState, session: &Session, q: &ProblemsQuery, csrf: &str) -> Result<Html<String>, ApiError> {
    let dir = state.directory.get(state.storage.as_ref())?;
    let now = now_ms();
    let root_path = session.user.region_id.as_deref().and_then(|r| dir.paths.get(r)).cloned().unwrap_or_default();
    let overdue_only = q.overdue.as_deref() == Some("1");
    let text = q.q.as_deref().map(str::trim).unwrap_or("");
    let rows = filtered_problems(state, session, q)?;
    let mut body = String::from(r#"<form class="period" method="get" action="/problems">"#);
    let mut statuses = String::from(r#"<select name="status"><option value="">全部状态</option>"#);
    for s in zhuqi_core::domain::ProblemStatus::ALL {
        statuses.push_str(&option(s.as_str(), s.zh(), q.status.as_deref()));
    }
    let mut categories = String::from(r#"</select><select name="category"><option value="">全部类别</option>"#);
    for c in zhuqi_core::domain::Category::ALL {
        categories.push_str(&option(c.as_str(), c.zh(), q.category.as_deref()));
    }
    let mut departments = String::from(r#"</select><select name="department"><option value="">全部责任单位</option>"#);
    let mut ds: Vec<_> = dir
        .departments
        .values()
        .filter(|d| dir.paths.get(&d.region_id).is_some_and(|p| path_covers(&root_path, p)))
        .collect();
    ds.sort_by(|a, b| a.id.cmp(&b.id));
    for d in ds {
        departments.push_str(&option(&d.id, &d.name, q.department.as_deref()));
    }
    let mut regions = String::from(r#"<select name="region"><option value="">全部地区</option>"#);
    let mut rs: Vec<_> =
        dir.regions.values().filter(|r| dir.paths.get(&r.id).is_some_and(|p| path_covers(&root_path, p))).collect();
    rs.sort_by(|a, b| a.id.cmp(&b.id));
    for r in rs {
        regions.push_str(&option(&r.id, &r.name, q.region.as_deref()));
    }
    regions.push_str("</select>");
    let _ = write!(
        body,
        r#"{regions}{statuses}{categories}{departments}</select>
<select name="level"><option value="">全部层级</option>{}</select>
<label><input type="checkbox" name="overdue" value="1"{}>仅超期</label>
<label>上报自<input type="date" name="from" value="{}"></label><label>至<input type="date" name="to" value="{}"></label>
<input name="q" placeholder="搜索标题、描述、企业" value="{}"><button>筛选</button></form>"#,
        (1..=5u8)
            .map(|l| option(&l.to_string(), zhuqi_core::domain::problem::level_zh(l), q.level.as_deref()))
            .collect::<String>(),
        if overdue_only { " checked" } else { "" },
        esc(q.from.as_deref().unwrap_or("")),
        esc(q.to.as_deref().unwrap_or("")),
        esc(text),
    );
    let qs = encode_query(&[
        ("status", q.status.clone()),
        ("category", q.category.clone()),
        ("level", q.level.clone()),
        ("department", q.department.clone()),
        ("region", q.region.clone()),
        ("overdue", q.overdue.clone()),
        ("from", q.from.clone()),
        ("to", q.to.clone()),
        ("q", q.q.clone()),
    ]);
    let _ = write!(
        body,
        r#"<p><a href="/export/problems.csv?{qs}">导出 CSV</a> <a href="/export/problems.xlsx?{qs}">导出 Excel</a></p>"#
    );
    let _ = write!(
        body,
        r#"<p>共 {} 个问题</p><table class="sortable" id="problems"><thead><tr><th>问题</th><th>企业</th><th>类别</th><th>状态</th><th>层级</th><th>责任单位</th><th>上报</th><th>时限</th><th>催办</th></tr></thead><tbody>"#,
        rows.len()
    );
    for p in &rows {
        let overdue = p.status == "routed" && p.deadline.is_some_and(|d| d < now);
        let dept = p
            .department_id
            .as_deref()
            .and_then(|d| dir.departments.get(d))
            .map_or("—".to_owned(), |d| d.name.clone());
        let _ = write!(
            body,
            r#"<tr data-id="{id}"><td><a href="/problems/{id}">{}</a>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td data-v="{}">{}</td><td data-v="{}">{}</td><td>{}</td></tr>"#,
            esc(&p.title),
            if p.conflict_count > 0 { " ⚠" } else { "" },
            format!(r#"<a href="/enterprises/{}">{}</a>"#, esc(&p.enterprise_id), esc(&p.enterprise_name)),
            category_zh(&p.category),
            status_zh(&p.status),
            p.level,
            esc(&dept),
            p.reported_at,
            date_of(p.reported_at),
            p.deadline.unwrap_or(0),
            p.deadline.map_or("—".into(), |d| if overdue {
                format!("<b class=\"error\">{} 超期</b>", date_of(d))
            } else {
                date_of(d)
            }),
            p.urge_count,
            id = esc(&p.id),
        );
    }
    body.push_str("</tbody></table>");
    Ok(page("问题", Some(&session.user.name), Some(csrf), &body))
}

/// `k=v&…` of the non-empty pairs, percent-encoded.
fn encode_query(pairs: &[(&str, Option<String>)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}", enc(v))))
        .collect::<Vec<_>>()
        .join("&amp;")
}

fn time_or_dash(t: Option<i64>) -> String {
    t.map_or("—".into(), time_of)
}

pub async fn problem_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    managed(state, headers, move |st, session, csrf| Ok(problem_html(st, session, &id, csrf)?.into_response())).await
}

/// The problem's document if the manager's region holds it.
fn problem_in_scope(state: &AppState, session: &Session, id: &str) -> Result<zhuqi_core::document::Document, ApiError> {
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let root_path = session.user.region_id.as_deref().and_then(|r| dir.paths.get(r)).cloned().unwrap_or_default();
    let bytes = state.document_bytes(id)?.ok_or_else(|| ApiError::not_found("no such problem in your region"))?;
    let doc = zhuqi_core::document::Document::load(&bytes).map_err(|e| ApiError::internal(e.to_string()))?;
    let region = doc.header("region_id").unwrap_or_default();
    if doc.kind() != Some(zhuqi_core::domain::DocKind::Problem)
        || !dir.paths.get(&region).is_some_and(|p| path_covers(&root_path, p))
    {
        return Err(ApiError::not_found("no such problem in your region"));
    }
    Ok(doc)
}

fn problem_html(state: &AppState, session: &Session, id: &str, csrf: &str) -> Result<Html<String>, ApiError> {
    use zhuqi_core::domain::{Outcome, ProblemAction, ProblemState};
    let doc = problem_in_scope(state, session, id)?;
    let dir = state.directory.get(state.storage.as_ref())?;
    let receipts: std::collections::HashMap<String, i64> = state.storage.event_receipts(id)?.into_iter().collect();
    let (s, timeline) = zhuqi_core::domain::event::fold::<ProblemState>(doc.events::<ProblemAction>());
    let name = |u: &str| dir.users.get(u).map_or(u.to_owned(), |x| x.name.clone());
    let dept =
        s.department_id.as_deref().and_then(|d| dir.departments.get(d)).map_or("—".to_owned(), |d| d.name.clone());
    let mut body = format!(
        r#"<h2>{}</h2><p>{} · {} · {} · 第{}级（{}） · 责任单位：{} · 时限：{} · 催办 {} 次</p><p>{}</p>"#,
        esc(&s.title),
        esc(&doc.header("enterprise_name").unwrap_or_default()),
        s.category.zh(),
        s.status.zh(),
        s.level,
        zhuqi_core::domain::problem::level_zh(s.level),
        esc(&dept),
        time_or_dash(s.deadline),
        s.urge_count,
        esc(&s.description)
    );
    body.push_str(r#"<h3>全程记录</h3><table id="timeline"><thead><tr><th>操作</th><th>操作人</th><th>设备</th><th>设备时间</th><th>到达服务器</th><th>内容</th><th>结果</th></tr></thead><tbody>"#);
    for f in &timeline {
        let e = &f.event;
        let (verb, text) = match &e.action {
            ProblemAction::Reported { description, .. } => ("上报", description.clone()),
            ProblemAction::Accepted { note } => ("受理", note.clone()),
            ProblemAction::Routed { department_id, level, deadline, note } => (
                "交办",
                format!(
                    "{}，第{level}级，时限 {} {note}",
                    dir.departments.get(department_id).map_or(department_id.clone(), |d| d.name.clone()),
                    date_of(*deadline)
                ),
            ),
            ProblemAction::Progress { note } => ("进展", note.clone()),
            ProblemAction::Escalated { level, reason, .. } => ("提级督办", format!("提至第{level}级：{reason}")),
            ProblemAction::Urged { note } => ("催办", note.clone()),
            ProblemAction::Resolved { resolution } => ("办结", resolution.clone()),
            ProblemAction::Confirmed { rating, comment } => ("企业确认", format!("满意度 {rating}/5 {comment}")),
            ProblemAction::Rejected { reason } => ("企业退回", reason.clone()),
            ProblemAction::Closed { note } => ("销号", note.clone()),
            ProblemAction::FollowedUp { note, still_solved } => {
                ("回头看", format!("{note}{}", if *still_solved { "" } else { "（问题复发）" }))
            }
            ProblemAction::Unknown => ("未知操作", String::new()),
        };
        let outcome = match &f.outcome {
            Outcome::Applied if f.concurrent_with.is_empty() => "生效".to_owned(),
            Outcome::Applied => "生效（与其他操作同时离线进行）".to_owned(),
            Outcome::Conflict { with, .. } => format!(
                r#"<b class="error">冲突</b>：与 {} 的操作冲突，未生效但已保留"#,
                esc(&timeline.iter().find(|x| &x.event.id == with).map_or(with.clone(), |x| name(&x.event.by)))
            ),
            Outcome::Rejected { .. } => "无效".to_owned(),
            Outcome::Unknown => "新版本操作".to_owned(),
        };
        let _ = write!(
            body,
            r#"<tr class="event {}"><td>{verb}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{outcome}</td></tr>"#,
            if matches!(f.outcome, Outcome::Conflict { .. }) { "conflict" } else { "" },
            esc(&name(&e.by)),
            esc(&e.device),
            time_of(e.at),
            time_or_dash(receipts.get(&e.id).copied()),
            esc(&text),
        );
    }
    body.push_str("</tbody></table>");
    use zhuqi_core::domain::ProblemStatus as S;
    let root = session.user.region_id.as_deref().and_then(|r| dir.paths.get(r)).cloned().unwrap_or_default();
    let mut depts: Vec<_> = dir
        .departments
        .values()
        .filter(|d| dir.paths.get(&d.region_id).is_some_and(|p| path_covers(&root, p)))
        .collect();
    depts.sort_by(|a, b| a.id.cmp(&b.id));
    let dept_options: String = depts.iter().map(|d| option(&d.id, &d.name, s.department_id.as_deref())).collect();
    let levels = |from: u8| -> String {
        (from..=5).map(|l| option(&l.to_string(), zhuqi_core::domain::problem::level_zh(l), None)).collect()
    };
    let hidden = format!(r#"<input type="hidden" name="csrf" value="{csrf}">"#);
    if s.status == S::Routed {
        let _ = write!(
            body,
            r#"<h3>催办</h3><form method="post" action="/problems/{id}/urge">{hidden}<input name="note" placeholder="催办说明" size="40"><button class="primary" id="urge">催办</button></form>
<h3>提级督办</h3><form method="post" action="/problems/{id}/escalate">{hidden}<select name="level">{}</select><select name="department"><option value="">责任单位不变</option>{dept_options}</select><input type="date" name="deadline"><input name="note" placeholder="提级原因" required><button>提级</button></form>"#,
            levels(s.level.saturating_add(1).min(5)),
            id = esc(id)
        );
    }
    if matches!(s.status, S::Reported | S::Accepted | S::Routed) {
        let _ = write!(
            body,
            r#"<h3>{}</h3><form method="post" action="/problems/{id}/route">{hidden}<select name="department" required>{dept_options}</select><select name="level">{}</select><input type="date" name="deadline" required><input name="note" placeholder="交办说明"><button>交办</button></form>"#,
            if s.status == S::Routed { "改派" } else { "交办" },
            levels(s.level.max(1)),
            id = esc(id)
        );
    }
    Ok(page("问题详情", Some(&session.user.name), Some(csrf), &body))
}

#[derive(serde::Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    level: Option<u8>,
    /// `YYYY-MM-DD`: the deadline is the end of that day.
    #[serde(default)]
    deadline: String,
}

/// Urges (催办), routes or re-routes (交办), or escalates (提级督办) a problem from the desk: an
/// Automerge change by the manager's relay-side actor, through the same validation and audit path as
/// a phone's. `POST /problems/{id}/{urge|route|escalate}`.
pub async fn problem_action(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path((id, action)): axum::extract::Path<(String, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    use zhuqi_core::domain::ProblemAction;
    let (session, token) = match manager(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&f.csrf, &token) {
        return ApiError::forbidden("bad CSRF token").into_response();
    }
    let deadline = parse_date("deadline", &f.deadline).ok().map(|d| day_start(d + 1) - 1);
    let note = f.note.trim().to_owned();
    let action = match action.as_str() {
        "urge" => ProblemAction::Urged { note },
        "route" => match (deadline, f.level) {
            (Some(deadline), Some(level)) => {
                ProblemAction::Routed { department_id: f.department.clone(), level, deadline, note }
            }
            _ => return ApiError::bad_request("routing needs a level and a deadline").into_response(),
        },
        "escalate" => match f.level {
            Some(level) => ProblemAction::Escalated {
                level,
                reason: note,
                department_id: Some(f.department.clone()).filter(|d| !d.is_empty()),
                deadline,
            },
            None => return ApiError::bad_request("escalation needs a level").into_response(),
        },
        _ => return ApiError::not_found("no such action").into_response(),
    };
    let st = state.clone();
    let pid = id.clone();
    let result = tokio::task::spawn_blocking(move || {
        problem_in_scope(&st, &session, &pid)?;
        let action = action
            .validate()
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string(), "输入内容有误"))?;
        let mut author = crate::sync::author::Author::new(&st, &session.user.id)?;
        author.append(&pid, action, now_ms())?;
        author.submit_all()
    })
    .await;
    after_action(result, &format!("/problems/{id}"))
}

// ---- ranking and exports ----

#[derive(serde::Deserialize, Default)]
pub struct MonthQuery {
    month: Option<String>,
}

/// The month asked for, by default the previous one (the ranking is of finished months).
fn month_of(q: &MonthQuery, now: i64) -> (String, Period, Period) {
    let asked = q.month.as_deref().and_then(|m| crate::dashboard::reports::month_periods(m).map(|p| (m.to_owned(), p)));
    let (month, (m, p)) = asked.unwrap_or_else(|| {
        let (y, mo, _) = civil_from_days((now + CST).div_euclid(DAY));
        let (y, mo) = if mo == 1 { (y - 1, 12) } else { (y, mo - 1) };
        let m = format!("{y:04}-{mo:02}");
        let periods = crate::dashboard::reports::month_periods(&m).expect("a valid month");
        (m, periods)
    });
    (month, m, p)
}

type Rankings = (Vec<(String, kpi::Ranked)>, Vec<(String, kpi::Ranked)>);

fn rankings_for(state: &AppState, session: &Session, month: Period, previous: Period) -> Result<Rankings, ApiError> {
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let root_path = session.user.region_id.as_deref().and_then(|r| dir.paths.get(r)).cloned().unwrap_or_default();
    let problems = storage.problem_facts()?;
    let visits = storage.visit_facts()?;
    let enterprises = storage.enterprises_per_region()?;
    Ok(crate::dashboard::reports::rankings(&dir, &root_path, &problems, &visits, &enterprises, month, previous, now_ms()))
}

/// Runs a manager's blocking page work and turns its result into a response.
async fn managed<F>(state: Arc<AppState>, headers: HeaderMap, f: F) -> Response
where
    F: FnOnce(&AppState, &Session, &str) -> Result<Response, ApiError> + Send + 'static,
{
    state.metrics.request(crate::http::metrics::Route::Web);
    let (session, token) = match manager(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let st = state.clone();
    match tokio::task::spawn_blocking(move || f(&st, &session, &csrf_of(&token))).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

fn download(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response()
}

const CSV: &str = "text/csv; charset=utf-8";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub async fn ranking_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<MonthQuery>,
) -> Response {
    managed(state, headers, move |st, session, csrf| {
        let (month, m, p) = month_of(&q, now_ms());
        let (counties, departments) = rankings_for(st, session, m, p)?;
        let body = format!(
            r#"<form class="period" method="get" action="/ranking"><label>月份<input type="month" name="month" value="{month}"></label><button>查询</button>
<a href="/export/ranking.csv?month={month}">导出 CSV</a> <a href="/export/ranking.xlsx?month={month}">导出 Excel</a></form>
<h2>{month} 月度考核排名</h2>
<p class="muted">得分 = 40 × 解决率 + 25 × 按期办结率 + 25 × 满意率 + 10 × 走访覆盖率（当月走访过的包联企业占比）；某项当月无数据时按满分计。责任单位不计走访覆盖率项（按满分计）。</p>
<h3>县区</h3>{}<h3>责任单位</h3>{}"#,
            crate::dashboard::reports::html_table(&crate::dashboard::reports::ranking_table(&counties), "ranking-counties"),
            crate::dashboard::reports::html_table(&crate::dashboard::reports::ranking_table(&departments), "ranking-departments"),
        );
        Ok(page("月度考核", Some(&session.user.name), Some(csrf), &body).into_response())
    })
    .await
}

/// `GET /export/{ranking,problems}.{csv,xlsx}` with the page's own query.
pub async fn export(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    path: axum::extract::Path<String>,
    uri: axum::http::Uri,
) -> Response {
    if path.0.starts_with("ranking.") {
        match Query::<MonthQuery>::try_from_uri(&uri) {
            Ok(q) => ranking_export(state, headers, path, q).await,
            Err(e) => ApiError::bad_request(e.to_string()).into_response(),
        }
    } else {
        match Query::<ProblemsQuery>::try_from_uri(&uri) {
            Ok(q) => problems_export(state, headers, path, q).await,
            Err(e) => ApiError::bad_request(e.to_string()).into_response(),
        }
    }
}

async fn ranking_export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(format): axum::extract::Path<String>,
    Query(q): Query<MonthQuery>,
) -> Response {
    managed(state, headers, move |st, session, _| {
        let (month, m, p) = month_of(&q, now_ms());
        let (counties, departments) = rankings_for(st, session, m, p)?;
        let (c, d) = (crate::dashboard::reports::ranking_table(&counties), crate::dashboard::reports::ranking_table(&departments));
        match format.as_str() {
            "ranking.csv" => {
                // One file: the county table, an empty line, the department table.
                let mut bytes = crate::dashboard::reports::csv_bytes(&c);
                bytes.extend_from_slice(b"\n");
                bytes.extend_from_slice(&crate::dashboard::reports::csv_bytes(&d)[3..]);
                Ok(download(bytes, CSV, &format!("ranking-{month}.csv")))
            }
            "ranking.xlsx" => {
                let bytes = crate::dashboard::reports::xlsx_bytes(&[("县区", &c), ("责任单位", &d)])
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(download(bytes, XLSX, &format!("ranking-{month}.xlsx")))
            }
            _ => Err(ApiError::not_found("no such export")),
        }
    })
    .await
}

async fn problems_export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(format): axum::extract::Path<String>,
    Query(q): Query<ProblemsQuery>,
) -> Response {
    managed(state, headers, move |st, session, _| {
        let rows = filtered_problems(st, session, &q)?;
        let dir = st.directory.get(st.storage.as_ref())?;
        let table = crate::dashboard::reports::problems_table(&rows, &dir, now_ms());
        match format.as_str() {
            "problems.csv" => Ok(download(crate::dashboard::reports::csv_bytes(&table), CSV, "problems.csv")),
            "problems.xlsx" => {
                let bytes =
                    crate::dashboard::reports::xlsx_bytes(&[("问题", &table)]).map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(download(bytes, XLSX, "problems.xlsx"))
            }
            _ => Err(ApiError::not_found("no such export")),
        }
    })
    .await
}

// ---- enterprises and cadres ----

fn in_subtree(dir: &crate::sync::directory::Snapshot, session: &Session, region: &str) -> bool {
    let root = session.user.region_id.as_deref().and_then(|r| dir.paths.get(r)).cloned().unwrap_or_default();
    dir.paths.get(region).is_some_and(|p| path_covers(&root, p))
}

pub async fn enterprise_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    managed(state, headers, move |st, session, csrf| {
        use zhuqi_core::domain::{EnterpriseAction, EnterpriseState};
        let dir = st.directory.get(st.storage.as_ref())?;
        let bytes = st.document_bytes(&id)?.ok_or_else(|| ApiError::not_found("no such enterprise in your region"))?;
        let doc = zhuqi_core::document::Document::load(&bytes).map_err(|e| ApiError::internal(e.to_string()))?;
        let (e, _) = zhuqi_core::domain::event::fold::<EnterpriseState>(doc.events::<EnterpriseAction>());
        if !e.registered || !in_subtree(&dir, session, &e.profile.region_id) {
            return Err(ApiError::not_found("no such enterprise in your region"));
        }
        let p = &e.profile;
        let name = |u: &str| dir.users.get(u).map_or(u.to_owned(), |x| x.name.clone());
        let mut body = format!(
            "<h2>{}</h2><p>统一社会信用代码 {} · {} · {} · {}</p><p>标签：{}</p><p>联系人：{}</p>",
            esc(&p.name),
            esc(&p.uscc),
            esc(dir.regions.get(&p.region_id).map_or(p.region_id.as_str(), |r| r.name.as_str())),
            esc(&p.industry),
            esc(&p.address),
            esc(&p.tags.join("、")),
            esc(&p.contacts.iter().map(|c| format!("{} {} {}", c.name, c.title, c.phone)).collect::<Vec<_>>().join("；")),
        );
        body.push_str("<h3>包联干部</h3><ul id=\"cadres\">");
        for a in &e.assignments {
            let _ = write!(body, r#"<li><a href="/cadres/{}">{}</a>{}</li>"#, esc(&a.cadre_id), esc(&name(&a.cadre_id)), if a.chief { "（首席服务官）" } else { "" });
        }
        body.push_str("</ul><h3>走访记录</h3><table id=\"visits\"><thead><tr><th>日期</th><th>干部</th><th>走访对象</th><th>记录</th><th>宣讲政策</th></tr></thead><tbody>");
        let mut visits: Vec<_> = e.visits.iter().collect();
        visits.sort_by(|a, b| b.record.date.cmp(&a.record.date));
        for v in visits {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&v.record.date),
                esc(&name(&v.cadre_id)),
                esc(&v.record.people_met.join("、")),
                esc(&v.record.notes),
                esc(&v.record.policies.join("、"))
            );
        }
        body.push_str("</tbody></table><h3>问题</h3><ul id=\"problems\">");
        for r in st.storage.problem_rows()?.into_iter().filter(|r| r.enterprise_id == id) {
            let _ = write!(body, r#"<li><a href="/problems/{}">{}</a> · {}</li>"#, esc(&r.id), esc(&r.title), status_zh(&r.status));
        }
        body.push_str("</ul>");
        Ok(page("企业", Some(&session.user.name), Some(csrf), &body).into_response())
    })
    .await
}

pub async fn cadre_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    managed(state, headers, move |st, session, csrf| {
        let storage = st.storage.as_ref();
        let dir = st.directory.get(storage)?;
        let cadre = dir.users.get(&id).filter(|u| u.role == Role::Cadre).ok_or_else(|| ApiError::not_found("no such cadre in your region"))?;
        if !cadre.region_id.as_deref().is_some_and(|r| in_subtree(&dir, session, r)) {
            return Err(ApiError::not_found("no such cadre in your region"));
        }
        let names: std::collections::HashMap<String, String> = storage.enterprise_rows()?.into_iter().map(|(id, name, _)| (id, name)).collect();
        let mine: Vec<String> = storage.assignments()?.into_iter().filter(|(_, c, _)| c == &id).map(|(e, _, _)| e).collect();
        let visits: Vec<VisitFact> = storage.visit_facts()?.into_iter().filter(|v| v.cadre_id == id).collect();
        let now = now_ms();
        let mut per_month: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
        for v in &visits {
            *per_month.entry(date_of(v.day)[..7].to_owned()).or_default() += 1;
        }
        let mut body = format!("<h2>{}</h2><p>包联企业 {} 家，走访 {} 次</p><h3>包联企业</h3><table id=\"assigned\"><thead><tr><th>企业</th><th>最近走访</th></tr></thead><tbody>", esc(&cadre.name), mine.len(), visits.len());
        let mut stale = Vec::new();
        for e in &mine {
            let last = visits.iter().filter(|v| &v.enterprise_id == e).map(|v| v.day).max();
            if last.is_none_or(|d| d < now - 30 * DAY) {
                stale.push(e.clone());
            }
            let _ = write!(
                body,
                r#"<tr><td><a href="/enterprises/{}">{}</a></td><td>{}</td></tr>"#,
                esc(e),
                esc(names.get(e).map_or(e.as_str(), |n| n.as_str())),
                last.map_or("从未走访".into(), date_of)
            );
        }
        body.push_str("</tbody></table><h3>每月走访次数</h3><table id=\"per-month\"><thead><tr><th>月份</th><th>次数</th></tr></thead><tbody>");
        for (m, n) in per_month.iter().rev() {
            let _ = write!(body, "<tr><td>{m}</td><td>{n}</td></tr>");
        }
        let _ = write!(body, "</tbody></table><h3>30天未走访的包联企业（{}家）</h3><ul id=\"stale\">", stale.len());
        for e in &stale {
            let _ = write!(body, r#"<li><a href="/enterprises/{}">{}</a></li>"#, esc(e), esc(names.get(e).map_or(e.as_str(), |n| n.as_str())));
        }
        body.push_str("</ul>");
        Ok(page("干部", Some(&session.user.name), Some(csrf), &body).into_response())
    })
    .await
}

// ---- task notices ----

pub async fn notices_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    managed(state, headers, move |st, session, csrf| {
        let storage = st.storage.as_ref();
        let dir = st.directory.get(storage)?;
        let now = now_ms();
        let mut body = String::from(r#"<h2>任务通知</h2><table class="sortable" id="notices"><thead><tr><th>标题</th><th>下发</th><th>时限</th><th>完成</th><th>状态</th></tr></thead><tbody>"#);
        for (id, region, title, _, issued_at, deadline, status) in storage.task_notice_rows()? {
            if !in_subtree(&dir, session, &region) {
                continue;
            }
            let rs = storage.task_recipient_rows(&id)?;
            let done = rs.iter().filter(|r| r.2.is_some()).count();
            let late = status != "completed" && deadline < now;
            let _ = write!(
                body,
                r#"<tr data-id="{id}"><td><a href="/notices/{id}">{}</a></td><td>{}</td><td>{}</td><td>{done}/{}</td><td>{}</td></tr>"#,
                esc(&title),
                date_of(issued_at),
                date_of(deadline),
                rs.len(),
                if status == "completed" { "已完成" } else if late { "<b class=\"error\">超期未完成</b>" } else { "办理中" },
                id = esc(&id)
            );
        }
        body.push_str("</tbody></table>");
        // The form to issue a new notice, to departments and cadres of the manager's region.
        let region = session.user.region_id.clone().unwrap_or_default();
        let mut depts: Vec<_> = dir.departments.values().filter(|d| in_subtree(&dir, session, &d.region_id)).collect();
        depts.sort_by(|a, b| a.id.cmp(&b.id));
        let mut cadres: Vec<_> =
            dir.users.values().filter(|u| u.role == Role::Cadre && u.region_id.as_deref().is_some_and(|r| in_subtree(&dir, session, r))).collect();
        cadres.sort_by(|a, b| a.id.cmp(&b.id));
        let _ = write!(
            body,
            r#"<h3>下发任务通知</h3><form method="post" action="/notices"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="region" value="{}">
<p><input name="title" placeholder="标题" required size="40"></p><p><textarea name="body" rows="4" cols="60" placeholder="内容" required></textarea></p>
<p>时限 <input type="date" name="deadline" required></p><fieldset><legend>接收单位与干部</legend>{}{}</fieldset><button class="primary">下发</button></form>"#,
            esc(&region),
            depts.iter().map(|d| format!(r#"<label><input type="checkbox" name="to" value="department:{}">{}</label> "#, esc(&d.id), esc(&d.name))).collect::<String>(),
            cadres.iter().map(|c| format!(r#"<label><input type="checkbox" name="to" value="cadre:{}">{}</label> "#, esc(&c.id), esc(&c.name))).collect::<String>(),
        );
        Ok(page("任务通知", Some(&session.user.name), Some(csrf), &body).into_response())
    })
    .await
}

/// Issues a task notice from the desk (a new document by the manager's relay-side actor).
pub async fn issue_notice(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    // Repeated `to` fields: parsed by hand (a form may list many recipients).
    let pairs: Vec<(String, String)> = url_pairs(&body);
    let get = |k: &str| pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (session, token) = match manager(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&get("csrf"), &token) {
        return ApiError::forbidden("bad CSRF token").into_response();
    }
    let recipients: Vec<zhuqi_core::domain::Recipient> = pairs
        .iter()
        .filter(|(k, _)| k == "to")
        .filter_map(|(_, v)| zhuqi_core::domain::Recipient::from_key(v))
        .collect();
    let Ok(day) = parse_date("deadline", &get("deadline")) else {
        return ApiError::bad_request("deadline").into_response();
    };
    let action = zhuqi_core::domain::TaskNoticeAction::Issued {
        region_id: get("region"),
        title: get("title"),
        body: get("body"),
        deadline: day_start(day + 1) - 1,
        recipients,
    };
    let st = state.clone();
    let id = uuid::Uuid::now_v7().to_string();
    let nid = id.clone();
    let result = tokio::task::spawn_blocking(move || {
        let now = now_ms();
        let action = action
            .validate(now)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string(), "输入内容有误"))?;
        let region = match &action {
            zhuqi_core::domain::TaskNoticeAction::Issued { region_id, .. } => region_id.clone(),
            _ => String::new(),
        };
        let mut author = crate::sync::author::Author::new(&st, &session.user.id)?;
        author.create(zhuqi_core::domain::DocKind::TaskNotice, &nid, &[("region_id", &region)], action, now)?;
        author.submit_all()
    })
    .await;
    after_action(result, &format!("/notices/{id}"))
}

/// After an action from the desk: back to `page_path`, or a page saying why it was refused.
fn after_action(result: Result<Result<(), ApiError>, tokio::task::JoinError>, page_path: &str) -> Response {
    match result {
        Ok(Ok(())) => Redirect::to(page_path).into_response(),
        Ok(Err(e)) => {
            let body = format!(
                r#"<p class="error">{}</p><p>{}</p><p><a href="{}">返回</a></p>"#,
                esc(e.message_zh),
                esc(&e.message),
                esc(page_path)
            );
            (e.status, page("操作未完成", None, None, &body)).into_response()
        }
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn url_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub async fn notice_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    managed(state, headers, move |st, session, csrf| {
        let storage = st.storage.as_ref();
        let dir = st.directory.get(storage)?;
        let Some((_, region, title, issued_by, issued_at, deadline, status)) = storage.task_notice_rows()?.into_iter().find(|n| n.0 == id) else {
            return Err(ApiError::not_found("no such notice in your region"));
        };
        if !in_subtree(&dir, session, &region) {
            return Err(ApiError::not_found("no such notice in your region"));
        }
        let name = |key: &str| match zhuqi_core::domain::Recipient::from_key(key) {
            Some(zhuqi_core::domain::Recipient::Department(d)) => dir.departments.get(&d).map_or(d, |x| x.name.clone()),
            Some(zhuqi_core::domain::Recipient::Cadre(c)) => dir.users.get(&c).map_or(c, |x| x.name.clone()),
            None => key.to_owned(),
        };
        let mut body = format!(
            r#"<h2>{}</h2><p>{} 下发于 {} · 时限 {} · {}</p><table id="recipients"><thead><tr><th>接收方</th><th>签收</th><th>完成</th><th>按期</th></tr></thead><tbody>"#,
            esc(&title),
            esc(&dir.users.get(&issued_by).map_or(issued_by.clone(), |u| u.name.clone())),
            date_of(issued_at),
            date_of(deadline),
            if status == "completed" { "已全部完成" } else { "办理中" }
        );
        for (key, ack, done) in storage.task_recipient_rows(&id)? {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&name(&key)),
                time_or_dash(ack),
                time_or_dash(done),
                match done {
                    Some(d) if d <= deadline => "是",
                    Some(_) => "否",
                    None if deadline < now_ms() => "超期",
                    None => "—",
                }
            );
        }
        body.push_str("</tbody></table>");
        Ok(page("任务通知", Some(&session.user.name), Some(csrf), &body).into_response())
    })
    .await
}
