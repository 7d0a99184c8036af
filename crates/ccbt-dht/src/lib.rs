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
//!
//! BEP 44 (arbitrary data in the DHT): [`item`] (targets, ed25519 signatures, checks) and
//! [`item_store`] (items stored for others); the node answers `get`/`put` and runs `get` and
//! put lookups ([`DhtNode::get_mutable`], [`DhtNode::put_item`], ...). [`bep46`] holds what BEP 46
//! (updating torrents through mutable items) adds on top: the `{"ih": ...}` value, the
//! `urn:btpk` magnet link and the publisher's key file.

// Unit tests take `Instant::now()` once as their virtual clock's origin; product code may not
// (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod bep42;
pub mod bep46;
mod error;
mod id;
pub mod item;
pub mod item_store;
pub mod krpc;
pub mod lookup;
mod node;
pub mod routing;
pub mod storage;
pub mod token;

pub use error::KrpcError;
pub use id::NodeId;
pub use node::{BucketStatus, DhtEvent, DhtNode, DhtOptions, DhtStatus, LookupId, MAX_DATAGRAM};
