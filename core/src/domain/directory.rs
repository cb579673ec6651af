//! The directory: regions, departments and users with their roles. The relay owns it (admins import
//! it); devices hold the part they need. It is relational data, not an Automerge document: nobody
//! edits it offline.

use super::calendar::{CalendarDay, OfficeSettings};
use serde::{Deserialize, Serialize};

/// Administrative level of a region. Serialized as its snake_case name; a name written by a newer
/// version reads as [`RegionLevel::Unknown`] (see [`super::open_enum`]), so a directory holding one
/// still reads on an older phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegionLevel {
    Province,
    City,
    County,
    Township,
    /// A level of a newer version, kept as written.
    Unknown(&'static str),
}

impl RegionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RegionLevel::Province => "province",
            RegionLevel::City => "city",
            RegionLevel::County => "county",
            RegionLevel::Township => "township",
            RegionLevel::Unknown(s) => s,
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "province" => RegionLevel::Province,
            "city" => RegionLevel::City,
            "county" => RegionLevel::County,
            "township" => RegionLevel::Township,
            _ => return None,
        })
    }
}

/// A region (省/市/县区/乡镇). `id` is its administrative division code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub id: String,
    pub name: String,
    pub level: RegionLevel,
    pub parent_id: Option<String>,
}

/// A department (责任单位) that handles routed problems, attached to the region whose government it
/// belongs to (a county's bureau, a city's bureau...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub id: String,
    pub name: String,
    pub region_id: String,
}

/// What a user does on the system. Serialized as its snake_case name; a name written by a newer
/// version reads as [`Role::Unknown`] (see [`super::open_enum`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// 助企干部 / 首席服务官: assigned to enterprises, visits them, reports problems.
    Cadre,
    /// 责任单位: handles problems routed to their department.
    DepartmentHandler,
    /// 活动办: oversees a region's subtree.
    Manager,
    /// 企业负责人: speaks for one enterprise.
    EnterpriseContact,
    /// A role of a newer version, kept as written. It has no rights here: the rules deny it everything.
    Unknown(&'static str),
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Cadre => "cadre",
            Role::DepartmentHandler => "department_handler",
            Role::Manager => "manager",
            Role::EnterpriseContact => "enterprise_contact",
            Role::Unknown(s) => s,
        }
    }
    /// The role named `s`, if this version knows it (input, imports). Stored values that may come
    /// from a newer version are read with [`Role::from_stored`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cadre" => Role::Cadre,
            "department_handler" => Role::DepartmentHandler,
            "manager" => Role::Manager,
            "enterprise_contact" => Role::EnterpriseContact,
            _ => return None,
        })
    }
    /// The role in Chinese, as shown to users.
    pub fn zh(self) -> &'static str {
        match self {
            Role::Cadre => "助企干部",
            Role::DepartmentHandler => "责任单位",
            Role::Manager => "活动办",
            Role::EnterpriseContact => "企业负责人",
            Role::Unknown(_) => super::open_enum::NEEDS_NEWER_VERSION,
        }
    }
}

/// A user of the system. Which optional field is set depends on the role: a cadre and a manager have
/// a region, a handler a department, an enterprise contact an enterprise. The mobile number, position
/// (职务) and work unit (工作单位, e.g. 市发展改革委) are how the people the user deals with reach
/// and address them; every device that receives the user receives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub region_id: Option<String>,
    pub department_id: Option<String>,
    pub enterprise_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl User {
    /// Checks and normalises the mobile number, position and work unit (empty ones become `None`): a
    /// mobile number is 11 digits starting with 1, after removing spaces, hyphens and a leading +86.
    pub fn with_details(self, mobile: &str, position: &str, unit: &str) -> crate::domain::error::Result<User> {
        let digits: String = mobile.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = digits.strip_prefix("+86").unwrap_or(&digits);
        let mobile = match digits {
            "" => None,
            d if d.len() == 11 && d.starts_with('1') && d.bytes().all(|b| b.is_ascii_digit()) => Some(d.to_owned()),
            _ => {
                let expected = "11 digits starting with 1";
                return Err(crate::domain::error::DomainError::invalid(
                    "user.mobile",
                    crate::domain::error::Invalid::Format { expected },
                ));
            }
        };
        let text = |field, v: &str| super::text::optional(field, v, 64).map(|v| Some(v).filter(|v| !v.is_empty()));
        Ok(User { mobile, position: text("user.position", position)?, unit: text("user.unit", unit)?, ..self })
    }
}

/// A batch of directory records, as the relay sends them to a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub regions: Vec<Region>,
    pub departments: Vec<Department>,
    pub users: Vec<User>,
    /// The campaign offices' settings (see [`super::calendar`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<OfficeSettings>,
    /// The holiday calendar: holidays and make-up working days.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calendar: Vec<CalendarDay>,
}

/// Looks up directory records; implemented by the device store and by the relay, so the rules can run
/// in either place.
pub trait DirectoryLookup {
    /// The region's path from the province down, ids joined by `/` (e.g. `410000/410100/410102`).
    fn region_path(&self, region_id: &str) -> Option<String>;
    fn department(&self, department_id: &str) -> Option<Department>;
    fn user(&self, user_id: &str) -> Option<User>;
    /// The settings the campaign office of this region chose, if it chose any (see
    /// [`OfficeSettings::in_force`] for those in force at a region).
    fn office_settings(&self, _region_id: &str) -> Option<OfficeSettings> {
        None
    }
    /// The region's name (中原区), where the lookup knows it.
    fn region_name(&self, _region_id: &str) -> Option<String> {
        None
    }
}

/// Whether the region at `path` lies in the subtree rooted at `root` (a region covers itself).
pub fn path_covers(root: &str, path: &str) -> bool {
    path == root || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_is_segment_aware() {
        assert!(path_covers("410000/410100", "410000/410100"));
        assert!(path_covers("410000/410100", "410000/410100/410102"));
        assert!(!path_covers("410000/41010", "410000/410100"));
        assert!(!path_covers("410000/410100/410102", "410000/410100"));
    }

    #[test]
    fn a_users_details_are_checked_and_normalised() {
        let user = User {
            id: "u1".into(),
            name: "王干部".into(),
            role: Role::Cadre,
            region_id: Some("410102".into()),
            department_id: None,
            enterprise_id: None,
            mobile: None,
            position: None,
            unit: None,
        };
        let u = user.clone().with_details("+86 138-3710-0001", " 副局长 ", "市发展改革委").unwrap();
        assert_eq!(
            (u.mobile.as_deref(), u.position.as_deref(), u.unit.as_deref()),
            (Some("13837100001"), Some("副局长"), Some("市发展改革委"))
        );
        assert_eq!(user.clone().with_details("", "", "").unwrap(), user);
        for bad in ["0371-12345678", "1383710000", "138371000012", "2383710000a", "138３７１00001"] {
            let err = user.clone().with_details(bad, "", "").unwrap_err();
            assert_eq!(err.user_message(), "手机号码格式不正确", "{bad}");
        }
        assert!(user.with_details("", &"长".repeat(65), "").is_err(), "a position of 65 characters");
    }
}
