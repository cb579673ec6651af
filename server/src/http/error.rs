//! Errors of the relay's HTTP API: a status, a stable code, and messages in English and Chinese.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use zhuqi_core::sync::protocol::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub message_zh: &'static str,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>, message_zh: &'static str) -> Self {
        ApiError { status, code, message: message.into(), message_zh, retry_after: None }
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing, unknown or expired token",
            "登录已失效，请重新登录",
        )
    }
    pub fn revoked() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "device_revoked",
            "this device was revoked; wipe its data",
            "本设备已被停用，请清除本机数据",
        )
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message, "请求格式错误")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message, "您无权进行此操作")
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message, "找不到请求的内容")
    }
    /// A body, or what it holds, over a limit (413).
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message, "数据量过大")
    }
    /// A request past its deadline, or whose body stopped arriving (408).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "timeout", message, "请求超时，请重试")
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message, "服务器出错，请稍后重试")
    }
    /// A document changed under the request (by another relay, or a commit still on its way):
    /// the relay retries a few times, then the device does, after `Retry-After`.
    pub fn stale(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, STALE, message, "数据正在更新，请稍后重试");
        e.retry_after = Some(1);
        e
    }
}

/// The most characters of a user's text that go into a log line (see [`log_text`]).
pub const LOG_TEXT_CHARS: usize = 80;

/// A user-controlled string as it may go into a log line: control characters (newlines among them)
/// escaped the way `escape_debug` does, so one value cannot forge another log line, and cut to
/// [`LOG_TEXT_CHARS`] characters with an ellipsis, so a long value cannot flood the log.
pub fn log_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(LOG_TEXT_CHARS * 4) + 3);
    for (i, c) in s.chars().enumerate() {
        if i == LOG_TEXT_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else if matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            // Line separators and bidirectional controls: not control characters, but they move text.
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// The code of [`ApiError::stale`].
pub const STALE: &str = "stale";

impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        if let crate::storage::StorageError::Stale(_) = e {
            return ApiError::stale(format!("storage: {e}"));
        }
        tracing::error!("storage: {e}");
        ApiError::internal("storage error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { code: self.code.into(), message: self.message, message_zh: self.message_zh.into() };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert("retry-after", v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_text_escapes_control_characters() {
        assert_eq!(log_text("ent-a"), "ent-a");
        assert_eq!(log_text("企业刘总"), "企业刘总");
        let forged = "x\n2024-01-01T00:00:00Z ERROR zhuqi_server: password reset for admin";
        let logged = log_text(forged);
        assert!(!logged.contains('\n'), "{logged}");
        assert!(logged.starts_with("x\\n2024-01-01"), "{logged}");
        assert_eq!(log_text("a\rb\tc\u{1b}[31m\u{0}"), "a\\rb\\tc\\u{1b}[31m\\0");
        // Line and paragraph separators and bidirectional overrides are escaped too.
        assert_eq!(log_text("a\u{2028}b\u{202e}c"), "a\\u{2028}b\\u{202e}c");
        assert!(log_text("\\ and \"quotes\"") == "\\ and \"quotes\"");
    }

    #[test]
    fn log_text_truncates_long_values() {
        let long = "a".repeat(15 << 20);
        let logged = log_text(&long);
        assert_eq!(logged, format!("{}…", "a".repeat(LOG_TEXT_CHARS)));
        // Characters, not bytes: a Chinese text is cut on a character boundary.
        let chinese = "企".repeat(LOG_TEXT_CHARS + 1);
        assert_eq!(log_text(&chinese).chars().count(), LOG_TEXT_CHARS + 1);
        assert_eq!(log_text(&"b".repeat(LOG_TEXT_CHARS)), "b".repeat(LOG_TEXT_CHARS));
        // Escapes count once per character of the input.
        assert_eq!(log_text(&"\n".repeat(LOG_TEXT_CHARS + 5)), format!("{}…", "\\n".repeat(LOG_TEXT_CHARS)));
    }
}
