//! The relay's resident memory with a province of stored documents (1,000,000 by default): the
//! documents are generated into a SQLite data directory, then the real relay binary serves it as a
//! process of its own while simulated devices sync their scopes and push visits to enterprises all
//! over the province (so that validation loads documents into the cache, which must evict). Its
//! resident memory is read from /proc after start, during and after the load.
//!
//! Run: `cargo bench -p zhuqi-tests --bench relay_memory [-- --documents N --cache-mib M --json FILE]`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use zhuqi_core::domain::Role;
use zhuqi_server::storage::sqlite::SqliteStorage;
use zhuqi_tests::load::{Scenario, SimDevice};
use zhuqi_tests::province::{self, Shape};

/// Devices of the load (cadres from every county, and county offices).
const DEVICES: usize = 2_000;

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

/// (resident now, peak resident), MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let documents: usize = arg("--documents").map_or(1_000_000, |v| v.parse().expect("--documents N"));
    let cache_mib: usize = arg("--cache-mib").map_or(64, |v| v.parse().expect("--cache-mib M"));
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");

    // 1. Generate: 80 % enterprises, 20 % problems; one cadre per 10 enterprises (each with 5–20, so
    // that every enterprise has a cadre to report its problems).
    let enterprises = documents * 4 / 5;
    let shape = Shape {
        counties: 100,
        cadres: (enterprises / 10).max(DEVICES),
        enterprises,
        problems: documents - enterprises,
        assigned: (5, 20),
    };
    let t = Instant::now();
    let (p, tokens) = {
        let state =
            zhuqi_server::AppState::new(Arc::new(SqliteStorage::open(&data).unwrap()), zhuqi_server::Config::default());
        let p = province::generate(&state, &shape, &zhuqi_server::auth::hash_password(zhuqi_tests::PASSWORD));
        // The devices of the load: cadres spread over the counties, then every county office.
        let step = p.cadres.len() / (DEVICES - p.managers.len());
        let users: Vec<(String, Role)> = p
            .cadres
            .iter()
            .step_by(step.max(1))
            .take(DEVICES - p.managers.len())
            .map(|c| (c.clone(), Role::Cadre))
            .chain(p.managers.iter().map(|m| (m.clone(), Role::Manager)))
            .collect();
        let tokens: Vec<(String, Role, String, String)> = users
            .into_iter()
            .map(|(u, role)| {
                let (device, token) = province::mint_device(&state, &u);
                (u, role, device, token)
            })
            .collect();
        (p, tokens)
    };
    let size = std::fs::metadata(data.join("relay.db")).map_or(0, |m| m.len());
    println!(
        "{} documents ({} enterprises, {} problems, {} cadres) generated in {:.0} s; database {:.0} MiB",
        p.documents,
        p.enterprises.len(),
        p.problems.len(),
        p.cadres.len(),
        t.elapsed().as_secs_f64(),
        size as f64 / (1 << 20) as f64
    );

    // 2. Serve it with the real relay binary.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let relay = Relay(
        Command::new(env!("CARGO_BIN_EXE_relay-under-test"))
            .args(["serve", "--data-dir"])
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--doc-cache-mib", &cache_mib.to_string()])
            // Every simulated phone connects from 127.0.0.1.
            .args(["--max-connections-per-address", "16384"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the relay"),
    );
    let pid = relay.0.id();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::blocking::get(format!("{url}/healthz")).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "relay did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (idle, _) = memory(pid);
    println!("relay started: {idle:.0} MiB resident");

    // 3. Load: every device pulls its scope, then pushes visits (cadres) or syncs (offices), 5 rounds.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let http = reqwest::Client::new();
    let mut samples = Vec::new();
    let (errors, syncs) = rt.block_on(async {
        let devices: Vec<Arc<Mutex<SimDevice>>> = tokens
            .into_iter()
            .map(|(u, role, device, token)| {
                Arc::new(Mutex::new(SimDevice::with_token(http.clone(), &url, token, u, role, device)))
            })
            .collect();
        let gate = Arc::new(tokio::sync::Semaphore::new(64));
        let (mut errors, mut syncs) = (0u64, 0u64);
        for round in 0..6 {
            let tasks: Vec<_> = devices
                .iter()
                .map(|d| {
                    let (d, gate) = (d.clone(), gate.clone());
                    tokio::spawn(async move {
                        let _permit = gate.acquire_owned().await.unwrap();
                        let mut d = d.lock().await;
                        if round == 0 {
                            d.pull_all(2).await.map(drop)
                        } else {
                            let scenario = if d.writes() { Scenario::Visits(1) } else { Scenario::UpToDate };
                            d.step(scenario).await.map(drop)
                        }
                    })
                })
                .collect();
            for t in tasks {
                match t.await {
                    Ok(Ok(())) => syncs += 1,
                    Ok(Err(e)) => {
                        if errors == 0 {
                            eprintln!("first error: {e}");
                        }
                        errors += 1
                    }
                    Err(_) => errors += 1,
                }
            }
            let (now, peak) = memory(pid);
            println!("round {round}: {now:.0} MiB resident, peak {peak:.0} MiB");
            samples.push((now, peak));
        }
        (errors, syncs)
    });
    let (end, peak) = memory(pid);
    println!(
        "{} documents stored; cache cap {cache_mib} MiB; relay resident: idle {idle:.0} MiB, after load {end:.0} MiB, \
         peak {peak:.0} MiB; {syncs} syncs, {errors} errors",
        p.documents
    );
    if let Some(path) = arg("--json") {
        let v = serde_json::json!({
            "documents": p.documents,
            "database_mib": (size >> 20),
            "cache_cap_mib": cache_mib,
            "rss_idle_mib": idle.round(),
            "rss_after_mib": end.round(),
            "rss_peak_mib": peak.round(),
            "syncs": syncs,
            "errors": errors,
        });
        std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
    drop(relay);
}
