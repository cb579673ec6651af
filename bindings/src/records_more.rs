//! Records of the campaign office's and the pickers' calls (`manage.rs`): registering and updating
//! enterprises, task notices with their recipients, the directory's regions, departments and
//! cadres, the documents not yet synced. Optional fields have defaults, so that Kotlin and Swift
//! callers name only what they set.

use crate::kinds::*;
use crate::records::{ContactPerson, DocSyncStatus, EnterpriseScale, GeoLocation, TaskNoticeCard};
use zhuqi_core::domain;
use zhuqi_core::store as core_store;

fn location(l: GeoLocation) -> domain::Location {
    domain::Location { lat: l.lat, lon: l.lon, accuracy_m: l.accuracy_m, mock: l.mock }
}

fn contact(c: ContactPerson) -> domain::Contact {
    domain::Contact { name: c.name, title: c.title, phone: c.phone }
}

/// An enterprise as the campaign office registers it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EnterpriseInput {
    pub name: String,
    /// Unified social credit code (统一社会信用代码), 18 characters with its check digit.
    pub uscc: String,
    /// Its region (a township, or a county): within the office's own.
    pub region_id: String,
    #[uniffi(default = "")]
    pub industry: String,
    /// Tags such as `above_scale`, `srdi`, `little_giant`.
    #[uniffi(default)]
    pub tags: Vec<String>,
    #[uniffi(default = "")]
    pub address: String,
    #[uniffi(default = None)]
    pub location: Option<GeoLocation>,
    /// People to talk to there (at most 20).
    #[uniffi(default)]
    pub contacts: Vec<ContactPerson>,
    /// Its employees, revenue and founding day, if known (as `set_enterprise_scale` sets them).
    #[uniffi(default = None)]
    pub scale: Option<EnterpriseScale>,
}

impl From<EnterpriseInput> for domain::Profile {
    fn from(e: EnterpriseInput) -> Self {
        domain::Profile {
            name: e.name,
            uscc: e.uscc,
            region_id: e.region_id,
            industry: e.industry,
            tags: e.tags,
            address: e.address,
            location: e.location.map(location),
            contacts: e.contacts.into_iter().map(contact).collect(),
            scale: e.scale.map(Into::into).unwrap_or_default(),
        }
    }
}

/// Changes to an enterprise's details; a field left `null` stays as it is. (Its name, credit code
/// and address as registered are corrected with `correct_enterprise`.)
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct EnterpriseUpdate {
    #[uniffi(default = None)]
    pub industry: Option<String>,
    /// The whole new list of tags.
    #[uniffi(default = None)]
    pub tags: Option<Vec<String>>,
    #[uniffi(default = None)]
    pub address: Option<String>,
    #[uniffi(default = None)]
    pub location: Option<GeoLocation>,
    /// The whole new list of contacts.
    #[uniffi(default = None)]
    pub contacts: Option<Vec<ContactPerson>>,
}

impl From<EnterpriseUpdate> for domain::ProfileUpdate {
    fn from(u: EnterpriseUpdate) -> Self {
        domain::ProfileUpdate {
            industry: u.industry,
            tags: u.tags,
            address: u.address,
            location: u.location.map(location),
            contacts: u.contacts.map(|c| c.into_iter().map(contact).collect()),
        }
    }
}

/// A correction of what was registered wrong (更正), with why; at least one value to correct.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnterpriseCorrection {
    pub reason: String,
    #[uniffi(default = None)]
    pub name: Option<String>,
    #[uniffi(default = None)]
    pub uscc: Option<String>,
    #[uniffi(default = None)]
    pub address: Option<String>,
}

impl From<EnterpriseCorrection> for domain::Correction {
    fn from(c: EnterpriseCorrection) -> Self {
        domain::Correction { name: c.name, uscc: c.uscc, address: c.address, reason: c.reason }
    }
}

/// Whom a task notice is addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum NoticeRecipient {
    /// A department (责任单位), by id (from `departments()`).
    Department { id: String },
    /// A cadre, by user id (from `cadres()`).
    Cadre { id: String },
    /// A kind of recipient of a newer version (shown, never sent).
    Unknown { kind: String, id: String },
}

impl From<domain::Recipient> for NoticeRecipient {
    fn from(r: domain::Recipient) -> Self {
        match r {
            domain::Recipient::Department(id) => NoticeRecipient::Department { id },
            domain::Recipient::Cadre(id) => NoticeRecipient::Cadre { id },
            domain::Recipient::Unknown { kind, id } => NoticeRecipient::Unknown { kind, id },
        }
    }
}

impl From<NoticeRecipient> for domain::Recipient {
    fn from(r: NoticeRecipient) -> Self {
        match r {
            NoticeRecipient::Department { id } => domain::Recipient::Department(id),
            NoticeRecipient::Cadre { id } => domain::Recipient::Cadre(id),
            // Refused by the rules when issued.
            NoticeRecipient::Unknown { kind, id } => domain::Recipient::Unknown { kind, id },
        }
    }
}

/// A task notice (任务通知) as the campaign office writes it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TaskNoticeInput {
    pub title: String,
    pub body: String,
    /// Milliseconds since the epoch (e.g. from `deadline_in`); after now.
    pub deadline: i64,
    /// Departments and cadres within the office's region, each once (1 to 500).
    pub recipients: Vec<NoticeRecipient>,
    /// The region it is issued for; the office's own region when `null`.
    #[uniffi(default = None)]
    pub region_id: Option<String>,
}

/// One recipient of a task notice and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NoticeRecipientInfo {
    pub recipient: NoticeRecipient,
    /// The department's or cadre's name, as the directory on the phone holds it.
    pub name: Option<String>,
    /// When it acknowledged (签收) the notice, ms since the epoch.
    pub acknowledged_at: Option<i64>,
    /// When it completed it.
    pub completed_at: Option<i64>,
    /// What it wrote on completing it.
    pub note: String,
    /// Completed by the deadline; `null` while not completed.
    pub on_time: Option<bool>,
}

/// A task notice with its text and every recipient's progress.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TaskNoticeDetail {
    pub card: TaskNoticeCard,
    pub body: String,
    pub region_id: String,
    /// The user id of the office that issued it, and its name where the phone holds it.
    pub issued_by: String,
    pub issued_by_name: Option<String>,
    /// Ms since the epoch.
    pub issued_at: i64,
    pub recipients: Vec<NoticeRecipientInfo>,
}

impl From<core_store::TaskNoticeDetail> for TaskNoticeDetail {
    fn from(d: core_store::TaskNoticeDetail) -> Self {
        TaskNoticeDetail {
            issued_by: d.summary.issued_by.clone(),
            issued_by_name: d.issued_by_name,
            issued_at: d.summary.issued_at,
            card: d.summary.into(),
            body: d.body,
            region_id: d.region_id,
            recipients: d
                .recipients
                .into_iter()
                .map(|r| NoticeRecipientInfo {
                    recipient: r.recipient.into(),
                    name: r.name,
                    acknowledged_at: r.acknowledged_at,
                    completed_at: r.completed_at,
                    note: r.note,
                    on_time: r.on_time,
                })
                .collect(),
        }
    }
}

/// A region (省/市/县区/乡镇) of the directory.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegionInfo {
    /// Its administrative division code.
    pub id: String,
    pub name: String,
    pub level: RegionLevel,
    /// `null` for the province.
    pub parent_id: Option<String>,
}

impl From<domain::Region> for RegionInfo {
    fn from(r: domain::Region) -> Self {
        RegionInfo { id: r.id, name: r.name, level: r.level.into(), parent_id: r.parent_id }
    }
}

/// A department (责任单位) problems are routed to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DepartmentInfo {
    pub id: String,
    pub name: String,
    /// The region whose government it belongs to.
    pub region_id: String,
}

impl From<domain::Department> for DepartmentInfo {
    fn from(d: domain::Department) -> Self {
        DepartmentInfo { id: d.id, name: d.name, region_id: d.region_id }
    }
}

/// A cadre as the directory on the phone holds them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CadreInfo {
    /// The user id (what `assign_cadre` and a task notice's recipient take).
    pub id: String,
    pub name: String,
    pub region_id: Option<String>,
    /// 11 digits.
    pub mobile: Option<String>,
    /// 职务, e.g. 副局长.
    pub position: Option<String>,
    /// 工作单位, e.g. 市发展改革委.
    pub unit: Option<String>,
}

impl From<domain::User> for CadreInfo {
    fn from(u: domain::User) -> Self {
        CadreInfo {
            id: u.id,
            name: u.name,
            region_id: u.region_id,
            mobile: u.mobile,
            position: u.position,
            unit: u.unit,
        }
    }
}

/// A document with work on this phone the relay does not hold yet.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UnsyncedDocument {
    pub doc_id: String,
    pub kind: DocumentKind,
    /// `Waiting` to be pushed, or `Rejected`: some of its changes are in the quarantine.
    pub status: DocSyncStatus,
    /// Changes waiting to be pushed.
    pub waiting: u32,
    /// Changes the relay refused (see `quarantine()`).
    pub refused: u32,
    /// The enterprise's name, or the problem's, task notice's or policy's title; `null` when the
    /// phone does not hold the document (a refused creation).
    pub title: Option<String>,
}

impl From<core_store::UnsyncedDocument> for UnsyncedDocument {
    fn from(d: core_store::UnsyncedDocument) -> Self {
        UnsyncedDocument {
            doc_id: d.doc_id,
            kind: d.kind.into(),
            status: d.status.into(),
            waiting: d.waiting,
            refused: d.refused,
            title: d.title,
        }
    }
}
