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
pub mod overview;
pub mod pages;
pub mod photos;
pub mod policies;
pub mod problems;
pub mod reports;
pub mod session;
pub mod units;
pub mod web_links;

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
use kpi::{Figures, Period};
use overview::Term;
use pages::figures::{OverviewPage, RankingPage, UnitLine};
use pages::records::{AssignedCadre, AssignedEnterprise, CadrePage, EnterprisePage, VisitLine};
use pages::{Choice, Page, RefusalPage, Viewer, render};
use session::managed;
use std::sync::Arc;
use zhuqi_core::domain::Role;
use zhuqi_core::domain::directory::path_covers;
use units::Scope;
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
    /// A calendar year instead of `from` and `to`.
    year: Option<String>,
}

/// The period asked for (inclusive dates, or a year), by default the current month.
fn period_of(q: &PeriodQuery, now: i64) -> (Period, Option<i64>) {
    if let Some(t @ Term::Year(y)) = q.year.as_deref().and_then(Term::parse) {
        return (t.period(), Some(y));
    }
    let today = day_of(now);
    let (y, m, _) = civil_from_days(today);
    let first = zhuqi_core::domain::text::days_from_civil(y, m, 1);
    let from = q.from.as_deref().and_then(|d| parse_date("from", d).ok()).unwrap_or(first);
    let to = q.to.as_deref().and_then(|d| parse_date("to", d).ok()).unwrap_or(today).max(from);
    (Period { from: day_start(from), to: day_start(to + 1) }, None)
}

/// Everything the overview shows (separate from rendering, so that the benchmark and tests can call it).
pub fn overview(
    state: &AppState,
    session: &Session,
    period: Period,
    year: Option<i64>,
    now: i64,
) -> Result<OverviewPage, ApiError> {
    let dir = state.directory.get(state.storage.as_ref())?;
    let scope = Scope::of(&dir, session);
    let live = overview::live(state, scope.regions.as_deref(), period, now, overview::Parts::Everything)?;
    let (notices, notices_by_region, notices_by_department) = overview::notice_progress(&scope, &live.notices);
    let total = match scope.root {
        Some(r) => live.units.region(&r.id),
        None => live.units.everything(&dir),
    };
    let by_region = scope
        .children()
        .into_iter()
        .map(|r| UnitLine {
            name: r.name.clone(),
            href: None,
            figures: Figures::of(&live.units.region(&r.id)),
            notices: notices_by_region.get(&r.id).copied().unwrap_or_default(),
        })
        .collect();
    let by_department = scope
        .departments_near()
        .into_iter()
        .map(|d| UnitLine {
            name: match dir.regions.get(&d.region_id) {
                Some(r) if Some(r) != scope.root => format!("{} {}", r.name, d.name),
                _ => d.name.clone(),
            },
            href: None,
            figures: Figures::of(&live.units.department(&d.id)),
            notices: notices_by_department.get(&d.id).copied().unwrap_or_default(),
        })
        .collect();
    let mut overdue_ages = [0u32; 4];
    for c in &live.categories {
        for (sum, n) in overdue_ages.iter_mut().zip(c.overdue_for) {
            *sum += n;
        }
    }
    let categories = live
        .categories
        .iter()
        .map(|c| {
            let label = zhuqi_core::domain::Category::parse(&c.category).map_or("其他", |x| x.zh()).to_owned();
            (label, c.reported, c.open)
        })
        .collect();
    Ok(OverviewPage {
        region_name: scope.name().to_owned(),
        period,
        year,
        total: Figures::of(&total),
        by_region,
        by_department,
        department_visits: live.department_visits,
        trend: overview::trend(state, &scope, period, now, Some((period, &live.units)))?,
        categories,
        overdue_ages,
        notices,
        computed_at: now,
    })
}

pub async fn overview_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<PeriodQuery>,
) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let now = now_ms();
        let (period, year) = period_of(&q, now);
        Ok(show(&overview(st, session, period, year, now)?, viewer))
    })
    .await
}

// ---- rankings ----

#[derive(serde::Deserialize, Default)]
pub struct TermQuery {
    month: Option<String>,
    year: Option<String>,
}

/// The month or year asked for, by default the previous month (rankings are of finished months).
fn term_of(q: &TermQuery, now: i64) -> Term {
    let asked = q.year.as_deref().or(q.month.as_deref()).filter(|s| !s.is_empty()).and_then(Term::parse);
    asked.unwrap_or_else(|| Term::month_of(now).previous())
}

fn rankings_for(st: &AppState, session: &Session, term: Term) -> Result<overview::Rankings, ApiError> {
    let dir = st.directory.get(st.storage.as_ref())?;
    overview::rankings(st, &Scope::of(&dir, session), term, now_ms())
}

pub async fn ranking_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<TermQuery>,
) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let r = rankings_for(st, session, term_of(&q, now_ms()))?;
        let page = RankingPage {
            term: r.term.name(),
            published_at: r.published_at,
            recounted_at: r.recounted_at,
            counties: reports::ranking_table(&r.counties),
            departments: reports::ranking_table(&r.departments),
            county_bars: r.counties.iter().map(|l| (l.name.clone(), l.ranked.score)).collect(),
            department_bars: r.departments.iter().map(|l| (l.name.clone(), l.ranked.score)).collect(),
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
            problems: {
                let q = crate::storage::figures::ProblemSelection { enterprise: Some(id.clone()), ..Default::default() };
                let mut rows = Vec::new();
                st.storage.with_snapshot(&mut |db| {
                    rows = crate::storage::figures::problem_page(db, &q, 500)?;
                    Ok(())
                })?;
                rows
            },
            web_access: web_links::access(st, &id, viewer.csrf)?,
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
        let (mut mine, mut visits) = (Vec::new(), Vec::new());
        storage.with_snapshot(&mut |db| {
            (mine, visits) = crate::storage::figures::cadre_records(db, &id)?;
            Ok(())
        })?;
        let now = now_ms();
        let mut per_month: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
        let mut last_visit: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
        for (e, day) in &visits {
            *per_month.entry(date_of(*day)[..7].to_owned()).or_default() += 1;
            let last = last_visit.entry(e.as_str()).or_insert(*day);
            *last = (*last).max(*day);
        }
        let enterprises = mine
            .iter()
            .map(|(e, name)| {
                let last = last_visit.get(e.as_str()).copied();
                AssignedEnterprise {
                    id: e,
                    name,
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
            never_reached: crate::portal::reach::never_reached(st, &mine)?,
        };
        Ok(show(&page, viewer))
    })
    .await
}
