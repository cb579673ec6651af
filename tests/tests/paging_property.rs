//! The paging property of pulls: whatever the page budgets, however pulls interleave with new
//! documents, new events and scope moving (a cadre's assignment starting and ending, a problem
//! re-routed to another department), a device that applies every page as a phone does ends up holding
//! exactly what one unlimited pull gives — the same documents, each with the relay's heads — and never
//! receives a change whose dependencies it lacks. On the real stores (SQLite in a temporary directory,
//! PostgreSQL in a schema of its own), with real Automerge documents and real device stores.

use automerge::{ActorId, Automerge};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use zhuqi_core::document::Document;
use zhuqi_core::domain::*;
use zhuqi_core::store::{Identity, Store};
use zhuqi_server::storage::postgres::PostgresStorage;
use zhuqi_server::storage::projection::project;
use zhuqi_server::storage::scope::doc_keys;
use zhuqi_server::storage::sqlite::SqliteStorage;
use zhuqi_server::storage::{AcceptedChange, Commit, DocWrite, RelayStorage};

/// Cases on SQLite: each a script of 15 to 40 steps with three devices, a few hundredths of a second.
const SQLITE_CASES: u32 = 64;
/// Cases on PostgreSQL, where each costs several times more (a round trip per statement): the pull's
/// logic is the same code, what this adds is PostgreSQL's reading of its statements.
const POSTGRES_CASES: u32 = 24;

#[test]
fn paged_pulls_on_sqlite_end_where_one_pull_ends() {
    let dir = fast_tempdir();
    let store = SqliteStorage::open(dir.path()).expect("open SQLite storage");
    check_property("sqlite", &store, SQLITE_CASES);
}

#[test]
fn paged_pulls_on_postgres_end_where_one_pull_ends() {
    let db = zhuqi_tests::pg::TestDatabase::create();
    // As on tmpfs for SQLite: commits need not wait for the disk here.
    let url = format!("{}%20-c%20synchronous_commit%3Doff", db.url);
    let store = PostgresStorage::open(&url, 4).expect("open PostgreSQL storage");
    check_property("postgres", &store, POSTGRES_CASES);
}

/// Runs the scripts on one store (each case in names of its own: its own region, cadre, departments
/// and documents), then checks that the cases reached the states the property is about.
fn check_property(name: &str, store: &dyn RelayStorage, cases: u32) {
    let started = Instant::now();
    let reached = Reached::default();
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&script(), |s| run(store, &s, &reached));
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let r = reached.read();
    eprintln!("{name}: {cases} cases in {:.1?}; reached {r:?}", started.elapsed());
    assert!(r.cut > 0, "no pull was cut into pages: {r:?}");
    assert!(r.whole_on_later_page > 0, "no document went whole on a later page: {r:?}");
    assert!(r.purged > 0, "no held document was purged: {r:?}");
    assert!(r.gained_then_changed_after_cut > 0, "no gained document changed after a page cut: {r:?}");
}

// ---------- scripts ----------

/// One step of a script. Indices pick among what exists (modulo its number); a step with nothing to
/// act on does nothing.
#[derive(Debug, Clone)]
enum Step {
    /// The county office registers an enterprise, with the cadre assigned from the start or not.
    Register { assigned: bool },
    /// The chief cadre reports a problem of an enterprise, routed to a department at once or not.
    Report { enterprise: usize, routed: Option<usize> },
    /// New events in a document: progress notes in a problem, profile updates of an enterprise.
    Append { doc: usize, events: usize, note: usize },
    /// The cadre's assignment to an enterprise starts, or ends if it is running.
    Assign { enterprise: usize },
    /// A problem is routed to one of the two departments, or re-routed from its department to the other.
    Reroute { problem: usize, department: usize },
    /// A device syncs with a page budget, taking at most `pages` pages (a device with more waiting
    /// goes on later).
    Pull { device: usize, budget: usize, pages: usize },
}

#[derive(Debug, Clone)]
struct Script {
    steps: Vec<Step>,
    /// Budgets of the pulls that finally bring every device up to date, used in turn.
    drain: Vec<usize>,
}

/// Page budgets: mostly below a document's size (an enterprise saved is about a kilobyte), so that
/// pulls are cut into many pages.
fn budget() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 1..600usize, 2 => 600..3_000usize, 1 => 3_000..20_000usize]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => any::<bool>().prop_map(|assigned| Step::Register { assigned }),
        3 => (any::<usize>(), proptest::option::weighted(0.6, 0..2usize))
            .prop_map(|(enterprise, routed)| Step::Report { enterprise, routed }),
        4 => (any::<usize>(), 1..4usize, 0..200usize).prop_map(|(doc, events, note)| Step::Append { doc, events, note }),
        3 => any::<usize>().prop_map(|enterprise| Step::Assign { enterprise }),
        3 => (any::<usize>(), 0..2usize).prop_map(|(problem, department)| Step::Reroute { problem, department }),
        6 => (0..DEVICES, budget(), 1..4usize).prop_map(|(device, budget, pages)| Step::Pull { device, budget, pages }),
    ]
}

fn script() -> impl Strategy<Value = Script> {
    (proptest::collection::vec(step(), 15..40), proptest::collection::vec(budget(), 1..4))
        .prop_map(|(steps, drain)| Script { steps, drain })
}

// ---------- what the cases reached ----------

#[derive(Default)]
struct Reached {
    cut: AtomicU64,
    whole_on_later_page: AtomicU64,
    purged: AtomicU64,
    gained_then_changed_after_cut: AtomicU64,
}

#[derive(Debug)]
struct Counts {
    cut: u64,
    whole_on_later_page: u64,
    purged: u64,
    gained_then_changed_after_cut: u64,
}

impl Reached {
    fn read(&self) -> Counts {
        Counts {
            cut: self.cut.load(Ordering::Relaxed),
            whole_on_later_page: self.whole_on_later_page.load(Ordering::Relaxed),
            purged: self.purged.load(Ordering::Relaxed),
            gained_then_changed_after_cut: self.gained_then_changed_after_cut.load(Ordering::Relaxed),
        }
    }
}

fn count(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::Relaxed);
}

// ---------- one case ----------

/// The devices of a case: the cadre, the handler of the first department, the county office.
const DEVICES: usize = 3;

/// Every case gets names of its own in the shared store.
static CASE: AtomicU64 = AtomicU64::new(0);

const OFFICE_DEVICE: &str = "office-desk";
const T0: i64 = 1_780_000_000_000;
const DAY: i64 = 86_400_000;

/// A document as written to the relay, always from a device other than those under test (so every
/// change of it is theirs to receive).
struct Written {
    kind: DocKind,
    doc: Document,
    last_event: String,
    events: usize,
    /// The sequence number of its latest change.
    last_seq: u64,
    /// Its scope keys as stored with its latest change.
    keys: Vec<String>,
}

/// A device under test: a real device store, its cursor, and which documents its user may read
/// since when (the sequence number of the commit that made each visible).
struct Device {
    user: User,
    id: String,
    store: Store,
    cursor: u64,
    /// Its user's scope keys as of the latest commit.
    keys: Vec<String>,
    /// The last answer said `more`: the next pull continues a paged pull.
    paging: bool,
    visible_since: HashMap<String, u64>,
}

struct World<'a> {
    store: &'a dyn RelayStorage,
    reached: &'a Reached,
    case: u64,
    region: String,
    cadre: String,
    departments: [String; 2],
    actor: ActorId,
    docs: BTreeMap<String, Written>,
    enterprises: Vec<String>,
    problems: Vec<String>,
    /// Enterprises the cadre is assigned to now.
    assigned: BTreeSet<String>,
    /// The department each routed problem is routed to now.
    routed_to: HashMap<String, usize>,
    devices: Vec<Device>,
    clock: i64,
}

fn run(store: &dyn RelayStorage, script: &Script, reached: &Reached) -> Result<(), TestCaseError> {
    let dir = fast_tempdir();
    let mut w = World::new(store, reached, dir.path());
    for step in &script.steps {
        w.step(step)?;
    }
    for d in 0..DEVICES {
        let mut pulls = 0;
        loop {
            let budget = script.drain[pulls % script.drain.len()];
            if !w.pull(d, budget)? {
                break;
            }
            pulls += 1;
            prop_assert!(pulls < 10_000, "device {d} never got to the end");
        }
        w.check_up_to_date(d)?;
    }
    Ok(())
}

/// The directory as the scope keys see it here: no region has a path, so a document carries the key
/// of its own region only (each case has a region of its own).
struct NoPaths;

impl DirectoryLookup for NoPaths {
    fn region_path(&self, _: &str) -> Option<String> {
        None
    }
    fn department(&self, _: &str) -> Option<Department> {
        None
    }
    fn user(&self, _: &str) -> Option<User> {
        None
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

impl<'a> World<'a> {
    fn new(store: &'a dyn RelayStorage, reached: &'a Reached, dir: &Path) -> World<'a> {
        let case = CASE.fetch_add(1, Ordering::Relaxed);
        let region = format!("r{case}");
        let cadre = format!("k{case}-cadre");
        let departments = [format!("k{case}-finance"), format!("k{case}-land")];
        let user = |id: String, role: Role, region_id: Option<String>, department_id: Option<String>| User {
            name: id.clone(),
            id,
            role,
            region_id,
            department_id,
            enterprise_id: None,
            mobile: None,
            position: None,
            unit: None,
        };
        let users = [
            user(cadre.clone(), Role::Cadre, Some(region.clone()), None),
            user(format!("k{case}-handler"), Role::DepartmentHandler, None, Some(departments[0].clone())),
            user(format!("k{case}-office"), Role::Manager, Some(region.clone()), None),
        ];
        let devices = users
            .into_iter()
            .map(|user| {
                let id = format!("{}-phone", user.id);
                let identity = Identity {
                    user_id: user.id.clone(),
                    name: user.name.clone(),
                    role: user.role,
                    region_id: user.region_id.clone(),
                    department_id: user.department_id.clone(),
                    enterprise_id: None,
                    device_id: id.clone(),
                };
                let store = Store::open(&dir.join(format!("{id}.db")), identity).expect("device store");
                Device { user, id, store, cursor: 0, keys: Vec::new(), paging: false, visible_since: HashMap::new() }
            })
            .collect();
        World {
            store,
            reached,
            case,
            region,
            cadre,
            departments,
            actor: ActorId::random(),
            docs: BTreeMap::new(),
            enterprises: Vec::new(),
            problems: Vec::new(),
            assigned: BTreeSet::new(),
            routed_to: HashMap::new(),
            devices,
            clock: T0,
        }
    }

    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let pick = |list: &[String], i: usize| (!list.is_empty()).then(|| list[i % list.len()].clone());
        match *step {
            Step::Register { assigned } => {
                let id = format!("k{}-e{}", self.case, self.enterprises.len());
                let n = self.case * 1_000 + self.enterprises.len() as u64;
                let profile = Profile {
                    name: format!("第{n}号机械有限公司"),
                    uscc: uscc::complete(&format!("914101{n:011}")).ok_or_else(|| fail("no credit code"))?,
                    region_id: self.region.clone(),
                    industry: "装备制造".into(),
                    address: format!("建设路{n}号"),
                    ..Profile::default()
                };
                let office = format!("k{}-office", self.case);
                let first = self.event(&id, &office, Role::Manager, EnterpriseAction::Registered { profile });
                let (doc, change) =
                    Document::create(DocKind::Enterprise, &id, &[], self.actor.clone(), &first).map_err(fail)?;
                let written = Written {
                    kind: DocKind::Enterprise,
                    doc,
                    last_event: first.id,
                    events: 1,
                    last_seq: 0,
                    keys: vec![],
                };
                self.docs.insert(id.clone(), written);
                self.enterprises.push(id.clone());
                let mut changes = vec![change];
                if assigned {
                    let cadre_id = self.cadre.clone();
                    changes.push(self.append(&id, EnterpriseAction::CadreAssigned { cadre_id, chief: true })?);
                    self.assigned.insert(id.clone());
                }
                self.commit(&id, changes)
            }
            Step::Report { enterprise, routed } => {
                let Some(enterprise_id) = pick(&self.enterprises, enterprise) else { return Ok(()) };
                let id = format!("k{}-p{}", self.case, self.problems.len());
                let (name, region) = (format!("{enterprise_id}的企业"), self.region.clone());
                let header =
                    [("enterprise_id", enterprise_id.as_str()), ("enterprise_name", &name), ("region_id", &region)];
                let reported = ProblemAction::Reported {
                    enterprise_id: enterprise_id.clone(),
                    category: Category::Financing,
                    title: "流动资金贷款".into(),
                    description: "企业需要流动资金贷款，希望协调银行".into(),
                    visit_id: None,
                    photos: vec![],
                };
                let cadre = self.cadre.clone();
                let first = self.event(&id, &cadre, Role::Cadre, reported);
                let (doc, change) =
                    Document::create(DocKind::Problem, &id, &header, self.actor.clone(), &first).map_err(fail)?;
                let written =
                    Written { kind: DocKind::Problem, doc, last_event: first.id, events: 1, last_seq: 0, keys: vec![] };
                self.docs.insert(id.clone(), written);
                self.problems.push(id.clone());
                let mut changes = vec![change];
                if let Some(d) = routed {
                    self.routed_to.insert(id.clone(), d);
                    let routed = self.routed(d);
                    changes.push(self.append(&id, routed)?);
                }
                self.commit(&id, changes)
            }
            Step::Append { doc, events, note } => {
                let ids: Vec<String> = self.docs.keys().cloned().collect();
                let Some(id) = pick(&ids, doc) else { return Ok(()) };
                let mut changes = Vec::new();
                for i in 0..events {
                    let text = format!("第{i}次跟进：{}", "协调进展".repeat(note % 40));
                    changes.push(match self.docs[&id].kind {
                        DocKind::Problem => self.append(&id, ProblemAction::Progress { note: text, photos: vec![] })?,
                        _ => {
                            let update = ProfileUpdate { address: Some(text), ..ProfileUpdate::default() };
                            self.append(&id, EnterpriseAction::ProfileUpdated { update })?
                        }
                    });
                }
                self.commit(&id, changes)
            }
            Step::Assign { enterprise } => {
                let Some(id) = pick(&self.enterprises, enterprise) else { return Ok(()) };
                let cadre_id = self.cadre.clone();
                let action = if self.assigned.remove(&id) {
                    EnterpriseAction::AssignmentEnded { cadre_id, reason: "调整包联".into() }
                } else {
                    self.assigned.insert(id.clone());
                    EnterpriseAction::CadreAssigned { cadre_id, chief: true }
                };
                let change = self.append(&id, action)?;
                self.commit(&id, vec![change])
            }
            Step::Reroute { problem, department } => {
                let Some(id) = pick(&self.problems, problem) else { return Ok(()) };
                let department = self.routed_to.get(&id).map_or(department, |d| 1 - d);
                self.routed_to.insert(id.clone(), department);
                let routed = self.routed(department);
                let change = self.append(&id, routed)?;
                self.commit(&id, vec![change])
            }
            Step::Pull { device, budget, pages } => {
                for _ in 0..pages {
                    if !self.pull(device, budget)? {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    fn event<A>(&mut self, doc: &str, by: &str, role: Role, action: A) -> Event<A> {
        self.clock += 60_000;
        let seen = self.docs.get(doc).map(|w| vec![w.last_event.clone()]).unwrap_or_default();
        let n = self.docs.get(doc).map_or(0, |w| w.events);
        Event {
            id: format!("{doc}-ev{n}"),
            by: by.into(),
            role,
            device: OFFICE_DEVICE.into(),
            at: self.clock,
            seen,
            origin: None,
            action,
        }
    }

    fn routed(&self, department: usize) -> ProblemAction {
        ProblemAction::Routed {
            department_id: self.departments[department].clone(),
            level: 2,
            deadline: self.clock + 30 * DAY,
            note: "请限期办理".into(),
        }
    }

    /// Appends an event (by the county office) to a document; returns its change.
    fn append<A: Serialize>(&mut self, id: &str, action: A) -> Result<automerge::Change, TestCaseError> {
        let office = format!("k{}-office", self.case);
        let ev = self.event(id, &office, Role::Manager, action);
        let w = self.docs.get_mut(id).expect("written document");
        let change = w.doc.append(&ev).map_err(fail)?;
        w.last_event = ev.id;
        w.events += 1;
        Ok(change)
    }

    /// Stores new changes of a document as the relay does (projection, scope keys, a snapshot now and
    /// then), then notes which documents each device's user may read from now on.
    fn commit(&mut self, id: &str, changes: Vec<automerge::Change>) -> Result<(), TestCaseError> {
        let w = &self.docs[id];
        let projection = project(w.kind, &w.doc);
        let keys = doc_keys(id, &projection, &NoPaths);
        let new = w.last_seq == 0;
        let written_keys = keys.clone();
        let write = DocWrite {
            doc_id: id.into(),
            kind: w.kind,
            changes: changes
                .iter()
                .map(|c| AcceptedChange {
                    hash: c.hash().as_ref().to_vec(),
                    bytes: c.raw_bytes().to_vec(),
                    events: vec![],
                })
                .collect(),
            // New documents need one; others get one every third event, so that whole documents are
            // sent as a snapshot followed by changes, or as a snapshot alone.
            snapshot: (new || w.events % 3 == 0).then(|| w.doc.save()),
            keys,
            projection,
            base_seq: w.last_seq,
        };
        let commit = Commit {
            user_id: format!("k{}-office", self.case),
            device_id: OFFICE_DEVICE.into(),
            received_at: self.clock,
            docs: vec![write],
        };
        let seq = self.store.commit(&[&commit]).map_err(fail)?[0];
        let w = self.docs.get_mut(id).expect("written document");
        (w.last_seq, w.keys) = (seq, written_keys);
        for d in &mut self.devices {
            // A cadre's keys follow their assignments; the others' follow from their own record.
            if d.user.role == Role::Cadre || d.keys.is_empty() {
                d.keys = self.store.user_keys(&d.user).map_err(fail)?;
            }
            // A user reads a document when their keys and the document's meet.
            let keys: HashSet<&String> = d.keys.iter().collect();
            for (doc, w) in &self.docs {
                if w.keys.iter().any(|k| keys.contains(k)) {
                    d.visible_since.entry(doc.clone()).or_insert(seq);
                } else {
                    d.visible_since.remove(doc);
                }
            }
        }
        Ok(())
    }

    /// One sync of device `d`'s pull, applied as the device applies it (purges, then documents, then
    /// the cursor). Returns whether more is waiting.
    fn pull(&mut self, d: usize, budget: usize) -> Result<bool, TestCaseError> {
        let dev = &mut self.devices[d];
        let keys = self.store.user_keys(&dev.user).map_err(fail)?;
        let held: BTreeSet<String> = dev.store.document_ids().map_err(fail)?.into_iter().map(|(id, _)| id).collect();
        let p = self.store.pull(&dev.user.id, &keys, dev.cursor, &dev.id, budget).map_err(fail)?;
        if p.more {
            prop_assert!(
                p.cursor > dev.cursor,
                "a page that says more must move the cursor: {} → {}",
                dev.cursor,
                p.cursor
            );
            count(&self.reached.cut, 1);
            // Documents that became readable after the request's cursor, before the cut, and changed
            // after the cut: the case that must not lose their history.
            let crossing = dev
                .visible_since
                .iter()
                .filter(|(doc, since)| {
                    **since > dev.cursor && **since <= p.cursor && self.docs[*doc].last_seq > p.cursor
                })
                .count();
            count(&self.reached.gained_then_changed_after_cut, crossing);
        }
        if dev.paging {
            count(&self.reached.whole_on_later_page, p.docs.iter().filter(|x| x.whole).count());
        }
        count(&self.reached.purged, p.purge.iter().filter(|x| held.contains(*x)).count());
        dev.store.purge(&p.purge).map_err(fail)?;
        for x in &p.docs {
            let applied = dev.store.apply_remote(&x.doc, x.kind, &x.data).map_err(fail)?;
            prop_assert!(
                !applied.waiting_for_deps,
                "{} got {} ({}) missing dependencies: pull from {} with {budget} bytes, to {} (more: {})",
                dev.user.id,
                x.doc,
                if x.whole { "whole" } else { "changes" },
                dev.cursor,
                p.cursor,
                p.more
            );
        }
        dev.store.finish_sync(p.cursor, None, 0).map_err(fail)?;
        dev.cursor = p.cursor;
        dev.paging = p.more;
        Ok(p.more)
    }

    /// The device holds what one unlimited pull from scratch gives, each document at the relay's heads.
    fn check_up_to_date(&self, d: usize) -> Result<(), TestCaseError> {
        let dev = &self.devices[d];
        let keys = self.store.user_keys(&dev.user).map_err(fail)?;
        let one = self.store.pull(&dev.user.id, &keys, 0, "a-fresh-phone", usize::MAX).map_err(fail)?;
        prop_assert!(!one.more);
        let expected: BTreeSet<String> = one.docs.iter().map(|x| x.doc.clone()).collect();
        let visible: BTreeSet<String> = dev.visible_since.keys().cloned().collect();
        prop_assert_eq!(&expected, &visible, "one pull gives what {} may read", dev.user.id);
        let held: BTreeSet<String> = dev.store.document_ids().map_err(fail)?.into_iter().map(|(id, _)| id).collect();
        prop_assert_eq!(&held, &expected, "{} holds what one pull gives", dev.user.id);
        // The relay's copy of each document, as that pull sends it (whole: everything stored), and as
        // it was written.
        for x in &one.docs {
            let mut relay = Automerge::new();
            for chunk in &x.data {
                relay.load_incremental(chunk).map_err(fail)?;
            }
            let relay_heads = sorted(relay.get_heads().iter().map(ToString::to_string).collect());
            let written =
                sorted(self.docs[&x.doc].doc.automerge().get_heads().iter().map(ToString::to_string).collect());
            prop_assert_eq!(&relay_heads, &written, "the relay holds {} as written", x.doc);
            let device_heads = sorted(dev.store.document_heads(&x.doc).map_err(fail)?);
            prop_assert_eq!(&device_heads, &relay_heads, "{} holds {} as the relay does", dev.user.id, x.doc);
        }
        Ok(())
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A temporary directory on tmpfs where there is one: the property is about what pulls send, not
/// about durability, and both the relay's and the devices' SQLite files flush on every commit.
fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("temporary directory")
}
