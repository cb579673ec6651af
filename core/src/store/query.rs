//! The store's queries: lists from the index tables, details from the documents.

use super::views::*;
use super::{Inner, Store};
use crate::domain::event::fold;
use crate::domain::problem::{ACCEPTANCE_LIMIT_MS, is_overdue};
use crate::domain::{
    Category, Department, DocKind, Event, ProblemAction, ProblemState, ProblemStatus, Recipient, Region, RegionLevel,
    Role, TaskNoticeAction, TaskNoticeState, User,
};
use crate::error::{Entity, Error, Result};
use crate::storage;
use rusqlite::{OptionalExtension, params_from_iter, types::Value};

/// [`is_overdue`] as an SQL condition on `problems p`, with its parameters.
fn overdue_sql(now: i64) -> (&'static str, Vec<Value>) {
    (
        "((p.status = 'routed' AND p.deadline < ?) OR (p.status IN ('reported', 'accepted') AND p.reported_at < ?))",
        vec![Value::Integer(now), Value::Integer(now - ACCEPTANCE_LIMIT_MS)],
    )
}

const PROBLEM_COLUMNS: &str = "p.id, p.enterprise_id, p.enterprise_name, p.category, p.title, p.status, p.level, \
     p.department_id, d.name, p.deadline, p.reported_at, p.resolved_at, p.rating, p.urge_count, p.conflict_count, p.updated_at";

fn problem_from_row(r: &rusqlite::Row<'_>, now: i64) -> rusqlite::Result<ProblemSummary> {
    let category: String = r.get(3)?;
    let status: String = r.get(5)?;
    let status = ProblemStatus::parse(&status).unwrap_or_default();
    let deadline: Option<i64> = r.get(9)?;
    Ok(ProblemSummary {
        id: r.get(0)?,
        enterprise_id: r.get(1)?,
        enterprise_name: r.get(2)?,
        category: Category::from_stored(&category),
        title: r.get(4)?,
        status,
        level: r.get(6)?,
        department_id: r.get(7)?,
        department_name: r.get(8)?,
        deadline,
        reported_at: r.get(10)?,
        resolved_at: r.get(11)?,
        rating: r.get(12)?,
        urge_count: r.get(13)?,
        overdue: is_overdue(status, r.get(10)?, deadline, now),
        conflict_count: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

impl Inner {
    /// SQL condition (with its parameters) selecting problems waiting for the signed-in user.
    fn awaiting_me_sql(&self, now: i64) -> (String, Vec<Value>) {
        let id = &self.identity;
        let me = Value::Text(id.user_id.clone());
        match id.role {
            Role::Cadre => (
                "(p.enterprise_id IN (SELECT enterprise_id FROM assignments WHERE cadre_id = ?) \
                 AND (p.status = 'reported' OR (p.status = 'closed' AND p.follow_up_count = 0)))"
                    .into(),
                vec![me],
            ),
            Role::DepartmentHandler => (
                "(p.status = 'routed' AND p.department_id = ?)".into(),
                vec![Value::Text(id.department_id.clone().unwrap_or_default())],
            ),
            Role::Manager => {
                let (overdue, args) = overdue_sql(now);
                (format!("(p.status IN ('reported', 'accepted', 'confirmed') OR {overdue})"), args)
            }
            Role::EnterpriseContact => (
                "(p.status = 'resolved' AND p.enterprise_id = ?)".into(),
                vec![Value::Text(id.enterprise_id.clone().unwrap_or_default())],
            ),
            // A role of a newer version takes no step here.
            Role::Unknown(_) => ("0".into(), vec![]),
        }
    }

    fn problems(&self, f: &ProblemFilter) -> Result<Vec<ProblemSummary>> {
        let now = self.now();
        let mut conds: Vec<String> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        if !f.statuses.is_empty() {
            conds.push(format!("p.status IN ({})", vec!["?"; f.statuses.len()].join(",")));
            args.extend(f.statuses.iter().map(|s| Value::Text(s.as_str().into())));
        }
        if let Some(level) = f.level {
            conds.push("p.level = ?".into());
            args.push(Value::Integer(level.into()));
        }
        if let Some(d) = &f.department_id {
            conds.push("p.department_id = ?".into());
            args.push(Value::Text(d.clone()));
        }
        if let Some(e) = &f.enterprise_id {
            conds.push("p.enterprise_id = ?".into());
            args.push(Value::Text(e.clone()));
        }
        if let Some(c) = f.category {
            conds.push("p.category = ?".into());
            args.push(Value::Text(c.as_str().into()));
        }
        if f.overdue {
            let (overdue, a) = overdue_sql(now);
            conds.push(overdue.into());
            args.extend(a);
        }
        if f.awaiting_me {
            let (sql, a) = self.awaiting_me_sql(now);
            conds.push(sql);
            args.extend(a);
        }
        let filter = if conds.is_empty() { String::new() } else { format!("WHERE {}", conds.join(" AND ")) };
        let order = if f.overdue { "p.deadline ASC" } else { "p.updated_at DESC" };
        let limit = f.limit.map_or(String::new(), |l| format!(" LIMIT {l}"));
        let sql = format!(
            "SELECT {PROBLEM_COLUMNS} FROM problems p LEFT JOIN departments d ON d.id = p.department_id {filter} ORDER BY {order}, p.id{limit}"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| problem_from_row(r, now))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn problem_summary(&self, id: &str) -> Result<Option<ProblemSummary>> {
        let now = self.now();
        let sql = format!(
            "SELECT {PROBLEM_COLUMNS} FROM problems p LEFT JOIN departments d ON d.id = p.department_id WHERE p.id = ?1"
        );
        Ok(self.conn.prepare_cached(&sql)?.query_row([id], |r| problem_from_row(r, now)).optional()?)
    }

    fn count(&self, sql: &str, args: Vec<Value>) -> Result<u32> {
        Ok(self.conn.prepare_cached(sql)?.query_row(params_from_iter(args), |r| r.get(0))?)
    }
}

impl Store {
    /// The enterprises the user works with: a cadre's assigned ones, everything held for other roles.
    pub fn my_enterprises(&self) -> Result<Vec<EnterpriseSummary>> {
        let inner = self.lock();
        let (filter, args) = if inner.identity.role == Role::Cadre {
            (
                "WHERE e.id IN (SELECT enterprise_id FROM assignments WHERE cadre_id = ?1)",
                vec![inner.identity.user_id.clone()],
            )
        } else {
            ("", vec![])
        };
        let sql = format!(
            "SELECT e.id, e.name, e.uscc, e.region_id, e.industry, e.tags, e.address, e.visit_count, e.last_visit_date,
                    (SELECT COUNT(*) FROM problems p WHERE p.enterprise_id = e.id AND p.status NOT IN ('closed', 'withdrawn', 'merged'))
             FROM enterprises e {filter} ORDER BY e.name, e.id"
        );
        let mut stmt = inner.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            let tags: String = r.get(5)?;
            Ok(EnterpriseSummary {
                id: r.get(0)?,
                name: r.get(1)?,
                uscc: r.get(2)?,
                region_id: r.get(3)?,
                industry: r.get(4)?,
                tags: tags.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
                address: r.get(6)?,
                visit_count: r.get(7)?,
                last_visit_date: r.get(8)?,
                open_problems: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// An enterprise with its assigned cadres, visits (newest first) and problems.
    pub fn enterprise(&self, id: &str) -> Result<EnterpriseDetail> {
        let mut inner = self.lock();
        let state = inner.enterprise(id)?.clone();
        let problems = inner.problems(&ProblemFilter { enterprise_id: Some(id.into()), ..Default::default() })?;
        let conn = &inner.conn;
        let mut visits: Vec<VisitView> = state
            .visits
            .iter()
            .map(|v| -> Result<VisitView> {
                Ok(VisitView {
                    id: v.record.id.clone(),
                    cadre_id: v.cadre_id.clone(),
                    cadre_name: storage::user_name(conn, &v.cadre_id)?,
                    date: v.record.date.clone(),
                    people_met: v.record.people_met.clone(),
                    notes: v.record.notes.clone(),
                    policies: v.record.policies.clone(),
                    policy_ids: v.record.policy_ids.clone(),
                    location: v.record.location,
                    photos: v.record.photos.clone(),
                    recorded_at: v.recorded_at,
                    corrections: v.corrections.clone(),
                })
            })
            .collect::<Result<_>>()?;
        visits.sort_by(|a, b| b.date.cmp(&a.date).then(b.recorded_at.cmp(&a.recorded_at)));
        Ok(EnterpriseDetail {
            id: id.to_owned(),
            contacts: state.profile.contacts.clone(),
            assignments: state
                .assignments
                .iter()
                .map(|a| -> Result<AssignmentView> {
                    Ok(AssignmentView {
                        cadre_id: a.cadre_id.clone(),
                        cadre: storage::user(conn, &a.cadre_id)?,
                        chief: a.chief,
                        since: a.since,
                    })
                })
                .collect::<Result<_>>()?,
            corrections: state.corrections,
            profile: state.profile,
            visits,
            problems,
        })
    }

    pub fn problems(&self, filter: &ProblemFilter) -> Result<Vec<ProblemSummary>> {
        self.lock().problems(filter)
    }

    /// A problem with its derived state and its whole timeline.
    pub fn problem(&self, id: &str) -> Result<ProblemDetail> {
        let mut inner = self.lock();
        let events: Vec<Event<ProblemAction>> = {
            let c = inner.load(id)?.ok_or_else(|| Error::not_found(Entity::Problem, id))?;
            c.doc.events()
        };
        let summary = inner.problem_summary(id)?.ok_or_else(|| Error::not_found(Entity::Problem, id))?;
        let (state, folded) = fold::<ProblemState>(events);
        let timeline = folded
            .into_iter()
            .map(|f| -> Result<TimelineEntry> {
                Ok(TimelineEntry {
                    by_name: storage::user_name(&inner.conn, &f.event.by)?,
                    event_id: f.event.id,
                    by: f.event.by,
                    role: f.event.role,
                    device: f.event.device,
                    at: f.event.at,
                    origin: f.event.origin,
                    action: f.event.action,
                    outcome: f.outcome,
                    concurrent_with: f.concurrent_with,
                })
            })
            .collect::<Result<_>>()?;
        Ok(ProblemDetail { summary, state, timeline })
    }

    /// Task notices: those addressed to the user (cadre, handler) or all held (manager), newest first.
    pub fn task_notices(&self) -> Result<Vec<TaskNoticeSummary>> {
        let ids: Vec<String> = {
            let inner = self.lock();
            let mut stmt = inner.conn.prepare_cached("SELECT id FROM task_notices ORDER BY issued_at DESC, id")?;
            stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let d = self.task_notice(&id)?;
            let addressed = d.summary.my_acknowledged.is_some();
            if addressed || !matches!(self.identity().role, Role::Cadre | Role::DepartmentHandler) {
                out.push(d.summary);
            }
        }
        Ok(out)
    }

    pub fn task_notice(&self, id: &str) -> Result<TaskNoticeDetail> {
        let mut inner = self.lock();
        let now = inner.now();
        let events: Vec<Event<TaskNoticeAction>> = {
            let c = inner.load(id)?.ok_or_else(|| Error::not_found(Entity::TaskNotice, id))?;
            c.doc.events()
        };
        let (state, folded) = fold::<TaskNoticeState>(events);
        if !state.issued {
            return Err(Error::not_found(Entity::TaskNotice, id));
        }
        let actor = inner.actor()?;
        let mine = crate::rules::recipient_for(&actor, &state).and_then(|r| state.recipient(&r).cloned());
        let conn = &inner.conn;
        let recipients: Vec<RecipientView> = state
            .recipients
            .iter()
            .map(|r| -> Result<RecipientView> {
                Ok(RecipientView {
                    name: match &r.recipient {
                        Recipient::Department(d) => storage::department_name(conn, d)?,
                        Recipient::Cadre(c) => storage::user_name(conn, c)?,
                        Recipient::Unknown { .. } => Some(crate::domain::open_enum::NEEDS_NEWER_VERSION.to_owned()),
                    },
                    recipient: r.recipient.clone(),
                    acknowledged_at: r.acknowledged_at,
                    completed_at: r.completed_at,
                    note: r.note.clone(),
                    on_time: r.completed_at.map(|c| c <= state.deadline),
                })
            })
            .collect::<Result<_>>()?;
        let completed = recipients.iter().filter(|r| r.completed_at.is_some()).count() as u32;
        let summary = TaskNoticeSummary {
            id: id.to_owned(),
            title: state.title.clone(),
            issued_by: state.issued_by.clone(),
            issued_at: state.issued_at,
            deadline: state.deadline,
            status: state.status().to_owned(),
            recipients: recipients.len() as u32,
            completed,
            my_acknowledged: mine.as_ref().map(|m| m.acknowledged_at.is_some()),
            my_completed: mine.as_ref().map(|m| m.completed_at.is_some()),
            overdue: state.deadline < now
                && mine.as_ref().map_or(completed < recipients.len() as u32, |m| m.completed_at.is_none()),
        };
        let history = folded.into_iter().map(|f| (f.event.id, f.event.action, f.outcome)).collect();
        let issued_by_name = storage::user_name(&inner.conn, &state.issued_by)?;
        Ok(TaskNoticeDetail {
            summary,
            issued_by_name,
            body: state.body,
            region_id: state.region_id,
            recipients,
            history,
        })
    }

    /// The figures of the home screen.
    pub fn home_counts(&self) -> Result<HomeCounts> {
        let inner = self.lock();
        let now = inner.now();
        let (awaiting_sql, awaiting_args) = inner.awaiting_me_sql(now);
        let recipient_keys = match inner.identity.role {
            Role::Cadre => Some(Recipient::Cadre(inner.identity.user_id.clone()).key()),
            Role::DepartmentHandler => inner.identity.department_id.clone().map(|d| Recipient::Department(d).key()),
            _ => None,
        };
        let task_notices_open = match recipient_keys {
            Some(key) => inner.count(
                "SELECT COUNT(*) FROM task_recipients WHERE recipient = ? AND completed_at IS NULL",
                vec![Value::Text(key)],
            )?,
            None => inner.count("SELECT COUNT(*) FROM task_notices WHERE status != 'completed'", vec![])?,
        };
        Ok(HomeCounts {
            open: inner
                .count("SELECT COUNT(*) FROM problems WHERE status NOT IN ('closed', 'withdrawn', 'merged')", vec![])?,
            overdue: {
                let (overdue, args) = overdue_sql(now);
                inner.count(&format!("SELECT COUNT(*) FROM problems p WHERE {overdue}"), args)?
            },
            awaiting_confirmation: inner.count("SELECT COUNT(*) FROM problems WHERE status = 'resolved'", vec![])?,
            awaiting_me: inner
                .count(&format!("SELECT COUNT(*) FROM problems p WHERE {awaiting_sql}"), awaiting_args)?,
            task_notices_open,
            unsynced_changes: inner.count("SELECT COUNT(*) FROM pending_changes", vec![])?,
        })
    }

    /// Every row of the index tables, as text, in a stable order (for checks that replicas agree).
    pub fn index_rows(&self) -> Result<Vec<String>> {
        let inner = self.lock();
        let mut out = Vec::new();
        for table in ["enterprises", "assignments", "visits", "problems", "task_notices", "task_recipients"] {
            let mut stmt = inner.conn.prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))?;
            let n = stmt.column_count();
            let rows = stmt.query_map([], |r| {
                let mut cells = Vec::with_capacity(n);
                for i in 0..n {
                    cells.push(format!("{:?}", r.get::<_, Value>(i)?));
                }
                Ok(format!("{table}: {}", cells.join(" | ")))
            })?;
            for row in rows {
                out.push(row?);
            }
        }
        Ok(out)
    }
}

/// The condition selecting rows whose region (`r`, a row of `regions`) is the one at `?1` (a path),
/// or, with `subtree`, any region within it. Plain comparisons, not `LIKE`: an id may hold `_`.
fn region_sql(subtree: bool) -> &'static str {
    if subtree { "(r.path = ?1 OR substr(r.path, 1, length(?1) + 1) = ?1 || '/')" } else { "r.path = ?1" }
}

impl Inner {
    /// The path of `region_id`, or of the signed-in user's own region when `None`: a manager's or
    /// cadre's region, a handler's department's, an enterprise contact's enterprise's.
    fn picker_path(&self, region_id: Option<&str>) -> Result<String> {
        let id = &self.identity;
        let region = match region_id {
            Some(r) => Some(r.to_owned()),
            None => match (&id.region_id, &id.department_id, &id.enterprise_id) {
                (Some(r), _, _) => Some(r.clone()),
                (None, Some(d), _) => storage::department(&self.conn, d)?.map(|d| d.region_id),
                (None, None, Some(e)) => self
                    .conn
                    .prepare_cached("SELECT region_id FROM enterprises WHERE id = ?1")?
                    .query_row([e], |r| r.get(0))
                    .optional()?,
                (None, None, None) => None,
            },
        };
        let region = region.unwrap_or_default();
        storage::region_path(&self.conn, &region)?.ok_or_else(|| Error::not_found(Entity::Region, region))
    }
}

impl Store {
    /// Every region the device's directory holds (all of them: the relay sends every region), each
    /// after its parent, from the province down: what a region picker shows as a tree.
    pub fn regions(&self) -> Result<Vec<Region>> {
        let inner = self.lock();
        let mut stmt = inner.conn.prepare_cached("SELECT id, name, level, parent_id FROM regions ORDER BY path")?;
        let rows = stmt.query_map([], |r| {
            let level: String = r.get(2)?;
            Ok(Region { id: r.get(0)?, name: r.get(1)?, level: RegionLevel::from_stored(&level), parent_id: r.get(3)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The departments (责任单位) of a region — with `subtree`, of the regions within it too — by
    /// region from the top down, then by name: what a routing picker offers (a campaign office
    /// routes to departments within its own region). `None` is the signed-in user's own region.
    pub fn departments(&self, region_id: Option<&str>, subtree: bool) -> Result<Vec<Department>> {
        let inner = self.lock();
        let path = inner.picker_path(region_id)?;
        let sql = format!(
            "SELECT d.id, d.name, d.region_id FROM departments d JOIN regions r ON r.id = d.region_id
             WHERE {} ORDER BY r.path, d.name, d.id",
            region_sql(subtree)
        );
        let mut stmt = inner.conn.prepare_cached(&sql)?;
        let rows =
            stmt.query_map([&path], |r| Ok(Department { id: r.get(0)?, name: r.get(1)?, region_id: r.get(2)? }))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The cadres of a region — with `subtree`, of the regions within it too — as the device's
    /// directory holds them (the relay sends a phone the people of its user's county, or of the
    /// region a campaign office manages, and of the regions above), by region from the top down,
    /// then by name: what an assignment or task notice picker offers. `None` is the signed-in
    /// user's own region.
    pub fn cadres(&self, region_id: Option<&str>, subtree: bool) -> Result<Vec<User>> {
        let inner = self.lock();
        let path = inner.picker_path(region_id)?;
        let sql = format!(
            "SELECT u.id, u.name, u.role, u.region_id, u.department_id, u.enterprise_id, u.mobile, u.position, u.unit
             FROM users u JOIN regions r ON r.id = u.region_id
             WHERE u.role = 'cadre' AND {} ORDER BY r.path, u.name, u.id",
            region_sql(subtree)
        );
        let mut stmt = inner.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([&path], storage::user_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The documents with local changes the relay does not hold: waiting to be pushed, or refused
    /// (in the quarantine), oldest first, each with what it is.
    pub fn unsynced(&self) -> Result<Vec<UnsyncedDocument>> {
        let inner = self.lock();
        let mut stmt = inner.conn.prepare_cached(
            "WITH c(doc_id, kind, waiting, refused, seq) AS (
                 SELECT doc_id, kind, 1, 0, seq FROM pending_changes
                 UNION ALL SELECT doc_id, kind, 0, 1, NULL FROM quarantine)
             SELECT doc_id, MIN(kind), SUM(waiting), SUM(refused),
                 COALESCE((SELECT name FROM enterprises WHERE id = doc_id), (SELECT title FROM problems WHERE id = doc_id),
                          (SELECT title FROM task_notices WHERE id = doc_id), (SELECT title FROM policies WHERE id = doc_id))
             FROM c GROUP BY doc_id ORDER BY MIN(seq) IS NULL, MIN(seq), doc_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (doc_id, kind, waiting, refused, title) = row?;
            let kind = DocKind::parse(&kind).ok_or_else(|| Error::Corrupt(format!("kind {kind}")))?;
            let status = if refused > 0 { super::DocSyncStatus::Rejected } else { super::DocSyncStatus::Waiting };
            out.push(UnsyncedDocument { doc_id, kind, status, waiting, refused, title });
        }
        Ok(out)
    }
}
