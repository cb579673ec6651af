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
