//! Replays the committed seeds of both fuzz targets (`fuzz/corpus/<target>/`) through the harness
//! the fuzzer runs, in a plain test build: a change to the relay that makes a seed panic, or turns a
//! well-formed seed into a refusal (the fuzzer would then start from the wrong side of the checks),
//! fails `cargo test`. Coverage-guided runs are `scripts/fuzz`'s.

use std::path::{Path, PathBuf};
use zhuqi_fuzz::{guard, push, request};

/// The files of one target's corpus, by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_validate_push_seed_runs_and_the_well_formed_ones_are_accepted() {
    let files = corpus("validate_push");
    assert!(files.len() >= 40, "the seeds are missing: {} files", files.len());
    let mut accepted = 0;
    let mut wrong = Vec::new();
    for (name, data) in &files {
        let mut verdict = None;
        // Aborts the test binary, after printing the panic, if one escapes the relay.
        guard::run(data, |data| verdict = Some(push::run(data)));
        let verdict = verdict.flatten().unwrap_or_else(|| "no push".into());
        let well_formed = ["seed-", "raw-", "expanded-", "events-"].iter().any(|p| name.starts_with(p));
        if well_formed && verdict == "accepted" {
            accepted += 1;
        } else if well_formed || !verdict.starts_with("refused") {
            wrong.push(format!("{name}: {verdict}"));
        }
    }
    // The harness's panic hook stays silent; the test's own failure is printed by the default one.
    drop(std::panic::take_hook());
    assert!(wrong.is_empty(), "seeds judged otherwise than written:\n{}", wrong.join("\n"));
    // Every role and every kind of document is among them (see src/bin/seeds.rs).
    assert!(accepted >= 40, "only {accepted} seeds accepted");
}

#[test]
fn every_sync_request_seed_decodes_as_written() {
    let files = corpus("sync_request");
    assert!(files.len() >= 15, "the seeds are missing: {} files", files.len());
    let mut decoded = 0;
    let mut wrong = Vec::new();
    for (name, data) in &files {
        let mut outcome = None;
        guard::run(data, |data| outcome = Some(request::run(data)));
        let outcome = outcome.expect("the harness ran");
        let valid = ["empty", "two-documents", "every-seed"]
            .iter()
            .any(|v| name == &format!("gzip-{v}") || name == &format!("cbor-{v}"));
        match outcome {
            Ok(_) if valid => decoded += 1,
            Ok(r) => wrong.push(format!("{name} is meant to be refused, decoded with {} documents", r.push.len())),
            Err(e) if valid => wrong.push(format!("{name} is refused: {e}")),
            Err(_) => {}
        }
    }
    drop(std::panic::take_hook());
    assert!(wrong.is_empty(), "seeds judged otherwise than written:\n{}", wrong.join("\n"));
    assert_eq!(decoded, 6, "gzip and CBOR of three valid requests");
}
