//! Two relays on one PostgreSQL database, as behind a load balancer: what a device pushes to one is
//! pulled from the other, live events cross over, and devices writing the same document through both
//! relays at once all get their changes stored and converge.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use zhuqi_core::domain::{Category, ProblemStatus};
use zhuqi_core::store::{NewProblem, NewVisit};
use zhuqi_tests::pg::TestDatabase;
use zhuqi_tests::*;

fn visit(notes: &str) -> NewVisit {
    NewVisit {
        date: zhuqi_core::domain::text::date_of(zhuqi_server::now_ms()),
        people_met: vec!["刘总".into()],
        notes: notes.into(),
        policies: vec![],
        policy_ids: vec![],
        location: None,
        photos: vec![],
    }
}

#[test]
fn a_change_pushed_to_one_relay_reaches_devices_of_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDatabase::create();
    let (a, b) = (Relay::start_with(db.open()), Relay::start_with(db.open()));
    seed_directory(a.state.storage.as_ref());
    seed_enterprises(&a.url, tmp.path());

    // The county office listens for live events on relay B.
    let manager = Device::sign_in(&b.url, tmp.path(), "manager");
    assert_eq!(manager.sync().pulled, 1, "the enterprise registered through A");
    let (cursor, _) = manager.store.sync_cursor().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let token = manager.store.session_token().unwrap().unwrap();
        let client = zhuqi_core::sync::SyncClient::new(&b.url).unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = client.watch(&token, cursor, &stop, |c| {
                let _ = tx.send(c);
            });
        });
    }
    std::thread::sleep(Duration::from_millis(500));

    // A cadre reports a problem through relay A.
    let cadre = Device::sign_in(&a.url, tmp.path(), "cadre");
    cadre.sync();
    let v = cadre.store.record_visit(ENT_A, visit("走访")).unwrap();
    let pid = cadre
        .store
        .report_problem(NewProblem {
            enterprise_id: ENT_A.into(),
            category: Category::Financing,
            title: "流动资金贷款".into(),
            description: "需要500万元".into(),
            visit_id: Some(v),
            photos: vec![],
        })
        .unwrap();
    assert_eq!(cadre.sync().pushed, 2);

    // B's listener hears of it, and B serves it.
    let c = rx.recv_timeout(Duration::from_secs(15)).expect("a live event on relay B");
    assert!(c > cursor);
    assert_eq!(manager.sync().pulled, 2);
    manager.store.route_problem(&pid, FINANCE, 2, zhuqi_server::now_ms() + 7 * DAY, "请财政局办理").unwrap();
    assert_eq!(manager.sync().pushed, 1);
    stop.store(true, Ordering::SeqCst);

    // The handler works through A; everybody converges whichever relay they use.
    let handler = Device::sign_in(&a.url, tmp.path(), "handler");
    assert_eq!(handler.sync().pulled, 1);
    handler.store.resolve_problem(&pid, "贷款已发放").unwrap();
    handler.sync();
    for d in [&cadre, &manager, &handler] {
        d.sync();
    }
    let heads = cadre.store.document_heads(&pid).unwrap();
    for d in [&manager, &handler] {
        assert_eq!(d.store.document_heads(&pid).unwrap(), heads);
        assert_eq!(d.store.problem(&pid).unwrap().state.status, ProblemStatus::Resolved);
    }
    // The dashboard of either relay shows the same row.
    let rows_a = a.state.storage.problem_rows().unwrap();
    assert_eq!(rows_a, b.state.storage.problem_rows().unwrap());
    assert_eq!(rows_a[0].status, "resolved");
}

#[test]
fn the_same_document_written_through_both_relays_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDatabase::create();
    let (a, b) = (Relay::start_with(db.open()), Relay::start_with(db.open()));
    seed_directory(a.state.storage.as_ref());
    seed_enterprises(&a.url, tmp.path());
    // Six devices of the cadre (three through each relay) record visits to enterprise A, many times
    // over, at the same moment: commits of the two relays to one document interleave.
    let devices: Vec<Device> =
        (0..6).map(|i| Device::sign_in(if i % 2 == 0 { &a.url } else { &b.url }, tmp.path(), "cadre")).collect();
    for d in &devices {
        d.sync();
    }
    const ROUNDS: usize = 10;
    std::thread::scope(|s| {
        for (n, d) in devices.iter().enumerate() {
            s.spawn(move || {
                for i in 0..ROUNDS {
                    d.store.record_visit(ENT_A, visit(&format!("设备{n}第{i}次走访"))).unwrap();
                    let r = d.sync();
                    assert_eq!(r.rejected, 0, "{r:?}");
                }
            });
        }
    });
    for d in devices.iter().chain(&devices) {
        d.sync();
        assert!(d.store.pending_changes().unwrap().is_empty());
    }
    let heads = devices[0].store.document_heads(ENT_A).unwrap();
    for d in &devices {
        assert_eq!(d.store.document_heads(ENT_A).unwrap(), heads);
    }
    // Every visit is on the relays' dashboard, whichever relay stored it.
    let visits = a.state.storage.visit_facts().unwrap();
    assert_eq!(visits.len(), devices.len() * ROUNDS);
    // And each relay's copy of the document holds all of them.
    for relay in [&a, &b] {
        let doc = zhuqi_core::document::Document::load(&relay_snapshot(relay, ENT_A)).unwrap();
        let (state, _) = zhuqi_core::domain::event::fold::<zhuqi_core::domain::EnterpriseState>(doc.events());
        assert_eq!(state.visits.len(), devices.len() * ROUNDS);
    }
}

/// Two stores on one database, as two relays, each committing from many threads at once — some
/// commits held open after taking their numbers until a commit numbered after them is visible and a
/// pull has run meanwhile — while devices pull with their cursors from either: every device gets
/// every change, and no pull's cursor ever passes a change it had not returned.
/// What a commit writes of enterprise `doc` (in county 410102, `cadres` assigned, under `keys`):
/// one change whose bytes are `tag`; a new document's saved form holds it.
fn enterprise_write(
    doc: &str,
    tag: &str,
    base_seq: u64,
    keys: Vec<String>,
    cadres: &[&str],
) -> zhuqi_server::storage::DocWrite {
    use zhuqi_core::domain::{Assignment, DocKind, EnterpriseState, Profile};
    use zhuqi_server::storage::projection::Projection;
    zhuqi_server::storage::DocWrite {
        doc_id: doc.into(),
        kind: DocKind::Enterprise,
        changes: vec![zhuqi_server::storage::AcceptedChange {
            hash: zhuqi_server::auth::token_hash(tag),
            bytes: tag.as_bytes().to_vec(),
            events: vec![(format!("ev-{tag}"), None)],
        }],
        snapshot: (base_seq == 0).then(|| tag.as_bytes().to_vec()),
        keys,
        projection: Projection::Enterprise(EnterpriseState {
            registered: true,
            profile: Profile { name: doc.into(), region_id: "410102".into(), ..Profile::default() },
            assignments: cadres.iter().map(|c| Assignment { cadre_id: (*c).into(), chief: true, since: 1 }).collect(),
            ..EnterpriseState::default()
        }),
        base_seq,
    }
}

#[test]
fn cursors_never_pass_a_change_committed_late() {
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::AtomicU64;
    use zhuqi_server::storage::postgres::PostgresStorage;
    use zhuqi_server::storage::{Commit, DocWrite, RelayStorage, StorageError};

    const WRITERS: usize = 6; // per relay
    const COMMITS: usize = 25; // per writer
    const READERS: usize = 4;
    const SHARED: usize = 3; // documents every writer writes now and then
    const KEY: &str = "region:410102";

    let db = TestDatabase::create();
    let relays = [(); 2].map(|_| Arc::new(PostgresStorage::open(&db.url, 16).unwrap()));
    let write = |doc: &str, tag: &str, base_seq: u64| enterprise_write(doc, tag, base_seq, vec![KEY.into()], &[]);
    let commit =
        |docs: Vec<DocWrite>| Commit { user_id: "cadre".into(), device_id: "phone".into(), received_at: 1, docs };
    let shared: Vec<String> = (0..SHARED).map(|i| format!("shared-{i}")).collect();
    for d in &shared {
        relays[0].commit(&[&commit(vec![write(d, &format!("{d}-created"), 0)])]).unwrap();
    }
    let own = |r: usize, w: usize| format!("doc-{r}-{w}");

    // Every fourth commit of a writer waits, its numbers taken, until a commit numbered after it is
    // visible (an inversion) and a pull has begun since.
    let visible = Arc::new(AtomicU64::new(0)); // the highest number known visible
    let pulls_begun = Arc::new(AtomicU64::new(0));
    let (inversions, held_commits) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let probe = relays[1].clone();
    let all_docs: Vec<String> =
        (0..2).flat_map(|r| (0..WRITERS).map(move |w| (r, w))).map(|(r, w)| own(r, w)).chain(shared.clone()).collect();
    thread_local! { static COMMITS_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) }; }
    let hook: zhuqi_server::storage::postgres::CommitHook = {
        let (visible, pulls_begun, inversions, held_commits) =
            (visible.clone(), pulls_begun.clone(), inversions.clone(), held_commits.clone());
        Arc::new(move |last: u64| {
            let n = COMMITS_HERE.with(|c| c.replace(c.get() + 1));
            if last == 0 || n % 4 != 3 {
                return;
            }
            held_commits.fetch_add(1, Ordering::SeqCst);
            // (Bounded, in case the other writers have finished.)
            for _ in 0..500 {
                let later = all_docs.iter().filter_map(|d| probe.load_doc(d).unwrap()).map(|d| d.last_seq).max();
                if let Some(later) = later.filter(|l| *l > last) {
                    inversions.fetch_add(1, Ordering::SeqCst);
                    visible.fetch_max(later, Ordering::SeqCst);
                    let begun = pulls_begun.load(Ordering::SeqCst);
                    for _ in 0..500 {
                        if pulls_begun.load(Ordering::SeqCst) >= begun + 2 {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    for r in &relays {
        r.before_commit(Some(hook.clone()));
    }

    let writing = Arc::new(AtomicBool::new(true));
    let held_back = Arc::new(AtomicU64::new(0));
    // Each reader: its pulls' cursors, and for each change (by its bytes) the first pull that brought it.
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let (relays, writing, visible, pulls_begun, held_back) =
                (relays.clone(), writing.clone(), visible.clone(), pulls_begun.clone(), held_back.clone());
            std::thread::spawn(move || {
                let budget = if i % 2 == 0 { 1 << 20 } else { 60 };
                let (mut cursors, mut first_seen) = (Vec::<u64>::new(), HashMap::<Vec<u8>, usize>::new());
                let mut cursor = 0;
                loop {
                    let done = !writing.load(Ordering::SeqCst);
                    let seen_before = visible.load(Ordering::SeqCst);
                    pulls_begun.fetch_add(1, Ordering::SeqCst);
                    let relay = &relays[cursors.len() % 2];
                    let p = relay.pull("manager", &[KEY.into()], cursor, &format!("reader-{i}"), budget).unwrap();
                    assert!(p.cursor >= cursor, "a cursor went back");
                    if !p.more && p.cursor < seen_before {
                        held_back.fetch_add(1, Ordering::SeqCst);
                    }
                    for d in &p.docs {
                        for bytes in &d.data {
                            assert!(first_seen.insert(bytes.clone(), cursors.len()).is_none(), "a change came twice");
                        }
                    }
                    cursors.push(p.cursor);
                    cursor = p.cursor;
                    if done && !p.more {
                        return (cursors, first_seen);
                    }
                }
            })
        })
        .collect();

    std::thread::scope(|s| {
        for (r, relay) in relays.iter().enumerate() {
            for w in 0..WRITERS {
                let (relay, shared, visible) = (relay.clone(), &shared, &visible);
                let doc = own(r, w);
                s.spawn(move || {
                    let mut base = 0;
                    for n in 0..COMMITS {
                        let docs = vec![write(&doc, &format!("{doc}-{n}"), base)];
                        // Every third commit also writes a shared document (two documents in one
                        // transaction); a copy another relay changed since is refused as stale and
                        // written again from a fresh one.
                        let also = (n % 3 == 1).then(|| &shared[(r + w + n) % SHARED]);
                        for attempt in 0.. {
                            let mut batch = docs.clone();
                            if let Some(d) = also {
                                let fresh = relay.load_doc(d).unwrap().unwrap().last_seq;
                                batch.push(write(d, &format!("{doc}-{n}-on-{d}-{attempt}"), fresh));
                            }
                            match relay.commit(&[&commit(batch)]) {
                                Ok(seqs) => {
                                    base = seqs[0];
                                    visible.fetch_max(base, Ordering::SeqCst);
                                    break;
                                }
                                Err(StorageError::Stale(_)) if attempt < 50 => continue,
                                Err(e) => panic!("commit: {e}"),
                            }
                        }
                    }
                });
            }
        }
    });
    writing.store(false, Ordering::SeqCst);

    // Every change stored, by its bytes, with its number.
    let mut stored: HashMap<Vec<u8>, u64> = HashMap::new();
    for d in (0..2).flat_map(|r| (0..WRITERS).map(move |w| (r, w))).map(|(r, w)| own(r, w)).chain(shared.clone()) {
        for (seq, bytes) in relays[0].changes_after(&d, 0).unwrap() {
            stored.insert(bytes, seq);
        }
    }
    let on_shared = (0..COMMITS).filter(|n| n % 3 == 1).count();
    assert_eq!(stored.len(), SHARED + 2 * WRITERS * (COMMITS + on_shared));
    let top = relays[1].current_seq().unwrap();
    assert_eq!(top, stored.values().copied().max().unwrap());
    let mut pulls = 0;
    for r in readers {
        let (cursors, first_seen) = r.join().unwrap();
        pulls += cursors.len();
        assert_eq!(*cursors.last().unwrap(), top);
        let seen: HashSet<&Vec<u8>> = first_seen.keys().collect();
        let all: HashSet<&Vec<u8>> = stored.keys().collect();
        let named = |d: HashSet<&&Vec<u8>>| {
            d.iter().take(5).map(|b| String::from_utf8_lossy(b).into_owned()).collect::<Vec<_>>()
        };
        assert!(
            seen == all,
            "missing {:?}, unknown {:?}",
            named(all.difference(&seen).collect()),
            named(seen.difference(&all).collect())
        );
        // No cursor passed a change before the pull that brought it (or an earlier one).
        for (bytes, seq) in &stored {
            let reached = cursors.partition_point(|c| c < seq);
            assert!(first_seen[bytes] <= reached, "change {seq} came after a cursor passed it");
        }
    }
    let (inversions, held_back) = (inversions.load(Ordering::SeqCst), held_back.load(Ordering::SeqCst));
    println!(
        "{} changes, {} commits held open, {inversions} of them while a later number was visible; {pulls} pulls, \
         {held_back} of them complete but stopped below a change already visible",
        stored.len(),
        held_commits.load(Ordering::SeqCst)
    );
    assert!(inversions > 0, "no commit became visible after a later-numbered one");
    assert!(held_back > 0, "no pull was held back by a commit under way");
}

/// A cadre assigned an enterprise by a commit numbered beyond a pull's top (an earlier-numbered
/// commit of the other relay still under way) reads it only from the pull that reaches the
/// assignment — then whole — even though the keys the pull was asked with already name it.
#[test]
fn a_scope_gained_beyond_the_top_waits_for_the_pull_that_reaches_it() {
    use std::sync::Mutex;
    use std::sync::mpsc::channel;
    use zhuqi_core::domain::{Role, User};
    use zhuqi_server::storage::postgres::PostgresStorage;
    use zhuqi_server::storage::{Commit, DocWrite, RelayStorage};

    let db = TestDatabase::create();
    let (a, b) = (Arc::new(PostgresStorage::open(&db.url, 4).unwrap()), PostgresStorage::open(&db.url, 4).unwrap());
    let write = |doc: &str, tag: &str, base_seq: u64, cadres: &[&str]| {
        enterprise_write(doc, tag, base_seq, vec![format!("ent:{doc}"), "region:410102".into()], cadres)
    };
    let commit =
        |w: DocWrite| Commit { user_id: "office".into(), device_id: "office-pc".into(), received_at: 1, docs: vec![w] };
    let cadre = User {
        id: "c1".into(),
        name: "王干部".into(),
        role: Role::Cadre,
        region_id: Some("410102".into()),
        department_id: None,
        enterprise_id: None,
        mobile: None,
        position: None,
        unit: None,
    };
    let pull = |cursor| b.pull("c1", &b.user_keys(&cadre).unwrap(), cursor, "phone-c1", 1 << 20).unwrap();

    assert_eq!(a.commit(&[&commit(write("E", "E-created", 0, &[]))]).unwrap(), [1]);
    assert_eq!(a.commit(&[&commit(write("G", "G-created", 0, &["c1"]))]).unwrap(), [2]);
    let first = pull(0);
    assert_eq!((first.cursor, first.docs.len(), first.docs[0].doc.as_str()), (2, 1, "G"));
    assert_eq!(a.commit(&[&commit(write("E", "E-3", 1, &[]))]).unwrap(), [3]);

    // W, a change of G through relay A, waits with number 4 taken; X, through relay B, assigns E to
    // the cadre with number 5 and becomes visible.
    let (entered, held) = channel();
    let (release, released) = channel::<()>();
    let released = Mutex::new(released);
    let hold = Arc::new(AtomicBool::new(true));
    let h = hold.clone();
    a.before_commit(Some(Arc::new(move |last| {
        if h.swap(false, Ordering::SeqCst) {
            entered.send(last).unwrap();
            // (Not forever: a failed assertion below never releases it.)
            let _ = released.lock().unwrap().recv_timeout(Duration::from_secs(60));
        }
    })));
    std::thread::scope(|s| {
        let w = s.spawn(|| a.commit(&[&commit(write("G", "G-4", 2, &["c1"]))]).unwrap());
        assert_eq!(held.recv().unwrap(), 4);
        let x = s.spawn(|| b.commit(&[&commit(write("E", "E-5", 3, &["c1"]))]).unwrap());
        // (X's commit returns only once W is in, so that its announcement can be acted on.)
        while b.load_doc("E").unwrap().unwrap().last_seq != 5 {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(b.user_keys(&cadre).unwrap().contains(&"ent:E".to_string()), "the keys name E already");
        let held_back = pull(2);
        assert_eq!(held_back.cursor, 3, "the top stops below W");
        assert!(held_back.docs.is_empty(), "E's change 3 is not sent to a cadre who held no key of E at 3");
        release.send(()).unwrap();
        assert_eq!(w.join().unwrap(), [4]);
        assert_eq!(x.join().unwrap(), [5]);
        let next = pull(held_back.cursor);
        assert_eq!(next.cursor, 5);
        let sent: Vec<(&str, bool, usize)> =
            next.docs.iter().map(|d| (d.doc.as_str(), d.whole, d.data.len())).collect();
        // G's change 4, then E whole (its saved form, then changes 3 and 5).
        assert_eq!(sent, [("G", false, 1), ("E", true, 3)]);
    });
}
