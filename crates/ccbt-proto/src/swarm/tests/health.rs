//! Peer health as the swarm reports it, and which connection makes room for a candidate.

use super::*;
use crate::candidates::EvictionOptions;
use crate::health::GRACE;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn health_reports_latency_rates_protocol_errors_and_strikes() {
    let mut h = H::leecher(options());
    let a = h.seed_peer(1, depth(4));
    assert_eq!(h.swarm.peer_health(a, h.t0), None, "not handled yet");
    h.pump(a);
    let asked = h.requests(a);
    // The first block answers after 300 ms.
    let t = h.t0 + Duration::from_millis(300);
    h.recv_at(a, t, piece_msg(asked[0]));
    h.pump_at(a, t);
    let health = h.swarm.peer_health(a, t).expect("handled");
    assert_eq!(health.request_latency, Some(Duration::from_millis(300)));
    assert!(health.download_rate > 0);
    assert_eq!((health.hash_failures, health.protocol_errors, health.snubbed), (0, 0, false));
    assert_eq!(health.connected_for, Duration::from_millis(300));
    // A block never requested is a tolerated protocol error.
    let stray = blocks_of(N - 1)[0];
    assert!(!asked.contains(&stray));
    h.recv_at(a, t, piece_msg(stray));
    h.pump_at(a, t);
    assert_eq!(h.swarm.peer_health(a, t).unwrap().protocol_errors, 1);
    // The rate copied at the last handling is not trusted once payload stopped for a while.
    let later = t + 10 * SECOND;
    assert_eq!(h.swarm.peer_health(a, later).unwrap().download_rate, 0);
    assert_eq!(h.swarm.health(later).len(), 1);
}

#[test]
fn health_counts_the_strikes_of_the_peers_address() {
    let (h, a) = a_piece_failed_from_one_sender();
    let health = h.swarm.peer_health(a, h.t0).unwrap();
    assert_eq!(health.hash_failures, 1);
    assert!(health.score() < crate::health::PeerHealth { hash_failures: 0, ..health }.score());
}

/// A leecher whose peer `a` sent a whole piece that failed its hash check.
fn a_piece_failed_from_one_sender() -> (H, PeerKey) {
    let mut h = H::leecher(SwarmOptions { max_hash_failures: 5, ..options() });
    let a = h.seed_peer(1, depth(2));
    let b = h.add(2, conn_options(false));
    h.pump(a);
    h.pump(b);
    let asked = h.requests(a);
    let piece = asked[0].piece;
    let mut actions = Vec::new();
    for block in asked.into_iter().filter(|blk| blk.piece == piece) {
        h.recv(a, piece_msg(block));
        actions.extend(h.pump(a));
    }
    assert!(verify_of(&actions, piece).is_some(), "piece {piece} complete");
    assert!(h.swarm.on_piece_failed(piece, None).is_empty(), "one strike, no ban");
    (h, a)
}

/// Keys 1 (gives us data), 2 (has what we want but never unchokes us), 3 (neither side wants
/// anything), all connected at `t0` and handled then.
fn three_kinds() -> (H, PeerKey, PeerKey, PeerKey) {
    let mut h = H::leecher(options());
    let giver = h.seed_peer(1, depth(4));
    let choker = h.add(2, conn_options(false));
    h.recv(choker, bitfield_msg(0..N));
    let idle = h.add(3, conn_options(false));
    for k in [giver, choker, idle] {
        h.pump(k);
    }
    (h, giver, choker, idle)
}

/// Runs choker rounds every 10 s up to `until`, the giver sending a block at each.
fn run_until(h: &mut H, giver: PeerKey, until: Duration) {
    let mut at = Duration::ZERO;
    while at <= until {
        let now = h.t0 + at;
        let next = h.conn(giver).outstanding_blocks().next();
        match next {
            Some(block) => h.recv_at(giver, now, piece_msg(block)),
            None => h.recv_at(giver, now, Message::KeepAlive),
        }
        h.pump_at(giver, now);
        h.swarm.handle_timeout(now, &mut h.rng);
        at += 10 * SECOND;
    }
}

#[test]
fn eviction_takes_the_useless_then_the_snubbing_and_never_an_active_honest_peer() {
    let (mut h, giver, choker, idle) = three_kinds();
    let eviction = EvictionOptions { idle_after: Duration::from_secs(120) };
    // Young connections: nobody is evicted.
    run_until(&mut h, giver, 30 * SECOND);
    assert_eq!(h.swarm.choose_eviction(h.t0 + 30 * SECOND, eviction), None);
    // Past the snub timeout the choking peer is misbehaving (it has what we want and gives
    // nothing); the idle one is not useless yet (idle for less than 120 s).
    run_until(&mut h, giver, 70 * SECOND);
    let now = h.t0 + 70 * SECOND;
    assert!(h.swarm.is_snubbed(choker, now));
    assert!(h.swarm.peer_health(choker, now).unwrap().snubbed);
    assert_eq!(h.swarm.choose_eviction(now, eviction), Some(choker));
    // Past `idle_after` the useless connection goes first.
    run_until(&mut h, giver, 130 * SECOND);
    let now = h.t0 + 130 * SECOND;
    assert_eq!(h.swarm.choose_eviction(now, eviction), Some(idle));
    h.swarm.remove_peer(idle);
    assert_eq!(h.swarm.choose_eviction(now, eviction), Some(choker));
    h.swarm.remove_peer(choker);
    // The giver keeps its connection, however long it lives.
    assert!(h.swarm.peer_health(giver, now).unwrap().connected_for >= GRACE);
    assert_eq!(h.swarm.choose_eviction(now, eviction), None);
}

#[test]
fn a_snubbing_peer_gets_one_request_at_a_time() {
    let mut h = H::leecher(options());
    let a = h.seed_peer(1, depth(4));
    h.pump(a);
    h.swarm.handle_timeout(h.t0, &mut h.rng);
    assert_eq!(h.conn(a).outstanding_requests(), 4);
    // `a` never answers: every 10 s a choker round, and the request timeout (30 s) gives the
    // blocks back now and then; the connection asks again each time.
    let mut most_after_snub = 0;
    for step in 1..=12u64 {
        let now = h.t0 + Duration::from_secs(10 * step);
        h.conn(a).handle_timeout(now).expect("keep-alives are not due; the idle limit is 180 s");
        h.recv_at(a, now, Message::KeepAlive);
        h.pump_at(a, now);
        h.swarm.handle_timeout(now, &mut h.rng);
        h.pump_at(a, now);
        if h.swarm.is_snubbed(a, now) {
            most_after_snub = most_after_snub.max(h.conn(a).outstanding_requests());
        } else {
            assert!(step < 6, "snubbing from 60 s");
        }
    }
    assert_eq!(most_after_snub, 1, "one request at a time once snubbing");
    // A block clears the snub at the next round, and the pipeline fills again.
    let now = h.t0 + Duration::from_secs(125);
    let block = h.conn(a).outstanding_blocks().next().expect("one request");
    h.recv_at(a, now, piece_msg(block));
    h.pump_at(a, now);
    h.swarm.handle_timeout(h.t0 + Duration::from_secs(130), &mut h.rng);
    h.pump_at(a, h.t0 + Duration::from_secs(130));
    assert!(!h.swarm.is_snubbed(a, h.t0 + Duration::from_secs(130)));
    assert_eq!(h.conn(a).outstanding_requests(), 4);
}
