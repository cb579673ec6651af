//! `zhuqi-loadgen`: a province's worth of simulated devices against a real relay.
//!
//! By default it starts a relay in its own process on 127.0.0.1 (embedded SQLite in a temporary
//! directory, or PostgreSQL with `--postgres URL`, in a scratch schema dropped at the end) and
//! generates a province (county offices with thousands of documents each, cadres with 5–20
//! enterprises). With `--url` (repeatable) it drives relays running as their own processes instead,
//! the devices spread over them; their database holds a province `--prepare` generated, and the
//! devices' tokens come from the file it wrote (`--devices-file`).
//!
//! The storm phases (the default), over HTTP:
//! 1. a sign-in storm: `--sign-in` cadres sign in with their passwords (argon2id on the relay);
//! 2. the first sync of every device (the others hold tokens issued the day before);
//! 3. the morning reconnect storm: every device, after a night offline with 1–3 visits recorded,
//!    syncs once; arrivals spread evenly over `--storm-seconds` (open loop: a slow answer does not
//!    slow the arrivals, so latencies include queueing);
//! 4. a steady trickle of syncs at `--trickle-rate` per second for `--trickle-seconds`.
//!
//! With `--capacity`, the relay's capacity instead: after the first sync, closed loops of devices
//! syncing back to back, `--concurrency-min` at once and doubling each step of `--step-seconds` up
//! to `--concurrency-max`, first with up-to-date syncs (nothing to push or pull), then with each sync
//! pushing 1–3 visits; a scenario's steps end once p99 reaches `--p99-limit-ms`. Each step reports
//! throughput, p50/p99 and errors; each scenario the highest throughput with p99 under the limit.
//!
//! Each phase or step reports throughput, latency p50/p95/p99/max, errors and bytes; `--json FILE`
//! writes them too. An in-process relay and the load generator share this machine's cores (and the
//! relay's allocator).
//!
//! Relays of their own (SQLite):
//!
//! ```sh
//! zhuqi-loadgen --prepare /tmp/province                      # generates it, writes the tokens
//! zhuqi-server serve --data-dir /tmp/province --listen 127.0.0.1:8080 \
//!     --max-connections-per-address 100000 &
//! zhuqi-loadgen --url http://127.0.0.1:8080 --devices-file /tmp/province/loadgen-devices.json --capacity
//! ```
//!
//! PostgreSQL: `--prepare DIR --postgres URL` writes the province into that database (its own
//! schema: use an empty database) and the tokens into `DIR`; start each relay with
//! `--database-url URL` and pass every relay's `--url`.

zhuqi_server::relay_allocator!();

use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use zhuqi_core::domain::Role;
use zhuqi_tests::Relay;
use zhuqi_tests::load::{self, Report, Scenario, SimDevice};
use zhuqi_tests::province::{self, Shape};

#[derive(Parser)]
#[command(name = "zhuqi-loadgen", about = "Simulated devices against a zhuqi relay")]
struct Args {
    /// Simulated devices (one per user: county offices first, then cadres).
    #[arg(long, default_value_t = 10_000)]
    devices: usize,
    /// Counties; each has one office (manager) that sees all its enterprises and problems.
    #[arg(long, default_value_t = 10)]
    counties: usize,
    /// Enterprises in the province.
    #[arg(long, default_value_t = 30_000)]
    enterprises: usize,
    /// Problems reported in the province.
    #[arg(long, default_value_t = 10_000)]
    problems: usize,
    /// Cadres that sign in with their password in the sign-in storm.
    #[arg(long, default_value_t = 1_000)]
    sign_in: usize,
    /// Seconds over which the sign-in storm's arrivals are spread.
    #[arg(long, default_value_t = 10.0)]
    sign_in_seconds: f64,
    /// Seconds over which the reconnect storm's arrivals are spread.
    #[arg(long, default_value_t = 20.0)]
    storm_seconds: f64,
    /// Syncs per second of the trickle.
    #[arg(long, default_value_t = 200.0)]
    trickle_rate: f64,
    #[arg(long, default_value_t = 15.0)]
    trickle_seconds: f64,
    /// Use PostgreSQL (a scratch schema in this database) instead of embedded SQLite; with
    /// `--prepare`, the database the province is written into.
    #[arg(long)]
    postgres: Option<String>,
    /// Cap of the relay's document cache, MiB.
    #[arg(long, default_value_t = 64)]
    doc_cache_mib: usize,
    /// Also write the figures to this file, as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Generates the province into this data directory (the SQLite database a relay is then started
    /// on; with `--postgres`, into that database), signs a device in for every user, writes their
    /// tokens to `DATA_DIR/loadgen-devices.json`, and exits.
    #[arg(long, value_name = "DATA_DIR", conflicts_with = "urls")]
    prepare: Option<PathBuf>,
    /// A relay running as its own process (repeatable: the devices are spread over them), on a
    /// database `--prepare` filled; no relay is started here.
    #[arg(long = "url", value_name = "URL", requires = "devices_file")]
    urls: Vec<String>,
    /// The tokens `--prepare` wrote, for `--url`.
    #[arg(long, value_name = "FILE")]
    devices_file: Option<PathBuf>,
    /// Measures capacity (closed loops of growing concurrency) instead of the storm phases.
    #[arg(long)]
    capacity: bool,
    /// Devices syncing at once in the first step of the capacity search.
    #[arg(long, default_value_t = 8)]
    concurrency_min: usize,
    /// The concurrency doubles each step up to this.
    #[arg(long, default_value_t = 1024)]
    concurrency_max: usize,
    /// Seconds of each step.
    #[arg(long, default_value_t = 5.0)]
    step_seconds: f64,
    /// A step whose p99 reaches this ends its scenario's search.
    #[arg(long, default_value_t = 1000.0)]
    p99_limit_ms: f64,
}

const PASSWORD: &str = "loadgen password";
/// The file of tokens `--prepare` writes into the data directory.
const DEVICES_FILE: &str = "loadgen-devices.json";

/// A device signed in ahead of the run.
#[derive(serde::Serialize, serde::Deserialize)]
struct Minted {
    user: String,
    role: Role,
    device_id: String,
    token: String,
}

/// A province in a relay's database and its devices' tokens (what `--prepare` writes down).
#[derive(serde::Serialize, serde::Deserialize)]
struct Prepared {
    county_offices: usize,
    cadres: usize,
    documents: usize,
    /// Managers first, then cadres (in the generator's order).
    devices: Vec<Minted>,
}

/// A phase's figures.
fn summary(name: &str, r: &Report) -> serde_json::Value {
    serde_json::json!({
        "phase": name,
        "requests": r.syncs + r.errors,
        "errors": r.errors,
        "seconds": (r.seconds * 100.0).round() / 100.0,
        "per_second": (r.per_second() * 10.0).round() / 10.0,
        "p50_ms": r.percentile_ms(0.50),
        "p95_ms": r.percentile_ms(0.95),
        "p99_ms": r.percentile_ms(0.99),
        "max_ms": r.percentile_ms(1.0),
        "bytes_up": r.bytes_sent,
        "bytes_down": r.bytes_received,
    })
}

fn print(v: &serde_json::Value) {
    println!(
        "{:<16} {:>7} req {:>4} err {:>8.1}/s  p50 {:>8.1} ms  p95 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms  up {:>11} B  down {:>13} B",
        v["phase"].as_str().unwrap_or(""),
        v["requests"],
        v["errors"],
        v["per_second"].as_f64().unwrap_or(0.0),
        v["p50_ms"].as_f64().unwrap_or(0.0),
        v["p95_ms"].as_f64().unwrap_or(0.0),
        v["p99_ms"].as_f64().unwrap_or(0.0),
        v["max_ms"].as_f64().unwrap_or(0.0),
        v["bytes_up"],
        v["bytes_down"],
    );
}

/// Runs `n` operations whose starts are spread evenly over `spread` (all at once when zero); each
/// returns bytes sent and received. Latency is measured from each operation's scheduled start.
async fn open_loop<F, Fut>(n: usize, spread: Duration, op: F) -> Report
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(usize, usize), String>> + Send + 'static,
{
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let at = start + spread.mul_f64(i as f64 / n.max(1) as f64);
        let fut = op(i);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let r = fut.await;
            (r, at.elapsed())
        }));
    }
    let mut report = Report::default();
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok((Ok((sent, received)), took)) => {
                report.syncs += 1;
                report.bytes_sent += sent as u64;
                report.bytes_received += received as u64;
                report.latencies_us.push(took.as_micros() as u64);
            }
            Ok((Err(e), _)) => {
                report.errors += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                report.errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("  first error: {e}");
    }
    report.seconds = start.elapsed().as_secs_f64();
    report.latencies_us.sort_unstable();
    report
}

/// The relay's own account of where its syncs' time went (in process only): seconds per stage, and
/// the group commits (batches, pushes stored, seconds writing).
#[derive(Clone, Default)]
struct Stages {
    seconds: Vec<(&'static str, f64)>,
    batches: u64,
    batched: u64,
    writing: f64,
}

impl Stages {
    fn of(state: Option<&zhuqi_server::AppState>) -> Stages {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(st) = state else { return Stages::default() };
        let m = &st.metrics;
        Stages {
            seconds: m.stage_seconds(),
            batches: m.commit_batches.load(Relaxed),
            batched: m.commits_batched.load(Relaxed),
            writing: m.commit_write_us.load(Relaxed) as f64 / 1e6,
        }
    }

    /// What happened since `before`, per sync of `r`, as JSON, printed.
    fn since(&self, before: &Stages, r: &Report) -> serde_json::Value {
        if self.seconds.is_empty() {
            return serde_json::Value::Null;
        }
        let n = (r.syncs + r.errors).max(1) as f64;
        let per_sync: serde_json::Map<String, serde_json::Value> = self
            .seconds
            .iter()
            .zip(&before.seconds)
            .map(|((name, s), (_, b))| (name.to_string(), (((s - b) / n * 1e6).round() / 1e3).into()))
            .collect();
        let batches = self.batches - before.batches;
        let batched = self.batched - before.batched;
        let writing = self.writing - before.writing;
        let shown: Vec<String> = per_sync
            .iter()
            .filter(|(_, v)| v.as_f64().is_some_and(|v| v >= 0.005))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("      ms per sync: {}", shown.join(", "));
        if batches > 0 {
            println!(
                "      {batches} group commits of {:.1} pushes, {:.2} ms each ({:.0} % of the time)",
                batched as f64 / batches as f64,
                writing / batches as f64 * 1e3,
                writing / r.seconds.max(1e-9) * 100.0
            );
        }
        serde_json::json!({
            "ms_per_sync": per_sync,
            "group_commits": batches,
            "pushes_per_commit": if batches > 0 { batched as f64 / batches as f64 } else { 0.0 },
            "ms_per_commit": if batches > 0 { writing / batches as f64 * 1e3 } else { 0.0 },
        })
    }
}

/// The capacity search of one scenario: closed loops of `pool`'s devices, the concurrency doubling
/// from `args.concurrency_min` each step until p99 reaches the limit, a step has errors, or the
/// concurrency passes `args.concurrency_max`. Returns the steps and the best of them (the highest
/// throughput with p99 under the limit and no error).
async fn capacity(
    args: &Args,
    name: &str,
    pool: Vec<Arc<Mutex<SimDevice>>>,
    scenario: fn(usize) -> Scenario,
    relay: Option<&zhuqi_server::AppState>,
) -> serde_json::Value {
    println!("capacity, {name} ({} devices):", pool.len());
    let pool = Arc::new(pool);
    let mut steps = Vec::new();
    let mut concurrency = args.concurrency_min.max(1);
    loop {
        let step = Duration::from_secs_f64(args.step_seconds);
        let before = Stages::of(relay);
        let r = load::closed_loop(pool.clone(), concurrency, step, scenario).await;
        let mut v = summary(&format!("  {concurrency} at once"), &r);
        v["concurrency"] = concurrency.into();
        print(&v);
        v["stages"] = Stages::of(relay).since(&before, &r);
        let over = r.percentile_ms(0.99) >= args.p99_limit_ms || r.errors > 0;
        steps.push(v);
        concurrency *= 2;
        if over || concurrency > args.concurrency_max.min(pool.len()) {
            break;
        }
    }
    let best = steps
        .iter()
        .filter(|s| s["errors"] == 0 && s["p99_ms"].as_f64().is_some_and(|p| p < args.p99_limit_ms))
        .max_by(|a, b| a["per_second"].as_f64().unwrap_or(0.0).total_cmp(&b["per_second"].as_f64().unwrap_or(0.0)))
        .cloned();
    match &best {
        Some(b) => println!(
            "  best with p99 under {} ms: {:.0} syncs/s at {} at once (p50 {:.1} ms, p99 {:.1} ms)",
            args.p99_limit_ms,
            b["per_second"].as_f64().unwrap_or(0.0),
            b["concurrency"],
            b["p50_ms"].as_f64().unwrap_or(0.0),
            b["p99_ms"].as_f64().unwrap_or(0.0)
        ),
        None => println!("  no step had p99 under {} ms without errors", args.p99_limit_ms),
    }
    serde_json::json!({ "scenario": name, "steps": steps, "best": best })
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn shape(args: &Args) -> Shape {
    Shape {
        counties: args.counties,
        cadres: args.devices.saturating_sub(args.counties),
        enterprises: args.enterprises,
        problems: args.problems,
        assigned: (5, 20),
    }
}

/// Generates the province through `state` and signs a device in (without a password check) for
/// every user (those of the sign-in storm sign in again with their passwords).
fn generate(state: &zhuqi_server::AppState, args: &Args) -> Prepared {
    let t = Instant::now();
    let hash = zhuqi_server::auth::hash_password(PASSWORD);
    let p = province::generate(state, &shape(args), &hash);
    println!(
        "{} devices ({} county offices, {} cadres), {} documents generated in {:.1} s",
        args.devices,
        p.managers.len(),
        p.cadres.len(),
        p.documents,
        t.elapsed().as_secs_f64()
    );
    let devices = p
        .managers
        .iter()
        .map(|m| (m.clone(), Role::Manager))
        .chain(p.cadres.iter().map(|c| (c.clone(), Role::Cadre)))
        .map(|(user, role)| {
            let (device_id, token) = province::mint_device(state, &user);
            Minted { user, role, device_id, token }
        })
        .collect();
    Prepared { county_offices: p.managers.len(), cadres: p.cadres.len(), documents: p.documents, devices }
}

/// `--prepare`: the province into a data directory (or a PostgreSQL database), the tokens beside it.
fn prepare(args: &Args, dir: &std::path::Path) {
    let storage: Arc<dyn zhuqi_server::storage::RelayStorage> = match &args.postgres {
        Some(url) => {
            Arc::new(zhuqi_server::storage::postgres::PostgresStorage::open(url, 8).expect("open PostgreSQL"))
        }
        None => Arc::new(zhuqi_server::storage::sqlite::SqliteStorage::open(dir).expect("open the data directory")),
    };
    if storage.document_count().expect("count documents") > 0 {
        eprintln!("the database already holds documents: prepare an empty one");
        std::process::exit(2);
    }
    std::fs::create_dir_all(dir).expect("create the data directory");
    let state = zhuqi_server::AppState::new(storage, zhuqi_server::Config::default());
    let prepared = generate(&state, args);
    let path = dir.join(DEVICES_FILE);
    std::fs::write(&path, serde_json::to_vec(&prepared).unwrap()).expect("write the devices file");
    let data = match &args.postgres {
        Some(url) => format!("--database-url {url}"),
        None => format!("--data-dir {}", dir.display()),
    };
    println!("tokens of {} devices in {}; now, for example:", prepared.devices.len(), path.display());
    println!("  zhuqi-server serve {data} --listen 127.0.0.1:8080 --max-connections-per-address 100000");
    println!("  zhuqi-loadgen --url http://127.0.0.1:8080 --devices-file {} --capacity", path.display());
}

fn main() {
    let args = Args::parse();
    // The relay's warnings and errors (refused commits, storage trouble) go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Some(dir) = &args.prepare {
        prepare(&args, dir);
        return;
    }
    // In the capacity search every device holds a token: nobody signs in.
    let sign_in = if args.capacity { 0 } else { args.sign_in };
    let tmp = tempfile::tempdir().expect("temporary directory");
    let mut pg_guard = None;
    let mut relay = None;
    let (backend, urls, prepared) = if args.urls.is_empty() {
        let storage: Arc<dyn zhuqi_server::storage::RelayStorage> = match &args.postgres {
            Some(url) => {
                // SAFETY: set before any other thread starts.
                unsafe { std::env::set_var("ZHUQI_TEST_POSTGRES_URL", url) };
                let db = zhuqi_tests::pg::TestDatabase::create();
                let s = Arc::new(
                    zhuqi_server::storage::postgres::PostgresStorage::open(&db.url, 32).expect("open PostgreSQL"),
                );
                pg_guard = Some(db);
                s
            }
            None => {
                Arc::new(zhuqi_server::storage::sqlite::SqliteStorage::open(&tmp.path().join("relay")).expect("open"))
            }
        };
        let r = Relay::start_on(
            storage,
            zhuqi_server::Config { doc_cache_bytes: args.doc_cache_mib << 20, ..Default::default() },
            // Every simulated phone connects from 127.0.0.1: the per-address cap would count them as one.
            zhuqi_server::http::net::NetConfig { max_connections_per_address: usize::MAX, ..Default::default() },
        );
        let backend = if args.postgres.is_some() { "postgresql" } else { "sqlite" };
        print!("zhuqi-loadgen on {backend}: ");
        let prepared = generate(&r.state, &args);
        let url = r.url.clone();
        relay = Some(r);
        (backend, vec![url], prepared)
    } else {
        let path = args.devices_file.as_ref().expect("--url requires --devices-file");
        let prepared: Prepared = serde_json::from_slice(&std::fs::read(path).expect("read the devices file"))
            .expect("a devices file written by --prepare");
        println!(
            "zhuqi-loadgen against {} relay(s): {} devices ({} county offices, {} cadres), {} documents",
            args.urls.len(),
            prepared.devices.len(),
            prepared.county_offices,
            prepared.cadres,
            prepared.documents
        );
        let backend = if args.postgres.is_some() { "postgresql" } else { "sqlite" };
        (backend, args.urls.iter().map(|u| u.trim_end_matches('/').to_owned()).collect(), prepared)
    };
    // The cadres who sign in with their passwords (their tokens go unused).
    let cadres: Vec<&Minted> = prepared.devices.iter().filter(|d| d.role == Role::Cadre).collect();
    let signing: Vec<String> = cadres.iter().take(sign_in).map(|d| d.user.clone()).collect();
    let minted: Vec<&Minted> = prepared
        .devices
        .iter()
        .filter(|d| d.role != Role::Cadre)
        .chain(cadres.iter().skip(sign_in).copied())
        .take(args.devices.saturating_sub(signing.len()))
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("devices")
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder().pool_max_idle_per_host(512).build().unwrap();
    let url_of = |i: usize| urls[i % urls.len()].clone();
    let mut phases = Vec::new();
    let mut searches = Vec::new();
    rt.block_on(async {
        let mut devices: Vec<Arc<Mutex<SimDevice>>> = Vec::new();
        // 1. Sign-in storm.
        if !signing.is_empty() {
            let signed: Arc<Mutex<Vec<Option<SimDevice>>>> =
                Arc::new(Mutex::new((0..signing.len()).map(|_| None).collect()));
            let r = open_loop(signing.len(), Duration::from_secs_f64(args.sign_in_seconds), |i| {
                let (http, url, login, signed) = (http.clone(), url_of(i), signing[i].clone(), signed.clone());
                async move {
                    let (d, sent, received) = SimDevice::sign_in(http, &url, &login, PASSWORD).await?;
                    signed.lock().await[i] = Some(d);
                    Ok((sent, received))
                }
            })
            .await;
            phases.push(summary("sign-in storm", &r));
            print(phases.last().unwrap());
            for d in Arc::try_unwrap(signed).ok().expect("all tasks ended").into_inner().into_iter().flatten() {
                devices.push(Arc::new(Mutex::new(d)));
            }
        }
        for (i, m) in minted.iter().enumerate() {
            let d = SimDevice::with_token(http.clone(), &url_of(i), m.token.clone(), m.user.clone(), m.role, m.device_id.clone());
            devices.push(Arc::new(Mutex::new(d)));
        }

        // 2. First sync of every device (at most 256 at a time). In the capacity search a cadre keeps
        // three of its enterprises to record visits to (turn by turn), otherwise one.
        let keep = if args.capacity { 3 } else { 1 };
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        let r = open_loop(devices.len(), Duration::ZERO, |i| {
            let (d, gate) = (devices[i].clone(), gate.clone());
            async move {
                let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
                let (s, r, _) = d.lock().await.pull_all(keep).await?;
                Ok((s, r))
            }
        })
        .await;
        phases.push(summary("first sync", &r));
        print(phases.last().unwrap());

        if args.capacity {
            // Up-to-date syncs of every device; then syncs pushing 1–3 visits, of the cadres.
            let st = relay.as_ref().map(|r| r.state.as_ref());
            searches.push(capacity(&args, "up-to-date", devices.clone(), |_| Scenario::UpToDate, st).await);
            let mut writers = Vec::new();
            for d in &devices {
                if d.lock().await.writes() {
                    writers.push(d.clone());
                }
            }
            searches.push(capacity(&args, "push 1-3 visits", writers, |i| Scenario::Visits(1 + i % 3), st).await);
            return;
        }

        // 3. Morning reconnect storm: each device syncs once, cadres pushing 1–3 visits.
        let before = Stages::of(relay.as_ref().map(|r| r.state.as_ref()));
        let r = open_loop(devices.len(), Duration::from_secs_f64(args.storm_seconds), |i| {
            let d = devices[i].clone();
            async move {
                let mut d = d.lock().await;
                let scenario = if d.writes() { Scenario::Visits(1 + i % 3) } else { Scenario::UpToDate };
                d.step(scenario).await
            }
        })
        .await;
        phases.push(summary("reconnect storm", &r));
        print(phases.last().unwrap());
        let stages = Stages::of(relay.as_ref().map(|r| r.state.as_ref())).since(&before, &r);
        if let Some(p) = phases.last_mut() {
            p["stages"] = stages;
        }

        // 4. Trickle: random devices, one in two pushing a visit.
        let n = (args.trickle_rate * args.trickle_seconds) as usize;
        let r = open_loop(n, Duration::from_secs_f64(args.trickle_seconds), |i| {
            let d = devices[(i * 7_919) % devices.len()].clone();
            async move {
                let mut d = d.lock().await;
                let scenario = if d.writes() && i % 2 == 0 { Scenario::Visits(1) } else { Scenario::UpToDate };
                d.step(scenario).await
            }
        })
        .await;
        phases.push(summary("trickle", &r));
        print(phases.last().unwrap());
    });
    let rss = rss_mib();
    if relay.is_some() {
        println!(
            "resident memory of relay + load generator: {rss:.0} MiB (document cache cap {} MiB)",
            args.doc_cache_mib
        );
    }
    if let Some(path) = &args.json {
        let out = serde_json::json!({
            "backend": backend,
            "relays": if relay.is_some() { "in process".to_owned() } else { urls.join(" ") },
            "devices": args.devices.min(signing.len() + minted.len()),
            "county_offices": prepared.county_offices,
            "cadres": prepared.cadres,
            "documents": prepared.documents,
            "rss_mib": rss.round(),
            "phases": phases,
            "capacity": searches,
        });
        std::fs::write(path, serde_json::to_string_pretty(&out).unwrap()).expect("write the JSON report");
    }
    drop(relay);
    drop(pg_guard);
}
