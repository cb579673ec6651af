//! What the relay's operators do outside the device API: CSV imports of the directory and the
//! enterprises, and the demo province.

pub mod demo;
pub mod import;
