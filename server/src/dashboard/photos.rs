//! Photos on the managers' pages: a visit's photos, served to a manager of the enterprise's region
//! (`GET /photos/{sha256}`), and the photos visits named that have not reached the relay days later,
//! per cadre (`GET /photos/missing?days=N`), so missing evidence is chased rather than found at
//! inspection.

use super::pages::records::{MissingPhoto, MissingPhotosPage};
use super::session::managed;
use super::{in_subtree, show};
use crate::AppState;
use crate::blobs::routes::{is_uploaded, photo_response};
use crate::http::error::ApiError;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `GET /photos/{sha256}`: a photo a visit of an enterprise of the manager's region names.
pub async fn photo(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(sha256): Path<String>) -> Response {
    managed(state, headers, move |st, session, _| {
        let unknown = || ApiError::not_found("no photo of your region has this name");
        if !crate::blobs::is_sha256(&sha256) {
            return Err(unknown());
        }
        let dir = st.directory.get(st.storage.as_ref())?;
        let storage = st.storage.as_ref();
        let mut named_here = false;
        for (doc, _) in storage.blob_refs(&sha256)? {
            if storage.enterprise_region(&doc)?.is_some_and(|r| in_subtree(&dir, session, &r)) {
                named_here = true;
                break;
            }
        }
        let blobs = st.blobs.clone().filter(|_| named_here).ok_or_else(unknown)?;
        photo_response(blobs, &sha256)
    })
    .await
}

#[derive(serde::Deserialize)]
pub struct MissingQuery {
    /// Days a photo may take to arrive before it is listed (3 unless given).
    #[serde(default)]
    days: Option<u32>,
}

/// `GET /photos/missing`: per cadre of the manager's region, the photos their visits named more than
/// `days` days ago that the relay still does not hold, oldest first.
pub async fn missing_photos(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<MissingQuery>,
) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let days = q.days.unwrap_or(3).min(3650);
        let dir = st.directory.get(st.storage.as_ref())?;
        let before = crate::now_ms() - i64::from(days) * 86_400_000;
        let mut by_cadre: BTreeMap<String, Vec<MissingPhoto>> = BTreeMap::new();
        for row in st.storage.photos_recorded_before(before)? {
            if in_subtree(&dir, session, &row.region_id) && !is_uploaded(st, &row.sha256) {
                let cadre = dir.users.get(&row.cadre_id).map_or(row.cadre_id.clone(), |u| u.name.clone());
                by_cadre.entry(cadre).or_default().push(MissingPhoto {
                    enterprise_id: row.enterprise_id,
                    enterprise_name: row.enterprise_name,
                    recorded_at: row.recorded_at,
                });
            }
        }
        Ok(show(&MissingPhotosPage { days, cadres: by_cadre.into_iter().collect() }, viewer))
    })
    .await
}
