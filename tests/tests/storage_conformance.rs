//! The storage conformance suite: the same tests against every `RelayStorage` backend — the embedded
//! SQLite store (a file in a temporary directory) and the PostgreSQL store (a schema of its own in the
//! machine's PostgreSQL). Each test is a function of a `Backend`; `conformance!` runs it on both.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zhuqi_core::domain::photo::Taken;
use zhuqi_core::domain::{
    Assignment, Directory, DocKind, EnterpriseState, PhotoRef, ProblemState, ProblemStatus, Profile, Recipient,
    RecipientState, Region, RegionLevel, Role, TaskNoticeState, User, Visit, VisitRecord,
};
use zhuqi_server::storage::projection::{EventRow, Projection};
use zhuqi_server::storage::sqlite::SqliteStorage;
use zhuqi_server::storage::{
    AcceptedChange, Account, Commit, DocWrite, ForeignCommit, NewDevice, RelayStorage, StorageError,
};
use zhuqi_tests::pg::TestDatabase;

/// A store to test, and how to open another instance on the same data (a second relay).
struct Backend {
    open: Box<dyn Fn() -> Arc<dyn RelayStorage>>,
    _keep: Box<dyn std::any::Any>,
}

impl Backend {
    fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        Backend { open: Box::new(move || Arc::new(SqliteStorage::open(&path).unwrap())), _keep: Box::new(dir) }
    }

    fn postgres() -> Backend {
        let db = Arc::new(TestDatabase::create());
        let d = db.clone();
        Backend { open: Box::new(move || d.open()), _keep: Box::new(db) }
    }

    fn open(&self) -> Arc<dyn RelayStorage> {
        (self.open)()
    }
}

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $test() { super::$test(&super::Backend::sqlite()); } )*
        }
        mod postgres {
            $( #[test] fn $test() { super::$test(&super::Backend::postgres()); } )*
        }
    };
}

conformance!(
    a_fresh_store_is_empty,
    directory_and_accounts,
    devices_sessions_and_revocation,
    an_actor_belongs_to_one_device,
    activation_codes_are_used_once,
    failed_sign_ins_count_within_their_window,
    known_sign_ins_and_web_sessions,
    commits_number_changes_in_one_sequence,
    a_retried_commit_stores_nothing_twice,
    a_failed_commit_writes_nothing,
    a_write_from_an_outdated_copy_is_refused,
    pulls_follow_scope_pages_and_purges,
    pulls_page_through_many_documents,
    projections_feed_the_dashboard,
    concurrent_writers_never_let_a_cursor_skip_a_change,
    enterprise_links_sessions_and_reach,
);

// The announcement of other relays' commits is a property of shared stores only.
#[test]
fn every_old_postgres_version_upgrades_to_the_fresh_schema() {
    let fresh = zhuqi_tests::pg::TestDatabase::create();
    drop(fresh.open());
    let old = zhuqi_tests::pg::TestDatabase::create();
    old.execute(include_str!("../../server/src/storage/postgres_v1.sql"));
    old.execute(
        "CREATE TABLE zhuqi_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
         INSERT INTO zhuqi_meta VALUES ('schema_version', 1);
         INSERT INTO sign_in_failures (login, at) VALUES ('someone', 5);
         INSERT INTO changes (seq, doc_id, hash, bytes, user_id, device_id, received_at, writer)
         VALUES (1, 'e1', '\\x01', '\\x02', 'u', 'd', 5, '')",
    );
    let upgraded = old.open();
    let shape = fresh.shape();
    assert!(shape.iter().any(|l| l.contains("web_sessions")) && shape.len() > 100, "{shape:?}");
    assert_eq!(old.shape(), shape);
    assert_eq!(upgraded.changes_after("e1", 0).unwrap(), [(1, vec![2])], "the old change is still there");
    // Numbers (from a sequence since version 13) go on after the stored changes.
    assert_eq!(upgraded.current_seq().unwrap(), 1);
    assert_eq!(upgraded.commit(&[&commit(vec![enterprise_write("e2", &[], 1, 0)])]).unwrap(), [2]);
    // Opening an upgraded database again changes nothing.
    drop(upgraded);
    let again = old.open();
    assert_eq!(old.shape(), fresh.shape());
    assert_eq!(again.sign_in_failures(&["a".repeat(32)], 0).unwrap(), [(0, 0)]);
}

#[test]
fn postgres_announces_other_relays_commits() {
    let b = Backend::postgres();
    let (a, other) = (b.open(), b.open());
    let heard: Arc<Mutex<Vec<ForeignCommit>>> = Arc::default();
    let h = heard.clone();
    a.listen(Arc::new(move |c: ForeignCommit| h.lock().unwrap().push(c)));
    let h = heard.clone();
    // The listener connects in the background: commit until it hears one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    while h.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no notice within 30 s");
        n += 1;
        other.commit(&[&commit(vec![enterprise_write(&format!("e{n}"), &[], n as u8, 0)])]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let ForeignCommit { seq, keys, docs } = heard.lock().unwrap()[0].clone();
    assert!(seq >= 1);
    assert!(keys.contains(&"region:410102".to_string()), "{keys:?}");
    assert_eq!(docs.len(), 1);
    assert!(docs[0].starts_with('e'), "{docs:?}");
    // Its own commits are not reported back to it.
    let before = heard.lock().unwrap().len();
    a.commit(&[&commit(vec![enterprise_write("own", &[], 200, 0)])]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(heard.lock().unwrap().len(), before);
}

// ---------- fixtures ----------

const COUNTY: &str = "410102";

fn user(id: &str, role: Role) -> User {
    User {
        id: id.into(),
        name: format!("用户{id}"),
        role,
        region_id: (role == Role::Manager || role == Role::Cadre).then(|| COUNTY.into()),
        department_id: (role == Role::DepartmentHandler).then(|| "dept-finance".into()),
        enterprise_id: None,
        mobile: None,
        position: None,
        unit: None,
    }
}

fn account(id: &str, role: Role) -> Account {
    Account { user: user(id, role), login: format!("login-{id}"), password_hash: Some(format!("hash-{id}")) }
}

fn change(tag: &str) -> AcceptedChange {
    let mut hash = tag.as_bytes().to_vec();
    hash.resize(32, 0);
    AcceptedChange { hash, bytes: format!("bytes of {tag}").into_bytes(), events: vec![(format!("ev-{tag}"), None)] }
}

fn enterprise_state(id: &str, cadres: &[&str]) -> EnterpriseState {
    EnterpriseState {
        registered: true,
        profile: Profile {
            name: format!("企业{id}"),
            uscc: format!("91410100MA{id:0>8}"),
            region_id: COUNTY.into(),
            ..Profile::default()
        },
        assignments: cadres.iter().map(|c| Assignment { cadre_id: (*c).into(), chief: true, since: 1 }).collect(),
        visits: Vec::new(),
        corrections: Vec::new(),
        policy_marks: Vec::new(),
        updated_at: 10,
    }
}

/// A write of one change to enterprise `id` (a new document when `base_seq` is 0).
fn enterprise_write(id: &str, cadres: &[&str], n: u8, base_seq: u64) -> DocWrite {
    DocWrite {
        doc_id: id.into(),
        kind: DocKind::Enterprise,
        changes: vec![change(&format!("{id}-{n}"))],
        snapshot: (base_seq == 0).then(|| format!("snapshot of {id}").into_bytes()),
        keys: vec![format!("ent:{id}"), format!("region:{COUNTY}")],
        projection: Projection::Enterprise(enterprise_state(id, cadres)),
        base_seq,
    }
}

fn commit(docs: Vec<DocWrite>) -> Commit {
    Commit { user_id: "u-cadre".into(), device_id: "dev-1".into(), received_at: 1_000, docs }
}

fn device(id: &str, user_id: &str, token: u8) -> NewDevice {
    NewDevice {
        id: id.into(),
        user_id: user_id.into(),
        name: format!("phone {id}"),
        token_hash: vec![token; 32],
        created_at: 100,
        expires_at: 10_000_000_000_000,
    }
}

fn keys(s: &[&str]) -> Vec<String> {
    s.iter().map(|k| (*k).to_owned()).collect()
}

// ---------- the suite ----------

fn a_fresh_store_is_empty(b: &Backend) {
    let s = b.open();
    let (dir, version) = s.directory().unwrap();
    assert_eq!(dir, Directory::default());
    assert_eq!(version, 0);
    assert_eq!(s.current_seq().unwrap(), 0);
    assert_eq!(s.document_count().unwrap(), 0);
    assert!(s.load_doc("nothing").unwrap().is_none());
    assert!(s.problem_rows().unwrap().is_empty());
    // Opening again (a restart, or a second relay) keeps the schema and the data.
    drop(s);
    assert_eq!(b.open().current_seq().unwrap(), 0);
}

fn directory_and_accounts(b: &Backend) {
    let s = b.open();
    let regions = vec![
        Region { id: "410100".into(), name: "郑州市".into(), level: RegionLevel::City, parent_id: None },
        Region {
            id: COUNTY.into(),
            name: "中原区".into(),
            level: RegionLevel::County,
            parent_id: Some("410100".into()),
        },
    ];
    let d = Directory { regions: regions.clone(), ..Default::default() };
    let v1 = s.upsert_directory(&d, &[account("u1", Role::Cadre), account("u2", Role::Manager)]).unwrap();
    let (dir, version) = s.directory().unwrap();
    assert_eq!(version, v1);
    assert_eq!(s.directory_version().unwrap(), v1);
    assert_eq!(dir.regions, regions);
    assert_eq!(dir.users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), ["u1", "u2"]);
    let a = s.account_by_login("login-u1").unwrap().unwrap();
    assert_eq!(a.user, user("u1", Role::Cadre));
    assert_eq!(a.password_hash.as_deref(), Some("hash-u1"));
    // Updating without a password keeps the old one.
    let mut renamed = account("u1", Role::Cadre);
    renamed.user.name = "新名字".into();
    renamed.password_hash = None;
    let v2 = s.upsert_directory(&Directory::default(), &[renamed]).unwrap();
    assert!(v2 > v1);
    let a = s.account_by_login("login-u1").unwrap().unwrap();
    assert_eq!((a.user.name.as_str(), a.password_hash.as_deref()), ("新名字", Some("hash-u1")));
    // A login belongs to one user; the refused update changes nothing.
    let mut thief = account("u3", Role::Cadre);
    thief.login = "login-u1".into();
    assert!(matches!(
        s.upsert_directory(&Directory::default(), &[account("u4", Role::Cadre), thief]),
        Err(StorageError::Conflict(_))
    ));
    assert!(s.account_by_login("login-u4").unwrap().is_none());
    assert_eq!(s.directory_version().unwrap(), v2);
    assert!(s.set_password("u2", "new-hash").unwrap());
    assert!(!s.set_password("nobody", "x").unwrap());
    assert_eq!(s.account_by_login("login-u2").unwrap().unwrap().password_hash.as_deref(), Some("new-hash"));
}

fn devices_sessions_and_revocation(b: &Backend) {
    let s = b.open();
    s.upsert_directory(&Directory::default(), &[account("u1", Role::Cadre)]).unwrap();
    s.create_device(&device("d1", "u1", 1)).unwrap();
    s.create_device(&device("d2", "u1", 2)).unwrap();
    // A token hash is unique.
    assert!(s.create_device(&device("d3", "u1", 1)).is_err());
    let session = s.session(&[1; 32]).unwrap().unwrap();
    assert_eq!((session.device_id.as_str(), session.revoked), ("d1", false));
    assert_eq!(session.user, user("u1", Role::Cadre));
    assert!(s.session(&[9; 32]).unwrap().is_none());
    assert_eq!(s.connected_devices(0).unwrap(), 0);
    s.touch_devices(&["d1".to_string(), "unknown".to_string()], 5_000).unwrap();
    assert_eq!(s.connected_devices(4_000).unwrap(), 1);
    assert_eq!(s.connected_devices(6_000).unwrap(), 0);
    assert!(s.revoke_device("d1").unwrap());
    assert!(!s.revoke_device("nope").unwrap());
    assert!(s.session(&[1; 32]).unwrap().unwrap().revoked);
    let devices = s.devices_of("u1").unwrap();
    assert_eq!(devices.iter().map(|d| (d.0.as_str(), d.3)).collect::<Vec<_>>(), [("d1", true), ("d2", false)]);
}

fn an_actor_belongs_to_one_device(b: &Backend) {
    let s = b.open();
    assert!(s.bind_actor("d1", b"actor-one").unwrap());
    assert!(s.bind_actor("d1", b"actor-one").unwrap());
    assert!(!s.bind_actor("d2", b"actor-one").unwrap());
    assert!(s.bind_actor("d1", b"actor-two").unwrap());
    let mut actors = s.device_actors("d1").unwrap();
    actors.sort();
    assert_eq!(actors, [b"actor-one".to_vec(), b"actor-two".to_vec()]);
    assert!(s.device_actors("d2").unwrap().is_empty());
    // What a sync reads first, together: keys, directory version, actors.
    let cadre = user("c1", Role::Cadre);
    let mut ctx = s.sync_context(&cadre, "d1").unwrap();
    ctx.actors.sort();
    assert_eq!(ctx.keys, s.user_keys(&cadre).unwrap());
    assert_eq!(ctx.directory_version, s.directory_version().unwrap());
    assert_eq!(ctx.actors, actors);
}

fn activation_codes_are_used_once(b: &Backend) {
    let s = b.open();
    s.create_activation_code(&[7; 32], "contact", "cadre", 2_000).unwrap();
    s.create_activation_code(&[8; 32], "contact-b", "cadre", 2_000).unwrap();
    assert_eq!(s.consume_activation_code(&[7; 32], 1_000).unwrap().as_deref(), Some("contact"));
    assert_eq!(s.consume_activation_code(&[7; 32], 1_001).unwrap(), None);
    assert_eq!(s.consume_activation_code(&[8; 32], 2_000).unwrap(), None, "expired");
    assert_eq!(s.consume_activation_code(&[9; 32], 1_000).unwrap(), None, "unknown");
    // A new code for a contact replaces the unused one.
    s.create_activation_code(&[10; 32], "contact-c", "cadre", 5_000).unwrap();
    s.create_activation_code(&[11; 32], "contact-c", "cadre", 5_000).unwrap();
    assert_eq!(s.consume_activation_code(&[10; 32], 1_000).unwrap(), None, "replaced");
    assert_eq!(s.consume_activation_code(&[11; 32], 1_000).unwrap().as_deref(), Some("contact-c"));
}

fn failed_sign_ins_count_within_their_window(b: &Backend) {
    use zhuqi_server::storage::FAILURE_MEMORY_MS;
    let s = b.open();
    let (who, other) = ("a".repeat(32), "b".repeat(32));
    for at in [1_000, 2_000, 3_000] {
        s.record_failed_sign_in(&[who.clone()], at).unwrap();
    }
    s.record_failed_sign_in(&[other.clone(), who.clone()], 3_500).unwrap();
    let nobody = "c".repeat(32);
    let q = [who.clone(), other.clone(), nobody.clone()];
    assert_eq!(s.sign_in_failures(&q, 0).unwrap(), [(4, 3_500), (1, 3_500), (0, 0)]);
    assert_eq!(s.sign_in_failures(&[who.clone()], 2_000).unwrap(), [(3, 3_500)]);
    // Failures are remembered for an hour.
    s.record_failed_sign_in(&[nobody.clone()], 2_500 + FAILURE_MEMORY_MS).unwrap();
    assert_eq!(s.sign_in_failures(&q, 0).unwrap(), [(2, 3_500), (1, 3_500), (1, 2_500 + FAILURE_MEMORY_MS)]);
    s.forget_sign_in_failures(&who).unwrap();
    assert_eq!(s.sign_in_failures(&[who.clone()], 0).unwrap(), [(0, 0)]);
    // A flood keeps the newest `MAX_FAILURE_ROWS`.
    let flood: Vec<String> = (0..1000).map(|i| format!("{i:032}")).collect();
    let rounds = zhuqi_server::storage::MAX_FAILURE_ROWS as usize / flood.len() + 2;
    for r in 0..rounds {
        s.record_failed_sign_in(&flood, 10_000 + r as i64).unwrap();
    }
    let counts = s.sign_in_failures(&flood, 0).unwrap();
    let kept: u32 = counts.iter().map(|c| c.0).sum();
    assert_eq!(kept as i64, zhuqi_server::storage::MAX_FAILURE_ROWS);
}

fn known_sign_ins_and_web_sessions(b: &Backend) {
    use zhuqi_server::storage::KNOWN_SIGN_IN_MS;
    use zhuqi_server::storage::WebSession;
    let s = b.open();
    let pair = "k".repeat(32);
    assert!(!s.signed_in_before(&pair, 0).unwrap());
    s.note_sign_in(&pair, 1_000).unwrap();
    assert!(s.signed_in_before(&pair, 0).unwrap());
    assert!(!s.signed_in_before(&pair, 1_001).unwrap());
    s.note_sign_in(&"j".repeat(32), 1_000 + KNOWN_SIGN_IN_MS + 1).unwrap();
    assert!(!s.signed_in_before(&pair, 0).unwrap(), "forgotten after KNOWN_SIGN_IN_MS");

    let session = WebSession { id_hash: vec![1; 32], user_id: "manager".into(), created_at: 1_000, expires_at: 50_000 };
    s.create_web_session(&session).unwrap();
    assert_eq!(s.web_session(&[1; 32], 2_000, 5_000).unwrap().as_deref(), Some("manager"));
    assert_eq!(s.web_session(&[1; 32], 6_000, 5_000).unwrap().as_deref(), Some("manager"), "used at 2,000");
    assert_eq!(s.web_session(&[1; 32], 11_001, 5_000).unwrap(), None, "idle past 5,000 ms");
    s.create_web_session(&WebSession { id_hash: vec![2; 32], ..session.clone() }).unwrap();
    assert_eq!(s.web_session(&[2; 32], 50_000, 100_000).unwrap(), None, "expired");
    s.create_web_session(&WebSession { id_hash: vec![3; 32], ..session }).unwrap();
    assert_eq!(s.web_session(&[9; 32], 2_000, 5_000).unwrap(), None, "unknown");
    s.end_web_session(&[3; 32]).unwrap();
    assert_eq!(s.web_session(&[3; 32], 2_000, 5_000).unwrap(), None, "ended");
}

/// Pages over more documents than a store fetches at once (64), cut at every budget, and a purge
/// decided over many candidates at once.
fn pulls_page_through_many_documents(b: &Backend) {
    let s = b.open();
    // 150 enterprises, two per commit.
    for i in 0..75 {
        let c = commit(vec![
            enterprise_write(&format!("p{:03}", 2 * i), &["c1"], 1, 0),
            enterprise_write(&format!("p{:03}", 2 * i + 1), &["c1"], 1, 0),
        ]);
        s.commit(&[&c]).unwrap();
    }
    let county = keys(&[&format!("region:{COUNTY}")]);
    let all = s.pull("m1", &county, 0, "dev-m1", 1 << 30).unwrap();
    assert_eq!(all.docs.len(), 150, "one page, three fetches");
    assert!(!all.more);
    let mut expected: Vec<String> = (0..150).map(|i| format!("p{i:03}")).collect();
    assert_eq!(all.docs.iter().map(|d| d.doc.clone()).collect::<Vec<_>>(), expected, "in commit order");
    // Small pages: every document once, in order.
    for budget in [1, 100, 1_000] {
        let (mut cursor, mut seen, mut pages) = (0, Vec::new(), 0);
        loop {
            let p = s.pull("m1", &county, cursor, "dev-m1", budget).unwrap();
            assert!(p.cursor > cursor || p.docs.is_empty());
            seen.extend(p.docs.iter().map(|d| d.doc.clone()));
            cursor = p.cursor;
            pages += 1;
            if !p.more {
                break;
            }
        }
        assert_eq!(seen, expected, "budget {budget}");
        assert!(pages > 1, "budget {budget} cut the pull into pages");
    }
    // The cadre loses 100 of them at once: those are purged, the rest stay.
    let cadre = user("c1", Role::Cadre);
    let before = s.user_keys(&cadre).unwrap();
    let top = all.cursor;
    let moves: Vec<DocWrite> = (0..100).map(|i| enterprise_write(&format!("p{i:03}"), &[], 2, top)).collect();
    let mut c = commit(moves);
    c.device_id = "dev-other".into();
    s.commit(&[&c]).unwrap();
    let after = s.user_keys(&cadre).unwrap();
    assert_eq!(before.len() - after.len(), 100);
    let p = s.pull("c1", &after, top, "dev-c1", 1 << 30).unwrap();
    expected.truncate(100);
    assert_eq!(p.purge, expected);
    assert!(p.docs.is_empty());
}

fn commits_number_changes_in_one_sequence(b: &Backend) {
    let s = b.open();
    let first = commit(vec![enterprise_write("e1", &[], 1, 0), enterprise_write("e2", &[], 1, 0)]);
    let mut second = commit(vec![enterprise_write("e1", &[], 2, 1)]);
    second.docs[0].changes.push(change("e1-3"));
    assert_eq!(s.commit(&[&first, &second]).unwrap(), [2, 4]);
    assert_eq!(s.current_seq().unwrap(), 4);
    assert_eq!(s.document_count().unwrap(), 2);
    let doc = s.load_doc("e1").unwrap().unwrap();
    assert_eq!((doc.kind, doc.snapshot_seq, doc.last_seq), (DocKind::Enterprise, 1, 4));
    assert_eq!(doc.snapshot, b"snapshot of e1");
    let after: Vec<u64> = s.changes_after("e1", 1).unwrap().into_iter().map(|(seq, _)| seq).collect();
    assert_eq!(after, [3, 4]);
    assert_eq!(s.changes_after("e1", 0).unwrap()[0], (1, b"bytes of e1-1".to_vec()));
    assert!(s.changes_after("e2", 2).unwrap().is_empty());
    let (doc, later) = s.load_doc_with_changes("e1").unwrap().unwrap();
    assert_eq!(doc, s.load_doc("e1").unwrap().unwrap());
    assert_eq!(later, s.changes_after("e1", 1).unwrap());
    assert!(s.load_doc_with_changes("e2").unwrap().unwrap().1.is_empty());
    assert!(s.load_doc_with_changes("nothing").unwrap().is_none());
    let asked = vec![change("e1-3").hash, change("zz").hash];
    assert_eq!(s.known_hashes(&asked).unwrap(), vec![change("e1-3").hash]);
    assert!(s.known_hashes(&[]).unwrap().is_empty());
    // A fresh snapshot moves the snapshot's sequence number.
    let mut third = commit(vec![enterprise_write("e1", &[], 4, 4)]);
    third.docs[0].snapshot = Some(b"newer snapshot".to_vec());
    assert_eq!(s.commit(&[&third]).unwrap(), [5]);
    let doc = s.load_doc("e1").unwrap().unwrap();
    assert_eq!((doc.snapshot_seq, doc.last_seq, doc.snapshot.as_slice()), (5, 5, &b"newer snapshot"[..]));
}

fn a_retried_commit_stores_nothing_twice(b: &Backend) {
    let s = b.open();
    let c = commit(vec![enterprise_write("e1", &[], 1, 0)]);
    assert_eq!(s.commit(&[&c]).unwrap(), [1]);
    // The same push again (the device did not get the answer): nothing new, the sequence stays.
    assert_eq!(s.commit(&[&c]).unwrap(), [1]);
    assert_eq!(s.current_seq().unwrap(), 1);
    assert_eq!(s.changes_after("e1", 0).unwrap().len(), 1);
}

fn a_failed_commit_writes_nothing(b: &Backend) {
    let s = b.open();
    let good = commit(vec![enterprise_write("e1", &[], 1, 0)]);
    // A change to a document that was never stored, without a snapshot: refused.
    let mut bad = commit(vec![enterprise_write("ghost", &[], 1, 0)]);
    bad.docs[0].snapshot = None;
    assert!(matches!(s.commit(&[&good, &bad]), Err(StorageError::Corrupt(_))));
    assert_eq!(s.current_seq().unwrap(), 0);
    assert!(s.load_doc("e1").unwrap().is_none());
    assert!(s.known_hashes(&[change("e1-1").hash]).unwrap().is_empty());
    assert!(s.enterprise_rows().unwrap().is_empty());
    // Numbered anew (on PostgreSQL above the numbers the failed commit took: a sequence does not give
    // them back).
    let [n] = s.commit(&[&good]).unwrap()[..] else { panic!("one commit, one number") };
    assert!(n >= 1);
    assert_eq!(s.current_seq().unwrap(), n);
}

fn a_write_from_an_outdated_copy_is_refused(b: &Backend) {
    let (a, other) = (b.open(), b.open());
    assert_eq!(a.commit(&[&commit(vec![enterprise_write("e1", &[], 1, 0)])]).unwrap(), [1]);
    // Relay A writes on top of its own change: fine.
    assert_eq!(a.commit(&[&commit(vec![enterprise_write("e1", &[], 2, 0)])]).unwrap(), [2]);
    // Another relay writes on what it read (seq 2).
    assert_eq!(other.commit(&[&commit(vec![enterprise_write("e1", &["c9"], 3, 2)])]).unwrap(), [3]);
    // A's copy (seq 2) misses the other relay's change: refused, nothing written.
    let stale = commit(vec![enterprise_write("e2", &[], 1, 0), enterprise_write("e1", &[], 4, 2)]);
    assert!(matches!(a.commit(&[&stale]), Err(StorageError::Stale(id)) if id == "e1"));
    assert_eq!(a.current_seq().unwrap(), 3);
    assert!(a.load_doc("e2").unwrap().is_none());
    assert_eq!(a.assignments().unwrap(), [("e1".into(), "c9".into(), true)]);
    // Once A has read up to seq 3, it may write.
    assert_eq!(a.commit(&[&commit(vec![enterprise_write("e1", &[], 4, 3)])]).unwrap(), [4]);
}

fn pulls_follow_scope_pages_and_purges(b: &Backend) {
    let s = b.open();
    s.upsert_directory(&Directory::default(), &[account("c1", Role::Cadre)]).unwrap();
    let cadre = user("c1", Role::Cadre);
    assert_eq!(s.user_keys(&cadre).unwrap(), keys(&["user:c1"]));
    // Three enterprises in the county, one of them assigned to c1.
    let c = commit(vec![
        enterprise_write("e1", &["c1"], 1, 0),
        enterprise_write("e2", &[], 1, 0),
        enterprise_write("e3", &[], 1, 0),
    ]);
    s.commit(&[&c]).unwrap();
    let k = s.user_keys(&cadre).unwrap();
    assert_eq!(k, keys(&["user:c1", "ent:e1"]));
    let pull = s.pull("c1", &k, 0, "dev-c1", 1 << 20).unwrap();
    assert_eq!(pull.docs.iter().map(|d| d.doc.as_str()).collect::<Vec<_>>(), ["e1"]);
    assert!(pull.docs[0].whole);
    assert_eq!(pull.docs[0].data[0], b"snapshot of e1");
    assert_eq!((pull.cursor, pull.more), (3, false));
    // Up to date: nothing, same cursor.
    let again = s.pull("c1", &k, 3, "dev-c1", 1 << 20).unwrap();
    assert!(again.docs.is_empty() && again.purge.is_empty());
    assert_eq!(again.cursor, 3);
    // A manager of the county pages through all three, one sequence number at a time.
    let county = keys(&[&format!("region:{COUNTY}")]);
    let mut cursor = 0;
    let mut seen = Vec::new();
    for _ in 0..10 {
        let p = s.pull("m1", &county, cursor, "dev-m1", 1).unwrap();
        seen.extend(p.docs.iter().map(|d| d.doc.clone()));
        cursor = p.cursor;
        if !p.more {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, ["e1", "e2", "e3"]);
    assert_eq!(cursor, 3);
    // A later change from another device comes as that change only; the pusher's own does not come back.
    let mut later = commit(vec![enterprise_write("e1", &["c1"], 2, 3)]);
    later.device_id = "dev-other".into();
    s.commit(&[&later]).unwrap();
    let p = s.pull("c1", &k, 3, "dev-c1", 1 << 20).unwrap();
    assert_eq!(p.docs.len(), 1);
    assert!(!p.docs[0].whole);
    assert_eq!(p.docs[0].data, [b"bytes of e1-2".to_vec()]);
    assert!(s.pull("c1", &k, 3, "dev-other", 1 << 20).unwrap().docs.is_empty());
    // The assignment moves from e1 to e2: c1 gets e2 whole and is told to purge e1.
    s.commit(&[&commit(vec![enterprise_write("e1", &[], 3, 4), enterprise_write("e2", &["c1"], 2, 2)])]).unwrap();
    let k = s.user_keys(&cadre).unwrap();
    assert_eq!(k, keys(&["user:c1", "ent:e2"]));
    let p = s.pull("c1", &k, 4, "dev-c1", 1 << 20).unwrap();
    assert_eq!(p.purge, ["e1"]);
    assert_eq!(p.docs.iter().map(|d| (d.doc.as_str(), d.whole)).collect::<Vec<_>>(), [("e2", true)]);
    assert!(s.doc_in_scope("e2", &k).unwrap());
    assert!(!s.doc_in_scope("e1", &k).unwrap());
    assert!(!s.doc_in_scope("e1", &[]).unwrap());
    assert_eq!(s.docs_in_scope(&["e1", "e2", "nothing"], &k).unwrap(), ["e2"]);
    assert!(s.docs_in_scope(&["e2"], &[]).unwrap().is_empty());
}

fn projections_feed_the_dashboard(b: &Backend) {
    let s = b.open();
    let mut ent = enterprise_write("e1", &["c1", "c2"], 1, 0);
    if let Projection::Enterprise(state) = &mut ent.projection {
        state.visits.push(Visit {
            record: serde_json::from_value::<VisitRecord>(
                serde_json::json!({"id": "v1", "date": "2026-11-02", "people_met": [], "notes": "",
                    "photos": [{"id": "ph-1", "sha256": "aa".repeat(32), "size_bytes": 5}]}),
            )
            .unwrap(),
            cadre_id: "c1".into(),
            recorded_at: 500,
            event_id: "ev-e1-1".into(),
            corrections: vec![],
        });
    }
    let problem = DocWrite {
        doc_id: "p1".into(),
        kind: DocKind::Problem,
        changes: vec![change("p1-1")],
        snapshot: Some(b"snapshot of p1".to_vec()),
        keys: vec!["ent:e1".into(), format!("region:{COUNTY}"), "dept:dept-finance".into()],
        projection: Projection::Problem {
            region_id: COUNTY.into(),
            enterprise_name: "企业e1".into(),
            state: ProblemState {
                enterprise_id: "e1".into(),
                title: "贷款难".into(),
                status: ProblemStatus::Routed,
                reported_by: "c1".into(),
                reported_at: 1_000,
                level: 2,
                department_id: Some("dept-finance".into()),
                deadline: Some(9_000),
                rating: Some(5),
                urge_count: 3,
                ..ProblemState::default()
            },
            conflicts: 1,
            events: vec![EventRow {
                event_id: "ev-p1-1".into(),
                kind: "reported".into(),
                by: "c1".into(),
                role: Role::Cadre,
                device: "dev-1".into(),
                at: 1_000,
                outcome: "applied",
                photos: vec![
                    PhotoRef { id: "ph-2".into(), sha256: "aa".repeat(32), size_bytes: 5 },
                    PhotoRef { id: "ph-3".into(), sha256: "bb".repeat(32), size_bytes: 7 },
                ],
            }],
        },
        base_seq: 0,
    };
    let notice = DocWrite {
        doc_id: "n1".into(),
        kind: DocKind::TaskNotice,
        changes: vec![change("n1-1")],
        snapshot: Some(b"snapshot of n1".to_vec()),
        keys: vec![format!("region:{COUNTY}"), "user:c1".into()],
        projection: Projection::TaskNotice(TaskNoticeState {
            issued: true,
            issued_by: "m1".into(),
            issued_at: 700,
            region_id: COUNTY.into(),
            title: "走访通知".into(),
            deadline: 9_999,
            recipients: vec![RecipientState {
                recipient: Recipient::Cadre("c1".into()),
                acknowledged_at: Some(800),
                completed_at: None,
                completed_by: None,
                note: String::new(),
            }],
            ..TaskNoticeState::default()
        }),
        base_seq: 0,
    };
    s.commit(&[&commit(vec![ent, problem, notice])]).unwrap();
    assert_eq!(s.assignments().unwrap(), [("e1".into(), "c1".into(), true), ("e1".into(), "c2".into(), true)]);
    assert_eq!(s.enterprise_rows().unwrap(), [("e1".into(), "企业e1".into(), COUNTY.into())]);
    assert_eq!(s.enterprise_region("e1").unwrap().as_deref(), Some(COUNTY));
    assert_eq!(s.enterprise_by_uscc("91410100MA000000e1").unwrap().as_deref(), Some("e1"));
    assert_eq!(s.enterprises_per_region().unwrap(), [(COUNTY.into(), 1)]);
    let visits = s.visit_facts().unwrap();
    assert_eq!(visits.len(), 1);
    assert_eq!((visits[0].cadre_id.as_str(), visits[0].region_id.as_str()), ("c1", COUNTY));
    let rows = s.problem_rows().unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.status.as_str(), r.level, r.rating, r.urge_count, r.conflict_count), ("routed", 2, Some(5), 3, 1));
    assert_eq!((r.department_id.as_deref(), r.deadline), (Some("dept-finance"), Some(9_000)));
    let facts = s.problem_facts().unwrap();
    assert_eq!((facts[0].id.as_str(), facts[0].reported_at, facts[0].rating), ("p1", 1_000, Some(5)));
    assert_eq!(s.event_receipts("p1").unwrap(), [("ev-p1-1".into(), 1_000)]);
    assert_eq!(
        s.task_notice_rows().unwrap(),
        [("n1".into(), COUNTY.into(), "走访通知".into(), "m1".into(), 700, 9_999, "issued".into())]
    );
    assert_eq!(s.task_recipient_rows("n1").unwrap(), [("cadre:c1".into(), Some(800), None)]);
    // The photos the visit and the problem's event name: who may read them, and since when.
    let (aa, bb) = ("aa".repeat(32), "bb".repeat(32));
    assert_eq!(s.photo_refs(&aa).unwrap(), [("e1".into(), 5), ("p1".into(), 5)]);
    assert_eq!(s.photo_refs(&bb).unwrap(), [("p1".into(), 7)]);
    assert!(s.photo_refs(&"cc".repeat(32)).unwrap().is_empty());
    assert_eq!(s.photo_regions(&bb).unwrap(), [COUNTY]);
    let named = s.photos_received(0, 1_001, 100).unwrap();
    let named: Vec<_> =
        named.iter().map(|r| (r.sha256.as_str(), r.problem_id.as_deref(), r.author_id.as_str())).collect();
    assert_eq!(named, [(aa.as_str(), None, "c1"), (aa.as_str(), Some("p1"), "c1"), (bb.as_str(), Some("p1"), "c1")]);
    assert!(s.photos_received(0, 1_000, 100).unwrap().is_empty(), "received at 1,000");
    assert!(s.photos_received(1_001, 2_000, 100).unwrap().is_empty(), "received before 1,001");
    assert_eq!(s.photos_received(0, 1_001, 2).unwrap().len(), 2, "at most the limit");
    // What a photo says of itself: recorded once, read back as written.
    assert_eq!(s.photo_taken(&aa).unwrap(), None);
    let taken = Taken { at: Some(-5_000), lat_lon: Some((34.7466123, 113.6253456)) };
    s.record_photo(&aa, &taken).unwrap();
    s.record_photo(&aa, &Taken::default()).unwrap();
    assert_eq!(s.photo_taken(&aa).unwrap(), Some(taken));
    s.record_photo(&bb, &Taken::default()).unwrap();
    assert_eq!(s.photo_taken(&bb).unwrap(), Some(Taken::default()));
}

/// Two relays, each with writer threads, commit to their own documents while a reader pulls: every
/// cursor a pull returns covers exactly the changes visible at it, so following cursors sees every
/// change once and never skips one.
fn concurrent_writers_never_let_a_cursor_skip_a_change(b: &Backend) {
    const WRITERS: usize = 4;
    const COMMITS: usize = 15;
    let relays = [b.open(), b.open()];
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let s = relays[0].clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let county = keys(&[&format!("region:{COUNTY}")]);
            let (mut cursor, mut seen) = (0u64, HashSet::new());
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let p = s.pull("m1", &county, cursor, "reader", 1 << 20).unwrap();
                assert!(p.cursor >= cursor);
                for d in &p.docs {
                    for bytes in &d.data {
                        assert!(seen.insert(bytes.clone()), "a change came twice");
                    }
                }
                cursor = p.cursor;
                if finished && !p.more {
                    return seen.len();
                }
            }
        })
    };
    std::thread::scope(|scope| {
        for w in 0..WRITERS {
            let s = relays[w % 2].clone();
            scope.spawn(move || {
                let id = format!("w{w}");
                let mut base = 0;
                for n in 0..COMMITS {
                    let mut write = enterprise_write(&id, &[], n as u8, base);
                    // Every change comes as an increment after the first (no snapshot re-sent).
                    if base > 0 {
                        write.snapshot = None;
                    }
                    base = s.commit(&[&commit(vec![write])]).unwrap()[0];
                }
            });
        }
    });
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let total = WRITERS * COMMITS;
    assert_eq!(relays[1].current_seq().unwrap(), total as u64);
    // The reader got each document's snapshot (which holds its first change), then every later change.
    let seen = reader.join().unwrap();
    assert_eq!(seen, total);
}

/// A problem of enterprise `ent` as projected, in `status`, reported at `at`.
fn problem_write(id: &str, ent: &str, status: ProblemStatus, at: i64) -> DocWrite {
    DocWrite {
        doc_id: id.into(),
        kind: DocKind::Problem,
        changes: vec![change(&format!("{id}-1"))],
        snapshot: Some(format!("snapshot of {id}").into_bytes()),
        keys: vec![format!("ent:{ent}"), format!("region:{COUNTY}")],
        projection: Projection::Problem {
            region_id: COUNTY.into(),
            enterprise_name: format!("企业{ent}"),
            state: ProblemState {
                enterprise_id: ent.into(),
                title: format!("问题{id}"),
                status,
                reported_by: "c1".into(),
                reported_at: at,
                level: 1,
                ..ProblemState::default()
            },
            conflicts: 0,
            events: vec![],
        },
        base_seq: 0,
    }
}

/// A policy issued for `region` as projected.
fn policy_write(id: &str, region: &str) -> DocWrite {
    use zhuqi_core::domain::policy::{PolicyState, PolicyText};
    DocWrite {
        doc_id: id.into(),
        kind: DocKind::Policy,
        changes: vec![change(&format!("{id}-1"))],
        snapshot: Some(format!("snapshot of {id}").into_bytes()),
        keys: vec![format!("region:{region}"), format!("policy:{region}")],
        projection: Projection::Policy(PolicyState {
            issued: true,
            region_id: region.into(),
            issued_by: "m1".into(),
            issued_at: 10,
            policy: PolicyText {
                title: format!("政策{id}"),
                issuer: "中原区人民政府".into(),
                valid_from: "2026-01-01".into(),
                valid_until: "2026-12-31".into(),
                ..PolicyText::default()
            },
            ..PolicyState::default()
        }),
        base_seq: 0,
    }
}

fn enterprise_links_sessions_and_reach(b: &Backend) {
    use zhuqi_server::storage::{WebLink, WebSignIn};
    let s = b.open();
    let contact = |id: &str, ent: &str| {
        let mut a = account(id, Role::EnterpriseContact);
        a.user.enterprise_id = Some(ent.into());
        a
    };
    s.upsert_directory(&Directory::default(), &[contact("contact-a", "e1"), contact("contact-b", "e2")]).unwrap();
    let mut docs = vec![enterprise_write("e1", &["c1"], 1, 0), enterprise_write("e2", &["c1"], 1, 0)];
    docs.push(enterprise_write("e3", &[], 1, 0));
    docs.push(problem_write("p1", "e1", ProblemStatus::Resolved, 1_000));
    docs.push(problem_write("p2", "e1", ProblemStatus::Withdrawn, 2_000));
    docs.push(problem_write("p3", "e1", ProblemStatus::Routed, 3_000));
    docs.push(problem_write("p4", "e2", ProblemStatus::Reported, 1_500));
    docs.push(policy_write("pol-county", COUNTY));
    docs.push(policy_write("pol-elsewhere", "410200"));
    s.commit(&[&commit(docs)]).unwrap();
    let ids: Vec<String> = ["e1", "e2", "e3"].map(String::from).into();
    let reach = |now: i64| -> Vec<(String, u32, u32, Option<i64>, Option<i64>)> {
        let r = s.enterprise_reach(&ids, now).unwrap();
        r.into_iter()
            .map(|r| (r.enterprise_id, r.app_devices, r.web_sign_ins, r.last_sign_in_at, r.link_expires_at))
            .collect()
    };
    let nobody = |e: &str| (e.to_string(), 0, 0, None, None);
    assert_eq!(reach(0), [nobody("e1"), nobody("e2"), nobody("e3")]);
    let names = |(l, n): (Vec<(String, String, String)>, u64)| (l.into_iter().map(|e| e.0).collect::<Vec<_>>(), n);
    assert_eq!(names(s.unreached_enterprises(None, 10).unwrap()), (vec!["e1".into(), "e2".into(), "e3".into()], 3));

    // The enterprise's problems, newest first, without withdrawn ones; the policies of its regions.
    let listed: Vec<String> = s.enterprise_problems("e1", 10).unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(listed, ["p3", "p1"]);
    assert_eq!(s.enterprise_problems("e1", 1).unwrap().len(), 1);
    assert!(s.enterprise_problems("e9", 10).unwrap().is_empty());
    let regions: Vec<String> = ["410000", "410100", COUNTY].map(String::from).into();
    let policies = s.policies_of_regions(&regions).unwrap();
    assert_eq!(policies.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["pol-county"]);
    assert_eq!((policies[0].title.as_str(), policies[0].valid_until.as_str()), ("政策pol-county", "2026-12-31"));

    // A link: live until used or expired; a new one for the same contact voids the unused one.
    let link = |hash: u8, user: &str, ent: &str, expires_at: i64| WebLink {
        code_hash: vec![hash; 32],
        user_id: user.into(),
        enterprise_id: ent.into(),
        issued_by: "c1".into(),
        issued_at: 1_000,
        expires_at,
    };
    s.create_web_link(&link(1, "contact-a", "e1", 5_000)).unwrap();
    assert!(s.web_link_live(&[1; 32], 2_000).unwrap());
    assert!(!s.web_link_live(&[1; 32], 5_000).unwrap(), "expired");
    assert_eq!(reach(2_000)[0], ("e1".into(), 0, 0, None, Some(5_000)), "a link waits");
    s.create_web_link(&link(2, "contact-a", "e1", 6_000)).unwrap();
    assert!(!s.web_link_live(&[1; 32], 2_000).unwrap(), "voided by the new one");
    let sign_in = |hash: u8, device: &str, at: i64| WebSignIn {
        id_hash: vec![hash; 32],
        device_id: device.into(),
        device_name: "网页 Mozilla/5.0".into(),
        device_token_hash: vec![hash; 32],
        created_at: at,
        expires_at: at + 10_000,
    };
    assert_eq!(s.sign_in_with_web_link(&[1; 32], 2_000, &sign_in(8, "web:void", 2_000)).unwrap(), None);
    let session = s.sign_in_with_web_link(&[2; 32], 2_000, &sign_in(9, "web:one", 2_000)).unwrap().unwrap();
    assert_eq!(
        (session.user_id.as_str(), session.enterprise_id.as_str(), session.device_id.as_str()),
        ("contact-a", "e1", "web:one")
    );
    assert_eq!(s.sign_in_with_web_link(&[2; 32], 2_001, &sign_in(10, "web:two", 2_001)).unwrap(), None, "used");
    assert!(!s.web_link_live(&[2; 32], 2_001).unwrap());
    // An expired link signs nobody in and writes nothing.
    s.create_web_link(&link(3, "contact-b", "e2", 3_000)).unwrap();
    assert_eq!(s.sign_in_with_web_link(&[3; 32], 3_000, &sign_in(11, "web:late", 3_000)).unwrap(), None);
    assert!(s.devices_of("contact-b").unwrap().is_empty());
    assert_eq!(s.enterprise_session(&[11; 32], 3_000, 10_000).unwrap(), None);
    let devices = s.devices_of("contact-a").unwrap();
    assert_eq!(devices.iter().map(|d| (d.0.as_str(), d.1.as_str(), d.3)).collect::<Vec<_>>(), [(
        "web:one",
        "网页 Mozilla/5.0",
        false
    )]);

    // The session: used within its idle time, until it expires or ends (which revokes its device).
    assert_eq!(s.enterprise_session(&[9; 32], 2_500, 1_000).unwrap(), Some(session.clone()));
    assert_eq!(s.enterprise_session(&[9; 32], 3_400, 1_000).unwrap(), Some(session.clone()), "used at 2,500");
    assert_eq!(s.enterprise_session(&[9; 32], 4_401, 1_000).unwrap(), None, "idle past 1,000 ms");
    assert_eq!(s.enterprise_session(&[9; 32], 12_000, 100_000).unwrap(), None, "expired");
    assert_eq!(s.enterprise_session(&[9; 32], 3_000, 100_000).unwrap(), Some(session.clone()));
    s.end_enterprise_session(&[9; 32], 3_100).unwrap();
    assert_eq!(s.enterprise_session(&[9; 32], 3_200, 100_000).unwrap(), None, "ended");
    assert!(s.devices_of("contact-a").unwrap()[0].3, "its device revoked");

    // Reach: a web sign-in, an app; the relay's own devices acting for a contact are no reach.
    s.create_device(&device("relay:contact-b", "contact-b", 20)).unwrap();
    s.create_device(&device("import:contact-b", "contact-b", 21)).unwrap();
    assert_eq!(reach(3_000)[..2], [("e1".into(), 0, 1, Some(2_000), None), nobody("e2")]);
    assert_eq!(names(s.unreached_enterprises(Some(&[COUNTY.into()]), 10).unwrap()), (vec!["e2".into(), "e3".into()], 2));
    s.create_device(&device("phone-b", "contact-b", 22)).unwrap();
    assert_eq!(reach(3_000)[1], ("e2".into(), 1, 0, Some(100), None));
    assert_eq!(names(s.unreached_enterprises(None, 10).unwrap()), (vec!["e3".into()], 1));
    assert_eq!(names(s.unreached_enterprises(None, 0).unwrap()), (vec![], 1), "counted beyond the limit");
    assert_eq!(names(s.unreached_enterprises(Some(&["410200".into()]), 10).unwrap()), (vec![], 0));
    assert!(s.enterprise_reach(&[], 0).unwrap().is_empty());
}
