//! What a commit writes, worked out once as plain data — rows of a table with what to do on a
//! conflict, and statements, in chains — so that each backend only executes it (SQLite a statement per
//! row, PostgreSQL the chains together and a table's rows as one statement of arrays). Here are the
//! projection rows of a document; `store` adds the change log, the document's row and its keys.

use super::projection::Projection;
use std::collections::HashMap;
use zhuqi_core::domain::{EnterpriseState, ProblemStatus};

pub use super::db::Value;

/// What happens when a row's key is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Nothing can be there (the rows were deleted just before, or have no key).
    Insert,
    /// The row there stays (receipts: the first arrival is the fact).
    Ignore,
    /// The row there takes the new values; the key is these columns.
    Update(&'static [&'static str]),
    /// As `Update`, only when one of the second columns differs: the other columns are kept up to
    /// date by a plain `UPDATE` beforehand, which leaves the indexes on the second columns alone
    /// (setting an indexed column, even to the value it has, rewrites its index entry).
    UpdateIfChanged(&'static [&'static str], &'static [&'static str]),
    /// The row there takes the new values of the second columns only; the key is the first.
    Refresh(&'static [&'static str], &'static [&'static str]),
    /// As `Refresh`, only when the row there has the same value in the third column (its owner):
    /// a row another document wrote under the same key is left alone; and only when one of the
    /// second columns differs (a row that would not change is not written again).
    RefreshOwn(&'static [&'static str], &'static [&'static str], &'static str),
}

/// Rows of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub on_conflict: OnConflict,
    pub rows: Vec<Vec<Value>>,
    /// Rows of events (a problem's timeline, visits): the indexes of the columns holding the
    /// document id and the event id; the row's `received_at` is then read from `event_receipts`
    /// (when the relay first stored that event of that document).
    pub receipt_of: Option<(usize, usize)>,
}

/// One step of a plan. Steps of one chain run in order; chains in any order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Rows to insert (their chain is their table).
    Rows(Rows),
    /// A statement; with `must_change`, changing no row is an error (the data is not as expected).
    Exec { chain: &'static str, sql: String, params: Vec<Value>, must_change: bool },
}

impl Step {
    pub fn chain(&self) -> &'static str {
        match self {
            Step::Rows(r) => r.table,
            Step::Exec { chain, .. } => chain,
        }
    }

    /// A statement in chain `chain`.
    pub fn exec(chain: &'static str, sql: impl Into<String>, params: Vec<Value>) -> Step {
        Step::Exec { chain, sql: sql.into(), params, must_change: false }
    }

    /// `DELETE FROM table WHERE column = value`.
    fn delete(table: &'static str, column: &'static str, value: &str) -> Step {
        Step::exec(table, format!("DELETE FROM {table} WHERE {column} = $1"), vec![value.into()])
    }
}

/// Rows of events of `table`, whose `received_at` is read from the receipts (see `Rows::receipt_of`).
fn event_rows(
    table: &'static str,
    columns: &'static [&'static str],
    on_conflict: OnConflict,
    rows: Vec<Vec<Value>>,
    doc_and_event: (usize, usize),
) -> Step {
    Step::Rows(Rows { table, columns, on_conflict, rows, receipt_of: Some(doc_and_event) })
}

/// A row of `photo_refs`: the photo `p` named by event `event_id` of document `doc_id`.
fn photo_row(p: &zhuqi_core::domain::PhotoRef, doc_id: &str, event_id: &str, author: &str) -> Vec<Value> {
    vec![(&p.sha256).into(), doc_id.into(), event_id.into(), p.size_bytes.into(), author.into()]
}

/// The step writing `photo_refs` rows, each with its event's receipt (none without rows). A photo
/// stays named once named: its event's history shows it.
fn photo_rows(photos: Vec<Vec<Value>>) -> Option<Step> {
    const COLUMNS: &[&str] = &["sha256", "doc_id", "event_id", "size", "author_id"];
    (!photos.is_empty()).then(|| event_rows("photo_refs", COLUMNS, OnConflict::Ignore, photos, (1, 2)))
}

/// Rows of `table`.
pub fn rows(
    table: &'static str,
    columns: &'static [&'static str],
    on_conflict: OnConflict,
    rows: Vec<Vec<Value>>,
) -> Step {
    Step::Rows(Rows { table, columns, on_conflict, rows, receipt_of: None })
}

const ENTERPRISE_COLUMNS: &[&str] = &[
    "id",
    "name",
    "uscc",
    "region_id",
    "industry",
    "tags",
    "address",
    "updated_at",
    "employees",
    "revenue",
    "founded",
];
/// What an enterprise's row takes at each write when its indexed columns (credit code, region) are
/// as stored: the other columns of [`ENTERPRISE_COLUMNS`], in place (the parameters are its values).
const ENTERPRISE_IN_PLACE: &str = "UPDATE enterprises SET name = $2, industry = $5, tags = $6, address = $7,
        updated_at = $8, employees = $9, revenue = $10, founded = $11
    WHERE id = $1 AND uscc = $3 AND region_id = $4";
/// The indexed columns of an enterprise's row.
const ENTERPRISE_INDEXED: &[&str] = &["uscc", "region_id"];
const ENTERPRISE_POLICY_COLUMNS: &[&str] = &["enterprise_id", "policy_id", "told", "mark"];
const POLICY_COLUMNS: &[&str] = &[
    "id",
    "region_id",
    "title",
    "issuer",
    "doc_number",
    "valid_from",
    "valid_until",
    "criteria",
    "issued_at",
    "withdrawn_at",
    "updated_at",
];
const VISIT_COLUMNS: &[&str] =
    &["id", "enterprise_id", "cadre_id", "date", "recorded_at", "event_id", "region_id", "day"];
/// What a visit's row takes again at each write of its enterprise: its (corrected) day and its
/// enterprise's region.
const VISIT_REFRESHED: &[&str] = &["date", "day", "region_id"];
/// The day a visit counts on (see `schema::PROVINCE_SCALE`): its own, or the day the relay received
/// it when that was later than the offline window allows.
macro_rules! counted_day {
    () => {
        "CASE WHEN received_at IS NOT NULL
                AND received_at - day > (SELECT value FROM counters WHERE name = 'offline_window_ms')
            THEN ((received_at + 28800000) / 86400000) * 86400000 - 28800000
            ELSE day END"
    };
}
/// The department of a visit's cadre when the visit was first stored.
macro_rules! cadre_department {
    () => {
        "COALESCE(cadre_department_id, (SELECT department_id FROM users WHERE users.id = visits.cadre_id))"
    };
}
/// The day each visit of enterprise `$1` counts on, and the department of its cadre when it was
/// first stored; only rows whose values change are written (most of an enterprise's visits keep
/// theirs at each of its writes).
const VISITS_COUNTED: &str = concat!(
    "UPDATE visits SET counted_day = ",
    counted_day!(),
    ", cadre_department_id = ",
    cadre_department!(),
    " WHERE enterprise_id = $1 AND (counted_day IS DISTINCT FROM ",
    counted_day!(),
    " OR cadre_department_id IS DISTINCT FROM ",
    cadre_department!(),
    ")"
);
/// Enterprise `$1`'s visits per year of their counted days. A visit's month is the one whose bounds
/// hold its counted day; the bounds on `m.month` change nothing (the year of a day `d` days after
/// 1970-01-01 lies between 1970 + d / 366 and 1970 + d / 365) but let the join read the few months
/// of those years instead of the whole calendar for each visit.
pub const VISIT_YEARS: &str = "INSERT INTO visit_years (enterprise_id, year, region_id, visits)
    SELECT v.enterprise_id, m.month / 100, MIN(v.region_id), COUNT(*)
    FROM visits v JOIN calendar_months m ON v.counted_day >= m.starts AND v.counted_day < m.ends
        AND m.month >= (1970 + (v.counted_day + 28800000) / 86400000 / 366) * 100
        AND m.month < (1971 + (v.counted_day + 28800000) / 86400000 / 365) * 100
    WHERE v.enterprise_id = $1 AND v.region_id IS NOT NULL GROUP BY v.enterprise_id, m.month / 100";
const PROBLEM_COLUMNS: &[&str] = &[
    "id",
    "enterprise_id",
    "enterprise_name",
    "region_id",
    "category",
    "title",
    "description",
    "status",
    "level",
    "department_id",
    "deadline",
    "reported_by",
    "reporter_role",
    "reported_at",
    "accepted_at",
    "first_routed_at",
    "resolved_at",
    "confirmed_at",
    "closed_at",
    "rating",
    "urge_count",
    "escalation_count",
    "reopen_count",
    "follow_up_count",
    "conflict_count",
    "updated_at",
    "confirmation",
    "missed_deadline",
];
const EVENT_COLUMNS: &[&str] =
    &["problem_id", "position", "event_id", "kind", "by_user", "role", "device", "at", "outcome"];
const NOTICE_COLUMNS: &[&str] = &["id", "region_id", "title", "issued_by", "issued_at", "deadline", "status"];
const RECIPIENT_COLUMNS: &[&str] = &["notice_id", "recipient", "acknowledged_at", "completed_at", "completed_by"];
const ID: &[&str] = &["id"];

/// The projection rows of document `id`, except an enterprise's assignments (see `assignments`).
/// A document not yet registered, reported or issued writes nothing.
pub fn projection(id: &str, p: &Projection) -> Vec<Step> {
    match p {
        Projection::Enterprise(s) if s.registered => {
            let pr = &s.profile;
            let row = vec![
                id.into(),
                (&pr.name).into(),
                (&pr.uscc).into(),
                (&pr.region_id).into(),
                (&pr.industry).into(),
                pr.tags.join(",").into(),
                (&pr.address).into(),
                s.updated_at.into(),
                pr.scale.employees.map(i64::from).into(),
                pr.scale.revenue.map(|r| r.min(i64::MAX as u64) as i64).into(),
                (&pr.scale.founded).into(),
            ];
            let visits = s
                .visits
                .iter()
                .map(|v| {
                    vec![
                        (&v.record.id).into(),
                        id.into(),
                        (&v.cadre_id).into(),
                        (&v.record.date).into(),
                        v.recorded_at.into(),
                        (&v.event_id).into(),
                        (&pr.region_id).into(),
                        visit_day(&v.record.date).into(),
                    ]
                })
                .collect::<Vec<_>>();
            // A visit changes the row's time only: it is updated in place, and written whole when
            // new or moved to another region or credit code.
            let whole = OnConflict::UpdateIfChanged(ID, ENTERPRISE_INDEXED);
            let mut steps = vec![
                Step::exec("enterprises", ENTERPRISE_IN_PLACE, row.clone()),
                rows("enterprises", ENTERPRISE_COLUMNS, whole, vec![row]),
            ];
            // What it knows of each policy: rewritten whole (a corrected visit may drop one).
            steps.push(Step::delete("enterprise_policies", "enterprise_id", id));
            let known: Vec<Vec<Value>> = s
                .policy_knowledge()
                .into_iter()
                .map(|(p, told, mark)| vec![id.into(), p.into(), told.into(), mark.into()])
                .collect();
            if !known.is_empty() {
                steps.push(rows("enterprise_policies", ENTERPRISE_POLICY_COLUMNS, OnConflict::Insert, known));
            }
            // The photos the visits name (a corrected visit's earlier ones stay named: its history shows them).
            let photos = s.visits.iter().flat_map(|v| {
                let event = v.event_id.as_str();
                v.record.photos.iter().map(move |p| photo_row(p, id, event, &v.cadre_id))
            });
            steps.extend(photo_rows(photos.collect()));
            if !visits.is_empty() {
                // A visit's row stays, with its receipt, and takes its (corrected) day and its
                // enterprise's region again (ids are the clients': a row of another enterprise under
                // the same id is left alone).
                let refresh = OnConflict::RefreshOwn(ID, VISIT_REFRESHED, "enterprise_id");
                steps.push(event_rows("visits", VISIT_COLUMNS, refresh, visits, (1, 5)));
                steps.push(Step::exec("visits", VISITS_COUNTED, vec![id.into()]));
                steps.push(Step::exec("visits", "DELETE FROM visit_years WHERE enterprise_id = $1", vec![id.into()]));
                steps.push(Step::exec("visits", VISIT_YEARS, vec![id.into()]));
            }
            steps
        }
        Projection::Problem { region_id, enterprise_name, state: s, conflicts, events: timeline }
            if s.status != ProblemStatus::New =>
        {
            let row = vec![
                id.into(),
                (&s.enterprise_id).into(),
                enterprise_name.into(),
                region_id.into(),
                s.category.as_str().into(),
                (&s.title).into(),
                (&s.description).into(),
                s.status.as_str().into(),
                s.level.into(),
                (&s.department_id).into(),
                s.deadline.into(),
                (&s.reported_by).into(),
                s.reported_by_role.map(|r| r.as_str()).into(),
                s.reported_at.into(),
                s.accepted_at.into(),
                s.first_routed_at.into(),
                s.resolved_at.into(),
                s.confirmed_at.into(),
                s.closed_at.into(),
                s.rating.into(),
                s.urge_count.into(),
                s.escalation_count.into(),
                s.reopen_count.into(),
                s.follow_up_count.into(),
                (*conflicts).into(),
                s.updated_at.into(),
                s.confirmation.map(|c| c.as_str()).into(),
                s.missed_deadline.into(),
            ];
            let events: Vec<Vec<Value>> = timeline
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    vec![
                        id.into(),
                        (i as i64).into(),
                        (&e.event_id).into(),
                        (&e.kind).into(),
                        (&e.by).into(),
                        e.role.as_str().into(),
                        (&e.device).into(),
                        e.at.into(),
                        e.outcome.into(),
                    ]
                })
                .collect();
            // When the relay received the resolutions in force (the figures judge a late one by it).
            let resolutions: Vec<String> = timeline
                .iter()
                .filter(|e| e.kind == "resolved" && e.outcome == "applied")
                .map(|e| e.event_id.clone())
                .collect();
            let mut steps = vec![
                rows("problems", PROBLEM_COLUMNS, OnConflict::Update(ID), vec![row]),
                Step::exec(
                    "problems",
                    "UPDATE problems SET resolution_received_at = (SELECT MAX(received_at) FROM event_receipts
                         WHERE doc_id = $1 AND event_id = ANY($2)) WHERE id = $1",
                    vec![id.into(), resolutions.into()],
                ),
                // The timeline is rewritten whole: a late event may land in the middle of it.
                Step::delete("problem_events", "problem_id", id),
            ];
            if !events.is_empty() {
                steps.push(event_rows("problem_events", EVENT_COLUMNS, OnConflict::Insert, events, (0, 2)));
            }
            let photos = timeline.iter().flat_map(|e| e.photos.iter().map(|p| photo_row(p, id, &e.event_id, &e.by)));
            steps.extend(photo_rows(photos.collect()));
            steps
        }
        Projection::TaskNotice(s) if s.issued => {
            let row = vec![
                id.into(),
                (&s.region_id).into(),
                (&s.title).into(),
                (&s.issued_by).into(),
                s.issued_at.into(),
                s.deadline.into(),
                s.status().into(),
            ];
            let recipients: Vec<Vec<Value>> = s
                .recipients
                .iter()
                .map(|r| {
                    vec![
                        id.into(),
                        r.recipient.key().into(),
                        r.acknowledged_at.into(),
                        r.completed_at.into(),
                        (&r.completed_by).into(),
                    ]
                })
                .collect();
            let mut steps = vec![rows("task_notices", NOTICE_COLUMNS, OnConflict::Update(ID), vec![row])];
            if !recipients.is_empty() {
                steps.push(rows(
                    "task_recipients",
                    RECIPIENT_COLUMNS,
                    OnConflict::Update(&["notice_id", "recipient"]),
                    recipients,
                ));
            }
            steps
        }
        Projection::Policy(s) if s.issued => {
            let p = &s.policy;
            let criteria = serde_json::to_string(&p.criteria).unwrap_or_default();
            let row = vec![
                id.into(),
                (&s.region_id).into(),
                (&p.title).into(),
                (&p.issuer).into(),
                (&p.doc_number).into(),
                (&p.valid_from).into(),
                (&p.valid_until).into(),
                criteria.into(),
                s.issued_at.into(),
                s.withdrawn_at.into(),
                s.updated_at.into(),
            ];
            vec![rows("policies", POLICY_COLUMNS, OnConflict::Update(ID), vec![row])]
        }
        _ => Vec::new(),
    }
}

/// The first moment (00:00 China Standard Time) of a visit's day `YYYY-MM-DD`, in ms; none when the
/// date does not parse (the relay's validation refuses such visits).
pub fn visit_day(date: &str) -> Option<i64> {
    zhuqi_core::domain::text::parse_date("date", date).ok().map(|d| d * 86_400_000 - 8 * 3_600_000)
}

/// An enterprise's assignments as stored: cadre → (chief, since).
pub type Assignments = HashMap<String, (bool, i64)>;

/// The enterprise whose assignments a projection carries, if any (registered).
pub fn assigned(p: &Projection) -> Option<&EnterpriseState> {
    match p {
        Projection::Enterprise(s) if s.registered => Some(s),
        _ => None,
    }
}

/// Rewrites an enterprise's assignments when they differ from `stored`, and records which cadres
/// gained or lost the enterprise (their read scope) at sequence number `seq`. Nothing when equal:
/// most pushes (a visit) leave them as they were.
pub fn assignments(id: &str, s: &EnterpriseState, stored: &Assignments, seq: i64) -> Vec<Step> {
    let new: Assignments = s.assignments.iter().map(|a| (a.cadre_id.clone(), (a.chief, a.since))).collect();
    if &new == stored {
        return Vec::new();
    }
    let key = format!("ent:{id}");
    let mut moved: Vec<(&String, bool)> = stored
        .keys()
        .filter(|c| !new.contains_key(*c))
        .map(|c| (c, false))
        .chain(new.keys().filter(|c| !stored.contains_key(*c)).map(|c| (c, true)))
        .collect();
    moved.sort();
    let mut steps = Vec::new();
    if !moved.is_empty() {
        let events = moved.into_iter().map(|(c, added)| vec![c.into(), (&key).into(), seq.into(), added.into()]);
        steps.push(rows("user_key_events", &["user_id", "key", "seq", "added"], OnConflict::Insert, events.collect()));
    }
    steps.push(Step::delete("assignments", "enterprise_id", id));
    if !s.assignments.is_empty() {
        let rows_ = s
            .assignments
            .iter()
            .map(|a| vec![id.into(), (&a.cadre_id).into(), a.chief.into(), a.since.into()])
            .collect();
        steps.push(rows("assignments", &["enterprise_id", "cadre_id", "chief", "since"], OnConflict::Insert, rows_));
    }
    steps
}

/// The `INSERT` of `r`, the same for both stores but for where the values come from: `exprs` (one
/// per column: placeholders, or the columns of `from`), as `VALUES (…)` without `from`, or as
/// `SELECT … FROM from`.
pub fn insert_sql(r: &Rows, exprs: &[String], from: Option<&str>) -> String {
    let mut columns: Vec<&str> = r.columns.to_vec();
    let mut values: Vec<String> = exprs.to_vec();
    if let Some((doc, event)) = r.receipt_of {
        columns.push("received_at");
        values.push(format!(
            "(SELECT received_at FROM event_receipts WHERE doc_id = {} AND event_id = {})",
            values[doc], values[event]
        ));
    }
    let head = format!("INSERT INTO {} ({}) ", r.table, columns.join(", "));
    let tail = match r.on_conflict {
        OnConflict::Insert => String::new(),
        OnConflict::Ignore => " ON CONFLICT DO NOTHING".into(),
        OnConflict::Update(key) => update(key, r.columns.iter().filter(|c| !key.contains(c))),
        OnConflict::UpdateIfChanged(key, watched) => format!(
            "{} WHERE {}",
            update(key, r.columns.iter().filter(|c| !key.contains(c))),
            changed(r.table, watched)
        ),
        OnConflict::Refresh(key, set) => update(key, set.iter()),
        OnConflict::RefreshOwn(key, set, owner) => {
            let table = r.table;
            format!("{} WHERE {table}.{owner} = excluded.{owner} AND {}", update(key, set.iter()), changed(table, set))
        }
    };
    match from {
        None => format!("{head}VALUES ({}){tail}", values.join(", ")),
        Some(from) => format!("{head}SELECT {} FROM {from}{tail}", values.join(", ")),
    }
}

/// Whether a conflicting row of `table` differs from the new one in one of `columns`.
fn changed(table: &str, columns: &[&str]) -> String {
    let differs: Vec<String> = columns.iter().map(|c| format!("{table}.{c} IS DISTINCT FROM excluded.{c}")).collect();
    format!("({})", differs.join(" OR "))
}

fn update<'a>(key: &[&str], set: impl Iterator<Item = &'a &'static str>) -> String {
    let set: Vec<String> = set.map(|c| format!("{c} = excluded.{c}")).collect();
    format!(" ON CONFLICT ({}) DO UPDATE SET {}", key.join(", "), set.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_are_written_once_for_both_dialects() {
        let r = Rows {
            table: "t",
            columns: &["id", "a"],
            on_conflict: OnConflict::Update(&["id"]),
            rows: vec![],
            receipt_of: None,
        };
        let sqlite = insert_sql(&r, &["$1".into(), "$2".into()], None);
        assert_eq!(sqlite, "INSERT INTO t (id, a) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET a = excluded.a");
        let watched = Rows { on_conflict: OnConflict::UpdateIfChanged(&["id"], &["a"]), ..r.clone() };
        assert_eq!(
            insert_sql(&watched, &["$1".into(), "$2".into()], None),
            "INSERT INTO t (id, a) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET a = excluded.a \
             WHERE (t.a IS DISTINCT FROM excluded.a)"
        );
        let events = Rows { receipt_of: Some((1, 0)), on_conflict: OnConflict::Insert, ..r };
        let pg = insert_sql(&events, &["e".into(), "k".into()], Some("UNNEST($1::text[], $2::text[]) AS x(e, k)"));
        assert_eq!(
            pg,
            "INSERT INTO t (id, a, received_at) SELECT e, k, \
             (SELECT received_at FROM event_receipts WHERE doc_id = k AND event_id = e) \
             FROM UNNEST($1::text[], $2::text[]) AS x(e, k)"
        );
    }
}
