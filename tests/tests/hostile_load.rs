//! The relay binary under attack while 50 honest phones sync: 2,000 idle connections, 200 slow
//! request heads, 200 slow bodies, a 256 MiB form body, 1,000 wrong passwords over the 50 honest
//! logins and log-forging pushes, each from its own loopback addresses. The honest syncs must all
//! succeed quickly, `/healthz` must keep answering, and memory, disk and log must stay bounded; the
//! real users must still sign in afterwards. Prints the figures.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zhuqi_core::sync::protocol::*;
use zhuqi_tests::attack::{RelayProcess, loopback, rss_of};
use zhuqi_tests::load::{Scenario, SimDevice};
use zhuqi_tests::province::{Shape, generate};

const HONEST: usize = 50;
const ATTACK: Duration = Duration::from_secs(20);
const MIB: f64 = (1 << 20) as f64;

async fn connect(from: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// Holds a connection from `from` open, sending `head` and then one byte of `drip` per `every`;
/// opens another whenever the relay closes it, until `stop`. Counts the relay's closings.
async fn hold(
    from: IpAddr,
    to: SocketAddr,
    head: &'static [u8],
    drip: u8,
    every: Duration,
    stop: Arc<AtomicBool>,
    closed: Arc<AtomicU64>,
) {
    while !stop.load(Relaxed) {
        let Ok(mut s) = connect(from, to).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if s.write_all(head).await.is_err() {
            closed.fetch_add(1, Relaxed);
            continue;
        }
        let mut buf = [0u8; 512];
        loop {
            if stop.load(Relaxed) {
                return;
            }
            tokio::select! {
                r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { closed.fetch_add(1, Relaxed); break },
                () = tokio::time::sleep(every) => {
                    if drip != 0 && s.write_all(&[drip]).await.is_err() {
                        closed.fetch_add(1, Relaxed);
                        break;
                    }
                }
            }
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn the_relay_serves_honest_phones_through_an_attack() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    // The province: 50 cadres (logins = ids), each assigned one of 50 enterprises; one manager.
    let province = {
        let storage = Arc::new(zhuqi_server::storage::sqlite::SqliteStorage::open(&data).unwrap());
        let state = zhuqi_server::AppState::new(storage, zhuqi_server::Config::default());
        let shape = Shape { counties: 1, cadres: HONEST, enterprises: HONEST, problems: 0, assigned: (1, 1) };
        generate(&state, &shape, &zhuqi_server::auth::hash_password(zhuqi_tests::PASSWORD))
    };
    assert_eq!(province.cadres.len(), HONEST);
    let log = tmp.path().join("relay.log");
    let relay = RelayProcess::start(std::path::Path::new(env!("CARGO_BIN_EXE_relay-under-test")), &data, &log, &[]);
    let (url, addr) = (relay.url.clone(), relay.addr);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let home = loopback(1);
    let http = reqwest::Client::builder().local_address(home).timeout(Duration::from_secs(30)).build().unwrap();

    // Every honest phone signs in (from its usual address) and fetches its enterprise.
    let mut devices = Vec::new();
    for login in &province.cadres {
        let (mut d, _, _) = rt.block_on(SimDevice::sign_in(http.clone(), &url, login, zhuqi_tests::PASSWORD)).unwrap();
        rt.block_on(d.pull_all(1)).unwrap();
        assert!(d.writes(), "{login} has an enterprise to visit");
        devices.push(d);
    }
    // The attacker's own account, for pushes with forged document ids.
    let manager = &province.managers[0];
    let attacker = reqwest::Client::builder().local_address(loopback(40)).build().unwrap();
    let token: SignInResponse = rt.block_on(async {
        let body = serde_json::json!({"login": manager, "password": zhuqi_tests::PASSWORD, "device_name": "x"});
        let r = attacker.post(format!("{url}/v1/auth/sign-in")).body(body.to_string()).send().await.unwrap();
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    });

    let (rss0, data0, log0) = (relay.rss(), relay.data_bytes(), relay.log_bytes());
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let report = rt.block_on(async {
        let mut attacks = Vec::new();
        // 2,000 idle connections from ten addresses.
        for i in 0..2000 {
            attacks.push(tokio::spawn(hold(loopback(10 + (i % 10) as u8), addr, b"", 0, Duration::from_secs(1), stop.clone(), closed.clone())));
        }
        // 200 heads that never end, a byte a second.
        for _ in 0..200 {
            let head = b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Slow: ";
            attacks.push(tokio::spawn(hold(loopback(20), addr, head, b'a', Duration::from_secs(1), stop.clone(), closed.clone())));
        }
        // 200 bodies that trickle, a byte every two seconds.
        for _ in 0..200 {
            let head = b"POST /v1/auth/sign-in HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{";
            attacks.push(tokio::spawn(hold(loopback(21), addr, head, b' ', Duration::from_secs(2), stop.clone(), closed.clone())));
        }
        // One 256 MiB form body, sent as fast as the relay takes it.
        let form_sent = tokio::spawn(async move {
            let mut s = connect(loopback(22), addr).await.unwrap();
            let head = b"POST /login HTTP/1.1\r\nHost: relay\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n";
            s.write_all(head).await.unwrap();
            let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, "a".repeat(64 << 10)).into_bytes();
            let mut sent = 0u64;
            while sent < 256 << 20 && s.write_all(&chunk).await.is_ok() {
                sent += 64 << 10;
            }
            sent
        });
        // 1,000 wrong passwords over the 50 honest logins, from ten addresses.
        let guesses = Arc::new(AtomicU64::new(0));
        let throttled = Arc::new(AtomicU64::new(0));
        for a in 0..10u8 {
            let (cadres, url, guesses, throttled) = (province.cadres.clone(), url.clone(), guesses.clone(), throttled.clone());
            attacks.push(tokio::spawn(async move {
                let c = reqwest::Client::builder().local_address(loopback(30 + a)).build().unwrap();
                for i in 0..100 {
                    let body = serde_json::json!({"login": cadres[(i + a as usize * 5) % HONEST], "password": format!("guess{i}"), "device_name": "x"});
                    if let Ok(r) = c.post(format!("{url}/v1/auth/sign-in")).body(body.to_string()).send().await {
                        guesses.fetch_add(1, Relaxed);
                        if r.status() == 429 {
                            throttled.fetch_add(1, Relaxed);
                        }
                    }
                }
            }));
        }
        // Pushes whose document ids would forge log lines, or flood the log: 20 with one bad id each,
        // then 5 of 2,000 well-named documents each refused (one log line per document would be
        // megabytes).
        let forged = {
            let (url, token) = (url.clone(), token.token.clone());
            tokio::spawn(async move {
                let junk = |doc: String| DocChanges { doc, kind: zhuqi_core::domain::DocKind::Enterprise, changes: vec![vec![1]] };
                let mut pushes: Vec<Vec<DocChanges>> = (0..20)
                    .map(|i| {
                        vec![junk(if i % 2 == 0 {
                            "x\n2026-01-01T00:00:00Z ERROR zhuqi_server: password reset for admin".to_owned()
                        } else {
                            "y".repeat(1 << 20)
                        })]
                    })
                    .collect();
                pushes.extend((0..5).map(|i| (0..2000).map(|k| junk(format!("{i}-{k:04}-{}", "z".repeat(56)))).collect()));
                let mut statuses = Vec::new();
                for push in pushes {
                    let req = SyncRequest {
                        protocol: PROTOCOL_VERSION,
                        cursor: 0,
                        directory_version: 0,
                        actor: vec![],
                        push,
                        max_bytes: None,
                    };
                    let r = attacker
                        .post(format!("{url}/v1/sync"))
                        .bearer_auth(&token)
                        .header("content-encoding", "gzip")
                        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                        .body(encode(&req))
                        .send()
                        .await;
                    statuses.push(r.map_or(0, |r| r.status().as_u16()));
                }
                statuses
            })
        };
        // The load balancer's health checks, each on a new connection.
        let health = {
            let (url, stop) = (url.clone(), stop.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                let mut failures = 0;
                while !stop.load(Relaxed) {
                    let c = reqwest::Client::builder().local_address(loopback(2)).timeout(Duration::from_secs(5)).build().unwrap();
                    let t = Instant::now();
                    match c.get(format!("{url}/healthz")).send().await {
                        Ok(r) if r.status() == 200 => times.push(t.elapsed().as_secs_f64() * 1000.0),
                        _ => failures += 1,
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                (times, failures)
            })
        };
        // Memory, sampled.
        let rss = {
            let (stop, pid) = (stop.clone(), relay.pid());
            tokio::spawn(async move {
                let mut max = 0u64;
                while !stop.load(Relaxed) {
                    max = max.max(rss_of(pid));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                max
            })
        };
        // Meanwhile the honest phones: a visit, then a second's pause, again and again.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut phones = Vec::new();
        for mut d in devices {
            phones.push(tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), Vec::new());
                let begun = Instant::now();
                while begun.elapsed() < ATTACK {
                    let t = Instant::now();
                    match d.step(Scenario::Visits(1)).await {
                        Ok(_) => latencies.push(t.elapsed().as_secs_f64() * 1000.0),
                        Err(e) => errors.push(e),
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                (latencies, errors)
            }));
        }
        let (mut latencies, mut errors) = (Vec::new(), Vec::new());
        for p in phones {
            let (l, e) = p.await.unwrap();
            latencies.extend(l);
            errors.extend(e);
        }
        stop.store(true, Relaxed);
        for a in attacks {
            a.abort();
        }
        let (health, health_failures) = health.await.unwrap();
        let max_rss = rss.await.unwrap();
        (latencies, errors, health, health_failures, max_rss, form_sent.await.unwrap(), forged.await.unwrap(), guesses.load(Relaxed), throttled.load(Relaxed))
    });
    let (mut latencies, errors, mut health, health_failures, max_rss, form_sent, forged, guesses, throttled) = report;
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    health.sort_by(f64::total_cmp);

    // Afterwards the real users sign in from their own address.
    let signed_in = rt.block_on(async {
        let mut ok = 0;
        for login in &province.cadres {
            let body = serde_json::json!({"login": login, "password": zhuqi_tests::PASSWORD, "device_name": "again"});
            let r = http.post(format!("{url}/v1/auth/sign-in")).body(body.to_string()).send().await.unwrap();
            ok += usize::from(r.status() == 200);
        }
        ok
    });
    let (data1, log1) = (relay.data_bytes(), relay.log_bytes());
    let log_text = std::fs::read_to_string(&relay.log).unwrap_or_default();

    println!("hostile load, {elapsed:.1} s:");
    println!(
        "  honest syncs: {} ok, {} failed; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        errors.len(),
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0)
    );
    println!(
        "  /healthz: {} probes, {health_failures} failed; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        health.len(),
        pct(&health, 0.5),
        pct(&health, 0.99),
        pct(&health, 1.0)
    );
    println!("  relay RSS: {:.1} MiB before, {:.1} MiB at most", rss0 as f64 / MIB, max_rss as f64 / MIB);
    println!(
        "  data dir: +{:.2} MiB; log: +{:.1} KiB",
        (data1 as f64 - data0 as f64) / MIB,
        (log1 - log0) as f64 / 1024.0
    );
    println!("  attackers' connections closed by the relay: {}", closed.load(Relaxed));
    println!("  256 MiB form: {:.1} MiB sent before the relay closed it", form_sent as f64 / MIB);
    println!("  wrong passwords: {guesses} sent, {throttled} throttled; forged pushes answered {forged:?}");
    println!("  real users signed in afterwards: {signed_in}/{HONEST}");

    assert!(errors.is_empty(), "honest syncs failed: {:?}", &errors[..errors.len().min(3)]);
    assert!(latencies.len() >= HONEST * 10, "{} honest syncs", latencies.len());
    // Latency bounds loose enough for a slow, shared machine: they catch starvation (honest
    // requests queued behind the attack for seconds), not speed, which the figures above report.
    assert!(pct(&latencies, 0.99) < 5_000.0, "honest p99 {:.0} ms", pct(&latencies, 0.99));
    assert_eq!(health_failures, 0);
    assert!(pct(&health, 0.5) < 1_000.0, "/healthz p50 {:.0} ms", pct(&health, 0.5));
    assert!(pct(&health, 1.0) < 5_000.0, "/healthz max {:.0} ms", pct(&health, 1.0));
    assert!(max_rss < 256 << 20, "RSS {:.0} MiB", max_rss as f64 / MIB);
    assert!(data1 < data0 + (10 << 20), "data dir grew {:.1} MiB", (data1 - data0) as f64 / MIB);
    assert!(log1 < log0 + (1 << 20), "log grew {} bytes", log1 - log0);
    assert!(!log_text.lines().any(|l| l.starts_with("2026-01-01T00:00:00Z")), "a forged log line");
    assert!(forged[..20].iter().all(|s| *s == 400 || *s == 413), "{forged:?}");
    assert_eq!(forged[20..], [200; 5], "well-formed pushes of refused documents are answered");
    assert!(form_sent < 256 << 20, "the relay read the whole 256 MiB form");
    assert_eq!(guesses, 1000);
    assert!(throttled > 0);
    assert_eq!(signed_in, HONEST, "every real user signs in");
}
