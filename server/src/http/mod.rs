//! The relay's HTTP plumbing, shared by every room: typed errors, body limits, metrics, and the
//! network edge (connections, timeouts, the client's address).

pub mod body;
pub mod error;
pub mod metrics;
pub mod net;
