//! What the relay's operators do outside the device API: CSV imports of the directory and the
//! enterprises, the import of a previous platform's problem history, and the demo province.

pub mod demo;
pub mod history;
pub mod import;
