//! zhuqi for Android and iOS: a thin uniffi layer over `zhuqi-core`. It holds only the exported
//! object (`ZhuqiClient`), the records and enums apps show, the public error type (`ZhuqiError`),
//! the listener and logger callbacks. Everything else is in the core.

uniffi::setup_scaffolding!();

mod client;
mod error;
mod invite;
mod kinds;
mod listener;
mod logger;
mod manage;
mod records;
mod records_more;

pub use client::{ClientOptions, ZhuqiClient, erase_local_data};
pub use error::ZhuqiError;
pub use invite::{EnterpriseReach, ReachReport, WebLink};
pub use listener::{SyncListener, WatchHandle};
pub use logger::{ZhuqiLogLevel, ZhuqiLogger, set_logger};
pub use kinds::*;
pub use records::*;
pub use records_more::*;
