//! The units figures are given for — regions (each with its whole subtree) and departments — and the
//! roll-up of the database's grouped counts (`storage::figures`) into them: each group is added to
//! its region and every region above it, found by the region's path in the directory (a lookup,
//! never a scan of the units).

use crate::storage::figures::{Counts, ProblemCell, VisitCell};
use crate::storage::Session;
use crate::sync::directory::Snapshot;
use std::collections::HashMap;
use zhuqi_core::domain::directory::path_covers;
use zhuqi_core::domain::{Department, Region, RegionLevel};

/// The part of the directory a manager oversees.
pub struct Scope<'a> {
    pub dir: &'a Snapshot,
    /// The manager's region (none: the whole directory).
    pub root: Option<&'a Region>,
    /// The region ids of the subtree, for the database's filters (none: every region).
    pub regions: Option<Vec<String>>,
}

impl<'a> Scope<'a> {
    pub fn of(dir: &'a Snapshot, session: &Session) -> Scope<'a> {
        let root = session.user.region_id.as_deref().and_then(|r| dir.regions.get(r));
        let tops = dir.regions.values().filter(|r| r.parent_id.is_none()).count();
        let regions = match root {
            // The only top of the directory covers every region: no filter to send.
            Some(r) if r.parent_id.is_some() || tops > 1 => {
                let path = dir.paths.get(&r.id).map_or("", String::as_str);
                Some(dir.paths.iter().filter(|(_, p)| path_covers(path, p)).map(|(id, _)| id.clone()).collect())
            }
            _ => None,
        };
        Scope { dir, root, regions }
    }

    /// Whether `region` is in the subtree.
    pub fn covers(&self, region: &str) -> bool {
        match (&self.root, self.dir.paths.get(region)) {
            (None, Some(_)) => true,
            (Some(r), Some(p)) => self.dir.paths.get(&r.id).is_some_and(|root| path_covers(root, p)),
            _ => false,
        }
    }

    pub fn name(&self) -> &str {
        self.root.map_or("全省", |r| r.name.as_str())
    }

    /// The regions directly under the manager's, by id.
    pub fn children(&self) -> Vec<&'a Region> {
        let parent = self.root.map(|r| r.id.as_str());
        let mut out: Vec<&Region> =
            self.dir.regions.values().filter(|r| r.parent_id.as_deref() == parent && self.known(r)).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The counties of the subtree, by id.
    pub fn counties(&self) -> Vec<&'a Region> {
        let mut out: Vec<&Region> = self
            .dir
            .regions
            .values()
            .filter(|r| r.level == RegionLevel::County && self.covers(&r.id))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The departments of the subtree, by id (the rankings rank them all).
    pub fn departments(&self) -> Vec<&'a Department> {
        self.departments_where(|_| true)
    }

    /// The departments of the manager's region and of the regions directly under it (a province's
    /// and its cities', a city's and its counties'), by id: those the overview lists. Those further
    /// down are on their own regions' overviews; their problems count in their regions.
    pub fn departments_near(&self) -> Vec<&'a Department> {
        let root = self.root.map(|r| r.id.as_str());
        self.departments_where(|region| {
            Some(region) == root || self.dir.regions.get(region).is_some_and(|r| r.parent_id.as_deref() == root)
        })
    }

    fn departments_where(&self, keep: impl Fn(&str) -> bool) -> Vec<&'a Department> {
        let mut out: Vec<&Department> =
            self.dir.departments.values().filter(|d| self.covers(&d.region_id) && keep(&d.region_id)).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    fn known(&self, r: &Region) -> bool {
        self.dir.paths.contains_key(&r.id)
    }
}

/// The region and its ancestors, from the top (from its path in the directory).
pub fn lineage<'d>(dir: &'d Snapshot, region: &str) -> impl Iterator<Item = &'d str> {
    dir.paths.get(region).into_iter().flat_map(|p| p.split('/'))
}

/// The region's whole name, from the top: "河南省 郑州市 中牟县 城关镇" (several towns share a name).
pub fn full_name(dir: &Snapshot, region: &str) -> String {
    let names: Vec<&str> = lineage(dir, region).map(|id| dir.regions.get(id).map_or(id, |r| r.name.as_str())).collect();
    if names.is_empty() { region.to_owned() } else { names.join(" ") }
}

/// Counts per unit: `r:<region>` for each region with everything under it, `d:<department>` for each
/// department (problems routed to it; visits by its cadres).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitCounts(pub HashMap<String, Counts>);

impl UnitCounts {
    pub fn region_key(id: &str) -> String {
        format!("r:{id}")
    }

    pub fn department_key(id: &str) -> String {
        format!("d:{id}")
    }

    /// Rolls the database's groups up into every unit.
    pub fn roll_up(
        dir: &Snapshot,
        problems: &[ProblemCell],
        visits_by_region: &[VisitCell],
        visits_by_department: &[VisitCell],
        enterprises: &[(String, u32)],
    ) -> UnitCounts {
        let mut units: HashMap<String, Counts> = HashMap::new();
        let mut to_region = |region: &str, c: &Counts| {
            for id in lineage(dir, region) {
                *units.entry(Self::region_key(id)).or_default() += c;
            }
        };
        for cell in problems {
            to_region(&cell.region_id, &cell.counts);
        }
        for v in visits_by_region {
            if let Some(region) = &v.key {
                to_region(region, &Counts { visits: v.visits, enterprises_visited: v.enterprises, ..Counts::default() });
            }
        }
        for (region, n) in enterprises {
            to_region(region, &Counts { enterprises: *n, ..Counts::default() });
        }
        for cell in problems {
            if let Some(d) = &cell.department_id {
                *units.entry(Self::department_key(d)).or_default() += &cell.counts;
            }
        }
        for v in visits_by_department {
            if let Some(d) = &v.key {
                let c = units.entry(Self::department_key(d)).or_default();
                c.visits += v.visits;
                c.enterprises_visited += v.enterprises;
            }
        }
        UnitCounts(units)
    }

    pub fn region(&self, id: &str) -> Counts {
        self.0.get(&Self::region_key(id)).copied().unwrap_or_default()
    }

    pub fn department(&self, id: &str) -> Counts {
        self.0.get(&Self::department_key(id)).copied().unwrap_or_default()
    }

    /// Everything (the sum of the top regions).
    pub fn everything(&self, dir: &Snapshot) -> Counts {
        let mut total = Counts::default();
        for r in dir.regions.values().filter(|r| r.parent_id.is_none()) {
            total += &self.region(&r.id);
        }
        total
    }
}
