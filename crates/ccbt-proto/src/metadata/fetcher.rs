//! Downloading the info dictionary of a magnet link from the swarm (BEP 9).
//!
//! Invariants:
//! - `slots` has one entry per metadata piece of `size` (empty while `size` is `None`).
//! - A peer's `in_flight` is the number of slots in `Requested` state naming it, and never
//!   exceeds [`MAX_REQUESTS_PER_PEER`].
//! - `have` is the number of slots in `Have` state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_core::InfoHash;
use ccbt_wire::ext::metadata::METADATA_PIECE_LEN;
use sha1::{Digest, Sha1};
use thiserror::Error;

use super::MetadataError;
use crate::PeerKey;

/// Largest metadata accepted by default. Real info dictionaries are a few hundred KiB at most;
/// the limit bounds what a peer can make us buffer.
pub const DEFAULT_MAX_METADATA_SIZE: u64 = 16 << 20;

/// Hard ceiling on any `max_size` a caller passes, so the per-piece bookkeeping stays small
/// whatever the configuration says.
const MAX_METADATA_SIZE_CEILING: u64 = 1 << 30;

/// Most requests outstanding at one peer. Two keep a peer busy across a round trip without
/// piling every piece onto the first peer that shows up.
pub const MAX_REQUESTS_PER_PEER: u32 = 2;

/// How long a peer has to answer a request before the piece is asked of someone else, and how
/// long a peer that rejected or ignored a piece is not asked for it again.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The assembled metadata did not hash to the info hash.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataFailure {
    /// Every piece arrived but their SHA-1 is not the info hash. All data was discarded and the
    /// fetch restarted; `contributors` (sorted, no duplicates) are the peers that sent pieces,
    /// at least one of which lied.
    #[error("metadata does not match the info hash ({} peers contributed)", contributors.len())]
    HashMismatch { contributors: Vec<PeerKey> },
}

#[derive(Debug)]
struct Peer {
    /// The metadata size from the peer's extension handshake, if it was plausible.
    size: Option<u64>,
    /// When the peer was added; earlier peers win ties in the size vote.
    seq: u64,
    in_flight: u32,
    /// Pieces this peer rejected or let time out, and until when not to ask it for them again.
    avoid: BTreeMap<u32, Instant>,
}

#[derive(Debug, Clone)]
enum Slot {
    Missing,
    Requested { peer: PeerKey, deadline: Instant },
    Have { data: Bytes, from: PeerKey },
}

/// Fetches the metadata (info dictionary) of one torrent from its peers.
///
/// The engine reports peers whose extension handshake carries `metadata_size`
/// ([`add_peer`](Self::add_peer)), sends the requests [`next_requests`](Self::next_requests)
/// hands out, feeds back data and rejects, and calls `next_requests` again after every event
/// and whenever [`poll_timeout`](Self::poll_timeout) passes. [`poll_complete`](Self::poll_complete)
/// yields the verified bytes once.
#[derive(Debug)]
pub struct MetadataFetcher {
    info_hash: InfoHash,
    max_size: u64,
    timeout: Duration,
    peers: BTreeMap<PeerKey, Peer>,
    next_seq: u64,
    /// The metadata size being fetched: the one most peers agree on.
    size: Option<u64>,
    slots: Vec<Slot>,
    have: usize,
    done: bool,
}

impl MetadataFetcher {
    /// A fetcher for the metadata of `info_hash` that refuses sizes above `max_size` (use
    /// [`DEFAULT_MAX_METADATA_SIZE`]; values above 1 GiB are lowered to 1 GiB).
    pub fn new(info_hash: InfoHash, max_size: u64) -> MetadataFetcher {
        MetadataFetcher {
            info_hash,
            max_size: max_size.min(MAX_METADATA_SIZE_CEILING),
            timeout: DEFAULT_REQUEST_TIMEOUT,
            peers: BTreeMap::new(),
            next_seq: 0,
            size: None,
            slots: Vec::new(),
            have: 0,
            done: false,
        }
    }

    /// Changes the request timeout (10 s by default).
    pub fn with_request_timeout(mut self, timeout: Duration) -> MetadataFetcher {
        self.timeout = timeout;
        self
    }

    /// The info hash the metadata must match.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// The metadata size being fetched, once a peer told us a plausible one.
    pub fn metadata_size(&self) -> Option<u64> {
        self.size
    }

    /// Pieces received so far and the piece count (both 0 before the size is known).
    pub fn progress(&self) -> (usize, usize) {
        (self.have, self.slots.len())
    }

    /// True once [`poll_complete`](Self::poll_complete) has returned the verified metadata.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Adds a peer (or updates one) that advertised `metadata_size` in its extension
    /// handshake. A size of 0 or above the maximum is ignored, and so is a size other peers
    /// outvote: the peer is only asked if its size is the one being fetched.
    pub fn add_peer(&mut self, key: PeerKey, metadata_size: u64) {
        let size = (metadata_size > 0 && metadata_size <= self.max_size).then_some(metadata_size);
        match self.peers.get_mut(&key) {
            Some(peer) => peer.size = size,
            None => {
                let seq = self.next_seq;
                self.next_seq = self.next_seq.saturating_add(1);
                self.peers.insert(key, Peer { size, seq, in_flight: 0, avoid: BTreeMap::new() });
            }
        }
        self.reconsider_size();
    }

    /// Forgets a peer (its connection closed); its outstanding requests go to other peers.
    pub fn remove_peer(&mut self, key: PeerKey) {
        if self.peers.remove(&key).is_none() {
            return;
        }
        for slot in &mut self.slots {
            if matches!(slot, Slot::Requested { peer, .. } if *peer == key) {
                *slot = Slot::Missing;
            }
        }
        self.reconsider_size();
    }

    /// Appends `(peer, piece)` requests to send, spreading missing pieces over the peers with
    /// the fewest outstanding requests. Requests older than the timeout are withdrawn first and
    /// their pieces handed to another peer when one is free.
    pub fn next_requests(&mut self, now: Instant, out: &mut Vec<(PeerKey, u32)>) {
        let Some(size) = self.size.filter(|_| !self.done) else { return };
        self.expire(now);
        let mut free: u32 = self
            .peers
            .values()
            .filter(|p| p.size == Some(size))
            .map(|p| MAX_REQUESTS_PER_PEER.saturating_sub(p.in_flight))
            .sum();
        let deadline = now.checked_add(self.timeout).unwrap_or(now);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if free == 0 {
                break;
            }
            if !matches!(slot, Slot::Missing) {
                continue;
            }
            let Ok(piece) = u32::try_from(index) else { break };
            let chosen = self
                .peers
                .iter_mut()
                .filter(|(_, p)| {
                    p.size == Some(size)
                        && p.in_flight < MAX_REQUESTS_PER_PEER
                        && !p.avoid.contains_key(&piece)
                })
                .min_by_key(|(key, p)| (p.in_flight, **key));
            let Some((&key, peer)) = chosen else { continue };
            peer.in_flight += 1;
            free -= 1;
            *slot = Slot::Requested { peer: key, deadline };
            out.push((key, piece));
        }
    }

    /// Withdraws timed-out requests and forgets expired back-offs.
    fn expire(&mut self, now: Instant) {
        let until = now.checked_add(self.timeout).unwrap_or(now);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Slot::Requested { peer: key, deadline } = *slot else { continue };
            if deadline > now {
                continue;
            }
            *slot = Slot::Missing;
            if let (Some(peer), Ok(piece)) = (self.peers.get_mut(&key), u32::try_from(index)) {
                peer.in_flight = peer.in_flight.saturating_sub(1);
                peer.avoid.insert(piece, until);
            }
        }
        for peer in self.peers.values_mut() {
            peer.avoid.retain(|_, until| *until > now);
        }
    }

    /// The earliest time [`next_requests`](Self::next_requests) has work that no other event
    /// triggers: a request timing out, or a back-off ending for a piece still missing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let deadlines = self.slots.iter().filter_map(|slot| match slot {
            Slot::Requested { deadline, .. } => Some(*deadline),
            _ => None,
        });
        let backoffs = self.peers.values().flat_map(|peer| {
            peer.avoid.iter().filter_map(|(&piece, &until)| {
                let missing = usize::try_from(piece).ok().and_then(|i| self.slots.get(i));
                matches!(missing, Some(Slot::Missing)).then_some(until)
            })
        });
        deadlines.chain(backoffs).min()
    }

    /// A data message from `key`. Valid data for a missing piece is kept even if it was asked
    /// of another peer (a late answer is still an answer); data for a piece already received
    /// is ignored. Wrong sizes and indices are errors: the engine should drop the peer.
    pub fn on_data(
        &mut self,
        _now: Instant,
        key: PeerKey,
        piece: u32,
        total_size: u64,
        data: Bytes,
    ) -> Result<(), MetadataError> {
        if !self.peers.contains_key(&key) {
            return Err(MetadataError::UnknownPeer { peer: key });
        }
        let Some(size) = self.size.filter(|_| !self.done) else { return Ok(()) };
        if total_size != size {
            self.release(key, piece);
            return Err(MetadataError::WrongTotalSize { got: total_size, expected: size });
        }
        let num_pieces = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        let Some(expected) = piece_len(size, piece) else {
            return Err(MetadataError::InvalidPiece { piece, num_pieces });
        };
        if data.len() != expected {
            self.release(key, piece);
            return Err(MetadataError::WrongLength { piece, got: data.len(), expected });
        }
        let Some(slot) = usize::try_from(piece).ok().and_then(|i| self.slots.get_mut(i)) else {
            return Err(MetadataError::InvalidPiece { piece, num_pieces });
        };
        match slot {
            Slot::Have { .. } => return Ok(()),
            Slot::Requested { peer, .. } => {
                if let Some(requested) = self.peers.get_mut(peer) {
                    requested.in_flight = requested.in_flight.saturating_sub(1);
                }
            }
            Slot::Missing => {}
        }
        *slot = Slot::Have { data, from: key };
        self.have += 1;
        Ok(())
    }

    /// A reject from `key`: the piece goes to another peer, and `key` is not asked for it again
    /// until the back-off (the request timeout) has passed.
    pub fn on_reject(&mut self, now: Instant, key: PeerKey, piece: u32) {
        if self.release(key, piece) {
            if let Some(peer) = self.peers.get_mut(&key) {
                peer.avoid.insert(piece, now.checked_add(self.timeout).unwrap_or(now));
            }
        }
    }

    /// Withdraws the request for `piece` if it is outstanding at `key`; true if it was.
    fn release(&mut self, key: PeerKey, piece: u32) -> bool {
        let Some(slot) = usize::try_from(piece).ok().and_then(|i| self.slots.get_mut(i)) else {
            return false;
        };
        if !matches!(slot, Slot::Requested { peer, .. } if *peer == key) {
            return false;
        }
        *slot = Slot::Missing;
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.in_flight = peer.in_flight.saturating_sub(1);
        }
        true
    }

    /// Once every piece is in: `Ok(metadata)` if it hashes to the info hash (returned once;
    /// afterwards the fetcher is done), otherwise `Err` with the contributors, after discarding
    /// everything and restarting the fetch. `None` while pieces are missing.
    pub fn poll_complete(&mut self) -> Option<Result<Vec<u8>, MetadataFailure>> {
        let size = self.size?;
        if self.done || self.slots.is_empty() || self.have < self.slots.len() {
            return None;
        }
        let mut metadata = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut contributors = BTreeSet::new();
        for slot in &self.slots {
            if let Slot::Have { data, from } = slot {
                metadata.extend_from_slice(data);
                contributors.insert(*from);
            }
        }
        let digest: [u8; 20] = Sha1::digest(&metadata).into();
        if digest == self.info_hash.0 {
            self.done = true;
            self.slots = Vec::new();
            self.have = 0;
            for peer in self.peers.values_mut() {
                peer.in_flight = 0;
                peer.avoid.clear();
            }
            return Some(Ok(metadata));
        }
        self.reset(size);
        Some(Err(MetadataFailure::HashMismatch { contributors: contributors.into_iter().collect() }))
    }

    /// Picks the size most peers advertise (earliest peer first on a tie, the current size if
    /// it is among the tied). Switching sizes discards everything fetched for the old one.
    fn reconsider_size(&mut self) {
        if self.done {
            return;
        }
        // size -> (votes, earliest seq)
        let mut votes: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
        for peer in self.peers.values() {
            if let Some(size) = peer.size {
                let entry = votes.entry(size).or_insert((0, peer.seq));
                entry.0 += 1;
                entry.1 = entry.1.min(peer.seq);
            }
        }
        let Some((&best, &(best_votes, _))) =
            votes.iter().max_by_key(|(_, &(n, seq))| (n, std::cmp::Reverse(seq)))
        else {
            // Nobody left to ask: keep what we have for peers that may come.
            return;
        };
        let current_votes = self.size.and_then(|s| votes.get(&s)).map_or(0, |&(n, _)| n);
        if Some(best) != self.size && best_votes > current_votes {
            self.size = Some(best);
            self.reset(best);
        }
    }

    /// Drops all pieces and requests and prepares empty slots for `size` bytes.
    fn reset(&mut self, size: u64) {
        let num_pieces = usize::try_from(size.div_ceil(METADATA_PIECE_LEN as u64)).unwrap_or(0);
        self.slots = vec![Slot::Missing; num_pieces];
        self.have = 0;
        for peer in self.peers.values_mut() {
            peer.in_flight = 0;
            peer.avoid.clear();
        }
    }
}

/// Length of metadata piece `piece` of `size` bytes, or `None` if there is no such piece.
fn piece_len(size: u64, piece: u32) -> Option<usize> {
    let start = u64::from(piece).checked_mul(METADATA_PIECE_LEN as u64)?;
    let left = size.checked_sub(start).filter(|&n| n > 0)?;
    usize::try_from(left.min(METADATA_PIECE_LEN as u64)).ok()
}
