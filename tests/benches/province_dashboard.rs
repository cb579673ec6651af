//! Dashboard benchmark at province scale: a whole year of the campaign (`zhuqi_tests::campaign`:
//! 18 cities, 150 counties, 135,000 enterprises, 76,000 cadres, 88,435 problems with their
//! lifecycles, a million visits, 200 task notices) on SQLite and, when PostgreSQL answers at
//! 127.0.0.1:5432, on PostgreSQL; each page fetched 20 times over loopback by the province's, a
//! city's and a county's campaign office, median and p95 of the time to the last byte; then the
//! province's problem list downloaded as CSV, streamed, with the relay's memory during it.
//!
//! Run: `cargo bench -p zhuqi-tests --bench province_dashboard`; `ZHUQI_BENCH_SCALE=0.1` for a tenth
//! of the people and records (the regions stay whole); `ZHUQI_BENCH_STORAGE=sqlite` or `postgres` for
//! one store only; `ZHUQI_BENCH_DIR=DIR` keeps the SQLite files there, and with `ZHUQI_BENCH_REUSE=1`
//! measures the campaign generated there before instead of generating one.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zhuqi_core::domain::text::date_of;
use zhuqi_server::storage::sqlite::SqliteStorage;
use zhuqi_tests::Relay;
use zhuqi_tests::campaign::{self, Campaign, CampaignShape};

const PASSWORD: &str = "bench password";
const RUNS: usize = 20;

/// One page as one manager saw it.
struct Measured {
    median: Duration,
    p95: Duration,
    status: u16,
    bytes: usize,
}

fn client() -> reqwest::blocking::Client {
    // No timeout: at province scale a page may take longer than reqwest's default 30 s.
    reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(None).build().unwrap()
}

/// Signs `login` in through the form (with its CSRF token): the session's `Cookie` header.
fn sign_in(url: &str, login: &str) -> String {
    let mut browser = zhuqi_tests::browser::Browser::new(url);
    let (status, body) = browser.sign_in(login, PASSWORD);
    assert_eq!(status, 303, "sign-in of {login}: {body}");
    browser.cookie_header()
}

fn fetch(http: &reqwest::blocking::Client, url: &str, cookie: &str) -> (u16, String, Duration) {
    let t = Instant::now();
    let r = http.get(url).header("cookie", cookie).send().unwrap();
    let status = r.status().as_u16();
    let body = r.text().unwrap();
    (status, body, t.elapsed())
}

fn measure(http: &reqwest::blocking::Client, url: &str, cookie: &str) -> Measured {
    let mut times = Vec::with_capacity(RUNS);
    let (mut status, mut bytes) = (0, 0);
    for _ in 0..RUNS {
        let (s, body, took) = fetch(http, url, cookie);
        (status, bytes) = (s, body.len());
        times.push(took);
    }
    times.sort();
    Measured { median: times[RUNS / 2], p95: times[(RUNS * 95).div_ceil(100) - 1], status, bytes }
}

/// The target of the page's `rel="next"` link, if it has one.
fn next_link(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\"")?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let href = tag.split("href=\"").nth(1)?.split('"').next()?;
    Some(href.replace("&amp;", "&"))
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn cell(m: &Option<Measured>) -> String {
    match m {
        None => "no link".into(),
        Some(m) if m.status == 200 => format!("{} / {}", ms(m.median), ms(m.p95)),
        Some(m) => format!("{} / {} ({})", ms(m.median), ms(m.p95), m.status),
    }
}

/// A figure of `/proc/self/status` in kB (`VmRSS`, `VmHWM`).
fn proc_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Downloads the province's problem list as CSV, a chunk at a time, counting bytes and rows, while a
/// thread samples the process's resident memory every 10 ms.
fn export(relay: &Relay, c: &Campaign) {
    let cookie = sign_in(&relay.url, &c.province_office);
    // Forget the peak so far (generating the data set), so that VmHWM tells the download's.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = proc_kb("VmRSS:");
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(proc_kb("VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let t = Instant::now();
    let mut r = client().get(format!("{}/export/problems.csv", relay.url)).header("cookie", &cookie).send().unwrap();
    let first = t.elapsed();
    let status = r.status().as_u16();
    let (mut bytes, mut lines, mut quoted) = (0usize, 0usize, false);
    let mut buf = vec![0u8; 64 * 1024];
    let mut first_byte = None;
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        first_byte.get_or_insert_with(|| t.elapsed());
        bytes += n;
        for &b in &buf[..n] {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => lines += 1,
                _ => {}
            }
        }
    }
    let took = t.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    let hwm = proc_kb("VmHWM:");
    println!();
    println!("| CSV export of every problem (province office) | |");
    println!("| --- | --- |");
    println!("| status | {status} |");
    println!("| rows (without the header) | {} |", lines.saturating_sub(1));
    println!("| bytes | {bytes} ({}) |", mb(bytes as u64 / 1024));
    println!("| headers after | {} ms |", ms(first));
    println!("| first byte after | {} ms |", first_byte.map_or("-".into(), ms));
    println!("| last byte after | {} ms |", ms(took));
    println!("| resident memory before | {} |", mb(before));
    println!("| peak resident memory, sampled every 10 ms | {} (+{}) |", mb(peak), mb(peak.saturating_sub(before)));
    if reset {
        println!(
            "| peak resident memory (VmHWM since the download began) | {} (+{}) |",
            mb(hwm),
            mb(hwm.saturating_sub(before))
        );
    }
}

/// The ids the pages need, read back from a campaign generated before into `dir` (with
/// `ZHUQI_BENCH_REUSE=1`): the offices of 410000, 410100 and 410102, the cadre with the most
/// enterprises there, its enterprise with the most visits, and that enterprise's longest problem.
fn reused(dir: &Path) -> Campaign {
    let db = rusqlite::Connection::open(dir.join("relay.db")).unwrap();
    let one = |sql: &str| -> String { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let busy_cadre = one(
        "SELECT a.cadre_id FROM assignments a JOIN enterprises e ON e.id = a.enterprise_id
         WHERE e.region_id LIKE '410102%' GROUP BY a.cadre_id ORDER BY COUNT(*) DESC LIMIT 1",
    );
    let big_enterprise = one(&format!(
        "SELECT v.enterprise_id FROM visits v JOIN assignments a ON a.enterprise_id = v.enterprise_id
         WHERE a.cadre_id = '{busy_cadre}' GROUP BY v.enterprise_id ORDER BY COUNT(*) DESC LIMIT 1"
    ));
    let problem = one(&format!(
        "SELECT problem_id FROM problem_events e JOIN problems p ON p.id = e.problem_id
         WHERE p.enterprise_id = '{big_enterprise}' GROUP BY problem_id ORDER BY COUNT(*) DESC LIMIT 1"
    ));
    Campaign {
        now: zhuqi_server::now_ms(),
        province_office: campaign::office_id("410000"),
        city: "410100".into(),
        city_office: campaign::office_id("410100"),
        county: "410102".into(),
        county_office: campaign::office_id("410102"),
        busy_cadre,
        big_enterprise,
        problem,
        ..Campaign::default()
    }
}

fn run(backend: &str, relay: &Relay, shape: &CampaignShape, hash: &str, data_dir: Option<&Path>) {
    let t = Instant::now();
    let reuse = std::env::var("ZHUQI_BENCH_REUSE").is_ok_and(|v| v == "1");
    let c = match data_dir.filter(|_| reuse) {
        Some(dir) => reused(dir),
        None => campaign::generate(&relay.state, shape, hash),
    };
    let generated = t.elapsed();
    let n = &c.counts;
    println!();
    println!("### {backend}");
    println!();
    println!(
        "Generated in {:.0} s: {} regions, {} departments, {} accounts, {} enterprises ({} assignments), {} visits \
         ({} entered late), {} problems ({} events; {} overdue), {} task notices; {} documents, {} changes.",
        generated.as_secs_f64(),
        n.regions,
        n.departments,
        n.accounts,
        n.enterprises,
        n.assignments,
        n.visits,
        n.late_visits,
        n.problems,
        n.problem_events,
        n.overdue,
        n.notices,
        n.documents,
        n.changes
    );
    println!("Problems by status: {:?}; accepted by: {:?}.", n.by_status, n.by_confirmation);
    if let Some(dir) = data_dir {
        println!("SQLite files: {}.", mb(dir_size(dir) / 1024));
    }
    // What a relay's ticker does when it starts: publish the closed months and last year.
    let t = Instant::now();
    let published = zhuqi_server::dashboard::overview::publish_closed(&relay.state, zhuqi_server::now_ms()).unwrap();
    println!("Published {published} closed months and years in {:.1} s.", t.elapsed().as_secs_f64());
    let year = &date_of(c.now)[..4];
    let pages: Vec<(String, Option<String>)> = vec![
        ("overview, current month `/`".into(), Some("/".into())),
        (format!("overview, year `/?year={year}`"), Some(format!("/?year={year}"))),
        ("ranking, last month `/ranking`".into(), Some("/ranking".into())),
        (format!("ranking, year `/ranking?year={year}`"), Some(format!("/ranking?year={year}"))),
        ("problem list, first page `/problems`".into(), Some("/problems".into())),
        ("problem list, overdue `/problems?overdue=1`".into(), Some("/problems?overdue=1".into())),
        ("problem list, second page (`rel=\"next\"`)".into(), None),
        ("problem page `/problems/{id}`".into(), Some(format!("/problems/{}", c.problem))),
        ("enterprise page `/enterprises/{id}`".into(), Some(format!("/enterprises/{}", c.big_enterprise))),
        ("cadre page `/cadres/{id}`".into(), Some(format!("/cadres/{}", c.busy_cadre))),
        ("task notices `/notices`".into(), Some("/notices".into())),
    ];
    let http = client();
    let managers = [("province", &c.province_office), ("city", &c.city_office), ("county", &c.county_office)];
    let mut table: Vec<Vec<Option<Measured>>> = pages.iter().map(|_| Vec::new()).collect();
    for (who, login) in managers {
        let cookie = sign_in(&relay.url, login);
        for (i, (name, path)) in pages.iter().enumerate() {
            let path = match path {
                Some(p) => Some(p.clone()),
                None => {
                    let (_, html, _) = fetch(&http, &format!("{}/problems", relay.url), &cookie);
                    next_link(&html).map(|href| if href.starts_with('/') { href } else { format!("/problems{href}") })
                }
            };
            let m = path.map(|p| measure(&http, &format!("{}{p}", relay.url), &cookie));
            eprintln!("{backend} {who}: {name}: {}", cell(&m));
            table[i].push(m);
        }
    }
    println!();
    println!(
        "Median / p95 in ms over {RUNS} fetches (status when not 200); scale: {} enterprises, {} problems, {} visits.",
        shape.enterprises, shape.problems, shape.visits
    );
    println!();
    println!("| page | province {} | city {} | county {} | size (province) |", c.province_office, c.city, c.county);
    println!("| --- | --- | --- | --- | --- |");
    for ((name, _), row) in pages.iter().zip(&table) {
        let size = row[0].as_ref().map_or("-".into(), |m| format!("{:.0} KB", m.bytes as f64 / 1024.0));
        println!("| {name} | {} | {} | {} | {size} |", cell(&row[0]), cell(&row[1]), cell(&row[2]));
    }
    export(relay, &c);
}

/// Whether something listens at PostgreSQL's port on this machine.
fn postgres_reachable() -> bool {
    let addr = "127.0.0.1:5432".parse().unwrap();
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

fn main() {
    let shape = CampaignShape::from_env();
    println!("## Province dashboard");
    println!();
    println!(
        "Shape: {} cities, {} counties, {} townships each, {} enterprises, {} cadres, {} problems, {} visits, {} task \
         notices.",
        shape.cities,
        shape.counties,
        shape.townships_per_county,
        shape.enterprises,
        shape.cadres,
        shape.problems,
        shape.visits,
        shape.notices
    );
    let hash = zhuqi_server::auth::hash_password(PASSWORD);
    let only = std::env::var("ZHUQI_BENCH_STORAGE").unwrap_or_default();
    if only != "postgres" {
        // `ZHUQI_BENCH_DIR`: generate into this directory and keep it (to query it afterwards).
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::env::var_os("ZHUQI_BENCH_DIR").map_or_else(|| tmp.path().join("relay"), std::path::PathBuf::from);
        let relay = Relay::start_with(Arc::new(SqliteStorage::open(&dir).expect("open SQLite storage")));
        run("SQLite", &relay, &shape, &hash, Some(&dir));
    }
    if only == "sqlite" {
        return;
    }
    if !postgres_reachable() {
        println!();
        println!("PostgreSQL does not answer at 127.0.0.1:5432: not measured.");
        return;
    }
    let db = match std::panic::catch_unwind(zhuqi_tests::pg::TestDatabase::create) {
        Ok(db) => db,
        Err(_) => {
            println!("PostgreSQL answers but its test database cannot be used: not measured.");
            return;
        }
    };
    let relay = Relay::start_with(db.open());
    run("PostgreSQL", &relay, &shape, &hash, None);
}
