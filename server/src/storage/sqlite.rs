//! The embedded SQLite store of the relay (the default): one file in the data directory, WAL mode,
//! one writer connection and a small pool of readers.

use super::*;
use crate::storage::plan;
use crate::storage::projection::Projection;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use zhuqi_core::domain::{Department, Region, RegionLevel, Role};

/// The schema version of a fresh database (`PRAGMA user_version`).
pub const VERSION: i64 = 3;

/// The statements that bring a database of version `i + 1` to version `i + 2`.
const MIGRATIONS: &[&[&str]] = &[
    // 2: which relay instance stored each change, so that a write computed from an outdated copy
    // of a document is refused (see `DocWrite::base_seq`).
    &["ALTER TABLE changes ADD COLUMN writer TEXT NOT NULL DEFAULT '';"],
    // 3: failed sign-ins under fixed-length hashed keys (they stored whole logins), the logins known
    // at an address, and dashboard sessions apart from device tokens.
    &["DROP TABLE sign_in_failures;", SIGN_IN_TABLES],
];

const SIGN_IN_TABLES: &str = "
CREATE TABLE sign_in_failures (key TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX sign_in_failures_key ON sign_in_failures (key, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (at);
CREATE TABLE known_sign_ins (key TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX known_sign_ins_at ON known_sign_ins (at);
CREATE TABLE web_sessions (
    id_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
";

pub const CREATE_SCHEMA: &str = r#"
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('seq', 0), ('directory', 0);

CREATE TABLE regions (id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent_id TEXT) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT,
    password_hash TEXT
) WITHOUT ROWID;

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_seen_at INTEGER
) WITHOUT ROWID;
CREATE INDEX devices_user ON devices (user_id);
CREATE TABLE device_actors (actor BLOB PRIMARY KEY, device_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX device_actors_device ON device_actors (device_id);
CREATE TABLE activation_codes (
    code_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
) WITHOUT ROWID;

-- Documents and every accepted change (the audit trail: who, which device, when received).
CREATE TABLE docs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB NOT NULL,
    snapshot_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    writer TEXT NOT NULL DEFAULT ''
);
CREATE INDEX changes_doc ON changes (doc_id, seq);
CREATE TABLE event_receipts (event_id TEXT PRIMARY KEY, change_seq INTEGER NOT NULL, received_at INTEGER NOT NULL) WITHOUT ROWID;

-- Read scope (see scope.rs).
CREATE TABLE doc_keys (
    key TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    added_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (key, doc_id)
) WITHOUT ROWID;
CREATE INDEX doc_keys_last ON doc_keys (key, last_seq);
CREATE INDEX doc_keys_doc ON doc_keys (doc_id);
CREATE TABLE doc_key_removals (key TEXT NOT NULL, doc_id TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX doc_key_removals_key ON doc_key_removals (key, seq);
CREATE TABLE user_key_events (user_id TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, added INTEGER NOT NULL);
CREATE INDEX user_key_events_user ON user_key_events (user_id, seq);

-- Projections for the dashboard.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX enterprises_region ON enterprises (region_id);
CREATE INDEX enterprises_uscc ON enterprises (uscc);
CREATE TABLE assignments (
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (enterprise_id, cadre_id)
) WITHOUT ROWID;
CREATE INDEX assignments_cadre ON assignments (cadre_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE INDEX visits_cadre ON visits (cadre_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reporter_role TEXT,
    reported_at INTEGER NOT NULL,
    accepted_at INTEGER,
    first_routed_at INTEGER,
    resolved_at INTEGER,
    confirmed_at INTEGER,
    closed_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    escalation_count INTEGER NOT NULL,
    reopen_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_region ON problems (region_id, status);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE TABLE problem_events (
    problem_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    by_user TEXT NOT NULL,
    role TEXT NOT NULL,
    device TEXT NOT NULL,
    at INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    received_at INTEGER,
    PRIMARY KEY (problem_id, position)
) WITHOUT ROWID;
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    region_id TEXT NOT NULL,
    title TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at INTEGER,
    completed_at INTEGER,
    completed_by TEXT,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
"#;

pub struct SqliteStorage {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
    /// This instance's name in `changes.writer`.
    writer_id: String,
}

/// Reader connections kept open for reuse (opening one reads the schema: ~0.5 ms); as many as the
/// sync requests served at once on a 2-core machine.
const MAX_IDLE_READERS: usize = 32;

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
            if version == 0 {
                tx.execute_batch(CREATE_SCHEMA)?;
                tx.execute_batch(SIGN_IN_TABLES)?;
            } else {
                for m in MIGRATIONS[version as usize - 1..].iter().flat_map(|m| m.iter()) {
                    tx.execute_batch(m)?;
                }
            }
            tx.pragma_update(None, "user_version", VERSION)?;
            tx.commit()?;
        }
        let writer_id = uuid::Uuid::now_v7().to_string();
        Ok(SqliteStorage { writer: Mutex::new(conn), readers: Mutex::new(Vec::new()), path, writer_id })
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        // A read transaction: every query of `f` sees the same snapshot.
        conn.prepare_cached("BEGIN")?.execute([])?;
        let out = f(&conn);
        let _ = conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([]));
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        out
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

fn bump(tx: &Connection, name: &str, by: u64) -> Result<u64> {
    Ok(tx.query_row(
        "UPDATE counters SET value = value + ?2 WHERE name = ?1 RETURNING value",
        params![name, by as i64],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

fn counter(conn: &Connection, name: &str) -> Result<u64> {
    Ok(conn.query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| r.get::<_, i64>(0))? as u64)
}

fn user_row(r: &rusqlite::Row<'_>, offset: usize) -> rusqlite::Result<User> {
    let role: String = r.get(offset + 2)?;
    Ok(User {
        id: r.get(offset)?,
        name: r.get(offset + 1)?,
        role: Role::parse(&role)
            .ok_or_else(|| rusqlite::Error::InvalidColumnType(offset + 2, role, rusqlite::types::Type::Text))?,
        region_id: r.get(offset + 3)?,
        department_id: r.get(offset + 4)?,
        enterprise_id: r.get(offset + 5)?,
    })
}

const USER_COLS: &str = "u.id, u.name, u.role, u.region_id, u.department_id, u.enterprise_id";

fn in_list(n: usize) -> String {
    vec!["?"; n].join(",")
}

impl RelayStorage for SqliteStorage {
    fn directory(&self) -> Result<(Directory, u64)> {
        self.read(|c| {
            let regions = c
                .prepare_cached("SELECT id, name, level, parent_id FROM regions ORDER BY id")?
                .query_map([], |r| {
                    let level: String = r.get(2)?;
                    Ok(Region {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        level: RegionLevel::parse(&level).unwrap_or(RegionLevel::Township),
                        parent_id: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let departments = c
                .prepare_cached("SELECT id, name, region_id FROM departments ORDER BY id")?
                .query_map([], |r| Ok(Department { id: r.get(0)?, name: r.get(1)?, region_id: r.get(2)? }))?
                .collect::<rusqlite::Result<_>>()?;
            let users = c
                .prepare_cached(&format!("SELECT {USER_COLS} FROM users u ORDER BY u.id"))?
                .query_map([], |r| user_row(r, 0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((Directory { regions, departments, users }, counter(c, "directory")?))
        })
    }

    fn directory_version(&self) -> Result<u64> {
        self.read(|c| counter(c, "directory"))
    }

    fn upsert_directory(&self, d: &Directory, accounts: &[Account]) -> Result<u64> {
        self.write(|tx| {
            for r in &d.regions {
                tx.prepare_cached(
                    "INSERT INTO regions (id, name, level, parent_id) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, level = excluded.level, parent_id = excluded.parent_id",
                )?
                .execute(params![r.id, r.name, r.level.as_str(), r.parent_id])?;
            }
            for x in &d.departments {
                tx.prepare_cached(
                    "INSERT INTO departments (id, name, region_id) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, region_id = excluded.region_id",
                )?
                .execute(params![x.id, x.name, x.region_id])?;
            }
            for a in accounts {
                let u = &a.user;
                let taken: Option<String> =
                    tx.query_row("SELECT id FROM users WHERE login = ?1", [&a.login], |r| r.get(0)).optional()?;
                if taken.as_ref().is_some_and(|id| id != &u.id) {
                    return Err(StorageError::Conflict(format!("login {} is taken", a.login)));
                }
                tx.prepare_cached(
                    "INSERT INTO users (id, login, name, role, region_id, department_id, enterprise_id, password_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET login = excluded.login, name = excluded.name, role = excluded.role,
                         region_id = excluded.region_id, department_id = excluded.department_id,
                         enterprise_id = excluded.enterprise_id,
                         password_hash = COALESCE(excluded.password_hash, users.password_hash)",
                )?
                .execute(params![u.id, a.login, u.name, u.role.as_str(), u.region_id, u.department_id, u.enterprise_id, a.password_hash])?;
            }
            bump(tx, "directory", 1)
        })
    }

    fn account_by_login(&self, login: &str) -> Result<Option<Account>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {USER_COLS}, u.login, u.password_hash FROM users u WHERE u.login = ?1"
            ))?
            .query_row([login], |r| Ok(Account { user: user_row(r, 0)?, login: r.get(6)?, password_hash: r.get(7)? }))
            .optional()?)
        })
    }

    fn set_password(&self, user_id: &str, hash: &str) -> Result<bool> {
        self.write(
            |tx| Ok(tx.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![user_id, hash])? > 0),
        )
    }

    fn record_failed_sign_in(&self, keys: &[String], at: i64) -> Result<()> {
        self.write(|tx| {
            let mut insert = tx.prepare_cached("INSERT INTO sign_in_failures (key, at) VALUES (?1, ?2)")?;
            for key in keys {
                insert.execute(params![key, at])?;
            }
            tx.execute("DELETE FROM sign_in_failures WHERE at < ?1", [at - FAILURE_MEMORY_MS])?;
            tx.execute(
                "DELETE FROM sign_in_failures WHERE rowid <= (SELECT MAX(rowid) FROM sign_in_failures) - ?1",
                [MAX_FAILURE_ROWS],
            )?;
            Ok(())
        })
    }

    fn sign_in_failures(&self, keys: &[String], since: i64) -> Result<Vec<(u32, i64)>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT COUNT(*), COALESCE(MAX(at), 0) FROM sign_in_failures WHERE key = ?1 AND at >= ?2",
            )?;
            keys.iter().map(|k| Ok(q.query_row(params![k, since], |r| Ok((r.get(0)?, r.get(1)?)))?)).collect()
        })
    }

    fn forget_sign_in_failures(&self, key: &str) -> Result<()> {
        self.write(|tx| Ok(tx.execute("DELETE FROM sign_in_failures WHERE key = ?1", [key]).map(drop)?))
    }

    fn note_sign_in(&self, key: &str, at: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO known_sign_ins (key, at) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET at = excluded.at",
                params![key, at],
            )?;
            tx.execute("DELETE FROM known_sign_ins WHERE at < ?1", [at - KNOWN_SIGN_IN_MS])?;
            Ok(())
        })
    }

    fn signed_in_before(&self, key: &str, since: i64) -> Result<bool> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT 1 FROM known_sign_ins WHERE key = ?1 AND at >= ?2")?
                .exists(params![key, since])?)
        })
    }

    fn create_web_session(&self, s: &WebSession) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO web_sessions (id_hash, user_id, created_at, last_seen, expires_at) VALUES (?1, ?2, ?3, ?3, ?4)",
                params![s.id_hash, s.user_id, s.created_at, s.expires_at],
            )?;
            tx.execute("DELETE FROM web_sessions WHERE expires_at < ?1", [s.created_at])?;
            Ok(())
        })
    }

    fn web_session(&self, id_hash: &[u8], now: i64, idle_ms: i64) -> Result<Option<String>> {
        self.write(|tx| {
            Ok(tx
                .query_row(
                    "UPDATE web_sessions SET last_seen = ?2
                     WHERE id_hash = ?1 AND expires_at > ?2 AND last_seen >= ?3 RETURNING user_id",
                    params![id_hash, now, now - idle_ms],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn end_web_session(&self, id_hash: &[u8]) -> Result<()> {
        self.write(|tx| Ok(tx.execute("DELETE FROM web_sessions WHERE id_hash = ?1", [id_hash]).map(drop)?))
    }

    fn create_device(&self, d: &NewDevice) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO devices (id, user_id, name, token_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![d.id, d.user_id, d.name, d.token_hash, d.created_at, d.expires_at],
            )?;
            Ok(())
        })
    }

    fn session(&self, token_hash: &[u8]) -> Result<Option<Session>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT d.id, d.revoked_at IS NOT NULL, d.expires_at, {USER_COLS}
                 FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = ?1"
            ))?
            .query_row([token_hash], |r| {
                Ok(Session { device_id: r.get(0)?, revoked: r.get(1)?, expires_at: r.get(2)?, user: user_row(r, 3)? })
            })
            .optional()?)
        })
    }

    fn revoke_device(&self, device_id: &str) -> Result<bool> {
        let now = crate::now_ms();
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![device_id, now],
            )? > 0)
        })
    }

    fn devices_of(&self, user_id: &str) -> Result<Vec<(String, String, i64, bool)>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT id, name, created_at, revoked_at IS NOT NULL FROM devices WHERE user_id = ?1 ORDER BY created_at")?
                .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn bind_actor(&self, device_id: &str, actor: &[u8]) -> Result<bool> {
        let owner: Option<String> = self.read(|c| {
            Ok(c.prepare_cached("SELECT device_id FROM device_actors WHERE actor = ?1")?
                .query_row([actor], |r| r.get(0))
                .optional()?)
        })?;
        match owner {
            Some(d) => Ok(d == device_id),
            None => self.write(|tx| {
                tx.execute(
                    "INSERT OR IGNORE INTO device_actors (actor, device_id) VALUES (?1, ?2)",
                    params![actor, device_id],
                )?;
                let owner: String =
                    tx.query_row("SELECT device_id FROM device_actors WHERE actor = ?1", [actor], |r| r.get(0))?;
                Ok(owner == device_id)
            }),
        }
    }

    fn device_actors(&self, device_id: &str) -> Result<Vec<Vec<u8>>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT actor FROM device_actors WHERE device_id = ?1")?
                .query_map([device_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn create_activation_code(&self, code_hash: &[u8], user_id: &str, issued_by: &str, expires_at: i64) -> Result<()> {
        self.write(|tx| {
            // One live code per contact: a new one replaces any unused one; long-expired codes go.
            tx.execute("DELETE FROM activation_codes WHERE user_id = ?1 AND used_at IS NULL", [user_id])?;
            tx.execute("DELETE FROM activation_codes WHERE expires_at < ?1", [expires_at - 2 * CODE_KEPT_MS])?;
            tx.execute(
                "INSERT INTO activation_codes (code_hash, user_id, issued_by, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![code_hash, user_id, issued_by, expires_at],
            )?;
            Ok(())
        })
    }

    fn consume_activation_code(&self, code_hash: &[u8], now: i64) -> Result<Option<String>> {
        self.write(|tx| {
            Ok(tx
                .query_row(
                    "UPDATE activation_codes SET used_at = ?2 WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2 RETURNING user_id",
                    params![code_hash, now],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn connected_devices(&self, since: i64) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL AND last_seen_at >= ?1",
                [since],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }

    fn touch_devices(&self, device_ids: &[String], at: i64) -> Result<()> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached("UPDATE devices SET last_seen_at = ?2 WHERE id = ?1")?;
            for id in device_ids {
                stmt.execute(params![id, at])?;
            }
            Ok(())
        })
    }

    fn load_doc(&self, doc_id: &str) -> Result<Option<StoredDoc>> {
        self.read(|c| {
            let row: Option<(String, Vec<u8>, i64, i64)> = c
                .prepare_cached("SELECT kind, snapshot, snapshot_seq, last_seq FROM docs WHERE id = ?1")?
                .query_row([doc_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            row.map(|(kind, snapshot, snapshot_seq, last_seq)| {
                let kind = DocKind::parse(&kind).ok_or_else(|| StorageError::Corrupt(format!("kind {kind}")))?;
                Ok(StoredDoc { kind, snapshot, snapshot_seq: snapshot_seq as u64, last_seq: last_seq as u64 })
            })
            .transpose()
        })
    }

    fn changes_after(&self, doc_id: &str, after: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT seq, bytes FROM changes WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq")?
                .query_map(params![doc_id, after as i64], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn known_hashes(&self, hashes: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|c| {
            let mut out = Vec::new();
            let mut stmt = c.prepare_cached("SELECT 1 FROM changes WHERE hash = ?1")?;
            for h in hashes {
                if stmt.exists([h])? {
                    out.push(h.clone());
                }
            }
            Ok(out)
        })
    }

    fn commit(&self, commits: &[&Commit]) -> Result<Vec<u64>> {
        self.write(|tx| commits.iter().map(|c| write_commit(tx, c, &self.writer_id)).collect())
    }

    fn user_keys(&self, user: &User) -> Result<Vec<String>> {
        let mut keys = crate::storage::scope::static_user_keys(user);
        if user.role == Role::Cadre {
            let ents: Vec<String> = self.read(|c| {
                Ok(c.prepare_cached("SELECT enterprise_id FROM assignments WHERE cadre_id = ?1")?
                    .query_map([&user.id], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?)
            })?;
            keys.extend(ents.into_iter().map(|e| format!("ent:{e}")));
        }
        Ok(keys)
    }

    fn pull(&self, user_id: &str, keys: &[String], cursor: u64, device_id: &str, budget: usize) -> Result<Pull> {
        self.read(|c| pull(c, user_id, keys, cursor, device_id, budget))
    }

    fn doc_in_scope(&self, doc_id: &str, keys: &[String]) -> Result<bool> {
        if keys.is_empty() {
            return Ok(false);
        }
        self.read(|c| {
            let sql = format!("SELECT 1 FROM doc_keys WHERE doc_id = ? AND key IN ({})", in_list(keys.len()));
            let mut args: Vec<&str> = vec![doc_id];
            args.extend(keys.iter().map(String::as_str));
            Ok(c.prepare_cached(&sql)?.exists(params_from_iter(args))?)
        })
    }

    fn current_seq(&self) -> Result<u64> {
        self.read(|c| counter(c, "seq"))
    }

    fn enterprise_region(&self, enterprise_id: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT region_id FROM enterprises WHERE id = ?1")?
                .query_row([enterprise_id], |r| r.get(0))
                .optional()?)
        })
    }

    fn enterprise_by_uscc(&self, uscc: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT id FROM enterprises WHERE uscc = ?1")?
                .query_row([uscc], |r| r.get(0))
                .optional()?)
        })
    }

    fn problem_facts(&self) -> Result<Vec<ProblemFact>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, region_id, department_id, status, reported_at, resolved_at, deadline, confirmed_at, rating FROM problems",
            )?
            .query_map([], |r| {
                Ok(ProblemFact {
                    id: r.get(0)?,
                    region_id: r.get(1)?,
                    department_id: r.get(2)?,
                    status: r.get(3)?,
                    reported_at: r.get(4)?,
                    resolved_at: r.get(5)?,
                    deadline: r.get(6)?,
                    confirmed_at: r.get(7)?,
                    rating: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn visit_facts(&self) -> Result<Vec<VisitFact>> {
        self.read(|c| {
            let rows: Vec<(String, String, String, String)> = c
                .prepare_cached("SELECT v.enterprise_id, e.region_id, v.cadre_id, v.date FROM visits v JOIN enterprises e ON e.id = v.enterprise_id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(enterprise_id, region_id, cadre_id, date)| {
                    let day = zhuqi_core::domain::text::parse_date("date", &date).ok()?;
                    Some(VisitFact { enterprise_id, region_id, cadre_id, day: day * 86_400_000 - 8 * 3_600_000 })
                })
                .collect())
        })
    }

    fn problem_rows(&self) -> Result<Vec<ProblemRow>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, enterprise_id, enterprise_name, region_id, category, title, description, status, level,
                        department_id, deadline, reported_at, resolved_at, rating, urge_count, conflict_count
                 FROM problems ORDER BY reported_at DESC, id",
            )?
            .query_map([], |r| {
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
            })?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn event_receipts(&self, problem_id: &str) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT event_id, received_at FROM problem_events WHERE problem_id = ?1 AND received_at IS NOT NULL",
            )?
            .query_map([problem_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn assignments(&self) -> Result<Vec<(String, String, bool)>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT enterprise_id, cadre_id, chief FROM assignments ORDER BY enterprise_id, cadre_id",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn enterprise_rows(&self) -> Result<Vec<(String, String, String)>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT id, name, region_id FROM enterprises ORDER BY name, id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn task_notice_rows(&self) -> Result<Vec<(String, String, String, String, i64, i64, String)>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT id, region_id, title, issued_by, issued_at, deadline, status FROM task_notices ORDER BY issued_at DESC, id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn task_recipient_rows(&self, notice_id: &str) -> Result<Vec<(String, Option<i64>, Option<i64>)>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT recipient, acknowledged_at, completed_at FROM task_recipients WHERE notice_id = ?1 ORDER BY recipient")?
                .query_map([notice_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn enterprises_per_region(&self) -> Result<Vec<(String, u32)>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT region_id, COUNT(*) FROM enterprises GROUP BY region_id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn document_count(&self) -> Result<u64> {
        self.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM docs", [], |r| r.get::<_, i64>(0))? as u64))
    }
}

/// Writes one push inside the caller's transaction; returns the sequence number of its last write.
fn write_commit(tx: &Connection, commit: &Commit, writer: &str) -> Result<u64> {
    let mut last = counter(tx, "seq")?;
    for d in &commit.docs {
        let foreign = tx
            .prepare_cached("SELECT 1 FROM changes WHERE doc_id = ?1 AND seq > ?2 AND writer != ?3")?
            .exists(params![d.doc_id, d.base_seq as i64, writer])?;
        if foreign {
            return Err(StorageError::Stale(d.doc_id.clone()));
        }
        let mut inserted_any = false;
        for ch in &d.changes {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO changes (doc_id, hash, bytes, user_id, device_id, received_at, writer, seq)
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, value + 1 FROM counters WHERE name = 'seq'
                         ON CONFLICT (hash) DO NOTHING",
                )?
                .execute(params![
                    d.doc_id,
                    ch.hash,
                    ch.bytes,
                    commit.user_id,
                    commit.device_id,
                    commit.received_at,
                    writer
                ])?;
            if inserted == 0 {
                continue; // already stored (a retried push)
            }
            last = bump(tx, "seq", 1)?;
            inserted_any = true;
            for e in &ch.event_ids {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO event_receipts (event_id, change_seq, received_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![e, last as i64, commit.received_at])?;
            }
        }
        if !inserted_any {
            continue; // nothing new for this document
        }
        match &d.snapshot {
            Some(snapshot) => tx
                .prepare_cached(
                    "INSERT INTO docs (id, kind, snapshot, snapshot_seq, last_seq) VALUES (?1, ?2, ?3, ?4, ?4)
                         ON CONFLICT (id) DO UPDATE SET snapshot = excluded.snapshot,
                             snapshot_seq = excluded.snapshot_seq, last_seq = excluded.last_seq",
                )?
                .execute(params![d.doc_id, d.kind.as_str(), snapshot, last as i64])?,
            None => {
                let n = tx
                    .prepare_cached("UPDATE docs SET last_seq = ?2 WHERE id = ?1")?
                    .execute(params![d.doc_id, last as i64])?;
                if n == 0 {
                    return Err(StorageError::Corrupt(format!("new document {} without a snapshot", d.doc_id)));
                }
                n
            }
        };
        write_keys(tx, &d.doc_id, &d.keys, last)?;
        write_projection(tx, &d.doc_id, &d.projection, last)?;
    }
    Ok(last)
}

/// Brings a document's scope keys to `keys`: new keys are added at `seq`, removed ones recorded,
/// and every key's `last_seq` moves to `seq`. A cadre's assignment keys are kept in step.
fn write_keys(tx: &Connection, doc_id: &str, keys: &[String], seq: u64) -> Result<()> {
    let old: HashSet<String> = tx
        .prepare_cached("SELECT key FROM doc_keys WHERE doc_id = ?1")?
        .query_map([doc_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for k in old.iter().filter(|k| !keys.contains(k)) {
        tx.prepare_cached("DELETE FROM doc_keys WHERE key = ?1 AND doc_id = ?2")?.execute(params![k, doc_id])?;
        tx.prepare_cached("INSERT INTO doc_key_removals (key, doc_id, seq) VALUES (?1, ?2, ?3)")?
            .execute(params![k, doc_id, seq as i64])?;
    }
    for k in keys {
        tx.prepare_cached(
            "INSERT INTO doc_keys (key, doc_id, added_seq, last_seq) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (key, doc_id) DO UPDATE SET last_seq = excluded.last_seq",
        )?
        .execute(params![k, doc_id, seq as i64])?;
    }
    Ok(())
}

fn write_projection(tx: &Connection, id: &str, p: &Projection, seq: u64) -> Result<()> {
    let mut steps = plan::projection(id, p);
    if let Some(s) = plan::assigned(p) {
        let stored: plan::Assignments = tx
            .prepare_cached("SELECT cadre_id, chief, since FROM assignments WHERE enterprise_id = ?1")?
            .query_map([id], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
            .collect::<rusqlite::Result<_>>()?;
        steps.extend(plan::assignments(id, s, &stored, seq as i64));
    }
    for step in &steps {
        match step {
            plan::Step::Delete { table, column, value } => {
                tx.prepare_cached(&format!("DELETE FROM {table} WHERE {column} = ?1"))?.execute([value])?;
            }
            plan::Step::Rows(r) => {
                let placeholders: Vec<String> = (1..=r.columns.len()).map(|i| format!("?{i}")).collect();
                let mut insert = tx.prepare_cached(&plan::insert_sql(r, &placeholders, None))?;
                for row in &r.rows {
                    insert.execute(params_from_iter(row))?;
                }
            }
        }
    }
    Ok(())
}

impl rusqlite::ToSql for plan::Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ToSqlOutput;
        Ok(match self {
            plan::Value::Text(Some(t)) => ToSqlOutput::from(t.as_str()),
            plan::Value::Int(Some(i)) => ToSqlOutput::from(*i),
            plan::Value::Bool(b) => ToSqlOutput::from(*b),
            plan::Value::Text(None) | plan::Value::Int(None) => ToSqlOutput::from(rusqlite::types::Null),
        })
    }
}

/// What changed for a user since `cursor` (see `scope`). Runs inside one read transaction.
fn pull(c: &Connection, user_id: &str, keys: &[String], cursor: u64, device_id: &str, budget: usize) -> Result<Pull> {
    let top = counter(c, "seq")?;
    if keys.is_empty() || cursor >= top {
        return Ok(Pull { cursor: top.max(cursor), ..Pull::default() });
    }
    // Keys the user gained or lost since the cursor (a cadre's assignments).
    let events: Vec<(String, bool)> = c
        .prepare_cached("SELECT key, added FROM user_key_events WHERE user_id = ?1 AND seq > ?2 ORDER BY seq")?
        .query_map(params![user_id, cursor as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let (gained, lost) = pull_plan::gained_and_lost(events, keys);
    // Documents to send: doc id → (whole?, last_seq, kind).
    let mut docs: BTreeMap<String, (bool, u64)> = BTreeMap::new();
    let args = || {
        let mut a: Vec<rusqlite::types::Value> = keys.iter().map(|k| k.clone().into()).collect();
        a.push((cursor as i64).into());
        a.push((top as i64).into());
        a
    };
    let sql = format!(
        "SELECT doc_id, added_seq, last_seq FROM doc_keys WHERE key IN ({}) AND last_seq > ? AND last_seq <= ?",
        in_list(keys.len())
    );
    for row in c.prepare_cached(&sql)?.query_map(params_from_iter(args()), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64))
    })? {
        let (doc, added, last) = row?;
        pull_plan::changed(&mut docs, doc, added, last, cursor);
    }
    for k in &gained {
        for row in c
            .prepare_cached("SELECT doc_id, last_seq FROM doc_keys WHERE key = ?1 AND last_seq <= ?2")?
            .query_map(params![k, top as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?
        {
            let (doc, last) = row?;
            docs.insert(doc, (true, last));
        }
    }
    // Purges: documents that lost a key of the user, or carry a key the user lost, and that the
    // user can no longer read through any other key.
    let mut purge_candidates: HashSet<String> = HashSet::new();
    let sql =
        format!("SELECT doc_id FROM doc_key_removals WHERE key IN ({}) AND seq > ? AND seq <= ?", in_list(keys.len()));
    for row in c.prepare_cached(&sql)?.query_map(params_from_iter(args()), |r| r.get::<_, String>(0))? {
        purge_candidates.insert(row?);
    }
    for k in &lost {
        for row in
            c.prepare_cached("SELECT doc_id FROM doc_keys WHERE key = ?1")?.query_map([k], |r| r.get::<_, String>(0))?
        {
            purge_candidates.insert(row?);
        }
    }
    let visible_sql = format!("SELECT 1 FROM doc_keys WHERE doc_id = ? AND key IN ({})", in_list(keys.len()));
    let mut visible = HashSet::new();
    for doc in &purge_candidates {
        let mut a: Vec<&str> = vec![doc];
        a.extend(keys.iter().map(String::as_str));
        if c.prepare_cached(&visible_sql)?.exists(params_from_iter(a))? {
            visible.insert(doc.clone());
        }
    }
    let purge = pull_plan::purge(&mut docs, purge_candidates, &visible);
    let mut pages = pull_plan::Pages::new(pull_plan::page_order(docs), budget, top);
    while let Some(chunk) = pages.next_chunk() {
        let mut fetched = pull_plan::Fetched::new();
        for (doc, whole, _) in chunk {
            fetched.insert(doc.clone(), page_data(c, doc, *whole, cursor, top, device_id)?);
        }
        pages.add(fetched)?;
    }
    Ok(pages.finish(purge))
}

/// What a pull sends of a document: whole, its snapshot and the changes stored after it (nothing
/// when every change came from this device, which has them); otherwise the changes other devices
/// made after the cursor.
fn page_data(
    c: &Connection,
    doc: &str,
    whole: bool,
    cursor: u64,
    top: u64,
    device_id: &str,
) -> Result<(DocKind, Vec<Vec<u8>>)> {
    let kind: String = c.prepare_cached("SELECT kind FROM docs WHERE id = ?1")?.query_row([doc], |r| r.get(0))?;
    let kind = DocKind::parse(&kind).ok_or_else(|| StorageError::Corrupt(format!("kind {kind}")))?;
    let only_mine = whole
        && !c
            .prepare_cached("SELECT 1 FROM changes WHERE doc_id = ?1 AND device_id != ?2")?
            .exists(params![doc, device_id])?;
    let data: Vec<Vec<u8>> = if only_mine {
        Vec::new()
    } else if whole {
        let (snapshot, since): (Vec<u8>, i64) = c
            .prepare_cached("SELECT snapshot, snapshot_seq FROM docs WHERE id = ?1")?
            .query_row([doc], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut data = vec![snapshot];
        let mut later =
            c.prepare_cached("SELECT bytes FROM changes WHERE doc_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq")?;
        for b in later.query_map(params![doc, since, top as i64], |r| r.get(0))? {
            data.push(b?);
        }
        data
    } else {
        c.prepare_cached(
            "SELECT bytes FROM changes WHERE doc_id = ?1 AND seq > ?2 AND seq <= ?3 AND device_id != ?4 ORDER BY seq",
        )?
        .query_map(params![doc, cursor as i64, top as i64, device_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?
    };
    Ok((kind, data))
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    conn.execute_batch(m).unwrap();
                }
                conn.pragma_update(None, "user_version", old).unwrap();
                conn.execute(
                    "INSERT INTO changes (seq, doc_id, hash, bytes, user_id, device_id, received_at)
                     VALUES (1, 'e1', x'01', x'02', 'u', 'd', 5)",
                    [],
                )
                .unwrap();
                conn.execute("INSERT INTO sign_in_failures (login, at) VALUES ('someone', 5)", []).unwrap();
            }
            let upgraded = SqliteStorage::open(old_dir.path()).unwrap();
            let conn = Connection::open(old_dir.path().join("relay.db")).unwrap();
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
            assert_eq!(version, VERSION);
            assert_eq!(shape(&conn), shape(&fresh), "from version {old}");
            // The old change is still there.
            assert_eq!(upgraded.changes_after("e1", 0).unwrap(), [(1, vec![2])]);
        }
    }
}
