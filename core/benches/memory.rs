//! Peak memory of a manager's phone with the 7,000-document store open and in use: prints the peak
//! resident set size (VmHWM) after opening, querying and reading a few hundred documents.

mod support;

use support::*;
use zhuqi_core::domain::Role;
use zhuqi_core::store::{ProblemFilter, Store};

fn status(field: &str) -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    if std::env::args().any(|a| a == "--build-fixture") {
        fixture();
        return;
    }
    // Build the fixture in another process, so that building does not count in this one's peak.
    let built = std::process::Command::new(std::env::current_exe().unwrap()).arg("--build-fixture").status().unwrap();
    assert!(built.success());
    let path = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("m.db");
    std::fs::copy(&path, &copy).unwrap();
    println!("before open:        VmRSS {}  VmHWM {}", status("VmRSS:"), status("VmHWM:"));
    let started = std::time::Instant::now();
    let store = Store::open(&copy, identity("mgr", Role::Manager)).unwrap();
    println!("open took {:.2} ms", started.elapsed().as_secs_f64() * 1e3);
    let counts = store.home_counts().unwrap();
    let all = store.problems(&ProblemFilter::default()).unwrap();
    let overdue = store.problems(&ProblemFilter { overdue: true, ..Default::default() }).unwrap();
    let enterprises = store.my_enterprises().unwrap();
    println!(
        "held: {} enterprises, {} problems ({} overdue); home {:?}",
        enterprises.len(),
        all.len(),
        overdue.len(),
        counts
    );
    // Read more documents than the cache holds, so that it fills and evicts.
    for p in all.iter().take(600) {
        store.problem(&p.id).unwrap();
    }
    for e in enterprises.iter().take(300) {
        store.enterprise(&e.id).unwrap();
    }
    println!("after use:          VmRSS {}  VmHWM {}", status("VmRSS:"), status("VmHWM:"));
    println!("peak resident memory with the store open: {}", status("VmHWM:"));
}
