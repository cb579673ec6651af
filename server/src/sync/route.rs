//! `POST /v1/sync`: checks the request's headers, reads its body within the limit, and hands it to
//! `serve` on the blocking pool, one of a bounded number at a time.

use crate::app::{AppState, blocking};
use crate::http::body::{counted, read_body};
use crate::http::error::ApiError;
use crate::http::metrics::Route;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::sync::Semaphore;
use zhuqi_core::sync::protocol::*;

/// Syncs one user may have in progress at once (a phone and a tablet, or a retry overlapping a slow
/// answer). Each may hold a 16 MiB body and as much again decompressed, so this bounds what one
/// account can make the relay hold; a further sync waits, its body unread, until one ends (or its
/// deadline passes).
pub const SYNCS_PER_USER: usize = 2;

/// A user's place among their syncs in progress, given back when dropped.
struct InProgress {
    state: Arc<AppState>,
    user: String,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl InProgress {
    async fn start(state: &Arc<AppState>, user: &str) -> Result<InProgress, ApiError> {
        let places = {
            let mut syncing = state.syncing.lock().unwrap_or_else(|p| p.into_inner());
            syncing.entry(user.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(SYNCS_PER_USER))).clone()
        };
        let mut guard = InProgress { state: state.clone(), user: user.to_owned(), permit: None };
        guard.permit = Some(places.acquire_owned().await.map_err(|e| ApiError::internal(e.to_string()))?);
        Ok(guard)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        drop(self.permit.take());
        // The user's entry goes when nobody holds or awaits a place (the map's is the only handle).
        let mut syncing = self.state.syncing.lock().unwrap_or_else(|p| p.into_inner());
        if syncing.get(&self.user).is_some_and(|p| Arc::strong_count(p) == 1) {
            syncing.remove(&self.user);
        }
    }
}

pub async fn sync(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    crate::auth::Authed(session): crate::auth::Authed,
    body: Body,
) -> Response {
    state.metrics.request(Route::Sync);
    let started = std::time::Instant::now();
    let r = async {
        // A header that is present but not a version number names no version this relay speaks.
        let version = headers
            .get(PROTOCOL_HEADER)
            .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(0));
        let gzip = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        if !gzip {
            return Err(ApiError::bad_request("/v1/sync bodies are gzip-compressed CBOR (Content-Encoding: gzip)"));
        }
        let _in_progress = InProgress::start(&state, &session.user.id).await?;
        let body = read_body(&headers, body, MAX_REQUEST_BYTES).await?;
        state.metrics.bytes_in.fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let st = state.clone();
        let _slot = state.sync_slots.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
        let out = blocking(move || super::serve(&st, &session, &body, version)).await?;
        state.metrics.bytes_out.fetch_add(out.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(([(header::CONTENT_TYPE, "application/cbor"), (header::CONTENT_ENCODING, "gzip")], out).into_response())
    }
    .await;
    state.metrics.observe_sync(started.elapsed().as_secs_f64());
    counted(&state, r)
}
