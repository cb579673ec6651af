//! Photos on the device: copied into the store's photo folder when the app attaches them (named by
//! their SHA-256, fsynced before anything refers to them), queued for upload by the same transaction
//! as the event (a visit, a problem report, a progress note, a resolution) that first refers to
//! them, and kept. The `blobs` table holds each one's state: `attached` (copied in, no event refers
//! to it yet), `waiting`, `done`, or `failed` with a reason. Photos of other devices fetched to be
//! shown are kept apart, in a cache with a budget (`photo_cache`).

use super::{Store, new_id};
use crate::domain::PhotoRef;
use crate::error::{Error, Invalid, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Which copy of a photo to show: a thumbnail (at most 320 pixels a side, for lists and timelines)
/// or the original (when it is opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoSize {
    Thumbnail,
    Original,
}

impl PhotoSize {
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoSize::Thumbnail => "thumbnail",
            PhotoSize::Original => "original",
        }
    }
}

/// Bytes the photos fetched to show them may take, unless the user sets otherwise.
pub const PHOTO_CACHE_BUDGET: u64 = 256 << 20;

/// A photo's way to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhotoUpload {
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    /// `waiting`, `done` or `failed` as stored; `uploading` as told to an upload's listener.
    pub state: String,
    /// Bytes the relay holds: the size once `done`, where it stood when an upload failed; the
    /// progress of an upload is told to the listener of `SyncClient::upload_photos_reporting`.
    pub uploaded: u64,
    /// Why the last attempt failed.
    pub reason: Option<String>,
}

impl Store {
    /// Copies the photo file at `path` (JPEG, PNG, WebP or HEIC; at most 20 MB) into the store and
    /// returns the reference a visit carries. The copy is durable when this returns; it is queued for
    /// upload once a visit that names it is recorded. The same bytes attached twice are stored once.
    pub fn attach_photo(&self, path: &Path) -> Result<PhotoRef> {
        // The copy is made without holding the store: a large photo must not stall other calls.
        let files = self.lock().blobs.clone();
        let blob = files.put(path)?;
        let inner = self.lock();
        inner.conn.execute(
            "INSERT INTO blobs (sha256, size, content_type, state, added_at) VALUES (?1, ?2, ?3, 'attached', ?4)
             ON CONFLICT (sha256) DO NOTHING",
            params![blob.sha256, blob.size, blob.content_type, inner.now()],
        )?;
        Ok(PhotoRef { id: new_id(), sha256: blob.sha256, size_bytes: blob.size })
    }

    /// The photos an event has referred to, with how far each has reached the relay, oldest first.
    pub fn photo_uploads(&self) -> Result<Vec<PhotoUpload>> {
        let inner = self.lock();
        let mut stmt = inner.conn.prepare(
            "SELECT sha256, size, content_type, state, uploaded, reason FROM blobs
             WHERE state <> 'attached' ORDER BY added_at, sha256",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PhotoUpload {
                sha256: r.get(0)?,
                size: r.get(1)?,
                content_type: r.get(2)?,
                state: r.get(3)?,
                uploaded: r.get(4)?,
                reason: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records how far a photo's upload has come: `state` (`done`, `failed`, or back to
    /// `waiting`), the bytes the relay acknowledged, and why it failed.
    pub fn set_photo_upload(&self, sha256: &str, state: &str, uploaded: u64, reason: Option<&str>) -> Result<()> {
        self.lock().conn.execute(
            "UPDATE blobs SET state = ?2, uploaded = ?3, reason = ?4 WHERE sha256 = ?1 AND state <> 'attached'",
            params![sha256, state, uploaded, reason],
        )?;
        Ok(())
    }

    /// Records that the relay holds these photos whole (sha256, size), in one commit.
    pub fn set_photos_uploaded(&self, photos: &[(String, u64)]) -> Result<()> {
        if photos.is_empty() {
            return Ok(());
        }
        let inner = self.lock();
        let tx = rusqlite::Transaction::new_unchecked(&inner.conn, rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE blobs SET state = 'done', uploaded = ?2, reason = NULL WHERE sha256 = ?1 AND state <> 'attached'",
            )?;
            for (sha256, size) in photos {
                stmt.execute(params![sha256, size])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The app tells which network the phone is on: metered (mobile data) or not (Wi-Fi). Not kept
    /// across restarts: the app says it again when it starts and whenever it changes.
    pub fn set_network_metered(&self, metered: bool) {
        self.lock().metered = metered;
    }

    /// Whether photos may be uploaded over a metered network (the user's setting; yes until set).
    pub fn set_photos_on_metered(&self, allowed: bool) -> Result<()> {
        crate::storage::meta_set(&self.lock().conn, "photos_on_metered", if allowed { "yes" } else { "no" })
    }

    pub fn photos_on_metered(&self) -> Result<bool> {
        Ok(crate::storage::meta_get(&self.lock().conn, "photos_on_metered")?.as_deref() != Some("no"))
    }

    /// Whether photos may be uploaded now: not while on a metered network the user keeps them off.
    pub fn photos_may_upload(&self) -> Result<bool> {
        let metered = self.lock().metered;
        Ok(!metered || self.photos_on_metered()?)
    }

    /// The bytes to show a photo from, if this device has them: a photo it took (its original,
    /// also for a thumbnail), or a copy fetched earlier (`SyncClient::fetch_photo`), which counts as
    /// just used. Unsealed here in an encrypted store: they are never written anywhere plain.
    pub fn shown_photo(&self, sha256: &str, size: PhotoSize) -> Result<Option<Vec<u8>>> {
        if let Some(own) = self.photo_file(sha256)? {
            let files = self.lock().blobs.clone();
            return files.read(&own).map(Some);
        }
        let inner = self.lock();
        let path = inner.blobs.cache_path(sha256, size.as_str());
        let touched = inner.conn.execute(
            "UPDATE photo_cache SET used_at = ?3 WHERE sha256 = ?1 AND kind = ?2",
            params![sha256, size.as_str(), inner.now()],
        )?;
        if touched == 0 {
            return Ok(None);
        }
        match inner.blobs.read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            // Removed or damaged outside the app: fetched again next time.
            Err(_) => {
                let _ = std::fs::remove_file(&path);
                inner
                    .conn
                    .execute("DELETE FROM photo_cache WHERE sha256 = ?1 AND kind = ?2", params![sha256, size.as_str()])?;
                Ok(None)
            }
        }
    }

    /// Opens a photo this device took to read it (an upload reads it from where the relay stands).
    pub fn open_own_photo(&self, sha256: &str) -> Result<Option<crate::storage::blobs::BlobReader>> {
        let Some(path) = self.photo_file(sha256)? else { return Ok(None) };
        let files = self.lock().blobs.clone();
        match files.open(&path) {
            Ok(r) => Ok(Some(r)),
            // Removed, or damaged, outside the app: nothing can bring it back.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidData) => {
                tracing::warn!("photo {sha256} cannot be read: {e}");
                Ok(None)
            }
            Err(e) => Err(Error::File(format!("photo file: {e}"))),
        }
    }

    /// A new file in the cache folder for a photo being fetched, open to write (sealed in an
    /// encrypted store); moved in by [`Store::keep_fetched_photo`] once finished, or removed by
    /// whoever fails to fetch it.
    pub fn fetch_writer(&self) -> Result<(PathBuf, crate::storage::blobs::BlobWriter)> {
        let path = self.fetch_target()?;
        let files = self.lock().blobs.clone();
        let writer = files.create(&path).map_err(|e| Error::File(format!("photo cache: {e}")))?;
        Ok((path, writer))
    }

    /// A new file in the cache folder for a photo being fetched (moved in by
    /// [`Store::keep_fetched_photo`], or removed by whoever fails to fetch it).
    pub fn fetch_target(&self) -> Result<PathBuf> {
        let dir = self.lock().blobs.cache_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::File(format!("photo cache: {e}")))?;
        Ok(dir.join(format!(".fetch-{}", uuid::Uuid::now_v7())))
    }

    /// Keeps the copy `size` of a photo fetched into `fetched` (from [`Store::fetch_target`]) and
    /// returns where it now is. Copies beyond the cache's budget go, the least recently shown first
    /// (never the one just kept, nor any photo this device took: those are not in the cache).
    pub fn keep_fetched_photo(&self, sha256: &str, size: PhotoSize, fetched: &Path) -> Result<PathBuf> {
        let budget = self.photo_cache_budget()?;
        let inner = self.lock();
        let dest = inner.blobs.cache_path(sha256, size.as_str());
        let bytes = std::fs::metadata(fetched).map_err(|e| Error::File(format!("fetched photo: {e}")))?.len();
        std::fs::rename(fetched, &dest).map_err(|e| Error::File(format!("fetched photo: {e}")))?;
        inner.conn.execute(
            "INSERT OR REPLACE INTO photo_cache (sha256, kind, size, used_at) VALUES (?1, ?2, ?3, ?4)",
            params![sha256, size.as_str(), bytes, inner.now()],
        )?;
        let mut total: u64 =
            inner.conn.query_row("SELECT COALESCE(SUM(size), 0) FROM photo_cache", [], |r| r.get(0))?;
        if total > budget {
            let tx = rusqlite::Transaction::new_unchecked(&inner.conn, rusqlite::TransactionBehavior::Immediate)?;
            let mut stmt = tx.prepare(
                "SELECT sha256, kind, size FROM photo_cache WHERE NOT (sha256 = ?1 AND kind = ?2)
                 ORDER BY used_at, sha256, kind",
            )?;
            let oldest: Vec<(String, String, u64)> = stmt
                .query_map(params![sha256, size.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (sha, kind, bytes) in oldest {
                if total <= budget {
                    break;
                }
                match std::fs::remove_file(inner.blobs.cache_path(&sha, &kind)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::File(format!("photo cache: {e}")));
                    }
                    _ => {}
                }
                tx.execute("DELETE FROM photo_cache WHERE sha256 = ?1 AND kind = ?2", params![sha, kind])?;
                total -= bytes;
            }
            drop(stmt);
            tx.commit()?;
        }
        Ok(dest)
    }

    /// How many bytes the photos fetched to show them may take (the user's setting).
    pub fn set_photo_cache_budget(&self, bytes: u64) -> Result<()> {
        crate::storage::meta_set(&self.lock().conn, "photo_cache_budget", &bytes.to_string())
    }

    pub fn photo_cache_budget(&self) -> Result<u64> {
        let set = crate::storage::meta_get(&self.lock().conn, "photo_cache_budget")?;
        Ok(set.and_then(|b| b.parse().ok()).unwrap_or(PHOTO_CACHE_BUDGET))
    }

    /// Bytes the photos fetched to show them take now.
    pub fn photo_cache_bytes(&self) -> Result<u64> {
        Ok(self.lock().conn.query_row("SELECT COALESCE(SUM(size), 0) FROM photo_cache", [], |r| r.get(0))?)
    }

    /// The file of a photo this device took (sealed in an encrypted store: read it through
    /// [`Store::shown_photo`] or [`Store::open_own_photo`]).
    pub fn photo_file(&self, sha256: &str) -> Result<Option<PathBuf>> {
        let inner = self.lock();
        let held: Option<String> =
            inner.conn.query_row("SELECT sha256 FROM blobs WHERE sha256 = ?1", [sha256], |r| r.get(0)).optional()?;
        Ok(held.map(|h| inner.blobs.path(&h)))
    }
}

/// Checks that every one of `photos` not in `already` (the photos a corrected visit had) was
/// attached on this device, with the size it was attached with: a reference to bytes nobody holds
/// would be evidence that can never arrive.
pub(super) fn check_held(conn: &Connection, photos: &[PhotoRef], already: &[PhotoRef]) -> Result<()> {
    for p in photos.iter().filter(|p| !already.iter().any(|a| a.sha256 == p.sha256)) {
        let size: Option<u64> =
            conn.query_row("SELECT size FROM blobs WHERE sha256 = ?1", [&p.sha256], |r| r.get(0)).optional()?;
        if size != Some(p.size_bytes) {
            return Err(Error::invalid("photo", Invalid::Format { expected: "a photo attached on this device" }));
        }
    }
    Ok(())
}
