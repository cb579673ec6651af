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
