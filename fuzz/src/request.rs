//! The `sync_request` harness: a fuzz input becomes a `/v1/sync` body, read by the relay's own
//! decoding (`zhuqi_server::sync::decode_request`, what `serve` does before any work).
//!
//! The first byte chooses the body: even, the rest of the input as it is (a gzip member, or not);
//! odd, the rest wrapped in a well-formed gzip member (stored, or compressed), so that the fuzzer
//! works on the CBOR inside without having to forge gzip's CRC. Whatever the body, decoding must
//! answer a request or an error, without panicking and within libFuzzer's memory limits. A request
//! it answers must hold to the bounds it checks, its changes must read (or be refused) as the relay
//! reads them, and encoding it again must give a body that decodes to the same request.

use crate::guard;
use flate2::Compression;
use std::borrow::Cow;
use std::io::Write;
use zhuqi_core::domain::is_plain_id;
use zhuqi_core::sync::protocol::{MAX_PUSH_CHANGES, PROTOCOL_VERSION, SyncRequest, encode};
use zhuqi_server::sync::{decode_request, validate};

/// Runs one input; returns the decoded request, or the error's code and message.
pub fn run(data: &[u8]) -> Result<SyncRequest, String> {
    let (mode, rest) = data.split_first().map_or((0, data), |(m, rest)| (*m, rest));
    let body = match mode % 4 {
        0 | 2 => Cow::Borrowed(rest),
        1 => Cow::Owned(gzip(rest, Compression::none())),
        _ => Cow::Owned(gzip(rest, Compression::fast())),
    };
    let request =
        guard::relay(|| decode_request(&body)).map_err(|e| format!("{} {}: {}", e.status, e.code, e.message))?;
    assert_eq!(request.protocol, PROTOCOL_VERSION, "a request of another protocol decoded");
    let changes: usize = request.push.iter().map(|d| d.changes.len().max(1)).sum();
    assert!(changes <= MAX_PUSH_CHANGES, "{changes} changes decoded");
    assert!(request.push.iter().all(|d| is_plain_id(&d.doc)), "a document id that is not plain decoded");
    for d in &request.push {
        for c in &d.changes {
            let _ = guard::relay(|| validate::parse_change(c));
        }
    }
    let again = guard::relay(|| decode_request(&encode(&request)));
    match again {
        Ok(again) => assert_eq!(again, request, "a request encoded again decodes otherwise"),
        Err(e) => panic!("a request encoded again does not decode: {}", e.message),
    }
    Ok(request)
}

pub fn gzip(bytes: &[u8], level: Compression) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), level);
    gz.write_all(bytes).expect("writing to a Vec cannot fail");
    gz.finish().expect("writing to a Vec cannot fail")
}
