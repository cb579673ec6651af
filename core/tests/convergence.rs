//! Property: devices that take random valid actions, with clocks hours apart, and exchange their
//! changes in random orders and subsets, end — once everything has been exchanged — with identical
//! documents, identical derived states and timelines and identical index rows; and no device ever
//! loses a change it was given, through compaction or a restart, whatever it was still waiting for.
//!
//! Every user has two devices, so one contact's phone and tablet confirm and reject one resolution
//! concurrently, and the office's call-backs and closures race the enterprise's answers. The test
//! counts, over all its cases, the situations it claims to cover and fails if one never happened.

mod common;

use automerge::{Automerge, ChangeHash, ReadDoc};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;
use zhuqi_core::Error;
use zhuqi_core::document::raw_events_of;
use zhuqi_core::domain::event::Outcome;
use zhuqi_core::domain::{DocKind, ProblemAction, ProblemState, ProblemStatus, Recipient};
use zhuqi_core::error::DomainError;
use zhuqi_core::store::{Clock, NewTaskNotice, ProblemFilter, Store, TimelineEntry};

/// Two devices of each user: (user, device).
const DEVICES: [(&str, &str); 8] = [
    ("mgr-county", "phone-mgr"),
    ("mgr-county", "desk-mgr"),
    ("cadre-1", "phone-cadre"),
    ("cadre-1", "tablet-cadre"),
    ("handler-1", "phone-handler"),
    ("handler-1", "desk-handler"),
    ("contact-1", "phone-contact"),
    ("contact-1", "tablet-contact"),
];
const N: usize = DEVICES.len();
/// How far a device's clock may be off, either way.
const MAX_SKEW: i64 = 3 * HOUR;

/// A device's clock: the test's clock, off by a fixed amount.
struct Skewed {
    base: Arc<TestClock>,
    offset: i64,
}

impl Clock for Skewed {
    fn now_ms(&self) -> i64 {
        self.base.now_ms() + self.offset
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Device `who` tries action `what` on its `target`-th problem (or notice), with parameter `p`.
    Act { who: usize, what: u8, target: usize, p: u8 },
    /// Device `from` sends the changes selected by `mask` (in an order shuffled by `seed`) to `to`.
    Send { from: usize, to: usize, mask: u64, seed: u64 },
    /// Device `from` sends everything it holds to every other device (a sync round through the relay).
    Broadcast { from: usize, seed: u64 },
    /// Device `from` sends `to` every change `to` lacks but the oldest of them (the others that
    /// depend on it wait); then `to` is restarted, compacting its documents, when `restart`.
    Hold { from: usize, to: usize, restart: bool },
    /// Both devices of user `user` (0 to 3) act, each on its own copy, before either syncs.
    Twin { user: usize, what: u8, target: usize, p: u8 },
    /// Device `who` is restarted (its store closed and opened again), first compacting every document
    /// when `compact`, whatever changes it still holds waiting for their dependencies.
    Restart { who: usize, compact: bool },
    /// Time passes for everybody: `hours`.
    Wait { hours: u16 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..N, any::<u8>(), 0..2usize, any::<u8>())
            .prop_map(|(who, what, target, p)| Op::Act { who, what, target, p }),
        3 => (0..N, 0..N, prop_oneof![Just(u64::MAX), any::<u64>()], any::<u64>())
            .prop_map(|(from, to, mask, seed)| Op::Send { from, to, mask, seed }),
        5 => (0..N, any::<u64>()).prop_map(|(from, seed)| Op::Broadcast { from, seed }),
        2 => (0..N, 0..N, any::<bool>()).prop_map(|(from, to, restart)| Op::Hold { from, to, restart }),
        4 => (0..N / 2, any::<u8>(), 0..2usize, any::<u8>())
            .prop_map(|(user, what, target, p)| Op::Twin { user, what, target, p }),
        1 => (0..N, any::<bool>()).prop_map(|(who, compact)| Op::Restart { who, compact }),
        1 => prop_oneof![0..6u16, Just(16 * 24)].prop_map(|hours| Op::Wait { hours }),
    ]
}

/// One device: its store, and a model of what it must hold — every change it made or was given,
/// in an Automerge document per document id, never compacted nor reloaded.
struct Device {
    user: &'static str,
    path: PathBuf,
    clock: Arc<Skewed>,
    store: Store,
    given: BTreeMap<String, (DocKind, Automerge)>,
    /// Every change the device made or was given, waiting ones included: as the relay's cursor does,
    /// exchanges never give a device a change twice, so one it lost stays lost.
    received: HashSet<ChangeHash>,
    /// How many of its pending changes the model has seen.
    pending_seen: usize,
}

struct World {
    _tmp: tempfile::TempDir,
    clock: Arc<TestClock>,
    devices: Vec<Device>,
}

impl World {
    fn new(skews: &[i64]) -> World {
        // In memory where the system has it: the stores flush every transaction, which this test
        // does not check and would spend most of its time on.
        let shm = std::path::Path::new("/dev/shm");
        let tmp = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
        let clock = TestClock::new();
        let dir = directory(ENTERPRISE);
        let mut devices: Vec<Device> = DEVICES
            .iter()
            .zip(skews)
            .map(|(&(user, device), &offset)| {
                let path = tmp.path().join(format!("{device}.db"));
                let clock = Arc::new(Skewed { base: clock.clone(), offset });
                let store = Store::open_with_clock(&path, identity_of(&dir, user, device), clock.clone()).unwrap();
                store.import_directory(&dir).unwrap();
                Device { user, path, clock, store, given: BTreeMap::new(), received: HashSet::new(), pending_seen: 0 }
            })
            .collect();
        let office = &devices[0].store;
        office.register_enterprise_with_id(ENTERPRISE, profile("郑州精工机械有限公司", COUNTY)).unwrap();
        office.assign_cadre(ENTERPRISE, "cadre-1", true).unwrap();
        record_own(&mut devices[0]);
        let mut w = World { _tmp: tmp, clock, devices };
        for to in 1..N {
            w.send(0, to, u64::MAX, 1);
        }
        w
    }

    /// Delivers the changes of `from` selected by `mask`, in an order shuffled by `seed` (dependencies
    /// may come after the changes that need them), to `to` and to its model.
    fn send(&mut self, from: usize, to: usize, mask: u64, seed: u64) {
        if from == to {
            return;
        }
        let changes: Vec<_> = held_changes(&self.devices[from])
            .into_iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << (i % 64)) != 0)
            .map(|(_, c)| c)
            .collect();
        self.deliver(to, changes, seed);
    }

    /// Gives `to` those of `changes` it was not given yet, in an order shuffled by `seed`.
    fn deliver(&mut self, to: usize, mut changes: Vec<(String, DocKind, Vec<u8>)>, seed: u64) {
        shuffle(&mut changes, seed);
        let d = &mut self.devices[to];
        for (id, kind, bytes) in changes {
            if !d.received.insert(hash_of(&bytes)) {
                continue;
            }
            d.store.apply_remote(&id, kind, std::slice::from_ref(&bytes)).unwrap();
            d.given.entry(id).or_insert_with(|| (kind, Automerge::new())).1.load_incremental(&bytes).unwrap();
        }
    }

    /// Sends `to` what it lacks of `from`'s changes but the oldest (in `from`'s history order).
    fn hold(&mut self, from: usize, to: usize) {
        if from == to {
            return;
        }
        let received = &self.devices[to].received;
        let lacking =
            held_changes(&self.devices[from]).into_iter().filter(|(_, _, bytes)| !received.contains(&hash_of(bytes)));
        let changes = lacking.skip(1).collect();
        self.deliver(to, changes, 5);
    }
}

/// Every individual change held by `from`, for documents it holds.
fn changes_of(from: &Store) -> Vec<(String, DocKind, Vec<u8>)> {
    let mut out = Vec::new();
    for (id, kind) in from.document_ids().unwrap() {
        let doc = Automerge::load(&from.save_document(&id).unwrap()).unwrap();
        for c in doc.get_changes(&[]) {
            out.push((id.clone(), kind, c.raw_bytes().to_vec()));
        }
    }
    out
}

/// Every change a device holds, by its model (which `check_holds_what_it_was_given` keeps equal to
/// its store; read from the store itself, at every exchange, the test would mostly save and load
/// documents).
fn held_changes(d: &Device) -> Vec<(String, DocKind, Vec<u8>)> {
    let mut out = Vec::new();
    for (id, (kind, doc)) in &d.given {
        for c in doc.get_changes(&[]) {
            out.push((id.clone(), *kind, c.raw_bytes().to_vec()));
        }
    }
    out
}

fn hash_of(change: &[u8]) -> ChangeHash {
    automerge::Change::from_bytes(change.to_vec()).unwrap().hash()
}

/// A deterministic shuffle from the seed.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut s = seed | 1;
    for i in (1..items.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        items.swap(i, (s % (i as u64 + 1)) as usize);
    }
}

/// Adds the changes the device made since last time to its model.
fn record_own(d: &mut Device) {
    let pending = d.store.pending_changes().unwrap();
    for p in &pending[d.pending_seen..] {
        d.received.insert(hash_of(&p.bytes));
        let entry = d.given.entry(p.doc_id.clone()).or_insert_with(|| (p.kind, Automerge::new()));
        entry.1.load_incremental(&p.bytes).unwrap();
    }
    d.pending_seen = pending.len();
}

fn sorted_heads(doc: &Automerge) -> Vec<String> {
    let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    heads
}

/// The device holds exactly what it made and was given: the same documents, each at the heads of
/// its model (a change lost while it waited for its dependencies shows once they arrive).
fn check_holds_what_it_was_given(d: &Device) -> Result<(), TestCaseError> {
    let ids: Vec<String> = d.store.document_ids().unwrap().into_iter().map(|(id, _)| id).collect();
    let model: Vec<String> = d.given.keys().cloned().collect();
    prop_assert_eq!(&ids, &model, "documents of {}", d.user);
    for (id, (_, doc)) in &d.given {
        let mut heads = d.store.document_heads(id).unwrap();
        heads.sort();
        prop_assert_eq!(heads, sorted_heads(doc), "heads of {} on a device of {}", id, d.user);
    }
    Ok(())
}

/// A document as a device holds it: id, sorted heads, sorted change hashes, events in list order.
type HeldDoc = (String, Vec<String>, Vec<String>, Vec<String>);

/// What a device holds, read back through its store: per document its heads, every change hash and
/// the event list; per problem its state and timeline; every index row.
#[derive(Debug, PartialEq)]
struct Held {
    docs: Vec<HeldDoc>,
    problems: Vec<(String, ProblemState, Vec<TimelineEntry>)>,
    index_rows: Vec<String>,
}

fn held(s: &Store) -> Held {
    let mut docs = Vec::new();
    for (id, _) in s.document_ids().unwrap() {
        let doc = Automerge::load(&s.save_document(&id).unwrap()).unwrap();
        let mut hashes: Vec<String> = doc.get_changes(&[]).iter().map(|c| c.hash().to_string()).collect();
        hashes.sort();
        let mut heads = s.document_heads(&id).unwrap();
        heads.sort();
        docs.push((id, heads, hashes, raw_events_of(&doc)));
    }
    let mut problems = Vec::new();
    for p in s.problems(&ProblemFilter::default()).unwrap() {
        let detail = s.problem(&p.id).unwrap();
        problems.push((p.id, detail.state, detail.timeline));
    }
    problems.sort_by(|a, b| a.0.cmp(&b.0));
    Held { docs, problems, index_rows: s.index_rows().unwrap() }
}

/// Closes and opens the device's store again (compacting it first when asked); what it holds must
/// not change, nor may a change it was waiting with go missing.
fn restart(w: &mut World, who: usize, compact: bool, reached: &Reached) -> Result<(), TestCaseError> {
    let d = &mut w.devices[who];
    let before = held(&d.store);
    if compact {
        if d.given.values().any(|(_, doc)| !doc.get_missing_deps(&[]).is_empty()) {
            reached.compacted_while_waiting.fetch_add(1, Relaxed);
        }
        d.store.compact_all().unwrap();
    }
    let identity = d.store.identity();
    d.store = Store::open_with_clock(&d.path, identity, d.clock.clone()).unwrap();
    prop_assert_eq!(held(&d.store), before, "a device of {} after a restart (compacted: {})", d.user, compact);
    check_holds_what_it_was_given(d)
}

/// The action a device's user would take next on a problem in `status`, as its own copy shows it,
/// if there is one.
fn next_step(user: &str, status: ProblemStatus, p: u8) -> Option<u8> {
    use ProblemStatus as S;
    Some(match (user, status) {
        ("mgr-county", S::Reported) => 2,
        ("mgr-county", S::Accepted) => 3,
        ("mgr-county", S::Routed) if p.is_multiple_of(4) => 6,
        ("mgr-county", S::Resolved) => [16, 16, 17][usize::from(p % 3)],
        ("mgr-county", S::Confirmed) => 10,
        ("mgr-county" | "cadre-1", S::Closed) if p.is_multiple_of(2) => 11,
        ("cadre-1", S::Routed) if p.is_multiple_of(4) => 4,
        ("handler-1", S::Routed) => [7, 7, 4][usize::from(p % 3)],
        ("contact-1", S::Resolved) => 8 + p % 2,
        _ => return None,
    })
}

/// Takes an action: mostly the next step of the target problem as the device sees it, the
/// others drawn from what the user's role does. Refusals by the rules are expected, storage
/// failures are not.
fn act(w: &mut World, who: usize, what: u8, target: usize, p: u8) {
    let d = &mut w.devices[who];
    let s = &d.store;
    let mut problems = s.problems(&ProblemFilter::default()).unwrap();
    problems.sort_by(|a, b| a.id.cmp(&b.id));
    // The next step of the first problem (from the target on) where the user has one to take.
    let n = problems.len().max(1);
    let step = (0..problems.len())
        .map(|i| &problems[(target + i) % n])
        .find_map(|pr| next_step(d.user, pr.status, p).map(|step| (pr.id.clone(), step)));
    let pid = match &step {
        Some((id, _)) if !what.is_multiple_of(4) => id.clone(),
        _ => problems.get(target % n).map(|p| p.id.clone()).unwrap_or_default(),
    };
    let notices = s.task_notices().unwrap();
    let nid = notices.get(target % notices.len().max(1)).map(|n| n.id.clone()).unwrap_or_default();
    let deadline = d.clock.now_ms() + i64::from(p % 10 + 1) * DAY;
    let level = p % 5 + 1;
    // Each role draws from the actions it takes, so that lifecycles get far.
    const MANAGER: &[u8] = &[2, 3, 5, 6, 10, 12, 15, 16, 17];
    const CADRE: &[u8] = &[0, 2, 4, 5, 11, 13, 14, 15];
    const HANDLER: &[u8] = &[4, 5, 7, 13, 14];
    const CONTACT: &[u8] = &[4, 8, 9];
    let menu = match d.user {
        "mgr-county" => MANAGER,
        "cadre-1" => CADRE,
        "handler-1" => HANDLER,
        _ => CONTACT,
    };
    let what = match step {
        Some((_, step)) if !what.is_multiple_of(4) => step,
        // Nothing to move on and no problem at all: report one now and then.
        None if !what.is_multiple_of(4)
            && problems.is_empty()
            && matches!(d.user, "cadre-1" | "contact-1")
            && p.is_multiple_of(4) =>
        {
            1
        }
        _ => menu[usize::from(what / 4) % menu.len()],
    };
    let r: zhuqi_core::Result<()> = match what {
        0 => s.record_visit(ENTERPRISE, visit("2026-03-01")).map(drop),
        1 => s.report_problem(problem(ENTERPRISE, None)).map(drop),
        2 => s.accept_problem(&pid, ""),
        3 => s.route_problem(&pid, FINANCE, level.min(2), deadline, "交办"),
        4 => s.add_progress(&pid, "进展"),
        5 => s.escalate_problem(&pid, level, "提级", None, None),
        6 => s.urge_problem(&pid, ""),
        7 => s.resolve_problem(&pid, "已办结"),
        8 => s.confirm_resolution(&pid, p % 5 + 1, ""),
        9 => s.reject_resolution(&pid, "未解决"),
        10 => s.close_problem(&pid, ""),
        11 => s.follow_up(&pid, "回头看", p.is_multiple_of(2)),
        12 => s
            .issue_task_notice(NewTaskNotice {
                region_id: COUNTY.into(),
                title: "任务".into(),
                body: "内容".into(),
                deadline,
                recipients: vec![Recipient::Department(FINANCE.into()), Recipient::Cadre("cadre-1".into())],
            })
            .map(drop),
        13 => s.acknowledge_task_notice(&nid),
        14 => s.complete_task_notice(&nid, "完成"),
        15 => s.update_enterprise(
            ENTERPRISE,
            zhuqi_core::domain::ProfileUpdate { address: Some(format!("地址{p}")), ..Default::default() },
        ),
        16 if p.is_multiple_of(2) => s.record_call_back(&pid, "刘总", true, Some(p % 5 + 1), ""),
        16 => s.record_call_back(&pid, "刘总", false, None, "仍未解决"),
        _ => s.close_unanswered(&pid, "超时未确认"),
    };
    if let Err(e) = r {
        assert!(
            matches!(
                e,
                Error::Domain(DomainError::Validation { .. })
                    | Error::Domain(DomainError::NotAllowed { .. })
                    | Error::Domain(DomainError::InvalidTransition { .. })
                    | Error::Domain(DomainError::NotFound { .. })
            ),
            "unexpected error {e:?}"
        );
    }
    record_own(d);
    w.clock.advance(7 * 60_000);
}

/// Situations the cases reached, counted over the whole run.
#[derive(Default)]
struct Reached {
    conflicts: AtomicUsize,
    closed: AtomicUsize,
    reopened_by_rejection: AtomicUsize,
    concurrent_confirm_reject: AtomicUsize,
    office_against_enterprise: AtomicUsize,
    clock_inversions: AtomicUsize,
    compacted_while_waiting: AtomicUsize,
}

fn is_answer(a: &ProblemAction) -> bool {
    matches!(a, ProblemAction::Confirmed { .. } | ProblemAction::Rejected { .. })
}

fn is_office_answer(a: &ProblemAction) -> bool {
    matches!(a, ProblemAction::CalledBack { .. } | ProblemAction::ClosedUnanswered { .. })
}

/// Counts what the converged timelines show.
fn count(timelines: &[(String, ProblemState, Vec<TimelineEntry>)], reached: &Reached) {
    for (_, _, timeline) in timelines {
        let by_id: HashMap<&str, &TimelineEntry> = timeline.iter().map(|e| (e.event_id.as_str(), e)).collect();
        for (i, e) in timeline.iter().enumerate() {
            let applied = e.outcome == Outcome::Applied;
            if matches!(e.outcome, Outcome::Conflict { .. }) {
                reached.conflicts.fetch_add(1, Relaxed);
            }
            if applied && matches!(e.action, ProblemAction::Closed { .. } | ProblemAction::ClosedUnanswered { .. }) {
                reached.closed.fetch_add(1, Relaxed);
            }
            if applied && matches!(e.action, ProblemAction::Rejected { .. }) {
                reached.reopened_by_rejection.fetch_add(1, Relaxed);
            }
            let concurrent = e.concurrent_with.iter().filter_map(|id| by_id.get(id.as_str()));
            for other in concurrent {
                let kinds = [&e.action, &other.action];
                if is_answer(kinds[0])
                    && is_answer(kinds[1])
                    && std::mem::discriminant(kinds[0]) != std::mem::discriminant(kinds[1])
                {
                    reached.concurrent_confirm_reject.fetch_add(1, Relaxed);
                }
                if (is_answer(kinds[0]) && is_office_answer(kinds[1]))
                    || (is_office_answer(kinds[0]) && is_answer(kinds[1]))
                {
                    reached.office_against_enterprise.fetch_add(1, Relaxed);
                }
            }
            // An event stamped earlier than one its author had already seen: clocks disagree.
            let seen_later = timeline[..i].iter().any(|o| !e.concurrent_with.contains(&o.event_id) && o.at > e.at);
            if seen_later {
                reached.clock_inversions.fetch_add(1, Relaxed);
            }
        }
    }
}

fn run_case(skews: &[i64], ops: Vec<Op>, reached: &Reached) -> Result<(), TestCaseError> {
    let mut w = World::new(skews);
    for op in ops {
        match op {
            Op::Act { who, what, target, p } => act(&mut w, who, what, target, p),
            Op::Send { from, to, mask, seed } => {
                w.send(from, to, mask, seed);
                check_holds_what_it_was_given(&w.devices[to])?;
            }
            Op::Broadcast { from, seed } => {
                let changes = held_changes(&w.devices[from]);
                for to in (0..N).filter(|&to| to != from) {
                    w.deliver(to, changes.clone(), seed.wrapping_add(to as u64));
                }
            }
            Op::Hold { from, to, restart: again } => {
                w.hold(from, to);
                check_holds_what_it_was_given(&w.devices[to])?;
                if again {
                    restart(&mut w, to, true, reached)?;
                }
            }
            Op::Twin { user, what, target, p } => {
                act(&mut w, 2 * user, what, target, p);
                act(&mut w, 2 * user + 1, what, target, p.wrapping_add(1));
            }
            Op::Restart { who, compact } => restart(&mut w, who, compact, reached)?,
            Op::Wait { hours } => w.clock.advance(i64::from(hours) * HOUR),
        }
    }
    // Everything reaches everybody, in shuffled orders: all to the first device, then from it.
    // Read from the stores themselves this time.
    for from in 1..N {
        let changes = changes_of(&w.devices[from].store);
        w.deliver(0, changes, from as u64 + 7);
    }
    let changes = changes_of(&w.devices[0].store);
    for to in 1..N {
        w.deliver(to, changes.clone(), to as u64 + 11);
    }
    let first = held(&w.devices[0].store);
    for d in &w.devices {
        check_holds_what_it_was_given(d)?;
        let h = held(&d.store);
        prop_assert_eq!(&h.docs, &first.docs, "documents on a device of {}", d.user);
        prop_assert_eq!(&h.problems, &first.problems, "problems on a device of {}", d.user);
        prop_assert_eq!(&h.index_rows, &first.index_rows, "index rows on a device of {}", d.user);
    }
    // Compacted and reopened, every device still holds the same, and takes nothing new from the others.
    for who in 0..N {
        restart(&mut w, who, true, reached)?;
        for (id, kind, bytes) in changes_of(&w.devices[(who + 1) % N].store) {
            prop_assert!(!w.devices[who].store.apply_remote(&id, kind, &[bytes]).unwrap().changed);
        }
    }
    count(&first.problems, reached);
    Ok(())
}

#[test]
fn replicas_converge() {
    let started = Instant::now();
    let reached = Reached::default();
    let config = Config { cases: 48, max_shrink_iters: 200, failure_persistence: None, ..Config::default() };
    let skews = prop::collection::vec(-MAX_SKEW..=MAX_SKEW, N);
    let ops = prop::collection::vec(op(), 40..260);
    let result = TestRunner::new(config).run(&(skews, ops), |(skews, ops)| run_case(&skews, ops, &reached));
    if let Err(e) = result {
        panic!("{e}");
    }
    let counts = [
        ("events folded as conflicts", reached.conflicts.load(Relaxed)),
        ("problems closed", reached.closed.load(Relaxed)),
        ("problems reopened by a rejection", reached.reopened_by_rejection.load(Relaxed)),
        (
            "a confirmation and a rejection of one resolution, concurrent",
            reached.concurrent_confirm_reject.load(Relaxed),
        ),
        (
            "the office's call-back or closure concurrent with the enterprise's answer",
            reached.office_against_enterprise.load(Relaxed),
        ),
        ("events stamped earlier than an event their author had seen", reached.clock_inversions.load(Relaxed)),
        ("compactions while changes waited for their dependencies", reached.compacted_while_waiting.load(Relaxed)),
    ];
    println!("reached in {:.1} s:", started.elapsed().as_secs_f64());
    for (what, n) in counts {
        println!("  {n:5}  {what}");
    }
    for (what, n) in counts {
        assert!(n > 0, "never reached: {what}");
    }
}
