//! Malformed, truncated, oversized and wrong-version bodies get a 4xx with a clear JSON message, and
//! the relay goes on serving everybody else.

use std::io::Write;
use zhuqi_core::sync::protocol::*;
use zhuqi_tests::*;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn error_of(status: u16, body: &[u8]) -> (u16, ErrorBody) {
    let e: ErrorBody = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("JSON error body, got {}", String::from_utf8_lossy(body)));
    assert!(!e.message.is_empty() && !e.message_zh.is_empty());
    (status, e)
}

#[test]
fn bad_bodies_are_refused_clearly_and_the_relay_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let raw = RawClient::sign_in(&relay.url, "cadre");
    let gz = [("content-encoding", "gzip"), (PROTOCOL_HEADER, "1")];
    let good = SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor: 0,
        directory_version: 0,
        actor: vec![],
        push: vec![],
        max_bytes: None,
    };

    let cases: Vec<(&str, Vec<u8>, Vec<(&str, &str)>, u16, &str)> = vec![
        ("not gzip", b"hello".to_vec(), gz.to_vec(), 400, "bad_request"),
        ("no content-encoding", encode(&good), vec![(PROTOCOL_HEADER, "1")], 400, "bad_request"),
        ("gzip of garbage", gzip(b"\xff\xfe not cbor"), gz.to_vec(), 400, "bad_request"),
        ("truncated", encode(&good)[..10].to_vec(), gz.to_vec(), 400, "bad_request"),
        ("wrong message", encode(&vec![1u32, 2, 3]), gz.to_vec(), 400, "bad_request"),
        (
            "old protocol header",
            encode(&good),
            vec![("content-encoding", "gzip"), (PROTOCOL_HEADER, "0")],
            426,
            "upgrade_required",
        ),
        (
            "old protocol body",
            encode(&SyncRequest { protocol: 0, ..good.clone() }),
            gz.to_vec(),
            426,
            "upgrade_required",
        ),
        ("decompression bomb", gzip(&vec![0u8; MAX_REQUEST_BYTES + 10]), gz.to_vec(), 413, "too_large"),
        ("oversized", vec![7u8; MAX_REQUEST_BYTES + 1], gz.to_vec(), 413, "too_large"),
        (
            "actor too long",
            encode(&SyncRequest { actor: vec![1; 64], ..good.clone() }),
            gz.to_vec(),
            400,
            "bad_request",
        ),
    ];
    for (name, body, headers, status, code) in cases {
        let (s, b) = raw.post(body, &headers);
        let (s, e) = error_of(s, &b);
        assert_eq!((s, e.code.as_str()), (status, code), "{name}: {}", e.message);
    }
    // Bad change bytes inside a well-formed request are refused per document, not per request.
    let bad = raw.push(ENT_A, zhuqi_core::domain::DocKind::Enterprise, vec![b"not a change".to_vec()]);
    assert_eq!(bad.rejected[0].code, RejectCode::Malformed);

    // Tokens and JSON endpoints.
    let http = reqwest::blocking::Client::new();
    let resp = http
        .post(format!("{}/v1/sync", relay.url))
        .body(encode(&good))
        .header("content-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(error_of(resp.status().as_u16(), &resp.bytes().unwrap()).1.code, "unauthorized");
    let resp = http
        .post(format!("{}/v1/sync", relay.url))
        .bearer_auth("forged")
        .body(encode(&good))
        .header("content-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(error_of(resp.status().as_u16(), &resp.bytes().unwrap()).0, 401);
    let resp = http.post(format!("{}/v1/auth/sign-in", relay.url)).body("{\"login\": ").send().unwrap();
    assert_eq!(error_of(resp.status().as_u16(), &resp.bytes().unwrap()).0, 400);
    let resp = http.post(format!("{}/v1/auth/activate", relay.url)).body(vec![b'x'; 100_000]).send().unwrap();
    assert_eq!(error_of(resp.status().as_u16(), &resp.bytes().unwrap()).0, 413);

    // The relay still serves: a device syncs normally, health is fine.
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    assert_eq!(cadre.sync().pulled, 1);
    assert_eq!(http.get(format!("{}/healthz", relay.url)).send().unwrap().status().as_u16(), 200);
    let metrics = http.get(format!("{}/metrics", relay.url)).send().unwrap().text().unwrap();
    assert!(metrics.contains("zhuqi_request_errors_total"));
    assert!(metrics.contains("zhuqi_sync_duration_seconds_bucket"));
}
