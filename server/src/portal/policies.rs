//! The policies (惠企政策) the contact's enterprise matches: those in force issued over its region,
//! judged against its profile with the core's own matching (`zhuqi_core::domain::policy`), each
//! with why it matches — what its cadre's phone shows for it.

use super::pages::{self, Frame, MatchedPolicy, PoliciesPage};
use super::session;
use crate::http::error::ApiError;
use crate::storage::PolicyRow;
use crate::sync::directory::Snapshot;
use crate::{AppState, now_ms};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use zhuqi_core::domain::EnterpriseState;
use zhuqi_core::domain::policy::{Applicant, PolicyState, PolicyText, explain};

/// The day (China time, days since 1970) of an instant.
fn day_of(ms: i64) -> i64 {
    (ms + 8 * 3_600_000).div_euclid(86_400_000)
}

fn state_of(p: PolicyRow) -> PolicyState {
    PolicyState {
        issued: true,
        region_id: p.region_id,
        policy: PolicyText {
            title: p.title,
            issuer: p.issuer,
            doc_number: p.doc_number,
            valid_from: p.valid_from,
            valid_until: p.valid_until,
            criteria: p.criteria,
            ..Default::default()
        },
        withdrawn_at: p.withdrawn_at,
        ..Default::default()
    }
}

/// The policies in force at `now` that the enterprise qualifies for, with why, in issue order.
pub fn matched(st: &AppState, dir: &Snapshot, e: &EnterpriseState, now: i64) -> Result<Vec<MatchedPolicy>, ApiError> {
    let Some(path) = dir.paths.get(&e.profile.region_id) else { return Ok(Vec::new()) };
    let regions: Vec<String> = path.split('/').map(str::to_owned).collect();
    let applicant = Applicant::new(&e.profile, path, day_of(now));
    let mut out = Vec::new();
    for row in st.storage.policies_of_regions(&regions)? {
        let p = state_of(row);
        if !applicant.qualifies(&p) {
            continue;
        }
        let why = explain(&p, &applicant, dir);
        out.push(MatchedPolicy {
            reasons: why.reasons,
            title: p.policy.title,
            issuer: p.policy.issuer,
            doc_number: p.policy.doc_number,
            valid_until: p.policy.valid_until,
        });
    }
    Ok(out)
}

/// `GET /e/policies`.
pub async fn policies_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    session::signed_in(state, &headers, "/e/".into(), |st, c| {
        let dir = st.directory.get(st.storage.as_ref())?;
        let enterprise = super::problems::enterprise_of(st, &c.session.enterprise_id)?;
        let policies = match &enterprise {
            Some(e) => matched(st, &dir, e, now_ms())?,
            None => Vec::new(),
        };
        let name = enterprise.as_ref().map_or(c.session.enterprise_id.as_str(), |e| e.profile.name.as_str());
        let page = PoliciesPage { policies };
        Ok(pages::render(&page, Some(Frame { enterprise: name, contact: &c.user.name, csrf: &c.csrf })).into_response())
    })
    .await
}
