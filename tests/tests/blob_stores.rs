//! One suite for every photo store behind `BlobStore`: the folder store and the S3 store against a
//! real S3-compatible server (s3s-fs on 127.0.0.1). Each must resume uploads where they stand, keep
//! each uploader's bytes apart, check the hash and the content before a photo counts, read ranges,
//! keep copies, and collect abandoned uploads; and a relay storing photos in S3 serves them whole.

use sha2::{Digest, Sha256};
use std::time::Duration;
use zhuqi_server::blobs::s3::S3BlobStore;
use zhuqi_server::blobs::{BlobError, BlobStatus, BlobStore, FsBlobStore};
use zhuqi_tests::s3::S3Server;

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The same expectations of any store. `idle` is how long to wait so that an upload counts as idle
/// for `collect_partials(0)` (S3 keeps modification times to the second).
fn conformance(store: &dyn BlobStore, idle: Duration) {
    let mut photo = vec![0xFF, 0xD8, 0xFF, 0xE0];
    photo.extend((0..7_000_000u32).map(|i| (i % 251) as u8));
    let sha = sha(&photo);
    assert_eq!(store.status(&sha, "u1").unwrap(), BlobStatus::Absent);
    assert_eq!(store.append(&sha, "u1", 0, &photo[..1 << 20]).unwrap(), 1 << 20);
    assert!(matches!(store.append(&sha, "u1", 0, &photo[..10]), Err(BlobError::Offset { received: 1_048_576 })));
    assert!(matches!(store.append(&sha, "u1", 5, &photo[..10]), Err(BlobError::Offset { received: 1_048_576 })));
    assert_eq!(store.status(&sha, "u1").unwrap(), BlobStatus::Partial { received: 1 << 20 });
    // Another uploader's junk lands in a copy of its own and spoils nothing.
    assert_eq!(store.status(&sha, "u2").unwrap(), BlobStatus::Absent);
    store.append(&sha, "u2", 0, b"junk").unwrap();
    let mut at = 1 << 20;
    for chunk in photo[at..].chunks(1 << 20) {
        at = store.append(&sha, "u1", at as u64, chunk).unwrap() as usize;
    }
    assert_eq!(at, photo.len());
    assert_eq!(store.finish(&sha, "u1").unwrap(), "image/jpeg");
    assert_eq!(store.status(&sha, "u1").unwrap(), BlobStatus::Complete { size: photo.len() as u64 });
    assert_eq!(store.status(&sha, "u2").unwrap(), BlobStatus::Complete { size: photo.len() as u64 });
    assert_eq!(store.read(&sha, 6_999_000, 10_000).unwrap(), photo[6_999_000..]);
    assert_eq!(store.read(&sha, 0, 4).unwrap(), photo[..4]);
    assert!(matches!(store.finish(&sha, "u2"), Err(BlobError::HashMismatch)), "its copy is checked alone");
    assert_eq!(store.status(&sha, "u2").unwrap(), BlobStatus::Complete { size: photo.len() as u64 });

    // Bytes that do not hash to their name, or that are no photo, are dropped.
    let wrong = "0".repeat(64);
    store.append(&wrong, "u1", 0, &photo[..1000]).unwrap();
    assert!(matches!(store.finish(&wrong, "u1"), Err(BlobError::HashMismatch)));
    assert_eq!(store.status(&wrong, "u1").unwrap(), BlobStatus::Absent);
    let text = b"not a photo at all".to_vec();
    store.append(&sha_of(&text), "u1", 0, &text).unwrap();
    assert!(matches!(store.finish(&sha_of(&text), "u1"), Err(BlobError::NotAPhoto)));
    assert_eq!(store.status(&sha_of(&text), "u1").unwrap(), BlobStatus::Absent);

    // Copies made from a photo are kept under their name.
    assert_eq!(store.derived(&format!("{sha}.thumb.jpg")).unwrap(), None);
    store.put_derived(&format!("{sha}.thumb.jpg"), b"a small copy").unwrap();
    assert_eq!(store.derived(&format!("{sha}.thumb.jpg")).unwrap().as_deref(), Some(&b"a small copy"[..]));

    // Copies left unfinished are collected; recent ones stay.
    store.append(&wrong, "u3", 0, b"abandoned").unwrap();
    assert_eq!(store.collect_partials(Duration::from_secs(3600)).unwrap(), 0);
    std::thread::sleep(idle);
    assert!(store.collect_partials(Duration::ZERO).unwrap() >= 1);
    assert_eq!(store.status(&wrong, "u3").unwrap(), BlobStatus::Absent);
    assert_eq!(store.status(&sha, "u3").unwrap(), BlobStatus::Complete { size: photo.len() as u64 }, "photos stay");
}

fn sha_of(bytes: &[u8]) -> String {
    sha(bytes)
}

#[test]
fn the_folder_store_passes_the_suite() {
    let tmp = tempfile::tempdir().unwrap();
    conformance(&FsBlobStore::new(tmp.path()), Duration::from_millis(20));
    assert!(zhuqi_server::blobs::is_sha256(&sha(b"x")) && !zhuqi_server::blobs::is_sha256("../etc/passwd"));
}

#[test]
fn the_s3_store_passes_the_suite_against_a_real_s3_server() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(tmp.path());
    let store = S3BlobStore::new(&server.config()).unwrap();
    conformance(&store, Duration::from_millis(2100));
    // Wrong credentials are refused by the server: an error, not a photo.
    let mut config = server.config();
    config.secret_access_key = Some("not the secret".into());
    let stranger = S3BlobStore::new(&config).unwrap();
    assert!(matches!(stranger.status(&sha(b"x"), "u1"), Err(BlobError::Io(_))));
}

#[test]
fn a_relay_keeping_photos_in_s3_takes_and_serves_them_whole() {
    use zhuqi_tests::*;
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(&tmp.path().join("s3"));
    let store: std::sync::Arc<dyn BlobStore> = std::sync::Arc::new(S3BlobStore::new(&server.config()).unwrap());
    let config = zhuqi_server::Config { blobs: Some(store), ..Default::default() };
    let relay = Relay::start_configured(&tmp.path().join("relay"), config, Default::default());
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    cadre.sync();
    let file = zhuqi_tests::photo::jpeg_file(tmp.path(), 2_500_000, 3);
    let photo = cadre.store.attach_photo(&file).unwrap();
    let visit = zhuqi_tests::photo::visit_with(vec![photo.clone()]);
    cadre.store.record_visit(ENT_A, visit).unwrap();
    cadre.sync();
    let report = cadre.client.upload_photos(&cadre.store).unwrap();
    assert_eq!((report.uploaded, report.bytes_sent), (1, 2_500_000));
    // The photo sits in the bucket, not in the relay's folder.
    assert!(!tmp.path().join("relay").join("blobs").exists());
    let token = RawClient::sign_in(&relay.url, "manager").token;
    let got = reqwest::blocking::Client::new()
        .get(format!("{}/v1/blobs/{}", relay.url, photo.sha256))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert!(got.bytes().unwrap() == std::fs::read(&file).unwrap());
    let thumb = reqwest::blocking::Client::new()
        .get(format!("{}/v1/blobs/{}/thumbnail", relay.url, photo.sha256))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(thumb.status().as_u16(), 200);
    assert!(image::load_from_memory(&thumb.bytes().unwrap()).is_ok());
}
