//! Enterprises (企业): profile, the cadres assigned to them (包联) and the visits (走访) they receive.
//! One document per enterprise holds all three.

use super::event::{Event, Fold};
use super::photo::{self, PhotoRef};
use super::text::{self, LONG, Location, MEDIUM, SHORT};
use super::uscc;
use crate::domain::error::{DomainError, Invalid, Result};
use serde::{Deserialize, Serialize};

/// Tags a campaign office puts on enterprises; policies are matched by them.
pub const KNOWN_TAGS: &[(&str, &str)] = &[
    ("above_scale", "规上企业"),
    ("srdi", "专精特新"),
    ("little_giant", "小巨人"),
    ("lead_goose", "头雁"),
    ("high_tech", "高新技术企业"),
    ("foreign_funded", "外资企业"),
];

/// The size bands the statistics bureau puts enterprises in (统计上大中小微型企业划分办法, its
/// industrial thresholds): an enterprise is in a band when both its employees and its revenue reach
/// the band's floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SizeBand {
    Micro,
    Small,
    Medium,
    Large,
}

impl SizeBand {
    pub const ALL: [SizeBand; 4] = [SizeBand::Large, SizeBand::Medium, SizeBand::Small, SizeBand::Micro];

    pub fn as_str(self) -> &'static str {
        match self {
            SizeBand::Large => "large",
            SizeBand::Medium => "medium",
            SizeBand::Small => "small",
            SizeBand::Micro => "micro",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            SizeBand::Large => "大型",
            SizeBand::Medium => "中型",
            SizeBand::Small => "小型",
            SizeBand::Micro => "微型",
        }
    }

    /// From its English or Chinese name (`medium`, `中型`, `中型企业`).
    pub fn parse(s: &str) -> Option<SizeBand> {
        let s = s.trim();
        let s = s.strip_suffix("企业").unwrap_or(s);
        SizeBand::ALL.into_iter().find(|b| b.as_str() == s || b.zh() == s)
    }

    /// The band of an enterprise with `employees` and a yearly revenue of `revenue` 万元.
    pub fn of(employees: u32, revenue: u64) -> SizeBand {
        let floors = [(SizeBand::Large, 1000, 40_000), (SizeBand::Medium, 300, 2_000), (SizeBand::Small, 20, 300)];
        floors.into_iter().find(|&(_, e, r)| employees >= e && revenue >= r).map_or(SizeBand::Micro, |(b, _, _)| b)
    }
}

/// The figures policies judge an enterprise's size and age by (规模): given at registration or set by
/// the campaign office ([`EnterpriseAction::ScaleSet`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Scale {
    /// Employees (从业人员).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employees: Option<u32>,
    /// Last year's operating revenue (营业收入), in 万元.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<u64>,
    /// The day it was founded (成立日期), `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub founded: Option<String>,
}

/// The most employees and revenue (万元) a scale may give: beyond any enterprise's.
const MAX_EMPLOYEES: u32 = 5_000_000;
const MAX_REVENUE: u64 = 1_000_000_000;

impl Scale {
    pub fn is_unknown(&self) -> bool {
        *self == Scale::default()
    }

    pub fn validate(self) -> Result<Self> {
        if let Some(e) = self.employees {
            text::range("scale.employees", e.into(), 0, MAX_EMPLOYEES.into())?;
        }
        if let Some(r) = self.revenue {
            text::range("scale.revenue", r.min(i64::MAX as u64) as i64, 0, MAX_REVENUE as i64)?;
        }
        let founded = match self.founded {
            Some(d) => {
                text::parse_date_in("scale.founded", &d, 1800..=2100)?;
                Some(d.trim().to_owned())
            }
            None => None,
        };
        Ok(Scale { founded, ..self })
    }

    /// The size band, when both employees and revenue are known.
    pub fn band(&self) -> Option<SizeBand> {
        Some(SizeBand::of(self.employees?, self.revenue?))
    }

    /// Full years since founding on day `today` (days since 1970), when the founding day is known.
    pub fn age_years(&self, today: i64) -> Option<u32> {
        let founded = text::parse_date_in("scale.founded", self.founded.as_deref()?, 1800..=2100).ok()?;
        let (fy, fm, fd) = text::civil_from_days(founded);
        let (ty, tm, td) = text::civil_from_days(today);
        // An anniversary that a year lacks (29 February) falls on the month's last day (民法典
        // 第二百零二条).
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let fd = if (fm, fd) == (2, 29) && !leap(ty) { 28 } else { fd };
        let years = ty - fy - i64::from((tm, td) < (fm, fd));
        u32::try_from(years).ok()
    }
}

/// A person to talk to at the enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub phone: String,
}

impl Contact {
    pub fn validate(self) -> Result<Self> {
        let phone = text::optional("contact.phone", &self.phone, 20)?;
        if !phone.chars().all(|c| c.is_ascii_digit() || "+- ".contains(c)) {
            return Err(DomainError::invalid("contact.phone", Invalid::Format { expected: "digits, + or -" }));
        }
        Ok(Contact {
            name: text::required("contact.name", &self.name, SHORT)?,
            title: text::optional("contact.title", &self.title, SHORT)?,
            phone,
        })
    }
}

/// A visit as the cadre records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitRecord {
    pub id: String,
    /// Day of the visit, `YYYY-MM-DD` (China Standard Time).
    pub date: String,
    pub people_met: Vec<String>,
    pub notes: String,
    /// Policies explained, as free text (visits recorded before the policy library, and imports).
    #[serde(default)]
    pub policies: Vec<String>,
    /// Policies of the library explained (宣讲), by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default)]
    pub photos: Vec<PhotoRef>,
}

impl VisitRecord {
    /// Checks the values; `today` is the day number of the device's current date.
    pub fn validate(self, today: i64) -> Result<Self> {
        let day = text::parse_date("visit.date", &self.date)?;
        if day > today + 1 {
            return Err(DomainError::invalid("visit.date", Invalid::InFuture));
        }
        let people_met = text::list("visit.people_met", &self.people_met, 30, SHORT)?;
        if people_met.is_empty() {
            return Err(DomainError::invalid("visit.people_met", Invalid::Empty));
        }
        Ok(VisitRecord {
            id: self.id,
            date: self.date.trim().to_owned(),
            people_met,
            notes: text::required("visit.notes", &self.notes, LONG)?,
            policies: text::list("visit.policies", &self.policies, 30, SHORT)?,
            policy_ids: {
                if self.policy_ids.len() > 30 || !self.policy_ids.iter().all(|id| super::is_plain_id(id)) {
                    return Err(DomainError::invalid(
                        "visit.policy_ids",
                        Invalid::Format { expected: "up to 30 policy ids" },
                    ));
                }
                self.policy_ids
            },
            location: self.location.map(Location::validate).transpose()?,
            photos: photo::validate_all(self.photos)?,
        })
    }
}

/// The profile fields of an enterprise.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub uscc: String,
    pub region_id: String,
    #[serde(default)]
    pub industry: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default, skip_serializing_if = "Scale::is_unknown")]
    pub scale: Scale,
}

impl Profile {
    pub fn validate(self) -> Result<Self> {
        if self.region_id.trim().is_empty() {
            return Err(DomainError::invalid("region", Invalid::Empty));
        }
        if self.contacts.len() > 20 {
            return Err(DomainError::invalid("contacts", Invalid::TooMany { max: 20 }));
        }
        Ok(Profile {
            name: text::required("name", &self.name, SHORT)?,
            uscc: uscc::validate(&self.uscc)?,
            region_id: self.region_id.trim().to_owned(),
            industry: text::optional("industry", &self.industry, SHORT)?,
            tags: text::list("tags", &self.tags, 20, 30)?,
            address: text::optional("address", &self.address, MEDIUM)?,
            location: self.location.map(Location::validate).transpose()?,
            contacts: self.contacts.into_iter().map(Contact::validate).collect::<Result<_>>()?,
            scale: self.scale.validate()?,
        })
    }
}

/// Changes to a profile; `None` leaves a field as it is. Name, code and region are the campaign
/// office's to change and are not here.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProfileUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<Contact>>,
}

impl ProfileUpdate {
    pub fn validate(self) -> Result<Self> {
        if self.contacts.as_ref().is_some_and(|c| c.len() > 20) {
            return Err(DomainError::invalid("contacts", Invalid::TooMany { max: 20 }));
        }
        Ok(ProfileUpdate {
            industry: self.industry.map(|v| text::optional("industry", &v, SHORT)).transpose()?,
            tags: self.tags.map(|v| text::list("tags", &v, 20, 30)).transpose()?,
            address: self.address.map(|v| text::optional("address", &v, MEDIUM)).transpose()?,
            location: self.location.map(Location::validate).transpose()?,
            contacts: self.contacts.map(|c| c.into_iter().map(Contact::validate).collect::<Result<_>>()).transpose()?,
        })
    }
}

/// A correction of an enterprise's registered facts by the campaign office (a wrong name, credit code or
/// address at registration), with why. The registration event stays as it was: the history shows both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Correction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uscc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub reason: String,
}

impl Correction {
    pub fn validate(self) -> Result<Self> {
        if self.name.is_none() && self.uscc.is_none() && self.address.is_none() {
            return Err(DomainError::invalid("correction", Invalid::Empty));
        }
        Ok(Correction {
            name: self.name.map(|v| text::required("name", &v, SHORT)).transpose()?,
            uscc: self.uscc.map(|v| uscc::validate(&v)).transpose()?,
            address: self.address.map(|v| text::required("address", &v, MEDIUM)).transpose()?,
            reason: text::required("reason", &self.reason, MEDIUM)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EnterpriseAction {
    Registered {
        profile: Profile,
    },
    ProfileUpdated {
        update: ProfileUpdate,
    },
    /// The campaign office sets the figures of the enterprise's size and age (all of them: a figure
    /// left out becomes unknown).
    ScaleSet {
        scale: Scale,
    },
    /// The campaign office corrects the registered name, credit code or address (更正).
    Corrected {
        correction: Correction,
    },
    /// A cadre is assigned (包联); `chief` marks the chief service officer (首席服务官).
    CadreAssigned {
        cadre_id: String,
        #[serde(default)]
        chief: bool,
    },
    AssignmentEnded {
        cadre_id: String,
        #[serde(default)]
        reason: String,
    },
    VisitRecorded {
        visit: VisitRecord,
    },
    /// The cadre who recorded a visit corrects it (更正), within [`VISIT_CORRECTION_DAYS`] of
    /// recording it: `visit` holds every value as it should be, under the visit's id.
    VisitCorrected {
        visit: VisitRecord,
        reason: String,
    },
    /// The enterprise (its contact, or its cadre on its behalf) says where it stands with a
    /// policy: `interested` (有意向) or `applied` (已申报).
    PolicyMarked {
        policy_id: String,
        mark: String,
    },
    #[serde(other)]
    Unknown,
}

/// The marks an enterprise puts on a policy.
pub const POLICY_MARKS: &[(&str, &str)] = &[("interested", "有意向"), ("applied", "已申报")];

/// An enterprise's latest mark on a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyMark {
    pub policy_id: String,
    /// `interested` or `applied`.
    pub mark: String,
    pub by: String,
    pub at: i64,
}

impl EnterpriseAction {
    pub fn verb(&self) -> &'static str {
        match self {
            EnterpriseAction::Registered { .. } => "register an enterprise",
            EnterpriseAction::ProfileUpdated { .. } => "update an enterprise",
            EnterpriseAction::Corrected { .. } => "correct an enterprise",
            EnterpriseAction::ScaleSet { .. } => "set an enterprise's scale",
            EnterpriseAction::CadreAssigned { .. } => "assign a cadre",
            EnterpriseAction::AssignmentEnded { .. } => "end an assignment",
            EnterpriseAction::VisitRecorded { .. } => "record a visit",
            EnterpriseAction::VisitCorrected { .. } => "correct a visit",
            EnterpriseAction::PolicyMarked { .. } => "mark a policy",
            EnterpriseAction::Unknown => "unknown",
        }
    }
}

/// A current assignment of a cadre to an enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub cadre_id: String,
    pub chief: bool,
    pub since: i64,
}

/// A visit with who recorded it and when; `record` holds the corrected values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Visit {
    pub record: VisitRecord,
    pub cadre_id: String,
    pub recorded_at: i64,
    pub event_id: String,
    /// Corrections, oldest first, each with the values it replaced.
    pub corrections: Vec<VisitCorrection>,
}

/// How long after recording a visit its cadre may still correct it.
pub const VISIT_CORRECTION_DAYS: u32 = 7;

/// A correction of a visit as applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitCorrection {
    pub previous: VisitRecord,
    pub reason: String,
    pub at: i64,
}

/// A correction as applied: what was corrected, the values it replaced, by whom and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorrectionRecord {
    pub correction: Correction,
    /// The values before, of the fields corrected (the reason is empty).
    pub previous: Correction,
    pub by: String,
    pub at: i64,
}

/// The current state of an enterprise document.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct EnterpriseState {
    pub registered: bool,
    pub profile: Profile,
    pub assignments: Vec<Assignment>,
    pub visits: Vec<Visit>,
    /// Corrections of the registered facts, oldest first (the profile holds the corrected values).
    pub corrections: Vec<CorrectionRecord>,
    /// The enterprise's latest mark on each policy it marked.
    pub policy_marks: Vec<PolicyMark>,
    pub updated_at: i64,
}

impl EnterpriseState {
    pub fn is_assigned(&self, cadre_id: &str) -> bool {
        self.assignments.iter().any(|a| a.cadre_id == cadre_id)
    }

    /// What the enterprise knows of each policy it heard of: (policy id, a visit explained it — as
    /// visits now read, corrections applied —, its latest mark), by policy id.
    pub fn policy_knowledge(&self) -> Vec<(&str, bool, Option<&str>)> {
        let mut known: std::collections::BTreeMap<&str, (bool, Option<&str>)> = Default::default();
        for policy_id in self.visits.iter().flat_map(|v| &v.record.policy_ids) {
            known.entry(policy_id).or_default().0 = true;
        }
        for m in &self.policy_marks {
            known.entry(&m.policy_id).or_default().1 = Some(&m.mark);
        }
        known.into_iter().map(|(p, (told, mark))| (p, told, mark)).collect()
    }
}

impl Fold for EnterpriseState {
    type Action = EnterpriseAction;

    fn is_known(action: &EnterpriseAction) -> bool {
        !matches!(action, EnterpriseAction::Unknown)
    }

    fn check(&self, event: &Event<EnterpriseAction>) -> Result<()> {
        use EnterpriseAction::*;
        let wrong = |status| Err(DomainError::InvalidTransition { action: event.action.verb(), status });
        match &event.action {
            Registered { .. } if self.registered => return wrong("registered"),
            Registered { .. } => {}
            _ if !self.registered => return wrong("new"),
            CadreAssigned { cadre_id, .. } if self.is_assigned(cadre_id) => return wrong("assigned"),
            AssignmentEnded { cadre_id, .. } if !self.is_assigned(cadre_id) => return wrong("unassigned"),
            VisitRecorded { visit } if self.visits.iter().any(|v| v.record.id == visit.id) => {
                return Err(DomainError::invalid("visit", Invalid::Duplicate));
            }
            PolicyMarked { policy_id, mark } => {
                if !super::is_plain_id(policy_id) {
                    return Err(DomainError::invalid("policy", Invalid::Format { expected: "a policy id" }));
                }
                if !POLICY_MARKS.iter().any(|(m, _)| m == mark) {
                    return Err(DomainError::invalid("mark", Invalid::Format { expected: "interested or applied" }));
                }
            }
            VisitCorrected { visit, .. } => {
                let Some(v) = self.visits.iter().find(|v| v.record.id == visit.id) else {
                    return Err(DomainError::not_found(crate::domain::error::Entity::Visit, visit.id.clone()));
                };
                if event.by != v.cadre_id {
                    return Err(DomainError::NotAllowed {
                        action: event.action.verb(),
                        reason: crate::domain::error::Denied::NotTheRecorder,
                    });
                }
                if event.at > v.recorded_at + i64::from(VISIT_CORRECTION_DAYS) * 86_400_000 {
                    return Err(DomainError::invalid(
                        "visit",
                        Invalid::CorrectionTooLate { days: VISIT_CORRECTION_DAYS },
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn mutate(&mut self, event: &Event<EnterpriseAction>) {
        use EnterpriseAction::*;
        match &event.action {
            Registered { profile } => {
                self.registered = true;
                self.profile = profile.clone();
            }
            ProfileUpdated { update } => {
                let p = &mut self.profile;
                let u = update.clone();
                if let Some(v) = u.industry {
                    p.industry = v;
                }
                if let Some(v) = u.tags {
                    p.tags = v;
                }
                if let Some(v) = u.address {
                    p.address = v;
                }
                if let Some(v) = u.location {
                    p.location = Some(v);
                }
                if let Some(v) = u.contacts {
                    p.contacts = v;
                }
            }
            ScaleSet { scale } => self.profile.scale = scale.clone(),
            Corrected { correction: c } => {
                let p = &mut self.profile;
                let replace = |field: &mut String, new: &Option<String>| {
                    new.as_ref().map(|v| std::mem::replace(field, v.clone()))
                };
                let previous = Correction {
                    name: replace(&mut p.name, &c.name),
                    uscc: replace(&mut p.uscc, &c.uscc),
                    address: replace(&mut p.address, &c.address),
                    reason: String::new(),
                };
                self.corrections.push(CorrectionRecord {
                    correction: c.clone(),
                    previous,
                    by: event.by.clone(),
                    at: event.at,
                });
            }
            CadreAssigned { cadre_id, chief } => {
                if *chief {
                    self.assignments.iter_mut().for_each(|a| a.chief = false);
                }
                self.assignments.push(Assignment { cadre_id: cadre_id.clone(), chief: *chief, since: event.at });
            }
            AssignmentEnded { cadre_id, .. } => self.assignments.retain(|a| &a.cadre_id != cadre_id),
            VisitRecorded { visit } => self.visits.push(Visit {
                record: visit.clone(),
                cadre_id: event.actor_id().to_owned(),
                recorded_at: event.at,
                event_id: event.id.clone(),
                corrections: Vec::new(),
            }),
            VisitCorrected { visit, reason } => {
                if let Some(v) = self.visits.iter_mut().find(|v| v.record.id == visit.id) {
                    let previous = std::mem::replace(&mut v.record, visit.clone());
                    v.corrections.push(VisitCorrection { previous, reason: reason.clone(), at: event.at });
                }
            }
            PolicyMarked { policy_id, mark } => {
                let record =
                    PolicyMark { policy_id: policy_id.clone(), mark: mark.clone(), by: event.by.clone(), at: event.at };
                match self.policy_marks.iter_mut().find(|m| &m.policy_id == policy_id) {
                    Some(m) => *m = record,
                    None => self.policy_marks.push(record),
                }
            }
            Unknown => {}
        }
        self.updated_at = self.updated_at.max(event.at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_band_needs_both_floors() {
        assert_eq!(SizeBand::of(1000, 40_000), SizeBand::Large);
        // Many people, little revenue: the lower band.
        assert_eq!(SizeBand::of(5000, 1_999), SizeBand::Small);
        assert_eq!(SizeBand::of(300, 2_000), SizeBand::Medium);
        assert_eq!(SizeBand::of(19, 100_000), SizeBand::Micro);
        assert_eq!(Scale { employees: Some(50), ..Default::default() }.band(), None);
        assert_eq!(SizeBand::parse("中型企业"), Some(SizeBand::Medium));
        assert_eq!(SizeBand::parse("small"), Some(SizeBand::Small));
        assert_eq!(SizeBand::parse("巨型"), None);
    }

    #[test]
    fn age_counts_full_years() {
        let scale = |d: &str| Scale { founded: Some(d.into()), ..Default::default() };
        let day = |d: &str| text::parse_date("d", d).unwrap();
        assert_eq!(scale("2020-03-01").age_years(day("2023-02-28")), Some(2));
        assert_eq!(scale("2020-03-01").age_years(day("2023-03-01")), Some(3));
        // Founded on 29 February: a full year on the 28th when the year has no 29th.
        assert_eq!(scale("2020-02-29").age_years(day("2023-02-27")), Some(2));
        assert_eq!(scale("2020-02-29").age_years(day("2023-02-28")), Some(3));
        assert_eq!(scale("2020-02-29").age_years(day("2024-02-28")), Some(3));
        assert_eq!(scale("2020-02-29").age_years(day("2024-02-29")), Some(4));
        // Founded before 2000: still a day.
        assert_eq!(scale("1958-10-01").age_years(day("2026-12-07")), Some(68));
        // Founded after the day asked about: no age.
        assert_eq!(scale("2027-01-01").age_years(day("2026-12-07")), None);
        assert!(scale("2020-02-30").validate().is_err());
        assert!(Scale { employees: Some(MAX_EMPLOYEES + 1), ..Default::default() }.validate().is_err());
        assert!(Scale { revenue: Some(u64::MAX), ..Default::default() }.validate().is_err());
    }
}
