//! Policies (惠企政策): issued by a campaign office (province, city, county) for the enterprises of
//! its region, with the criteria an enterprise must meet; revised and withdrawn by events, with
//! their history. "The policy finds the enterprise": [`match_enterprise`] tells, offline, whether
//! an enterprise qualifies, why, and what keeps it out.

use super::event::{Event, Fold};
use super::text::{self, LONG, MEDIUM, SHORT};
use super::{DirectoryLookup, Profile};
use crate::domain::error::{DomainError, Invalid, Result};
use serde::{Deserialize, Serialize};

/// Which enterprises a policy is for. An empty list does not narrow: a policy with no criteria is
/// for every enterprise of the issuing office's region.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Criteria {
    /// Regions (within the issuing office's) whose enterprises qualify, their subtrees included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Industries (as enterprises' profiles name them), any of which qualifies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
    /// Enterprise tags (规上 `above_scale`, 专精特新 `srdi`, …), any of which qualifies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// What a policy says, as issued or revised.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicyText {
    pub title: String,
    /// The issuing unit as the document names it (郑州市工业和信息化局).
    pub issuer: String,
    /// The document number (文号), e.g. 郑政〔2026〕12号.
    #[serde(default)]
    pub doc_number: String,
    pub summary: String,
    /// The full text, or a link to it.
    #[serde(default)]
    pub text: String,
    /// The days it is in force, `YYYY-MM-DD`, both included.
    pub valid_from: String,
    pub valid_until: String,
    /// The department enterprises apply to or ask, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_department: Option<String>,
    #[serde(default)]
    pub criteria: Criteria,
    /// Policies for the same support that may not be combined with this one (不可叠加享受).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
}

impl PolicyText {
    pub fn validate(self) -> Result<Self> {
        let from = text::parse_date("valid_from", &self.valid_from)?;
        let until = text::parse_date("valid_until", &self.valid_until)?;
        if until < from {
            return Err(DomainError::invalid("valid_until", Invalid::Format { expected: "a day after valid_from" }));
        }
        for id in &self.excludes {
            if !super::is_plain_id(id) {
                return Err(DomainError::invalid("excludes", Invalid::Format { expected: "policy ids" }));
            }
        }
        let c = self.criteria;
        Ok(PolicyText {
            title: text::required("title", &self.title, SHORT)?,
            issuer: text::required("issuer", &self.issuer, SHORT)?,
            doc_number: text::optional("doc_number", &self.doc_number, SHORT)?,
            summary: text::required("summary", &self.summary, LONG)?,
            text: text::optional("text", &self.text, 20_000)?,
            valid_from: self.valid_from.trim().to_owned(),
            valid_until: self.valid_until.trim().to_owned(),
            contact_department: self.contact_department,
            criteria: Criteria {
                regions: text::list("criteria.regions", &c.regions, 50, SHORT)?,
                industries: text::list("criteria.industries", &c.industries, 50, SHORT)?,
                tags: text::list("criteria.tags", &c.tags, 20, 30)?,
            },
            excludes: text::list("excludes", &self.excludes, 20, super::MAX_ID_LEN)?,
        })
    }
}

/// What happened to a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PolicyAction {
    /// Issued by the campaign office of `region_id`, for the enterprises of its region.
    Issued { region_id: String, policy: PolicyText },
    /// Replaced by a revision (修订), with why; the earlier text stays in the history.
    Revised { policy: PolicyText, reason: String },
    /// Withdrawn (废止): no longer offered to anyone.
    Withdrawn { reason: String },
    /// An event type written by a newer version.
    #[serde(other)]
    Unknown,
}

impl PolicyAction {
    pub fn verb(&self) -> &'static str {
        match self {
            PolicyAction::Issued { .. } => "issue",
            PolicyAction::Revised { .. } => "revise",
            PolicyAction::Withdrawn { .. } => "withdraw",
            PolicyAction::Unknown => "unknown",
        }
    }

    /// Normalises and checks the values an office typed.
    pub fn validate(self) -> Result<Self> {
        Ok(match self {
            PolicyAction::Issued { region_id, policy } => {
                PolicyAction::Issued { region_id, policy: policy.validate()? }
            }
            PolicyAction::Revised { policy, reason } => {
                PolicyAction::Revised { policy: policy.validate()?, reason: text::required("reason", &reason, MEDIUM)? }
            }
            PolicyAction::Withdrawn { reason } => {
                PolicyAction::Withdrawn { reason: text::required("reason", &reason, MEDIUM)? }
            }
            PolicyAction::Unknown => PolicyAction::Unknown,
        })
    }
}

/// A policy now.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PolicyState {
    pub issued: bool,
    /// The issuing office's region.
    pub region_id: String,
    pub issued_by: String,
    pub issued_at: i64,
    /// The text in force (the latest revision's).
    pub policy: PolicyText,
    pub revisions: u32,
    pub withdrawn_at: Option<i64>,
    pub updated_at: i64,
}

impl Fold for PolicyState {
    type Action = PolicyAction;

    fn is_known(action: &PolicyAction) -> bool {
        !matches!(action, PolicyAction::Unknown)
    }

    fn check(&self, event: &Event<PolicyAction>) -> Result<()> {
        let verb = event.action.verb();
        let wrong = |status| Err(DomainError::InvalidTransition { action: verb, status });
        match &event.action {
            PolicyAction::Issued { .. } if self.issued => wrong("issued"),
            PolicyAction::Issued { .. } | PolicyAction::Unknown => Ok(()),
            _ if !self.issued => wrong("new"),
            _ if self.withdrawn_at.is_some() => wrong("withdrawn"),
            _ => Ok(()),
        }
    }

    fn mutate(&mut self, event: &Event<PolicyAction>) {
        match &event.action {
            PolicyAction::Issued { region_id, policy } => {
                self.issued = true;
                self.region_id = region_id.clone();
                self.issued_by = event.by.clone();
                self.issued_at = event.at;
                self.policy = policy.clone();
            }
            PolicyAction::Revised { policy, .. } => {
                self.policy = policy.clone();
                self.revisions += 1;
            }
            PolicyAction::Withdrawn { .. } => self.withdrawn_at = Some(event.at),
            PolicyAction::Unknown => return,
        }
        self.updated_at = event.at;
    }
}

/// Why an enterprise qualifies for a policy, or what keeps it out: one line per criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    /// Every criterion is met (and the policy is in force on the day asked about).
    pub qualifies: bool,
    /// The criteria met, in Chinese (地区：中原区; 行业：装备制造; 标签：专精特新).
    pub reasons: Vec<String>,
    /// The criteria not met (标签：需为 专精特新、小巨人 之一), and 已废止 / 不在有效期内.
    pub missing: Vec<String>,
}

fn tag_zh(tag: &str) -> &str {
    super::enterprise::KNOWN_TAGS.iter().find(|(t, _)| *t == tag).map_or(tag, |(_, zh)| zh)
}

/// Whether the enterprise of profile `e` qualifies for the policy `p` on day `today` (days since
/// 1970, China time), and why.
pub fn match_enterprise(p: &PolicyState, e: &Profile, today: i64, dir: &dyn DirectoryLookup) -> Match {
    let (mut reasons, mut missing) = (Vec::new(), Vec::new());
    let c = &p.policy.criteria;
    let path = dir.region_path(&e.region_id).unwrap_or_default();
    let within = |region: &str| path.split('/').any(|r| r == region);
    let region_name = |r: &str| dir.region_name(r).unwrap_or_else(|| r.to_owned());
    if !within(&p.region_id) {
        missing.push(format!("地区：不在{}", region_name(&p.region_id)));
    } else if c.regions.is_empty() {
        reasons.push(format!("地区：{}", region_name(&p.region_id)));
    } else {
        match c.regions.iter().find(|r| within(r)) {
            Some(r) => reasons.push(format!("地区：{}", region_name(r))),
            None => {
                let names: Vec<String> = c.regions.iter().map(|r| region_name(r)).collect();
                missing.push(format!("地区：需在{}", names.join("、")));
            }
        }
    }
    if !c.industries.is_empty() {
        if c.industries.iter().any(|i| *i == e.industry) {
            reasons.push(format!("行业：{}", e.industry));
        } else {
            missing.push(format!("行业：需为{}", c.industries.join("、")));
        }
    }
    if !c.tags.is_empty() {
        match c.tags.iter().find(|t| e.tags.contains(t)) {
            Some(t) => reasons.push(format!("标签：{}", tag_zh(t))),
            None => {
                let names: Vec<&str> = c.tags.iter().map(|t| tag_zh(t)).collect();
                missing.push(format!("标签：需为{}之一", names.join("、")));
            }
        }
    }
    if p.withdrawn_at.is_some() {
        missing.push("已废止".into());
    } else {
        let day = |d: &str| text::parse_date("date", d).ok();
        let in_force = day(&p.policy.valid_from).is_some_and(|f| f <= today)
            && day(&p.policy.valid_until).is_some_and(|u| today <= u);
        if !in_force {
            missing.push(format!("有效期：{} 至 {}", p.policy.valid_from, p.policy.valid_until));
        }
    }
    Match { qualifies: missing.is_empty(), reasons, missing }
}
