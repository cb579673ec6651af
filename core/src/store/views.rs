//! What the store's queries return: plain records, shaped for the screens of the app.

use crate::domain::{
    Category, Contact, Location, Outcome, PhotoRef, ProblemAction, ProblemState, ProblemStatus, Profile, Recipient,
    Role, TaskNoticeAction, User,
};
use serde::Serialize;

/// An enterprise as listed on "my enterprises".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnterpriseSummary {
    pub id: String,
    pub name: String,
    pub uscc: String,
    pub region_id: String,
    pub industry: String,
    pub tags: Vec<String>,
    pub address: String,
    pub visit_count: u32,
    pub last_visit_date: Option<String>,
    pub open_problems: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssignmentView {
    pub cadre_id: String,
    /// The cadre as the directory holds them (name, mobile, position, work unit), if it does.
    pub cadre: Option<User>,
    pub chief: bool,
    pub since: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitView {
    pub id: String,
    pub cadre_id: String,
    pub cadre_name: Option<String>,
    pub date: String,
    pub people_met: Vec<String>,
    pub notes: String,
    pub policies: Vec<String>,
    pub policy_ids: Vec<String>,
    pub location: Option<Location>,
    pub photos: Vec<PhotoRef>,
    pub recorded_at: i64,
    /// Corrections of the visit, oldest first, each with the values it replaced (the fields above
    /// are the corrected ones).
    pub corrections: Vec<crate::domain::VisitCorrection>,
}

/// An enterprise with everything a cadre looks at before a visit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnterpriseDetail {
    pub id: String,
    pub profile: Profile,
    pub contacts: Vec<Contact>,
    pub assignments: Vec<AssignmentView>,
    /// Newest first.
    pub visits: Vec<VisitView>,
    pub problems: Vec<ProblemSummary>,
    /// Corrections of the registered facts, oldest first, with the values they replaced.
    pub corrections: Vec<crate::domain::CorrectionRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProblemSummary {
    pub id: String,
    pub enterprise_id: String,
    pub enterprise_name: String,
    pub category: Category,
    pub title: String,
    pub status: ProblemStatus,
    pub level: u8,
    pub department_id: Option<String>,
    pub department_name: Option<String>,
    pub deadline: Option<i64>,
    pub reported_at: i64,
    pub resolved_at: Option<i64>,
    pub rating: Option<u8>,
    pub urge_count: u32,
    pub overdue: bool,
    /// Events that conflicted with a concurrent one (shown as such in the timeline).
    pub conflict_count: u32,
    pub updated_at: i64,
}

/// One step of a problem's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub event_id: String,
    pub by: String,
    pub by_name: Option<String>,
    pub role: Role,
    pub device: String,
    /// Device time of the action.
    pub at: i64,
    pub action: ProblemAction,
    pub outcome: Outcome,
    /// Earlier events the author had not seen when acting.
    pub concurrent_with: Vec<String>,
    /// For an event imported from a previous platform (导入): its record there.
    pub origin: Option<crate::domain::Origin>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProblemDetail {
    pub summary: ProblemSummary,
    pub state: ProblemState,
    pub timeline: Vec<TimelineEntry>,
}

/// Selects problems; empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProblemFilter {
    pub statuses: Vec<ProblemStatus>,
    pub level: Option<u8>,
    pub department_id: Option<String>,
    pub enterprise_id: Option<String>,
    pub category: Option<Category>,
    /// Only problems past their deadline and not yet resolved.
    pub overdue: bool,
    /// Only problems waiting for the signed-in user's next step.
    pub awaiting_me: bool,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskNoticeSummary {
    pub id: String,
    pub title: String,
    pub issued_by: String,
    pub issued_at: i64,
    pub deadline: i64,
    /// `issued` or `completed` (every recipient done).
    pub status: String,
    pub recipients: u32,
    pub completed: u32,
    /// For a recipient: whether they acknowledged / completed it.
    pub my_acknowledged: Option<bool>,
    pub my_completed: Option<bool>,
    pub overdue: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecipientView {
    pub recipient: Recipient,
    pub name: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub note: String,
    pub on_time: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskNoticeDetail {
    pub summary: TaskNoticeSummary,
    /// The issuing office's name, where the directory holds it.
    pub issued_by_name: Option<String>,
    pub body: String,
    pub region_id: String,
    pub recipients: Vec<RecipientView>,
    pub history: Vec<(String, TaskNoticeAction, Outcome)>,
}

/// The figures on the home screen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HomeCounts {
    /// Problems not closed.
    pub open: u32,
    /// Routed problems past their deadline.
    pub overdue: u32,
    /// Resolved problems waiting for the enterprise's confirmation.
    pub awaiting_confirmation: u32,
    /// Problems waiting for the signed-in user's next step.
    pub awaiting_me: u32,
    /// Task notices addressed to the user and not completed.
    pub task_notices_open: u32,
    /// Local changes not yet acknowledged by the relay.
    pub unsynced_changes: u32,
}

/// A document with local changes the relay does not hold yet: waiting to be pushed, or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsyncedDocument {
    pub doc_id: String,
    pub kind: crate::domain::DocKind,
    /// `Rejected` when the relay refused some of its changes (see the quarantine), else `Waiting`.
    pub status: super::DocSyncStatus,
    /// Local changes waiting to be pushed.
    pub waiting: u32,
    /// Local changes the relay refused, kept in the quarantine.
    pub refused: u32,
    /// What it is, as lists show it: the enterprise's name, the problem's, task notice's or policy's
    /// title; `None` when the device does not hold it (a refused creation the relay never stored).
    pub title: Option<String>,
}
