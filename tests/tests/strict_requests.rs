//! A sync request is one well-formed message or nothing: a pushed document id that is not plain
//! (a newline that would forge a log line, megabytes of id) and bytes after the message are refused
//! with 400 before anything is stored, and the relay goes on serving.

use std::io::Write;
use zhuqi_core::document::Document;
use zhuqi_core::domain::{Category, DocKind, ProblemAction};
use zhuqi_core::sync::protocol::*;
use zhuqi_tests::*;

const GZ: [(&str, &str); 2] = [("content-encoding", "gzip"), (PROTOCOL_HEADER, "1")];

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The CBOR of a message, as `encode` writes it before compressing.
fn cbor<T: serde::Serialize>(msg: &T) -> Vec<u8> {
    let body = encode(msg);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body.as_slice()), &mut out).unwrap();
    out
}

fn refused(raw: &RawClient, body: Vec<u8>, what: &str) {
    let (status, body) = raw.post(body, &GZ);
    let e: ErrorBody =
        serde_json::from_slice(&body).unwrap_or_else(|_| panic!("{what}: expected a JSON refusal, got {status}"));
    assert_eq!((status, e.code.as_str()), (400, "bad_request"), "{what}: {}", e.message);
    assert!(!e.message_zh.is_empty());
    assert!(e.message.len() < 200, "{what}: the refusal does not echo the request");
}

/// A problem of A reported by the cadre: a change the relay accepts.
fn report(raw: &RawClient) -> (String, Vec<u8>) {
    let pid = uuid::Uuid::now_v7().to_string();
    let action = ProblemAction::Reported {
        enterprise_id: ENT_A.into(),
        category: Category::Market,
        title: "市场".into(),
        description: "拓展市场".into(),
        visit_id: None,
        photos: vec![],
    };
    let header = [("enterprise_id", ENT_A), ("enterprise_name", "郑州精工机械有限公司"), ("region_id", COUNTY)];
    let (_, change) =
        Document::create(DocKind::Problem, &pid, &header, raw.actor.clone(), &raw.event(action, vec![])).unwrap();
    (pid, change.raw_bytes().to_vec())
}

fn request(push: Vec<DocChanges>, actor: &automerge::ActorId) -> SyncRequest {
    SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor: 0,
        directory_version: 0,
        actor: actor.to_bytes().to_vec(),
        push,
        max_bytes: None,
    }
}

#[test]
fn pushed_ids_that_are_not_plain_are_refused_before_anything_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let raw = RawClient::sign_in(&relay.url, "cadre");
    let storage = relay.state.storage.as_ref();
    let documents = storage.document_count().unwrap();
    let (pid, change) = report(&raw);
    let good = DocChanges { doc: pid.clone(), kind: DocKind::Problem, changes: vec![change.clone()] };
    let bad_ids = [
        format!("{pid}\n2024-05-01T08:00:00Z ERROR zhuqi_server: password reset for admin"),
        "x".repeat(1 << 20),
        "x".repeat(65),
        String::new(),
        "企业-a".into(),
        "ent a".into(),
    ];
    for bad in &bad_ids {
        // With a good document beside it: the whole request is refused, the good one not stored.
        let push =
            vec![good.clone(), DocChanges { doc: bad.clone(), kind: DocKind::Problem, changes: vec![change.clone()] }];
        refused(&raw, encode(&request(push, &raw.actor)), &format!("id of {} bytes", bad.len()));
        assert!(storage.load_doc(bad).unwrap().is_none());
        assert!(storage.load_doc(&pid).unwrap().is_none());
    }
    assert_eq!(storage.document_count().unwrap(), documents);

    // The good document alone is accepted: the refusals were about the ids.
    let r = raw.push(&pid, DocKind::Problem, vec![change]);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert_eq!(r.acked.len(), 1);
    assert_eq!(storage.document_count().unwrap(), documents + 1);
}

#[test]
fn bytes_after_the_message_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let raw = RawClient::sign_in(&relay.url, "cadre");
    let storage = relay.state.storage.as_ref();
    let documents = storage.document_count().unwrap();
    let (pid, change) = report(&raw);
    let req = request(vec![DocChanges { doc: pid.clone(), kind: DocKind::Problem, changes: vec![change] }], &raw.actor);

    let mut after_member = encode(&req);
    after_member.extend_from_slice(b"trailing");
    refused(&raw, after_member, "bytes after the gzip member");
    let mut second_member = encode(&req);
    second_member.extend(encode(&request(vec![], &raw.actor)));
    refused(&raw, second_member, "a second gzip member");
    let mut after_cbor = cbor(&req);
    after_cbor.push(0xf6);
    refused(&raw, gzip(&after_cbor), "bytes after the CBOR message");
    assert!(storage.load_doc(&pid).unwrap().is_none());
    assert_eq!(storage.document_count().unwrap(), documents);

    // The same message alone is served.
    let (status, body) = raw.post(encode(&req), &GZ);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let r: SyncResponse = decode(&body, 64 << 20).unwrap();
    assert_eq!((r.acked.len(), r.rejected.len()), (1, 0));
}
