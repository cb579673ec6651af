//! Row access for the device store: documents and their changes, pending (unacknowledged) changes,
//! the directory and the index tables. Every function takes a connection or transaction; the caller
//! (`store`) decides the transaction boundaries.

pub mod blobs;
pub mod crypto;
pub mod schema;
pub mod search;

use crate::document::Document;
use crate::domain::{
    Calendar, CalendarDay, Department, Directory, DirectoryLookup, DocKind, EnterpriseState, OfficeSettings,
    ProblemState, Region, Role, TaskNoticeState, User,
};
use crate::error::{Error, Result};
use automerge::ReadDoc;
use rusqlite::{Connection, OptionalExtension, params};

/// Compact a document once this many changes are stored beside its snapshot.
pub const COMPACT_AFTER: i64 = 64;

pub fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

pub fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

/// Reads a document: its snapshot with every change stored since.
pub fn load_document(conn: &Connection, id: &str) -> Result<Option<(DocKind, Document)>> {
    let row: Option<(String, Option<Vec<u8>>)> = conn
        .query_row("SELECT kind, snapshot FROM documents WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((kind, snapshot)) = row else { return Ok(None) };
    let kind = DocKind::parse(&kind).ok_or_else(|| Error::Corrupt(format!("document {id} has kind {kind}")))?;
    let mut doc = match snapshot {
        Some(bytes) => automerge::Automerge::load(&bytes)?,
        None => automerge::Automerge::new(),
    };
    let mut stmt = conn.prepare_cached("SELECT bytes FROM document_changes WHERE doc_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([id])?;
    let mut buf = Vec::new();
    while let Some(row) = rows.next()? {
        buf.extend_from_slice(row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?);
    }
    if !buf.is_empty() {
        doc.load_incremental(&buf)?;
    }
    Ok(Some((kind, Document::from_automerge(doc))))
}

/// Stores changes (or whole-document chunks) of a document, compacting it when enough have piled up.
pub fn store_changes(conn: &Connection, id: &str, kind: DocKind, doc: &Document, chunks: &[&[u8]]) -> Result<()> {
    conn.execute(
        "INSERT INTO documents (id, kind) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
        params![id, kind.as_str()],
    )?;
    let mut insert = conn.prepare_cached("INSERT INTO document_changes (doc_id, bytes) VALUES (?1, ?2)")?;
    for chunk in chunks {
        insert.execute(params![id, chunk])?;
    }
    let count: i64 = conn.query_row(
        "UPDATE documents SET change_count = change_count + ?2 WHERE id = ?1 RETURNING change_count",
        params![id, chunks.len() as i64],
        |r| r.get(0),
    )?;
    if count >= COMPACT_AFTER {
        compact(conn, id, doc)?;
    }
    Ok(())
}

/// Replaces a document's snapshot and stored changes by one snapshot of `doc`. A snapshot leaves out
/// changes still waiting for their dependencies, so a document holding such changes is left as it is.
pub fn compact(conn: &Connection, id: &str, doc: &Document) -> Result<()> {
    if !doc.automerge().get_missing_deps(&[]).is_empty() {
        return Ok(());
    }
    conn.execute("UPDATE documents SET snapshot = ?2, change_count = 0 WHERE id = ?1", params![id, doc.save()])?;
    conn.execute("DELETE FROM document_changes WHERE doc_id = ?1", [id])?;
    Ok(())
}

pub fn add_pending(conn: &Connection, id: &str, kind: DocKind, hash: &[u8], bytes: &[u8]) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO pending_changes (doc_id, kind, hash, bytes) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![id, kind.as_str(), hash, bytes])?;
    Ok(())
}

/// A local change not yet acknowledged by the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChange {
    pub seq: i64,
    pub doc_id: String,
    pub kind: DocKind,
    pub hash: Vec<u8>,
    pub bytes: Vec<u8>,
}

pub fn pending(conn: &Connection) -> Result<Vec<PendingChange>> {
    let mut stmt = conn.prepare_cached("SELECT seq, doc_id, kind, hash, bytes FROM pending_changes ORDER BY seq")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, doc_id, kind, hash, bytes) = row?;
        let kind = DocKind::parse(&kind).ok_or_else(|| Error::Corrupt(format!("pending change of kind {kind}")))?;
        out.push(PendingChange { seq, doc_id, kind, hash, bytes });
    }
    Ok(out)
}

// ---- directory ----

pub fn import_directory(conn: &Connection, dir: &Directory) -> Result<()> {
    {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO regions (id, name, level, parent_id, path) VALUES (?1, ?2, ?3, ?4, '')
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, level = excluded.level, parent_id = excluded.parent_id",
        )?;
        for r in &dir.regions {
            stmt.execute(params![r.id, r.name, r.level.as_str(), r.parent_id])?;
        }
    }
    if !dir.regions.is_empty() {
        // Recompute every path from the parents: a region may arrive before its parent.
        conn.execute_batch(
            "WITH RECURSIVE p(id, path) AS (
                 SELECT id, id FROM regions WHERE parent_id IS NULL OR parent_id NOT IN (SELECT id FROM regions)
                 UNION ALL SELECT r.id, p.path || '/' || r.id FROM regions r JOIN p ON r.parent_id = p.id)
             UPDATE regions SET path = (SELECT path FROM p WHERE p.id = regions.id)
             WHERE id IN (SELECT id FROM p);",
        )?;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO departments (id, name, region_id) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, region_id = excluded.region_id",
    )?;
    for d in &dir.departments {
        stmt.execute(params![d.id, d.name, d.region_id])?;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO users (id, name, role, region_id, department_id, enterprise_id, mobile, position, unit)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, region_id = excluded.region_id,
             department_id = excluded.department_id, enterprise_id = excluded.enterprise_id,
             mobile = excluded.mobile, position = excluded.position, unit = excluded.unit",
    )?;
    for u in &dir.users {
        stmt.execute(params![
            u.id,
            u.name,
            u.role.as_str(),
            u.region_id,
            u.department_id,
            u.enterprise_id,
            u.mobile,
            u.position,
            u.unit
        ])?;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO office_settings (region_id, answer_days, working_days) VALUES (?1, ?2, ?3)
         ON CONFLICT (region_id) DO UPDATE SET answer_days = excluded.answer_days, working_days = excluded.working_days",
    )?;
    for o in &dir.settings {
        stmt.execute(params![o.region_id, o.answer_days, o.working_days])?;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO calendar_days (date, working, name) VALUES (?1, ?2, ?3)
         ON CONFLICT (date) DO UPDATE SET working = excluded.working, name = excluded.name",
    )?;
    for d in &dir.calendar {
        stmt.execute(params![d.date, d.working, d.name])?;
    }
    Ok(())
}

/// The settings the office of a region chose, if any (see [`DirectoryLookup::office_settings`]).
pub fn office_settings(conn: &Connection, region_id: &str) -> rusqlite::Result<Option<OfficeSettings>> {
    conn.prepare_cached("SELECT region_id, answer_days, working_days FROM office_settings WHERE region_id = ?1")?
        .query_row([region_id], |r| {
            Ok(OfficeSettings { region_id: r.get(0)?, answer_days: r.get(1)?, working_days: r.get(2)? })
        })
        .optional()
}

/// The holiday calendar this device holds.
pub fn calendar(conn: &Connection) -> rusqlite::Result<Calendar> {
    let days = conn
        .prepare_cached("SELECT date, working, name FROM calendar_days")?
        .query_map([], |r| Ok(CalendarDay { date: r.get(0)?, working: r.get(1)?, name: r.get(2)? }))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Calendar::new(&days))
}

/// The path of a region (see [`DirectoryLookup::region_path`]); `None` only when there is no such row.
pub fn region_path(conn: &Connection, region_id: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT path FROM regions WHERE id = ?1")?.query_row([region_id], |r| r.get(0)).optional()
}

pub fn department(conn: &Connection, id: &str) -> rusqlite::Result<Option<Department>> {
    conn.prepare_cached("SELECT id, name, region_id FROM departments WHERE id = ?1")?
        .query_row([id], |r| Ok(Department { id: r.get(0)?, name: r.get(1)?, region_id: r.get(2)? }))
        .optional()
}

pub fn user(conn: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id], user_from_row)
        .optional()
}

/// A user's name, if the directory holds the user.
pub fn user_name(conn: &Connection, id: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT name FROM users WHERE id = ?1")?.query_row([id], |r| r.get(0)).optional()
}

/// A department's name, if the directory holds the department.
pub fn department_name(conn: &Connection, id: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT name FROM departments WHERE id = ?1")?.query_row([id], |r| r.get(0)).optional()
}

/// The directory as held in a connection, for the rules. [`DirectoryLookup`] answers `Option`, and
/// the rules make a `None` into "not found"; so a failed read is kept here, and [`SqlDirectory::check`]
/// turns the rules' answer into the storage error it really was.
pub struct SqlDirectory<'a> {
    conn: &'a Connection,
    failure: std::cell::RefCell<Option<rusqlite::Error>>,
}

impl<'a> SqlDirectory<'a> {
    pub fn new(conn: &'a Connection) -> Self {
        SqlDirectory { conn, failure: Default::default() }
    }

    /// The rules' answer `r`, reached with this directory; a read that failed on the way makes it a
    /// storage error instead (only a missing row is "not found").
    pub fn check<T>(&self, r: std::result::Result<T, crate::domain::DomainError>) -> Result<T> {
        if let Some(e) = self.failure.take() {
            return Err(Error::Storage(e));
        }
        Ok(r?)
    }

    fn read<T>(&self, r: rusqlite::Result<Option<T>>) -> Option<T> {
        r.unwrap_or_else(|e| {
            self.failure.borrow_mut().get_or_insert(e);
            None
        })
    }
}

impl DirectoryLookup for SqlDirectory<'_> {
    fn region_path(&self, region_id: &str) -> Option<String> {
        self.read(region_path(self.conn, region_id))
    }
    fn department(&self, id: &str) -> Option<Department> {
        self.read(department(self.conn, id))
    }
    fn user(&self, id: &str) -> Option<User> {
        self.read(user(self.conn, id))
    }
    fn office_settings(&self, region_id: &str) -> Option<OfficeSettings> {
        self.read(office_settings(self.conn, region_id))
    }
    fn region_name(&self, region_id: &str) -> Option<String> {
        let name = self.conn.query_row("SELECT name FROM regions WHERE id = ?1", [region_id], |r| r.get(0)).optional();
        self.read(name)
    }
}

/// The columns [`user_from_row`] reads, in its order.
pub const USER_COLUMNS: &str = "id, name, role, region_id, department_id, enterprise_id, mobile, position, unit";

pub fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::from_stored(&role),
        region_id: r.get(3)?,
        department_id: r.get(4)?,
        enterprise_id: r.get(5)?,
        mobile: r.get(6)?,
        position: r.get(7)?,
        unit: r.get(8)?,
    })
}

pub fn region(conn: &Connection, id: &str) -> Result<Option<Region>> {
    Ok(conn
        .query_row("SELECT id, name, level, parent_id FROM regions WHERE id = ?1", [id], |r| {
            let level: String = r.get(2)?;
            Ok(Region {
                id: r.get(0)?,
                name: r.get(1)?,
                level: crate::domain::RegionLevel::from_stored(&level),
                parent_id: r.get(3)?,
            })
        })
        .optional()?)
}

// ---- index tables ----

/// Writes an enterprise's row and assignments, and the given visits (visits never change once written).
pub fn index_enterprise(
    conn: &Connection,
    id: &str,
    s: &EnterpriseState,
    new_visits: &[crate::domain::Visit],
) -> Result<()> {
    let p = &s.profile;
    let last_visit = s.visits.iter().map(|v| v.record.date.as_str()).max();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO enterprises (id, name, uscc, region_id, industry, tags, address, visit_count,
             last_visit_date, updated_at, employees, revenue, founded)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        id,
        p.name,
        p.uscc,
        p.region_id,
        p.industry,
        p.tags.join(","),
        p.address,
        s.visits.len() as i64,
        last_visit,
        s.updated_at,
        p.scale.employees,
        p.scale.revenue.map(|r| r as i64),
        p.scale.founded,
    ])?;
    conn.prepare_cached("DELETE FROM enterprise_policies WHERE enterprise_id = ?1")?.execute([id])?;
    let mut ins = conn.prepare_cached(
        "INSERT INTO enterprise_policies (policy_id, enterprise_id, told, mark) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (policy_id, told, mark) in s.policy_knowledge() {
        ins.execute(params![policy_id, id, told, mark])?;
    }
    conn.prepare_cached("DELETE FROM assignments WHERE enterprise_id = ?1")?.execute([id])?;
    let mut ins =
        conn.prepare_cached("INSERT INTO assignments (cadre_id, enterprise_id, chief, since) VALUES (?1, ?2, ?3, ?4)")?;
    for a in &s.assignments {
        ins.execute(params![a.cadre_id, id, a.chief, a.since])?;
    }
    let mut ins = conn.prepare_cached(
        "INSERT OR IGNORE INTO visits (id, enterprise_id, cadre_id, date, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for v in new_visits {
        ins.execute(params![v.record.id, id, v.cadre_id, v.record.date, v.recorded_at])?;
    }
    blobs::queue_referenced(conn, s.visits.iter().flat_map(|v| &v.record.photos))?;
    search::index_enterprise(conn, id, s)
}

pub struct ProblemHeader<'a> {
    pub enterprise_name: &'a str,
    pub region_id: &'a str,
}

pub fn index_problem(
    conn: &Connection,
    id: &str,
    h: &ProblemHeader<'_>,
    s: &ProblemState,
    conflicts: usize,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO problems (id, enterprise_id, enterprise_name, region_id, category, title, status, level,
             department_id, deadline, reported_by, reported_at, resolved_at, rating, urge_count, follow_up_count,
             conflict_count, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?
    .execute(params![
        id,
        s.enterprise_id,
        h.enterprise_name,
        h.region_id,
        s.category.as_str(),
        s.title,
        s.status.as_str(),
        s.level,
        s.department_id,
        s.deadline,
        s.reported_by,
        s.reported_at,
        s.resolved_at,
        s.rating,
        s.urge_count,
        s.follow_up_count,
        conflicts as i64,
        s.updated_at
    ])?;
    Ok(())
}

/// Writes a policy's row (and its search row).
pub fn index_policy(conn: &Connection, id: &str, s: &crate::domain::PolicyState) -> Result<()> {
    let p = &s.policy;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO policies (id, region_id, title, issuer, doc_number, summary, valid_from, valid_until,
             withdrawn, criteria, excludes, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        id,
        s.region_id,
        p.title,
        p.issuer,
        p.doc_number,
        p.summary,
        p.valid_from,
        p.valid_until,
        s.withdrawn_at.is_some(),
        to_json(&p.criteria),
        to_json(&p.excludes),
        s.updated_at
    ])?;
    search::index_policy(conn, id, s)
}

/// A value written into an index row as JSON.
fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

pub fn index_task_notice(conn: &Connection, id: &str, s: &TaskNoticeState) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO task_notices (id, title, region_id, issued_by, issued_at, deadline, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![id, s.title, s.region_id, s.issued_by, s.issued_at, s.deadline, s.status()])?;
    let mut ins = conn.prepare_cached(
        "INSERT OR REPLACE INTO task_recipients (notice_id, recipient, acknowledged_at, completed_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for r in &s.recipients {
        ins.execute(params![id, r.recipient.key(), r.acknowledged_at, r.completed_at])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error::{DomainError, Entity};

    #[test]
    fn only_a_missing_row_is_not_found() {
        let mut conn = Connection::open_in_memory().unwrap();
        // No tables yet: every read fails, and that is a storage error, not "not found".
        assert!(region_path(&conn, "410102").is_err());
        assert!(user_name(&conn, "cadre-1").is_err());
        let dir = SqlDirectory::new(&conn);
        assert_eq!(dir.region_path("410102"), None);
        let missing = Err::<(), _>(DomainError::NotFound { what: Entity::Region, id: "410102".into() });
        assert!(matches!(dir.check(missing.clone()), Err(Error::Storage(_))));
        // With the schema, a missing row is "not found", as the rules said.
        schema::prepare(&mut conn).unwrap();
        assert_eq!(region_path(&conn, "410102").unwrap(), None);
        let dir = SqlDirectory::new(&conn);
        assert_eq!(dir.region_path("410102"), None);
        assert!(matches!(dir.check(missing), Err(Error::Domain(DomainError::NotFound { what: Entity::Region, .. }))));
    }

    #[test]
    fn an_unknown_role_read_back_is_kept_not_made_a_cadre() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::prepare(&mut conn).unwrap();
        conn.execute("INSERT INTO users (id, name, role) VALUES ('auditor-1', '审计员', 'auditor')", []).unwrap();
        let u = user(&conn, "auditor-1").unwrap().unwrap();
        assert_eq!(u.role, Role::Unknown("auditor"));
        assert_eq!(u.role.as_str(), "auditor");
    }
}
