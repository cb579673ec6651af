//! `zhuqi-loadgen`: a province's worth of simulated devices against a real relay on 127.0.0.1.
//!
//! It starts a relay (embedded SQLite in a temporary directory, or PostgreSQL with `--postgres URL`,
//! in a scratch schema dropped at the end), generates a province (county offices with thousands of
//! documents each, cadres with 5–20 enterprises), then runs, over HTTP:
//! 1. a sign-in storm: `--sign-in` cadres sign in with their passwords (argon2id on the relay);
//! 2. the first sync of every device (the others hold tokens issued the day before);
//! 3. the morning reconnect storm: every device, after a night offline with 1–3 visits recorded,
//!    syncs once; arrivals spread evenly over `--storm-seconds` (open loop: a slow answer does not
//!    slow the arrivals, so latencies include queueing);
//! 4. a steady trickle of syncs at `--trickle-rate` per second for `--trickle-seconds`.
//!
//! Each phase reports throughput, latency p50/p95/p99/max, errors and bytes; `--json FILE` writes
//! them too. Relay and load generator share this machine's cores (and the relay's allocator).

zhuqi_server::relay_allocator!();

use clap::Parser;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use zhuqi_core::domain::Role;
use zhuqi_tests::Relay;
use zhuqi_tests::load::{Report, Scenario, SimDevice};
use zhuqi_tests::province::{self, Shape};

#[derive(Parser)]
#[command(name = "zhuqi-loadgen", about = "Simulated devices against a zhuqi relay on 127.0.0.1")]
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
    /// Use PostgreSQL (a scratch schema in this database) instead of embedded SQLite.
    #[arg(long)]
    postgres: Option<String>,
    /// Cap of the relay's document cache, MiB.
    #[arg(long, default_value_t = 64)]
    doc_cache_mib: usize,
    /// Also write the figures to this file, as JSON.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

const PASSWORD: &str = "loadgen password";

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

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args = Args::parse();
    // The relay's warnings and errors (refused commits, storage trouble) go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let tmp = tempfile::tempdir().expect("temporary directory");
    let mut pg_guard = None;
    let storage: Arc<dyn zhuqi_server::storage::RelayStorage> = match &args.postgres {
        Some(url) => {
            // SAFETY: set before any other thread starts.
            unsafe { std::env::set_var("ZHUQI_TEST_POSTGRES_URL", url) };
            let db = zhuqi_tests::pg::TestDatabase::create();
            let s =
                Arc::new(zhuqi_server::storage::postgres::PostgresStorage::open(&db.url, 32).expect("open PostgreSQL"));
            pg_guard = Some(db);
            s
        }
        None => Arc::new(zhuqi_server::storage::sqlite::SqliteStorage::open(&tmp.path().join("relay")).expect("open")),
    };
    let backend = if args.postgres.is_some() { "postgresql" } else { "sqlite" };
    let relay = Relay::start_on(
        storage,
        zhuqi_server::Config { doc_cache_bytes: args.doc_cache_mib << 20, ..Default::default() },
        // Every simulated phone connects from 127.0.0.1: the per-address cap would count them as one.
        zhuqi_server::http::net::NetConfig { max_connections_per_address: usize::MAX, ..Default::default() },
    );
    let cadres = args.devices.saturating_sub(args.counties);
    let shape = Shape {
        counties: args.counties,
        cadres,
        enterprises: args.enterprises,
        problems: args.problems,
        assigned: (5, 20),
    };
    let t = Instant::now();
    let hash = zhuqi_server::auth::hash_password(PASSWORD);
    let p = province::generate(&relay.state, &shape, &hash);
    println!(
        "zhuqi-loadgen on {backend}: {} devices ({} county offices, {} cadres), {} documents generated in {:.1} s",
        args.devices,
        p.managers.len(),
        p.cadres.len(),
        p.documents,
        t.elapsed().as_secs_f64()
    );

    // The devices that do not take part in the sign-in storm signed in the day before.
    let minted: Vec<(String, Role, String, String)> = p
        .managers
        .iter()
        .map(|m| (m.clone(), Role::Manager))
        .chain(p.cadres.iter().skip(args.sign_in).map(|c| (c.clone(), Role::Cadre)))
        .map(|(user, role)| {
            let (device_id, token) = province::mint_device(&relay.state, &user);
            (user, role, device_id, token)
        })
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("devices")
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder().pool_max_idle_per_host(512).build().unwrap();
    let url = relay.url.clone();
    let mut phases = Vec::new();
    rt.block_on(async {
        // 1. Sign-in storm.
        let signing: Vec<String> = p.cadres.iter().take(args.sign_in).cloned().collect();
        let signed: Arc<Mutex<Vec<Option<SimDevice>>>> =
            Arc::new(Mutex::new((0..signing.len()).map(|_| None).collect()));
        let r = open_loop(signing.len(), Duration::from_secs_f64(args.sign_in_seconds), |i| {
            let (http, url, login, signed) = (http.clone(), url.clone(), signing[i].clone(), signed.clone());
            async move {
                let (d, sent, received) = SimDevice::sign_in(http, &url, &login, PASSWORD).await?;
                signed.lock().await[i] = Some(d);
                Ok((sent, received))
            }
        })
        .await;
        phases.push(summary("sign-in storm", &r));
        print(phases.last().unwrap());

        let mut devices: Vec<Arc<Mutex<SimDevice>>> = Vec::new();
        for d in Arc::try_unwrap(signed).ok().expect("all tasks ended").into_inner().into_iter().flatten() {
            devices.push(Arc::new(Mutex::new(d)));
        }
        for (user, role, device_id, token) in minted {
            devices.push(Arc::new(Mutex::new(SimDevice::with_token(http.clone(), &url, token, user, role, device_id))));
        }

        // 2. First sync of every device (at most 256 at a time).
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        let r = open_loop(devices.len(), Duration::ZERO, |i| {
            let (d, gate) = (devices[i].clone(), gate.clone());
            async move {
                let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
                let (s, r, _) = d.lock().await.pull_all(1).await?;
                Ok((s, r))
            }
        })
        .await;
        phases.push(summary("first sync", &r));
        print(phases.last().unwrap());

        // 3. Morning reconnect storm: each device syncs once, cadres pushing 1–3 visits.
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
    println!("resident memory of relay + load generator: {rss:.0} MiB (document cache cap {} MiB)", args.doc_cache_mib);
    if let Some(path) = &args.json {
        let out = serde_json::json!({
            "backend": backend,
            "devices": args.devices,
            "county_offices": p.managers.len(),
            "cadres": p.cadres.len(),
            "documents": p.documents,
            "rss_mib": rss.round(),
            "phases": phases,
        });
        std::fs::write(path, serde_json::to_string_pretty(&out).unwrap()).expect("write the JSON report");
    }
    drop(relay);
    drop(pg_guard);
}
