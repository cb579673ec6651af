//! Sync benchmark: round trips and wire bytes of an up-to-date device holding 2,000 documents and of
//! a day offline, and the relay's throughput under a load generator over loopback.
//! Run: `cargo bench -p zhuqi-tests --bench sync`.
//!
//! `cargo bench -p zhuqi-tests --bench sync -- two-relays` measures instead the syncs carrying a
//! change that one relay and two relays on one PostgreSQL serve (`ZHUQI_TEST_POSTGRES_URL`, see
//! `zhuqi_tests::pg`), alternating, with the same devices.

use std::io::Write;
use std::time::{Duration, Instant};
use zhuqi_core::domain::*;
use zhuqi_core::store::NewVisit;
use zhuqi_server::storage::Account;
use zhuqi_server::sync::author::Author;
use zhuqi_tests::load::{self, Scenario, SimDevice};
use zhuqi_tests::{Device, Relay};

const PASSWORD: &str = "bench password";
const COUNTY: &str = "410102";
/// Simulated devices of the throughput test, each a cadre with its own enterprises.
const LOAD_DEVICES: usize = 32;

fn seed(relay: &Relay) -> Vec<String> {
    let storage = relay.state.storage.as_ref();
    let region = |id: &str, level, parent: Option<&str>| Region {
        id: id.into(),
        name: id.into(),
        level,
        parent_id: parent.map(Into::into),
    };
    let dir = Directory {
        regions: vec![
            region("410000", RegionLevel::Province, None),
            region("410100", RegionLevel::City, Some("410000")),
            region(COUNTY, RegionLevel::County, Some("410100")),
        ],
        departments: vec![Department { id: "fin".into(), name: "财政局".into(), region_id: COUNTY.into() }],
        users: vec![],
        ..Default::default()
    };
    let hash = zhuqi_server::auth::hash_password(PASSWORD);
    let acct = |id: &str, role, region: Option<&str>, dept: Option<&str>| Account {
        login: id.into(),
        password_hash: Some(hash.clone()),
        user: User {
            id: id.into(),
            name: id.into(),
            role,
            region_id: region.map(Into::into),
            department_id: dept.map(Into::into),
            enterprise_id: None,
            mobile: None,
            position: None,
            unit: None,
        },
    };
    let mut accounts = vec![
        acct("manager", Role::Manager, Some(COUNTY), None),
        acct("cadre", Role::Cadre, Some(COUNTY), None),
        acct("handler", Role::DepartmentHandler, None, Some("fin")),
    ];
    accounts.extend((0..LOAD_DEVICES).map(|i| acct(&format!("load-{i:02}"), Role::Cadre, Some(COUNTY), None)));
    storage.upsert_directory(&dir, &accounts).unwrap();
    let now = zhuqi_server::now_ms();
    let mut a = Author::new(&relay.state, "manager").unwrap();
    let mut enterprises = Vec::new();
    for i in 0..1000 {
        let id = format!("ent-{i:04}");
        let profile = Profile {
            name: format!("郑州第{i}精密制造有限公司"),
            uscc: uscc::complete(&format!("914101027{i:08}")).unwrap(),
            region_id: COUNTY.into(),
            industry: "装备制造".into(),
            tags: vec!["above_scale".into()],
            address: format!("中原区建设路{i}号"),
            location: None,
            contacts: vec![Contact { name: "刘总".into(), title: "总经理".into(), phone: "13800000000".into() }],
            scale: Default::default(),
        };
        a.create(DocKind::Enterprise, &id, &[], EnterpriseAction::Registered { profile }, now - 30 * 86_400_000)
            .unwrap();
        // The day-offline cadre has the first 20; each load-generator cadre its own share of the rest.
        let cadre = if i < 20 { "cadre".to_owned() } else { format!("load-{:02}", i % LOAD_DEVICES) };
        a.append(&id, EnterpriseAction::CadreAssigned { cadre_id: cadre, chief: true }, now - 29 * 86_400_000).unwrap();
        enterprises.push(id);
    }
    a.submit_all().unwrap();
    let mut a = Author::new(&relay.state, "manager").unwrap();
    let mut problems = Vec::new();
    for i in 0..1000 {
        // The cadre's 20 enterprises get 4 problems each, the others one each.
        let e = if i < 80 { i / 4 } else { i - 60 };
        let (ent, name) = (&enterprises[e], format!("郑州第{e}精密制造有限公司"));
        let id = format!("problem-{i:04}");
        let t = now - 20 * 86_400_000;
        let header = [("enterprise_id", ent.as_str()), ("enterprise_name", name.as_str()), ("region_id", COUNTY)];
        let report = ProblemAction::Reported {
            enterprise_id: ent.clone(),
            category: Category::Financing,
            title: format!("问题{i}"),
            description: "企业需要协调解决的困难".into(),
            visit_id: None,
            photos: vec![],
        };
        a.create(DocKind::Problem, &id, &header, report, t).unwrap();
        a.append(
            &id,
            ProblemAction::Routed {
                department_id: "fin".into(),
                level: 1,
                deadline: now + 30 * 86_400_000,
                note: "请办理".into(),
            },
            t + 1000,
        )
        .unwrap();
        problems.push(id);
    }
    a.submit_all().unwrap();
    problems
}

fn gzip_len(chunks: &[Vec<u8>]) -> usize {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for c in chunks {
        gz.write_all(c).unwrap();
    }
    gz.finish().unwrap().len()
}

fn main() {
    if std::env::args().any(|a| a == "two-relays") {
        return two_relays();
    }
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let started = Instant::now();
    let problems = seed(&relay);
    println!("seeded 2,000 documents through validation in {:.1} s", started.elapsed().as_secs_f64());

    // 1. A county office's phone holding 2,000 documents.
    let client = || zhuqi_core::sync::SyncClient::new(&relay.url).unwrap();
    let manager = Device::open(client(), tmp.path(), client().sign_in("manager", PASSWORD, "bench").unwrap());
    let t = Instant::now();
    let first = manager.sync();
    println!(
        "first sync of 2,000 documents: {:.0} ms, {} round trips, {} bytes up, {} bytes down",
        t.elapsed().as_secs_f64() * 1e3,
        first.round_trips,
        first.bytes_sent,
        first.bytes_received
    );
    assert_eq!(manager.store.document_ids().unwrap().len(), 2000);
    let up = manager.sync();
    println!(
        "up-to-date sync holding 2,000 documents: {} round trip(s), {} bytes up, {} bytes down",
        up.round_trips, up.bytes_sent, up.bytes_received
    );
    let mut times: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            manager.sync();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("up-to-date sync, device side incl. SQLite: median {:.2} ms over 200", times[100]);

    // 2. A day offline: 50 local changes over 10 documents, 500 remote ones over 100.
    let cadre = Device::open(client(), tmp.path(), client().sign_in("cadre", PASSWORD, "bench").unwrap());
    cadre.sync();
    assert_eq!(cadre.store.document_ids().unwrap().len(), 100);
    let (cursor, _) = cadre.store.sync_cursor().unwrap();
    let today = zhuqi_core::domain::text::date_of(zhuqi_server::now_ms());
    for i in 0..5 {
        for v in 0..5 {
            cadre
                .store
                .record_visit(
                    &format!("ent-{i:04}"),
                    NewVisit {
                        date: today.clone(),
                        people_met: vec![format!("第{v}位")],
                        notes: "走访记录".into(),
                        policies: vec![],
                        policy_ids: vec![],
                        location: None,
                        photos: vec![],
                    },
                )
                .unwrap();
            cadre.store.add_progress(&problems[i * 4], &format!("跟进{v}")).unwrap();
        }
    }
    let pushed: Vec<Vec<u8>> = cadre.store.pending_changes().unwrap().into_iter().map(|p| p.bytes).collect();
    assert_eq!(pushed.len(), 50);
    let mut a = Author::new(&relay.state, "manager").unwrap();
    for i in 0..20 {
        for v in 0..5 {
            a.append(
                &format!("ent-{i:04}"),
                EnterpriseAction::ProfileUpdated {
                    update: ProfileUpdate { address: Some(format!("新地址{v}")), ..Default::default() },
                },
                zhuqi_server::now_ms(),
            )
            .unwrap();
        }
    }
    for p in &problems[..80] {
        for v in 0..5 {
            a.append(
                p,
                ProblemAction::Progress { note: format!("办理进展{v}"), photos: vec![] },
                zhuqi_server::now_ms(),
            )
            .unwrap();
        }
    }
    a.submit_all().unwrap();
    let mut pulled: Vec<Vec<u8>> = Vec::new();
    for i in 0..20 {
        pulled.extend(
            relay.state.storage.changes_after(&format!("ent-{i:04}"), cursor).unwrap().into_iter().map(|(_, b)| b),
        );
    }
    for p in &problems[..80] {
        pulled.extend(relay.state.storage.changes_after(p, cursor).unwrap().into_iter().map(|(_, b)| b));
    }
    let pulled: Vec<Vec<u8>> = pulled.into_iter().filter(|c| !pushed.contains(c)).collect();
    let r = cadre.sync();
    let raw: usize = pushed.iter().chain(&pulled).map(Vec::len).sum();
    let compressed = gzip_len(&pushed) + gzip_len(&pulled);
    let wire = r.bytes_sent + r.bytes_received;
    println!(
        "day offline: pushed {} and pulled {} changes ({} docs updated) in {} round trip(s); wire {} bytes ({} up, {} down); raw changes {} bytes, gzip {} bytes; wire / gzip = {:.2}",
        r.pushed,
        pulled.len(),
        r.pulled,
        r.round_trips,
        wire,
        r.bytes_sent,
        r.bytes_received,
        raw,
        compressed,
        wire as f64 / compressed as f64
    );

    // 3. Throughput from a load generator over loopback: one device per cadre, each writing progress
    // notes on the problems of its own enterprises (scopes do not overlap, as in the field).
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut mine: Vec<Vec<String>> = vec![Vec::new(); LOAD_DEVICES];
    for (i, p) in problems.iter().enumerate().skip(80) {
        mine[(i - 60) % LOAD_DEVICES].push(p.clone());
    }
    let connect = |scenario_docs: bool| {
        rt.block_on(async {
            let http = reqwest::Client::builder().pool_max_idle_per_host(LOAD_DEVICES).build().unwrap();
            let mut sims = Vec::new();
            for (i, docs) in mine.iter().enumerate() {
                let mut d =
                    SimDevice::connect(http.clone(), &relay.url, &format!("load-{i:02}"), PASSWORD).await.unwrap();
                if scenario_docs {
                    d.adopt(
                        docs.iter().map(|id| (id.clone(), relay.state.document_bytes(id).unwrap().unwrap())).collect(),
                    );
                }
                sims.push(d);
            }
            sims
        })
    };
    let sims = connect(false);
    let up = rt.block_on(load::run(sims, Scenario::UpToDate, Duration::from_secs(8)));
    println!(
        "up-to-date syncs: {:.0}/s with {LOAD_DEVICES} devices ({} syncs, {} errors), latency p50 {:.2} ms p95 {:.2} ms p99 {:.2} ms",
        up.per_second(),
        up.syncs,
        up.errors,
        up.percentile_ms(0.5),
        up.percentile_ms(0.95),
        up.percentile_ms(0.99)
    );
    let sims = connect(true);
    let one = rt.block_on(load::run(sims, Scenario::OneChange, Duration::from_secs(8)));
    println!(
        "syncs carrying one new change: {:.0}/s with {LOAD_DEVICES} devices ({} syncs, {} errors), latency p50 {:.2} ms p95 {:.2} ms p99 {:.2} ms",
        one.per_second(),
        one.syncs,
        one.errors,
        one.percentile_ms(0.5),
        one.percentile_ms(0.95),
        one.percentile_ms(0.99)
    );
}

/// One relay against two on one PostgreSQL database: the same 32 cadres' devices each pushing a
/// progress note with every sync, all through relay A, then half through A and half through B,
/// alternating so that both see the same machine.
fn two_relays() {
    use zhuqi_server::storage::postgres::PostgresStorage;
    const ROUNDS: usize = 3;
    const SECONDS: u64 = 8;
    let db = zhuqi_tests::pg::TestDatabase::create();
    let open = || std::sync::Arc::new(PostgresStorage::open(&db.url, 16).expect("PostgreSQL"));
    commit_writers(&[open(), open()]);
    let a = Relay::start_with(open());
    let started = Instant::now();
    let problems = seed(&a);
    a.state.storage.after_bulk_load().unwrap();
    println!("seeded 2,000 documents on PostgreSQL in {:.1} s", started.elapsed().as_secs_f64());
    let b = Relay::start_with(open());
    let mut mine: Vec<Vec<String>> = vec![Vec::new(); LOAD_DEVICES];
    for (i, p) in problems.iter().enumerate().skip(80) {
        mine[(i - 60) % LOAD_DEVICES].push(p.clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Device i syncs with relay B in the two-relay phases when i is odd.
    let connect = |relays: usize| {
        // The devices' copies, read (blocking) before the devices connect.
        let relay = |i: usize| if relays == 2 && i % 2 == 1 { &b } else { &a };
        let copies: Vec<Vec<(String, Vec<u8>)>> = (mine.iter().enumerate())
            .map(|(i, docs)| {
                docs.iter().map(|id| (id.clone(), relay(i).state.document_bytes(id).unwrap().unwrap())).collect()
            })
            .collect();
        rt.block_on(async {
            let http = reqwest::Client::builder().pool_max_idle_per_host(LOAD_DEVICES).build().unwrap();
            let mut sims = Vec::new();
            for (i, copies) in copies.into_iter().enumerate() {
                let login = format!("load-{i:02}");
                let mut d = SimDevice::connect(http.clone(), &relay(i).url, &login, PASSWORD).await.unwrap();
                d.adopt(copies);
                sims.push(d);
            }
            sims
        })
    };
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        for relays in [1, 2] {
            let sims = connect(relays);
            let r = rt.block_on(load::run(sims, Scenario::OneChange, Duration::from_secs(SECONDS)));
            println!(
                "round {round}, {relays} relay(s): {:.0} syncs/s carrying one change ({} syncs, {} errors), p50 {:.1} ms p99 {:.1} ms",
                r.per_second(),
                r.syncs,
                r.errors,
                r.percentile_ms(0.5),
                r.percentile_ms(0.99)
            );
            if relays == 1 { one.push(r.per_second()) } else { two.push(r.per_second()) }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "one relay {:.0} syncs/s, two relays {:.0} syncs/s: {:.2}x (rounds: {})",
        mean(&one),
        mean(&two),
        mean(&two) / mean(&one),
        one.iter().zip(&two).map(|(o, t)| format!("{:.2}x", t / o)).collect::<Vec<_>>().join(", ")
    );
}

/// The commits alone, without the relays' validation: one writer per store, as a relay's commit queue
/// writes, each transaction 8 pushes of one change to a document of their own; through one store,
/// then through two on the same database, alternating.
fn commit_writers(stores: &[std::sync::Arc<zhuqi_server::storage::postgres::PostgresStorage>; 2]) {
    use zhuqi_server::storage::projection::Projection;
    use zhuqi_server::storage::{AcceptedChange, Commit, DocWrite, RelayStorage};
    const BATCH: usize = 8;
    const SECONDS: u64 = 4;
    let push = |doc: &str, n: usize, base_seq: u64| Commit {
        user_id: "load-00".into(),
        device_id: format!("device-{doc}"),
        received_at: zhuqi_server::now_ms(),
        docs: vec![DocWrite {
            doc_id: doc.into(),
            kind: DocKind::Enterprise,
            changes: vec![AcceptedChange {
                hash: zhuqi_server::auth::token_hash(&format!("{doc}-{n}")),
                bytes: format!("{doc}-{n}").repeat(8).into_bytes(),
                events: vec![(format!("{doc}-event-{n}"), None)],
            }],
            snapshot: (base_seq == 0).then(|| format!("{doc}-saved").into_bytes()),
            keys: vec![format!("ent:{doc}"), format!("region:{COUNTY}")],
            projection: Projection::Enterprise(EnterpriseState {
                registered: true,
                profile: Profile { name: doc.into(), region_id: COUNTY.into(), ..Profile::default() },
                ..EnterpriseState::default()
            }),
            base_seq,
        }],
    };
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for round in 1..=3 {
        for writers in [1, 2] {
            let started = Instant::now();
            let pushes: usize = std::thread::scope(|s| {
                let threads: Vec<_> = (0..writers)
                    .map(|w| {
                        let store = stores[w].clone();
                        s.spawn(move || {
                            let docs: Vec<String> = (0..BATCH).map(|i| format!("w{round}-{writers}-{w}-{i}")).collect();
                            let (mut bases, mut n) = ([0u64; BATCH], 0);
                            while started.elapsed() < Duration::from_secs(SECONDS) {
                                let batch: Vec<Commit> = docs.iter().zip(bases).map(|(d, b)| push(d, n, b)).collect();
                                let seqs = store.commit(&batch.iter().collect::<Vec<_>>()).unwrap();
                                bases.copy_from_slice(&seqs);
                                n += 1;
                            }
                            n * BATCH
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).sum()
            });
            let rate = pushes as f64 / started.elapsed().as_secs_f64();
            println!("round {round}, {writers} store(s), one writer each: {rate:.0} pushes/s committed");
            if writers == 1 { one.push(rate) } else { two.push(rate) }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "commits alone: one store {:.0} pushes/s, two stores {:.0} pushes/s: {:.2}x",
        mean(&one),
        mean(&two),
        mean(&two) / mean(&one)
    );
}
