//! Sync between devices and the relay: the wire protocol and the device-side client.

pub mod client;
pub mod protocol;

pub use client::{SyncClient, SyncReport};
