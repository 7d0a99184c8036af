//! Hostile peers against the swarm: each test asserts a bound (bytes queued or buffered, bans),
//! never timing.

use bytes::Bytes;
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::ExtHandshake;
use ccbt_wire::Message;

use super::*;
use crate::peer::OUR_UT_METADATA;
use crate::swarm::ext::MAX_QUEUED_METADATA_REPLIES;

/// An info dictionary of 40 metadata pieces.
const METADATA_LEN: usize = 40 * 16384;

#[test]
fn a_metadata_request_flood_queues_a_bounded_number_of_replies() {
    let mut h = H::seeder(options());
    h.swarm.set_metadata(Bytes::from(vec![b'x'; METADATA_LEN]));
    let a = h.add(2, PeerConnOptions { extension_protocol: true, ..conn_options(true) });
    let hs = ExtHandshake { m: vec![("ut_metadata".to_string(), 3)], ..ExtHandshake::default() };
    h.recv(a, Message::Extended { id: 0, payload: hs.encode() });
    // Thousands of requests in one read, and the peer never reads our replies.
    for i in 0..4000u32 {
        let payload = MetadataMessage::Request { piece: i % 40 }.encode();
        h.recv(a, Message::Extended { id: OUR_UT_METADATA, payload });
    }
    h.pump(a);
    let conn = h.conn(a);
    assert_eq!(conn.queued_metadata_replies(), MAX_QUEUED_METADATA_REPLIES);
    // The replies plus 4000 small rejects: far from 4000 x 16 KiB.
    let bound = MAX_QUEUED_METADATA_REPLIES as usize * (16384 + 100) + 4000 * 64;
    assert!(conn.queued_bytes() <= bound, "{} bytes queued", conn.queued_bytes());
    let sent = h.tx(a);
    let mut data = 0;
    for msg in &sent {
        let Message::Extended { id: 3, payload } = msg else { panic!("unexpected {msg:?}") };
        match MetadataMessage::decode(payload.clone()).expect("our own encoding") {
            MetadataMessage::Data { .. } => data += 1,
            MetadataMessage::Reject { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((data, sent.len()), (MAX_QUEUED_METADATA_REPLIES, 4000));
    // Once the queue drained (the peer read), requests are served again.
    let payload = MetadataMessage::Request { piece: 1 }.encode();
    h.recv(a, Message::Extended { id: OUR_UT_METADATA, payload });
    h.pump(a);
    assert_eq!(h.conn(a).queued_metadata_replies(), 1);
}

#[test]
fn a_piece_bigger_than_the_buffer_budget_still_downloads_one_at_a_time() {
    let mut h = H::leecher(SwarmOptions { max_buffered_bytes: u64::from(PIECE) / 2, ..options() });
    let a = h.seed_peer(1, depth(4));
    h.pump(a);
    let first = h.requests(a);
    let piece = first[0].piece;
    assert_eq!(first, blocks_of(piece), "nothing buffered: one piece starts, and only one");
    assert_eq!(h.swarm.buffered_bytes(), u64::from(PIECE));
    for &b in &first {
        h.recv(a, piece_msg(b));
    }
    assert_eq!(verified_pieces(h.pump(a)), vec![piece]);
    assert!(h.requests(a).is_empty(), "the piece waits for the disk: nothing new starts");
    h.swarm.on_piece_verified(piece, None);
    assert_eq!(h.swarm.buffered_bytes(), 0);
    h.pump(a);
    let next = h.requests(a);
    assert!(!next.is_empty() && next.iter().all(|b| b.piece == next[0].piece && b.piece != piece));
}

#[test]
fn a_stored_block_does_not_pin_the_read_buffer_and_counts_its_whole_piece() {
    let mut h = H::leecher(options());
    let a = h.seed_peer(1, depth(1));
    h.pump(a);
    let block = h.requests(a)[0];
    // The block arrives in the middle of a 1 MiB read buffer, as the engine slices it.
    let mut read = vec![0u8; 1 << 20];
    read[4096..4096 + block.len as usize].copy_from_slice(&data(block));
    let read = Bytes::from(read);
    let slice = read.slice(4096..4096 + block.len as usize);
    h.recv(a, Message::Piece { piece: block.piece, offset: block.offset, data: slice });
    h.pump(a);
    assert!(read.try_into_mut().is_ok(), "no stored block refers to the read buffer");
    // The budget counts the piece's buffer, allocated whole.
    assert_eq!(h.swarm.buffered_bytes(), u64::from(PIECE));
}

#[test]
fn a_started_piece_whose_requests_all_go_back_frees_its_buffer() {
    let mut h = H::leecher(options());
    let a = h.seed_peer(1, depth(2));
    h.pump(a);
    assert_eq!(h.requests(a).len(), 2);
    assert_eq!(h.swarm.buffered_bytes(), u64::from(PIECE));
    h.swarm.remove_peer(a);
    assert_eq!(h.swarm.buffered_bytes(), 0);
}

/// Delivers a whole piece from `peer` with its first block corrupt; returns the piece.
fn deliver_bad_piece(h: &mut H, peer: PeerKey) -> u32 {
    h.pump(peer);
    let blocks = h.requests(peer);
    let piece = blocks[0].piece;
    assert_eq!(blocks, blocks_of(piece));
    h.recv(peer, corrupt_msg(blocks[0]));
    h.recv(peer, piece_msg(blocks[1]));
    let handed: Vec<u32> = h
        .pump(peer)
        .into_iter()
        .filter_map(|a| match a {
            SwarmAction::Verify { piece, .. } => Some(piece),
            _ => None,
        })
        .collect();
    assert_eq!(handed, vec![piece]);
    piece
}

#[test]
fn strikes_follow_the_address_across_disconnects_and_new_peer_ids() {
    let mut h = H::leecher(options());
    let liar = ip(9);
    let first = h.add_from(1, liar, depth(2));
    h.recv(first, bitfield_msg(0..N));
    h.recv(first, Message::Unchoke);
    let piece = deliver_bad_piece(&mut h, first);
    // The liar leaves before the hash result.
    h.swarm.remove_peer(first);
    h.conns.remove(&first);
    assert!(h.swarm.on_piece_failed(piece, None).is_empty());
    assert_eq!(h.swarm.strikes(liar), 1);

    // Back with a new connection (and peer id): the strike is still there.
    let second = h.add_from(2, liar, depth(2));
    h.recv(second, bitfield_msg(0..N));
    h.recv(second, Message::Unchoke);
    let piece = deliver_bad_piece(&mut h, second);
    assert_eq!(
        h.swarm.on_piece_failed(piece, None),
        vec![Banned { ip: liar, failures: 2, peers: vec![second] }]
    );
    assert!(h.swarm.is_banned(liar));
    assert_eq!(h.swarm.banned_ips().collect::<Vec<_>>(), vec![liar]);
    assert!(!h.swarm.is_banned(ip(1)));
}

/// A torrent of two 16 MiB pieces: bigger than the 8 MiB of evidence the swarm used to keep.
mod big_pieces {
    use super::*;

    const BIG: u32 = 16 << 20;

    fn big_lengths() -> Lengths {
        Lengths::new(2 * u64::from(BIG), BIG).expect("valid geometry")
    }

    fn block_data(block: BlockRef, corrupt: bool) -> Bytes {
        let mut bytes = vec![(block.offset / 16384) as u8; block.len as usize];
        if corrupt {
            bytes[0] ^= 0xff;
        }
        Bytes::from(bytes)
    }

    struct Big {
        swarm: Swarm,
        conns: Vec<(PeerKey, PeerConn)>,
        t0: Instant,
        rng: StdRng,
    }

    impl Big {
        fn new() -> Big {
            let options = SwarmOptions { max_buffered_bytes: 64 << 20, ..options() };
            let mut big = Big {
                swarm: Swarm::new(big_lengths(), Bitfield::new(2), options),
                conns: Vec::new(),
                t0: Instant::now(),
                rng: StdRng::seed_from_u64(3),
            };
            for k in 1..=2u64 {
                let opts = PeerConnOptions {
                    min_pipeline_depth: 64,
                    max_pipeline_depth: 64,
                    ..PeerConnOptions::new(big_lengths())
                };
                let mut conn = PeerConn::new(opts, big.t0);
                conn.start(big.t0, &Bitfield::new(2), None);
                big.swarm.add_peer(PeerKey(k), ip(k));
                let full = Bitfield::full(2);
                conn.handle_message(big.t0, Message::Bitfield(Bytes::copy_from_slice(full.as_bytes())))
                    .unwrap();
                conn.handle_message(big.t0, Message::Unchoke).unwrap();
                big.conns.push((PeerKey(k), conn));
            }
            big
        }

        /// Both peers answer their requests (peer 1 corrupting every block of `piece` when
        /// `lie`) until `piece` is handed out for verification. Returns the block hashes the
        /// hash pool computes when the verify action asks for them.
        fn deliver(&mut self, piece: u32, lie: bool) -> Option<Vec<BlockHash>> {
            for _ in 0..1000 {
                for (key, conn) in &mut self.conns {
                    let mut actions = Vec::new();
                    self.swarm.handle_conn(self.t0, *key, conn, &mut self.rng, &mut actions);
                    if let Some(hashes) = verify_of(&actions, piece) {
                        return hashes;
                    }
                    let requests: Vec<BlockRef> = std::iter::from_fn(|| conn.poll_transmit())
                        .filter_map(|m| match m {
                            Message::Request(b) => Some(b),
                            _ => None,
                        })
                        .collect();
                    for b in requests {
                        let corrupt = lie && key.0 == 1 && b.piece == piece;
                        let msg =
                            Message::Piece { piece: b.piece, offset: b.offset, data: block_data(b, corrupt) };
                        conn.handle_message(self.t0, msg).unwrap();
                    }
                }
            }
            panic!("piece {piece} never completed");
        }
    }

    #[test]
    fn a_liar_sharing_a_big_piece_is_found_by_block_hashes() {
        let mut big = Big::new();
        let bad = big.deliver(0, true);
        assert!(big.swarm.on_piece_failed(0, bad).is_empty(), "two senders: nobody struck yet");
        assert_eq!(big.swarm.blame.evidence_blocks(), 1024, "a hash per block is kept as evidence");
        let good = big.deliver(0, false);
        big.swarm.on_piece_verified(0, good);
        let banned = big.swarm.take_banned();
        assert_eq!(banned, vec![Banned { ip: ip(1), failures: 2, peers: vec![PeerKey(1)] }]);
        assert_eq!(big.swarm.blame.evidence_blocks(), 0);
    }
}
