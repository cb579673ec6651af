//! Records and enums the app shows, with `///` docs that become the Kotlin and Swift docs. Each is
//! converted from the core's own view types.

use crate::kinds::*;
use zhuqi_core::domain::{self, Outcome};
use zhuqi_core::store::{self as core_store};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    /// 助企干部: visits assigned enterprises, reports problems.
    Cadre,
    /// 责任单位: handles problems routed to the department.
    DepartmentHandler,
    /// 活动办: oversees a region.
    Manager,
    /// 企业负责人: speaks for one enterprise.
    EnterpriseContact,
    /// A role of a newer app version: show "需更新版本查看". It has no rights on this version.
    Unknown,
}

impl From<domain::Role> for Role {
    fn from(r: domain::Role) -> Self {
        match r {
            domain::Role::Cadre => Role::Cadre,
            domain::Role::DepartmentHandler => Role::DepartmentHandler,
            domain::Role::Manager => Role::Manager,
            domain::Role::EnterpriseContact => Role::EnterpriseContact,
            domain::Role::Unknown(_) => Role::Unknown,
        }
    }
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct UserProfile {
    pub user_id: String,
    pub name: String,
    pub role: Role,
    pub region_id: Option<String>,
    pub department_id: Option<String>,
    pub enterprise_id: Option<String>,
    pub device_id: String,
}

impl From<core_store::Identity> for UserProfile {
    fn from(i: core_store::Identity) -> Self {
        UserProfile {
            user_id: i.user_id,
            name: i.name,
            role: i.role.into(),
            region_id: i.region_id,
            department_id: i.department_id,
            enterprise_id: i.enterprise_id,
            device_id: i.device_id,
        }
    }
}

/// What a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Category {
    Financing,
    Land,
    Labour,
    Approvals,
    Utilities,
    Legal,
    Policy,
    Market,
    Other,
    /// A category of a newer app version: show "需更新版本查看". The app cannot report one.
    Unknown,
}

impl From<domain::Category> for Category {
    fn from(c: domain::Category) -> Self {
        use domain::Category as C;
        match c {
            C::Financing => Category::Financing,
            C::Land => Category::Land,
            C::Labour => Category::Labour,
            C::Approvals => Category::Approvals,
            C::Utilities => Category::Utilities,
            C::Legal => Category::Legal,
            C::Policy => Category::Policy,
            C::Market => Category::Market,
            C::Other => Category::Other,
            C::Unknown(_) => Category::Unknown,
        }
    }
}

impl From<Category> for domain::Category {
    fn from(c: Category) -> Self {
        use domain::Category as C;
        match c {
            Category::Financing => C::Financing,
            Category::Land => C::Land,
            Category::Labour => C::Labour,
            Category::Approvals => C::Approvals,
            Category::Utilities => C::Utilities,
            Category::Legal => C::Legal,
            Category::Policy => C::Policy,
            Category::Market => C::Market,
            Category::Other => C::Other,
            // Refused by the store when reported; selects nothing as a filter.
            Category::Unknown => C::Unknown(""),
        }
    }
}

/// Where a problem stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ProblemStatus {
    /// 已上报
    Reported,
    /// 已受理
    Accepted,
    /// 办理中 (routed to a department)
    Routed,
    /// 已办结, waiting for the enterprise
    Resolved,
    /// 企业已确认
    Confirmed,
    /// 已销号
    Closed,
    /// 已撤回 (withdrawn by its reporter before acceptance)
    Withdrawn,
    /// 已合并 (a duplicate merged into another problem)
    Merged,
}

impl From<domain::ProblemStatus> for ProblemStatus {
    fn from(s: domain::ProblemStatus) -> Self {
        use domain::ProblemStatus as S;
        match s {
            S::New | S::Reported => ProblemStatus::Reported,
            S::Accepted => ProblemStatus::Accepted,
            S::Routed => ProblemStatus::Routed,
            S::Resolved => ProblemStatus::Resolved,
            S::Confirmed => ProblemStatus::Confirmed,
            S::Closed => ProblemStatus::Closed,
            S::Withdrawn => ProblemStatus::Withdrawn,
            S::Merged => ProblemStatus::Merged,
        }
    }
}

impl From<ProblemStatus> for domain::ProblemStatus {
    fn from(s: ProblemStatus) -> Self {
        use domain::ProblemStatus as S;
        match s {
            ProblemStatus::Reported => S::Reported,
            ProblemStatus::Accepted => S::Accepted,
            ProblemStatus::Routed => S::Routed,
            ProblemStatus::Resolved => S::Resolved,
            ProblemStatus::Confirmed => S::Confirmed,
            ProblemStatus::Closed => S::Closed,
            ProblemStatus::Withdrawn => S::Withdrawn,
            ProblemStatus::Merged => S::Merged,
        }
    }
}

/// The campaign office settings in force at a region.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OfficeSettingsRecord {
    /// The region whose office chose them (the region asked about, or one above it).
    pub region_id: String,
    /// Days an enterprise has to confirm or reject a resolution before the office may close it
    /// as 超时未确认.
    pub answer_days: u32,
    /// Whether the office's deadlines count working days.
    pub working_days: bool,
}

impl From<domain::OfficeSettings> for OfficeSettingsRecord {
    fn from(s: domain::OfficeSettings) -> Self {
        OfficeSettingsRecord { region_id: s.region_id, answer_days: s.answer_days, working_days: s.working_days }
    }
}

/// A position measured by the phone.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct GeoLocation {
    pub lat: f64,
    pub lon: f64,
    /// Accuracy radius, metres.
    pub accuracy_m: f64,
    /// The platform says a mock-location provider gave it (Android `Location.isMock`, iOS
    /// `CLLocationSourceInformation.isSimulatedBySoftware`); managers see such visits flagged.
    #[uniffi(default = false)]
    pub mock: bool,
}

/// An enterprise on the "my enterprises" list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EnterpriseCard {
    pub id: String,
    pub name: String,
    /// Unified social credit code.
    pub uscc: String,
    pub region_id: String,
    pub industry: String,
    pub tags: Vec<String>,
    pub address: String,
    pub visit_count: u32,
    /// `YYYY-MM-DD` of the latest visit.
    pub last_visit_date: Option<String>,
    pub open_problems: u32,
}

impl From<core_store::EnterpriseSummary> for EnterpriseCard {
    fn from(e: core_store::EnterpriseSummary) -> Self {
        EnterpriseCard {
            id: e.id,
            name: e.name,
            uscc: e.uscc,
            region_id: e.region_id,
            industry: e.industry,
            tags: e.tags,
            address: e.address,
            visit_count: e.visit_count,
            last_visit_date: e.last_visit_date,
            open_problems: e.open_problems,
        }
    }
}

/// A person to talk to at an enterprise.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ContactPerson {
    pub name: String,
    #[uniffi(default = "")]
    pub title: String,
    #[uniffi(default = "")]
    pub phone: String,
}

/// A visit as recorded.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VisitInfo {
    pub id: String,
    pub cadre_id: String,
    pub cadre_name: Option<String>,
    pub date: String,
    pub people_met: Vec<String>,
    pub notes: String,
    pub policies: Vec<String>,
    /// Policies of the library explained, by id.
    pub policy_ids: Vec<String>,
    pub location: Option<GeoLocation>,
    /// The photos taken.
    pub photos: Vec<Photo>,
    /// Corrections (更正): why each was made, oldest first; the fields above are the corrected ones.
    pub correction_reasons: Vec<String>,
}

/// A cadre assigned to an enterprise.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AssignedCadre {
    pub cadre_id: String,
    pub name: Option<String>,
    /// The chief service officer (首席服务官).
    pub chief: bool,
    /// How to reach the cadre, as the directory holds it (11 digits).
    pub mobile: Option<String>,
    /// 职务, e.g. 副局长.
    pub position: Option<String>,
    /// 工作单位, e.g. 市发展改革委.
    pub unit: Option<String>,
}

/// An enterprise with what a cadre looks at before a visit.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EnterpriseDetail {
    pub card: EnterpriseCard,
    pub contacts: Vec<ContactPerson>,
    pub cadres: Vec<AssignedCadre>,
    /// Newest first.
    pub visits: Vec<VisitInfo>,
    pub problems: Vec<ProblemCard>,
    pub scale: EnterpriseScale,
}

/// The figures an enterprise's size and age are judged by; `None` where not known.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct EnterpriseScale {
    /// Employees (从业人员).
    #[uniffi(default)]
    pub employees: Option<u32>,
    /// Last year's operating revenue (营业收入), in 万元.
    #[uniffi(default)]
    pub revenue: Option<u64>,
    /// Founding day (成立日期), `YYYY-MM-DD`.
    #[uniffi(default)]
    pub founded: Option<String>,
    /// The size band these give, when both employees and revenue are known; ignored when setting.
    #[uniffi(default)]
    pub size_band: Option<SizeBand>,
}

impl From<domain::Scale> for EnterpriseScale {
    fn from(s: domain::Scale) -> Self {
        let size_band = s.band().map(Into::into);
        EnterpriseScale { employees: s.employees, revenue: s.revenue, founded: s.founded, size_band }
    }
}

impl From<EnterpriseScale> for domain::Scale {
    fn from(s: EnterpriseScale) -> Self {
        domain::Scale { employees: s.employees, revenue: s.revenue, founded: s.founded }
    }
}

/// A problem on a list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ProblemCard {
    pub id: String,
    pub enterprise_id: String,
    pub enterprise_name: String,
    pub category: Category,
    pub title: String,
    pub status: ProblemStatus,
    /// Handling level, 1 (chief service officer) … 5 (province).
    pub level: u8,
    pub department_id: Option<String>,
    pub department_name: Option<String>,
    /// Milliseconds since the epoch.
    pub deadline: Option<i64>,
    pub reported_at: i64,
    pub rating: Option<u8>,
    pub urge_count: u32,
    pub overdue: bool,
    /// Events that conflicted with concurrent ones (see the timeline).
    pub conflict_count: u32,
}

impl From<core_store::ProblemSummary> for ProblemCard {
    fn from(p: core_store::ProblemSummary) -> Self {
        ProblemCard {
            id: p.id,
            enterprise_id: p.enterprise_id,
            enterprise_name: p.enterprise_name,
            category: p.category.into(),
            title: p.title,
            status: p.status.into(),
            level: p.level,
            department_id: p.department_id,
            department_name: p.department_name,
            deadline: p.deadline,
            reported_at: p.reported_at,
            rating: p.rating,
            urge_count: p.urge_count,
            overdue: p.overdue,
            conflict_count: p.conflict_count,
        }
    }
}

/// What the fold made of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum EventOutcome {
    /// It took effect.
    Applied,
    /// It did not fit the state left by a concurrent event (shown as a conflict).
    Conflict,
    /// It did not fit the state its author saw.
    Rejected,
    /// Written by a newer app version.
    Unknown,
}

/// One step of a problem's history.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TimelineEntry {
    pub event_id: String,
    /// What the step did.
    pub kind: ProblemEventKind,
    pub by: String,
    pub by_name: Option<String>,
    pub role: Role,
    pub device: String,
    /// Device time, milliseconds since the epoch.
    pub at: i64,
    /// The event's own text (note, reason, resolution…), if any.
    pub text: Option<String>,
    pub outcome: EventOutcome,
    /// For a conflict: the event it conflicted with.
    pub conflict_with: Option<String>,
    /// Earlier events this one's author had not seen.
    pub concurrent_with: Vec<String>,
    /// For a step imported from a previous platform (show 导入): the record's number there.
    pub imported_record: Option<String>,
    /// For a step imported from a previous platform: the person its record names, as written.
    pub imported_person: Option<String>,
    /// The photos of a report, progress note or resolution (`photo_file` for one this phone holds).
    pub photos: Vec<Photo>,
}

/// A problem with its whole timeline.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ProblemDetail {
    pub card: ProblemCard,
    pub description: String,
    pub resolution: Option<String>,
    pub escalation_count: u32,
    pub reopen_count: u32,
    pub follow_up_count: u32,
    /// Who accepted the resolution: the enterprise, the office on a call-back (代确认), or nobody in
    /// time (超时未确认).
    pub confirmation: Option<Confirmation>,
    /// The first deadline missed while it was being handled; on-time is judged against it.
    pub missed_deadline: Option<i64>,
    pub timeline: Vec<TimelineEntry>,
}

fn event_text(a: &domain::ProblemAction) -> Option<String> {
    use domain::ProblemAction as A;
    let t = match a {
        A::Reported { description, .. } => description,
        A::Accepted { note } | A::Routed { note, .. } | A::Urged { note } | A::Closed { note } => note,
        A::ClosedUnanswered { note, .. } | A::CalledBack { note, .. } => note,
        A::Progress { note, .. } | A::FollowedUp { note, .. } => note,
        A::Escalated { reason, .. } | A::Rejected { reason } | A::Withdrawn { reason } => reason,
        A::Merged { reason, .. } => reason,
        A::Resolved { resolution, .. } => resolution,
        A::Confirmed { comment, .. } => comment,
        A::Unknown => return None,
    };
    Some(t.clone()).filter(|t| !t.is_empty())
}

impl From<core_store::ProblemDetail> for ProblemDetail {
    fn from(p: core_store::ProblemDetail) -> Self {
        ProblemDetail {
            description: p.state.description.clone(),
            resolution: p.state.resolution.clone(),
            escalation_count: p.state.escalation_count,
            reopen_count: p.state.reopen_count,
            follow_up_count: p.state.follow_up_count,
            confirmation: p.state.confirmation.map(Into::into),
            missed_deadline: p.state.missed_deadline,
            card: p.summary.into(),
            timeline: p
                .timeline
                .into_iter()
                .map(|e| {
                    let (outcome, conflict_with) = match e.outcome {
                        Outcome::Applied => (EventOutcome::Applied, None),
                        Outcome::Conflict { with, .. } => (EventOutcome::Conflict, Some(with)),
                        Outcome::Rejected { .. } => (EventOutcome::Rejected, None),
                        Outcome::Unknown => (EventOutcome::Unknown, None),
                    };
                    TimelineEntry {
                        kind: (&e.action).into(),
                        text: event_text(&e.action),
                        photos: e.action.photos().iter().cloned().map(Into::into).collect(),
                        event_id: e.event_id,
                        by: e.by,
                        by_name: e.by_name,
                        role: e.role.into(),
                        device: e.device,
                        at: e.at,
                        outcome,
                        conflict_with,
                        concurrent_with: e.concurrent_with,
                        imported_record: e.origin.as_ref().map(|o| o.record.clone()),
                        imported_person: e.origin.and_then(|o| o.person),
                    }
                })
                .collect(),
        }
    }
}

impl From<VisitInput> for core_store::NewVisit {
    fn from(v: VisitInput) -> Self {
        core_store::NewVisit {
            date: v.date,
            people_met: v.people_met,
            notes: v.notes,
            policies: v.policies,
            policy_ids: v.policy_ids,
            location: v.location.map(|l| domain::Location {
                lat: l.lat,
                lon: l.lon,
                accuracy_m: l.accuracy_m,
                mock: l.mock,
            }),
            photos: v.photos.into_iter().map(Into::into).collect(),
        }
    }
}

/// Which enterprises a policy is for; an empty list does not narrow.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct PolicyCriteria {
    /// Regions (within the issuing office's) whose enterprises qualify, subtrees included.
    #[uniffi(default)]
    pub regions: Vec<String>,
    /// Industries, any of which qualifies.
    #[uniffi(default)]
    pub industries: Vec<String>,
    /// Enterprise tags (`above_scale`, `srdi`, `little_giant`, …), any of which qualifies.
    #[uniffi(default)]
    pub tags: Vec<String>,
    /// Size bands (`large`, `medium`, `small`, `micro`), any of which qualifies.
    #[uniffi(default)]
    pub sizes: Vec<String>,
    /// Founded at least this many full years ago (成立满 N 年).
    #[uniffi(default)]
    pub min_age_years: Option<u32>,
    /// Founded fewer than this many full years ago (成立不满 N 年).
    #[uniffi(default)]
    pub under_age_years: Option<u32>,
}

impl From<PolicyCriteria> for domain::policy::Criteria {
    fn from(c: PolicyCriteria) -> Self {
        domain::policy::Criteria {
            regions: c.regions,
            industries: c.industries,
            tags: c.tags,
            sizes: c.sizes,
            min_age_years: c.min_age_years,
            under_age_years: c.under_age_years,
        }
    }
}

impl From<domain::policy::Criteria> for PolicyCriteria {
    fn from(c: domain::policy::Criteria) -> Self {
        PolicyCriteria {
            regions: c.regions,
            industries: c.industries,
            tags: c.tags,
            sizes: c.sizes,
            min_age_years: c.min_age_years,
            under_age_years: c.under_age_years,
        }
    }
}

/// A policy as an office enters it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PolicyInput {
    pub title: String,
    /// The issuing unit as the document names it.
    pub issuer: String,
    /// The document number (文号), may be empty.
    #[uniffi(default = "")]
    pub doc_number: String,
    pub summary: String,
    /// The full text or a link, may be empty.
    #[uniffi(default = "")]
    pub text: String,
    /// `YYYY-MM-DD`, both included.
    pub valid_from: String,
    pub valid_until: String,
    #[uniffi(default = None)]
    pub contact_department: Option<String>,
    pub criteria: PolicyCriteria,
    /// Ids of policies for the same support that may not be combined with this one.
    #[uniffi(default)]
    pub excludes: Vec<String>,
}

impl From<PolicyInput> for domain::policy::PolicyText {
    fn from(p: PolicyInput) -> Self {
        domain::policy::PolicyText {
            title: p.title,
            issuer: p.issuer,
            doc_number: p.doc_number,
            summary: p.summary,
            text: p.text,
            valid_from: p.valid_from,
            valid_until: p.valid_until,
            contact_department: p.contact_department,
            criteria: p.criteria.into(),
            excludes: p.excludes,
        }
    }
}

/// A policy as listed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PolicyInfo {
    pub id: String,
    /// The region it is for (the issuing office's).
    pub region_id: String,
    pub title: String,
    pub issuer: String,
    pub doc_number: String,
    pub summary: String,
    pub valid_from: String,
    pub valid_until: String,
    pub withdrawn: bool,
    pub criteria: PolicyCriteria,
    pub excludes: Vec<String>,
}

impl From<core_store::PolicySummary> for PolicyInfo {
    fn from(p: core_store::PolicySummary) -> Self {
        PolicyInfo {
            id: p.id,
            region_id: p.region_id,
            title: p.title,
            issuer: p.issuer,
            doc_number: p.doc_number,
            summary: p.summary,
            valid_from: p.valid_from,
            valid_until: p.valid_until,
            withdrawn: p.withdrawn,
            criteria: p.criteria.into(),
            excludes: p.excludes,
        }
    }
}

/// A policy as it stands for one enterprise.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PolicyForEnterprise {
    pub policy: PolicyInfo,
    /// Every criterion met, and in force today.
    pub qualifies: bool,
    /// The criteria met, in Chinese (地区：中原区, 标签：专精特新, …).
    pub reasons: Vec<String>,
    /// What keeps it out, in Chinese (标签：需为小巨人之一, 有效期：…).
    pub missing: Vec<String>,
    /// The enterprise's mark on it: interested (有意向) or applied (已申报).
    pub mark: Option<PolicyMark>,
}

/// An enterprise that qualifies for a policy, and what it has heard of it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PolicyCandidate {
    pub enterprise_id: String,
    pub name: String,
    /// A visit explained the policy to it.
    pub told: bool,
    /// Its mark on the policy.
    pub mark: Option<PolicyMark>,
}

impl From<core_store::PolicyCandidate> for PolicyCandidate {
    fn from(c: core_store::PolicyCandidate) -> Self {
        let mark = c.mark.as_deref().map(PolicyMark::parse);
        PolicyCandidate { enterprise_id: c.enterprise_id, name: c.name, told: c.told, mark }
    }
}

impl From<core_store::PolicyMatch> for PolicyForEnterprise {
    fn from(m: core_store::PolicyMatch) -> Self {
        PolicyForEnterprise {
            policy: m.policy.into(),
            qualifies: m.matched.qualifies,
            reasons: m.matched.reasons,
            missing: m.matched.missing,
            mark: m.mark.as_deref().map(PolicyMark::parse),
        }
    }
}

/// What a search looks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SearchScope {
    All,
    Enterprises,
    Problems,
    Policies,
}

impl From<SearchScope> for core_store::SearchScope {
    fn from(s: SearchScope) -> Self {
        match s {
            SearchScope::All => core_store::SearchScope::All,
            SearchScope::Enterprises => core_store::SearchScope::Enterprises,
            SearchScope::Problems => core_store::SearchScope::Problems,
            SearchScope::Policies => core_store::SearchScope::Policies,
        }
    }
}

/// Something a search found: open it with `enterprise(id)` or `problem(id)` as `kind` says (or find
/// it among `policies()`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SearchResult {
    /// `Enterprise`, `Problem` or `Policy`.
    pub kind: DocumentKind,
    pub id: String,
    /// The enterprise's name, or the problem's title.
    pub title: String,
    /// What else it was found by: credit code, address, contacts; description and enterprise.
    pub detail: String,
}

impl From<core_store::SearchHit> for SearchResult {
    fn from(h: core_store::SearchHit) -> Self {
        SearchResult { kind: DocumentKind::parse(&h.kind), id: h.id, title: h.title, detail: h.detail }
    }
}

/// Selects problems; empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct ProblemQuery {
    #[uniffi(default)]
    pub statuses: Vec<ProblemStatus>,
    #[uniffi(default = None)]
    pub level: Option<u8>,
    #[uniffi(default = None)]
    pub department_id: Option<String>,
    #[uniffi(default = None)]
    pub enterprise_id: Option<String>,
    #[uniffi(default = None)]
    pub category: Option<Category>,
    /// Only those past their deadline and not resolved.
    #[uniffi(default = false)]
    pub overdue: bool,
    /// Only those waiting for the signed-in user's next step.
    #[uniffi(default = false)]
    pub awaiting_me: bool,
    #[uniffi(default = None)]
    pub limit: Option<u32>,
}

impl From<ProblemQuery> for core_store::ProblemFilter {
    fn from(q: ProblemQuery) -> Self {
        core_store::ProblemFilter {
            statuses: q.statuses.into_iter().map(Into::into).collect(),
            level: q.level,
            department_id: q.department_id,
            enterprise_id: q.enterprise_id,
            category: q.category.map(Into::into),
            overdue: q.overdue,
            awaiting_me: q.awaiting_me,
            limit: q.limit,
        }
    }
}

/// A new visit as the cadre enters it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VisitInput {
    /// `YYYY-MM-DD`.
    pub date: String,
    #[uniffi(default)]
    pub people_met: Vec<String>,
    pub notes: String,
    /// Policies explained, as free text.
    #[uniffi(default)]
    pub policies: Vec<String>,
    /// Policies of the library explained, by id (from `policies_for`).
    #[uniffi(default)]
    pub policy_ids: Vec<String>,
    #[uniffi(default = None)]
    pub location: Option<GeoLocation>,
    /// Photos attached on this phone (`attach_photo`); a correction passes the visit's photos on.
    #[uniffi(default)]
    pub photos: Vec<Photo>,
}

/// A photo a visit carries: the bytes are named by their SHA-256 (lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Photo {
    pub id: String,
    pub sha256: String,
    pub size_bytes: u64,
}

impl From<domain::PhotoRef> for Photo {
    fn from(p: domain::PhotoRef) -> Self {
        Photo { id: p.id, sha256: p.sha256, size_bytes: p.size_bytes }
    }
}

impl From<Photo> for domain::PhotoRef {
    fn from(p: Photo) -> Self {
        domain::PhotoRef { id: p.id, sha256: p.sha256, size_bytes: p.size_bytes }
    }
}

/// A photo on its way to the relay.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PhotoUploadInfo {
    pub sha256: String,
    pub size_bytes: u64,
    pub content_type: String,
    /// `Waiting`, `Done` or `Failed` as listed; `Uploading` (with the bytes the relay holds) as
    /// told to a `PhotoListener` while a photo goes.
    pub state: PhotoUploadState,
    /// Bytes the relay has acknowledged.
    pub uploaded_bytes: u64,
    /// Why the last attempt failed.
    pub reason: Option<String>,
}

impl From<core_store::PhotoUpload> for PhotoUploadInfo {
    fn from(u: core_store::PhotoUpload) -> Self {
        PhotoUploadInfo {
            sha256: u.sha256,
            size_bytes: u.size,
            content_type: u.content_type,
            state: PhotoUploadState::parse(&u.state),
            uploaded_bytes: u.uploaded,
            reason: u.reason,
        }
    }
}

/// A new problem.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ProblemInput {
    pub enterprise_id: String,
    pub category: Category,
    pub title: String,
    pub description: String,
    /// The visit during which it was found.
    #[uniffi(default = None)]
    pub visit_id: Option<String>,
    /// Photos attached on this phone (`attach_photo`).
    #[uniffi(default)]
    pub photos: Vec<Photo>,
}

/// A task notice as listed.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TaskNoticeCard {
    pub id: String,
    pub title: String,
    pub deadline: i64,
    pub status: TaskNoticeStatus,
    pub recipients: u32,
    pub completed: u32,
    /// For a recipient: whether they acknowledged / completed it.
    pub my_acknowledged: Option<bool>,
    pub my_completed: Option<bool>,
    pub overdue: bool,
}

impl From<core_store::TaskNoticeSummary> for TaskNoticeCard {
    fn from(n: core_store::TaskNoticeSummary) -> Self {
        TaskNoticeCard {
            id: n.id,
            title: n.title,
            deadline: n.deadline,
            status: TaskNoticeStatus::parse(&n.status),
            recipients: n.recipients,
            completed: n.completed,
            my_acknowledged: n.my_acknowledged,
            my_completed: n.my_completed,
            overdue: n.overdue,
        }
    }
}

/// The figures on the home screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct HomeCounts {
    pub open: u32,
    pub overdue: u32,
    pub awaiting_confirmation: u32,
    pub awaiting_me: u32,
    pub task_notices_open: u32,
    pub unsynced_changes: u32,
}

impl From<core_store::HomeCounts> for HomeCounts {
    fn from(h: core_store::HomeCounts) -> Self {
        HomeCounts {
            open: h.open,
            overdue: h.overdue,
            awaiting_confirmation: h.awaiting_confirmation,
            awaiting_me: h.awaiting_me,
            task_notices_open: h.task_notices_open,
            unsynced_changes: h.unsynced_changes,
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    pub pushed: u32,
    pub pulled: u32,
    pub rejected: u32,
    pub purged: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub round_trips: u32,
    /// Photos the relay now holds whole after this sync's uploads; photos left (no network, or
    /// refused: see `photo_uploads`) stay queued.
    pub photos_uploaded: u32,
}

impl From<zhuqi_core::sync::SyncReport> for SyncSummary {
    fn from(r: zhuqi_core::sync::SyncReport) -> Self {
        SyncSummary {
            pushed: r.pushed,
            pulled: r.pulled,
            rejected: r.rejected,
            purged: r.purged,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            round_trips: r.round_trips,
            photos_uploaded: 0,
        }
    }
}

/// Where a document stands with the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DocSyncStatus {
    Synced,
    /// Local changes wait to be pushed.
    Waiting,
    /// The relay refused local changes; see the quarantine.
    Rejected,
}

impl From<core_store::DocSyncStatus> for DocSyncStatus {
    fn from(s: core_store::DocSyncStatus) -> Self {
        match s {
            core_store::DocSyncStatus::Synced => DocSyncStatus::Synced,
            core_store::DocSyncStatus::Waiting => DocSyncStatus::Waiting,
            core_store::DocSyncStatus::Rejected => DocSyncStatus::Rejected,
        }
    }
}

/// A local change the relay refused, kept for the user.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QuarantineItem {
    pub id: i64,
    pub doc_id: String,
    pub kind: DocumentKind,
    /// Why the relay refused it.
    pub code: RefusalCode,
    /// The relay's explanation, in English (for the export and support).
    pub message: String,
    /// What to tell the user, in Chinese.
    pub message_zh: String,
    /// The refused events, as JSON.
    pub events: Vec<String>,
    pub quarantined_at: i64,
}

impl From<core_store::QuarantinedChange> for QuarantineItem {
    fn from(q: core_store::QuarantinedChange) -> Self {
        QuarantineItem {
            id: q.id,
            doc_id: q.doc_id,
            kind: q.kind.into(),
            code: RefusalCode::parse(&q.code),
            message_zh: RefusalCode::parse(&q.code).message_zh(),
            message: q.message,
            events: q.events,
            quarantined_at: q.quarantined_at,
        }
    }
}
