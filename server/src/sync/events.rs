//! `GET /v1/events`: a server-sent event stream that tells a connected device, promptly, that
//! something in its scope changed (it then calls `/v1/sync`). Events carry only the new cursor.
//! A stream lasts while its device stays signed in: it ends within [`SESSION_CHECK`] of the device
//! being signed out, revoked or expired.

use crate::auth::{Authed, authorize_session, bearer, token_hash};
use crate::http::error::ApiError;
use crate::storage::{ALL_KEYS, Session};
use crate::{AppState, now_ms};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

#[derive(serde::Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    cursor: u64,
}

/// How often an open stream checks that its device is still signed in.
pub const SESSION_CHECK: Duration = Duration::from_secs(10);

/// Whether the device that opened a stream (with the token hashed as `token`) may still listen:
/// its token still names it, and it is neither revoked nor expired.
async fn still_signed_in(state: &Arc<AppState>, token: Option<&[u8]>, opened: &Session) -> bool {
    let Some(token) = token else { return false };
    if opened.expires_at < now_ms() {
        return false;
    }
    let (st, token) = (state.clone(), token.to_vec());
    match tokio::task::spawn_blocking(move || st.storage.session(&token)).await {
        Ok(Ok(session)) => authorize_session(session).is_ok_and(|s| s.device_id == opened.device_id),
        // Storage cannot say: the stream ends, and the device's reconnection is checked afresh.
        _ => false,
    }
}

/// Completes when the stream's device is no longer signed in, checking every [`SESSION_CHECK`].
async fn signed_out(state: Arc<AppState>, token: Option<Vec<u8>>, opened: Session) {
    let mut checks = tokio::time::interval_at(tokio::time::Instant::now() + SESSION_CHECK, SESSION_CHECK);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        checks.tick().await;
        if !still_signed_in(&state, token.as_deref(), &opened).await {
            return;
        }
    }
}

/// The hash of the request's bearer token, as the session was found by.
fn bearer_hash(headers: &HeaderMap) -> Option<Vec<u8>> {
    bearer(headers).map(token_hash)
}

fn change(seq: u64) -> Event {
    Event::default().event("change").data(format!("{{\"cursor\":{seq}}}"))
}

pub async fn events(
    State(state): State<Arc<AppState>>,
    Authed(session): Authed,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    state.metrics.request(crate::http::metrics::Route::Events);
    let Query(q) = q.map_err(|e| ApiError::bad_request(format!("cursor: {}", e.body_text())))?;
    let receiver = state.notices.subscribe();
    let (keys, current) = {
        let st = state.clone();
        let user = session.user.clone();
        tokio::task::spawn_blocking(move || {
            Ok::<_, ApiError>((st.storage.user_keys(&user)?, st.storage.current_seq()?))
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??
    };
    let own = format!("user:{}", session.user.id);
    let mut keys: HashSet<String> = keys.into_iter().collect();
    keys.insert(own.clone());
    let keys = Arc::new(Mutex::new(keys));
    // Something may have changed while the device was away: say so at once.
    let first = (current > q.cursor).then(|| Ok(change(current)));
    let user = session.user.clone();
    let ended = signed_out(state.clone(), bearer_hash(&headers), session);
    let live = futures_util::StreamExt::filter_map(BroadcastStream::new(receiver), move |notice| {
        let (state, user, keys, own) = (state.clone(), user.clone(), keys.clone(), own.clone());
        async move {
            let notice = notice.ok()?;
            if notice.keys.iter().any(|k| k == &own || k == ALL_KEYS) {
                // The user's own scope may have grown (a new assignment): refresh the keys.
                if let Ok(Ok(k)) = tokio::task::spawn_blocking(move || state.storage.user_keys(&user)).await {
                    let mut fresh: HashSet<String> = k.into_iter().collect();
                    fresh.insert(own);
                    *keys.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
                }
            }
            let keys = keys.lock().unwrap_or_else(|p| p.into_inner());
            notice.keys.iter().any(|k| k == ALL_KEYS || keys.contains(k)).then(|| Ok(change(notice.seq)))
        }
    });
    let stream = futures_util::StreamExt::take_until(tokio_stream::iter(first).chain(live), ended);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("ping")))
}
