//! The device's photo files: content-addressed (a file is named by the SHA-256 of its bytes, so the
//! same photo is stored once however often it is attached), copied in while hashed, and written and
//! fsynced — file and folder — before anything refers to it. Which of them the relay has received is
//! the `blobs` table's business (see `store::photos`).

use crate::error::{Error, Invalid, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
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
}

fn io(what: &str, e: std::io::Error) -> Error {
    Error::File(format!("{what}: {e}"))
}

impl BlobFiles {
    /// The photo folder of the store whose database is at `db_path` (`x.db` → `x.blobs/`).
    pub fn beside(db_path: &Path) -> BlobFiles {
        BlobFiles { dir: db_path.with_extension("blobs") }
    }

    /// Where the photo with this hash is (or would be) kept.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// The folder of photos fetched from the relay to show them (see `store::photos`).
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// Where a fetched copy (`kind`: `original`, `thumbnail`) of the photo with this hash is kept.
    pub fn cache_path(&self, sha256: &str, kind: &str) -> PathBuf {
        self.cache_dir().join(format!("{sha256}.{kind}"))
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
            let mut out = std::fs::File::create(&tmp).map_err(|e| io("photo copy", e))?;
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
            out.sync_all().map_err(|e| io("photo copy", e))?;
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
