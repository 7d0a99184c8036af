//! Random sequences of messages (valid and invalid) and commands never panic and never break
//! the request bounds.

use std::time::Duration;

use bytes::Bytes;
use ccbt_core::{Bitfield, BlockRef};
use ccbt_wire::Message;
use proptest::prelude::*;

use super::{lengths, options, Harness};
use crate::peer::{PeerConnOptions, PeerEvent};

#[derive(Clone, Debug)]
enum Op {
    Recv(Message),
    /// The peer answers our oldest outstanding request with a Piece (or a Reject).
    Answer {
        reject: bool,
    },
    Request(BlockRef),
    Cancel(BlockRef),
    Serve(BlockRef),
    Choke(bool),
    Interested(bool),
    Have(u32),
    Reqq(u32),
    Tick(u64),
}

fn block() -> impl Strategy<Value = BlockRef> {
    (
        0u32..13,
        prop_oneof![Just(0u32), Just(16384), Just(1), Just(u32::MAX - 1)],
        prop_oneof![Just(16384u32), Just(1000), Just(0), Just(32768), Just(1)],
    )
        .prop_map(|(piece, offset, len)| BlockRef { piece, offset, len })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        (0u32..13).prop_map(|piece| Message::Have { piece }),
        (0u32..13).prop_map(|piece| Message::Suggest { piece }),
        (0u32..13).prop_map(|piece| Message::AllowedFast { piece }),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(|b| Message::Bitfield(Bytes::from(b))),
        block().prop_map(Message::Request),
        block().prop_map(Message::Cancel),
        block().prop_map(Message::Reject),
        block().prop_map(|b| Message::Piece {
            piece: b.piece,
            offset: b.offset,
            data: Bytes::from(vec![0; b.len as usize])
        }),
        any::<u16>().prop_map(Message::Port),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..8))
            .prop_map(|(id, p)| Message::Extended { id, payload: Bytes::from(p) }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => message().prop_map(Op::Recv),
        3 => any::<bool>().prop_map(|reject| Op::Answer { reject }),
        4 => block().prop_map(Op::Request),
        1 => block().prop_map(Op::Cancel),
        1 => block().prop_map(Op::Serve),
        1 => any::<bool>().prop_map(Op::Choke),
        1 => any::<bool>().prop_map(Op::Interested),
        1 => (0u32..13).prop_map(Op::Have),
        1 => (0u32..200).prop_map(Op::Reqq),
        1 => (0u64..40).prop_map(Op::Tick),
    ]
}

proptest! {
    #[test]
    fn random_sequences_keep_invariants(
        fast in any::<bool>(),
        ext in any::<bool>(),
        max_depth in 1u32..40,
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        let opts = PeerConnOptions {
            max_pipeline_depth: max_depth,
            max_peer_requests: 8,
            max_unrequested: 8,
            ..options(fast, ext)
        };
        let bound = opts.max_pipeline_depth.max(opts.min_pipeline_depth) as usize;
        let mut h = Harness::new(opts);
        let mut have = Bitfield::new(lengths().num_pieces());
        have.set(1);
        h.conn.start(h.t0, &have, Some(Bytes::from_static(b"de")));
        let mut now = 0u64;
        for op in ops {
            let t = now as f64 / 4.0;
            // Errors end a real connection; here we keep going to stress the state anyway.
            let _ = match op {
                Op::Recv(msg) => h.recv(t, msg),
                Op::Answer { reject } => {
                    let oldest = h.conn.outstanding_blocks().next();
                    match oldest {
                    Some(b) if reject => h.recv(t, Message::Reject(b)),
                    Some(b) => h.recv(t, super::piece_msg(b)),
                    None => Ok(()),
                    }
                }
                Op::Request(b) => { h.request(t, b); Ok(()) }
                Op::Cancel(b) => { h.conn.cancel(b); Ok(()) }
                Op::Serve(b) => { h.conn.serve_block(b, Bytes::from(vec![0; b.len.min(32768) as usize])); Ok(()) }
                Op::Choke(c) => { if c { h.conn.choke() } else { h.conn.unchoke() }; Ok(()) }
                Op::Interested(i) => { h.conn.set_interested(i); Ok(()) }
                Op::Have(p) => { h.conn.have(p); Ok(()) }
                Op::Reqq(r) => { h.conn.set_peer_max_requests(r); Ok(()) }
                Op::Tick(dt) => { now += dt; h.tick(now as f64 / 4.0) }
            };
            prop_assert!(h.conn.outstanding_requests() <= bound);
            prop_assert!(h.conn.outstanding_requests() <= h.conn.pipeline_depth().max(max_depth) as usize);
            prop_assert!(h.conn.queued_peer_requests() <= 8);
            prop_assert!(h.conn.poll_timeout().is_some());
            if let Some(deadline) = h.conn.poll_timeout() {
                prop_assert!(deadline <= h.at(t) + Duration::from_secs(180));
            }
            h.tx();
            h.ev();
            let _ = h.conn.stats();
        }
    }
}

fn availability_message() -> impl Strategy<Value = Message> {
    let n = lengths().num_pieces();
    let bytes = n.div_ceil(8) as usize;
    prop_oneof![
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        (0u32..n).prop_map(|piece| Message::Have { piece }),
        // Valid bitfields (spare bits clear), so sequences get past the first one.
        proptest::collection::vec(any::<bool>(), n as usize).prop_map(move |bits| {
            let mut bf = Bitfield::new(n);
            for (i, _) in bits.iter().enumerate().filter(|(_, &b)| b) {
                bf.set(i as u32);
            }
            debug_assert_eq!(bf.as_bytes().len(), bytes);
            Message::Bitfield(Bytes::copy_from_slice(bf.as_bytes()))
        }),
    ]
}

proptest! {
    /// Whatever the order of availability messages, the torrent hears of each piece at most
    /// once and of a whole availability at most once per kind, and what the connection
    /// reports equals what it believes; the first contradiction ends the connection.
    #[test]
    fn availability_sequences_reach_the_torrent_once_per_piece(
        msgs in proptest::collection::vec(availability_message(), 0..40)
    ) {
        let mut h = Harness::new(options(true, false));
        let n = lengths().num_pieces();
        let mut reported = Bitfield::new(n);
        let (mut whole, mut have_all) = (0, 0);
        for msg in msgs {
            if h.recv(0.0, msg).is_err() {
                break;
            }
            for event in h.ev() {
                match event {
                    PeerEvent::Have(p) => prop_assert!(reported.set(p), "piece {} reported twice", p),
                    PeerEvent::Bitfield(bf) => {
                        whole += 1;
                        for p in bf.iter_ones() {
                            reported.set(p);
                        }
                    }
                    PeerEvent::HaveNone => whole += 1,
                    PeerEvent::HaveAll => {
                        have_all += 1;
                        reported = Bitfield::full(n);
                    }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            prop_assert!(whole <= 1 && have_all <= 1);
            prop_assert_eq!(&reported, h.conn.peer_has());
            prop_assert_eq!(h.conn.is_seed(), reported.all());
        }
    }
}
