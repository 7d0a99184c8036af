//! Our requests, interest and other commands.

use std::time::Duration;

use bytes::Bytes;
use ccbt_core::BlockRef;
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::Message;

use super::{blk, data, options, piece_msg, Harness};
use crate::peer::PeerEvent;

#[test]
fn interest_and_choke_are_sent_on_change_only() {
    let mut h = Harness::new(options(false, false));
    h.conn.set_interested(true);
    h.conn.set_interested(true);
    h.conn.unchoke();
    h.conn.unchoke();
    h.conn.choke();
    h.conn.choke();
    h.conn.set_interested(false);
    assert_eq!(h.tx(), vec![Message::Interested, Message::Unchoke, Message::Choke, Message::NotInterested]);
    assert!(h.conn.am_choking() && !h.conn.am_interested());
}

#[test]
fn no_capacity_while_choked() {
    let mut h = Harness::opened(false);
    assert_eq!(h.conn.request_capacity(), 0);
    assert_eq!(h.conn.allowed_fast_capacity(), 0);
    assert!(!h.request(1.0, blk(0, 0)));
    assert_eq!(h.tx(), vec![]);
    h.recv(1.0, Message::Unchoke).unwrap();
    assert_eq!(h.conn.request_capacity(), 16);
}

#[test]
fn request_then_block_arrives() {
    let mut h = Harness::unchoked(false);
    assert!(h.request(1.0, blk(0, 1)));
    assert!(!h.request(1.0, blk(0, 1)), "duplicate");
    assert!(!h.request(1.0, BlockRef { piece: 0, offset: 1, len: 16384 }), "invalid");
    assert!(!h.request(1.0, BlockRef { piece: 0, offset: 0, len: 32768 }), "over 16 KiB");
    assert_eq!(h.tx(), vec![Message::Request(blk(0, 1))]);
    assert_eq!((h.conn.outstanding_requests(), h.conn.request_capacity()), (1, 15));
    h.recv(1.5, piece_msg(blk(0, 1))).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Block { block: blk(0, 1), data: data(blk(0, 1)) }]);
    let s = h.conn.stats();
    assert_eq!((s.downloaded, s.wasted, h.conn.outstanding_requests()), (16384, 0, 0));
    assert!(s.download_rate > 0);
}

#[test]
fn request_is_refused_when_pipeline_is_full() {
    let mut h = Harness::unchoked(false);
    let blocks: Vec<BlockRef> = (0..10).flat_map(|p| [blk(p, 0), blk(p, 1)]).collect();
    let sent = blocks.iter().filter(|b| h.request(1.0, **b)).count();
    assert_eq!(sent, 16);
    assert_eq!(h.conn.request_capacity(), 0);
    assert_eq!(h.tx().len(), 16);
}

#[test]
fn allowed_fast_requests_while_choked() {
    let mut h = Harness::opened(true);
    h.recv(1.0, Message::AllowedFast { piece: 5 }).unwrap();
    assert_eq!(h.conn.request_capacity(), 0);
    assert_eq!(h.conn.allowed_fast_capacity(), 16);
    assert!(!h.request(1.0, blk(4, 0)));
    assert!(h.request(1.0, blk(5, 0)));
    assert_eq!(h.conn.allowed_fast_capacity(), 15);
}

#[test]
fn choke_without_fast_releases_all_requests() {
    let mut h = Harness::unchoked(false);
    h.request(1.0, blk(0, 0));
    h.request(1.0, blk(0, 1));
    h.recv(2.0, Message::Choke).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Choked, PeerEvent::RequestsReleased(vec![blk(0, 0), blk(0, 1)])]);
    assert_eq!(h.conn.outstanding_requests(), 0);
    // A late block for a released request is wasted but not held against the peer.
    h.recv(2.0, piece_msg(blk(0, 0))).unwrap();
    assert_eq!(h.ev(), vec![]);
    let s = h.conn.stats();
    assert_eq!((s.wasted, s.unrequested_blocks), (16384, 0));
}

#[test]
fn choke_with_fast_keeps_requests_until_reject_or_piece() {
    let mut h = Harness::unchoked(true);
    h.request(1.0, blk(0, 0));
    h.request(1.0, blk(0, 1));
    h.recv(2.0, Message::Choke).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Choked]);
    assert_eq!(h.conn.outstanding_requests(), 2);
    h.recv(2.0, Message::Reject(blk(0, 0))).unwrap();
    h.recv(2.0, piece_msg(blk(0, 1))).unwrap();
    assert_eq!(
        h.ev(),
        vec![
            PeerEvent::RequestsReleased(vec![blk(0, 0)]),
            PeerEvent::Block { block: blk(0, 1), data: data(blk(0, 1)) }
        ]
    );
    assert_eq!(h.conn.outstanding_requests(), 0);
}

#[test]
fn cancel_sends_cancel_and_tolerates_the_late_answer() {
    let mut h = Harness::unchoked(true);
    h.request(1.0, blk(1, 0));
    h.request(1.0, blk(1, 1));
    h.tx();
    h.conn.cancel(blk(1, 0));
    h.conn.cancel(blk(1, 1));
    h.conn.cancel(blk(2, 0));
    assert_eq!(h.tx(), vec![Message::Cancel(blk(1, 0)), Message::Cancel(blk(1, 1))]);
    h.recv(2.0, piece_msg(blk(1, 0))).unwrap();
    h.recv(2.0, Message::Reject(blk(1, 1))).unwrap();
    assert_eq!(h.ev(), vec![]);
    let s = h.conn.stats();
    assert_eq!((s.wasted, s.unrequested_blocks, s.unexpected_rejects), (16384, 0, 0));
    // Each cancel excuses one answer only.
    h.recv(2.0, piece_msg(blk(1, 0))).unwrap();
    assert_eq!(h.conn.stats().unrequested_blocks, 1);
}

#[test]
fn have_is_always_sent_and_enables_serving() {
    let mut h = Harness::opened(false);
    h.conn.have(3);
    h.conn.have(11);
    assert_eq!(h.tx(), vec![Message::Have { piece: 3 }]);
    h.conn.unchoke();
    h.recv(1.0, Message::Request(blk(3, 0))).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Request(blk(3, 0))]);
}

#[test]
fn send_extended_requires_extension_protocol() {
    let mut h = Harness::new(options(false, true));
    h.conn.send_extended(2, Bytes::from_static(b"d1:ai1ee"));
    assert_eq!(h.tx(), vec![Message::Extended { id: 2, payload: Bytes::from_static(b"d1:ai1ee") }]);
    let mut h = Harness::new(options(false, false));
    h.conn.send_extended(2, Bytes::from_static(b"x"));
    assert_eq!(h.tx(), vec![]);
}

#[test]
fn allow_fast_needs_fast_extension_and_is_sent_once() {
    let mut h = Harness::new(options(false, false));
    h.conn.allow_fast(1);
    assert_eq!(h.tx(), vec![]);
    let mut h = Harness::new(options(true, false));
    h.conn.allow_fast(1);
    h.conn.allow_fast(1);
    h.conn.allow_fast(11);
    assert_eq!(h.tx(), vec![Message::AllowedFast { piece: 1 }]);
}

#[test]
fn queued_bytes_count_every_message_until_it_is_polled() {
    let mut h = Harness::new(options(false, true));
    assert_eq!(h.conn.queued_bytes(), 0);
    let payload = Bytes::from(vec![7u8; 16384]);
    h.conn.send_extended(2, payload.clone());
    h.conn.send_metadata(2, MetadataMessage::Data { piece: 0, total_size: 16384, data: payload.clone() });
    h.conn.send_metadata(2, MetadataMessage::Reject { piece: 1 });
    let expected: usize = h.conn.transmits.iter().map(|q| q.msg.encoded_len()).sum();
    assert!(expected > 2 * 16384);
    assert_eq!(h.conn.queued_bytes(), expected);
    assert_eq!(h.conn.queued_metadata_replies(), 1, "rejects are not counted as replies");
    h.tx();
    assert_eq!((h.conn.queued_bytes(), h.conn.queued_metadata_replies()), (0, 0));
}

#[test]
fn request_latency_is_the_smoothed_time_from_request_to_block() {
    let mut h = Harness::unchoked(false);
    assert_eq!(h.conn.stats().request_latency, None, "no block yet");
    // The first answer sets it: 800 ms.
    assert!(h.request(1.0, blk(0, 0)));
    h.recv(1.8, piece_msg(blk(0, 0))).unwrap();
    assert_eq!(h.conn.stats().request_latency, Some(Duration::from_millis(800)));
    // Later answers move it by an eighth of the difference: 800 + (1600 - 800) / 8 = 900 ms.
    assert!(h.request(2.0, blk(0, 1)));
    h.recv(3.6, piece_msg(blk(0, 1))).unwrap();
    assert_eq!(h.conn.stats().request_latency, Some(Duration::from_millis(900)));
    // Late answers to cancelled requests and unrequested blocks measure nothing.
    assert!(h.request(4.0, blk(1, 0)));
    h.conn.cancel(blk(1, 0));
    h.recv(9.0, piece_msg(blk(1, 0))).unwrap();
    h.recv(9.0, piece_msg(blk(2, 0))).unwrap();
    assert_eq!(h.conn.stats().request_latency, Some(Duration::from_millis(900)));
}

#[test]
fn protocol_errors_count_unrequested_blocks_and_unexpected_rejects() {
    let mut h = Harness::unchoked(true);
    assert_eq!(h.conn.stats().protocol_errors(), 0);
    h.recv(1.0, piece_msg(blk(2, 0))).unwrap();
    h.recv(1.0, Message::Reject(blk(3, 0))).unwrap();
    h.recv(1.0, Message::Reject(blk(3, 1))).unwrap();
    assert_eq!(h.conn.stats().protocol_errors(), 3);
}
