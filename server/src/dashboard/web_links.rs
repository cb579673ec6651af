//! The campaign office's side of enterprises on the web: on an enterprise's page, whether any of
//! its contacts was ever reached (app or web sign-in) and the form that issues a contact's one-time
//! web sign-in link (`POST /enterprises/{id}/web-link`), shown once with its code and a message to
//! send by SMS. Links, contacts and reach are `portal`'s; this only serves them to the office.

use super::pages::records::{WebAccess, WebLinkPage};
use super::pages::{RefusalPage, render};
use super::session::managed;
use crate::http::error::ApiError;
use crate::portal::links::{self, Wanted};
use crate::{AppState, now_ms};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use zhuqi_core::domain::Role;

/// What the enterprise page shows of the enterprise's web access, for a manager whose CSRF token is
/// `csrf`.
pub fn access(st: &AppState, enterprise_id: &str, csrf: &str) -> Result<WebAccess, ApiError> {
    let storage = st.storage.as_ref();
    let dir = st.directory.get(storage)?;
    let mut contacts: Vec<(String, String)> = dir
        .users
        .values()
        .filter(|u| u.role == Role::EnterpriseContact && u.enterprise_id.as_deref() == Some(enterprise_id))
        .map(|u| (u.id.clone(), u.name.clone()))
        .collect();
    contacts.sort();
    let reach = storage.enterprise_reach(&[enterprise_id.to_owned()], now_ms())?.pop();
    Ok(WebAccess { enterprise_id: enterprise_id.to_owned(), contacts, reach, csrf: csrf.to_owned() })
}

#[derive(serde::Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_mobile: String,
}

/// `POST /enterprises/{id}/web-link`: issues the link (the form read within the dashboard's form
/// limit before the session is looked at) and shows it once.
pub async fn issue_link(State(state): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let f: LinkForm = match crate::portal::forms::read(&parts.headers, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let base = links::base_url(&state, &parts.headers);
    managed(state, parts.headers, move |st, session, viewer| {
        let same: bool = subtle::ConstantTimeEq::ct_eq(f.csrf.as_bytes(), viewer.csrf.as_bytes()).into();
        if !same {
            return Err(ApiError::forbidden("bad CSRF token"));
        }
        let wanted = Wanted {
            contact_user_id: Some(f.contact).filter(|c| !c.trim().is_empty()),
            contact_name: Some(f.contact_name).filter(|c| !c.trim().is_empty()),
            contact_mobile: Some(f.contact_mobile),
        };
        let back = format!("/enterprises/{}", super::pages::problems::enc(&id));
        let issued = match links::issue(st, &session.user, &id, &wanted, &base) {
            Ok(issued) => issued,
            Err(e) if e.status.is_client_error() => {
                let page = RefusalPage { message_zh: e.message_zh, message: &e.message, back: &back };
                return Ok((e.status, render(&page, Some(viewer))).into_response());
            }
            Err(e) => return Err(e),
        };
        let enterprise = crate::portal::problems::enterprise_of(st, &id)?;
        let name = enterprise.as_ref().map_or(id.as_str(), |e| e.profile.name.as_str());
        let page = WebLinkPage {
            back: &back,
            enterprise_name: name,
            contact_name: &issued.contact_name,
            url: &issued.url,
            code: &issued.code,
            expires_at: issued.expires_at,
        };
        Ok(render(&page, Some(viewer)).into_response())
    })
    .await
}
