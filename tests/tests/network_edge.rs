//! The relay's network edge against a stranger with sockets: slow and idle connections are closed,
//! connections are capped in all and per address, bodies are bounded while read and dropped when
//! they stall, every answer carries the security headers, and a dashboard session is neither a
//! device token nor obtainable without the sign-in form's CSRF token.

use std::io::Write;
use std::time::{Duration, Instant};
use zhuqi_server::Config;
use zhuqi_server::http::net::NetConfig;
use zhuqi_tests::attack::{client_from, closed_within, connect_from, loopback, raw_request};
use zhuqi_tests::browser::{Browser, csrf_in};
use zhuqi_tests::*;

fn relay_with(net: NetConfig) -> (tempfile::TempDir, Relay) {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start_configured(&tmp.path().join("relay"), Config::default(), net);
    seed_directory(relay.state.storage.as_ref());
    (tmp, relay)
}

fn healthz_from(relay: &Relay, n: u8) -> u16 {
    client_from(loopback(n)).get(format!("{}/healthz", relay.url)).send().map_or(0, |r| r.status().as_u16())
}

#[test]
fn slow_and_idle_connections_are_closed() {
    let (_tmp, relay) = relay_with(NetConfig { header_read_timeout: Duration::from_secs(1), ..NetConfig::default() });
    // Half a request head, never finished.
    let mut slow = connect_from(loopback(10), relay.addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    // Nothing at all.
    let mut silent = connect_from(loopback(10), relay.addr).unwrap();
    // A finished request, then an idle keep-alive connection.
    let mut idle = connect_from(loopback(10), relay.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let started = Instant::now();
    for (name, s) in [("slow head", &mut slow), ("silent", &mut silent), ("idle keep-alive", &mut idle)] {
        assert!(closed_within(s, Duration::from_secs(5)), "{name} still open");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // A head trickled a byte at a time is no better than a slow one: the timeout covers all of it.
    let mut trickle = connect_from(loopback(10), relay.addr).unwrap();
    let started = Instant::now();
    let mut closed = false;
    for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Trickle: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n" {
        if trickle.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(closed || closed_within(&mut trickle, Duration::from_secs(1)), "a trickled head is cut off");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(healthz_from(&relay, 11), 200);
    // An oversized head is refused.
    let head = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(100 << 10));
    let (status, _text) = raw_request(loopback(12), relay.addr, head.as_bytes());
    assert!(status == 431 || status == 0, "{status} {_text}");
}

#[test]
fn connections_are_capped_in_all_and_per_address() {
    let (_tmp, relay) = relay_with(NetConfig {
        max_connections: 12,
        max_connections_per_address: 4,
        header_read_timeout: Duration::from_secs(3),
        ..NetConfig::default()
    });
    // One address holds its four; its fifth is closed at once, another address is served.
    let mut held: Vec<_> = (0..4).map(|_| connect_from(loopback(20), relay.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = connect_from(loopback(20), relay.addr).unwrap();
    assert!(closed_within(&mut fifth, Duration::from_millis(500)), "over the per-address cap");
    assert_eq!(healthz_from(&relay, 21), 200);
    // Three more addresses fill the relay's twelve: a fourth address is turned away too.
    for n in 22..24 {
        held.extend((0..4).map(|_| connect_from(loopback(n), relay.addr).unwrap()));
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut over = connect_from(loopback(25), relay.addr).unwrap();
    assert!(closed_within(&mut over, Duration::from_millis(500)), "over the global cap");
    let refused = relay.state.metrics.connections_refused.load(std::sync::atomic::Ordering::Relaxed);
    assert!(refused >= 2, "{refused}");
    // Idle holders time out, and the relay serves again.
    drop(held);
    let started = Instant::now();
    while healthz_from(&relay, 25) != 200 {
        assert!(started.elapsed() < Duration::from_secs(10), "the relay did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bodies_are_bounded_while_read_and_dropped_when_they_stall() {
    let (_tmp, relay) = relay_with(NetConfig::default());
    // A chunked form body without a declared length: refused once past the forms' 16 KiB, long
    // before a stranger's megabytes are read.
    let mut s = connect_from(loopback(30), relay.addr).unwrap();
    s.write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 8192, "a".repeat(8192));
    let mut sent = 0usize;
    while sent < 256 << 20 {
        if s.write_all(chunk.as_bytes()).is_err() {
            break;
        }
        sent += 8192;
    }
    assert!(sent < 256 << 20, "the relay read 256 MiB of a form");
    // Declared too large: refused before reading.
    let (status, text) = raw_request(
        loopback(31),
        relay.addr,
        b"POST /v1/auth/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{",
    );
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("\"too_large\""));
    // A body that stops arriving: the request is dropped after the idle timeout, with a 408.
    let started = Instant::now();
    let (status, text) = raw_request(
        loopback(32),
        relay.addr,
        b"POST /v1/auth/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"login\"",
    );
    assert_eq!(status, 408, "{text}");
    assert!(started.elapsed() < zhuqi_server::app::router::BODY_IDLE_TIMEOUT + Duration::from_secs(5));
    assert_eq!(healthz_from(&relay, 33), 200);
}

#[test]
fn every_answer_carries_the_security_headers_and_pages_run_no_inline_code() {
    let (_tmp, relay) = relay_with(NetConfig::default());
    let http = client_from(loopback(40));
    for path in ["/login", "/healthz", "/nope", "/static/app.js", "/v1/events"] {
        let r = http.get(format!("{}{path}", relay.url)).send().unwrap();
        let h = r.headers();
        assert_eq!(h["content-security-policy"], zhuqi_server::CSP, "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.contains_key("cache-control"), "{path}");
    }
    let csp = zhuqi_server::CSP;
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'")
    );
    let login = http.get(format!("{}/login", relay.url)).send().unwrap();
    assert_eq!(login.headers()["cache-control"], "no-store");
    let html = login.text().unwrap();
    assert!(html.contains(r#"<script src="/static/app.js" defer></script>"#));
    assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains(" style="), "{html}");
    let js = http.get(format!("{}/static/app.js", relay.url)).send().unwrap();
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(js.text().unwrap().contains("sortable"));
}

#[test]
fn dashboard_sessions_need_the_forms_token_and_are_not_device_tokens() {
    let (_tmp, relay) = relay_with(NetConfig::default());
    // Login CSRF: a form posted from elsewhere carries no token, or a token of another browser.
    let mut b = Browser::new(&relay.url);
    let (status, html) = b.post("/login", "login=manager&password=correct+horse+battery");
    assert_eq!(status, 403);
    assert!(html.contains("登录页面已过期"));
    let mut other = Browser::new(&relay.url);
    let (_, other_form, _) = other.get("/login");
    b.get("/login");
    let forged = format!("csrf={}&login=manager&password=correct+horse+battery", csrf_in(&other_form));
    assert_eq!(b.post("/login", &forged).0, 403, "another browser's token");
    assert_eq!(b.sign_in("manager", PASSWORD).0, 303);
    assert_eq!(b.get("/").0, 200);
    // The session cookie opens the pages, never the device API.
    let session = b.cookies.get("zhuqi_session").cloned().unwrap();
    let http = client_from(loopback(41));
    for path in ["/v1/sync", "/v1/auth/sign-out", "/v1/activation-codes"] {
        let r = http.post(format!("{}{path}", relay.url)).bearer_auth(&session).body("{}").send().unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    let r = http.get(format!("{}/v1/events", relay.url)).bearer_auth(&session).send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // A device token is no session cookie either.
    let token = RawClient::sign_in(&relay.url, "manager").token;
    let r = http.get(format!("{}/", relay.url)).header("cookie", format!("zhuqi_session={token}")).send().unwrap();
    assert_eq!(r.status().as_u16(), 303);
}

#[test]
fn one_account_has_two_syncs_in_progress_at_most_and_every_api_error_is_json() {
    let (_tmp, relay) = relay_with(NetConfig::default());
    let token = RawClient::sign_in(&relay.url, "cadre").token;
    // Two syncs whose bodies are still arriving hold the account's two places...
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Encoding: gzip\r\nContent-Length: 100000\r\n\r\n"
    );
    let mut slow: Vec<_> = (0..2)
        .map(|_| {
            let mut s = connect_from(loopback(50), relay.addr).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&[0x1f; 100]).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // ... so a third of the same account, from wherever, waits its turn with its body unread...
    let cadre = zhuqi_tests::Device::sign_in(&relay.url, _tmp.path(), "cadre");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(cadre.sync().round_trips);
    });
    assert!(rx.recv_timeout(Duration::from_millis(800)).is_err(), "the third sync did not wait");
    // ... while another account is not held up; and it goes ahead as soon as a place frees up.
    assert_eq!(zhuqi_tests::Device::sign_in(&relay.url, _tmp.path(), "cadre-b").sync().pulled, 0);
    slow.clear();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).expect("the third sync, once a place was free"), 1);

    // Unknown routes, wrong methods and bad queries answer the JSON error body too.
    let http = client_from(loopback(52));
    for (method, path, status) in [
        ("GET", "/v1/nope", 404),
        ("GET", "/v1/sync", 405),
        ("PUT", "/v1/auth/sign-in", 405),
        ("GET", "/v1/events?cursor=abc", 400),
    ] {
        let r =
            http.request(method.parse().unwrap(), format!("{}{path}", relay.url)).bearer_auth(&token).send().unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        let body: serde_json::Value =
            serde_json::from_slice(&r.bytes().unwrap()).unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
        assert!(body["code"].is_string() && body["message_zh"].is_string(), "{method} {path}: {body}");
    }
}
