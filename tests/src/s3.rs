//! A real S3-compatible server for the photo store's tests: `s3s-fs` (the `s3s-fs` crate's binary,
//! installed by `scripts/install-s3-server`), serving a temporary folder on 127.0.0.1 with its own
//! credentials. Not a mock: the relay's S3 store speaks signed S3 requests to it over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use zhuqi_server::blobs::s3::S3Config;

/// The version `scripts/install-s3-server` installs.
pub const S3S_FS_VERSION: &str = "0.14.1";

/// Where `scripts/install-s3-server` puts the server (`ZHUQI_S3_SERVER` overrides it).
pub fn binary() -> PathBuf {
    match std::env::var_os("ZHUQI_S3_SERVER") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".tools")
            .join(format!("s3s-fs-{S3S_FS_VERSION}"))
            .join("bin")
            .join("s3s-fs"),
    }
}

/// A running server with one bucket, stopped when dropped.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    pub bucket: String,
}

impl S3Server {
    /// Starts the server on a free port of 127.0.0.1 over `root`, with the bucket `photos`.
    pub fn start(root: &Path) -> S3Server {
        let binary = binary();
        assert!(binary.exists(), "{} is missing: run scripts/install-s3-server (scripts/test does)", binary.display());
        let bucket = "photos".to_owned();
        // s3s-fs keeps a bucket as a folder of its root.
        std::fs::create_dir_all(root.join(&bucket)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", "zhuqi-test"])
            .args(["--secret-key", "zhuqi-test-secret"])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let server = S3Server { child, endpoint: format!("http://127.0.0.1:{port}"), bucket };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("s3s-fs did not listen on port {port}");
    }

    /// How the relay reaches it.
    pub fn config(&self) -> S3Config {
        S3Config {
            bucket: self.bucket.clone(),
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: Some("zhuqi-test".into()),
            secret_access_key: Some("zhuqi-test-secret".into()),
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
