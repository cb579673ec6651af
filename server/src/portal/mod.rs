//! Enterprises on any phone: the relay's web pages under `/e/`, for an enterprise contact who never
//! installs the app — its enterprise's problems with each one's timeline, confirming a resolution
//! with a rating or rejecting it, reporting a problem, the policies the enterprise matches — and
//! the one-time links that sign a contact in.
//!
//! - `links`: issuing a link (a cadre assigned to the enterprise through `POST /v1/web-links`, the
//!   campaign office from the dashboard), creating the contact when the enterprise has none.
//! - `session`: the link's landing page (a GET never uses the link up: messaging apps fetch links
//!   to preview them), sign-in by a form with a CSRF token of a pre-session cookie, the contact's
//!   web session (its own cookie, scoped to `/e/`, 20 idle minutes, 8 hours at most), sign-out.
//! - `problems`, `policies`: the pages and the contact's actions. Every write is an event of the
//!   contact, written through `sync::author` on the session's `web:` device and pushed through the
//!   same validation, scope and audit path as a phone's change.
//! - `reach`: which enterprises were never reached (no app, no web sign-in), for the cadre's app
//!   (`GET /v1/reach`) and the dashboard.
//! - `pages` writes the HTML (maud; small screens first, no script), `assets` its stylesheet,
//!   `forms` reads forms within their limits and checks what was typed.
//!
//! The pages never name another enterprise: a problem of another enterprise is answered exactly as
//! a problem that does not exist.

pub mod api;
pub mod assets;
pub mod forms;
pub mod links;
pub mod pages;
pub mod policies;
pub mod problems;
pub mod reach;
pub mod session;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// The enterprise pages' routes and the device API's link and reach routes. Body limits and
/// deadlines are the router's (`app::router`); every form body is read within
/// `http::body::FORM_BODY_BYTES` before anything else is looked at (`forms::read`).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/e", get(|| async { axum::response::Redirect::to("/e/") }))
        .route("/e/", get(problems::home))
        .route("/e/e.css", get(assets::stylesheet))
        .route("/e/l/{code}", get(session::link_page))
        .route("/e/sign-in", post(session::sign_in))
        .route("/e/sign-out", post(session::sign_out))
        .route("/e/problems/{id}", get(problems::problem_page))
        .route("/e/problems/{id}/{action}", post(problems::answer))
        .route("/e/report", get(problems::report_page).post(problems::report))
        .route("/e/policies", get(policies::policies_page))
        .route("/v1/web-links", post(api::web_link))
        .route("/v1/reach", get(api::reach))
}
