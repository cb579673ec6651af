//! Policy reach (政策触达): for the policies that reach the manager's region, how many of its
//! enterprises qualify, were told of it on a visit, are interested and applied — per policy and per
//! region below the manager's — and the enterprises no policy in force matches yet. `/policies` and
//! the `policies.{csv,xlsx}` export.

use super::pages::figures::PolicyReachPage;
use super::reports::{Cell, Table};
use super::session::managed;
use super::{root_path, show};
use crate::http::error::ApiError;
use crate::storage::Session;
use crate::{AppState, now_ms};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::Arc;
use zhuqi_core::domain::directory::path_covers;
use zhuqi_core::domain::policy::{Applicant, PolicyState, PolicyText, meets_criteria};

/// How far something reached: enterprises that qualify, were told on a visit, marked interested,
/// marked applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub matched: u32,
    pub told: u32,
    pub interested: u32,
    pub applied: u32,
}

/// One policy's reach within the manager's region.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyReach {
    pub title: String,
    pub doc_number: String,
    pub issuer: String,
    /// 在效, 未生效, 已过期 or 已废止, on the day asked about.
    pub status: &'static str,
    pub counts: Counts,
}

/// One region's enterprises (a region right below the manager's, with its subtree).
#[derive(Debug, Clone, PartialEq)]
pub struct RegionReach {
    pub name: String,
    pub enterprises: u32,
    /// Enterprises that qualify for at least one policy in force, were told of one, …
    pub counts: Counts,
    /// Enterprises that qualify for no policy in force.
    pub unmatched: u32,
}

/// The reach of the policies within the manager's region.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reach {
    pub policies: Vec<PolicyReach>,
    pub regions: Vec<RegionReach>,
    /// Enterprises no policy in force matches: (name, region name), by region then name, as many
    /// as asked for.
    pub unmatched: Vec<(String, String)>,
    pub unmatched_total: u32,
}

/// How many unmatched enterprises the page lists by name (the export lists them all).
pub const UNMATCHED_SHOWN: usize = 2_000;

fn status(p: &PolicyState, today: i64) -> &'static str {
    let day = |d: &str| zhuqi_core::domain::text::parse_date("date", d).unwrap_or(i64::MAX);
    if p.in_force(today) {
        "在效"
    } else if p.withdrawn_at.is_some() {
        "已废止"
    } else if today < day(&p.policy.valid_from) {
        "未生效"
    } else {
        "已过期"
    }
}

/// The reach on day `today` (days since 1970, China time) of the policies a manager's devices hold
/// (those issued over their region or within it), among the enterprises of their region; at most
/// `listed` unmatched enterprises by name.
pub fn reach(st: &AppState, session: &Session, today: i64, listed: usize) -> Result<Reach, ApiError> {
    let storage = st.storage.as_ref();
    let dir = st.directory.get(storage)?;
    let root = root_path(&dir, session);
    let path_of = |region: &str| dir.paths.get(region).map(String::as_str);
    let region_name = |region: &str| dir.regions.get(region).map_or_else(|| region.to_owned(), |r| r.name.clone());
    // Policies issued over the region (by its ancestors' offices) or within it.
    let mut ids = Vec::new();
    let mut policies = Vec::new();
    for p in storage.policy_rows()? {
        if !path_of(&p.region_id).is_some_and(|path| path_covers(path, &root) || path_covers(&root, path)) {
            continue;
        }
        ids.push(p.id);
        policies.push(PolicyState {
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
        });
    }
    let position: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let statuses: Vec<&'static str> = policies.iter().map(|p| status(p, today)).collect();
    // An enterprise is judged only against the policies in force issued over its region.
    let mut by_region: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in policies.iter().enumerate().filter(|(i, _)| statuses[*i] == "在效") {
        by_region.entry(p.region_id.as_str()).or_default().push(i);
    }
    let mut known: HashMap<String, Vec<(usize, bool, Option<String>)>> = HashMap::new();
    // The regions of the manager's subtree (all of them for a manager over none).
    let regions: Option<Vec<String>> = (!root.is_empty())
        .then(|| dir.paths.iter().filter(|(_, p)| path_covers(&root, p)).map(|(r, _)| r.clone()).collect());
    for (enterprise, policy, told, mark) in storage.enterprise_policy_rows(regions.as_deref())? {
        if let Some(&i) = position.get(policy.as_str()) {
            known.entry(enterprise).or_default().push((i, told, mark));
        }
    }
    let mut per_policy = vec![Counts::default(); policies.len()];
    let mut per_region: Vec<(String, RegionReach)> = Vec::new();
    let mut unmatched = Vec::new();
    let mut unmatched_total = 0;
    let depth = if root.is_empty() { 0 } else { root.split('/').count() };
    for (id, e) in storage.enterprise_profiles(regions.as_deref())? {
        let Some(path) = path_of(&e.region_id).filter(|p| path_covers(&root, p)) else { continue };
        // The region right below the manager's that it lies in (the manager's own for its enterprises).
        let bucket = path.split('/').nth(depth).or_else(|| path.rsplit('/').next()).unwrap_or_default();
        let r = match per_region.iter().position(|(b, _)| b == bucket) {
            Some(i) => i,
            None => {
                let reach =
                    RegionReach { name: region_name(bucket), enterprises: 0, counts: Counts::default(), unmatched: 0 };
                per_region.push((bucket.to_owned(), reach));
                per_region.len() - 1
            }
        };
        let region = &mut per_region[r].1;
        region.enterprises += 1;
        let mut matched_any = false;
        let applicant = Applicant::new(&e, path, today);
        for issuer in path.split('/') {
            for &i in by_region.get(issuer).into_iter().flatten() {
                if meets_criteria(&policies[i], &applicant) {
                    per_policy[i].matched += 1;
                    matched_any = true;
                }
            }
        }
        let (mut told, mut interested, mut applied) = (false, false, false);
        for (i, t, mark) in known.get(&id).into_iter().flatten() {
            let c = &mut per_policy[*i];
            c.told += u32::from(*t);
            c.interested += u32::from(mark.as_deref() == Some("interested"));
            c.applied += u32::from(mark.as_deref() == Some("applied"));
            told |= *t;
            interested |= mark.as_deref() == Some("interested");
            applied |= mark.as_deref() == Some("applied");
        }
        let c = &mut region.counts;
        c.matched += u32::from(matched_any);
        c.told += u32::from(told);
        c.interested += u32::from(interested);
        c.applied += u32::from(applied);
        if !matched_any {
            region.unmatched += 1;
            unmatched_total += 1;
            unmatched.push((region.name.clone(), e.name));
        }
    }
    unmatched.sort();
    unmatched.truncate(listed);
    per_region.sort_by(|a, b| a.0.cmp(&b.0));
    let policies = policies
        .into_iter()
        .zip(per_policy)
        .zip(statuses)
        .map(|((p, counts), status)| PolicyReach {
            title: p.policy.title,
            doc_number: p.policy.doc_number,
            issuer: p.policy.issuer,
            status,
            counts,
        })
        .collect();
    Ok(Reach {
        policies,
        regions: per_region.into_iter().map(|(_, r)| r).collect(),
        unmatched: unmatched.into_iter().map(|(region, name)| (name, region)).collect(),
        unmatched_total,
    })
}

/// Today, as days since 1970 in China time.
pub fn today() -> i64 {
    (now_ms() + 8 * 3_600_000).div_euclid(86_400_000)
}

fn number(n: u32) -> Cell {
    Cell::Number(f64::from(n))
}

/// The policies' table: one row a policy.
pub fn policy_table(r: &Reach) -> Table {
    let headers = ["政策", "文号", "发文单位", "状态", "符合条件企业", "已宣讲", "有意向", "已申报"];
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows: r
            .policies
            .iter()
            .map(|p| {
                let c = p.counts;
                vec![
                    Cell::Text(p.title.clone()),
                    Cell::Text(p.doc_number.clone()),
                    Cell::Text(p.issuer.clone()),
                    Cell::Text(p.status.into()),
                    number(c.matched),
                    number(c.told),
                    number(c.interested),
                    number(c.applied),
                ]
            })
            .collect(),
    }
}

/// The regions' table: one row a region right below the manager's.
pub fn region_table(r: &Reach) -> Table {
    let headers = ["地区", "企业", "有匹配政策", "已宣讲", "有意向", "已申报", "无匹配政策"];
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows: r
            .regions
            .iter()
            .map(|g| {
                let c = g.counts;
                vec![
                    Cell::Text(g.name.clone()),
                    number(g.enterprises),
                    number(c.matched),
                    number(c.told),
                    number(c.interested),
                    number(c.applied),
                    number(g.unmatched),
                ]
            })
            .collect(),
    }
}

/// The enterprises no policy in force matches.
pub fn unmatched_table(r: &Reach) -> Table {
    Table {
        headers: vec!["企业".into(), "地区".into()],
        rows: r
            .unmatched
            .iter()
            .map(|(name, region)| vec![Cell::Text(name.clone()), Cell::Text(region.clone())])
            .collect(),
    }
}

pub async fn policies_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let r = reach(st, session, today(), UNMATCHED_SHOWN)?;
        let page = PolicyReachPage {
            policies: policy_table(&r),
            regions: region_table(&r),
            unmatched: unmatched_table(&r),
            unmatched_total: r.unmatched_total,
        };
        Ok(show(&page, viewer))
    })
    .await
}
