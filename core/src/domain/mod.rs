//! The domain model: who the users are, what enterprises, visits, problems and task notices are, and
//! how each document's state follows from its event log. Pure data and functions: no storage, no I/O.

pub mod directory;
pub mod enterprise;
pub mod event;
pub mod problem;
pub mod task_notice;
pub mod text;
pub mod uscc;

pub use directory::{Department, Directory, DirectoryLookup, Region, RegionLevel, Role, User};
pub use enterprise::{
    Assignment, Contact, EnterpriseAction, EnterpriseState, PhotoRef, Profile, ProfileUpdate, Visit, VisitRecord,
};
pub use event::{Event, Fold, Folded, Outcome};
pub use problem::{Category, ProblemAction, ProblemState, ProblemStatus};
pub use task_notice::{Recipient, RecipientState, TaskNoticeAction, TaskNoticeState};
pub use text::Location;

/// The kinds of Automerge document zhuqi keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    Enterprise,
    Problem,
    TaskNotice,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Enterprise => "enterprise",
            DocKind::Problem => "problem",
            DocKind::TaskNotice => "task_notice",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "enterprise" => DocKind::Enterprise,
            "problem" => DocKind::Problem,
            "task_notice" => DocKind::TaskNotice,
            _ => return None,
        })
    }
}
