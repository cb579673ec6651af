//! TLS end to end: a relay serving HTTPS with a certificate from a CA the tests made (as a
//! government or enterprise CA would issue it), phones that trust that CA reaching it, and every way
//! trust fails told as a TLS error — never as "offline", never retried — plus a stranger's
//! handshake bounded like a request's headers.

use std::io::{Read, Write};
use std::time::{Duration, Instant};
use zhuqi_core::Error;
use zhuqi_core::sync::SyncClient;
use zhuqi_server::Config;
use zhuqi_server::http::net::NetConfig;
use zhuqi_tests::{Device, PASSWORD, Relay, TestCa, seed_directory};

fn tls_relay(ca: &TestCa, header_timeout: Duration) -> (tempfile::TempDir, Relay) {
    let tmp = tempfile::tempdir().unwrap();
    let net = NetConfig { tls: Some(ca.relay_tls()), header_read_timeout: header_timeout, ..NetConfig::default() };
    let relay = Relay::start_configured(&tmp.path().join("relay"), Config::default(), net);
    seed_directory(relay.state.storage.as_ref());
    (tmp, relay)
}

fn client(url: &str, roots: &[String]) -> zhuqi_core::Result<SyncClient> {
    Ok(SyncClient::new(url)?.with_trust(roots, false)?.with_retries(4, Duration::from_millis(200)))
}

#[test]
fn a_phone_trusting_the_relays_ca_syncs_over_tls() {
    let ca = TestCa::new(&["127.0.0.1", "localhost"]);
    let (tmp, relay) = tls_relay(&ca, Duration::from_secs(10));
    assert!(relay.url.starts_with("https://"), "{}", relay.url);
    let phone = client(&relay.url, std::slice::from_ref(&ca.ca_pem)).unwrap();
    let resp = phone.sign_in("cadre", PASSWORD, "手机").expect("sign in over TLS");
    let device = Device::open(phone, tmp.path(), resp);
    let report = device.sync();
    assert!(report.round_trips > 0 && report.bytes_received > 0, "synced over TLS: {report:?}");
    // The same relay by name: the certificate names localhost too.
    let by_name = relay.url.replace("127.0.0.1", "localhost");
    client(&by_name, std::slice::from_ref(&ca.ca_pem)).unwrap().sign_in("cadre", PASSWORD, "手机").unwrap();
}

#[test]
fn an_unknown_ca_a_wrong_name_and_plain_http_are_tls_errors_not_outages() {
    let ca = TestCa::new(&["127.0.0.1"]);
    let (_tmp, relay) = tls_relay(&ca, Duration::from_secs(10));

    // The public roots alone do not know the CA.
    let started = Instant::now();
    let err = client(&relay.url, &[]).unwrap().sign_in("cadre", PASSWORD, "手机").unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "unknown CA: {err:?}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "says why: {err}");
    assert!(err.user_message().contains("证书"), "{}", err.user_message());
    // Not retried: four attempts would wait 200 + 400 + 800 ms between them.
    assert!(started.elapsed() < Duration::from_millis(1400), "retried a TLS failure: {:?}", started.elapsed());

    // Another CA's certificate is no better.
    let other = TestCa::new(&["127.0.0.1"]);
    let err = client(&relay.url, &[other.ca_pem.clone()]).unwrap().sign_in("cadre", PASSWORD, "手机").unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "another CA: {err:?}");

    // The right CA, but the certificate does not name the address used.
    let by_name = relay.url.replace("127.0.0.1", "localhost");
    let err = client(&by_name, &[ca.ca_pem.clone()]).unwrap().sign_in("cadre", PASSWORD, "手机").unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "wrong name: {err:?}");

    // Plain http is refused before anything is sent, unless allowed for development.
    let plain = relay.url.replace("https://", "http://");
    assert!(matches!(client(&plain, &[]), Err(Error::Tls(_))), "http:// refused");
    assert!(matches!(client("ftp://example.org", &[]), Err(Error::Tls(_))));
    assert!(SyncClient::new(&plain).unwrap().with_trust(&[], true).is_ok(), "allowed with the development flag");

    // Something that is not a certificate is refused when the client is built.
    let err = SyncClient::new(&relay.url).unwrap().with_trust(&["not a certificate".into()], false).err();
    assert!(matches!(err, Some(Error::Tls(_))), "{err:?}");

    // A relay that is down is still an outage.
    let down = client("https://127.0.0.1:9", &[ca.ca_pem.clone()]).unwrap().with_retries(1, Duration::ZERO);
    assert!(matches!(down.sign_in("cadre", PASSWORD, "手机"), Err(Error::Network(_))));
}

#[test]
fn a_stranger_stalling_or_garbling_the_handshake_is_cut_off_and_honest_phones_go_on() {
    let ca = TestCa::new(&["127.0.0.1"]);
    let (_tmp, relay) = tls_relay(&ca, Duration::from_secs(1));
    // Connects and says nothing: closed after the header timeout, not held.
    let mut silent = std::net::TcpStream::connect(relay.addr).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    let n = silent.read(&mut [0u8; 16]).unwrap_or(0);
    assert_eq!(n, 0, "the relay closes a silent connection");
    assert!(started.elapsed() < Duration::from_secs(15), "held {:?}", started.elapsed());
    // Plain HTTP, or garbage, where a ClientHello belongs.
    for junk in [&b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"[..], &[0x16, 3, 1, 0xFF, 0xFF, 1, 2, 3][..]] {
        let mut s = std::net::TcpStream::connect(relay.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(junk).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"), "served without TLS");
    }
    client(&relay.url, &[ca.ca_pem.clone()]).unwrap().sign_in("cadre", PASSWORD, "手机").expect("still serving");
}
