//! Validation of the peer's messages and the peer's requests to us.

use bytes::Bytes;
use ccbt_core::BlockRef;
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::pex::PexMessage;
use ccbt_wire::ext::ExtHandshake;
use ccbt_wire::Message;

use super::{blk, data, lengths, options, piece_msg, Harness};
use crate::peer::{PeerConnOptions, PeerError, PeerEvent, OUR_UT_METADATA, OUR_UT_PEX};

#[test]
fn invalid_piece_index_is_an_error() {
    for (msg, name) in [
        (Message::Have { piece: 11 }, "have"),
        (Message::Suggest { piece: 11 }, "suggest"),
        (Message::AllowedFast { piece: u32::MAX }, "allowed fast"),
        (Message::Request(BlockRef { piece: 11, offset: 0, len: 16384 }), "request"),
        (Message::Cancel(BlockRef { piece: 12, offset: 0, len: 16384 }), "cancel"),
        (Message::Reject(BlockRef { piece: 11, offset: 0, len: 16384 }), "reject"),
        (Message::Piece { piece: 11, offset: 0, data: Bytes::from_static(b"x") }, "piece"),
    ] {
        let mut h = Harness::opened(true);
        let piece = match &msg {
            Message::Have { piece } | Message::Suggest { piece } | Message::AllowedFast { piece } => *piece,
            Message::Request(b) | Message::Cancel(b) | Message::Reject(b) => b.piece,
            Message::Piece { piece, .. } => *piece,
            _ => unreachable!(),
        };
        assert_eq!(h.recv(1.0, msg), Err(PeerError::InvalidPiece { message: name, piece, num_pieces: 11 }));
    }
}

#[test]
fn out_of_range_block_is_an_error() {
    let bad = [
        BlockRef { piece: 0, offset: 16385, len: 16384 },
        BlockRef { piece: 10, offset: 0, len: 1001 },
        BlockRef { piece: 0, offset: 0, len: 0 },
        BlockRef { piece: 0, offset: u32::MAX, len: 2 },
    ];
    for b in bad {
        for (msg, name) in [
            (Message::Request(b), "request"),
            (Message::Cancel(b), "cancel"),
            (Message::Reject(b), "reject"),
            (
                Message::Piece {
                    piece: b.piece,
                    offset: b.offset,
                    data: Bytes::from(vec![0; b.len as usize]),
                },
                "piece",
            ),
        ] {
            let mut h = Harness::opened(true);
            let expect =
                PeerError::InvalidBlock { message: name, piece: b.piece, offset: b.offset, len: b.len };
            assert_eq!(h.recv(1.0, msg), Err(expect));
        }
    }
}

#[test]
fn fast_messages_need_fast_extension() {
    for (msg, name) in [
        (Message::Suggest { piece: 1 }, "suggest"),
        (Message::AllowedFast { piece: 1 }, "allowed fast"),
        (Message::Reject(blk(1, 0)), "reject"),
    ] {
        let mut h = Harness::opened(false);
        assert_eq!(h.recv(1.0, msg), Err(PeerError::FastExtensionNotNegotiated { message: name }));
    }
}

#[test]
fn extended_needs_extension_protocol() {
    let mut h = Harness::new(options(true, false));
    assert_eq!(
        h.recv(0.0, Message::Extended { id: 3, payload: Bytes::new() }),
        Err(PeerError::ExtensionProtocolNotNegotiated { id: 3 })
    );
    let mut h = Harness::opened(true);
    // An id we never advertised, and undecodable payloads: dropped, not errors.
    h.recv(1.0, Message::Extended { id: 3, payload: Bytes::from_static(b"x") }).unwrap();
    h.recv(1.0, Message::Extended { id: OUR_UT_METADATA, payload: Bytes::from_static(b"x") }).unwrap();
    h.recv(1.0, Message::Extended { id: OUR_UT_PEX, payload: Bytes::from_static(b"x") }).unwrap();
    h.recv(1.0, Message::Extended { id: 0, payload: Bytes::from_static(b"x") }).unwrap();
    assert_eq!(h.ev(), vec![]);
}

#[test]
fn extension_payloads_arrive_decoded() {
    let mut h = Harness::opened(true);
    let hs = ExtHandshake { p: Some(6881), ..ExtHandshake::default() };
    h.recv(1.0, Message::Extended { id: 0, payload: hs.encode() }).unwrap();
    let request = MetadataMessage::Request { piece: 2 }.encode();
    h.recv(1.0, Message::Extended { id: OUR_UT_METADATA, payload: request }).unwrap();
    // Answers to requests we never made in this phase are dropped.
    let reject = MetadataMessage::Reject { piece: 2 }.encode();
    h.recv(1.0, Message::Extended { id: OUR_UT_METADATA, payload: reject }).unwrap();
    let pex = PexMessage::default();
    h.recv(1.0, Message::Extended { id: OUR_UT_PEX, payload: pex.encode() }).unwrap();
    assert_eq!(
        h.ev(),
        vec![PeerEvent::ExtendedHandshake(hs), PeerEvent::MetadataRequest { piece: 2 }, PeerEvent::Pex(pex)]
    );
}

#[test]
fn state_messages_report_changes_only() {
    let mut h = Harness::opened(true);
    for msg in [
        Message::Unchoke,
        Message::Unchoke,
        Message::Interested,
        Message::Interested,
        Message::NotInterested,
        Message::Choke,
        Message::Choke,
        Message::Suggest { piece: 2 },
        Message::AllowedFast { piece: 4 },
        Message::AllowedFast { piece: 4 },
        Message::Port(1),
    ] {
        h.recv(1.0, msg).unwrap();
    }
    assert_eq!(
        h.ev(),
        vec![
            PeerEvent::Unchoked,
            PeerEvent::Interested(true),
            PeerEvent::Interested(false),
            PeerEvent::Choked,
            PeerEvent::Suggest(2),
            PeerEvent::AllowedFast(4),
            PeerEvent::Port(1),
        ]
    );
    assert_eq!(h.conn.allowed_fast(), &[4]);
    assert!(h.conn.peer_choking() && !h.conn.peer_interested());
}

#[test]
fn repeated_have_is_reported_once() {
    let mut h = Harness::new(options(false, false));
    h.recv(0.0, Message::Have { piece: 3 }).unwrap();
    h.recv(0.0, Message::Have { piece: 3 }).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Have(3)]);
    assert!(h.conn.peer_has().get(3));
}

#[test]
fn unrequested_blocks_are_wasted_then_an_error() {
    let mut h = Harness::opened(false);
    for i in 0..64 {
        h.recv(1.0, piece_msg(blk(i % 10, 0))).unwrap();
    }
    assert_eq!(h.ev(), vec![]);
    let s = h.conn.stats();
    assert_eq!((s.wasted, s.unrequested_blocks, s.downloaded), (64 * 16384, 64, 0));
    assert_eq!(h.recv(1.0, piece_msg(blk(0, 1))), Err(PeerError::TooManyUnrequested { count: 65 }));
}

#[test]
fn unexpected_rejects_are_counted_then_an_error() {
    let mut h = Harness::opened(true);
    for _ in 0..64 {
        h.recv(1.0, Message::Reject(blk(2, 1))).unwrap();
    }
    assert_eq!(h.conn.stats().unexpected_rejects, 64);
    assert_eq!(
        h.recv(1.0, Message::Reject(blk(2, 1))),
        Err(PeerError::TooManyUnexpectedRejects { count: 65 })
    );
}

#[test]
fn accepted_request_is_reported_and_served() {
    let mut h = Harness::serving(false);
    h.recv(1.0, Message::Request(blk(3, 1))).unwrap();
    // A duplicate is absorbed.
    h.recv(1.0, Message::Request(blk(3, 1))).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Request(blk(3, 1))]);
    assert_eq!(h.conn.queued_peer_requests(), 1);
    h.conn.serve_block(blk(3, 1), data(blk(3, 1)));
    assert_eq!(h.tx(), vec![piece_msg(blk(3, 1))]);
    assert_eq!(h.conn.stats().uploaded, 16384);
    // Served once: a second read of the same block is dropped.
    h.conn.serve_block(blk(3, 1), data(blk(3, 1)));
    assert_eq!(h.tx(), vec![]);
}

#[test]
fn cancel_then_serve_drops_the_block() {
    for fast in [false, true] {
        let mut h = Harness::serving(fast);
        h.recv(1.0, Message::Request(blk(3, 1))).unwrap();
        h.recv(1.0, Message::Cancel(blk(3, 1))).unwrap();
        h.conn.serve_block(blk(3, 1), data(blk(3, 1)));
        // BEP 6: the cancelled request is answered by a Reject.
        let expect = if fast { vec![Message::Reject(blk(3, 1))] } else { vec![] };
        assert_eq!(h.tx(), expect);
        assert_eq!(h.conn.stats().uploaded, 0);
    }
}

#[test]
fn requests_while_choked_are_rejected_with_fast_and_ignored_without() {
    for fast in [false, true] {
        let mut h = Harness::serving(fast);
        h.conn.choke();
        assert_eq!(h.tx(), vec![Message::Choke]);
        h.recv(1.0, Message::Request(blk(1, 0))).unwrap();
        assert_eq!(h.ev(), vec![]);
        let expect = if fast { vec![Message::Reject(blk(1, 0))] } else { vec![] };
        assert_eq!(h.tx(), expect);
        assert_eq!(h.conn.stats().refused_requests, 1);
    }
}

#[test]
fn allowed_fast_piece_may_be_requested_while_choked() {
    let mut h = Harness::serving(true);
    h.conn.choke();
    h.conn.allow_fast(2);
    assert_eq!(h.tx(), vec![Message::Choke, Message::AllowedFast { piece: 2 }]);
    h.recv(1.0, Message::Request(blk(2, 0))).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Request(blk(2, 0))]);
    h.conn.serve_block(blk(2, 0), data(blk(2, 0)));
    assert_eq!(h.tx(), vec![piece_msg(blk(2, 0))]);
}

#[test]
fn choke_drops_queue_rejecting_all_but_allowed_fast() {
    let mut h = Harness::serving(true);
    h.conn.allow_fast(2);
    for b in [blk(1, 0), blk(2, 0), blk(3, 1)] {
        h.recv(1.0, Message::Request(b)).unwrap();
    }
    h.tx();
    h.conn.choke();
    assert_eq!(h.tx(), vec![Message::Choke, Message::Reject(blk(1, 0)), Message::Reject(blk(3, 1))]);
    assert_eq!(h.conn.queued_peer_requests(), 1);
    // A read that finishes after the choke is dropped.
    h.conn.serve_block(blk(1, 0), data(blk(1, 0)));
    assert_eq!(h.tx(), vec![]);

    let mut h = Harness::serving(false);
    h.recv(1.0, Message::Request(blk(1, 0))).unwrap();
    h.conn.choke();
    h.conn.serve_block(blk(1, 0), data(blk(1, 0)));
    assert_eq!(h.tx(), vec![Message::Choke]);
    assert_eq!(h.conn.queued_peer_requests(), 0);
}

#[test]
fn oversized_request_or_missing_piece_is_refused() {
    let mut h = Harness::opened(true);
    h.conn.have(0);
    h.conn.unchoke();
    h.tx();
    let big = BlockRef { piece: 0, offset: 0, len: 32768 };
    h.recv(1.0, Message::Request(big)).unwrap();
    h.recv(1.0, Message::Request(blk(1, 0))).unwrap();
    assert_eq!(h.tx(), vec![Message::Reject(big), Message::Reject(blk(1, 0))]);
    assert_eq!(h.ev(), vec![]);

    // An explicit larger limit serves 32 KiB requests.
    let opts = PeerConnOptions { max_block_len: 32768, ..options(true, false) };
    let mut h = Harness::new(opts);
    h.conn.have(0);
    h.conn.unchoke();
    h.recv(1.0, Message::Request(big)).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Request(big)]);
}

#[test]
fn queue_overflow_is_refused_and_a_flood_is_an_error() {
    let opts = PeerConnOptions { max_peer_requests: 4, ..options(true, false) };
    let mut h = Harness::new(opts);
    for p in 0..11 {
        h.conn.have(p);
    }
    h.conn.unchoke();
    h.tx();
    let blocks: Vec<BlockRef> = (0..10).flat_map(|p| [blk(p, 0), blk(p, 1)]).collect();
    for b in &blocks[..4] {
        h.recv(1.0, Message::Request(*b)).unwrap();
    }
    assert_eq!(h.ev().len(), 4);
    for b in &blocks[4..8] {
        h.recv(1.0, Message::Request(*b)).unwrap();
    }
    assert_eq!(h.ev(), vec![]);
    assert_eq!(h.tx(), blocks[4..8].iter().map(|b| Message::Reject(*b)).collect::<Vec<_>>());
    assert_eq!(h.recv(1.0, Message::Request(blocks[8])), Err(PeerError::TooManyRefusedRequests { count: 5 }));
}

#[test]
fn unchoke_forgives_refused_requests() {
    let opts = PeerConnOptions { max_peer_requests: 2, ..options(false, false) };
    let mut h = Harness::new(opts);
    h.conn.have(1);
    for _ in 0..2 {
        h.recv(1.0, Message::Request(blk(1, 0))).unwrap();
    }
    h.conn.unchoke();
    h.conn.choke();
    for _ in 0..2 {
        h.recv(1.0, Message::Request(blk(1, 0))).unwrap();
    }
    assert_eq!(h.recv(1.0, Message::Request(blk(1, 0))), Err(PeerError::TooManyRefusedRequests { count: 3 }));
}

#[test]
fn serve_with_wrong_length_or_failed_read_rejects() {
    let mut h = Harness::serving(true);
    h.recv(1.0, Message::Request(blk(1, 0))).unwrap();
    h.recv(1.0, Message::Request(blk(1, 1))).unwrap();
    h.conn.serve_block(blk(1, 0), Bytes::from_static(b"short"));
    h.conn.reject_request(blk(1, 1));
    assert_eq!(h.tx(), vec![Message::Reject(blk(1, 0)), Message::Reject(blk(1, 1))]);
    assert_eq!(h.conn.queued_peer_requests(), 0);
}

#[test]
fn last_short_block_is_valid() {
    let mut h = Harness::serving(false);
    let last = blk(10, 0);
    assert_eq!(last.len, 1000);
    assert_eq!(lengths().num_pieces(), 11);
    h.recv(1.0, Message::Request(last)).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Request(last)]);
}

#[test]
fn hash_messages_become_events_and_go_out_as_given() {
    use ccbt_wire::{HashRequest, Hashes};
    let mut h = Harness::opened(true);
    let req = HashRequest { pieces_root: [3; 32], base_layer: 2, index: 0, length: 2, proof_layers: 0 };
    let hashes = Hashes { request: req, nodes: vec![[4; 32], [5; 32]] };
    h.recv(1.0, Message::HashRequest(req)).unwrap();
    h.recv(1.0, Message::Hashes(hashes.clone())).unwrap();
    h.recv(1.0, Message::HashReject(req)).unwrap();
    assert_eq!(
        h.ev(),
        vec![PeerEvent::HashRequest(req), PeerEvent::Hashes(hashes.clone()), PeerEvent::HashReject(req)]
    );
    // Only hash messages go through `send_hash_message`.
    h.conn.send_hash_message(Message::Hashes(hashes.clone()));
    h.conn.send_hash_message(Message::Unchoke);
    h.conn.send_hash_message(Message::HashReject(req));
    assert_eq!(h.tx(), vec![Message::Hashes(hashes), Message::HashReject(req)]);
}

#[test]
fn we_advertise_the_request_queue_we_keep_and_keep_it_deep() {
    // A leecher keeps at most our `reqq` requests outstanding; 500 held libtorrent's leecher
    // to ~470 MB/s on loopback where 2000 gave ~650 (docs/benchmarks.md).
    let ours = crate::swarm::our_ext_handshake(6881, None, true, "ccbt", None);
    let reqq = ExtHandshake::decode(&ours).unwrap().reqq;
    assert_eq!(reqq, Some(crate::peer::MAX_PEER_REQUESTS as u32));
    const { assert!(crate::peer::MAX_PEER_REQUESTS >= 2000) };
    let max = crate::peer::MAX_PEER_REQUESTS;
    let pieces = u32::try_from(max + 1).unwrap();
    let geometry = ccbt_core::Lengths::new(u64::from(pieces) * 16384, 16384).unwrap();
    let opts = PeerConnOptions::new(geometry);
    assert_eq!(opts.max_peer_requests, max);
    // Every one of them is queued; one more is refused.
    let mut h = Harness::new(PeerConnOptions { fast_extension: true, ..opts });
    for p in 0..pieces {
        h.conn.have(p);
    }
    h.conn.unchoke();
    h.tx();
    let block = |piece| BlockRef { piece, offset: 0, len: 16384 };
    for p in 0..pieces {
        h.recv(1.0, Message::Request(block(p))).unwrap();
    }
    assert_eq!(h.ev().len(), max);
    assert_eq!(h.tx(), vec![Message::Reject(block(pieces - 1))]);
}
