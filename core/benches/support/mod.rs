//! Builds the store the benchmarks measure: a county campaign office's phone holding 2,000 enterprise
//! and 5,000 problem documents, made through the public API. Built once and copied for each run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use zhuqi_core::domain::{Category, Department, Directory, Profile, Region, RegionLevel, Role, User, uscc};
use zhuqi_core::store::{Identity, NewProblem, NewVisit, Store};

pub const ENTERPRISES: usize = 2_000;
pub const PROBLEMS: usize = 5_000;
pub const COUNTY: &str = "410102";
pub const DEPARTMENTS: usize = 20;
pub const DAY: i64 = 86_400_000;

pub fn directory() -> Directory {
    let mut regions = vec![
        Region { id: "410000".into(), name: "河南省".into(), level: RegionLevel::Province, parent_id: None },
        Region {
            id: "410100".into(),
            name: "郑州市".into(),
            level: RegionLevel::City,
            parent_id: Some("410000".into()),
        },
        Region {
            id: COUNTY.into(),
            name: "中原区".into(),
            level: RegionLevel::County,
            parent_id: Some("410100".into()),
        },
    ];
    for t in 0..10 {
        regions.push(Region {
            id: format!("{COUNTY}{t:03}"),
            name: format!("第{t}街道"),
            level: RegionLevel::Township,
            parent_id: Some(COUNTY.into()),
        });
    }
    let departments = (0..DEPARTMENTS)
        .map(|i| Department { id: format!("dept-{i}"), name: format!("中原区第{i}局"), region_id: COUNTY.into() })
        .collect();
    let mut users = vec![User {
        id: "mgr".into(),
        name: "中原区活动办".into(),
        role: Role::Manager,
        region_id: Some(COUNTY.into()),
        department_id: None,
        enterprise_id: None,
        mobile: None,
        position: None,
        unit: None,
    }];
    for c in 0..200 {
        users.push(User {
            id: format!("cadre-{c}"),
            name: format!("干部{c}"),
            role: Role::Cadre,
            region_id: Some(COUNTY.into()),
            department_id: None,
            enterprise_id: None,
            mobile: None,
            position: None,
            unit: None,
        });
    }
    Directory { regions, departments, users, ..Default::default() }
}

pub fn identity(user: &str, role: Role) -> Identity {
    Identity {
        user_id: user.into(),
        name: user.into(),
        role,
        region_id: Some(COUNTY.into()),
        department_id: None,
        enterprise_id: None,
        device_id: format!("bench-{user}"),
    }
}

pub fn profile(i: usize) -> Profile {
    let first17 = format!("914101027{i:08}");
    Profile {
        name: format!("郑州第{i}精密制造有限公司"),
        uscc: uscc::complete(&first17).expect("alphabet"),
        region_id: format!("{COUNTY}{:03}", i % 10),
        industry: "装备制造".into(),
        tags: vec!["above_scale".into()],
        address: format!("中原区建设路{i}号"),
        location: None,
        contacts: vec![],
        scale: zhuqi_core::domain::Scale {
            employees: Some((i * 37 % 2_000) as u32),
            revenue: Some((i * 131 % 60_000) as u64),
            founded: Some(format!("{}-{:02}-01", 1990 + i % 36, 1 + i % 12)),
        },
    }
}

pub fn new_visit() -> NewVisit {
    NewVisit {
        date: "2026-03-01".into(),
        people_met: vec!["总经理".into()],
        notes: "了解企业生产经营情况，企业反映用工紧张".into(),
        policies: vec!["稳岗补贴".into()],
        policy_ids: vec![],
        location: Some(zhuqi_core::domain::Location { lat: 34.75, lon: 113.62, accuracy_m: 10.0, mock: false }),
        photos: vec![],
    }
}

pub fn new_problem(enterprise_id: &str, i: usize) -> NewProblem {
    NewProblem {
        enterprise_id: enterprise_id.into(),
        category: Category::ALL[i % Category::ALL.len()],
        title: format!("问题{i}"),
        description: "企业需要协调解决的困难".into(),
        visit_id: None,
        photos: vec![],
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Path of a ready-made fixture store (built on first use, then reused).
pub fn fixture() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-fixture-v2");
    let path = dir.join("manager.db");
    if path.exists() {
        return path;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let building = dir.join("building.db");
    build(&building);
    std::fs::rename(&building, &path).unwrap();
    path
}

/// A clock stopped at one moment.
pub struct FixedClock(pub i64);

impl zhuqi_core::store::Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

fn build(path: &Path) {
    let started = std::time::Instant::now();
    // Built as if 10 days ago, so that problems with a 1-day deadline are overdue now.
    let then = now() - 10 * DAY;
    let store =
        Store::open_with_clock(path, identity("mgr", Role::Manager), std::sync::Arc::new(FixedClock(then))).unwrap();
    store.import_directory(&directory()).unwrap();
    let mut enterprises = Vec::with_capacity(ENTERPRISES);
    for i in 0..ENTERPRISES {
        let id = store.register_enterprise(profile(i)).unwrap();
        store.assign_cadre(&id, &format!("cadre-{}", i % 200), true).unwrap();
        enterprises.push(id);
    }
    for i in 0..PROBLEMS {
        let pid = store.report_problem(new_problem(&enterprises[i % ENTERPRISES], i)).unwrap();
        if i % 5 != 0 {
            // A third of the routed problems are past their deadline.
            let deadline = if i % 3 == 0 { then + DAY } else { then + 60 * DAY };
            store.route_problem(&pid, &format!("dept-{}", i % DEPARTMENTS), 1, deadline, "").unwrap();
        }
    }
    drop(store);
    // Remove the WAL so that copies are single files.
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    eprintln!("built fixture in {:.1}s", started.elapsed().as_secs_f64());
}

/// A fresh copy of the fixture in `dir`.
pub fn copy_fixture(dir: &Path) -> PathBuf {
    let to = dir.join("manager.db");
    std::fs::copy(fixture(), &to).unwrap();
    to
}
