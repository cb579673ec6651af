//! zhuqi's core: the domain of the "万人助万企" campaign on Automerge documents, stored on the device
//! in SQLite, with the rules shared by devices and the relay.
//!
//! Layers, each depending only on those above it:
//! - [`domain`]: data types and the fold from event logs to states (pure);
//! - [`rules`]: who may do what (pure, shared with the relay);
//! - [`document`]: the layout of data in Automerge documents;
//! - [`storage`]: the SQLite schema, migrations and row access;
//! - [`store`]: the API the apps call: actions and queries, one transaction each.

pub mod document;
pub mod domain;
pub mod error;
pub mod rules;
pub mod storage;
pub mod store;
pub mod sync;

pub use error::{Error, Result};
pub use store::Store;
