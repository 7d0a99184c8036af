//! Downloading the info dictionary of a magnet link from the swarm (BEP 9).
//!
//! Hostile peers are expected. A piece is accepted only from the peer it was requested from.
//! The metadata size is the one most distinct addresses advertise, so many connections from one
//! host count once. When the assembled metadata fails the hash check, nothing is discarded and
//! nobody is dropped: every piece must then be confirmed by one more distinct address (the
//! quorum grows by one), re-fetching it from addresses that have not sent it yet. Copies that
//! disagree are settled by the number of distinct addresses behind each, and once the metadata
//! verifies, the addresses whose copies differ from it are the liars ([`MetadataFetcher::is_liar`]).
//!
//! Invariants:
//! - `pieces` has one entry per metadata piece of `size` (empty while `size` is `None`).
//! - A peer's `in_flight` is the number of pieces whose request names it, and never exceeds
//!   [`MAX_REQUESTS_PER_PEER`]; its `to_send` lists those not yet taken by its connection.
//! - `held` is the sum of the pieces' held bytes, at most `size` (one copy per piece).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ccbt_core::InfoHash;
use ccbt_wire::ext::metadata::METADATA_PIECE_LEN;
use thiserror::Error;

use super::piece::{Piece, Request};
use super::{MetadataError, MetadataTarget};
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

/// The assembled metadata did not hash to the info hash(es).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataFailure {
    /// Every piece was in but they do not hash to the target (SHA-1 to the v1 info hash and/or
    /// SHA-256 to the v2 one). Nothing was discarded: each
    /// piece is now re-fetched until `quorum` distinct addresses agree on it. `contributors`
    /// (sorted) are the addresses whose copies were used, at least one of which lied.
    #[error("metadata does not match the info hash ({} addresses contributed); confirming each piece with {quorum} addresses", contributors.len())]
    HashMismatch { contributors: Vec<IpAddr>, quorum: usize },
}

#[derive(Debug)]
struct Peer {
    ip: IpAddr,
    /// The metadata size from the peer's extension handshake, if it was plausible.
    size: Option<u64>,
    /// When the peer was added; earlier peers win ties in the size vote.
    seq: u64,
    in_flight: u32,
    /// Requests handed to this peer that its connection has not taken yet.
    to_send: Vec<u32>,
    /// Pieces this peer rejected or let time out, and until when not to ask it for them again.
    avoid: BTreeMap<u32, Instant>,
}

/// Fetches the metadata (info dictionary) of one torrent from its peers.
///
/// The engine (through [`super::MetadataConn`]) reports peers whose extension handshake carries
/// `metadata_size` ([`add_peer`](Self::add_peer)), sends the requests
/// [`take_requests`](Self::take_requests) hands out, feeds back data and rejects, and looks
/// again whenever [`poll_timeout`](Self::poll_timeout) passes. [`poll_complete`](Self::poll_complete)
/// yields the verified bytes once.
#[derive(Debug)]
pub struct MetadataFetcher {
    target: MetadataTarget,
    max_size: u64,
    timeout: Duration,
    peers: BTreeMap<PeerKey, Peer>,
    next_seq: u64,
    /// The metadata size being fetched: the one most distinct addresses agree on.
    size: Option<u64>,
    pieces: Vec<Piece>,
    /// Distinct addresses that must agree on a piece: 1, plus one per failed hash check.
    quorum: usize,
    held: usize,
    liars: BTreeSet<IpAddr>,
    /// Bumped whenever requests may have become available for some peer.
    generation: u64,
    done: bool,
}

impl MetadataFetcher {
    /// A fetcher for the metadata `target` names (an [`InfoHash`] for a v1 magnet, or a
    /// [`MetadataTarget`] for v2 and hybrid ones) that refuses sizes above `max_size` (use
    /// [`DEFAULT_MAX_METADATA_SIZE`]; values above 1 GiB are lowered to 1 GiB).
    pub fn new(target: impl Into<MetadataTarget>, max_size: u64) -> MetadataFetcher {
        MetadataFetcher {
            target: target.into(),
            max_size: max_size.min(MAX_METADATA_SIZE_CEILING),
            timeout: DEFAULT_REQUEST_TIMEOUT,
            peers: BTreeMap::new(),
            next_seq: 0,
            size: None,
            pieces: Vec::new(),
            quorum: 1,
            held: 0,
            liars: BTreeSet::new(),
            generation: 0,
            done: false,
        }
    }

    /// Changes the request timeout (10 s by default).
    pub fn with_request_timeout(mut self, timeout: Duration) -> MetadataFetcher {
        self.timeout = timeout;
        self
    }

    /// The torrent's 20-byte wire id: the v1 info hash, else the truncated v2 one.
    pub fn info_hash(&self) -> InfoHash {
        self.target.wire_id()
    }

    /// The hashes the metadata must match.
    pub fn target(&self) -> MetadataTarget {
        self.target
    }

    /// The metadata size being fetched, once a peer told us a plausible one.
    pub fn metadata_size(&self) -> Option<u64> {
        self.size
    }

    /// Pieces settled so far and the piece count (both 0 before the size is known).
    pub fn progress(&self) -> (usize, usize) {
        (self.pieces.iter().filter(|p| p.is_settled(self.quorum)).count(), self.pieces.len())
    }

    /// Distinct addresses that must agree on each piece: 1, plus one per failed hash check.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Bytes of piece payload held: at most the metadata size, whatever peers send.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// True once [`poll_complete`](Self::poll_complete) has returned the verified metadata.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether `ip` sent a copy of a piece that differs from the verified metadata. Known only
    /// once the metadata verified after a failed hash check.
    pub fn is_liar(&self, ip: IpAddr) -> bool {
        self.liars.contains(&ip)
    }

    /// The addresses proven to have lied (see [`is_liar`](Self::is_liar)).
    pub fn liars(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.liars.iter().copied()
    }

    /// Changes whenever requests may have become available to some peer; a connection driver
    /// compares it before and after handling input to know whether to wake the others.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds a peer (or updates one) at address `ip` that advertised `metadata_size` in its
    /// extension handshake. A size of 0 or above the maximum is ignored, and so is a size that
    /// more distinct addresses contradict: the peer is only asked if its size is the one fetched.
    pub fn add_peer(&mut self, key: PeerKey, ip: IpAddr, metadata_size: u64) {
        let size = (metadata_size > 0 && metadata_size <= self.max_size).then_some(metadata_size);
        match self.peers.get_mut(&key) {
            Some(peer) => peer.size = size,
            None => {
                let seq = self.next_seq;
                self.next_seq = self.next_seq.saturating_add(1);
                let peer = Peer { ip, size, seq, in_flight: 0, to_send: Vec::new(), avoid: BTreeMap::new() };
                self.peers.insert(key, peer);
            }
        }
        self.generation += 1;
        self.reconsider_size();
    }

    /// Forgets a peer (its connection closed); its outstanding requests go to other peers.
    pub fn remove_peer(&mut self, key: PeerKey) {
        if self.peers.remove(&key).is_none() {
            return;
        }
        for piece in &mut self.pieces {
            if piece.request.is_some_and(|r| r.peer == key) {
                piece.request = None;
            }
        }
        self.generation += 1;
        self.reconsider_size();
    }

    /// Hands out missing pieces to peers and returns the pieces `key` must request now.
    pub fn take_requests(&mut self, now: Instant, key: PeerKey) -> Vec<u32> {
        self.assign(now);
        self.peers.get_mut(&key).map(|p| std::mem::take(&mut p.to_send)).unwrap_or_default()
    }

    /// Hands out missing pieces and appends every `(peer, piece)` request not yet taken, for all
    /// peers (the single-caller form of [`take_requests`](Self::take_requests)).
    pub fn next_requests(&mut self, now: Instant, out: &mut Vec<(PeerKey, u32)>) {
        self.assign(now);
        let mut taken: Vec<(PeerKey, u32)> = Vec::new();
        for (&key, peer) in &mut self.peers {
            taken.extend(peer.to_send.drain(..).map(|piece| (key, piece)));
        }
        // In the order they were handed out: by piece, then peer.
        taken.sort_by_key(|&(key, piece)| (piece, key));
        out.extend(taken);
    }

    /// Spreads unsettled pieces without a request over the peers with the fewest outstanding
    /// requests, never asking an address for a piece it already sent. Requests older than the
    /// timeout are withdrawn first.
    fn assign(&mut self, now: Instant) {
        let Some(size) = self.size.filter(|_| !self.done) else { return };
        self.expire(now);
        let deadline = now.checked_add(self.timeout).unwrap_or(now);
        for (index, piece) in self.pieces.iter_mut().enumerate() {
            if piece.request.is_some() || piece.is_settled(self.quorum) {
                continue;
            }
            let Ok(index) = u32::try_from(index) else { break };
            let chosen = self
                .peers
                .iter_mut()
                .filter(|(_, p)| {
                    p.size == Some(size)
                        && p.in_flight < MAX_REQUESTS_PER_PEER
                        && !p.avoid.contains_key(&index)
                        && !piece.has_copy_from(p.ip)
                })
                .min_by_key(|(key, p)| (p.in_flight, **key));
            let Some((&key, peer)) = chosen else { continue };
            peer.in_flight += 1;
            peer.to_send.push(index);
            piece.request = Some(Request { peer: key, deadline });
            // The peer's connection may be another than the caller's: it must look.
            self.generation += 1;
        }
    }

    /// Withdraws timed-out requests and forgets expired back-offs.
    fn expire(&mut self, now: Instant) {
        let until = now.checked_add(self.timeout).unwrap_or(now);
        for (index, piece) in self.pieces.iter_mut().enumerate() {
            let Some(request) = piece.request.filter(|r| r.deadline <= now) else { continue };
            piece.request = None;
            if let (Some(peer), Ok(index)) = (self.peers.get_mut(&request.peer), u32::try_from(index)) {
                peer.in_flight = peer.in_flight.saturating_sub(1);
                peer.to_send.retain(|&p| p != index);
                peer.avoid.insert(index, until);
            }
        }
        for peer in self.peers.values_mut() {
            peer.avoid.retain(|_, until| *until > now);
        }
    }

    /// The earliest time [`take_requests`](Self::take_requests) has work that no other event
    /// triggers: a request timing out, or a back-off ending for a piece still wanted.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let deadlines = self.pieces.iter().filter_map(|p| p.request.map(|r| r.deadline));
        let backoffs = self.peers.values().flat_map(|peer| {
            peer.avoid.iter().filter_map(|(&index, &until)| {
                let piece = usize::try_from(index).ok().and_then(|i| self.pieces.get(i));
                piece.is_some_and(|p| p.request.is_none() && !p.is_settled(self.quorum)).then_some(until)
            })
        });
        deadlines.chain(backoffs).min()
    }

    /// A data message from `key`. The payload is copied out (it never pins the caller's read
    /// buffer). Data for a piece not currently requested from `key` is ignored (`Ok(false)`);
    /// `Ok(true)` means the copy was taken. Wrong sizes and indices are errors: the engine
    /// should drop the peer.
    pub fn on_data(
        &mut self,
        _now: Instant,
        key: PeerKey,
        index: u32,
        total_size: u64,
        data: &[u8],
    ) -> Result<bool, MetadataError> {
        let Some(ip) = self.peers.get(&key).map(|p| p.ip) else {
            return Err(MetadataError::UnknownPeer { peer: key });
        };
        let Some(size) = self.size.filter(|_| !self.done) else { return Ok(false) };
        if total_size != size {
            self.release(key, index);
            return Err(MetadataError::WrongTotalSize { got: total_size, expected: size });
        }
        let num_pieces = u32::try_from(self.pieces.len()).unwrap_or(u32::MAX);
        let Some(expected) = piece_len(size, index) else {
            return Err(MetadataError::InvalidPiece { piece: index, num_pieces });
        };
        if data.len() != expected {
            self.release(key, index);
            return Err(MetadataError::WrongLength { piece: index, got: data.len(), expected });
        }
        if !self.release(key, index) {
            return Ok(false);
        }
        let Some(piece) = usize::try_from(index).ok().and_then(|i| self.pieces.get_mut(i)) else {
            return Err(MetadataError::InvalidPiece { piece: index, num_pieces });
        };
        let before = piece.held_bytes();
        piece.add_copy(ip, data);
        self.held = self.held - before + piece.held_bytes();
        Ok(true)
    }

    /// A reject from `key`: the piece goes to another peer, and `key` is not asked for it again
    /// until the back-off (the request timeout) has passed. A reject for a piece not requested
    /// from `key` changes nothing.
    pub fn on_reject(&mut self, now: Instant, key: PeerKey, index: u32) {
        if self.release(key, index) {
            if let Some(peer) = self.peers.get_mut(&key) {
                peer.avoid.insert(index, now.checked_add(self.timeout).unwrap_or(now));
            }
        }
    }

    /// Withdraws the request for `index` if it is outstanding at `key`; true if it was.
    fn release(&mut self, key: PeerKey, index: u32) -> bool {
        let Some(piece) = usize::try_from(index).ok().and_then(|i| self.pieces.get_mut(i)) else {
            return false;
        };
        if !piece.request.is_some_and(|r| r.peer == key) {
            return false;
        }
        piece.request = None;
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.in_flight = peer.in_flight.saturating_sub(1);
            peer.to_send.retain(|&p| p != index);
        }
        self.generation += 1;
        true
    }

    /// Once every piece is settled: `Ok(metadata)` if it hashes to the target (returned
    /// once; afterwards the fetcher is done and [`is_liar`](Self::is_liar) names the addresses
    /// whose copies differ), otherwise `Err`, after raising the quorum so that every piece is
    /// confirmed by one more address. `None` while pieces are missing.
    pub fn poll_complete(&mut self) -> Option<Result<Vec<u8>, MetadataFailure>> {
        if self.done || self.pieces.is_empty() || !self.pieces.iter().all(|p| p.is_settled(self.quorum)) {
            return None;
        }
        let mut metadata = Vec::with_capacity(self.held);
        for piece in &self.pieces {
            metadata.extend_from_slice(piece.data().unwrap_or_default());
        }
        if self.target.matches(&metadata) {
            self.liars.extend(self.pieces.iter().flat_map(Piece::dissenters));
            self.done = true;
            self.pieces = Vec::new();
            self.held = 0;
            for peer in self.peers.values_mut() {
                peer.in_flight = 0;
                peer.to_send.clear();
                peer.avoid.clear();
            }
            return Some(Ok(metadata));
        }
        let contributors: BTreeSet<IpAddr> = self.pieces.iter().flat_map(Piece::supporters).collect();
        self.quorum += 1;
        self.generation += 1;
        Some(Err(MetadataFailure::HashMismatch {
            contributors: contributors.into_iter().collect(),
            quorum: self.quorum,
        }))
    }

    /// Picks the size the most distinct addresses advertise (earliest peer first on a tie, the
    /// current size if it is among the tied). Switching sizes discards everything fetched for
    /// the old one.
    fn reconsider_size(&mut self) {
        if self.done {
            return;
        }
        // size -> (addresses, earliest seq)
        let mut votes: BTreeMap<u64, (BTreeSet<IpAddr>, u64)> = BTreeMap::new();
        for peer in self.peers.values() {
            if let Some(size) = peer.size {
                let entry = votes.entry(size).or_insert_with(|| (BTreeSet::new(), peer.seq));
                entry.0.insert(peer.ip);
                entry.1 = entry.1.min(peer.seq);
            }
        }
        let Some((&best, (best_ips, _))) =
            votes.iter().max_by_key(|(_, (ips, seq))| (ips.len(), std::cmp::Reverse(*seq)))
        else {
            // Nobody left to ask: keep what we have for peers that may come.
            return;
        };
        let current_votes = self.size.and_then(|s| votes.get(&s)).map_or(0, |(ips, _)| ips.len());
        if Some(best) != self.size && best_ips.len() > current_votes {
            self.size = Some(best);
            self.reset(best);
        }
    }

    /// Drops all pieces and requests and prepares empty pieces for `size` bytes.
    fn reset(&mut self, size: u64) {
        let num_pieces = usize::try_from(size.div_ceil(METADATA_PIECE_LEN as u64)).unwrap_or(0);
        self.pieces = std::iter::repeat_with(Piece::default).take(num_pieces).collect();
        self.held = 0;
        self.quorum = 1;
        for peer in self.peers.values_mut() {
            peer.in_flight = 0;
            peer.to_send.clear();
            peer.avoid.clear();
        }
        self.generation += 1;
    }
}

/// Length of metadata piece `piece` of `size` bytes, or `None` if there is no such piece.
fn piece_len(size: u64, piece: u32) -> Option<usize> {
    let start = u64::from(piece).checked_mul(METADATA_PIECE_LEN as u64)?;
    let left = size.checked_sub(start).filter(|&n| n > 0)?;
    usize::try_from(left.min(METADATA_PIECE_LEN as u64)).ok()
}
