//! Who may take which action on which document. One module, used by the device before it stores an
//! action and by the relay before it accepts a pushed change: the two can never disagree.
//!
//! State transitions (what may follow what) live in each state's `Fold::apply`; this module only
//! answers "may this actor do this here". Both must pass.

use crate::domain::directory::path_covers;
use crate::domain::error::{Denied, DomainError, Entity, Invalid, Result};
use crate::domain::problem::ANSWER_DAYS;
use crate::domain::{
    DirectoryLookup, EnterpriseAction, EnterpriseState, Event, OfficeSettings, ProblemAction, ProblemState, Recipient,
    Role, TaskNoticeAction, TaskNoticeState,
};

/// The signed-in user as the rules see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub role: Role,
    /// Path of the region a manager oversees or a cadre works in (`410000/410100/...`).
    pub region_path: Option<String>,
    pub department_id: Option<String>,
    pub enterprise_id: Option<String>,
}

/// What the rules need to know of the enterprise a document belongs to.
#[derive(Debug, Clone, Copy)]
pub struct EnterpriseFacts<'a> {
    pub id: &'a str,
    pub region_path: &'a str,
    pub state: &'a EnterpriseState,
}

fn deny(action: &'static str, reason: Denied) -> DomainError {
    DomainError::NotAllowed { action, reason }
}

impl Actor {
    fn manages(&self, path: &str) -> bool {
        self.role == Role::Manager && self.region_path.as_deref().is_some_and(|root| path_covers(root, path))
    }
    fn is_assigned_cadre(&self, ent: &EnterpriseFacts<'_>) -> bool {
        self.role == Role::Cadre && ent.state.is_assigned(&self.user_id)
    }
    fn is_contact_of(&self, enterprise_id: &str) -> bool {
        self.role == Role::EnterpriseContact && self.enterprise_id.as_deref() == Some(enterprise_id)
    }
    /// Whether the actor is the campaign office that handles problems of `ent` at `level`: a manager
    /// over the enterprise's region whose own region is at the level's tier (levels 1–2 the county,
    /// 3–4 the city, 5 the province).
    fn is_office_of(&self, level: u8, ent: &EnterpriseFacts<'_>) -> bool {
        let tier = match level {
            5 => 1,
            3 | 4 => 2,
            _ => 3,
        };
        self.manages(ent.region_path) && self.region_path.as_deref().is_some_and(|p| p.split('/').count() == tier)
    }
    fn handles(&self, department_id: Option<&str>) -> bool {
        self.role == Role::DepartmentHandler
            && department_id.is_some()
            && self.department_id.as_deref() == department_id
    }

    /// The most specific reason this actor fails, for a clear message.
    fn reason(&self, ent: &EnterpriseFacts<'_>, action: &'static str) -> DomainError {
        let reason = match self.role {
            Role::Manager => Denied::OutOfRegion,
            Role::Cadre => Denied::NotAssigned,
            Role::DepartmentHandler => Denied::NotRoutedToDepartment,
            Role::EnterpriseContact if self.enterprise_id.as_deref() != Some(ent.id) => Denied::OtherEnterprise,
            role => Denied::Role { role, action },
        };
        deny(action, reason)
    }
}

/// The event must name the signed-in user as its author, with their role.
pub fn check_author<A>(actor: &Actor, event: &Event<A>, action: &'static str) -> Result<()> {
    if event.by != actor.user_id || event.role != actor.role {
        return Err(deny(action, Denied::ForgedAuthor));
    }
    Ok(())
}

fn department_path(dir: &dyn DirectoryLookup, department_id: &str) -> Result<String> {
    let dept =
        dir.department(department_id).ok_or_else(|| DomainError::not_found(Entity::Department, department_id))?;
    dir.region_path(&dept.region_id).ok_or_else(|| DomainError::not_found(Entity::Region, dept.region_id))
}

/// May `actor` take `action` on a problem in `state`, of the enterprise `ent`?
pub fn authorize_problem(
    actor: &Actor,
    action: &ProblemAction,
    state: &ProblemState,
    ent: &EnterpriseFacts<'_>,
    dir: &dyn DirectoryLookup,
) -> Result<()> {
    use ProblemAction::*;
    let verb = action.verb();
    let manager = actor.manages(ent.region_path);
    let cadre = actor.is_assigned_cadre(ent);
    let handler = actor.handles(state.department_id.as_deref());
    let contact = actor.is_contact_of(ent.id);
    // The office of the problem's current level accepts and routes; one of another level is told so.
    let office_of = |level: u8| -> Result<()> {
        if !manager {
            return Err(actor.reason(ent, verb));
        }
        if !actor.is_office_of(level, ent) {
            return Err(deny(verb, Denied::NotOfficeOfLevel { level }));
        }
        Ok(())
    };
    let allowed = match action {
        Reported { .. } => manager || cadre || contact,
        Accepted { .. } => {
            office_of(state.level)?;
            true
        }
        Routed { department_id, level, .. } => {
            office_of(state.level)?;
            // Routing stays within the office's own levels; higher ones are reached by escalating.
            if !actor.is_office_of(*level, ent) {
                return Err(deny(verb, Denied::NotOfficeOfLevel { level: *level }));
            }
            if !actor.manages(&department_path(dir, department_id)?) {
                return Err(deny(verb, Denied::OutOfRegion));
            }
            true
        }
        Progress { .. } => manager || cadre || handler,
        Escalated { department_id, level, .. } => {
            // One level up by whoever handles or follows the problem; straight to a higher level, or
            // to another department, only by the office of the level it goes to.
            if *level > state.level.saturating_add(1) || department_id.is_some() {
                office_of(*level)?;
            }
            if let Some(d) = department_id
                && !actor.manages(&department_path(dir, d)?)
            {
                return Err(deny(verb, Denied::OutOfRegion));
            }
            manager || cadre || handler
        }
        Urged { .. } | Closed { .. } | CalledBack { .. } => manager,
        // The window an office closes by may not be shorter than the one its settings give.
        ClosedUnanswered { answer_days, .. } => {
            let days = OfficeSettings::in_force(dir, ent.region_path).answer_days;
            if manager && answer_days.unwrap_or(ANSWER_DAYS) < days {
                return Err(DomainError::invalid("answer_days", Invalid::AnswerWindowShort { days }));
            }
            manager
        }
        Resolved { .. } => handler,
        Confirmed { .. } | Rejected { .. } => contact,
        FollowedUp { .. } => manager || cadre,
        // Only the reporter takes a report back; a duplicate is merged by the office that would
        // accept or route it (the relay checks that `into` is a problem of the same enterprise).
        Withdrawn { .. } => state.reported_by == actor.user_id,
        Merged { .. } => {
            office_of(state.level)?;
            true
        }
        Unknown => false,
    };
    if allowed { Ok(()) } else { Err(actor.reason(ent, verb)) }
}

/// May `actor` take `action` on the enterprise `ent`?
pub fn authorize_enterprise(
    actor: &Actor,
    action: &EnterpriseAction,
    ent: &EnterpriseFacts<'_>,
    dir: &dyn DirectoryLookup,
) -> Result<()> {
    use EnterpriseAction::*;
    let verb = action.verb();
    let manager = actor.manages(ent.region_path);
    let allowed = match action {
        Registered { .. } | AssignmentEnded { .. } => manager,
        CadreAssigned { cadre_id, .. } => {
            let user = dir.user(cadre_id).filter(|u| u.role == Role::Cadre);
            if user.is_none() {
                return Err(DomainError::not_found(Entity::User, cadre_id.clone()));
            }
            manager
        }
        ProfileUpdated { .. } => manager || actor.is_assigned_cadre(ent),
        // The size and age figures policies' criteria read: the office's, as the registered facts
        // are (industry and tags stay with the details an assigned cadre keeps up).
        Corrected { .. } | ScaleSet { .. } => manager,
        VisitRecorded { .. } => actor.is_assigned_cadre(ent),
        // Only its recorder (checked with the visit, in the fold), while still assigned.
        VisitCorrected { .. } => actor.is_assigned_cadre(ent),
        // The enterprise speaks for itself, or its cadre for it.
        PolicyMarked { .. } => {
            (actor.role == Role::EnterpriseContact && actor.enterprise_id.as_deref() == Some(ent.id))
                || actor.is_assigned_cadre(ent)
        }
        Unknown => false,
    };
    if allowed { Ok(()) } else { Err(actor.reason(ent, verb)) }
}

/// May `actor` take `action` on a policy in `state`? A campaign office issues policies for its own
/// region (or a region within it); the offices over that region revise and withdraw them.
pub fn authorize_policy(
    actor: &Actor,
    action: &crate::domain::PolicyAction,
    state: &crate::domain::PolicyState,
    dir: &dyn DirectoryLookup,
) -> Result<()> {
    use crate::domain::PolicyAction::*;
    let verb = action.verb();
    if actor.role != Role::Manager {
        return Err(deny(verb, Denied::Role { role: actor.role, action: verb }));
    }
    let region = match action {
        Issued { region_id, .. } => region_id,
        Revised { .. } | Withdrawn { .. } => &state.region_id,
        // A type of a newer version: nobody here may write it.
        Unknown => return Err(deny(verb, Denied::Role { role: actor.role, action: verb })),
    };
    let path = dir.region_path(region).ok_or_else(|| DomainError::not_found(Entity::Region, region.clone()))?;
    if !actor.manages(&path) {
        return Err(deny(verb, Denied::OutOfRegion));
    }
    if let Issued { policy, .. } | Revised { policy, .. } = action {
        for r in &policy.criteria.regions {
            let inner = dir.region_path(r).ok_or_else(|| DomainError::not_found(Entity::Region, r.clone()))?;
            if !crate::domain::directory::path_covers(&path, &inner) {
                return Err(deny(verb, Denied::OutOfRegion));
            }
        }
    }
    Ok(())
}

/// May `actor` take `action` on a task notice in `state`?
pub fn authorize_task_notice(
    actor: &Actor,
    action: &TaskNoticeAction,
    state: &TaskNoticeState,
    dir: &dyn DirectoryLookup,
) -> Result<()> {
    use TaskNoticeAction::*;
    let verb = action.verb();
    match action {
        Issued { region_id, recipients, .. } => {
            if actor.role != Role::Manager {
                return Err(deny(verb, Denied::Role { role: actor.role, action: verb }));
            }
            let path =
                dir.region_path(region_id).ok_or_else(|| DomainError::not_found(Entity::Region, region_id.clone()))?;
            if !actor.manages(&path) {
                return Err(deny(verb, Denied::OutOfRegion));
            }
            for r in recipients {
                let path = match r {
                    Recipient::Department(d) => department_path(dir, d)?,
                    Recipient::Cadre(c) => {
                        let user = dir.user(c).filter(|u| u.role == Role::Cadre);
                        let region = user
                            .and_then(|u| u.region_id)
                            .ok_or_else(|| DomainError::not_found(Entity::User, c.clone()))?;
                        dir.region_path(&region).ok_or_else(|| DomainError::not_found(Entity::Region, region))?
                    }
                    // A kind of a newer version: this version cannot tell whom it names.
                    Recipient::Unknown { .. } => {
                        return Err(DomainError::invalid(
                            "recipients",
                            Invalid::Format { expected: "a department or a cadre" },
                        ));
                    }
                };
                if !actor.manages(&path) {
                    return Err(deny(verb, Denied::OutOfRegion));
                }
            }
            Ok(())
        }
        Acknowledged { recipient } | Completed { recipient, .. } => {
            let mine = match recipient {
                Recipient::Department(d) => actor.handles(Some(d)),
                Recipient::Cadre(c) => actor.role == Role::Cadre && &actor.user_id == c,
                Recipient::Unknown { .. } => false,
            };
            if mine && state.recipient(recipient).is_some() { Ok(()) } else { Err(deny(verb, Denied::NotRecipient)) }
        }
        Unknown => Err(deny(verb, Denied::Role { role: actor.role, action: verb })),
    }
}

/// The recipient entry an actor acts as on a notice, if any.
pub fn recipient_for(actor: &Actor, state: &TaskNoticeState) -> Option<Recipient> {
    let candidate = match actor.role {
        Role::DepartmentHandler => Recipient::Department(actor.department_id.clone()?),
        Role::Cadre => Recipient::Cadre(actor.user_id.clone()),
        _ => return None,
    };
    state.recipient(&candidate).map(|r| r.recipient.clone())
}
