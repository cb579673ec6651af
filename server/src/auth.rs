//! Accounts and devices: argon2id password hashes, sign-in with throttling, one-time activation codes
//! for enterprise contacts, opaque device tokens stored as SHA-256 hashes, and the extractor that
//! turns `Authorization: Bearer …` into a session.

use crate::error::ApiError;
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
use std::sync::Arc;
use zhuqi_core::domain::{Role, User};
use zhuqi_core::store::Identity;
use zhuqi_core::sync::protocol::SignInResponse;

/// Failed sign-ins allowed per login in the window before further attempts are refused.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW_MS: i64 = 15 * 60_000;
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

fn random_token() -> String {
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

/// Refuses with 429 when `key` (a login, or a client address) failed too often recently.
fn check_throttle(storage: &dyn RelayStorage, key: &str, now: i64) -> Result<(), ApiError> {
    if storage.failed_sign_ins_since(key, now - FAILURE_WINDOW_MS)? < MAX_FAILURES {
        return Ok(());
    }
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        "too many failed attempts",
        "尝试次数过多，请15分钟后再试",
    );
    e.retry_after = Some((FAILURE_WINDOW_MS / 1000) as u64);
    Err(e)
}

/// Signs in with a password, refusing after too many recent failures for the login.
pub fn sign_in(state: &AppState, login: &str, password: &str, device_name: &str) -> Result<SignInResponse, ApiError> {
    let storage = state.storage.as_ref();
    let now = now_ms();
    check_throttle(storage, login, now)?;
    let account = storage.account_by_login(login)?;
    let ok = match &account {
        Some(a) => a.password_hash.as_deref().is_some_and(|h| verify_password(password, h)),
        // Spend the same time on unknown logins, so that timing does not reveal which exist.
        None => {
            let _ = verify_password(password, &state.dummy_hash);
            false
        }
    };
    match account {
        Some(a) if ok => register_device(storage, &a.user, device_name),
        _ => {
            storage.record_failed_sign_in(login, now)?;
            state.metrics.sign_ins_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", "wrong login or password", "账号或密码错误"))
        }
    }
}

/// Activates an enterprise contact's device with a one-time code, refusing after too many recent
/// failures from the same client address (`client`).
pub fn activate(state: &AppState, code: &str, device_name: &str, client: &str) -> Result<SignInResponse, ApiError> {
    let storage = state.storage.as_ref();
    let now = now_ms();
    let key = format!("activate:{client}");
    check_throttle(storage, &key, now)?;
    let Some(user_id) = storage.consume_activation_code(&code_hash(code), now)? else {
        storage.record_failed_sign_in(&key, now)?;
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
    if contact.is_none() {
        return Err(ApiError::not_found("no such contact of this enterprise"));
    }
    let keys = storage.user_keys(&issuer.user)?;
    let allowed = match issuer.user.role {
        Role::Cadre => keys.contains(&format!("ent:{enterprise_id}")),
        Role::Manager => storage.doc_in_scope(enterprise_id, &keys)?,
        _ => false,
    };
    if !allowed {
        return Err(ApiError::forbidden("only the enterprise's cadres and managers issue its codes"));
    }
    let code = random_code();
    let expires = now_ms() + ACTIVATION_TTL_MS;
    storage.create_activation_code(&code_hash(&code), contact_id, &issuer.user.id, expires)?;
    Ok((code, expires))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A request's authenticated device.
pub struct Authed(pub Session);

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() < 200)
            .ok_or_else(ApiError::unauthorized)?
            .to_owned();
        let state = state.clone();
        let session = tokio::task::spawn_blocking(move || state.storage.session(&token_hash(&token)))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
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
