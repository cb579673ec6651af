//! Managers' web sessions: sign-in and sign-out, the session cookie (HttpOnly, Secure,
//! SameSite=Strict, ending after 30 idle minutes or 12 hours, never a device token), CSRF tokens (one
//! per session, derived from its secret; the sign-in form has its own, against login CSRF), and
//! [`managed`], which runs a page's work for a signed-in manager.

use super::pages::{self, ForbiddenPage, LoginPage, Viewer};
use crate::auth::{self, token_hash};
use crate::http::error::ApiError;
use crate::storage::Session;
use crate::{AppState, now_ms};
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use zhuqi_core::domain::Role;

const COOKIE: &str = "zhuqi_session";
/// A web session ends after this long without a page being loaded...
pub const WEB_IDLE_MS: i64 = 30 * 60_000;
/// ... and this long after sign-in in any case.
pub const WEB_SESSION_MS: i64 = 12 * 3_600_000;
/// The sign-in form's own CSRF cookie (login CSRF: a page elsewhere must not sign a manager in as
/// somebody else).
const LOGIN_COOKIE: &str = "zhuqi_login";

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty() && v.len() < 200)
        .map(|(_, v)| v.to_owned())
}

/// The CSRF token of a session: derived from its secret, so nothing more is stored.
fn csrf_of(token: &str) -> String {
    auth::hex(&Sha256::digest(format!("csrf:{token}").as_bytes()))
}

/// Whether a form's CSRF token is the one of `secret`, compared in constant time.
pub(super) fn csrf_ok(form_token: &str, secret: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(form_token.as_bytes(), csrf_of(secret).as_bytes()).into()
}

fn set_cookie(name: &str, value: &str, path: &str, max_age_s: i64) -> (header::HeaderName, String) {
    (header::SET_COOKIE, format!("{name}={value}; Path={path}; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_s}"))
}

/// The signed-in manager of a request (and the session's secret, for CSRF tokens), or where to send
/// the browser instead.
pub(super) async fn manager(state: &Arc<AppState>, headers: &HeaderMap) -> Result<(Session, String), Response> {
    let Some(token) = cookie(headers, COOKIE) else { return Err(Redirect::to("/login").into_response()) };
    let st = state.clone();
    let t = token.clone();
    let user = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let now = now_ms();
        let Some(user_id) = st.storage.web_session(&token_hash(&t), now, WEB_IDLE_MS)? else { return Ok(None) };
        Ok(st.directory.get(st.storage.as_ref())?.users.get(&user_id).cloned())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()).into_response())?
    .map_err(IntoResponse::into_response)?;
    let Some(user) = user else { return Err(Redirect::to("/login").into_response()) };
    if user.role != Role::Manager {
        return Err((StatusCode::FORBIDDEN, pages::render(&ForbiddenPage, None)).into_response());
    }
    // Web sessions are not devices: this one has no device id, and opens no `/v1/*` route.
    Ok((Session { device_id: String::new(), user, revoked: false, expires_at: 0 }, token))
}

/// Runs a manager's blocking page work and turns its result into a response. The work gets the
/// session and the [`Viewer`] its page is rendered for.
pub(super) async fn managed<F>(state: Arc<AppState>, headers: HeaderMap, f: F) -> Response
where
    F: FnOnce(&AppState, &Session, Viewer<'_>) -> Result<Response, ApiError> + Send + 'static,
{
    state.metrics.request(crate::http::metrics::Route::Web);
    let (session, token) = match manager(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let st = state.clone();
    match tokio::task::spawn_blocking(move || {
        let csrf = csrf_of(&token);
        f(&st, &session, Viewer { name: &session.user.name, csrf: &csrf })
    })
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

pub async fn login_page() -> Response {
    login_form(StatusCode::OK, None)
}

/// The sign-in form, with a fresh login-CSRF secret in its cookie and the matching token in the form.
fn login_form(status: StatusCode, error: Option<&str>) -> Response {
    let secret = auth::random_token();
    let page = LoginPage { csrf: &csrf_of(&secret), error, max_login_chars: auth::MAX_LOGIN_CHARS };
    (status, [set_cookie(LOGIN_COOKIE, &secret, "/login", 3600)], pages::render(&page, None)).into_response()
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    crate::http::net::ClientAddr(client): crate::http::net::ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    state.metrics.request(crate::http::metrics::Route::Web);
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|secret| csrf_ok(&f.csrf, &secret)) {
        return login_form(StatusCode::FORBIDDEN, Some("登录页面已过期，请重新登录"));
    }
    let user = match auth::sign_in(&state, f.login.trim().to_owned(), f.password, client).await {
        Ok(user) => user,
        Err(e) => {
            let mut r = login_form(e.status, Some(e.message_zh).filter(|m| !m.is_empty()));
            if let Some(s) = e.retry_after.and_then(|s| header::HeaderValue::from_str(&s.to_string()).ok()) {
                r.headers_mut().insert(header::RETRY_AFTER, s);
            }
            return r;
        }
    };
    let token = auth::random_token();
    let now = now_ms();
    let session = crate::storage::WebSession {
        id_hash: token_hash(&token),
        user_id: user.id,
        created_at: now,
        expires_at: now + WEB_SESSION_MS,
    };
    let st = state.clone();
    match tokio::task::spawn_blocking(move || st.storage.create_web_session(&session)).await {
        Ok(Ok(())) => {
            let mut r = Redirect::to("/").into_response();
            for (name, value) in
                [set_cookie(COOKIE, &token, "/", WEB_SESSION_MS / 1000), set_cookie(LOGIN_COOKIE, "", "/login", 0)]
            {
                if let Ok(v) = header::HeaderValue::from_str(&value) {
                    r.headers_mut().append(name, v);
                }
            }
            r
        }
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    if let Some(token) = cookie(&headers, COOKIE)
        && csrf_ok(&f.csrf, &token)
    {
        let st = state.clone();
        let _ = tokio::task::spawn_blocking(move || st.storage.end_web_session(&token_hash(&token))).await;
    }
    ([set_cookie(COOKIE, "", "/", 0)], Redirect::to("/login")).into_response()
}
