//! Which enterprises were never reached — none of their contacts activated the app or signed in
//! through a web link — so that their cadres and campaign offices invite them. Read from the
//! contacts' devices (`RelayStorage::enterprise_reach`): an app's device, or a browser's `web:`
//! device; the relay's own devices acting for a contact (desk actions, demo data, imports) do not
//! count.

use crate::http::error::ApiError;
use crate::storage::Reach;
use crate::{AppState, now_ms};
use zhuqi_core::domain::directory::path_covers;
use zhuqi_core::domain::{Role, User};
use zhuqi_core::sync::protocol::{EnterpriseReach, ReachResponse};

/// Never-reached enterprises a campaign office's answer lists at most.
pub const OFFICE_LISTED: u32 = 1_000;

fn wire(r: Reach) -> EnterpriseReach {
    EnterpriseReach {
        enterprise_id: r.enterprise_id,
        name: r.enterprise_name,
        app_devices: r.app_devices,
        web_sign_ins: r.web_sign_ins,
        last_sign_in_at: r.last_sign_in_at,
        link_expires_at: r.link_expires_at,
    }
}

/// `GET /v1/reach` for `user`: a cadre's assigned enterprises, each with its reach; a campaign
/// office's never-reached enterprises (at most [`OFFICE_LISTED`], by region), with how many there
/// are. Other roles: 403.
pub fn of_user(st: &AppState, user: &User) -> Result<ReachResponse, ApiError> {
    let storage = st.storage.as_ref();
    let now = now_ms();
    match user.role {
        Role::Cadre => {
            let ids: Vec<String> =
                storage.user_keys(user)?.iter().filter_map(|k| k.strip_prefix("ent:")).map(str::to_owned).collect();
            let enterprises: Vec<EnterpriseReach> =
                storage.enterprise_reach(&ids, now)?.into_iter().map(wire).collect();
            let never_reached = enterprises.iter().filter(|e| e.never_reached()).count() as u64;
            Ok(ReachResponse { enterprises, never_reached })
        }
        Role::Manager => {
            let dir = st.directory.get(storage)?;
            let root = user.region_id.as_deref().and_then(|r| dir.paths.get(r)).cloned().unwrap_or_default();
            let regions: Option<Vec<String>> = (!root.is_empty())
                .then(|| dir.paths.iter().filter(|(_, p)| path_covers(&root, p)).map(|(r, _)| r.clone()).collect());
            let (listed, never_reached) = storage.unreached_enterprises(regions.as_deref(), OFFICE_LISTED)?;
            let ids: Vec<String> = listed.iter().map(|(id, ..)| id.clone()).collect();
            let mut reach: std::collections::HashMap<String, Reach> =
                storage.enterprise_reach(&ids, now)?.into_iter().map(|r| (r.enterprise_id.clone(), r)).collect();
            let enterprises = ids.iter().filter_map(|id| reach.remove(id)).map(wire).collect();
            Ok(ReachResponse { enterprises, never_reached })
        }
        _ => Err(ApiError::forbidden("only cadres and campaign offices follow enterprises' reach")),
    }
}

/// Of these enterprises (id, name), those never reached, in the order given (for the dashboard's
/// cadre page).
pub fn never_reached(st: &AppState, enterprises: &[(String, String)]) -> Result<Vec<(String, String)>, ApiError> {
    let ids: Vec<String> = enterprises.iter().map(|(id, _)| id.clone()).collect();
    let reached: std::collections::HashSet<String> = st
        .storage
        .enterprise_reach(&ids, now_ms())?
        .into_iter()
        .filter(|r| !r.never_reached())
        .map(|r| r.enterprise_id)
        .collect();
    Ok(enterprises.iter().filter(|(id, _)| !reached.contains(id)).cloned().collect())
}
