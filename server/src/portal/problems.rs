//! The enterprise's problems on the web: the list (`/e/`), one problem with the timeline its
//! contact's phone shows (every step, by name and role; no device ids, photos counted not shown),
//! and the contact's actions — confirm a resolution with a rating, reject it with a reason, report a
//! problem. Each action is the contact's own event, appended through `sync::author` on the
//! session's `web:` device and pushed through the same validation, scope and audit path as the
//! app's: a confirmation from here is the app's confirmation (`Confirmation::Enterprise` in the
//! figures), a rejection reopens the problem on the handler's phone at its next sync, a report
//! reaches the enterprise's cadres' phones.
//!
//! A problem is found only through the enterprise's own scope key (`ent:<id>`), as the contact's
//! phone reads it: another enterprise's problem, an enterprise's document and an id nobody uses
//! are the same 404.

use super::forms::{self, COMMENT, DESCRIPTION, REASON, TITLE};
use super::pages::{self, Frame, HomePage, Listed, ProblemPage, ReportPage, Step};
use super::session::{self, Contact};
use crate::http::error::ApiError;
use crate::http::metrics::Route;
use crate::sync::author::Author;
use crate::sync::directory::Snapshot;
use crate::{AppState, now_ms};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;
use zhuqi_core::domain::event::{Folded, Outcome, fold};
use zhuqi_core::domain::problem::{is_overdue, level_zh};
use zhuqi_core::domain::{
    Category, DocKind, EnterpriseAction, EnterpriseState, ProblemAction, ProblemState, ProblemStatus, Role,
};

/// Problems the list shows at most (an enterprise reports a handful a year).
pub const LISTED_MAX: u32 = 200;

/// The one answer for a problem the contact may not see, whether it exists or not.
fn not_found() -> ApiError {
    ApiError::not_found("no such problem of your enterprise")
}

/// The relay's current state of the contact's enterprise (none before it is registered).
pub fn enterprise_of(st: &AppState, enterprise_id: &str) -> Result<Option<EnterpriseState>, ApiError> {
    let events = st.read_doc(enterprise_id, |c| {
        (c.kind == DocKind::Enterprise).then(|| {
            zhuqi_core::document::parse_events::<EnterpriseAction>(&zhuqi_core::document::raw_events_of(&c.doc))
        })
    })?;
    Ok(events.flatten().map(|e| fold::<EnterpriseState>(e).0).filter(|e| e.registered))
}

/// A problem of the contact's enterprise, folded, with its steps; 404 for anything else.
fn problem_of(st: &AppState, c: &Contact, id: &str) -> Result<(ProblemState, Vec<Folded<ProblemAction>>), ApiError> {
    let key = format!("ent:{}", c.session.enterprise_id);
    if id.is_empty() || id.len() > 64 || !st.storage.doc_in_scope(id, &[key])? {
        return Err(not_found());
    }
    let events = st.read_doc(id, |d| {
        (d.kind == DocKind::Problem)
            .then(|| zhuqi_core::document::parse_events::<ProblemAction>(&zhuqi_core::document::raw_events_of(&d.doc)))
    })?;
    let (state, folded) = fold::<ProblemState>(events.flatten().ok_or_else(not_found)?);
    if state.enterprise_id != c.session.enterprise_id {
        return Err(not_found());
    }
    Ok((state, folded))
}

/// An id as it may go into a link back: its plain characters only (document ids are plain; what a
/// request's path holds need not be).
fn plain(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')).take(64).collect()
}

fn department_name(dir: &Snapshot, id: Option<&str>) -> Option<String> {
    id.map(|d| dir.departments.get(d).map_or_else(|| d.to_owned(), |d| d.name.clone()))
}

/// `GET /e/`: the enterprise's problems, or the sign-in form without a session.
pub async fn home(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    state.metrics.request(Route::Enterprise);
    match session::contact(&state, &headers).await {
        Ok(None) => session::sign_in_form(StatusCode::OK, None, None),
        Ok(Some(c)) => session::run(state, c, "/e/".into(), home_page).await,
        Err(e) => e.into_response(),
    }
}

fn home_page(st: &AppState, c: &Contact) -> Result<Response, ApiError> {
    let storage = st.storage.as_ref();
    let dir = st.directory.get(storage)?;
    let enterprise_id = &c.session.enterprise_id;
    let enterprise = enterprise_of(st, enterprise_id)?;
    let name = enterprise.as_ref().map_or_else(|| enterprise_id.clone(), |e| e.profile.name.clone());
    let now = now_ms();
    let (mut awaiting, mut others) = (Vec::new(), Vec::new());
    for row in storage.enterprise_problems(enterprise_id, LISTED_MAX)? {
        let Some(status) = ProblemStatus::parse(&row.status) else { continue };
        let listed = Listed {
            overdue: is_overdue(status, row.reported_at, row.deadline, now),
            department: department_name(&dir, row.department_id.as_deref()),
            category: Category::from_stored(&row.category),
            id: row.id,
            title: row.title,
            status,
            deadline: row.deadline,
            reported_at: row.reported_at,
        };
        if status == ProblemStatus::Resolved { awaiting.push(listed) } else { others.push(listed) }
    }
    let policies = match &enterprise {
        Some(e) => super::policies::matched(st, &dir, e, now)?.len(),
        None => 0,
    };
    let page = HomePage { enterprise: &name, awaiting, others, policies };
    Ok(pages::render(&page, Some(Frame { enterprise: &name, contact: &c.user.name, csrf: &c.csrf })).into_response())
}

/// What a step of the timeline says, in the enterprise's words.
fn step_text(dir: &Snapshot, action: &ProblemAction) -> (&'static str, String) {
    let dept = |d: &str| department_name(dir, Some(d)).unwrap_or_default();
    let date = zhuqi_core::domain::text::date_of;
    match action {
        ProblemAction::Reported { title, description, .. } => ("反映问题", format!("{title}：{description}")),
        ProblemAction::Accepted { note } => ("受理", note.clone()),
        ProblemAction::Routed { department_id, deadline, note, .. } => {
            ("交办", format!("交{}办理，时限 {} {note}", dept(department_id), date(*deadline)).trim_end().to_owned())
        }
        ProblemAction::Progress { note, .. } => ("办理进展", note.clone()),
        ProblemAction::Escalated { level, reason, .. } => ("提级督办", format!("提至{}：{reason}", level_zh(*level))),
        ProblemAction::Urged { note } => ("催办", note.clone()),
        ProblemAction::Resolved { resolution, .. } => ("办结", resolution.clone()),
        ProblemAction::Confirmed { rating, comment } => {
            ("企业确认", format!("满意度 {rating} 分 {comment}").trim_end().to_owned())
        }
        ProblemAction::Rejected { reason } => ("企业退回", reason.clone()),
        ProblemAction::CalledBack { contact, accepted: true, rating, note } => (
            "回访确认",
            format!("回访{contact}：满意度 {} 分 {note}", rating.unwrap_or_default()).trim_end().to_owned(),
        ),
        ProblemAction::CalledBack { contact, note, .. } => {
            ("回访", format!("回访{contact}：企业不认可办理结果：{note}"))
        }
        ProblemAction::Closed { note } => ("销号", note.clone()),
        ProblemAction::ClosedUnanswered { note, answer_days } => (
            "超时未确认销号",
            format!("{}天内未确认 {note}", answer_days.unwrap_or(zhuqi_core::domain::problem::ANSWER_DAYS))
                .trim_end()
                .to_owned(),
        ),
        ProblemAction::FollowedUp { note, still_solved } => {
            ("回头看", format!("{note}{}", if *still_solved { "" } else { "（问题复发，重新办理）" }))
        }
        ProblemAction::Withdrawn { reason } => ("撤回", reason.clone()),
        ProblemAction::Merged { reason, .. } => ("合并办理", reason.clone()),
        ProblemAction::Unknown => ("其他操作", "需更新版本查看".to_owned()),
    }
}

/// `GET /e/problems/{id}`.
pub async fn problem_page(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    session::signed_in(state, &headers, "/e/".into(), move |st, c| {
        let (s, folded) = problem_of(st, c, &id)?;
        let dir = st.directory.get(st.storage.as_ref())?;
        let who = |by: &str, role: Role| -> (String, &'static str) {
            let user = dir.users.get(by);
            let name = user.map_or_else(|| "工作人员".to_owned(), |u| u.name.clone());
            // A handler is known by their department.
            let unit = user.and_then(|u| u.department_id.as_deref()).and_then(|d| dir.departments.get(d));
            match (role, unit) {
                (Role::DepartmentHandler, Some(d)) => (format!("{name} · {}", d.name), role.zh()),
                _ => (name, role.zh()),
            }
        };
        let steps = folded
            .iter()
            .map(|f| {
                let (verb, text) = step_text(&dir, &f.event.action);
                let (by, role) = who(&f.event.by, f.event.role);
                Step {
                    at: f.event.at,
                    verb,
                    by,
                    role,
                    text,
                    photos: f.event.action.photos().len(),
                    conflict: matches!(f.outcome, Outcome::Conflict { .. } | Outcome::Rejected { .. }),
                }
            })
            .collect();
        let enterprise = enterprise_of(st, &c.session.enterprise_id)?;
        let name = enterprise.as_ref().map_or(c.session.enterprise_id.as_str(), |e| e.profile.name.as_str());
        let department = department_name(&dir, s.department_id.as_deref());
        let page = ProblemPage {
            id: &id,
            title: &s.title,
            description: &s.description,
            category: s.category,
            status: s.status,
            department: department.as_deref(),
            deadline: s.deadline,
            overdue: is_overdue(s.status, s.reported_at, s.deadline, now_ms()),
            reported_at: s.reported_at,
            rating: s.rating,
            steps,
            answerable: s.status == ProblemStatus::Resolved,
            csrf: &c.csrf,
        };
        Ok(pages::render(&page, Some(Frame { enterprise: name, contact: &c.user.name, csrf: &c.csrf })).into_response())
    })
    .await
}

#[derive(serde::Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rating: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    reason: String,
}

fn not_awaiting() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_awaiting_answer",
        "the problem is not waiting for the enterprise's answer",
        "该问题当前无需确认（可能已确认或已退回）",
    )
}

fn domain(e: zhuqi_core::domain::DomainError) -> ApiError {
    forms::invalid("invalid", e.to_string(), "输入内容有误，请检查后重试")
}

/// `POST /e/problems/{id}/confirm` (rating 1–5, comment) and `…/reject` (reason): the contact's
/// answer to a resolution, as their phone would write it.
pub async fn answer(
    State(state): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
    request: Request,
) -> Response {
    let back = format!("/e/problems/{}", plain(&id));
    let (parts, body) = request.into_parts();
    let f: AnswerForm = match forms::read(&parts.headers, body).await {
        Ok(f) => f,
        Err(e) => {
            state.metrics.request(Route::Enterprise);
            return pages::refusal(&e, &back);
        }
    };
    session::signed_in(state, &parts.headers, back.clone(), move |st, c| {
        if !c.csrf_ok(&f.csrf) {
            return Err(session::bad_csrf());
        }
        let (s, _) = problem_of(st, c, &id)?;
        let action = match action.as_str() {
            "confirm" => ProblemAction::Confirmed {
                rating: forms::rating(&f.rating)?,
                comment: forms::text(&f.comment, &COMMENT)?,
            },
            "reject" => ProblemAction::Rejected { reason: forms::text(&f.reason, &REASON)? },
            _ => return Err(ApiError::not_found("no such action")),
        };
        if s.status != ProblemStatus::Resolved {
            return Err(not_awaiting());
        }
        let action = action.validate().map_err(domain)?;
        let mut author = Author::on_web_device(st, &c.user.id, &c.session.device_id)?;
        author.append(&id, action, now_ms())?;
        author.submit_all()?;
        Ok(Redirect::to(&back).into_response())
    })
    .await
}

/// `GET /e/report`.
pub async fn report_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    session::signed_in(state, &headers, "/e/".into(), |st, c| {
        let enterprise = enterprise_of(st, &c.session.enterprise_id)?;
        let name = enterprise.as_ref().map_or(c.session.enterprise_id.as_str(), |e| e.profile.name.as_str());
        let page = ReportPage { csrf: &c.csrf };
        Ok(pages::render(&page, Some(Frame { enterprise: name, contact: &c.user.name, csrf: &c.csrf })).into_response())
    })
    .await
}

#[derive(serde::Deserialize)]
pub struct ReportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
}

/// Problems an enterprise may have reported within a day before the web refuses another: a handful a
/// year is usual, and a link forwarded or a session left open must not bury its cadres' phones.
pub const REPORTS_PER_DAY: usize = 10;

/// 429 `throttled` when the enterprise's problems reported in the last 24 hours (by anyone) reach
/// [`REPORTS_PER_DAY`], with `Retry-After` until the oldest of them is a day old.
fn reports_left(st: &AppState, enterprise_id: &str) -> Result<(), ApiError> {
    const DAY_MS: i64 = 86_400_000;
    let now = now_ms();
    let recent: Vec<i64> = st
        .storage
        .enterprise_problems(enterprise_id, LISTED_MAX)?
        .iter()
        .map(|p| p.reported_at)
        .filter(|at| *at > now - DAY_MS)
        .collect();
    if recent.len() < REPORTS_PER_DAY {
        return Ok(());
    }
    let oldest = recent.iter().min().copied().unwrap_or(now);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        "too many problems reported today; try again later or call your cadre",
        "今日反映的问题已达上限，请稍后再试或联系包联干部",
    );
    e.retry_after = Some(((oldest + DAY_MS - now).max(1000) / 1000) as u64);
    Err(e)
}

/// `POST /e/report`: a problem reported by the enterprise itself.
pub async fn report(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let f: ReportForm = match forms::read(&parts.headers, body).await {
        Ok(f) => f,
        Err(e) => {
            state.metrics.request(Route::Enterprise);
            return pages::refusal(&e, "/e/report");
        }
    };
    session::signed_in(state, &parts.headers, "/e/report".into(), move |st, c| {
        if !c.csrf_ok(&f.csrf) {
            return Err(session::bad_csrf());
        }
        let category = Category::parse(f.category.trim())
            .ok_or_else(|| forms::invalid("invalid_category", "category: not a known category", "请选择问题类别"))?;
        let title = forms::text(&f.title, &TITLE)?;
        let description = forms::text(&f.description, &DESCRIPTION)?;
        let enterprise_id = c.session.enterprise_id.clone();
        let Some(enterprise) = enterprise_of(st, &enterprise_id)? else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_registered",
                "the enterprise is not registered yet",
                "贵企业尚未登记，请联系包联干部",
            ));
        };
        reports_left(st, &enterprise_id)?;
        let action = ProblemAction::Reported {
            enterprise_id: enterprise_id.clone(),
            category,
            title,
            description,
            visit_id: None,
            photos: vec![],
        }
        .validate()
        .map_err(domain)?;
        let header = [
            ("enterprise_id", enterprise_id.as_str()),
            ("enterprise_name", enterprise.profile.name.as_str()),
            ("region_id", enterprise.profile.region_id.as_str()),
        ];
        let id = uuid::Uuid::now_v7().to_string();
        let mut author = Author::on_web_device(st, &c.user.id, &c.session.device_id)?;
        author.create(DocKind::Problem, &id, &header, action, now_ms())?;
        author.submit_all()?;
        Ok(Redirect::to(&format!("/e/problems/{id}")).into_response())
    })
    .await
}
