//! Photos on the device: copied in under their hash and kept durably, queued for upload by the
//! visit that names them (and only then), kept across a restart, refused when they are not photos,
//! too large or not held here, and gone after a wipe.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use zhuqi_core::domain::PhotoRef;

/// A JPEG-looking file of `size` bytes, different for each `seed`.
fn jpeg(dir: &Path, name: &str, size: usize, seed: u8) -> PathBuf {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..size.saturating_sub(4)).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The files in a store's photo folder.
fn files(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(folder) {
        Ok(d) => d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[test]
fn a_visits_photos_are_kept_under_their_hash_and_queued_by_the_visit() {
    let w = World::new();
    let src = tempfile::tempdir().unwrap();
    let folder = w.tmp.path().join("cadre-1.blobs");
    let workshop = jpeg(src.path(), "workshop.jpg", 300_000, 1);
    let gate = jpeg(src.path(), "gate.jpg", 5_000, 2);

    let a = w.cadre.attach_photo(&workshop).unwrap();
    let again = w.cadre.attach_photo(&workshop).unwrap();
    let b = w.cadre.attach_photo(&gate).unwrap();
    assert_eq!((a.sha256.clone(), a.size_bytes), (again.sha256.clone(), 300_000));
    assert_ne!(a.id, again.id, "each attachment is its own reference");
    assert_eq!(files(&folder), {
        let mut v = vec![a.sha256.clone(), b.sha256.clone()];
        v.sort();
        v
    });
    assert_eq!(
        std::fs::read(w.cadre.photo_file(&a.sha256).unwrap().unwrap()).unwrap(),
        std::fs::read(&workshop).unwrap()
    );
    // Attached only: nothing to upload yet.
    assert!(w.cadre.photo_uploads().unwrap().is_empty());

    // The visit names one of them: it is queued by the same transaction.
    let vid = w.cadre.record_visit(&w.enterprise_id, NewVisitWith::photos(vec![a.clone()])).unwrap();
    let queued = w.cadre.photo_uploads().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (
            queued[0].sha256.as_str(),
            queued[0].size,
            queued[0].content_type.as_str(),
            queued[0].state.as_str(),
            queued[0].uploaded
        ),
        (a.sha256.as_str(), 300_000, "image/jpeg", "waiting", 0)
    );
    let visit = w.cadre.enterprise(&w.enterprise_id).unwrap().visits.into_iter().find(|v| v.id == vid).unwrap();
    assert_eq!(visit.photos, vec![a.clone()]);

    // A restart keeps the queue and the files.
    drop(w.cadre);
    let cadre = w_store(&w.tmp, "cadre-1");
    assert_eq!(cadre.photo_uploads().unwrap().len(), 1);
    assert!(cadre.photo_file(&b.sha256).unwrap().unwrap().exists());

    // A wipe leaves no photo behind.
    cadre.wipe().unwrap();
    assert!(!folder.exists());
    assert_eq!(cadre.photo_file(&a.sha256).unwrap(), None);
}

#[test]
fn what_is_not_a_photo_too_large_or_not_held_here_is_refused_and_nothing_is_written() {
    let w = World::new();
    let src = tempfile::tempdir().unwrap();
    let folder = w.tmp.path().join("cadre-1.blobs");
    let pdf = src.path().join("report.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\n...").unwrap();
    let err = w.cadre.attach_photo(&pdf).unwrap_err();
    assert_eq!((err.field(), err.user_message().as_str()), (Some("photo"), "照片格式不正确"));
    let huge = jpeg(src.path(), "huge.jpg", 20 * 1024 * 1024 + 1, 3);
    let err = w.cadre.attach_photo(&huge).unwrap_err();
    assert_eq!(err.user_message(), "照片不能超过20MB");
    let err = w.cadre.attach_photo(&src.path().join("missing.jpg")).unwrap_err();
    assert_eq!(err.user_message(), "无法读取或保存照片文件，请重试");
    assert!(files(&folder).is_empty(), "no copy left behind: {:?}", files(&folder));

    // A visit naming bytes this device does not hold (or with another size) is refused, unwritten.
    let held = w.cadre.attach_photo(&jpeg(src.path(), "ok.jpg", 1_000, 4)).unwrap();
    let pending = w.cadre.pending_changes().unwrap().len();
    for photo in [
        PhotoRef { id: "p-1".into(), sha256: "ab".repeat(32), size_bytes: 1_000 },
        PhotoRef { size_bytes: 999, ..held.clone() },
    ] {
        let err = w.cadre.record_visit(&w.enterprise_id, NewVisitWith::photos(vec![photo])).unwrap_err();
        assert_eq!(err.field(), Some("photo"), "{err}");
    }
    assert_eq!(w.cadre.pending_changes().unwrap().len(), pending);
    assert!(w.cadre.photo_uploads().unwrap().is_empty());
}

/// A visit of the fixture's with these photos.
struct NewVisitWith;

impl NewVisitWith {
    fn photos(photos: Vec<PhotoRef>) -> zhuqi_core::store::NewVisit {
        zhuqi_core::store::NewVisit { photos, ..visit("2026-03-02") }
    }
}

fn w_store(tmp: &tempfile::TempDir, user: &str) -> zhuqi_core::store::Store {
    open(tmp.path(), &directory(ENTERPRISE), user, &TestClock::new())
}
