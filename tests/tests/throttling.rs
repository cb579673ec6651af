//! Sign-in and activation throttling through the real relay, from many loopback addresses: delays
//! that double instead of lockouts, the real user never kept out from an address they signed in
//! from, a spraying limit per address, `X-Forwarded-For` believed only from a trusted proxy, and
//! nothing unbounded stored by failures.

use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;
use zhuqi_server::Config;
use zhuqi_server::http::net::NetConfig;
use zhuqi_tests::attack::{client_from, loopback};
use zhuqi_tests::*;

/// Signs in from `from` (optionally through a proxy claiming `forwarded`): the status and the
/// `Retry-After` seconds, if any.
fn sign_in(url: &str, from: IpAddr, forwarded: Option<&str>, login: &str, password: &str) -> (u16, Option<u64>) {
    let mut req = client_from(from)
        .post(format!("{url}/v1/auth/sign-in"))
        .header("content-type", "application/json")
        .body(json!({"login": login, "password": password, "device_name": "t"}).to_string());
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    let r = req.send().unwrap();
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
    (r.status().as_u16(), retry)
}

fn activate(url: &str, from: IpAddr, forwarded: Option<&str>, code: &str) -> u16 {
    let mut req = client_from(from)
        .post(format!("{url}/v1/auth/activate"))
        .header("content-type", "application/json")
        .body(json!({"code": code, "device_name": "t"}).to_string());
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().unwrap().status().as_u16()
}

#[test]
fn failed_sign_ins_delay_the_guesser_but_never_lock_out_the_real_user() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start_configured(
        &tmp.path().join("relay"),
        Config { metrics: zhuqi_server::MetricsAccess::Token("m".into()), ..Config::default() },
        NetConfig::default(),
    );
    seed_directory(relay.state.storage.as_ref());
    let url = relay.url.as_str();
    let home = loopback(1);
    assert_eq!(sign_in(url, home, None, "cadre", PASSWORD).0, 200, "the cadre's own phone, once");

    // A distributed guess: 20 addresses × 3 wrong passwords for the cadre's login. A fourth guess
    // from one address waits (the delay begins at 1 s); after 50 failures in all, every new address
    // waits too.
    let mut failed = 0;
    for n in 0..20u8 {
        for _ in 0..3 {
            match sign_in(url, loopback(50 + n), None, "cadre", "guess") {
                (401, _) => failed += 1,
                (429, Some(_)) => assert!(failed >= 50, "throttled after {failed}"),
                other => panic!("{other:?}"),
            }
        }
        let (status, retry) = sign_in(url, loopback(50 + n), None, "cadre", "guess");
        assert_eq!(status, 429, "address {n}");
        assert!(retry.is_some_and(|s| s >= 1), "{retry:?}");
    }
    assert_eq!(failed, 50, "the login's throttle starts after its 50 free failures");
    // A new address waits now, even with the right password...
    let (status, retry) = sign_in(url, loopback(70), None, "cadre", PASSWORD);
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|s| (1..=900).contains(&s)), "{retry:?}");
    // ... but the real user, from where they signed in before, is let in at once.
    assert_eq!(sign_in(url, home, None, "cadre", PASSWORD).0, 200);

    // Delays double under one login at one address, and are a delay, not a lockout.
    let guesser = loopback(90);
    for _ in 0..3 {
        assert_eq!(sign_in(url, guesser, None, "manager", "guess").0, 401);
    }
    assert_eq!(sign_in(url, guesser, None, "manager", "guess"), (429, Some(1)));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(sign_in(url, guesser, None, "manager", "guess").0, 401, "allowed again after the delay");
    assert_eq!(sign_in(url, guesser, None, "manager", "guess"), (429, Some(2)), "and the next delay is twice as long");
    // The manager signs in from elsewhere meanwhile.
    assert_eq!(sign_in(url, loopback(91), None, "manager", PASSWORD).0, 200);

    // Spraying: one address, many logins, one or two guesses each; the 21st failure waits.
    let sprayer = loopback(80);
    let logins =
        ["city", "handler", "handler-hr", "handler-b", "contact", "contact-b", "manager-b", "cadre-b", "cadre-c"];
    let mut failures = 0;
    'spray: for round in 0..3 {
        for login in logins {
            let (status, _) = sign_in(url, sprayer, None, &format!("{login}{}", ["", "-x", "-y"][round]), "guess");
            if status == 429 {
                break 'spray;
            }
            assert_eq!(status, 401);
            failures += 1;
        }
    }
    assert_eq!(failures, 20, "the address's 21st failure waited");
    assert_eq!(sign_in(url, sprayer, None, "nobody-new", "guess").0, 429, "whatever the login");

    // Malformed attempts are refused before they cost a password hash or a stored row.
    let long_login = "x".repeat(65);
    assert_eq!(sign_in(url, loopback(81), None, &long_login, "p").0, 400);
    assert_eq!(sign_in(url, loopback(81), None, "cadre", &"p".repeat(2000)).0, 400);
    let huge = client_from(loopback(81))
        .post(format!("{url}/v1/auth/sign-in"))
        .header("content-type", "application/json")
        .body(format!("{{\"login\":\"{}\",\"password\":\"p\",\"device_name\":\"t\"}}", "x".repeat(64 << 10)))
        .send();
    if let Ok(r) = huge {
        assert_eq!(r.status().as_u16(), 413);
    } // else: the relay answered 413 and closed while the body was still being sent.

    // What failures stored: fixed-length keys only.
    let db = tmp.path().join("relay/relay.db");
    if db.exists() {
        let conn = rusqlite::Connection::open(db).unwrap();
        let (rows, longest): (i64, i64) = conn
            .query_row("SELECT COUNT(*), MAX(LENGTH(key)) FROM sign_in_failures", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(longest, 32);
        assert!(rows <= 3 * (50 + 5 + 20) as i64, "{rows} rows");
    }

    // Activation codes: per client address, 10 free failures.
    for _ in 0..10 {
        assert_eq!(activate(url, loopback(100), None, "AAAA-BBBB-CCCC"), 401);
    }
    assert_eq!(activate(url, loopback(100), None, "AAAA-BBBB-CCCD"), 429);
    assert_eq!(activate(url, loopback(101), None, "AAAA-BBBB-CCCD"), 401, "another address is not held up");
    assert_eq!(activate(url, loopback(101), None, &"A".repeat(100)), 400);

    // Throttling is counted in the metrics.
    let metrics = client_from(home).get(format!("{url}/metrics")).bearer_auth("m").send().unwrap().text().unwrap();
    let throttled: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("zhuqi_sign_ins_throttled_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(throttled >= 20 + 10 + 1 + 2 + 2 + 1, "{throttled}");
}

#[test]
fn the_client_address_comes_from_a_trusted_proxy_only() {
    let tmp = tempfile::tempdir().unwrap();
    let proxy = loopback(200);
    let relay = Relay::start_configured(
        &tmp.path().join("relay"),
        Config { trusted_proxies: vec!["127.0.0.200/32".parse().unwrap()], ..Config::default() },
        NetConfig::default(),
    );
    seed_directory(relay.state.storage.as_ref());
    let url = relay.url.as_str();
    // Behind the proxy, one client guessing codes does not hold up the others.
    for _ in 0..10 {
        assert_eq!(activate(url, proxy, Some("203.0.113.7"), "AAAA-BBBB-CCCC"), 401);
    }
    assert_eq!(activate(url, proxy, Some("203.0.113.7"), "AAAA-BBBB-CCCC"), 429);
    // A forged left part is the client's own claim: the proxy's right-most entry decides.
    assert_eq!(activate(url, proxy, Some("198.51.100.1, 203.0.113.7"), "AAAA-BBBB-CCCC"), 429);
    assert_eq!(activate(url, proxy, Some("203.0.113.8"), "AAAA-BBBB-CCCC"), 401);
    // A stranger's header is not believed: it is throttled as itself.
    let stranger = loopback(201);
    for _ in 0..10 {
        assert_eq!(activate(url, stranger, Some("203.0.113.9"), "AAAA-BBBB-CCCC"), 401);
    }
    assert_eq!(activate(url, stranger, Some("203.0.113.10"), "AAAA-BBBB-CCCC"), 429);
    // Sign-ins likewise: the real user behind the proxy is let in after a guesser there.
    assert_eq!(sign_in(url, proxy, Some("203.0.113.20"), "manager", PASSWORD).0, 200);
    for _ in 0..3 {
        assert_eq!(sign_in(url, proxy, Some("203.0.113.21"), "manager", "guess").0, 401);
    }
    assert_eq!(sign_in(url, proxy, Some("203.0.113.21"), "manager", "guess").0, 429);
    assert_eq!(sign_in(url, proxy, Some("203.0.113.20"), "manager", PASSWORD).0, 200);
}
