//! Policies (惠企政策): issued by a campaign office (province, city, county) for the enterprises of
//! its region, with the criteria an enterprise must meet; revised and withdrawn by events, with
//! their history. "The policy finds the enterprise": [`match_enterprise`] tells, offline, whether
//! an enterprise qualifies, why, and what keeps it out.

use super::enterprise::SizeBand;
use super::event::{Event, Fold};
use super::text::{self, LONG, MEDIUM, SHORT};
use super::{DirectoryLookup, Profile};
use crate::domain::error::{DomainError, Invalid, Result};
use serde::{Deserialize, Serialize};

/// Which enterprises a policy is for. An empty list (or no age) does not narrow: a policy with no criteria is
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
    /// Size bands (`large`, `medium`, `small`, `micro`; see [`SizeBand`]), any of which qualifies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<String>,
    /// Founded at least this many full years ago (成立满 N 年).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age_years: Option<u32>,
    /// Founded fewer than this many full years ago (成立不满 N 年).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_age_years: Option<u32>,
}

impl Criteria {
    fn validate(self) -> Result<Self> {
        if !self.sizes.iter().all(|s| SizeBand::ALL.iter().any(|b| b.as_str() == s)) {
            return Err(DomainError::invalid(
                "criteria.sizes",
                Invalid::Format { expected: "large, medium, small or micro" },
            ));
        }
        for years in [self.min_age_years, self.under_age_years].into_iter().flatten() {
            text::range("criteria.age_years", years.into(), 0, 200)?;
        }
        if let (Some(min), Some(under)) = (self.min_age_years, self.under_age_years)
            && under <= min
        {
            return Err(DomainError::invalid(
                "criteria.age_years",
                Invalid::Format { expected: "fewer years above the least" },
            ));
        }
        Ok(Criteria {
            regions: text::list("criteria.regions", &self.regions, 50, SHORT)?,
            industries: text::list("criteria.industries", &self.industries, 50, SHORT)?,
            tags: text::list("criteria.tags", &self.tags, 20, 30)?,
            sizes: text::list("criteria.sizes", &self.sizes, 4, 10)?,
            ..self
        })
    }
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
        Ok(PolicyText {
            title: text::required("title", &self.title, SHORT)?,
            issuer: text::required("issuer", &self.issuer, SHORT)?,
            doc_number: text::optional("doc_number", &self.doc_number, SHORT)?,
            summary: text::required("summary", &self.summary, LONG)?,
            text: text::optional("text", &self.text, 20_000)?,
            valid_from: self.valid_from.trim().to_owned(),
            valid_until: self.valid_until.trim().to_owned(),
            contact_department: self.contact_department,
            criteria: self.criteria.validate()?,
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

/// One criterion judged: met (with what met it) or not.
enum Judged<T> {
    /// The policy does not narrow by it.
    Open,
    Met(T),
    Unmet,
}

/// An enterprise as policies judge it, what it takes working out done once: its region's path,
/// size band and age on the day asked about.
pub struct Applicant<'a> {
    pub profile: &'a Profile,
    /// Its region's path (`410000/410100/410102`).
    pub path: &'a str,
    /// The day asked about (days since 1970, China time).
    pub today: i64,
    band: Option<SizeBand>,
    age: Option<u32>,
}

impl<'a> Applicant<'a> {
    pub fn new(profile: &'a Profile, path: &'a str, today: i64) -> Self {
        Applicant { profile, path, today, band: profile.scale.band(), age: profile.scale.age_years(today) }
    }

    /// Whether it qualifies for the policy on its day: every criterion met, and the policy in
    /// force (what [`explain`] says, without saying why).
    pub fn qualifies(&self, p: &PolicyState) -> bool {
        meets_criteria(p, self) && p.in_force(self.today)
    }

    fn within(&self, region: &str) -> bool {
        self.path.split('/').any(|r| r == region)
    }
}

impl PolicyState {
    /// Issued, not withdrawn, and `today` within its validity.
    pub fn in_force(&self, today: i64) -> bool {
        let day = |d: &str| text::parse_date("date", d).ok();
        self.issued
            && self.withdrawn_at.is_none()
            && day(&self.policy.valid_from).is_some_and(|f| f <= today)
            && day(&self.policy.valid_until).is_some_and(|u| today <= u)
    }
}

/// The criteria of a policy, judged one by one for one applicant; [`match_enterprise`] says why,
/// [`meets_criteria`] only whether, and both read these.
struct Judge<'a> {
    p: &'a PolicyState,
    a: &'a Applicant<'a>,
}

impl<'a> Judge<'a> {
    /// `None` outside the issuing office's region; within it, whether within one of the policy's
    /// regions (which; the office's own when it names none).
    fn region(&self) -> Option<Judged<&'a str>> {
        let regions = &self.p.policy.criteria.regions;
        if !self.a.within(&self.p.region_id) {
            return None;
        }
        Some(if regions.is_empty() {
            Judged::Met(self.p.region_id.as_str())
        } else {
            regions.iter().find(|r| self.a.within(r)).map_or(Judged::Unmet, |r| Judged::Met(r.as_str()))
        })
    }

    fn industry(&self) -> Judged<()> {
        let industries = &self.p.policy.criteria.industries;
        match industries.is_empty() {
            true => Judged::Open,
            false if industries.contains(&self.a.profile.industry) => Judged::Met(()),
            false => Judged::Unmet,
        }
    }

    fn tag(&self) -> Judged<&'a str> {
        let tags = &self.p.policy.criteria.tags;
        match tags.iter().find(|t| self.a.profile.tags.contains(t)) {
            _ if tags.is_empty() => Judged::Open,
            Some(t) => Judged::Met(t),
            None => Judged::Unmet,
        }
    }

    /// `Unmet` also when the enterprise's band is not known.
    fn size(&self) -> Judged<SizeBand> {
        let sizes = &self.p.policy.criteria.sizes;
        match self.a.band {
            _ if sizes.is_empty() => Judged::Open,
            Some(b) if sizes.iter().any(|s| s == b.as_str()) => Judged::Met(b),
            _ => Judged::Unmet,
        }
    }

    /// The enterprise's age in full years, when it meets the criterion.
    fn age(&self) -> Judged<u32> {
        let c = &self.p.policy.criteria;
        if c.min_age_years.is_none() && c.under_age_years.is_none() {
            return Judged::Open;
        }
        match self.a.age {
            Some(age) if c.min_age_years.is_none_or(|m| age >= m) && c.under_age_years.is_none_or(|u| age < u) => {
                Judged::Met(age)
            }
            _ => Judged::Unmet,
        }
    }
}

/// Whether the applicant meets every criterion of the policy `p` (its validity aside): what
/// [`match_enterprise`] says of a policy in force, without saying why, for counting many
/// enterprises at once.
pub fn meets_criteria(p: &PolicyState, a: &Applicant<'_>) -> bool {
    let j = Judge { p, a };
    matches!(j.region(), Some(Judged::Met(_)))
        && !matches!(j.industry(), Judged::Unmet)
        && !matches!(j.tag(), Judged::Unmet)
        && !matches!(j.size(), Judged::Unmet)
        && !matches!(j.age(), Judged::Unmet)
}

/// Whether the enterprise of profile `e` qualifies for the policy `p` on day `today` (days since
/// 1970, China time), and why.
pub fn match_enterprise(p: &PolicyState, e: &Profile, today: i64, dir: &dyn DirectoryLookup) -> Match {
    let path = dir.region_path(&e.region_id).unwrap_or_default();
    explain(p, &Applicant::new(e, &path, today), dir)
}

/// [`match_enterprise`] for an applicant worked out once (one enterprise against many policies).
pub fn explain(p: &PolicyState, applicant: &Applicant<'_>, dir: &dyn DirectoryLookup) -> Match {
    let (mut reasons, mut missing) = (Vec::new(), Vec::new());
    let (e, today) = (applicant.profile, applicant.today);
    let c = &p.policy.criteria;
    let j = Judge { p, a: applicant };
    let region_name = |r: &str| dir.region_name(r).unwrap_or_else(|| r.to_owned());
    match j.region() {
        None => missing.push(format!("地区：不在{}", region_name(&p.region_id))),
        Some(Judged::Met(r)) => reasons.push(format!("地区：{}", region_name(r))),
        Some(_) => {
            let names: Vec<String> = c.regions.iter().map(|r| region_name(r)).collect();
            missing.push(format!("地区：需在{}", names.join("、")));
        }
    }
    match j.industry() {
        Judged::Open => {}
        Judged::Met(()) => reasons.push(format!("行业：{}", e.industry)),
        Judged::Unmet => missing.push(format!("行业：需为{}", c.industries.join("、"))),
    }
    match j.tag() {
        Judged::Open => {}
        Judged::Met(t) => reasons.push(format!("标签：{}", tag_zh(t))),
        Judged::Unmet => {
            let names: Vec<&str> = c.tags.iter().map(|t| tag_zh(t)).collect();
            missing.push(format!("标签：需为{}之一", names.join("、")));
        }
    }
    match j.size() {
        Judged::Open => {}
        Judged::Met(b) => reasons.push(format!("规模：{}企业", b.zh())),
        Judged::Unmet => {
            let wanted: Vec<&str> =
                SizeBand::ALL.iter().filter(|b| c.sizes.iter().any(|s| s == b.as_str())).map(|b| b.zh()).collect();
            missing.push(match applicant.band {
                Some(b) => format!("规模：需为{}企业（现为{}）", wanted.join("、"), b.zh()),
                None => format!("规模：需为{}企业（未登记从业人员或营业收入）", wanted.join("、")),
            });
        }
    }
    match j.age() {
        Judged::Open => {}
        Judged::Met(age) => reasons.push(format!("成立年限：{age}年")),
        Judged::Unmet => {
            let wanted = match (c.min_age_years, c.under_age_years) {
                (Some(min), Some(under)) => format!("成立满{min}年不满{under}年"),
                (Some(min), None) => format!("成立满{min}年"),
                (_, under) => format!("成立不满{}年", under.unwrap_or_default()),
            };
            missing.push(match applicant.age {
                Some(age) => format!("成立年限：需{wanted}（现{age}年）"),
                None => format!("成立年限：需{wanted}（未登记成立日期）"),
            });
        }
    }
    if p.withdrawn_at.is_some() {
        missing.push("已废止".into());
    } else if !p.in_force(today) {
        missing.push(format!("有效期：{} 至 {}", p.policy.valid_from, p.policy.valid_until));
    }
    Match { qualifies: missing.is_empty(), reasons, missing }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Scale;

    struct Dir;
    impl DirectoryLookup for Dir {
        fn region_path(&self, region_id: &str) -> Option<String> {
            let path = match region_id {
                "410102" => "410000/410100/410102",
                "410103" => "410000/410100/410103",
                "411100" => "410000/411100",
                _ => return None,
            };
            Some(path.to_owned())
        }
        fn department(&self, _: &str) -> Option<crate::domain::Department> {
            None
        }
        fn user(&self, _: &str) -> Option<crate::domain::User> {
            None
        }
    }

    fn policy(region: &str, criteria: Criteria, withdrawn: bool) -> PolicyState {
        PolicyState {
            issued: true,
            region_id: region.into(),
            policy: PolicyText {
                valid_from: "2026-01-01".into(),
                valid_until: "2026-12-31".into(),
                criteria,
                ..Default::default()
            },
            withdrawn_at: withdrawn.then_some(1),
            ..Default::default()
        }
    }

    /// Every combination of criteria and enterprises: `qualifies` says what `match_enterprise` says,
    /// and each criterion both let enterprises in and kept some out (the combinations reach both).
    #[test]
    fn counting_and_explaining_agree() {
        let today = text::parse_date("d", "2026-06-01").unwrap();
        let criteria =
            |regions: &[&str], industries: &[&str], tags: &[&str], sizes: &[&str], ages: (Option<u32>, Option<u32>)| {
                let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect();
                Criteria {
                    regions: v(regions),
                    industries: v(industries),
                    tags: v(tags),
                    sizes: v(sizes),
                    min_age_years: ages.0,
                    under_age_years: ages.1,
                }
            };
        let mut policies = Vec::new();
        for region in ["410000", "410100", "410102"] {
            for regions in [&[][..], &["410103"][..]] {
                for industries in [&[][..], &["装备制造"][..]] {
                    for tags in [&[][..], &["srdi", "little_giant"][..]] {
                        for sizes in [&[][..], &["small", "micro"][..]] {
                            for ages in [(None, None), (Some(3), None), (None, Some(5)), (Some(2), Some(10))] {
                                for withdrawn in [false, true] {
                                    let c = criteria(regions, industries, tags, sizes, ages);
                                    policies.push(policy(region, c, withdrawn));
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut enterprises = Vec::new();
        for region in ["410102", "410103", "411100"] {
            for industry in ["装备制造", "食品"] {
                for tags in [vec![], vec!["srdi".to_string()]] {
                    for (employees, revenue) in [(None, None), (Some(50), Some(1000)), (Some(400), Some(5000))] {
                        for founded in [None, Some("2024-01-01"), Some("2020-06-01"), Some("2010-01-01")] {
                            enterprises.push(Profile {
                                region_id: region.into(),
                                industry: industry.into(),
                                tags: tags.clone(),
                                scale: Scale { employees, revenue, founded: founded.map(Into::into) },
                                ..Default::default()
                            });
                        }
                    }
                }
            }
        }
        let (mut yes, mut no) = (0, 0);
        let mut missing_kinds = std::collections::BTreeSet::new();
        let mut reason_kinds = std::collections::BTreeSet::new();
        for p in &policies {
            for e in &enterprises {
                let m = match_enterprise(p, e, today, &Dir);
                let path = Dir.region_path(&e.region_id).unwrap();
                let counted = Applicant::new(e, &path, today).qualifies(p);
                assert_eq!(counted, m.qualifies, "{p:?} {e:?} {m:?}");
                if m.qualifies {
                    yes += 1
                } else {
                    no += 1
                }
                missing_kinds.extend(m.missing.iter().map(|r| r.split('：').next().unwrap().to_owned()));
                reason_kinds.extend(m.reasons.iter().map(|r| r.split('：').next().unwrap().to_owned()));
            }
        }
        assert!(yes > 1000 && no > 1000, "{yes} qualify, {no} do not");
        for kind in ["地区", "行业", "标签", "规模", "成立年限"] {
            assert!(
                reason_kinds.contains(kind) && missing_kinds.contains(kind),
                "{kind}: {reason_kinds:?} {missing_kinds:?}"
            );
        }
        assert!(missing_kinds.contains("已废止"));
    }

    #[test]
    fn criteria_are_checked() {
        let bad = |c: Criteria| {
            PolicyText {
                title: "t".into(),
                issuer: "i".into(),
                summary: "s".into(),
                valid_from: "2026-01-01".into(),
                valid_until: "2026-12-31".into(),
                criteria: c,
                ..Default::default()
            }
            .validate()
            .is_err()
        };
        assert!(bad(Criteria { sizes: vec!["huge".into()], ..Default::default() }));
        assert!(bad(Criteria { min_age_years: Some(5), under_age_years: Some(5), ..Default::default() }));
        assert!(bad(Criteria { min_age_years: Some(500), ..Default::default() }));
        assert!(!bad(Criteria { sizes: vec!["micro".into()], under_age_years: Some(3), ..Default::default() }));
    }
}
