//! `GET /v1/events`: a server-sent event stream that tells a connected device, promptly, that
//! something in its scope changed (it then calls `/v1/sync`). Events carry only the new cursor.

use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::storage::ALL_KEYS;
use axum::extract::{Query, State};
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

fn change(seq: u64) -> Event {
    Event::default().event("change").data(format!("{{\"cursor\":{seq}}}"))
}

pub async fn events(
    State(state): State<Arc<AppState>>,
    Authed(session): Authed,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    state.metrics.request(crate::metrics::Route::Events);
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
    let stream = tokio_stream::iter(first).chain(live);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("ping")))
}
