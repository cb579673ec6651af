//! The PostgreSQL store of the relay (`--database-url postgres://…`): for a province, where several
//! relay instances behind a load balancer share one database and hold no state the others need.
//!
//! The same tables as the SQLite store, in plain SQL. Sequence numbers come from a counter row that
//! each commit locks (`SELECT … FOR UPDATE`) for the length of its transaction, so they are handed out
//! in commit order and a cursor never passes a change that is not yet visible. Each commit also sends
//! a notice on channel `zhuqi_changes_<schema>` with the scope keys it touched; every relay `LISTEN`s
//! and tells its own live listeners (`/v1/events`).
//!
//! The driver is tokio-postgres with a deadpool pool, on a small runtime of this store's own: the
//! trait's calls are blocking (they run on the relay's blocking threads) and wait on that runtime.

use super::*;
use super::plan;
use crate::storage::projection::Projection;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, IsolationLevel, NoTls, Row};
use zhuqi_core::domain::{Department, Region, RegionLevel, Role};

/// The schema version of a fresh database (row `schema_version` of `zhuqi_meta`).
pub const VERSION: i64 = 2;

/// The statements that bring a database of version `i + 1` to version `i + 2`.
const MIGRATIONS: &[&[&str]] = &[
    // 2: failed sign-ins under fixed-length hashed keys (they stored whole logins), the logins known
    // at an address, and dashboard sessions apart from device tokens.
    &["DROP TABLE sign_in_failures;", SIGN_IN_TABLES],
];

const SIGN_IN_TABLES: &str = "
CREATE TABLE sign_in_failures (id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX sign_in_failures_key ON sign_in_failures (key, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (at);
CREATE TABLE known_sign_ins (key TEXT PRIMARY KEY, at BIGINT NOT NULL);
CREATE INDEX known_sign_ins_at ON known_sign_ins (at);
CREATE TABLE web_sessions (
    id_hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
";

/// The channel of the commit notices is this followed by the schema's name: stores in different
/// schemas of one database do not hear each other.
const CHANNEL_PREFIX: &str = "zhuqi_changes_";

/// Held while a relay creates or upgrades the schema, so that relays starting together do it once.
const MIGRATION_LOCK: i64 = 0x7a68_7571_6900;

/// NOTIFY payloads are limited to 8,000 bytes; a commit touching more keys announces "everything".
const MAX_NOTICE_BYTES: usize = 7_000;

pub const CREATE_SCHEMA: &str = r#"
CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO counters (name, value) VALUES ('seq', 0), ('directory', 0);

CREATE TABLE regions (id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent_id TEXT);
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT,
    password_hash TEXT
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_seen_at BIGINT
);
CREATE INDEX devices_user ON devices (user_id);
CREATE TABLE device_actors (actor BYTEA PRIMARY KEY, device_id TEXT NOT NULL);
CREATE INDEX device_actors_device ON device_actors (device_id);
CREATE TABLE activation_codes (
    code_hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE docs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BYTEA NOT NULL,
    snapshot_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL
);
CREATE TABLE changes (
    seq BIGINT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    hash BYTEA NOT NULL UNIQUE,
    bytes BYTEA NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    writer TEXT NOT NULL
);
CREATE INDEX changes_doc ON changes (doc_id, seq);
CREATE TABLE event_receipts (event_id TEXT PRIMARY KEY, change_seq BIGINT NOT NULL, received_at BIGINT NOT NULL);

CREATE TABLE doc_keys (
    key TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    added_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (key, doc_id)
);
CREATE INDEX doc_keys_last ON doc_keys (key, last_seq);
CREATE INDEX doc_keys_doc ON doc_keys (doc_id);
CREATE TABLE doc_key_removals (key TEXT NOT NULL, doc_id TEXT NOT NULL, seq BIGINT NOT NULL);
CREATE INDEX doc_key_removals_key ON doc_key_removals (key, seq);
CREATE TABLE user_key_events (user_id TEXT NOT NULL, key TEXT NOT NULL, seq BIGINT NOT NULL, added BOOLEAN NOT NULL);
CREATE INDEX user_key_events_user ON user_key_events (user_id, seq);

CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX enterprises_region ON enterprises (region_id);
CREATE INDEX enterprises_uscc ON enterprises (uscc);
CREATE TABLE assignments (
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    chief BOOLEAN NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (enterprise_id, cadre_id)
);
CREATE INDEX assignments_cadre ON assignments (cadre_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
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
    level BIGINT NOT NULL,
    department_id TEXT,
    deadline BIGINT,
    reported_by TEXT NOT NULL,
    reporter_role TEXT,
    reported_at BIGINT NOT NULL,
    accepted_at BIGINT,
    first_routed_at BIGINT,
    resolved_at BIGINT,
    confirmed_at BIGINT,
    closed_at BIGINT,
    rating BIGINT,
    urge_count BIGINT NOT NULL,
    escalation_count BIGINT NOT NULL,
    reopen_count BIGINT NOT NULL,
    follow_up_count BIGINT NOT NULL,
    conflict_count BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX problems_region ON problems (region_id, status);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE TABLE problem_events (
    problem_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    by_user TEXT NOT NULL,
    role TEXT NOT NULL,
    device TEXT NOT NULL,
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    received_at BIGINT,
    PRIMARY KEY (problem_id, position)
);
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    region_id TEXT NOT NULL,
    title TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    deadline BIGINT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at BIGINT,
    completed_at BIGINT,
    completed_by TEXT,
    PRIMARY KEY (notice_id, recipient)
);
"#;

/// Connections in the pool, by default.
pub const DEFAULT_POOL_SIZE: usize = 16;

pub struct PostgresStorage {
    /// Drives the pool's connections and the listener; shut down when the store is dropped.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    config: tokio_postgres::Config,
    /// This instance's name in `changes.writer` and in its notices.
    writer_id: String,
    /// The NOTIFY channel of this store's commits.
    channel: String,
}

type Param<'a> = &'a (dyn ToSql + Sync);

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StorageError::Pool(e.to_string())
    }
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user@host:port/db`, libpq's key=value form also accepted; a
    /// schema is chosen with `?options=-c%20search_path%3Dname`) and creates the tables if needed.
    pub fn open(url: &str, pool_size: usize) -> Result<PostgresStorage> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StorageError::Pool(format!("database URL: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("zhuqi-postgres")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Pool(format!("runtime: {e}")))?;
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StorageError::Pool(e.to_string()))?;
        let mut store = PostgresStorage {
            runtime: Some(runtime),
            pool,
            config,
            writer_id: uuid::Uuid::now_v7().to_string(),
            channel: String::new(),
        };
        store.block(store.migrate())?;
        let schema: String = store.block(async {
            let row = store.opt("SELECT current_schema()", &[]).await?;
            Ok(row.map(|r| r.try_get::<_, String>(0)).transpose()?.unwrap_or_default())
        })?;
        store.channel = format!("{CHANNEL_PREFIX}{schema}").chars().take(63).collect();
        Ok(store)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives as long as the store")
    }

    /// Runs a database call to completion on the store's runtime (from a blocking thread).
    fn block<T>(&self, f: impl Future<Output = Result<T>>) -> Result<T> {
        self.runtime().block_on(f)
    }

    async fn client(&self) -> Result<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS zhuqi_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)")
            .await?;
        let version: Option<i64> = tx
            .query_opt("SELECT value FROM zhuqi_meta WHERE name = 'schema_version'", &[])
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        match version {
            None => {
                tx.batch_execute(CREATE_SCHEMA).await?;
                tx.batch_execute(SIGN_IN_TABLES).await?;
                tx.execute("INSERT INTO zhuqi_meta (name, value) VALUES ('schema_version', $1)", &[&VERSION]).await?;
            }
            Some(v) if v > VERSION => {
                return Err(StorageError::Corrupt(format!("relay database version {v} is newer than {VERSION}")));
            }
            Some(v) if v < VERSION => {
                for m in MIGRATIONS[v as usize - 1..].iter().flat_map(|m| m.iter()) {
                    tx.batch_execute(m).await?;
                }
                tx.execute("UPDATE zhuqi_meta SET value = $1 WHERE name = 'schema_version'", &[&VERSION]).await?;
            }
            Some(_) => {}
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs `f` in a read-only transaction that sees one snapshot of the database.
    async fn snapshot<T>(&self, f: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut client = self.client().await?;
        let tx =
            client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
        let out = f(&tx).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Runs `f` in a read-write transaction, committed if it succeeds.
    async fn write<T>(&self, f: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let out = f(&tx).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn rows(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        rows(&self.client().await?, sql, params).await
    }

    async fn opt(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>> {
        Ok(self.rows(sql, params).await?.into_iter().next())
    }

    async fn exec(&self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        exec(&self.client().await?, sql, params).await
    }
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        // Allowed anywhere, also inside another runtime.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn rows<C: GenericClient + ?Sized>(c: &C, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

async fn opt<C: GenericClient + ?Sized>(c: &C, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>> {
    Ok(rows(c, sql, params).await?.into_iter().next())
}

async fn exec<C: GenericClient + ?Sized>(c: &C, sql: &str, params: &[Param<'_>]) -> Result<u64> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

async fn counter<C: GenericClient + ?Sized>(c: &C, name: &str) -> Result<u64> {
    let row = opt(c, "SELECT value FROM counters WHERE name = $1", &[&name])
        .await?
        .ok_or_else(|| StorageError::Corrupt(format!("counter {name} missing")))?;
    Ok(row.try_get::<_, i64>(0)? as u64)
}

/// `INSERT … ON CONFLICT (key) DO UPDATE SET` every other column: the portable form of SQLite's
/// `INSERT OR REPLACE`.
fn upsert(table: &str, columns: &[&str], key: &[&str]) -> String {
    let values: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let set: Vec<String> = columns.iter().filter(|c| !key.contains(c)).map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
        columns.join(", "),
        values.join(", "),
        key.join(", "),
        set.join(", ")
    )
}

fn user_row(r: &Row, o: usize) -> Result<User> {
    let role: String = r.try_get(o + 2)?;
    Ok(User {
        id: r.try_get(o)?,
        name: r.try_get(o + 1)?,
        role: Role::parse(&role).ok_or_else(|| StorageError::Corrupt(format!("role {role}")))?,
        region_id: r.try_get(o + 3)?,
        department_id: r.try_get(o + 4)?,
        enterprise_id: r.try_get(o + 5)?,
    })
}

const USER_COLS: &str = "u.id, u.name, u.role, u.region_id, u.department_id, u.enterprise_id";

fn kind_of(kind: &str) -> Result<DocKind> {
    DocKind::parse(kind).ok_or_else(|| StorageError::Corrupt(format!("kind {kind}")))
}

impl RelayStorage for PostgresStorage {
    fn listen(&self, sink: ChangeSink) {
        self.runtime().spawn(listen(self.config.clone(), self.channel.clone(), self.writer_id.clone(), sink));
    }

    fn after_bulk_load(&self) -> Result<()> {
        // Fresh statistics: with none, the planner takes a million-row change log for a small table.
        self.block(async { Ok(self.client().await?.batch_execute("ANALYZE").await?) })
    }

    fn directory(&self) -> Result<(Directory, u64)> {
        self.block(self.snapshot(async |tx| {
            let mut regions = Vec::new();
            for r in rows(tx, "SELECT id, name, level, parent_id FROM regions ORDER BY id", &[]).await? {
                let level: String = r.try_get(2)?;
                regions.push(Region {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    level: RegionLevel::parse(&level).unwrap_or(RegionLevel::Township),
                    parent_id: r.try_get(3)?,
                });
            }
            let mut departments = Vec::new();
            for r in rows(tx, "SELECT id, name, region_id FROM departments ORDER BY id", &[]).await? {
                departments.push(Department { id: r.try_get(0)?, name: r.try_get(1)?, region_id: r.try_get(2)? });
            }
            let mut users = Vec::new();
            for r in rows(tx, &format!("SELECT {USER_COLS} FROM users u ORDER BY u.id"), &[]).await? {
                users.push(user_row(&r, 0)?);
            }
            Ok((Directory { regions, departments, users }, counter(tx, "directory").await?))
        }))
    }

    fn directory_version(&self) -> Result<u64> {
        self.block(async { counter(&self.client().await?, "directory").await })
    }

    fn upsert_directory(&self, d: &Directory, accounts: &[Account]) -> Result<u64> {
        self.block(self.write(async |tx| {
            for r in &d.regions {
                exec(
                    tx,
                    &upsert("regions", &["id", "name", "level", "parent_id"], &["id"]),
                    &[&r.id, &r.name, &r.level.as_str(), &r.parent_id],
                )
                .await?;
            }
            for x in &d.departments {
                exec(
                    tx,
                    &upsert("departments", &["id", "name", "region_id"], &["id"]),
                    &[&x.id, &x.name, &x.region_id],
                )
                .await?;
            }
            for a in accounts {
                let u = &a.user;
                let taken = opt(tx, "SELECT id FROM users WHERE login = $1", &[&a.login]).await?;
                if let Some(row) = taken
                    && row.try_get::<_, String>(0)? != u.id
                {
                    return Err(StorageError::Conflict(format!("login {} is taken", a.login)));
                }
                exec(
                    tx,
                    "INSERT INTO users (id, login, name, role, region_id, department_id, enterprise_id, password_hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (id) DO UPDATE SET login = EXCLUDED.login, name = EXCLUDED.name, role = EXCLUDED.role,
                         region_id = EXCLUDED.region_id, department_id = EXCLUDED.department_id,
                         enterprise_id = EXCLUDED.enterprise_id,
                         password_hash = COALESCE(EXCLUDED.password_hash, users.password_hash)",
                    &[
                        &u.id,
                        &a.login,
                        &u.name,
                        &u.role.as_str(),
                        &u.region_id,
                        &u.department_id,
                        &u.enterprise_id,
                        &a.password_hash,
                    ],
                )
                .await?;
            }
            let row = opt(tx, "UPDATE counters SET value = value + 1 WHERE name = 'directory' RETURNING value", &[])
                .await?
                .ok_or_else(|| StorageError::Corrupt("counter directory missing".into()))?;
            Ok(row.try_get::<_, i64>(0)? as u64)
        }))
    }

    fn account_by_login(&self, login: &str) -> Result<Option<Account>> {
        self.block(async {
            let sql = format!("SELECT {USER_COLS}, u.login, u.password_hash FROM users u WHERE u.login = $1");
            self.opt(&sql, &[&login])
                .await?
                .map(|r| Ok(Account { user: user_row(&r, 0)?, login: r.try_get(6)?, password_hash: r.try_get(7)? }))
                .transpose()
        })
    }

    fn set_password(&self, user_id: &str, hash: &str) -> Result<bool> {
        self.block(async {
            Ok(self.exec("UPDATE users SET password_hash = $2 WHERE id = $1", &[&user_id, &hash]).await? > 0)
        })
    }

    fn record_failed_sign_in(&self, keys: &[String], at: i64) -> Result<()> {
        self.block(self.write(async |tx| {
            exec(tx, "INSERT INTO sign_in_failures (key, at) SELECT unnest($1::text[]), $2", &[&keys, &at]).await?;
            exec(tx, "DELETE FROM sign_in_failures WHERE at < $1", &[&(at - FAILURE_MEMORY_MS)]).await?;
            exec(
                tx,
                "DELETE FROM sign_in_failures WHERE id <= (SELECT MAX(id) FROM sign_in_failures) - $1",
                &[&MAX_FAILURE_ROWS],
            )
            .await?;
            Ok(())
        }))
    }

    fn sign_in_failures(&self, keys: &[String], since: i64) -> Result<Vec<(u32, i64)>> {
        self.block(async {
            let rows = self
                .rows(
                    "SELECT k.key, COUNT(f.at), COALESCE(MAX(f.at), 0)
                     FROM unnest($1::text[]) AS k(key)
                     LEFT JOIN sign_in_failures f ON f.key = k.key AND f.at >= $2
                     GROUP BY k.key",
                    &[&keys, &since],
                )
                .await?;
            let mut found = HashMap::new();
            for r in rows {
                found.insert(r.try_get::<_, String>(0)?, (r.try_get::<_, i64>(1)? as u32, r.try_get::<_, i64>(2)?));
            }
            Ok(keys.iter().map(|k| found.get(k).copied().unwrap_or((0, 0))).collect())
        })
    }

    fn forget_sign_in_failures(&self, key: &str) -> Result<()> {
        self.block(async { self.exec("DELETE FROM sign_in_failures WHERE key = $1", &[&key]).await.map(drop) })
    }

    fn note_sign_in(&self, key: &str, at: i64) -> Result<()> {
        self.block(self.write(async |tx| {
            exec(
                tx,
                "INSERT INTO known_sign_ins (key, at) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET at = excluded.at",
                &[&key, &at],
            )
            .await?;
            exec(tx, "DELETE FROM known_sign_ins WHERE at < $1", &[&(at - KNOWN_SIGN_IN_MS)]).await?;
            Ok(())
        }))
    }

    fn signed_in_before(&self, key: &str, since: i64) -> Result<bool> {
        self.block(async {
            Ok(self.opt("SELECT 1 FROM known_sign_ins WHERE key = $1 AND at >= $2", &[&key, &since]).await?.is_some())
        })
    }

    fn create_web_session(&self, s: &WebSession) -> Result<()> {
        self.block(self.write(async |tx| {
            exec(
                tx,
                "INSERT INTO web_sessions (id_hash, user_id, created_at, last_seen, expires_at) VALUES ($1, $2, $3, $3, $4)",
                &[&s.id_hash, &s.user_id, &s.created_at, &s.expires_at],
            )
            .await?;
            exec(tx, "DELETE FROM web_sessions WHERE expires_at < $1", &[&s.created_at]).await?;
            Ok(())
        }))
    }

    fn web_session(&self, id_hash: &[u8], now: i64, idle_ms: i64) -> Result<Option<String>> {
        self.block(async {
            let row = self
                .opt(
                    "UPDATE web_sessions SET last_seen = $2
                     WHERE id_hash = $1 AND expires_at > $2 AND last_seen >= $3 RETURNING user_id",
                    &[&id_hash, &now, &(now - idle_ms)],
                )
                .await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn end_web_session(&self, id_hash: &[u8]) -> Result<()> {
        self.block(async { self.exec("DELETE FROM web_sessions WHERE id_hash = $1", &[&id_hash]).await.map(drop) })
    }

    fn create_device(&self, d: &NewDevice) -> Result<()> {
        self.block(async {
            self.exec(
                "INSERT INTO devices (id, user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&d.id, &d.user_id, &d.name, &d.token_hash, &d.created_at, &d.expires_at],
            )
            .await?;
            Ok(())
        })
    }

    fn session(&self, token_hash: &[u8]) -> Result<Option<Session>> {
        self.block(async {
            let sql = format!(
                "SELECT d.id, d.revoked_at IS NOT NULL, d.expires_at, {USER_COLS}
                 FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = $1"
            );
            self.opt(&sql, &[&token_hash])
                .await?
                .map(|r| {
                    Ok(Session {
                        device_id: r.try_get(0)?,
                        revoked: r.try_get(1)?,
                        expires_at: r.try_get(2)?,
                        user: user_row(&r, 3)?,
                    })
                })
                .transpose()
        })
    }

    fn revoke_device(&self, device_id: &str) -> Result<bool> {
        let now = crate::now_ms();
        self.block(async {
            Ok(self
                .exec("UPDATE devices SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1", &[&device_id, &now])
                .await?
                > 0)
        })
    }

    fn devices_of(&self, user_id: &str) -> Result<Vec<(String, String, i64, bool)>> {
        self.block(async {
            self.rows(
                "SELECT id, name, created_at, revoked_at IS NOT NULL FROM devices WHERE user_id = $1 ORDER BY created_at",
                &[&user_id],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
        })
    }

    fn bind_actor(&self, device_id: &str, actor: &[u8]) -> Result<bool> {
        self.block(async {
            if let Some(r) = self.opt("SELECT device_id FROM device_actors WHERE actor = $1", &[&actor]).await? {
                return Ok(r.try_get::<_, String>(0)? == device_id);
            }
            self.exec(
                "INSERT INTO device_actors (actor, device_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&actor, &device_id],
            )
            .await?;
            let owner = self.opt("SELECT device_id FROM device_actors WHERE actor = $1", &[&actor]).await?;
            Ok(owner.map(|r| r.try_get::<_, String>(0)).transpose()?.as_deref() == Some(device_id))
        })
    }

    fn device_actors(&self, device_id: &str) -> Result<Vec<Vec<u8>>> {
        self.block(async { device_actors(&self.client().await?, device_id).await })
    }

    fn create_activation_code(&self, code_hash: &[u8], user_id: &str, issued_by: &str, expires_at: i64) -> Result<()> {
        self.block(self.write(async |tx| {
            // One live code per contact: a new one replaces any unused one; long-expired codes go.
            exec(tx, "DELETE FROM activation_codes WHERE user_id = $1 AND used_at IS NULL", &[&user_id]).await?;
            exec(tx, "DELETE FROM activation_codes WHERE expires_at < $1", &[&(expires_at - 2 * CODE_KEPT_MS)]).await?;
            exec(
                tx,
                "INSERT INTO activation_codes (code_hash, user_id, issued_by, expires_at) VALUES ($1, $2, $3, $4)",
                &[&code_hash, &user_id, &issued_by, &expires_at],
            )
            .await?;
            Ok(())
        }))
    }

    fn consume_activation_code(&self, code_hash: &[u8], now: i64) -> Result<Option<String>> {
        self.block(async {
            self.opt(
                "UPDATE activation_codes SET used_at = $2
                 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
                &[&code_hash, &now],
            )
            .await?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
        })
    }

    fn connected_devices(&self, since: i64) -> Result<u64> {
        self.block(async {
            let r = self
                .opt("SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL AND last_seen_at >= $1", &[&since])
                .await?;
            Ok(r.map_or(Ok(0), |r| r.try_get::<_, i64>(0))? as u64)
        })
    }

    fn touch_devices(&self, device_ids: &[String], at: i64) -> Result<()> {
        self.block(self.write(async |tx| {
            // A last-seen time is not worth a disk flush of its own.
            tx.batch_execute("SET LOCAL synchronous_commit = off").await?;
            exec(tx, "UPDATE devices SET last_seen_at = $2 WHERE id = ANY($1)", &[&device_ids, &at]).await?;
            Ok(())
        }))
    }

    fn load_doc(&self, doc_id: &str) -> Result<Option<StoredDoc>> {
        self.block(async {
            let Some(r) =
                self.opt("SELECT kind, snapshot, snapshot_seq, last_seq FROM docs WHERE id = $1", &[&doc_id]).await?
            else {
                return Ok(None);
            };
            Ok(Some(StoredDoc {
                kind: kind_of(r.try_get(0)?)?,
                snapshot: r.try_get(1)?,
                snapshot_seq: r.try_get::<_, i64>(2)? as u64,
                last_seq: r.try_get::<_, i64>(3)? as u64,
            }))
        })
    }

    fn load_doc_with_changes(&self, doc_id: &str) -> Result<Option<(StoredDoc, Vec<StoredChange>)>> {
        // One statement: the document's row first, then its changes after the snapshot.
        let rows = self.block(self.rows(
            "SELECT kind, snapshot, snapshot_seq, last_seq, NULL::bigint AS seq, NULL::bytea FROM docs WHERE id = $1
             UNION ALL
             SELECT NULL, NULL, NULL, NULL, c.seq, c.bytes
             FROM docs d JOIN changes c ON c.doc_id = d.id AND c.seq > d.snapshot_seq WHERE d.id = $1
             ORDER BY seq NULLS FIRST",
            &[&doc_id],
        ))?;
        let Some((first, later)) = rows.split_first() else { return Ok(None) };
        let doc = StoredDoc {
            kind: kind_of(first.try_get(0)?)?,
            snapshot: first.try_get(1)?,
            snapshot_seq: first.try_get::<_, i64>(2)? as u64,
            last_seq: first.try_get::<_, i64>(3)? as u64,
        };
        let later = later.iter().map(|r| Ok((r.try_get::<_, i64>(4)? as u64, r.try_get(5)?))).collect::<Result<_>>()?;
        Ok(Some((doc, later)))
    }

    fn changes_after(&self, doc_id: &str, after: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        self.block(async {
            self.rows(
                "SELECT seq, bytes FROM changes WHERE doc_id = $1 AND seq > $2 ORDER BY seq",
                &[&doc_id, &(after as i64)],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get::<_, i64>(0)? as u64, r.try_get(1)?)))
            .collect()
        })
    }

    fn known_hashes(&self, hashes: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        self.block(async { known_hashes(&self.client().await?, &hashes).await })
    }

    fn commit(&self, commits: &[&Commit]) -> Result<Vec<u64>> {
        self.block(self.write(async |tx| {
            // The counter row stays locked until the transaction ends: commits get their sequence
            // numbers one after another, in the order they become visible.
            let row = opt(tx, "SELECT value FROM counters WHERE name = 'seq' FOR UPDATE", &[])
                .await?
                .ok_or_else(|| StorageError::Corrupt("counter seq missing".into()))?;
            let first = row.try_get::<_, i64>(0)? as u64;
            write_commits(tx, commits, &self.writer_id, &self.channel, first).await
        }))
    }

    fn user_keys(&self, user: &User) -> Result<Vec<String>> {
        self.block(async { user_keys(&self.client().await?, user).await })
    }

    fn sync_context(&self, user: &User, device_id: &str) -> Result<SyncContext> {
        self.block(async {
            let c = self.client().await?;
            let (keys, directory_version, actors) =
                futures_util::try_join!(user_keys(&c, user), counter(&c, "directory"), device_actors(&c, device_id))?;
            Ok(SyncContext { keys, directory_version, actors })
        })
    }

    fn pull(&self, user_id: &str, keys: &[String], cursor: u64, device_id: &str, budget: usize) -> Result<Pull> {
        self.block(self.snapshot(async |tx| pull(tx, user_id, keys, cursor, device_id, budget).await))
    }

    fn docs_in_scope(&self, doc_ids: &[&str], keys: &[String]) -> Result<Vec<String>> {
        if keys.is_empty() || doc_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.block(async {
            self.rows(
                "SELECT DISTINCT doc_id FROM doc_keys WHERE doc_id = ANY($1) AND key = ANY($2)",
                &[&doc_ids, &keys],
            )
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
        })
    }

    fn doc_in_scope(&self, doc_id: &str, keys: &[String]) -> Result<bool> {
        if keys.is_empty() {
            return Ok(false);
        }
        self.block(async {
            Ok(self
                .opt("SELECT 1 FROM doc_keys WHERE doc_id = $1 AND key = ANY($2) LIMIT 1", &[&doc_id, &keys])
                .await?
                .is_some())
        })
    }

    fn current_seq(&self) -> Result<u64> {
        self.block(async { counter(&self.client().await?, "seq").await })
    }

    fn enterprise_region(&self, enterprise_id: &str) -> Result<Option<String>> {
        self.block(async {
            self.opt("SELECT region_id FROM enterprises WHERE id = $1", &[&enterprise_id])
                .await?
                .map(|r| Ok(r.try_get(0)?))
                .transpose()
        })
    }

    fn enterprise_by_uscc(&self, uscc: &str) -> Result<Option<String>> {
        self.block(async {
            self.opt("SELECT id FROM enterprises WHERE uscc = $1", &[&uscc])
                .await?
                .map(|r| Ok(r.try_get(0)?))
                .transpose()
        })
    }

    fn document_count(&self) -> Result<u64> {
        self.block(async {
            let r = self.opt("SELECT COUNT(*) FROM docs", &[]).await?;
            Ok(r.map_or(Ok(0), |r| r.try_get::<_, i64>(0))? as u64)
        })
    }

    fn problem_facts(&self) -> Result<Vec<ProblemFact>> {
        self.block(async {
            self.rows(
                "SELECT id, region_id, department_id, status, reported_at, resolved_at, deadline, confirmed_at, rating
                 FROM problems",
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(ProblemFact {
                    id: r.try_get(0)?,
                    region_id: r.try_get(1)?,
                    department_id: r.try_get(2)?,
                    status: r.try_get(3)?,
                    reported_at: r.try_get(4)?,
                    resolved_at: r.try_get(5)?,
                    deadline: r.try_get(6)?,
                    confirmed_at: r.try_get(7)?,
                    rating: r.try_get::<_, Option<i64>>(8)?.map(|v| v as u8),
                })
            })
            .collect()
        })
    }

    fn visit_facts(&self) -> Result<Vec<VisitFact>> {
        self.block(async {
            let rows = self
                .rows(
                    "SELECT v.enterprise_id, e.region_id, v.cadre_id, v.date
                     FROM visits v JOIN enterprises e ON e.id = v.enterprise_id",
                    &[],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let date: String = r.try_get(3)?;
                let Ok(day) = zhuqi_core::domain::text::parse_date("date", &date) else { continue };
                out.push(VisitFact {
                    enterprise_id: r.try_get(0)?,
                    region_id: r.try_get(1)?,
                    cadre_id: r.try_get(2)?,
                    day: day * 86_400_000 - 8 * 3_600_000,
                });
            }
            Ok(out)
        })
    }

    fn problem_rows(&self) -> Result<Vec<ProblemRow>> {
        self.block(async {
            self.rows(
                "SELECT id, enterprise_id, enterprise_name, region_id, category, title, description, status, level,
                        department_id, deadline, reported_at, resolved_at, rating, urge_count, conflict_count
                 FROM problems ORDER BY reported_at DESC, id",
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(ProblemRow {
                    id: r.try_get(0)?,
                    enterprise_id: r.try_get(1)?,
                    enterprise_name: r.try_get(2)?,
                    region_id: r.try_get(3)?,
                    category: r.try_get(4)?,
                    title: r.try_get(5)?,
                    description: r.try_get(6)?,
                    status: r.try_get(7)?,
                    level: r.try_get::<_, i64>(8)? as u8,
                    department_id: r.try_get(9)?,
                    deadline: r.try_get(10)?,
                    reported_at: r.try_get(11)?,
                    resolved_at: r.try_get(12)?,
                    rating: r.try_get::<_, Option<i64>>(13)?.map(|v| v as u8),
                    urge_count: r.try_get::<_, i64>(14)? as u32,
                    conflict_count: r.try_get::<_, i64>(15)? as u32,
                })
            })
            .collect()
        })
    }

    fn event_receipts(&self, problem_id: &str) -> Result<Vec<(String, i64)>> {
        self.block(async {
            self.rows(
                "SELECT event_id, received_at FROM problem_events WHERE problem_id = $1 AND received_at IS NOT NULL",
                &[&problem_id],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    fn assignments(&self) -> Result<Vec<(String, String, bool)>> {
        self.block(async {
            self.rows("SELECT enterprise_id, cadre_id, chief FROM assignments ORDER BY enterprise_id, cadre_id", &[])
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect()
        })
    }

    fn enterprise_rows(&self) -> Result<Vec<(String, String, String)>> {
        self.block(async {
            self.rows("SELECT id, name, region_id FROM enterprises ORDER BY name, id", &[])
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect()
        })
    }

    fn task_notice_rows(&self) -> Result<Vec<(String, String, String, String, i64, i64, String)>> {
        self.block(async {
            self.rows(
                "SELECT id, region_id, title, issued_by, issued_at, deadline, status FROM task_notices
                 ORDER BY issued_at DESC, id",
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                    r.try_get(6)?,
                ))
            })
            .collect()
        })
    }

    fn task_recipient_rows(&self, notice_id: &str) -> Result<Vec<(String, Option<i64>, Option<i64>)>> {
        self.block(async {
            self.rows(
                "SELECT recipient, acknowledged_at, completed_at FROM task_recipients WHERE notice_id = $1
                 ORDER BY recipient",
                &[&notice_id],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
        })
    }

    fn enterprises_per_region(&self) -> Result<Vec<(String, u32)>> {
        self.block(async {
            self.rows("SELECT region_id, COUNT(*) FROM enterprises GROUP BY region_id", &[])
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u32)))
                .collect()
        })
    }
}

/// Writes one push inside the caller's transaction, numbering its changes from `seq` on.
/// The actor ids bound to a device.
async fn device_actors<C: GenericClient + ?Sized>(c: &C, device_id: &str) -> Result<Vec<Vec<u8>>> {
    rows(c, "SELECT actor FROM device_actors WHERE device_id = $1", &[&device_id])
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

/// Which of these change hashes are stored.
async fn known_hashes<C: GenericClient + ?Sized>(c: &C, hashes: Param<'_>) -> Result<Vec<Vec<u8>>> {
    rows(c, "SELECT hash FROM changes WHERE hash = ANY($1)", &[hashes])
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

/// The scope keys a user reads with (see `scope::user_keys`).
async fn user_keys<C: GenericClient + ?Sized>(c: &C, user: &User) -> Result<Vec<String>> {
    let mut keys = crate::storage::scope::static_user_keys(user);
    if user.role == Role::Cadre {
        for r in rows(c, "SELECT enterprise_id FROM assignments WHERE cadre_id = $1", &[&user.id]).await? {
            keys.push(format!("ent:{}", r.try_get::<_, String>(0)?));
        }
    }
    Ok(keys)
}

/// Writes commits after sequence number `first` (the counter row is locked). The statements are
/// sent without waiting for each other's answers where they do not depend on them (tokio-postgres
/// pipelines queries issued at once on one connection): a batch of many pushes costs about ten
/// round trips, not ten per document.
async fn write_commits<C: GenericClient + ?Sized>(
    tx: &C,
    commits: &[&Commit],
    writer: &str,
    channel: &str,
    first: u64,
) -> Result<Vec<u64>> {
    let writes: Vec<&DocWrite> = commits.iter().flat_map(|c| &c.docs).collect();
    // 1. Refuse writes computed from copies another relay has changed since, and find the changes
    // stored already (a retried push).
    let doc_ids: Vec<&str> = writes.iter().map(|d| d.doc_id.as_str()).collect();
    let bases: Vec<i64> = writes.iter().map(|d| d.base_seq as i64).collect();
    let hashes: Vec<&[u8]> = writes.iter().flat_map(|d| &d.changes).map(|c| c.hash.as_slice()).collect();
    let stale = async {
        opt(
            tx,
            "SELECT u.d FROM UNNEST($1::text[], $2::bigint[]) AS u(d, b)
             WHERE EXISTS (SELECT 1 FROM changes WHERE doc_id = u.d AND seq > u.b AND writer <> $3) LIMIT 1",
            &[&doc_ids, &bases, &writer],
        )
        .await
    };
    let (stale, known) = futures_util::try_join!(stale, known_hashes(tx, &hashes))?;
    if let Some(r) = stale {
        return Err(StorageError::Stale(r.try_get(0)?));
    }
    let mut stored: HashSet<Vec<u8>> = known.into_iter().collect();

    // 2. Number the new changes; a document's rows are written for the last of its writes that added any.
    let mut seq = first;
    let mut out = Vec::with_capacity(commits.len());
    let mut change_rows = ChangeRows::default();
    let mut doc_writes: Vec<(&DocWrite, i64)> = Vec::new();
    let mut notices = Vec::with_capacity(commits.len());
    for c in commits {
        let mut docs = Vec::new();
        for d in &c.docs {
            let before = seq;
            for ch in &d.changes {
                if stored.insert(ch.hash.clone()) {
                    seq += 1;
                    change_rows.push(seq as i64, d, ch, c);
                }
            }
            if seq > before {
                doc_writes.push((d, seq as i64));
                docs.push(d.doc_id.as_str());
            }
        }
        out.push(seq);
        notices.push(notice_payload(writer, seq, c.notice_keys(), &docs));
    }

    // 3. The change log and the receipts of the events, then each document's row, keys and
    // projection (in the order of its writes; documents beside each other), the notices, the counter.
    change_rows.write(tx, writer).await?;
    let mut per_doc: BTreeMap<&str, Vec<(&DocWrite, i64)>> = BTreeMap::new();
    for (d, last) in doc_writes {
        per_doc.entry(d.doc_id.as_str()).or_default().push((d, last));
    }
    let documents = futures_util::future::try_join_all(per_doc.into_values().map(async |writes| {
        for (d, last) in writes {
            write_doc(tx, d, last).await?;
        }
        Ok::<_, StorageError>(())
    }));
    let notify = futures_util::future::try_join_all(
        notices.iter().map(async |payload| exec(tx, "SELECT pg_notify($1, $2)", &[&channel, payload]).await),
    );
    let counter = async { exec(tx, "UPDATE counters SET value = $1 WHERE name = 'seq'", &[&(seq as i64)]).await };
    futures_util::try_join!(documents, notify, counter)?;
    Ok(out)
}

/// New rows of the change log and of the event receipts, written with one statement each.
#[derive(Default)]
struct ChangeRows<'a> {
    seqs: Vec<i64>,
    doc_ids: Vec<&'a str>,
    hashes: Vec<&'a [u8]>,
    bytes: Vec<&'a [u8]>,
    user_ids: Vec<&'a str>,
    device_ids: Vec<&'a str>,
    received: Vec<i64>,
    event_ids: Vec<&'a str>,
    event_seqs: Vec<i64>,
    event_received: Vec<i64>,
}

impl<'a> ChangeRows<'a> {
    fn push(&mut self, seq: i64, d: &'a DocWrite, ch: &'a AcceptedChange, c: &'a Commit) {
        self.seqs.push(seq);
        self.doc_ids.push(&d.doc_id);
        self.hashes.push(&ch.hash);
        self.bytes.push(&ch.bytes);
        self.user_ids.push(&c.user_id);
        self.device_ids.push(&c.device_id);
        self.received.push(c.received_at);
        for e in &ch.event_ids {
            self.event_ids.push(e);
            self.event_seqs.push(seq);
            self.event_received.push(c.received_at);
        }
    }

    async fn write<C: GenericClient + ?Sized>(&self, tx: &C, writer: &str) -> Result<()> {
        let changes = async {
            exec(
                tx,
                "INSERT INTO changes (seq, doc_id, hash, bytes, user_id, device_id, received_at, writer)
             SELECT s, d, h, b, u, v, r, $8
             FROM UNNEST($1::bigint[], $2::text[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::bigint[])
                 AS x(s, d, h, b, u, v, r)",
                &[
                    &self.seqs,
                    &self.doc_ids,
                    &self.hashes,
                    &self.bytes,
                    &self.user_ids,
                    &self.device_ids,
                    &self.received,
                    &writer,
                ],
            )
            .await
        };
        let receipts = async {
            exec(
                tx,
                "INSERT INTO event_receipts (event_id, change_seq, received_at)
             SELECT e, s, r FROM UNNEST($1::text[], $2::bigint[], $3::bigint[]) AS x(e, s, r) ON CONFLICT DO NOTHING",
                &[&self.event_ids, &self.event_seqs, &self.event_received],
            )
            .await
        };
        futures_util::try_join!(changes, receipts)?;
        Ok(())
    }
}

/// A document's row (a fresh snapshot, or its last sequence number), scope keys and projection.
async fn write_doc<C: GenericClient + ?Sized>(tx: &C, d: &DocWrite, last: i64) -> Result<()> {
    match &d.snapshot {
        Some(snapshot) => {
            exec(
                tx,
                "INSERT INTO docs (id, kind, snapshot, snapshot_seq, last_seq) VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (id) DO UPDATE SET snapshot = EXCLUDED.snapshot,
                     snapshot_seq = EXCLUDED.snapshot_seq, last_seq = EXCLUDED.last_seq",
                &[&d.doc_id, &d.kind.as_str(), snapshot, &last],
            )
            .await?;
        }
        None => {
            let n = exec(tx, "UPDATE docs SET last_seq = $2 WHERE id = $1", &[&d.doc_id, &last]).await?;
            if n == 0 {
                return Err(StorageError::Corrupt(format!("new document {} without a snapshot", d.doc_id)));
            }
        }
    }
    write_keys(tx, &d.doc_id, &d.keys, last).await?;
    write_projection(tx, &d.doc_id, &d.projection, last).await
}

/// Brings a document's scope keys to `keys` (see the SQLite store's `write_keys`); lists travel as
/// arrays (`UNNEST`), so a document costs one statement whatever its number of keys.
async fn write_keys<C: GenericClient + ?Sized>(tx: &C, doc_id: &str, keys: &[String], seq: i64) -> Result<()> {
    // One statement: the keys it lost, logged as removals; those it has, added or refreshed (the
    // two touch different rows).
    exec(
        tx,
        "WITH removed AS (DELETE FROM doc_keys WHERE doc_id = $2 AND NOT (key = ANY($1)) RETURNING key),
              logged AS (INSERT INTO doc_key_removals (key, doc_id, seq) SELECT key, $2, $3 FROM removed)
         INSERT INTO doc_keys (key, doc_id, added_seq, last_seq) SELECT k, $2, $3, $3 FROM UNNEST($1::text[]) AS k
         ON CONFLICT (key, doc_id) DO UPDATE SET last_seq = EXCLUDED.last_seq",
        &[&keys, &doc_id, &seq],
    )
    .await?;
    Ok(())
}

async fn write_projection<C: GenericClient + ?Sized>(tx: &C, id: &str, p: &Projection, seq: i64) -> Result<()> {
    let steps = plan::projection(id, p);
    let Some(s) = plan::assigned(p) else { return run_steps(tx, &steps).await };
    // The rows and the stored assignments go out together; the assignments are rewritten after,
    // only when they changed (a visit, the usual push, leaves them).
    let stored = async {
        let rows = rows(tx, "SELECT cadre_id, chief, since FROM assignments WHERE enterprise_id = $1", &[&id]).await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?)))).collect::<Result<plan::Assignments>>()
    };
    let (_, stored) = futures_util::try_join!(run_steps(tx, &steps), stored)?;
    run_steps(tx, &plan::assignments(id, s, &stored, seq)).await
}

/// Executes a plan's steps: those on different tables sent together (pipelined on the connection),
/// those on one table in order.
async fn run_steps<C: GenericClient + ?Sized>(tx: &C, steps: &[plan::Step]) -> Result<()> {
    let mut chains: Vec<(&str, Vec<&plan::Step>)> = Vec::new();
    for step in steps {
        let table = match step {
            plan::Step::Delete { table, .. } => *table,
            plan::Step::Rows(r) => r.table,
        };
        match chains.iter_mut().find(|(t, _)| *t == table) {
            Some((_, chain)) => chain.push(step),
            None => chains.push((table, vec![step])),
        }
    }
    futures_util::future::try_join_all(chains.iter().map(|(_, chain)| async move {
        for step in chain {
            run_step(tx, step).await?;
        }
        Ok::<_, StorageError>(())
    }))
    .await?;
    Ok(())
}

/// One step: a delete, or rows sent as one array per column and inserted from `UNNEST`.
async fn run_step<C: GenericClient + ?Sized>(tx: &C, step: &plan::Step) -> Result<u64> {
    let r = match step {
        plan::Step::Delete { table, column, value } => {
            let plan::Value::Text(Some(v)) = value else {
                return Err(StorageError::Corrupt(format!("delete from {table} by a non-text key")));
            };
            return exec(tx, &format!("DELETE FROM {table} WHERE {column} = $1"), &[v]).await;
        }
        plan::Step::Rows(r) => r,
    };
    let mut arrays: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(r.columns.len());
    let mut types = Vec::with_capacity(r.columns.len());
    for c in 0..r.columns.len() {
        let column = r.rows.iter().map(|row| &row[c]);
        let (array, ty): (Box<dyn ToSql + Sync + Send>, &str) = match r.rows.first().map(|row| &row[c]) {
            Some(plan::Value::Int(_)) => (
                Box::new(column.map(|v| if let plan::Value::Int(i) = v { *i } else { None }).collect::<Vec<_>>()),
                "bigint",
            ),
            Some(plan::Value::Bool(_)) => {
                (Box::new(column.map(|v| matches!(v, plan::Value::Bool(true))).collect::<Vec<_>>()), "boolean")
            }
            _ => (
                Box::new(
                    column.map(|v| if let plan::Value::Text(t) = v { t.clone() } else { None }).collect::<Vec<_>>(),
                ),
                "text",
            ),
        };
        arrays.push(array);
        types.push(format!("${}::{ty}[]", c + 1));
    }
    let names: Vec<String> = (0..r.columns.len()).map(|c| format!("c{c}")).collect();
    let from = format!("UNNEST({}) AS x({})", types.join(", "), names.join(", "));
    let params: Vec<Param<'_>> = arrays.iter().map(|a| a.as_ref() as Param<'_>).collect();
    exec(tx, &plan::insert_sql(r, &names, Some(&from)), &params).await
}

/// What changed for a user since `cursor`: the same algorithm as the SQLite store's `pull`, in one
/// repeatable-read transaction.
async fn pull<C: GenericClient + ?Sized>(
    c: &C,
    user_id: &str,
    keys: &[String],
    cursor: u64,
    device_id: &str,
    budget: usize,
) -> Result<Pull> {
    if keys.is_empty() {
        return Ok(Pull { cursor: counter(c, "seq").await?.max(cursor), ..Pull::default() });
    }
    // The first four queries go out together (pipelined): the top of the sequence, which they bound
    // with the same subquery (one snapshot, one answer), the user's key events, the documents changed
    // under their keys and the keys removed from documents since the cursor.
    let cur = cursor as i64;
    const TOP: &str = "(SELECT value FROM counters WHERE name = 'seq')";
    let top = counter(c, "seq");
    let events = async {
        rows(
            c,
            "SELECT key, added FROM user_key_events WHERE user_id = $1 AND seq > $2 ORDER BY seq",
            &[&user_id, &cur],
        )
        .await
    };
    let changed_sql = format!(
        "SELECT doc_id, added_seq, last_seq FROM doc_keys WHERE key = ANY($1) AND last_seq > $2 AND last_seq <= {TOP}"
    );
    let changed = async { rows(c, &changed_sql, &[&keys, &cur]).await };
    let removed_sql = format!("SELECT doc_id FROM doc_key_removals WHERE key = ANY($1) AND seq > $2 AND seq <= {TOP}");
    let removed = async { rows(c, &removed_sql, &[&keys, &cur]).await };
    let (top, events, changed, removed) = futures_util::try_join!(top, events, changed, removed)?;
    if cursor >= top {
        return Ok(Pull { cursor: top.max(cursor), ..Pull::default() });
    }
    let top_i = top as i64;
    let events: Vec<(String, bool)> =
        events.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_>>()?;
    let (gained, lost) = pull_plan::gained_and_lost(events, keys);
    let mut docs: BTreeMap<String, (bool, u64)> = BTreeMap::new();
    for r in changed {
        let (added, last): (i64, i64) = (r.try_get(1)?, r.try_get(2)?);
        pull_plan::changed(&mut docs, r.try_get(0)?, added as u64, last as u64, cursor);
    }
    for k in &gained {
        for r in
            rows(c, "SELECT doc_id, last_seq FROM doc_keys WHERE key = $1 AND last_seq <= $2", &[k, &top_i]).await?
        {
            docs.insert(r.try_get(0)?, (true, r.try_get::<_, i64>(1)? as u64));
        }
    }
    let mut purge_candidates: HashSet<String> = HashSet::new();
    for r in removed {
        purge_candidates.insert(r.try_get(0)?);
    }
    for k in &lost {
        for r in rows(c, "SELECT doc_id FROM doc_keys WHERE key = $1", &[k]).await? {
            purge_candidates.insert(r.try_get(0)?);
        }
    }
    let candidates: Vec<&String> = purge_candidates.iter().collect();
    let visible: HashSet<String> = if candidates.is_empty() {
        HashSet::new()
    } else {
        rows(c, "SELECT DISTINCT doc_id FROM doc_keys WHERE doc_id = ANY($1) AND key = ANY($2)", &[&candidates, &keys])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?
    };
    let purge = pull_plan::purge(&mut docs, purge_candidates, &visible);
    // The data of up to 64 documents comes in four queries.
    let mut pages = pull_plan::Pages::new(pull_plan::page_order(docs), budget, top);
    while let Some(chunk) = pages.next_chunk() {
        let fetched = page_data(c, chunk, cur, top_i, device_id).await?;
        pages.add(fetched)?;
    }
    Ok(pages.finish(purge))
}

/// What a pull sends of these documents: whole ones as their snapshot and the changes stored after it
/// (nothing when every change came from this device, which has them), the others as the changes other
/// devices made after the cursor.
async fn page_data<C: GenericClient + ?Sized>(
    c: &C,
    chunk: &[(String, bool, u64)],
    cursor: i64,
    top: i64,
    device_id: &str,
) -> Result<HashMap<String, (DocKind, Vec<Vec<u8>>)>> {
    let ids: Vec<&str> = chunk.iter().map(|(d, ..)| d.as_str()).collect();
    let whole: Vec<&str> = chunk.iter().filter(|(_, w, _)| *w).map(|(d, ..)| d.as_str()).collect();
    let partial: Vec<&str> = chunk.iter().filter(|(_, w, _)| !*w).map(|(d, ..)| d.as_str()).collect();
    // The documents' rows, which whole documents hold changes from other devices, and the changes
    // of the others, all at once (pipelined); then the changes after the whole ones' snapshots.
    let rows_of_docs = async {
        rows(
            c,
            "SELECT id, kind, snapshot_seq, CASE WHEN id = ANY($2) THEN snapshot END FROM docs WHERE id = ANY($1)",
            &[&ids, &whole],
        )
        .await
    };
    let others = async {
        if whole.is_empty() {
            return Ok(Vec::new());
        }
        rows(c, "SELECT DISTINCT doc_id FROM changes WHERE doc_id = ANY($1) AND device_id <> $2", &[&whole, &device_id])
            .await
    };
    let partial_changes = async {
        if partial.is_empty() {
            return Ok(Vec::new());
        }
        rows(
            c,
            "SELECT doc_id, bytes FROM changes
             WHERE doc_id = ANY($1) AND seq > $2 AND seq <= $3 AND device_id <> $4 ORDER BY doc_id, seq",
            &[&partial, &cursor, &top, &device_id],
        )
        .await
    };
    let (rows_of_docs, others, partial_changes) = futures_util::try_join!(rows_of_docs, others, partial_changes)?;
    let mut out: HashMap<String, (DocKind, Vec<Vec<u8>>)> = HashMap::new();
    let mut snapshots: HashMap<String, Vec<u8>> = HashMap::new();
    let mut since: HashMap<String, i64> = HashMap::new();
    for r in rows_of_docs {
        let id: String = r.try_get(0)?;
        if let Some(snapshot) = r.try_get::<_, Option<Vec<u8>>>(3)? {
            snapshots.insert(id.clone(), snapshot);
            since.insert(id.clone(), r.try_get(2)?);
        }
        out.insert(id, (kind_of(r.try_get(1)?)?, Vec::new()));
    }
    if !whole.is_empty() {
        // Whole documents with a change from another device: their snapshot and later changes.
        let others: HashSet<String> = others.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
        for (id, snapshot) in snapshots {
            if let Some(e) = out.get_mut(&id).filter(|_| others.contains(&id)) {
                e.1.push(snapshot);
            }
        }
        // Each document's changes after its own snapshot: one index range per (id, snapshot_seq)
        // pair (a lateral join; a plain join lets the planner scan the whole change log).
        let (others, after): (Vec<&String>, Vec<i64>) =
            others.iter().filter_map(|id| Some((id, *since.get(id)?))).unzip();
        for r in rows(
            c,
            "SELECT x.id, c.bytes FROM UNNEST($1::text[], $2::bigint[]) AS x(id, since)
             CROSS JOIN LATERAL (SELECT seq, bytes FROM changes
                                 WHERE doc_id = x.id AND seq > x.since AND seq <= $3) AS c
             ORDER BY x.id, c.seq",
            &[&others, &after, &top],
        )
        .await?
        {
            if let Some(e) = out.get_mut(&r.try_get::<_, String>(0)?) {
                e.1.push(r.try_get(1)?);
            }
        }
    }
    for r in partial_changes {
        if let Some(e) = out.get_mut(&r.try_get::<_, String>(0)?) {
            e.1.push(r.try_get(1)?);
        }
    }
    Ok(out)
}

/// The payload of a commit notice: `{"w": writer, "s": seq, "k": [keys], "d": [document ids]}`.
fn notice_payload(writer: &str, seq: u64, keys: Vec<String>, docs: &[&str]) -> String {
    let payload = serde_json::json!({ "w": writer, "s": seq, "k": keys, "d": docs }).to_string();
    if payload.len() <= MAX_NOTICE_BYTES {
        return payload;
    }
    serde_json::json!({ "w": writer, "s": seq, "k": [ALL_KEYS] }).to_string()
}

/// Listens for other relays' commits on a connection of its own, reconnecting when it drops; after a
/// reconnection it reports "anything may have changed", since notices sent meanwhile are lost.
async fn listen(config: tokio_postgres::Config, channel: String, writer: String, sink: ChangeSink) {
    let mut reconnecting = false;
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(m) = messages.next().await {
                        match m {
                            Ok(AsyncMessage::Notification(n)) => {
                                if tx.send(n.payload().to_owned()).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!("change listener: {e}");
                                break;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN \"{}\"", channel.replace('"', ""))).await {
                    Ok(()) => {
                        if reconnecting
                            && let Ok(r) = client.query_one("SELECT value FROM counters WHERE name = 'seq'", &[]).await
                        {
                            let seq = r.get::<_, i64>(0) as u64;
                            sink(ForeignCommit { seq, keys: vec![ALL_KEYS.to_owned()], docs: Vec::new() });
                        }
                        while let Some(payload) = rx.recv().await {
                            let Ok(v) = serde_json::from_str::<serde_json::Value>(&payload) else { continue };
                            if v["w"].as_str() == Some(writer.as_str()) {
                                continue; // this relay's own commit, already announced
                            }
                            let strings = |v: &serde_json::Value| -> Vec<String> {
                                v.as_array()
                                    .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
                                    .unwrap_or_default()
                            };
                            let seq = v["s"].as_u64().unwrap_or(0);
                            sink(ForeignCommit { seq, keys: strings(&v["k"]), docs: strings(&v["d"]) });
                        }
                    }
                    Err(e) => tracing::warn!("change listener: {e}"),
                }
                driver.abort();
            }
            Err(e) => tracing::warn!("change listener cannot connect: {e}"),
        }
        reconnecting = true;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
