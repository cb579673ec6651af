//! The photo endpoints of the device API: `PUT /v1/blobs/{sha256}` (a chunk at an offset),
//! `GET /v1/blobs/{sha256}/status` and `GET /v1/blobs/{sha256}` (the bytes). A device may upload or
//! read a photo only when a document it may read names it, and upload it only at the size that
//! document gives; whoever holds the bytes of a hash may send them, since they are checked against
//! it before they count. Everything about a request is checked before its body is read.

use super::{BlobError, BlobStatus, BlobStore, evidence, is_sha256};
use crate::app::{AppState, blocking};
use crate::auth::Authed;
use crate::http::body::read_body;
use crate::http::error::ApiError;
use crate::http::metrics::Route;
use crate::storage::Session;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use zhuqi_core::domain::Role;
use zhuqi_core::domain::photo::Taken;
use zhuqi_core::sync::protocol::{BLOB_CHUNK_BYTES, BLOB_OFFSET_HEADER, BLOB_SIZE_HEADER, BlobProgress as Progress};

/// Bytes of photos one user may upload in a day (China time), all devices together.
pub const DAILY_BYTES: u64 = 1 << 30;

fn store(state: &AppState) -> Result<Arc<dyn BlobStore>, ApiError> {
    state.blobs.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_blob_store",
            "this relay keeps no photos",
            "服务器未配置照片存储",
        )
    })
}

fn storage_error(e: BlobError) -> ApiError {
    match e {
        BlobError::Offset { received } => ApiError::new(
            StatusCode::CONFLICT,
            "offset",
            format!("the upload stands at {received} bytes"),
            "照片上传进度已变化，请重试",
        ),
        BlobError::HashMismatch => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "hash_mismatch",
            "the bytes do not match their SHA-256",
            "照片内容校验失败，请重新上传",
        ),
        BlobError::NotAPhoto => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_a_photo",
            "the bytes are not a JPEG, PNG, WebP or HEIC photo",
            "照片格式不正确",
        ),
        BlobError::Io(e) => ApiError::internal(e.to_string()),
    }
}

/// The sizes the documents the user may read give the photo; refused (as unknown) when none may be
/// read, so that nobody learns which photos exist elsewhere.
fn sizes_for(state: &AppState, session: &Session, sha256: &str) -> Result<Vec<u64>, ApiError> {
    if !is_sha256(sha256) {
        return Err(ApiError::bad_request("a photo is named by its SHA-256: 64 lower-case hex digits"));
    }
    let storage = state.storage.as_ref();
    let refs = storage.photo_refs(sha256)?;
    let ids: Vec<&str> = refs.iter().map(|(d, _)| d.as_str()).collect();
    let readable =
        if ids.is_empty() { Vec::new() } else { storage.docs_in_scope(&ids, &storage.user_keys(&session.user)?)? };
    let mut sizes: Vec<u64> = refs.iter().filter(|(d, _)| readable.contains(d)).map(|(_, s)| *s).collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no document you may read names this photo",
            "找不到该照片",
        ));
    }
    Ok(sizes)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Result<u64, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok()?.trim().parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("header {name} must give a number of bytes")))
}

fn progress(size: u64, status: BlobStatus) -> Progress {
    match status {
        BlobStatus::Absent => Progress { size, received: 0, complete: false },
        BlobStatus::Partial { received } => Progress { size, received, complete: false },
        BlobStatus::Complete { size } => Progress { size, received: size, complete: true },
    }
}

/// Photo uploads one user may have in progress at once (each holds up to a chunk in memory and a
/// thread while it is written).
pub const UPLOADS_PER_USER: usize = 4;
/// Partial copies nobody has added to for this long are dropped.
pub const PARTIAL_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(2 * 24 * 3600);

/// A user's upload requests in progress, from before their body is read to their end:
/// [`UPLOADS_PER_USER`] per user.
struct InFlight {
    state: Arc<AppState>,
    user: String,
}

impl InFlight {
    fn take(state: &Arc<AppState>, user: &str) -> Result<InFlight, ApiError> {
        let mut in_flight = state.blob_uploads.lock().unwrap_or_else(|p| p.into_inner());
        let n = in_flight.entry(user.to_owned()).or_default();
        if *n >= UPLOADS_PER_USER {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_uploads",
                "too many photo uploads of this user at once",
                "同时上传的照片过多，请稍后重试",
            ));
        }
        *n += 1;
        Ok(InFlight { state: state.clone(), user: user.to_owned() })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut in_flight = self.state.blob_uploads.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = in_flight.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&self.user);
            }
        }
    }
}

/// The writing of a chunk of a user's photo: one at a time per user and photo, so that two requests
/// (a retry and the request it retries) never both append at the same offset. Taken only once the
/// chunk is read: a request cut off mid-body, whose connection the relay may not see close for a
/// while, holds nothing that would refuse the device's next attempt.
struct Writing {
    state: Arc<AppState>,
    key: (String, String),
}

impl Writing {
    fn take(state: &Arc<AppState>, user: &str, sha256: &str) -> Result<Writing, ApiError> {
        let key = (user.to_owned(), sha256.to_owned());
        if !state.blob_writes.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone()) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "busy",
                "another chunk of this photo by this user is being written",
                "该照片正在上传，请稍后重试",
            ));
        }
        Ok(Writing { state: state.clone(), key })
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.state.blob_writes.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}

/// Counts `bytes` against the user's daily allowance; refused past it.
fn spend(state: &AppState, user: &str, bytes: u64) -> Result<(), ApiError> {
    let today = (crate::now_ms() + 8 * 3_600_000).div_euclid(86_400_000);
    let mut spent = state.blob_quota.lock().unwrap_or_else(|p| p.into_inner());
    spent.retain(|_, (day, _)| *day == today);
    let used = spent.entry(user.to_owned()).or_insert((today, 0));
    if used.1 + bytes > DAILY_BYTES {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "daily_limit",
            "today's photo uploads of this user are used up",
            "今日上传照片已达上限，请明天再传",
        ));
    }
    used.1 += bytes;
    Ok(())
}

/// Drops abandoned partial copies, at most once an hour (in the background).
fn sweep(state: &AppState, blobs: &Arc<dyn BlobStore>) {
    let now = crate::now_ms();
    let last = state.blob_sweep.load(std::sync::atomic::Ordering::Relaxed);
    if now - last < 3_600_000
        || state
            .blob_sweep
            .compare_exchange(last, now, std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let blobs = blobs.clone();
    tokio::task::spawn_blocking(move || match blobs.collect_partials(PARTIAL_MAX_AGE) {
        Ok(0) => {}
        Ok(n) => tracing::info!("dropped {n} abandoned photo uploads"),
        Err(e) => tracing::warn!("collecting abandoned photo uploads: {e}"),
    });
}

/// `PUT /v1/blobs/{sha256}`: a chunk of at most [`BLOB_CHUNK_BYTES`] at the offset `zhuqi-blob-offset`
/// of a photo of `zhuqi-blob-size` bytes, appended to the user's own partial copy. Answers the
/// progress; the last chunk completes the photo once its bytes hash to its name. Everything but the
/// body is checked before the body is read, and the daily allowance is charged only for a chunk
/// that is written.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Authed(session): Authed,
    Path(sha256): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    state.metrics.request(Route::Blobs);
    let r = async {
        let blobs = store(&state)?;
        sweep(&state, &blobs);
        let (offset, size) = (header_u64(&headers, BLOB_OFFSET_HEADER)?, header_u64(&headers, BLOB_SIZE_HEADER)?);
        let (st, s, sha) = (state.clone(), session.clone(), sha256.clone());
        let sizes = blocking(move || sizes_for(&st, &s, &sha)).await?;
        if !sizes.contains(&size) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "size",
                "the size differs from the one the photo's document gives",
                "照片大小与记录不符",
            ));
        }
        let user = session.user.id.clone();
        let in_flight = InFlight::take(&state, &user)?;
        let (b, sha, u) = (blobs.clone(), sha256.clone(), user.clone());
        let status = blocking(move || b.status(&sha, &u).map_err(storage_error)).await?;
        let received = match status {
            BlobStatus::Complete { .. } => return Ok(axum::Json(progress(size, status)).into_response()),
            BlobStatus::Partial { received } => received,
            BlobStatus::Absent => 0,
        };
        if offset != received {
            return Err(storage_error(BlobError::Offset { received }));
        }
        // Every chunk is whole: 1 MiB, or what is left of the photo (so an upload costs the relay
        // one write per MiB, whatever the client would like).
        let expected = (BLOB_CHUNK_BYTES as u64).min(size.saturating_sub(offset));
        let wrong_length = || {
            ApiError::bad_request(format!("a chunk at offset {offset} of a photo of {size} bytes has {expected} bytes"))
        };
        let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if expected == 0 || declared.is_some_and(|d| d != expected) {
            return Err(wrong_length());
        }
        let chunk = read_body(&headers, body, BLOB_CHUNK_BYTES).await?;
        if chunk.len() as u64 != expected {
            return Err(wrong_length());
        }
        let writing = Writing::take(&state, &user, &sha256)?;
        spend(&state, &user, chunk.len() as u64)?;
        // Both stay taken until the writing ends, even if the request is dropped meanwhile.
        blocking(move || {
            let _held = (in_flight, writing);
            let received = blobs.append(&sha256, &user, offset, &chunk).map_err(storage_error)?;
            if received == size {
                // What the photo says of itself is read when a page first needs it (`photo_taken`).
                blobs.finish(&sha256, &user).map_err(storage_error)?;
                return Ok(axum::Json(Progress { size, received, complete: true }).into_response());
            }
            Ok(axum::Json(Progress { size, received, complete: false }).into_response())
        })
        .await
    }
    .await;
    r.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /v1/blobs/{sha256}/status`: how much of the photo the relay holds.
pub async fn status(
    State(state): State<Arc<AppState>>,
    Authed(session): Authed,
    Path(sha256): Path<String>,
) -> Response {
    state.metrics.request(Route::Blobs);
    let st = state.clone();
    blocking(move || {
        let blobs = store(&st)?;
        let sizes = sizes_for(&st, &session, &sha256)?;
        let status = blobs.status(&sha256, &session.user.id).map_err(storage_error)?;
        Ok(axum::Json(progress(sizes[0], status)).into_response())
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// Bytes read from storage at a time while a photo is sent.
const READ_BYTES: usize = 256 * 1024;

/// `GET /v1/blobs/{sha256}`: the photo's bytes, streamed, with its content type. An enterprise
/// contact gets a copy without metadata instead (see [`Copy::Public`]).
pub async fn download(state: State<Arc<AppState>>, authed: Authed, sha256: Path<String>) -> Response {
    readable(state, authed, sha256, |st, session, blobs, sha256| {
        if session.user.role == Role::EnterpriseContact {
            return copy_response(st, blobs, sha256, Copy::Public);
        }
        photo_response(blobs, sha256)
    })
    .await
}

/// `GET /v1/blobs/{sha256}/thumbnail`: the photo's thumbnail (see [`Copy::Thumbnail`]).
pub async fn thumbnail(state: State<Arc<AppState>>, authed: Authed, sha256: Path<String>) -> Response {
    readable(state, authed, sha256, |st, _, blobs, sha256| copy_response(st, blobs, sha256, Copy::Thumbnail)).await
}

/// Answers with `f` a read of a photo a document the user may read names (else 404), on a
/// blocking thread.
async fn readable(
    State(state): State<Arc<AppState>>,
    Authed(session): Authed,
    Path(sha256): Path<String>,
    f: impl FnOnce(&AppState, &Session, Arc<dyn BlobStore>, &str) -> Result<Response, ApiError> + Send + 'static,
) -> Response {
    state.metrics.request(Route::Blobs);
    let st = state.clone();
    blocking(move || {
        let blobs = store(&st)?;
        sizes_for(&st, &session, &sha256)?;
        f(&st, &session, blobs, &sha256)
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// The copies the relay makes of a photo: JPEGs without any metadata, turned upright, kept once made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    /// At most [`evidence::THUMBNAIL_SIDE`] pixels a side, for lists and timelines.
    Thumbnail,
    /// At most [`evidence::PUBLIC_SIDE`] pixels a side, for enterprise contacts: no position or
    /// time of anyone's phone leaves with it.
    Public,
}

impl Copy {
    fn name(self, sha256: &str) -> String {
        match self {
            Copy::Thumbnail => format!("{sha256}.thumb.jpg"),
            Copy::Public => format!("{sha256}.public.jpg"),
        }
    }

    fn make(self, photo: &[u8]) -> Result<Vec<u8>, evidence::CopyError> {
        match self {
            Copy::Thumbnail => evidence::copy(photo, evidence::THUMBNAIL_SIDE, 80),
            Copy::Public => evidence::copy(photo, evidence::PUBLIC_SIDE, 85),
        }
    }
}

/// Photos decoded at once: each may take up to 256 MB while it is decoded.
const DECODES_AT_ONCE: usize = 2;
/// Requests that may wait for their turn to decode; more are answered 503 at once, so waiting
/// never holds more than a few of the relay's blocking threads.
const DECODE_WAITERS: usize = 8;
/// How long a request waits for its turn to decode.
const DECODE_WAIT: Duration = Duration::from_secs(10);

/// Counts the photos being decoded (for [`DECODES_AT_ONCE`]) and the requests waiting to.
#[derive(Default)]
pub struct DecodeGate {
    counts: Mutex<(usize, usize)>,
    freed: Condvar,
}

/// A turn to decode, given back when dropped (also when the decoding panics).
struct DecodeTurn<'a>(&'a DecodeGate);

impl Drop for DecodeTurn<'_> {
    fn drop(&mut self) {
        self.0.counts.lock().unwrap_or_else(|p| p.into_inner()).0 -= 1;
        self.0.freed.notify_one();
    }
}

impl DecodeGate {
    fn turn(&self) -> Result<DecodeTurn<'_>, ApiError> {
        let busy = || {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many photos are being prepared; try again",
                "照片处理繁忙，请稍后重试",
            )
        };
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.0 >= DECODES_AT_ONCE && counts.1 >= DECODE_WAITERS {
            return Err(busy());
        }
        counts.1 += 1;
        let (mut counts, timeout) = self
            .freed
            .wait_timeout_while(counts, DECODE_WAIT, |c| c.0 >= DECODES_AT_ONCE)
            .unwrap_or_else(|p| p.into_inner());
        counts.1 -= 1;
        if timeout.timed_out() {
            return Err(busy());
        }
        counts.0 += 1;
        Ok(DecodeTurn(self))
    }
}

fn copy_error(e: evidence::CopyError) -> ApiError {
    match e {
        evidence::CopyError::Unsupported => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_format",
            "the relay cannot make a copy of a photo in this format (HEIC)",
            "该照片格式暂不支持预览",
        ),
        evidence::CopyError::Undecodable(why) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "undecodable",
            format!("the photo cannot be decoded: {why}"),
            "照片无法解码",
        ),
    }
}

/// The copy `kind` of a complete photo, made (and kept) when first asked for; a photo that cannot
/// be made into one is remembered as such and not decoded again. Whoever calls it has checked the
/// reader's right to the photo.
pub fn copy_response(st: &AppState, blobs: Arc<dyn BlobStore>, sha256: &str, kind: Copy) -> Result<Response, ApiError> {
    let name = kind.name(sha256);
    let failed = format!("{name}.failed");
    let kept = |blobs: &dyn BlobStore| -> Result<Option<Vec<u8>>, ApiError> {
        if let Some(why) = blobs.derived(&failed).map_err(storage_error)? {
            let why = String::from_utf8_lossy(&why).into_owned();
            return Err(copy_error(if why == "unsupported" {
                evidence::CopyError::Unsupported
            } else {
                evidence::CopyError::Undecodable(why)
            }));
        }
        blobs.derived(&name).map_err(storage_error)
    };
    let bytes = match kept(blobs.as_ref())? {
        Some(bytes) => bytes,
        None => {
            // The photo is read only once it is this request's turn: requests waiting hold no
            // photo in memory.
            let _turn = st.decodes.turn()?;
            match kept(blobs.as_ref())? {
                Some(bytes) => bytes,
                None => {
                    let size = blobs.complete_size(sha256).map_err(storage_error)?.ok_or_else(not_uploaded)?;
                    let photo = blobs.read(sha256, 0, size as usize).map_err(storage_error)?;
                    match kind.make(&photo) {
                        Ok(bytes) => {
                            blobs.put_derived(&name, &bytes).map_err(storage_error)?;
                            bytes
                        }
                        Err(e) => {
                            let why = match &e {
                                evidence::CopyError::Unsupported => "unsupported".to_owned(),
                                evidence::CopyError::Undecodable(why) => why.clone(),
                            };
                            blobs.put_derived(&failed, why.as_bytes()).map_err(storage_error)?;
                            return Err(copy_error(e));
                        }
                    }
                }
            }
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg".to_owned()),
            (header::CACHE_CONTROL, "private, max-age=31536000, immutable".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// What a photo says of when and where it was taken, if the relay holds it whole: read from its
/// first bytes and recorded the first time it is asked for.
pub fn photo_taken(st: &AppState, sha256: &str) -> Result<Option<Taken>, ApiError> {
    if let Some(taken) = st.storage.photo_taken(sha256)? {
        return Ok(Some(taken));
    }
    let Some(blobs) = st.blobs.as_ref() else { return Ok(None) };
    if blobs.complete_size(sha256).map_err(storage_error)?.is_none() {
        return Ok(None);
    }
    let head = blobs.read(sha256, 0, evidence::METADATA_BYTES).map_err(storage_error)?;
    let taken = evidence::taken(&head);
    st.storage.record_photo(sha256, &taken)?;
    Ok(Some(taken))
}

fn not_uploaded() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_uploaded", "the photo is not uploaded yet", "照片尚未上传")
}

/// Whether the relay holds the whole photo.
pub fn is_uploaded(state: &AppState, sha256: &str) -> bool {
    state.blobs.as_ref().is_some_and(|b| matches!(b.complete_size(sha256), Ok(Some(_))))
}

/// A complete photo as a response: its first piece read now, the rest streamed as it is sent, with
/// its content type from its first bytes; 404 while it is incomplete. Whoever calls it has checked
/// the reader's right to it.
pub fn photo_response(blobs: Arc<dyn BlobStore>, sha256: &str) -> Result<Response, ApiError> {
    let size = blobs.complete_size(sha256).map_err(storage_error)?.ok_or_else(not_uploaded)?;
    let head = blobs.read(sha256, 0, READ_BYTES).map_err(storage_error)?;
    let content_type = zhuqi_core::storage::blobs::sniff(&head).unwrap_or("application/octet-stream");
    let start = head.len() as u64;
    let sha = sha256.to_owned();
    let rest = futures_util::stream::unfold((blobs, start), move |(blobs, offset)| {
        let sha = sha.clone();
        async move { next_chunk(blobs, sha, offset, size).await }
    });
    let body = futures_util::stream::once(async move { Ok(bytes::Bytes::from(head)) });
    let body = Body::from_stream(futures_util::StreamExt::chain(body, rest));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CACHE_CONTROL, "private, max-age=31536000, immutable".to_owned()),
        ],
        body,
    )
        .into_response())
}

type Chunk = (Result<bytes::Bytes, std::io::Error>, (Arc<dyn BlobStore>, u64));

/// The next piece of a photo being sent, from `offset` of its `size` bytes.
async fn next_chunk(blobs: Arc<dyn BlobStore>, sha: String, offset: u64, size: u64) -> Option<Chunk> {
    if offset >= size {
        return None;
    }
    let b = blobs.clone();
    match tokio::task::spawn_blocking(move || b.read(&sha, offset, READ_BYTES)).await {
        Ok(Ok(bytes)) if !bytes.is_empty() => {
            let next = offset + bytes.len() as u64;
            Some((Ok(bytes::Bytes::from(bytes)), (blobs, next)))
        }
        // A photo that cannot be read to its end cuts the response short: the client sees it.
        _ => Some((Err(std::io::Error::other("photo read failed")), (blobs, size))),
    }
}
