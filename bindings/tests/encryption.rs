//! Encryption at rest through the exported API, against a real relay: the store and its photos
//! unreadable without the app's key, a wrong key refused with a typed error and nothing touched, a
//! store of an earlier version encrypted in place, sign-out destroying the key (crypto-shredding).

use std::sync::Arc;
use zhuqi_ffi::*;
use zhuqi_tests::{ENT_A, PASSWORD, Relay, photo::jpeg_file, seed_directory, seed_enterprises};

const KEY: [u8; 32] = [0x5A; 32];
const NOTE: &str = "走访记录：企业流动资金紧张，需要贷款八百万元";

fn options(key: Option<&[u8]>) -> ClientOptions {
    ClientOptions { store_key: key.map(<[u8]>::to_vec), allow_insecure_http: true, ..ClientOptions::default() }
}

fn visit(today: &str, photos: Vec<Photo>) -> VisitInput {
    VisitInput {
        date: today.into(),
        people_met: vec!["总经理".into()],
        notes: NOTE.into(),
        policies: vec![],
        policy_ids: vec![],
        location: None,
        photos,
    }
}

/// Every file under `dir`, with its bytes.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

struct World {
    tmp: tempfile::TempDir,
    relay: Relay,
    today: String,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let today = zhuqi_core::domain::text::date_of(zhuqi_server::now_ms());
    World { tmp, relay, today }
}

#[test]
fn nothing_on_disk_is_readable_without_the_key_and_a_wrong_key_is_refused() {
    let w = world();
    let phone = w.tmp.path().join("phone");
    let shot = jpeg_file(w.tmp.path(), 150_000, 9);
    let shot_bytes = std::fs::read(&shot).unwrap();
    let sha;
    {
        let client = ZhuqiClient::new(phone.display().to_string(), w.relay.url.clone(), options(Some(&KEY))).unwrap();
        client.sign_in("cadre".into(), PASSWORD.into(), "手机".into()).unwrap();
        Arc::clone(&client).sync_now().unwrap();
        let photo = client.attach_photo(shot.display().to_string()).unwrap();
        sha = photo.sha256.clone();
        client.record_visit(ENT_A.into(), visit(&w.today, vec![photo])).unwrap();
        let summary = Arc::clone(&client).sync_now().unwrap();
        assert_eq!(summary.photos_uploaded, 1, "the sealed photo uploads as the photo itself");
        assert_eq!(client.photo(sha.clone(), false).unwrap().unwrap(), shot_bytes, "read back unsealed");
    }
    // The relay got the photo's own bytes.
    let blobs = w.relay.state.blobs.clone().expect("the relay keeps photos");
    let stored = blobs.read(&sha, 0, shot_bytes.len() + 1).unwrap();
    assert!(stored == shot_bytes, "the relay holds the photo, not its sealed file");

    // On disk: no SQLite header, no note, no token, no photo bytes, no photo hash in a name.
    let on_disk = files(&phone);
    let db = on_disk.iter().find(|(p, _)| p.extension().is_some_and(|e| e == "db")).expect("the store file");
    assert!(!db.1.starts_with(b"SQLite format 3"), "the database is encrypted");
    for (path, bytes) in &on_disk {
        let name = path.display().to_string();
        assert!(!contains(bytes, NOTE.as_bytes()), "{name} holds the note in the clear");
        assert!(!contains(bytes, "企业流动资金".as_bytes()), "{name} holds part of the note");
        assert!(!contains(bytes, &shot_bytes[200..264]), "{name} holds the photo in the clear");
        assert!(!name.contains(&sha), "{name} tells the photo's hash");
    }
    assert!(on_disk.iter().any(|(p, _)| p.extension().is_some_and(|e| e == "zq")), "a sealed photo file");
    // Plain SQLite cannot open it.
    let plainly = rusqlite::Connection::open(&db.0).and_then(|c| c.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)));
    assert!(plainly.is_err(), "opened without the key: {plainly:?}");

    // Reopened without the key, or with another: refused, typed, and nothing changed.
    let before: Vec<_> = files(&phone).into_iter().filter(|(p, _)| !p.to_string_lossy().ends_with("-shm")).collect();
    for key in [None, Some(&[0x5B; 32][..]), Some(&[0x5A; 16][..])] {
        match ZhuqiClient::new(phone.display().to_string(), w.relay.url.clone(), options(key)) {
            Err(ZhuqiError::KeyRejected { message_zh, .. }) => assert!(message_zh.contains("密钥"), "{message_zh}"),
            Err(e) => panic!("{key:?}: {e:?}"),
            Ok(_) => panic!("{key:?}: opened"),
        }
    }
    let after: Vec<_> = files(&phone).into_iter().filter(|(p, _)| !p.to_string_lossy().ends_with("-shm")).collect();
    assert_eq!(before.len(), after.len(), "no file made or removed by a refused open");
    for ((p, a), (_, b)) in before.iter().zip(&after) {
        assert!(a == b, "{} changed by a refused open", p.display());
    }

    // The right key: everything is there, offline.
    let client = ZhuqiClient::new(phone.display().to_string(), "https://127.0.0.1:9".into(), options(Some(&KEY))).unwrap();
    assert_eq!(client.enterprise(ENT_A.into()).unwrap().visits.iter().filter(|v| v.notes == NOTE).count(), 1);
    assert_eq!(client.photo(sha.clone(), true).unwrap().unwrap(), shot_bytes, "its own photo, for a thumbnail too");
    assert_eq!(client.photo("0".repeat(64), false).unwrap(), None);
    drop(client);

    // The key is lost for good (a backup restored elsewhere): the app erases what it cannot read,
    // without opening it, and starts again with a new key.
    erase_local_data(phone.display().to_string()).unwrap();
    assert!(files(&phone).is_empty(), "left behind: {:?}", files(&phone).iter().map(|f| &f.0).collect::<Vec<_>>());
    let fresh = ZhuqiClient::new(phone.display().to_string(), w.relay.url.clone(), options(Some(&[0x5B; 32]))).unwrap();
    assert!(fresh.current_user().is_none());
    fresh.sign_in("cadre".into(), PASSWORD.into(), "手机".into()).unwrap();
    Arc::clone(&fresh).sync_now().unwrap();
    assert_eq!(fresh.enterprise(ENT_A.into()).unwrap().visits.iter().filter(|v| v.notes == NOTE).count(), 1, "synced data comes back");
}

#[test]
fn an_encrypted_store_whose_key_file_went_is_removed_and_started_afresh() {
    // An erase cut off after it destroyed the key file leaves unreadable files: the next open
    // clears them instead of refusing for ever.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("zhuqi-u.db");
    let who = zhuqi_core::store::Identity {
        user_id: "u".into(),
        name: "王明".into(),
        role: zhuqi_core::domain::Role::Cadre,
        region_id: None,
        department_id: None,
        enterprise_id: None,
        device_id: "d".into(),
    };
    let store = zhuqi_core::store::Store::open_encrypted(&db, who.clone(), Some(&KEY)).unwrap();
    store.set_session_token("secret-token").unwrap();
    drop(store);
    zhuqi_core::storage::crypto::shred_key(&db).unwrap();
    let store = zhuqi_core::store::Store::open_encrypted(&db, who, Some(&KEY)).unwrap();
    assert_eq!(store.session_token().unwrap(), None, "a fresh, empty store");
}

#[test]
fn a_plain_store_is_encrypted_when_a_key_first_comes_and_sign_out_shreds_the_key() {
    let w = world();
    let phone = w.tmp.path().join("phone");
    let shot = jpeg_file(w.tmp.path(), 70_000, 3);
    let shot_bytes = std::fs::read(&shot).unwrap();
    let sha;
    {
        // An earlier version: no key.
        let client = ZhuqiClient::new(phone.display().to_string(), w.relay.url.clone(), options(None)).unwrap();
        client.sign_in("cadre".into(), PASSWORD.into(), "手机".into()).unwrap();
        Arc::clone(&client).sync_now().unwrap();
        let photo = client.attach_photo(shot.display().to_string()).unwrap();
        sha = photo.sha256.clone();
        client.record_visit(ENT_A.into(), visit(&w.today, vec![photo])).unwrap();
        assert!(files(&phone).iter().any(|(_, b)| contains(b, NOTE.as_bytes())), "plain before");
    }
    let client = ZhuqiClient::new(phone.display().to_string(), w.relay.url.clone(), options(Some(&KEY))).unwrap();
    for (path, bytes) in files(&phone) {
        assert!(!contains(&bytes, NOTE.as_bytes()), "{} still plain", path.display());
        assert!(!contains(&bytes, &shot_bytes[100..164]), "{} still holds the photo", path.display());
    }
    assert_eq!(client.enterprise(ENT_A.into()).unwrap().visits.iter().filter(|v| v.notes == NOTE).count(), 1);
    assert_eq!(client.photo(sha.clone(), false).unwrap().unwrap(), shot_bytes);
    let summary = Arc::clone(&client).sync_now().unwrap();
    assert_eq!((summary.pushed > 0, summary.photos_uploaded), (true, 1), "what waited is pushed: {summary:?}");
    assert!(ZhuqiClient::new(phone.display().to_string(), w.relay.url.clone(), options(None)).is_err(), "no way back without the key");

    // Sign-out with wipe: the key file goes first, then everything else.
    let key_files = || files(&phone).into_iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "key")).count();
    assert_eq!(key_files(), 1);
    client.sign_out(true).unwrap();
    assert_eq!(key_files(), 0, "the key file is destroyed");
    let left: Vec<_> = files(&phone).into_iter().map(|(p, _)| p).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // The same app key now opens only a new, empty store.
    let again = ZhuqiClient::new(phone.display().to_string(), w.relay.url.clone(), options(Some(&KEY))).unwrap();
    assert!(again.current_user().is_none());
}

#[test]
fn the_relay_address_must_be_https_unless_development_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().display().to_string();
    match ZhuqiClient::new(at.clone(), "http://relay.example.gov.cn".into(), ClientOptions::default()) {
        Err(ZhuqiError::Tls { message_zh, .. }) => assert!(message_zh.contains("证书"), "{message_zh}"),
        other => panic!("{:?}", other.err()),
    }
    let client = ZhuqiClient::new(at.clone(), "https://relay.example.gov.cn".into(), ClientOptions::default()).unwrap();
    assert!(matches!(client.set_relay_url("http://relay.example.gov.cn".into()), Err(ZhuqiError::Tls { .. })));
    let bad_ca = ClientOptions { extra_root_certificates: vec!["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()], ..ClientOptions::default() };
    assert!(matches!(ZhuqiClient::new(at, "https://relay.example.gov.cn".into(), bad_ca), Err(ZhuqiError::Tls { .. })));
}
