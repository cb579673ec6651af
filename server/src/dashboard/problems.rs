//! The problem pages' handlers: the filtered list, one problem with its timeline, and the desk's
//! actions on it (urge, route, escalate), which go through the same validation and audit path as a
//! phone's changes.

use super::pages::Choice;
use super::pages::problems::{
    EventOutcome, ListedProblem, ProblemFilters, ProblemPage, ProblemsPage, TimelineEvent, enc,
};
use super::session::{csrf_ok, managed, manager};
use super::{after_action, clock::day_start, departments_in, root_path, show};
use crate::http::error::ApiError;
use super::units::Scope;
use crate::storage::Session;
use crate::storage::figures::{self, ProblemSelection};
use crate::{AppState, now_ms};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use zhuqi_core::domain::OfficeSettings;
use zhuqi_core::domain::directory::path_covers;
use zhuqi_core::domain::text::{date_of, parse_date};

/// Problems per page of the list.
const PAGE_SIZE: u32 = 50;

pub async fn problems_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ProblemFilters>,
) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let dir = st.directory.get(st.storage.as_ref())?;
        let now = now_ms();
        let scope = Scope::of(&dir, session);
        let selection = selection(&scope, &q, now);
        let (mut rows, mut total) = (Vec::new(), 0);
        st.storage.with_snapshot(&mut |db| {
            rows = figures::problem_page(db, &selection, PAGE_SIZE + 1)?;
            total = figures::problem_count(db, &selection)?;
            Ok(())
        })?;
        let next = (rows.len() > PAGE_SIZE as usize).then(|| {
            rows.truncate(PAGE_SIZE as usize);
            rows.last().map(|p| format!("{}.{}", p.reported_at, enc(&p.id))).unwrap_or_default()
        });
        // The regions to filter by: two levels below the manager's (a province's counties, a
        // county's towns), not every village of a province.
        let depth = |id: &str| dir.paths.get(id).map_or(0, |p| p.split('/').count());
        let top = scope.root.map_or(1, |r| depth(&r.id));
        let mut regions: Vec<_> =
            dir.regions.values().filter(|r| scope.covers(&r.id) && depth(&r.id) <= top + 2).collect();
        regions.sort_by(|a, b| a.id.cmp(&b.id));
        let page = ProblemsPage {
            filters: &q,
            regions: regions.into_iter().map(|r| Choice { id: &r.id, name: &r.name }).collect(),
            departments: departments_in(&dir, &root_path(&dir, session)),
            problems: rows
                .iter()
                .map(|p| ListedProblem {
                    row: p,
                    department: p
                        .department_id
                        .as_deref()
                        .and_then(|d| dir.departments.get(d))
                        .map(|d| d.name.as_str()),
                    overdue: p.is_overdue(now),
                })
                .collect(),
            total,
            next,
        };
        Ok(show(&page, viewer))
    })
    .await
}

/// The problems the list's filters select in the manager's subtree (shared by the page and the
/// exports).
pub(super) fn selection(scope: &Scope, q: &ProblemFilters, now: i64) -> ProblemSelection {
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let day = |d: &Option<String>| given(d).and_then(|d| parse_date("date", &d).ok());
    // A region asked for narrows the manager's subtree to its own (outside it: nothing).
    let regions = match given(&q.region) {
        Some(r) if scope.covers(&r) => {
            let path = &scope.dir.paths[&r];
            Some(scope.dir.paths.iter().filter(|(_, p)| path_covers(path, p)).map(|(id, _)| id.clone()).collect())
        }
        Some(_) => Some(Vec::new()),
        None => scope.regions.clone(),
    };
    ProblemSelection {
        regions,
        status: given(&q.status),
        category: given(&q.category),
        level: q.level.as_deref().and_then(|l| l.parse::<u8>().ok()),
        department: given(&q.department),
        enterprise: None,
        overdue_at: q.overdue_only().then_some(now),
        reported_from: day(&q.from).map(day_start),
        reported_to: day(&q.to).map(|d| day_start(d + 1)),
        // Every space-separated term, somewhere in the title, description or enterprise (as the
        // phone's search takes them).
        terms: q.text().split_whitespace().take(8).map(str::to_owned).collect(),
        after: q.cursor(),
    }
}

/// The problem's document if the manager's region holds it.
fn problem_in_scope(state: &AppState, session: &Session, id: &str) -> Result<zhuqi_core::document::Document, ApiError> {
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let root_path = root_path(&dir, session);
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

pub async fn problem_page(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    use zhuqi_core::domain::{Outcome, ProblemAction, ProblemState};
    managed(state, headers, move |st, session, viewer| {
        let doc = problem_in_scope(st, session, &id)?;
        let dir = st.directory.get(st.storage.as_ref())?;
        let receipts: std::collections::HashMap<String, i64> = st.storage.event_receipts(&id)?.into_iter().collect();
        let (s, folded) = zhuqi_core::domain::event::fold::<ProblemState>(doc.events::<ProblemAction>());
        let name = |u: &str| dir.users.get(u).map_or(u.to_owned(), |x| x.name.clone());
        // Where the enterprise is: photos of the problem taken far from it are flagged.
        let place = super::enterprise_location(st, &s.enterprise_id)?;
        let department_name = |d: &String| dir.departments.get(d).map_or(d.clone(), |d| d.name.clone());
        let timeline = folded
            .iter()
            .map(|f| {
                let e = &f.event;
                let (verb, text) = match &e.action {
                    ProblemAction::Reported { description, .. } => ("上报", description.clone()),
                    ProblemAction::Accepted { note } => ("受理", note.clone()),
                    ProblemAction::Routed { department_id, level, deadline, note } => (
                        "交办",
                        format!("{}，第{level}级，时限 {} {note}", department_name(department_id), date_of(*deadline)),
                    ),
                    ProblemAction::Progress { note, .. } => ("进展", note.clone()),
                    ProblemAction::Escalated { level, reason, .. } => {
                        ("提级督办", format!("提至第{level}级：{reason}"))
                    }
                    ProblemAction::Urged { note } => ("催办", note.clone()),
                    ProblemAction::Resolved { resolution, .. } => ("办结", resolution.clone()),
                    ProblemAction::Confirmed { rating, comment } => {
                        ("企业确认", format!("满意度 {rating}/5 {comment}"))
                    }
                    ProblemAction::Rejected { reason } => ("企业退回", reason.clone()),
                    ProblemAction::CalledBack { contact, accepted: true, rating, note } => {
                        ("代确认（回访）", format!("回访{contact}：满意度 {}/5 {note}", rating.unwrap_or_default()))
                    }
                    ProblemAction::CalledBack { contact, note, .. } => {
                        ("代确认（回访）", format!("回访{contact}：企业不认可办理结果：{note}"))
                    }
                    ProblemAction::Closed { note } => ("销号", note.clone()),
                    ProblemAction::ClosedUnanswered { note, answer_days } => (
                        "超时未确认销号",
                        format!("{}天未确认 {note}", answer_days.unwrap_or(zhuqi_core::domain::problem::ANSWER_DAYS)),
                    ),
                    ProblemAction::FollowedUp { note, still_solved } => {
                        ("回头看", format!("{note}{}", if *still_solved { "" } else { "（问题复发）" }))
                    }
                    ProblemAction::Withdrawn { reason } => ("撤回", reason.clone()),
                    ProblemAction::Merged { into, reason } => ("合并", format!("并入问题 {into}：{reason}")),
                    ProblemAction::Unknown => ("未知操作", String::new()),
                };
                let outcome = match &f.outcome {
                    Outcome::Applied if f.concurrent_with.is_empty() => EventOutcome::Applied,
                    Outcome::Applied => EventOutcome::AppliedConcurrently,
                    Outcome::Conflict { with, .. } => EventOutcome::Conflict {
                        with: folded.iter().find(|x| &x.event.id == with).map_or(with.clone(), |x| name(&x.event.by)),
                    },
                    Outcome::Rejected { .. } => EventOutcome::Rejected,
                    Outcome::Unknown => EventOutcome::Newer,
                };
                Ok(TimelineEvent {
                    verb,
                    by: name(&e.by),
                    device: &e.device,
                    at: e.at,
                    received_at: receipts.get(&e.id).copied(),
                    late_entry: zhuqi_core::domain::event::is_late_entry(
                        e.at,
                        receipts.get(&e.id).copied(),
                        st.offline_window_ms,
                    ),
                    origin: e.origin.as_ref(),
                    text,
                    outcome,
                    photos: super::photos::thumbs(
                        st,
                        e.action.photos(),
                        e.at,
                        receipts.get(&e.id).copied(),
                        place.as_ref(),
                    )?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let enterprise_name = doc.header("enterprise_name").unwrap_or_default();
        let region = dir.paths.get(&doc.header("region_id").unwrap_or_default()).cloned().unwrap_or_default();
        let office = root_path(&dir, session);
        let page = ProblemPage {
            id: &id,
            state: &s,
            enterprise_name: &enterprise_name,
            department: s.department_id.as_deref().and_then(|d| dir.departments.get(d)).map(|d| d.name.as_str()),
            timeline,
            departments: departments_in(&dir, &office),
            answer_days: OfficeSettings::in_force(dir.as_ref(), &region).answer_days,
            working_days: OfficeSettings::in_force(dir.as_ref(), &office).working_days,
            csrf: viewer.csrf,
        };
        Ok(show(&page, viewer))
    })
    .await
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
    /// Or a number of days from today, counted as the manager's office counts them (working days
    /// where its settings say so).
    #[serde(default)]
    days: String,
    /// A call-back: whom the office spoke to, whether the enterprise accepts the resolution
    /// (`yes`/`no`) and its rating.
    #[serde(default)]
    contact: String,
    #[serde(default)]
    accepted: String,
    #[serde(default)]
    rating: Option<u8>,
}

/// Urges (催办), routes or re-routes (交办), escalates (提级督办), records a call-back on the
/// enterprise's behalf (回访代确认) or closes an unanswered resolution (超时未确认) from the desk: an
/// Automerge change by the manager's relay-side actor, through the same validation and audit path as
/// a phone's. `POST /problems/{id}/{urge|route|escalate|call-back|close-unanswered}`.
pub async fn problem_action(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
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
    if !["urge", "route", "escalate", "call-back", "close-unanswered"].contains(&action.as_str()) {
        return ApiError::not_found("no such action").into_response();
    }
    let st = state.clone();
    let pid = id.clone();
    let result = tokio::task::spawn_blocking(move || {
        let doc = problem_in_scope(&st, &session, &pid)?;
        let dir = st.directory.get(st.storage.as_ref())?;
        let now = now_ms();
        let invalid = |m: &str, zh: &'static str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m, zh);
        let deadline = match f.days.trim() {
            "" => parse_date("deadline", &f.deadline).ok().map(|d| day_start(d + 1) - 1),
            days => {
                let office = root_path(&dir, &session);
                let working = OfficeSettings::in_force(dir.as_ref(), &office).working_days;
                let days: u32 =
                    days.parse().map_err(|_| invalid("days is not a number", "办理时限天数应为1到366的整数"))?;
                let deadline = zhuqi_core::domain::Calendar::new(&dir.calendar_days)
                    .deadline(now, days, working)
                    .map_err(|e| invalid(&e.to_string(), "办理时限天数应为1到366的整数"))?;
                Some(deadline)
            }
        };
        let note = f.note.trim().to_owned();
        let action = match action.as_str() {
            "urge" => ProblemAction::Urged { note },
            "route" => match (deadline, f.level) {
                (Some(deadline), Some(level)) => {
                    ProblemAction::Routed { department_id: f.department.clone(), level, deadline, note }
                }
                _ => return Err(invalid("routing needs a level and a deadline", "请填写办理时限（日期或天数）")),
            },
            "escalate" => match f.level {
                Some(level) => ProblemAction::Escalated {
                    level,
                    reason: note,
                    department_id: Some(f.department.clone()).filter(|d| !d.is_empty()),
                    deadline,
                },
                None => return Err(invalid("escalation needs a level", "请选择办理层级")),
            },
            "call-back" => {
                let accepted = f.accepted == "yes";
                let rating = f.rating.filter(|_| accepted);
                ProblemAction::CalledBack { contact: f.contact.trim().to_owned(), accepted, rating, note }
            }
            // The window in force at the problem's region, which the rules hold the office to.
            _ => {
                let region = dir.paths.get(&doc.header("region_id").unwrap_or_default()).cloned().unwrap_or_default();
                let days = OfficeSettings::in_force(dir.as_ref(), &region).answer_days;
                ProblemAction::ClosedUnanswered { note, answer_days: Some(days) }
            }
        };
        let action = action
            .validate()
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string(), "输入内容有误"))?;
        let mut author = crate::sync::author::Author::new(&st, &session.user.id)?;
        author.append(&pid, action, now)?;
        author.submit_all()
    })
    .await;
    after_action(result, &format!("/problems/{id}"))
}
