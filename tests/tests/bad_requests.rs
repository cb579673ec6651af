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
            "too many changes",
            encode(&SyncRequest {
                push: vec![DocChanges {
                    doc: ENT_A.into(),
                    kind: zhuqi_core::domain::DocKind::Enterprise,
                    changes: vec![vec![1]; MAX_PUSH_CHANGES + 1],
                }],
                ..good.clone()
            }),
            gz.to_vec(),
            413,
            "too_large",
        ),
        (
            "actor too long",
            encode(&SyncRequest { actor: vec![1; 64], ..good.clone() }),
            gz.to_vec(),
            400,
            "bad_request",
        ),
    ];
    for (name, body, headers, status, code) in cases {
        let Ok((s, b)) = raw.try_post(body, &headers) else {
            // Refused by its declared length while still being sent: the answer may be lost.
            assert_eq!(status, 413, "{name}: only a refusal by size may close the connection");
            continue;
        };
        let (s, e) = error_of(s, &b);
        assert_eq!((s, e.code.as_str()), (status, code), "{name}: {}", e.message);
    }
    // A device binds a bounded number of actor ids: ever new ones would only grow the relay's tables.
    let other = RawClient::sign_in(&relay.url, "cadre-b");
    for i in 0..=zhuqi_server::sync::MAX_ACTORS_PER_DEVICE {
        let req = SyncRequest { actor: (i as u32 + 1000).to_be_bytes().repeat(4), ..good.clone() };
        let (s, _) = other.post(encode(&req), &gz);
        let want = if i < zhuqi_server::sync::MAX_ACTORS_PER_DEVICE { 200 } else { 409 };
        assert_eq!(s, want, "actor {i}");
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
    if let Ok(resp) = http.post(format!("{}/v1/auth/activate", relay.url)).body(vec![b'x'; 100_000]).send() {
        assert_eq!(error_of(resp.status().as_u16(), &resp.bytes().unwrap()).0, 413);
    }
    // Without a declared length, the limit holds while reading.
    let chunks = futures_util::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024])));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let streamed = rt.block_on(
        reqwest::Client::new()
            .post(format!("{}/v1/auth/sign-in", relay.url))
            .body(reqwest::Body::wrap_stream(chunks))
            .send(),
    );
    if let Ok(resp) = streamed {
        assert_eq!(resp.status().as_u16(), 413);
    }
    // A protocol header that is not a number is no version the relay speaks.
    let (s, b) = raw.post(encode(&good), &[("content-encoding", "gzip"), (PROTOCOL_HEADER, "one")]);
    let (s, e) = error_of(s, &b);
    assert_eq!((s, e.code.as_str()), (426, "upgrade_required"), "non-numeric protocol header");

    // The relay still serves: a device syncs normally, health is fine.
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    assert_eq!(cadre.sync().pulled, 1);
    assert_eq!(http.get(format!("{}/healthz", relay.url)).send().unwrap().status().as_u16(), 200);
    // Metrics are closed by default.
    assert_eq!(http.get(format!("{}/metrics", relay.url)).send().unwrap().status().as_u16(), 404);
}

#[test]
fn metrics_need_their_token() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start_configured(
        &tmp.path().join("relay"),
        zhuqi_server::Config { metrics: zhuqi_server::MetricsAccess::Token("s3cret".into()), ..Default::default() },
        zhuqi_server::http::net::NetConfig::default(),
    );
    let http = reqwest::blocking::Client::new();
    let url = format!("{}/metrics", relay.url);
    assert_eq!(http.get(&url).send().unwrap().status().as_u16(), 404);
    assert_eq!(http.get(&url).bearer_auth("wrong").send().unwrap().status().as_u16(), 404);
    let metrics = http.get(&url).bearer_auth("s3cret").send().unwrap().text().unwrap();
    assert!(metrics.contains("zhuqi_request_errors_total"));
    assert!(metrics.contains("zhuqi_sync_duration_seconds_bucket"));
    assert!(metrics.contains("zhuqi_sign_ins_throttled_total") && metrics.contains("zhuqi_connections_refused_total"));
}
