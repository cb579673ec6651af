//! Forwards the core's `tracing` logs to a logger the app implements (Logcat, os_log…).

use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ZhuqiLogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// Implemented by the app to receive log lines. Named `ZhuqiLogger` (and its levels
/// `ZhuqiLogLevel`) so that Swift apps importing `os` (whose `Logger` it would shadow) need no
/// module prefix.
///
/// `log` is called on whichever library thread logged — a call's own thread, the sync thread, the
/// watch thread —, often not the main thread and possibly several threads at once: write the line
/// (Logcat, `os_log`) and return; to show anything in the UI, hop to the main thread first
/// (Android: `Handler(Looper.getMainLooper()).post { … }`; iOS: `DispatchQueue.main.async { … }`).
/// Never call back into `ZhuqiClient` from it.
#[uniffi::export(callback_interface)]
pub trait ZhuqiLogger: Send + Sync {
    fn log(&self, level: ZhuqiLogLevel, target: String, message: String);
}

struct Forward {
    logger: Box<dyn ZhuqiLogger>,
    max: tracing::Level,
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}{}", self.0);
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.max {
            return;
        }
        let mut m = Message::default();
        event.record(&mut m);
        let level = match *meta.level() {
            tracing::Level::ERROR => ZhuqiLogLevel::Error,
            tracing::Level::WARN => ZhuqiLogLevel::Warn,
            tracing::Level::INFO => ZhuqiLogLevel::Info,
            tracing::Level::DEBUG => ZhuqiLogLevel::Debug,
            tracing::Level::TRACE => ZhuqiLogLevel::Trace,
        };
        self.logger.log(level, meta.target().to_owned(), m.0);
    }
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Sends the library's logs at `max_level` and above to `logger`. Only the first call takes effect.
#[uniffi::export]
pub fn set_logger(logger: Box<dyn ZhuqiLogger>, max_level: ZhuqiLogLevel) {
    INSTALLED.get_or_init(|| {
        let max = match max_level {
            ZhuqiLogLevel::Error => tracing::Level::ERROR,
            ZhuqiLogLevel::Warn => tracing::Level::WARN,
            ZhuqiLogLevel::Info => tracing::Level::INFO,
            ZhuqiLogLevel::Debug => tracing::Level::DEBUG,
            ZhuqiLogLevel::Trace => tracing::Level::TRACE,
        };
        let subscriber = tracing_subscriber::registry().with(Forward { logger, max });
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}
