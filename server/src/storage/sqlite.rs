//! The embedded SQLite store of the relay (the default): one file in the data directory, WAL mode,
//! one writer connection and a small pool of readers. The storage logic is `store`'s; this is how to
//! reach SQLite ([`Backend`]) and how to run statements and plans on it ([`Db`]).

use super::db::{Backend, Db, Dialect, Query, Row, Value, sqlite_sql};
use super::plan::{self, Step};
use super::schema::{self, SIGN_IN_TABLES, TABLES};
use super::{Result, StorageError};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior, params_from_iter};
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The schema version of a fresh database (`PRAGMA user_version`).
pub const VERSION: i64 = 13;

/// The statements that bring a database of version `i + 1` to version `i + 2` (in `schema`'s spelling).
const MIGRATIONS: &[&[&str]] = &[
    // 2: which relay instance stored each change, so that a write computed from an outdated copy
    // of a document is refused (see `DocWrite::base_seq`).
    &["ALTER TABLE changes ADD COLUMN writer TEXT NOT NULL DEFAULT '';"],
    // 3: failed sign-ins under fixed-length hashed keys (they stored whole logins), the logins known
    // at an address, and dashboard sessions apart from device tokens.
    &["DROP TABLE sign_in_failures;", SIGN_IN_TABLES],
    // 4: who accepted a problem's resolution (the enterprise, a call-back, nobody in time) and the
    // first deadline it missed.
    &["ALTER TABLE problems ADD COLUMN confirmation TEXT;", "ALTER TABLE problems ADD COLUMN missed_deadline BIGINT;"],
    // 5: see `schema::RECEIPTS_BY_DOCUMENT`.
    schema::RECEIPTS_BY_DOCUMENT,
    // 6: see `schema::USER_DETAILS`.
    schema::USER_DETAILS,
    // 7: see `schema::OFFICE_SETTINGS`.
    schema::OFFICE_SETTINGS,
    // 8: see `schema::BLOB_REFS`.
    schema::BLOB_REFS,
    // 9: see `schema::PHOTO_REFS`.
    schema::PHOTO_REFS_FROM_BLOB_REFS,
    // 10: see `schema::POLICY_REACH`.
    schema::POLICY_REACH,
    // 11: see `schema::PROVINCE_SCALE`.
    schema::PROVINCE_SCALE,
    // 12: see `schema::ENTERPRISE_WEB`.
    schema::ENTERPRISE_WEB,
    // 13: nothing here (PostgreSQL's sequence numbers, see `postgres::NUMBERING`): the single writer
    // numbers changes with counter `seq`.
    &[],
];

pub struct SqliteStorage {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
    /// This instance's name in `changes.writer`.
    writer_id: String,
    checkpoints: Arc<Checkpoints>,
    checkpointer: Option<std::thread::JoinHandle<()>>,
}

/// Checkpoints (copying the WAL's pages into the database file) run on a thread of the store's own,
/// beside the writer rather than in it: SQLite's automatic checkpoint would run in the committing
/// connection, holding every commit waiting behind it for its writes and flushes, after every 1,000
/// pages. Here the writer's connection checkpoints only if the WAL passes [`BACKSTOP_PAGES`] (the
/// thread fell behind), and the thread copies what the commits of the last [`CHECKPOINT_EVERY`]
/// wrote (a page written by several commits meanwhile is copied once). Durability is the WAL's: a
/// commit is flushed to it before it is acknowledged, whenever its pages reach the database file.
struct Checkpoints {
    /// Commits since the store opened, and whether it is closing.
    state: Mutex<(u64, bool)>,
    wake: Condvar,
}

/// How often the checkpoint thread copies the WAL into the database file while commits arrive.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// The WAL's size (pages) at which the writer checkpoints itself, should the thread fall behind.
const BACKSTOP_PAGES: i64 = 25_000;

impl Checkpoints {
    fn committed(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 += 1;
        self.wake.notify_one();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.wake.notify_one();
    }

    /// The checkpoint thread: once commits arrived, waits out the interval, then copies what the
    /// WAL holds (PASSIVE: without waiting for readers or the writer); until the store closes.
    fn run(&self, conn: Connection) {
        let mut done = 0;
        let mut last = Instant::now();
        loop {
            {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                while state.0 == done && !state.1 {
                    state = self.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                if state.1 {
                    return;
                }
                done = state.0;
            }
            // Waits out the interval, unless the store closes meanwhile.
            let due = last + CHECKPOINT_EVERY;
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if state.1 {
                    return;
                }
                let now = Instant::now();
                if now >= due {
                    break;
                }
                state = self.wake.wait_timeout(state, due - now).unwrap_or_else(|p| p.into_inner()).0;
            }
            drop(state);
            last = Instant::now();
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!("checkpointing the relay's database: {e}");
            }
        }
    }
}

/// Reader connections kept open for reuse (opening one reads the schema: ~0.5 ms); as many as the
/// sync requests served at once on a 2-core machine.
const MAX_IDLE_READERS: usize = 32;
/// The writer connection's page cache, KiB.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // First, so that the pragmas below wait for a busy database instead of failing.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // 1 MiB of page cache per connection (the default is 2 MiB): the operating system caches the
    // file anyway, and the relay's memory should not grow with its connections.
    conn.pragma_update(None, "cache_size", -1024)?;
    conn.set_prepared_statement_cache_capacity(64);
    // `rarray`, for list parameters.
    rusqlite::vtab::array::load_module(&conn)?;
    Ok(conn)
}

impl SqliteStorage {
    /// Opens (creating if needed) `relay.db` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<SqliteStorage> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StorageError::Corrupt(format!("cannot create {}: {e}", data_dir.display())))?;
        let path = data_dir.join("relay.db");
        let mut conn = open_conn(&path)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > VERSION {
            return Err(StorageError::Corrupt(format!("relay database version {version} is newer than {VERSION}")));
        }
        if version < VERSION {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let steps: Vec<&str> = match version {
                0 => [TABLES, SIGN_IN_TABLES]
                    .into_iter()
                    .chain(schema::OFFICE_SETTINGS.iter().copied())
                    .chain(schema::PHOTO_REFS.iter().copied())
                    .chain(schema::POLICY_REACH.iter().copied())
                    .chain(schema::PROVINCE_SCALE.iter().copied())
                    .chain(schema::ENTERPRISE_WEB.iter().copied())
                    .collect(),
                v => MIGRATIONS[v as usize - 1..]
                    .iter()
                    .flat_map(|m| m.iter().copied())
                    .chain((v < schema::REPROJECT_BELOW).then_some(schema::ASK_REPROJECT))
                    .collect(),
            };
            for sql in steps {
                tx.execute_batch(&schema::create(sql, Dialect::Sqlite))?;
            }
            tx.execute_batch(&schema::calendar_months())?;
            tx.pragma_update(None, "user_version", VERSION)?;
            tx.commit()?;
        }
        let writer_id = uuid::Uuid::now_v7().to_string();
        conn.pragma_update(None, "wal_autocheckpoint", BACKSTOP_PAGES)?;
        // The writer keeps the pages its commits touch (the indexes' upper levels, the counters, the
        // latest rows): with the readers' 1 MiB it read most of them back at every commit.
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        let checkpoints = Arc::new(Checkpoints { state: Mutex::new((0, false)), wake: Condvar::new() });
        let (copier, c) = (open_conn(&path)?, checkpoints.clone());
        let checkpointer = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || c.run(copier))
            .map_err(|e| StorageError::Corrupt(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(SqliteStorage {
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path,
            writer_id,
            checkpoints,
            checkpointer: Some(checkpointer),
        })
    }
}

impl Drop for SqliteStorage {
    /// Stops the checkpoint thread and waits for it: its connection is closed when the store is.
    fn drop(&mut self) {
        self.checkpoints.close();
        if let Some(t) = self.checkpointer.take() {
            let _ = t.join();
        }
    }
}

impl Backend for SqliteStorage {
    fn read<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        self.snapshot(f)
    }

    fn snapshot<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        // A read transaction: every query of `f` sees the same snapshot.
        conn.prepare_cached("BEGIN")?.execute([])?;
        let out = f(&mut SqliteDb(&conn));
        let _ = conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([]));
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        out
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = rusqlite::Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)?;
        let out = f(&mut SqliteDb(&tx))?;
        tx.commit()?;
        self.checkpoints.committed();
        Ok(out)
    }

    fn writer_id(&self) -> &str {
        &self.writer_id
    }
}

/// A SQLite connection running the shared statements (rewritten by `sqlite_sql`).
struct SqliteDb<'a>(&'a Connection);

impl SqliteDb<'_> {
    fn statement(&self, sql: &str) -> Result<rusqlite::CachedStatement<'_>> {
        Ok(self.0.prepare_cached(&sqlite_sql(sql))?)
    }
}

impl Db for SqliteDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query_many(&mut self, queries: Vec<Query<'_>>) -> Result<Vec<Vec<Row>>> {
        let mut out = Vec::with_capacity(queries.len());
        for (sql, params) in queries {
            let mut stmt = self.statement(sql)?;
            let n = stmt.column_count();
            let mut rows = stmt.query(params_from_iter(&params))?;
            let mut answer = Vec::new();
            while let Some(r) = rows.next()? {
                answer.push(Row((0..n).map(|i| r.get_ref(i).map(value)).collect::<rusqlite::Result<_>>()?));
            }
            out.push(answer);
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64> {
        Ok(self.statement(sql)?.execute(params_from_iter(&params))? as u64)
    }

    /// Every step in order, a statement per row.
    fn run(&mut self, steps: &[Step]) -> Result<()> {
        for step in steps {
            match step {
                Step::Rows(r) => {
                    let placeholders: Vec<String> = (1..=r.columns.len()).map(|i| format!("${i}")).collect();
                    let mut insert = self.statement(&plan::insert_sql(r, &placeholders, None))?;
                    for row in &r.rows {
                        insert.execute(params_from_iter(row))?;
                    }
                }
                Step::Exec { sql, params, must_change, .. } => {
                    if self.execute(sql, params.clone())? == 0 && *must_change {
                        return Err(StorageError::Corrupt(format!("nothing to change: {sql} {:?}", params.first())));
                    }
                }
            }
        }
        Ok(())
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Text(None),
        ValueRef::Integer(i) => Value::Int(Some(i)),
        ValueRef::Real(f) => Value::Int(Some(f as i64)),
        ValueRef::Text(t) => Value::Text(Some(String::from_utf8_lossy(t).into_owned())),
        ValueRef::Blob(b) => Value::Blob(Some(b.to_vec())),
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let list = |v: Vec<rusqlite::types::Value>| ToSqlOutput::Array(Rc::new(v));
        Ok(match self {
            Value::Text(Some(t)) => ToSqlOutput::from(t.as_str()),
            Value::Int(Some(i)) => ToSqlOutput::from(*i),
            Value::Bool(b) => ToSqlOutput::from(*b),
            Value::Blob(Some(b)) => ToSqlOutput::from(b.as_slice()),
            Value::Text(None) | Value::Int(None) | Value::Blob(None) => ToSqlOutput::from(rusqlite::types::Null),
            Value::Texts(v) => list(v.iter().map(|t| t.clone().into()).collect()),
            Value::Blobs(v) => list(v.iter().map(|b| b.clone().into()).collect()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::RelayStorage;

    /// Tables and indexes with their columns, as SQLite describes them.
    fn shape(conn: &Connection) -> Vec<String> {
        let names: Vec<(String, String)> = conn
            .prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut out = Vec::new();
        for (kind, name) in names {
            let pragma = if kind == "table" { "table_info" } else { "index_xinfo" };
            let cols: Vec<String> = conn
                .prepare(&format!("SELECT * FROM pragma_{pragma}('{name}')"))
                .unwrap()
                .query_map([], |r| {
                    let n = r.as_ref().column_count();
                    Ok((0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join(" "))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            out.push(format!("{kind} {name}: {}", cols.join(" | ")));
        }
        out
    }

    #[test]
    fn every_old_version_upgrades_to_the_fresh_schema() {
        let fresh_dir = tempfile::tempdir().unwrap();
        drop(SqliteStorage::open(fresh_dir.path()).unwrap());
        let fresh = Connection::open(fresh_dir.path().join("relay.db")).unwrap();

        for old in 1..VERSION {
            let old_dir = tempfile::tempdir().unwrap();
            {
                // Version 1 as it was shipped, brought to `old` by the migrations of its time.
                let conn = Connection::open(old_dir.path().join("relay.db")).unwrap();
                conn.execute_batch(include_str!("sqlite_v1.sql")).unwrap();
                for m in MIGRATIONS[..old as usize - 1].iter().flat_map(|m| m.iter()) {
                    conn.execute_batch(&schema::create(m, Dialect::Sqlite)).unwrap();
                }
                conn.pragma_update(None, "user_version", old).unwrap();
                conn.execute(
                    "INSERT INTO changes (seq, doc_id, hash, bytes, user_id, device_id, received_at)
                     VALUES (1, 'e1', x'01', x'02', 'u', 'd', 5)",
                    [],
                )
                .unwrap();
                // Failures were stored by login until version 3.
                let failure = if old < 3 { "login" } else { "key" };
                conn.execute(&format!("INSERT INTO sign_in_failures ({failure}, at) VALUES ('someone', 5)"), [])
                    .unwrap();
                if old == 8 {
                    // A visit's photo, named in version 8 by the visit and its recording time.
                    conn.execute_batch(
                        "INSERT INTO visits (id, enterprise_id, cadre_id, date, recorded_at, event_id, received_at)
                             VALUES ('v1', 'e1', 'c1', '2026-12-01', 7, 'ev1', 9);
                         INSERT INTO blob_refs (sha256, doc_id, size, visit_id, cadre_id, recorded_at)
                             VALUES ('ab', 'e1', 3, 'v1', 'c1', 7);",
                    )
                    .unwrap();
                }
            }
            let upgraded = SqliteStorage::open(old_dir.path()).unwrap();
            let conn = Connection::open(old_dir.path().join("relay.db")).unwrap();
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
            assert_eq!(version, VERSION);
            assert_eq!(shape(&conn), shape(&fresh), "from version {old}");
            // The old change is still there.
            assert_eq!(upgraded.changes_after("e1", 0).unwrap(), [(1, vec![2])]);
            if old == 8 {
                // The photo is named by the visit's event, received when the visit was.
                let row: (String, String, String, i64, String, i64) = conn
                    .query_row(
                        "SELECT sha256, doc_id, event_id, size, author_id, received_at FROM photo_refs",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                    )
                    .unwrap();
                assert_eq!(row, ("ab".into(), "e1".into(), "ev1".into(), 3, "c1".into(), 9));
            }
        }
    }
}
