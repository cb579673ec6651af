//! `ZhuqiClient`, the one object an app holds: the signed-in user's store on the phone and the
//! client of the relay. Every call is blocking and safe from any thread: call it from a worker
//! thread, a coroutine on `Dispatchers.IO`, WorkManager or BGTaskScheduler, never the UI thread.

use crate::error::{Result, ZhuqiError};
use crate::records::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use zhuqi_core::domain::ProblemAction;
use zhuqi_core::store::{Identity, NewProblem, PhotoSize, Store};
use zhuqi_core::sync::SyncClient;

/// The file in the data directory naming the signed-in user's store.
const SESSION_FILE: &str = "session.json";

#[derive(uniffi::Object)]
pub struct ZhuqiClient {
    data_dir: PathBuf,
    relay: RwLock<Arc<SyncClient>>,
    store: RwLock<Option<Arc<Store>>>,
    /// Serialises syncs: two at once would push the same changes twice.
    sync_lock: Mutex<()>,
    /// Hears how photo uploads progress (`set_photo_listener`).
    photo_listener: RwLock<Option<Arc<dyn crate::listener::PhotoListener>>>,
    /// Set by `cancel_sync` (and signing out): the relay client stops at its next step.
    cancel: Arc<AtomicBool>,
    /// How many times a sync was cancelled: a waiting `sync_now` returns when it moves.
    cancels: AtomicU64,
    /// The relay client's timeouts (connect, whole request) and attempts per request.
    limits: Mutex<(Duration, Duration, u32)>,
    /// The app key the store is encrypted under, the extra CAs, and whether plain http is allowed.
    options: Options,
}

/// How a client opens its store and trusts the relay. Every field has a default:
/// `ClientOptions(storeKey = key)` in Kotlin, `ClientOptions(storeKey: key)` in Swift.
#[derive(Clone, Default, uniffi::Record)]
pub struct ClientOptions {
    /// The key the phone's store is encrypted under: 32 random bytes the app creates once and
    /// keeps in Android Keystore (e.g. wrapped by a Keystore AES key) or the iOS Keychain
    /// (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`), and passes on every start. Without
    /// one the store is not encrypted (development only). A store created without a key is
    /// encrypted the first time a key is given. Signing out with wipe and a revoked device destroy
    /// the store's own key file, so the data is unreadable even with this key; the app may delete
    /// this key then too, and create a new one for the next user.
    #[uniffi(default)]
    pub store_key: Option<Vec<u8>>,
    /// Certificate authorities (PEM, one or more certificates each) trusted besides the public
    /// ones: a government or enterprise CA the relay's certificate comes from.
    #[uniffi(default)]
    pub extra_root_certificates: Vec<String>,
    /// Allows a plain `http://` relay address: development and tests only.
    #[uniffi(default)]
    pub allow_insecure_http: bool,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("store_key", &self.store_key.as_ref().map(|_| "…"))
            .field("extra_root_certificates", &self.extra_root_certificates.len())
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

/// [`ClientOptions`] as the client keeps them: the key zeroed when the client goes.
struct Options {
    store_key: Option<zeroize::Zeroizing<Vec<u8>>>,
    extra_root_certificates: Vec<String>,
    allow_insecure_http: bool,
}

/// Erases every store in the app's data directory without opening any (so without their keys):
/// each store's key file is destroyed first, then its files, then the session. For an app whose
/// client cannot open (`KeyRejected` from `ZhuqiClient::new`: the key is lost, e.g. after a backup
/// was restored to another phone): call it, then open the client again and sign in; what was not
/// synced is lost. The client must not be open on `data_dir` meanwhile.
#[uniffi::export]
pub fn erase_local_data(data_dir: String) -> Result<()> {
    let dir = PathBuf::from(data_dir);
    let entries = match std::fs::read_dir(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(|e| ZhuqiError::Storage { detail: e.to_string(), message_zh: "无法读取数据目录".into() })?,
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("zhuqi-") && name.ends_with(".db") {
            let path = entry.path();
            zhuqi_core::storage::crypto::shred_key(&path)?;
            zhuqi_core::storage::crypto::remove_store_files(&path);
        }
    }
    let _ = std::fs::remove_file(dir.join(SESSION_FILE));
    Ok(())
}

fn store_path(dir: &std::path::Path, user_id: &str) -> PathBuf {
    let safe: String = user_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    dir.join(format!("zhuqi-{safe}.db"))
}

impl ZhuqiClient {
    pub(crate) fn store(&self) -> Result<Arc<Store>> {
        self.store
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ZhuqiError::from(zhuqi_core::Error::NoIdentity))
    }

    fn relay(&self) -> Arc<SyncClient> {
        self.relay.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A relay client with this client's timeouts, attempts and cancel flag.
    pub(crate) fn relay_client(&self, relay_url: &str) -> Result<SyncClient> {
        let (connect, request, attempts) = *self.limits.lock().unwrap_or_else(|p| p.into_inner());
        Ok(SyncClient::new(relay_url)?
            .with_trust(&self.options.extra_root_certificates, self.options.allow_insecure_http)?
            .with_timeouts(connect, request)?
            .with_retries(attempts, Duration::from_millis(250))
            .with_cancel(self.cancel.clone()))
    }

    fn open_store(&self, identity: Identity, token: &str) -> Result<UserProfile> {
        let path = store_path(&self.data_dir, &identity.user_id);
        let store = Store::open_encrypted(&path, identity.clone(), self.options.store_key.as_deref().map(|k| &k[..]))?;
        store.set_session_token(token)?;
        let session = serde_json::to_string(&identity).map_err(|e| ZhuqiError::internal(e.to_string()))?;
        std::fs::write(self.data_dir.join(SESSION_FILE), session).map_err(|e| ZhuqiError::Storage {
            detail: e.to_string(),
            message_zh: "本机数据存储出错，请稍后重试".into(),
        })?;
        *self.store.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(store));
        Ok(identity.into())
    }

    /// Runs a sync, then uploads the photos its events name (telling the photo listener how each
    /// goes); on a revoked device wipes everything first, as the relay asks. A photo upload cut off
    /// stays queued for the next sync.
    pub(crate) fn sync_inner(&self) -> Result<SyncSummary> {
        let asked_at = self.cancels.load(Ordering::SeqCst);
        let _one_at_a_time = self.sync_lock.lock().unwrap_or_else(|p| p.into_inner());
        // A cancel before this sync was asked for is not meant for it.
        if self.cancels.load(Ordering::SeqCst) == asked_at {
            self.cancel.store(false, Ordering::SeqCst);
        }
        let store = self.store()?;
        match self.relay().sync_now(&store) {
            Ok(r) => {
                let mut summary: SyncSummary = r.into();
                let listener = self.photo_listener.read().unwrap_or_else(|p| p.into_inner()).clone();
                let mut tell = |u: &zhuqi_core::store::PhotoUpload| {
                    if let Some(l) = &listener {
                        l.on_photo_progress(u.clone().into());
                    }
                };
                match self.relay().upload_photos_reporting(&store, &mut tell) {
                    Ok(photos) => summary.photos_uploaded = photos.uploaded,
                    Err(e) => tracing::info!("photo uploads left for the next sync: {e}"),
                }
                Ok(summary)
            }
            Err(zhuqi_core::Error::DeviceRevoked) => {
                self.sign_out_inner(true)?;
                Err(zhuqi_core::Error::DeviceRevoked.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn sign_out_inner(&self, wipe: bool) -> Result<()> {
        // No new call finds the store from here on; a sync under way stops at its next step.
        let store = self.store.write().unwrap_or_else(|p| p.into_inner()).take();
        self.cancel_sync();
        let _ = std::fs::remove_file(self.data_dir.join(SESSION_FILE));
        if let Some(store) = store {
            // The relay is told in the background, once: signing out never waits for the network.
            if let Ok(Some(token)) = store.session_token()
                && let Ok(relay) = self.relay_client(self.relay().base_url())
            {
                let relay = relay.with_retries(1, Duration::ZERO).with_cancel(Arc::default());
                let _ = std::thread::Builder::new().name("zhuqi-sign-out".into()).spawn(move || {
                    let _ = relay.sign_out(&token);
                });
            }
            if wipe {
                // The key file goes first: what the flash keeps of the files can no longer be read.
                store.erase()?;
            }
        }
        Ok(())
    }

    pub(crate) fn relay_url(&self) -> String {
        self.relay().base_url().to_owned()
    }

    pub(crate) fn token(&self) -> Result<String> {
        self.store()?.session_token()?.ok_or_else(|| zhuqi_core::Error::SignedOut.into())
    }

    pub(crate) fn cursor(&self) -> Result<u64> {
        Ok(self.store()?.sync_cursor()?.0)
    }
}

#[uniffi::export]
impl ZhuqiClient {
    /// Opens the client on the app's private data directory; reopens the last signed-in user's
    /// store. `options` gives the key the store is encrypted under (see [`ClientOptions`]): pass it
    /// on every start, the same key each time. Refuses a relay address that is not `https://`
    /// unless `options.allow_insecure_http` (`Tls`), a key that does not open the store
    /// (`KeyRejected`).
    #[uniffi::constructor]
    pub fn new(data_dir: String, relay_url: String, options: ClientOptions) -> Result<Arc<Self>> {
        let data_dir = PathBuf::from(data_dir);
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| ZhuqiError::Storage {
                detail: e.to_string(), message_zh: "无法创建数据目录".into()
            })?;
        if let Some(key) = &options.store_key
            && key.len() != zhuqi_core::storage::crypto::KEY_BYTES
        {
            return Err(zhuqi_core::Error::KeyRejected(format!("the store key is 32 bytes, not {}", key.len())).into());
        }
        let options = Options {
            store_key: options.store_key.map(zeroize::Zeroizing::new),
            extra_root_certificates: options.extra_root_certificates,
            allow_insecure_http: options.allow_insecure_http,
        };
        let cancel: Arc<AtomicBool> = Arc::default();
        let relay = SyncClient::new(&relay_url)?
            .with_trust(&options.extra_root_certificates, options.allow_insecure_http)?
            .with_cancel(cancel.clone());
        let client = ZhuqiClient {
            relay: RwLock::new(Arc::new(relay)),
            data_dir,
            store: RwLock::new(None),
            sync_lock: Mutex::new(()),
            photo_listener: RwLock::new(None),
            cancel,
            cancels: AtomicU64::new(0),
            limits: Mutex::new((
                zhuqi_core::sync::client::CONNECT_TIMEOUT,
                zhuqi_core::sync::client::REQUEST_TIMEOUT,
                4,
            )),
            options,
        };
        if let Ok(json) = std::fs::read_to_string(client.data_dir.join(SESSION_FILE))
            && let Ok(identity) = serde_json::from_str::<Identity>(&json)
        {
            let key = client.options.store_key.as_deref().map(|k| &k[..]);
            let store = Store::open_encrypted(&store_path(&client.data_dir, &identity.user_id), identity, key)?;
            *client.store.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(store));
        }
        Ok(Arc::new(client))
    }

    /// Points the client at another relay address (the same relay behind another address).
    pub fn set_relay_url(&self, relay_url: String) -> Result<()> {
        *self.relay.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(self.relay_client(&relay_url)?);
        Ok(())
    }

    /// How long talking to the relay may take: connecting, a whole request, and how many times a
    /// request is tried (network failures and 5xx; at least once). The defaults, 10 s, 60 s and 4,
    /// suit the foreground; a background task the system ends after 30 s wants e.g. 5 s, 20 s, 1.
    pub fn set_timeouts(&self, connect_ms: u32, request_ms: u32, attempts: u32) -> Result<()> {
        let ms = |v: u32| Duration::from_millis(u64::from(v.max(1)));
        *self.limits.lock().unwrap_or_else(|p| p.into_inner()) = (ms(connect_ms), ms(request_ms), attempts.max(1));
        let url = self.relay_url();
        self.set_relay_url(url)
    }

    /// Cancels the sync under way, if any (from any thread): `sync_now` returns `Cancelled` at
    /// once, and the sync stops at its next step (a request already sent ends at its timeout, in
    /// the background); what it stored so far stays. A later sync runs normally.
    pub fn cancel_sync(&self) {
        self.cancels.fetch_add(1, Ordering::SeqCst);
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// Signs in with a login and password; the phone becomes one of the user's devices.
    pub fn sign_in(&self, login: String, password: String, device_name: String) -> Result<UserProfile> {
        let r = self.relay().sign_in(&login, &password, &device_name)?;
        self.open_store(r.identity, &r.token)
    }

    /// Activates an enterprise contact's phone with the one-time code its cadre gave.
    pub fn activate(&self, code: String, device_name: String) -> Result<UserProfile> {
        let r = self.relay().activate(&code, &device_name)?;
        self.open_store(r.identity, &r.token)
    }

    /// The signed-in user, if any.
    pub fn current_user(&self) -> Option<UserProfile> {
        self.store.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|s| s.identity().into())
    }

    /// Signs out; with `wipe`, deletes everything of this user from the phone (unsynced work too).
    pub fn sign_out(&self, wipe: bool) -> Result<()> {
        self.sign_out_inner(wipe)
    }

    /// A one-time code for an enterprise contact's phone (cadre of the enterprise or manager).
    pub fn issue_activation_code(&self, enterprise_id: String, contact_user_id: String) -> Result<String> {
        Ok(self.relay().issue_activation_code(&self.token()?, &enterprise_id, &contact_user_id)?.code)
    }

    // ---- actions (all work offline) ----

    /// Copies a photo file (JPEG, PNG, WebP or HEIC, at most 20 MB; from the path the camera or the
    /// picker gave) into the phone's store, durably, and returns the photo to put in a visit. It is
    /// uploaded once a visit that names it is recorded. The app may delete its own file afterwards.
    pub fn attach_photo(&self, path: String) -> Result<Photo> {
        Ok(self.store()?.attach_photo(std::path::Path::new(&path))?.into())
    }

    /// The photos events named (visits, problem reports, progress notes, resolutions), with how far
    /// each has reached the relay.
    pub fn photo_uploads(&self) -> Result<Vec<PhotoUploadInfo>> {
        Ok(self.store()?.photo_uploads()?.into_iter().map(Into::into).collect())
    }

    /// Sets who hears how photo uploads progress during syncs (replacing any earlier one). It is
    /// called on the thread running the sync, never the main thread: hop to it to update a view
    /// (Android: `Handler(Looper.getMainLooper()).post { … }`; iOS: `DispatchQueue.main.async { … }`).
    pub fn set_photo_listener(&self, listener: Box<dyn crate::listener::PhotoListener>) {
        *self.photo_listener.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::from(listener));
    }

    /// Stops telling the photo listener anything.
    pub fn clear_photo_listener(&self) {
        *self.photo_listener.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Tells the core which network the phone is on (call at start and on every change): metered
    /// (mobile data) or not (Wi-Fi, unmetered).
    pub fn set_network_metered(&self, metered: bool) -> Result<()> {
        self.store()?.set_network_metered(metered);
        Ok(())
    }

    /// The user's setting: whether photos may be uploaded over a metered network (yes until set).
    pub fn set_photos_on_metered(&self, allowed: bool) -> Result<()> {
        Ok(self.store()?.set_photos_on_metered(allowed)?)
    }

    pub fn photos_on_metered(&self) -> Result<bool> {
        Ok(self.store()?.photos_on_metered()?)
    }

    /// The bytes to show a photo from (blocking: it may download): one this phone took, a copy
    /// fetched before, or else one fetched from the relay now — the thumbnail (at most 320 pixels a
    /// side) for lists, the original (`thumbnail` false) when the user opens it. Fetched copies are
    /// kept within the photo cache's budget, the least recently shown dropped first; photos this
    /// phone took are never dropped. Call it off the main thread.
    pub fn fetch_photo(&self, sha256: String, thumbnail: bool) -> Result<Vec<u8>> {
        let size = if thumbnail { PhotoSize::Thumbnail } else { PhotoSize::Original };
        Ok(self.relay().fetch_photo(&*self.store()?, &sha256, size)?)
    }

    /// How many bytes photos fetched to show them may take (256 MiB unless set).
    pub fn set_photo_cache_budget(&self, bytes: u64) -> Result<()> {
        Ok(self.store()?.set_photo_cache_budget(bytes)?)
    }

    /// How many bytes photos fetched to show them take now.
    pub fn photo_cache_bytes(&self) -> Result<u64> {
        Ok(self.store()?.photo_cache_bytes()?)
    }

    /// The bytes of a photo this phone holds, to show it, without the network: one it took (its
    /// original, also when a thumbnail is asked for), or a copy fetched before. Photos are kept
    /// sealed in an encrypted store: they are unsealed into memory here, never into a file.
    pub fn photo(&self, sha256: String, thumbnail: bool) -> Result<Option<Vec<u8>>> {
        let size = if thumbnail { PhotoSize::Thumbnail } else { PhotoSize::Original };
        Ok(self.store()?.shown_photo(&sha256, size)?)
    }

    /// Records a visit to an assigned enterprise; returns its id.
    pub fn record_visit(&self, enterprise_id: String, visit: VisitInput) -> Result<String> {
        Ok(self.store()?.record_visit(&enterprise_id, visit.into())?)
    }

    /// Corrects a visit one recorded, within 7 days of recording it (更正), giving why.
    pub fn correct_visit(
        &self,
        enterprise_id: String,
        visit_id: String,
        visit: VisitInput,
        reason: String,
    ) -> Result<()> {
        Ok(self.store()?.correct_visit(&enterprise_id, &visit_id, visit.into(), &reason)?)
    }

    /// Reports a problem; returns its id.
    pub fn report_problem(&self, problem: ProblemInput) -> Result<String> {
        Ok(self.store()?.report_problem(NewProblem {
            enterprise_id: problem.enterprise_id,
            category: problem.category.into(),
            title: problem.title,
            description: problem.description,
            visit_id: problem.visit_id,
            photos: problem.photos.into_iter().map(Into::into).collect(),
        })?)
    }

    pub fn accept_problem(&self, problem_id: String, note: String) -> Result<()> {
        Ok(self.store()?.accept_problem(&problem_id, &note)?)
    }

    /// The deadline `days` days from now as the user's office counts them (working days, skipping
    /// weekends and holidays and counting make-up working days, where its settings say so; else
    /// calendar days), ending at the last moment of that day, China time: what a deadline picker
    /// offers as "N 个工作日" / "N 天".
    pub fn deadline_in(&self, days: u32) -> Result<i64> {
        Ok(self.store()?.deadline_in(days)?)
    }

    /// The campaign office settings in force at a region (for an enterprise's region: how long it
    /// has to answer a resolution before the office may close it as 超时未确认).
    pub fn office_settings(&self, region_id: String) -> Result<OfficeSettingsRecord> {
        Ok(self.store()?.office_settings(&region_id)?.into())
    }

    /// Routes (交办) a problem to a department at a level (1–5) with a deadline (ms since epoch).
    pub fn route_problem(
        &self,
        problem_id: String,
        department_id: String,
        level: u8,
        deadline: i64,
        note: String,
    ) -> Result<()> {
        Ok(self.store()?.route_problem(&problem_id, &department_id, level, deadline, &note)?)
    }

    /// Adds a progress note, with photos attached on this phone (`attach_photo`) if any.
    pub fn add_progress(&self, problem_id: String, note: String, photos: Vec<Photo>) -> Result<()> {
        let photos = photos.into_iter().map(Into::into).collect();
        Ok(self.store()?.act_on_problem(&problem_id, ProblemAction::Progress { note, photos })?)
    }

    /// Escalates (提级督办) to a higher level; a manager may also move it and set a new deadline.
    pub fn escalate_problem(
        &self,
        problem_id: String,
        level: u8,
        reason: String,
        department_id: Option<String>,
        deadline: Option<i64>,
    ) -> Result<()> {
        Ok(self.store()?.escalate_problem(&problem_id, level, &reason, department_id.as_deref(), deadline)?)
    }

    /// Urges (催办) a routed problem.
    pub fn urge_problem(&self, problem_id: String, note: String) -> Result<()> {
        Ok(self.store()?.urge_problem(&problem_id, &note)?)
    }

    /// Records the resolution (办结), by the department handling it, with photos of the evidence
    /// attached on this phone (`attach_photo`) if any.
    pub fn resolve_problem(&self, problem_id: String, resolution: String, photos: Vec<Photo>) -> Result<()> {
        let photos = photos.into_iter().map(Into::into).collect();
        Ok(self.store()?.act_on_problem(&problem_id, ProblemAction::Resolved { resolution, photos })?)
    }

    /// The enterprise confirms the resolution with a satisfaction rating, 1 to 5.
    pub fn confirm_resolution(&self, problem_id: String, rating: u8, comment: String) -> Result<()> {
        Ok(self.store()?.confirm_resolution(&problem_id, rating, &comment)?)
    }

    /// The enterprise rejects the resolution; the problem reopens.
    pub fn reject_resolution(&self, problem_id: String, reason: String) -> Result<()> {
        Ok(self.store()?.reject_resolution(&problem_id, &reason)?)
    }

    /// Closes (销号) a confirmed problem.
    pub fn close_problem(&self, problem_id: String, note: String) -> Result<()> {
        Ok(self.store()?.close_problem(&problem_id, &note)?)
    }

    /// Records the enterprise's answer given on a call-back by the campaign office (回访, 代确认).
    pub fn record_call_back(
        &self,
        problem_id: String,
        contact: String,
        accepted: bool,
        rating: Option<u8>,
        note: String,
    ) -> Result<()> {
        Ok(self.store()?.record_call_back(&problem_id, &contact, accepted, rating, &note)?)
    }

    /// Closes a resolved problem the enterprise has not answered in time (超时未确认).
    pub fn close_unanswered(&self, problem_id: String, note: String) -> Result<()> {
        Ok(self.store()?.close_unanswered(&problem_id, &note)?)
    }

    /// Records a follow-up review (回头看) of a closed problem; not solved after all, it reopens.
    pub fn follow_up(&self, problem_id: String, note: String, still_solved: bool) -> Result<()> {
        Ok(self.store()?.follow_up(&problem_id, &note, still_solved)?)
    }

    /// Withdraws one's own report before the office accepts it (撤回).
    pub fn withdraw_problem(&self, problem_id: String, reason: String) -> Result<()> {
        Ok(self.store()?.withdraw_problem(&problem_id, &reason)?)
    }

    /// Merges a duplicate problem into another of the same enterprise (合并, campaign office).
    pub fn merge_problem(&self, problem_id: String, into: String, reason: String) -> Result<()> {
        Ok(self.store()?.merge_problem(&problem_id, &into, &reason)?)
    }

    /// Assigns a cadre to an enterprise (manager).
    pub fn assign_cadre(&self, enterprise_id: String, cadre_id: String, chief: bool) -> Result<()> {
        Ok(self.store()?.assign_cadre(&enterprise_id, &cadre_id, chief)?)
    }

    pub fn acknowledge_task_notice(&self, notice_id: String) -> Result<()> {
        Ok(self.store()?.acknowledge_task_notice(&notice_id)?)
    }

    pub fn complete_task_notice(&self, notice_id: String, note: String) -> Result<()> {
        Ok(self.store()?.complete_task_notice(&notice_id, &note)?)
    }

    // ---- queries ----

    /// The enterprises the user works with.
    pub fn my_enterprises(&self) -> Result<Vec<EnterpriseCard>> {
        Ok(self.store()?.my_enterprises()?.into_iter().map(Into::into).collect())
    }

    /// An enterprise with its cadres, visits and problems.
    pub fn enterprise(&self, enterprise_id: String) -> Result<EnterpriseDetail> {
        let store = self.store()?;
        let d = store.enterprise(&enterprise_id)?;
        let card = store
            .my_enterprises()?
            .into_iter()
            .find(|e| e.id == enterprise_id)
            .map(EnterpriseCard::from)
            .unwrap_or_else(|| EnterpriseCard {
                id: d.id.clone(),
                name: d.profile.name.clone(),
                uscc: d.profile.uscc.clone(),
                region_id: d.profile.region_id.clone(),
                industry: d.profile.industry.clone(),
                tags: d.profile.tags.clone(),
                address: d.profile.address.clone(),
                visit_count: d.visits.len() as u32,
                last_visit_date: d.visits.first().map(|v| v.date.clone()),
                open_problems: d.problems.iter().filter(|p| p.status.is_open()).count() as u32,
            });
        Ok(EnterpriseDetail {
            card,
            contacts: d
                .contacts
                .into_iter()
                .map(|c| ContactPerson { name: c.name, title: c.title, phone: c.phone })
                .collect(),
            cadres: d
                .assignments
                .into_iter()
                .map(|a| {
                    let c = a.cadre.as_ref();
                    AssignedCadre {
                        cadre_id: a.cadre_id.clone(),
                        name: c.map(|u| u.name.clone()),
                        chief: a.chief,
                        mobile: c.and_then(|u| u.mobile.clone()),
                        position: c.and_then(|u| u.position.clone()),
                        unit: c.and_then(|u| u.unit.clone()),
                    }
                })
                .collect(),
            visits: d
                .visits
                .into_iter()
                .map(|v| VisitInfo {
                    id: v.id,
                    cadre_id: v.cadre_id,
                    cadre_name: v.cadre_name,
                    date: v.date,
                    people_met: v.people_met,
                    notes: v.notes,
                    policies: v.policies,
                    policy_ids: v.policy_ids,
                    location: v.location.map(|l| GeoLocation {
                        lat: l.lat,
                        lon: l.lon,
                        accuracy_m: l.accuracy_m,
                        mock: l.mock,
                    }),
                    photos: v.photos.into_iter().map(Into::into).collect(),
                    correction_reasons: v.corrections.into_iter().map(|c| c.reason).collect(),
                })
                .collect(),
            problems: d.problems.into_iter().map(Into::into).collect(),
            scale: d.profile.scale.into(),
        })
    }

    /// Searches what this phone holds, offline: enterprises by name, credit code, address or
    /// contact, problems by title, description or enterprise; every space-separated term must
    /// appear (any part of a Chinese name will do); best matches first, `limit` (at most 200)
    /// from `offset`.
    pub fn search(&self, query: String, scope: SearchScope, offset: u32, limit: u32) -> Result<Vec<SearchResult>> {
        let hits = self.store()?.search(&query, scope.into(), offset, limit)?;
        Ok(hits.into_iter().map(Into::into).collect())
    }

    /// Issues a policy (惠企政策) for the enterprises of `region_id` (the office's region or one
    /// within it); returns its id.
    pub fn issue_policy(&self, region_id: String, policy: PolicyInput) -> Result<String> {
        Ok(self.store()?.issue_policy(&region_id, policy.into())?)
    }

    /// Replaces a policy's text with a revision (修订), saying why.
    pub fn revise_policy(&self, policy_id: String, policy: PolicyInput, reason: String) -> Result<()> {
        Ok(self.store()?.revise_policy(&policy_id, policy.into(), &reason)?)
    }

    /// Withdraws a policy (废止).
    pub fn withdraw_policy(&self, policy_id: String, reason: String) -> Result<()> {
        Ok(self.store()?.withdraw_policy(&policy_id, &reason)?)
    }

    /// The policies this phone holds (those for the user's region and the regions above it).
    pub fn policies(&self) -> Result<Vec<PolicyInfo>> {
        Ok(self.store()?.policies()?.into_iter().map(Into::into).collect())
    }

    /// The policies for an enterprise, offline: those it qualifies for first, each with why and
    /// what it lacks (withdrawn ones left out).
    pub fn policies_for(&self, enterprise_id: String) -> Result<Vec<PolicyForEnterprise>> {
        Ok(self.store()?.policies_for(&enterprise_id)?.into_iter().map(Into::into).collect())
    }

    /// The enterprise (its contact, or its cadre) marks a policy `Interested` (有意向) or `Applied`
    /// (已申报); returns the warnings to show (applying twice, or for policies that may not be
    /// combined), in Chinese. The mark is recorded either way. `Unknown` is refused.
    pub fn mark_policy(&self, enterprise_id: String, policy_id: String, mark: crate::kinds::PolicyMark) -> Result<Vec<String>> {
        let mark = match mark {
            crate::kinds::PolicyMark::Interested => "interested",
            crate::kinds::PolicyMark::Applied => "applied",
            // Refused by the store as not a mark.
            crate::kinds::PolicyMark::Unknown => "unknown",
        };
        Ok(self.store()?.mark_policy(&enterprise_id, &policy_id, mark)?)
    }

    /// The enterprises this phone holds that qualify for a policy, by name, each with whether a
    /// visit told it of the policy and its mark.
    pub fn enterprises_for(&self, policy_id: String) -> Result<Vec<PolicyCandidate>> {
        Ok(self.store()?.enterprises_for(&policy_id)?.into_iter().map(Into::into).collect())
    }

    /// The campaign office sets an enterprise's employees, revenue (万元) and founding day, which
    /// policies' size and age criteria are matched on; a figure left out becomes unknown.
    pub fn set_enterprise_scale(&self, enterprise_id: String, scale: EnterpriseScale) -> Result<()> {
        Ok(self.store()?.set_enterprise_scale(&enterprise_id, scale.into())?)
    }

    /// Problems matching a query.
    pub fn problems(&self, query: ProblemQuery) -> Result<Vec<ProblemCard>> {
        Ok(self.store()?.problems(&query.into())?.into_iter().map(Into::into).collect())
    }

    /// A problem with its whole timeline.
    pub fn problem(&self, problem_id: String) -> Result<ProblemDetail> {
        Ok(self.store()?.problem(&problem_id)?.into())
    }

    /// Task notices addressed to the user (or, for a manager, held).
    pub fn task_notices(&self) -> Result<Vec<TaskNoticeCard>> {
        Ok(self.store()?.task_notices()?.into_iter().map(Into::into).collect())
    }

    /// The figures of the home screen.
    pub fn home_counts(&self) -> Result<HomeCounts> {
        Ok(self.store()?.home_counts()?.into())
    }

    // ---- sync ----

    /// Pushes local changes and pulls remote ones (one round trip when up to date). Returns
    /// `Cancelled` as soon as `cancel_sync` is called meanwhile.
    pub fn sync_now(self: Arc<Self>) -> Result<SyncSummary> {
        let asked_at = self.cancels.load(Ordering::SeqCst);
        let (tx, rx) = std::sync::mpsc::channel();
        let client = self.clone();
        std::thread::Builder::new()
            .name("zhuqi-sync".into())
            .spawn(move || {
                let _ = tx.send(client.sync_inner());
            })
            .map_err(|e| ZhuqiError::internal(e.to_string()))?;
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(result) => return result,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.cancels.load(Ordering::SeqCst) != asked_at {
                        return Err(zhuqi_core::Error::Cancelled.into());
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(ZhuqiError::internal("the sync thread ended without an answer"));
                }
            }
        }
    }

    /// Where one document stands with the relay.
    pub fn sync_status(&self, doc_id: String) -> Result<DocSyncStatus> {
        Ok(self.store()?.sync_status(&doc_id)?.into())
    }

    /// Local changes the relay refused, for the user to see.
    pub fn quarantine(&self) -> Result<Vec<QuarantineItem>> {
        Ok(self.store()?.quarantined()?.into_iter().map(Into::into).collect())
    }

    /// The quarantine as a JSON document to save or send.
    pub fn export_quarantine(&self) -> Result<String> {
        Ok(self.store()?.export_quarantine()?)
    }

    /// Removes one quarantine entry once the user has dealt with it.
    pub fn dismiss_quarantined(&self, id: i64) -> Result<()> {
        Ok(self.store()?.dismiss_quarantined(id)?)
    }
}
