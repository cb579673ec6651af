//! Observation: a listener the app implements (Kotlin interface, Swift protocol) and a handle that
//! stops it. While watching, the client follows the relay's live events and syncs when something in
//! scope changed, telling the listener what the sync did.

use crate::client::ZhuqiClient;
use crate::error::ZhuqiError;
use crate::records::{PhotoUploadInfo, SyncSummary};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Implemented by the app to hear about syncs.
#[uniffi::export(callback_interface)]
pub trait SyncListener: Send + Sync {
    /// A sync brought changes (new or updated documents, refusals, purges): refresh the screens.
    fn on_changes(&self, summary: SyncSummary);
    /// A background sync failed (offline, signed out…); `error` says why.
    fn on_error(&self, error: ZhuqiError);
}

/// Implemented by the app to show photo uploads progressing (`ZhuqiClient::set_photo_listener`).
/// Called on the thread running the sync, not the main thread.
#[uniffi::export(callback_interface)]
pub trait PhotoListener: Send + Sync {
    /// Where a photo's upload stands: `uploading` after each chunk the relay acknowledged (with
    /// the bytes it holds), then `done`, or `failed` with the reason.
    fn on_photo_progress(&self, upload: PhotoUploadInfo);
}

/// Stops the observation it came from; dropping it stops it too.
#[derive(uniffi::Object)]
pub struct WatchHandle {
    stop: Arc<AtomicBool>,
}

#[uniffi::export]
impl WatchHandle {
    /// Stops watching (takes effect within a few seconds).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[uniffi::export]
impl ZhuqiClient {
    /// Watches the relay's live events on a background thread and syncs when the user's data
    /// changed, calling `listener` after each sync that brought changes.
    pub fn watch(self: Arc<Self>, listener: Box<dyn SyncListener>) -> Arc<WatchHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(WatchHandle { stop: stop.clone() });
        std::thread::Builder::new()
            .name("zhuqi-watch".into())
            .spawn(move || {
                let client = self;
                let mut backoff = Duration::from_secs(1);
                while !stop.load(Ordering::SeqCst) {
                    let sync = |client: &ZhuqiClient| match client.sync_inner() {
                        Ok(s) if s.pulled + s.rejected + s.purged > 0 => listener.on_changes(s),
                        Ok(_) => {}
                        Err(e) => listener.on_error(e),
                    };
                    let (token, cursor) = match (client.token(), client.cursor()) {
                        (Ok(t), Ok(c)) => (t, c),
                        (Err(e), _) | (_, Err(e)) => {
                            listener.on_error(e);
                            return;
                        }
                    };
                    let relay = match zhuqi_core::sync::SyncClient::new(&client.relay_url()) {
                        Ok(r) => r,
                        Err(e) => return listener.on_error(e.into()),
                    };
                    let result = relay.watch(&token, cursor, &stop, |_| sync(&client));
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Err(e) = result {
                        tracing::debug!("live events: {e}");
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    } else {
                        backoff = Duration::from_secs(1);
                    }
                }
            })
            .expect("spawning a thread");
        handle
    }
}
