//! Photo uploads through the real relay (its own process, SQLite, photos in a folder) on loopback:
//! - throughput: 20 photos of 3 MB uploaded by one phone (`SyncClient::upload_photos`: a status
//!   request per photo, then 1 MiB chunks, each fsynced by the relay before it is acknowledged, the
//!   last one hashed), as a ratio of a plain copy of the same bytes over the same loopback HTTP in
//!   the same 1 MiB requests to a bare server that appends and fsyncs each (and, for scale, of one
//!   unsynced request per photo);
//! - the phone's memory: the peak resident memory of a process uploading one 3 MB photo and of one
//!   uploading a 20 MB photo;
//! - the relay's memory with 50 phones (50 users) uploading a 3 MB photo each at once.
//!
//! Run: `cargo bench -p zhuqi-tests --bench photo_upload`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;
use zhuqi_core::sync::protocol::BLOB_CHUNK_BYTES;
use zhuqi_tests::attack::RelayProcess;
use zhuqi_tests::photo::jpeg_file;
use zhuqi_tests::*;

const PHOTO: usize = 3_000_000;

use zhuqi_tests::photo::visit_with as visit;

/// A bare HTTP sink on loopback: appends each PUT's body to one file, fsyncing it (`sync`) as the
/// relay does, and answers 200.
fn sink(dir: &Path, sync: bool) -> String {
    use axum::routing::put;
    let file = std::sync::Arc::new(std::sync::Mutex::new(std::fs::File::create(dir.join("sink")).unwrap()));
    let app = axum::Router::new()
        .route(
            "/sink",
            put(move |body: axum::body::Bytes| {
                let file = file.clone();
                async move {
                    tokio::task::spawn_blocking(move || {
                        let mut f = file.lock().unwrap();
                        f.write_all(&body).unwrap();
                        if sync {
                            f.sync_data().unwrap();
                        }
                    })
                    .await
                    .unwrap();
                    "ok"
                }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sink", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        })
    });
    url
}

/// Seconds to PUT `files` to `url` in requests of `chunk` bytes.
fn plain_copy(url: &str, files: &[std::path::PathBuf], chunk: usize) -> f64 {
    let http = reqwest::blocking::Client::new();
    let t = Instant::now();
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        for part in bytes.chunks(chunk) {
            assert!(http.put(url).body(part.to_vec()).send().unwrap().status().is_success());
        }
    }
    t.elapsed().as_secs_f64()
}

/// Peak resident memory (MiB) of a process uploading one photo of `size` bytes.
fn uploader_peak(relay: &RelayProcess, dir: &Path, size: usize, seed: u8) -> f64 {
    let phone = Device::sign_in(&relay.url, dir, "cadre");
    phone.sync();
    let photo = phone.store.attach_photo(&jpeg_file(dir, size, seed)).unwrap();
    phone.store.record_visit(ENT_A, visit(vec![photo])).unwrap();
    phone.sync();
    let (identity, path) = (phone.store.identity(), phone.path.clone());
    drop(phone);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_photo-uploader"))
        .args([&relay.url, path.to_str().unwrap(), &serde_json::to_string(&identity).unwrap(), "0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("uploaded: 1"), "{stdout}");
    let kib: f64 = stdout.lines().find_map(|l| l.strip_prefix("peak_kib ")).unwrap().parse().unwrap();
    kib / 1024.0
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let cadres = {
        let storage = zhuqi_server::storage::sqlite::SqliteStorage::open(&data).unwrap();
        seed_directory(&storage);
        seed_more_cadres(&storage, 50)
    };
    let relay =
        RelayProcess::start(Path::new(env!("CARGO_BIN_EXE_relay-under-test")), &data, &tmp.path().join("log"), &[]);
    seed_enterprises(&relay.url, tmp.path());
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    manager.sync();
    for c in &cadres {
        manager.store.assign_cadre(ENT_A, c, false).unwrap();
    }
    manager.sync();

    // 1. Throughput.
    let phone = Device::sign_in(&relay.url, tmp.path(), "cadre");
    phone.sync();
    let files: Vec<_> = (0..20u8).map(|i| jpeg_file(tmp.path(), PHOTO, i)).collect();
    let photos: Vec<_> = files.iter().map(|f| phone.store.attach_photo(f).unwrap()).collect();
    phone.store.record_visit(ENT_A, visit(photos)).unwrap();
    phone.sync();
    let t = Instant::now();
    let report = phone.client.upload_photos(&phone.store).unwrap();
    let zhuqi = t.elapsed().as_secs_f64();
    assert_eq!(report.uploaded, 20);
    let mb = (20 * PHOTO) as f64 / 1e6;
    let synced = plain_copy(&sink(tmp.path(), true), &files, BLOB_CHUNK_BYTES);
    let unsynced_dir = tempfile::tempdir().unwrap();
    let unsynced = plain_copy(&sink(unsynced_dir.path(), false), &files, PHOTO);
    println!("20 photos of 3 MB ({mb:.0} MB) over loopback:");
    println!("  zhuqi upload_photos:                    {zhuqi:6.3} s  {:6.1} MB/s", mb / zhuqi);
    println!(
        "  plain copy, 1 MiB PUTs, fsync each:     {synced:6.3} s  {:6.1} MB/s  ratio {:.2}",
        mb / synced,
        synced / zhuqi
    );
    println!(
        "  plain copy, one PUT a photo, no fsync:  {unsynced:6.3} s  {:6.1} MB/s  ratio {:.2}",
        mb / unsynced,
        unsynced / zhuqi
    );

    // 2. The phone's memory, by photo size.
    let small = uploader_peak(&relay, tmp.path(), PHOTO, 100);
    let large = uploader_peak(&relay, tmp.path(), 20_000_000, 101);
    println!("phone process peak resident memory: 3 MB photo {small:.1} MiB, 20 MB photo {large:.1} MiB");

    // 3. The relay's memory with 50 uploads at once.
    let phones: Vec<Device> = cadres
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let d = Device::sign_in(&relay.url, tmp.path(), c);
            d.sync();
            let photo = d.store.attach_photo(&jpeg_file(tmp.path(), PHOTO, 150 + i as u8)).unwrap();
            d.store.record_visit(ENT_A, visit(vec![photo])).unwrap();
            d.sync();
            d
        })
        .collect();
    let idle = relay.rss() as f64 / (1 << 20) as f64;
    let peak = std::sync::atomic::AtomicU64::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(relay.rss(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        let uploads: Vec<_> =
            phones.iter().map(|d| s.spawn(move || d.client.upload_photos(&d.store).unwrap())).collect();
        for u in uploads {
            assert_eq!(u.join().unwrap().uploaded, 1);
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let elapsed = t.elapsed().as_secs_f64();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / (1 << 20) as f64;
    println!(
        "relay resident memory, 50 phones uploading 3 MB each at once: {idle:.1} MiB before, {peak:.1} MiB at most \
         ({elapsed:.2} s, {:.1} MB/s)",
        50.0 * PHOTO as f64 / 1e6 / elapsed
    );
}
