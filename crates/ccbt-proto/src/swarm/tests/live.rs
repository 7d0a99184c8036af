//! Options changed on a running swarm (hot reload) take effect.

use std::time::Duration;

use super::*;
use crate::picker::PieceSelection;

/// Pieces 0 to 6 are held by three peers, piece 7 by two: rarest first starts piece 7,
/// sequential piece 0. `a` and `c` have everything and ask for one piece per pick.
fn piece_7_rarest() -> (H, PeerKey, PeerKey) {
    let mut h = H::leecher(options());
    let a = h.seed_peer(1, depth(2));
    let b = h.add(2, conn_options(false));
    h.recv(b, bitfield_msg(0..N - 1));
    h.pump(b);
    let c = h.seed_peer(3, depth(2));
    (h, a, c)
}

#[test]
fn a_new_piece_selection_applies_to_the_next_piece_started() {
    let (mut h, a, c) = piece_7_rarest();
    let sequential = PickerOptions { selection: PieceSelection::Sequential, ..options().picker };
    h.swarm.set_options(h.t0, SwarmOptions { picker: sequential, ..options() });
    h.pump(a);
    assert_eq!(h.requests(a).first().map(|b| b.piece), Some(0), "sequential starts piece 0");

    h.swarm.set_options(h.t0, options());
    h.pump(c);
    assert_eq!(h.requests(c).first().map(|b| b.piece), Some(N - 1), "rarest first starts piece 7");
    assert_eq!(h.swarm.options().picker.selection, PieceSelection::RarestFirst);
    h.swarm.picker.assert_invariants();
}

#[test]
fn fewer_upload_slots_choke_the_extra_peers_at_the_next_timeout() {
    let mut h = five_interested();
    let changes = h.swarm.handle_timeout(h.t0, &mut h.rng);
    apply(&mut h, &changes);
    assert_eq!(h.unchoked().len(), 3);

    let later = h.t0 + Duration::from_secs(1);
    h.swarm.set_options(later, SwarmOptions { choker: ChokerOptions::new(1), ..options() });
    assert_eq!(h.swarm.poll_timeout(), Some(later), "the choker runs again at once");
    let changes = h.swarm.handle_timeout(later, &mut h.rng);
    apply(&mut h, &changes);
    assert_eq!(h.unchoked().len(), 1);

    // 0 = unlimited: every interested peer is unchoked.
    let later = later + Duration::from_secs(1);
    h.swarm.set_options(later, SwarmOptions { choker: ChokerOptions::new(0), ..options() });
    let changes = h.swarm.handle_timeout(later, &mut h.rng);
    apply(&mut h, &changes);
    assert_eq!(h.unchoked().len(), 5);
}

#[test]
fn unchanged_slots_keep_the_choker_schedule() {
    let mut h = five_interested();
    h.swarm.handle_timeout(h.t0, &mut h.rng);
    let due = h.swarm.poll_timeout();
    h.swarm.set_options(
        h.t0 + Duration::from_secs(1),
        SwarmOptions { choker: ChokerOptions::new(3), max_hash_failures: 9, ..options() },
    );
    assert_eq!(h.swarm.poll_timeout(), due);
    assert_eq!(h.swarm.options().max_hash_failures, 9);
}

#[test]
fn a_new_unchoke_interval_runs_the_choker_now_and_then_at_the_new_pace() {
    let mut h = five_interested();
    h.swarm.handle_timeout(h.t0, &mut h.rng);
    assert_eq!(h.swarm.poll_timeout(), Some(h.t0 + Duration::from_secs(10)));
    let later = h.t0 + Duration::from_secs(1);
    let choker = ChokerOptions { unchoke_interval: Duration::from_secs(2), ..ChokerOptions::new(3) };
    h.swarm.set_options(later, SwarmOptions { choker, ..options() });
    assert_eq!(h.swarm.poll_timeout(), Some(later));
    h.swarm.handle_timeout(later, &mut h.rng);
    assert_eq!(h.swarm.poll_timeout(), Some(later + Duration::from_secs(2)));
}

/// A peer exchange message naming `127.0.0.<host>:6881`.
fn pex_msg(host: u8) -> Message {
    use ccbt_wire::ext::pex::{PexFlags, PexMessage};
    let added = vec![(std::net::SocketAddrV4::new([127, 0, 0, host].into(), 6881), PexFlags(0))];
    let msg = PexMessage { added, ..PexMessage::default() };
    Message::Extended { id: super::super::OUR_UT_PEX, payload: msg.encode() }
}

fn new_peers(actions: &[SwarmAction]) -> usize {
    actions.iter().filter(|a| matches!(a, SwarmAction::NewPeers(_))).count()
}

#[test]
fn peer_exchange_switched_off_ignores_the_messages_that_still_come() {
    let mut h = H::leecher(SwarmOptions { pex: true, ..options() });
    let a = h.add(1, PeerConnOptions { extension_protocol: true, ..conn_options(false) });
    let hs =
        ccbt_wire::ext::ExtHandshake { m: vec![("ut_pex".into(), 1)], p: Some(6881), ..Default::default() };
    h.recv(a, Message::Extended { id: 0, payload: hs.encode() });
    h.pump(a);
    h.recv(a, pex_msg(50));
    assert_eq!(new_peers(&h.pump(a)), 1, "peer exchange on: the peer is learnt");

    h.swarm.set_options(h.t0, SwarmOptions { pex: false, ..options() });
    h.recv(a, pex_msg(51));
    assert_eq!(new_peers(&h.pump(a)), 0, "peer exchange off: ignored");
    assert_eq!(h.swarm.poll_peer_timeout(a), None, "and nothing is sent");
}

#[test]
fn peer_exchange_switched_on_starts_with_the_connected_peers_that_support_it() {
    let mut h = H::leecher(options());
    let a = h.add(1, PeerConnOptions { extension_protocol: true, ..conn_options(false) });
    let hs =
        ccbt_wire::ext::ExtHandshake { m: vec![("ut_pex".into(), 1)], p: Some(6881), ..Default::default() };
    h.recv(a, Message::Extended { id: 0, payload: hs.encode() });
    h.pump(a);
    assert_eq!(h.swarm.poll_peer_timeout(a), None, "peer exchange off");

    h.swarm.set_options(h.t0, SwarmOptions { pex: true, ..options() });
    assert!(h.swarm.poll_peer_timeout(a).is_some(), "a PEX message to the peer is scheduled");
}
