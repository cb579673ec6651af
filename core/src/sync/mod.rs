//! Sync between devices and the relay: the wire protocol and (with the `http-client` feature) the
//! device-side client.

#[cfg(feature = "http-client")]
pub mod client;
pub mod protocol;

#[cfg(feature = "http-client")]
pub use client::{PhotoReport, SyncClient, SyncReport};
