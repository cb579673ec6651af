//! The device API's routes for enterprises without the app: `POST /v1/web-links` (a cadre's phone
//! asks for a contact's sign-in link, to show as a QR code or send) and `GET /v1/reach` (which of
//! the caller's enterprises were never reached). The link request's body is read, within
//! `AUTH_BODY_BYTES`, before the token is looked at.

use super::links::{self, Wanted};
use crate::app::{AppState, blocking};
use crate::auth::{Authed, authorize_session, bearer, token_hash};
use crate::http::body::{AUTH_BODY_BYTES, counted, json, json_response, read_body};
use crate::http::error::ApiError;
use crate::http::metrics::Route;
use axum::extract::{Request, State};
use axum::response::Response;
use std::sync::Arc;
use zhuqi_core::sync::protocol::{WebLinkRequest, WebLinkResponse};

/// `POST /v1/web-links`.
pub async fn web_link(State(state): State<Arc<AppState>>, request: Request) -> Response {
    state.metrics.request(Route::Enterprise);
    let r = async {
        let (parts, body) = request.into_parts();
        let req: WebLinkRequest = json(&read_body(&parts.headers, body, AUTH_BODY_BYTES).await?)?;
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?.to_owned();
        let base = links::base_url(&state, &parts.headers);
        let st = state.clone();
        let issued = blocking(move || {
            let session = authorize_session(st.storage.session(&token_hash(&token))?)?;
            let wanted = Wanted {
                contact_user_id: req.contact_user_id,
                contact_name: req.contact_name,
                contact_mobile: req.contact_mobile,
            };
            links::issue(&st, &session.user, &req.enterprise_id, &wanted, &base)
        })
        .await?;
        Ok(json_response(&WebLinkResponse {
            code: issued.code,
            url: issued.url,
            expires_at: issued.expires_at,
            contact_user_id: issued.contact_user_id,
        }))
    }
    .await;
    counted(&state, r)
}

/// `GET /v1/reach`.
pub async fn reach(State(state): State<Arc<AppState>>, Authed(session): Authed) -> Response {
    state.metrics.request(Route::Enterprise);
    let st = state.clone();
    let r = blocking(move || super::reach::of_user(&st, &session.user)).await.map(|r| json_response(&r));
    counted(&state, r)
}
