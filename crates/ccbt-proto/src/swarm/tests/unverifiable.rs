//! A piece the hash pool could not check goes back to the picker without striking anyone.

use super::*;

/// Delivers every block of the next piece `peer` is asked for; returns the piece.
fn deliver_piece(h: &mut H, peer: PeerKey) -> u32 {
    h.pump(peer);
    let blocks = h.requests(peer);
    let piece = blocks[0].piece;
    assert_eq!(blocks, blocks_of(piece));
    for block in blocks {
        h.recv(peer, piece_msg(block));
    }
    assert_eq!(verified_pieces(h.pump(peer)), vec![piece]);
    piece
}

#[test]
fn an_unverifiable_piece_is_fetched_again_and_strikes_nobody() {
    let mut h = H::leecher(options());
    let sender = ip(7);
    let peer = h.add_from(1, sender, depth(2));
    h.recv(peer, bitfield_msg(0..N));
    h.recv(peer, Message::Unchoke);
    // More times than `max_hash_failures` (2): a hash failure would have banned the sender.
    for _ in 0..3 {
        let piece = deliver_piece(&mut h, peer);
        let wasted = h.swarm.wasted_bytes();
        h.swarm.on_piece_unverifiable(piece);
        assert!(!h.swarm.have().get(piece));
        assert_eq!(h.swarm.wasted_bytes(), wasted + u64::from(PIECE));
    }
    assert_eq!(h.swarm.strikes(sender), 0);
    assert!(!h.swarm.is_banned(sender));
    // The piece is wanted again: once checkable it verifies.
    let piece = deliver_piece(&mut h, peer);
    assert!(!h.swarm.on_piece_verified(piece, None));
    assert!(h.swarm.have().get(piece));
}
