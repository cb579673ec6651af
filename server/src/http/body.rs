//! Reading and answering HTTP bodies: per-route size limits enforced while reading, JSON in and out,
//! and the error count of answered requests.

use super::error::ApiError;
use crate::app::AppState;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

/// Largest body of the JSON sign-in, activation and code requests.
pub const AUTH_BODY_BYTES: usize = 4 << 10;
/// Largest body of a dashboard form (sign-in, actions, sign-out).
pub const FORM_BODY_BYTES: usize = 16 << 10;
/// Largest body of a task notice form (its text runs to a few pages).
pub const NOTICE_BODY_BYTES: usize = 64 << 10;

pub fn json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

pub fn json_response<T: serde::Serialize>(v: &T) -> Response {
    axum::Json(v).into_response()
}

fn too_large(limit: usize) -> ApiError {
    ApiError::too_large(format!("body larger than {limit} bytes"))
}

/// Reads a body of at most `limit` bytes, answering 413 (as JSON) beyond: at once when the declared
/// length is larger, else as soon as more has arrived.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if c.is::<http_body_util::LengthLimitError>() {
                return too_large(limit);
            }
            if c.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::timeout("request body stalled");
            }
            cause = c.source();
        }
        ApiError::bad_request(format!("request body could not be read: {e}"))
    })
}

pub fn counted(state: &AppState, r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(|e| {
        state.metrics.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        e.into_response()
    })
}
