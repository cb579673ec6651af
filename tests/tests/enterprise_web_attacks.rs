//! The enterprise pages (`/e/`) and the web links attacked as a hostile client would, over real HTTP
//! against a real relay: guessed, replayed, voided, raced and previewed codes; CSRF and session
//! fixation; one enterprise's session on another's problems and path tricks; hostile answers and
//! texts (escaped wherever they are shown); floods; oversized and slow bodies before any session;
//! device tokens, dashboard cookies and enterprise cookies each used where the others belong; links
//! asked for contacts nobody may reach; `/v1/reach` outside the caller's enterprises; user agents as
//! device names; expired and signed-out sessions. Every test fails while its hole is open.

use std::io::{Read, Write};
use std::time::Duration;
use zhuqi_core::domain::{Category, Role};
use zhuqi_core::store::NewProblem;
use zhuqi_server::storage::RelayStorage;
use zhuqi_tests::attack::{client_from, connect_from, loopback};
use zhuqi_tests::browser::{Browser, csrf_in, url_encode};
use zhuqi_tests::*;

const PHONE_AGENT: &str = "Mozilla/5.0 (Linux; Android 14; zhuqi-attack) Mobile";

struct World {
    tmp: tempfile::TempDir,
    relay: Relay,
    cadre: Device,
    cadre_b: Device,
    manager: Device,
    handler: Device,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    let cadre_b = Device::sign_in(&relay.url, tmp.path(), "cadre-b");
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    let handler = Device::sign_in(&relay.url, tmp.path(), "handler");
    for d in [&cadre, &cadre_b, &manager, &handler] {
        d.sync();
    }
    World { tmp, relay, cadre, cadre_b, manager, handler }
}

impl World {
    fn storage(&self) -> &dyn RelayStorage {
        self.relay.state.storage.as_ref()
    }

    /// A problem of A reported by its cadre and left open (not routed, not resolved).
    fn open_problem(&self, title: &str) -> String {
        let pid = self
            .cadre
            .store
            .report_problem(NewProblem {
                enterprise_id: ENT_A.into(),
                category: Category::Financing,
                title: title.into(),
                description: "需要流动资金贷款".into(),
                visit_id: None,
                photos: vec![],
            })
            .unwrap();
        self.cadre.sync();
        pid
    }

    /// A problem of A resolved by the finance bureau: waiting for the enterprise's answer.
    fn resolved_problem(&self, title: &str) -> String {
        let pid = self.open_problem(title);
        self.manager.sync();
        self.manager.store.route_problem(&pid, FINANCE, 1, zhuqi_server::now_ms() + 7 * DAY, "请办理").unwrap();
        self.manager.sync();
        self.handler.sync();
        self.handler.store.resolve_problem(&pid, "已协调银行放款").unwrap();
        self.handler.sync();
        pid
    }

    /// A link for `contact` of `enterprise`, asked for by `device` through the API.
    fn link(&self, device: &Device, enterprise: &str, contact: &str) -> String {
        let (status, body) = api_link(
            &self.relay,
            &token_of(device),
            &serde_json::json!({ "enterprise_id": enterprise, "contact_user_id": contact }),
        );
        assert_eq!(status, 200, "{body}");
        body["url"].as_str().unwrap().to_owned()
    }

    fn link_a(&self) -> String {
        self.link(&self.cadre, ENT_A, "contact")
    }

    fn link_b(&self) -> String {
        self.link(&self.cadre_b, ENT_B, "contact-b")
    }

    /// A phone browser signed in as A's contact (or B's).
    fn session_a(&self) -> Browser {
        let mut b = phone(&self.relay);
        assert_eq!(sign_in_with(&mut b, &self.link_a()), 303);
        b
    }

    fn session_b(&self) -> Browser {
        let mut b = phone(&self.relay);
        assert_eq!(sign_in_with(&mut b, &self.link_b()), 303);
        b
    }

    fn problem_row(&self, enterprise: &str, id: &str) -> Option<zhuqi_server::storage::ProblemRow> {
        self.storage().enterprise_problems(enterprise, 10_000).unwrap().into_iter().find(|p| p.id == id)
    }

    fn status_of(&self, id: &str) -> String {
        self.problem_row(ENT_A, id).expect("the problem").status
    }
}

fn token_of(d: &Device) -> String {
    d.store.session_token().unwrap().unwrap()
}

/// `POST /v1/web-links` with a device token: status and JSON answer.
fn api_link(relay: &Relay, token: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/web-links", relay.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.bytes().unwrap()).unwrap_or(serde_json::Value::Null))
}

fn phone(relay: &Relay) -> Browser {
    phone_from(relay, reqwest::blocking::Client::builder())
}

fn phone_from(relay: &Relay, builder: reqwest::blocking::ClientBuilder) -> Browser {
    let http = builder.redirect(reqwest::redirect::Policy::none()).user_agent(PHONE_AGENT).build().unwrap();
    Browser { http, base: relay.url.clone(), cookies: Default::default() }
}

/// A phone browser whose connections come from `127.0.0.n` (its own throttling address).
fn phone_at(relay: &Relay, n: u8) -> Browser {
    let mut b = phone(relay);
    b.http = client_from(loopback(n));
    b
}

fn path_of(url: &str) -> String {
    url.find("/e/l/").map(|i| url[i..].to_owned()).expect("a link to /e/l/")
}

fn code_of(url: &str) -> String {
    path_of(url)["/e/l/".len()..].to_owned()
}

fn error_code(html: &str) -> Option<String> {
    html.split(r#"data-code=""#).nth(1).map(|r| r.split('"').next().unwrap().to_owned())
}

/// Opens a link and presses its button: the status of the sign-in.
fn sign_in_with(b: &mut Browser, url: &str) -> u16 {
    let (status, html, _) = b.get(&path_of(url));
    if status != 200 {
        return status;
    }
    b.post("/e/sign-in", &format!("csrf={}&code={}", csrf_in(&html), code_of(url))).0
}

/// POST of a form without keeping cookies: status, body and `Location`.
fn post(b: &Browser, path: &str, form: &str) -> (u16, String, Option<String>) {
    let r = b
        .http
        .post(format!("{}{path}", b.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", b.cookie_header())
        .body(form.to_owned())
        .send()
        .unwrap();
    let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), r.text().unwrap(), location)
}

/// Whether `/e/` shows the sign-in form (no session) rather than an enterprise's problems.
fn signed_out(b: &mut Browser) -> bool {
    let (status, html, _) = b.get("/e/");
    status == 200 && html.contains(r#"id="sign-in""#) && !html.contains("郑州精工机械有限公司")
}

/// A page with its tokens and the given codes blanked, to compare refusals.
fn normalized(html: &str, codes: &[&str]) -> String {
    let mut out = html.to_owned();
    while let Some(i) = out.find(r#"name="csrf" value=""#) {
        let start = i + r#"name="csrf" value=""#.len();
        let end = start + out[start..].find('"').unwrap();
        out.replace_range(i..end, "CSRF");
    }
    for c in codes {
        out = out.replace(c, "CODE");
    }
    out
}

/// A code of the links' alphabet that no link has.
fn unknown_code(i: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let seed = uuid::Uuid::new_v4().as_u128() ^ i as u128;
    (0..16).map(|k| ALPHABET[((seed >> (k * 5)) % 31) as usize] as char).collect()
}

/// Sends a request head and part of a body from `127.0.0.n`, then reads the answer (or the close):
/// the status (0 when the connection closed without one).
fn partial_request(relay: &Relay, n: u8, head: &str, body: &[u8]) -> u16 {
    let mut s = connect_from(loopback(n), relay.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                out.extend_from_slice(&buf[..k]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Codes

#[test]
fn guessing_codes_is_throttled_per_address_and_a_throttled_guesser_learns_nothing_of_real_codes() {
    let w = world();
    let real = w.link_a();
    let mut guesser = phone_at(&w.relay, 9);
    let mut throttled_at = None;
    let mut pages = Vec::new();
    for i in 0..40 {
        let code = unknown_code(i);
        // A forwarded-for header of its own choosing: the relay trusts no proxy, so it changes nothing.
        let r = guesser
            .http
            .get(format!("{}/e/l/{code}", w.relay.url))
            .header("x-forwarded-for", format!("10.9.{i}.1"))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        if status == 429 {
            assert!(r.headers().contains_key("retry-after"));
            throttled_at = Some(i);
            break;
        }
        assert_eq!(status, 401);
        pages.push(normalized(&r.text().unwrap(), &[&code]));
    }
    let throttled_at = throttled_at.expect("guessing is throttled");
    assert!(throttled_at <= 11, "throttled after {throttled_at} guesses");
    assert!(pages.windows(2).all(|p| p[0] == p[1]), "every unknown code gets the same page");

    // The next failures wait longer; just after one, the real link is no oracle: it is refused the
    // same way, by page or by form, and stays usable.
    let mut retry_after = 0;
    for i in 100..110 {
        let r = guesser.http.get(format!("{}/e/l/{}", w.relay.url, unknown_code(i))).send().unwrap();
        if r.status().as_u16() == 429 {
            retry_after = r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap();
            if retry_after >= 4 {
                break;
            }
            std::thread::sleep(Duration::from_secs(retry_after));
        }
    }
    assert!(retry_after >= 4, "the waits double");
    let (status, page, _) = guesser.get(&path_of(&real));
    assert_eq!(status, 429, "a real link's page while throttled: {page}");
    assert!(!page.contains(&code_of(&real)));
    let (_, entry, _) = phone_at(&w.relay, 9).get("/e/");
    let (status, _) = guesser.post("/e/sign-in", &format!("csrf={}&code={}", csrf_in(&entry), code_of(&real)));
    assert!(status == 429 || status == 403, "{status}");
    let hash = zhuqi_server::auth::code_hash(&code_of(&real));
    assert!(w.storage().web_link_live(&hash, zhuqi_server::now_ms()).unwrap());

    // The contact, at another address, is not kept out.
    let mut contact = phone_at(&w.relay, 10);
    assert_eq!(sign_in_with(&mut contact, &real), 303);
}

#[test]
fn unknown_used_voided_and_expired_codes_get_the_same_answer() {
    let w = world();
    let used = w.link_a();
    assert_eq!(sign_in_with(&mut phone_at(&w.relay, 20), &used), 303);
    let voided = w.link_a();
    let _newer = w.link_a();
    let expired = "ABCDEFGHJKMNPQRS";
    let now = zhuqi_server::now_ms();
    w.storage()
        .create_web_link(&zhuqi_server::storage::WebLink {
            code_hash: zhuqi_server::auth::code_hash(expired),
            user_id: "contact-b".into(),
            enterprise_id: ENT_B.into(),
            issued_by: "cadre-b".into(),
            issued_at: now - 4 * DAY,
            expires_at: now - 1,
        })
        .unwrap();
    let unknown = unknown_code(1);
    let codes = [code_of(&used), code_of(&voided), expired.to_owned(), unknown];
    let mut pages = Vec::new();
    let mut posted = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let mut b = phone_at(&w.relay, 21 + i as u8);
        let (status, page, _) = b.get(&format!("/e/l/{code}"));
        assert_eq!((status, error_code(&page).as_deref()), (401, Some("bad_code")), "{code}");
        pages.push(normalized(&page, &[code]));
        let (status, page) = b.post("/e/sign-in", &format!("csrf={}&code={code}", csrf_in(&page)));
        assert_eq!((status, error_code(&page).as_deref()), (401, Some("bad_code")), "{code}");
        posted.push(normalized(&page, &[code]));
        assert!(signed_out(&mut b));
    }
    assert!(pages.windows(2).all(|p| p[0] == p[1]), "{pages:#?}");
    assert!(posted.windows(2).all(|p| p[0] == p[1]), "{posted:#?}");
}

#[test]
fn a_link_signs_in_once_even_when_raced_and_a_newer_link_voids_the_older() {
    let w = world();
    let url = w.link_a();
    let mut first = phone_at(&w.relay, 60);
    assert_eq!(sign_in_with(&mut first, &url), 303);
    // Replayed: page and form.
    let mut replay = phone_at(&w.relay, 61);
    assert_eq!(sign_in_with(&mut replay, &url), 401);
    let (_, entry, _) = replay.get("/e/");
    assert_eq!(replay.post("/e/sign-in", &format!("csrf={}&code={}", csrf_in(&entry), code_of(&url))).0, 401);
    assert!(signed_out(&mut replay));

    // Raced: eight browsers press the button of one link at once.
    let url = w.link_a();
    let mut ready = Vec::new();
    for i in 0..8 {
        let mut b = phone_at(&w.relay, 62 + i);
        let (status, page, _) = b.get(&path_of(&url));
        assert_eq!(status, 200);
        let form = format!("csrf={}&code={}", csrf_in(&page), code_of(&url));
        ready.push((b, form));
    }
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(ready.len()));
    let handles: Vec<_> = ready
        .into_iter()
        .map(|(mut b, form)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                b.post("/e/sign-in", &form).0
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 303 || *s == 401), "{statuses:?}");

    // A newer link of the same contact voids the older, unused one — the dashboard's too.
    let older = w.link_a();
    let mut office = Browser::new(&w.relay.url);
    assert_eq!(office.sign_in("manager", PASSWORD).0, 303);
    let (_, page, _) = office.get(&format!("/enterprises/{ENT_A}"));
    let (status, shown) =
        office.post(&format!("/enterprises/{ENT_A}/web-link"), &format!("csrf={}&contact=contact", csrf_in(&page)));
    assert_eq!(status, 200);
    let newer = shown.split(r#"id="link-url" href=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert_eq!(sign_in_with(&mut phone_at(&w.relay, 70), &older), 401);
    assert_eq!(sign_in_with(&mut phone_at(&w.relay, 71), &newer), 303);
}

#[test]
fn previews_of_every_method_leave_the_link_usable() {
    let w = world();
    let url = w.link_a();
    let hash = zhuqi_server::auth::code_hash(&code_of(&url));
    let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for method in ["GET", "HEAD", "OPTIONS", "GET"] {
        let r = http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), &url)
            .header("purpose", "prefetch")
            .send()
            .unwrap();
        assert!(r.status().as_u16() < 500, "{method}: {}", r.status());
        assert!(r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("zhuqi_e_session=")));
        assert!(w.storage().web_link_live(&hash, zhuqi_server::now_ms()).unwrap(), "{method} used the link up");
    }
    // A form posted straight to the link's address (no pre-session, no token) uses nothing either.
    for body in ["", "code=x", &format!("code={}", code_of(&url))] {
        let r = http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .unwrap();
        assert!(r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("zhuqi_e_session=")));
        assert!(w.storage().web_link_live(&hash, zhuqi_server::now_ms()).unwrap(), "POST {body:?}");
    }
    let r = http
        .post(format!("{}/e/sign-in", w.relay.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("code={}", code_of(&url)))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(w.storage().web_link_live(&hash, zhuqi_server::now_ms()).unwrap());
    assert_eq!(sign_in_with(&mut phone(&w.relay), &url), 303);
}

// ---------------------------------------------------------------------------------------------
// CSRF and session fixation

#[test]
fn every_form_refuses_a_missing_foreign_or_pre_session_token() {
    let w = world();
    let pid = w.resolved_problem("流动资金贷款");
    let url = w.link_a();
    let code = code_of(&url);
    let hash = zhuqi_server::auth::code_hash(&code);

    // Signing in: no token, no pre-session, another browser's pre-session.
    let mut victim = phone(&w.relay);
    let (_, landing, _) = victim.get(&path_of(&url));
    let victim_csrf = csrf_in(&landing);
    let mut other = phone(&w.relay);
    let (_, other_page, _) = other.get("/e/");
    let other_csrf = csrf_in(&other_page);
    assert_eq!(post(&victim, "/e/sign-in", &format!("code={code}")).0, 403);
    assert_eq!(post(&victim, "/e/sign-in", &format!("csrf=&code={code}")).0, 403);
    assert_eq!(post(&victim, "/e/sign-in", &format!("csrf={other_csrf}&code={code}")).0, 403);
    assert_eq!(post(&phone(&w.relay), "/e/sign-in", &format!("csrf={victim_csrf}&code={code}")).0, 403);
    assert!(w.storage().web_link_live(&hash, zhuqi_server::now_ms()).unwrap(), "refused forms use nothing");

    // Signed in: the pre-session's token, another session's, none — on every form.
    assert_eq!(victim.post("/e/sign-in", &format!("csrf={victim_csrf}&code={code}")).0, 303);
    let mut second = w.session_a();
    let (_, second_home, _) = second.get("/e/");
    let foreign = csrf_in(&second_home);
    let (_, home, _) = victim.get("/e/");
    let own = csrf_in(&home);
    assert_ne!(own, victim_csrf, "the token changes with the session");
    assert_ne!(own, foreign);
    let cat = Category::Labour.as_str();
    let forms = [
        (format!("/e/problems/{pid}/confirm"), "rating=5&comment=ok".to_owned()),
        (format!("/e/problems/{pid}/reject"), "reason=no".to_owned()),
        ("/e/report".to_owned(), format!("category={cat}&title=t&description=d")),
        ("/e/sign-out".to_owned(), String::new()),
    ];
    for (path, form) in &forms {
        for token in [None, Some(""), Some(victim_csrf.as_str()), Some(foreign.as_str()), Some("x".repeat(64).as_str())]
        {
            let body = match token {
                None => form.clone(),
                Some(t) => format!("{form}&csrf={t}"),
            };
            let (status, page, _) = post(&victim, path, &body);
            assert_eq!((status, error_code(&page).as_deref()), (403, Some("bad_csrf")), "{path} {token:?}");
        }
    }
    assert_eq!(w.status_of(&pid), "resolved");
    assert_eq!(w.storage().enterprise_problems(ENT_A, 100).unwrap().len(), 1, "nothing reported");
    assert!(!signed_out(&mut victim), "not signed out");
    // And the right token works.
    assert_eq!(post(&victim, &format!("/e/problems/{pid}/confirm"), &format!("rating=5&csrf={own}")).0, 303);
    assert_eq!(w.status_of(&pid), "confirmed");
}

#[test]
fn a_session_cookie_set_before_sign_in_is_never_the_session() {
    let w = world();
    let url = w.link_a();
    let mut victim = phone(&w.relay);
    // The attacker planted cookies of its choosing, and a pre-session of its own.
    let mut attacker = phone(&w.relay);
    let (_, attacker_page, _) = attacker.get("/e/");
    let planted_login = attacker.cookies["zhuqi_e_login"].clone();
    victim.cookies.insert("zhuqi_e_session".into(), "fixed-by-the-attacker".into());
    victim.cookies.insert("zhuqi_e_login".into(), planted_login.clone());
    let (status, _) = victim.post("/e/sign-in", &format!("csrf={}&code={}", csrf_in(&attacker_page), code_of(&url)));
    assert_eq!(status, 303, "the planted pre-session still signs the victim in (SameSite keeps it from being planted)");
    let session = victim.cookies["zhuqi_e_session"].clone();
    assert_ne!(session, "fixed-by-the-attacker");
    assert_ne!(session, planted_login);
    assert!(!signed_out(&mut victim));
    // Whatever the attacker holds opens nothing.
    for jar in [
        vec![("zhuqi_e_session", "fixed-by-the-attacker".to_owned())],
        vec![("zhuqi_e_login", planted_login.clone())],
        vec![("zhuqi_e_session", planted_login.clone())],
    ] {
        let mut b = phone(&w.relay);
        for (k, v) in jar {
            b.cookies.insert(k.into(), v);
        }
        assert!(signed_out(&mut b));
    }
}

// ---------------------------------------------------------------------------------------------
// Another enterprise's problems, and paths

#[test]
fn enterprise_b_s_session_reaches_nothing_of_a_by_any_path() {
    let w = world();
    let pa = w.resolved_problem("甲企业的秘密贷款");
    let mut b = w.session_b();
    let (_, home, _) = b.get("/e/");
    assert!(home.contains("二七纺织有限公司") && !home.contains("甲企业的秘密贷款"));
    let csrf = csrf_in(&home);

    let (status, nobody, _) = b.get("/e/problems/00000000-0000-7000-8000-000000000000");
    assert_eq!((status, error_code(&nobody).as_deref()), (404, Some("not_found")));
    let nobody = normalized(&nobody, &[]);
    let encoded: String = pa.bytes().map(|c| format!("%{c:02X}")).collect();
    for path in [
        format!("/e/problems/{pa}"),
        format!("/e/problems/{encoded}"),
        format!("/e/problems/{ENT_A}"),
        format!("/e/problems/{ENT_B}"),
    ] {
        let (status, page, _) = b.get(&path);
        assert_eq!(status, 404, "{path}");
        assert_eq!(normalized(&page, &[]), nobody, "{path}: the same 404 as an id nobody uses");
    }
    for (action, form) in [("confirm", "rating=1&comment=x"), ("reject", "reason=x")] {
        for id in [pa.as_str(), encoded.as_str()] {
            let (status, page, _) = post(&b, &format!("/e/problems/{id}/{action}"), &format!("{form}&csrf={csrf}"));
            assert_eq!((status, error_code(&page).as_deref()), (404, Some("not_found")), "{action} {id}");
        }
    }
    assert_eq!(w.status_of(&pa), "resolved");

    // Path tricks: never A's problem, never a server error.
    let long = "a".repeat(8_000);
    for path in [
        format!("/e/problems/{pa}/"),
        format!("/e/problems/{pa}%2Fconfirm"),
        format!("/e/problems/{pa}%00"),
        "/e/problems/%00".to_owned(),
        format!("/e/problems/..%2F..%2Fproblems%2F{pa}"),
        format!("/e/problems/{long}"),
        "/e/problems/%FF%FE".to_owned(),
        format!("/e/%2E%2E/problems/{pa}"),
    ] {
        let (status, page, _) = b.get(&path);
        assert!(status < 500, "{path}: {status}");
        assert!(!page.contains("甲企业的秘密贷款"), "{path}");
    }
    // Dot segments sent as they are (a client that does not normalise them).
    for path in [format!("/e/../e/problems/{pa}"), format!("/e/./problems/{pa}"), format!("/e/l/../problems/{pa}")] {
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nConnection: close\r\n\r\n", b.cookie_header());
        let (status, text) = zhuqi_tests::attack::raw_request(loopback(1), w.relay.addr, req.as_bytes());
        assert!(status != 0 && status < 500, "{path}: {status}");
        assert!(!text.contains("甲企业的秘密贷款"), "{path}");
    }
    // A report naming another enterprise is B's own.
    let (status, _, location) = post(
        &b,
        "/e/report",
        &format!(
            "category={}&title={}&description=d&enterprise_id={ENT_A}&enterprise={ENT_A}&csrf={csrf}",
            Category::Land.as_str(),
            url_encode("乙企业的报告")
        ),
    );
    assert_eq!(status, 303);
    let id = location.unwrap().rsplit('/').next().unwrap().to_owned();
    assert!(w.problem_row(ENT_B, &id).is_some());
    assert!(w.storage().enterprise_problems(ENT_A, 100).unwrap().iter().all(|p| p.title != "乙企业的报告"));
}

// ---------------------------------------------------------------------------------------------
// Hostile answers and texts

#[test]
fn answers_out_of_turn_twice_or_malformed_store_nothing_and_texts_are_escaped_everywhere() {
    let w = world();
    let open = w.open_problem("尚未办理的问题");
    let pid = w.resolved_problem("用电增容");
    let mut b = w.session_a();
    let (_, home, _) = b.get("/e/");
    let csrf = csrf_in(&home);

    let (status, page, _) = post(&b, &format!("/e/problems/{open}/confirm"), &format!("rating=5&csrf={csrf}"));
    assert_eq!((status, error_code(&page).as_deref()), (409, Some("not_awaiting_answer")));
    let (status, _, _) = post(&b, &format!("/e/problems/{open}/reject"), &format!("reason=x&csrf={csrf}"));
    assert_eq!(status, 409);
    assert_eq!(w.status_of(&open), "reported");

    for rating in ["0", "6", "5abc", "-1", "", "5.0", "%D9%A5", "99999999999999999999", "0x5", "5%00", "%EF%BC%95"] {
        let (status, page, _) =
            post(&b, &format!("/e/problems/{pid}/confirm"), &format!("rating={rating}&csrf={csrf}"));
        assert_eq!((status, error_code(&page).as_deref()), (422, Some("invalid_rating")), "rating {rating:?}");
    }
    let (status, page, _) = post(&b, &format!("/e/problems/{pid}/confirm"), &format!("csrf={csrf}"));
    assert_eq!(status, 422, "no rating: {page}");
    let (status, page, _) =
        post(&b, &format!("/e/problems/{pid}/confirm"), &format!("rating=5&comment={}&csrf={csrf}", "x".repeat(501)));
    assert_eq!((status, error_code(&page).as_deref()), (422, Some("too_long")));
    for bad in ["%01", "a%0Bb", "%1B%5B31m", "%7F", "a%00b"] {
        let (status, page, _) =
            post(&b, &format!("/e/problems/{pid}/confirm"), &format!("rating=5&comment={bad}&csrf={csrf}"));
        assert_eq!((status, error_code(&page).as_deref()), (422, Some("invalid_text")), "{bad}");
    }
    let (status, page, _) = post(&b, &format!("/e/problems/{pid}/reject"), &format!("reason=&csrf={csrf}"));
    assert_eq!((status, error_code(&page).as_deref()), (422, Some("required")));
    // A 10 MB comment: refused by its size (or the connection cut), never stored.
    let huge = format!("rating=5&csrf={csrf}&comment={}", "x".repeat(10 << 20));
    if let Ok(r) = b
        .http
        .post(format!("{}/e/problems/{pid}/confirm", w.relay.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", b.cookie_header())
        .body(huge)
        .send()
    {
        assert_eq!(r.status().as_u16(), 413);
    }
    assert_eq!(w.status_of(&pid), "resolved");

    // A script in the comment: stored as text, escaped on the phone and on the dashboard.
    let script = r#"<script>alert(1)</script><img src=x onerror=alert(2)>"'&"#;
    let (status, _, _) = post(
        &b,
        &format!("/e/problems/{pid}/confirm"),
        &format!("rating=4&comment={}&csrf={csrf}", url_encode(script)),
    );
    assert_eq!(status, 303);
    let (status, page, _) = post(&b, &format!("/e/problems/{pid}/confirm"), &format!("rating=1&csrf={csrf}"));
    assert_eq!((status, error_code(&page).as_deref()), (409, Some("not_awaiting_answer")), "twice");
    let (status, _, _) = post(&b, &format!("/e/problems/{pid}/reject"), &format!("reason=x&csrf={csrf}"));
    assert_eq!(status, 409, "rejected after confirming");
    let row = w.problem_row(ENT_A, &pid).unwrap();
    assert_eq!((row.status.as_str(), row.rating), ("confirmed", Some(4)));

    let (_, report_page, _) = b.get("/e/report");
    let (status, _, location) = post(
        &b,
        "/e/report",
        &format!(
            "category={}&title={}&description={}&csrf={}",
            Category::Other.as_str(),
            url_encode(script),
            url_encode(script),
            csrf_in(&report_page)
        ),
    );
    assert_eq!(status, 303);
    let reported = location.unwrap().rsplit('/').next().unwrap().to_owned();
    let mut office = Browser::new(&w.relay.url);
    office.sign_in("manager", PASSWORD);
    let pages = [
        b.get(&format!("/e/problems/{pid}")).1,
        b.get(&format!("/e/problems/{reported}")).1,
        b.get("/e/").1,
        office.get(&format!("/problems/{pid}")).1,
        office.get(&format!("/problems/{reported}")).1,
        office.get("/problems").1,
        office.get(&format!("/enterprises/{ENT_A}")).1,
    ];
    for page in &pages {
        assert!(!page.contains("<script>alert") && !page.contains("<img src=x"), "{page}");
    }
    assert!(pages.iter().filter(|p| p.contains("&lt;script&gt;alert(1)")).count() >= 4, "the texts are shown, escaped");
    // Control characters in a report.
    let (status, page, _) =
        post(&b, "/e/report", &format!("category={}&title=a%08b&description=d&csrf={csrf}", Category::Other.as_str()));
    assert_eq!((status, error_code(&page).as_deref()), (422, Some("invalid_text")));
    let (status, page, _) = post(&b, "/e/report", &format!("category=../../etc&title=a&description=d&csrf={csrf}"));
    assert_eq!((status, error_code(&page).as_deref()), (422, Some("invalid_category")));
}

#[test]
fn a_flood_of_reports_is_bounded() {
    let w = world();
    let b = w.session_a();
    let mut b = b;
    let (_, home, _) = b.get("/e/");
    let csrf = csrf_in(&home);
    let mut accepted = 0;
    let mut refused = None;
    for i in 0..120 {
        let (status, page, _) = post(
            &b,
            "/e/report",
            &format!("category={}&title=flood-{i}&description=d&csrf={csrf}", Category::Other.as_str()),
        );
        if status == 303 {
            accepted += 1;
        } else {
            refused = Some((status, error_code(&page)));
            break;
        }
    }
    let (status, code) = refused.expect("a bound on the reports of one session");
    assert_eq!((status, code.as_deref()), (429, Some("throttled")));
    assert!(accepted >= 5, "a real enterprise can report several problems: {accepted}");
    // Another session of the same enterprise does not start afresh.
    let mut again = w.session_a();
    let (_, home, _) = again.get("/e/");
    let (status, _, _) = post(
        &again,
        "/e/report",
        &format!("category={}&title=more&description=d&csrf={}", Category::Other.as_str(), csrf_in(&home)),
    );
    assert_eq!(status, 429);
    assert_eq!(w.storage().enterprise_problems(ENT_A, 1000).unwrap().len(), accepted);
}

// ---------------------------------------------------------------------------------------------
// Bodies before any session

#[test]
fn oversized_and_slow_bodies_are_refused_before_a_session_after_a_small_bound() {
    let w = world();
    let pid = w.resolved_problem("用电增容");
    for (i, path) in
        ["/e/sign-in".to_owned(), format!("/e/problems/{pid}/confirm"), "/e/report".into(), "/e/sign-out".into()]
            .iter()
            .enumerate()
    {
        let n = 40 + i as u8;
        // Declared too large: refused before reading.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n"
        );
        let status = partial_request(&w.relay, n, &head, &[b'a'; 1024]);
        assert!(status == 413 || status == 0, "{path}: {status}");
        // Undeclared: read up to the bound, then refused (the rest is never sent: a relay reading
        // on would wait for it and answer 408).
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let mut body = Vec::new();
        for _ in 0..8 {
            body.extend_from_slice(format!("{:x}\r\n", 8192).as_bytes());
            body.extend_from_slice(&[b'a'; 8192]);
            body.extend_from_slice(b"\r\n");
        }
        let status = partial_request(&w.relay, n, &head, &body);
        assert!(status == 413 || status == 0, "{path}: {status}");
    }
    // A body that stops midway ends with 408, the relay holding nothing.
    let head = "POST /e/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n";
    let status = partial_request(&w.relay, 50, head, b"csrf=abc");
    assert!(status == 408 || status == 0, "{status}");
    // The relay still serves.
    assert_eq!(phone(&w.relay).get("/e/").0, 200);
}

// ---------------------------------------------------------------------------------------------
// Credentials where they do not belong

#[test]
fn device_tokens_dashboard_cookies_and_enterprise_cookies_open_only_their_own_doors() {
    let w = world();
    let pid = w.resolved_problem("用电增容");
    let contact_app = Device::sign_in(&w.relay.url, w.tmp.path(), "contact");
    let mut office = Browser::new(&w.relay.url);
    assert_eq!(office.sign_in("manager", PASSWORD).0, 303);
    let dashboard_cookie = office.cookies["zhuqi_session"].clone();
    let tokens = [token_of(&w.cadre), token_of(&w.manager), token_of(&contact_app), dashboard_cookie.clone()];
    for t in &tokens {
        for (name, how) in [("bearer", 0), ("e_session", 1), ("dashboard", 2)] {
            let mut req = phone(&w.relay).http.get(format!("{}/e/problems/{pid}", w.relay.url));
            req = match how {
                0 => req.bearer_auth(t),
                1 => req.header("cookie", format!("zhuqi_e_session={t}")),
                _ => req.header("cookie", format!("zhuqi_session={t}")),
            };
            let r = req.send().unwrap();
            assert_eq!(r.status().as_u16(), 303, "{name}");
            assert_eq!(r.headers()["location"], "/e/", "{name}");
        }
    }
    // The enterprise's cookie on the dashboard and the API.
    let b = w.session_a();
    let e = b.cookies["zhuqi_e_session"].clone();
    let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for path in ["/", "/problems", &format!("/problems/{pid}"), &format!("/enterprises/{ENT_A}")] {
        for cookie in [format!("zhuqi_session={e}"), format!("zhuqi_e_session={e}")] {
            let r = http.get(format!("{}{path}", w.relay.url)).header("cookie", cookie).send().unwrap();
            assert_eq!(r.headers().get("location").map(|l| l.to_str().unwrap()), Some("/login"), "{path}");
        }
    }
    for (method, path) in
        [("GET", "/v1/reach"), ("POST", "/v1/web-links"), ("GET", "/v1/events?cursor=0"), ("POST", "/v1/auth/sign-out")]
    {
        let r = http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{path}", w.relay.url))
            .bearer_auth(&e)
            .header("cookie", format!("zhuqi_e_session={e}"))
            .header("content-type", "application/json")
            .body(r#"{"enterprise_id":"ent-a","contact_user_id":"contact"}"#)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    // The contact's own app issues no links.
    let (status, _) = api_link(&w.relay, &token_of(&contact_app), &serde_json::json!({ "enterprise_id": ENT_A }));
    assert_eq!(status, 403);
}

// ---------------------------------------------------------------------------------------------
// Issuing links

#[test]
fn links_for_contacts_the_caller_does_not_serve_or_for_other_users_are_the_same_404() {
    let w = world();
    let version = w.storage().directory_version().unwrap();
    let cadre = token_of(&w.cadre);
    let mut not_found = Vec::new();
    for body in [
        serde_json::json!({ "enterprise_id": ENT_B, "contact_user_id": "contact-b" }),
        serde_json::json!({ "enterprise_id": ENT_B }),
        serde_json::json!({ "enterprise_id": ENT_B, "contact_name": "冒名" }),
        serde_json::json!({ "enterprise_id": ENT_A, "contact_user_id": "contact-b" }),
        serde_json::json!({ "enterprise_id": ENT_A, "contact_user_id": "cadre" }),
        serde_json::json!({ "enterprise_id": ENT_A, "contact_user_id": "handler" }),
        serde_json::json!({ "enterprise_id": ENT_A, "contact_user_id": "manager" }),
        serde_json::json!({ "enterprise_id": ENT_A, "contact_user_id": "nobody" }),
        serde_json::json!({ "enterprise_id": ENT_A, "contact_user_id": "contact:ent-a" }),
        serde_json::json!({ "enterprise_id": "ent-nobody", "contact_name": "冒名" }),
        serde_json::json!({ "enterprise_id": "ent-nobody" }),
    ] {
        let (status, answer) = api_link(&w.relay, &cadre, &body);
        assert_eq!(status, 404, "{body}: {answer}");
        not_found.push(answer);
    }
    assert!(not_found.windows(2).all(|a| a[0] == a[1]), "{not_found:?}");
    let (status, answer) = api_link(
        &w.relay,
        &token_of(&w.manager),
        &serde_json::json!({ "enterprise_id": ENT_B, "contact_user_id": "contact-b" }),
    );
    assert_eq!((status, &answer), (404, &not_found[0]));
    // A contact exists: no second one is created, with or without a named contact beside.
    for body in [
        serde_json::json!({ "enterprise_id": ENT_A, "contact_name": "冒名" }),
        serde_json::json!({ "enterprise_id": ENT_A, "contact_name": "冒名", "contact_mobile": "13800001111" }),
    ] {
        let (status, answer) = api_link(&w.relay, &cadre, &body);
        assert_eq!((status, answer["code"].as_str()), (409, Some("contact_exists")), "{body}");
    }
    let (status, _) = api_link(
        &w.relay,
        &cadre,
        &serde_json::json!({ "enterprise_id": ENT_A, "contact_user_id": "contact", "contact_name": "冒名" }),
    );
    assert!(status == 200 || status == 409 || status == 422, "{status}");
    assert_eq!(w.storage().directory_version().unwrap(), version, "no user created");
    let (dir, _) = w.storage().directory().unwrap();
    assert!(dir.users.iter().all(|u| u.name != "冒名"));
    // Roles that never issue.
    for token in [token_of(&w.handler)] {
        let (status, _) =
            api_link(&w.relay, &token, &serde_json::json!({ "enterprise_id": ENT_A, "contact_user_id": "contact" }));
        assert_eq!(status, 403);
    }
    // The other county's office on the dashboard.
    let mut office_b = Browser::new(&w.relay.url);
    assert_eq!(office_b.sign_in("manager-b", PASSWORD).0, 303);
    let (_, page, _) = office_b.get("/");
    let csrf = csrf_in(&page);
    let (status, shown) =
        office_b.post(&format!("/enterprises/{ENT_A}/web-link"), &format!("csrf={csrf}&contact=contact"));
    assert!(status == 404 || status == 403, "{status}");
    assert!(!shown.contains("/e/l/"));
    let (status, shown) = office_b
        .post(&format!("/enterprises/{ENT_A}/web-link"), &format!("csrf={csrf}&contact_name={}", url_encode("冒名")));
    assert!(status == 404 || status == 403, "{status}");
    assert!(!shown.contains("/e/l/"));
    assert_eq!(w.storage().directory_version().unwrap(), version);
}

#[test]
fn reach_shows_a_cadre_only_its_own_enterprises() {
    let w = world();
    let get = |token: &str, query: &str| {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}/v1/reach{query}", w.relay.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        (r.status().as_u16(), serde_json::from_slice::<serde_json::Value>(&r.bytes().unwrap()).unwrap_or_default())
    };
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["enterprises"].as_array().unwrap().iter().map(|e| e["enterprise_id"].as_str().unwrap().to_owned()).collect()
    };
    for query in ["", "?enterprise_id=ent-b", "?cadre=cadre-b", "?user_id=cadre-b&region=410103"] {
        let (status, v) = get(&token_of(&w.cadre), query);
        assert_eq!(status, 200);
        assert_eq!(ids(&v), vec![ENT_A.to_owned()], "{query}");
        let (_, v) = get(&token_of(&w.cadre_b), query);
        assert_eq!(ids(&v), vec![ENT_B.to_owned()], "{query}");
    }
    let cadre_c = Device::sign_in(&w.relay.url, w.tmp.path(), "cadre-c");
    let (status, v) = get(&token_of(&cadre_c), "");
    assert_eq!((status, ids(&v), v["never_reached"].as_u64()), (200, vec![], Some(0)));
    let contact = Device::sign_in(&w.relay.url, w.tmp.path(), "contact");
    assert_eq!(get(&token_of(&w.handler), "").0, 403);
    assert_eq!(get(&token_of(&contact), "").0, 403);
}

// ---------------------------------------------------------------------------------------------
// User agents, expiry, sign-out, a contact moved

#[test]
fn a_hostile_user_agent_is_a_bounded_plain_device_name_shown_escaped() {
    let w = world();
    let agent = format!("<script>alert('ua')</script>{}", "A".repeat(5_000));
    let mut b = phone_from(&w.relay, reqwest::blocking::Client::builder().user_agent(agent.as_str()));
    assert_eq!(sign_in_with(&mut b, &w.link_a()), 303);
    // Bytes no text holds: an escape sequence for terminals, and bytes that are no UTF-8.
    let url = w.link_a();
    let mut raw = phone(&w.relay);
    let (_, landing, _) = raw.get(&path_of(&url));
    let form = format!("csrf={}&code={}", csrf_in(&landing), code_of(&url));
    let mut request = format!(
        "POST /e/sign-in HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: evil",
        raw.cookie_header(),
        form.len()
    )
    .into_bytes();
    request.extend_from_slice(b"\x1b[2J\xff\xfe\x7f\t<b>\r\n\r\n");
    request.extend_from_slice(form.as_bytes());
    let (status, _) = zhuqi_tests::attack::raw_request(loopback(1), w.relay.addr, &request);
    assert!(status == 303 || status == 400, "{status}");

    let devices = w.storage().devices_of("contact").unwrap();
    let web: Vec<_> = devices.iter().filter(|d| d.0.starts_with("web:")).collect();
    assert!(!web.is_empty());
    for (_, name, _, _) in &web {
        assert!(name.chars().count() <= 220, "{} characters", name.chars().count());
        assert!(!name.chars().any(|c| c.is_control()), "{name:?}");
        assert!(!name.contains('\u{FFFD}') || !name.contains("\x1b"));
    }
    let mut office = Browser::new(&w.relay.url);
    office.sign_in("manager", PASSWORD);
    for path in [format!("/enterprises/{ENT_A}"), "/cadres/cadre".into()] {
        let (_, page, _) = office.get(&path);
        assert!(!page.contains("<script>alert('ua')"), "{path}");
    }
    let (_, page, _) = b.get("/e/");
    assert!(!page.contains("<script>alert('ua')"));
}

/// The relay's SQLite database, opened beside it (sessions aged by hand).
fn relay_db(w: &World) -> Option<rusqlite::Connection> {
    let path = w.tmp.path().join("relay").join("relay.db");
    path.exists().then(|| rusqlite::Connection::open(path).unwrap())
}

#[test]
fn expired_signed_out_and_moved_sessions_open_nothing() {
    let w = world();
    let pid = w.resolved_problem("用电增容");
    // Idle for 21 minutes; open for 9 hours.
    if let Some(db) = relay_db(&w) {
        let mut idle = w.session_a();
        let mut old = w.session_a();
        let csrf = csrf_in(&idle.get("/e/").1);
        let ms = zhuqi_server::now_ms();
        let hash = |b: &Browser| zhuqi_server::auth::token_hash(&b.cookies["zhuqi_e_session"]);
        db.execute(
            "UPDATE enterprise_sessions SET last_seen = ?1 WHERE id_hash = ?2",
            rusqlite::params![ms - 21 * 60_000, hash(&idle)],
        )
        .unwrap();
        let n = db
            .execute(
                "UPDATE enterprise_sessions SET created_at = ?1, expires_at = ?2 WHERE id_hash = ?3",
                rusqlite::params![ms - 9 * 3_600_000, ms - 3_600_000, hash(&old)],
            )
            .unwrap();
        assert_eq!(n, 1, "the session's row (its cookie's hash)");
        assert!(signed_out(&mut idle));
        assert!(signed_out(&mut old));
        let (status, _, location) =
            post(&idle, &format!("/e/problems/{pid}/confirm"), &format!("rating=5&csrf={csrf}"));
        assert!(status == 303 && location.as_deref() == Some("/e/") || status == 403, "{status}");
        assert_eq!(w.status_of(&pid), "resolved");
    }

    // Signed out: the cookie and its token are dead, the device revoked.
    let mut b = w.session_a();
    let cookie = b.cookies["zhuqi_e_session"].clone();
    let csrf = csrf_in(&b.get("/e/").1);
    assert_eq!(post(&b, "/e/sign-out", &format!("csrf={csrf}")).0, 303);
    let mut replay = phone(&w.relay);
    replay.cookies.insert("zhuqi_e_session".into(), cookie);
    assert!(signed_out(&mut replay));
    let (status, _, _) = post(&replay, &format!("/e/problems/{pid}/confirm"), &format!("rating=5&csrf={csrf}"));
    assert!(status == 303 || status == 403, "{status}");
    assert_eq!(w.status_of(&pid), "resolved");
    let devices = w.storage().devices_of("contact").unwrap();
    assert!(devices.iter().filter(|d| d.0.starts_with("web:")).any(|d| d.3), "the signed-out device is revoked");

    // A contact moved to another enterprise loses the first one's session, and its unused link.
    let mut live = w.session_a();
    let unused = w.link_a();
    let (dir, _) = w.storage().directory().unwrap();
    let mut moved = dir.users.iter().find(|u| u.id == "contact").unwrap().clone();
    moved.enterprise_id = Some(ENT_B.into());
    let account = w.storage().account_by_login("contact").unwrap().unwrap();
    w.storage()
        .upsert_directory(
            &zhuqi_core::domain::Directory::default(),
            &[zhuqi_server::storage::Account {
                login: "contact".into(),
                user: moved,
                password_hash: account.password_hash,
            }],
        )
        .unwrap();
    assert!(signed_out(&mut live));
    let (_, page, _) = live.get("/e/");
    assert!(!page.contains("二七纺织有限公司"));
    let mut late = phone(&w.relay);
    let status = sign_in_with(&mut late, &unused);
    let (_, page, _) = late.get("/e/");
    assert!(!page.contains("郑州精工机械有限公司") && !page.contains("用电增容"), "{status}: {page}");
    let _ = Role::EnterpriseContact;
}
