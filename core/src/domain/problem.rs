//! Problems (问题) and their lifecycle: reported → accepted → routed to a department and a handling
//! level with a deadline → progress, escalation, urging → resolved → confirmed with a rating (or
//! rejected, which reopens it) → closed → follow-up review.

use super::event::{Event, Fold};
use super::photo::{self, PhotoRef};
use super::text::{self, LONG, MEDIUM, SHORT};
use crate::domain::error::{DomainError, Invalid, Result};
use serde::{Deserialize, Serialize};

/// What a problem is about. Serialized as its snake_case name; a name written by a newer version
/// reads as [`Category::Unknown`] (see [`super::open_enum`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Category {
    Financing,
    Land,
    Labour,
    Approvals,
    Utilities,
    Legal,
    Policy,
    Market,
    #[default]
    Other,
    /// A category of a newer version, kept as written; shown as "需更新版本查看". Not in [`Category::ALL`].
    Unknown(&'static str),
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Financing,
        Category::Land,
        Category::Labour,
        Category::Approvals,
        Category::Utilities,
        Category::Legal,
        Category::Policy,
        Category::Market,
        Category::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Financing => "financing",
            Category::Land => "land",
            Category::Labour => "labour",
            Category::Approvals => "approvals",
            Category::Utilities => "utilities",
            Category::Legal => "legal",
            Category::Policy => "policy",
            Category::Market => "market",
            Category::Other => "other",
            Category::Unknown(s) => s,
        }
    }
    /// The category named `s`, if this version knows it (input, filters). Stored values that may
    /// come from a newer version are read with [`Category::from_stored`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
    pub fn zh(self) -> &'static str {
        match self {
            Category::Financing => "融资",
            Category::Land => "用地",
            Category::Labour => "用工",
            Category::Approvals => "审批",
            Category::Utilities => "水电气暖",
            Category::Legal => "法律",
            Category::Policy => "政策",
            Category::Market => "市场",
            Category::Other => "其他",
            Category::Unknown(_) => super::open_enum::NEEDS_NEWER_VERSION,
        }
    }
}

/// Where a problem stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ProblemStatus {
    /// Not reported yet (the state before the first event).
    #[default]
    New,
    Reported,
    Accepted,
    /// Routed to a department, being handled (办理中). A rejected resolution comes back here.
    Routed,
    Resolved,
    Confirmed,
    Closed,
    /// Withdrawn by its reporter before acceptance (撤回): not a problem any more.
    Withdrawn,
    /// A duplicate, merged by the campaign office into another problem of the same enterprise
    /// (合并), which carries on.
    Merged,
}

impl ProblemStatus {
    pub const ALL: [ProblemStatus; 8] = [
        ProblemStatus::Reported,
        ProblemStatus::Accepted,
        ProblemStatus::Routed,
        ProblemStatus::Resolved,
        ProblemStatus::Confirmed,
        ProblemStatus::Closed,
        ProblemStatus::Withdrawn,
        ProblemStatus::Merged,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemStatus::New => "new",
            ProblemStatus::Reported => "reported",
            ProblemStatus::Accepted => "accepted",
            ProblemStatus::Routed => "routed",
            ProblemStatus::Resolved => "resolved",
            ProblemStatus::Confirmed => "confirmed",
            ProblemStatus::Closed => "closed",
            ProblemStatus::Withdrawn => "withdrawn",
            ProblemStatus::Merged => "merged",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
    pub fn zh(self) -> &'static str {
        match self {
            ProblemStatus::New => "未上报",
            ProblemStatus::Reported => "已上报",
            ProblemStatus::Accepted => "已受理",
            ProblemStatus::Routed => "办理中",
            ProblemStatus::Resolved => "已办结待确认",
            ProblemStatus::Confirmed => "企业已确认",
            ProblemStatus::Closed => "已销号",
            ProblemStatus::Withdrawn => "已撤回",
            ProblemStatus::Merged => "已合并",
        }
    }
    /// Not closed, withdrawn or merged: still counts as open work.
    pub fn is_open(self) -> bool {
        !matches!(self, ProblemStatus::New | ProblemStatus::Closed) && !self.is_void()
    }
    /// Withdrawn or merged: no longer a problem of its own, left out of every figure (a merged
    /// duplicate is counted once, as the problem it was merged into).
    pub fn is_void(self) -> bool {
        matches!(self, ProblemStatus::Withdrawn | ProblemStatus::Merged)
    }
}

const DAY_MS: i64 = 86_400_000;
/// 受理时限: a reported problem is accepted and routed within this time of its report, or it is overdue.
pub const ACCEPTANCE_LIMIT_MS: i64 = 3 * DAY_MS;
/// The enterprise's time to answer a resolution (confirm or reject) before the campaign office may
/// close the problem as unanswered (超时未确认), where no office set a longer one
/// ([`super::calendar::OfficeSettings`]), and when a closing event names none.
pub const ANSWER_DAYS: u32 = 15;

/// Whether a problem in `status`, reported at `reported_at`, with `deadline`, is overdue at `now`:
/// routed and past its deadline, or reported (or accepted) and not routed within the acceptance limit.
/// The one rule behind every overdue figure and list.
pub fn is_overdue(status: ProblemStatus, reported_at: i64, deadline: Option<i64>, now: i64) -> bool {
    match status {
        ProblemStatus::Routed => deadline.is_some_and(|d| d < now),
        ProblemStatus::Reported | ProblemStatus::Accepted => reported_at.saturating_add(ACCEPTANCE_LIMIT_MS) < now,
        _ => false,
    }
}

/// Who accepted a resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// The enterprise itself, on its own device.
    Enterprise,
    /// The campaign office, calling the enterprise back and recording its answer (代确认).
    CallBack,
    /// Nobody: the enterprise did not answer in time and the office closed it (超时未确认).
    Unanswered,
}

impl Confirmation {
    pub fn as_str(self) -> &'static str {
        match self {
            Confirmation::Enterprise => "enterprise",
            Confirmation::CallBack => "call_back",
            Confirmation::Unanswered => "unanswered",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Confirmation::Enterprise, Confirmation::CallBack, Confirmation::Unanswered]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
    pub fn zh(self) -> &'static str {
        match self {
            Confirmation::Enterprise => "企业确认",
            Confirmation::CallBack => "代确认（回访）",
            Confirmation::Unanswered => "超时未确认",
        }
    }
}

/// Handling levels of the five-level escalation (Luohe): 1 chief service officer, 2 county weekly
/// meeting, 3 city weekly meeting, 4 city leaders, 5 province platform.
pub const MIN_LEVEL: u8 = 1;
pub const MAX_LEVEL: u8 = 5;

pub fn level_zh(level: u8) -> &'static str {
    match level {
        1 => "首席服务官",
        2 => "县级周例会",
        3 => "市级周例会",
        4 => "市领导",
        5 => "省平台",
        _ => "未定",
    }
}

/// What happened to a problem. Serialized with a `type` tag beside the event's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProblemAction {
    Reported {
        enterprise_id: String,
        category: Category,
        title: String,
        description: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visit_id: Option<String>,
        /// Photos of the problem as the reporter saw it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        photos: Vec<PhotoRef>,
    },
    Accepted {
        #[serde(default)]
        note: String,
    },
    /// Routed (交办) or re-routed to a department at a level with a deadline.
    Routed {
        department_id: String,
        level: u8,
        deadline: i64,
        #[serde(default)]
        note: String,
    },
    Progress {
        note: String,
        /// Photos of the work in progress.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        photos: Vec<PhotoRef>,
    },
    /// Escalated (提级督办) to a higher level; the campaign office may also move it to another
    /// department and set a new deadline.
    Escalated {
        level: u8,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        department_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<i64>,
    },
    Urged {
        #[serde(default)]
        note: String,
    },
    Resolved {
        resolution: String,
        /// Evidence of the resolution (the repaired road, the signed approval).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        photos: Vec<PhotoRef>,
    },
    Confirmed {
        rating: u8,
        #[serde(default)]
        comment: String,
    },
    Rejected {
        reason: String,
    },
    /// The campaign office called the enterprise back (回访) and records its answer on its behalf
    /// (代确认): whom it spoke to, whether the enterprise accepts the resolution, with its rating, or
    /// why not (then the problem reopens, as with a rejection).
    CalledBack {
        contact: String,
        accepted: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rating: Option<u8>,
        #[serde(default)]
        note: String,
    },
    Closed {
        #[serde(default)]
        note: String,
    },
    /// Closed by the campaign office after the enterprise gave no answer within `answer_days` of the
    /// resolution (超时未确认): the window in force at the office when it closed (the rules hold it
    /// to the office's settings); [`ANSWER_DAYS`] when absent (events of older versions).
    ClosedUnanswered {
        #[serde(default)]
        note: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer_days: Option<u32>,
    },
    /// Follow-up review (回头看) with the enterprise after closing. Not solved after all: the problem
    /// reopens with a new deadline.
    FollowedUp {
        note: String,
        still_solved: bool,
    },
    /// Withdrawn by its reporter before the office accepted it (撤回).
    Withdrawn {
        reason: String,
    },
    /// Merged by the campaign office of its level into another problem of the same enterprise, of
    /// which it is a duplicate (合并); `into` carries on.
    Merged {
        into: String,
        reason: String,
    },
    /// An event type written by a newer version.
    #[serde(other)]
    Unknown,
}

impl ProblemAction {
    /// The English verb used in errors and rules.
    pub fn verb(&self) -> &'static str {
        match self {
            ProblemAction::Reported { .. } => "report",
            ProblemAction::Accepted { .. } => "accept",
            ProblemAction::Routed { .. } => "route",
            ProblemAction::Progress { .. } => "add progress to",
            ProblemAction::Escalated { .. } => "escalate",
            ProblemAction::Urged { .. } => "urge",
            ProblemAction::Resolved { .. } => "resolve",
            ProblemAction::Confirmed { .. } => "confirm",
            ProblemAction::Rejected { .. } => "reject",
            ProblemAction::CalledBack { .. } => "record a call-back on",
            ProblemAction::Closed { .. } => "close",
            ProblemAction::ClosedUnanswered { .. } => "close as unconfirmed",
            ProblemAction::FollowedUp { .. } => "follow up",
            ProblemAction::Withdrawn { .. } => "withdraw",
            ProblemAction::Merged { .. } => "merge",
            ProblemAction::Unknown => "unknown",
        }
    }

    /// The photos the action carries (a report, a progress note or a resolution may).
    pub fn photos(&self) -> &[PhotoRef] {
        match self {
            ProblemAction::Reported { photos, .. }
            | ProblemAction::Progress { photos, .. }
            | ProblemAction::Resolved { photos, .. } => photos,
            _ => &[],
        }
    }

    /// The event type as stored (`type` field).
    pub fn kind(&self) -> &'static str {
        match self {
            ProblemAction::Reported { .. } => "reported",
            ProblemAction::Accepted { .. } => "accepted",
            ProblemAction::Routed { .. } => "routed",
            ProblemAction::Progress { .. } => "progress",
            ProblemAction::Escalated { .. } => "escalated",
            ProblemAction::Urged { .. } => "urged",
            ProblemAction::Resolved { .. } => "resolved",
            ProblemAction::Confirmed { .. } => "confirmed",
            ProblemAction::Rejected { .. } => "rejected",
            ProblemAction::CalledBack { .. } => "called_back",
            ProblemAction::Closed { .. } => "closed",
            ProblemAction::ClosedUnanswered { .. } => "closed_unanswered",
            ProblemAction::FollowedUp { .. } => "followed_up",
            ProblemAction::Withdrawn { .. } => "withdrawn",
            ProblemAction::Merged { .. } => "merged",
            ProblemAction::Unknown => "unknown",
        }
    }

    /// Normalises and checks the values a user typed. State-dependent checks are in [`ProblemState::apply`].
    pub fn validate(self) -> Result<Self> {
        use ProblemAction::*;
        Ok(match self {
            Reported { enterprise_id, category, title, description, visit_id, photos } => Reported {
                enterprise_id,
                category,
                title: text::required("title", &title, SHORT)?,
                description: text::required("description", &description, LONG)?,
                visit_id,
                photos: photo::validate_all(photos)?,
            },
            Accepted { note } => Accepted { note: text::optional("note", &note, MEDIUM)? },
            Routed { department_id, level, deadline, note } => {
                text::range("level", level.into(), MIN_LEVEL.into(), MAX_LEVEL.into())?;
                Routed { department_id, level, deadline, note: text::optional("note", &note, MEDIUM)? }
            }
            Progress { note, photos } => {
                Progress { note: text::required("note", &note, LONG)?, photos: photo::validate_all(photos)? }
            }
            Escalated { level, reason, department_id, deadline } => {
                text::range("level", level.into(), MIN_LEVEL.into(), MAX_LEVEL.into())?;
                Escalated { level, reason: text::required("reason", &reason, MEDIUM)?, department_id, deadline }
            }
            Urged { note } => Urged { note: text::optional("note", &note, MEDIUM)? },
            Resolved { resolution, photos } => Resolved {
                resolution: text::required("resolution", &resolution, LONG)?,
                photos: photo::validate_all(photos)?,
            },
            Confirmed { rating, comment } => {
                text::range("rating", rating.into(), 1, 5)?;
                Confirmed { rating, comment: text::optional("comment", &comment, MEDIUM)? }
            }
            Rejected { reason } => Rejected { reason: text::required("reason", &reason, MEDIUM)? },
            CalledBack { contact, accepted, rating, note } => {
                let contact = text::required("contact", &contact, SHORT)?;
                if accepted {
                    let rating = rating.ok_or_else(|| DomainError::invalid("rating", Invalid::Empty))?;
                    text::range("rating", rating.into(), 1, 5)?;
                    CalledBack { contact, accepted, rating: Some(rating), note: text::optional("note", &note, MEDIUM)? }
                } else {
                    CalledBack { contact, accepted, rating: None, note: text::required("reason", &note, MEDIUM)? }
                }
            }
            Closed { note } => Closed { note: text::optional("note", &note, MEDIUM)? },
            ClosedUnanswered { note, answer_days } => {
                if let Some(days) = answer_days {
                    let (min, max) = super::calendar::ANSWER_DAYS_RANGE.into_inner();
                    text::range("answer_days", days.into(), min.into(), max.into())?;
                }
                ClosedUnanswered { note: text::optional("note", &note, MEDIUM)?, answer_days }
            }
            FollowedUp { note, still_solved } => {
                FollowedUp { note: text::required("note", &note, LONG)?, still_solved }
            }
            Withdrawn { reason } => Withdrawn { reason: text::required("reason", &reason, MEDIUM)? },
            Merged { into, reason } => {
                if !super::is_plain_id(&into) {
                    return Err(DomainError::invalid("into", Invalid::Format { expected: "a problem id" }));
                }
                Merged { into, reason: text::required("reason", &reason, MEDIUM)? }
            }
            Unknown => Unknown,
        })
    }
}

/// The current state of a problem, derived from its events.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ProblemState {
    pub enterprise_id: String,
    pub category: Category,
    pub title: String,
    pub description: String,
    pub visit_id: Option<String>,
    pub status: ProblemStatus,
    pub reported_by: String,
    pub reported_by_role: Option<super::Role>,
    pub reported_at: i64,
    /// Handling level, 1..=5; 1 until routed.
    pub level: u8,
    pub department_id: Option<String>,
    pub deadline: Option<i64>,
    pub accepted_at: Option<i64>,
    pub first_routed_at: Option<i64>,
    /// When the latest resolution was recorded (device time of the handler).
    pub resolved_at: Option<i64>,
    pub resolution: Option<String>,
    pub confirmed_at: Option<i64>,
    pub rating: Option<u8>,
    /// Who accepted the resolution, once it is confirmed or closed unanswered.
    pub confirmation: Option<Confirmation>,
    pub closed_at: Option<i64>,
    /// The problem this one was merged into, once merged.
    pub merged_into: Option<String>,
    /// When it was withdrawn or merged.
    pub voided_at: Option<i64>,
    /// The first deadline that passed while the problem was still being handled (before a re-routing,
    /// an escalation or a late resolution moved past it): on-time is judged against it, so that a new
    /// deadline never erases lateness.
    pub missed_deadline: Option<i64>,
    /// The time the latest deadline allowed when it was set: a reopened problem gets as much again.
    pub allotted_ms: i64,
    pub urge_count: u32,
    pub escalation_count: u32,
    pub reopen_count: u32,
    pub follow_up_count: u32,
    /// The photos of every applied event (report, progress notes, resolutions), in order.
    pub photos: Vec<PhotoRef>,
    /// Device time of the latest applied event.
    pub updated_at: i64,
}

impl ProblemState {
    /// Whether the problem is overdue at `now` (see [`is_overdue`]).
    pub fn is_overdue(&self, now: i64) -> bool {
        is_overdue(self.status, self.reported_at, self.deadline, now)
    }

    /// The deadline on-time is judged against: the first one missed, else the one in force.
    pub fn judged_deadline(&self) -> Option<i64> {
        self.missed_deadline.or(self.deadline)
    }

    /// Whether the (latest) resolution came in time: by the judged deadline.
    pub fn resolved_on_time(&self) -> Option<bool> {
        Some(self.resolved_at? <= self.judged_deadline()?)
    }

    /// A deadline set at `at` must lie after the report and after `at` itself.
    fn check_deadline(&self, deadline: i64, at: i64) -> Result<()> {
        if deadline <= self.reported_at {
            return Err(DomainError::invalid("deadline", Invalid::DeadlineBeforeReport));
        }
        if deadline <= at {
            return Err(DomainError::invalid("deadline", Invalid::DeadlinePassed));
        }
        Ok(())
    }

    /// A new deadline set at `at`: a deadline in force that has passed unresolved is remembered.
    fn set_deadline(&mut self, deadline: i64, at: i64) {
        if let Some(old) = self.deadline.filter(|d| *d < at && self.status == ProblemStatus::Routed) {
            self.missed_deadline.get_or_insert(old);
        }
        self.deadline = Some(deadline);
        // Event times are claims (a device's clock): any i64, so the arithmetic saturates.
        self.allotted_ms = deadline.saturating_sub(at);
    }

    /// Back to handling at `at` (a rejection, a negative call-back or follow-up): a late resolution
    /// stays late, and the handler gets a new deadline as long as the last one allowed.
    fn reopen(&mut self, at: i64) {
        if let (Some(r), Some(d)) = (self.resolved_at, self.deadline)
            && r > d
        {
            self.missed_deadline.get_or_insert(d);
        }
        self.status = ProblemStatus::Routed;
        self.reopen_count += 1;
        self.resolved_at = None;
        self.resolution = None;
        self.confirmed_at = None;
        self.rating = None;
        self.confirmation = None;
        self.closed_at = None;
        if self.allotted_ms > 0 {
            self.deadline = Some(at.saturating_add(self.allotted_ms));
        }
    }

    fn wrong_state(&self, action: &ProblemAction) -> DomainError {
        DomainError::InvalidTransition { action: action.verb(), status: self.status.as_str() }
    }
}

impl ProblemState {
    fn confirm(&mut self, at: i64, rating: Option<u8>, by: Confirmation) {
        self.status = ProblemStatus::Confirmed;
        self.confirmed_at = Some(at);
        self.rating = rating;
        self.confirmation = Some(by);
    }
}

impl Fold for ProblemState {
    type Action = ProblemAction;

    fn is_known(action: &ProblemAction) -> bool {
        !matches!(action, ProblemAction::Unknown)
    }

    fn check(&self, event: &Event<ProblemAction>) -> Result<()> {
        use ProblemAction::*;
        use ProblemStatus as S;
        let a = &event.action;
        let status = self.status;
        match a {
            Reported { .. } if status == S::New => {}
            Accepted { .. } if status == S::Reported => {}
            Routed { level, deadline, .. } if matches!(status, S::Reported | S::Accepted | S::Routed) => {
                self.check_deadline(*deadline, event.at)?;
                if *level < self.level {
                    return Err(DomainError::invalid("level", Invalid::LevelNotHigher { current: self.level }));
                }
            }
            Progress { .. } if status != S::New && status != S::Closed => {}
            Escalated { level, deadline, .. } if status == S::Routed => {
                if *level <= self.level {
                    return Err(DomainError::invalid("level", Invalid::LevelNotHigher { current: self.level }));
                }
                if let Some(d) = deadline {
                    self.check_deadline(*d, event.at)?;
                }
            }
            Urged { .. } if status == S::Routed => {}
            Resolved { .. } if status == S::Routed => {}
            Confirmed { .. } | Rejected { .. } | CalledBack { .. } if status == S::Resolved => {}
            ClosedUnanswered { answer_days, .. } if status == S::Resolved => {
                let days = answer_days.unwrap_or(ANSWER_DAYS);
                if event.at < self.resolved_at.unwrap_or(i64::MAX).saturating_add(i64::from(days) * DAY_MS) {
                    return Err(DomainError::invalid("at", Invalid::AnswerPending { days }));
                }
            }
            Closed { .. } if status == S::Confirmed => {}
            FollowedUp { .. } if status == S::Closed => {}
            Withdrawn { .. } if status == S::Reported => {}
            Merged { .. } if matches!(status, S::Reported | S::Accepted | S::Routed) => {}
            _ => return Err(self.wrong_state(a)),
        }
        Ok(())
    }

    fn mutate(&mut self, event: &Event<ProblemAction>) {
        use ProblemAction::*;
        use ProblemStatus as S;
        let at = event.at;
        self.photos.extend(event.action.photos().iter().cloned());
        match &event.action {
            Reported { enterprise_id, category, title, description, visit_id, .. } => {
                self.enterprise_id = enterprise_id.clone();
                self.category = *category;
                self.title = title.clone();
                self.description = description.clone();
                self.visit_id = visit_id.clone();
                self.status = S::Reported;
                self.reported_by = event.by.clone();
                self.reported_by_role = Some(event.role);
                self.reported_at = at;
                self.level = MIN_LEVEL;
            }
            Accepted { .. } => {
                self.status = S::Accepted;
                self.accepted_at = Some(at);
            }
            Routed { department_id, level, deadline, .. } => {
                self.set_deadline(*deadline, at);
                self.status = S::Routed;
                self.accepted_at.get_or_insert(at);
                self.first_routed_at.get_or_insert(at);
                self.department_id = Some(department_id.clone());
                self.level = *level;
            }
            Progress { .. } => {}
            Escalated { level, department_id, deadline, .. } => {
                self.level = *level;
                self.escalation_count += 1;
                if let Some(d) = department_id {
                    self.department_id = Some(d.clone());
                }
                if let Some(d) = deadline {
                    self.set_deadline(*d, at);
                }
            }
            Urged { .. } => self.urge_count += 1,
            Resolved { resolution, .. } => {
                self.status = S::Resolved;
                self.resolved_at = Some(at);
                self.resolution = Some(resolution.clone());
            }
            Confirmed { rating, .. } => self.confirm(at, Some(*rating), Confirmation::Enterprise),
            CalledBack { accepted: true, rating, .. } => self.confirm(at, *rating, Confirmation::CallBack),
            Rejected { .. } | CalledBack { accepted: false, .. } => self.reopen(at),
            Closed { .. } => {
                self.status = S::Closed;
                self.closed_at = Some(at);
            }
            ClosedUnanswered { .. } => {
                self.status = S::Closed;
                self.closed_at = Some(at);
                self.confirmation = Some(Confirmation::Unanswered);
            }
            FollowedUp { still_solved, .. } => {
                self.follow_up_count += 1;
                if !still_solved {
                    self.reopen(at);
                }
            }
            Withdrawn { .. } => {
                self.status = S::Withdrawn;
                self.voided_at = Some(at);
            }
            Merged { into, .. } => {
                self.status = S::Merged;
                self.merged_into = Some(into.clone());
                self.voided_at = Some(at);
            }
            Unknown => {}
        }
        self.updated_at = self.updated_at.max(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::fold;
    use crate::domain::{Event, Role};

    fn ev(id: &str, at: i64, seen: &str, action: ProblemAction) -> Event<ProblemAction> {
        let seen = if seen.is_empty() { vec![] } else { vec![seen.to_owned()] };
        Event {
            id: id.into(),
            by: "office".into(),
            role: Role::Manager,
            device: "d".into(),
            at,
            seen,
            origin: None,
            action,
        }
    }

    #[test]
    fn deadlines_saturate_whatever_the_events_claim_as_times() {
        // Event times are a device's claims: a problem reported and routed at i64::MIN got the
        // time it allotted as `deadline - at` (overflowing), and a reopening `at + allotted`.
        use ProblemAction::*;
        let events = vec![
            ev(
                "p-1",
                i64::MIN,
                "",
                Reported {
                    enterprise_id: "e".into(),
                    category: Category::Financing,
                    title: "t".into(),
                    description: "d".into(),
                    visit_id: None,
                    photos: vec![],
                },
            ),
            ev(
                "p-2",
                i64::MIN + 1,
                "p-1",
                Routed { department_id: "x".into(), level: 1, deadline: 1_000, note: String::new() },
            ),
            ev("p-3", 2_000, "p-2", Resolved { resolution: "r".into(), photos: vec![] }),
            ev("p-4", 3_000, "p-3", Rejected { reason: "no".into() }),
        ];
        let (state, folded) = fold::<ProblemState>(events);
        assert!(folded.iter().all(|f| f.outcome == crate::domain::Outcome::Applied), "{folded:?}");
        assert_eq!(state.allotted_ms, i64::MAX);
        assert_eq!(state.deadline, Some(i64::MAX));
        assert!(!is_overdue(ProblemStatus::Reported, i64::MAX, None, 0));
    }
}
