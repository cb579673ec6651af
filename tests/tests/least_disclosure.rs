//! Least disclosure through a real relay: an enterprise contact receives only the people who deal
//! with its enterprise, a cadre only the contacts of the enterprises assigned to it, and a device
//! signed out, revoked or expired stops hearing of changes on its open event stream.

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zhuqi_core::domain::{Directory, Profile, Role, User, uscc};
use zhuqi_core::store::{NewProblem, NewVisit};
use zhuqi_core::sync::protocol::*;
use zhuqi_server::storage::{Account, NewDevice};
use zhuqi_server::sync::events::SESSION_CHECK;
use zhuqi_tests::*;

/// A third enterprise, in the same county as A, with a contact and a cadre of its own.
const ENT_C: &str = "ent-c";

fn user(id: &str, name: &str, role: Role, region: Option<&str>, ent: Option<&str>) -> User {
    User {
        id: id.into(),
        name: name.into(),
        role,
        region_id: region.map(Into::into),
        department_id: None,
        enterprise_id: ent.map(Into::into),
        mobile: None,
        position: None,
        unit: None,
    }
}

/// The seeded province, plus enterprise C in 中原区 (contact `contact-c`, cadre `cadre-d` assigned).
fn province(tmp: &std::path::Path) -> Relay {
    let relay = Relay::start(&tmp.join("relay"));
    let storage = relay.state.storage.as_ref();
    seed_directory(storage);
    let hash = zhuqi_server::auth::hash_password(PASSWORD);
    let more = [
        user("contact-c", "企业孙总", Role::EnterpriseContact, None, Some(ENT_C)),
        user("cadre-d", "周干部", Role::Cadre, Some(COUNTY), None),
    ];
    let accounts: Vec<Account> = more
        .iter()
        .map(|u| Account { login: u.id.clone(), user: u.clone(), password_hash: Some(hash.clone()) })
        .collect();
    storage.upsert_directory(&Directory::default(), &accounts).unwrap();
    seed_enterprises(&relay.url, tmp);
    let manager = Device::sign_in(&relay.url, tmp, "manager");
    manager.sync();
    let profile = Profile {
        name: "中原食品有限公司".into(),
        uscc: uscc::complete("91410102MA77QW2P3").unwrap(),
        region_id: COUNTY.into(),
        industry: "食品".into(),
        tags: vec![],
        address: "郑州市中原区".into(),
        location: None,
        contacts: vec![],
        scale: Default::default(),
    };
    manager.store.register_enterprise_with_id(ENT_C, profile).unwrap();
    manager.store.assign_cadre(ENT_C, "cadre-d", true).unwrap();
    assert_eq!(manager.sync().rejected, 0);
    relay
}

/// What a device has: its cursor and the directory version it was given.
#[derive(Default, Clone, Copy)]
struct Seen {
    cursor: u64,
    directory_version: u64,
}

/// One sync without pushes; returns the directory's user ids, if a directory came, and what to
/// send next time.
fn sync(raw: &RawClient, seen: Seen) -> (Option<Vec<String>>, Seen) {
    let req = SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor: seen.cursor,
        directory_version: seen.directory_version,
        actor: vec![],
        push: vec![],
        max_bytes: None,
    };
    let (status, body) = raw.post(encode(&req), &[("content-encoding", "gzip"), (PROTOCOL_HEADER, "1")]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let r: SyncResponse = decode(&body, 64 << 20).unwrap();
    assert!(!r.more);
    let users = r.directory.map(|d| {
        let mut ids: Vec<String> = d.users.into_iter().map(|u| u.id).collect();
        ids.sort();
        ids
    });
    (users, Seen { cursor: r.cursor, directory_version: r.directory_version })
}

fn first_sync(relay: &Relay, login: &str) -> (RawClient, Vec<String>, Seen) {
    let raw = RawClient::sign_in(&relay.url, login);
    let (users, seen) = sync(&raw, Seen::default());
    (raw, users.expect("a first sync receives the directory"), seen)
}

#[test]
fn an_enterprise_receives_only_the_people_it_deals_with() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = province(tmp.path());
    let everybody = relay.state.directory.get(relay.state.storage.as_ref()).unwrap().users.len();
    assert_eq!(everybody, 13);

    // The contact of A: itself, A's cadre, and the offices and departments of its county and city.
    // Not C's contact or cadre (same county), nor B's (the next county).
    let (contact, users, contact_seen) = first_sync(&relay, "contact");
    assert_eq!(users, ["cadre", "city", "contact", "handler", "handler-hr", "manager"]);
    // Up to date, it receives nothing more.
    let (again, contact_seen) = sync(&contact, contact_seen);
    assert_eq!(again, None);

    // The contact of C, before C gets a second cadre.
    let (contact_c, users, contact_c_seen) = first_sync(&relay, "contact-c");
    assert_eq!(users, ["cadre-d", "city", "contact-c", "handler", "handler-hr", "manager"]);

    // The cadre of A: its county's colleagues and officials, and A's contact only (not C's, though
    // C is in its county; not B's).
    let (cadre, users, cadre_seen) = first_sync(&relay, "cadre");
    assert_eq!(users, ["cadre", "cadre-d", "city", "contact", "handler", "handler-hr", "manager"]);

    // Managers keep seeing their whole county.
    let (_, users, _) = first_sync(&relay, "manager");
    for u in ["contact", "contact-c", "cadre", "cadre-d", "handler", "city"] {
        assert!(users.contains(&u.to_string()), "{u} missing from {users:?}");
    }
    assert!(!users.contains(&"contact-b".to_string()));

    // C is assigned to the cadre of A too: the directory has not changed, but the cadre's and C's
    // contact's circles have, and each receives its view again; A's contact does not.
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    manager.sync();
    manager.store.assign_cadre(ENT_C, "cadre", false).unwrap();
    assert_eq!(manager.sync().rejected, 0);
    let (users, _) = sync(&cadre, cadre_seen);
    assert_eq!(
        users.expect("the cadre's circle grew"),
        ["cadre", "cadre-d", "city", "contact", "contact-c", "handler", "handler-hr", "manager"]
    );
    let (users, contact_c_seen) = sync(&contact_c, contact_c_seen);
    assert_eq!(
        users.expect("C has a new cadre"),
        ["cadre", "cadre-d", "city", "contact-c", "handler", "handler-hr", "manager"]
    );
    let (again, _) = sync(&contact_c, contact_c_seen);
    assert_eq!(again, None);
    let (again, _) = sync(&contact, contact_seen);
    assert_eq!(again, None, "A's circle did not change");
}

#[test]
fn the_contacts_app_still_names_who_handles_its_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = province(tmp.path());
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    cadre.sync();
    let visit = cadre
        .store
        .record_visit(
            ENT_A,
            NewVisit {
                date: zhuqi_core::domain::text::date_of(zhuqi_server::now_ms()),
                people_met: vec!["刘总".into()],
                notes: "了解用工需求".into(),
                policies: vec![],
                policy_ids: vec![],
                location: None,
                photos: vec![],
            },
        )
        .unwrap();
    let pid = cadre
        .store
        .report_problem(NewProblem {
            enterprise_id: ENT_A.into(),
            category: zhuqi_core::domain::Category::Financing,
            title: "流动资金贷款".into(),
            description: "需要贷款".into(),
            visit_id: Some(visit),
            photos: vec![],
        })
        .unwrap();
    assert_eq!(cadre.sync().rejected, 0);
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    manager.sync();
    manager.store.route_problem(&pid, FINANCE, 2, zhuqi_server::now_ms() + 7 * DAY, "请财政局办理").unwrap();
    assert_eq!(manager.sync().rejected, 0);
    let handler = Device::sign_in(&relay.url, tmp.path(), "handler");
    handler.sync();
    handler.store.add_progress(&pid, "已对接银行").unwrap();
    assert_eq!(handler.sync().rejected, 0);

    let contact = Device::sign_in(&relay.url, tmp.path(), "contact");
    contact.sync();
    let problem = contact.store.problem(&pid).unwrap();
    let names: Vec<Option<String>> = problem.timeline.iter().map(|t| t.by_name.clone()).collect();
    assert_eq!(names, [Some("王干部".to_string()), Some("中原区活动办".to_string()), Some("财政局经办人".to_string())]);
    let ent = contact.store.enterprise(ENT_A).unwrap();
    assert_eq!(ent.assignments[0].cadre.as_ref().map(|c| c.name.as_str()), Some("王干部"));
    assert_eq!(ent.visits[0].cadre_name.as_deref(), Some("王干部"));
}

/// Opens `/v1/events` with `token`; returns a receiver that gets the moment the stream ends.
fn listen(relay: &Relay, token: &str) -> mpsc::Receiver<Instant> {
    let resp = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(format!("{}/v1/events?cursor=0", relay.url))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut resp = resp;
        let mut buf = [0u8; 1024];
        while matches!(resp.read(&mut buf), Ok(n) if n > 0) {}
        let _ = tx.send(Instant::now());
    });
    rx
}

fn sign_in(relay: &Relay, login: &str) -> SignInResponse {
    zhuqi_core::sync::SyncClient::new(&relay.url).unwrap().sign_in(login, PASSWORD, "手机").unwrap()
}

#[test]
fn event_streams_end_when_their_device_is_signed_out_revoked_or_expired() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let storage = relay.state.storage.as_ref();
    seed_directory(storage);
    let honest = sign_in(&relay, "cadre");
    let signing_out = sign_in(&relay, "cadre");
    let revoked = sign_in(&relay, "manager");
    // A device whose token expires two seconds from now.
    let expiring_token = "a-token-that-expires-in-two-seconds";
    let now = zhuqi_server::now_ms();
    storage
        .create_device(&NewDevice {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: "handler".into(),
            name: "快过期的手机".into(),
            token_hash: zhuqi_server::auth::token_hash(expiring_token),
            created_at: now,
            expires_at: now + 2_000,
        })
        .unwrap();

    let opened = Instant::now();
    let honest_stream = listen(&relay, &honest.token);
    let signed_out_stream = listen(&relay, &signing_out.token);
    let revoked_stream = listen(&relay, &revoked.token);
    let expired_stream = listen(&relay, expiring_token);

    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/v1/auth/sign-out", relay.url))
        .bearer_auth(&signing_out.token)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(storage.revoke_device(&revoked.identity.device_id).unwrap(), "the administrator revokes a device");

    let deadline = opened + SESSION_CHECK + Duration::from_secs(4);
    for (name, stream) in
        [("signed out", &signed_out_stream), ("revoked", &revoked_stream), ("expired", &expired_stream)]
    {
        let ended = stream
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the {name} device's stream is still open after {:?}", opened.elapsed()));
        assert!(ended.duration_since(opened) >= Duration::from_secs(1), "{name}: ended at once");
    }
    assert!(
        matches!(honest_stream.try_recv(), Err(mpsc::TryRecvError::Empty)),
        "a signed-in device's stream stays open"
    );
    // The ended devices cannot listen again.
    for token in [&signing_out.token, &revoked.token] {
        let resp =
            reqwest::blocking::Client::new().get(format!("{}/v1/events", relay.url)).bearer_auth(token).send().unwrap();
        assert_eq!(resp.status().as_u16(), 401);
    }
}
