//! The task notices' handlers: the list with the form to issue one, issuing (a new document by the
//! manager's relay-side actor), and one notice's recipients.

use super::pages::Choice;
use super::pages::records::{ListedNotice, NoticePage, NoticeProgress, NoticeRecipient, NoticesPage};
use super::session::{csrf_ok, managed, manager};
use super::{after_action, clock::day_start, in_subtree, show};
use crate::http::error::ApiError;
use crate::{AppState, now_ms};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use zhuqi_core::domain::Role;
use zhuqi_core::domain::text::parse_date;

pub async fn notices_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let storage = st.storage.as_ref();
        let dir = st.directory.get(storage)?;
        let now = now_ms();
        let mut notices = Vec::new();
        for (id, region, title, _, issued_at, deadline, status) in storage.task_notice_rows()? {
            if !in_subtree(&dir, session, &region) {
                continue;
            }
            let rs = storage.task_recipient_rows(&id)?;
            let progress = if status == "completed" {
                NoticeProgress::Completed
            } else if deadline < now {
                NoticeProgress::Late
            } else {
                NoticeProgress::Open
            };
            let done = rs.iter().filter(|r| r.2.is_some()).count();
            notices.push(ListedNotice { id, title, issued_at, deadline, done, recipients: rs.len(), progress });
        }
        // The form to issue a new notice, to departments and cadres of the manager's region.
        let mut departments: Vec<_> =
            dir.departments.values().filter(|d| in_subtree(&dir, session, &d.region_id)).collect();
        departments.sort_by(|a, b| a.id.cmp(&b.id));
        let mut cadres: Vec<_> = dir
            .users
            .values()
            .filter(|u| u.role == Role::Cadre && u.region_id.as_deref().is_some_and(|r| in_subtree(&dir, session, r)))
            .collect();
        cadres.sort_by(|a, b| a.id.cmp(&b.id));
        let page = NoticesPage {
            notices,
            region: session.user.region_id.as_deref().unwrap_or_default(),
            departments: departments.into_iter().map(|d| Choice { id: &d.id, name: &d.name }).collect(),
            cadres: cadres.into_iter().map(|c| Choice { id: &c.id, name: &c.name }).collect(),
            csrf: viewer.csrf,
        };
        Ok(show(&page, viewer))
    })
    .await
}

/// Issues a task notice from the desk (a new document by the manager's relay-side actor).
pub async fn issue_notice(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    // Repeated `to` fields: parsed by hand (a form may list many recipients).
    let pairs: Vec<(String, String)> = url_pairs(&body);
    let get = |k: &str| pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (session, token) = match manager(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&get("csrf"), &token) {
        return ApiError::forbidden("bad CSRF token").into_response();
    }
    let recipients: Vec<zhuqi_core::domain::Recipient> = pairs
        .iter()
        .filter(|(k, _)| k == "to")
        .filter_map(|(_, v)| zhuqi_core::domain::Recipient::from_key(v))
        .collect();
    let Ok(day) = parse_date("deadline", &get("deadline")) else {
        return ApiError::bad_request("deadline").into_response();
    };
    let action = zhuqi_core::domain::TaskNoticeAction::Issued {
        region_id: get("region"),
        title: get("title"),
        body: get("body"),
        deadline: day_start(day + 1) - 1,
        recipients,
    };
    let st = state.clone();
    let id = uuid::Uuid::now_v7().to_string();
    let nid = id.clone();
    let result = tokio::task::spawn_blocking(move || {
        let now = now_ms();
        let action = action
            .validate(now)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string(), "输入内容有误"))?;
        let region = match &action {
            zhuqi_core::domain::TaskNoticeAction::Issued { region_id, .. } => region_id.clone(),
            _ => String::new(),
        };
        let mut author = crate::sync::author::Author::new(&st, &session.user.id)?;
        author.create(zhuqi_core::domain::DocKind::TaskNotice, &nid, &[("region_id", &region)], action, now)?;
        author.submit_all()
    })
    .await;
    after_action(result, &format!("/notices/{id}"))
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn url_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub async fn notice_page(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let storage = st.storage.as_ref();
        let dir = st.directory.get(storage)?;
        let Some((_, region, title, issued_by, issued_at, deadline, status)) =
            storage.task_notice_rows()?.into_iter().find(|n| n.0 == id)
        else {
            return Err(ApiError::not_found("no such notice in your region"));
        };
        if !in_subtree(&dir, session, &region) {
            return Err(ApiError::not_found("no such notice in your region"));
        }
        let name = |key: &str| match zhuqi_core::domain::Recipient::from_key(key) {
            Some(zhuqi_core::domain::Recipient::Department(d)) => dir.departments.get(&d).map_or(d, |x| x.name.clone()),
            Some(zhuqi_core::domain::Recipient::Cadre(c)) => dir.users.get(&c).map_or(c, |x| x.name.clone()),
            Some(zhuqi_core::domain::Recipient::Unknown { .. }) | None => key.to_owned(),
        };
        let recipients = storage
            .task_recipient_rows(&id)?
            .into_iter()
            .map(|(key, ack, done)| NoticeRecipient { name: name(&key), acknowledged_at: ack, completed_at: done })
            .collect();
        let page = NoticePage {
            title: &title,
            issued_by: dir.users.get(&issued_by).map_or(issued_by.as_str(), |u| u.name.as_str()),
            issued_at,
            deadline,
            completed: status == "completed",
            recipients,
            now: now_ms(),
        };
        Ok(show(&page, viewer))
    })
    .await
}
