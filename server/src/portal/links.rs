//! One-time web sign-in links for enterprise contacts: who may issue one, for whom, the code and
//! the address to open.
//!
//! A link is issued by a cadre assigned to the enterprise (from the app, `POST /v1/web-links`) or a
//! campaign office over it (from the dashboard's enterprise page). Its code is 16 characters of an
//! alphabet of 31 (about 79 bits: not to be guessed, and failed tries are throttled per client
//! address with the activation codes); the relay keeps only its SHA-256. It signs in once, within
//! [`LINK_TTL_MS`]; issuing another for the same contact voids the unused one.
//!
//! An enterprise with no contact account gets one when the first link is issued: the issuer names
//! the person (and may give a mobile number), and the relay adds the user `contact:<enterprise id>`
//! (role enterprise contact, no password: it signs in by links and activation codes only) to the
//! directory — a directory change, so every device receives its directory again at its next sync,
//! as after any import; offices with many such enterprises import their contacts instead. Only for
//! an enterprise that has no contact at all: otherwise the issuer picks one of its contacts.

use super::forms::{self, CONTACT_NAME};
use crate::http::error::{ApiError, log_text};
use crate::storage::{Account, WebLink};
use crate::{AppState, now_ms};
use axum::http::{HeaderMap, StatusCode, header};
use rand::RngCore;
use zhuqi_core::domain::{Directory, Role, User};

/// How long a link may wait to be used.
pub const LINK_TTL_MS: i64 = 72 * 3_600_000;

/// Characters of a code, without look-alikes (no I, L, O, 0, 1).
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Characters of a code: 31^16 ≈ 2^79.
pub const CODE_CHARS: usize = 16;

/// A fresh code, grouped `XXXX-XXXX-XXXX-XXXX` for reading aloud and typing.
pub fn random_code() -> String {
    let mut rng = rand::thread_rng();
    // Rejection sampling: 256 is not a multiple of 31, and every character must be as likely.
    let mut chars = Vec::with_capacity(CODE_CHARS);
    while chars.len() < CODE_CHARS {
        let b = (rng.next_u32() & 0xff) as usize;
        if b < 248 {
            chars.push(ALPHABET[b % ALPHABET.len()] as char);
        }
    }
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// The code as a link carries it: its characters only.
pub fn compact(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect()
}

/// The path of a code's link.
pub fn path_of(code: &str) -> String {
    format!("/e/l/{}", compact(code))
}

/// Where the relay's pages are reached: `--public-url`, else the address the request came to
/// (`https://` and its `Host`, `http://` for a loopback address, as in tests and local trials).
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty() && h.len() < 256 && h.bytes().all(|b| b.is_ascii_graphic()) && !h.contains(['/', '@'])
        })
        .unwrap_or("localhost");
    let name = host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |h| h.0);
    let loopback = name == "localhost"
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    format!("{}://{host}", if loopback { "http" } else { "https" })
}

/// Whom a link signs in as: a contact of the enterprise, or a person to create the contact for.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub contact_user_id: Option<String>,
    pub contact_name: Option<String>,
    pub contact_mobile: Option<String>,
}

/// A link issued: its code, the whole address, when it expires, and the contact it signs in as.
#[derive(Debug, Clone)]
pub struct Issued {
    pub code: String,
    pub url: String,
    pub expires_at: i64,
    pub contact_user_id: String,
    pub contact_name: String,
}

fn not_served() -> ApiError {
    ApiError::not_found("no such contact of an enterprise you serve")
}

/// Whether `issuer` serves the enterprise: a cadre assigned to it, or a campaign office whose
/// region holds it (judged by the scope keys, as what they may read).
pub fn serves(state: &AppState, issuer: &User, enterprise_id: &str) -> Result<bool, ApiError> {
    let storage = state.storage.as_ref();
    let keys = storage.user_keys(issuer)?;
    Ok(match issuer.role {
        Role::Cadre => keys.contains(&format!("ent:{enterprise_id}")),
        Role::Manager => storage.doc_in_scope(enterprise_id, &keys)?,
        _ => false,
    })
}

/// Issues a link for a contact of `enterprise_id` as `issuer` (a cadre or a campaign office).
/// Refusals: 403 for roles that never issue links; 404, the same whether the enterprise or the
/// contact does not exist or the issuer does not serve it; 409 when asked to create a contact for
/// an enterprise that has one; 422 for a name or number that breaks its rules.
pub fn issue(
    state: &AppState,
    issuer: &User,
    enterprise_id: &str,
    wanted: &Wanted,
    base: &str,
) -> Result<Issued, ApiError> {
    if !matches!(issuer.role, Role::Cadre | Role::Manager) {
        return Err(ApiError::forbidden("only the enterprise's cadres and campaign offices issue its links"));
    }
    if enterprise_id.is_empty() || enterprise_id.len() > 64 || !serves(state, issuer, enterprise_id)? {
        return Err(not_served());
    }
    let storage = state.storage.as_ref();
    let dir = state.directory.get(storage)?;
    let mut contacts: Vec<&User> = dir
        .users
        .values()
        .filter(|u| u.role == Role::EnterpriseContact && u.enterprise_id.as_deref() == Some(enterprise_id))
        .collect();
    contacts.sort_by(|a, b| a.id.cmp(&b.id));
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let (contact_id, contact_name) = match (given(&wanted.contact_user_id), given(&wanted.contact_name)) {
        (Some(id), _) => {
            let c = contacts.iter().find(|u| u.id == id).ok_or_else(not_served)?;
            (c.id.clone(), c.name.clone())
        }
        (None, Some(name)) if contacts.is_empty() => {
            let name = forms::text(&name, &CONTACT_NAME)?;
            let mobile = forms::mobile(wanted.contact_mobile.as_deref().unwrap_or(""))?;
            (create_contact(state, issuer, enterprise_id, &name, mobile)?, name)
        }
        (None, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "contact_exists",
                "the enterprise has contact accounts: name one of them",
                "该企业已有联系人账号，请选择联系人",
            ));
        }
        (None, None) => match contacts.as_slice() {
            [only] => (only.id.clone(), only.name.clone()),
            [] => {
                return Err(forms::invalid(
                    "contact_required",
                    "the enterprise has no contact account: give the contact's name to create one",
                    "该企业尚无联系人账号，请填写企业联系人姓名",
                ));
            }
            _ => {
                return Err(forms::invalid(
                    "contact_required",
                    "the enterprise has several contacts: name one of them",
                    "请选择企业联系人",
                ));
            }
        },
    };
    let code = random_code();
    let now = now_ms();
    let link = WebLink {
        code_hash: crate::auth::code_hash(&code),
        user_id: contact_id.clone(),
        enterprise_id: enterprise_id.to_owned(),
        issued_by: issuer.id.clone(),
        issued_at: now,
        expires_at: now + LINK_TTL_MS,
    };
    storage.create_web_link(&link)?;
    tracing::info!(
        "web link for {} of {} issued by {}",
        log_text(&contact_id),
        log_text(enterprise_id),
        log_text(&issuer.id)
    );
    Ok(Issued {
        url: format!("{base}{}", path_of(&code)),
        code,
        expires_at: link.expires_at,
        contact_user_id: contact_id,
        contact_name,
    })
}

/// Adds the enterprise's first contact to the directory (see the module's comment); its id.
fn create_contact(
    state: &AppState,
    issuer: &User,
    enterprise_id: &str,
    name: &str,
    mobile: Option<String>,
) -> Result<String, ApiError> {
    let storage = state.storage.as_ref();
    let id = format!("contact:{enterprise_id}");
    let taken = || {
        ApiError::new(StatusCode::CONFLICT, "contact_exists", format!("user {id} exists"), "该企业的联系人账号已存在")
    };
    if state.directory.get(storage)?.users.contains_key(&id) {
        return Err(taken());
    }
    let user = User {
        id: id.clone(),
        name: name.to_owned(),
        role: Role::EnterpriseContact,
        region_id: None,
        department_id: None,
        enterprise_id: Some(enterprise_id.to_owned()),
        mobile,
        position: None,
        unit: None,
    };
    let account = Account { user, login: id.clone(), password_hash: None };
    match storage.upsert_directory(&Directory::default(), &[account]) {
        Ok(_) => {}
        Err(crate::storage::StorageError::Conflict(_)) => return Err(taken()),
        Err(e) => return Err(e.into()),
    }
    tracing::info!("contact {} of {} created by {}", log_text(&id), log_text(enterprise_id), log_text(&issuer.id));
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_long_grouped_and_read_back_however_typed() {
        let code = random_code();
        assert_eq!(code.len(), CODE_CHARS + 3);
        assert!(code.split('-').all(|g| g.len() == 4 && g.bytes().all(|b| ALPHABET.contains(&b))), "{code}");
        assert_ne!(code, random_code());
        let path = path_of(&code);
        assert_eq!(path.len(), "/e/l/".len() + CODE_CHARS);
        // Typed in lower case, with spaces, or taken from the link: the same code.
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(crate::auth::code_hash(&typed), crate::auth::code_hash(&code));
        assert_eq!(crate::auth::code_hash(&path["/e/l/".len()..]), crate::auth::code_hash(&code));
    }
}
