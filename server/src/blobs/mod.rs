//! Photos on the relay: the bytes of the photos documents name, uploaded in chunks a device can
//! resume, checked against their SHA-256 before they count, and read back by those who may read a
//! document that names them (`routes`). They are kept behind [`BlobStore`]; [`FsBlobStore`] keeps
//! them in a folder (by default `<data-dir>/blobs`).

pub mod evidence;
pub mod routes;
pub mod s3;

use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// How far a photo has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobStatus {
    /// Nothing received.
    Absent,
    /// `received` bytes of an upload in progress.
    Partial { received: u64 },
    /// Every byte, checked against the hash.
    Complete { size: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A chunk not starting where the upload stands.
    #[error("the upload stands at {received} bytes")]
    Offset { received: u64 },
    /// The bytes received do not hash to the name (the upload is dropped).
    #[error("the bytes do not match their SHA-256")]
    HashMismatch,
    /// The bytes are not a photo (the upload is dropped).
    #[error("the bytes are not a JPEG, PNG, WebP or HEIC photo")]
    NotAPhoto,
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
}

/// Where photos are kept. Each uploader (a user) appends chunks to a partial copy of its own, so
/// nobody else's bytes can spoil it; `finish` checks the copy and makes it the photo. A photo once
/// complete never changes (its name is its hash).
pub trait BlobStore: Send + Sync {
    /// The photo's state, as `uploader` sees it: complete, or its own partial copy.
    fn status(&self, sha256: &str, uploader: &str) -> Result<BlobStatus, BlobError>;
    /// The size of the photo if it is complete.
    fn complete_size(&self, sha256: &str) -> Result<Option<u64>, BlobError>;
    /// Appends `bytes` to the uploader's partial copy, which must hold exactly `offset` bytes;
    /// returns how many it holds then.
    fn append(&self, sha256: &str, uploader: &str, offset: u64, bytes: &[u8]) -> Result<u64, BlobError>;
    /// Checks the uploader's partial copy against its hash and its content and makes it the photo
    /// (or drops it, when another upload completed the photo first); returns its content type. A
    /// copy that fails the checks is dropped.
    fn finish(&self, sha256: &str, uploader: &str) -> Result<&'static str, BlobError>;
    /// Up to `len` bytes of a complete photo from `offset`.
    fn read(&self, sha256: &str, offset: u64, len: usize) -> Result<Vec<u8>, BlobError>;
    /// Drops partial copies nobody has added to for `max_age`; returns how many.
    fn collect_partials(&self, max_age: std::time::Duration) -> Result<usize, BlobError>;
    /// A copy made from a complete photo (`evidence::copy`) under `name`, if it was kept.
    fn derived(&self, name: &str) -> Result<Option<Vec<u8>>, BlobError>;
    /// Keeps a copy made from a complete photo under `name` (names are the relay's own, made from
    /// a photo's hash).
    fn put_derived(&self, name: &str, bytes: &[u8]) -> Result<(), BlobError>;
}

impl std::fmt::Debug for dyn BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobStore")
    }
}

/// Photos as files: `<dir>/<first 2 hex digits>/<sha256>` when complete,
/// `<dir>/partial/<sha256>.<uploader's digest>` while uploading, copies made from them in
/// `<dir>/derived/`. Every chunk is fsynced before it is acknowledged, and a complete photo (file and
/// folder) before it is answered complete.
pub struct FsBlobStore {
    dir: PathBuf,
    /// The hash of each partial copy so far, as its chunks were appended, so that the last chunk
    /// completes the check without reading the copy again: partial copy → (bytes hashed, hash, its
    /// first bytes). A copy without an entry (the relay restarted) is read again at the end.
    hashing: std::sync::Mutex<std::collections::HashMap<PathBuf, (u64, Sha256, Vec<u8>)>>,
}

/// Partial copies whose hash is kept as they grow; beyond, the oldest are read again at the end.
const HASHING_MAX: usize = 4_096;

impl FsBlobStore {
    /// The store in `dir`, created as photos arrive.
    pub fn new(dir: &Path) -> FsBlobStore {
        FsBlobStore { dir: dir.to_owned(), hashing: Default::default() }
    }

    fn hashing(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<PathBuf, (u64, Sha256, Vec<u8>)>> {
        self.hashing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn complete(&self, sha256: &str) -> PathBuf {
        self.dir.join(&sha256[..2]).join(sha256)
    }

    fn partial(&self, sha256: &str, uploader: &str) -> PathBuf {
        self.dir.join("partial").join(format!("{sha256}.{}", uploader_digest(uploader)))
    }
}

/// A short name of an uploader (a user id) for the names of its partial copies: 16 hex digits of
/// its SHA-256, whatever characters the id has.
fn uploader_digest(uploader: &str) -> String {
    Sha256::digest(uploader.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether bytes that hashed to `hash` and began with `head` are the photo `sha256`: its content
/// type if so.
fn verdict(sha256: &str, hash: Sha256, head: &[u8]) -> Result<&'static str, BlobError> {
    if format!("{:x}", hash.finalize()) != sha256 {
        return Err(BlobError::HashMismatch);
    }
    zhuqi_core::storage::blobs::sniff(head).ok_or(BlobError::NotAPhoto)
}

/// Adds to `head` what it lacks of a file's first 16 bytes from `bytes`, which follow it.
fn head_of(head: &mut Vec<u8>, bytes: &[u8]) {
    if head.len() < 16 {
        head.extend_from_slice(&bytes[..(16 - head.len()).min(bytes.len())]);
    }
}

fn len_of(path: &Path) -> std::io::Result<Option<u64>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl BlobStore for FsBlobStore {
    fn complete_size(&self, sha256: &str) -> Result<Option<u64>, BlobError> {
        Ok(len_of(&self.complete(sha256))?)
    }

    fn status(&self, sha256: &str, uploader: &str) -> Result<BlobStatus, BlobError> {
        if let Some(size) = len_of(&self.complete(sha256))? {
            return Ok(BlobStatus::Complete { size });
        }
        Ok(match len_of(&self.partial(sha256, uploader))? {
            Some(received) => BlobStatus::Partial { received },
            None => BlobStatus::Absent,
        })
    }

    fn append(&self, sha256: &str, uploader: &str, offset: u64, bytes: &[u8]) -> Result<u64, BlobError> {
        let path = self.partial(sha256, uploader);
        std::fs::create_dir_all(path.parent().expect("in the partial folder"))?;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        let received = file.metadata()?.len();
        if received != offset {
            return Err(BlobError::Offset { received });
        }
        // The chunk is durable when acknowledged; the partial copy's folder entry is not synced (a
        // crash may lose a copy just begun, and the device then starts it again from the status).
        // A chunk that cannot be written whole and flushed is taken back out of the copy.
        if let Err(e) = file.write_all(bytes) {
            let _ = file.set_len(received);
            return Err(e.into());
        }
        // The copy's hash so far, taken out while the chunk is added to it (a fresh one for a copy
        // begun now; none for a copy this relay did not see begin, which is read again at the end).
        let taken = {
            let mut hashing = self.hashing();
            if received == 0 && hashing.len() >= HASHING_MAX {
                hashing.clear();
            }
            match hashing.remove(&path) {
                Some(h) if h.0 == received => Some(h),
                _ if received == 0 => Some((0, Sha256::new(), Vec::with_capacity(16))),
                _ => None,
            }
        };
        // The chunk is hashed while the disk flushes it.
        let hashed = std::thread::scope(|s| {
            let hashing = taken.map(|(hashed, mut hash, mut head)| {
                s.spawn(move || {
                    hash.update(bytes);
                    head_of(&mut head, bytes);
                    (hashed + bytes.len() as u64, hash, head)
                })
            });
            let flushed = file.sync_data();
            (flushed, hashing.map(|h| h.join().expect("hashing does not panic")))
        });
        if let Err(e) = hashed.0 {
            let _ = file.set_len(received);
            return Err(e.into());
        }
        if let Some(h) = hashed.1 {
            self.hashing().insert(path, h);
        }
        Ok(received + bytes.len() as u64)
    }

    fn finish(&self, sha256: &str, uploader: &str) -> Result<&'static str, BlobError> {
        let path = self.partial(sha256, uploader);
        let mut file = std::fs::File::open(&path)?;
        let size = file.metadata()?.len();
        let (hash, head) = match self.hashing().remove(&path) {
            Some((hashed, hash, head)) if hashed == size => (hash, head),
            _ => {
                let (mut hash, mut head, mut buf) = (Sha256::new(), Vec::with_capacity(16), vec![0u8; 256 * 1024]);
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    head_of(&mut head, &buf[..n]);
                    hash.update(&buf[..n]);
                }
                (hash, head)
            }
        };
        let verdict = verdict(sha256, hash, &head);
        match verdict {
            Ok(content_type) => {
                let dest = self.complete(sha256);
                if dest.exists() {
                    // Another upload of the same bytes got there first.
                    std::fs::remove_file(&path)?;
                    return Ok(content_type);
                }
                let folder = dest.parent().expect("in a folder of its own");
                std::fs::create_dir_all(folder)?;
                std::fs::rename(&path, &dest)?;
                sync_dir(folder)?;
                Ok(content_type)
            }
            Err(e) => {
                std::fs::remove_file(&path)?;
                Err(e)
            }
        }
    }

    fn read(&self, sha256: &str, offset: u64, len: usize) -> Result<Vec<u8>, BlobError> {
        let mut file = std::fs::File::open(self.complete(sha256))?;
        file.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut out)?;
        Ok(out)
    }

    fn collect_partials(&self, max_age: std::time::Duration) -> Result<usize, BlobError> {
        let entries = match std::fs::read_dir(self.dir.join("partial")) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let mut dropped = 0;
        for entry in entries {
            let entry = entry?;
            let idle = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
            if idle > max_age {
                std::fs::remove_file(entry.path())?;
                self.hashing().remove(&entry.path());
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    fn derived(&self, name: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match std::fs::read(self.dir.join("derived").join(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn put_derived(&self, name: &str, bytes: &[u8]) -> Result<(), BlobError> {
        let folder = self.dir.join("derived");
        std::fs::create_dir_all(&folder)?;
        // Written aside and renamed, so that a reader never sees half a copy.
        let tmp = folder.join(format!(".{name}.{}", uuid::Uuid::now_v7()));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        std::fs::rename(&tmp, folder.join(name))?;
        Ok(())
    }
}

pub use zhuqi_core::domain::photo::is_sha256;
