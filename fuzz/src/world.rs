//! The relay-side world `validate_push` judges pushes in: a small directory (a province, a city, two
//! counties, three departments, their users), the enterprise `ent-a` (registered, a cadre assigned,
//! a visit recorded, its name corrected), five pushing devices (a cadre, the county's campaign office,
//! a department handler, the enterprise's contact, and the relay acting for the office), a problem
//! document and the enterprise's document written with the core's own API, and valid pushes: the
//! seeds the harness mutates. Building it replays every change of both documents through the relay's
//! validation and checks that every seed is accepted, so the world is one the relay would hold.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjType, ROOT, ReadDoc, Value};
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use zhuqi_core::document::{Document, encode};
use zhuqi_core::domain::event::{Causality, fold};
use zhuqi_core::domain::*;
use zhuqi_core::rules::Actor;
use zhuqi_core::sync::protocol::DocChanges;
use zhuqi_server::sync::validate::{Context, Pusher, Verdict, validate};

/// The relay's clock during every push: 2026-01-01 00:00 UTC.
pub const NOW: i64 = 1_767_225_600_000;
pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

pub const PROVINCE: &str = "410000";
pub const CITY: &str = "410100";
pub const COUNTY: &str = "410102";
pub const OTHER_COUNTY: &str = "410103";
pub const FINANCE: &str = "dept-finance";
pub const HR: &str = "dept-hr";
pub const OTHER_DEPT: &str = "dept-other-finance";
pub const ENT_A: &str = "ent-a";
pub const PROBLEM: &str = "prob-1";
/// The enterprise's registered name, and the name a correction replaced.
pub const NAME: &str = "郑州精工机械股份有限公司";
pub const OLD_NAME: &str = "郑州精工机械有限公司";

/// The pushing devices, as indexes into [`World::devices`].
pub const CADRE: usize = 0;
pub const MANAGER: usize = 1;
pub const HANDLER: usize = 2;
pub const CONTACT: usize = 3;
/// The relay's own device acting for the campaign office (its event times are facts, not claims).
pub const RELAY: usize = 4;

/// The directory, in memory.
pub struct Dir {
    paths: HashMap<String, String>,
    departments: HashMap<String, Department>,
    users: HashMap<String, User>,
}

impl DirectoryLookup for Dir {
    fn region_path(&self, region_id: &str) -> Option<String> {
        self.paths.get(region_id).cloned()
    }
    fn department(&self, department_id: &str) -> Option<Department> {
        self.departments.get(department_id).cloned()
    }
    fn user(&self, user_id: &str) -> Option<User> {
        self.users.get(user_id).cloned()
    }
}

/// A signed-in device: its user, id, Automerge actor and the rules' view of its user.
pub struct Device {
    pub user: User,
    pub device_id: String,
    pub actor: ActorId,
    pub actors: HashSet<Vec<u8>>,
    pub rules: Actor,
}

impl Device {
    pub fn pusher(&self) -> Pusher<'_> {
        Pusher { user: &self.user, device_id: &self.device_id, actors: &self.actors, actor: self.rules.clone() }
    }

    /// An event of this device's user, taken on this device.
    pub fn event<A>(&self, id: &str, at: i64, seen: &[&str], action: A) -> Event<A> {
        Event {
            id: id.into(),
            by: self.user.id.clone(),
            role: self.user.role,
            device: self.device_id.clone(),
            at,
            seen: seen.iter().map(|s| s.to_string()).collect(),
            origin: None,
            action,
        }
    }
}

/// The relay's copy of the pushed document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// The relay holds no such document.
    None,
    /// `prob-1`: reported by the cadre, accepted and routed by the office, then a progress note each
    /// by the handler and the cadre, concurrently.
    Problem,
    /// `ent-a`.
    Enterprise,
}

impl Base {
    pub const ALL: [Base; 3] = [Base::None, Base::Problem, Base::Enterprise];
}

/// A push the relay accepts.
pub struct Seed {
    pub name: &'static str,
    pub device: usize,
    pub base: Base,
    pub kind: DocKind,
    pub doc: String,
    pub changes: Vec<Vec<u8>>,
}

impl Seed {
    pub fn push(&self) -> DocChanges {
        DocChanges { doc: self.doc.clone(), kind: self.kind, changes: self.changes.clone() }
    }
}

/// A document as the relay holds it, and its changes in the order they were written.
pub struct Held {
    pub doc: Automerge,
    pub changes: Vec<ChangeHash>,
}

pub struct World {
    pub dir: Dir,
    /// The relay's state of `ent-a`.
    pub enterprise: EnterpriseState,
    pub devices: Vec<Device>,
    pub problem: Held,
    pub enterprise_doc: Held,
    /// When the relay received each event of the held documents: (document, event) → time.
    receipts: HashMap<(String, String), i64>,
    pub seeds: Vec<Seed>,
}

pub static WORLD: LazyLock<World> = LazyLock::new(World::build);

impl World {
    pub fn held(&self, base: Base) -> Option<&Held> {
        match base {
            Base::None => None,
            Base::Problem => Some(&self.problem),
            Base::Enterprise => Some(&self.enterprise_doc),
        }
    }

    /// The kind and id of the held document (what a push to it names).
    pub fn names(base: Base) -> Option<(DocKind, &'static str)> {
        match base {
            Base::None => None,
            Base::Problem => Some((DocKind::Problem, PROBLEM)),
            Base::Enterprise => Some((DocKind::Enterprise, ENT_A)),
        }
    }

    /// Validates `push` by `device` against a copy of the held document, as the relay does.
    pub fn judge(&self, device: usize, base: Base, push: &DocChanges) -> Verdict {
        let doc = self.held(base).map(|h| (World::names(base).unwrap().0, h.doc.clone()));
        self.judge_on(device, doc, push)
    }

    pub fn judge_on(&self, device: usize, doc: Option<(DocKind, Automerge)>, push: &DocChanges) -> Verdict {
        let lookup = |id: &str| (id == ENT_A).then(|| self.enterprise.clone());
        let receipts = |doc: &str, events: &[String]| -> Vec<(String, i64)> {
            events
                .iter()
                .filter_map(|e| self.receipts.get(&(doc.to_owned(), e.clone())).map(|&r| (e.clone(), r)))
                .collect()
        };
        // The world's problem, for a merge into it.
        let problem = |id: &str| {
            (id == PROBLEM).then(|| {
                let events =
                    zhuqi_core::document::parse_events(&zhuqi_core::document::raw_events_of(&self.problem.doc));
                zhuqi_core::domain::event::fold::<zhuqi_core::domain::ProblemState>(events).0
            })
        };
        let ctx = Context { dir: &self.dir, enterprise: &lookup, problem: &problem, receipts: &receipts, now: NOW };
        validate(&self.devices[device].pusher(), &ctx, doc, push)
    }

    fn build() -> World {
        let dir = directory();
        let device = |login: &str, device_id: &str, byte: u8| {
            let user = dir.users[login].clone();
            let actor = ActorId::from(vec![byte; 16]);
            let rules = Actor {
                user_id: user.id.clone(),
                role: user.role,
                region_path: user.region_id.as_deref().and_then(|r| dir.region_path(r)),
                department_id: user.department_id.clone(),
                enterprise_id: user.enterprise_id.clone(),
            };
            Device {
                user,
                device_id: device_id.into(),
                actors: HashSet::from([actor.to_bytes().to_vec()]),
                actor,
                rules,
            }
        };
        let devices = vec![
            device("cadre", "dev-cadre", 0xc1),
            device("manager", "dev-manager", 0xa1),
            device("handler", "dev-handler", 0xb1),
            device("contact", "dev-contact", 0xd1),
            device("manager", &zhuqi_server::sync::author::relay_device_id("manager"), 0xe1),
        ];
        let (ent_doc, ent_log) = enterprise_document(&devices);
        let enterprise = fold::<EnterpriseState>(ent_doc.events()).0;
        assert!(enterprise.registered && enterprise.visits.len() == 1 && enterprise.corrections.len() == 1);
        let (problem_doc, problem_log) = problem_document(&devices);
        let mut world = World {
            dir,
            enterprise,
            devices,
            problem: Held { doc: Automerge::new(), changes: Vec::new() },
            enterprise_doc: Held { doc: Automerge::new(), changes: Vec::new() },
            receipts: HashMap::new(),
            seeds: Vec::new(),
        };
        // The relay's copies: every change pushed in turn, by its author, and accepted.
        world.enterprise_doc = world.replay(DocKind::Enterprise, ENT_A, &ent_log);
        world.problem = world.replay(DocKind::Problem, PROBLEM, &problem_log);
        assert_eq!(world.problem.doc.get_heads().len(), 2, "two concurrent progress notes");
        let mut events = Vec::new();
        for (doc, id) in [(&ent_doc, ENT_A), (&problem_doc, PROBLEM)] {
            for e in doc.events::<serde_json::Value>() {
                // Received two minutes after it was written.
                events.push(((id.to_owned(), e.id.clone()), e.at + 2 * MINUTE));
            }
        }
        world.receipts = events.into_iter().collect();
        world.seeds = seeds(&world);
        for s in &world.seeds {
            match world.judge(s.device, s.base, &s.push()) {
                Verdict::Accept(..) => {}
                Verdict::AlreadyStored(_) | Verdict::Deferred(_) => {
                    panic!("seed {} already stored or deferred", s.name)
                }
                Verdict::Reject(code, message, _) => panic!("seed {} refused: {code:?} {message}", s.name),
            }
        }
        world
    }

    fn replay(&self, kind: DocKind, id: &str, log: &[(usize, Change)]) -> Held {
        let mut doc: Option<Automerge> = None;
        for (device, change) in log {
            let push = DocChanges { doc: id.into(), kind, changes: vec![change.raw_bytes().to_vec()] };
            match self.judge_on(*device, doc.take().map(|d| (kind, d)), &push) {
                Verdict::Accept(_, d, _) => doc = Some(d),
                Verdict::AlreadyStored(_) | Verdict::Deferred(_) => panic!("{id}: change already stored or deferred"),
                Verdict::Reject(code, message, _) => panic!("{id}: change refused: {code:?} {message}"),
            }
        }
        let doc = Automerge::load(&doc.expect("a change").save()).expect("a saved document loads");
        Held { doc, changes: log.iter().map(|(_, c)| c.hash()).collect() }
    }
}

fn directory() -> Dir {
    let paths = [
        (PROVINCE, "410000"),
        (CITY, "410000/410100"),
        (COUNTY, "410000/410100/410102"),
        (OTHER_COUNTY, "410000/410100/410103"),
    ];
    let departments =
        [(FINANCE, "中原区财政局", COUNTY), (HR, "中原区人社局", COUNTY), (OTHER_DEPT, "二七区财政局", OTHER_COUNTY)];
    let user = |id: &str, name: &str, role, region: Option<&str>, dept: Option<&str>, ent: Option<&str>| User {
        id: id.into(),
        name: name.into(),
        role,
        region_id: region.map(Into::into),
        department_id: dept.map(Into::into),
        enterprise_id: ent.map(Into::into),
        mobile: None,
        position: None,
        unit: None,
    };
    let users = [
        user("cadre", "王干部", Role::Cadre, Some(COUNTY), None, None),
        user("cadre-b", "李干部", Role::Cadre, Some(OTHER_COUNTY), None, None),
        user("manager", "中原区活动办", Role::Manager, Some(COUNTY), None, None),
        user("manager-b", "二七区活动办", Role::Manager, Some(OTHER_COUNTY), None, None),
        user("city", "郑州市活动办", Role::Manager, Some(CITY), None, None),
        user("handler", "财政局经办人", Role::DepartmentHandler, None, Some(FINANCE), None),
        user("handler-hr", "人社局经办人", Role::DepartmentHandler, None, Some(HR), None),
        user("contact", "企业刘总", Role::EnterpriseContact, None, None, Some(ENT_A)),
    ];
    Dir {
        paths: paths.iter().map(|(id, p)| (id.to_string(), p.to_string())).collect(),
        departments: departments
            .iter()
            .map(|(id, name, region)| {
                (
                    id.to_string(),
                    Department { id: id.to_string(), name: name.to_string(), region_id: region.to_string() },
                )
            })
            .collect(),
        users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
    }
}

pub fn profile() -> Profile {
    Profile {
        name: OLD_NAME.into(),
        uscc: uscc::complete("91410102MA44XY8K1").expect("a valid code"),
        region_id: COUNTY.into(),
        industry: "装备制造".into(),
        tags: vec!["srdi".into()],
        address: "郑州市中原区".into(),
        location: None,
        contacts: vec![Contact { name: "刘总".into(), title: "总经理".into(), phone: "13800000000".into() }],
        scale: Default::default(),
    }
}

pub fn visit(id: &str, date: &str) -> VisitRecord {
    VisitRecord {
        id: id.into(),
        date: date.into(),
        people_met: vec!["刘总".into()],
        notes: "了解融资需求".into(),
        policies: vec![],
        policy_ids: vec![],
        location: None,
        photos: vec![],
    }
}

/// `ent-a`, written by the office and the cadre through `Document`; each change with its author.
fn enterprise_document(d: &[Device]) -> (Document, Vec<(usize, Change)>) {
    use EnterpriseAction::*;
    let t = NOW - 30 * DAY;
    let first = d[MANAGER].event("e-1", t, &[], Registered { profile: profile() });
    let (mut doc, c1) = Document::create(DocKind::Enterprise, ENT_A, &[], d[MANAGER].actor.clone(), &first).unwrap();
    let c2 = doc
        .append(&d[MANAGER].event("e-2", t + HOUR, &["e-1"], CadreAssigned { cadre_id: "cadre".into(), chief: true }))
        .unwrap();
    doc.set_actor(d[CADRE].actor.clone());
    let c3 = doc
        .append(&d[CADRE].event(
            "e-3",
            NOW - 12 * DAY,
            &["e-2"],
            VisitRecorded { visit: visit("visit-1", "2025-12-20") },
        ))
        .unwrap();
    doc.set_actor(d[MANAGER].actor.clone());
    let correction =
        Correction { name: Some(NAME.into()), uscc: None, address: None, reason: "工商变更登记".into() };
    let c4 = doc.append(&d[MANAGER].event("e-4", NOW - 10 * DAY, &["e-3"], Corrected { correction })).unwrap();
    (doc, vec![(MANAGER, c1), (MANAGER, c2), (CADRE, c3), (MANAGER, c4)])
}

/// `prob-1`, written through `Document`: reported, accepted, routed, then two concurrent progress
/// notes (the handler's on a copy of the document, merged back).
fn problem_document(d: &[Device]) -> (Document, Vec<(usize, Change)>) {
    use ProblemAction::*;
    let t = NOW - 3 * DAY;
    let reported = Reported {
        enterprise_id: ENT_A.into(),
        category: Category::Financing,
        title: "贷款到期".into(),
        description: "续贷需要担保".into(),
        visit_id: Some("visit-1".into()),
        photos: vec![],
    };
    let header = [("enterprise_id", ENT_A), ("enterprise_name", NAME), ("region_id", COUNTY)];
    let first = d[CADRE].event("p-1", t, &[], reported);
    let (mut doc, c1) = Document::create(DocKind::Problem, PROBLEM, &header, d[CADRE].actor.clone(), &first).unwrap();
    doc.set_actor(d[MANAGER].actor.clone());
    let c2 = doc.append(&d[MANAGER].event("p-2", t + 2 * HOUR, &["p-1"], Accepted { note: String::new() })).unwrap();
    let routed =
        Routed { department_id: FINANCE.into(), level: 1, deadline: NOW + 5 * DAY, note: "请尽快办理".into() };
    let c3 = doc.append(&d[MANAGER].event("p-3", t + 3 * HOUR, &["p-2"], routed)).unwrap();
    let mut fork = Document::from_automerge(doc.automerge().fork());
    fork.set_actor(d[HANDLER].actor.clone());
    let c4 = fork
        .append(&d[HANDLER].event(
            "p-4",
            NOW - 2 * DAY,
            &["p-3"],
            Progress { note: "已联系银行".into(), photos: vec![] },
        ))
        .unwrap();
    doc.set_actor(d[CADRE].actor.clone());
    let c5 = doc
        .append(&d[CADRE].event(
            "p-5",
            NOW - 2 * DAY + HOUR,
            &["p-3"],
            Progress { note: "企业补充了材料".into(), photos: vec![] },
        ))
        .unwrap();
    doc.automerge_mut().merge(fork.automerge_mut()).unwrap();
    (doc, vec![(CADRE, c1), (MANAGER, c2), (MANAGER, c3), (HANDLER, c4), (CADRE, c5)])
}

/// The event list of a document laid out as the core lays it out.
pub fn events_list(doc: &Automerge) -> Option<automerge::ObjId> {
    match doc.get(ROOT, "events") {
        Ok(Some((Value::Object(ObjType::List), list))) => Some(list),
        _ => None,
    }
}

/// The highest op counter of a document.
pub fn max_op(doc: &Automerge) -> u64 {
    doc.get_changes_meta(&[]).iter().map(|m| m.max_op).max().unwrap_or(0)
}

/// The heads of the event log of `doc` (what a new event's `seen` lists), sorted.
pub fn event_heads(doc: &Automerge) -> Vec<String> {
    let log: Vec<Event<serde_json::Value>> =
        zhuqi_core::document::parse_events(&zhuqi_core::document::raw_events_of(doc));
    let mut heads = Causality::new(&log).heads(&log);
    heads.sort();
    heads
}

/// A change by `actor` appending `events` at the end of the list of `doc` as it stood at `deps`
/// (all of it when `None`), as a device holding that history writes it.
pub fn append(doc: &Automerge, deps: Option<&[ChangeHash]>, actor: &ActorId, events: &[String], at: i64) -> Change {
    let mut d = match deps {
        Some(h) => doc.fork_at(h).expect("heads of the document"),
        None => doc.fork(),
    };
    d.set_actor(actor.clone());
    let list = events_list(&d).expect("an event list");
    let len = d.length(&list);
    d.transact_with(
        |_| CommitOptions::default().with_time(at / 1000),
        |tx| {
            for (i, e) in events.iter().enumerate() {
                tx.insert(&list, len + i, e.as_str())?;
            }
            Ok::<_, automerge::AutomergeError>(())
        },
    )
    .expect("inserts into a list");
    d.get_last_local_change().expect("a change")
}

/// A change creating a document: its header (`schema`, `kind`, `id`, then `header` in order), the
/// event list and `events`, as `Document::create` writes it.
pub fn create(kind: &str, id: &str, header: &[(&str, &str)], actor: &ActorId, events: &[String], at: i64) -> Change {
    let mut doc = Automerge::new().with_actor(actor.clone());
    doc.transact_with(
        |_| CommitOptions::default().with_time(at / 1000),
        |tx| {
            tx.put(ROOT, "schema", zhuqi_core::document::SCHEMA_VERSION)?;
            tx.put(ROOT, "kind", kind)?;
            tx.put(ROOT, "id", id)?;
            for (k, v) in header {
                tx.put(ROOT, *k, *v)?;
            }
            let list = tx.put_object(ROOT, "events", ObjType::List)?;
            for (i, e) in events.iter().enumerate() {
                tx.insert(&list, i, e.as_str())?;
            }
            Ok::<_, automerge::AutomergeError>(())
        },
    )
    .expect("a creation");
    doc.get_last_local_change().expect("a change")
}

pub fn json<A: serde::Serialize>(event: &Event<A>) -> String {
    encode(event).expect("an event encodes")
}

/// The problem header of `ent-a`.
pub fn problem_header() -> [(&'static str, &'static str); 3] {
    [("enterprise_id", ENT_A), ("enterprise_name", NAME), ("region_id", COUNTY)]
}

fn seeds(w: &World) -> Vec<Seed> {
    use ProblemAction::*;
    let d = &w.devices;
    let at = NOW - HOUR;
    let seen = |base: Base| event_heads(&w.held(base).unwrap().doc);
    let on =
        |base: Base, dev: usize, events: &[String]| append(&w.held(base).unwrap().doc, None, &d[dev].actor, events, at);
    let ev = |dev: usize, id: &str, seen: Vec<String>, action: ProblemAction| {
        json(&Event { seen, ..d[dev].event(id, at, &[], action) })
    };
    let seed = |name, device, base, changes: Vec<Change>| {
        let (kind, doc) = World::names(base).unwrap();
        Seed {
            name,
            device,
            base,
            kind,
            doc: doc.into(),
            changes: changes.iter().map(|c| c.raw_bytes().to_vec()).collect(),
        }
    };
    let reported = |visit: Option<&str>| Reported {
        enterprise_id: ENT_A.into(),
        category: Category::Land,
        title: "用地审批慢".into(),
        description: "厂房扩建用地手续未批".into(),
        visit_id: visit.map(Into::into),
        photos: vec![],
    };
    let mut seeds = Vec::new();
    let (_, c) = Document::create(
        DocKind::Problem,
        "prob-2",
        &problem_header(),
        d[CADRE].actor.clone(),
        &d[CADRE].event("q-1", at, &[], reported(Some("visit-1"))),
    )
    .unwrap();
    seeds.push(Seed {
        name: "cadre reports a problem",
        device: CADRE,
        base: Base::None,
        kind: DocKind::Problem,
        doc: "prob-2".into(),
        changes: vec![c.raw_bytes().to_vec()],
    });
    let p = Base::Problem;
    let progress = ev(CADRE, "n-1", seen(p), Progress { note: "银行已受理".into(), photos: vec![] });
    seeds.push(seed("cadre adds progress", CADRE, p, vec![on(p, CADRE, &[progress])]));
    let urged = ev(MANAGER, "n-2", seen(p), Urged { note: "请加快办理".into() });
    seeds.push(seed("office urges", MANAGER, p, vec![on(p, MANAGER, &[urged.clone()])]));
    let resolved = ev(HANDLER, "n-3", seen(p), Resolved { resolution: "已协调银行续贷".into(), photos: vec![] });
    seeds.push(seed("handler resolves", HANDLER, p, vec![on(p, HANDLER, &[resolved])]));
    let escalated = ev(
        MANAGER,
        "n-4",
        vec!["n-2".into()],
        Escalated { level: 2, reason: "久拖未决".into(), department_id: None, deadline: None },
    );
    seeds.push(seed("office urges and escalates in one change", MANAGER, p, vec![on(p, MANAGER, &[urged, escalated])]));
    // The office had not yet received either progress note.
    let older = w.problem.changes[2];
    let urged_earlier = ev(MANAGER, "n-5", vec!["p-3".into()], Urged { note: "请尽快联系企业".into() });
    let c = append(&w.problem.doc, Some(&[older]), &d[MANAGER].actor, &[urged_earlier], at);
    seeds.push(seed("office writes on an older view", MANAGER, p, vec![c]));
    let first = ev(CADRE, "n-6", seen(p), Progress { note: "第一次".into(), photos: vec![] });
    let c1 = on(p, CADRE, &[first]);
    let mut after = w.problem.doc.clone();
    after.apply_changes([c1.clone()]).unwrap();
    let second = ev(CADRE, "n-7", vec!["n-6".into()], Progress { note: "第二次".into(), photos: vec![] });
    let c2 = append(&after, None, &d[CADRE].actor, &[second], at);
    seeds.push(seed("cadre pushes two changes", CADRE, p, vec![c1, c2]));
    // Dated before the events it saw: the relay's own records keep their dates.
    let history = Urged { note: String::new() };
    let history = json(&Event { seen: seen(p), ..d[RELAY].event("n-8", NOW - 2 * DAY - HOUR, &[], history) });
    seeds.push(seed("the relay records the office's urging", RELAY, p, vec![on(p, RELAY, &[history])]));
    let e = Base::Enterprise;
    let visit = json(&Event {
        seen: seen(e),
        ..d[CADRE].event("n-9", at, &[], EnterpriseAction::VisitRecorded { visit: visit("visit-2", "2025-12-31") })
    });
    seeds.push(seed("cadre records a visit", CADRE, e, vec![on(e, CADRE, &[visit])]));
    let update = ProfileUpdate { industry: Some("通用设备制造".into()), ..Default::default() };
    let updated = json(&Event {
        seen: seen(e),
        ..d[MANAGER].event("n-10", at, &[], EnterpriseAction::ProfileUpdated { update })
    });
    seeds.push(seed("office updates the profile", MANAGER, e, vec![on(e, MANAGER, &[updated])]));
    let issued = TaskNoticeAction::Issued {
        region_id: COUNTY.into(),
        title: "走访通知".into(),
        body: "本周内走访所联系企业".into(),
        deadline: NOW + 7 * DAY,
        recipients: vec![Recipient::Department(FINANCE.into()), Recipient::Cadre("cadre".into())],
    };
    let (_, c) = Document::create(
        DocKind::TaskNotice,
        "notice-1",
        &[("region_id", COUNTY)],
        d[MANAGER].actor.clone(),
        &d[MANAGER].event("t-1", at, &[], issued),
    )
    .unwrap();
    seeds.push(Seed {
        name: "office issues a task notice",
        device: MANAGER,
        base: Base::None,
        kind: DocKind::TaskNotice,
        doc: "notice-1".into(),
        changes: vec![c.raw_bytes().to_vec()],
    });
    let (_, c) = Document::create(
        DocKind::Problem,
        "prob-3",
        &problem_header(),
        d[CONTACT].actor.clone(),
        &d[CONTACT].event("r-1", at, &[], reported(None)),
    )
    .unwrap();
    seeds.push(Seed {
        name: "contact reports a problem",
        device: CONTACT,
        base: Base::None,
        kind: DocKind::Problem,
        doc: "prob-3".into(),
        changes: vec![c.raw_bytes().to_vec()],
    });
    let registered =
        EnterpriseAction::Registered { profile: Profile { name: "中原食品有限公司".into(), ..profile() } };
    let (_, c) = Document::create(
        DocKind::Enterprise,
        "ent-new",
        &[],
        d[MANAGER].actor.clone(),
        &d[MANAGER].event("s-1", at, &[], registered),
    )
    .unwrap();
    seeds.push(Seed {
        name: "office registers an enterprise",
        device: MANAGER,
        base: Base::None,
        kind: DocKind::Enterprise,
        doc: "ent-new".into(),
        changes: vec![c.raw_bytes().to_vec()],
    });
    seeds
}
