//! Policies on the phone: the office's list, "policies for this enterprise" during a visit (each
//! with why it matched and what is missing) and "enterprises for this policy", computed offline from
//! the index rows (no document is read).

use super::Store;
use crate::domain::policy::{Applicant, Criteria, Match, PolicyState, PolicyText, explain};
use crate::domain::{DirectoryLookup, EnterpriseAction, Profile, Scale};
use crate::error::{Entity, Error, Result};
use crate::storage::SqlDirectory;
use rusqlite::OptionalExtension;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// A policy as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    pub id: String,
    /// The issuing office's region.
    pub region_id: String,
    pub title: String,
    pub issuer: String,
    pub doc_number: String,
    pub summary: String,
    pub valid_from: String,
    pub valid_until: String,
    pub withdrawn: bool,
    pub criteria: Criteria,
    pub excludes: Vec<String>,
}

/// A policy as it stands for one enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyMatch {
    pub policy: PolicySummary,
    /// Whether the enterprise qualifies, why, and what keeps it out.
    pub matched: Match,
    /// The enterprise's mark on it: `interested` or `applied`.
    pub mark: Option<String>,
}

const COLUMNS: &str =
    "id, region_id, title, issuer, doc_number, summary, valid_from, valid_until, withdrawn, criteria, excludes";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PolicySummary> {
    let json = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let bad = |i: usize, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(PolicySummary {
        id: r.get(0)?,
        region_id: r.get(1)?,
        title: r.get(2)?,
        issuer: r.get(3)?,
        doc_number: r.get(4)?,
        summary: r.get(5)?,
        valid_from: r.get(6)?,
        valid_until: r.get(7)?,
        withdrawn: r.get(8)?,
        criteria: serde_json::from_str(&json(9)?).map_err(|e| bad(9, e))?,
        excludes: serde_json::from_str(&json(10)?).map_err(|e| bad(10, e))?,
    })
}

/// The directory as matching reads it: each region's path and name read once, however many policies
/// ask (thousands do, for a handful of regions).
struct Remembered<'a> {
    dir: &'a dyn DirectoryLookup,
    paths: RefCell<HashMap<String, Option<String>>>,
    names: RefCell<HashMap<String, Option<String>>>,
}

impl<'a> Remembered<'a> {
    fn new(dir: &'a dyn DirectoryLookup) -> Self {
        Remembered { dir, paths: RefCell::default(), names: RefCell::default() }
    }
}

impl DirectoryLookup for Remembered<'_> {
    fn region_path(&self, region_id: &str) -> Option<String> {
        self.paths.borrow_mut().entry(region_id.to_owned()).or_insert_with(|| self.dir.region_path(region_id)).clone()
    }
    fn region_name(&self, region_id: &str) -> Option<String> {
        self.names.borrow_mut().entry(region_id.to_owned()).or_insert_with(|| self.dir.region_name(region_id)).clone()
    }
    fn department(&self, id: &str) -> Option<crate::domain::Department> {
        self.dir.department(id)
    }
    fn user(&self, id: &str) -> Option<crate::domain::User> {
        self.dir.user(id)
    }
}

/// An enterprise that qualifies for a policy, and what it has heard of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyCandidate {
    pub enterprise_id: String,
    pub name: String,
    /// A visit explained the policy to it (宣讲).
    pub told: bool,
    /// Its mark on the policy: `interested` or `applied`.
    pub mark: Option<String>,
}

/// The columns of an enterprise's index row that matching needs, as `profile_from_row` reads them.
const PROFILE_COLUMNS: &str = "name, region_id, industry, tags, employees, revenue, founded";

/// The profile, as far as matching needs it, from [`PROFILE_COLUMNS`] starting at column `at`.
fn profile_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Profile> {
    let tags: String = r.get(at + 3)?;
    Ok(Profile {
        name: r.get(at)?,
        region_id: r.get(at + 1)?,
        industry: r.get(at + 2)?,
        tags: tags.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
        scale: Scale {
            employees: r.get(at + 4)?,
            revenue: r.get::<_, Option<i64>>(at + 5)?.map(|v| v.max(0) as u64),
            founded: r.get(at + 6)?,
        },
        ..Default::default()
    })
}

impl PolicySummary {
    /// As much of the policy's state as matching needs.
    fn state(&self) -> PolicyState {
        PolicyState {
            issued: true,
            region_id: self.region_id.clone(),
            policy: PolicyText {
                valid_from: self.valid_from.clone(),
                valid_until: self.valid_until.clone(),
                criteria: self.criteria.clone(),
                ..Default::default()
            },
            withdrawn_at: self.withdrawn.then_some(0),
            ..Default::default()
        }
    }
}

/// The policies not withdrawn, in the table's order (the matches are sorted after), read once and
/// kept until the store writes anything: a cadre going through an enterprise's policies during a
/// visit reads them once.
fn in_force(inner: &mut super::Inner) -> Result<Arc<Vec<PolicySummary>>> {
    let version = inner.conn.total_changes();
    if let Some((v, policies)) = &inner.policies
        && *v == version
    {
        return Ok(policies.clone());
    }
    let sql = format!("SELECT {COLUMNS} FROM policies WHERE withdrawn = 0");
    let policies: Vec<PolicySummary> =
        inner.conn.prepare_cached(&sql)?.query_map([], from_row)?.collect::<rusqlite::Result<_>>()?;
    let policies = Arc::new(policies);
    inner.policies = Some((version, policies.clone()));
    Ok(policies)
}

impl Store {
    /// The policies this device holds, in force first, newest issued first.
    pub fn policies(&self) -> Result<Vec<PolicySummary>> {
        let inner = self.lock();
        let sql = format!("SELECT {COLUMNS} FROM policies ORDER BY withdrawn, valid_from DESC, id");
        let mut stmt = inner.conn.prepare_cached(&sql)?;
        Ok(stmt.query_map([], from_row)?.collect::<rusqlite::Result<_>>()?)
    }

    /// The policies held for the enterprise: those it qualifies for first, then those it misses by
    /// the fewest criteria (withdrawn ones left out), each with its reasons and what is missing.
    pub fn policies_for(&self, enterprise_id: &str) -> Result<Vec<PolicyMatch>> {
        let profile = self.enterprise_profile(enterprise_id)?;
        let mut inner = self.lock();
        let policies = in_force(&mut inner)?;
        let marks: HashMap<String, String> = inner
            .conn
            .prepare_cached(
                "SELECT policy_id, mark FROM enterprise_policies WHERE enterprise_id = ?1 AND mark IS NOT NULL",
            )?
            .query_map([enterprise_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let today = (inner.now() + 8 * 3_600_000).div_euclid(86_400_000);
        let dir = SqlDirectory::new(&inner.conn);
        let remembered = Remembered::new(&dir);
        let path = remembered.region_path(&profile.region_id).unwrap_or_default();
        let applicant = Applicant::new(&profile, &path, today);
        let mut out: Vec<PolicyMatch> = policies
            .iter()
            .map(|p| {
                let matched = explain(&p.state(), &applicant, &remembered);
                let mark = marks.get(&p.id).cloned();
                PolicyMatch { policy: p.clone(), matched, mark }
            })
            .collect();
        dir.check(Ok(()))?;
        out.sort_by_key(|m| (m.matched.missing.len(), std::cmp::Reverse(m.matched.reasons.len())));
        Ok(out)
    }

    /// The enterprises held that qualify for the policy, by name, each with whether it was told of
    /// it and its mark.
    pub fn enterprises_for(&self, policy_id: &str) -> Result<Vec<PolicyCandidate>> {
        let inner = self.lock();
        let sql = format!("SELECT {COLUMNS} FROM policies WHERE id = ?1");
        let policy = inner
            .conn
            .query_row(&sql, [policy_id], from_row)
            .optional()?
            .ok_or_else(|| Error::not_found(Entity::Policy, policy_id))?
            .state();
        let today = (inner.now() + 8 * 3_600_000).div_euclid(86_400_000);
        let sql_dir = SqlDirectory::new(&inner.conn);
        let dir = Remembered::new(&sql_dir);
        let sql = format!(
            "SELECT e.id, COALESCE(k.told, 0), k.mark, {} FROM enterprises e
             LEFT JOIN enterprise_policies k ON k.policy_id = ?1 AND k.enterprise_id = e.id
             ORDER BY e.name, e.id",
            PROFILE_COLUMNS.split(", ").map(|c| format!("e.{c}")).collect::<Vec<_>>().join(", ")
        );
        let mut stmt = inner.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([policy_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, profile_from_row(r, 3)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (enterprise_id, told, mark, profile) = row?;
            let path = dir.region_path(&profile.region_id).unwrap_or_default();
            if Applicant::new(&profile, &path, today).qualifies(&policy) {
                out.push(PolicyCandidate { enterprise_id, name: profile.name, told, mark });
            }
        }
        sql_dir.check(Ok(()))?;
        Ok(out)
    }

    /// The enterprise (its contact, or its cadre) marks a policy `interested` (有意向) or `applied`
    /// (已申报). Returns the warnings an application deserves, in Chinese: applying twice for the
    /// same policy, or for one that may not be combined with a policy already applied for. They do
    /// not stop the mark: the office weighs them.
    pub fn mark_policy(&self, enterprise_id: &str, policy_id: &str, mark: &str) -> Result<Vec<String>> {
        let policies = self.policies()?;
        let target = policies
            .iter()
            .find(|p| p.id == policy_id && !p.withdrawn)
            .ok_or_else(|| Error::not_found(Entity::Policy, policy_id))?;
        let mut inner = self.lock();
        let marks = inner.enterprise(enterprise_id)?.policy_marks.clone();
        let mut warnings = Vec::new();
        if mark == "applied" {
            if marks.iter().any(|m| m.policy_id == policy_id && m.mark == "applied") {
                warnings.push(format!("已申报过《{}》，请勿重复申报", target.title));
            }
            for m in marks.iter().filter(|m| m.mark == "applied" && m.policy_id != policy_id) {
                let other = policies.iter().find(|p| p.id == m.policy_id);
                let exclusive = target.excludes.contains(&m.policy_id)
                    || other.is_some_and(|o| o.excludes.iter().any(|x| x == policy_id));
                if exclusive {
                    warnings.push(format!(
                        "与已申报的《{}》不可叠加享受",
                        other.map_or(m.policy_id.as_str(), |o| &o.title)
                    ));
                }
            }
        }
        let action = EnterpriseAction::PolicyMarked { policy_id: policy_id.to_owned(), mark: mark.to_owned() };
        inner.act_on_enterprise(enterprise_id, action)?;
        Ok(warnings)
    }

    /// An enterprise's profile as its index row holds it (what matching needs).
    fn enterprise_profile(&self, enterprise_id: &str) -> Result<Profile> {
        let inner = self.lock();
        let sql = format!("SELECT {PROFILE_COLUMNS} FROM enterprises WHERE id = ?1");
        let row = inner.conn.query_row(&sql, [enterprise_id], |r| profile_from_row(r, 0)).optional()?;
        row.ok_or_else(|| Error::not_found(Entity::Enterprise, enterprise_id))
    }
}
