//! Timers and pipeline adaptation.

use std::time::Duration;

use ccbt_core::BlockRef;
use ccbt_wire::Message;

use super::{blk, options, piece_msg, Harness};
use crate::peer::{PeerConnOptions, PeerError, PeerEvent};

#[test]
fn keepalive_after_quiet_interval() {
    let mut h = Harness::opened(false);
    assert_eq!(h.conn.poll_timeout(), Some(h.at(90.0)));
    h.tick(89.0).unwrap();
    assert_eq!(h.tx(), vec![]);
    h.recv(89.5, Message::KeepAlive).unwrap();
    h.tick(90.0).unwrap();
    assert_eq!(h.tx(), vec![Message::KeepAlive]);
    assert_eq!(h.conn.poll_timeout(), Some(h.at(180.0)));
    // Anything we send postpones the next keep-alive.
    h.conn.set_interested(true);
    h.tick(100.0).unwrap();
    h.conn.set_interested(false);
    assert_eq!(h.conn.poll_timeout(), Some(h.at(190.0)));
}

#[test]
fn idle_peer_times_out_and_keepalive_refreshes() {
    let mut h = Harness::opened(false);
    h.tick(179.0).unwrap();
    h.recv(170.0, Message::KeepAlive).unwrap();
    h.tick(349.0).unwrap();
    assert_eq!(h.tick(350.0), Err(PeerError::Timeout { idle: Duration::from_secs(180) }));
}

#[test]
fn request_timeout_releases_cancels_and_halves_depth() {
    let mut h = Harness::unchoked(false);
    grow_pipeline(&mut h);
    let depth = h.conn.pipeline_depth();
    assert!(depth >= 40, "depth {depth}");
    h.tx();
    h.ev();
    assert!(h.request(10.0, blk(9, 0)));
    assert!(h.request(11.0, blk(9, 1)));
    h.tx();
    assert_eq!(h.conn.poll_timeout(), Some(h.at(40.0)));
    h.tick(39.9).unwrap();
    assert_eq!(h.ev(), vec![]);
    h.tick(40.0).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::RequestsReleased(vec![blk(9, 0)])]);
    assert_eq!(h.tx(), vec![Message::Cancel(blk(9, 0))]);
    assert_eq!(h.conn.pipeline_depth(), (depth / 2).max(16));
    h.tick(41.0).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::RequestsReleased(vec![blk(9, 1)])]);
    assert_eq!(h.conn.pipeline_depth(), (depth / 4).max(16));
    // A block that arrives after its release is wasted, not delivered and not abuse.
    h.recv(42.0, piece_msg(blk(9, 0))).unwrap();
    assert_eq!(h.ev(), vec![]);
    let s = h.conn.stats();
    assert_eq!((s.unrequested_blocks, s.wasted), (0, 16384));
}

/// Downloads 1 MiB/s for a few seconds: a fresh request whenever a block arrives.
fn grow_pipeline(h: &mut Harness) {
    let blocks: Vec<BlockRef> = (0..10).flat_map(|p| [blk(p, 0), blk(p, 1)]).collect();
    let mut t = 0.0;
    for round in 0..320usize {
        let b = blocks[round % blocks.len()];
        assert!(h.request(t, b));
        t += 1.0 / 64.0;
        h.recv(t, piece_msg(b)).unwrap();
    }
}

#[test]
fn pipeline_grows_with_a_fast_peer_and_stays_bounded() {
    let mut h = Harness::unchoked(false);
    assert_eq!(h.conn.pipeline_depth(), 16);
    grow_pipeline(&mut h);
    // 64 blocks per second: about 64 in flight.
    let depth = h.conn.pipeline_depth();
    assert!((56..=72).contains(&depth), "depth {depth}");

    let opts = PeerConnOptions { max_pipeline_depth: 32, ..options(false, false) };
    let mut h = Harness::new(opts);
    h.recv(0.0, Message::Unchoke).unwrap();
    grow_pipeline(&mut h);
    assert_eq!(h.conn.pipeline_depth(), 32);
}

#[test]
fn slow_peer_stays_at_min_depth() {
    let mut h = Harness::unchoked(false);
    for i in 0..10u32 {
        let b = blk(i, 0);
        assert!(h.request(f64::from(i), b));
        h.recv(f64::from(i) + 0.5, piece_msg(b)).unwrap();
    }
    assert_eq!(h.conn.pipeline_depth(), 16);
}

#[test]
fn peer_reqq_caps_the_pipeline() {
    let mut h = Harness::unchoked(false);
    h.conn.set_peer_max_requests(4);
    assert_eq!((h.conn.pipeline_depth(), h.conn.request_capacity()), (4, 4));
    grow_pipeline(&mut h);
    assert_eq!(h.conn.pipeline_depth(), 4);
    h.conn.set_peer_max_requests(250);
    assert_eq!(h.conn.pipeline_depth(), 16);
}

#[test]
fn poll_timeout_is_the_earliest_deadline() {
    let opts = PeerConnOptions {
        request_timeout: Duration::from_secs(5),
        keepalive_interval: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(20),
        ..options(false, false)
    };
    let mut h = Harness::new(opts);
    assert_eq!(h.conn.poll_timeout(), Some(h.at(20.0)));
    h.recv(0.0, Message::Unchoke).unwrap();
    h.request(2.0, blk(0, 0));
    assert_eq!(h.conn.poll_timeout(), Some(h.at(7.0)));
}
