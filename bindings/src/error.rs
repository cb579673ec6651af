//! `ZhuqiError`, the one error type apps see: a variant for each thing an app does differently,
//! each with the Chinese message to show. Mapped from the core's rich internal error.

use zhuqi_core::Error;
use zhuqi_core::error::DomainError;

/// What went wrong. `message_zh` is for the user; `detail` (English) for logs.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ZhuqiError {
    /// A value the user entered is invalid; `field` names it, e.g. `visit.notes`, `rating`,
    /// `location.lat`.
    #[error("invalid {field}: {detail}")]
    Validation { field: String, detail: String, message_zh: String },
    /// The user's role may not do this here, or not in the item's current state.
    #[error("not allowed: {detail}")]
    NotAllowed { detail: String, message_zh: String },
    /// The relay cannot be reached. Everything was saved on the phone; sync later.
    #[error("offline: {detail}")]
    Offline { detail: String, message_zh: String },
    /// No session, or it expired: sign in again.
    #[error("signed out: {detail}")]
    SignedOut { detail: String, message_zh: String },
    /// This phone was revoked: its data has been wiped; sign in again.
    #[error("device revoked")]
    Revoked { message_zh: String },
    /// The app cancelled the sync (`cancel_sync`); everything stays saved on the phone.
    #[error("cancelled")]
    Cancelled { message_zh: String },
    /// An id names nothing this phone holds (an enterprise, a problem, a region…): gone from the
    /// user's scope since the screen was shown, or never synced here. Refresh the list.
    #[error("{entity:?} not found: {detail}")]
    NotFound { entity: crate::kinds::EntityKind, id: String, detail: String, message_zh: String },
    /// Too many attempts (failed sign-ins or activation codes): try again after `retry_after_s`
    /// seconds, which the relay gave.
    #[error("throttled for {retry_after_s} s")]
    Throttled { retry_after_s: u64, detail: String, message_zh: String },
    /// The relay refused the request (`code` from the protocol, e.g. `bad_credentials`,
    /// `upgrade_required`).
    #[error("relay refused ({code}): {detail}")]
    Rejected { code: String, detail: String, message_zh: String },
    /// The phone's store is encrypted and the key given does not open it (no key, another key, a
    /// damaged key file), or the key is not 32 bytes. The data cannot be read: sign out with wipe and
    /// sign in again.
    #[error("store key rejected: {detail}")]
    KeyRejected { detail: String, message_zh: String },
    /// The relay's certificate could not be verified (unknown CA, wrong name, expired) or TLS
    /// failed, or the relay address is plain `http://` without `allow_insecure_http`. Not a network
    /// outage: retrying does not help; tell the user to contact the administrator.
    #[error("TLS: {detail}")]
    Tls { detail: String, message_zh: String },
    /// The phone's storage failed.
    #[error("storage: {detail}")]
    Storage { detail: String, message_zh: String },
    /// A bug or an unexpected state.
    #[error("internal: {detail}")]
    Internal { detail: String, message_zh: String },
}

impl From<Error> for ZhuqiError {
    fn from(e: Error) -> Self {
        let detail = e.to_string();
        let message_zh = e.user_message();
        match e {
            Error::Domain(DomainError::Validation { field, .. }) => {
                ZhuqiError::Validation { field: field.into(), detail, message_zh }
            }
            Error::Domain(DomainError::NotFound { what, id }) => {
                ZhuqiError::NotFound { entity: what.into(), id, detail, message_zh }
            }
            Error::Domain(DomainError::NotAllowed { .. }) | Error::Domain(DomainError::InvalidTransition { .. }) => {
                ZhuqiError::NotAllowed { detail, message_zh }
            }
            Error::Network(_) => ZhuqiError::Offline { detail, message_zh },
            Error::SignedOut | Error::NoIdentity => ZhuqiError::SignedOut { detail, message_zh },
            Error::DeviceRevoked => ZhuqiError::Revoked { message_zh },
            Error::UpgradeRequired => ZhuqiError::Rejected { code: "upgrade_required".into(), detail, message_zh },
            Error::Throttled { retry_after_s } => ZhuqiError::Throttled { retry_after_s, detail, message_zh },
            Error::Relay { code, .. } => ZhuqiError::Rejected { code, detail, message_zh },
            Error::Storage(_) | Error::SchemaTooNew { .. } | Error::StoreOfAnotherUser | Error::File(_) => {
                ZhuqiError::Storage { detail, message_zh }
            }
            Error::Document(_) | Error::Corrupt(_) => ZhuqiError::Internal { detail, message_zh },
            Error::Cancelled => ZhuqiError::Cancelled { message_zh },
            Error::KeyRejected(_) => ZhuqiError::KeyRejected { detail, message_zh },
            Error::Tls(_) => ZhuqiError::Tls { detail, message_zh },
        }
    }
}

impl ZhuqiError {
    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        ZhuqiError::Internal {
            detail: detail.into(), message_zh: "应用内部错误，请重试或联系管理员".into()
        }
    }
}

pub type Result<T, E = ZhuqiError> = std::result::Result<T, E>;
