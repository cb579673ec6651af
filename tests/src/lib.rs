//! Harness of the end-to-end tests: starts real relays (in this process, or as the real binary) on
//! 127.0.0.1 with their SQLite files in a temporary directory, seeds a small province, and signs
//! devices in — each a real `zhuqi_core::Store` on its own SQLite file, syncing over HTTP.

pub mod attack;
pub mod browser;
pub mod campaign;
pub mod ledger;
pub mod load;
pub mod pg;
pub mod photo;
pub mod province;
pub mod proxy;
pub mod s3;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zhuqi_core::domain::{Department, Directory, Region, RegionLevel, Role, User};
use zhuqi_core::store::Store;
use zhuqi_core::sync::SyncClient;
use zhuqi_server::storage::sqlite::SqliteStorage;
use zhuqi_server::storage::{Account, RelayStorage};
use zhuqi_server::{AppState, Config};

pub const PASSWORD: &str = "correct horse battery";
pub const PROVINCE: &str = "410000";
pub const CITY: &str = "410100";
pub const COUNTY: &str = "410102";
pub const OTHER_COUNTY: &str = "410103";
pub const FINANCE: &str = "dept-finance";
pub const HR: &str = "dept-hr";
pub const OTHER_DEPT: &str = "dept-other-finance";
pub const DAY: i64 = 86_400_000;

/// A relay running in this process on its own runtime thread.
pub struct Relay {
    pub url: String,
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<()>,
    /// The PostgreSQL schema of a relay started with `ZHUQI_TEST_STORAGE=postgres`.
    database: Option<pg::TestDatabase>,
}

impl Relay {
    /// Starts a relay on `127.0.0.1:0` with its database in `data_dir` — or, when the environment
    /// says `ZHUQI_TEST_STORAGE=postgres`, in a PostgreSQL schema of its own (to run every end-to-end
    /// test on that store too).
    pub fn start(data_dir: &Path) -> Relay {
        Self::start_configured(data_dir, Config::default(), zhuqi_server::http::net::NetConfig::default())
    }

    /// `start`, with the given settings and network edge.
    pub fn start_configured(data_dir: &Path, config: Config, net: zhuqi_server::http::net::NetConfig) -> Relay {
        // Photos in the data directory, whichever database the relay uses.
        let fs = || Arc::new(zhuqi_server::blobs::FsBlobStore::new(&data_dir.join("blobs"))) as Arc<_>;
        let config = Config { blobs: config.blobs.or_else(|| Some(fs())), ..config };
        if std::env::var("ZHUQI_TEST_STORAGE").is_ok_and(|v| v == "postgres") {
            let db = pg::TestDatabase::create();
            let mut relay = Self::start_on(db.open(), config, net);
            relay.database = Some(db);
            return relay;
        }
        let storage = Arc::new(SqliteStorage::open(data_dir).expect("open relay storage"));
        Self::start_on(storage, config, net)
    }

    pub fn start_with(storage: Arc<dyn RelayStorage>) -> Relay {
        Self::start_with_config(storage, Config::default())
    }

    pub fn start_with_config(storage: Arc<dyn RelayStorage>, config: Config) -> Relay {
        Self::start_on(storage, config, zhuqi_server::http::net::NetConfig::default())
    }

    /// Starts a relay with the given settings and network edge.
    pub fn start_on(storage: Arc<dyn RelayStorage>, config: Config, net: zhuqi_server::http::net::NetConfig) -> Relay {
        let state = AppState::new(storage, config);
        let tls = net.tls.is_some();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app_state = state.clone();
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("relay")
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = zhuqi_server::http::net::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let st = app_state.clone();
                let refused = move || {
                    st.metrics.connections_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                };
                let shutdown = async {
                    let _ = stopped.await;
                };
                zhuqi_server::http::net::serve(listener, zhuqi_server::app(app_state), net, refused, shutdown)
                    .await
                    .unwrap();
            });
            let _ = done_tx.send(());
        });
        let addr = rx.recv().unwrap();
        let scheme = if tls { "https" } else { "http" };
        Relay { url: format!("{scheme}://{addr}"), addr, state, shutdown: Some(stop), done, database: None }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        // Graceful shutdown waits for open connections (a live event stream may stay open until
        // its next keep-alive): give it a moment, then leave the thread to end with the process.
        let _ = self.done.recv_timeout(std::time::Duration::from_secs(2));
    }
}

fn user(id: &str, name: &str, role: Role, region: Option<&str>, dept: Option<&str>, ent: Option<&str>) -> User {
    User {
        id: id.into(),
        name: name.into(),
        role,
        region_id: region.map(Into::into),
        department_id: dept.map(Into::into),
        enterprise_id: ent.map(Into::into),
        mobile: None,
        position: None,
        unit: None,
    }
}

/// Enterprise ids of the seeded province: one in 中原区, one in 二七区.
pub const ENT_A: &str = "ent-a";
pub const ENT_B: &str = "ent-b";

/// Seeds the directory: Henan → Zhengzhou → two districts; departments; one account per role (logins
/// equal to user ids), all with password [`PASSWORD`].
pub fn seed_directory(storage: &dyn RelayStorage) {
    let region = |id: &str, name: &str, level, parent: Option<&str>| Region {
        id: id.into(),
        name: name.into(),
        level,
        parent_id: parent.map(Into::into),
    };
    let directory = Directory {
        regions: vec![
            region(PROVINCE, "河南省", RegionLevel::Province, None),
            region(CITY, "郑州市", RegionLevel::City, Some(PROVINCE)),
            region(COUNTY, "中原区", RegionLevel::County, Some(CITY)),
            region(OTHER_COUNTY, "二七区", RegionLevel::County, Some(CITY)),
        ],
        departments: vec![
            Department { id: FINANCE.into(), name: "中原区财政局".into(), region_id: COUNTY.into() },
            Department { id: HR.into(), name: "中原区人社局".into(), region_id: COUNTY.into() },
            Department { id: OTHER_DEPT.into(), name: "二七区财政局".into(), region_id: OTHER_COUNTY.into() },
        ],
        users: vec![],
        ..Default::default()
    };
    let users = vec![
        user("cadre", "王干部", Role::Cadre, Some(COUNTY), None, None),
        user("cadre-b", "李干部", Role::Cadre, Some(OTHER_COUNTY), None, None),
        user("cadre-c", "赵干部", Role::Cadre, Some(OTHER_COUNTY), None, None),
        user("manager", "中原区活动办", Role::Manager, Some(COUNTY), None, None),
        user("manager-b", "二七区活动办", Role::Manager, Some(OTHER_COUNTY), None, None),
        user("city", "郑州市活动办", Role::Manager, Some(CITY), None, None),
        user("handler", "财政局经办人", Role::DepartmentHandler, None, Some(FINANCE), None),
        user("handler-hr", "人社局经办人", Role::DepartmentHandler, None, Some(HR), None),
        user("handler-b", "二七区财政局经办人", Role::DepartmentHandler, None, Some(OTHER_DEPT), None),
        user("contact", "企业刘总", Role::EnterpriseContact, None, None, Some(ENT_A)),
        user("contact-b", "企业赵总", Role::EnterpriseContact, None, None, Some(ENT_B)),
    ];
    let hash = zhuqi_server::auth::hash_password(PASSWORD);
    let accounts: Vec<Account> = users
        .into_iter()
        .map(|u| Account { login: u.id.clone(), user: u, password_hash: Some(hash.clone()) })
        .collect();
    storage.upsert_directory(&directory, &accounts).expect("seed directory");
}

/// Adds `n` cadres of the first county (`cadre-0`, `cadre-1`, …; password [`PASSWORD`]) to a
/// directory [`seed_directory`] wrote; returns their ids.
pub fn seed_more_cadres(storage: &dyn RelayStorage, n: usize) -> Vec<String> {
    let hash = zhuqi_server::auth::hash_password(PASSWORD);
    let ids: Vec<String> = (0..n).map(|i| format!("cadre-{i}")).collect();
    let accounts: Vec<Account> = ids
        .iter()
        .map(|id| Account {
            login: id.clone(),
            user: user(id, &format!("干部{id}"), Role::Cadre, Some(COUNTY), None, None),
            password_hash: Some(hash.clone()),
        })
        .collect();
    storage.upsert_directory(&Directory::default(), &accounts).expect("more cadres");
    ids
}

/// A phone: a device store and a client of one relay.
pub struct Device {
    pub store: Store,
    pub client: SyncClient,
    pub path: PathBuf,
}

impl Device {
    /// Signs `login` in on a new device whose store lives in `dir`.
    pub fn sign_in(relay_url: &str, dir: &Path, login: &str) -> Device {
        let client = SyncClient::new(relay_url).unwrap().with_retries(3, std::time::Duration::from_millis(50));
        let resp = client.sign_in(login, PASSWORD, &format!("{login}的手机")).expect("sign in");
        Self::open(client, dir, resp)
    }

    pub fn open(client: SyncClient, dir: &Path, resp: zhuqi_core::sync::protocol::SignInResponse) -> Device {
        let path = dir.join(format!(
            "{}-{}.db",
            resp.identity.user_id,
            &resp.identity.device_id[..8.min(resp.identity.device_id.len())]
        ));
        let path = if path.exists() {
            dir.join(format!("{}-{}.db", resp.identity.user_id, uuid::Uuid::new_v4()))
        } else {
            path
        };
        let store = Store::open(&path, resp.identity).unwrap();
        store.set_session_token(&resp.token).unwrap();
        Device { store, client, path }
    }

    pub fn sync(&self) -> zhuqi_core::sync::SyncReport {
        self.client.sync_now(&self.store).expect("sync")
    }
}

/// Registers enterprises A (中原区, cadre assigned as chief) and B (二七区, cadre-b assigned) from
/// the two county offices' devices, and syncs them.
pub fn seed_enterprises(relay_url: &str, dir: &Path) {
    use zhuqi_core::domain::{Profile, uscc};
    let profile = |name: &str, region: &str, first17: &str| Profile {
        name: name.into(),
        uscc: uscc::complete(first17).unwrap(),
        region_id: region.into(),
        industry: "装备制造".into(),
        tags: vec!["srdi".into()],
        address: "郑州市".into(),
        location: None,
        contacts: vec![],
        scale: Default::default(),
    };
    for (login, id, name, region, code, cadre) in [
        ("manager", ENT_A, "郑州精工机械有限公司", COUNTY, "91410102MA44XY8K1", "cadre"),
        ("manager-b", ENT_B, "二七纺织有限公司", OTHER_COUNTY, "91410103MA55AB3C7", "cadre-b"),
    ] {
        let d = Device::sign_in(relay_url, dir, login);
        d.sync();
        d.store.register_enterprise_with_id(id, profile(name, region, code)).unwrap();
        d.store.assign_cadre(id, cadre, true).unwrap();
        let r = d.sync();
        assert_eq!(r.rejected, 0);
        assert_eq!(r.pushed, 2);
    }
}

/// A hand-built client that skips the core's own checks: it writes Automerge changes directly and
/// speaks the wire protocol itself, as a modified app could.
pub struct RawClient {
    pub url: String,
    pub token: String,
    pub user_id: String,
    pub role: Role,
    pub device_id: String,
    pub actor: automerge::ActorId,
    http: reqwest::blocking::Client,
}

impl RawClient {
    pub fn sign_in(url: &str, login: &str) -> RawClient {
        let client = SyncClient::new(url).unwrap();
        let r = client.sign_in(login, PASSWORD, "改装客户端").unwrap();
        RawClient {
            url: url.into(),
            token: r.token,
            user_id: r.identity.user_id,
            role: r.identity.role,
            device_id: r.identity.device_id,
            actor: automerge::ActorId::random(),
            http: reqwest::blocking::Client::new(),
        }
    }

    /// An event as this user on this device.
    pub fn event<A>(&self, action: A, seen: Vec<String>) -> zhuqi_core::domain::Event<A> {
        zhuqi_core::domain::Event {
            id: uuid::Uuid::now_v7().to_string(),
            by: self.user_id.clone(),
            role: self.role,
            device: self.device_id.clone(),
            at: zhuqi_server::now_ms(),
            seen,
            origin: None,
            action,
        }
    }

    /// A change appending `action` to the document saved as `snapshot`.
    pub fn append<A: serde::Serialize + serde::de::DeserializeOwned>(&self, snapshot: &[u8], action: A) -> Vec<u8> {
        let mut doc = zhuqi_core::document::Document::load(snapshot).unwrap();
        doc.set_actor(self.actor.clone());
        let events: Vec<zhuqi_core::domain::Event<A>> = doc.events();
        let seen = zhuqi_core::domain::event::Causality::new(&events).heads(&events);
        doc.append(&self.event(action, seen)).unwrap().raw_bytes().to_vec()
    }

    /// Writes as a new actor id from now on, bound to this device by an empty push.
    pub fn bind_new_actor(&mut self) {
        self.actor = automerge::ActorId::random();
        self.push_docs(vec![]);
    }

    /// Sends raw bytes to `/v1/sync` with the given headers; returns status and body.
    pub fn post(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
        self.try_post(body, headers).unwrap()
    }

    /// `post`, or the transport's error: a relay refusing a body by its declared length answers and
    /// closes at once, and a client still sending may see the connection reset instead of the answer.
    pub fn try_post(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> Result<(u16, Vec<u8>), reqwest::Error> {
        let mut req = self.http.post(format!("{}/v1/sync", self.url)).bearer_auth(&self.token).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send()?;
        Ok((resp.status().as_u16(), resp.bytes()?.to_vec()))
    }

    /// Pushes changes of one document; returns the relay's answer.
    pub fn push(
        &self,
        doc: &str,
        kind: zhuqi_core::domain::DocKind,
        changes: Vec<Vec<u8>>,
    ) -> zhuqi_core::sync::protocol::SyncResponse {
        self.push_docs(vec![zhuqi_core::sync::protocol::DocChanges { doc: doc.into(), kind, changes }])
    }

    /// Pushes changes of several documents in one request; returns the relay's answer.
    pub fn push_docs(
        &self,
        docs: Vec<zhuqi_core::sync::protocol::DocChanges>,
    ) -> zhuqi_core::sync::protocol::SyncResponse {
        match self.try_push_docs(docs) {
            Ok(r) => r,
            Err((status, body)) => panic!("{status}: {}", String::from_utf8_lossy(&body)),
        }
    }

    /// `push_docs`, or the status and body of an answer other than 200.
    pub fn try_push_docs(
        &self,
        docs: Vec<zhuqi_core::sync::protocol::DocChanges>,
    ) -> Result<zhuqi_core::sync::protocol::SyncResponse, (u16, Vec<u8>)> {
        use zhuqi_core::sync::protocol::*;
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor: u64::MAX / 2,
            directory_version: u64::MAX,
            actor: self.actor.to_bytes().to_vec(),
            push: docs,
            max_bytes: None,
        };
        let (status, body) = self.post(encode(&req), &[("content-encoding", "gzip"), (PROTOCOL_HEADER, "1")]);
        if status != 200 {
            return Err((status, body));
        }
        Ok(decode(&body, 64 << 20).unwrap())
    }
}

/// A visit recorded today, with a fresh id, as a hand-built client writes it into an enterprise.
pub fn visit_recorded(notes: &str) -> zhuqi_core::domain::EnterpriseAction {
    let visit = zhuqi_core::domain::VisitRecord {
        id: uuid::Uuid::now_v7().to_string(),
        date: zhuqi_core::domain::text::date_of(zhuqi_server::now_ms()),
        people_met: vec!["刘总".into()],
        notes: notes.into(),
        policies: vec![],
        policy_ids: vec![],
        location: None,
        photos: vec![],
    };
    zhuqi_core::domain::EnterpriseAction::VisitRecorded { visit }
}

/// The relay's current copy of a document (what an attacker who guessed everything would hold).
pub fn relay_snapshot(relay: &Relay, id: &str) -> Vec<u8> {
    relay.state.document_bytes(id).unwrap().expect("document on the relay")
}

/// A document as a hand-built client holds it: its Automerge copy and, after each change it holds,
/// the Automerge heads and the heads of its events, so changes can be written at the latest state
/// or at an earlier one (concurrent with what came after).
pub struct HeldDoc {
    pub id: String,
    pub doc: automerge::Automerge,
    history: Vec<(Vec<automerge::ChangeHash>, Vec<String>)>,
}

impl HeldDoc {
    /// The relay's copy of `id`, written on as `raw`.
    pub fn open(relay: &Relay, id: &str, raw: &RawClient) -> HeldDoc {
        let doc = automerge::Automerge::load(&relay_snapshot(relay, id)).unwrap().with_actor(raw.actor.clone());
        let events: Vec<zhuqi_core::domain::Event<serde::de::IgnoredAny>> =
            zhuqi_core::document::parse_events(&zhuqi_core::document::raw_events_of(&doc));
        let heads = zhuqi_core::domain::event::Causality::new(&events).heads(&events);
        HeldDoc { id: id.into(), history: vec![(doc.get_heads(), heads)], doc }
    }

    /// Events held.
    pub fn len(&self) -> usize {
        zhuqi_core::document::event_count(&self.doc)
    }

    /// A change of one event per action, written at the state `back` changes ago (0: the latest),
    /// the first event having seen that state's heads and each next one the event before it;
    /// applied to this copy (and written on later) only when `keep`. An actor's changes to a
    /// document are numbered one after another, so one written at an earlier state (or beside one
    /// not kept) must come from an actor with no change after that state: see `RawClient::bind_new_actor`.
    pub fn change<A: serde::Serialize>(
        &mut self,
        raw: &RawClient,
        actions: Vec<A>,
        back: usize,
        keep: bool,
    ) -> Vec<u8> {
        use automerge::ReadDoc;
        use automerge::transaction::Transactable;
        let (heads, seen_then) = self.history[self.history.len() - 1 - back].clone();
        let mut fork;
        let doc = if back == 0 && keep {
            &mut self.doc
        } else {
            fork = if back == 0 { self.doc.clone() } else { self.doc.fork_at(&heads).unwrap() };
            &mut fork
        };
        doc.set_actor(raw.actor.clone());
        let (_, list) = doc.get(automerge::ROOT, "events").unwrap().unwrap();
        let mut tx = doc.transaction();
        let mut seen = seen_then.clone();
        for action in actions {
            let event = raw.event(action, seen);
            seen = vec![event.id.clone()];
            let at = tx.length(&list);
            tx.insert(&list, at, zhuqi_core::document::encode(&event).unwrap().as_str()).unwrap();
        }
        tx.commit();
        let change = doc.get_last_local_change().unwrap().clone();
        if keep {
            if back > 0 {
                self.doc.apply_changes([change.clone()]).unwrap();
            }
            // The heads now: those of before that the change had not seen, and its last event.
            let (_, now) = self.history.last().unwrap();
            let mut heads: Vec<String> = now.iter().filter(|h| !seen_then.contains(h)).cloned().collect();
            heads.extend(seen);
            self.history.push((self.doc.get_heads(), heads));
        }
        change.raw_bytes().to_vec()
    }

    /// Changes held, besides the state the copy was opened at.
    pub fn changes_written(&self) -> usize {
        self.history.len() - 1
    }
}

/// A certificate authority made for a test, and a relay certificate it signed.
pub struct TestCa {
    /// The CA's certificate (PEM): what a client trusts.
    pub ca_pem: String,
    /// The relay's certificate chain (PEM) and key (PEM).
    pub chain_pem: String,
    pub key_pem: String,
}

impl TestCa {
    /// A new CA, and a relay certificate from it for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "zhuqi test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        TestCa { ca_pem: ca_cert.pem(), chain_pem: cert.pem(), key_pem: key.serialize_pem() }
    }

    /// The relay's side, for `NetConfig::tls`.
    pub fn relay_tls(&self) -> zhuqi_server::http::net::Tls {
        zhuqi_server::http::net::Tls::from_pem(self.chain_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }
}
