//! The PostgreSQL store of the relay (`--database-url postgres://…`): for a province, where several
//! relay instances behind a load balancer share one database and hold no state the others need.
//!
//! The storage logic is `store`'s; this is how to reach PostgreSQL ([`Backend`]) and how to run
//! statements and plans on it ([`Db`]): queries given together and a plan's chains are pipelined on
//! one connection, and a plan's rows of a table go as one statement (arrays, `UNNEST`). Each commit
//! also sends a notice on channel `zhuqi_changes_<schema>` with the scope keys it touched; every relay
//! `LISTEN`s and tells its own live listeners (`/v1/events`).
//!
//! Sequence numbers come from a sequence, `changes_seq`, so commits of several relays run side by
//! side and may become visible out of the order of their numbers. A commit first *claims* (a row
//! of `commit_claims`, committed on its own before the commit's transaction begins) the highest
//! number handed out so far, its floor: every number it takes later is above it. Its transaction
//! then holds the claim (deletes the row, which other transactions still see until it commits, and
//! which nothing else may delete meanwhile) and its documents (advisory locks), checks that its
//! copies are not stale, takes its numbers and commits: the claim goes with its changes. A pull's
//! horizon is read before its snapshot: the highest number handed out, lowered to the lowest
//! floor claimed; every change numbered up to it is then visible in the snapshot, or never will
//! be. A claim left by a relay that died goes after [`ABANDONED`] (its transaction ended, so
//! nothing holds it: `FOR UPDATE SKIP LOCKED`); a relay that stops talking within a commit has
//! its transaction ended by PostgreSQL after `idle_in_transaction_session_timeout`.
//!
//! Commits are announced (to this relay's live listeners, and to the others' by notice) as they
//! land, perhaps before a pull can reach them: a device told of one might sync, stop below it, and
//! hear of nothing more. So other relays' commits are reported to this relay once the horizon
//! reaches them, and its own are announced again then when a lower claim remained as they committed
//! ([`Reach`]).
//!
//! The driver is tokio-postgres with a deadpool pool, on a small runtime of this store's own: the
//! trait's calls are blocking (they run on the relay's blocking threads) and wait on that runtime.

use super::db::{Backend, Db, Dialect, Query, Row, Value, args};
use super::plan::{self, Step};
use super::schema::{self, SIGN_IN_TABLES, TABLES};
use super::{ALL_KEYS, ChangeSink, ForeignCommit, Result, StorageError};
use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::StreamExt;
use std::future::Future;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{AsyncMessage, NoTls};

/// The schema version of a fresh database (row `schema_version` of `zhuqi_meta`).
pub const VERSION: i64 = 13;

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
    // 13: see `NUMBERING`.
    NUMBERING,
];

/// Sequence numbers from a sequence, and the commits' claims on them (version 13; see the module's
/// description). `CACHE 1` (each number taken from the shared sequence, none held back by a
/// connection): the sequence's `last_value` is then the highest number handed out. The claims are
/// an unlogged table: they are never worth a disk flush, and a crash of the server, which ends every
/// commit under way, empties it.
const NUMBERING: &[&str] = &[
    "CREATE SEQUENCE changes_seq MINVALUE 0 CACHE 1;",
    "SELECT setval('changes_seq', GREATEST(
         (SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'seq'), (SELECT COALESCE(MAX(seq), 0) FROM changes)));",
    "CREATE UNLOGGED TABLE commit_claims (
        pid INTEGER PRIMARY KEY,
        floor BIGINT NOT NULL,
        claimed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );",
    "DELETE FROM counters WHERE name = 'seq';",
];

/// A commit's claim, by the connection's server process (one commit at a time on a connection):
/// the highest number handed out so far. Committed on its own (an unlogged table: no flush).
const CLAIM: &str = "INSERT INTO commit_claims (pid, floor) SELECT pg_backend_pid(), last_value FROM changes_seq
     ON CONFLICT (pid) DO UPDATE SET floor = excluded.floor, claimed_at = excluded.claimed_at";
/// Opens a commit's transaction. PostgreSQL ends it if the relay stops talking within it, so that
/// its claim does not hold back every cursor.
const BEGIN_NUMBERED: &str = "BEGIN; SET LOCAL idle_in_transaction_session_timeout = '15s'";
/// The commit's transaction holds its claim: deleted when it commits, and until then locked.
const HOLD_CLAIM: &str = "DELETE FROM commit_claims WHERE pid = pg_backend_pid()";
/// Holds documents (`$2`) against other commits until the transaction ends: an advisory lock of the
/// store's lock space (`$1`) per document, taken in the order of their keys.
const LOCK_DOCS: &str = "SELECT pg_advisory_xact_lock(CAST(CAST($1 AS BIGINT) AS INTEGER), h)
     FROM (SELECT DISTINCT hashtext(d) AS h FROM unnest(CAST($2 AS TEXT[])) AS d) AS k ORDER BY h";
/// The highest number handed out, then the lowest claimed floor and whether any claim is older than
/// [`ABANDONED`] (read in this order, before a snapshot begins).
const HANDED_OUT: &str = "SELECT last_value FROM changes_seq";
const CLAIMED: &str =
    "SELECT MIN(floor), COALESCE(BOOL_OR(claimed_at < clock_timestamp() - interval '5 seconds'), false)
     FROM commit_claims";
/// Whether another commit's claim with a floor below `$1` remains (a number handed out is within
/// reach of a pull once none does).
const CLAIMED_BELOW: &str = "SELECT EXISTS (SELECT 1 FROM commit_claims WHERE floor < $1)";
/// How old a claim is when nothing holding it means that its commit will never hold it: the time
/// between a claim and its transaction's first statements, sent together.
pub const ABANDONED: std::time::Duration = std::time::Duration::from_secs(5);
/// Deletes the claims that are older than [`ABANDONED`] and that no transaction holds.
const SWEEP_CLAIMS: &str = "DELETE FROM commit_claims WHERE pid IN (SELECT pid FROM commit_claims
     WHERE claimed_at < clock_timestamp() - interval '5 seconds' FOR UPDATE SKIP LOCKED)";

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
    /// The first key of this store's advisory locks on documents (from its schema's name).
    lock_space: i32,
    /// When abandoned claims were last swept (ms), so that pulls seeing an old claim sweep at most
    /// once a second.
    swept_at: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// See [`PostgresStorage::before_commit`].
    before_commit: std::sync::RwLock<Option<CommitHook>>,
    /// Commits to announce again once a pull can reach them.
    reach: std::sync::Arc<Reach>,
}

/// Commits to report once a pull can reach them (once the horizon reaches their last number): other
/// relays', and this relay's own that it announced before (without documents: its cache holds them).
#[derive(Default)]
struct Reach {
    pending: std::sync::Mutex<Vec<ForeignCommit>>,
    wake: tokio::sync::Notify,
    /// Where they are announced: the relay's, once it listens.
    sink: std::sync::Mutex<Option<ChangeSink>>,
}

impl Reach {
    fn push(&self, commit: ForeignCommit) {
        if self.sink.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            return;
        }
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).push(commit);
        self.wake.notify_one();
    }
}

/// Run just before a numbered commit's transaction commits, with the highest number it took (0 for
/// none).
pub type CommitHook = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

thread_local! {
    /// The highest number the commit under way on this thread took, for its [`CommitHook`].
    static TAKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Whether the last commit on this thread landed while a lower claim remained (see [`Reach`]).
    static EARLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
            lock_space: 0,
            swept_at: Default::default(),
            before_commit: Default::default(),
            reach: Default::default(),
        };
        store.block(store.migrate())?;
        let (schema, lock_space): (String, i32) = store.block(async {
            let r = store.client().await?.query_one("SELECT current_schema(), hashtext(current_schema())", &[]).await?;
            Ok((r.try_get(0)?, r.try_get(1)?))
        })?;
        store.channel = format!("{CHANNEL_PREFIX}{schema}").chars().take(63).collect();
        store.lock_space = lock_space;
        Ok(store)
    }

    /// For tests: `hook` runs on the committing thread just before each numbered commit (a push)
    /// commits, its numbers taken — a pause there lets commits numbered after it become visible
    /// first.
    pub fn before_commit(&self, hook: Option<CommitHook>) {
        *self.before_commit.write().unwrap_or_else(|p| p.into_inner()) = hook;
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
                let later = later.chain(schema::ENTERPRISE_WEB).chain(NUMBERING);
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

    fn write_changes<T>(&self, docs: &[&str], f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        let client = self.block(async {
            let client = self.client().await?;
            match self.claim(&client, docs).await {
                Ok(()) => Ok(client),
                Err(e) => {
                    if abandon(&client).await.is_err() {
                        drop(deadpool_postgres::Object::take(client));
                    }
                    Err(e)
                }
            }
        })?;
        TAKEN.set(0);
        let out = f(&mut PgDb { runtime: self.runtime(), client: &client });
        let hook = self.before_commit.read().unwrap_or_else(|p| p.into_inner()).clone();
        if out.is_ok()
            && let Some(hook) = hook
        {
            hook(TAKEN.get());
        }
        let end = async {
            match &out {
                Ok(_) if TAKEN.get() > 0 => {
                    // Whether a lower claim remains, sent with the commit: a claim made after this
                    // check has a floor above this commit's numbers.
                    let below = client.prepare_cached(CLAIMED_BELOW).await?;
                    let last = TAKEN.get() as i64;
                    let params: [&(dyn ToSql + Sync); 1] = [&last];
                    let (early, ()) =
                        futures_util::try_join!(client.query_one(&below, &params), client.batch_execute("COMMIT"))?;
                    EARLY.set(early.try_get(0)?);
                    Ok(())
                }
                Ok(_) => Ok(client.batch_execute("COMMIT").await?),
                Err(_) => abandon(&client).await,
            }
        };
        if let Err(e) = self.block(end) {
            // The server process ends with the connection; a claim left behind is swept.
            drop(deadpool_postgres::Object::take(client));
            return Err(e);
        }
        out
    }

    fn take_numbers(&self, db: &mut dyn Db, n: usize) -> Result<(u64, Vec<u64>)> {
        if n == 0 {
            return Ok((db.one(HANDED_OUT, vec![])?, Vec::new()));
        }
        // Other commits may take numbers in between: they need not follow one another. Every change
        // of this commit's documents stored before has a lower number (it was taken while that
        // commit held the documents), and every later one a higher number.
        let sql = "SELECT nextval('changes_seq') FROM generate_series(1, CAST($1 AS BIGINT))";
        let mut numbers: Vec<u64> = db.column(sql, args![n as i64])?;
        numbers.sort_unstable();
        let (Some(&first), Some(&last), true) = (numbers.first(), numbers.last(), numbers.len() == n) else {
            return Err(StorageError::Corrupt(format!("{} sequence numbers for {n} changes", numbers.len())));
        };
        TAKEN.set(last);
        Ok((first - 1, numbers))
    }

    fn numbered(&self, _last: u64) -> Option<Step> {
        None
    }

    fn at_horizon<T>(&self, f: impl FnOnce(&mut dyn Db, u64) -> Result<T>) -> Result<T> {
        let (client, horizon, old_claim) = self.block(async {
            let client = self.client().await?;
            let (handed, claimed) = (client.prepare_cached(HANDED_OUT).await?, client.prepare_cached(CLAIMED).await?);
            // In this order (sent together): a number at or below the highest handed out was taken
            // after its commit's claim was committed, so that claim is read below unless the commit
            // ended before — and then the snapshot, which begins after, sees it.
            let (handed, claimed, ()) = futures_util::try_join!(
                client.query_one(&handed, &[]),
                client.query_one(&claimed, &[]),
                client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
            )?;
            let (horizon, old_claim) = horizon_of(&handed, &claimed)?;
            Ok((client, horizon, old_claim))
        })?;
        if old_claim {
            self.sweep_soon();
        }
        let out = f(&mut PgDb { runtime: self.runtime(), client: &client }, horizon);
        let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
        if let Err(e) = self.block(async { Ok(client.batch_execute(end).await?) }) {
            drop(deadpool_postgres::Object::take(client));
            return Err(e);
        }
        out
    }

    fn lock_docs(&self, db: &mut dyn Db, docs: &[&str]) -> Result<()> {
        let docs: Vec<String> = docs.iter().map(|d| (*d).to_owned()).collect();
        db.execute(LOCK_DOCS, args![i64::from(self.lock_space), docs]).map(drop)
    }

    fn after_commit(&self, commits: &[&super::Commit], seqs: &[u64]) {
        if !EARLY.replace(false) {
            return;
        }
        let Some(&last) = seqs.iter().max() else { return };
        let mut keys: Vec<String> = commits.iter().flat_map(|c| c.notice_keys()).collect();
        keys.sort();
        keys.dedup();
        self.reach.push(ForeignCommit { seq: last, keys, docs: Vec::new() });
    }

    fn announce(&self, seq: u64, keys: Vec<String>, docs: &[&str]) -> Option<Step> {
        let payload = notice_payload(&self.writer_id, seq, keys, docs);
        Some(Step::exec("notify", "SELECT pg_notify($1, $2)", vec![(&self.channel).into(), payload.into()]))
    }

    fn listen(&self, sink: ChangeSink) {
        *self.reach.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
        let (config, channel, writer) = (self.config.clone(), self.channel.clone(), self.writer_id.clone());
        self.runtime().spawn(listen(config, channel, writer, self.reach.clone()));
        let (pool, reach, swept_at) = (self.pool.clone(), self.reach.clone(), self.swept_at.clone());
        self.runtime().spawn(announce_within_reach(pool, reach, swept_at));
    }

    fn after_bulk_load(&self) -> Result<()> {
        // Fresh statistics: with none, the planner takes a million-row change log for a small table.
        self.block(async { Ok(self.client().await?.batch_execute("ANALYZE").await?) })
    }
}

impl PostgresStorage {
    /// Claims sequence numbers for a commit of `docs` and opens its transaction, holding the claim and
    /// then the documents (see the module's description); sent together, in this order. The claim is
    /// held before the documents: waiting for another commit of one of them, it is not abandoned.
    async fn claim(&self, client: &Client, docs: &[&str]) -> Result<()> {
        let claim = client.prepare_cached(CLAIM).await?;
        let hold = client.prepare_cached(HOLD_CLAIM).await?;
        let lock = client.prepare_cached(LOCK_DOCS).await?;
        let space = i64::from(self.lock_space);
        let lock_params: [&(dyn ToSql + Sync); 2] = [&space, &docs];
        let (_, (), held, _) = futures_util::try_join!(
            client.execute(&claim, &[]),
            client.batch_execute(BEGIN_NUMBERED),
            client.execute(&hold, &[]),
            client.execute(&lock, &lock_params),
        )?;
        if held != 1 {
            return Err(StorageError::Pool("the commit's claim on sequence numbers was swept as abandoned".into()));
        }
        Ok(())
    }

    /// Sweeps abandoned claims in the background, at most once a second.
    fn sweep_soon(&self) {
        if !sweep_due(&self.swept_at) {
            return;
        }
        let pool = self.pool.clone();
        self.runtime().spawn(async move {
            if let Ok(client) = pool.get().await
                && let Err(e) = sweep(&client).await
            {
                tracing::warn!("sweeping abandoned commit claims: {e}");
            }
        });
    }

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

/// Ends a commit's transaction that failed (if one is open) and withdraws its claim.
async fn abandon(client: &Client) -> Result<()> {
    let rollback = client.batch_execute("ROLLBACK");
    let withdraw = client.batch_execute(HOLD_CLAIM);
    futures_util::try_join!(rollback, withdraw)?;
    Ok(())
}

/// Whether a sweep of abandoned claims is due (none in the last second), noting it if so.
fn sweep_due(swept_at: &std::sync::atomic::AtomicI64) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let (now, last) = (crate::now_ms(), swept_at.load(Relaxed));
    now - last >= 1_000 && swept_at.compare_exchange(last, now, Relaxed, Relaxed).is_ok()
}

/// Deletes the abandoned claims (see [`ABANDONED`]); returns how many.
async fn sweep(client: &tokio_postgres::Client) -> Result<u64> {
    let n = client.execute(SWEEP_CLAIMS, &[]).await?;
    if n > 0 {
        tracing::warn!("swept {n} abandoned commit claim(s)");
    }
    Ok(n)
}

/// A pull's horizon from the answers of [`HANDED_OUT`] and [`CLAIMED`] (read in this order), and
/// whether a claim is old enough to be abandoned.
fn horizon_of(handed: &tokio_postgres::Row, claimed: &tokio_postgres::Row) -> Result<(u64, bool)> {
    let handed: i64 = handed.try_get(0)?;
    let floor: Option<i64> = claimed.try_get(0)?;
    Ok((floor.map_or(handed, |f| f.min(handed)).max(0) as u64, claimed.try_get(1)?))
}

/// Announces the commits of [`Reach`] once a pull can reach them, polling the horizon while any
/// wait (and sweeping abandoned claims, at most once a second by `swept_at`).
async fn announce_within_reach(
    pool: Pool,
    reach: std::sync::Arc<Reach>,
    swept_at: std::sync::Arc<std::sync::atomic::AtomicI64>,
) {
    loop {
        reach.wake.notified().await;
        let mut pause = std::time::Duration::from_micros(500);
        while !reach.pending.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            let horizon = async {
                let client = pool.get().await?;
                let (handed, claimed) =
                    (client.prepare_cached(HANDED_OUT).await?, client.prepare_cached(CLAIMED).await?);
                let (handed, claimed) =
                    futures_util::try_join!(client.query_one(&handed, &[]), client.query_one(&claimed, &[]))?;
                let (horizon, old) = horizon_of(&handed, &claimed)?;
                if old && sweep_due(&swept_at) {
                    sweep(&client).await?;
                }
                Ok::<_, StorageError>(horizon)
            };
            match horizon.await {
                Ok(horizon) => {
                    let ready: Vec<ForeignCommit> = {
                        let mut pending = reach.pending.lock().unwrap_or_else(|p| p.into_inner());
                        let (ready, later) = pending.drain(..).partition(|c| c.seq <= horizon);
                        *pending = later;
                        ready
                    };
                    let sink = reach.sink.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    if let Some(sink) = sink {
                        ready.into_iter().for_each(|c| sink(c));
                    }
                }
                Err(e) => tracing::warn!("announcing commits within reach: {e}"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
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
/// reconnection it reports "anything may have changed", since notices sent meanwhile are lost. A
/// commit is reported once a pull can reach it (see [`Reach`]).
async fn listen(config: tokio_postgres::Config, channel: String, writer: String, reach: std::sync::Arc<Reach>) {
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
                        if reconnecting && let Ok(r) = client.query_one(HANDED_OUT, &[]).await {
                            let seq = r.get::<_, i64>(0) as u64;
                            reach.push(ForeignCommit { seq, keys: vec![ALL_KEYS.to_owned()], docs: Vec::new() });
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
                            reach.push(ForeignCommit { seq, keys: strings(&v["k"]), docs: strings(&v["d"]) });
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
