//! Read scope. Every document carries a set of scope keys and every user reads with a set of keys;
//! a user may read a document when the two sets meet.
//!
//! | document | keys |
//! | --- | --- |
//! | enterprise | `ent:<id>`, `region:<r>` for each region from the province down to the enterprise's |
//! | problem | the enterprise's keys, plus `dept:<d>` while routed to department `d` |
//! | task notice | `region:<r>` for each region down to the issuing office's, `dept:<d>` and `user:<c>` per recipient |
//! | policy | `region:<r>` for each region down to the issuing office's, and `policy:<the issuing office's region>` |
//!
//! | user | keys |
//! | --- | --- |
//! | manager | `region:<their region>` |
//! | cadre | `user:<id>`, and `ent:<e>` for each enterprise currently assigned to them |
//! | department handler | `dept:<their department>` |
//! | enterprise contact | `ent:<their enterprise>` |
//! | everyone | `policy:<r>` for their region (a handler's department's, a contact's enterprise's) and each region above it: the policies issued over them |
//!
//! A device's cursor is a position in the relay's global sequence of writes; keys are stored with
//! the sequence number at which they were added to a document, and removals are recorded, so that a
//! pull can tell which documents became visible (sent whole) or invisible (purged) since the cursor.

use crate::storage::projection::Projection;
use zhuqi_core::domain::{DirectoryLookup, Recipient, Role, User};

fn region_keys(dir: &dyn DirectoryLookup, region_id: &str, keys: &mut Vec<String>) {
    match dir.region_path(region_id) {
        Some(path) => keys.extend(path.split('/').map(|r| format!("region:{r}"))),
        None => keys.push(format!("region:{region_id}")),
    }
}

/// The scope keys of a document, from its projection.
pub fn doc_keys(doc_id: &str, projection: &Projection, dir: &dyn DirectoryLookup) -> Vec<String> {
    let mut keys = Vec::new();
    match projection {
        Projection::Enterprise(s) => {
            keys.push(format!("ent:{doc_id}"));
            region_keys(dir, &s.profile.region_id, &mut keys);
        }
        Projection::Problem { region_id, state, .. } => {
            keys.push(format!("ent:{}", state.enterprise_id));
            region_keys(dir, region_id, &mut keys);
            if let Some(d) = &state.department_id {
                keys.push(format!("dept:{d}"));
            }
        }
        Projection::Policy(s) => {
            region_keys(dir, &s.region_id, &mut keys);
            keys.push(format!("policy:{}", s.region_id));
        }
        Projection::TaskNotice(s) => {
            region_keys(dir, &s.region_id, &mut keys);
            for r in &s.recipients {
                match &r.recipient {
                    Recipient::Department(d) => keys.push(format!("dept:{d}")),
                    Recipient::Cadre(c) => keys.push(format!("user:{c}")),
                    // Whom a kind of a newer version names, this version cannot tell: no one.
                    Recipient::Unknown { .. } => {}
                }
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The keys a user reads with that follow from their own record (a cadre's assignments come from the
/// storage's assignment projection on top of these).
pub fn static_user_keys(user: &User) -> Vec<String> {
    let mut keys = Vec::new();
    match user.role {
        Role::Manager => keys.extend(user.region_id.iter().map(|r| format!("region:{r}"))),
        Role::Cadre => keys.push(format!("user:{}", user.id)),
        Role::DepartmentHandler => keys.extend(user.department_id.iter().map(|d| format!("dept:{d}"))),
        Role::EnterpriseContact => keys.extend(user.enterprise_id.iter().map(|e| format!("ent:{e}"))),
        // A role this relay does not know reads nothing.
        Role::Unknown(_) => {}
    }
    keys
}
