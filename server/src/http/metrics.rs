//! Prometheus metrics of the relay (`GET /metrics`, text format 0.0.4), all prefixed `zhuqi_`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds (seconds) of the sync latency histogram's buckets.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Default)]
pub struct Metrics {
    pub requests: [AtomicU64; 10],
    pub errors: AtomicU64,
    sync_buckets: [AtomicU64; BUCKETS.len()],
    sync_count: AtomicU64,
    sync_sum_us: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub changes_accepted: AtomicU64,
    pub changes_rejected: AtomicU64,
    pub sign_ins_failed: AtomicU64,
    pub sign_ins_throttled: AtomicU64,
    pub connections_refused: AtomicU64,
    pub timeouts: AtomicU64,
    /// Time spent in each [`Stage`] of the syncs served, in microseconds (summed over requests
    /// served side by side, so wall time, not CPU time).
    stage_us: [AtomicU64; STAGES.len()],
    /// Group commits written, the pushes they stored, and the time spent writing them.
    pub commit_batches: AtomicU64,
    pub commits_batched: AtomicU64,
    pub commit_write_us: AtomicU64,
}

/// Where a sync's time goes (`zhuqi_sync_stage_seconds_total`).
#[derive(Clone, Copy, Debug)]
pub enum Stage {
    /// Finding the device's session from its token (every authenticated request).
    Session = 0,
    /// Waiting for one of the sync slots (`AppState::sync_slots`) and the user's own turn.
    Queued = 1,
    /// Reading the request's body.
    Body = 2,
    /// Decompressing and decoding it.
    Decode = 3,
    /// The device's scope keys, actors and directory version; devices seen; actor binding.
    Context = 4,
    /// A push's reads before the push lock: scope of its documents, documents into the cache.
    PushReads = 5,
    /// Waiting for the push lock.
    PushLock = 6,
    /// Validating under the push lock (changes applied, events judged, projections built).
    Validate = 7,
    /// Waiting for the group commit that stores the push (and writing it, for its writer).
    Commit = 8,
    /// Reading what changed in the device's scope.
    Pull = 9,
    /// The part of the directory the device lacks.
    Directory = 10,
    /// Encoding and compressing the answer.
    Encode = 11,
}

const STAGES: [&str; 12] = [
    "session",
    "queued",
    "body",
    "decode",
    "context",
    "push_reads",
    "push_lock",
    "validate",
    "commit",
    "pull",
    "directory",
    "encode",
];

/// Routes counted in `zhuqi_requests_total`.
#[derive(Clone, Copy)]
pub enum Route {
    Sync = 0,
    SignIn = 1,
    Activate = 2,
    SignOut = 3,
    ActivationCode = 4,
    Events = 5,
    Health = 6,
    Web = 7,
    Blobs = 8,
    /// Enterprise contacts' web pages and their links (`portal`).
    Enterprise = 9,
}

const ROUTE_NAMES: [&str; 10] =
    ["sync", "sign_in", "activate", "sign_out", "activation_code", "events", "health", "web", "blobs", "enterprise"];

impl Metrics {
    pub fn request(&self, r: Route) {
        self.requests[r as usize].fetch_add(1, Relaxed);
    }

    pub fn observe_sync(&self, seconds: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.sync_buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.sync_count.fetch_add(1, Relaxed);
        self.sync_sum_us.fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    /// Adds the time since `from` to `stage`; returns now (the start of the next stage).
    pub fn stage(&self, stage: Stage, from: std::time::Instant) -> std::time::Instant {
        let now = std::time::Instant::now();
        self.stage_us[stage as usize].fetch_add(now.duration_since(from).as_micros() as u64, Relaxed);
        now
    }

    /// Seconds spent so far in each stage, by name.
    pub fn stage_seconds(&self) -> Vec<(&'static str, f64)> {
        STAGES.iter().zip(&self.stage_us).map(|(name, us)| (*name, us.load(Relaxed) as f64 / 1e6)).collect()
    }

    pub fn render(&self, connected_devices: u64, documents: u64) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# HELP zhuqi_requests_total HTTP requests by route.\n# TYPE zhuqi_requests_total counter");
        for (i, name) in ROUTE_NAMES.iter().enumerate() {
            let _ = writeln!(s, "zhuqi_requests_total{{route=\"{name}\"}} {}", self.requests[i].load(Relaxed));
        }
        let _ = writeln!(
            s,
            "# HELP zhuqi_request_errors_total Requests answered with an error status.\n# TYPE zhuqi_request_errors_total counter"
        );
        let _ = writeln!(s, "zhuqi_request_errors_total {}", self.errors.load(Relaxed));
        let _ = writeln!(
            s,
            "# HELP zhuqi_sync_duration_seconds Time to serve POST /v1/sync.\n# TYPE zhuqi_sync_duration_seconds histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ =
                writeln!(s, "zhuqi_sync_duration_seconds_bucket{{le=\"{b}\"}} {}", self.sync_buckets[i].load(Relaxed));
        }
        let count = self.sync_count.load(Relaxed);
        let _ = writeln!(s, "zhuqi_sync_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(s, "zhuqi_sync_duration_seconds_sum {}", self.sync_sum_us.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(s, "zhuqi_sync_duration_seconds_count {count}");
        let _ = writeln!(
            s,
            "# HELP zhuqi_sync_stage_seconds_total Time syncs spent in each stage, summed over requests.\n# TYPE zhuqi_sync_stage_seconds_total counter"
        );
        for (name, seconds) in self.stage_seconds() {
            let _ = writeln!(s, "zhuqi_sync_stage_seconds_total{{stage=\"{name}\"}} {seconds}");
        }
        let write = self.commit_write_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(
            s,
            "# HELP zhuqi_commit_write_seconds_total Time spent writing group commits.\n# TYPE zhuqi_commit_write_seconds_total counter\nzhuqi_commit_write_seconds_total {write}"
        );
        for (name, help, v) in [
            ("zhuqi_commit_batches_total", "Group commits written (one transaction each).", &self.commit_batches),
            ("zhuqi_commits_batched_total", "Pushes stored by the group commits.", &self.commits_batched),
            ("zhuqi_sync_bytes_in_total", "Compressed request bytes received by /v1/sync.", &self.bytes_in),
            ("zhuqi_sync_bytes_out_total", "Compressed response bytes sent by /v1/sync.", &self.bytes_out),
            ("zhuqi_changes_accepted_total", "Pushed changes stored.", &self.changes_accepted),
            ("zhuqi_changes_rejected_total", "Pushed changes refused.", &self.changes_rejected),
            ("zhuqi_sign_ins_failed_total", "Failed sign-in attempts.", &self.sign_ins_failed),
            (
                "zhuqi_sign_ins_throttled_total",
                "Sign-in and activation attempts refused by the throttles.",
                &self.sign_ins_throttled,
            ),
            (
                "zhuqi_connections_refused_total",
                "Connections closed on accept: over the global or per-address cap.",
                &self.connections_refused,
            ),
            ("zhuqi_request_timeouts_total", "Requests answered 408: past their deadline.", &self.timeouts),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Relaxed));
        }
        let _ = writeln!(
            s,
            "# HELP zhuqi_connected_devices Devices that synced in the last 5 minutes.\n# TYPE zhuqi_connected_devices gauge\nzhuqi_connected_devices {connected_devices}"
        );
        let _ = writeln!(
            s,
            "# HELP zhuqi_documents Documents stored.\n# TYPE zhuqi_documents gauge\nzhuqi_documents {documents}"
        );
        s
    }
}
