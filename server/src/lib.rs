//! zhuqi's relay: authenticates users and devices, validates and merges the changes devices push,
//! answers each device with what changed in its scope, keeps everything in its storage, and serves
//! the managers' dashboard.
//!
//! Rooms, each using only those listed before it: `storage` (the trait, its SQLite and PostgreSQL
//! backends, the projections and scope keys they store), `http` (errors, body limits, metrics, the
//! network edge), `auth` (passwords, tokens, throttling, activation), `sync` (the sync endpoint,
//! validation, the document cache, the directory, live events, the relay's own actor), `blobs`
//! (photos), `portal` (enterprise contacts' web pages and sign-in links), `dashboard` (pages,
//! figures, exports), `admin` (imports, demo data); `app` holds the shared state and
//! assembles the router; `cli` is the command line.

pub mod admin;
pub mod app;
pub mod auth;
pub mod blobs;
pub mod cli;
pub mod dashboard;
pub mod http;
pub mod portal;
pub mod storage;
pub mod sync;

pub use app::router::{CSP, app, metrics_app};
pub use app::{AppState, Config, MetricsAccess};

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[doc(hidden)]
pub use tikv_jemallocator;

/// Declares the relay's allocator in a binary that serves the relay: jemalloc, with background
/// threads purging freed pages after a second. glibc's allocator kept several times the relay's
/// live heap resident (freed pages held in per-thread arenas; measured in docs/PERFORMANCE.md).
#[macro_export]
macro_rules! relay_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::tikv_jemallocator::Jemalloc = $crate::tikv_jemallocator::Jemalloc;

        #[allow(non_upper_case_globals)]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";
    };
}
