//! Photos on the managers' pages: the photos of visits and problem events, served to a manager of
//! the region of a document naming them (`GET /photos/{sha256}`), and the photos events named that
//! have not reached the relay days after the events did, per author (`GET /photos/missing?days=N`),
//! so missing evidence is chased rather than found at inspection.

use super::pages::PhotoThumb;
use super::pages::records::{MissingPhoto, MissingPhotosPage};
use super::session::managed;
use super::{in_subtree, show};
use crate::AppState;
use crate::blobs::BlobStore;
use crate::blobs::routes::{Copy, copy_response, is_uploaded, photo_response, photo_taken};
use crate::http::error::ApiError;
use crate::storage::Session;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::Arc;
use zhuqi_core::domain::photo::{self, PhotoFlag};
use zhuqi_core::domain::{Location, PhotoRef};

/// `GET /photos/{sha256}`: a photo an enterprise or a problem of the manager's region names.
pub async fn photo(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(sha256): Path<String>) -> Response {
    managed(state, headers, move |st, session, _| photo_response(blobs_for(st, session, &sha256)?, &sha256)).await
}

/// The photo store, when a document of the manager's region names the photo.
fn blobs_for(st: &AppState, session: &Session, sha256: &str) -> Result<Arc<dyn BlobStore>, ApiError> {
    let unknown = || ApiError::not_found("no photo of your region has this name");
    if !crate::blobs::is_sha256(sha256) {
        return Err(unknown());
    }
    let dir = st.directory.get(st.storage.as_ref())?;
    let named_here = st.storage.photo_regions(sha256)?.iter().any(|r| in_subtree(&dir, session, r));
    st.blobs.clone().filter(|_| named_here).ok_or_else(unknown)
}

/// `GET /photos/{sha256}/thumbnail`: the photo's thumbnail (JPEG, at most 320 pixels a side), for
/// the same managers.
pub async fn thumbnail(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(sha256): Path<String>) -> Response {
    managed(state, headers, move |st, session, _| {
        copy_response(st, blobs_for(st, session, &sha256)?, &sha256, Copy::Thumbnail)
    })
    .await
}

/// The photos `refs` of an event as pages show them: whether the relay holds each, and what is
/// doubtful about it against the event's time `at` (a visit: the start of its day), its receipt and
/// the place it is about (see `zhuqi_core::domain::photo::flags`).
pub fn thumbs(
    st: &AppState,
    refs: &[PhotoRef],
    at: i64,
    received_at: Option<i64>,
    place: Option<&Location>,
) -> Result<Vec<PhotoThumb>, ApiError> {
    refs.iter()
        .map(|p| {
            let taken = photo_taken(st, &p.sha256)?;
            let flags = taken.map(|t| photo::flags(&t, at, received_at, place)).unwrap_or_default();
            Ok(PhotoThumb {
                sha256: p.sha256.clone(),
                uploaded: taken.is_some(),
                flags: flags.iter().map(PhotoFlag::zh).collect(),
            })
        })
        .collect()
}

/// Photos the missing-photo page looks at, at most.
const MISSING_ROWS: u32 = 5_000;

#[derive(serde::Deserialize)]
pub struct MissingQuery {
    /// Days a photo may take to arrive before it is listed (3 unless given).
    #[serde(default)]
    days: Option<u32>,
}

/// `GET /photos/missing`: per author (cadre, handler) in the manager's region, the photos their
/// events named that the relay still does not hold `days` days after receiving the events, oldest
/// first.
pub async fn missing_photos(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<MissingQuery>,
) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let days = q.days.unwrap_or(3).min(3650);
        let dir = st.directory.get(st.storage.as_ref())?;
        let before = crate::now_ms() - i64::from(days) * 86_400_000;
        let mut by_author: BTreeMap<String, Vec<MissingPhoto>> = BTreeMap::new();
        // A year back at most, and the oldest 5,000 photos of the province: the page stays bounded
        // however many photos were ever named.
        for row in st.storage.photos_received(before - 365 * 86_400_000, before, MISSING_ROWS)? {
            if in_subtree(&dir, session, &row.region_id) && !is_uploaded(st, &row.sha256) {
                let author = dir.users.get(&row.author_id).map_or(row.author_id.clone(), |u| u.name.clone());
                by_author.entry(author).or_default().push(MissingPhoto {
                    enterprise_id: row.enterprise_id,
                    enterprise_name: row.enterprise_name,
                    problem_id: row.problem_id,
                    received_at: row.received_at.unwrap_or_default(),
                });
            }
        }
        Ok(show(&MissingPhotosPage { days, cadres: by_author.into_iter().collect() }, viewer))
    })
    .await
}
