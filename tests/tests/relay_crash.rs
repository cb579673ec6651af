//! The relay process is killed with SIGKILL while devices push. After each restart every change it
//! had acknowledged is there; the others arrive when the devices retry; everyone converges.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zhuqi_core::domain::ProfileUpdate;
use zhuqi_core::store::{NewProblem, NewVisit};
use zhuqi_core::sync::SyncClient;
use zhuqi_server::storage::RelayStorage;
use zhuqi_server::storage::sqlite::SqliteStorage;
use zhuqi_tests::*;

fn start(data: &std::path::Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_relay-under-test"))
        .args(["serve", "--data-dir", data.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "relay did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn acknowledged_changes_survive_sigkill_and_the_rest_arrive_on_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    seed_directory(&SqliteStorage::open(&data).unwrap());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = start(&data, port);
    seed_enterprises(&url, tmp.path());

    let logins = ["cadre", "manager", "contact"];
    let devices: Vec<Arc<Device>> = logins
        .iter()
        .map(|l| {
            let mut d = Device::sign_in(&url, tmp.path(), l);
            d.client = SyncClient::new(&url).unwrap().with_retries(1, Duration::ZERO);
            d.sync();
            Arc::new(d)
        })
        .collect();
    let acked: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (d, acked, stop) = (d.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    match i {
                        0 => drop(
                            d.store
                                .record_visit(
                                    ENT_A,
                                    NewVisit {
                                        date: zhuqi_core::domain::text::date_of(zhuqi_server::now_ms()),
                                        people_met: vec![format!("第{n}次")],
                                        notes: "走访".into(),
                                        policies: vec![],
                                        location: None,
                                        photos: vec![],
                                    },
                                )
                                .unwrap(),
                        ),
                        1 => d
                            .store
                            .update_enterprise(
                                ENT_A,
                                ProfileUpdate { address: Some(format!("地址{n}")), ..Default::default() },
                            )
                            .unwrap(),
                        _ => drop(
                            d.store
                                .report_problem(NewProblem {
                                    enterprise_id: ENT_A.into(),
                                    category: zhuqi_core::domain::Category::Other,
                                    title: format!("问题{n}"),
                                    description: "描述".into(),
                                    visit_id: None,
                                })
                                .unwrap(),
                        ),
                    }
                    let before: Vec<Vec<u8>> = d.store.pending_changes().unwrap().into_iter().map(|p| p.hash).collect();
                    if d.client.sync_now(&d.store).is_ok() {
                        let still: Vec<Vec<u8>> =
                            d.store.pending_changes().unwrap().into_iter().map(|p| p.hash).collect();
                        acked.lock().unwrap().extend(before.into_iter().filter(|h| !still.contains(h)));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();

    let mut kills = 0;
    for round in 0..4u64 {
        std::thread::sleep(Duration::from_millis(300 + 137 * round));
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        kills += 1;
        // Every change a device saw acknowledged is in the relay's database.
        let storage = SqliteStorage::open(&data).unwrap();
        let acked_now = acked.lock().unwrap().clone();
        let known = storage.known_hashes(&acked_now).unwrap();
        assert_eq!(known.len(), acked_now.len(), "after kill {kills}: acknowledged changes lost");
        drop(storage);
        std::thread::sleep(Duration::from_millis(100));
        server = start(&data, port);
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    // Retry until everything is pushed and pulled; then every device holds the same documents.
    for _ in 0..3 {
        for d in &devices {
            let mut tries = 0;
            while d.client.sync_now(&d.store).is_err() {
                tries += 1;
                assert!(tries < 50, "sync keeps failing");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    for d in &devices {
        assert!(d.store.pending_changes().unwrap().is_empty());
        assert!(d.store.quarantined().unwrap().is_empty(), "nothing refused");
    }
    let acked_count = acked.lock().unwrap().len();
    assert!(acked_count > 10, "the devices got work through: {acked_count}");
    let heads = |d: &Device| devices_heads(&d.store);
    let reference = heads(&devices[1]);
    assert_eq!(heads(&devices[0]), reference);
    assert_eq!(heads(&devices[2]).iter().filter(|(id, _)| id == ENT_A).count(), 1);
    eprintln!("{kills} kills, {acked_count} acknowledged changes, all present");
    server.kill().unwrap();
    server.wait().unwrap();
}

fn devices_heads(store: &zhuqi_core::store::Store) -> Vec<(String, Vec<String>)> {
    store.document_ids().unwrap().into_iter().map(|(id, _)| (id.clone(), store.document_heads(&id).unwrap())).collect()
}
