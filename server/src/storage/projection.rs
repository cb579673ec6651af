//! Relational projections of documents, written by the relay in the same transaction as the changes
//! they come from. The dashboard reads these tables; they are rebuilt from a document at every push.

use zhuqi_core::document::Document;
use zhuqi_core::domain::event::fold;
use zhuqi_core::domain::{
    DocKind, EnterpriseState, Event, Outcome, PhotoRef, PolicyState, ProblemAction, ProblemState, Role, TaskNoticeState,
};

/// One event of a problem's timeline, as projected.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub event_id: String,
    pub kind: String,
    pub by: String,
    pub role: Role,
    pub device: String,
    pub at: i64,
    /// `applied`, `conflict`, `rejected` or `unknown`.
    pub outcome: &'static str,
    /// The photos it names (a report, a progress note, a resolution).
    pub photos: Vec<PhotoRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    Enterprise(EnterpriseState),
    Problem { region_id: String, enterprise_name: String, state: ProblemState, conflicts: u32, events: Vec<EventRow> },
    TaskNotice(TaskNoticeState),
    Policy(PolicyState),
}

fn outcome(o: &Outcome) -> &'static str {
    match o {
        Outcome::Applied => "applied",
        Outcome::Conflict { .. } => "conflict",
        Outcome::Rejected { .. } => "rejected",
        Outcome::Unknown => "unknown",
    }
}

/// Derives the projection of a document.
pub fn project(kind: DocKind, doc: &Document) -> Projection {
    match kind {
        DocKind::Enterprise => Projection::Enterprise(fold::<EnterpriseState>(doc.events()).0),
        DocKind::TaskNotice => Projection::TaskNotice(fold::<TaskNoticeState>(doc.events()).0),
        DocKind::Policy => Projection::Policy(fold::<PolicyState>(doc.events()).0),
        DocKind::Problem => {
            let events: Vec<Event<ProblemAction>> = doc.events();
            let (state, folded) = fold::<ProblemState>(events);
            let conflicts = folded.iter().filter(|f| matches!(f.outcome, Outcome::Conflict { .. })).count() as u32;
            let events = folded
                .iter()
                .map(|f| EventRow {
                    event_id: f.event.id.clone(),
                    kind: f.event.action.kind().to_owned(),
                    by: f.event.by.clone(),
                    role: f.event.role,
                    device: f.event.device.clone(),
                    at: f.event.at,
                    outcome: outcome(&f.outcome),
                    photos: f.event.action.photos().to_vec(),
                })
                .collect();
            Projection::Problem {
                region_id: doc.header("region_id").unwrap_or_default(),
                enterprise_name: doc.header("enterprise_name").unwrap_or_default(),
                state,
                conflicts,
                events,
            }
        }
    }
}
