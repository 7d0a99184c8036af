//! Sans-IO peer protocol logic: the per-connection state machine ([`peer::PeerConn`]), the
//! piece picker ([`picker::Picker`]), the choker ([`choker`]) and the per-torrent swarm logic
//! that ties them together. Time comes in as `now`, randomness as an RNG argument; nothing
//! here touches sockets, files or the clock.

// Unit tests take `Instant::now()` once as their virtual clock's origin; product code may not
// (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod candidates;
pub mod choker;
pub mod hashes;
pub mod health;
pub mod limit;
pub mod metadata;
pub mod peer;
pub mod pex;
pub mod picker;
pub mod swarm;
pub mod xet;

/// Identifies one connection within a torrent (assigned by the engine, never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u64);
