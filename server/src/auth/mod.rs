//! Accounts and devices: argon2id password hashes, sign-in (throttled in `throttle`), one-time activation codes
//! for enterprise contacts, opaque device tokens stored as SHA-256 hashes, and the extractor that
//! turns `Authorization: Bearer …` into a session.

pub mod routes;
pub mod throttle;

use crate::http::error::ApiError;
use crate::storage::{NewDevice, RelayStorage, Session};
use crate::{AppState, now_ms};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;
use zhuqi_core::domain::{Role, User};
use zhuqi_core::store::Identity;
use zhuqi_core::sync::protocol::SignInResponse;

/// Longest login accepted, in characters (logins are names and phone numbers).
pub const MAX_LOGIN_CHARS: usize = 64;
/// Longest password accepted, in bytes: hashing is linear in it.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest activation code accepted as typed (12 characters with separators and spaces).
pub const MAX_CODE_CHARS: usize = 64;
pub const TOKEN_TTL_MS: i64 = 30 * 86_400_000;
pub const ACTIVATION_TTL_MS: i64 = 7 * 86_400_000;

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A one-time activation code: 12 characters, grouped `XXXX-XXXX-XXXX`, without look-alike letters.
pub fn random_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let chars: Vec<char> = (0..12).map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char).collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// Normalises a typed code (case, spaces, dashes) before hashing.
pub fn code_hash(code: &str) -> Vec<u8> {
    let norm: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    token_hash(&norm)
}

pub fn identity_of(user: &User, device_id: &str) -> Identity {
    Identity {
        user_id: user.id.clone(),
        name: user.name.clone(),
        role: user.role,
        region_id: user.region_id.clone(),
        department_id: user.department_id.clone(),
        enterprise_id: user.enterprise_id.clone(),
        device_id: device_id.to_owned(),
    }
}

/// Registers a new device for `user` and returns its token.
pub fn register_device(storage: &dyn RelayStorage, user: &User, device_name: &str) -> Result<SignInResponse, ApiError> {
    let token = random_token();
    let now = now_ms();
    let device = NewDevice {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user.id.clone(),
        name: device_name.chars().take(100).collect(),
        token_hash: token_hash(&token),
        created_at: now,
        expires_at: now + TOKEN_TTL_MS,
    };
    storage.create_device(&device)?;
    Ok(SignInResponse { token, expires_at: device.expires_at, identity: identity_of(user, &device.id) })
}

fn bad_credentials() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", "wrong login or password", "账号或密码错误")
}

/// Checks the shape of a sign-in before anything is spent on it.
pub fn check_lengths(login: &str, password: &str) -> Result<(), ApiError> {
    if login.is_empty() || login.chars().count() > MAX_LOGIN_CHARS {
        return Err(ApiError::bad_request(format!("login: 1 to {MAX_LOGIN_CHARS} characters")));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(format!("password: at most {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(())
}

/// The first half of a sign-in: refuses malformed and throttled attempts, before any password hash
/// is computed. The caller then takes a password-check permit and calls `check_password`.
pub fn admit_sign_in(
    state: &AppState,
    login: &str,
    password: &str,
    client: IpAddr,
) -> Result<throttle::Attempt, ApiError> {
    check_lengths(login, password)?;
    let mut attempt = throttle::Attempt::sign_in(login, client);
    check_throttles(state, &mut attempt, now_ms())?;
    Ok(attempt)
}

/// `Attempt::check`, counting refusals in the metrics.
fn check_throttles(state: &AppState, attempt: &mut throttle::Attempt, now: i64) -> Result<(), ApiError> {
    attempt.check(state.storage.as_ref(), now).inspect_err(|_| {
        state.metrics.sign_ins_throttled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
}

/// The second half of a sign-in: the user whose password this is, or 401 (recorded against the
/// attempt's throttles).
pub fn check_password(
    state: &AppState,
    attempt: &throttle::Attempt,
    login: &str,
    password: &str,
) -> Result<User, ApiError> {
    let storage = state.storage.as_ref();
    let account = storage.account_by_login(login)?;
    let ok = match &account {
        Some(a) => a.password_hash.as_deref().is_some_and(|h| verify_password(password, h)),
        // Spend the same time on unknown logins, so that timing does not reveal which exist.
        None => {
            let _ = verify_password(password, &state.dummy_hash);
            false
        }
    };
    let now = now_ms();
    match account {
        Some(a) if ok => {
            attempt.succeeded(storage, now)?;
            Ok(a.user)
        }
        _ => {
            attempt.failed(storage, now)?;
            state.metrics.sign_ins_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(bad_credentials())
        }
    }
}

/// A password sign-in from `client`: throttles checked first, then — one per core at a time — the
/// password. The user, or the error to answer.
pub async fn sign_in(state: &Arc<AppState>, login: String, password: String, client: IpAddr) -> Result<User, ApiError> {
    let join = |e: tokio::task::JoinError| ApiError::internal(e.to_string());
    let (st, l, p) = (state.clone(), login.clone(), password.clone());
    let attempt = tokio::task::spawn_blocking(move || admit_sign_in(&st, &l, &p, client)).await.map_err(join)??;
    let _permit = state.password_checks.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || check_password(&st, &attempt, &login, &password)).await.map_err(join)?
}

/// Activates an enterprise contact's device with a one-time code, throttled per client address.
pub fn activate(state: &AppState, code: &str, device_name: &str, client: IpAddr) -> Result<SignInResponse, ApiError> {
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(ApiError::bad_request(format!("code: at most {MAX_CODE_CHARS} characters")));
    }
    let storage = state.storage.as_ref();
    let now = now_ms();
    let mut attempt = throttle::Attempt::activation(client);
    check_throttles(state, &mut attempt, now)?;
    let Some(user_id) = storage.consume_activation_code(&code_hash(code), now)? else {
        attempt.failed(storage, now)?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_code",
            "unknown, used or expired activation code",
            "激活码无效或已过期",
        ));
    };
    let dir = state.directory.get(storage)?;
    let user =
        dir.users.get(&user_id).cloned().ok_or_else(|| ApiError::internal("activation code for a missing user"))?;
    register_device(storage, &user, device_name)
}

/// Issues an activation code for an enterprise contact; the issuer must be a cadre assigned to the
/// enterprise or a manager of its region.
pub fn issue_code(
    state: &AppState,
    issuer: &Session,
    enterprise_id: &str,
    contact_id: &str,
) -> Result<(String, i64), ApiError> {
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let contact = dir
        .users
        .get(contact_id)
        .filter(|u| u.role == Role::EnterpriseContact && u.enterprise_id.as_deref() == Some(enterprise_id));
    if !matches!(issuer.user.role, Role::Cadre | Role::Manager) {
        return Err(ApiError::forbidden("only the enterprise's cadres and managers issue its codes"));
    }
    let keys = storage.user_keys(&issuer.user)?;
    let allowed = contact.is_some()
        && match issuer.user.role {
            Role::Cadre => keys.contains(&format!("ent:{enterprise_id}")),
            _ => storage.doc_in_scope(enterprise_id, &keys)?,
        };
    // One answer whether the contact does not exist or is outside the issuer's enterprises: which
    // contacts exist elsewhere is not the issuer's to learn.
    if !allowed {
        return Err(ApiError::not_found("no such contact of an enterprise you serve"));
    }
    let code = random_code();
    let expires = now_ms() + ACTIVATION_TTL_MS;
    storage.create_activation_code(&code_hash(&code), contact_id, &issuer.user.id, expires)?;
    Ok((code, expires))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The token of an `Authorization: Bearer …` header, if it has a plausible one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() < 200)
}

/// A request's authenticated device.
pub struct Authed(pub Session);

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?.to_owned();
        let (st, started) = (state.clone(), std::time::Instant::now());
        let session = tokio::task::spawn_blocking(move || st.storage.session(&token_hash(&token)))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        state.metrics.stage(crate::http::metrics::Stage::Session, started);
        authorize_session(session).map(Authed)
    }
}

/// Refuses unknown, expired and revoked sessions.
pub fn authorize_session(session: Option<Session>) -> Result<Session, ApiError> {
    let session = session.ok_or_else(ApiError::unauthorized)?;
    if session.revoked {
        return Err(ApiError::revoked());
    }
    if session.expires_at < now_ms() {
        return Err(ApiError::unauthorized());
    }
    Ok(session)
}
