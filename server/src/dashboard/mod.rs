//! The managers' web pages, served by the relay itself: sign-in (`session`: a web session with its
//! own cookie, never a device token, and a CSRF token in every form), the overview of a region and
//! a period, the problems with their timelines and the desk's actions (`problems`), the monthly
//! ranking and its exports (`exports`), enterprises, cadres and task notices (`notices`). Pages are
//! server-rendered HTML in Chinese; their stylesheet and table-sorting script are static files
//! (`assets`), so the Content-Security-Policy forbids anything inline.
//!
//! The handlers read storage and the figures (`kpi`, `reports`) into a page's view struct and hand
//! it to `pages`, which alone writes HTML. Dependencies run one way: `pages`, `reports` and `kpi`
//! use none of the handlers.

pub mod assets;
pub mod clock;
pub mod exports;
pub mod kpi;
pub mod notices;
pub mod pages;
pub mod photos;
pub mod policies;
pub mod problems;
pub mod reports;
pub mod session;

pub use assets::static_file;
pub use exports::export;
pub use notices::{issue_notice, notice_page, notices_page};
pub use photos::{missing_photos, photo, thumbnail as photo_thumbnail};
pub use policies::policies_page;
pub use problems::{problem_action, problem_page, problems_page};
pub use session::{WEB_IDLE_MS, WEB_SESSION_MS, login, login_page, logout};

use crate::http::error::ApiError;
use crate::storage::Session;
use crate::sync::directory::Snapshot;
use crate::{AppState, now_ms};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use clock::{DAY, day_of, day_start};
use kpi::{Period, ProblemFact, VisitFact};
use pages::figures::{OverviewPage, RankingPage};
use pages::records::{AssignedCadre, AssignedEnterprise, CadrePage, EnterprisePage, VisitLine};
use pages::{Choice, Page, RefusalPage, Viewer, render};
use session::managed;
use std::sync::Arc;
use zhuqi_core::domain::Role;
use zhuqi_core::domain::directory::path_covers;
use zhuqi_core::domain::text::{civil_from_days, date_of, parse_date};

/// A page for the signed-in manager, as a response.
fn show(page: &impl Page, viewer: Viewer<'_>) -> Response {
    render(page, Some(viewer)).into_response()
}

// ---- shared by the handlers ----

/// The path of the manager's region in the directory ("" covers everything).
fn root_path(dir: &Snapshot, session: &Session) -> String {
    session.user.region_id.as_deref().and_then(|r| dir.paths.get(r)).cloned().unwrap_or_default()
}

/// The departments of the manager's subtree, by id.
fn departments_in<'a>(dir: &'a Snapshot, root_path: &str) -> Vec<Choice<'a>> {
    let mut ds: Vec<_> = dir
        .departments
        .values()
        .filter(|d| dir.paths.get(&d.region_id).is_some_and(|p| path_covers(root_path, p)))
        .collect();
    ds.sort_by(|a, b| a.id.cmp(&b.id));
    ds.into_iter().map(|d| Choice { id: &d.id, name: &d.name }).collect()
}

/// Whether `region` is in the manager's subtree.
fn in_subtree(dir: &Snapshot, session: &Session, region: &str) -> bool {
    let root = root_path(dir, session);
    dir.paths.get(region).is_some_and(|p| path_covers(&root, p))
}

/// After an action from the desk: back to `page_path`, or a page saying why it was refused.
fn after_action(result: Result<Result<(), ApiError>, tokio::task::JoinError>, page_path: &str) -> Response {
    match result {
        Ok(Ok(())) => Redirect::to(page_path).into_response(),
        Ok(Err(e)) => {
            let page = RefusalPage { message_zh: e.message_zh, message: &e.message, back: page_path };
            (e.status, render(&page, None)).into_response()
        }
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

// ---- overview ----

#[derive(serde::Deserialize, Default)]
pub struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

/// The period asked for (inclusive dates), by default the current month.
fn period_of(q: &PeriodQuery, now: i64) -> Period {
    let today = day_of(now);
    let (y, m, _) = civil_from_days(today);
    let first = zhuqi_core::domain::text::days_from_civil(y, m, 1);
    let from = q.from.as_deref().and_then(|d| parse_date("from", d).ok()).unwrap_or(first);
    let to = q.to.as_deref().and_then(|d| parse_date("to", d).ok()).unwrap_or(today).max(from);
    Period { from: day_start(from), to: day_start(to + 1) }
}

/// The figures' facts, with the times of events entered late judged by their arrival
/// (`kpi::judge_times`).
fn facts(state: &AppState) -> Result<(Vec<ProblemFact>, Vec<VisitFact>), ApiError> {
    let (mut problems, mut visits) = (state.storage.problem_facts()?, state.storage.visit_facts()?);
    kpi::judge_times(&mut problems, &mut visits, state.offline_window_ms);
    Ok((problems, visits))
}

/// Everything the overview shows, computed from the projections (separate from rendering, so that
/// the benchmark and tests can call it).
pub fn overview(state: &AppState, session: &Session, period: Period, now: i64) -> Result<OverviewPage, ApiError> {
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let root = session.user.region_id.clone().unwrap_or_default();
    let root_path = dir.paths.get(&root).cloned().unwrap_or_default();
    let in_scope = |region: &str| dir.paths.get(region).is_some_and(|p| path_covers(&root_path, p));
    let (problems, visits) = facts(state)?;
    let problems: Vec<ProblemFact> = problems.into_iter().filter(|p| in_scope(&p.region_id)).collect();
    let visits: Vec<VisitFact> = visits.into_iter().filter(|v| in_scope(&v.region_id)).collect();
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
    let end_day = day_of(period.to.min(now + 1) - 1);
    let monday = end_day - (end_day - 4).rem_euclid(7);
    let weeks = kpi::weekly(&problems, day_start(monday - 11 * 7), 12);
    let region_name = dir.regions.get(&root).map_or(root.clone(), |r| r.name.clone());
    Ok(OverviewPage { region_name, period, total, by_region, by_department, weeks, computed_at: now })
}

pub async fn overview_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<PeriodQuery>,
) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let now = now_ms();
        Ok(show(&overview(st, session, period_of(&q, now), now)?, viewer))
    })
    .await
}

// ---- ranking ----

#[derive(serde::Deserialize, Default)]
pub struct MonthQuery {
    month: Option<String>,
}

/// The month asked for, by default the previous one (the ranking is of finished months).
fn month_of(q: &MonthQuery, now: i64) -> (String, Period, Period) {
    let asked = q.month.as_deref().and_then(|m| reports::month_periods(m).map(|p| (m.to_owned(), p)));
    let (month, (m, p)) = asked.unwrap_or_else(|| {
        let (y, mo, _) = civil_from_days(day_of(now));
        let (y, mo) = if mo == 1 { (y - 1, 12) } else { (y, mo - 1) };
        let m = format!("{y:04}-{mo:02}");
        let periods = reports::month_periods(&m).expect("a valid month");
        (m, periods)
    });
    (month, m, p)
}

type Rankings = (Vec<(String, kpi::Ranked)>, Vec<(String, kpi::Ranked)>);

fn rankings_for(state: &AppState, session: &Session, month: Period, previous: Period) -> Result<Rankings, ApiError> {
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let root_path = root_path(&dir, session);
    let (problems, visits) = facts(state)?;
    let enterprises = storage.enterprises_per_region()?;
    Ok(reports::rankings(&dir, &root_path, &problems, &visits, &enterprises, month, previous, now_ms()))
}

pub async fn ranking_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<MonthQuery>,
) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let (month, m, p) = month_of(&q, now_ms());
        let (counties, departments) = rankings_for(st, session, m, p)?;
        let page = RankingPage {
            month,
            counties: reports::ranking_table(&counties),
            departments: reports::ranking_table(&departments),
        };
        Ok(show(&page, viewer))
    })
    .await
}

// ---- enterprises and cadres ----

/// Where an enterprise is, as its profile says (none when the relay does not hold it).
fn enterprise_location(st: &AppState, id: &str) -> Result<Option<zhuqi_core::domain::Location>, ApiError> {
    use zhuqi_core::domain::{EnterpriseAction, EnterpriseState};
    let Some(bytes) = st.document_bytes(id)? else { return Ok(None) };
    let doc = zhuqi_core::document::Document::load(&bytes).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(zhuqi_core::domain::event::fold::<EnterpriseState>(doc.events::<EnterpriseAction>()).0.profile.location)
}

/// The first moment of a visit's day (China time), in ms.
fn visit_day_start(date: &str) -> i64 {
    zhuqi_core::domain::text::parse_date("date", date).map_or(0, |day| day * 86_400_000 - 8 * 3_600_000)
}

pub async fn enterprise_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    managed(state, headers, move |st, session, viewer| {
        use zhuqi_core::domain::{EnterpriseAction, EnterpriseState};
        let dir = st.directory.get(st.storage.as_ref())?;
        let bytes = st.document_bytes(&id)?.ok_or_else(|| ApiError::not_found("no such enterprise in your region"))?;
        let doc = zhuqi_core::document::Document::load(&bytes).map_err(|e| ApiError::internal(e.to_string()))?;
        let (e, _) = zhuqi_core::domain::event::fold::<EnterpriseState>(doc.events::<EnterpriseAction>());
        if !e.registered || !in_subtree(&dir, session, &e.profile.region_id) {
            return Err(ApiError::not_found("no such enterprise in your region"));
        }
        let name = |u: &str| dir.users.get(u).map_or(u.to_owned(), |x| x.name.clone());
        let event_ids: Vec<String> = e.visits.iter().map(|v| v.event_id.clone()).collect();
        let receipts: std::collections::HashMap<String, i64> =
            st.storage.receipts(&[id.clone()], &event_ids)?.into_iter().map(|(_, e, at)| (e, at)).collect();
        let mut visits: Vec<_> = e.visits.iter().collect();
        visits.sort_by(|a, b| b.record.date.cmp(&a.record.date));
        let region_id = e.profile.region_id.as_str();
        let page = EnterprisePage {
            profile: &e.profile,
            region_name: dir.regions.get(region_id).map_or(region_id, |r| r.name.as_str()),
            cadres: e
                .assignments
                .iter()
                .map(|a| AssignedCadre { id: &a.cadre_id, name: name(&a.cadre_id), chief: a.chief })
                .collect(),
            visits: visits
                .into_iter()
                .map(|v| {
                    Ok(VisitLine {
                        cadre: name(&v.cadre_id),
                        record: &v.record,
                        photos: photos::thumbs(
                            st,
                            &v.record.photos,
                            visit_day_start(&v.record.date),
                            receipts.get(&v.event_id).copied(),
                            v.record.location.as_ref().or(e.profile.location.as_ref()),
                        )?,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
            problems: st.storage.problem_rows()?.into_iter().filter(|r| r.enterprise_id == id).collect(),
        };
        Ok(show(&page, viewer))
    })
    .await
}

pub async fn cadre_page(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let storage = st.storage.as_ref();
        let dir = st.directory.get(storage)?;
        let cadre = dir
            .users
            .get(&id)
            .filter(|u| u.role == Role::Cadre)
            .ok_or_else(|| ApiError::not_found("no such cadre in your region"))?;
        if !cadre.region_id.as_deref().is_some_and(|r| in_subtree(&dir, session, r)) {
            return Err(ApiError::not_found("no such cadre in your region"));
        }
        let names: std::collections::HashMap<String, String> =
            storage.enterprise_rows()?.into_iter().map(|(id, name, _)| (id, name)).collect();
        let mine: Vec<String> =
            storage.assignments()?.into_iter().filter(|(_, c, _)| c == &id).map(|(e, _, _)| e).collect();
        let visits: Vec<VisitFact> = facts(st)?.1.into_iter().filter(|v| v.cadre_id == id).collect();
        let now = now_ms();
        let mut per_month: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
        for v in &visits {
            *per_month.entry(date_of(v.day)[..7].to_owned()).or_default() += 1;
        }
        let enterprises = mine
            .iter()
            .map(|e| {
                let last = visits.iter().filter(|v| &v.enterprise_id == e).map(|v| v.day).max();
                AssignedEnterprise {
                    id: e,
                    name: names.get(e).map_or(e.as_str(), |n| n.as_str()),
                    last_visit: last,
                    stale: last.is_none_or(|d| d < now - 30 * DAY),
                }
            })
            .collect();
        let page = CadrePage {
            name: &cadre.name,
            enterprises,
            visits: visits.len(),
            per_month: per_month.into_iter().rev().collect(),
        };
        Ok(show(&page, viewer))
    })
    .await
}
