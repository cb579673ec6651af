//! The campaign's figures as the database counts them: one pass over the projection tables per
//! question, filtered by region and period and grouped by the smallest unit asked for (a region and
//! a department, a category, a notice's recipient), so that a page at province scale reads a few
//! thousand grouped rows instead of every problem and visit. The dashboard (`dashboard::kpi`) rolls
//! the groups up into its units and turns counts into rates; the definitions are written there.
//!
//! Every query here is the same SQL on both databases, and `tests/tests/storage_conformance.rs`
//! checks them against the counts worked out in Rust from whole tables.

use super::db::{Db, Row, Value, args};
use super::{ProblemRow, Result};
use serde::{Deserialize, Serialize};
use zhuqi_core::domain::problem::ACCEPTANCE_LIMIT_MS;

/// The counts behind a unit's figures for a period. Summing the counts of groups gives the counts of
/// their union (distinct enterprises visited too: an enterprise is in one region; see
/// [`VisitGroups`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    /// Reported in the period (withdrawn and merged problems are never counted).
    pub reported: u32,
    /// Of those, resolved, confirmed or closed now.
    pub reported_resolved: u32,
    /// Of those, reported by the enterprise itself (the others by cadres and offices).
    pub reported_by_enterprise: u32,
    /// Of those, escalated at least once (提级督办).
    pub escalated: u32,
    /// Whose (latest) resolution counts in the period and that are resolved, confirmed or closed now.
    pub resolved: u32,
    /// Of those, with a deadline to judge them by, and resolved by it.
    pub with_deadline: u32,
    pub on_time: u32,
    /// Answers rated in the period, those rated 4 or 5, and the ratings' sum.
    pub rated: u32,
    pub satisfied: u32,
    pub rating_sum: u32,
    /// Rated answers by the enterprise itself and by call-back (代确认); closures unanswered.
    pub own_confirmations: u32,
    pub call_backs: u32,
    pub unanswered: u32,
    /// Overdue at the moment of counting.
    pub overdue: u32,
    /// Visits counted in the period, and the distinct enterprises they went to.
    pub visits: u32,
    pub enterprises_visited: u32,
    /// Enterprises registered (the denominator of visit coverage).
    pub enterprises: u32,
}

impl std::ops::AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, o: &Counts) {
        let Counts {
            reported,
            reported_resolved,
            reported_by_enterprise,
            escalated,
            resolved,
            with_deadline,
            on_time,
            rated,
            satisfied,
            rating_sum,
            own_confirmations,
            call_backs,
            unanswered,
            overdue,
            visits,
            enterprises_visited,
            enterprises,
        } = o;
        self.reported += reported;
        self.reported_resolved += reported_resolved;
        self.reported_by_enterprise += reported_by_enterprise;
        self.escalated += escalated;
        self.resolved += resolved;
        self.with_deadline += with_deadline;
        self.on_time += on_time;
        self.rated += rated;
        self.satisfied += satisfied;
        self.rating_sum += rating_sum;
        self.own_confirmations += own_confirmations;
        self.call_backs += call_backs;
        self.unanswered += unanswered;
        self.overdue += overdue;
        self.visits += visits;
        self.enterprises_visited += enterprises_visited;
        self.enterprises += enterprises;
    }
}

/// The regions a query covers: every region, or these (a subtree's).
pub type Regions<'a> = Option<&'a [String]>;

/// A period `[from, to)` in ms, the moment of counting and the offline window (see
/// `zhuqi_core::domain::event::judged_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: i64,
    pub to: i64,
    pub now: i64,
    pub window_ms: i64,
}

/// The problem counts of one region and one department (none: not routed yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemCell {
    pub region_id: String,
    pub department_id: Option<String>,
    pub counts: Counts,
}

/// How visits are grouped: by the enterprise's region, or by the visiting cadre's department.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitGroups {
    Region,
    CadreDepartment,
}

/// Visits and distinct enterprises visited of one group (a region, or a department: none for cadres
/// without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitCell {
    pub key: Option<String>,
    pub visits: u32,
    pub enterprises: u32,
}

/// Problems reported in a period and open now, and those overdue now by how long, of one category.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CategoryCell {
    pub category: String,
    pub reported: u32,
    pub open: u32,
    /// Overdue for at most 7 days, 8–30, 31–90 and more than 90.
    pub overdue_for: [u32; 4],
}

/// A notice's recipient's progress, grouped by the notice's region and the recipient's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeCell {
    pub region_id: String,
    pub recipient: String,
    pub issued: u32,
    pub done: u32,
    pub on_time: u32,
}

/// A listed task notice with its recipients' progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeLine {
    pub id: String,
    pub region_id: String,
    pub title: String,
    pub issued_at: i64,
    pub deadline: i64,
    pub status: String,
    pub recipients: u32,
    pub done: u32,
}

/// Which problems a list shows; `after` is the last row of the page before (keyset paging: newest
/// first, by report time then id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProblemSelection {
    pub regions: Option<Vec<String>>,
    /// Only this status; none: every status but withdrawn and merged.
    pub status: Option<String>,
    pub category: Option<String>,
    pub level: Option<u8>,
    pub department: Option<String>,
    pub enterprise: Option<String>,
    /// Only problems overdue at this moment.
    pub overdue_at: Option<i64>,
    pub reported_from: Option<i64>,
    pub reported_to: Option<i64>,
    /// Each term somewhere in the title, the description or the enterprise's name.
    pub terms: Vec<String>,
    pub after: Option<(i64, String)>,
}

/// The condition of "overdue at `$now`" (`zhuqi_core::domain::problem::is_overdue`), with the
/// acceptance limit at `$acceptance`.
fn overdue_sql(now: usize, acceptance: usize) -> String {
    format!(
        "((status = 'routed' AND deadline < ${now}) \
          OR (status IN ('reported', 'accepted') AND reported_at + ${acceptance} < ${now}))"
    )
}

const NOT_VOID: &str = "status NOT IN ('withdrawn', 'merged')";
const RESOLVED_NOW: &str = "status IN ('resolved', 'confirmed', 'closed')";

/// `CAST(SUM(CASE WHEN cond THEN value ELSE 0 END) AS BIGINT)`: the same integer on both databases.
fn sum_if(cond: &str, value: &str) -> String {
    format!("CAST(SUM(CASE WHEN {cond} THEN {value} ELSE 0 END) AS BIGINT)")
}

fn count_if(cond: &str) -> String {
    sum_if(cond, "1")
}

fn counts_of(r: &mut Row, first: usize, fields: &mut [&mut u32]) -> Result<()> {
    for (i, f) in fields.iter_mut().enumerate() {
        **f = r.get(first + i)?;
    }
    Ok(())
}

/// Problem counts per region and department for `span`. Parameters: $1 from, $2 to, $3 now, $4 the
/// offline window, $5 the acceptance limit, $6 the regions.
pub fn problem_cells(db: &mut dyn Db, regions: Regions, s: Span) -> Result<Vec<ProblemCell>> {
    let reported = "reported_at >= $1 AND reported_at < $2";
    // The resolution's time, or its arrival when it was entered late.
    let judged = "(CASE WHEN resolution_received_at - resolved_at > $4 THEN resolution_received_at ELSE resolved_at END)";
    let resolved = format!("{RESOLVED_NOW} AND {judged} >= $1 AND {judged} < $2");
    let deadline = "COALESCE(missed_deadline, deadline)";
    let rated = "rating IS NOT NULL AND confirmed_at >= $1 AND confirmed_at < $2";
    let columns = [
        count_if(reported),
        count_if(&format!("{reported} AND {RESOLVED_NOW}")),
        count_if(&format!("{reported} AND reporter_role = 'enterprise_contact'")),
        count_if(&format!("{reported} AND escalation_count > 0")),
        count_if(&resolved),
        count_if(&format!("{resolved} AND {deadline} IS NOT NULL")),
        count_if(&format!("{resolved} AND {judged} <= {deadline}")),
        count_if(rated),
        count_if(&format!("{rated} AND rating >= 4")),
        sum_if(rated, "rating"),
        count_if(&format!("{rated} AND (confirmation IS NULL OR confirmation <> 'call_back')")),
        count_if(&format!("{rated} AND confirmation = 'call_back'")),
        count_if("confirmation = 'unanswered' AND closed_at >= $1 AND closed_at < $2"),
        count_if(&overdue_sql(3, 5)),
    ];
    let filter = if regions.is_some() { " AND region_id = ANY($6)" } else { "" };
    // Only the rows that can count: with a time from the period's start on, or open (overdue now).
    let relevant = "(reported_at >= $1 OR status IN ('reported', 'accepted', 'routed') OR resolved_at >= $1 \
         OR resolution_received_at >= $1 OR confirmed_at >= $1 OR closed_at >= $1)";
    let sql = format!(
        "SELECT region_id, department_id, {} FROM problems WHERE {NOT_VOID} AND {relevant}{filter}
         GROUP BY region_id, department_id",
        columns.join(", ")
    );
    let mut params = args![s.from, s.to, s.now, s.window_ms, ACCEPTANCE_LIMIT_MS];
    if let Some(r) = regions {
        params.push(r.into());
    }
    db.query(&sql, params)?
        .into_iter()
        .map(|mut r| {
            let mut c = Counts::default();
            counts_of(&mut r, 2, &mut [
                &mut c.reported,
                &mut c.reported_resolved,
                &mut c.reported_by_enterprise,
                &mut c.escalated,
                &mut c.resolved,
                &mut c.with_deadline,
                &mut c.on_time,
                &mut c.rated,
                &mut c.satisfied,
                &mut c.rating_sum,
                &mut c.own_confirmations,
                &mut c.call_backs,
                &mut c.unanswered,
                &mut c.overdue,
            ])?;
            Ok(ProblemCell { region_id: r.get(0)?, department_id: r.get(1)?, counts: c })
        })
        .collect()
}

/// Visits counted in `[from, to)` and the distinct enterprises visited, per group.
pub fn visit_cells(db: &mut dyn Db, regions: Regions, from: i64, to: i64, by: VisitGroups) -> Result<Vec<VisitCell>> {
    let key = match by {
        VisitGroups::Region => "region_id",
        VisitGroups::CadreDepartment => "cadre_department_id",
    };
    let filter = if regions.is_some() { " AND region_id = ANY($3)" } else { "" };
    let sql = format!(
        "SELECT {key}, COUNT(*), COUNT(DISTINCT enterprise_id) FROM visits
         WHERE counted_day >= $1 AND counted_day < $2{filter} GROUP BY {key}"
    );
    let mut params = args![from, to];
    if let Some(r) = regions {
        params.push(r.into());
    }
    visit_rows(db.query(&sql, params)?)
}

/// As [`visit_cells`] by region for a whole calendar year, from each enterprise's visits per year.
pub fn visit_cells_of_year(db: &mut dyn Db, regions: Regions, year: i64) -> Result<Vec<VisitCell>> {
    let filter = if regions.is_some() { " AND region_id = ANY($2)" } else { "" };
    let sql = format!(
        "SELECT region_id, CAST(SUM(visits) AS BIGINT), COUNT(*) FROM visit_years WHERE year = $1{filter} GROUP BY region_id"
    );
    let mut params = args![year];
    if let Some(r) = regions {
        params.push(r.into());
    }
    visit_rows(db.query(&sql, params)?)
}

fn visit_rows(rows: Vec<Row>) -> Result<Vec<VisitCell>> {
    rows.into_iter().map(|mut r| Ok(VisitCell { key: r.get(0)?, visits: r.get(1)?, enterprises: r.get(2)? })).collect()
}

/// Enterprises per region.
pub fn enterprise_cells(db: &mut dyn Db, regions: Regions) -> Result<Vec<(String, u32)>> {
    let (sql, params) = match regions {
        Some(r) => ("SELECT region_id, COUNT(*) FROM enterprises WHERE region_id = ANY($1) GROUP BY region_id", args![r]),
        None => ("SELECT region_id, COUNT(*) FROM enterprises GROUP BY region_id", vec![]),
    };
    db.query(sql, params)?.into_iter().map(|mut r| Ok((r.get(0)?, r.get(1)?))).collect()
}

/// Per category: reported in `span`, open now, overdue now by age (since the deadline passed, or
/// the acceptance limit). Two narrow reads: the period's reports (index `problems_reported`) and
/// the open problems (on `problems_figures`; an index led by the status would draw the problem
/// list's overdue filter away from the list's own order).
pub fn category_cells(db: &mut dyn Db, regions: Regions, s: Span) -> Result<Vec<CategoryCell>> {
    let overdue = overdue_sql(1, 2);
    let since = "($1 - CASE WHEN status = 'routed' THEN deadline ELSE reported_at + $2 END)";
    let day = 86_400_000i64;
    let columns = [
        "COUNT(*)".to_owned(),
        count_if(&format!("{overdue} AND {since} <= {}", 7 * day)),
        count_if(&format!("{overdue} AND {since} > {} AND {since} <= {}", 7 * day, 30 * day)),
        count_if(&format!("{overdue} AND {since} > {} AND {since} <= {}", 30 * day, 90 * day)),
        count_if(&format!("{overdue} AND {since} > {}", 90 * day)),
    ];
    let (reported_filter, open_filter) =
        if regions.is_some() { (" AND region_id = ANY($3)", " AND region_id = ANY($3)") } else { ("", "") };
    let reported_sql = format!(
        "SELECT category, COUNT(*) FROM problems WHERE reported_at >= $1 AND reported_at < $2 AND {NOT_VOID}{reported_filter}
         GROUP BY category"
    );
    let open_sql = format!(
        "SELECT category, {} FROM problems WHERE status IN ('reported', 'accepted', 'routed'){open_filter}
         GROUP BY category",
        columns.join(", ")
    );
    let mut reported_params = args![s.from, s.to];
    let mut open_params = args![s.now, ACCEPTANCE_LIMIT_MS];
    if let Some(r) = regions {
        reported_params.push(r.into());
        open_params.push(r.into());
    }
    let [reported, open] = db.query_all([(reported_sql.as_str(), reported_params), (open_sql.as_str(), open_params)])?;
    let mut cells: std::collections::BTreeMap<String, CategoryCell> = std::collections::BTreeMap::new();
    for mut r in reported {
        let category: String = r.get(0)?;
        cells.entry(category.clone()).or_insert_with(|| CategoryCell { category, ..Default::default() }).reported =
            r.get(1)?;
    }
    for mut r in open {
        let category: String = r.get(0)?;
        let c = cells.entry(category.clone()).or_insert_with(|| CategoryCell { category, ..Default::default() });
        let [a, b, d, e] = &mut c.overdue_for;
        counts_of(&mut r, 1, &mut [&mut c.open, a, b, d, e])?;
    }
    Ok(cells.into_values().collect())
}

/// The task notices issued in `[from, to)` under `regions`, per notice region and recipient: how
/// many, done, done by the deadline.
pub fn notice_cells(db: &mut dyn Db, regions: Regions, from: i64, to: i64) -> Result<Vec<NoticeCell>> {
    let filter = if regions.is_some() { " AND n.region_id = ANY($3)" } else { "" };
    let sql = format!(
        "SELECT n.region_id, r.recipient, COUNT(*), {}, {}
         FROM task_notices n JOIN task_recipients r ON r.notice_id = n.id
         WHERE n.issued_at >= $1 AND n.issued_at < $2{filter} GROUP BY n.region_id, r.recipient",
        count_if("r.completed_at IS NOT NULL"),
        count_if("r.completed_at <= n.deadline"),
    );
    let mut params = args![from, to];
    if let Some(r) = regions {
        params.push(r.into());
    }
    db.query(&sql, params)?
        .into_iter()
        .map(|mut r| {
            Ok(NoticeCell {
                region_id: r.get(0)?,
                recipient: r.get(1)?,
                issued: r.get(2)?,
                done: r.get(3)?,
                on_time: r.get(4)?,
            })
        })
        .collect()
}

/// The latest `limit` task notices under `regions`, with their recipients' progress.
pub fn notice_lines(db: &mut dyn Db, regions: Regions, limit: u32) -> Result<Vec<NoticeLine>> {
    let filter = if regions.is_some() { "WHERE n.region_id = ANY($2)" } else { "" };
    let sql = format!(
        "SELECT n.id, n.region_id, n.title, n.issued_at, n.deadline, n.status, COUNT(r.recipient), {}
         FROM task_notices n LEFT JOIN task_recipients r ON r.notice_id = n.id {filter}
         GROUP BY n.id, n.region_id, n.title, n.issued_at, n.deadline, n.status
         ORDER BY n.issued_at DESC, n.id DESC LIMIT $1",
        count_if("r.completed_at IS NOT NULL")
    );
    let mut params = args![i64::from(limit)];
    if let Some(r) = regions {
        params.push(r.into());
    }
    db.query(&sql, params)?
        .into_iter()
        .map(|mut r| {
            Ok(NoticeLine {
                id: r.get(0)?,
                region_id: r.get(1)?,
                title: r.get(2)?,
                issued_at: r.get(3)?,
                deadline: r.get(4)?,
                status: r.get(5)?,
                recipients: r.get(6)?,
                done: r.get(7)?,
            })
        })
        .collect()
}

pub const PROBLEM_ROW_COLUMNS: &str = "id, enterprise_id, enterprise_name, region_id, category, title, description, \
     status, level, department_id, deadline, reported_at, resolved_at, rating, urge_count, conflict_count";

pub fn problem_row(mut r: Row) -> Result<ProblemRow> {
    Ok(ProblemRow {
        id: r.get(0)?,
        enterprise_id: r.get(1)?,
        enterprise_name: r.get(2)?,
        region_id: r.get(3)?,
        category: r.get(4)?,
        title: r.get(5)?,
        description: r.get(6)?,
        status: r.get(7)?,
        level: r.get(8)?,
        department_id: r.get(9)?,
        deadline: r.get(10)?,
        reported_at: r.get(11)?,
        resolved_at: r.get(12)?,
        rating: r.get(13)?,
        urge_count: r.get(14)?,
        conflict_count: r.get(15)?,
    })
}

/// `s` as a `LIKE` pattern matching it anywhere (its own `%`, `_` and `\` taken literally).
fn contains_pattern(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// The `WHERE` clause and parameters of a selection (parameters numbered from `$1`).
fn selection_sql(q: &ProblemSelection) -> (String, Vec<Value>) {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let param = |v: Value, params: &mut Vec<Value>| {
        params.push(v);
        format!("${}", params.len())
    };
    if let Some(r) = &q.regions {
        conds.push(format!("region_id = ANY({})", param(r.clone().into(), &mut params)));
    }
    match &q.status {
        Some(s) => conds.push(format!("status = {}", param(s.into(), &mut params))),
        None => conds.push(NOT_VOID.into()),
    }
    if let Some(c) = &q.category {
        conds.push(format!("category = {}", param(c.into(), &mut params)));
    }
    if let Some(l) = q.level {
        conds.push(format!("level = {}", param(l.into(), &mut params)));
    }
    if let Some(d) = &q.department {
        conds.push(format!("department_id = {}", param(d.into(), &mut params)));
    }
    if let Some(e) = &q.enterprise {
        conds.push(format!("enterprise_id = {}", param(e.into(), &mut params)));
    }
    if let Some(now) = q.overdue_at {
        let n = param(now.into(), &mut params);
        let a = param(ACCEPTANCE_LIMIT_MS.into(), &mut params);
        conds.push(format!(
            "((status = 'routed' AND deadline < {n}) OR (status IN ('reported', 'accepted') AND reported_at + {a} < {n}))"
        ));
    }
    if let Some(f) = q.reported_from {
        conds.push(format!("reported_at >= {}", param(f.into(), &mut params)));
    }
    if let Some(t) = q.reported_to {
        conds.push(format!("reported_at < {}", param(t.into(), &mut params)));
    }
    for t in &q.terms {
        let p = param(contains_pattern(t).into(), &mut params);
        conds.push(format!(
            "(title LIKE {p} ESCAPE '\\' OR description LIKE {p} ESCAPE '\\' OR enterprise_name LIKE {p} ESCAPE '\\')"
        ));
    }
    if let Some((at, id)) = &q.after {
        let a = param(at.into(), &mut params);
        let i = param(id.into(), &mut params);
        // A row value, which both databases read as a range of the index `problems_listed`.
        conds.push(format!("reported_at <= {a} AND (reported_at, id) < ({a}, {i})"));
    }
    (conds.join(" AND "), params)
}

/// Up to `limit` problems of a selection, newest first.
pub fn problem_page(db: &mut dyn Db, q: &ProblemSelection, limit: u32) -> Result<Vec<ProblemRow>> {
    let (filter, mut params) = selection_sql(q);
    params.push(i64::from(limit).into());
    let sql = format!(
        "SELECT {PROBLEM_ROW_COLUMNS} FROM problems WHERE {filter} ORDER BY reported_at DESC, id DESC LIMIT ${}",
        params.len()
    );
    db.query(&sql, params)?.into_iter().map(problem_row).collect()
}

/// How many problems a selection holds (its `after` ignored).
pub fn problem_count(db: &mut dyn Db, q: &ProblemSelection) -> Result<u64> {
    let q = ProblemSelection { after: None, ..q.clone() };
    let (filter, params) = selection_sql(&q);
    db.one(&format!("SELECT COUNT(*) FROM problems WHERE {filter}"), params)
}

/// A published period's counts: (unit, counts as JSON, published at), of the given units (of all
/// for `None`). Unit `""`, always read, marks the period as published.
pub fn published(db: &mut dyn Db, period: &str, units: Option<&[String]>) -> Result<Vec<(String, String, i64)>> {
    let (sql, params) = match units {
        Some(u) => (
            "SELECT unit, counts, published_at FROM published_figures WHERE period = $1 AND (unit = '' OR unit = ANY($2))",
            args![period, u],
        ),
        None => ("SELECT unit, counts, published_at FROM published_figures WHERE period = $1", args![period]),
    };
    db.query(sql, params)?.into_iter().map(|mut r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).collect()
}

/// Publishes a period's counts once: the first relay to publish it wins, later calls change
/// nothing. Returns whether these counts were published.
pub fn publish(db: &mut dyn Db, period: &str, units: &[(String, String)], at: i64) -> Result<bool> {
    let marker = db.execute(
        "INSERT INTO published_figures (period, unit, counts, published_at) VALUES ($1, '', '{}', $2)
         ON CONFLICT (period, unit) DO NOTHING",
        args![period, at],
    )?;
    if marker == 0 {
        return Ok(false);
    }
    let rows = units.iter().map(|(unit, counts)| args![period, unit, counts, at]).collect();
    db.run(&[super::plan::rows(
        "published_figures",
        &["period", "unit", "counts", "published_at"],
        super::plan::OnConflict::Ignore,
        rows,
    )])?;
    Ok(true)
}

/// Sets the offline window the visits' counted days are worked out with; when it changed, works
/// them out again, and each enterprise's visits per year. Returns whether it changed.
pub fn set_offline_window(db: &mut dyn Db, window_ms: i64) -> Result<bool> {
    let stored: i64 = db.counter("offline_window_ms").map(|v| v as i64)?;
    if stored == window_ms {
        return Ok(false);
    }
    db.execute("UPDATE counters SET value = $1 WHERE name = 'offline_window_ms'", args![window_ms])?;
    db.execute(
        "UPDATE visits SET counted_day = CASE
             WHEN received_at IS NOT NULL AND received_at - day > $1
             THEN ((received_at + 28800000) / 86400000) * 86400000 - 28800000
             ELSE day END",
        args![window_ms],
    )?;
    db.execute("DELETE FROM visit_years", vec![])?;
    db.execute(
        "INSERT INTO visit_years (enterprise_id, year, region_id, visits)
         SELECT v.enterprise_id, m.month / 100, MIN(v.region_id), COUNT(*)
         FROM visits v JOIN calendar_months m ON v.counted_day >= m.starts AND v.counted_day < m.ends
         WHERE v.region_id IS NOT NULL GROUP BY v.enterprise_id, m.month / 100",
        vec![],
    )?;
    Ok(true)
}

/// A cadre's enterprises (id, name) and their visits (enterprise, counted day), newest first.
pub fn cadre_records(db: &mut dyn Db, cadre_id: &str) -> Result<(Vec<(String, String)>, Vec<(String, i64)>)> {
    let [enterprises, visits] = db.query_all([
        (
            "SELECT a.enterprise_id, COALESCE(e.name, a.enterprise_id) FROM assignments a
             LEFT JOIN enterprises e ON e.id = a.enterprise_id WHERE a.cadre_id = $1 ORDER BY e.name, a.enterprise_id",
            args![cadre_id],
        ),
        (
            "SELECT enterprise_id, counted_day FROM visits WHERE cadre_id = $1 AND counted_day IS NOT NULL
             ORDER BY counted_day DESC",
            args![cadre_id],
        ),
    ])?;
    let names = enterprises.into_iter().map(|mut r| Ok((r.get(0)?, r.get(1)?))).collect::<Result<_>>()?;
    let days = visits.into_iter().map(|mut r| Ok((r.get(0)?, r.get(1)?))).collect::<Result<_>>()?;
    Ok((names, days))
}
