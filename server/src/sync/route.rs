//! `POST /v1/sync`: checks the request's headers, reads its body within the limit, and hands it to
//! `serve` on the blocking pool, one of a bounded number at a time.

use crate::app::{AppState, blocking};
use crate::http::body::{counted, read_body};
use crate::http::error::ApiError;
use crate::http::metrics::{Route, Stage};
use axum::body::Body;
use crate::storage::Session;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
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

/// Sessions of devices that synced lately, by the hash of their token, so that a sync finds its
/// user (whose turn it waits for, see `InProgress`) without a trip to the blocking threads. A
/// remembered session only names the line the request waits in: before any work, `sync` reads the
/// session again from storage on the thread that serves the request, so a revoked or expired
/// device is refused as before. A request takes the session out and puts it back only once storage
/// has confirmed it, so a device revoked meanwhile has at most one request at a time let in
/// unchecked (which its check then refuses), whatever happens to that request.
#[derive(Default)]
pub struct RecentSessions(std::sync::Mutex<std::collections::HashMap<Vec<u8>, Session>>);

/// Sessions remembered at most; the memory is cleared when full (each is read again once).
const RECENT_SESSIONS: usize = 100_000;

impl RecentSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Vec<u8>, Session>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the session remembered for `hash` out (it is put back once storage has confirmed it:
    /// a remembered session lets one request at a time in unchecked), if it has not expired.
    fn take(&self, hash: &[u8]) -> Option<Session> {
        self.lock().remove(hash).filter(|s| !s.revoked && s.expires_at >= crate::now_ms())
    }

    fn put(&self, hash: Vec<u8>, session: Session) {
        let mut map = self.lock();
        if map.len() >= RECENT_SESSIONS {
            map.clear();
        }
        map.insert(hash, session);
    }

}

/// A sync's device: remembered (see [`RecentSessions`]), or found as [`crate::auth::Authed`] finds it.
pub struct SyncAuthed {
    session: Session,
    token_hash: Vec<u8>,
    remembered: bool,
}

impl FromRequestParts<Arc<AppState>> for SyncAuthed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let token = crate::auth::bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let token_hash = crate::auth::token_hash(token);
        if let Some(session) = state.sessions.take(&token_hash) {
            return Ok(SyncAuthed { session, token_hash, remembered: true });
        }
        let crate::auth::Authed(session) = crate::auth::Authed::from_request_parts(parts, state).await?;
        state.sessions.put(token_hash.clone(), session.clone());
        Ok(SyncAuthed { session, token_hash, remembered: false })
    }
}

impl SyncAuthed {
    /// The session to serve the sync as: a remembered one read again from storage (refused, and no
    /// longer remembered, if the device was revoked or its token expired meanwhile), and remembered
    /// again.
    fn current(self, state: &AppState) -> Result<Session, ApiError> {
        if !self.remembered {
            return Ok(self.session);
        }
        let started = std::time::Instant::now();
        let session = state.storage.session(&self.token_hash)?;
        state.metrics.stage(Stage::Session, started);
        let session = crate::auth::authorize_session(session)?;
        state.sessions.put(self.token_hash, session.clone());
        Ok(session)
    }
}

pub async fn sync(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    authed: SyncAuthed,
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
        let _in_progress = InProgress::start(&state, &authed.session.user.id).await?;
        let t = state.metrics.stage(Stage::Queued, started);
        let body = read_body(&headers, body, MAX_REQUEST_BYTES).await?;
        let t = state.metrics.stage(Stage::Body, t);
        state.metrics.bytes_in.fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let st = state.clone();
        let _slot = state.sync_slots.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
        state.metrics.stage(Stage::Queued, t);
        let out = blocking(move || {
            let session = authed.current(&st)?;
            super::serve(&st, &session, &body, version)
        })
        .await?;
        state.metrics.bytes_out.fetch_add(out.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(([(header::CONTENT_TYPE, "application/cbor"), (header::CONTENT_ENCODING, "gzip")], out).into_response())
    }
    .await;
    state.metrics.observe_sync(started.elapsed().as_secs_f64());
    counted(&state, r)
}
