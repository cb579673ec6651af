//! Writes the seed corpus of both fuzz targets (`fuzz/corpus/<target>/`) and prints what the harness
//! makes of each seed: `cargo run -p zhuqi-fuzz --release --bin seeds`.
//!
//! `validate_push`: every valid push of the world as it is, framed as raw bytes, and re-encoded
//! through Automerge's expanded form (all accepted); a few mutated ones; and inputs of the events mode
//! that build well-formed pushes of every role (accepted), so the fuzzer starts from the far side
//! of every check. `sync_request`: valid requests (empty, pushing documents, every seed push),
//! refused ones (another protocol, an id that is not plain, too many changes, bytes after the
//! message or the gzip member, not gzip), each as a gzip body and as bare CBOR.

use std::io::Read;
use std::path::Path;
use zhuqi_core::sync::protocol::{DocChanges, SyncRequest, encode};
use zhuqi_fuzz::world::{Base, CADRE, CONTACT, HANDLER, MANAGER, RELAY, WORLD};
use zhuqi_fuzz::{push, request};

fn main() {
    // `seeds --show FILE`: the push an input of `validate_push` describes, and its verdict.
    if let [_, flag, file] = &std::env::args().collect::<Vec<_>>()[..]
        && flag == "--show"
    {
        let data = std::fs::read(file).unwrap();
        let Some(case) = push::case(&data) else { return println!("no push") };
        let w = &*WORLD;
        println!(
            "device {} ({}), held {:?}, {} {}",
            case.device,
            w.devices[case.device].device_id,
            case.base,
            case.push.kind.as_str(),
            case.push.doc
        );
        for c in &case.push.changes {
            match automerge::Change::from_bytes(c.clone()) {
                Ok(c) => println!("{:#?}", c.decode()),
                Err(e) => println!("{} bytes that do not parse: {e}", c.len()),
            }
        }
        return println!("{}", push::check(w, &case));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let w = &*WORLD;
    let slug = |s: &str| s.replace(' ', "-").replace('\'', "");
    for (i, seed) in w.seeds.iter().enumerate() {
        let i = i as u8;
        inputs.push((format!("seed-{i:02}-{}", slug(seed.name)), vec![1, i, 0, 0]));
        let kind = match seed.kind {
            zhuqi_core::domain::DocKind::Enterprise => 1,
            zhuqi_core::domain::DocKind::Problem => 2,
            zhuqi_core::domain::DocKind::Policy => 3,
            zhuqi_core::domain::DocKind::TaskNotice => 4,
        };
        let base = Base::ALL.iter().position(|b| *b == seed.base).unwrap() as u8;
        let mut raw = vec![0, seed.device as u8, base, kind, 3, seed.doc.len() as u8];
        raw.extend(seed.doc.as_bytes());
        raw.push(seed.changes.len() as u8 - 1);
        for (j, c) in seed.changes.iter().enumerate() {
            if j + 1 < seed.changes.len() {
                raw.extend((c.len() as u16).to_le_bytes());
            }
            raw.extend(c);
        }
        inputs.push((format!("raw-{i:02}-{}", slug(seed.name)), raw));
    }
    // Re-encoded through the expanded form, actor kept.
    for i in [0u8, 1, 4, 5] {
        inputs.push((format!("expanded-{i:02}"), vec![2, i, 0, 0, 0, 0, 0]));
    }
    // One bit flipped in the data, framed again; one byte of the header's length changed.
    inputs.push(("mutated-flip".into(), vec![1, 1, 0, 1, 0, 0, 40, 0, 3]));
    inputs.push(("mutated-unframed".into(), vec![1, 1, 2, 1, 0, 1, 9, 0, 0x10]));
    // The events mode: zero is every well-formed choice (see `zhuqi_fuzz::push`).
    let zeros = |n: usize| vec![0u8; n];
    let ev = |device: usize, base: u8, head: &[u8], action: u8| {
        let mut v = vec![3, device as u8, base];
        v.extend(head);
        v.extend(zeros(7));
        v.push(action);
        v
    };
    inputs.push(("events-cadre-progress".into(), vec![3, CADRE as u8, 1]));
    inputs.push(("events-office-urges".into(), ev(MANAGER, 1, &zeros(6), 5)));
    inputs.push(("events-handler-resolves".into(), ev(HANDLER, 1, &zeros(6), 6)));
    inputs.push(("events-relay-urges".into(), ev(RELAY, 1, &zeros(6), 5)));
    inputs.push(("events-office-older-view".into(), vec![3, MANAGER as u8, 1, 0, 0, 0, 0, 3]));
    inputs.push(("events-cadre-two-changes".into(), vec![3, CADRE as u8, 1, 0, 0, 8]));
    let mut two = ev(MANAGER, 1, &[0, 0, 0, 0, 0, 1], 5);
    // The first event ends with its note's length and its origin (none); the second starts.
    two.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    inputs.push(("events-office-two-events".into(), two));
    // An urging that claims to come from a previous platform's history: only the import may.
    let mut origin = ev(MANAGER, 1, &zeros(6), 5);
    origin.extend([0, 1, 2, b'H', b'N']);
    inputs.push(("refused-office-claims-an-origin".into(), origin));
    inputs.push(("events-cadre-reports".into(), ev(CADRE, 0, &[2, 0, 0, 0, 0], 1)));
    inputs.push(("events-contact-reports".into(), ev(CONTACT, 0, &[2, 0, 0, 0, 0], 1)));
    inputs.push(("events-office-issues-notice".into(), vec![3, MANAGER as u8, 0, 3]));
    inputs.push(("events-cadre-records-visit".into(), vec![3, CADRE as u8, 2]));
    write(&root.join("validate_push"), &inputs, |d| push::run(d).unwrap_or_else(|| "no push".into()));

    let request = |push: Vec<DocChanges>| SyncRequest {
        protocol: 1,
        cursor: 0,
        directory_version: 0,
        actor: vec![],
        push,
        max_bytes: None,
    };
    let all: Vec<DocChanges> = w.seeds.iter().map(|s| s.push()).collect();
    let requests = [
        ("empty", request(vec![])),
        (
            "two-documents",
            SyncRequest {
                cursor: 42,
                directory_version: 7,
                actor: w.devices[CADRE].actor.to_bytes().to_vec(),
                max_bytes: Some(65_536),
                ..request(all[..2].to_vec())
            },
        ),
        ("every-seed", request(all.clone())),
        ("other-protocol", SyncRequest { protocol: 2, ..request(vec![]) }),
        ("id-not-plain", request(vec![DocChanges { doc: "not plain!".into(), ..all[1].clone() }])),
        ("too-many-changes", request(vec![DocChanges { changes: vec![vec![]; 2_001], ..all[1].clone() }])),
    ];
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, r) in &requests {
        let body = encode(r);
        inputs.push((format!("gzip-{name}"), [&[0u8][..], &body].concat()));
        inputs.push((format!("cbor-{name}"), [&[1u8][..], &cbor(&body)].concat()));
    }
    let empty = encode(&requests[0].1);
    inputs.push(("gzip-after-member".into(), [&[0u8][..], &empty, b"x"].concat()));
    inputs.push(("cbor-after-message".into(), [&[1u8][..], &cbor(&empty), &cbor(&empty)].concat()));
    inputs.push(("not-gzip".into(), b"\0not gzip".to_vec()));
    inputs
        .push(("gzip-zeros".into(), [&[0u8][..], &request::gzip(&[0; 65_536], flate2::Compression::best())].concat()));
    write(&root.join("sync_request"), &inputs, |d| match request::run(d) {
        Ok(r) => format!("request: {} documents pushed", r.push.len()),
        Err(e) => e,
    });
}

fn cbor(gzip: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gzip).read_to_end(&mut out).expect("a gzip body");
    out
}

fn write(dir: &Path, inputs: &[(String, Vec<u8>)], run: impl Fn(&[u8]) -> String) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let total: usize = inputs.iter().map(|(_, d)| d.len()).sum();
    println!("{} ({} files, {total} bytes)", dir.display(), inputs.len());
    for (name, data) in inputs {
        std::fs::write(dir.join(name), data).unwrap();
        println!("  {name:40} {:6} B  {}", data.len(), run(data));
    }
}
