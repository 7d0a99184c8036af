//! Token-bucket rate limiting for one direction of traffic (the engine keeps one [`Limiter`]
//! for upload and one for download).
//!
//! # Model
//!
//! Three levels of buckets: the session, each torrent, each peer. A grant of `n` bytes takes
//! `n` tokens from every limited level the peer belongs to, so it must fit all of them at once
//! (a peer under a 1 MiB/s session limit and a 100 KiB/s torrent limit gets at most
//! 100 KiB/s). A rate of 0 means unlimited: that level is skipped. Rates change at runtime;
//! what a bucket earned before the change is kept, up to the new burst.
//!
//! The caller passes *wire* bytes (message headers, handshakes, keep-alives included), so
//! protocol overhead is limited like payload. Traffic that cannot be refused (bytes already
//! read) is debited with [`Limiter::charge`] and paid back by later waits.
//!
//! # Why reservations
//!
//! A plain token bucket lets whoever asks first after a refill take the tokens, so a peer that
//! asks for a whole block can starve behind peers asking for small pieces at the right moment.
//! Here a request that cannot be served now leaves a *reservation* in every limited bucket of
//! its levels, in arrival order; later requests may only use the tokens beyond the bytes
//! reserved ahead of them. The longest waiter is therefore served first, and peers asking in
//! block-sized steps are served round-robin: each gets an equal share of a shared bucket.
//!
//! A waiter must come back at the instant it was given ([`Decision::WaitUntil`]); one that
//! does not within [`GIVE_UP_AFTER`] (its connection closed, say) loses its place so it cannot
//! hold up the others.
//!
//! # Burst
//!
//! A bucket holds at most [`burst_for`]`(rate)` bytes (a fifth of a second, at least
//! [`MIN_BURST`]), and one grant is at most the smallest burst of its levels. Buckets start
//! empty, so over any interval `T` the bytes granted by a bucket are at most
//! `rate × T + burst`.

mod bucket;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use bucket::Bucket;
pub use bucket::{burst_for, MIN_BURST};

/// How long a waiter keeps its reservation after the instant it was told to come back.
pub const GIVE_UP_AFTER: Duration = Duration::from_millis(500);

/// The answer to [`Limiter::request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send (or read) up to `bytes` now; they are already debited.
    Grant { bytes: u64 },
    /// Nothing may move now; ask again at this instant (the bytes are reserved until then).
    WaitUntil(Instant),
}

#[derive(Clone, Debug)]
struct PeerEntry<T, P> {
    torrent: T,
    bucket: Bucket<P>,
}

/// Rate limits of one direction for a session: a session bucket, a bucket per torrent (`T`
/// identifies a torrent) and a bucket per peer (`P` identifies a connection session-wide).
#[derive(Clone, Debug)]
pub struct Limiter<T, P> {
    session: Bucket<P>,
    torrents: HashMap<T, Bucket<P>>,
    peers: HashMap<P, PeerEntry<T, P>>,
}

impl<T: Copy + Eq + Hash, P: Copy + Eq + Hash> Limiter<T, P> {
    /// A limiter with a session rate of `session_rate` bytes/s (0: unlimited).
    pub fn new(now: Instant, session_rate: u64) -> Limiter<T, P> {
        Limiter { session: Bucket::new(now, session_rate), torrents: HashMap::new(), peers: HashMap::new() }
    }

    /// Changes the session rate (bytes/s, 0: unlimited).
    pub fn set_session_rate(&mut self, now: Instant, rate: u64) {
        self.session.set_rate(now, rate);
    }

    /// Sets a torrent's rate (bytes/s, 0: unlimited), creating its level if needed.
    pub fn set_torrent_rate(&mut self, now: Instant, torrent: T, rate: u64) {
        self.torrents.entry(torrent).or_insert_with(|| Bucket::new(now, 0)).set_rate(now, rate);
    }

    /// Forgets a torrent's level (its peers are then limited by the session only).
    pub fn remove_torrent(&mut self, torrent: T) {
        self.torrents.remove(&torrent);
    }

    /// Registers a connection of `torrent` with its own rate (bytes/s, 0: unlimited). A peer
    /// registered again keeps nothing of its previous state.
    pub fn add_peer(&mut self, now: Instant, peer: P, torrent: T, rate: u64) {
        self.remove_peer(peer);
        self.peers.insert(peer, PeerEntry { torrent, bucket: Bucket::new(now, rate) });
    }

    /// Changes a registered peer's rate; unknown peers are ignored.
    pub fn set_peer_rate(&mut self, now: Instant, peer: P, rate: u64) {
        if let Some(entry) = self.peers.get_mut(&peer) {
            entry.bucket.set_rate(now, rate);
        }
    }

    /// Forgets a connection and gives up its reservations.
    pub fn remove_peer(&mut self, peer: P) {
        if let Some(entry) = self.peers.remove(&peer) {
            if let Some(t) = self.torrents.get_mut(&entry.torrent) {
                t.cancel(peer);
            }
        }
        self.session.cancel(peer);
    }

    /// The rates in force for `peer`: (session, torrent, peer), 0 = unlimited.
    pub fn rates(&self, peer: P) -> (u64, u64, u64) {
        let entry = self.peers.get(&peer);
        let torrent = entry.and_then(|e| self.torrents.get(&e.torrent)).map_or(0, Bucket::rate);
        (self.session.rate(), torrent, entry.map_or(0, |e| e.bucket.rate()))
    }

    /// Asks to move `bytes` wire bytes for `peer` (an unregistered peer is limited by the
    /// session only). Grants are all-or-nothing, of `bytes` capped at the smallest burst of the
    /// limited levels; 0 bytes are granted at once.
    pub fn request(&mut self, now: Instant, peer: P, bytes: u64) -> Decision {
        let mut levels = self.levels(peer);
        for b in levels.iter_mut() {
            b.refill(now);
        }
        let cap = levels.iter().filter(|b| b.is_limited()).map(|b| b.burst()).min();
        let bytes = cap.map_or(bytes, |c| bytes.min(c));
        if bytes == 0 {
            return Decision::Grant { bytes: 0 };
        }
        let wait = levels.iter().filter(|b| b.is_limited()).filter_map(|b| b.wait_for(peer, bytes)).max();
        match wait {
            None => {
                for b in levels.iter_mut() {
                    b.take(peer, bytes);
                }
                Decision::Grant { bytes }
            }
            Some(wait) => {
                let ready = now + wait;
                for b in levels.iter_mut() {
                    b.reserve(peer, bytes, ready, ready + GIVE_UP_AFTER);
                }
                Decision::WaitUntil(ready)
            }
        }
    }

    /// Debits `bytes` that moved without a grant (already read from the socket, or a message
    /// that must go out) from every level of `peer`.
    pub fn charge(&mut self, now: Instant, peer: P, bytes: u64) {
        for b in self.levels(peer).iter_mut() {
            b.refill(now);
            b.charge(bytes);
        }
    }

    /// Returns the unused part of a grant (a socket took fewer bytes than granted, or had
    /// fewer to read) to every level of `peer`, up to each bucket's burst. Without it a short
    /// write would waste tokens and the achieved rate would fall below the limit.
    pub fn give_back(&mut self, now: Instant, peer: P, bytes: u64) {
        for b in self.levels(peer).iter_mut() {
            b.refill(now);
            b.give_back(bytes);
        }
    }

    /// Gives up `peer`'s reservations (it no longer wants to send).
    pub fn cancel(&mut self, peer: P) {
        for b in self.levels(peer).iter_mut() {
            b.cancel(peer);
        }
    }

    /// The earliest instant a waiting peer was told to come back, if any waits.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let torrents = self.torrents.values().filter_map(Bucket::next_ready);
        let peers = self.peers.values().filter_map(|e| e.bucket.next_ready());
        self.session.next_ready().into_iter().chain(torrents).chain(peers).min()
    }

    /// Waiters holding a reservation in the session bucket.
    pub fn waiting(&self) -> usize {
        self.session.waiting()
    }

    /// The buckets `peer` draws from: session, then its torrent's and its own if registered.
    fn levels(&mut self, peer: P) -> Vec<&mut Bucket<P>> {
        let mut levels = vec![&mut self.session];
        if let Some(entry) = self.peers.get_mut(&peer) {
            if let Some(t) = self.torrents.get_mut(&entry.torrent) {
                levels.push(t);
            }
            levels.push(&mut entry.bucket);
        }
        levels
    }
}
