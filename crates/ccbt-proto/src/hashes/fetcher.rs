//! Fetching the piece layers a torrent lacks (one made from magnet metadata) from v2 peers.
//!
//! Each file's piece layer is cut into chunks of 512 piece hashes (the last chunk smaller),
//! asked for the way libtorrent asks: base layer = piece layer, index a multiple of 512,
//! length the chunk's piece count rounded up to a power of two (at least 2, because libtorrent
//! leaves the lowest uncle out of its answers for a single node), and a proof all the way up to
//! the file's root, the only hash we trust. An answer is kept only once it verifies against
//! that root; the padding nodes past the file's last piece are checked with it and dropped.
//!
//! Invariants:
//! - A chunk has at most one outstanding request, and a peer at most
//!   [`MAX_HASH_REQUESTS_PER_PEER`]; `in_flight` counts the chunks whose request names the peer.
//! - Memory is one node per piece of the files being fetched plus, per peer, at most one
//!   entry per chunk: nothing grows with what peers send.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use ccbt_core::merkle::{self, Node};
use ccbt_wire::{HashRequest, Hashes};
use thiserror::Error;

use super::{hex, layer_height, layer_pieces, piece_layer, HashSetupError, MAX_HASHES_PER_REQUEST};
use crate::PeerKey;

/// Most hash requests outstanding at one peer (libtorrent keeps two in flight too).
pub const MAX_HASH_REQUESTS_PER_PEER: u32 = 2;

/// How long a peer has to answer before the chunk is asked of someone else, and how long a
/// peer that rejected or ignored a chunk is not asked for it again.
pub const DEFAULT_HASH_TIMEOUT: Duration = Duration::from_secs(10);

/// A file whose piece layer is missing (as `Torrent::missing_piece_layers` lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingLayer {
    /// The file's index in the torrent.
    pub file: usize,
    pub pieces_root: Node,
    /// Pieces of the file: its length over the piece length, rounded up (at least 2).
    pub num_pieces: u32,
    /// The file's length in bytes.
    pub file_length: u64,
}

/// A verified piece layer: one node per piece of the file, padding excluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedLayer {
    pub pieces_root: Node,
    /// The files with this root (files with identical contents share it), ascending.
    pub files: Vec<usize>,
    pub layer: Vec<Node>,
}

/// What became of a `hashes` message that was not a protocol violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashesOutcome {
    /// Verified and stored (possibly completing a file: see
    /// [`PieceLayerFetcher::poll_completed`]).
    Accepted,
    /// These hashes were already verified (a late answer after a timeout); nothing changed.
    AlreadyHave,
    /// Not an answer to anything we would ask (unknown root, other range or proof depth):
    /// ignored. libtorrent never sends these; count them against the peer if they repeat.
    Unrequested,
}

/// A `hashes` answer that does not prove itself: the peer lied or is broken. The fetcher
/// asks it nothing more; the engine should penalise (ban) it and close the connection.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadHashes {
    /// The proof does not have one uncle per layer between the hashes and the root.
    #[error("hashes for root {root} at index {index} carry {got} proof hashes, expected {expected}")]
    WrongProofLength { root: String, index: u32, got: usize, expected: u32 },
    /// The hashes and their proof do not lead to the pieces root.
    #[error("hashes for root {root} at index {index} do not verify against the root")]
    BadProof { root: String, index: u32 },
}

#[derive(Debug)]
struct Chunk {
    /// The verified piece hashes of this chunk (padding excluded), once received.
    hashes: Option<Vec<Node>>,
    /// The peer asked for it and until when it has to answer.
    request: Option<(PeerKey, Instant)>,
}

#[derive(Debug)]
struct FetchFile {
    root: Node,
    files: Vec<usize>,
    num_pieces: u32,
    file_length: u64,
    chunks: Vec<Chunk>,
    missing: usize,
}

#[derive(Debug, Default)]
struct Peer {
    in_flight: u32,
    /// Requests handed to this peer that its connection has not taken yet.
    to_send: Vec<HashRequest>,
    /// (file, chunk) this peer rejected or let time out, and until when not to ask it again.
    avoid: BTreeMap<(usize, usize), Instant>,
    /// Sent a bad proof: asked nothing more.
    banned: bool,
}

/// Fetches the missing piece layers of one torrent from its v2 peers.
///
/// The engine adds every connection that speaks v2 ([`add_peer`](Self::add_peer)), sends the
/// requests [`take_requests`](Self::take_requests) (or [`next_requests`](Self::next_requests))
/// hands out, feeds back `hashes` and `hash reject` messages, removes closed connections, and
/// calls again when [`next_deadline`](Self::next_deadline) passes. Each verified layer comes
/// out of [`poll_completed`](Self::poll_completed) once.
#[derive(Debug)]
pub struct PieceLayerFetcher {
    piece_layer: u32,
    timeout: Duration,
    files: Vec<FetchFile>,
    by_root: BTreeMap<Node, usize>,
    peers: BTreeMap<PeerKey, Peer>,
    completed: VecDeque<CompletedLayer>,
}

impl PieceLayerFetcher {
    /// A fetcher for the piece layers of `missing` in a torrent of `piece_length`.
    pub fn new(
        piece_length: u32,
        missing: impl IntoIterator<Item = MissingLayer>,
    ) -> Result<PieceLayerFetcher, HashSetupError> {
        let piece_layer = piece_layer(piece_length)?;
        let mut fetcher = PieceLayerFetcher {
            piece_layer,
            timeout: DEFAULT_HASH_TIMEOUT,
            files: Vec::new(),
            by_root: BTreeMap::new(),
            peers: BTreeMap::new(),
            completed: VecDeque::new(),
        };
        for m in missing {
            if layer_pieces(m.file_length, piece_length) != Some(m.num_pieces) {
                let (file, length, num_pieces) = (m.file, m.file_length, m.num_pieces);
                return Err(HashSetupError::BadPieceCount { file, length, num_pieces });
            }
            if let Some(&at) = fetcher.by_root.get(&m.pieces_root) {
                let same = &mut fetcher.files[at];
                if same.file_length != m.file_length {
                    return Err(HashSetupError::ConflictingRoot { root: hex(&m.pieces_root) });
                }
                same.files.push(m.file);
                same.files.sort_unstable();
                continue;
            }
            let count = m.num_pieces.div_ceil(MAX_HASHES_PER_REQUEST) as usize;
            let chunks = (0..count).map(|_| Chunk { hashes: None, request: None }).collect();
            fetcher.by_root.insert(m.pieces_root, fetcher.files.len());
            fetcher.files.push(FetchFile {
                root: m.pieces_root,
                files: vec![m.file],
                num_pieces: m.num_pieces,
                file_length: m.file_length,
                chunks,
                missing: count,
            });
        }
        Ok(fetcher)
    }

    /// Changes the request timeout ([`DEFAULT_HASH_TIMEOUT`] by default).
    pub fn with_timeout(mut self, timeout: Duration) -> PieceLayerFetcher {
        self.timeout = timeout;
        self
    }

    /// True once every layer is verified (whether or not all were polled).
    pub fn is_done(&self) -> bool {
        self.files.iter().all(|f| f.missing == 0)
    }

    /// Chunks (of up to 512 piece hashes) verified so far, and in all.
    pub fn progress(&self) -> (usize, usize) {
        let total: usize = self.files.iter().map(|f| f.chunks.len()).sum();
        (total - self.files.iter().map(|f| f.missing).sum::<usize>(), total)
    }

    /// Requests outstanding at `peer` (taken or not).
    pub fn in_flight(&self, peer: PeerKey) -> u32 {
        self.peers.get(&peer).map_or(0, |p| p.in_flight)
    }

    /// Adds a connection that speaks v2. Adding a known peer changes nothing.
    pub fn add_peer(&mut self, peer: PeerKey) {
        self.peers.entry(peer).or_default();
    }

    /// Forgets a closed connection; its outstanding chunks go to other peers.
    pub fn remove_peer(&mut self, peer: PeerKey) {
        if self.peers.remove(&peer).is_none() {
            return;
        }
        for chunk in self.files.iter_mut().flat_map(|f| f.chunks.iter_mut()) {
            if chunk.request.is_some_and(|(p, _)| p == peer) {
                chunk.request = None;
            }
        }
    }

    /// Hands out missing chunks and returns the requests `peer` must send now.
    pub fn take_requests(&mut self, now: Instant, peer: PeerKey) -> Vec<HashRequest> {
        self.assign(now);
        self.peers.get_mut(&peer).map(|p| std::mem::take(&mut p.to_send)).unwrap_or_default()
    }

    /// Hands out missing chunks and appends every request not yet taken, for all peers.
    pub fn next_requests(&mut self, now: Instant, out: &mut Vec<(PeerKey, HashRequest)>) {
        self.assign(now);
        for (&key, peer) in &mut self.peers {
            out.extend(peer.to_send.drain(..).map(|r| (key, r)));
        }
    }

    /// When something may next need doing without any input: an outstanding request expires,
    /// or a peer may be asked again for a chunk it rejected.
    pub fn next_deadline(&self) -> Option<Instant> {
        let requests = self.files.iter().flat_map(|f| f.chunks.iter()).filter_map(|c| c.request);
        let avoids = self.peers.values().flat_map(|p| p.avoid.values().copied());
        requests.map(|(_, at)| at).chain(avoids).min()
    }

    /// The next verified layer, each once.
    pub fn poll_completed(&mut self) -> Option<CompletedLayer> {
        self.completed.pop_front()
    }

    /// The request for chunk `chunk` of file `f`.
    fn request_for(&self, f: &FetchFile, chunk: usize) -> HashRequest {
        let index = chunk as u32 * MAX_HASHES_PER_REQUEST;
        let remaining = f.num_pieces - index;
        let height = layer_height(f.num_pieces);
        // At least 2 (see the module documentation); the layer is at least 2 wide.
        let length = remaining.next_power_of_two().clamp(2, MAX_HASHES_PER_REQUEST);
        HashRequest {
            pieces_root: f.root,
            base_layer: self.piece_layer,
            index,
            length,
            // A proof up to the root: one uncle per layer above the subtree (libtorrent's count).
            proof_layers: height - 1,
        }
    }

    /// Withdraws expired requests, then gives every free chunk to the peer with the fewest
    /// requests that may be asked for it.
    fn assign(&mut self, now: Instant) {
        self.expire(now);
        for fi in 0..self.files.len() {
            for ci in 0..self.files[fi].chunks.len() {
                let chunk = &self.files[fi].chunks[ci];
                if chunk.hashes.is_some() || chunk.request.is_some() {
                    continue;
                }
                let chosen = self
                    .peers
                    .iter()
                    .filter(|(_, p)| {
                        !p.banned && p.in_flight < MAX_HASH_REQUESTS_PER_PEER && !p.avoid.contains_key(&(fi, ci))
                    })
                    .min_by_key(|(key, p)| (p.in_flight, **key))
                    .map(|(&key, _)| key);
                let Some(key) = chosen else { continue };
                let request = self.request_for(&self.files[fi], ci);
                let deadline = now.checked_add(self.timeout).unwrap_or(now);
                self.files[fi].chunks[ci].request = Some((key, deadline));
                if let Some(peer) = self.peers.get_mut(&key) {
                    peer.in_flight += 1;
                    peer.to_send.push(request);
                }
            }
        }
    }

    /// Withdraws requests past their deadline (the peer is not asked for that chunk again for
    /// a while) and forgets avoidances that ran out.
    fn expire(&mut self, now: Instant) {
        let until = now.checked_add(self.timeout).unwrap_or(now);
        for (fi, f) in self.files.iter_mut().enumerate() {
            for (ci, chunk) in f.chunks.iter_mut().enumerate() {
                let Some((key, deadline)) = chunk.request else { continue };
                if deadline > now {
                    continue;
                }
                chunk.request = None;
                if let Some(peer) = self.peers.get_mut(&key) {
                    withdraw(peer, &f.root, ci as u32 * MAX_HASHES_PER_REQUEST);
                    peer.avoid.insert((fi, ci), until);
                }
            }
        }
        for peer in self.peers.values_mut() {
            peer.avoid.retain(|_, &mut until| until > now);
        }
    }

    /// The file and chunk `req` asks for, if it is exactly what we would ask.
    fn locate(&self, req: &HashRequest) -> Option<(usize, usize)> {
        let &fi = self.by_root.get(&req.pieces_root)?;
        let ci = (req.index / MAX_HASHES_PER_REQUEST) as usize;
        let f = &self.files[fi];
        (ci < f.chunks.len() && self.request_for(f, ci) == *req).then_some((fi, ci))
    }

    /// A peer will not answer `req`: the chunk goes to another peer, and this one is not asked
    /// for it again for a while. Returns false if we had not asked this peer for it.
    pub fn on_hash_reject(&mut self, now: Instant, peer: PeerKey, req: &HashRequest) -> bool {
        let Some((fi, ci)) = self.locate(req) else { return false };
        let chunk = &mut self.files[fi].chunks[ci];
        if chunk.request.map(|(p, _)| p) != Some(peer) {
            return false;
        }
        chunk.request = None;
        let until = now.checked_add(self.timeout).unwrap_or(now);
        if let Some(p) = self.peers.get_mut(&peer) {
            withdraw(p, &req.pieces_root, req.index);
            p.avoid.insert((fi, ci), until);
        }
        true
    }

    /// Handles a `hashes` message from `peer`. An answer that proves itself is kept whoever
    /// sent it (a late one included); one that does not is an `Err`, and the peer is asked
    /// nothing more.
    pub fn on_hashes(&mut self, peer: PeerKey, msg: &Hashes) -> Result<HashesOutcome, BadHashes> {
        let Some((fi, ci)) = self.locate(&msg.request) else { return Ok(HashesOutcome::Unrequested) };
        let req = msg.request;
        let f = &mut self.files[fi];
        let chunk = &mut f.chunks[ci];
        if chunk.request.is_some_and(|(p, _)| p == peer) {
            chunk.request = None;
            if let Some(p) = self.peers.get_mut(&peer) {
                withdraw(p, &req.pieces_root, req.index);
            }
        }
        if chunk.hashes.is_some() {
            return Ok(HashesOutcome::AlreadyHave);
        }
        let height = layer_height(f.num_pieces);
        let expected = height - req.length.trailing_zeros();
        let (root, index) = (hex(&f.root), req.index);
        let verdict = if msg.base().len() != req.length as usize || msg.proof().len() != expected as usize {
            Err(BadHashes::WrongProofLength { root, index, got: msg.proof().len(), expected })
        } else if !merkle::verify_hashes(
            &f.root,
            merkle::file_tree_leaves(f.file_length),
            req.base_layer,
            req.index,
            msg.base(),
            msg.proof(),
        ) {
            Err(BadHashes::BadProof { root, index })
        } else {
            Ok(())
        };
        if let Err(bad) = verdict {
            self.ban(peer);
            return Err(bad);
        }
        let real = (f.num_pieces - req.index).min(req.length) as usize;
        chunk.hashes = Some(msg.base()[..real].to_vec());
        f.missing -= 1;
        for p in self.peers.values_mut() {
            p.avoid.remove(&(fi, ci));
        }
        if f.missing == 0 {
            let layer = f.chunks.iter_mut().flat_map(|c| c.hashes.take().unwrap_or_default()).collect();
            self.completed.push_back(CompletedLayer { pieces_root: f.root, files: f.files.clone(), layer });
            // Kept as verified but empty: the layer now lives in `completed`.
            for c in &mut f.chunks {
                c.hashes = Some(Vec::new());
            }
        }
        Ok(HashesOutcome::Accepted)
    }

    /// A peer that sent a bad proof: its requests go to others and it is asked nothing more.
    fn ban(&mut self, peer: PeerKey) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        p.banned = true;
        p.in_flight = 0;
        p.to_send.clear();
        for chunk in self.files.iter_mut().flat_map(|f| f.chunks.iter_mut()) {
            if chunk.request.is_some_and(|(k, _)| k == peer) {
                chunk.request = None;
            }
        }
    }
}

/// Takes the request for the chunk at `index` of `root` off a peer's count and, if its
/// connection has not taken it yet, off its queue.
fn withdraw(peer: &mut Peer, root: &Node, index: u32) {
    peer.in_flight = peer.in_flight.saturating_sub(1);
    peer.to_send.retain(|r| r.pieces_root != *root || r.index != index);
}
