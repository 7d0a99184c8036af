use super::*;
use ccbt_core::BLOCK_SIZE;
use rand::rngs::SmallRng;
use rand::SeedableRng;

const A: PeerKey = PeerKey(1);
const B: PeerKey = PeerKey(2);
const C: PeerKey = PeerKey(3);

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(7)
}

/// `pieces` pieces of `blocks` full blocks each.
fn lengths(pieces: u32, blocks: u32) -> Lengths {
    Lengths::new(u64::from(pieces) * u64::from(blocks * BLOCK_SIZE), blocks * BLOCK_SIZE).unwrap()
}

fn picker(pieces: u32, blocks: u32, selection: PieceSelection) -> Picker {
    let opts = PickerOptions { selection, ..PickerOptions::default() };
    Picker::new(lengths(pieces, blocks), Bitfield::new(pieces), None, opts)
}

fn bf(len: u32, ones: &[u32]) -> Bitfield {
    let mut b = Bitfield::new(len);
    for &i in ones {
        b.set(i);
    }
    b
}

fn pick(p: &mut Picker, peer: PeerKey, has: &Bitfield, max: usize, start: bool) -> Vec<BlockRef> {
    let mut out = Vec::new();
    p.pick_blocks(peer, has, max, start, &mut rng(), &mut out);
    p.assert_invariants();
    out
}

fn ids(blocks: &[BlockRef]) -> Vec<(u32, u32)> {
    blocks.iter().map(|b| (b.piece, b.index_in_piece())).collect()
}

#[test]
fn sequential_goes_in_index_order() {
    let mut p = picker(4, 2, PieceSelection::Sequential);
    let all = Bitfield::full(4);
    assert_eq!(ids(&pick(&mut p, A, &all, 3, true)), vec![(0, 0), (0, 1), (1, 0)]);
    assert_eq!(ids(&pick(&mut p, B, &bf(4, &[2, 3]), 1, true)), vec![(2, 0)]);
    assert_eq!(p.partial_pieces(), 3);
}

#[test]
fn round_robin_continues_after_last_started() {
    let mut rr = picker(6, 1, PieceSelection::RoundRobin);
    let mut seq = picker(6, 1, PieceSelection::Sequential);
    let all = Bitfield::full(6);
    for p in [&mut rr, &mut seq] {
        let got = pick(p, A, &all, 1, true);
        assert_eq!(ids(&got), vec![(0, 0)]);
        p.on_request_released(A, got[0]);
        assert_eq!(p.partial_pieces(), 0, "idle piece forgotten");
    }
    assert_eq!(ids(&pick(&mut rr, A, &all, 1, true)), vec![(1, 0)]);
    assert_eq!(ids(&pick(&mut seq, A, &all, 1, true)), vec![(0, 0)]);
    // Wraps around past the end.
    assert_eq!(ids(&pick(&mut rr, A, &all, 4, true)), vec![(2, 0), (3, 0), (4, 0), (5, 0)]);
    rr.on_peer_gone(A);
    assert_eq!(ids(&pick(&mut rr, B, &all, 1, true)), vec![(0, 0)]);
}

#[test]
fn rarest_first_prefers_lower_availability() {
    let mut p = picker(5, 1, PieceSelection::RarestFirst);
    p.add_peer_bitfield(&Bitfield::full(5));
    p.add_peer_bitfield(&bf(5, &[0, 1, 2, 4]));
    p.add_peer_bitfield(&bf(5, &[0, 1, 4]));
    p.add_peer_have(3);
    p.add_peer_have(3);
    p.add_seed();
    assert_eq!((0..5).map(|i| p.availability(i)).collect::<Vec<_>>(), vec![4, 4, 3, 4, 4]);
    let all = Bitfield::full(5);
    assert_eq!(ids(&pick(&mut p, A, &all, 1, true)), vec![(2, 0)]);
    p.remove_peer_bitfield(&bf(5, &[0, 1, 2, 4]));
    p.remove_peer_bitfield(&bf(5, &[0, 1, 4]));
    // Now 0, 1 and 4 (one peer + the seed) are rarer than 3 (three peers + the seed).
    assert_eq!(p.availability(0), 2);
    assert_eq!(p.availability(3), 4);
    let next = pick(&mut p, A, &all, 3, true);
    assert_eq!(next.len(), 3);
    assert!(next.iter().all(|b| [0, 1, 4].contains(&b.piece)));
    p.remove_seed();
    assert_eq!(p.availability(3), 3);
}

#[test]
fn rarest_first_breaks_ties_randomly() {
    let mut r = SmallRng::seed_from_u64(42);
    let mut counts = [0u32; 4];
    let mut p = picker(4, 1, PieceSelection::RarestFirst);
    let all = Bitfield::full(4);
    for _ in 0..4000 {
        let mut out = Vec::new();
        p.pick_blocks(A, &all, 1, true, &mut r, &mut out);
        let b = out[0];
        counts[b.piece as usize] += 1;
        p.on_request_released(A, b);
    }
    for c in counts {
        assert!((800..1200).contains(&c), "roughly uniform: {counts:?}");
    }
}

#[test]
fn partials_first_own_then_most_received() {
    let mut p = picker(4, 4, PieceSelection::Sequential);
    let all = Bitfield::full(4);
    // A starts piece 0 (2 blocks); B starts piece 1 and receives 3 of its blocks.
    assert_eq!(ids(&pick(&mut p, A, &all, 2, true)), vec![(0, 0), (0, 1)]);
    let b_blocks = pick(&mut p, B, &bf(4, &[1]), 4, true);
    for b in &b_blocks[..3] {
        assert!(matches!(p.on_block_received(B, *b), BlockReceived::Fresh { piece_complete: false, .. }));
    }
    p.on_request_released(B, b_blocks[3]);
    // A prefers its own piece 0, then piece 1 (3 received) before anything new.
    assert_eq!(ids(&pick(&mut p, A, &all, 4, true)), vec![(0, 2), (0, 3), (1, 3), (2, 0)]);
    // C, owning nothing, finishes what is nearest completion: piece 2 has none received, so
    // it only gets new blocks of piece 2 before starting piece 3.
    assert_eq!(ids(&pick(&mut p, C, &all, 4, true)), vec![(2, 1), (2, 2), (2, 3), (3, 0)]);
}

#[test]
fn back_pressure_only_continues_partials() {
    let mut p = picker(3, 4, PieceSelection::Sequential);
    let all = Bitfield::full(3);
    assert!(pick(&mut p, A, &all, 4, false).is_empty());
    assert_eq!(p.partial_pieces(), 0);
    assert_eq!(pick(&mut p, A, &all, 1, true).len(), 1);
    assert_eq!(ids(&pick(&mut p, B, &all, 10, false)), vec![(0, 1), (0, 2), (0, 3)]);
    assert_eq!(p.partial_pieces(), 1);
}

#[test]
fn endgame_duplicates_and_cancel() {
    let mut p = picker(2, 2, PieceSelection::Sequential);
    let all = Bitfield::full(2);
    assert!(!p.in_endgame());
    let a = pick(&mut p, A, &all, 10, true);
    assert_eq!(a.len(), 4);
    assert!(p.in_endgame());
    // A never gets its own blocks twice; B gets each once; C none (limit 2).
    assert!(pick(&mut p, A, &all, 10, true).is_empty());
    let b = pick(&mut p, B, &all, 10, true);
    assert_eq!(ids(&b), ids(&a));
    assert!(pick(&mut p, C, &all, 10, true).is_empty());
    assert!(pick(&mut p, B, &all, 10, true).is_empty());
    assert_eq!(p.requesters(a[0]), vec![A, B]);
    assert_eq!(p.on_block_received(B, a[0]), BlockReceived::Fresh { piece_complete: false, cancel: vec![A] });
    assert_eq!(p.on_block_received(A, a[0]), BlockReceived::Duplicate);
    // C may now share a block that has only one requester left after a release.
    p.on_request_released(A, a[1]);
    assert_eq!(ids(&pick(&mut p, C, &all, 1, true)), vec![(0, 1)]);
    assert_eq!(
        p.on_block_received(A, a[1]),
        BlockReceived::Fresh { piece_complete: true, cancel: vec![B, C] }
    );
    p.on_piece_verified(0);
    assert_eq!(p.on_block_received(B, a[1]), BlockReceived::Unexpected);
}

#[test]
fn endgame_threshold_and_disabled_duplicates() {
    let opts =
        PickerOptions { selection: PieceSelection::Sequential, endgame_duplicates: 3, endgame_threshold: 1 };
    let mut p = Picker::new(lengths(3, 2), Bitfield::new(3), None, opts);
    let all = Bitfield::full(3);
    pick(&mut p, A, &all, 3, true);
    // Pieces 1 (one free block) and 2 (never started) still have free blocks: 2 > threshold.
    assert!(!p.in_endgame());
    pick(&mut p, A, &all, 1, true);
    assert!(p.in_endgame());
    // B takes the last free blocks first (starting piece 2), then a duplicate.
    assert_eq!(ids(&pick(&mut p, B, &all, 3, true)), vec![(2, 0), (2, 1), (0, 0)]);
    let mut none = Picker::new(
        lengths(1, 2),
        Bitfield::new(1),
        None,
        PickerOptions { endgame_duplicates: 1, ..PickerOptions::default() },
    );
    pick(&mut none, A, &Bitfield::full(1), 2, true);
    assert!(pick(&mut none, B, &Bitfield::full(1), 2, true).is_empty());
}

#[test]
fn release_and_peer_gone_free_blocks() {
    let mut p = picker(2, 4, PieceSelection::Sequential);
    let all = Bitfield::full(2);
    let a = pick(&mut p, A, &all, 6, true);
    p.on_request_released(A, a[1]);
    p.on_request_released(A, a[1]);
    p.on_request_released(B, a[2]);
    assert_eq!(ids(&pick(&mut p, B, &all, 1, false)), vec![(0, 1)]);
    assert!(matches!(p.on_block_received(A, a[0]), BlockReceived::Fresh { .. }));
    assert_eq!(p.on_peer_gone(A), 4);
    assert_eq!(p.on_peer_gone(A), 0);
    // Piece 1 had nothing received or requested: forgotten. Piece 0 stays partial.
    assert_eq!(p.partial_pieces(), 1);
    assert_eq!(ids(&pick(&mut p, C, &all, 3, false)), vec![(0, 2), (0, 3)]);
}

#[test]
fn hash_failure_resets_piece() {
    let mut p = picker(2, 2, PieceSelection::Sequential);
    let all = Bitfield::full(2);
    let a = pick(&mut p, A, &all, 2, true);
    assert!(matches!(p.on_block_received(A, a[0]), BlockReceived::Fresh { piece_complete: false, .. }));
    assert!(matches!(p.on_block_received(A, a[1]), BlockReceived::Fresh { piece_complete: true, .. }));
    assert_eq!(p.on_block_received(A, a[1]), BlockReceived::Duplicate);
    p.on_piece_failed(0);
    p.assert_invariants();
    assert_eq!(p.partial_pieces(), 0);
    assert_eq!(ids(&pick(&mut p, B, &all, 2, true)), vec![(0, 0), (0, 1)]);
    for b in &a {
        p.on_block_received(B, *b);
    }
    p.on_piece_verified(0);
    assert!(p.have().get(0));
    assert!(!p.is_complete());
    assert_eq!(ids(&pick(&mut p, B, &all, 4, true)), vec![(1, 0), (1, 1)]);
    // A verified piece re-checked as bad is needed again.
    p.on_piece_failed(0);
    assert!(!p.have().get(0));
    assert!(p.is_interesting(&bf(2, &[0])));
}

#[test]
fn short_last_piece() {
    let l = Lengths::new(u64::from(BLOCK_SIZE) * 5 / 2, 2 * BLOCK_SIZE).unwrap();
    let mut p = Picker::new(l, Bitfield::new(2), None, PickerOptions::default());
    let got = pick(&mut p, A, &Bitfield::full(2), 10, true);
    assert_eq!(got.len(), 3);
    assert!(got.contains(&BlockRef { piece: 1, offset: 0, len: BLOCK_SIZE / 2 }));
    assert!(matches!(
        p.on_block_received(A, BlockRef { piece: 1, offset: 0, len: BLOCK_SIZE / 2 }),
        BlockReceived::Fresh { piece_complete: true, .. }
    ));
}

#[test]
fn wanted_subset() {
    let l = lengths(4, 1);
    let mut p = Picker::new(l, bf(4, &[3]), Some(bf(4, &[1, 3])), PickerOptions::default());
    let all = Bitfield::full(4);
    assert!(!p.is_interesting(&bf(4, &[0, 2, 3])));
    assert!(p.is_interesting(&bf(4, &[1])));
    assert_eq!(ids(&pick(&mut p, A, &all, 10, true)), vec![(1, 0)]);
    assert!(pick(&mut p, B, &bf(4, &[0, 2]), 10, true).is_empty());
    p.on_block_received(A, BlockRef { piece: 1, offset: 0, len: BLOCK_SIZE });
    p.on_piece_verified(1);
    assert!(p.is_complete());
    assert!(!p.in_endgame());
    p.set_wanted(None);
    p.assert_invariants();
    assert!(!p.is_complete());
    let mut got = ids(&pick(&mut p, A, &all, 10, true));
    got.sort_unstable();
    assert_eq!(got, vec![(0, 0), (2, 0)]);
    // A started piece that becomes unwanted gets no further requests, not even in endgame.
    p.set_wanted(Some(bf(4, &[2])));
    p.assert_invariants();
    assert_eq!(ids(&pick(&mut p, B, &all, 10, true)), vec![(2, 0)]);
}

#[test]
fn unexpected_blocks() {
    let mut p = Picker::new(lengths(3, 2), bf(3, &[2]), None, PickerOptions::default());
    let blk = |piece, offset, len| BlockRef { piece, offset, len };
    assert_eq!(p.on_block_received(A, blk(0, 0, BLOCK_SIZE)), BlockReceived::Unexpected);
    assert_eq!(p.on_block_received(A, blk(2, 0, BLOCK_SIZE)), BlockReceived::Unexpected);
    pick(&mut p, A, &bf(3, &[0]), 1, true);
    assert_eq!(p.on_block_received(A, blk(0, 1, BLOCK_SIZE)), BlockReceived::Unexpected);
    assert_eq!(p.on_block_received(A, blk(0, 0, 100)), BlockReceived::Unexpected);
    assert_eq!(p.on_block_received(A, blk(9, 0, BLOCK_SIZE)), BlockReceived::Unexpected);
    p.on_request_released(A, blk(u32::MAX, u32::MAX, u32::MAX));
    p.on_piece_verified(u32::MAX);
    p.on_piece_failed(u32::MAX);
    p.add_peer_have(u32::MAX);
    assert_eq!(p.availability(u32::MAX), 0);
    // Releasing the only request forgets the piece: a late answer is unexpected.
    p.on_request_released(A, blk(0, 0, BLOCK_SIZE));
    assert_eq!(p.partial_pieces(), 0);
    assert_eq!(p.on_block_received(A, blk(0, 0, BLOCK_SIZE)), BlockReceived::Unexpected);
    p.assert_invariants();
}

#[test]
fn wrong_length_bitfields_are_tolerated() {
    let mut p = picker(20, 1, PieceSelection::Sequential);
    let short = bf(3, &[0, 1, 2]);
    p.add_peer_bitfield(&short);
    p.add_peer_bitfield(&Bitfield::full(100));
    assert_eq!(p.availability(0), 2);
    assert_eq!(p.availability(19), 1);
    assert!(p.is_interesting(&short));
    assert_eq!(pick(&mut p, A, &short, 10, true).len(), 3);
    p.remove_peer_bitfield(&Bitfield::full(100));
    p.remove_peer_bitfield(&Bitfield::full(100));
    assert_eq!(p.availability(19), 0);
}

/// 100k pieces and 1000 picks: must finish quickly (no quadratic scan). No timing assertion;
/// the test's run time is the measurement.
#[test]
fn large_torrent_picks_are_not_quadratic() {
    let n = 100_000;
    for selection in [PieceSelection::RarestFirst, PieceSelection::Sequential, PieceSelection::RoundRobin] {
        let mut p = picker(n, 1, selection);
        let mut r = SmallRng::seed_from_u64(1);
        let half: Bitfield = bf(n, &(0..n).filter(|i| i % 2 == 1).collect::<Vec<_>>());
        for _ in 0..20 {
            p.add_peer_bitfield(&half);
        }
        p.add_seed();
        let all = Bitfield::full(n);
        let mut out = Vec::new();
        for i in 0..1000u64 {
            out.clear();
            let peer = PeerKey(i % 50);
            let has = if i % 2 == 0 { &all } else { &half };
            p.pick_blocks(peer, has, 4, true, &mut r, &mut out);
            assert_eq!(out.len(), 4);
            for b in &out {
                if let BlockReceived::Fresh { piece_complete: true, .. } = p.on_block_received(peer, *b) {
                    p.on_piece_verified(b.piece);
                }
            }
            p.add_peer_have(out[0].piece);
        }
        assert_eq!(p.have().count_ones(), 4000);
        assert_eq!(p.partial_pieces(), 0);
    }
}

#[test]
fn held_pieces_are_not_started_but_keep_the_torrent_incomplete() {
    let mut p = picker(4, 1, PieceSelection::Sequential);
    let all = bf(4, &[0, 1, 2, 3]);
    // Piece 0 is started before the hold: it is not held.
    assert_eq!(ids(&pick(&mut p, A, &all, 1, true)), vec![(0, 0)]);
    assert_eq!(p.hold(&[0, 1, 2, 9]), vec![1, 2]);
    assert!(p.is_held(1) && !p.is_held(0));
    assert_eq!(ids(&pick(&mut p, A, &all, 4, true)), vec![(3, 0)]);
    p.on_piece_verified(0);
    p.on_piece_verified(3);
    p.on_piece_verified(2);
    assert!(!p.is_complete(), "a held piece is still needed");
    assert!(pick(&mut p, B, &all, 4, true).is_empty());
    p.release(&[1, 2]);
    assert_eq!(ids(&pick(&mut p, B, &all, 4, true)), vec![(1, 0)]);
    p.on_piece_verified(1);
    assert!(p.is_complete());
}
