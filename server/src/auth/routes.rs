//! The device API's sign-in routes: password sign-in, activation with a one-time code, sign-out and
//! the issue of activation codes.

use crate::app::{AppState, blocking};
use crate::http::body::{AUTH_BODY_BYTES, counted, json, json_response, read_body};
use crate::http::metrics::Route;
use crate::http::net::ClientAddr;
use axum::extract::{Request, State};
use axum::response::Response;
use std::sync::Arc;
use zhuqi_core::sync::protocol::*;

pub async fn sign_in(State(state): State<Arc<AppState>>, ClientAddr(client): ClientAddr, request: Request) -> Response {
    state.metrics.request(Route::SignIn);
    let r = async {
        let (parts, body) = request.into_parts();
        let req: SignInRequest = json(&read_body(&parts.headers, body, AUTH_BODY_BYTES).await?)?;
        let user = super::sign_in(&state, req.login.trim().to_owned(), req.password, client).await?;
        let st = state.clone();
        blocking(move || super::register_device(st.storage.as_ref(), &user, &req.device_name))
            .await
            .map(|r| json_response(&r))
    }
    .await;
    counted(&state, r)
}

pub async fn activate(
    State(state): State<Arc<AppState>>,
    ClientAddr(client): ClientAddr,
    request: Request,
) -> Response {
    state.metrics.request(Route::Activate);
    let r = async {
        let (parts, body) = request.into_parts();
        let req: ActivateRequest = json(&read_body(&parts.headers, body, AUTH_BODY_BYTES).await?)?;
        let st = state.clone();
        blocking(move || super::activate(&st, &req.code, &req.device_name, client)).await.map(|r| json_response(&r))
    }
    .await;
    counted(&state, r)
}

pub async fn sign_out(State(state): State<Arc<AppState>>, super::Authed(session): super::Authed) -> Response {
    state.metrics.request(Route::SignOut);
    let st = state.clone();
    let r = blocking(move || Ok(st.storage.revoke_device(&session.device_id)?))
        .await
        .map(|_| json_response(&serde_json::json!({})));
    counted(&state, r)
}

pub async fn activation_code(
    State(state): State<Arc<AppState>>,
    super::Authed(session): super::Authed,
    request: Request,
) -> Response {
    state.metrics.request(Route::ActivationCode);
    let r = async {
        let (parts, body) = request.into_parts();
        let req: ActivationCodeRequest = json(&read_body(&parts.headers, body, AUTH_BODY_BYTES).await?)?;
        let st = state.clone();
        let (code, expires_at) =
            blocking(move || super::issue_code(&st, &session, &req.enterprise_id, &req.contact_user_id)).await?;
        Ok(json_response(&ActivationCodeResponse { code, expires_at }))
    }
    .await;
    counted(&state, r)
}
