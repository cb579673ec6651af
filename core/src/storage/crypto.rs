//! Encryption at rest on the device. The app holds one secret, the *app key* (32 bytes kept in
//! Android Keystore or the iOS Keychain); the store has its own random *data key*, kept only sealed
//! under the app key in a small file beside the database (`x.db` → `x.key`). From the data key come
//! the database's SQLCipher key, the key sealing photo files, and the key naming them (so a photo's
//! file name does not tell its SHA-256). Destroying the key file (sign-out, a revoked device) makes
//! every byte the store left behind unreadable, whatever the flash kept: crypto-shredding.
//!
//! A sealed photo file is `ZQP1`, a 19-byte random nonce prefix, then the photo in segments of
//! 64 KiB, each sealed with XChaCha20-Poly1305 under the nonce `prefix ‖ index (u32 BE) ‖ last`
//! (1 on the final segment, 0 before): a segment moved, swapped or cut off, or a file truncated at
//! a segment boundary, fails to open. Segments are read one at a time, so a photo is read from any
//! offset (a resumed upload) without decrypting what comes before it.

use crate::error::{Error, Result};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Bytes of an app key and of every key derived here.
pub const KEY_BYTES: usize = 32;

const KEY_FILE_MAGIC: &[u8; 4] = b"ZQK1";
const KEY_FILE_BYTES: usize = 4 + 24 + KEY_BYTES + 16;

/// A 32-byte secret, zeroed when dropped.
pub type Secret = Zeroizing<[u8; KEY_BYTES]>;

/// The keys of an encrypted store, all derived from its data key.
#[derive(Clone)]
pub struct StoreKeys {
    /// SQLCipher's raw key.
    database: Secret,
    /// Seals photo files.
    photos: Secret,
    /// Names photo files (an HMAC-like hash of the photo's SHA-256).
    names: Secret,
}

impl std::fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKeys(..)")
    }
}

fn derive(label: &[u8], data_key: &[u8; KEY_BYTES]) -> Secret {
    let mut h = Sha256::new();
    h.update(b"zhuqi/");
    h.update(label);
    h.update([0]);
    h.update(data_key);
    Zeroizing::new(h.finalize().into())
}

impl StoreKeys {
    fn from_data_key(data_key: &[u8; KEY_BYTES]) -> StoreKeys {
        StoreKeys {
            database: derive(b"sqlcipher/v1", data_key),
            photos: derive(b"photos/v1", data_key),
            names: derive(b"photo-names/v1", data_key),
        }
    }

    /// The `PRAGMA key` statement opening the database with its raw key (no passphrase stretching:
    /// the key is already random).
    pub fn pragma(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("PRAGMA key = \"{}\";", &*self.raw_key()))
    }

    /// SQLCipher's raw key literal, `x'…'` (for `ATTACH … KEY`).
    pub fn raw_key(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("x'{}'", hex(&self.database[..])))
    }

    /// The name under which a photo's file (`kind`: `own`, `original`, `thumbnail`) is kept.
    pub fn file_name(&self, sha256: &str, kind: &str) -> String {
        let mut h = Sha256::new();
        h.update(&self.names[..]);
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(sha256.as_bytes());
        format!("{:x}.zq", h.finalize())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.photos[..]))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0u8; N]);
    rand_fill(&mut out[..]);
    out
}

fn rand_fill(buf: &mut [u8]) {
    use chacha20poly1305::aead::rand_core::RngCore;
    chacha20poly1305::aead::OsRng.fill_bytes(buf);
}

/// The file holding a store's sealed data key.
pub fn key_file(db_path: &Path) -> PathBuf {
    db_path.with_extension("key")
}

/// The first bytes of every plain SQLite database.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What the database file at `path` is: absent (or empty), plain SQLite, or something else (an
/// encrypted database looks like random bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseFile {
    Absent,
    Plain,
    Encrypted,
}

pub fn database_file(path: &Path) -> Result<DatabaseFile> {
    let mut head = [0u8; 16];
    match std::fs::File::open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DatabaseFile::Absent),
        Err(e) => Err(Error::File(format!("store file: {e}"))),
        Ok(mut f) => {
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..]).map_err(|e| Error::File(format!("store file: {e}")))? {
                    0 => break,
                    m => n += m,
                }
            }
            Ok(match n {
                0 => DatabaseFile::Absent,
                _ if &head == SQLITE_HEADER => DatabaseFile::Plain,
                _ => DatabaseFile::Encrypted,
            })
        }
    }
}

fn check_app_key(app_key: &[u8]) -> Result<&[u8; KEY_BYTES]> {
    app_key.try_into().map_err(|_| Error::KeyRejected(format!("an app key is {KEY_BYTES} bytes, not {}", app_key.len())))
}

/// The keys of the store at `db_path` under `app_key`: unsealed from its key file, or, when there
/// is none yet, a new data key sealed into a new one (durably, before any data is written under it).
pub fn unlock_or_create(db_path: &Path, app_key: &[u8]) -> Result<StoreKeys> {
    let app_key = check_app_key(app_key)?;
    let path = key_file(db_path);
    match std::fs::read(&path) {
        Ok(sealed) => unseal(&sealed, app_key),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let data_key = random::<KEY_BYTES>();
            let nonce = random::<24>();
            let mut sealed = Zeroizing::new(data_key.to_vec());
            let tag = XChaCha20Poly1305::new(Key::from_slice(app_key))
                .encrypt_in_place_detached(XNonce::from_slice(&nonce[..]), KEY_FILE_MAGIC, &mut *sealed)
                .map_err(|_| Error::KeyRejected("sealing the data key failed".into()))?;
            let mut file = Vec::with_capacity(KEY_FILE_BYTES);
            file.extend_from_slice(KEY_FILE_MAGIC);
            file.extend_from_slice(&nonce[..]);
            file.extend_from_slice(&sealed);
            file.extend_from_slice(&tag);
            if write_durably(&path, &file)? {
                Ok(StoreKeys::from_data_key(&data_key))
            } else {
                // Another open of the same store sealed its key first: that one is the key.
                unseal(&std::fs::read(&path).map_err(|e| Error::File(format!("store key file: {e}")))?, app_key)
            }
        }
        Err(e) => Err(Error::File(format!("store key file: {e}"))),
    }
}

/// Whether the store at `db_path` is encrypted (has a key file).
pub fn is_encrypted(db_path: &Path) -> bool {
    key_file(db_path).exists()
}

fn unseal(file: &[u8], app_key: &[u8; KEY_BYTES]) -> Result<StoreKeys> {
    if file.len() != KEY_FILE_BYTES || &file[..4] != KEY_FILE_MAGIC {
        return Err(Error::KeyRejected("the store's key file is damaged".into()));
    }
    let (nonce, rest) = file[4..].split_at(24);
    let (sealed, tag) = rest.split_at(KEY_BYTES);
    let mut data_key = Zeroizing::new([0u8; KEY_BYTES]);
    data_key.copy_from_slice(sealed);
    XChaCha20Poly1305::new(Key::from_slice(app_key))
        .decrypt_in_place_detached(XNonce::from_slice(nonce), KEY_FILE_MAGIC, &mut data_key[..], tag.into())
        .map_err(|_| Error::KeyRejected("the app key does not open this store".into()))?;
    Ok(StoreKeys::from_data_key(&data_key))
}

/// Destroys the store's key file: overwritten with random bytes, flushed, then removed. Afterwards
/// nothing the store wrote can be read, by anyone holding the app key or not.
pub fn shred_key(db_path: &Path) -> Result<()> {
    let path = key_file(db_path);
    let len = match std::fs::metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::File(format!("store key file: {e}"))),
        Ok(m) => m.len() as usize,
    };
    let mut noise = vec![0u8; len.max(KEY_FILE_BYTES)];
    rand_fill(&mut noise);
    let overwrite = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(&noise).and_then(|()| f.sync_all()));
    if let Err(e) = overwrite {
        tracing::warn!("overwriting the store key file failed ({e}); removing it");
    }
    std::fs::remove_file(&path).map_err(|e| Error::File(format!("store key file: {e}")))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// Writes `bytes` to a temporary file of its own, flushes it, and links it in as `path` unless
/// `path` exists by then (another open of the same store made its key first): `Ok(false)`.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<bool> {
    let tmp = path.with_extension(format!("key-{}", uuid::Uuid::now_v7()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            linked => linked.map(|()| true),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    let made = written.map_err(|e| Error::File(format!("store key file: {e}")))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(made)
}

/// Removes every file of the store at `db_path` but its key file: the database and its journals,
/// a copy being encrypted, the photo folder. Failures are ignored (what stays is unreadable or is
/// removed again at the next erase).
pub fn remove_store_files(db_path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
    let _ = std::fs::remove_file(db_path.with_extension("db-sealing"));
    let _ = std::fs::remove_dir_all(db_path.with_extension("blobs"));
}

/// Makes a rename or removal in `dir` durable (best effort).
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    #[cfg(not(unix))]
    let _ = dir;
}

const PHOTO_MAGIC: &[u8; 4] = b"ZQP1";
const PREFIX_BYTES: usize = 19;
const HEADER_BYTES: u64 = (4 + PREFIX_BYTES) as u64;
/// Plain bytes in a sealed segment (all but the last, which may hold fewer).
pub const SEGMENT_BYTES: usize = 64 * 1024;
const TAG_BYTES: usize = 16;
const SEALED_SEGMENT: u64 = (SEGMENT_BYTES + TAG_BYTES) as u64;

fn segment_nonce(prefix: &[u8; PREFIX_BYTES], index: u64, last: bool) -> io::Result<XNonce> {
    let index = u32::try_from(index).map_err(|_| io::Error::other("sealed file too large"))?;
    let mut n = [0u8; 24];
    n[..PREFIX_BYTES].copy_from_slice(prefix);
    n[PREFIX_BYTES..23].copy_from_slice(&index.to_be_bytes());
    n[23] = u8::from(last);
    Ok(XNonce::from(n))
}

/// Writes a sealed photo file: what is written is sealed a segment at a time; `finish` seals the
/// last one. A file never finished does not open.
pub struct SealedWriter<W: Write> {
    out: W,
    cipher: XChaCha20Poly1305,
    prefix: [u8; PREFIX_BYTES],
    index: u64,
    buf: Vec<u8>,
}

impl<W: Write> SealedWriter<W> {
    pub fn new(mut out: W, keys: &StoreKeys) -> io::Result<Self> {
        let mut prefix = [0u8; PREFIX_BYTES];
        rand_fill(&mut prefix);
        out.write_all(PHOTO_MAGIC)?;
        out.write_all(&prefix)?;
        Ok(SealedWriter { out, cipher: keys.cipher(), prefix, index: 0, buf: Vec::with_capacity(SEGMENT_BYTES) })
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        let nonce = segment_nonce(&self.prefix, self.index, last)?;
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce, b"", &mut self.buf)
            .map_err(|_| io::Error::other("sealing a photo segment failed"))?;
        self.out.write_all(&self.buf)?;
        self.out.write_all(&tag)?;
        self.buf.clear();
        self.index += 1;
        Ok(())
    }

    /// Seals the last segment and returns the output (to flush it).
    pub fn finish(mut self) -> io::Result<W> {
        self.seal(true)?;
        Ok(self.out)
    }
}

impl<W: Write> Write for SealedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() == SEGMENT_BYTES && !data.is_empty() {
            self.seal(false)?;
        }
        let take = (SEGMENT_BYTES - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a sealed photo file from any offset, opening one segment at a time.
pub struct SealedReader<R: Read + Seek> {
    inner: R,
    cipher: XChaCha20Poly1305,
    prefix: [u8; PREFIX_BYTES],
    segments: u64,
    len: u64,
    pos: u64,
    /// The segment opened last: its index and plain bytes.
    current: Option<(u64, Vec<u8>)>,
}

fn damaged() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "the sealed photo file is damaged or not this store's")
}

impl<R: Read + Seek> SealedReader<R> {
    pub fn new(mut inner: R, keys: &StoreKeys) -> io::Result<Self> {
        let mut header = [0u8; HEADER_BYTES as usize];
        inner.seek(SeekFrom::Start(0))?;
        inner.read_exact(&mut header).map_err(|_| damaged())?;
        if &header[..4] != PHOTO_MAGIC {
            return Err(damaged());
        }
        let mut prefix = [0u8; PREFIX_BYTES];
        prefix.copy_from_slice(&header[4..]);
        let body = inner.seek(SeekFrom::End(0))? - HEADER_BYTES;
        let segments = body.div_ceil(SEALED_SEGMENT);
        let last = body - segments.saturating_sub(1) * SEALED_SEGMENT;
        if segments == 0 || last < TAG_BYTES as u64 {
            return Err(damaged());
        }
        let len = body - segments * TAG_BYTES as u64;
        Ok(SealedReader { inner, cipher: keys.cipher(), prefix, segments, len, pos: 0, current: None })
    }

    /// The plain length.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn open_segment(&mut self, index: u64) -> io::Result<()> {
        if self.current.as_ref().is_some_and(|(i, _)| *i == index) {
            return Ok(());
        }
        let last = index + 1 == self.segments;
        self.inner.seek(SeekFrom::Start(HEADER_BYTES + index * SEALED_SEGMENT))?;
        let body = self.len + self.segments * TAG_BYTES as u64;
        let sealed_len = if last { body - index * SEALED_SEGMENT } else { SEALED_SEGMENT };
        let mut buf = self.current.take().map(|(_, b)| b).unwrap_or_default();
        buf.resize(sealed_len as usize, 0);
        self.inner.read_exact(&mut buf).map_err(|_| damaged())?;
        let tag_at = buf.len() - TAG_BYTES;
        let tag = chacha20poly1305::Tag::clone_from_slice(&buf[tag_at..]);
        buf.truncate(tag_at);
        let nonce = segment_nonce(&self.prefix, index, last)?;
        self.cipher.decrypt_in_place_detached(&nonce, b"", &mut buf, &tag).map_err(|_| damaged())?;
        self.current = Some((index, buf));
        Ok(())
    }
}

impl<R: Read + Seek> Read for SealedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let index = self.pos / SEGMENT_BYTES as u64;
        self.open_segment(index)?;
        let plain = &self.current.as_ref().expect("opened").1;
        let at = (self.pos - index * SEGMENT_BYTES as u64) as usize;
        let n = (plain.len() - at).min(out.len());
        out[..n].copy_from_slice(&plain[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SealedReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn keys() -> StoreKeys {
        StoreKeys::from_data_key(&[7; KEY_BYTES])
    }

    fn seal(plain: &[u8], keys: &StoreKeys) -> Vec<u8> {
        let mut w = SealedWriter::new(Vec::new(), keys).unwrap();
        // Odd-sized writes cross segment boundaries.
        for chunk in plain.chunks(10_007) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn sealed_files_read_back_from_any_offset() {
        let k = keys();
        for len in [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES, 200_001] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let sealed = seal(&plain, &k);
            assert_eq!(sealed.len() as u64, HEADER_BYTES + len as u64 + len.div_ceil(SEGMENT_BYTES).max(1) as u64 * 16);
            if len >= 16 {
                assert!(!sealed.windows(16).any(|w| w == &plain[..16]), "plain bytes show through");
            }
            let mut r = SealedReader::new(Cursor::new(sealed.clone()), &k).unwrap();
            assert_eq!(r.len(), len as u64);
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, plain, "length {len}");
            for at in [0, len / 3, len.saturating_sub(1), len] {
                r.seek(SeekFrom::Start(at as u64)).unwrap();
                let mut rest = Vec::new();
                r.read_to_end(&mut rest).unwrap();
                assert_eq!(rest, plain[at..], "length {len} from {at}");
            }
        }
    }

    #[test]
    fn tampered_truncated_reordered_or_foreign_files_do_not_open() {
        let k = keys();
        let plain: Vec<u8> = (0..3 * SEGMENT_BYTES + 100).map(|i| i as u8).collect();
        let sealed = seal(&plain, &k);
        let read = |bytes: Vec<u8>, keys: &StoreKeys| -> io::Result<Vec<u8>> {
            let mut out = Vec::new();
            SealedReader::new(Cursor::new(bytes), keys)?.read_to_end(&mut out)?;
            Ok(out)
        };
        assert_eq!(read(sealed.clone(), &k).unwrap(), plain);
        let mut flipped = sealed.clone();
        flipped[HEADER_BYTES as usize + 5] ^= 1;
        assert!(read(flipped, &k).is_err(), "a flipped bit");
        // Cut at a segment boundary: the new last segment was not sealed as last.
        let cut = sealed[..(HEADER_BYTES + 2 * SEALED_SEGMENT) as usize].to_vec();
        assert!(read(cut, &k).is_err(), "truncated at a boundary");
        let mut swapped = sealed.clone();
        let (a, b) = (HEADER_BYTES as usize, (HEADER_BYTES + SEALED_SEGMENT) as usize);
        let first: Vec<u8> = swapped[a..b].to_vec();
        let second: Vec<u8> = swapped[b..b + SEALED_SEGMENT as usize].to_vec();
        swapped[a..b].copy_from_slice(&second);
        swapped[b..b + SEALED_SEGMENT as usize].copy_from_slice(&first);
        assert!(read(swapped, &k).is_err(), "segments swapped");
        assert!(read(sealed.clone(), &StoreKeys::from_data_key(&[8; KEY_BYTES])).is_err(), "another store's key");
        assert!(read(b"\xFF\xD8\xFF\xE0 a plain JPEG".to_vec(), &k).is_err(), "not sealed");
        assert!(read(sealed[..10].to_vec(), &k).is_err(), "shorter than a header");
    }

    #[test]
    fn a_data_key_opens_only_with_its_app_key_and_is_gone_once_shredded() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        assert!(matches!(unlock_or_create(&db, &[1; 31]), Err(Error::KeyRejected(_))), "31 bytes");
        let made = unlock_or_create(&db, &[1; 32]).unwrap();
        assert!(is_encrypted(&db));
        let again = unlock_or_create(&db, &[1; 32]).unwrap();
        assert_eq!(made.pragma(), again.pragma(), "the same data key");
        assert!(matches!(unlock_or_create(&db, &[2; 32]), Err(Error::KeyRejected(_))), "another app key");
        let mut file = std::fs::read(key_file(&db)).unwrap();
        file[30] ^= 1;
        std::fs::write(key_file(&db), &file).unwrap();
        assert!(matches!(unlock_or_create(&db, &[1; 32]), Err(Error::KeyRejected(_))), "damaged");
        shred_key(&db).unwrap();
        assert!(!is_encrypted(&db));
        shred_key(&db).unwrap();
        let fresh = unlock_or_create(&db, &[1; 32]).unwrap();
        assert_ne!(fresh.pragma(), made.pragma(), "a new data key, not the old one");
    }
}
