//! `ZhuqiError`, the one error type apps see: a variant for each thing an app does differently,
//! each with the Chinese message to show. Mapped from the core's rich internal error.

use zhuqi_core::Error;
use zhuqi_core::error::DomainError;

/// What went wrong. `message_zh` is for the user; `detail` (English) for logs.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ZhuqiError {
    /// A value the user entered is invalid (or names something that does not exist); `field`
    /// names it, e.g. `visit.notes`, `rating`, `location.lat`.
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
    /// The relay refused the request (`code` from the protocol, e.g. `throttled`, `upgrade_required`).
    #[error("relay refused ({code}): {detail}")]
    Rejected { code: String, detail: String, message_zh: String },
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
            Error::Domain(DomainError::NotFound { .. }) => {
                ZhuqiError::Validation { field: "id".into(), detail, message_zh }
            }
            Error::Domain(DomainError::NotAllowed { .. }) | Error::Domain(DomainError::InvalidTransition { .. }) => {
                ZhuqiError::NotAllowed { detail, message_zh }
            }
            Error::Network(_) => ZhuqiError::Offline { detail, message_zh },
            Error::SignedOut | Error::NoIdentity => ZhuqiError::SignedOut { detail, message_zh },
            Error::DeviceRevoked => ZhuqiError::Revoked { message_zh },
            Error::UpgradeRequired => ZhuqiError::Rejected { code: "upgrade_required".into(), detail, message_zh },
            Error::Throttled { .. } => ZhuqiError::Rejected { code: "throttled".into(), detail, message_zh },
            Error::Relay { code, .. } => ZhuqiError::Rejected { code, detail, message_zh },
            Error::Storage(_) | Error::SchemaTooNew { .. } | Error::StoreOfAnotherUser | Error::File(_) => {
                ZhuqiError::Storage { detail, message_zh }
            }
            Error::Document(_) | Error::Corrupt(_) => ZhuqiError::Internal { detail, message_zh },
            Error::Cancelled => ZhuqiError::Cancelled { message_zh },
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
