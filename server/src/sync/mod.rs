//! `POST /v1/sync`: one round trip that stores a device's pushed changes (after validation) and
//! answers with what changed in the device's scope since its cursor.

pub mod author;
pub mod directory;
pub mod docs;
pub mod events;
pub mod route;
pub mod shape;
pub mod validate;

use crate::app::Notice;
use crate::http::error::{ApiError, STALE, log_text};
use crate::http::metrics::Stage;
use crate::storage::{Commit, Pull, Session, StorageError, SyncContext};
use crate::sync::directory::{Circle, Snapshot};
use crate::sync::docs::{CachedDoc, MEMORY_PER_SAVED_BYTE};
use crate::{AppState, now_ms};
use automerge::Automerge;
use axum::http::StatusCode;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use validate::{Pusher, Verdict};
use zhuqi_core::document::{Document, parse_events, raw_events_of};
use zhuqi_core::domain::event::fold;
use zhuqi_core::domain::{
    Directory, DirectoryLookup, DocKind, EnterpriseState, MAX_ID_LEN, ProblemState, ProblemStatus, Role, is_plain_id,
};
use zhuqi_core::rules::Actor;
use zhuqi_core::sync::protocol::*;

pub fn rules_actor(session: &Session, dir: &dyn DirectoryLookup) -> Actor {
    let u = &session.user;
    Actor {
        user_id: u.id.clone(),
        role: u.role,
        region_path: u.region_id.as_deref().and_then(|r| dir.region_path(r)),
        department_id: u.department_id.clone(),
        enterprise_id: u.enterprise_id.clone(),
    }
}

fn upgrade_required() -> ApiError {
    ApiError::new(
        StatusCode::UPGRADE_REQUIRED,
        "upgrade_required",
        format!("this relay speaks protocol {PROTOCOL_VERSION}"),
        "请升级应用后再同步",
    )
}

/// A document gets a fresh snapshot in storage once this many changes are stored after the last one.
const SNAPSHOT_EVERY: usize = 32;

/// Decodes, serves and encodes one sync request (blocking: runs on a blocking thread).
pub fn serve(
    state: &AppState,
    session: &Session,
    body: &[u8],
    header_version: Option<u32>,
) -> Result<Vec<u8>, ApiError> {
    if header_version.is_some_and(|v| v != PROTOCOL_VERSION) {
        return Err(upgrade_required());
    }
    let t = Instant::now();
    let request = decode_request(body)?;
    state.metrics.stage(Stage::Decode, t);
    let response = sync(state, session, request)?;
    let t = Instant::now();
    let out = encode(&response);
    state.metrics.stage(Stage::Encode, t);
    Ok(out)
}

/// Reads a `/v1/sync` body as [`serve`] does before any other work: one gzip member holding one CBOR
/// `SyncRequest`, within [`MAX_REQUEST_BYTES`] and [`MAX_REQUEST_ITEMS`], of this protocol version,
/// pushing at most [`MAX_PUSH_CHANGES`] changes to documents with plain ids. Whatever the body, it
/// answers a request or the error to send back (the fuzz target `sync_request` holds it to that).
pub fn decode_request(body: &[u8]) -> Result<SyncRequest, ApiError> {
    let request: SyncRequest = decode_bounded(body, MAX_REQUEST_BYTES, MAX_REQUEST_ITEMS).map_err(|e| match e {
        DecodeError::TooLarge(_) => ApiError::too_large(e.to_string()),
        _ => ApiError::bad_request(e.to_string()),
    })?;
    if request.protocol != PROTOCOL_VERSION {
        return Err(upgrade_required());
    }
    check_push(&request)?;
    Ok(request)
}

/// Refuses, before any work, a push of more than [`MAX_PUSH_CHANGES`] changes (each pushed document
/// costs a validation and each change a decoding, whatever its size: their number is bounded too,
/// not only the bytes), or of a document whose id is not plain ([`is_plain_id`]: ids are stored,
/// logged and sent to other devices, and every id an app makes is plain).
fn check_push(request: &SyncRequest) -> Result<(), ApiError> {
    let changes: usize = request.push.iter().map(|d| d.changes.len().max(1)).sum();
    if changes > MAX_PUSH_CHANGES {
        let message = format!("{changes} changes pushed at once; at most {MAX_PUSH_CHANGES}");
        return Err(ApiError { message_zh: "一次同步的数据过多", ..ApiError::too_large(message) });
    }
    match request.push.iter().position(|d| !is_plain_id(&d.doc)) {
        None => Ok(()),
        Some(i) => Err(ApiError::bad_request(format!(
            "pushed document {i} has an id that is not 1 to {MAX_ID_LEN} letters, digits, '-', '_', ':' or '.'"
        ))),
    }
}

fn sync(state: &AppState, session: &Session, req: SyncRequest) -> Result<SyncResponse, ApiError> {
    let storage = state.storage.as_ref();
    let t = Instant::now();
    // When a device was last seen is bookkeeping: failing to write it fails no sync.
    if let Err(e) = state.touch(session) {
        tracing::warn!("recording devices seen: {}", e.message);
    }
    if !req.actor.is_empty() {
        if req.actor.len() > 32 {
            return Err(ApiError::bad_request("actor id longer than 32 bytes"));
        }
        if !bind_actor(state, &session.device_id, &req.actor)? {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "actor id registered to another device (or this device has bound too many)",
                "设备标识冲突，请重新登录",
            ));
        }
    }
    let ctx = storage.sync_context(&session.user, &session.device_id)?;
    let dir = state.directory.at(storage, ctx.directory_version)?;
    state.metrics.stage(Stage::Context, t);
    let mut acked = Vec::new();
    let mut rejected = Vec::new();
    if !req.push.is_empty() {
        push(state, session, &ctx, &dir, req.push, false, &mut acked, &mut rejected)?;
    }
    let t = Instant::now();
    let budget = req.max_bytes.unwrap_or(DEFAULT_PAGE_BYTES).clamp(1024, MAX_PAGE_BYTES) as usize;
    let pull = storage.pull(&session.user.id, &ctx.keys, req.cursor, &session.device_id, budget)?;
    let t = state.metrics.stage(Stage::Pull, t);
    let (directory, directory_version) = directory_for(state, session, &ctx, &dir, req.directory_version, &pull)?;
    state.metrics.stage(Stage::Directory, t);
    Ok(SyncResponse {
        protocol: PROTOCOL_VERSION,
        acked,
        rejected,
        docs: pull.docs,
        purge: pull.purge,
        cursor: pull.cursor,
        more: pull.more,
        directory,
        directory_version,
    })
}

/// The part of the directory a device receives when its copy (`known`, the version it was given)
/// is out of date, and the version to give it (see `Snapshot::view_version`).
fn directory_for(
    state: &AppState,
    session: &Session,
    ctx: &SyncContext,
    dir: &Snapshot,
    known: u64,
    pull: &Pull,
) -> Result<(Option<Directory>, u64), ApiError> {
    let user = &session.user;
    let circle = match user.role {
        Role::Manager | Role::DepartmentHandler => Circle::Region,
        Role::Cadre => Circle::Cadre {
            enterprises: ctx.keys.iter().filter_map(|k| k.strip_prefix("ent:")).map(str::to_owned).collect(),
        },
        Role::EnterpriseContact => {
            let enterprise = user.enterprise_id.as_deref().unwrap_or_default();
            // A contact's circle follows its enterprise's document: it is worked out again when the
            // directory moved or when that document is in this answer; otherwise the device's view
            // is current.
            if dir.is_view_of(known) && !pull.docs.iter().any(|d| d.doc == enterprise) {
                return Ok((None, known));
            }
            contact_circle(state, enterprise)?
        }
        // The relay reads roles strictly; a role it does not know is given no directory.
        Role::Unknown(_) => return Err(ApiError::forbidden("a role this relay does not know")),
    };
    let version = dir.view_version(&circle);
    let region = |e: &str| state.storage.enterprise_region(e).ok().flatten();
    Ok(((known != version).then(|| dir.for_user(user, &circle, &region)), version))
}

/// An enterprise contact's circle: its enterprise's region, and the cadres assigned to it or who
/// recorded its visits (their names are on its visits and problems).
fn contact_circle(state: &AppState, enterprise_id: &str) -> Result<Circle, ApiError> {
    // The events are read under the push lock (a push may hold the document), folded after it.
    let raw = state.read_doc(enterprise_id, |c| (c.kind == DocKind::Enterprise).then(|| raw_events_of(&c.doc)))?;
    let Some(raw) = raw.flatten() else { return Ok(Circle::Contact { region_id: None, cadres: BTreeSet::new() }) };
    let (ent, _) = fold::<EnterpriseState>(parse_events(&raw));
    let assigned = ent.assignments.iter().map(|a| a.cadre_id.clone());
    let visited = ent.visits.iter().map(|v| v.cadre_id.clone());
    Ok(Circle::Contact {
        region_id: ent.registered.then_some(ent.profile.region_id),
        cadres: assigned.chain(visited).collect(),
    })
}

fn hashes_of(push: &DocChanges) -> Vec<Vec<u8>> {
    push.changes.iter().filter_map(|b| validate::parse_change(b).ok().map(|c| c.hash().as_ref().to_vec())).collect()
}

/// How long one push holds the push lock while others wait for it: then the rest of its changes
/// wait for the device's next push (which it sends at once), and the others go first.
pub const PUSH_SLICE: std::time::Duration = std::time::Duration::from_millis(20);

/// Event readings one push may cost its validation by default (see `validate::Budget`): some 40 ms
/// of one core under the push lock, so that no push keeps others waiting long. Devices send what
/// was left out again in the same sync.
pub const VALIDATION_BUDGET: usize = 5_000;

/// How many times a push is validated again when another relay changed one of its documents meanwhile.
const STALE_ATTEMPTS: u32 = 6;

/// Validates and stores pushed documents; fills `acked` and `rejected`. With `all_or_nothing`, one
/// refused document means nothing is stored.
#[allow(clippy::too_many_arguments)]
pub fn push(
    state: &AppState,
    session: &Session,
    ctx: &SyncContext,
    dir: &Snapshot,
    mut docs: Vec<DocChanges>,
    all_or_nothing: bool,
    acked: &mut Vec<Vec<u8>>,
    rejected: &mut Vec<Rejection>,
) -> Result<(), ApiError> {
    // Enterprises first: a problem may cite a visit, or an enterprise, pushed in the same request.
    docs.sort_by_key(|d| d.kind != DocKind::Enterprise);
    let (acked_before, rejected_before) = (acked.len(), rejected.len());
    for attempt in 1.. {
        match push_once(state, session, ctx, dir, &docs, all_or_nothing, acked, rejected) {
            Err(e) if e.code == STALE && attempt < STALE_ATTEMPTS => {
                // The failed commit forgot the cached documents (or a document's commit was still on
                // its way): the next attempt validates against the stored ones, which hold the other
                // relay's changes. A random pause, growing with
                // the attempts, keeps two relays from colliding on a busy document again and again.
                acked.truncate(acked_before);
                rejected.truncate(rejected_before);
                let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 5..20 * u64::from(attempt) + 5);
                std::thread::sleep(std::time::Duration::from_millis(pause));
            }
            other => return other,
        }
    }
    unreachable!("the loop returns")
}

#[allow(clippy::too_many_arguments)]
fn push_once(
    state: &AppState,
    session: &Session,
    ctx: &SyncContext,
    dir: &Snapshot,
    docs: &[DocChanges],
    all_or_nothing: bool,
    acked: &mut Vec<Vec<u8>>,
    rejected: &mut Vec<Rejection>,
) -> Result<(), ApiError> {
    let storage = state.storage.as_ref();
    let t = Instant::now();
    // What needs the database is read first, beside other pushes: the device's actor ids, which
    // documents the user may read now, and the documents themselves (into the cache).
    let keys = &ctx.keys;
    let actors: HashSet<Vec<u8>> = ctx.actors.iter().cloned().collect();
    let ids: Vec<&str> = docs.iter().map(|d| d.doc.as_str()).collect();
    let readable: HashSet<String> = storage.docs_in_scope(&ids, keys)?.into_iter().collect();
    // Only what the validation budget can reach is loaded (a document beyond it is not judged).
    let relay_side = author::is_relay_device(&session.device_id);
    state.docs.prefetch_within(storage, &ids, if relay_side { usize::MAX } else { state.push_budget })?;
    // Pushes are validated one at a time: each sees the documents as the last one left them.
    let t = state.metrics.stage(Stage::PushReads, t);
    state.push_waiting.fetch_add(1, Relaxed);
    let _guard = state.push_lock.lock().unwrap_or_else(|p| p.into_inner());
    state.push_waiting.fetch_sub(1, Relaxed);
    let t = state.metrics.stage(Stage::PushLock, t);
    let pusher = Pusher {
        user: &session.user,
        device_id: &session.device_id,
        actors: &actors,
        actor: rules_actor(session, dir),
    };
    let mut accepted_enterprises: HashMap<String, EnterpriseState> = HashMap::new();
    let mut writes = Vec::new();
    let mut after: Vec<(String, DocKind, Automerge, usize, usize, u64)> = Vec::new();
    let mut accepted_hashes = Vec::new();
    let key_set: HashSet<&str> = keys.iter().map(String::as_str).collect();
    let (mut refusals, mut first_refusal) = (0usize, None);
    // Refused documents' copies for their devices: (index in `rejected`, the relay's copy).
    let mut copies: Vec<(usize, Automerge)> = Vec::new();
    let save_copies = |rejected: &mut Vec<Rejection>, copies: Vec<(usize, Automerge)>| {
        for (i, doc) in copies {
            rejected[i].document = Some(doc.save());
        }
    };
    let mut unconfirmed = Vec::new();
    // A push may cost at most `push_budget` event readings; the changes beyond are neither
    // acknowledged nor refused, and the device pushes them again at its next sync.
    let mut budget = if relay_side {
        validate::Budget::unlimited()
    } else {
        validate::Budget::new(state.push_budget).yielding(PUSH_SLICE, &state.push_waiting)
    };
    for d in docs {
        // Past the budget, a document is not even loaded: the device pushes it again.
        if budget.spent() {
            continue;
        }
        // Rights are judged on the state the author saw (the change's dependencies), so a device
        // must also be allowed to read the document now: a handler whose problem went to another
        // department, or a cadre no longer assigned, cannot write through an old view of it.
        let base = state.docs.take(storage, &d.doc)?;
        if base.is_some() && !readable.contains(d.doc.as_str()) {
            if let Some(c) = base {
                state.docs.put(&d.doc, c);
            }
            state.metrics.changes_rejected.fetch_add(d.changes.len() as u64, Relaxed);
            rejected.push(validate::rejection(
                d,
                RejectCode::OutOfScope,
                "document outside the user's scope".into(),
                None,
            ));
            continue;
        }
        let mut meta = base.as_ref().map(|c| (c.kind, c.last_seq, c.size, c.since_snapshot));
        let mut judge = |doc: Option<(DocKind, Automerge)>| {
            let lookup = |id: &str| -> Option<EnterpriseState> {
                if let Some(s) = accepted_enterprises.get(id) {
                    return Some(s.clone());
                }
                enterprise_state(state, id)
            };
            let receipts = |doc: &str, events: &[String]| -> Vec<(String, i64)> {
                match storage.receipts(&[doc.to_owned()], events) {
                    Ok(rows) => rows.into_iter().map(|(_, e, r)| (e, r)).collect(),
                    Err(e) => {
                        tracing::error!("reading receipts: {e}");
                        Vec::new()
                    }
                }
            };
            let problem = |id: &str| problem_state(state, id);
            let ctx =
                validate::Context { dir, enterprise: &lookup, problem: &problem, receipts: &receipts, now: now_ms() };
            validate::validate_within(&pusher, &ctx, doc, d, &mut budget)
        };
        // The cached copy may lag behind another relay's commit whose notice is still on its way: a
        // change depending on that commit is judged again on the copy brought up to date.
        let verdict = match (judge(base.map(|c| (c.kind, c.doc))), meta) {
            (
                Verdict::Reject(code @ RejectCode::MissingDependencies, message, Some(doc)),
                Some((kind, last_seq, size, since_snapshot)),
            ) => {
                let mut c = CachedDoc { kind, doc, last_seq, size, since_snapshot };
                if crate::sync::docs::catch_up(storage, &d.doc, &mut c)? {
                    meta = Some((c.kind, c.last_seq, c.size, c.since_snapshot));
                    judge(Some((c.kind, c.doc)))
                } else {
                    Verdict::Reject(code, message, Some(c.doc))
                }
            }
            (v, _) => v,
        };
        let restore = |doc: Option<Automerge>| {
            if let (Some(doc), Some((kind, last_seq, size, since_snapshot))) = (doc, meta) {
                state.docs.put(&d.doc, CachedDoc { kind, doc, last_seq, size, since_snapshot });
            }
        };
        let verdict = match verdict {
            Verdict::Accept(write, ..) if !write.keys.iter().any(|k| key_set.contains(k.as_str())) => Verdict::Reject(
                RejectCode::OutOfScope,
                "the user could not read the document after this change".into(),
                None,
            ),
            v => v,
        };
        match verdict {
            Verdict::Accept(mut write, doc, deferred) => {
                if let crate::storage::projection::Projection::Enterprise(s) = &write.projection {
                    accepted_enterprises.insert(d.doc.clone(), s.clone());
                }
                accepted_hashes.extend(hashes_of(d).into_iter().filter(|h| !deferred.contains(h)));
                let added: usize = write.changes.iter().map(|c| c.bytes.len()).sum();
                let (size, since, last_seq) = match meta {
                    Some((_, last_seq, size, since)) => {
                        (size + added * MEMORY_PER_SAVED_BYTE, since + write.changes.len(), last_seq)
                    }
                    None => (0, usize::MAX, 0),
                };
                write.base_seq = last_seq;
                // A new document, or one with many changes since its snapshot, gets a fresh snapshot.
                if since >= SNAPSHOT_EVERY {
                    let snapshot = doc.save();
                    let size = snapshot.len() * MEMORY_PER_SAVED_BYTE;
                    write.snapshot = Some(snapshot);
                    after.push((d.doc.clone(), d.kind, doc, size, 0, last_seq));
                } else {
                    after.push((d.doc.clone(), d.kind, doc, size, since, last_seq));
                }
                writes.push(*write);
            }
            Verdict::Deferred(doc) => restore(doc),
            Verdict::AlreadyStored(doc) => {
                // Held by the cache, but maybe not yet by storage: a commit carrying them may still
                // be on its way (and may fail). Those are acknowledged once storage holds them.
                if state.docs.is_pending(&d.doc) {
                    unconfirmed.extend(hashes_of(d));
                } else {
                    acked.extend(hashes_of(d));
                }
                restore(doc);
            }
            Verdict::Reject(code, message, doc) => {
                state.metrics.changes_rejected.fetch_add(d.changes.len() as u64, Relaxed);
                refusals += 1;
                if first_refusal.is_none() {
                    first_refusal = Some((d.doc.clone(), code, message.clone()));
                }
                // The relay's copy goes back only to a device allowed to read it; copied here, it is
                // saved once the push lock is released (saving costs more than copying).
                let readable = readable.contains(d.doc.as_str());
                let copy = match (&doc, meta) {
                    (Some(doc), Some(_)) if readable => Some(doc.clone()),
                    (None, Some(_)) if readable => state.docs.take(storage, &d.doc)?.map(|c| {
                        let copy = c.doc.clone();
                        state.docs.put(&d.doc, c);
                        copy
                    }),
                    _ => None,
                };
                if let Some(copy) = copy {
                    copies.push((rejected.len(), copy));
                }
                rejected.push(validate::rejection(d, code, message, None));
                restore(doc);
            }
        }
    }
    // One line per request, however many documents it pushed: the log grows with requests, not
    // with what a device chooses to put in one.
    if let Some((doc, code, message)) = first_refusal {
        tracing::info!(
            doc = %log_text(&doc),
            user = %log_text(&session.user.id),
            ?code,
            refused = refusals,
            "push refused: {}",
            log_text(&message)
        );
    }
    // Changes the cache held but storage may not yet: acknowledged only once storage holds them.
    // Every commit that could carry them was queued before this push's own; once those are written,
    // what storage lacks failed to commit, stays unacknowledged, and the device pushes it again.
    let confirm = |acked: &mut Vec<Vec<u8>>| -> Result<(), ApiError> {
        if !unconfirmed.is_empty() {
            state.commits.flush(state);
            acked.extend(storage.known_hashes(&unconfirmed)?);
        }
        Ok(())
    };
    let t = state.metrics.stage(Stage::Validate, t);
    if writes.is_empty() || (all_or_nothing && !rejected.is_empty()) {
        drop(_guard);
        save_copies(rejected, copies);
        return confirm(acked);
    }
    // The documents go back to the cache now, so the next push is validated against them; their
    // stored sequence number stays the old one until the commit lands (see `CommitQueue`), and they
    // stay cached until then.
    let ids: Vec<String> = after.iter().map(|(id, ..)| id.clone()).collect();
    for (id, kind, doc, size, since_snapshot, last_seq) in after {
        state.docs.put_pending(&id, CachedDoc { kind, doc, last_seq, size, since_snapshot });
    }
    let commit = Commit {
        user_id: session.user.id.clone(),
        device_id: session.device_id.clone(),
        received_at: now_ms(),
        docs: writes,
    };
    let slot = state.commits.enqueue(commit);
    drop(_guard);
    save_copies(rejected, copies);
    let waited = state.commits.wait(state, &slot);
    state.metrics.stage(Stage::Commit, t);
    let (commit, last_seq) = waited?;
    for id in &ids {
        state.docs.committed(id, last_seq);
    }
    let stored: u64 = commit.docs.iter().map(|d| d.changes.len() as u64).sum();
    state.metrics.changes_accepted.fetch_add(stored, Relaxed);
    acked.extend(accepted_hashes);
    state.notify(&commit, last_seq);
    confirm(acked)
}

/// Group commit: pushes validated one after another are stored together, one transaction (and one
/// disk flush) for all those waiting, by whichever pusher finds no batch being written: it writes
/// every commit queued meanwhile. Each pusher waits for its own result, and is woken as soon as the
/// batch holding it is stored (not when it next gets hold of the writer).
#[derive(Default)]
pub struct CommitQueue {
    inner: Mutex<Queue>,
    /// Signalled when a batch is stored (or failed).
    written: std::sync::Condvar,
}

#[derive(Default)]
struct Queue {
    pending: Vec<(Commit, Arc<Slot>)>,
    /// Whether a pusher is writing a batch.
    writing: bool,
}

#[derive(Default)]
pub struct Slot {
    result: Mutex<Option<Result<(Commit, u64), Failure>>>,
}

/// Why a queued commit was not stored.
#[derive(Clone)]
struct Failure {
    stale: bool,
    message: String,
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> ApiError {
        if f.stale { ApiError::stale(f.message) } else { ApiError::internal(f.message) }
    }
}

impl CommitQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enqueue(&self, commit: Commit) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        self.lock().pending.push((commit, slot.clone()));
        slot
    }

    fn take_result(slot: &Slot) -> Option<Result<(Commit, u64), Failure>> {
        slot.result.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Waits until the commit in `slot` is stored, writing it (with every other waiting one) if
    /// no other pusher is writing a batch.
    fn wait(&self, state: &AppState, slot: &Slot) -> Result<(Commit, u64), ApiError> {
        let mut queue = self.lock();
        loop {
            if let Some(r) = Self::take_result(slot) {
                return r.map_err(ApiError::from);
            }
            queue = if queue.writing {
                self.written.wait(queue).unwrap_or_else(|p| p.into_inner())
            } else {
                self.write_waiting(state, queue)
            };
        }
    }

    /// Makes durable every commit queued before the call: once a batch another pusher is writing
    /// has landed, writes those still waiting.
    fn flush(&self, state: &AppState) {
        let mut queue = self.lock();
        while queue.writing {
            queue = self.written.wait(queue).unwrap_or_else(|p| p.into_inner());
        }
        drop(self.write_waiting(state, queue));
    }

    /// Writes the commits waiting, as one batch, unless another pusher is writing one (the caller
    /// saw none); wakes the waiting pushers once it is stored. Returns the queue locked again.
    fn write_waiting<'a>(
        &'a self,
        state: &AppState,
        mut queue: std::sync::MutexGuard<'a, Queue>,
    ) -> std::sync::MutexGuard<'a, Queue> {
        if queue.pending.is_empty() {
            return queue;
        }
        let batch = std::mem::take(&mut queue.pending);
        queue.writing = true;
        drop(queue);
        let commits: Vec<&Commit> = batch.iter().map(|(c, _)| c).collect();
        let started = Instant::now();
        // A panic while writing fails the batch like a storage error: every pusher waiting for this
        // batch, or for the next, must hear of it (a batch left marked as being written would hold
        // them all forever).
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.storage.commit(&commits)))
            .unwrap_or_else(|_| Err(StorageError::Corrupt("writing a group commit panicked".into())))
            .and_then(|seqs| match seqs.len() == batch.len() {
                true => Ok(seqs),
                false => Err(StorageError::Corrupt(format!("{} numbers for {} commits", seqs.len(), batch.len()))),
            });
        let m = &state.metrics;
        m.commit_write_us.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        m.commit_batches.fetch_add(1, Relaxed);
        m.commits_batched.fetch_add(commits.len() as u64, Relaxed);
        let set = |s: &Slot, r| *s.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
        match written {
            Ok(seqs) => {
                for ((commit, s), seq) in batch.into_iter().zip(seqs) {
                    set(&s, Ok((commit, seq)));
                }
            }
            Err(e) => {
                let failure = Failure { stale: matches!(e, StorageError::Stale(_)), message: format!("storage: {e}") };
                if failure.stale {
                    tracing::info!("commit refused: {e}");
                } else {
                    tracing::error!("commit failed: {e}");
                }
                // Later pushes may have been validated against documents holding the failed
                // changes: under the push lock (no validation running), fail every queued
                // commit and forget the cached documents.
                let _guard = state.push_lock.lock().unwrap_or_else(|p| p.into_inner());
                let queued = std::mem::take(&mut self.lock().pending);
                for (_, s) in batch.into_iter().chain(queued) {
                    set(&s, Err(failure.clone()));
                }
                state.docs.clear();
            }
        }
        let mut queue = self.lock();
        queue.writing = false;
        self.written.notify_all();
        queue
    }
}

/// Binds an actor id to the device (see `RelayStorage::bind_actor`), remembering bindings already made.
/// Actor ids one device may bind. An app starts a fresh one after each refused push (rare: a
/// conflict with an office's decision); a device presenting ever new ones would only be growing
/// the relay's tables.
pub const MAX_ACTORS_PER_DEVICE: usize = 256;

fn bind_actor(state: &AppState, device_id: &str, actor: &[u8]) -> Result<bool, ApiError> {
    if let Some(d) = state.bound_actors.lock().unwrap_or_else(|p| p.into_inner()).get(actor) {
        return Ok(d == device_id);
    }
    let held = state.storage.device_actors(device_id)?;
    let bound = if held.iter().any(|a| a == actor) {
        true
    } else if held.len() >= MAX_ACTORS_PER_DEVICE {
        false
    } else {
        state.storage.bind_actor(device_id, actor)?
    };
    if bound {
        let mut known = state.bound_actors.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() > 200_000 {
            known.clear();
        }
        known.insert(actor.to_vec(), device_id.to_owned());
    }
    Ok(bound)
}

/// The relay's current state of an enterprise.
pub fn enterprise_state(state: &AppState, id: &str) -> Option<EnterpriseState> {
    folded::<EnterpriseState>(state, id, DocKind::Enterprise).filter(|s| s.registered)
}

/// The relay's current state of a problem.
pub fn problem_state(state: &AppState, id: &str) -> Option<ProblemState> {
    folded::<ProblemState>(state, id, DocKind::Problem).filter(|s| s.status != ProblemStatus::New)
}

/// The state of a stored document of kind `kind`, folded from the cached copy.
fn folded<S: zhuqi_core::domain::event::Fold<Action: serde::de::DeserializeOwned>>(
    state: &AppState,
    id: &str,
    kind: DocKind,
) -> Option<S> {
    let mut c = state.docs.take(state.storage.as_ref(), id).ok()??;
    let document = Document::from_automerge(c.doc);
    let result = (c.kind == kind).then(|| fold::<S>(document.events()).0);
    c.doc = document.into_automerge();
    state.docs.put(id, c);
    result
}

impl AppState {
    /// Records that a device was seen, at most once a minute per device. Devices seen are written
    /// together, once a second at most, by whichever request comes next.
    fn touch(&self, session: &Session) -> Result<(), ApiError> {
        let now = now_ms();
        let due = {
            let mut t = self.touched.lock().unwrap_or_else(|p| p.into_inner());
            if t.seen.get(&session.device_id).is_none_or(|at| now - at >= 60_000) {
                if t.seen.len() > 100_000 {
                    t.seen.clear();
                }
                t.seen.insert(session.device_id.clone(), now);
                t.pending.push(session.device_id.clone());
            }
            if t.pending.is_empty() || (now - t.flushed < 1_000 && t.pending.len() < 1_000) {
                return Ok(());
            }
            t.flushed = now;
            std::mem::take(&mut t.pending)
        };
        self.storage.touch_devices(&due, now)?;
        Ok(())
    }

    /// Tells live listeners (`/v1/events`) which scope keys a commit touched.
    pub fn notify(&self, commit: &Commit, seq: u64) {
        let _ = self.notices.send(Arc::new(Notice { seq, keys: commit.notice_keys() }));
    }
}
