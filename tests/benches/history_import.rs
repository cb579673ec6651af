//! History import benchmark: a year of a province's problem ledger (88,435 problems, as Henan's
//! platform recorded in 2022) imported into an empty relay, on SQLite and — where one listens on
//! 127.0.0.1:5432 — PostgreSQL; target under 5 minutes. The dashboard's figures for the year must
//! equal the counts computed from the file (checked, not only timed). Run:
//! `cargo bench -p zhuqi-tests --bench history_import` (`-- ROWS` to import another number).

use std::sync::Arc;
use std::time::Instant;
use zhuqi_server::admin::history;
use zhuqi_server::dashboard::kpi::Period;
use zhuqi_server::storage::RelayStorage;
use zhuqi_server::storage::sqlite::SqliteStorage;
use zhuqi_tests::ledger::{YEAR_END, YEAR_START, csv, generate};
use zhuqi_tests::*;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn run(name: &str, storage: Arc<dyn RelayStorage>, rows: &[zhuqi_tests::ledger::Row], file: &[u8]) {
    let tmp = tempfile::tempdir().unwrap();
    seed_directory(storage.as_ref());
    let relay = Relay::start_with(storage);
    seed_enterprises(&relay.url, tmp.path());
    let started = Instant::now();
    let done = history::problems(&relay.state, file).expect("the ledger imports");
    let took = started.elapsed().as_secs_f64();
    assert_eq!(done.written, rows.len());
    println!(
        "{name:10} {} problems, {} events in {took:.1} s: {:.0} problems/s, {:.0} events/s; peak RSS {:.0} MiB",
        done.written,
        done.events,
        done.written as f64 / took,
        done.events as f64 / took,
        peak_rss_mib()
    );
    // The year's figures on the dashboard equal those of the file.
    let year = Period { from: YEAR_START, to: YEAR_END };
    let account = relay.state.storage.account_by_login("city").unwrap().unwrap();
    let session = zhuqi_server::storage::Session {
        device_id: "web".into(),
        user: account.user,
        revoked: false,
        expires_at: i64::MAX,
    };
    let started = Instant::now();
    let f = zhuqi_server::dashboard::overview(&relay.state, &session, year, None, YEAR_END).unwrap().total;
    let figures_took = started.elapsed().as_secs_f64();
    let reported = rows.iter().filter(|r| year.contains(r.reported_at)).count();
    let resolved = rows.iter().filter(|r| r.resolved_at.is_some_and(|t| year.contains(t))).count();
    let rated = rows.iter().filter(|r| r.confirmed.is_some_and(|(c, _)| year.contains(c))).count();
    assert_eq!((f.reported as usize, f.resolved as usize, f.own_confirmations as usize), (reported, resolved, rated));
    println!(
        "{name:10} the year's figures equal the file's: {reported} reported, {resolved} resolved, {rated} rated \
         (computed in {figures_took:.1} s)"
    );
    let again = Instant::now();
    let second = history::problems(&relay.state, file).unwrap();
    assert_eq!(second.written, 0);
    println!("{name:10} the same file again: nothing written, {:.1} s", again.elapsed().as_secs_f64());
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(88_435);
    let rows = generate(n, 2022);
    let file = csv(&rows);
    println!("ledger: {n} rows, {:.1} MB", file.len() as f64 / 1e6);
    let tmp = tempfile::tempdir().unwrap();
    run("sqlite", Arc::new(SqliteStorage::open(tmp.path()).unwrap()), &rows, &file);
    if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() {
        let db = pg::TestDatabase::create();
        run("postgres", db.open(), &rows, &file);
    } else {
        println!("postgres   not run: nothing listens on 127.0.0.1:5432");
    }
}
