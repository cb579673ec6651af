//! A load generator: many simulated devices syncing against a relay over HTTP, each with its own
//! token, cursor and Automerge actor. Used by `zhuqi-loadgen` and the sync benchmark.

use automerge::ActorId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use zhuqi_core::document::Document;
use zhuqi_core::domain::event::Causality;
use zhuqi_core::domain::{DocKind, EnterpriseAction, Event, ProblemAction, VisitRecord};
use zhuqi_core::sync::protocol::*;

/// What each simulated device does in its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Syncs with nothing to push and (normally) nothing to pull.
    UpToDate,
    /// Pushes one new change (a progress note on one of its problems) with each sync.
    OneChange,
    /// Pushes `n` visits recorded at one of its enterprises.
    Visits(usize),
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub syncs: u64,
    pub errors: u64,
    pub seconds: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Latencies in microseconds, sorted.
    pub latencies_us: Vec<u64>,
}

impl Report {
    /// Counts one sync begun at `started`: its bytes and latency, or its error (returned).
    fn count(&mut self, started: Instant, outcome: Result<(usize, usize), String>) -> Option<String> {
        match outcome {
            Ok((sent, received)) => {
                self.syncs += 1;
                self.bytes_sent += sent as u64;
                self.bytes_received += received as u64;
                self.latencies_us.push(started.elapsed().as_micros() as u64);
                None
            }
            Err(e) => {
                self.errors += 1;
                Some(e)
            }
        }
    }

    /// Adds another worker's counts (its latencies unsorted).
    fn add(&mut self, other: Report) {
        self.syncs += other.syncs;
        self.errors += other.errors;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.latencies_us.extend(other.latencies_us);
    }

    pub fn per_second(&self) -> f64 {
        self.syncs as f64 / self.seconds
    }
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

pub struct SimDevice {
    http: reqwest::Client,
    url: String,
    token: String,
    user_id: String,
    role: zhuqi_core::domain::Role,
    device_id: String,
    actor: ActorId,
    pub cursor: u64,
    /// The version of the directory the device holds (it gets the directory when that moves).
    directory_version: u64,
    /// Documents this device writes to, with its copy of each.
    docs: Vec<(String, DocKind, Document)>,
    next: usize,
}

impl SimDevice {
    /// Signs in and pulls the device's whole scope.
    pub async fn connect(http: reqwest::Client, url: &str, login: &str, password: &str) -> Result<SimDevice, String> {
        let mut d = Self::sign_in(http, url, login, password).await?.0;
        d.pull_all(0).await?;
        Ok(d)
    }

    /// Signs in (one request); returns the device and the bytes sent and received.
    pub async fn sign_in(
        http: reqwest::Client,
        url: &str,
        login: &str,
        password: &str,
    ) -> Result<(SimDevice, usize, usize), String> {
        let body = serde_json::json!({ "login": login, "password": password, "device_name": "loadgen" }).to_string();
        let sent = body.len();
        let resp = http
            .post(format!("{url}/v1/auth/sign-in"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("sign-in: {status}: {}", String::from_utf8_lossy(&bytes)));
        }
        let s: SignInResponse = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        let d = SimDevice::with_token(http, url, s.token, s.identity.user_id, s.identity.role, s.identity.device_id);
        Ok((d, sent, bytes.len()))
    }

    /// A device already signed in (its token issued before).
    pub fn with_token(
        http: reqwest::Client,
        url: &str,
        token: String,
        user_id: String,
        role: zhuqi_core::domain::Role,
        device_id: String,
    ) -> SimDevice {
        SimDevice {
            http,
            url: url.into(),
            token,
            user_id,
            role,
            device_id,
            actor: ActorId::random(),
            cursor: 0,
            directory_version: 0,
            docs: Vec::new(),
            next: 0,
        }
    }

    /// Pulls until up to date; a cadre keeps copies of up to `keep` enterprises sent whole (to record
    /// visits to).
    /// Returns (bytes sent, bytes received, round trips).
    pub async fn pull_all(&mut self, keep: usize) -> Result<(usize, usize, usize), String> {
        let (mut sent, mut received, mut trips) = (0, 0, 0);
        loop {
            let (r, s, rcv) = self.sync(Vec::new()).await?;
            sent += s;
            received += rcv;
            trips += 1;
            for pulled in r.docs {
                if self.role == zhuqi_core::domain::Role::Cadre
                    && self.docs.len() < keep
                    && pulled.whole
                    && pulled.kind == DocKind::Enterprise
                {
                    let mut doc = Document::load(&pulled.data[0]).map_err(|e| e.to_string())?;
                    for later in &pulled.data[1..] {
                        doc.automerge_mut().load_incremental(later).map_err(|e| e.to_string())?;
                    }
                    self.docs.push((pulled.doc, DocKind::Enterprise, doc));
                }
            }
            if !r.more {
                return Ok((sent, received, trips));
            }
        }
    }

    /// Whether the device holds documents to write to.
    pub fn writes(&self) -> bool {
        !self.docs.is_empty()
    }

    /// The user this device is signed in as.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// Brings the copies this device writes to up to date with what a sync pulled (other devices'
    /// changes to them), so that what it writes next has seen them, as a phone's would.
    fn absorb(&mut self, pulled: &[PulledDoc]) {
        for p in pulled {
            if let Some((_, _, doc)) = self.docs.iter_mut().find(|(id, ..)| *id == p.doc) {
                for chunk in &p.data {
                    let _ = doc.automerge_mut().load_incremental(chunk);
                }
            }
        }
    }

    /// Keeps local copies of the given problems, to write to them.
    pub fn adopt(&mut self, docs: Vec<(String, Vec<u8>)>) {
        self.docs = docs
            .into_iter()
            .filter_map(|(id, bytes)| Some((id, DocKind::Problem, Document::load(&bytes).ok()?)))
            .collect();
    }

    /// One sync request with `push`; returns the response and the bytes sent and received.
    pub async fn sync(&mut self, push: Vec<DocChanges>) -> Result<(SyncResponse, usize, usize), String> {
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor: self.cursor,
            directory_version: self.directory_version,
            actor: self.actor.to_bytes().to_vec(),
            push,
            max_bytes: None,
        };
        let body = encode(&req);
        let sent = body.len();
        let resp = self
            .http
            .post(format!("{}/v1/sync", self.url))
            .bearer_auth(&self.token)
            .header("content-encoding", "gzip")
            .header(PROTOCOL_HEADER, "1")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
        }
        let r: SyncResponse = decode(&bytes, 64 << 20).map_err(|e| e.to_string())?;
        self.cursor = r.cursor;
        self.directory_version = r.directory_version;
        Ok((r, sent, bytes.len()))
    }

    /// A change appending `action` to the `i`-th document this device writes to.
    fn append<A: serde::Serialize + serde::de::DeserializeOwned>(
        &mut self,
        i: usize,
        action: A,
    ) -> Result<DocChanges, String> {
        let (id, kind, doc) = &mut self.docs[i];
        doc.set_actor(self.actor.clone());
        let events: Vec<Event<A>> = doc.events();
        let seen = Causality::new(&events).heads(&events);
        let event = Event {
            id: uuid::Uuid::now_v7().to_string(),
            by: self.user_id.clone(),
            role: self.role,
            device: self.device_id.clone(),
            at: zhuqi_server::now_ms(),
            seen,
            origin: None,
            action,
        };
        let change = doc.append(&event).map_err(|e| e.to_string())?;
        Ok(DocChanges { doc: id.clone(), kind: *kind, changes: vec![change.raw_bytes().to_vec()] })
    }

    /// One iteration of the scenario; returns bytes sent and received.
    pub async fn step(&mut self, scenario: Scenario) -> Result<(usize, usize), String> {
        if scenario != Scenario::UpToDate && self.docs.is_empty() {
            return Err("no document to write to".into());
        }
        let i = self.next % self.docs.len().max(1);
        self.next += 1;
        let push = match scenario {
            Scenario::UpToDate => Vec::new(),
            Scenario::OneChange => {
                vec![self.append(i, ProblemAction::Progress { note: format!("进展 {}", self.next), photos: vec![] })?]
            }
            Scenario::Visits(n) => {
                let mut changes = Vec::new();
                for k in 0..n {
                    let visit: VisitRecord = serde_json::from_value(serde_json::json!({
                        "id": uuid::Uuid::now_v7().to_string(),
                        "date": zhuqi_core::domain::text::date_of(zhuqi_server::now_ms()),
                        "people_met": ["刘总"],
                        "notes": format!("第{}次走访：了解生产经营情况", self.next * 10 + k),
                    }))
                    .map_err(|e| e.to_string())?;
                    changes.extend(self.append(i, EnterpriseAction::VisitRecorded { visit })?.changes);
                }
                vec![DocChanges { doc: self.docs[i].0.clone(), kind: DocKind::Enterprise, changes }]
            }
        };
        // What the relay leaves for a next push (over its budget for one) is sent again at once.
        let (mut push, mut sent, mut received) = (push, 0, 0);
        loop {
            let (r, s, rcv) = self.sync(push.clone()).await?;
            (sent, received) = (sent + s, received + rcv);
            self.absorb(&r.docs);
            if !r.rejected.is_empty() {
                return Err(format!("push refused: {:?}", r.rejected.first().map(|x| (&x.code, &x.message))));
            }
            let hash = |c: &Vec<u8>| automerge::Change::from_bytes(c.clone()).map(|c| c.hash().as_ref().to_vec());
            for d in &mut push {
                d.changes.retain(|c| hash(c).is_ok_and(|h| !r.acked.contains(&h)));
            }
            push.retain(|d| !d.changes.is_empty());
            if push.is_empty() {
                return Ok((sent, received));
            }
            if r.acked.is_empty() {
                return Err("push neither acknowledged nor refused".into());
            }
        }
    }
}

/// Runs `devices` for `duration`, each looping on `scenario`; returns the combined report.
pub async fn run(devices: Vec<SimDevice>, scenario: Scenario, duration: Duration) -> Report {
    let report = Arc::new(Mutex::new(Report::default()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut d in devices {
        let report = report.clone();
        tasks.push(tokio::spawn(async move {
            let mut local = Report::default();
            while start.elapsed() < duration {
                let t = Instant::now();
                if let Some(e) = local.count(t, d.step(scenario).await)
                    && local.errors == 1
                {
                    eprintln!("loadgen: {e}");
                }
            }
            report.lock().await.add(local);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut r = Arc::try_unwrap(report).map(Mutex::into_inner).unwrap_or_default();
    r.seconds = start.elapsed().as_secs_f64();
    r.latencies_us.sort_unstable();
    r
}

/// A closed loop over a pool of devices: `concurrency` workers for `duration`, each taking the next
/// device of `devices` that no other worker holds and running one iteration of `scenario(i)` on it
/// (`i` counts the iterations begun), then the next, back to back: a worker's next request leaves
/// when its last is answered, so the relay sees `concurrency` requests at once and latencies are
/// each request's own. Returns the combined report (its time runs until the last answer).
pub async fn closed_loop(
    devices: Arc<Vec<Arc<Mutex<SimDevice>>>>,
    concurrency: usize,
    duration: Duration,
    scenario: fn(usize) -> Scenario,
) -> Report {
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.clamp(1, devices.len().max(1)) {
        let (devices, next) = (devices.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Report::default();
            let mut first_error = None;
            while start.elapsed() < duration && !devices.is_empty() {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Ok(mut d) = devices[i % devices.len()].clone().try_lock_owned() else {
                    tokio::task::yield_now().await;
                    continue;
                };
                let t = Instant::now();
                if let Some(e) = local.count(t, d.step(scenario(i)).await) {
                    first_error.get_or_insert(e);
                }
            }
            (local, first_error)
        }));
    }
    let mut report = Report::default();
    let mut first_error = None;
    for t in tasks {
        let Ok((local, error)) = t.await else { continue };
        report.add(local);
        first_error = first_error.or(error);
    }
    if let Some(e) = first_error {
        eprintln!("  first error: {e}");
    }
    report.seconds = start.elapsed().as_secs_f64();
    report.latencies_us.sort_unstable();
    report
}

/// Splits documents among devices, round robin.
pub fn share<T: Clone>(docs: &[T], devices: usize) -> Vec<Vec<T>> {
    let mut out = vec![Vec::new(); devices];
    for (i, d) in docs.iter().enumerate() {
        out[i % devices].push(d.clone());
    }
    out
}
