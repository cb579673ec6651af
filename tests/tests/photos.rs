//! Photos from a visit to the relay and back, through a real relay and real device stores: recorded
//! offline, uploaded after the sync in chunks, resumed where an upload was cut, read by those who
//! may read the visit and by nobody else; and the relay's refusals of hand-built uploads, none of
//! which spoils the honest upload.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;
use zhuqi_core::sync::protocol::{BLOB_CHUNK_BYTES, BLOB_OFFSET_HEADER, BLOB_SIZE_HEADER, BlobProgress};
use zhuqi_tests::*;

use zhuqi_tests::photo::jpeg_file as jpeg;

use zhuqi_tests::photo::visit_with as visit;

/// A hand-built HTTP client of the photo endpoints.
struct Http {
    url: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Http {
    fn of(relay: &Relay, login: &str) -> Http {
        Http {
            url: relay.url.clone(),
            token: RawClient::sign_in(&relay.url, login).token,
            http: reqwest::blocking::Client::new(),
        }
    }

    fn get(&self, sha: &str) -> (u16, Vec<u8>) {
        self.get_path(&format!("/v1/blobs/{sha}"))
    }

    fn get_path(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self.http.get(format!("{}{path}", self.url)).bearer_auth(&self.token).send().unwrap();
        (r.status().as_u16(), r.bytes().unwrap().to_vec())
    }

    fn put(&self, sha: &str, offset: u64, size: u64, bytes: &[u8]) -> (u16, String) {
        self.try_put(sha, offset, size, bytes).unwrap()
    }

    /// A refusal before the body is read may close the connection while a large body is still being
    /// sent: then the client sees the connection end instead of the answer.
    fn try_put(&self, sha: &str, offset: u64, size: u64, bytes: &[u8]) -> reqwest::Result<(u16, String)> {
        let r = self
            .http
            .put(format!("{}/v1/blobs/{sha}", self.url))
            .bearer_auth(&self.token)
            .header(BLOB_OFFSET_HEADER, offset.to_string())
            .header(BLOB_SIZE_HEADER, size.to_string())
            .body(bytes.to_vec())
            .send()?;
        Ok((r.status().as_u16(), r.text()?))
    }
}

/// A relay with the test province and its two enterprises, and the cadre of enterprise A signed in
/// on a phone that holds it.
fn start(dir: &Path) -> (Relay, Device) {
    let relay = Relay::start(&dir.join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, dir);
    let cadre = Device::sign_in(&relay.url, dir, "cadre");
    cadre.sync();
    (relay, cadre)
}

fn code(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn a_visits_photos_reach_the_relay_resume_where_cut_and_are_read_only_within_scope() {
    let tmp = tempfile::tempdir().unwrap();
    let (relay, cadre) = start(tmp.path());

    // Three photos, one of them 2.5 chunks long, recorded with a visit before any sync.
    let sizes = [BLOB_CHUNK_BYTES * 5 / 2, 300_000, 4_000];
    let files: Vec<PathBuf> = sizes.iter().zip(1u8..).map(|(s, seed)| jpeg(tmp.path(), *s, seed)).collect();
    let photos: Vec<_> = files.iter().map(|f| cadre.store.attach_photo(f).unwrap()).collect();
    cadre.store.record_visit(ENT_A, visit(photos.clone())).unwrap();
    // Before the visit reaches the relay, no photo can be uploaded: nothing it knows names them.
    let early = cadre.client.upload_photos(&cadre.store).unwrap();
    assert_eq!((early.uploaded, early.bytes_sent), (0, 0));
    cadre.sync();
    let done = cadre.client.upload_photos(&cadre.store).unwrap();
    assert_eq!((done.uploaded, done.failed), (3, 0));
    assert_eq!(done.bytes_sent, sizes.iter().sum::<usize>() as u64, "every byte sent once");
    assert!(cadre.store.photo_uploads().unwrap().iter().all(|p| p.state == "done" && p.uploaded == p.size));
    assert_eq!(cadre.client.upload_photos(&cadre.store).unwrap(), Default::default(), "nothing left");

    // Who may read the visit reads the photos, byte for byte (the enterprise's contact a copy
    // without metadata, see the problem photos' test); nobody else learns they exist.
    for login in ["manager", "city"] {
        let h = Http::of(&relay, login);
        for (photo, file) in photos.iter().zip(&files) {
            let (status, bytes) = h.get(&photo.sha256);
            assert_eq!(status, 200, "{login}");
            assert!(bytes == std::fs::read(file).unwrap(), "{login}: the photo's bytes");
        }
    }
    let (status, copy) = Http::of(&relay, "contact").get(&photos[0].sha256);
    assert_eq!(status, 200);
    assert!(copy != std::fs::read(&files[0]).unwrap() && image::load_from_memory(&copy).is_ok(), "a copy");
    for login in ["manager-b", "contact-b", "cadre-b", "handler"] {
        let (status, body) = Http::of(&relay, login).get(&photos[0].sha256);
        assert_eq!((status, code(&String::from_utf8_lossy(&body))), (404, "not_found".into()), "{login}");
    }

    // An upload cut after its first chunk resumes there: the rest is sent, not the whole.
    let big = jpeg(tmp.path(), BLOB_CHUNK_BYTES * 2 + 10, 9);
    let photo = cadre.store.attach_photo(&big).unwrap();
    cadre.store.record_visit(ENT_A, visit(vec![photo.clone()])).unwrap();
    cadre.sync();
    let bytes = std::fs::read(&big).unwrap();
    let h = Http::of(&relay, "cadre");
    let (status, body) = h.put(&photo.sha256, 0, photo.size_bytes, &bytes[..BLOB_CHUNK_BYTES]);
    assert_eq!(status, 200, "{body}");
    let progress: BlobProgress = serde_json::from_str(&body).unwrap();
    assert_eq!((progress.received, progress.complete), (BLOB_CHUNK_BYTES as u64, false));
    let resumed = cadre.client.upload_photos(&cadre.store).unwrap();
    assert_eq!((resumed.uploaded, resumed.bytes_sent), (1, (bytes.len() - BLOB_CHUNK_BYTES) as u64));
    assert_eq!(Http::of(&relay, "manager").get(&photo.sha256).1, bytes);

    // The office's pages: the visits' photos as thumbnails opening the original, and a photo a
    // synced visit names that never arrived, listed for its cadre.
    let lost = cadre.store.attach_photo(&jpeg(tmp.path(), 9_000, 10)).unwrap();
    cadre.store.record_visit(ENT_A, visit(vec![lost.clone()])).unwrap();
    cadre.sync();
    let mut office = zhuqi_tests::browser::Browser::new(&relay.url);
    assert_eq!(office.sign_in("manager", PASSWORD).0, 303);
    let (status, page, _) = office.get(&format!("/enterprises/{ENT_A}"));
    assert_eq!(status, 200);
    for p in &photos {
        assert!(page.contains(&format!(r#"<img class="thumb" src="/photos/{}/thumbnail""#, p.sha256)), "{page}");
    }
    assert!(!page.contains(&format!("/photos/{}", lost.sha256)) && page.contains("未上传"));
    let original = office
        .http
        .get(format!("{}/photos/{}", relay.url, photos[1].sha256))
        .header("cookie", office.cookie_header())
        .send()
        .unwrap();
    assert_eq!(original.headers()["content-type"], "image/jpeg");
    assert!(original.bytes().unwrap() == std::fs::read(&files[1]).unwrap());
    let (_, missing, _) = office.get("/photos/missing?days=0");
    assert!(missing.contains("王干部") && missing.contains("郑州精工机械有限公司"), "{missing}");
    assert_eq!(missing.matches(r#"<span class="missing">"#).count(), 1, "only the photo that never arrived");
    let (_, later, _) = office.get("/photos/missing");
    assert!(later.contains(r#"id="none""#), "recorded minutes ago: not missing yet after 3 days");
    // Another county's office neither sees nor opens them.
    let mut other = zhuqi_tests::browser::Browser::new(&relay.url);
    assert_eq!(other.sign_in("manager-b", PASSWORD).0, 303);
    assert_eq!(other.get(&format!("/photos/{}", photos[1].sha256)).0, 404);
    assert!(other.get("/photos/missing?days=0").1.contains(r#"id="none""#));
}

#[test]
fn hand_built_uploads_are_refused_before_anything_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let (relay, cadre) = start(tmp.path());
    let file = jpeg(tmp.path(), 200_000, 1);
    let bytes = std::fs::read(&file).unwrap();
    let photo = cadre.store.attach_photo(&file).unwrap();
    cadre.store.record_visit(ENT_A, visit(vec![photo.clone()])).unwrap();
    cadre.sync();
    let (sha, size) = (photo.sha256.clone(), photo.size_bytes);
    let h = Http::of(&relay, "cadre");

    // A photo nothing names, a name that is no hash, a size other than the visit's.
    let stranger = format!("{:x}", Sha256::digest(b"a photo nobody took"));
    let (status, body) = h.put(&stranger, 0, 10, b"0123456789");
    assert_eq!((status, code(&body)), (404, "not_found".into()));
    assert_eq!(h.put("../../etc/passwd", 0, 10, b"x").0, 404, "not a route");
    assert_eq!(h.put(&sha.to_uppercase(), 0, size, &bytes[..100]).0, 400);
    let (status, body) = h.put(&sha, 0, size + 1, &bytes[..100]);
    assert_eq!((status, code(&body)), (400, "size".into()));
    // A chunk past the photo's end, or larger than a chunk may be.
    assert_eq!(h.put(&sha, 10, size, &bytes[..100]).0, 409, "the upload stands at 0");
    match h.try_put(&sha, 0, size, &vec![0u8; BLOB_CHUNK_BYTES + 1]) {
        Ok((status, _)) => assert!(status == 413 || status == 400, "{status}"),
        Err(e) => assert!(e.is_request() || e.is_body(), "refused unread: {e}"),
    }
    // Without a session: 401.
    let anonymous = reqwest::blocking::Client::new()
        .put(format!("{}/v1/blobs/{sha}", relay.url))
        .body(bytes[..100].to_vec())
        .send()
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    // Bytes of the right size that do not hash to the name: refused at the end, and dropped.
    let mut forged = bytes.clone();
    forged[1000] ^= 0xFF;
    let (status, body) = h.put(&sha, 0, size, &forged);
    assert_eq!((status, code(&body)), (422, "hash_mismatch".into()));
    assert_eq!(Http::of(&relay, "manager").get(&sha).0, 404, "not uploaded");
    // A chunk of any other length than a whole one is refused (a flood of tiny chunks would cost
    // the relay a disk flush each).
    let (status, body) = h.put(&sha, 0, size, &bytes[..1000]);
    assert_eq!(status, 400, "{body}");
    // Another reader of the visit sending junk fills a copy of its own, dropped, and spoils nothing.
    let (status, body) = Http::of(&relay, "manager").put(&sha, 0, size, &forged);
    assert_eq!((status, code(&body)), (422, "hash_mismatch".into()));
    // The device's own upload then goes through whole.
    let done = cadre.client.upload_photos(&cadre.store).unwrap();
    assert_eq!((done.uploaded, done.bytes_sent), (1, size));
    assert_eq!(Http::of(&relay, "manager").get(&sha).1, bytes);
    // Sending it again changes nothing and reads no body.
    let (status, body) = h.put(&sha, 0, size, &forged[..100]);
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<BlobProgress>(&body).unwrap().complete);
    assert_eq!(Http::of(&relay, "manager").get(&sha).1, bytes);
}

#[test]
fn photos_wait_for_an_unmetered_network_when_the_user_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (_relay, cadre) = start(tmp.path());
    let photo = cadre.store.attach_photo(&jpeg(tmp.path(), 30_000, 1)).unwrap();
    cadre.store.record_visit(ENT_A, visit(vec![photo.clone()])).unwrap();
    cadre.sync();
    assert!(cadre.store.photos_on_metered().unwrap(), "allowed until the user says otherwise");
    cadre.store.set_photos_on_metered(false).unwrap();
    cadre.store.set_network_metered(true);
    let held = cadre.client.upload_photos(&cadre.store).unwrap();
    assert_eq!((held.held, held.uploaded, held.bytes_sent), (1, 0, 0));
    assert_eq!(cadre.store.photo_uploads().unwrap()[0].state, "waiting");
    // On Wi-Fi it goes.
    cadre.store.set_network_metered(false);
    let sent = cadre.client.upload_photos(&cadre.store).unwrap();
    assert_eq!((sent.held, sent.uploaded, sent.bytes_sent), (0, 1, 30_000));
    // The setting is the user's, kept across restarts.
    let (me, path) = (cadre.store.identity(), cadre.path.clone());
    drop(cadre);
    assert!(!zhuqi_core::Store::open(&path, me).unwrap().photos_on_metered().unwrap());
}

/// China time as a camera writes it into EXIF (`2026:11:30 09:15:00`), `ms` after the epoch.
fn exif_time(ms: i64) -> String {
    let china = ms + 8 * 3_600_000;
    let (date, secs) = (zhuqi_core::domain::text::date_of(ms), china.rem_euclid(86_400_000) / 1000);
    format!("{} {:02}:{:02}:{:02}", date.replace('-', ":"), secs / 3600, secs / 60 % 60, secs % 60)
}

#[test]
fn a_problems_photos_travel_with_its_events_are_weighed_and_reach_its_enterprise_without_positions() {
    use zhuqi_core::domain::{Category, Location, ProblemAction, ProfileUpdate};
    use zhuqi_tests::photo::{Exif, jpeg as jpeg_bytes};
    let tmp = tempfile::tempdir().unwrap();
    let (relay, cadre) = start(tmp.path());
    let now = zhuqi_server::now_ms();
    let factory = (34.7466, 113.6253);
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    manager.sync();
    let place = Location { lat: factory.0, lon: factory.1, accuracy_m: 20.0, mock: false };
    manager.store.update_enterprise(ENT_A, ProfileUpdate { location: Some(place), ..Default::default() }).unwrap();
    manager.sync();
    cadre.sync();

    // The cadre reports a problem with a photo the phone took five days ago in Kaifeng (63 km away).
    let write = |name: &str, bytes: Vec<u8>| {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let old = write(
        "old.jpg",
        jpeg_bytes(800, 600, 1, Some(Exif { when: &exif_time(now - 5 * DAY), gps: Some((34.7971, 114.3076)) })),
    );
    let report_photo = cadre.store.attach_photo(&old).unwrap();
    let pid = cadre
        .store
        .report_problem(zhuqi_core::store::NewProblem {
            enterprise_id: ENT_A.into(),
            category: Category::Land,
            title: "厂区道路损坏".into(),
            description: "进出厂区道路塌陷，货车无法通行".into(),
            visit_id: None,
            photos: vec![report_photo.clone()],
        })
        .unwrap();
    assert_eq!(cadre.store.photo_uploads().unwrap()[0].state, "waiting", "queued with the report");
    cadre.sync();
    assert_eq!(cadre.client.upload_photos(&cadre.store).unwrap().uploaded, 1);

    // Routed to the finance department, whose handler resolves it with a photo of the repaired
    // road taken at the factory an hour ago (the phone's camera wrote where and when).
    manager.sync();
    manager.store.route_problem(&pid, FINANCE, 1, now + 7 * DAY, "请财政局协调").unwrap();
    manager.sync();
    // On one of the handler's phones, a progress note with a photo that phone never uploads (it
    // refuses a photo attached on another phone).
    let progress = |photos| ProblemAction::Progress { note: "已联系施工单位".into(), photos };
    let first_phone = Device::sign_in(&relay.url, tmp.path(), "handler");
    first_phone.sync();
    let lost = first_phone.store.attach_photo(&jpeg(tmp.path(), 5_000, 7)).unwrap();
    let elsewhere = cadre.store.attach_photo(&jpeg(tmp.path(), 6_000, 8)).unwrap();
    let err = first_phone.store.act_on_problem(&pid, progress(vec![elsewhere])).unwrap_err();
    assert!(matches!(err, zhuqi_core::Error::Domain(_)), "a photo this phone never attached: {err}");
    first_phone.store.act_on_problem(&pid, progress(vec![lost.clone()])).unwrap();
    first_phone.sync();
    // On the other, the resolution with a photo of the repaired road taken at the factory an hour
    // ago (the phone's camera wrote where and when), uploaded with its progress heard.
    let handler = Device::sign_in(&relay.url, tmp.path(), "handler");
    handler.sync();
    let road = write(
        "road.jpg",
        jpeg_bytes(1200, 900, 2, Some(Exif { when: &exif_time(now - 3_600_000), gps: Some(factory) })),
    );
    let evidence = handler.store.attach_photo(&road).unwrap();
    let resolved = ProblemAction::Resolved { resolution: "道路已修复".into(), photos: vec![evidence.clone()] };
    handler.store.act_on_problem(&pid, resolved).unwrap();
    handler.sync();
    let mut heard = Vec::new();
    let report = handler.client.upload_photos_reporting(&handler.store, &mut |u| heard.push(u.clone())).unwrap();
    assert_eq!(report.uploaded, 1, "only this phone's photo");
    let states: Vec<_> = heard.iter().map(|u| (u.sha256.as_str(), u.state.as_str(), u.uploaded)).collect();
    let size = evidence.size_bytes;
    assert_eq!(states, [(evidence.sha256.as_str(), "uploading", 0), (evidence.sha256.as_str(), "done", size)]);

    // The enterprise's contact reads the resolution's photo as a copy without metadata, and its
    // thumbnail; the other enterprise's contact learns nothing of either.
    let contact = Http::of(&relay, "contact");
    let (status, copy) = contact.get(&evidence.sha256);
    assert_eq!(status, 200);
    let img = image::load_from_memory(&copy).unwrap();
    assert_eq!((img.width(), img.height()), (1200, 900));
    let taken = zhuqi_server::blobs::evidence::taken(&copy);
    assert_eq!((taken.at, taken.lat_lon), (None, None), "no time or position of the handler's phone");
    let original = zhuqi_server::blobs::evidence::taken(&std::fs::read(&road).unwrap());
    assert!(original.lat_lon.is_some() && original.at.is_some(), "the original carries both");
    let (status, thumb) = contact.get_path(&format!("/v1/blobs/{}/thumbnail", evidence.sha256));
    assert_eq!(status, 200);
    assert_eq!(image::load_from_memory(&thumb).unwrap().width(), 320);
    for path in [format!("/v1/blobs/{}", evidence.sha256), format!("/v1/blobs/{}/thumbnail", report_photo.sha256)] {
        assert_eq!(Http::of(&relay, "contact-b").get_path(&path).0, 404, "{path}");
    }
    // The handler (who reads the problem) gets the original, byte for byte.
    assert_eq!(Http::of(&relay, "handler").get(&evidence.sha256).1, std::fs::read(&road).unwrap());

    // The office's problem page: each event's photos as thumbnails; the report's photo flagged as
    // taken five days early and 63 km away, the resolution's not.
    let mut office = zhuqi_tests::browser::Browser::new(&relay.url);
    assert_eq!(office.sign_in("manager", PASSWORD).0, 303);
    let (status, page, _) = office.get(&format!("/problems/{pid}"));
    assert_eq!(status, 200);
    for p in [&report_photo, &evidence] {
        assert!(page.contains(&format!(r#"src="/photos/{}/thumbnail""#, p.sha256)), "{page}");
    }
    assert!(page.contains("拍摄时间早于记录5天") && page.contains("拍摄地点距企业63公里"), "{page}");
    assert_eq!(page.matches(r#"<span class="flag">"#).count(), 2, "only the report's photo is doubtful");
    assert!(page.contains("未上传"), "the progress photo");
    let thumb = office
        .http
        .get(format!("{}/photos/{}/thumbnail", relay.url, evidence.sha256))
        .header("cookie", office.cookie_header())
        .send()
        .unwrap();
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    assert_eq!(image::load_from_memory(&thumb.bytes().unwrap()).unwrap().width(), 320);
    // The missing list names the handler's progress photo, with its problem.
    let (_, missing, _) = office.get("/photos/missing?days=0");
    assert!(missing.contains("财政局经办人") && missing.contains(&format!(r#"href="/problems/{pid}""#)), "{missing}");
    // Another county's office opens none of it.
    let mut other = zhuqi_tests::browser::Browser::new(&relay.url);
    assert_eq!(other.sign_in("manager-b", PASSWORD).0, 303);
    assert_eq!(other.get(&format!("/photos/{}/thumbnail", evidence.sha256)).0, 404);
}

#[test]
fn an_upload_cut_at_any_byte_resumes_from_its_last_acknowledged_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let (relay, cadre) = start(tmp.path());
    let size = BLOB_CHUNK_BYTES * 7 / 2;
    // Cut points spread over the whole upload (its requests' heads included), from a fixed seed.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut cuts = Vec::new();
    for round in 0..4u8 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let cut_at = 1 + seed % (size as u64 + 4_000);
        let file = jpeg(tmp.path(), size, 20 + round);
        let photo = cadre.store.attach_photo(&file).unwrap();
        cadre.store.record_visit(ENT_A, visit(vec![photo.clone()])).unwrap();
        cadre.sync();
        // The same phone's store, its uploads going through a link that drops once; no retries, so
        // the cut ends the first attempt.
        let proxy = zhuqi_tests::proxy::CuttingProxy::start(relay.addr, cut_at);
        let flaky = zhuqi_core::sync::SyncClient::new(&proxy.url).unwrap().with_retries(1, Duration::ZERO);
        let first = flaky.upload_photos(&cadre.store);
        assert!(proxy.cut.load(Ordering::SeqCst), "cut at byte {cut_at}");
        let (mut sent, mut total) = first.as_ref().map_or((0, 0), |r| (r.bytes_sent, r.uploaded));
        // Until the relay has seen the cut request end, it answers 409 `busy` and the photo waits.
        for _ in 0..100 {
            if total == 1 {
                break;
            }
            let next = flaky.upload_photos(&cadre.store).unwrap();
            (sent, total) = (sent + next.bytes_sent, total + next.uploaded);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(total, 1, "cut at byte {cut_at}: {first:?}");
        // Everything the proxy passed: the photo once, at most one chunk again, and the requests'
        // heads (a few hundred bytes each).
        let passed = proxy.upstream.load(Ordering::SeqCst);
        let again = passed.saturating_sub(size as u64);
        assert!(again <= BLOB_CHUNK_BYTES as u64 + 16_000, "cut at byte {cut_at}: {again} bytes sent again");
        assert!(sent <= (size + BLOB_CHUNK_BYTES) as u64, "cut at byte {cut_at}: {sent} bytes acknowledged");
        assert_eq!(Http::of(&relay, "manager").get(&photo.sha256).1, std::fs::read(&file).unwrap());
        cuts.push((cut_at, again));
    }
    // The cuts fell in different chunks, not all in the first request.
    let chunks: std::collections::BTreeSet<u64> = cuts.iter().map(|(c, _)| c / BLOB_CHUNK_BYTES as u64).collect();
    assert!(chunks.len() >= 3, "{cuts:?}");
}

#[test]
fn a_phone_killed_in_the_middle_of_an_upload_loses_nothing_and_resumes() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let (relay, cadre) = start(tmp.path());
    let size = BLOB_CHUNK_BYTES * 6 + 123;
    let file = jpeg(tmp.path(), size, 40);
    let photo = cadre.store.attach_photo(&file).unwrap();
    cadre.store.record_visit(ENT_A, visit(vec![photo.clone()])).unwrap();
    cadre.sync();
    let (identity, path) = (cadre.store.identity(), cadre.path.clone());
    drop(cadre);

    // The phone's uploads run in a process of their own, killed (SIGKILL) once the relay has
    // acknowledged two chunks.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_photo-uploader"))
        .args([&relay.url, path.to_str().unwrap(), &serde_json::to_string(&identity).unwrap(), "30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        let line = line.unwrap();
        let uploaded: u64 = line.rsplit(' ').next().unwrap().parse().unwrap_or(0);
        if uploaded >= 2 * BLOB_CHUNK_BYTES as u64 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The store opens as it was left: the photo still queued, its copy whole; the relay holds part
    // of it.
    let store = zhuqi_core::Store::open(&path, identity).unwrap();
    let queued = store.photo_uploads().unwrap();
    assert_eq!((queued.len(), queued[0].state.as_str(), queued[0].uploaded), (1, "waiting", 0), "{queued:?}");
    let copy = store.photo_file(&photo.sha256).unwrap().unwrap();
    assert!(std::fs::read(copy).unwrap() == std::fs::read(&file).unwrap());
    assert_eq!(Http::of(&relay, "manager").get(&photo.sha256).0, 404, "not complete yet");
    // The next upload resumes where the relay stands: only the rest is sent.
    let client = zhuqi_core::sync::SyncClient::new(&relay.url).unwrap();
    let h = Http::of(&relay, "cadre");
    let (_, status) = h.get_path(&format!("/v1/blobs/{}/status", photo.sha256));
    let held = serde_json::from_slice::<BlobProgress>(&status).unwrap().received;
    assert!(held >= 2 * BLOB_CHUNK_BYTES as u64 && held < size as u64, "the relay holds {held} bytes");
    let report = client.upload_photos(&store).unwrap();
    assert_eq!((report.uploaded, report.bytes_sent), (1, size as u64 - held));
    assert_eq!(store.photo_uploads().unwrap()[0].state, "done");
    assert_eq!(Http::of(&relay, "manager").get(&photo.sha256).1, std::fs::read(&file).unwrap());
}

#[test]
fn other_phones_fetch_thumbnails_then_originals_into_a_cache_that_keeps_to_its_budget() {
    use zhuqi_core::store::PhotoSize::{Original, Thumbnail};
    let tmp = tempfile::tempdir().unwrap();
    let (relay, cadre) = start(tmp.path());
    let files: Vec<PathBuf> = (0..3).map(|i| jpeg(tmp.path(), 600_000, 50 + i)).collect();
    let photos: Vec<_> = files.iter().map(|f| cadre.store.attach_photo(f).unwrap()).collect();
    cadre.store.record_visit(ENT_A, visit(photos.clone())).unwrap();
    cadre.sync();
    cadre.client.upload_photos(&cadre.store).unwrap();
    // A photo named on the relay but never uploaded (its phone recorded it and stayed offline).
    let other_cadre_phone = Device::sign_in(&relay.url, tmp.path(), "cadre");
    other_cadre_phone.sync();
    let unsent = other_cadre_phone.store.attach_photo(&jpeg(tmp.path(), 9_500, 61)).unwrap();
    other_cadre_phone.store.record_visit(ENT_A, visit(vec![unsent.clone()])).unwrap();
    other_cadre_phone.sync();

    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    manager.sync();
    // The thumbnail first, then the original, byte for byte.
    let thumb = manager.client.fetch_photo(&manager.store, &photos[0].sha256, Thumbnail).unwrap();
    let decoded = image::load_from_memory(&thumb).unwrap();
    assert_eq!(decoded.width(), 64, "a photo smaller than a thumbnail stays as it is");
    let original = manager.client.fetch_photo(&manager.store, &photos[0].sha256, Original).unwrap();
    assert!(original == std::fs::read(&files[0]).unwrap());
    // Shown again, it comes from the cache: no relay needed.
    let offline = zhuqi_core::sync::SyncClient::new("http://127.0.0.1:9").unwrap();
    assert_eq!(offline.fetch_photo(&manager.store, &photos[0].sha256, Original).unwrap(), original);
    assert!(offline.fetch_photo(&manager.store, &photos[1].sha256, Original).is_err(), "not fetched yet");
    // A photo not uploaded yet: the relay says so, and nothing is left behind.
    let err = manager.client.fetch_photo(&manager.store, &unsent.sha256, Original).unwrap_err();
    assert!(matches!(&err, zhuqi_core::Error::Relay { status: 404, code, .. } if code == "not_uploaded"), "{err}");
    assert_eq!(manager.store.photo_cache_bytes().unwrap(), thumb.len() as u64 + 600_000);

    // A budget of two originals: fetching a third drops the least recently shown.
    manager.store.set_photo_cache_budget(1_300_000).unwrap();
    manager.client.fetch_photo(&manager.store, &photos[1].sha256, Original).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    offline.fetch_photo(&manager.store, &photos[0].sha256, Original).unwrap(); // shown again: recent
    std::thread::sleep(Duration::from_millis(5));
    manager.client.fetch_photo(&manager.store, &photos[2].sha256, Original).unwrap();
    assert!(manager.store.photo_cache_bytes().unwrap() <= 1_300_000);
    assert!(offline.fetch_photo(&manager.store, &photos[0].sha256, Original).is_ok(), "shown recently: kept");
    assert!(offline.fetch_photo(&manager.store, &photos[1].sha256, Original).is_err(), "the least recently shown went");
    // The phone that took the photos shows its own, whatever its cache's budget.
    cadre.store.set_photo_cache_budget(0).unwrap();
    let own = offline.fetch_photo(&cadre.store, &photos[2].sha256, Original).unwrap();
    assert!(own == std::fs::read(&files[2]).unwrap());
    // Another county's manager may not fetch it.
    let stranger = Device::sign_in(&relay.url, tmp.path(), "manager-b");
    stranger.sync();
    let err = stranger.client.fetch_photo(&stranger.store, &photos[2].sha256, Thumbnail).unwrap_err();
    assert!(matches!(err, zhuqi_core::Error::Relay { status: 404, .. }), "{err}");
    assert_eq!(stranger.store.photo_cache_bytes().unwrap(), 0);
}

#[test]
fn hand_built_problem_events_with_too_many_or_malformed_photos_are_refused_and_change_nothing() {
    use zhuqi_core::domain::{PhotoRef, ProblemAction};
    let tmp = tempfile::tempdir().unwrap();
    let (relay, cadre) = start(tmp.path());
    let pid = cadre
        .store
        .report_problem(zhuqi_core::store::NewProblem {
            enterprise_id: ENT_A.into(),
            category: zhuqi_core::domain::Category::Land,
            title: "厂区道路损坏".into(),
            description: "货车无法通行".into(),
            visit_id: None,
            photos: vec![],
        })
        .unwrap();
    cadre.sync();
    let raw = RawClient::sign_in(&relay.url, "cadre");
    let photo = |sha256: String, size_bytes: u64| PhotoRef { id: uuid::Uuid::now_v7().to_string(), sha256, size_bytes };
    let good = || photo("ab".repeat(32), 1024);
    let before = relay_snapshot(&relay, &pid);
    for photos in [
        (0..21).map(|_| good()).collect::<Vec<_>>(),
        vec![photo("AB".repeat(32) + "x", 1024)],
        vec![photo("../../etc/passwd".into(), 1024)],
        vec![photo("ab".repeat(32), 0)],
        vec![photo("ab".repeat(32), 20 * 1024 * 1024 + 1)],
    ] {
        let change = raw.append(&before, ProblemAction::Progress { note: "进展".into(), photos: photos.clone() });
        let r = raw.push(&pid, zhuqi_core::domain::DocKind::Problem, vec![change]);
        assert!(!r.rejected.is_empty(), "{} photos, the first {:?}", photos.len(), photos.first());
        assert_eq!(relay_snapshot(&relay, &pid), before, "nothing stored");
        // Nobody may upload what a refused event named.
        let (status, _) = Http::of(&relay, "cadre").put(&photos[0].sha256, 0, 1, b"x");
        assert!(status == 404 || status == 400, "{status}");
    }
    // Twenty well-formed photos pass.
    let change =
        raw.append(&before, ProblemAction::Progress { note: "进展".into(), photos: (0..20).map(|_| good()).collect() });
    assert!(raw.push(&pid, zhuqi_core::domain::DocKind::Problem, vec![change]).rejected.is_empty());
}
