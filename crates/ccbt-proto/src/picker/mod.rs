//! Piece picking: availability, partial pieces, strategies, endgame.
//!
//! # States
//!
//! Every piece is in exactly one state:
//!
//! | state            | where it lives                                   | blocks tracked |
//! |------------------|--------------------------------------------------|----------------|
//! | `Missing`        | not in `have`, not in `partials`                 | no             |
//! | `Partial`        | in `partials`, at least one block not received   | yes            |
//! | `AwaitingVerify` | in `partials`, every block received              | yes            |
//! | `Have`           | in `have` (verified), not in `partials`          | no             |
//!
//! A block of a `Partial` piece is `Missing`, `Requested(peers)` or `Received`.
//!
//! # Transitions
//!
//! - piece `Missing → Partial`: [`Picker::pick_blocks`] starts it (only with
//!   `may_start_new_piece`), or never otherwise.
//! - block `Missing → Requested([p])`: handed to peer `p` by a pick.
//! - block `Requested(ps) → Requested(ps + [q])`: endgame only, `q ∉ ps`,
//!   `len(ps) < endgame_duplicates`.
//! - block `Requested(ps) → Requested(ps - [p])` or `→ Missing` when `ps` empties:
//!   [`Picker::on_request_released`], [`Picker::on_peer_gone`].
//! - block `Requested(ps) → Received`: [`Picker::on_block_received`] from any peer (`Fresh`;
//!   the other members of `ps` are returned to be cancelled). Data for a `Missing` block (never
//!   asked, or its request released) is `Unexpected`; for a `Received` one, `Duplicate`.
//!   `Received` blocks never change again until the piece fails.
//! - piece `Partial → Missing`: when releases leave no block requested or received (the piece
//!   is forgotten so abandoned pieces do not pin memory).
//! - piece `Partial → Missing`: it is no longer wanted (a file was skipped) and
//!   [`Picker::drop_unwanted_started`] forgets it, returning its requests to be cancelled.
//!   `AwaitingVerify` pieces are kept.
//! - piece `Partial → AwaitingVerify`: its last block is received (`piece_complete: true`).
//! - piece `* → Have`: [`Picker::on_piece_verified`].
//! - piece `* → Missing`: [`Picker::on_piece_failed`] (all blocks back to missing).
//!
//! # Invariants
//!
//! - Picks never return a block of a piece we have, of an unwanted piece, or of a piece the peer
//!   lacks; a (peer, block) pair is never handed out twice while it is outstanding.
//! - A block has at most `max(1, endgame_duplicates)` requesters (the value in force when its
//!   last requester was added: [`Picker::set_options`] never cancels requests already sent).
//! - Per-block memory exists only for `Partial`/`AwaitingVerify` pieces; the engine bounds
//!   their number by passing `may_start_new_piece = false` when [`Picker::partial_pieces`] is
//!   high (back-pressure: picks then only continue started pieces).
//! - `startable` (wanted, not had, not started, not held) is mirrored by the rarity index in
//!   `availability.rs`; both change together in `Picker::refresh`.
//! - Endgame: [`Picker::in_endgame`] holds when some wanted piece is still not had and at most
//!   `endgame_threshold` wanted pieces still have a free (`Missing`) block, never-started pieces
//!   included. Only then may a block be handed to a second requester.

mod availability;
mod partial;
mod priority;
mod set;
mod strategy;
mod streaming;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use ccbt_core::{Bitfield, BlockRef, Lengths};

use crate::PeerKey;
use availability::Availability;
use partial::{PartialPiece, Receive};
pub use priority::{piece_range, FilePriority, FileSpan, PiecePriorities};
use set::PieceSet;
pub use strategy::PieceSelection;
use strategy::Strategy;
pub use streaming::StreamingOptions;

/// Errors of the picker module.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PickerError {
    /// A `piece_selection` value that is not one of the known strategies.
    #[error("unknown piece selection {value:?}: expected rarest_first, sequential or round_robin")]
    UnknownSelection { value: String },
    /// A file priority that is not skip, low, normal or high.
    #[error("unknown file priority {value:?}: expected skip, low, normal or high")]
    UnknownPriority { value: String },
}

/// Tuning of a [`Picker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PickerOptions {
    /// How new pieces are chosen.
    pub selection: PieceSelection,
    /// Most peers that may hold a request for the same block in endgame. 0 and 1 both mean
    /// "never duplicate". Default 2.
    pub endgame_duplicates: u32,
    /// Endgame starts when at most this many wanted pieces still have a block nobody is asked
    /// for (never-started pieces count). Default 0: only once every block is requested.
    pub endgame_threshold: u32,
}

impl Default for PickerOptions {
    fn default() -> PickerOptions {
        PickerOptions { selection: PieceSelection::RarestFirst, endgame_duplicates: 2, endgame_threshold: 0 }
    }
}

/// What [`Picker::on_block_received`] made of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockReceived {
    /// The first copy of this block: write it. `piece_complete` says every block of the piece
    /// is now here (verify it); `cancel` lists other peers that also requested this block
    /// (endgame), to which the engine sends Cancel.
    Fresh { piece_complete: bool, cancel: Vec<PeerKey> },
    /// Already received (endgame race): drop the data.
    Duplicate,
    /// Never requested from anyone, not a canonical block, or the piece is already had: drop.
    Unexpected,
}

/// The piece picker of one torrent: which blocks to request from which peer.
#[derive(Clone, Debug)]
pub struct Picker {
    lengths: Lengths,
    options: PickerOptions,
    /// Verified pieces.
    have: Bitfield,
    wanted: PieceSet,
    /// Wanted and not had (partial and awaiting-verify pieces included).
    need: PieceSet,
    /// Wanted, not had, not started: the pieces a pick may start.
    startable: PieceSet,
    avail: Availability,
    partials: BTreeMap<u32, PartialPiece>,
    strategy: Strategy,
    /// Pieces held out of picking (another source fills them, see [`Picker::hold`]): still
    /// wanted and needed, so completion waits for them, but never started by a pick.
    held: PieceSet,
}

impl Picker {
    /// A picker for a torrent of geometry `lengths`, having verified `have` and wanting
    /// `wanted` (`None`: every piece). Bitfields of the wrong length are read bit by bit
    /// (missing bits unset, extra bits ignored).
    pub fn new(lengths: Lengths, have: Bitfield, wanted: Option<Bitfield>, options: PickerOptions) -> Picker {
        let n = lengths.num_pieces();
        let mut own_have = Bitfield::new(n);
        for p in have.iter_ones() {
            own_have.set(p);
        }
        let mut picker = Picker {
            lengths,
            options,
            have: own_have,
            wanted: PieceSet::new(n),
            need: PieceSet::new(n),
            startable: PieceSet::new(n),
            avail: Availability::new(n),
            partials: BTreeMap::new(),
            strategy: Strategy::new(options.selection),
            held: PieceSet::new(n),
        };
        picker.set_wanted(wanted);
        picker
    }

    /// The options in force.
    pub fn options(&self) -> &PickerOptions {
        &self.options
    }

    /// Changes the options of a running picker (hot reload). A new selection applies to the
    /// next piece started; a new endgame threshold at the next pick; a lower
    /// `endgame_duplicates` limits new duplicate requests, while duplicates already sent are
    /// answered or cancelled as usual.
    pub fn set_options(&mut self, options: PickerOptions) {
        self.strategy.set_selection(options.selection);
        self.options = options;
    }

    /// Whether `piece` is started: some block of it is requested or received, and it is neither
    /// verified nor forgotten.
    pub fn is_started(&self, piece: u32) -> bool {
        self.partials.contains_key(&piece)
    }

    /// Counts a peer's pieces (its bitfield, or its first have messages folded in).
    pub fn add_peer_bitfield(&mut self, has: &Bitfield) {
        self.avail.add_bitfield(has);
    }

    /// Uncounts a peer's pieces; pass its current bitfield including later haves.
    pub fn remove_peer_bitfield(&mut self, has: &Bitfield) {
        self.avail.remove_bitfield(has);
    }

    /// Counts one Have message. Out-of-range pieces are ignored.
    pub fn add_peer_have(&mut self, piece: u32) {
        self.avail.increment(piece);
    }

    /// Counts a peer that has every piece (HaveAll or a full bitfield kept aside).
    pub fn add_seed(&mut self) {
        self.avail.add_seed();
    }

    /// Uncounts a seed.
    pub fn remove_seed(&mut self) {
        self.avail.remove_seed();
    }

    /// Connected peers having `piece`, seeds included.
    pub fn availability(&self, piece: u32) -> u32 {
        self.avail.get(piece)
    }

    /// Whether the peer has a wanted piece we have not verified.
    pub fn is_interesting(&self, peer_has: &Bitfield) -> bool {
        self.need.intersects(peer_has)
    }

    /// Verified pieces.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Every wanted piece is verified.
    pub fn is_complete(&self) -> bool {
        self.need.count() == 0
    }

    /// Started pieces whose block states are tracked (partial and awaiting verification).
    pub fn partial_pieces(&self) -> usize {
        self.partials.len()
    }

    /// Whether blocks may be handed to several peers at once (see the module invariants).
    pub fn in_endgame(&self) -> bool {
        if self.is_complete() {
            return false;
        }
        let threshold = self.options.endgame_threshold as usize;
        let mut free = self.startable.count() as usize;
        if free > threshold {
            return false;
        }
        for (&p, pp) in &self.partials {
            if pp.missing() > 0 && self.wanted.contains(p) {
                free += 1;
                if free > threshold {
                    return false;
                }
            }
        }
        true
    }

    /// Changes the selected pieces (`None`: all). Started pieces that become unwanted keep
    /// their state (outstanding requests may still arrive) but get no new requests.
    pub fn set_wanted(&mut self, wanted: Option<Bitfield>) {
        let n = self.lengths.num_pieces();
        for p in 0..n {
            let w = match &wanted {
                Some(w) => w.get(p),
                None => true,
            };
            if w {
                self.wanted.insert(p);
            } else {
                self.wanted.remove(p);
            }
            if w && !self.have.get(p) {
                self.need.insert(p);
            } else {
                self.need.remove(p);
            }
            self.refresh(p);
        }
    }

    /// Holds `pieces` out of picking: no pick starts them while held (a piece already started
    /// is not held: its blocks are on their way). They stay needed, so the torrent is not
    /// complete without them. Returns the pieces actually held. Out-of-range pieces are ignored.
    pub fn hold(&mut self, pieces: &[u32]) -> Vec<u32> {
        let mut held = Vec::new();
        for &p in pieces {
            if self.lengths.validate_piece(p).is_none() || self.partials.contains_key(&p) || self.have.get(p)
            {
                continue;
            }
            self.held.insert(p);
            self.refresh(p);
            held.push(p);
        }
        held
    }

    /// Ends [`Picker::hold`] for `pieces`: those still missing may be picked again.
    pub fn release(&mut self, pieces: &[u32]) {
        for &p in pieces {
            if self.lengths.validate_piece(p).is_some() && self.held.remove(p) {
                self.refresh(p);
            }
        }
    }

    /// Whether `piece` is held out of picking.
    pub fn is_held(&self, piece: u32) -> bool {
        self.held.contains(piece)
    }

    /// Puts `piece` in or out of the startable set (and rarity index) from its current state.
    fn refresh(&mut self, piece: u32) {
        let startable = self.wanted.contains(piece)
            && !self.have.get(piece)
            && !self.partials.contains_key(&piece)
            && !self.held.contains(piece);
        if startable {
            if self.startable.insert(piece) {
                self.avail.index(piece);
            }
        } else if self.startable.remove(piece) {
            self.avail.unindex_piece(piece);
        }
    }

    /// Appends up to `max` blocks for `peer` to `out` and records `peer` as their requester.
    ///
    /// Order: (1) free blocks of started pieces the peer has, pieces this peer already works on
    /// first, then those closest to done; (2) if `may_start_new_piece`, new pieces chosen by the
    /// strategy; (3) in endgame, blocks already asked of others (fewest requesters first).
    pub fn pick_blocks(
        &mut self,
        peer: PeerKey,
        peer_has: &Bitfield,
        max: usize,
        may_start_new_piece: bool,
        rng: &mut impl rand::Rng,
        out: &mut Vec<BlockRef>,
    ) {
        let before = out.len();
        self.pick_fresh_blocks(peer, peer_has, max, may_start_new_piece, rng, out);
        let fresh = out.len() - before;
        self.pick_duplicate_blocks(peer, peer_has, max - fresh, out);
    }

    /// Phases (1) and (2) of [`Picker::pick_blocks`]: blocks nobody was asked for yet.
    pub fn pick_fresh_blocks(
        &mut self,
        peer: PeerKey,
        peer_has: &Bitfield,
        max: usize,
        may_start_new_piece: bool,
        rng: &mut impl rand::Rng,
        out: &mut Vec<BlockRef>,
    ) {
        let mut budget = max;
        if budget == 0 {
            return;
        }
        self.pick_from_partials(peer, peer_has, &mut budget, out);
        if may_start_new_piece {
            while budget > 0 {
                let Some(piece) =
                    self.strategy.choose(&self.startable, &self.need, &self.avail, peer_has, rng)
                else {
                    break;
                };
                let Some(vp) = self.lengths.validate_piece(piece) else { break };
                self.partials.insert(piece, PartialPiece::new(self.lengths.blocks_in_piece(vp)));
                self.refresh(piece);
                self.take_missing(piece, peer, &mut budget, out);
            }
        }
    }

    /// Phase (3) of [`Picker::pick_blocks`]: in endgame, up to `max` blocks already asked of
    /// others (never more than `endgame_duplicates` requesters per block).
    pub fn pick_duplicate_blocks(
        &mut self,
        peer: PeerKey,
        peer_has: &Bitfield,
        max: usize,
        out: &mut Vec<BlockRef>,
    ) {
        let mut budget = max;
        if budget > 0 && self.options.endgame_duplicates > 1 && self.in_endgame() {
            self.pick_endgame(peer, peer_has, &mut budget, out);
        }
    }

    fn pickable(&self, piece: u32, peer_has: &Bitfield) -> bool {
        self.wanted.contains(piece) && peer_has.get(piece)
    }

    fn pick_from_partials(
        &mut self,
        peer: PeerKey,
        peer_has: &Bitfield,
        budget: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        let mut order: Vec<(bool, u32, u32)> = self
            .partials
            .iter()
            .filter(|(&p, pp)| pp.missing() > 0 && self.pickable(p, peer_has))
            .map(|(&p, pp)| (pp.is_owner(peer), pp.received(), p))
            .collect();
        // Own pieces first, then most received, then lowest index (determinism).
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        for (_, _, piece) in order {
            if *budget == 0 {
                break;
            }
            self.take_missing(piece, peer, budget, out);
        }
    }

    /// Requests missing blocks of `piece` for `peer`, in order, while budget lasts.
    fn take_missing(&mut self, piece: u32, peer: PeerKey, budget: &mut usize, out: &mut Vec<BlockRef>) {
        let Some(vp) = self.lengths.validate_piece(piece) else { return };
        let Some(pp) = self.partials.get_mut(&piece) else { return };
        let indices: Vec<u32> = pp.missing_blocks().take(*budget).collect();
        for i in indices {
            if let Some(block) = self.lengths.block(vp, i) {
                if pp.request(i, peer) {
                    out.push(block);
                    *budget -= 1;
                }
            }
        }
    }

    fn pick_endgame(
        &mut self,
        peer: PeerKey,
        peer_has: &Bitfield,
        budget: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        let limit = self.options.endgame_duplicates as usize;
        // (requesters, -received, piece, block): least-shared blocks first, then pieces nearest
        // completion, so duplicates go where they shorten the tail most.
        let mut shareable: Vec<(usize, std::cmp::Reverse<u32>, u32, u32)> = Vec::new();
        for (&p, pp) in &self.partials {
            if self.pickable(p, peer_has) {
                let received = std::cmp::Reverse(pp.received());
                shareable.extend(pp.shareable_blocks(peer, limit).map(|(i, n)| (n, received, p, i)));
            }
        }
        shareable.sort_unstable();
        for (_, _, piece, i) in shareable {
            if *budget == 0 {
                break;
            }
            let (Some(vp), Some(pp)) = (self.lengths.validate_piece(piece), self.partials.get_mut(&piece))
            else {
                continue;
            };
            if let Some(block) = self.lengths.block(vp, i) {
                if pp.request(i, peer) {
                    out.push(block);
                    *budget -= 1;
                }
            }
        }
    }

    /// Records a block that arrived from `peer`.
    pub fn on_block_received(&mut self, peer: PeerKey, block: BlockRef) -> BlockReceived {
        if !self.lengths.is_canonical_block(&block) || self.have.get(block.piece) {
            return BlockReceived::Unexpected;
        }
        let Some(pp) = self.partials.get_mut(&block.piece) else { return BlockReceived::Unexpected };
        match pp.receive(block.index_in_piece(), peer) {
            Receive::Fresh { piece_complete, cancel } => BlockReceived::Fresh { piece_complete, cancel },
            Receive::Duplicate => BlockReceived::Duplicate,
            Receive::Unexpected => BlockReceived::Unexpected,
        }
    }

    /// Withdraws `peer`'s request for `block` (rejected, choked, timed out): the block is free
    /// again unless others still hold it or it already arrived.
    pub fn on_request_released(&mut self, peer: PeerKey, block: BlockRef) {
        if !self.lengths.is_canonical_block(&block) {
            return;
        }
        if let Some(pp) = self.partials.get_mut(&block.piece) {
            if pp.release(block.index_in_piece(), peer) && pp.is_idle() {
                self.forget(block.piece);
            }
        }
    }

    /// Withdraws every request of `peer`; returns how many blocks it held.
    pub fn on_peer_gone(&mut self, peer: PeerKey) -> usize {
        let mut released = 0;
        let mut idle = Vec::new();
        for (&p, pp) in &mut self.partials {
            let n = pp.release_peer(peer);
            released += n;
            if n > 0 && pp.is_idle() {
                idle.push(p);
            }
        }
        for p in idle {
            self.forget(p);
        }
        released
    }

    /// Drops a started piece's block state and makes it startable again if still wanted.
    fn forget(&mut self, piece: u32) {
        self.partials.remove(&piece);
        self.refresh(piece);
    }

    /// The piece passed its hash check: it is had.
    pub fn on_piece_verified(&mut self, piece: u32) {
        if self.lengths.validate_piece(piece).is_none() {
            return;
        }
        self.have.set(piece);
        self.need.remove(piece);
        self.forget(piece);
    }

    /// The piece failed its hash check (or a re-check): every block is missing again.
    /// Requests still outstanding for it will come back as [`BlockReceived::Unexpected`].
    pub fn on_piece_failed(&mut self, piece: u32) {
        if self.lengths.validate_piece(piece).is_none() {
            return;
        }
        self.have.clear(piece);
        if self.wanted.contains(piece) {
            self.need.insert(piece);
        }
        self.forget(piece);
    }

    /// Checks every module invariant; panics with a description on the first violation.
    #[cfg(test)]
    pub(crate) fn assert_invariants(&self) {
        let max_requesters = (self.options.endgame_duplicates as usize).max(1);
        for p in 0..self.lengths.num_pieces() {
            let partial = self.partials.contains_key(&p);
            let have = self.have.get(p);
            let wanted = self.wanted.contains(p);
            assert!(!(partial && have), "piece {p} both had and partial");
            assert_eq!(self.need.contains(p), wanted && !have, "need of piece {p}");
            let startable = wanted && !have && !partial && !self.held.contains(p);
            assert_eq!(self.startable.contains(p), startable, "startable of piece {p}");
            assert_eq!(self.avail.is_indexed(p), startable, "rarity index of piece {p}");
        }
        for (&p, pp) in &self.partials {
            pp.assert_consistent();
            let vp = self.lengths.validate_piece(p).expect("partial piece in range");
            assert_eq!(pp.blocks().len() as u32, self.lengths.blocks_in_piece(vp));
            assert!(!pp.is_idle(), "idle piece {p} kept");
            for b in pp.blocks() {
                if let partial::BlockState::Requested(r) = b {
                    assert!(r.len() <= max_requesters, "piece {p}: {} requesters", r.len());
                }
            }
        }
    }

    /// Peers currently asked for `block`, for tests.
    #[cfg(test)]
    pub(crate) fn requesters(&self, block: BlockRef) -> Vec<PeerKey> {
        if !self.lengths.is_canonical_block(&block) {
            return Vec::new();
        }
        match self.partials.get(&block.piece).and_then(|pp| pp.blocks().get(block.index_in_piece() as usize))
        {
            Some(partial::BlockState::Requested(r)) => r.clone(),
            _ => Vec::new(),
        }
    }
}
