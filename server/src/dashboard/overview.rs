//! The figures a manager sees — the overview of a period and the rankings of a month or a year — and
//! the published figures: when a month or a year closes, the counts of every unit are written once
//! (`published_figures`) and stay as published; data arriving later shows as a correction beside
//! them, never folded in silently.
//!
//! A period closes when its last offline window has passed (`AppState::offline_window_ms` after its
//! end): until then, an event made in the period and synced late still counts in it (see `kpi`).

use super::kpi::{self, Counts, Figures, Period, Ranked};
use super::units::{Scope, UnitCounts};
use crate::AppState;
use crate::http::error::ApiError;
use crate::storage::figures::{self, CategoryCell, NoticeCell, Span, VisitGroups};
use std::collections::HashMap;
use zhuqi_core::domain::text::{civil_from_days, days_from_civil};

/// The first moment of month `m` of year `y` (China Standard Time), in ms.
fn month_start(y: i64, m: u32) -> i64 {
    days_from_civil(y, m, 1) * 86_400_000 - 8 * 3_600_000
}

/// A month or a year, as figures are published for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Month(i64, u32),
    Year(i64),
}

impl Term {
    /// `YYYY-MM` or `YYYY`, between 2000 and 2100.
    pub fn parse(s: &str) -> Option<Term> {
        let t = match s.split_once('-') {
            Some((y, m)) => Term::Month(y.parse().ok()?, m.parse().ok().filter(|m| (1..=12).contains(m))?),
            None => Term::Year(s.parse().ok()?),
        };
        let y = match t {
            Term::Month(y, _) | Term::Year(y) => y,
        };
        (2000..=2100).contains(&y).then_some(t)
    }

    /// The month or year `at` falls in.
    pub fn month_of(at: i64) -> Term {
        let (y, m, _) = civil_from_days((at + 8 * 3_600_000).div_euclid(86_400_000));
        Term::Month(y, m)
    }

    pub fn year_of(at: i64) -> Term {
        let (y, _, _) = civil_from_days((at + 8 * 3_600_000).div_euclid(86_400_000));
        Term::Year(y)
    }

    pub fn name(&self) -> String {
        match self {
            Term::Month(y, m) => format!("{y:04}-{m:02}"),
            Term::Year(y) => format!("{y:04}"),
        }
    }

    pub fn period(&self) -> Period {
        match *self {
            Term::Month(y, m) => {
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                Period { from: month_start(y, m), to: month_start(ny, nm) }
            }
            Term::Year(y) => Period { from: month_start(y, 1), to: month_start(y + 1, 1) },
        }
    }

    pub fn previous(&self) -> Term {
        match *self {
            Term::Month(y, 1) => Term::Month(y - 1, 12),
            Term::Month(y, m) => Term::Month(y, m - 1),
            Term::Year(y) => Term::Year(y - 1),
        }
    }

    /// Whether the term is closed at `now`: ended, and its last offline window passed.
    pub fn closed(&self, now: i64, window_ms: i64) -> bool {
        now >= self.period().to.saturating_add(window_ms)
    }
}

/// What a period's figures are made of, grouped, beside the counts per unit.
pub struct Live {
    pub units: UnitCounts,
    pub categories: Vec<CategoryCell>,
    pub notices: Vec<NoticeCell>,
    /// Whether visits by the visiting cadres' departments were counted (periods up to 62 days, and
    /// published months: a longer span would read every visit of it).
    pub department_visits: bool,
}

/// Longest period whose visits are counted by department from the visits themselves.
const DEPARTMENT_VISITS_DAYS: i64 = 62;

/// What a computation of live figures reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    /// The problems' counts only (the rates of a trend).
    Problems,
    /// Problems, visits and enterprises (a ranking).
    Units,
    /// And categories and task notices (the overview).
    Everything,
}

/// Counts per unit of `regions` (none: all) for `period`, at `now`, read in one snapshot.
pub fn live(st: &AppState, regions: Option<&[String]>, period: Period, now: i64, parts: Parts) -> Result<Live, ApiError> {
    let dir = st.directory.get(st.storage.as_ref())?;
    let span = Span { from: period.from, to: period.to, now, window_ms: st.offline_window_ms };
    // A calendar year's visits come from each enterprise's visits per year.
    let year = match Term::year_of(period.from) {
        t @ Term::Year(y) if t.period() == period => Some(y),
        _ => None,
    };
    let units = parts != Parts::Problems;
    let department_visits = units && period.to - period.from <= DEPARTMENT_VISITS_DAYS * 86_400_000;
    let (mut problems, mut by_region, mut by_department, mut enterprises) = (vec![], vec![], vec![], vec![]);
    let (mut categories, mut notices) = (vec![], vec![]);
    st.storage.with_snapshot(&mut |db| {
        problems = figures::problem_cells(db, regions, span)?;
        if units {
            by_region = match year {
                Some(y) => figures::visit_cells_of_year(db, regions, y)?,
                None => figures::visit_cells(db, regions, span.from, span.to, VisitGroups::Region)?,
            };
            enterprises = figures::enterprise_cells(db, regions)?;
        }
        if department_visits {
            by_department = figures::visit_cells(db, regions, span.from, span.to, VisitGroups::CadreDepartment)?;
        }
        if parts == Parts::Everything {
            categories = figures::category_cells(db, regions, span)?;
            notices = figures::notice_cells(db, regions, span.from, span.to)?;
        }
        Ok(())
    })?;
    let units = UnitCounts::roll_up(&dir, &problems, &by_region, &by_department, &enterprises);
    Ok(Live { units, categories, notices, department_visits })
}

/// What every unit's figures of a published term are now, counted again at most every
/// [`RECOUNT_MS`] (by `publish_closed`, or by the first page that needs them): the corrections shown
/// beside published rankings. Counting a whole province again costs a few hundred milliseconds; a
/// page showing a ranking does not pay it.
#[derive(Default)]
pub struct Recounts(std::sync::Mutex<HashMap<String, (i64, std::sync::Arc<UnitCounts>)>>);

/// How old a recount may be before it is counted again.
pub const RECOUNT_MS: i64 = 10 * 60_000;

impl Recounts {
    /// The recount of `term` as of at most [`RECOUNT_MS`] ago (counted now if there is none), and
    /// when it was counted.
    pub fn get(&self, st: &AppState, term: &Term, now: i64) -> Result<(i64, std::sync::Arc<UnitCounts>), ApiError> {
        let name = term.name();
        if let Some((at, units)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&name)
            && now - at < RECOUNT_MS
        {
            return Ok((*at, units.clone()));
        }
        self.count(st, term, now)
    }

    /// Counts `term` again now.
    pub fn count(&self, st: &AppState, term: &Term, now: i64) -> Result<(i64, std::sync::Arc<UnitCounts>), ApiError> {
        let units = std::sync::Arc::new(live(st, None, term.period(), now, Parts::Units)?.units);
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // The terms that can still be asked for are few; older recounts go.
        map.retain(|_, (at, _)| now - *at < 24 * 3_600_000);
        map.insert(term.name(), (now, units.clone()));
        Ok((now, units))
    }
}

/// Figures as published for a term: when, and the counts of every unit.
pub struct Published {
    pub at: i64,
    pub units: UnitCounts,
}

/// The published figures of `term` for `units` (`UnitCounts` keys; all for `None`); with `publish`,
/// publishing them first if the term is closed and nobody has published them yet.
pub fn published(
    st: &AppState,
    term: &Term,
    now: i64,
    units: Option<&[String]>,
    publish: bool,
) -> Result<Option<Published>, ApiError> {
    let name = term.name();
    let read = |st: &AppState| -> Result<Option<Published>, ApiError> {
        let mut rows = Vec::new();
        st.storage.with_snapshot(&mut |db| {
            rows = figures::published(db, &name, units)?;
            Ok(())
        })?;
        let Some(at) = rows.iter().find(|r| r.0.is_empty()).map(|r| r.2) else { return Ok(None) };
        let units = rows
            .into_iter()
            .filter(|r| !r.0.is_empty())
            .filter_map(|(unit, counts, _)| Some((unit, serde_json::from_str::<Counts>(&counts).ok()?)))
            .collect::<HashMap<_, _>>();
        Ok(Some(Published { at, units: UnitCounts(units) }))
    };
    if let Some(p) = read(st)? {
        return Ok(Some(p));
    }
    if !publish || !term.closed(now, st.offline_window_ms) {
        return Ok(None);
    }
    let l = live(st, None, term.period(), now, Parts::Units)?;
    // A term in which nothing happened is not published (a relay started before its history was
    // imported would otherwise publish empty months).
    let dir = st.directory.get(st.storage.as_ref())?;
    let all = l.units.everything(&dir);
    if all.reported + all.resolved + all.rated + all.unanswered + all.visits == 0 {
        return Ok(None);
    }
    let units: Vec<(String, String)> = l
        .units
        .0
        .iter()
        .map(|(unit, c)| (unit.clone(), serde_json::to_string(c).unwrap_or_default()))
        .collect();
    if st.storage.publish_figures(&name, &units, now)? {
        tracing::info!("published the figures of {name} ({} units)", units.len());
    }
    read(st)
}

/// Publishes every closed month of the last 13 and the last closed year that are not published yet
/// (run at start and then periodically). Returns how many were published.
pub fn publish_closed(st: &AppState, now: i64) -> Result<usize, ApiError> {
    let mut term = Term::month_of(now);
    let mut terms = Vec::new();
    for _ in 0..13 {
        term = term.previous();
        terms.push(term.clone());
    }
    terms.push(Term::year_of(now).previous());
    let mut done = 0;
    for t in terms.into_iter().filter(|t| t.closed(now, st.offline_window_ms)) {
        let mut had = false;
        st.storage.with_snapshot(&mut |db| {
            had = !figures::published(db, &t.name(), Some(&[]))?.is_empty();
            Ok(())
        })?;
        if !had && published(st, &t, now, Some(&[]), true)?.is_some() {
            done += 1;
        }
    }
    // The corrections of the terms whose rankings are looked at most: the last two months, last year.
    let month = Term::month_of(now);
    for t in [month.previous(), month.previous().previous(), Term::year_of(now).previous()] {
        if t.closed(now, st.offline_window_ms) {
            st.recounts.count(st, &t, now)?;
        }
    }
    Ok(done)
}

/// One month of the trend: the root's figures, and whether they are the published ones.
pub struct MonthFigures {
    pub month: String,
    pub figures: Figures,
    pub published: bool,
}

/// The root's figures for the 12 months ending with the one `period` ends in: the published ones
/// where a month is published, else counted now (`counted`: those of one period, counted already).
pub fn trend(
    st: &AppState,
    scope: &Scope,
    period: Period,
    now: i64,
    counted: Option<(Period, &UnitCounts)>,
) -> Result<Vec<MonthFigures>, ApiError> {
    let mut term = Term::month_of(period.to.min(now + 1) - 1);
    let mut months = Vec::with_capacity(12);
    for _ in 0..12 {
        months.push(term.clone());
        term = term.previous();
    }
    months.reverse();
    let root_counts = |u: &UnitCounts| match scope.root {
        Some(r) => u.region(&r.id),
        None => u.everything(scope.dir),
    };
    // Only the root's published counts are read (or the top regions', for the whole directory).
    let roots: Vec<String> = match scope.root {
        Some(r) => vec![UnitCounts::region_key(&r.id)],
        None => scope.dir.regions.values().filter(|r| r.parent_id.is_none()).map(|r| UnitCounts::region_key(&r.id)).collect(),
    };
    months
        .into_iter()
        .map(|m| {
            let (counts, published) = match published(st, &m, now, Some(&roots), false)? {
                Some(p) => (root_counts(&p.units), true),
                None => match counted.filter(|(p, _)| *p == m.period()) {
                    Some((_, units)) => (root_counts(units), false),
                    None => (root_counts(&live(st, scope.regions.as_deref(), m.period(), now, Parts::Problems)?.units), false),
                },
            };
            Ok(MonthFigures { month: m.name(), figures: Figures::of(&counts), published })
        })
        .collect()
}

/// A ranked unit, named, with its correction when data arriving after publication changed it.
pub struct RankLine {
    pub name: String,
    pub ranked: Ranked,
    /// The score and rank counted now, when they differ from those published.
    pub correction: Option<(f64, u32)>,
}

/// The rankings of a term: counties and departments of the manager's subtree.
pub struct Rankings {
    pub term: Term,
    /// When the figures shown were published (none: counted now, the term is still open).
    pub published_at: Option<i64>,
    /// When the corrections were counted (see [`Recounts`]).
    pub recounted_at: Option<i64>,
    pub counties: Vec<RankLine>,
    pub departments: Vec<RankLine>,
}

fn rank_units(scope: &Scope, units: &UnitCounts, last: Option<&(Vec<Ranked>, Vec<Ranked>)>) -> (Vec<Ranked>, Vec<Ranked>) {
    let counties = scope.counties().into_iter().map(|c| (c.id.clone(), units.region(&c.id))).collect();
    let departments = scope.departments().into_iter().map(|d| (d.id.clone(), units.department(&d.id))).collect();
    (
        kpi::ranking(counties, true, last.map(|l| l.0.as_slice())),
        kpi::ranking(departments, false, last.map(|l| l.1.as_slice())),
    )
}

/// The rankings of `term` as published (or counted now while it is open), the term before's ranks
/// beside them, and corrections where what is counted now differs from what was published.
pub fn rankings(st: &AppState, scope: &Scope, term: Term, now: i64) -> Result<Rankings, ApiError> {
    // The units ranked: the counties and departments of the subtree.
    let units: Vec<String> = (scope.counties().iter().map(|c| UnitCounts::region_key(&c.id)))
        .chain(scope.departments().iter().map(|d| UnitCounts::department_key(&d.id)))
        .collect();
    let counted = |t: &Term| -> Result<(Option<i64>, UnitCounts), ApiError> {
        Ok(match published(st, t, now, Some(&units), true)? {
            Some(p) => (Some(p.at), p.units),
            None => (None, live(st, scope.regions.as_deref(), t.period(), now, Parts::Units)?.units),
        })
    };
    let (_, before) = counted(&term.previous())?;
    let last = rank_units(scope, &before, None);
    let (published_at, shown) = counted(&term)?;
    let (counties, departments) = rank_units(scope, &shown, Some(&last));
    // What would be published now, for the corrections.
    let (mut recounted_at, mut now_ranked) = (None, None);
    if published_at.is_some() {
        let (at, units) = st.recounts.get(st, &term, now)?;
        recounted_at = Some(at);
        now_ranked = Some(rank_units(scope, &units, None));
    }
    let lines = |rows: Vec<Ranked>, now_rows: Option<&Vec<Ranked>>, name: &dyn Fn(&str) -> String| -> Vec<RankLine> {
        let by_unit: HashMap<&str, &Ranked> = now_rows.into_iter().flatten().map(|r| (r.unit.as_str(), r)).collect();
        rows.into_iter()
            .map(|r| {
                let correction = by_unit
                    .get(r.unit.as_str())
                    .filter(|n| (n.score - r.score).abs() >= 0.05 || n.rank != r.rank)
                    .map(|n| (n.score, n.rank));
                RankLine { name: name(&r.unit), ranked: r, correction }
            })
            .collect()
    };
    let dir = scope.dir;
    let region_name = |u: &str| dir.regions.get(u).map_or(u.to_owned(), |r| r.name.clone());
    // Departments share names across counties (every county has a 财政局): named with their region.
    let department_name = |u: &str| {
        dir.departments.get(u).map_or(u.to_owned(), |d| format!("{} {}", super::units::full_name(dir, &d.region_id), d.name))
    };
    Ok(Rankings {
        recounted_at,
        counties: lines(counties, now_ranked.as_ref().map(|n| &n.0), &region_name),
        departments: lines(departments, now_ranked.as_ref().map(|n| &n.1), &department_name),
        term,
        published_at,
    })
}

/// Task notices' progress of a unit: recipients' tasks issued, done, done by the deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoticeCounts {
    pub issued: u32,
    pub done: u32,
    pub on_time: u32,
}

impl NoticeCounts {
    fn add(&mut self, c: &NoticeCell) {
        self.issued += c.issued;
        self.done += c.done;
        self.on_time += c.on_time;
    }
}

/// The notices' progress per child region of the scope (by the notice's region) and per department
/// recipient.
pub fn notice_progress(
    scope: &Scope,
    cells: &[NoticeCell],
) -> (NoticeCounts, HashMap<String, NoticeCounts>, HashMap<String, NoticeCounts>) {
    let children: std::collections::HashSet<&str> = scope.children().iter().map(|r| r.id.as_str()).collect();
    let (mut total, mut by_region, mut by_department) = (NoticeCounts::default(), HashMap::new(), HashMap::new());
    for c in cells {
        total.add(c);
        if let Some(child) = super::units::lineage(scope.dir, &c.region_id).find(|id| children.contains(id)) {
            by_region.entry(child.to_owned()).or_insert_with(NoticeCounts::default).add(c);
        }
        if let Some(zhuqi_core::domain::Recipient::Department(d)) = zhuqi_core::domain::Recipient::from_key(&c.recipient) {
            by_department.entry(d).or_insert_with(NoticeCounts::default).add(c);
        }
    }
    (total, by_region, by_department)
}
