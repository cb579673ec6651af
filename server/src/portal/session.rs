//! Signing an enterprise contact in on the web, and their session.
//!
//! `GET /e/l/{code}` (the link) only looks: messaging apps and link scanners fetch links to preview
//! them, so it never uses the link up. It shows a button — a form posting the code to
//! `/e/sign-in` with the CSRF token of a pre-session cookie (`zhuqi_e_login`), as the managers'
//! sign-in does — and the POST uses the link up and starts the session, in one transaction with the
//! `web:` device that stands for the browser (named by its user agent) in the audit trail. A code
//! may also be typed on `/e/`. Unknown, used and expired codes are one refusal, counted against the
//! client's address with the activation codes (`auth::throttle`), on the GET as on the POST.
//!
//! The session's cookie (`zhuqi_e_session`: HttpOnly, Secure, SameSite=Strict, `Path=/e/`) is
//! neither a managers' session nor a device token; it ends after [`IDLE_MS`] without a page or
//! [`SESSION_MS`] after sign-in, and at sign-out (which revokes its device). Its CSRF token, in
//! every form, is derived from its secret. A session is good only while its user is still a contact
//! of the enterprise it was opened for.

use super::pages::{self, SignInPage};
use crate::auth::{self, throttle, token_hash};
use crate::http::error::ApiError;
use crate::http::metrics::Route;
use crate::http::net::ClientAddr;
use crate::storage::{EnterpriseSession, WebSignIn};
use crate::{AppState, now_ms};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use zhuqi_core::domain::{Role, User};

/// The session's cookie.
pub const SESSION_COOKIE: &str = "zhuqi_e_session";
/// The pre-session cookie of the sign-in form (against login CSRF).
pub const LOGIN_COOKIE: &str = "zhuqi_e_login";
/// Where both cookies are sent: the enterprise pages only.
pub const COOKIE_PATH: &str = "/e/";
/// A session ends after this long without a page...
pub const IDLE_MS: i64 = 20 * 60_000;
/// ... and this long after sign-in in any case.
pub const SESSION_MS: i64 = 8 * 3_600_000;
/// Characters of a browser's device name kept (网页 and its user agent): enough for a messaging
/// app's browser, which names itself at the end (`… Mobile Safari/537.36 MicroMessenger/8.0.49`).
pub const DEVICE_NAME_CHARS: usize = 200;

/// A signed-in contact: their session, themselves and the CSRF token of their forms.
pub struct Contact {
    pub session: EnterpriseSession,
    pub user: User,
    pub csrf: String,
}

impl Contact {
    /// Whether a form carries this session's CSRF token (compared in constant time).
    pub fn csrf_ok(&self, form_token: &str) -> bool {
        subtle::ConstantTimeEq::ct_eq(form_token.as_bytes(), self.csrf.as_bytes()).into()
    }
}

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

/// The CSRF token of a session's or a sign-in form's secret: derived, so nothing more is stored.
fn csrf_of(secret: &str) -> String {
    auth::hex(&Sha256::digest(format!("enterprise-csrf:{secret}").as_bytes()))
}

/// Whether a form's CSRF token is the one of `secret`, compared in constant time.
pub fn csrf_ok(form_token: &str, secret: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(form_token.as_bytes(), csrf_of(secret).as_bytes()).into()
}

/// A refused CSRF token (403).
pub fn bad_csrf() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "bad_csrf", "missing or wrong CSRF token", "页面已过期，请返回刷新后重试")
}

/// Sets (or, with `max_age_s` 0, clears) a cookie of the enterprise pages.
fn set_cookie(response: &mut Response, name: &str, value: &str, max_age_s: i64) {
    let v = format!("{name}={value}; Path={COOKIE_PATH}; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_s}");
    if let Ok(v) = HeaderValue::from_str(&v) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The signed-in contact of a request, if any (a session that ended, or whose user is no longer a
/// contact of its enterprise, is none).
pub async fn contact(state: &Arc<AppState>, headers: &HeaderMap) -> Result<Option<Contact>, ApiError> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    let st = state.clone();
    let hash = token_hash(&secret);
    let found = crate::app::blocking(move || {
        let Some(session) = st.storage.enterprise_session(&hash, now_ms(), IDLE_MS)? else { return Ok(None) };
        let user = st.directory.get(st.storage.as_ref())?.users.get(&session.user_id).cloned();
        Ok(user
            .filter(|u| u.role == Role::EnterpriseContact && u.enterprise_id.as_deref() == Some(&session.enterprise_id))
            .map(|user| (session, user)))
    })
    .await?;
    Ok(found.map(|(session, user)| Contact { session, user, csrf: csrf_of(&secret) }))
}

/// The sign-in form (to type a code, or the button of a link), with a fresh pre-session secret in
/// its cookie and the matching token in the form.
pub fn sign_in_form(status: StatusCode, code: Option<&str>, error: Option<&ApiError>) -> Response {
    let secret = auth::random_token();
    let page = SignInPage { code, csrf: &csrf_of(&secret), error: error.map(|e| (e.code, e.message_zh)) };
    let mut r = (status, pages::render(&page, None)).into_response();
    set_cookie(&mut r, LOGIN_COOKIE, &secret, 3600);
    if let Some(s) = error.and_then(|e| e.retry_after).and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        r.headers_mut().insert(header::RETRY_AFTER, s);
    }
    r
}

fn bad_code() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "bad_code",
        "unknown, used or expired link",
        "链接无效、已使用或已过期，请联系包联干部重新获取",
    )
}

/// Refuses a code that is too long to be one, and an address that failed too often.
fn admit(state: &AppState, code: &str, client: std::net::IpAddr, now: i64) -> Result<throttle::Attempt, ApiError> {
    if code.chars().count() > auth::MAX_CODE_CHARS {
        return Err(ApiError::bad_request(format!("code: at most {} characters", auth::MAX_CODE_CHARS)));
    }
    let mut attempt = throttle::Attempt::activation(client);
    attempt.check(state.storage.as_ref(), now).inspect_err(|_| {
        state.metrics.sign_ins_throttled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })?;
    Ok(attempt)
}

/// Counts a failed code against its address.
fn failed(state: &AppState, attempt: &throttle::Attempt, now: i64) -> ApiError {
    if let Err(e) = attempt.failed(state.storage.as_ref(), now) {
        return e;
    }
    state.metrics.sign_ins_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    bad_code()
}

/// `GET /e/l/{code}`: the link. Looks whether it can still sign in, and shows the button that does
/// it; uses nothing up.
pub async fn link_page(
    State(state): State<Arc<AppState>>,
    ClientAddr(client): ClientAddr,
    Path(code): Path<String>,
) -> Response {
    state.metrics.request(Route::Enterprise);
    let st = state.clone();
    let c = code.clone();
    let looked = crate::app::blocking(move || {
        let now = now_ms();
        let attempt = admit(&st, &c, client, now)?;
        match st.storage.web_link_live(&auth::code_hash(&c), now)? {
            true => Ok(()),
            false => Err(failed(&st, &attempt, now)),
        }
    })
    .await;
    match looked {
        Ok(()) => sign_in_form(StatusCode::OK, Some(&super::links::compact(&code)), None),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => sign_in_form(e.status, None, Some(&e)),
    }
}

#[derive(serde::Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /e/sign-in`: uses the link (or typed code) up and starts the session.
pub async fn sign_in(State(state): State<Arc<AppState>>, ClientAddr(client): ClientAddr, request: Request) -> Response {
    state.metrics.request(Route::Enterprise);
    let (parts, body) = request.into_parts();
    let f: SignInForm = match super::forms::read(&parts.headers, body).await {
        Ok(f) => f,
        Err(e) => return sign_in_form(e.status, None, Some(&e)),
    };
    if !cookie(&parts.headers, LOGIN_COOKIE).is_some_and(|secret| csrf_ok(&f.csrf, &secret)) {
        let code: String = super::links::compact(&f.code).chars().take(auth::MAX_CODE_CHARS).collect();
        return sign_in_form(StatusCode::FORBIDDEN, Some(&code), Some(&bad_csrf()));
    }
    // A session this browser still holds ends when another starts.
    let previous = cookie(&parts.headers, SESSION_COOKIE).map(|s| token_hash(&s));
    let agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let secret = auth::random_token();
    let st = state.clone();
    let id_hash = token_hash(&secret);
    let started = crate::app::blocking(move || {
        let now = now_ms();
        let attempt = admit(&st, &f.code, client, now)?;
        let sign_in = WebSignIn {
            id_hash,
            device_id: format!("{}{}", crate::sync::author::WEB_DEVICE_PREFIX, uuid::Uuid::now_v7()),
            device_name: device_name(&agent),
            device_token_hash: token_hash(&auth::random_token()),
            created_at: now,
            expires_at: now + SESSION_MS,
        };
        match st.storage.sign_in_with_web_link(&auth::code_hash(&f.code), now, &sign_in)? {
            Some(session) => {
                if let Some(previous) = previous {
                    st.storage.end_enterprise_session(&previous, now)?;
                }
                tracing::info!(
                    "web sign-in of {} for {} on {}",
                    crate::http::error::log_text(&session.user_id),
                    crate::http::error::log_text(&session.enterprise_id),
                    session.device_id
                );
                Ok(())
            }
            None => Err(failed(&st, &attempt, now)),
        }
    })
    .await;
    match started {
        Ok(()) => {
            let mut r = Redirect::to("/e/").into_response();
            set_cookie(&mut r, SESSION_COOKIE, &secret, SESSION_MS / 1000);
            set_cookie(&mut r, LOGIN_COOKIE, "", 0);
            r
        }
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => sign_in_form(e.status, None, Some(&e)),
    }
}

/// A browser's device name: 网页 and its user agent, without control characters, cut short.
fn device_name(agent: &str) -> String {
    let agent: String = agent.chars().filter(|c| !c.is_control()).collect();
    let agent = agent.trim();
    let name = if agent.is_empty() { "网页".to_owned() } else { format!("网页 {agent}") };
    name.chars().take(DEVICE_NAME_CHARS).collect()
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /e/sign-out`: ends the session and revokes its device.
pub async fn sign_out(State(state): State<Arc<AppState>>, request: Request) -> Response {
    state.metrics.request(Route::Enterprise);
    let (parts, body) = request.into_parts();
    let f: CsrfForm = match super::forms::read(&parts.headers, body).await {
        Ok(f) => f,
        Err(e) => return pages::refusal(&e, "/e/"),
    };
    let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else { return Redirect::to("/e/").into_response() };
    if !csrf_ok(&f.csrf, &secret) {
        return pages::refusal(&bad_csrf(), "/e/");
    }
    let st = state.clone();
    if let Err(e) =
        crate::app::blocking(move || Ok(st.storage.end_enterprise_session(&token_hash(&secret), now_ms())?)).await
    {
        return e.into_response();
    }
    let mut r = Redirect::to("/e/").into_response();
    set_cookie(&mut r, SESSION_COOKIE, "", 0);
    r
}

/// Runs a signed-in contact's blocking page work; without a session, back to the sign-in page.
pub async fn signed_in<F>(state: Arc<AppState>, headers: &HeaderMap, back: String, f: F) -> Response
where
    F: FnOnce(&AppState, &Contact) -> Result<Response, ApiError> + Send + 'static,
{
    state.metrics.request(Route::Enterprise);
    match contact(&state, headers).await {
        Ok(Some(c)) => run(state, c, back, f).await,
        Ok(None) => Redirect::to("/e/").into_response(),
        Err(e) => e.into_response(),
    }
}

/// Runs a signed-in contact's blocking page work, a refusal shown as a page with the way `back`.
pub async fn run<F>(state: Arc<AppState>, contact: Contact, back: String, f: F) -> Response
where
    F: FnOnce(&AppState, &Contact) -> Result<Response, ApiError> + Send + 'static,
{
    let st = state.clone();
    match tokio::task::spawn_blocking(move || f(&st, &contact)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) if e.status.is_server_error() => e.into_response(),
        Ok(Err(e)) => pages::refusal(&e, &back),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_short_and_clean() {
        assert_eq!(device_name(""), "网页");
        assert_eq!(device_name("Mozilla/5.0 (Linux; Android 14)\r\nX: y"), "网页 Mozilla/5.0 (Linux; Android 14)X: y");
        assert_eq!(device_name(&"a".repeat(10_000)).chars().count(), DEVICE_NAME_CHARS);
    }

    #[test]
    fn csrf_tokens_belong_to_their_secret() {
        let token = csrf_of("s1");
        assert!(csrf_ok(&token, "s1"));
        assert!(!csrf_ok(&token, "s2"));
        assert!(!csrf_ok("", "s1"));
        // Not the managers' token of the same secret.
        let managers = auth::hex(&Sha256::digest(b"csrf:s1"));
        assert!(!csrf_ok(&managers, "s1"));
    }
}
