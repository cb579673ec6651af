//! Fixtures shared by the core's integration tests: a small province, a store per role, a clock the
//! test sets, and a way to pass documents between stores as the relay would.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use zhuqi_core::domain::{Category, Department, Directory, Profile, Region, RegionLevel, Role, User, uscc};
use zhuqi_core::store::{Clock, Identity, NewProblem, NewVisit, Store};

/// 2026-03-02 08:00 China Standard Time.
pub const T0: i64 = 1_772_409_600_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;

pub struct TestClock(pub AtomicI64);

impl TestClock {
    pub fn new() -> Arc<Self> {
        Arc::new(TestClock(AtomicI64::new(T0)))
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub const PROVINCE: &str = "410000";
pub const CITY: &str = "410100";
pub const COUNTY: &str = "410102";
pub const OTHER_COUNTY: &str = "410103";
pub const FINANCE: &str = "dept-finance-410102";
pub const LAND: &str = "dept-land-410100";
pub const OTHER_DEPT: &str = "dept-finance-410103";

fn user(id: &str, name: &str, role: Role, region: Option<&str>, dept: Option<&str>, ent: Option<&str>) -> User {
    User {
        id: id.into(),
        name: name.into(),
        role,
        region_id: region.map(Into::into),
        department_id: dept.map(Into::into),
        enterprise_id: ent.map(Into::into),
        mobile: None,
        position: None,
        unit: None,
    }
}

/// Henan → Zhengzhou → two districts; three departments; one user of each role (and a few outsiders).
pub fn directory(enterprise_id: &str) -> Directory {
    let region = |id: &str, name: &str, level, parent: Option<&str>| Region {
        id: id.into(),
        name: name.into(),
        level,
        parent_id: parent.map(Into::into),
    };
    Directory {
        regions: vec![
            region(PROVINCE, "河南省", RegionLevel::Province, None),
            region(CITY, "郑州市", RegionLevel::City, Some(PROVINCE)),
            region(COUNTY, "中原区", RegionLevel::County, Some(CITY)),
            region(OTHER_COUNTY, "二七区", RegionLevel::County, Some(CITY)),
        ],
        departments: vec![
            Department { id: FINANCE.into(), name: "中原区财政局".into(), region_id: COUNTY.into() },
            Department { id: LAND.into(), name: "郑州市自然资源局".into(), region_id: CITY.into() },
            Department { id: OTHER_DEPT.into(), name: "二七区财政局".into(), region_id: OTHER_COUNTY.into() },
        ],
        users: vec![
            user("cadre-1", "王干部", Role::Cadre, Some(COUNTY), None, None),
            user("cadre-2", "李干部", Role::Cadre, Some(OTHER_COUNTY), None, None),
            user("mgr-county", "中原区活动办", Role::Manager, Some(COUNTY), None, None),
            user("mgr-city", "郑州市活动办", Role::Manager, Some(CITY), None, None),
            user("mgr-province", "河南省活动办", Role::Manager, Some(PROVINCE), None, None),
            user("mgr-other", "二七区活动办", Role::Manager, Some(OTHER_COUNTY), None, None),
            user("handler-1", "财政局张科长", Role::DepartmentHandler, None, Some(FINANCE), None),
            user("handler-other", "二七区财政局", Role::DepartmentHandler, None, Some(OTHER_DEPT), None),
            user("contact-1", "企业刘总", Role::EnterpriseContact, None, None, Some(enterprise_id)),
        ],
        ..Default::default()
    }
}

pub fn identity_of(dir: &Directory, user_id: &str, device: &str) -> Identity {
    let u = dir.users.iter().find(|u| u.id == user_id).expect("user in fixture");
    Identity {
        user_id: u.id.clone(),
        name: u.name.clone(),
        role: u.role,
        region_id: u.region_id.clone(),
        department_id: u.department_id.clone(),
        enterprise_id: u.enterprise_id.clone(),
        device_id: device.into(),
    }
}

pub fn open(dir_path: &Path, dir: &Directory, user_id: &str, clock: &Arc<TestClock>) -> Store {
    let store = Store::open_with_clock(
        &dir_path.join(format!("{user_id}.db")),
        identity_of(dir, user_id, &format!("phone-{user_id}")),
        clock.clone(),
    )
    .unwrap();
    store.import_directory(dir).unwrap();
    store
}

/// The enterprise id used by the fixture (the contact's identity needs it before registration).
pub const ENTERPRISE: &str = "ent-fixture";

pub fn profile(name: &str, region: &str) -> Profile {
    Profile {
        name: name.into(),
        uscc: uscc::complete("91410102MA44XY8K1").unwrap(),
        region_id: region.into(),
        industry: "装备制造".into(),
        tags: vec!["above_scale".into(), "srdi".into()],
        address: "郑州市中原区建设路1号".into(),
        location: None,
        contacts: vec![],
        scale: Default::default(),
    }
}

/// Copies every document of `from` into `to`, as a sync through the relay would.
pub fn send_all(from: &Store, to: &Store) {
    for (id, kind) in from.document_ids().unwrap() {
        to.apply_remote(&id, kind, &[from.save_document(&id).unwrap()]).unwrap();
    }
}

pub fn visit(date: &str) -> NewVisit {
    NewVisit {
        date: date.into(),
        people_met: vec!["刘总".into(), "财务总监".into()],
        notes: "企业反映流动资金紧张，需要贷款贴息政策支持".into(),
        policies: vec!["稳企贷".into()],
        policy_ids: vec![],
        location: Some(zhuqi_core::domain::Location { lat: 34.75, lon: 113.62, accuracy_m: 12.0, mock: false }),
        photos: vec![],
    }
}

pub fn problem(enterprise_id: &str, visit_id: Option<String>) -> NewProblem {
    NewProblem {
        enterprise_id: enterprise_id.into(),
        category: Category::Financing,
        title: "流动资金贷款".into(),
        description: "需要500万元流动资金贷款，银行要求担保".into(),
        visit_id,
        photos: vec![],
    }
}

/// One enterprise in 中原区 with a store for each role, the enterprise registered by the county's
/// campaign office, cadre-1 assigned as chief service officer, and every store holding its document.
pub struct World {
    pub tmp: tempfile::TempDir,
    pub clock: Arc<TestClock>,
    pub dir: Directory,
    pub enterprise_id: String,
    pub manager: Store,
    pub cadre: Store,
    pub handler: Store,
    pub contact: Store,
}

impl World {
    pub fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let manager = open(tmp.path(), &directory(ENTERPRISE), "mgr-county", &clock);
        let enterprise_id = manager.register_enterprise(profile("郑州精工机械有限公司", COUNTY)).unwrap();
        manager.assign_cadre(&enterprise_id, "cadre-1", true).unwrap();
        let dir = directory(&enterprise_id);
        manager.import_directory(&dir).unwrap();
        let cadre = open(tmp.path(), &dir, "cadre-1", &clock);
        let handler = open(tmp.path(), &dir, "handler-1", &clock);
        let contact = open(tmp.path(), &dir, "contact-1", &clock);
        send_all(&manager, &cadre);
        send_all(&manager, &contact);
        World { tmp, clock, dir, enterprise_id, manager, cadre, handler, contact }
    }

    pub fn store(&self, user_id: &str) -> Store {
        open(self.tmp.path(), &self.dir, user_id, &self.clock)
    }

    /// Everybody exchanges everything (a full sync round through the relay).
    pub fn sync_all(&self) {
        let all = [&self.manager, &self.cadre, &self.handler, &self.contact];
        for a in all {
            for b in all {
                if !std::ptr::eq(a, b) {
                    send_all(a, b);
                }
            }
        }
    }
}
