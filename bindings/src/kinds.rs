//! The kinds and statuses apps switch on, as enums rather than strings. Where the value comes from
//! data another device wrote (an event, an index row, the relay), the enum has an `Unknown` case for
//! what a newer version may write: show "需更新版本查看" for it, as for `Role::Unknown`. Where the
//! value is worked out by this library's own core (a size band, who accepted a resolution), it has
//! none: the core and these bindings ship together.

use zhuqi_core::domain;

/// One step of a problem's history: what its event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ProblemEventKind {
    /// 上报
    Reported,
    /// 受理
    Accepted,
    /// 交办 to a department
    Routed,
    /// 办理进展
    Progress,
    /// 提级督办
    Escalated,
    /// 催办
    Urged,
    /// 办结 by the department
    Resolved,
    /// 企业确认, with a rating
    Confirmed,
    /// 企业退回: the resolution was rejected and the problem reopened
    Rejected,
    /// 回访代确认: the campaign office recorded the enterprise's answer on a call-back
    CalledBack,
    /// 销号
    Closed,
    /// 超时未确认: closed after the enterprise did not answer in time
    ClosedUnanswered,
    /// 回头看
    FollowedUp,
    /// 撤回 by its reporter
    Withdrawn,
    /// 合并 into another problem
    Merged,
    /// Written by a newer app version: show "需更新版本查看".
    Unknown,
}

impl From<&domain::ProblemAction> for ProblemEventKind {
    fn from(a: &domain::ProblemAction) -> Self {
        use domain::ProblemAction as A;
        match a {
            A::Reported { .. } => ProblemEventKind::Reported,
            A::Accepted { .. } => ProblemEventKind::Accepted,
            A::Routed { .. } => ProblemEventKind::Routed,
            A::Progress { .. } => ProblemEventKind::Progress,
            A::Escalated { .. } => ProblemEventKind::Escalated,
            A::Urged { .. } => ProblemEventKind::Urged,
            A::Resolved { .. } => ProblemEventKind::Resolved,
            A::Confirmed { .. } => ProblemEventKind::Confirmed,
            A::Rejected { .. } => ProblemEventKind::Rejected,
            A::CalledBack { .. } => ProblemEventKind::CalledBack,
            A::Closed { .. } => ProblemEventKind::Closed,
            A::ClosedUnanswered { .. } => ProblemEventKind::ClosedUnanswered,
            A::FollowedUp { .. } => ProblemEventKind::FollowedUp,
            A::Withdrawn { .. } => ProblemEventKind::Withdrawn,
            A::Merged { .. } => ProblemEventKind::Merged,
            A::Unknown => ProblemEventKind::Unknown,
        }
    }
}

/// Who accepted a problem's resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Confirmation {
    /// The enterprise itself, on its own phone.
    Enterprise,
    /// The campaign office, recording the enterprise's answer on a call-back (代确认).
    CallBack,
    /// Nobody: the enterprise did not answer in time and the office closed it (超时未确认).
    Unanswered,
}

impl From<domain::problem::Confirmation> for Confirmation {
    fn from(c: domain::problem::Confirmation) -> Self {
        use domain::problem::Confirmation as C;
        match c {
            C::Enterprise => Confirmation::Enterprise,
            C::CallBack => Confirmation::CallBack,
            C::Unanswered => Confirmation::Unanswered,
        }
    }
}

/// An enterprise's size band (企业规模), from its employees and revenue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum SizeBand {
    /// 大型
    Large,
    /// 中型
    Medium,
    /// 小型
    Small,
    /// 微型
    Micro,
}

impl From<domain::enterprise::SizeBand> for SizeBand {
    fn from(b: domain::enterprise::SizeBand) -> Self {
        use domain::enterprise::SizeBand as B;
        match b {
            B::Large => SizeBand::Large,
            B::Medium => SizeBand::Medium,
            B::Small => SizeBand::Small,
            B::Micro => SizeBand::Micro,
        }
    }
}

/// Where a photo stands on its way to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PhotoUploadState {
    /// Queued: an event names it and it waits for a sync (or for Wi-Fi).
    Waiting,
    /// Going now (told to a `PhotoListener` as chunks are acknowledged).
    Uploading,
    /// The relay holds it whole.
    Done,
    /// The relay refused it; `reason` says why.
    Failed,
    /// A state of a newer version.
    Unknown,
}

impl PhotoUploadState {
    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "waiting" => PhotoUploadState::Waiting,
            "uploading" => PhotoUploadState::Uploading,
            "done" => PhotoUploadState::Done,
            "failed" => PhotoUploadState::Failed,
            _ => PhotoUploadState::Unknown,
        }
    }
}

/// Where an enterprise stands with a policy, as it (or its cadre for it) said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PolicyMark {
    /// 有意向
    Interested,
    /// 已申报
    Applied,
    /// A mark of a newer version.
    Unknown,
}

impl PolicyMark {
    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "interested" => PolicyMark::Interested,
            "applied" => PolicyMark::Applied,
            _ => PolicyMark::Unknown,
        }
    }
}

/// Where a task notice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum TaskNoticeStatus {
    /// 进行中: some recipient has not completed it.
    Issued,
    /// 已完成: every recipient completed it.
    Completed,
    /// A status of a newer version.
    Unknown,
}

impl TaskNoticeStatus {
    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "issued" => TaskNoticeStatus::Issued,
            "completed" => TaskNoticeStatus::Completed,
            _ => TaskNoticeStatus::Unknown,
        }
    }
}

/// What kind of record a document (or a search result) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum DocumentKind {
    /// Open with `enterprise(id)`.
    Enterprise,
    /// Open with `problem(id)`.
    Problem,
    /// Open with `task_notice(id)`.
    TaskNotice,
    /// Find it among `policies()`.
    Policy,
    /// A kind of a newer version.
    Unknown,
}

impl DocumentKind {
    pub(crate) fn parse(s: &str) -> Self {
        domain::DocKind::parse(s).map_or(DocumentKind::Unknown, Into::into)
    }
}

impl From<domain::DocKind> for DocumentKind {
    fn from(k: domain::DocKind) -> Self {
        match k {
            domain::DocKind::Enterprise => DocumentKind::Enterprise,
            domain::DocKind::Problem => DocumentKind::Problem,
            domain::DocKind::TaskNotice => DocumentKind::TaskNotice,
            domain::DocKind::Policy => DocumentKind::Policy,
        }
    }
}

/// Why the relay refused a change (see `quarantine()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum RefusalCode {
    /// The change does not parse.
    Malformed,
    /// Made under a device identity the relay does not know for this phone.
    ForeignActor,
    /// It depends on changes the relay does not hold (ones it refused before).
    MissingDependencies,
    /// It edits or deletes history.
    NotAppendOnly,
    /// It names somebody else as its author.
    ForgedAuthor,
    /// The user may not do this (any more).
    NotAllowed,
    /// It does not fit the state its author saw, or its values are invalid.
    InvalidAction,
    /// The item left what the user may read or write (re-routed elsewhere, an assignment ended)
    /// before the change reached the relay.
    OutOfScope,
    /// A code of a newer version.
    Unknown,
}

impl RefusalCode {
    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "malformed" => RefusalCode::Malformed,
            "foreign_actor" => RefusalCode::ForeignActor,
            "missing_dependencies" => RefusalCode::MissingDependencies,
            "not_append_only" => RefusalCode::NotAppendOnly,
            "forged_author" => RefusalCode::ForgedAuthor,
            "not_allowed" => RefusalCode::NotAllowed,
            "invalid_action" => RefusalCode::InvalidAction,
            "out_of_scope" => RefusalCode::OutOfScope,
            _ => RefusalCode::Unknown,
        }
    }

    /// What to tell the user, in Chinese.
    pub(crate) fn message_zh(self) -> String {
        use zhuqi_core::sync::protocol::RejectCode as C;
        let code = match self {
            RefusalCode::Malformed => C::Malformed,
            RefusalCode::ForeignActor => C::ForeignActor,
            RefusalCode::MissingDependencies => C::MissingDependencies,
            RefusalCode::NotAppendOnly => C::NotAppendOnly,
            RefusalCode::ForgedAuthor => C::ForgedAuthor,
            RefusalCode::NotAllowed => C::NotAllowed,
            RefusalCode::InvalidAction => C::InvalidAction,
            RefusalCode::OutOfScope => C::OutOfScope,
            RefusalCode::Unknown => return "修改未被服务器接受".into(),
        };
        code.message_zh().into()
    }
}

/// A region's administrative level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum RegionLevel {
    /// 省
    Province,
    /// 市
    City,
    /// 县区
    County,
    /// 乡镇 / 街道
    Township,
    /// A level of a newer version.
    Unknown,
}

impl From<domain::RegionLevel> for RegionLevel {
    fn from(l: domain::RegionLevel) -> Self {
        match l {
            domain::RegionLevel::Province => RegionLevel::Province,
            domain::RegionLevel::City => RegionLevel::City,
            domain::RegionLevel::County => RegionLevel::County,
            domain::RegionLevel::Township => RegionLevel::Township,
            domain::RegionLevel::Unknown(_) => RegionLevel::Unknown,
        }
    }
}

/// The kind of record an id names (in `ZhuqiError.NotFound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum EntityKind {
    Enterprise,
    Problem,
    TaskNotice,
    Policy,
    Region,
    Department,
    User,
    Visit,
    /// A document of any kind.
    Document,
}

impl From<domain::error::Entity> for EntityKind {
    fn from(e: domain::error::Entity) -> Self {
        use domain::error::Entity as E;
        match e {
            E::Enterprise => EntityKind::Enterprise,
            E::Problem => EntityKind::Problem,
            E::TaskNotice => EntityKind::TaskNotice,
            E::Policy => EntityKind::Policy,
            E::Region => EntityKind::Region,
            E::Department => EntityKind::Department,
            E::User => EntityKind::User,
            E::Visit => EntityKind::Visit,
            E::Document => EntityKind::Document,
        }
    }
}
