//! The device's sync client: signs in, and runs `sync_now` — one `POST /v1/sync` that pushes every
//! unacknowledged change and pulls what changed in the user's scope, repeated only while the relay
//! says more is waiting. Network failures and relay errors 5xx are retried with exponential backoff.

use super::protocol::*;
use crate::error::{Error, Result};
use crate::store::{PhotoSize, PhotoUpload, Store};
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What [`SyncClient::upload_photos`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhotoReport {
    /// Photos the relay now holds whole.
    pub uploaded: u32,
    /// Photos the relay refused (marked failed, with the reason).
    pub failed: u32,
    /// Photo bytes sent.
    pub bytes_sent: u64,
    /// Photos held back: the phone is on a metered network and the user keeps photos off it.
    pub held: u32,
}

/// Marks a photo failed with `reason` (the relay holding `received` bytes), counts it and tells the
/// listener.
fn failed(
    store: &Store,
    photo: &PhotoUpload,
    received: u64,
    reason: &str,
    report: &mut PhotoReport,
    progress: &mut dyn FnMut(&PhotoUpload),
) -> Result<()> {
    store.set_photo_upload(&photo.sha256, "failed", received, Some(reason))?;
    report.failed += 1;
    progress(&PhotoUpload { state: "failed".into(), uploaded: received, reason: Some(reason.into()), ..photo.clone() });
    Ok(())
}

/// What one `sync_now` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Local changes the relay acknowledged.
    pub pushed: u32,
    /// Documents updated or added from the relay.
    pub pulled: u32,
    /// Documents whose local changes the relay refused (now in the quarantine).
    pub rejected: u32,
    /// Documents deleted because they left the user's scope.
    pub purged: u32,
    /// Request and response bodies on the wire (compressed), summed over round trips.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub round_trips: u32,
}

impl SyncReport {
    /// Whether the sync brought anything new to show.
    pub fn changed_anything(&self) -> bool {
        self.pulled > 0 || self.rejected > 0 || self.purged > 0
    }
}

/// Most bytes of changes pushed in one request; the rest go in the following round trips.
const PUSH_BUDGET: usize = 4 << 20;

pub struct SyncClient {
    base: String,
    http: reqwest::blocking::Client,
    settings: HttpSettings,
    attempts: u32,
    backoff: Duration,
    /// Set to stop what this client is doing at its next step (see [`SyncClient::with_cancel`]).
    cancel: Arc<AtomicBool>,
}

/// How long a request may take by default: to connect, and whole.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl SyncClient {
    /// A client of the relay at `base_url` (e.g. `https://zhuqi.example.gov.cn`).
    pub fn new(base_url: &str) -> Result<SyncClient> {
        let settings = HttpSettings::default();
        Ok(SyncClient {
            base: base_url.trim_end_matches('/').to_owned(),
            http: settings.client()?,
            settings,
            attempts: 4,
            backoff: Duration::from_millis(250),
            cancel: Arc::default(),
        })
    }

    /// Sets how long connecting and a whole request may take (a background task the system ends
    /// after 30 s wants shorter than the defaults, 10 s and 60 s).
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Result<Self> {
        (self.settings.connect, self.settings.request) = (connect, request);
        self.http = self.settings.client()?;
        Ok(self)
    }

    /// Sets whom the client trusts: the certificate authorities `extra_roots` (PEM, e.g. a
    /// government CA the relay's certificate comes from) besides the public ones it knows, and
    /// whether plain `http://` is allowed (development only: without it a relay address that is
    /// not `https://`, or a redirect to one, is refused as [`Error::Tls`]).
    pub fn with_trust(mut self, extra_roots: &[String], allow_http: bool) -> Result<Self> {
        self.base = self.base.trim().to_owned();
        if !allow_http && !self.base.to_ascii_lowercase().starts_with("https://") {
            return Err(Error::Tls(format!("the relay address must start with https:// (got {})", self.base)));
        }
        self.settings.extra_roots = extra_roots.to_vec();
        self.settings.https_only = !allow_http;
        self.http = self.settings.client()?;
        Ok(self)
    }

    /// Stops this client's work when `cancel` is set: no request starts and no retry waits after
    /// that (a request under way ends at its timeout); the call returns [`Error::Cancelled`].
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = cancel;
        self
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Sets how many times a request is tried and the first wait between tries (doubled each time).
    pub fn with_retries(mut self, attempts: u32, first_backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.backoff = first_backoff;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Signs in with a login and password; registers this device.
    pub fn sign_in(&self, login: &str, password: &str, device_name: &str) -> Result<SignInResponse> {
        let body = SignInRequest { login: login.into(), password: password.into(), device_name: device_name.into() };
        self.post_json("/v1/auth/sign-in", None, &body)
    }

    /// Activates an enterprise contact's phone with a one-time code.
    pub fn activate(&self, code: &str, device_name: &str) -> Result<SignInResponse> {
        self.post_json(
            "/v1/auth/activate",
            None,
            &ActivateRequest { code: code.into(), device_name: device_name.into() },
        )
    }

    /// Issues a one-time activation code for an enterprise contact (cadre of the enterprise or manager).
    pub fn issue_activation_code(
        &self,
        token: &str,
        enterprise_id: &str,
        contact_user_id: &str,
    ) -> Result<ActivationCodeResponse> {
        let body =
            ActivationCodeRequest { enterprise_id: enterprise_id.into(), contact_user_id: contact_user_id.into() };
        self.post_json("/v1/activation-codes", Some(token), &body)
    }

    /// Asks the relay for a one-time web sign-in link for a contact of an enterprise the caller
    /// serves (a cadre assigned to it, or its campaign office): the code, the URL to open or to draw
    /// as a QR code, and when it expires. `contact_name` (and `contact_mobile`) create the contact
    /// when the enterprise has none yet.
    pub fn issue_web_link(&self, token: &str, request: &WebLinkRequest) -> Result<WebLinkResponse> {
        self.post_json("/v1/web-links", Some(token), request)
    }

    /// The reach of the caller's enterprises (`GET /v1/reach`): a cadre's assigned ones, or the
    /// campaign office's never reached.
    pub fn enterprise_reach(&self, token: &str) -> Result<ReachResponse> {
        let resp = self.with_retry(|| self.http.get(format!("{}/v1/reach", self.base)).bearer_auth(token).send())?;
        serde_json::from_slice(&resp).map_err(|e| Error::Network(format!("unexpected response: {e}")))
    }

    /// Revokes this device's session on the relay.
    pub fn sign_out(&self, token: &str) -> Result<()> {
        let _: serde_json::Value = self.post_json("/v1/auth/sign-out", Some(token), &serde_json::json!({}))?;
        Ok(())
    }

    fn post_json<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<R> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Corrupt(e.to_string()))?;
        let resp = self.with_retry(|| {
            let mut req = self
                .http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(bytes.clone());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req.send()
        })?;
        serde_json::from_slice(&resp).map_err(|e| Error::Network(format!("unexpected response: {e}")))
    }

    /// Sends a request, retrying network failures and 5xx; returns the body of a 2xx response.
    fn with_retry(&self, send: impl Fn() -> reqwest::Result<reqwest::blocking::Response>) -> Result<Vec<u8>> {
        let mut wait = self.backoff;
        let mut last = Error::Network("no attempt".into());
        for attempt in 0..self.attempts {
            if attempt > 0 {
                // The pause, a tenth of a second at a time, so that a cancel cuts it short.
                let until = std::time::Instant::now() + wait;
                while !self.cancelled() && std::time::Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(100).min(until - std::time::Instant::now()));
                }
                wait *= 2;
            }
            if self.cancelled() {
                return Err(Error::Cancelled);
            }
            match send() {
                // A certificate that does not verify will not verify on a retry either.
                Err(e) => match network_error(e) {
                    tls @ Error::Tls(_) => return Err(tls),
                    e => last = e,
                },
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
                    let body = resp.bytes().map_err(network_error);
                    let body = match body {
                        Ok(b) => b.to_vec(),
                        Err(e) => {
                            last = e;
                            continue;
                        }
                    };
                    if (200..300).contains(&status) {
                        return Ok(body);
                    }
                    let err = relay_error(status, &body, retry_after);
                    if status < 500 {
                        return Err(err);
                    }
                    last = err;
                }
            }
        }
        Err(last)
    }

    /// Uploads (unless the phone is on a metered network the user keeps photos off, see
    /// `Store::photos_may_upload`) the photos that committed events (visits, problem reports,
    /// progress notes, resolutions) name and the relay does not hold yet, each from where the relay
    /// stands (a photo cut off midway resumes at its last acknowledged chunk, never from zero), a
    /// chunk of [`BLOB_CHUNK_BYTES`] per request. A photo whose event has not reached the relay yet
    /// waits for a later call (sync first); one the relay refuses is marked failed with its reason.
    /// Stops at the first network failure: what is left stays queued.
    pub fn upload_photos(&self, store: &Store) -> Result<PhotoReport> {
        self.upload_photos_reporting(store, &mut |_| {})
    }

    /// [`SyncClient::upload_photos`], telling `progress` where each photo stands after every
    /// acknowledged chunk and when it is done or has failed (state, bytes the relay holds).
    pub fn upload_photos_reporting(
        &self,
        store: &Store,
        progress: &mut dyn FnMut(&PhotoUpload),
    ) -> Result<PhotoReport> {
        let token = store.session_token()?.ok_or(Error::SignedOut)?;
        let mut report = PhotoReport::default();
        let queued: Vec<PhotoUpload> = store.photo_uploads()?.into_iter().filter(|p| p.state != "done").collect();
        if !store.photos_may_upload()? {
            report.held = queued.len() as u32;
            return Ok(report);
        }
        // The photos the relay now holds whole are recorded together at the end, in one commit
        // (a commit per photo would cost the phone a disk flush each); if this is cut short, the
        // next call finds them complete on the relay at its first request.
        let mut done = Vec::new();
        let result = self.upload_queued(store, &token, queued, progress, &mut report, &mut done);
        let marked = store.set_photos_uploaded(&done);
        result?;
        marked?;
        Ok(report)
    }

    fn upload_queued(
        &self,
        store: &Store,
        token: &str,
        queued: Vec<PhotoUpload>,
        progress: &mut dyn FnMut(&PhotoUpload),
        report: &mut PhotoReport,
        done: &mut Vec<(String, u64)>,
    ) -> Result<()> {
        for photo in queued {
            let url = format!("{}/v1/blobs/{}", self.base, photo.sha256);
            let status = |url: &str| -> Result<BlobProgress> {
                let body = self.with_retry(|| self.http.get(format!("{url}/status")).bearer_auth(&token).send())?;
                serde_json::from_slice(&body).map_err(|e| Error::Network(format!("unexpected response: {e}")))
            };
            let mut at = match status(&url) {
                Ok(p) => p,
                // Not named by anything on the relay yet: its visit has not been pushed.
                Err(Error::Relay { status: 404, .. }) => continue,
                Err(Error::Relay { message, .. }) => {
                    failed(store, &photo, photo.uploaded, &message, report, progress)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(mut file) = store.open_own_photo(&photo.sha256)? else {
                // Its file is gone (removed outside the app): nothing can bring it back.
                failed(store, &photo, at.received, "the photo's file is missing", report, progress)?;
                continue;
            };
            // Another upload moving the relay's copy on is answered by asking where it stands;
            // a few times in a row, and the photo waits for the next call.
            let mut moved = 0;
            let tell = |progress: &mut dyn FnMut(&PhotoUpload), state: &str, uploaded: u64| {
                progress(&PhotoUpload { state: state.into(), uploaded, reason: None, ..photo.clone() });
            };
            // Progress is told, not recorded (a commit per chunk would cost the phone a disk flush
            // per MiB): an interrupted upload resumes from where the relay says it stands.
            while !at.complete {
                tell(progress, "uploading", at.received);
                let mut chunk = Vec::with_capacity(BLOB_CHUNK_BYTES);
                let read = std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(at.received)).and_then(|_| {
                    std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, BLOB_CHUNK_BYTES as u64), &mut chunk)
                });
                match read {
                    // A sealed file damaged midway: this photo can never be sent; the others can.
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        failed(store, &photo, at.received, "the photo's file is damaged", report, progress)?;
                        break;
                    }
                    Err(e) => return Err(Error::File(format!("photo file: {e}"))),
                    Ok(_) => {}
                }
                let sent = self.with_retry(|| {
                    self.http
                        .put(&url)
                        .bearer_auth(&token)
                        .header(BLOB_OFFSET_HEADER, at.received.to_string())
                        .header(BLOB_SIZE_HEADER, photo.size.to_string())
                        .header("content-type", "application/octet-stream")
                        .body(chunk.clone())
                        .send()
                });
                at = match sent {
                    Ok(body) => {
                        moved = 0;
                        report.bytes_sent += chunk.len() as u64;
                        serde_json::from_slice(&body)
                            .map_err(|e| Error::Network(format!("unexpected response: {e}")))?
                    }
                    // The upload stands elsewhere (a retry that did arrive): go on from there.
                    Err(Error::Relay { status: 409, code, .. }) if code == "offset" && moved < 3 => {
                        moved += 1;
                        status(&url)?
                    }
                    // Busy with another request of this device's, or too many at once: later.
                    Err(Error::Relay { status: 409 | 429, .. } | Error::Throttled { .. }) => break,
                    Err(Error::Relay { message, .. }) => {
                        failed(store, &photo, at.received, &message, report, progress)?;
                        break;
                    }
                    Err(e) => return Err(e),
                };
            }
            if at.complete {
                done.push((photo.sha256.clone(), at.size));
                report.uploaded += 1;
                tell(progress, "done", at.size);
            }
        }
        Ok(())
    }

    /// The file to show a photo from: one this device took, a copy fetched before, or else the copy
    /// `size` fetched from the relay now (a thumbnail first, the original when the photo is
    /// opened), kept in the store's photo cache (see `Store::keep_fetched_photo`). The download is
    /// streamed to a file, never held whole in memory, and stops at the largest photo's size; an
    /// original is checked against its SHA-256 (an enterprise contact's copy has its metadata
    /// removed by the relay, so it cannot be). Fails as the relay says while the photo is not
    /// uploaded yet (404 `not_uploaded`) or when the user may not read it.
    pub fn fetch_photo(&self, store: &Store, sha256: &str, size: PhotoSize) -> Result<Vec<u8>> {
        use sha2::Digest;
        if !crate::domain::photo::is_sha256(sha256) {
            return Err(Error::invalid("photo.sha256", crate::error::Invalid::Format { expected: "64 hex digits" }));
        }
        if let Some(bytes) = store.shown_photo(sha256, size)? {
            return Ok(bytes);
        }
        let token = store.session_token()?.ok_or(Error::SignedOut)?;
        let url = match size {
            PhotoSize::Thumbnail => format!("{}/v1/blobs/{sha256}/thumbnail", self.base),
            PhotoSize::Original => format!("{}/v1/blobs/{sha256}", self.base),
        };
        let mut resp = self.http.get(&url).bearer_auth(&token).send().map_err(network_error)?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
            let body = resp.bytes().map_err(network_error)?;
            return Err(relay_error(status, &body, retry_after));
        }
        let (target, mut file) = store.fetch_writer()?;
        let fetched = (|| {
            let (mut hash, mut total, mut buf) = (sha2::Sha256::new(), 0u64, vec![0u8; 64 * 1024]);
            loop {
                let n = std::io::Read::read(&mut resp, &mut buf).map_err(network_error)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > crate::domain::photo::MAX_PHOTO_BYTES {
                    return Err(Error::Network("the photo is larger than any photo may be".into()));
                }
                hash.update(&buf[..n]);
                std::io::Write::write_all(&mut file, &buf[..n])
                    .map_err(|e| Error::File(format!("photo cache: {e}")))?;
            }
            let own_bytes = store.identity().role != crate::domain::Role::EnterpriseContact;
            if size == PhotoSize::Original && own_bytes && format!("{:x}", hash.finalize()) != sha256 {
                return Err(Error::Network("the photo's bytes do not match their SHA-256".into()));
            }
            file.finish().map_err(|e| Error::File(format!("photo cache: {e}")))
        })();
        match fetched {
            Ok(()) => {
                store.keep_fetched_photo(sha256, size, &target)?;
                store.shown_photo(sha256, size)?.ok_or_else(|| Error::File("the fetched photo went".into()))
            }
            Err(e) => {
                let _ = std::fs::remove_file(&target);
                Err(e)
            }
        }
    }

    /// Pushes local changes and pulls remote ones until the device is up to date.
    pub fn sync_now(&self, store: &Store) -> Result<SyncReport> {
        let token = store.session_token()?.ok_or(Error::SignedOut)?;
        let mut report = SyncReport::default();
        let mut pushed_seqs = std::collections::HashSet::new();
        loop {
            let (cursor, directory_version) = store.sync_cursor()?;
            let push = next_push(store, &pushed_seqs)?;
            let pushing = !push.is_empty();
            let sent: Vec<(i64, Vec<u8>)> = push.iter().map(|(seq, p)| (*seq, p.hash.clone())).collect();
            for (seq, _) in &push {
                pushed_seqs.insert(*seq);
            }
            let request = SyncRequest {
                protocol: PROTOCOL_VERSION,
                cursor,
                directory_version,
                actor: store.actor_bytes(),
                push: group(push),
                max_bytes: None,
            };
            let body = encode(&request);
            report.bytes_sent += body.len() as u64;
            let resp = self.with_retry(|| {
                self.http
                    .post(format!("{}/v1/sync", self.base))
                    .bearer_auth(&token)
                    .header("content-type", "application/cbor")
                    .header("content-encoding", "gzip")
                    .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                    .body(body.clone())
                    .send()
            })?;
            report.round_trips += 1;
            report.bytes_received += resp.len() as u64;
            let response: SyncResponse =
                decode(&resp, 64 << 20).map_err(|e| Error::Network(format!("unreadable sync response: {e}")))?;
            apply(store, &response, &mut report)?;
            // Changes the relay had no time to judge (beyond its validation budget for one push) are
            // sent again in this sync, as long as each round trip settles some.
            let answered: std::collections::HashSet<&[u8]> = response
                .acked
                .iter()
                .chain(response.rejected.iter().flat_map(|r| &r.hashes))
                .map(Vec::as_slice)
                .collect();
            if !answered.is_empty() {
                for (seq, hash) in &sent {
                    if !answered.contains(hash.as_slice()) {
                        pushed_seqs.remove(seq);
                    }
                }
            }
            let pending_left = store.pending_changes()?.iter().any(|p| !pushed_seqs.contains(&p.seq));
            if !response.more && !(pushing && pending_left) {
                return Ok(report);
            }
        }
    }

    /// Waits for the relay to announce changes in the user's scope after `cursor` (server-sent
    /// events), calling `on_change` with each announced cursor, until `stop` is set or the connection
    /// ends. Returns `Ok` when stopped or disconnected; the caller reconnects.
    pub fn watch(&self, token: &str, cursor: u64, stop: &AtomicBool, mut on_change: impl FnMut(u64)) -> Result<()> {
        let resp = self
            .http
            .get(format!("{}/v1/events?cursor={cursor}", self.base))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .map_err(network_error)?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
            return Err(relay_error(status, &body, None));
        }
        let mut event = String::new();
        for line in BufReader::new(resp).lines() {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let Ok(line) = line else { return Ok(()) };
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                if event == "change"
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim())
                    && let Some(c) = v.get("cursor").and_then(|c| c.as_u64())
                {
                    on_change(c);
                }
            } else if line.is_empty() {
                event.clear();
            }
        }
        Ok(())
    }
}

/// How the HTTP client is built: timeouts and trust.
#[derive(Debug, Clone)]
struct HttpSettings {
    connect: Duration,
    request: Duration,
    /// Certificate authorities trusted besides the built-in public ones (PEM).
    extra_roots: Vec<String>,
    https_only: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { connect: CONNECT_TIMEOUT, request: REQUEST_TIMEOUT, extra_roots: Vec::new(), https_only: false }
    }
}

impl HttpSettings {
    fn client(&self) -> Result<reqwest::blocking::Client> {
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(self.connect)
            .timeout(self.request)
            // The protocol has no redirects: one is an error, not a way to another host or to http.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(self.https_only);
        for (i, pem) in self.extra_roots.iter().enumerate() {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| Error::Tls(format!("extra root certificate {i}: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Tls(format!("extra root certificate {i} holds no PEM certificate")));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().map_err(|e| Error::Tls(format!("building the HTTP client: {e}")))
    }
}

/// How rustls's errors of a handshake that failed begin (its `Display`).
const RUSTLS_FAILURES: [&str; 6] = [
    "invalid peer certificate",
    "peer is incompatible",
    "peer misbehaved",
    "received fatal alert",
    "received corrupt message",
    "no server certificate chain resolved",
];

/// What a failed request means: a TLS failure (the certificate did not verify, the handshake
/// failed, plain http refused) is [`Error::Tls`], anything else the network's [`Error::Network`].
fn network_error(e: impl std::error::Error + 'static) -> Error {
    // Only while connecting: a TLS error in the middle of a response is a flaky network.
    let connecting = (&e as &dyn std::error::Error).downcast_ref::<reqwest::Error>().is_some_and(|r| r.is_connect());
    let mut cause: Option<&(dyn std::error::Error + 'static)> = if connecting { Some(&e) } else { None };
    while let Some(c) = cause {
        let tls = c.downcast_ref::<rustls::Error>().is_some()
            || c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
        // Wrapped on its way up, the error may only show as rustls's own words.
        let said = c.to_string();
        if tls || RUSTLS_FAILURES.iter().any(|w| said.starts_with(w) || said.contains(&format!(": {w}"))) {
            return Error::Tls(chain(&e));
        }
        cause = c.source();
    }
    if let Some(r) = (&e as &dyn std::error::Error).downcast_ref::<reqwest::Error>()
        && (r.is_builder() || r.is_redirect())
        && r.url().is_some_and(|u| u.scheme() == "http")
    {
        return Error::Tls(format!("plain http refused: {}", chain(&e)));
    }
    Error::Network(chain(&e))
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}

/// The next pending changes to push: those not pushed yet in this sync, up to the budget.
fn next_push(
    store: &Store,
    already: &std::collections::HashSet<i64>,
) -> Result<Vec<(i64, crate::storage::PendingChange)>> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for p in store.pending_changes()? {
        if already.contains(&p.seq) {
            continue;
        }
        if out.len() == MAX_PUSH_CHANGES || (bytes > 0 && bytes + p.bytes.len() > PUSH_BUDGET) {
            break;
        }
        bytes += p.bytes.len();
        out.push((p.seq, p));
    }
    Ok(out)
}

/// Groups changes by document, keeping each document's changes in the order they were made.
fn group(push: Vec<(i64, crate::storage::PendingChange)>) -> Vec<DocChanges> {
    let mut out: Vec<DocChanges> = Vec::new();
    for (_, p) in push {
        match out.iter_mut().find(|d| d.doc == p.doc_id) {
            Some(d) => d.changes.push(p.bytes),
            None => out.push(DocChanges { doc: p.doc_id, kind: p.kind, changes: vec![p.bytes] }),
        }
    }
    out
}

/// Applies a sync response to the store; the cursor moves last, so a crash midway only repeats work.
fn apply(store: &Store, r: &SyncResponse, report: &mut SyncReport) -> Result<()> {
    report.pushed += store.acknowledge(&r.acked)? as u32;
    for rejection in &r.rejected {
        tracing::warn!(doc = %rejection.doc, code = ?rejection.code, "relay refused local changes: {}", rejection.message);
        store.quarantine(rejection)?;
        report.rejected += 1;
    }
    if !r.purge.is_empty() {
        store.purge(&r.purge)?;
        report.purged += r.purge.len() as u32;
    }
    let page: Vec<(&str, crate::domain::DocKind, &[Vec<u8>])> =
        r.docs.iter().map(|d| (d.doc.as_str(), d.kind, d.data.as_slice())).collect();
    report.pulled += store.apply_remote_page(&page)?.iter().filter(|a| a.changed).count() as u32;
    store.finish_sync(r.cursor, r.directory.as_ref(), r.directory_version)
}

fn relay_error(status: u16, body: &[u8], retry_after: Option<u64>) -> Error {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().map(|b| b.code.as_str()).unwrap_or("");
    match (status, code) {
        (401, "device_revoked") => Error::DeviceRevoked,
        (401, "unauthorized" | "") => Error::SignedOut,
        (426, _) => Error::UpgradeRequired,
        (429, _) => Error::Throttled { retry_after_s: retry_after.unwrap_or(60) },
        _ => match parsed {
            Some(b) => Error::Relay { status, code: b.code, message: b.message, message_zh: b.message_zh },
            None => Error::Relay {
                status,
                code: "internal".into(),
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                message_zh: "服务器出错，请稍后重试".into(),
            },
        },
    }
}
