//! Replays the committed seeds of both fuzz targets (`fuzz/corpus/<target>/`) through the harness
//! the fuzzer runs, in a plain test build: a change to the relay that makes a seed panic, or turns a
//! well-formed seed into a refusal (the fuzzer would then start from the wrong side of the checks),
//! fails `cargo test`. Then a short fuzz run: the seeds mutated at random, a few thousand inputs.
//! Coverage-guided runs are `scripts/fuzz`'s.

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

/// A small deterministic generator (xorshift64*): the same mutations on every run, so a failure
/// reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `data` changed in 1 to 4 places: a bit flipped, a byte replaced, inserted or removed, a run of
/// bytes of another seed spliced in, or the end cut off.
fn mutate(rng: &mut Rng, data: &[u8], others: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 if at < out.len() => out[at] = rng.next() as u8,
            2 => out.insert(at, rng.next() as u8),
            3 if at < out.len() => {
                out.remove(at);
            }
            4 => {
                let other = &others[rng.below(others.len())].1;
                let from = rng.below(other.len());
                let len = rng.below(other.len() - from + 1).min(64);
                out.splice(at..at, other[from..from + len].iter().copied());
            }
            _ => out.truncate(at),
        }
    }
    out
}

/// A short fuzz run in the test command: every committed seed of both targets mutated 40 times at
/// random (from a fixed seed) and run through the harness the fuzzer runs. Not coverage-guided — that
/// needs an instrumented build, `scripts/fuzz` — but every input reaches the relay's request decoding
/// or its validation, and none may panic; the run must reach both sides of the checks.
#[test]
fn mutated_seeds_run_without_a_panic_and_reach_both_verdicts() {
    const RUNS: usize = 40;
    let seeds = corpus("validate_push");
    let mut rng = Rng(0x5eed_2026_1207);
    let (mut accepted, mut refused) = (0, 0);
    for (_, data) in &seeds {
        for _ in 0..RUNS {
            let input = mutate(&mut rng, data, &seeds);
            let mut verdict = None;
            guard::run(&input, |d| verdict = push::run(d));
            match verdict.as_deref() {
                Some("accepted") => accepted += 1,
                Some(v) if v.starts_with("refused") => refused += 1,
                _ => {}
            }
        }
    }
    let requests = corpus("sync_request");
    let (mut decoded, mut rejected) = (0, 0);
    for (_, data) in &requests {
        for _ in 0..RUNS {
            let input = mutate(&mut rng, data, &requests);
            let mut outcome = None;
            guard::run(&input, |d| outcome = Some(request::run(d).is_ok()));
            if outcome == Some(true) { decoded += 1 } else { rejected += 1 }
        }
    }
    drop(std::panic::take_hook());
    assert!(accepted > 0 && refused > seeds.len(), "pushes: {accepted} accepted, {refused} refused");
    assert!(decoded > 0 && rejected > 0, "requests: {decoded} decoded, {rejected} refused");
}
