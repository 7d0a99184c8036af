//! The client side of the ccbt daemon's API, shared by the `ccbt` commands that drive a daemon
//! and by the `bitonic` dashboard: where the daemon is ([`lock`]: `<state_dir>/daemon.lock` and
//! `<state_dir>/api_token`), one blocking HTTP request per call ([`Client`]), and the daemon's
//! Server-Sent Events ([`sse`]).
//!
//! A daemon serving HTTPS publishes its certificate's path in the lock file; the client trusts
//! that certificate alone (no system roots, verification on). Requests never go through a proxy
//! from the environment: a proxy must not see the token.

mod error;
mod http;
pub mod lock;
pub mod sse;

pub use error::ClientError;
pub use http::{connect, encode_query, info_hash_segment, Client, NO_DAEMON};
