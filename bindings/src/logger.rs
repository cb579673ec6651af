//! Forwards the core's `tracing` logs to a logger the app implements (Logcat, os_log…).

use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// Implemented by the app to receive log lines.
#[uniffi::export(callback_interface)]
pub trait Logger: Send + Sync {
    fn log(&self, level: LogLevel, target: String, message: String);
}

struct Forward {
    logger: Box<dyn Logger>,
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
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Trace,
        };
        self.logger.log(level, meta.target().to_owned(), m.0);
    }
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Sends the library's logs at `max_level` and above to `logger`. Only the first call takes effect.
#[uniffi::export]
pub fn set_logger(logger: Box<dyn Logger>, max_level: LogLevel) {
    INSTALLED.get_or_init(|| {
        let max = match max_level {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        };
        let subscriber = tracing_subscriber::registry().with(Forward { logger, max });
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}
