//! Crash safety: a child process records visits and reports problems in a loop and is killed with
//! SIGKILL at random moments. After each kill the store opens, passes SQLite's integrity check, and
//! holds every action the child had reported as done.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zhuqi_core::store::{ProblemFilter, Store, SystemClock};

const CHILD_ENV: &str = "ZHUQI_CRASH_CHILD_DIR";

/// The child's loop. Runs only when the parent test starts this binary with `CHILD_ENV` set.
#[test]
#[ignore = "started by crash_safety as a child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let enterprise_id = std::env::var("ZHUQI_CRASH_ENTERPRISE").unwrap();
    let directory = directory(&enterprise_id);
    let path = std::path::Path::new(&dir).join("cadre-1.db");
    let store = Store::open_with_clock(
        &path,
        identity_of(&directory, "cadre-1", "phone-cadre-1"),
        std::sync::Arc::new(SystemClock),
    )
    .unwrap();
    for i in 0.. {
        if i % 2 == 0 {
            let id = store.record_visit(&enterprise_id, visit("2026-03-01")).unwrap();
            println!("DONE visit {id}");
        } else {
            let id = store.report_problem(problem(&enterprise_id, None)).unwrap();
            println!("DONE problem {id}");
        }
    }
}

fn random_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    (nanos.wrapping_mul(6364136223846793005).rotate_left(17)) % n
}

#[test]
fn crash_safety() {
    let w = World::new();
    let path = w.tmp.path().join("cadre-1.db");
    let enterprise_id = w.enterprise_id.clone();
    drop(w.cadre);
    let mut visits = Vec::new();
    let mut problems = Vec::new();
    for round in 0..6 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, w.tmp.path())
            .env("ZHUQI_CRASH_ENTERPRISE", &enterprise_id)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut done = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("DONE ") {
                    done.push(rest.to_owned());
                }
            }
            done
        });
        // Let it work for a random while (at least until it has done something), then kill it.
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(150 + random_below(600)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let done = reader.join().unwrap();
        assert!(start.elapsed() < Duration::from_secs(60));
        for d in done {
            let (kind, id) = d.split_once(' ').unwrap();
            if kind == "visit" { visits.push(id.to_owned()) } else { problems.push(id.to_owned()) }
        }

        let conn = rusqlite::Connection::open(&path).unwrap();
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "round {round}");
        drop(conn);
        let store = Store::open(&path, identity_of(&w.dir, "cadre-1", "phone-cadre-1")).unwrap();
        let e = store.enterprise(&enterprise_id).unwrap();
        for v in &visits {
            assert!(e.visits.iter().any(|x| &x.id == v), "visit {v} reported done but missing after kill {round}");
        }
        let held: Vec<String> = store.problems(&ProblemFilter::default()).unwrap().into_iter().map(|p| p.id).collect();
        for p in &problems {
            assert!(held.contains(p), "problem {p} reported done but missing after kill {round}");
            store.problem(p).unwrap();
        }
        // Every stored action is also waiting to be pushed: none is lost for the relay either.
        let pending = store.pending_changes().unwrap().len();
        assert!(pending >= visits.len() + problems.len(), "{pending} pending");
    }
    eprintln!("{} visits and {} problems survived 6 kills", visits.len(), problems.len());
    assert!(
        visits.len() + problems.len() >= 6,
        "the child did work: {} visits, {} problems",
        visits.len(),
        problems.len()
    );
}
