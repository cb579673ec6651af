//! The relay's shared state (`AppState`: storage, caches, queues, limits) and its settings; `router`
//! assembles the HTTP routes of every room around it.

pub mod router;

use crate::http::error::ApiError;
use crate::storage::{self, RelayStorage};
use crate::sync::{self, docs};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A commit, as announced to live listeners.
#[derive(Debug)]
pub struct Notice {
    pub seq: u64,
    pub keys: Vec<String>,
}

/// Devices seen recently, and those not yet written down.
#[derive(Default)]
pub(crate) struct Touched {
    pub(crate) seen: HashMap<String, i64>,
    pub(crate) pending: Vec<String>,
    pub(crate) flushed: i64,
}

/// Settings of a relay.
#[derive(Debug, Clone)]
pub struct Config {
    /// Cap of the document cache, in estimated bytes of memory.
    pub doc_cache_bytes: usize,
    /// Proxies whose `X-Forwarded-For` names the client (see `net::client_addr`).
    pub trusted_proxies: Vec<crate::http::net::Cidr>,
    /// Who may read `/metrics`.
    pub metrics: MetricsAccess,
    /// How late an event may reach the relay and still count at its own time in the figures (see
    /// `zhuqi_core::domain::event::judged_time`).
    pub offline_window_ms: i64,
    /// Event readings the validation of one push may cost (see `sync::validate::Budget`).
    pub push_budget: usize,
    /// Where photos are kept (`blobs::FsBlobStore`, `blobs::s3::S3BlobStore`); none: the photo
    /// endpoints answer 503.
    pub blobs: Option<Arc<dyn crate::blobs::BlobStore>>,
    /// The address enterprises open the web pages at (no trailing `/`), for the sign-in links;
    /// none: the address each request came to (see `portal::links::base_url`).
    pub public_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            doc_cache_bytes: 64 << 20,
            trusted_proxies: Vec::new(),
            metrics: MetricsAccess::Closed,
            offline_window_ms: zhuqi_core::domain::event::OFFLINE_WINDOW_MS,
            push_budget: sync::VALIDATION_BUDGET,
            blobs: None,
            public_url: None,
        }
    }
}

/// Who may read the relay's metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Nobody through the API (`/metrics` answers 404): the default.
    Closed,
    /// Requests to `/metrics` carrying `Authorization: Bearer <token>`.
    Token(String),
    /// Anybody who reaches a separate listen address (see `metrics_app`), none through the API.
    Separate,
}

pub struct AppState {
    pub storage: Arc<dyn RelayStorage>,
    pub docs: Arc<docs::DocCache>,
    pub directory: sync::directory::DirectoryCache,
    pub metrics: crate::http::metrics::Metrics,
    pub notices: tokio::sync::broadcast::Sender<Arc<Notice>>,
    /// Serialises the validation of pushes.
    pub push_lock: Mutex<()>,
    /// Pushes waiting for `push_lock`: while any wait, the one holding it yields after
    /// `sync::PUSH_SLICE` (see `sync::validate::Budget`).
    pub push_waiting: std::sync::atomic::AtomicUsize,
    /// Stores validated pushes together.
    pub commits: sync::CommitQueue,
    /// A password hash checked against when a login is unknown, so both cost the same time.
    pub dummy_hash: String,
    /// Password checks running at once: one per core. Each takes ~20 MiB (argon2id) and a core for
    /// tens of milliseconds, so a storm of sign-ins waits here instead of filling the memory.
    pub password_checks: tokio::sync::Semaphore,
    /// Sync requests served at once (16 per core): enough for the group commit to gather many pushes
    /// into one flush, few enough that a reconnect storm queues here, small, instead of holding
    /// hundreds of half-built responses and database connections.
    pub sync_slots: tokio::sync::Semaphore,
    pub(crate) touched: Mutex<Touched>,
    /// Syncs in progress per user (see `sync::route::SYNCS_PER_USER`).
    pub(crate) syncing: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// Sessions of devices that synced lately (see `sync::route::RecentSessions`).
    pub(crate) sessions: sync::route::RecentSessions,
    /// Actor ids known to be bound to a device (a binding never changes).
    pub bound_actors: Mutex<HashMap<Vec<u8>, String>>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<crate::http::net::Cidr>,
    pub metrics_access: MetricsAccess,
    /// See `Config::offline_window_ms`.
    pub offline_window_ms: i64,
    /// See `Config::push_budget`.
    pub push_budget: usize,
    /// Where photos are kept (see `Config::blobs`).
    pub blobs: Option<Arc<dyn crate::blobs::BlobStore>>,
    /// Photo upload requests in progress, per user (see `blobs::routes::InFlight`).
    pub blob_uploads: Mutex<HashMap<String, usize>>,
    /// Chunks being written: (user, photo) (see `blobs::routes::Writing`).
    pub blob_writes: Mutex<std::collections::HashSet<(String, String)>>,
    /// When abandoned partial uploads were last collected (ms).
    pub blob_sweep: std::sync::atomic::AtomicI64,
    /// Photo bytes each user has uploaded today: user → (day, bytes).
    pub blob_quota: Mutex<HashMap<String, (i64, u64)>>,
    /// Photos being decoded for copies (thumbnails and the like), bounded.
    pub decodes: crate::blobs::routes::DecodeGate,
    /// Published terms counted again, for the corrections beside their rankings.
    pub recounts: crate::dashboard::overview::Recounts,
    /// See `Config::public_url`.
    pub public_url: Option<String>,
}

impl AppState {
    pub fn new(storage: Arc<dyn RelayStorage>, config: Config) -> Arc<AppState> {
        // The days visits count on follow the offline window (see `storage::figures`).
        match storage.set_offline_window(config.offline_window_ms) {
            Ok(true) => tracing::info!("visits counted again for an offline window of {} ms", config.offline_window_ms),
            Ok(false) => {}
            Err(e) => tracing::error!("cannot set the offline window the figures count with: {e}"),
        }
        let notices = tokio::sync::broadcast::channel(1024).0;
        let docs = Arc::new(docs::DocCache::new(config.doc_cache_bytes));
        // Other relays' commits (on a shared store): the cached copies of their documents are old
        // now, and this relay's live listeners hear of them too.
        let (sender, cache) = (notices.clone(), docs.clone());
        storage.listen(Arc::new(move |commit: storage::ForeignCommit| {
            if commit.is_everything() {
                cache.forget_all();
            } else {
                cache.forget(&commit.docs);
            }
            let _ = sender.send(Arc::new(Notice { seq: commit.seq, keys: commit.keys }));
        }));
        Arc::new(AppState {
            storage,
            docs,
            directory: sync::directory::DirectoryCache::default(),
            metrics: crate::http::metrics::Metrics::default(),
            notices,
            push_lock: Mutex::new(()),
            push_waiting: Default::default(),
            commits: sync::CommitQueue::default(),
            dummy_hash: crate::auth::hash_password("not a password of anybody"),
            password_checks: tokio::sync::Semaphore::new(cores()),
            sync_slots: tokio::sync::Semaphore::new(16 * cores()),
            touched: Mutex::default(),
            syncing: Mutex::default(),
            sessions: Default::default(),
            bound_actors: Mutex::default(),
            trusted_proxies: config.trusted_proxies,
            metrics_access: config.metrics,
            offline_window_ms: config.offline_window_ms,
            push_budget: config.push_budget,
            blobs: config.blobs,
            blob_uploads: Mutex::default(),
            blob_writes: Mutex::default(),
            blob_sweep: Default::default(),
            blob_quota: Mutex::default(),
            decodes: Default::default(),
            recounts: Default::default(),
            public_url: config.public_url,
        })
    }
}

impl AppState {
    /// A document as the relay holds it now (saved form), if it exists.
    pub fn document_bytes(&self, id: &str) -> Result<Option<Vec<u8>>, storage::StorageError> {
        self.read_doc(id, |c| c.doc.save())
    }

    /// Reads the relay's current copy of a document, between pushes (which take it out of the cache).
    pub fn read_doc<T>(
        &self,
        id: &str,
        f: impl FnOnce(&docs::CachedDoc) -> T,
    ) -> Result<Option<T>, storage::StorageError> {
        // Loaded before taking the lock, so that pushes do not wait on the database for it.
        self.docs.prefetch(self.storage.as_ref(), &[id])?;
        let _guard = self.push_lock.lock().unwrap_or_else(|p| p.into_inner());
        Ok(self.docs.take(self.storage.as_ref(), id)?.map(|c| {
            let out = f(&c);
            self.docs.put(id, c);
            out
        }))
    }
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// Runs blocking work (storage, validation) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(e.to_string()))?
}
