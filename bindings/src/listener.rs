//! Observation: a listener the app implements (Kotlin interface, Swift protocol) and a handle that
//! stops it. While watching, the client follows the relay's live events and syncs when something in
//! scope changed, telling the listener what the sync did.

use crate::client::ZhuqiClient;
use crate::error::ZhuqiError;
use crate::records::{PhotoUploadInfo, SyncSummary};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Implemented by the app to hear about syncs. Called on the library's background thread, never
/// the main thread: hop to it before touching the UI (Android:
/// `Handler(Looper.getMainLooper()).post { … }`; iOS: `DispatchQueue.main.async { … }`).
#[uniffi::export(callback_interface)]
pub trait SyncListener: Send + Sync {
    /// A sync brought changes (new or updated documents, refusals, purges): refresh the screens.
    fn on_changes(&self, summary: SyncSummary);
    /// A background sync failed (offline, signed out…); `error` says why.
    fn on_error(&self, error: ZhuqiError);
}

/// Implemented by the app to show photo uploads progressing (`ZhuqiClient::set_photo_listener`).
/// Called on the thread running the sync (a library thread: `sync_now` and `watch` sync on threads
/// of their own), never the main thread: hop to it before touching the UI, as for `SyncListener`.
#[uniffi::export(callback_interface)]
pub trait PhotoListener: Send + Sync {
    /// Where a photo's upload stands: `uploading` after each chunk the relay acknowledged (with
    /// the bytes it holds), then `done`, or `failed` with the reason.
    fn on_photo_progress(&self, upload: PhotoUploadInfo);
}

/// Where the watching thread's calls to the listener pass: `stop` closes it, and waits for a call
/// under way, so that none comes after `stop` returns; a listener that throws is logged, not fatal.
#[derive(Default)]
struct Gate {
    stopped: AtomicBool,
    calling: Mutex<()>,
    watcher: OnceLock<std::thread::ThreadId>,
}

impl Gate {
    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn call(&self, f: impl FnOnce()) {
        let _calling = self.calling.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_stopped() {
            return;
        }
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
            tracing::warn!("the sync listener failed; watching goes on");
        }
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // From the listener itself (on the watching thread) there is no other call to wait for.
        if self.watcher.get() != Some(&std::thread::current().id()) {
            drop(self.calling.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    /// Sleeps `d`, or less when stopped meanwhile; whether still watching.
    fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while !self.is_stopped() && Instant::now() < until {
            std::thread::sleep(TICK.min(until.saturating_duration_since(Instant::now())));
        }
        !self.is_stopped()
    }
}

/// How often the watching thread looks whether it was stopped.
const TICK: Duration = Duration::from_millis(100);

/// Stops the observation it came from; dropping it stops it too.
#[derive(uniffi::Object)]
pub struct WatchHandle {
    gate: Arc<Gate>,
}

#[uniffi::export]
impl WatchHandle {
    /// Stops watching: once it returns, the listener is not called again (a call under way is
    /// waited for; from within the listener, later calls are dropped). A sync under way finishes
    /// in the background.
    pub fn stop(&self) {
        self.gate.stop();
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.gate.stopped.store(true, Ordering::SeqCst);
    }
}

/// Errors after which watching cannot go on: the user must sign in again (the phone was wiped if
/// revoked) or update the app.
fn is_final(e: &ZhuqiError) -> bool {
    matches!(e, ZhuqiError::Revoked { .. } | ZhuqiError::SignedOut { .. })
        || matches!(e, ZhuqiError::Rejected { code, .. } if code == "upgrade_required")
}

/// What the thread reading the live events tells the watching thread.
enum Heard {
    Change,
    Ended(zhuqi_core::Result<()>),
}

#[uniffi::export]
impl ZhuqiClient {
    /// Watches the relay's live events on a background thread: syncs at once, then whenever the
    /// user's data changed, calling `listener.on_changes` after each sync that brought changes —
    /// on that background thread, not the main thread (hop to it to update the UI). Errors reach
    /// `listener.on_error`: going offline once per outage (watching goes on, retrying with a
    /// growing pause up to a minute), and revoked (the phone is wiped), signed out or too old an
    /// app, after which watching ends. Stop it with the handle's `stop`.
    pub fn watch(self: Arc<Self>, listener: Box<dyn SyncListener>) -> Arc<WatchHandle> {
        let gate = Arc::new(Gate::default());
        let handle = Arc::new(WatchHandle { gate: gate.clone() });
        let thread = std::thread::Builder::new()
            .name("zhuqi-watch".into())
            .spawn(move || watch_loop(&self, listener.as_ref(), &gate))
            .expect("spawning a thread");
        let _ = handle.gate.watcher.set(thread.thread().id());
        handle
    }
}

fn watch_loop(client: &ZhuqiClient, listener: &dyn SyncListener, gate: &Gate) {
    let mut backoff = Duration::from_secs(1);
    let mut offline_told = false;
    // Each round: sync (catching up on what came while not listening), then listen until the
    // stream ends; a failure pauses the next round.
    while !gate.is_stopped() {
        let failed = match sync_and_tell(client, listener, gate) {
            Err(e) if is_final(&e) => return gate.call(|| listener.on_error(e)),
            Err(e) => Some(e),
            Ok(()) => match listen(client, listener, gate) {
                Ok(()) => None,
                Err(e) if is_final(&e) => return gate.call(|| listener.on_error(e)),
                Err(e) => Some(e),
            },
        };
        match failed {
            None => {
                backoff = Duration::from_secs(1);
                offline_told = false;
            }
            Some(e) => {
                if !offline_told {
                    offline_told = true;
                    gate.call(|| listener.on_error(e));
                }
                if !gate.sleep(backoff) {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

fn sync_and_tell(client: &ZhuqiClient, listener: &dyn SyncListener, gate: &Gate) -> Result<(), ZhuqiError> {
    let s = client.sync_inner()?;
    if s.pulled + s.rejected + s.purged > 0 {
        gate.call(|| listener.on_changes(s));
    }
    Ok(())
}

/// Follows the live events until the stream ends or watching stops, syncing on each change. The
/// stream is read on a thread of its own, so that stopping needn't wait for the relay's next line.
fn listen(client: &ZhuqiClient, listener: &dyn SyncListener, gate: &Gate) -> Result<(), ZhuqiError> {
    let (token, cursor) = (client.token()?, client.cursor()?);
    // The client's own trust and timeouts (the stream's request sets its own); stopped by `stop`.
    let relay = client.relay_client(&client.relay_url())?.with_cancel(Default::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let quit = Arc::new(AtomicBool::new(false));
    let reader_quit = quit.clone();
    std::thread::Builder::new()
        .name("zhuqi-events".into())
        .spawn(move || {
            let changes = tx.clone();
            let ended = relay.watch(&token, cursor, &reader_quit, |_| {
                let _ = changes.send(Heard::Change);
            });
            let _ = tx.send(Heard::Ended(ended));
        })
        .map_err(|e| ZhuqiError::internal(e.to_string()))?;
    let result = loop {
        match rx.recv_timeout(TICK) {
            _ if gate.is_stopped() => break Ok(()),
            Ok(Heard::Change) => sync_and_tell(client, listener, gate)?,
            Ok(Heard::Ended(Ok(()))) => break Ok(()),
            // Refused (revoked, signed out): a sync says so as well, and wipes a revoked phone.
            Ok(Heard::Ended(Err(e))) => {
                let e = ZhuqiError::from(e);
                if is_final(&e) {
                    sync_and_tell(client, listener, gate)?;
                }
                break Err(e);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break Ok(()),
        }
    };
    // The reader ends at the relay's next line (a heartbeat at the latest).
    quit.store(true, Ordering::SeqCst);
    result
}
