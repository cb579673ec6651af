//! The relay's in-memory copy of the directory (regions, departments, users), reloaded when its
//! version in storage moves. It answers the rules' lookups and builds the part of the directory a
//! device receives.

use crate::storage::{RelayStorage, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use zhuqi_core::domain::{Department, Directory, DirectoryLookup, Region, User};

#[derive(Default)]
pub struct Snapshot {
    pub version: u64,
    pub regions: HashMap<String, Region>,
    pub paths: HashMap<String, String>,
    pub departments: HashMap<String, Department>,
    pub users: HashMap<String, User>,
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

    /// The directory a device of `user` receives: every region and department; the users of the
    /// user's county (or of the region they manage, above county level) and of the regions above it
    /// (the offices and departments that route, urge and escalate). A city of 50,000 cadres sends
    /// each phone its county's hundreds, not the city's tens of thousands.
    pub fn for_user(&self, user: &User, enterprise_region: &dyn Fn(&str) -> Option<String>) -> Directory {
        let home = self.home_path(user, enterprise_region).unwrap_or_default();
        // Province / city / county: the county level of the path, or the user's own region above it.
        let root: String = home.split('/').take(3).collect::<Vec<_>>().join("/");
        let mut users: Vec<User> = self
            .users
            .values()
            .filter(|u| {
                u.id == user.id
                    || (!root.is_empty()
                        && self.home_path(u, enterprise_region).is_some_and(|p| {
                            zhuqi_core::domain::directory::path_covers(&root, &p)
                                || zhuqi_core::domain::directory::path_covers(&p, &root)
                        }))
            })
            .cloned()
            .collect();
        users.sort_by(|a, b| a.id.cmp(&b.id));
        let mut regions: Vec<Region> = self.regions.values().cloned().collect();
        regions.sort_by(|a, b| a.id.cmp(&b.id));
        let mut departments: Vec<Department> = self.departments.values().cloned().collect();
        departments.sort_by(|a, b| a.id.cmp(&b.id));
        Directory { regions, departments, users }
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
