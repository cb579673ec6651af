//! zhuqi's relay: authenticates users and devices, validates and merges the changes devices push,
//! answers each device with what changed in its scope, and keeps everything in its storage.
//!
//! `app(state)` builds the HTTP router; `main.rs` serves it and runs the admin commands.

pub mod auth;
pub mod author;
pub mod cli;
pub mod demo;
pub mod directory;
pub mod docs;
pub mod error;
pub mod events;
pub mod import;
pub mod kpi;
pub mod metrics;
pub mod net;
pub mod projection;
pub mod reports;
pub mod scope;
pub mod storage;
pub mod sync;
pub mod throttle;
pub mod validate;
pub mod web;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use error::ApiError;
use metrics::Route;
use net::ClientAddr;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use storage::RelayStorage;
use zhuqi_core::sync::protocol::*;

#[doc(hidden)]
pub use tikv_jemallocator;

/// Declares the relay's allocator in a binary that serves the relay: jemalloc, with background
/// threads purging freed pages after a second. glibc's allocator kept several times the relay's
/// live heap resident (freed pages held in per-thread arenas; measured in docs/PERFORMANCE.md).
#[macro_export]
macro_rules! relay_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::tikv_jemallocator::Jemalloc = $crate::tikv_jemallocator::Jemalloc;

        #[allow(non_upper_case_globals)]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";
    };
}

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A commit, as announced to live listeners.
#[derive(Debug)]
pub struct Notice {
    pub seq: u64,
    pub keys: Vec<String>,
}

/// Devices seen recently, and those not yet written down.
#[derive(Default)]
struct Touched {
    seen: HashMap<String, i64>,
    pending: Vec<String>,
    flushed: i64,
}

/// Settings of a relay.
#[derive(Debug, Clone)]
pub struct Config {
    /// Cap of the document cache, in estimated bytes of memory.
    pub doc_cache_bytes: usize,
    /// Proxies whose `X-Forwarded-For` names the client (see `net::client_addr`).
    pub trusted_proxies: Vec<net::Cidr>,
    /// Who may read `/metrics`.
    pub metrics: MetricsAccess,
}

impl Default for Config {
    fn default() -> Self {
        Config { doc_cache_bytes: 64 << 20, trusted_proxies: Vec::new(), metrics: MetricsAccess::Closed }
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
    pub directory: directory::DirectoryCache,
    pub metrics: metrics::Metrics,
    pub notices: tokio::sync::broadcast::Sender<Arc<Notice>>,
    /// Serialises the validation of pushes.
    pub push_lock: Mutex<()>,
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
    touched: Mutex<Touched>,
    /// Actor ids known to be bound to a device (a binding never changes).
    pub bound_actors: Mutex<HashMap<Vec<u8>, String>>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<net::Cidr>,
    pub metrics_access: MetricsAccess,
}

impl AppState {
    pub fn new(storage: Arc<dyn RelayStorage>, config: Config) -> Arc<AppState> {
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
            directory: directory::DirectoryCache::default(),
            metrics: metrics::Metrics::default(),
            notices,
            push_lock: Mutex::new(()),
            commits: sync::CommitQueue::default(),
            dummy_hash: auth::hash_password("not a password of anybody"),
            password_checks: tokio::sync::Semaphore::new(cores()),
            sync_slots: tokio::sync::Semaphore::new(16 * cores()),
            touched: Mutex::default(),
            bound_actors: Mutex::default(),
            trusted_proxies: config.trusted_proxies,
            metrics_access: config.metrics,
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// Runs blocking work (storage, validation) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(e.to_string()))?
}

fn json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn json_response<T: serde::Serialize>(v: &T) -> Response {
    axum::Json(v).into_response()
}

/// Time to serve a sync, from its first header byte to its last response byte being handed over.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(120);
/// Time to serve any other request (except the `/v1/events` stream, which lasts).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest pause between two pieces of a request body before the request is dropped.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest body of the JSON sign-in, activation and code requests.
pub const AUTH_BODY_BYTES: usize = 4 << 10;
/// Largest body of a dashboard form (sign-in, actions, sign-out).
pub const FORM_BODY_BYTES: usize = 16 << 10;
/// Largest body of a task notice form (its text runs to a few pages).
pub const NOTICE_BODY_BYTES: usize = 64 << 10;

/// The Content-Security-Policy of every answer: no inline script or style, nothing from elsewhere,
/// never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'";

/// Answers a request that ran past its deadline: 408 with the usual JSON error.
fn timed_out(state: &AppState) -> ApiError {
    state.metrics.timeouts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", "request took too long", "请求超时，请重试")
}

/// The relay's HTTP API and dashboard. Every route has a body limit, enforced while reading (by
/// `read_body` for the API, which also refuses a larger declared length at once, and by
/// `DefaultBodyLimit` for the forms; routes that take no body never read one), and a deadline;
/// every answer carries the security headers.
pub fn app(state: Arc<AppState>) -> Router {
    use axum::error_handling::HandleErrorLayer;
    use axum::extract::DefaultBodyLimit;
    use tower::ServiceBuilder;
    use tower_http::set_header::SetResponseHeaderLayer;
    let deadline = |d: Duration| {
        let st = state.clone();
        let on_timeout = move |_: tower::BoxError| std::future::ready(timed_out(&st));
        ServiceBuilder::new().layer(HandleErrorLayer::new(on_timeout)).timeout(d).into_inner()
    };
    let sync = Router::new().route("/v1/sync", post(sync_handler)).layer(deadline(SYNC_TIMEOUT));
    // Server-sent events last as long as the device listens: no deadline.
    let events = Router::new().route("/v1/events", get(events::events));
    let notices = Router::new()
        .route("/notices", get(web::notices_page).post(web::issue_notice))
        .layer(DefaultBodyLimit::max(NOTICE_BODY_BYTES))
        .layer(deadline(REQUEST_TIMEOUT));
    let rest = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_handler))
        .route("/v1/auth/sign-in", post(sign_in))
        .route("/v1/auth/activate", post(activate))
        .route("/v1/auth/sign-out", post(sign_out))
        .route("/v1/activation-codes", post(activation_code))
        .route("/", get(web::overview_page))
        .route("/static/{file}", get(web::static_file))
        .route("/login", get(web::login_page).post(web::login))
        .route("/logout", post(web::logout))
        .route("/problems", get(web::problems_page))
        .route("/problems/{id}", get(web::problem_page))
        .route("/problems/{id}/{action}", post(web::problem_action))
        .route("/ranking", get(web::ranking_page))
        .route("/enterprises/{id}", get(web::enterprise_page))
        .route("/cadres/{id}", get(web::cadre_page))
        .route("/notices/{id}", get(web::notice_page))
        .route("/export/{format}", get(web::export))
        .layer(DefaultBodyLimit::max(FORM_BODY_BYTES))
        .layer(deadline(REQUEST_TIMEOUT));
    let header = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(
            axum::http::HeaderName::from_static(name),
            axum::http::HeaderValue::from_static(value),
        )
    };
    Router::new()
        .merge(sync)
        .merge(events)
        .merge(notices)
        .merge(rest)
        .layer(
            ServiceBuilder::new()
                .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(BODY_IDLE_TIMEOUT))
                .layer(header("content-security-policy", CSP))
                .layer(header("x-frame-options", "DENY"))
                .layer(header("x-content-type-options", "nosniff"))
                .layer(header("referrer-policy", "no-referrer"))
                .layer(header("cache-control", "no-store")),
        )
        .with_state(state)
}

/// `/metrics` alone, for a listen address of its own (`MetricsAccess::Separate`).
pub fn metrics_app(state: Arc<AppState>) -> Router {
    Router::new().route("/metrics", get(render_metrics)).with_state(state)
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.request(Route::Health);
    let st = state.clone();
    match blocking(move || Ok(st.storage.current_seq()?)).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => e.into_response(),
    }
}

/// `/metrics` through the API: closed unless a token is configured and presented.
async fn metrics_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let allowed = match &state.metrics_access {
        MetricsAccess::Token(token) => auth::bearer(&headers).is_some_and(|t| {
            subtle::ConstantTimeEq::ct_eq(auth::token_hash(t).as_slice(), auth::token_hash(token).as_slice()).into()
        }),
        MetricsAccess::Closed | MetricsAccess::Separate => false,
    };
    if !allowed {
        return ApiError::not_found("no such page").into_response();
    }
    render_metrics(State(state)).await
}

async fn render_metrics(State(state): State<Arc<AppState>>) -> Response {
    let st = state.clone();
    let counts =
        blocking(move || Ok((st.storage.connected_devices(now_ms() - 300_000)?, st.storage.document_count()?))).await;
    match counts {
        Ok((devices, docs)) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(devices, docs)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("body larger than {limit} bytes"), "数据量过大")
}

/// Reads a body of at most `limit` bytes, answering 413 (as JSON) beyond: at once when the declared
/// length is larger, else as soon as more has arrived.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if c.is::<http_body_util::LengthLimitError>() {
                return too_large(limit);
            }
            if c.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", "request body stalled", "请求超时，请重试");
            }
            cause = c.source();
        }
        ApiError::bad_request(format!("request body could not be read: {e}"))
    })
}

fn counted(state: &AppState, r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(|e| {
        state.metrics.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        e.into_response()
    })
}

async fn sign_in(State(state): State<Arc<AppState>>, ClientAddr(client): ClientAddr, request: Request) -> Response {
    state.metrics.request(Route::SignIn);
    let r = async {
        let (parts, body) = request.into_parts();
        let req: SignInRequest = json(&read_body(&parts.headers, body, AUTH_BODY_BYTES).await?)?;
        let user = auth::sign_in(&state, req.login.trim().to_owned(), req.password, client).await?;
        let st = state.clone();
        blocking(move || auth::register_device(st.storage.as_ref(), &user, &req.device_name))
            .await
            .map(|r| json_response(&r))
    }
    .await;
    counted(&state, r)
}

async fn activate(State(state): State<Arc<AppState>>, ClientAddr(client): ClientAddr, request: Request) -> Response {
    state.metrics.request(Route::Activate);
    let r = async {
        let (parts, body) = request.into_parts();
        let req: ActivateRequest = json(&read_body(&parts.headers, body, AUTH_BODY_BYTES).await?)?;
        let st = state.clone();
        blocking(move || auth::activate(&st, &req.code, &req.device_name, client)).await.map(|r| json_response(&r))
    }
    .await;
    counted(&state, r)
}

async fn sign_out(State(state): State<Arc<AppState>>, auth::Authed(session): auth::Authed) -> Response {
    state.metrics.request(Route::SignOut);
    let st = state.clone();
    let r = blocking(move || Ok(st.storage.revoke_device(&session.device_id)?))
        .await
        .map(|_| json_response(&serde_json::json!({})));
    counted(&state, r)
}

async fn activation_code(
    State(state): State<Arc<AppState>>,
    auth::Authed(session): auth::Authed,
    request: Request,
) -> Response {
    state.metrics.request(Route::ActivationCode);
    let r = async {
        let (parts, body) = request.into_parts();
        let req: ActivationCodeRequest = json(&read_body(&parts.headers, body, AUTH_BODY_BYTES).await?)?;
        let st = state.clone();
        let (code, expires_at) =
            blocking(move || auth::issue_code(&st, &session, &req.enterprise_id, &req.contact_user_id)).await?;
        Ok(json_response(&ActivationCodeResponse { code, expires_at }))
    }
    .await;
    counted(&state, r)
}

async fn sync_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    auth::Authed(session): auth::Authed,
    body: Body,
) -> Response {
    state.metrics.request(Route::Sync);
    let started = std::time::Instant::now();
    let r = async {
        // A header that is present but not a version number names no version this relay speaks.
        let version = headers.get(PROTOCOL_HEADER).map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(0));
        let gzip = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        if !gzip {
            return Err(ApiError::bad_request("/v1/sync bodies are gzip-compressed CBOR (Content-Encoding: gzip)"));
        }
        let body = read_body(&headers, body, MAX_REQUEST_BYTES).await?;
        state.metrics.bytes_in.fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let st = state.clone();
        let _slot = state.sync_slots.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
        let out = blocking(move || sync::serve(&st, &session, &body, version)).await?;
        state.metrics.bytes_out.fetch_add(out.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(([(header::CONTENT_TYPE, "application/cbor"), (header::CONTENT_ENCODING, "gzip")], out).into_response())
    }
    .await;
    state.metrics.observe_sync(started.elapsed().as_secs_f64());
    counted(&state, r)
}
