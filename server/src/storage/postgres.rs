//! The PostgreSQL store of the relay (`--database-url postgres://…`): for a province, where several
//! relay instances behind a load balancer share one database and hold no state the others need.
//!
//! The storage logic is `store`'s; this is how to reach PostgreSQL ([`Backend`]) and how to run
//! statements and plans on it ([`Db`]): queries given together and a plan's chains are pipelined on
//! one connection, and a plan's rows of a table go as one statement (arrays, `UNNEST`). Sequence numbers come from a counter row that
//! each commit locks (`SELECT … FOR UPDATE`) for the length of its transaction, so they are handed out
//! in commit order and a cursor never passes a change that is not yet visible. Each commit also sends
//! a notice on channel `zhuqi_changes_<schema>` with the scope keys it touched; every relay `LISTEN`s
//! and tells its own live listeners (`/v1/events`).
//!
//! The driver is tokio-postgres with a deadpool pool, on a small runtime of this store's own: the
//! trait's calls are blocking (they run on the relay's blocking threads) and wait on that runtime.

use super::db::{Backend, Db, Dialect, Query, Row, Value};
use super::plan::{self, Step};
use super::schema::{self, SIGN_IN_TABLES, TABLES};
use super::{ALL_KEYS, ChangeSink, ForeignCommit, Result, StorageError};
use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::StreamExt;
use std::future::Future;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{AsyncMessage, NoTls};

/// The schema version of a fresh database (row `schema_version` of `zhuqi_meta`).
pub const VERSION: i64 = 12;

/// The statements that bring a database of version `i + 1` to version `i + 2`.
const MIGRATIONS: &[&[&str]] = &[
    // 2: failed sign-ins under fixed-length hashed keys (they stored whole logins), the logins known
    // at an address, and dashboard sessions apart from device tokens.
    &["DROP TABLE sign_in_failures;", SIGN_IN_TABLES],
    // 3: the writer of a change defaults to '' (as in SQLite, where the column was added later).
    &["ALTER TABLE changes ALTER COLUMN writer SET DEFAULT '';"],
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
];

/// The channel of the commit notices is this followed by the schema's name: stores in different
/// schemas of one database do not hear each other.
const CHANNEL_PREFIX: &str = "zhuqi_changes_";

/// Held while a relay creates or upgrades the schema, so that relays starting together do it once.
const MIGRATION_LOCK: i64 = 0x7a68_7571_6900;

/// NOTIFY payloads are limited to 8,000 bytes; a commit touching more keys announces "everything".
const MAX_NOTICE_BYTES: usize = 7_000;

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
        let schema: String = store
            .block(async { Ok(store.client().await?.query_one("SELECT current_schema()", &[]).await?.try_get(0)?) })?;
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
                tx.batch_execute(&schema::create(TABLES, Dialect::Postgres)).await?;
                tx.batch_execute(&schema::create(SIGN_IN_TABLES, Dialect::Postgres)).await?;
                let later = schema::PHOTO_REFS.iter().chain(schema::POLICY_REACH).chain(schema::PROVINCE_SCALE);
                let later = later.chain(schema::ENTERPRISE_WEB);
                for sql in schema::OFFICE_SETTINGS.iter().chain(later) {
                    tx.batch_execute(&schema::create(sql, Dialect::Postgres)).await?;
                }
                tx.execute("INSERT INTO zhuqi_meta (name, value) VALUES ('schema_version', $1)", &[&VERSION]).await?;
            }
            Some(v) if v > VERSION => {
                return Err(StorageError::Corrupt(format!("relay database version {v} is newer than {VERSION}")));
            }
            Some(v) if v < VERSION => {
                let reproject = (v < schema::REPROJECT_BELOW).then_some(&schema::ASK_REPROJECT);
                for m in MIGRATIONS[v as usize - 1..].iter().flat_map(|m| m.iter()).chain(reproject) {
                    tx.batch_execute(&schema::create(m, Dialect::Postgres)).await?;
                }
                tx.execute("UPDATE zhuqi_meta SET value = $1 WHERE name = 'schema_version'", &[&VERSION]).await?;
            }
            Some(_) => {}
        }
        if version.is_none_or(|v| v < VERSION) {
            tx.batch_execute(&schema::calendar_months()).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Backend for PostgresStorage {
    fn read<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        let client = self.block(self.client())?;
        f(&mut PgDb { runtime: self.runtime(), client: &client })
    }

    fn snapshot<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        self.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", f)
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        self.transaction("BEGIN", f)
    }

    fn writer_id(&self) -> &str {
        &self.writer_id
    }

    fn announce(&self, seq: u64, keys: Vec<String>, docs: &[&str]) -> Option<Step> {
        let payload = notice_payload(&self.writer_id, seq, keys, docs);
        Some(Step::exec("notify", "SELECT pg_notify($1, $2)", vec![(&self.channel).into(), payload.into()]))
    }

    fn listen(&self, sink: ChangeSink) {
        self.runtime().spawn(listen(self.config.clone(), self.channel.clone(), self.writer_id.clone(), sink));
    }

    fn after_bulk_load(&self) -> Result<()> {
        // Fresh statistics: with none, the planner takes a million-row change log for a small table.
        self.block(async { Ok(self.client().await?.batch_execute("ANALYZE").await?) })
    }
}

impl PostgresStorage {
    /// Runs `f` in a transaction opened with `begin`: committed if `f` succeeds, rolled back (or the
    /// connection dropped) otherwise.
    fn transaction<T>(&self, begin: &str, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        let client = self.block(async {
            let client = self.client().await?;
            client.batch_execute(begin).await?;
            Ok(client)
        })?;
        let out = f(&mut PgDb { runtime: self.runtime(), client: &client });
        let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
        if let Err(e) = self.block(async { Ok(client.batch_execute(end).await?) }) {
            drop(deadpool_postgres::Object::take(client));
            return Err(e);
        }
        out
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

/// A pooled connection running the shared statements, each call waiting on the store's runtime.
struct PgDb<'a> {
    runtime: &'a tokio::runtime::Runtime,
    client: &'a Client,
}

impl Db for PgDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query_many(&mut self, queries: Vec<Query<'_>>) -> Result<Vec<Vec<Row>>> {
        let c = self.client;
        self.runtime.block_on(futures_util::future::try_join_all(queries.iter().map(async |(sql, params)| {
            let statement = c.prepare_cached(sql).await?;
            let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            c.query(&statement, &params).await?.iter().map(row).collect::<Result<Vec<Row>>>()
        })))
    }

    fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64> {
        self.runtime.block_on(exec(self.client, sql, &params))
    }

    fn run(&mut self, steps: &[Step]) -> Result<()> {
        self.runtime.block_on(run_steps(self.client, steps))
    }
}

async fn exec(c: &Client, sql: &str, params: &[Value]) -> Result<u64> {
    let statement = c.prepare_cached(sql).await?;
    let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    Ok(c.execute(&statement, &params).await?)
}

/// A row as [`Value`]s, by the types of its columns.
fn row(r: &tokio_postgres::Row) -> Result<Row> {
    let mut out = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let ty = column.type_();
        out.push(if *ty == Type::INT8 {
            Value::Int(r.try_get(i)?)
        } else if *ty == Type::INT4 {
            Value::Int(r.try_get::<_, Option<i32>>(i)?.map(i64::from))
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?.map_or(Value::Int(None), Value::Bool)
        } else if *ty == Type::BYTEA {
            Value::Blob(r.try_get(i)?)
        } else {
            Value::Text(r.try_get(i)?)
        });
    }
    Ok(Row(out))
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Text(v) => v.to_sql_checked(ty, out),
            Value::Int(v) => v.to_sql_checked(ty, out),
            Value::Bool(v) => v.to_sql_checked(ty, out),
            Value::Blob(v) => v.as_deref().to_sql_checked(ty, out),
            Value::Texts(v) => v.to_sql_checked(ty, out),
            Value::Blobs(v) => v.iter().map(Vec::as_slice).collect::<Vec<_>>().to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Executes a plan's steps: the chains sent together (pipelined on the connection), the steps of
/// a chain in order.
async fn run_steps(tx: &Client, steps: &[Step]) -> Result<()> {
    let mut chains: Vec<(&str, Vec<&Step>)> = Vec::new();
    for step in steps {
        let table = step.chain();
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

/// One step: a statement, or rows sent as one array per column and inserted from `UNNEST`.
async fn run_step(tx: &Client, step: &Step) -> Result<u64> {
    let r = match step {
        Step::Exec { sql, params, must_change, .. } => {
            let n = exec(tx, sql, params).await?;
            if n == 0 && *must_change {
                return Err(StorageError::Corrupt(format!("nothing to change: {sql} {:?}", params.first())));
            }
            return Ok(n);
        }
        Step::Rows(r) if r.rows.is_empty() => return Ok(0),
        Step::Rows(r) => r,
    };
    // One array per column, typed as its first value.
    let arrays: Vec<Vec<&Value>> = (0..r.columns.len()).map(|c| r.rows.iter().map(|row| &row[c]).collect()).collect();
    let types: Vec<String> = (arrays.iter().enumerate())
        .map(|(c, column)| {
            let ty = match column.first() {
                Some(Value::Int(_)) => "bigint",
                Some(Value::Bool(_)) => "boolean",
                Some(Value::Blob(_)) => "bytea",
                _ => "text",
            };
            format!("${}::{ty}[]", c + 1)
        })
        .collect();
    let names: Vec<String> = (0..r.columns.len()).map(|c| format!("c{c}")).collect();
    let from = format!("UNNEST({}) AS x({})", types.join(", "), names.join(", "));
    let params: Vec<&(dyn ToSql + Sync)> = arrays.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    let statement = tx.prepare_cached(&plan::insert_sql(r, &names, Some(&from))).await?;
    Ok(tx.execute(&statement, &params).await?)
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
