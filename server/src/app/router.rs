//! The relay's routes: the device API of each room, the dashboard, health and metrics, with each
//! route's body limit and deadline and the security headers of every answer.

use super::{AppState, MetricsAccess, blocking};
use crate::http::body::{FORM_BODY_BYTES, NOTICE_BODY_BYTES};
use crate::http::error::ApiError;
use crate::http::metrics::Route;
use crate::{auth, dashboard, sync};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;

/// Time to serve a sync, from its first header byte to its last response byte being handed over.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(120);
/// Time to serve any other request (except the `/v1/events` stream, which lasts).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest pause between two pieces of a request body before the request is dropped.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Content-Security-Policy of every answer: no inline script or style, nothing from elsewhere,
/// never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'";

/// Answers a request that ran past its deadline: 408 with the usual JSON error.
fn timed_out(state: &AppState) -> ApiError {
    state.metrics.timeouts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ApiError::timeout("request took too long")
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
    let sync = Router::new().route("/v1/sync", post(sync::route::sync)).layer(deadline(SYNC_TIMEOUT));
    // Photos: a chunk of at most 1 MiB per request (read by `read_body`), downloads streamed.
    let blobs = Router::new()
        .route(
            "/v1/blobs/{sha256}",
            axum::routing::put(crate::blobs::routes::upload).get(crate::blobs::routes::download),
        )
        .route("/v1/blobs/{sha256}/status", get(crate::blobs::routes::status))
        .route("/v1/blobs/{sha256}/thumbnail", get(crate::blobs::routes::thumbnail))
        .layer(deadline(SYNC_TIMEOUT));
    // Server-sent events last as long as the device listens: no deadline.
    let events = Router::new().route("/v1/events", get(sync::events::events));
    // Enterprise contacts' pages and their links: forms read within FORM_BODY_BYTES, the link
    // request within AUTH_BODY_BYTES, each before the session or token is looked at.
    let portal = crate::portal::routes().layer(deadline(REQUEST_TIMEOUT));
    let notices = Router::new()
        .route("/notices", get(dashboard::notices_page).post(dashboard::issue_notice))
        .layer(DefaultBodyLimit::max(NOTICE_BODY_BYTES))
        .layer(deadline(REQUEST_TIMEOUT));
    let rest = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_handler))
        .route("/v1/auth/sign-in", post(auth::routes::sign_in))
        .route("/v1/auth/activate", post(auth::routes::activate))
        .route("/v1/auth/sign-out", post(auth::routes::sign_out))
        .route("/v1/activation-codes", post(auth::routes::activation_code))
        .route("/", get(dashboard::overview_page))
        .route("/static/{file}", get(dashboard::static_file))
        .route("/login", get(dashboard::login_page).post(dashboard::login))
        .route("/logout", post(dashboard::logout))
        .route("/problems", get(dashboard::problems_page))
        .route("/problems/{id}", get(dashboard::problem_page))
        .route("/problems/{id}/{action}", post(dashboard::problem_action))
        .route("/ranking", get(dashboard::ranking_page))
        .route("/policies", get(dashboard::policies_page))
        .route("/enterprises/{id}", get(dashboard::enterprise_page))
        .route("/enterprises/{id}/web-link", post(dashboard::web_links::issue_link))
        .route("/cadres/{id}", get(dashboard::cadre_page))
        .route("/notices/{id}", get(dashboard::notice_page))
        .route("/photos/missing", get(dashboard::missing_photos))
        .route("/photos/{sha256}", get(dashboard::photo))
        .route("/photos/{sha256}/thumbnail", get(dashboard::photo_thumbnail))
        .route("/export/{format}", get(dashboard::export))
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
        .merge(blobs)
        .merge(events)
        .merge(notices)
        .merge(portal)
        .merge(rest)
        // After the merges: it applies to the routes registered before it.
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed here",
                "请求方式错误",
            )
        })
        .fallback(|| async { ApiError::not_found("no such route") })
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
        blocking(move || Ok((st.storage.connected_devices(crate::now_ms() - 300_000)?, st.storage.document_count()?)))
            .await;
    match counts {
        Ok((devices, docs)) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(devices, docs)).into_response()
        }
        Err(e) => e.into_response(),
    }
}
