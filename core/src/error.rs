//! Errors of the core: the domain's own ([`DomainError`]: broken rules, refused actions, unknown
//! records) and those of the device around it — storage, documents, the network, the relay. Each can
//! say what went wrong in English (for logs, via `Display`) and in Chinese (for the cadre, via
//! [`Error::user_message`]).
//!
//! Messages never carry personal data (names, phone numbers, note text): only field names, ids and limits.

pub use crate::domain::error::{Denied, DomainError, Entity, Invalid, field_label};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule of the domain was broken (see [`DomainError`]).
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("the store holds no signed-in user")]
    NoIdentity,
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("document error: {0}")]
    Document(#[from] automerge::AutomergeError),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("relay unreachable: {0}")]
    Network(String),
    #[error("not signed in, or the session expired")]
    SignedOut,
    #[error("this device was revoked; its data must be wiped")]
    DeviceRevoked,
    #[error("the relay requires a newer app")]
    UpgradeRequired,
    #[error("too many attempts; retry in {retry_after_s} s")]
    Throttled { retry_after_s: u64 },
    #[error("relay refused the request ({status} {code}): {message}")]
    Relay { status: u16, code: String, message: String, message_zh: String },
    #[error("this store belongs to another user")]
    StoreOfAnotherUser,
    #[error("store schema version {found} is newer than this app supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A photo file could not be read, copied or removed.
    #[error("file error: {0}")]
    File(String),
    /// The store is encrypted and the app key given does not open it (none given, another one, or
    /// a key file damaged or lost), or the key given is not 32 bytes.
    #[error("store key rejected: {0}")]
    KeyRejected(String),
    /// The relay's TLS certificate could not be verified (an unknown CA, a wrong name, expired) or
    /// the TLS handshake failed: not a network outage, and retrying will not help.
    #[error("TLS failure: {0}")]
    Tls(String),
    /// The app cancelled the sync (`SyncClient::cancel_handle`); what it stored so far stays.
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The message to show a user, in Chinese. It names the field but never echoes the value.
    pub fn user_message(&self) -> String {
        match self {
            Error::Domain(e) => e.user_message(),
            Error::NoIdentity => "请先登录".into(),
            Error::Storage(_) | Error::Corrupt(_) => "本机数据存储出错，请稍后重试".into(),
            Error::Document(_) => "数据文档出错，请稍后重试".into(),
            Error::SchemaTooNew { .. } => "本机数据来自更新版本的应用，请升级应用".into(),
            Error::Network(_) => "无法连接服务器，数据已保存在本机，恢复网络后会自动同步".into(),
            Error::SignedOut => "登录已失效，请重新登录".into(),
            Error::DeviceRevoked => "本设备已被停用，本机数据将被清除".into(),
            Error::UpgradeRequired => "请升级应用后再同步".into(),
            Error::Throttled { retry_after_s } => format!("尝试次数过多，请{retry_after_s}秒后再试"),
            Error::Relay { message_zh, .. } => message_zh.clone(),
            Error::StoreOfAnotherUser => "本机数据属于其他用户，请先退出并清除数据".into(),
            Error::File(_) => "无法读取或保存照片文件，请重试".into(),
            Error::Cancelled => "同步已取消，数据已保存在本机".into(),
            Error::KeyRejected(_) => "无法打开本机加密数据（密钥不符），请退出后重新登录".into(),
            Error::Tls(_) => "无法验证服务器的安全证书，请联系管理员（不是网络问题）".into(),
        }
    }

    /// The field a validation error is about, if it is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::Domain(e) => e.field(),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: &'static str, kind: Invalid) -> Self {
        DomainError::invalid(field, kind).into()
    }

    pub(crate) fn not_found(what: Entity, id: impl Into<String>) -> Self {
        DomainError::not_found(what, id).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_error_keeps_its_messages_when_wrapped() {
        let e = Error::from(DomainError::Validation { field: "rating", kind: Invalid::OutOfRange { min: 1, max: 5 } });
        assert_eq!(e.user_message(), "满意度评分应在1到5之间");
        assert!(e.to_string().contains("rating"));
        assert_eq!(e.field(), Some("rating"));
        assert_eq!(Error::Network("x".into()).field(), None);
    }
}
