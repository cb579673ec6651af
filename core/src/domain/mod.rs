//! The domain model: who the users are, what enterprises, visits, problems and task notices are, and
//! how each document's state follows from its event log. Pure data and functions: no storage, no I/O.

pub mod calendar;
pub mod directory;
pub mod enterprise;
pub mod error;
pub mod event;
pub mod open_enum;
pub mod photo;
pub mod policy;
pub mod problem;
pub mod task_notice;
pub mod text;
pub mod uscc;

pub use calendar::{Calendar, CalendarDay, OfficeSettings};
pub use directory::{Department, Directory, DirectoryLookup, Region, RegionLevel, Role, User};
pub use enterprise::{
    Assignment, Contact, Correction, CorrectionRecord, EnterpriseAction, EnterpriseState, Profile, ProfileUpdate,
    Scale, SizeBand, VISIT_CORRECTION_DAYS, Visit, VisitCorrection, VisitRecord,
};
pub use error::DomainError;
pub use event::{Event, Fold, Folded, Origin, Outcome};
pub use photo::PhotoRef;
pub use policy::{PolicyAction, PolicyState};
pub use problem::{Category, ProblemAction, ProblemState, ProblemStatus};
pub use task_notice::{Recipient, RecipientState, TaskNoticeAction, TaskNoticeState};
pub use text::Location;

/// The longest plain id (see [`is_plain_id`]).
pub const MAX_ID_LEN: usize = 64;

/// Whether `id` is a plain id: 1 to [`MAX_ID_LEN`] ASCII letters, digits, `-`, `_`, `:` and `.`.
/// Document ids are plain: the apps and the relay make UUIDs, and imports and tests name enterprises
/// `ent-…`. The relay refuses a push naming any other id, so an id is stored, logged and shown as is.
pub fn is_plain_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
}

/// The kinds of Automerge document zhuqi keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    Enterprise,
    Problem,
    TaskNotice,
    Policy,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Enterprise => "enterprise",
            DocKind::Problem => "problem",
            DocKind::TaskNotice => "task_notice",
            DocKind::Policy => "policy",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "enterprise" => DocKind::Enterprise,
            "problem" => DocKind::Problem,
            "task_notice" => DocKind::TaskNotice,
            "policy" => DocKind::Policy,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_the_ids_zhuqi_makes() {
        for id in [
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "ent-a",
            "ent-0000001",
            "demo-ent-001-problem3",
            "410102-cadre1",
            "dept:finance.v2",
            "x",
            &"a".repeat(MAX_ID_LEN),
        ] {
            assert!(is_plain_id(id), "{id}");
        }
        for id in [
            "",
            &"a".repeat(MAX_ID_LEN + 1),
            "ent a",
            "ent-a\nERROR password reset",
            "ent-a\r",
            "企业",
            "ent/a",
            "ent%0a",
            "ent\u{1b}[31m",
        ] {
            assert!(!is_plain_id(id), "{id:?}");
        }
    }
}
