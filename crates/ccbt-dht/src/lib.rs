//! A Kademlia DHT node (BEP 5) as a sans-IO state machine.
//!
//! [`DhtNode`] is fed datagrams and timer expiries (`handle_datagram`, `handle_timeout`, each
//! taking `now`) and hands back datagrams to send (`poll_transmit`), the next deadline
//! (`poll_timeout`) and events (`poll_event`). It never touches a socket, a file, the clock or
//! an OS random source, so the same code runs in the engine and in a deterministic simulation.
//!
//! The building blocks are public for testing and reuse: [`krpc`] (message codec), [`routing`]
//! (routing table), [`lookup`] (iterative lookups), [`token`] (announce tokens) and [`storage`]
//! (announced peers). IPv4 only; BEP 32 (IPv6) is future work.

// Unit tests take `Instant::now()` once as their virtual clock's origin; product code may not
// (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod bep42;
mod error;
mod id;
pub mod krpc;
pub mod lookup;
mod node;
pub mod routing;
pub mod storage;
pub mod token;

pub use error::KrpcError;
pub use id::NodeId;
pub use node::{BucketStatus, DhtEvent, DhtNode, DhtOptions, DhtStatus, LookupId, MAX_DATAGRAM};
