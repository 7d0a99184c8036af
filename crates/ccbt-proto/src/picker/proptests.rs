//! Random operation sequences against a model of what the engine believes is outstanding.

use std::collections::BTreeSet;

use super::{partial, BlockReceived, Picker, PickerOptions, PieceSelection};
use crate::PeerKey;
use ccbt_core::{Bitfield, BlockRef, Lengths, BLOCK_SIZE};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

const PEERS: u64 = 4;
const PIECES: u32 = 5;

#[derive(Clone, Debug)]
enum Op {
    Pick {
        peer: u64,
        max: usize,
        start: bool,
    },
    /// Answer the `nth` outstanding request (modulo their number).
    Receive {
        nth: usize,
    },
    /// A block nobody (or somebody) asked this peer for.
    Unsolicited {
        peer: u64,
        piece: u32,
        index: u32,
    },
    Release {
        nth: usize,
    },
    PeerGone {
        peer: u64,
    },
    Want {
        mask: u8,
    },
    Have {
        piece: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..PEERS, 0usize..6, any::<bool>()).prop_map(|(peer, max, start)| Op::Pick { peer, max, start }),
        4 => any::<usize>().prop_map(|nth| Op::Receive { nth }),
        1 => (0..PEERS, 0..PIECES + 1, 0u32..3).prop_map(|(peer, piece, index)| Op::Unsolicited { peer, piece, index }),
        2 => any::<usize>().prop_map(|nth| Op::Release { nth }),
        1 => (0..PEERS).prop_map(|peer| Op::PeerGone { peer }),
        1 => any::<u8>().prop_map(|mask| Op::Want { mask }),
        1 => (0..PIECES).prop_map(|piece| Op::Have { piece }),
    ]
}

fn selection() -> impl Strategy<Value = PieceSelection> {
    prop_oneof![
        Just(PieceSelection::RarestFirst),
        Just(PieceSelection::Sequential),
        Just(PieceSelection::RoundRobin)
    ]
}

/// The engine's side: outstanding (peer, block) requests and the peers' bitfields.
struct World {
    picker: Picker,
    outstanding: BTreeSet<(u64, BlockRef)>,
    peer_has: Vec<Bitfield>,
    rng: SmallRng,
    /// Pieces whose hash check fails on the first completion (a lying peer).
    corrupt: BTreeSet<u32>,
}

impl World {
    fn pick(&mut self, peer: u64, max: usize, start: bool) -> Result<(), TestCaseError> {
        let has = self.peer_has.get(peer as usize).cloned().unwrap_or_default();
        let mut out = Vec::new();
        self.picker.pick_blocks(PeerKey(peer), &has, max, start, &mut self.rng, &mut out);
        prop_assert!(out.len() <= max);
        for b in out {
            prop_assert!(has.get(b.piece), "peer lacks piece of {b:?}");
            prop_assert!(!self.picker.have().get(b.piece), "had piece {b:?}");
            prop_assert!(self.picker.wanted.contains(b.piece), "unwanted piece {b:?}");
            prop_assert!(self.picker.lengths.is_canonical_block(&b));
            prop_assert!(self.outstanding.insert((peer, b)), "{b:?} handed twice to peer {peer}");
        }
        Ok(())
    }

    fn receive(&mut self, peer: u64, block: BlockRef) -> Result<(), TestCaseError> {
        let was_outstanding = self.outstanding.remove(&(peer, block));
        match self.picker.on_block_received(PeerKey(peer), block) {
            BlockReceived::Fresh { piece_complete, cancel } => {
                for c in cancel {
                    prop_assert!(c.0 != peer);
                    prop_assert!(
                        self.outstanding.remove(&(c.0, block)),
                        "cancel of a request not outstanding"
                    );
                }
                prop_assert!(
                    !self.outstanding.iter().any(|&(_, b)| b == block),
                    "a requester of {block:?} was not cancelled"
                );
                if piece_complete {
                    if self.corrupt.remove(&block.piece) {
                        self.picker.on_piece_failed(block.piece);
                    } else {
                        self.picker.on_piece_verified(block.piece);
                    }
                }
            }
            BlockReceived::Duplicate | BlockReceived::Unexpected => {
                // A block we asked this peer for and did not cancel is always fresh.
                prop_assert!(!was_outstanding, "outstanding {block:?} from {peer} refused");
                prop_assert!(!self.picker.requesters(block).contains(&PeerKey(peer)));
            }
        }
        Ok(())
    }

    fn nth_outstanding(&self, nth: usize) -> Option<(u64, BlockRef)> {
        let len = self.outstanding.len();
        (len > 0).then(|| self.outstanding.iter().nth(nth % len).copied()).flatten()
    }

    /// The picker's requester lists agree with the model exactly.
    fn check(&self) -> Result<(), TestCaseError> {
        self.picker.assert_invariants();
        for &(peer, b) in &self.outstanding {
            prop_assert!(self.picker.requesters(b).contains(&PeerKey(peer)), "model has {peer} on {b:?}");
        }
        for (&p, pp) in &self.picker.partials {
            for (i, s) in pp.blocks().iter().enumerate() {
                if let partial::BlockState::Requested(r) = s {
                    let b = self
                        .picker
                        .lengths
                        .block(self.picker.lengths.validate_piece(p).unwrap(), i as u32)
                        .unwrap();
                    for k in r {
                        prop_assert!(self.outstanding.contains(&(k.0, b)), "picker has {k:?} on {b:?}");
                    }
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_operations_keep_invariants_and_finish(
        ops in proptest::collection::vec(op(), 0..80),
        selection in selection(),
        dup in 0u32..4,
        threshold in 0u32..3,
        seed in any::<u64>(),
        peer_masks in proptest::collection::vec(any::<u8>(), PEERS as usize),
        corrupt in proptest::collection::btree_set(0..PIECES, 0..3),
    ) {
        // Two blocks per piece; the last piece is one short block.
        let lengths = Lengths::new(u64::from(BLOCK_SIZE) * 8 + 1000, 2 * BLOCK_SIZE).unwrap();
        prop_assert_eq!(lengths.num_pieces(), PIECES);
        let options = PickerOptions { selection, endgame_duplicates: dup, endgame_threshold: threshold };
        let mut peer_has: Vec<Bitfield> = peer_masks
            .iter()
            .map(|m| {
                let mut b = Bitfield::new(PIECES);
                for i in (0..PIECES).filter(|i| m & (1 << i) != 0) { b.set(i); }
                b
            })
            .collect();
        // Peer 0 is a seed, so everything is reachable in the end.
        peer_has[0] = Bitfield::full(PIECES);
        let mut picker = Picker::new(lengths, Bitfield::new(PIECES), None, options);
        for has in &peer_has[1..] { picker.add_peer_bitfield(has); }
        picker.add_seed();
        let mut w = World { picker, outstanding: BTreeSet::new(), peer_has, rng: SmallRng::seed_from_u64(seed), corrupt };

        for op in ops {
            match op {
                Op::Pick { peer, max, start } => w.pick(peer, max, start)?,
                Op::Receive { nth } => {
                    if let Some((peer, b)) = w.nth_outstanding(nth) { w.receive(peer, b)?; }
                }
                Op::Unsolicited { peer, piece, index } => {
                    let block = BlockRef { piece, offset: index * BLOCK_SIZE, len: BLOCK_SIZE };
                    w.receive(peer, block)?;
                }
                Op::Release { nth } => {
                    if let Some((peer, b)) = w.nth_outstanding(nth) {
                        w.outstanding.remove(&(peer, b));
                        w.picker.on_request_released(PeerKey(peer), b);
                    }
                }
                Op::PeerGone { peer } => {
                    let held = w.outstanding.iter().filter(|(p, _)| *p == peer).count();
                    prop_assert_eq!(w.picker.on_peer_gone(PeerKey(peer)), held);
                    w.outstanding.retain(|(p, _)| *p != peer);
                }
                Op::Want { mask } => {
                    let mut b = Bitfield::new(PIECES);
                    for i in (0..PIECES).filter(|i| mask & (1 << i) != 0) { b.set(i); }
                    w.picker.set_wanted(Some(b));
                }
                Op::Have { piece } => {
                    if let Some(has) = w.peer_has.get_mut(1) {
                        if has.set(piece) { w.picker.add_peer_have(piece); }
                    }
                }
            }
            w.check()?;
        }

        // Drive to completion: everything wanted again, every peer answers every request.
        w.picker.set_wanted(None);
        w.check()?;
        for _round in 0..50 {
            if w.picker.is_complete() { break; }
            for peer in 0..PEERS { w.pick(peer, 4, true)?; }
            while let Some((peer, b)) = w.nth_outstanding(0) { w.receive(peer, b)?; }
            w.check()?;
        }
        prop_assert!(w.picker.is_complete());
        prop_assert_eq!(w.picker.have().count_ones(), PIECES);
        prop_assert_eq!(w.picker.partial_pieces(), 0);
        prop_assert!(w.outstanding.is_empty());
        prop_assert!(!w.picker.in_endgame());
    }
}
