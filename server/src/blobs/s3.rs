//! Photos in S3-compatible object storage, for several relays sharing one store of photos. A complete
//! photo is the object `photos/<sha256>`; an upload in progress is one object per chunk,
//! `partial/<sha256>/<uploader's digest>/<offset, 12 digits>`, so that any relay can tell where an
//! upload stands and take the next chunk; copies made from photos are `derived/<name>`. The trait's
//! calls are blocking (the relay makes them on blocking threads): each runs on this store's own
//! small runtime.

use super::{BlobError, BlobStatus, BlobStore, head_of, uploader_digest, verdict};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Where the photos are: a bucket, at an endpoint (AWS's when none), with credentials (the
/// environment's `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` when none are given).
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    /// `http://127.0.0.1:9000` for a server of one's own; plain HTTP is allowed only to loopback.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Bytes of a part of the multipart upload that makes a complete photo (S3's smallest part).
const PART_BYTES: usize = 5 << 20;

pub struct S3BlobStore {
    store: AmazonS3,
    /// Taken only when the store is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for S3BlobStore {
    fn drop(&mut self) {
        // The last holder may be a task of the relay's runtime, where a runtime may not be dropped
        // by blocking on its threads.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn io(e: object_store::Error) -> BlobError {
    BlobError::Io(std::io::Error::other(e.to_string()))
}

fn not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl S3BlobStore {
    pub fn new(config: &S3Config) -> Result<S3BlobStore, String> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&config.bucket).with_region(&config.region);
        if let Some(endpoint) = &config.endpoint {
            let loopback = url_host_is_loopback(endpoint);
            if endpoint.starts_with("http://") && !loopback {
                return Err(format!("plain HTTP to {endpoint}: only a loopback endpoint may be reached without TLS"));
            }
            builder =
                builder.with_endpoint(endpoint).with_allow_http(loopback).with_virtual_hosted_style_request(false);
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().map_err(|e| format!("S3 photo store: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("zhuqi-s3")
            .enable_all()
            .build()
            .map_err(|e| format!("S3 photo store: {e}"))?;
        Ok(S3BlobStore { store, runtime: Some(runtime) })
    }

    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.runtime.as_ref().expect("taken only when dropped").block_on(f)
    }

    fn complete(sha256: &str) -> Path {
        Path::from(format!("photos/{sha256}"))
    }

    fn partial(sha256: &str, uploader: &str) -> Path {
        Path::from(format!("partial/{sha256}/{}", uploader_digest(uploader)))
    }

    /// The chunks of an upload in order, each with its offset and size, as far as they follow one
    /// another from zero.
    async fn chunks(&self, sha256: &str, uploader: &str) -> Result<Vec<(Path, u64, u64)>, BlobError> {
        let mut listed: Vec<(u64, Path, u64)> = self
            .store
            .list(Some(&Self::partial(sha256, uploader)))
            .map_ok(|m| (m.location.filename().and_then(|f| f.parse().ok()).unwrap_or(u64::MAX), m.location, m.size))
            .try_collect()
            .await
            .map_err(io)?;
        listed.sort_by_key(|(offset, _, _)| *offset);
        let mut out = Vec::new();
        let mut next = 0;
        for (offset, path, size) in listed {
            if offset != next {
                break;
            }
            next += size;
            out.push((path, offset, size));
        }
        Ok(out)
    }

    async fn drop_partial(&self, sha256: &str, uploader: &str) -> Result<(), BlobError> {
        let all: Vec<Path> = self
            .store
            .list(Some(&Self::partial(sha256, uploader)))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(io)?;
        for path in all {
            match self.store.delete(&path).await {
                Err(e) if !not_found(&e) => return Err(io(e)),
                _ => {}
            }
        }
        Ok(())
    }

    async fn size_of(&self, path: &Path) -> Result<Option<u64>, BlobError> {
        match self.store.head(path).await {
            Ok(m) => Ok(Some(m.size)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(io(e)),
        }
    }
}

fn url_host_is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or("");
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host =
        host.rsplit_once(':').map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl BlobStore for S3BlobStore {
    fn complete_size(&self, sha256: &str) -> Result<Option<u64>, BlobError> {
        self.block_on(self.size_of(&Self::complete(sha256)))
    }

    fn status(&self, sha256: &str, uploader: &str) -> Result<BlobStatus, BlobError> {
        self.block_on(async {
            if let Some(size) = self.size_of(&Self::complete(sha256)).await? {
                return Ok(BlobStatus::Complete { size });
            }
            let chunks = self.chunks(sha256, uploader).await?;
            Ok(match chunks.last() {
                Some((_, offset, size)) => BlobStatus::Partial { received: offset + size },
                None => BlobStatus::Absent,
            })
        })
    }

    fn append(&self, sha256: &str, uploader: &str, offset: u64, bytes: &[u8]) -> Result<u64, BlobError> {
        self.block_on(async {
            let received = self.chunks(sha256, uploader).await?.last().map_or(0, |(_, o, s)| o + s);
            if received != offset {
                return Err(BlobError::Offset { received });
            }
            let path = Self::partial(sha256, uploader).child(format!("{offset:012}"));
            self.store.put(&path, PutPayload::from(bytes.to_vec())).await.map_err(io)?;
            Ok(received + bytes.len() as u64)
        })
    }

    fn finish(&self, sha256: &str, uploader: &str) -> Result<&'static str, BlobError> {
        self.block_on(async {
            let chunks = self.chunks(sha256, uploader).await?;
            let dest = Self::complete(sha256);
            // One pass: each chunk is hashed as it is written out (a part of the photo in memory
            // at a time), so what becomes the photo is exactly what was hashed, whatever another
            // relay does to the chunks meanwhile; a photo that fails the checks is never completed.
            let mut writer = match self.size_of(&dest).await? {
                None => Some(WriteMultipart::new_with_chunk_size(
                    self.store.put_multipart(&dest).await.map_err(io)?,
                    PART_BYTES,
                )),
                // Another upload completed it first: this copy is checked, then dropped.
                Some(_) => None,
            };
            let (mut hash, mut head) = (Sha256::new(), Vec::with_capacity(16));
            let mut passed: Result<(), BlobError> = Ok(());
            for (path, _, _) in &chunks {
                let bytes = match self.store.get(path).await {
                    Ok(got) => got.bytes().await.map_err(io),
                    Err(e) => Err(io(e)),
                };
                let bytes = match bytes {
                    Ok(b) => b,
                    Err(e) => {
                        passed = Err(e);
                        break;
                    }
                };
                head_of(&mut head, &bytes);
                hash.update(&bytes);
                if let Some(w) = writer.as_mut() {
                    if let Err(e) = w.wait_for_capacity(2).await {
                        passed = Err(io(e));
                        break;
                    }
                    w.write(&bytes);
                }
            }
            let verdict = passed.and_then(|()| verdict(sha256, hash, &head));
            match (verdict, writer) {
                (Ok(content_type), Some(w)) => {
                    w.finish().await.map_err(io)?;
                    self.drop_partial(sha256, uploader).await?;
                    Ok(content_type)
                }
                (Ok(content_type), None) => {
                    self.drop_partial(sha256, uploader).await?;
                    Ok(content_type)
                }
                (Err(e), w) => {
                    if let Some(w) = w {
                        let _ = w.abort().await;
                    }
                    if matches!(e, BlobError::HashMismatch | BlobError::NotAPhoto) {
                        self.drop_partial(sha256, uploader).await?;
                    }
                    Err(e)
                }
            }
        })
    }

    fn read(&self, sha256: &str, offset: u64, len: usize) -> Result<Vec<u8>, BlobError> {
        self.block_on(async {
            let path = Self::complete(sha256);
            let size = self
                .size_of(&path)
                .await?
                .ok_or_else(|| BlobError::Io(std::io::Error::from(std::io::ErrorKind::NotFound)))?;
            let end = offset.saturating_add(len as u64).min(size);
            if offset >= end {
                return Ok(Vec::new());
            }
            Ok(self.store.get_range(&path, offset..end).await.map_err(io)?.to_vec())
        })
    }

    fn collect_partials(&self, max_age: Duration) -> Result<usize, BlobError> {
        self.block_on(async {
            let listed: Vec<object_store::ObjectMeta> =
                self.store.list(Some(&Path::from("partial"))).try_collect().await.map_err(io)?;
            // An upload is dropped whole, when its newest chunk is older than `max_age`.
            let mut newest: std::collections::HashMap<String, i64> = Default::default();
            for m in &listed {
                let upload = m.location.as_ref().rsplit_once('/').map_or("", |(u, _)| u).to_owned();
                let at = m.last_modified.timestamp_millis();
                let e = newest.entry(upload).or_insert(at);
                *e = (*e).max(at);
            }
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let mut dropped = 0;
            for m in listed {
                let upload = m.location.as_ref().rsplit_once('/').map_or("", |(u, _)| u);
                if now - newest[upload] > max_age.as_millis() as i64 {
                    match self.store.delete(&m.location).await {
                        Err(e) if !not_found(&e) => return Err(io(e)),
                        _ => dropped += 1,
                    }
                }
            }
            Ok(dropped)
        })
    }

    fn derived(&self, name: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.block_on(async {
            match self.store.get(&Path::from(format!("derived/{name}"))).await {
                Ok(r) => Ok(Some(r.bytes().await.map_err(io)?.to_vec())),
                Err(e) if not_found(&e) => Ok(None),
                Err(e) => Err(io(e)),
            }
        })
    }

    fn put_derived(&self, name: &str, bytes: &[u8]) -> Result<(), BlobError> {
        self.block_on(async {
            let path = Path::from(format!("derived/{name}"));
            self.store.put(&path, PutPayload::from(bytes.to_vec())).await.map(drop).map_err(io)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_endpoints_may_be_plain_http() {
        for url in ["http://127.0.0.1:9000", "http://localhost:9000/", "http://[::1]:9000", "http://127.0.0.1"] {
            assert!(url_host_is_loopback(url), "{url}");
        }
        for url in ["http://10.0.0.1:9000", "http://example.com", "http://127.0.0.1.example.com:80"] {
            assert!(!url_host_is_loopback(url), "{url}");
        }
        let config = |endpoint: &str| S3Config {
            bucket: "photos".into(),
            endpoint: Some(endpoint.into()),
            region: "us-east-1".into(),
            access_key_id: Some("key".into()),
            secret_access_key: Some("secret".into()),
        };
        assert!(S3BlobStore::new(&config("http://10.1.2.3:9000")).is_err());
        assert!(S3BlobStore::new(&config("http://127.0.0.1:9000")).is_ok());
        assert!(!format!("{:?}", config("x")).contains("secret"), "the secret stays out of logs");
    }
}
