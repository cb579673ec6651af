//! The relay's in-memory copy of the directory (regions, departments, users), reloaded when its
//! version in storage moves. It answers the rules' lookups and builds the part of the directory a
//! device receives: the people the device's user deals with ([`Circle`]), never every user of a
//! region. A view is built for one user and sent at once; only the users' home regions are kept.

use crate::storage::{RelayStorage, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use zhuqi_core::domain::directory::path_covers;
use zhuqi_core::domain::{CalendarDay, Department, Directory, DirectoryLookup, OfficeSettings, Region, Role, User};

/// What, besides the directory itself, decides which users a device receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Circle {
    /// A manager or a department handler: the users of their county (or of the region they manage,
    /// above county level) and of the regions above it.
    Region,
    /// A cadre: as [`Circle::Region`], except that of the enterprise contacts only those of the
    /// enterprises assigned to the cadre are sent (wherever those enterprises are).
    Cadre { enterprises: BTreeSet<String> },
    /// An enterprise contact: the contacts of its own enterprise; the cadres assigned to it or who
    /// recorded its visits; the campaign offices and department handlers of its region and of the
    /// regions above it (who route, urge, escalate and resolve its problems). Nobody else.
    Contact {
        /// The enterprise's region; `None` while the enterprise is not registered.
        region_id: Option<String>,
        cadres: BTreeSet<String>,
    },
}

impl Circle {
    /// A stable digest of what the circle holds (the same on every relay).
    fn digest(&self) -> u32 {
        let mut h = Sha256::new();
        let mut add = |tag: &str, items: &mut dyn Iterator<Item = &String>| {
            h.update(tag.as_bytes());
            for i in items {
                h.update((i.len() as u32).to_le_bytes());
                h.update(i.as_bytes());
            }
        };
        match self {
            Circle::Region => return 0,
            Circle::Cadre { enterprises } => add("cadre", &mut enterprises.iter()),
            Circle::Contact { region_id, cadres } => {
                add("contact", &mut region_id.iter());
                add("cadres", &mut cadres.iter());
            }
        }
        let d = h.finalize();
        u32::from_le_bytes([d[0], d[1], d[2], d[3]])
    }
}

#[derive(Default)]
pub struct Snapshot {
    pub version: u64,
    pub regions: HashMap<String, Region>,
    pub paths: HashMap<String, String>,
    pub departments: HashMap<String, Department>,
    pub users: HashMap<String, User>,
    /// The campaign offices' settings, by region.
    pub settings: HashMap<String, OfficeSettings>,
    /// The holiday calendar (sent to every device; `Calendar::new` counts working days with it).
    pub calendar_days: Vec<CalendarDay>,
    /// The path of each user's home region, found on first need (an enterprise contact's comes from
    /// the enterprise's projection, a storage lookup); kept until the directory's version moves.
    homes: RwLock<HashMap<String, String>>,
}

impl Snapshot {
    fn build(d: Directory, version: u64) -> Snapshot {
        let regions: HashMap<String, Region> = d.regions.into_iter().map(|r| (r.id.clone(), r)).collect();
        let mut paths = HashMap::new();
        for id in regions.keys() {
            let mut chain = vec![id.clone()];
            let mut cur = regions.get(id).and_then(|r| r.parent_id.clone());
            while let Some(p) = cur {
                if chain.contains(&p) || chain.len() > 16 {
                    break; // a cycle in bad data must not hang the relay
                }
                chain.push(p.clone());
                cur = regions.get(&p).and_then(|r| r.parent_id.clone());
            }
            chain.reverse();
            paths.insert(id.clone(), chain.join("/"));
        }
        Snapshot {
            version,
            regions,
            paths,
            departments: d.departments.into_iter().map(|x| (x.id.clone(), x)).collect(),
            users: d.users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            settings: d.settings.into_iter().map(|s| (s.region_id.clone(), s)).collect(),
            calendar_days: d.calendar,
            homes: RwLock::default(),
        }
    }

    /// The region a user belongs to: their own, their department's, or their enterprise's.
    fn home_region(&self, u: &User, enterprise_region: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        u.region_id
            .clone()
            .or_else(|| u.department_id.as_ref().and_then(|d| self.departments.get(d)).map(|d| d.region_id.clone()))
            .or_else(|| u.enterprise_id.as_deref().and_then(enterprise_region))
    }

    /// The path of a user's home region.
    fn home_path(&self, u: &User, enterprise_region: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        if let Some(h) = self.homes.read().unwrap_or_else(|p| p.into_inner()).get(&u.id) {
            return Some(h.clone());
        }
        let h = self.home_region(u, enterprise_region).and_then(|r| self.paths.get(&r).cloned());
        // Not known yet (an enterprise not registered yet): ask again next time.
        if h.is_some() {
            self.homes.write().unwrap_or_else(|p| p.into_inner()).insert(u.id.clone(), h.clone().unwrap_or_default());
        }
        h
    }

    /// The directory version a device of a user with this circle is given. Its lower 32 bits are the
    /// directory's version; for a cadre and an enterprise contact, the upper 32 bits are a digest of
    /// the circle, so the device receives its view again when the circle changes (a cadre assigned
    /// to one more enterprise) though the directory did not. Devices only send it back.
    pub fn view_version(&self, circle: &Circle) -> u64 {
        (u64::from(circle.digest()) << 32) ^ self.version
    }

    /// Whether a version a device sent back was given from this version of the directory.
    pub fn is_view_of(&self, device_version: u64) -> bool {
        (device_version ^ self.version) & 0xFFFF_FFFF == 0
    }

    /// The directory a device of `user` receives: every region and department, and the users in
    /// the user's circle. For a manager, a handler and a cadre that is the users of their county (or
    /// of the region they manage, above county level) and of the regions above it (the offices and
    /// departments that route, urge and escalate) — a city of 50,000 cadres sends each phone its
    /// county's hundreds, not the city's tens of thousands — with, for a cadre, the enterprise
    /// contacts of its own enterprises only. An enterprise contact receives the few people who deal
    /// with its enterprise (see [`Circle::Contact`]).
    pub fn for_user(
        &self,
        user: &User,
        circle: &Circle,
        enterprise_region: &dyn Fn(&str) -> Option<String>,
    ) -> Directory {
        let in_region = match circle {
            Circle::Contact { .. } => None,
            _ => Some(self.region_filter(user, enterprise_region)),
        };
        let in_region = |u: &User| in_region.as_ref().is_some_and(|f| f(u));
        let keep = |u: &User| -> bool {
            if u.id == user.id {
                return true;
            }
            match circle {
                Circle::Region => in_region(u),
                Circle::Cadre { enterprises } => match u.role {
                    Role::EnterpriseContact => u.enterprise_id.as_ref().is_some_and(|e| enterprises.contains(e)),
                    _ => in_region(u),
                },
                Circle::Contact { region_id, cadres } => match u.role {
                    Role::EnterpriseContact => u.enterprise_id.is_some() && u.enterprise_id == user.enterprise_id,
                    Role::Cadre => cadres.contains(&u.id),
                    // The officials of the enterprise's region and of the regions above it.
                    Role::Manager | Role::DepartmentHandler => {
                        region_id.as_ref().and_then(|r| self.paths.get(r)).is_some_and(|home| {
                            self.home_path(u, enterprise_region).is_some_and(|p| path_covers(&p, home))
                        })
                    }
                    Role::Unknown(_) => false,
                },
            }
        };
        let mut users: Vec<User> = self.users.values().filter(|u| keep(u)).cloned().collect();
        users.sort_by(|a, b| a.id.cmp(&b.id));
        let mut regions: Vec<Region> = self.regions.values().cloned().collect();
        regions.sort_by(|a, b| a.id.cmp(&b.id));
        let mut departments: Vec<Department> = self.departments.values().cloned().collect();
        departments.sort_by(|a, b| a.id.cmp(&b.id));
        let mut settings: Vec<OfficeSettings> = self.settings.values().cloned().collect();
        settings.sort_by(|a, b| a.region_id.cmp(&b.region_id));
        Directory { regions, departments, users, settings, calendar: self.calendar_days.clone() }
    }

    /// Whether a user belongs to `user`'s county (or managed region) or to a region above it.
    fn region_filter<'a>(
        &'a self,
        user: &User,
        enterprise_region: &'a dyn Fn(&str) -> Option<String>,
    ) -> impl Fn(&User) -> bool + 'a {
        let home = self.home_path(user, enterprise_region).unwrap_or_default();
        // Province / city / county: the county level of the path, or the user's own region above it.
        let root: String = home.split('/').take(3).collect::<Vec<_>>().join("/");
        move |u: &User| {
            !root.is_empty()
                && self
                    .home_path(u, enterprise_region)
                    .is_some_and(|p| path_covers(&root, &p) || path_covers(&p, &root))
        }
    }
}

impl DirectoryLookup for Snapshot {
    fn region_path(&self, region_id: &str) -> Option<String> {
        self.paths.get(region_id).cloned()
    }
    fn department(&self, id: &str) -> Option<Department> {
        self.departments.get(id).cloned()
    }
    fn user(&self, id: &str) -> Option<User> {
        self.users.get(id).cloned()
    }
    fn office_settings(&self, region_id: &str) -> Option<OfficeSettings> {
        self.settings.get(region_id).cloned()
    }
    fn region_name(&self, region_id: &str) -> Option<String> {
        self.regions.get(region_id).map(|r| r.name.clone())
    }
}

/// The cached directory.
#[derive(Default)]
pub struct DirectoryCache {
    current: RwLock<Arc<Snapshot>>,
    /// Held while reloading: requests arriving meanwhile wait for that one copy instead of each
    /// loading their own (a province's directory is tens of megabytes while loading).
    reload: Mutex<()>,
}

impl DirectoryCache {
    /// The current directory, reloaded first if storage holds a newer version.
    pub fn get(&self, storage: &dyn RelayStorage) -> Result<Arc<Snapshot>> {
        self.at(storage, storage.directory_version()?)
    }

    /// The directory at `version` (just read from storage) or newer.
    pub fn at(&self, storage: &dyn RelayStorage, version: u64) -> Result<Arc<Snapshot>> {
        let fresh = || {
            let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
            (cur.version >= version && version > 0).then(|| cur.clone())
        };
        if let Some(cur) = fresh() {
            return Ok(cur);
        }
        let _reloading = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cur) = fresh() {
            return Ok(cur);
        }
        let (d, version) = storage.directory()?;
        let snap = Arc::new(Snapshot::build(d, version));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = snap.clone();
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhuqi_core::domain::RegionLevel;

    fn user(id: &str, role: Role, region: Option<&str>, dept: Option<&str>, ent: Option<&str>) -> User {
        User {
            id: id.into(),
            name: id.into(),
            role,
            region_id: region.map(Into::into),
            department_id: dept.map(Into::into),
            enterprise_id: ent.map(Into::into),
            mobile: None,
            position: None,
            unit: None,
        }
    }

    /// A province, a city, two counties and a township; enterprises e1 (township of county A), e2
    /// (county A) and e3 (county B).
    fn snapshot() -> Snapshot {
        let region = |id: &str, level, parent: Option<&str>| Region {
            id: id.into(),
            name: id.into(),
            level,
            parent_id: parent.map(Into::into),
        };
        let dept = |id: &str, region: &str| Department { id: id.into(), name: id.into(), region_id: region.into() };
        let d = Directory {
            regions: vec![
                region("p", RegionLevel::Province, None),
                region("c", RegionLevel::City, Some("p")),
                region("a", RegionLevel::County, Some("c")),
                region("b", RegionLevel::County, Some("c")),
                region("a1", RegionLevel::Township, Some("a")),
            ],
            departments: vec![dept("dp", "p"), dept("dc", "c"), dept("da", "a"), dept("db", "b")],
            users: vec![
                user("office-p", Role::Manager, Some("p"), None, None),
                user("office-c", Role::Manager, Some("c"), None, None),
                user("office-a", Role::Manager, Some("a"), None, None),
                user("office-a1", Role::Manager, Some("a1"), None, None),
                user("office-b", Role::Manager, Some("b"), None, None),
                user("handler-p", Role::DepartmentHandler, None, Some("dp"), None),
                user("handler-c", Role::DepartmentHandler, None, Some("dc"), None),
                user("handler-a", Role::DepartmentHandler, None, Some("da"), None),
                user("handler-b", Role::DepartmentHandler, None, Some("db"), None),
                user("cadre-a", Role::Cadre, Some("a"), None, None),
                user("cadre-a2", Role::Cadre, Some("a"), None, None),
                user("cadre-b", Role::Cadre, Some("b"), None, None),
                user("contact-e1", Role::EnterpriseContact, None, None, Some("e1")),
                user("contact-e1b", Role::EnterpriseContact, None, None, Some("e1")),
                user("contact-e2", Role::EnterpriseContact, None, None, Some("e2")),
                user("contact-e3", Role::EnterpriseContact, None, None, Some("e3")),
            ],
            ..Default::default()
        };
        Snapshot::build(d, 7)
    }

    fn enterprise_region(e: &str) -> Option<String> {
        let region = match e {
            "e1" => "a1",
            "e2" => "a",
            "e3" => "b",
            _ => return None,
        };
        Some(region.to_owned())
    }

    fn ids(s: &Snapshot, who: &str, circle: &Circle) -> Vec<String> {
        let u = s.users[who].clone();
        s.for_user(&u, circle, &enterprise_region).users.into_iter().map(|u| u.id).collect()
    }

    fn contact_circle(region: Option<&str>, cadres: &[&str]) -> Circle {
        Circle::Contact { region_id: region.map(Into::into), cadres: cadres.iter().map(|c| c.to_string()).collect() }
    }

    #[test]
    fn a_contact_receives_only_who_deals_with_its_enterprise() {
        let s = snapshot();
        let got = ids(&s, "contact-e1", &contact_circle(Some("a1"), &["cadre-a"]));
        let want = [
            "cadre-a",
            "contact-e1",
            "contact-e1b",
            "handler-a",
            "handler-c",
            "handler-p",
            "office-a",
            "office-a1",
            "office-c",
            "office-p",
        ];
        assert_eq!(got, want);
        // Before the enterprise is registered: itself and its fellow contacts only.
        assert_eq!(ids(&s, "contact-e1", &contact_circle(None, &[])), ["contact-e1", "contact-e1b"]);
        // Another contact of the same snapshot gets its own view, nothing of the first's.
        let other = ids(&s, "contact-e3", &contact_circle(Some("b"), &["cadre-b"]));
        assert_eq!(
            other,
            ["cadre-b", "contact-e3", "handler-b", "handler-c", "handler-p", "office-b", "office-c", "office-p"]
        );
        // Every region and department still goes along (the app names them).
        let d = s.for_user(&s.users["contact-e1"].clone(), &contact_circle(Some("a1"), &[]), &enterprise_region);
        assert_eq!((d.regions.len(), d.departments.len()), (5, 4));
    }

    #[test]
    fn a_cadre_receives_the_contacts_of_its_own_enterprises_only() {
        let s = snapshot();
        let none = ids(&s, "cadre-a", &Circle::Cadre { enterprises: BTreeSet::new() });
        assert!(!none.iter().any(|u| u.starts_with("contact")), "{none:?}");
        // Its county's and the regions above's officials and cadres, as before.
        for u in ["office-a", "office-a1", "office-c", "office-p", "handler-a", "handler-c", "cadre-a2"] {
            assert!(none.contains(&u.to_string()), "{u} missing from {none:?}");
        }
        assert!(!none.contains(&"cadre-b".to_string()) && !none.contains(&"office-b".to_string()));
        // An enterprise in another county assigned to it brings that enterprise's contact along.
        let two = Circle::Cadre { enterprises: ["e1".to_string(), "e3".to_string()].into() };
        let got: Vec<String> = ids(&s, "cadre-a", &two).into_iter().filter(|u| u.starts_with("contact")).collect();
        assert_eq!(got, ["contact-e1", "contact-e1b", "contact-e3"]);
    }

    #[test]
    fn managers_and_handlers_keep_their_region() {
        let s = snapshot();
        let got = ids(&s, "office-a", &Circle::Region);
        for u in ["contact-e1", "contact-e2", "cadre-a", "handler-a", "office-p"] {
            assert!(got.contains(&u.to_string()), "{u} missing from {got:?}");
        }
        assert!(!got.contains(&"contact-e3".to_string()));
    }

    #[test]
    fn the_version_given_follows_the_circle() {
        let s = snapshot();
        assert_eq!(s.view_version(&Circle::Region), 7);
        let one = Circle::Cadre { enterprises: ["e1".to_string()].into() };
        let two = Circle::Cadre { enterprises: ["e1".to_string(), "e3".to_string()].into() };
        let (v1, v2) = (s.view_version(&one), s.view_version(&two));
        assert_ne!(v1, v2);
        assert_eq!(v1, s.view_version(&one.clone()));
        assert!(s.is_view_of(v1) && s.is_view_of(v2) && s.is_view_of(7));
        assert!(!s.is_view_of(0) && !s.is_view_of(8) && !s.is_view_of(u64::MAX));
        let c1 = contact_circle(Some("a1"), &["cadre-a"]);
        let c2 = contact_circle(Some("a1"), &["cadre-a", "cadre-a2"]);
        assert_ne!(s.view_version(&c1), s.view_version(&c2));
        assert_ne!(s.view_version(&contact_circle(None, &[])), s.view_version(&contact_circle(Some("a1"), &[])));
        // A contact's and a cadre's circle of the same ids differ.
        assert_ne!(
            s.view_version(&Circle::Cadre { enterprises: ["a1".to_string()].into() }),
            s.view_version(&contact_circle(Some("a1"), &[]))
        );
    }
}
