//! The device's photo files: content-addressed (a file is named by the SHA-256 of its bytes, so the
//! same photo is stored once however often it is attached), copied in while hashed, and written and
//! fsynced — file and folder — before anything refers to it. Which of them the relay has received is
//! the `blobs` table's business (see `store::photos`). In an encrypted store every file here is
//! sealed and named by a keyed hash (see `storage::crypto`); [`BlobFiles::open`] and
//! [`BlobFiles::create`] read and write either kind alike.

use super::crypto::{SealedReader, SealedWriter, StoreKeys};
use crate::error::{Error, Invalid, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use crate::domain::photo::MAX_PHOTO_BYTES;

/// What a photo file holds, from its first bytes: JPEG, PNG, WebP or HEIC (HEIF) — what phone
/// cameras write. Anything else is not a photo.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    const HEIF_BRANDS: [&[u8; 4]; 8] = [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"];
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" && HEIF_BRANDS.iter().any(|b| &head[8..12] == *b) {
        Some("image/heic")
    } else {
        None
    }
}

/// A photo copied in: its hash (lower-case hex), size and content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub sha256: String,
    pub size: u64,
    pub content_type: &'static str,
}

/// The folder of a store's photo files.
#[derive(Debug, Clone)]
pub struct BlobFiles {
    dir: PathBuf,
    /// Set in an encrypted store: files are sealed and named by a keyed hash.
    keys: Option<StoreKeys>,
}

/// A photo file opened to read: plain, or sealed and opened a segment at a time.
pub enum BlobReader {
    Plain(std::fs::File),
    Sealed(SealedReader<std::fs::File>),
}

impl BlobReader {
    /// The photo's length in bytes.
    pub fn len(&self) -> std::io::Result<u64> {
        match self {
            BlobReader::Plain(f) => Ok(f.metadata()?.len()),
            BlobReader::Sealed(r) => Ok(r.len()),
        }
    }

    pub fn is_empty(&self) -> std::io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            BlobReader::Plain(f) => f.read(buf),
            BlobReader::Sealed(r) => r.read(buf),
        }
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        match self {
            BlobReader::Plain(f) => f.seek(to),
            BlobReader::Sealed(r) => r.seek(to),
        }
    }
}

/// A photo file being written: plain, or sealed a segment at a time.
pub enum BlobWriter {
    Plain(std::fs::File),
    Sealed(SealedWriter<std::fs::File>),
}

impl BlobWriter {
    /// Seals what is left and flushes the file to disk.
    pub fn finish(self) -> std::io::Result<()> {
        match self {
            BlobWriter::Plain(f) => f.sync_all(),
            BlobWriter::Sealed(w) => w.finish()?.sync_all(),
        }
    }
}

impl Write for BlobWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            BlobWriter::Plain(f) => f.write(data),
            BlobWriter::Sealed(w) => w.write(data),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            BlobWriter::Plain(f) => f.flush(),
            BlobWriter::Sealed(w) => w.flush(),
        }
    }
}

fn io(what: &str, e: std::io::Error) -> Error {
    Error::File(format!("{what}: {e}"))
}

impl BlobFiles {
    /// The photo folder of the store whose database is at `db_path` (`x.db` → `x.blobs/`), its
    /// files sealed under `keys` when the store is encrypted.
    pub fn beside(db_path: &Path, keys: Option<StoreKeys>) -> BlobFiles {
        BlobFiles { dir: db_path.with_extension("blobs"), keys }
    }

    /// Where the photo with this hash is (or would be) kept.
    pub fn path(&self, sha256: &str) -> PathBuf {
        match &self.keys {
            Some(k) => self.dir.join(k.file_name(sha256, "own")),
            None => self.dir.join(sha256),
        }
    }

    /// Opens a photo file of this folder to read it (unsealing it in an encrypted store).
    pub fn open(&self, path: &Path) -> std::io::Result<BlobReader> {
        let file = std::fs::File::open(path)?;
        Ok(match &self.keys {
            Some(k) => BlobReader::Sealed(SealedReader::new(file, k)?),
            None => BlobReader::Plain(file),
        })
    }

    /// Creates a photo file of this folder to write (sealed in an encrypted store).
    pub fn create(&self, path: &Path) -> std::io::Result<BlobWriter> {
        let file = std::fs::File::create(path)?;
        Ok(match &self.keys {
            Some(k) => BlobWriter::Sealed(SealedWriter::new(file, k)?),
            None => BlobWriter::Plain(file),
        })
    }

    /// A photo file's bytes, whole.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>> {
        let mut reader = self.open(path).map_err(|e| io("photo file", e))?;
        let mut out = Vec::with_capacity(reader.len().unwrap_or(0).min(MAX_PHOTO_BYTES) as usize);
        reader.read_to_end(&mut out).map_err(|e| io("photo file", e))?;
        Ok(out)
    }

    /// The folder of photos fetched from the relay to show them (see `store::photos`).
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// Where a fetched copy (`kind`: `original`, `thumbnail`) of the photo with this hash is kept.
    pub fn cache_path(&self, sha256: &str, kind: &str) -> PathBuf {
        match &self.keys {
            Some(k) => self.cache_dir().join(k.file_name(sha256, kind)),
            None => self.cache_dir().join(format!("{sha256}.{kind}")),
        }
    }

    /// Seals the plain files an unencrypted store left here (its photos, `<sha256>`, and fetched
    /// copies, `<sha256>.<kind>`) under this folder's keys, each written and flushed before its
    /// plain file is removed: a copy cut off midway is redone at the next open.
    pub fn seal_plain_files(&self) -> Result<usize> {
        if self.keys.is_none() {
            return Ok(0);
        }
        let mut sealed = 0;
        for dir in [self.dir.clone(), self.cache_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let (sha256, kind) = name.split_once('.').unwrap_or((&name, ""));
                let dest = match kind {
                    "" if dir == self.dir => self.path(sha256),
                    "original" | "thumbnail" if dir != self.dir => self.cache_path(sha256, kind),
                    _ => continue,
                };
                if !crate::domain::photo::is_sha256(sha256) {
                    continue;
                }
                let tmp = dir.join(format!(".in-{}", uuid::Uuid::now_v7()));
                let copied = (|| {
                    let mut input = std::fs::File::open(entry.path())?;
                    let mut out = self.create(&tmp)?;
                    std::io::copy(&mut input, &mut out)?;
                    out.finish()?;
                    std::fs::rename(&tmp, &dest)
                })();
                if let Err(e) = copied {
                    // Left plain for the next open to try again; the store opens meanwhile.
                    let _ = std::fs::remove_file(&tmp);
                    tracing::warn!("sealing photo {sha256} failed: {e}");
                    continue;
                }
                sync_dir(&dir)?;
                std::fs::remove_file(entry.path()).map_err(|e| io("sealing a photo", e))?;
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// Copies the photo at `src` in under its hash, unless the same bytes are already there. The
    /// copy is written to a temporary file, fsynced, renamed to its hash and the folder fsynced, so
    /// after this returns the photo survives a power cut, and a copy cut off midway is never taken
    /// for the photo. Not a photo (by its first bytes), empty, or over [`MAX_PHOTO_BYTES`]: refused.
    pub fn put(&self, src: &Path) -> Result<Blob> {
        std::fs::create_dir_all(&self.dir).map_err(|e| io("photo folder", e))?;
        let mut input = std::fs::File::open(src).map_err(|e| io("photo file", e))?;
        let tmp = self.dir.join(format!(".in-{}", uuid::Uuid::now_v7()));
        let result = (|| {
            let mut out = self.create(&tmp).map_err(|e| io("photo copy", e))?;
            let mut hash = Sha256::new();
            let (mut size, mut head) = (0u64, Vec::with_capacity(16));
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = input.read(&mut buf).map_err(|e| io("photo file", e))?;
                if n == 0 {
                    break;
                }
                size += n as u64;
                if size > MAX_PHOTO_BYTES {
                    return Err(Error::invalid("photo", Invalid::TooLarge { max_bytes: MAX_PHOTO_BYTES }));
                }
                if head.len() < 16 {
                    let take = (16 - head.len()).min(n);
                    head.extend_from_slice(&buf[..take]);
                }
                hash.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(|e| io("photo copy", e))?;
            }
            let content_type = sniff(&head).ok_or_else(|| {
                Error::invalid("photo", Invalid::Format { expected: "a JPEG, PNG, WebP or HEIC photo" })
            })?;
            out.finish().map_err(|e| io("photo copy", e))?;
            let sha256 = format!("{:x}", hash.finalize());
            let dest = self.path(&sha256);
            if dest.exists() {
                std::fs::remove_file(&tmp).map_err(|e| io("photo copy", e))?;
            } else {
                std::fs::rename(&tmp, &dest).map_err(|e| io("photo copy", e))?;
                sync_dir(&self.dir)?;
            }
            Ok(Blob { sha256, size, content_type })
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Removes a photo file (one not referred to any more, or on a wipe).
    pub fn remove(&self, sha256: &str) -> Result<()> {
        match std::fs::remove_file(self.path(sha256)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("photo file", e)),
            _ => Ok(()),
        }
    }

    /// Removes the files a copy or a download cut off midway left behind (`.in-…`, `.fetch-…`, an
    /// hour old or more: one younger may be another open store's, copying still).
    pub fn remove_leftovers(&self) {
        for dir in [self.dir.clone(), self.cache_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() >= 3600));
                if (name.starts_with(".in-") || name.starts_with(".fetch-")) && old {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// Removes every photo file and copy left over (a wipe).
    pub fn remove_all(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("photo folder", e)),
            _ => Ok(()),
        }
    }
}

/// Queues for upload those of `photos` that were only attached. Called by the transaction that
/// indexes the event referring to them, so a photo is queued exactly when a committed event names it
/// (photos of other devices' events have no row here, and stay so).
pub fn queue_referenced<'a>(
    conn: &rusqlite::Connection,
    photos: impl IntoIterator<Item = &'a crate::domain::PhotoRef>,
) -> rusqlite::Result<()> {
    let mut stmt =
        conn.prepare_cached("UPDATE blobs SET state = 'waiting' WHERE sha256 = ?1 AND state = 'attached'")?;
    for p in photos {
        stmt.execute([&p.sha256])?;
    }
    Ok(())
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("photo folder", e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_are_told_from_their_first_bytes() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Some("image/heic"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42\0\0\0\0"), None, "a video is not a photo");
        assert_eq!(sniff(b"%PDF-1.7"), None);
        assert_eq!(sniff(b""), None);
    }
}
