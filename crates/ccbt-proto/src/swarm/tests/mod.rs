//! Tests driving a `Swarm` with real `PeerConn`s fed hand-made messages (no sockets) and a fake
//! clock (one real `Instant` as the origin, offsets after it).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_core::{Bitfield, BlockRef, Lengths, BLOCK_SIZE};
use ccbt_wire::Message;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{Banned, BlockHash, Swarm, SwarmAction, SwarmOptions};

mod health;
mod hostile;
mod live;
mod page_phase;
mod unverifiable;
use crate::choker::ChokerOptions;
use crate::peer::{PeerConn, PeerConnOptions};
use crate::picker::PickerOptions;
use crate::PeerKey;

/// Pieces in the test torrent: 7 of 32 KiB (2 blocks each) and a last one of 1000 bytes.
const N: u32 = 8;
const PIECE: u32 = 32768;

/// The address of the peer with key `key` in these tests.
fn ip(key: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, key as u8))
}

fn lengths() -> Lengths {
    Lengths::new(u64::from(N - 1) * u64::from(PIECE) + 1000, PIECE).expect("valid geometry")
}

fn options() -> SwarmOptions {
    SwarmOptions {
        picker: PickerOptions::default(),
        choker: ChokerOptions::new(4),
        max_buffered_bytes: 1 << 20,
        max_hash_failures: 2,
        pex: false,
    }
}

fn conn_options(fast: bool) -> PeerConnOptions {
    PeerConnOptions { fast_extension: fast, ..PeerConnOptions::new(lengths()) }
}

/// Connection options with a fixed pipeline depth.
fn depth(d: u32) -> PeerConnOptions {
    PeerConnOptions { min_pipeline_depth: d, max_pipeline_depth: d, ..conn_options(false) }
}

fn blocks_of(piece: u32) -> Vec<BlockRef> {
    let l = lengths();
    l.blocks(l.validate_piece(piece).expect("piece")).collect()
}

fn all_blocks() -> BTreeSet<BlockRef> {
    (0..N).flat_map(blocks_of).collect()
}

/// Distinct content per block, so a block in the wrong place is noticed.
fn data(block: BlockRef) -> Bytes {
    let seed = block.piece as usize * 131 + block.offset as usize / 16384 * 17;
    Bytes::from((0..block.len as usize).map(|i| (seed + i) as u8).collect::<Vec<u8>>())
}

fn piece_msg(block: BlockRef) -> Message {
    Message::Piece { piece: block.piece, offset: block.offset, data: data(block) }
}

fn bitfield_msg(pieces: impl IntoIterator<Item = u32>) -> Message {
    let mut bf = Bitfield::new(N);
    for p in pieces {
        bf.set(p);
    }
    Message::Bitfield(Bytes::copy_from_slice(bf.as_bytes()))
}

/// A swarm, its connections keyed like the swarm knows them, a clock and a seeded RNG.
struct H {
    swarm: Swarm,
    conns: BTreeMap<PeerKey, PeerConn>,
    t0: Instant,
    rng: StdRng,
}

impl H {
    fn new(have: Bitfield, options: SwarmOptions) -> H {
        H {
            swarm: Swarm::new(lengths(), have, options),
            conns: BTreeMap::new(),
            t0: Instant::now(),
            rng: StdRng::seed_from_u64(7),
        }
    }

    fn leecher(options: SwarmOptions) -> H {
        H::new(Bitfield::new(N), options)
    }

    fn seeder(options: SwarmOptions) -> H {
        H::new(Bitfield::full(N), options)
    }

    /// Opens a connection as the engine does (our availability first), opening messages dropped.
    /// Each key connects from its own address, 127.0.0.key.
    fn add(&mut self, key: u64, options: PeerConnOptions) -> PeerKey {
        self.add_from(key, ip(key), options)
    }

    /// Opens a connection from `ip`.
    fn add_from(&mut self, key: u64, ip: IpAddr, options: PeerConnOptions) -> PeerKey {
        let key = PeerKey(key);
        let mut conn = PeerConn::new(options, self.t0);
        conn.start(self.t0, self.swarm.have(), None);
        while conn.poll_transmit().is_some() {}
        self.swarm.add_peer(key, ip);
        self.conns.insert(key, conn);
        key
    }

    /// A peer with every piece (bitfield) that has unchoked us, its interest and requests sent.
    fn seed_peer(&mut self, key: u64, options: PeerConnOptions) -> PeerKey {
        let key = self.add(key, options);
        self.recv(key, bitfield_msg(0..N));
        self.recv(key, Message::Unchoke);
        key
    }

    fn conn(&mut self, key: PeerKey) -> &mut PeerConn {
        self.conns.get_mut(&key).expect("connection")
    }

    fn recv(&mut self, key: PeerKey, msg: Message) {
        let now = self.t0;
        self.conn(key).handle_message(now, msg).expect("valid message");
    }

    /// A message from the peer at `now`.
    fn recv_at(&mut self, key: PeerKey, now: Instant, msg: Message) {
        self.conn(key).handle_message(now, msg).expect("valid message");
    }

    /// `Swarm::handle_conn` for one connection at `now`.
    fn pump_at(&mut self, key: PeerKey, now: Instant) -> Vec<SwarmAction> {
        let mut actions = Vec::new();
        let conn = self.conns.get_mut(&key).expect("connection");
        self.swarm.handle_conn(now, key, conn, &mut self.rng, &mut actions);
        actions
    }

    /// `Swarm::handle_conn` for one connection: (useless, actions).
    fn pump_full(&mut self, key: PeerKey) -> (bool, Vec<SwarmAction>) {
        let mut actions = Vec::new();
        let conn = self.conns.get_mut(&key).expect("connection");
        let useless = self.swarm.handle_conn(self.t0, key, conn, &mut self.rng, &mut actions);
        (useless, actions)
    }

    fn pump(&mut self, key: PeerKey) -> Vec<SwarmAction> {
        self.pump_full(key).1
    }

    fn tx(&mut self, key: PeerKey) -> Vec<Message> {
        let conn = self.conn(key);
        std::iter::from_fn(|| conn.poll_transmit()).collect()
    }

    /// The Requests among the connection's queued messages (the rest is dropped).
    fn requests(&mut self, key: PeerKey) -> Vec<BlockRef> {
        self.tx(key)
            .into_iter()
            .filter_map(|m| match m {
                Message::Request(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    fn unchoked(&self) -> BTreeSet<PeerKey> {
        self.conns.iter().filter(|(_, c)| !c.am_choking()).map(|(&k, _)| k).collect()
    }
}

/// The pieces of the Verify actions; panics on any other action or on blocks out of order.
fn verified_pieces(actions: Vec<SwarmAction>) -> Vec<u32> {
    let mut pieces = Vec::new();
    for action in actions {
        match action {
            SwarmAction::Verify { piece, blocks, .. } => {
                let expected: Vec<Bytes> = blocks_of(piece).into_iter().map(data).collect();
                assert_eq!(
                    blocks.concat(),
                    expected.concat(),
                    "piece {piece} handed out with its blocks in order"
                );
                pieces.push(piece);
            }
            other => panic!("unexpected action {other:?}"),
        }
    }
    pieces.sort_unstable();
    pieces
}

/// What the hash pool computes for a verify action that asks for block hashes.
pub(super) fn block_hashes(blocks: &[Bytes]) -> Vec<BlockHash> {
    use sha1::{Digest, Sha1};
    blocks.iter().flat_map(|b| b.chunks(BLOCK_SIZE as usize)).map(|b| Sha1::digest(b).into()).collect()
}

/// The Verify action for `target` among `actions`: its block hashes if it asked for them.
fn verify_of(actions: &[SwarmAction], target: u32) -> Option<Option<Vec<BlockHash>>> {
    actions.iter().find_map(|a| match a {
        SwarmAction::Verify { piece, blocks, block_hashes } if *piece == target => {
            Some(block_hashes.then(|| self::block_hashes(blocks)))
        }
        _ => None,
    })
}

#[test]
fn bitfield_interest_unchoke_requests_blocks_verify_complete() {
    let mut h = H::leecher(options());
    let a = h.add(1, conn_options(false));
    h.recv(a, bitfield_msg(0..N));
    assert!(h.pump(a).is_empty());
    // Interested at once; nothing requested while the peer chokes us.
    assert_eq!(h.tx(a), vec![Message::Interested]);

    h.recv(a, Message::Unchoke);
    assert!(h.pump(a).is_empty());
    let requested = h.requests(a);
    // The default pipeline (16) covers the whole torrent (15 blocks), each block once.
    assert_eq!(requested.len(), 15);
    assert_eq!(requested.iter().copied().collect::<BTreeSet<_>>(), all_blocks());

    // Blocks arrive in reverse order; each piece is still handed out in block order.
    for &block in requested.iter().rev() {
        h.recv(a, piece_msg(block));
    }
    let pieces = verified_pieces(h.pump(a));
    assert_eq!(pieces, (0..N).collect::<Vec<_>>());
    assert_eq!(h.swarm.buffered_bytes(), lengths().total_length());
    assert!(h.requests(a).is_empty(), "everything is awaiting verification");

    for p in 0..N - 1 {
        assert!(!h.swarm.on_piece_verified(p, None));
    }
    assert!(h.swarm.on_piece_verified(N - 1, None), "the last verified piece completes the torrent");
    assert!(h.swarm.is_complete());
    assert!(h.swarm.have().all());
    assert_eq!(h.swarm.buffered_bytes(), 0);
    assert_eq!(h.swarm.wasted_bytes(), 0);
    let (useless, actions) = h.pump_full(a);
    assert!(useless, "two seeds have nothing to trade");
    assert!(actions.is_empty());
    assert_eq!(h.tx(a), vec![Message::NotInterested]);
}

#[test]
fn no_new_piece_while_the_buffer_budget_is_spent() {
    let mut h = H::leecher(SwarmOptions { max_buffered_bytes: u64::from(PIECE), ..options() });
    let a = h.seed_peer(1, depth(2));
    h.pump(a);
    let first = h.requests(a);
    assert_eq!(first.len(), 2);
    let piece = first[0].piece;
    assert_eq!(first, blocks_of(piece));

    // The started piece's buffer is held whole from its first request.
    assert_eq!(h.swarm.buffered_bytes(), u64::from(PIECE));
    // Half a piece received: a free pipeline slot, but starting another piece would overrun.
    h.recv(a, piece_msg(first[0]));
    assert!(h.pump(a).is_empty());
    assert_eq!(h.swarm.buffered_bytes(), u64::from(PIECE));
    assert!(h.requests(a).is_empty());

    // The whole piece waits for the disk: still nothing new.
    h.recv(a, piece_msg(first[1]));
    assert_eq!(verified_pieces(h.pump(a)), vec![piece]);
    assert_eq!(h.swarm.buffered_bytes(), u64::from(PIECE));
    assert!(h.requests(a).is_empty());
    assert!(h.pump(a).is_empty());
    assert!(h.requests(a).is_empty());

    // The verification report frees the budget and requesting resumes.
    assert!(!h.swarm.on_piece_verified(piece, None));
    assert_eq!(h.swarm.buffered_bytes(), 0);
    h.pump(a);
    let next = h.requests(a);
    assert!(!next.is_empty());
    assert!(next.iter().all(|b| b.piece != piece));

    // A failed piece frees its budget too.
    let next_piece = next[0].piece;
    for &b in &next {
        h.recv(a, piece_msg(b));
    }
    assert_eq!(verified_pieces(h.pump(a)), vec![next_piece]);
    assert!(h.requests(a).is_empty());
    assert!(h.swarm.on_piece_failed(next_piece, None).is_empty());
    assert_eq!(h.swarm.buffered_bytes(), 0);
    h.pump(a);
    assert!(!h.requests(a).is_empty());
}

#[test]
fn one_pick_never_starts_more_pieces_than_the_budget_holds() {
    // A pipeline of three pieces' blocks, a budget of one and a half: one piece starts, and
    // the blocks of the others go back to the picker instead of overrunning the budget.
    let budget = u64::from(PIECE) * 3 / 2;
    let mut h = H::leecher(SwarmOptions { max_buffered_bytes: budget, ..options() });
    let a = h.seed_peer(1, depth(6));
    h.pump(a);
    let first = h.requests(a);
    let piece = first[0].piece;
    assert_eq!(first, blocks_of(piece));
    assert_eq!(h.swarm.buffered_bytes(), u64::from(PIECE));
    // The released blocks are free for the next pick once the piece is verified.
    for &b in &first {
        h.recv(a, piece_msg(b));
    }
    assert_eq!(verified_pieces(h.pump(a)), vec![piece]);
    assert!(!h.swarm.on_piece_verified(piece, None));
    h.pump(a);
    let next = h.requests(a);
    assert_eq!(next.len(), 2, "one new piece of two blocks: {next:?}");
    assert!(h.swarm.buffered_bytes() <= budget);
}

#[test]
fn endgame_cancels_reach_the_other_requester() {
    let mut h = H::leecher(options());
    let a = h.seed_peer(1, conn_options(false));
    h.pump(a);
    let from_a = h.requests(a);
    assert_eq!(from_a.len(), 15);
    assert!(h.swarm.in_endgame(), "every block is requested");

    // The second peer, idle, gets one duplicate at a time (libtorrent's rule: a duplicate is
    // asked only of a peer with nothing else outstanding, so each costs at most one block).
    let b = h.seed_peer(2, conn_options(false));
    h.pump(b);
    let from_b = h.requests(b);
    assert_eq!(from_b, vec![from_a[0]], "one duplicate, of the first block asked");
    h.pump(b);
    assert!(h.requests(b).is_empty(), "no second duplicate while one is outstanding");

    // A block from `a` makes the swarm cancel `b`'s duplicate, which the engine forwards.
    let block = from_a[0];
    h.recv(a, piece_msg(block));
    let actions = h.pump(a);
    let cancels: Vec<(PeerKey, BlockRef)> = actions
        .iter()
        .filter_map(|act| match act {
            SwarmAction::Cancel { peer, block } => Some((*peer, *block)),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, vec![(b, block)]);
    h.conn(b).cancel(block);
    assert_eq!(h.tx(b), vec![Message::Cancel(block)]);

    // Its late copy is dropped by the connection as an abandoned request: the swarm does not
    // store it twice, but counts it as wasted (the torrent's `wasted` figure).
    h.recv(b, piece_msg(block));
    assert!(h.pump(b).is_empty());
    assert_eq!(h.conn(b).stats().wasted, u64::from(block.len));
    assert_eq!(h.swarm.wasted_bytes(), u64::from(block.len));
    // Every piece is started, and each holds its whole buffer.
    assert_eq!(h.swarm.buffered_bytes(), lengths().total_length());
}

/// Two peers that each requested one block of the same (two-block) piece.
fn sharing_a_piece() -> (H, PeerKey, PeerKey, BlockRef, BlockRef) {
    let mut h = H::leecher(options());
    // Neither has the one-block last piece, so every piece needs two blocks.
    let [a, b] = [1, 2].map(|k| {
        let key = h.add(k, depth(1));
        h.recv(key, bitfield_msg(0..N - 1));
        h.recv(key, Message::Unchoke);
        key
    });
    // One block each, of the same piece: `b` continues the piece `a` started.
    h.pump(a);
    h.pump(b);
    let (ra, rb) = (h.requests(a), h.requests(b));
    assert_eq!((ra.len(), rb.len()), (1, 1));
    assert_eq!(ra[0].piece, rb[0].piece);
    (h, a, b, ra[0], rb[0])
}

fn corrupt_msg(block: BlockRef) -> Message {
    let mut bytes = data(block).to_vec();
    bytes[0] ^= 0xff;
    Message::Piece { piece: block.piece, offset: block.offset, data: Bytes::from(bytes) }
}

/// Answers every request of `peers` honestly until `target` is handed out for verification;
/// every other piece is reported verified on the way. Returns the target's block hashes, if
/// its verify action asked for them.
fn deliver_until(h: &mut H, peers: &[PeerKey], target: u32) -> Option<Vec<BlockHash>> {
    for _ in 0..50 {
        let mut actions = Vec::new();
        for &p in peers {
            for block in h.requests(p) {
                h.recv(p, piece_msg(block));
            }
            actions.extend(h.pump(p));
        }
        let hashes = verify_of(&actions, target);
        for piece in verified_pieces(actions) {
            if piece != target {
                h.swarm.on_piece_verified(piece, None);
            }
        }
        if let Some(hashes) = hashes {
            return hashes;
        }
    }
    panic!("piece {target} never completed again");
}

#[test]
fn a_piece_from_one_sender_strikes_it_and_bans_at_the_limit() {
    let (mut h, a, b, ba, _) = sharing_a_piece();
    // `a` also fetches the second block of its piece once `b` is gone.
    h.swarm.remove_peer(b);
    let piece = ba.piece;
    h.recv(a, piece_msg(ba));
    h.pump(a);
    for block in h.requests(a) {
        h.recv(a, piece_msg(block));
    }
    assert_eq!(verified_pieces(h.pump(a)), vec![piece]);
    assert!(h.swarm.on_piece_failed(piece, None).is_empty(), "one strike, below the limit of 2");
    assert!(!h.swarm.have().get(piece));
    assert_eq!(h.swarm.wasted_bytes(), u64::from(PIECE));
    // Only the buffer of the next piece `a` started is held.
    assert_eq!(h.swarm.buffered_bytes(), u64::from(PIECE));
    deliver_until(&mut h, &[a], piece);
    assert_eq!(h.swarm.on_piece_failed(piece, None), vec![Banned { ip: ip(1), failures: 2, peers: vec![a] }]);
    assert!(h.swarm.is_banned(ip(1)));
}

#[test]
fn a_mixed_failure_strikes_nobody_and_the_good_copy_names_the_liar() {
    let (mut h, a, b, ba, bb) = sharing_a_piece();
    let piece = ba.piece;
    h.recv(a, corrupt_msg(ba));
    h.recv(b, piece_msg(bb));
    let mut actions = h.pump(a);
    actions.extend(h.pump(b));
    // (Not `verified_pieces`: it checks the data, and this piece's data is corrupt.) Two senders:
    // the action asks the hash pool for block hashes (the swarm hashes nothing under the lock).
    let evidence = verify_of(&actions, piece).expect("the piece is handed out");
    assert!(evidence.is_some(), "a piece from several senders asks for block hashes");
    // Either could have lied: no strike for the honest `b`.
    assert!(h.swarm.on_piece_failed(piece, evidence).is_empty());
    assert!(h.swarm.take_banned().is_empty());
    assert_eq!(h.swarm.blame.evidence_blocks(), 2, "a hash per block is kept as evidence");
    // The piece comes again, honestly; its good data convicts `a` and only `a`.
    let good = deliver_until(&mut h, &[a, b], piece);
    assert!(good.is_some(), "a piece with evidence asks for block hashes to judge it");
    h.swarm.on_piece_verified(piece, good);
    assert_eq!(h.swarm.take_banned(), vec![Banned { ip: ip(1), failures: 2, peers: vec![a] }]);
    assert!(!h.swarm.is_banned(ip(2)));
    assert!(h.swarm.take_banned().is_empty());
    assert_eq!(h.swarm.blame.evidence_blocks(), 0);
}

#[test]
fn a_piece_from_one_sender_asks_for_no_block_hashes() {
    let (mut h, a, b, ba, _) = sharing_a_piece();
    h.swarm.remove_peer(b);
    let piece = ba.piece;
    h.recv(a, piece_msg(ba));
    h.pump(a);
    for block in h.requests(a) {
        h.recv(a, piece_msg(block));
    }
    let actions = h.pump(a);
    assert_eq!(verify_of(&actions, piece), Some(None), "one sender: its strike needs no evidence");
    // Hashes handed back anyway are not kept: a single sender is struck, not suspected.
    let hashes = block_hashes(&blocks_of(piece).into_iter().map(data).collect::<Vec<_>>());
    assert!(h.swarm.on_piece_failed(piece, Some(hashes)).is_empty());
    assert_eq!(h.swarm.strikes(ip(1)), 1);
    assert_eq!(h.swarm.blame.evidence_blocks(), 0);
}

#[test]
fn choke_releases_requests_to_another_peer() {
    let no_endgame = PickerOptions { endgame_duplicates: 1, ..PickerOptions::default() };
    let mut h = H::leecher(SwarmOptions { picker: no_endgame, ..options() });
    let a = h.seed_peer(1, conn_options(false));
    let b = h.seed_peer(2, conn_options(false));
    h.pump(a);
    let from_a = h.requests(a);
    assert_eq!(from_a.len(), 15);
    h.pump(b);
    assert!(h.requests(b).is_empty(), "everything is asked of `a`, no duplicates");

    h.recv(a, Message::Choke);
    assert!(h.pump(a).is_empty());
    assert_eq!(h.conn(a).outstanding_requests(), 0);
    assert!(h.requests(a).is_empty(), "no requests while choked");
    h.pump(b);
    let from_b: BTreeSet<BlockRef> = h.requests(b).into_iter().collect();
    assert_eq!(from_b, from_a.into_iter().collect());
}

#[test]
fn timed_out_requests_go_to_another_peer() {
    let no_endgame = PickerOptions { endgame_duplicates: 1, ..PickerOptions::default() };
    let mut h = H::leecher(SwarmOptions { picker: no_endgame, ..options() });
    let a = h.seed_peer(1, conn_options(false));
    let b = h.seed_peer(2, conn_options(false));
    h.pump(a);
    let from_a: BTreeSet<BlockRef> = h.requests(a).into_iter().collect();
    assert_eq!(from_a.len(), 15);
    h.pump(b);
    assert!(h.requests(b).is_empty());

    // `a` answers nothing for the request timeout (30 s): its requests are released.
    let later = h.t0 + Duration::from_secs(31);
    h.conn(a).handle_timeout(later).expect("not idle yet");
    assert_eq!(h.conn(a).outstanding_requests(), 0);
    assert!(h.pump(a).is_empty());
    // Only the Cancels of the timed-out requests: nothing asked of `a` again.
    assert!(h.tx(a).iter().all(|m| matches!(m, Message::Cancel(_))));
    assert_eq!(h.conn(a).outstanding_requests(), 0);
    h.pump(b);
    let from_b: BTreeSet<BlockRef> = h.requests(b).into_iter().collect();
    assert_eq!(from_b, from_a);
}

#[test]
fn requests_become_reads_only_when_we_unchoke() {
    let mut h = H::seeder(SwarmOptions { choker: ChokerOptions::new(1), ..options() });
    let a = h.add(1, conn_options(false));
    let block = blocks_of(3)[1];
    // Choked: the connection drops the request (no fast extension: silently).
    h.recv(a, Message::Request(block));
    assert!(h.pump(a).is_empty());
    assert!(h.tx(a).is_empty());

    // Interest gets the free slot at once, and then requests are served.
    h.recv(a, Message::Interested);
    assert!(h.pump(a).is_empty());
    assert_eq!(h.tx(a), vec![Message::Unchoke]);
    h.recv(a, Message::Request(block));
    let actions = h.pump(a);
    assert!(matches!(actions.as_slice(), [SwarmAction::Read { block: b }] if *b == block));
    h.conn(a).serve_block(block, data(block));
    assert_eq!(h.tx(a), vec![piece_msg(block)]);

    // The only slot is taken: a second interested peer stays choked and is not served.
    let b = h.add(2, conn_options(false));
    h.recv(b, Message::Interested);
    assert!(h.pump(b).is_empty());
    assert!(h.tx(b).is_empty());
    h.recv(b, Message::Request(block));
    assert!(h.pump(b).is_empty());
    assert!(h.tx(b).is_empty());
}

#[test]
fn remove_peer_releases_requests_and_availability() {
    let mut h = H::leecher(options());
    let a = h.add(1, conn_options(false));
    h.recv(a, bitfield_msg([0, 1, 2]));
    h.recv(a, Message::Have { piece: 5 });
    h.recv(a, Message::Unchoke);
    let b = h.add(2, conn_options(true));
    h.recv(b, Message::HaveAll);
    h.pump(a);
    h.pump(b);
    let from_a = h.requests(a);
    assert!(!from_a.is_empty());
    let avail = |h: &H| (0..N).map(|p| h.swarm.picker.availability(p)).collect::<Vec<_>>();
    assert_eq!(avail(&h), vec![2, 2, 2, 1, 1, 2, 1, 1]);
    for &block in &from_a {
        assert_eq!(h.swarm.picker.requesters(block), vec![a]);
    }

    h.swarm.remove_peer(a);
    h.conns.remove(&a);
    assert_eq!(h.swarm.peer_count(), 1);
    assert_eq!(avail(&h), vec![1; N as usize]);
    for &block in &from_a {
        assert!(h.swarm.picker.requesters(block).is_empty(), "{block:?} released");
    }
    h.swarm.picker.assert_invariants();
    // `b` (which chokes us) is the only source left; once it unchokes it gets those blocks.
    h.recv(b, Message::Unchoke);
    h.pump(b);
    let from_b: BTreeSet<BlockRef> = h.requests(b).into_iter().collect();
    assert!(from_a.iter().all(|blk| from_b.contains(blk)));

    h.swarm.remove_peer(b);
    assert_eq!(avail(&h), vec![0; N as usize]);
    assert_eq!(h.swarm.peer_count(), 0);
    // Removing twice (or an unknown key) changes nothing.
    h.swarm.remove_peer(b);
    assert_eq!(avail(&h), vec![0; N as usize]);
    h.swarm.picker.assert_invariants();
}

/// A seeding swarm with five interested peers and three upload slots.
fn five_interested() -> H {
    let mut h = H::seeder(SwarmOptions { choker: ChokerOptions::new(3), ..options() });
    for k in 1..=5 {
        let key = h.add(k, conn_options(false));
        h.recv(key, Message::Interested);
        h.pump(key);
        h.tx(key);
    }
    h
}

/// Applies rechoke changes to the connections, checking each is a real change.
fn apply(h: &mut H, changes: &[(PeerKey, bool)]) {
    for &(key, unchoke) in changes {
        let conn = h.conn(key);
        assert_eq!(conn.am_choking(), unchoke, "{key:?} changes state");
        if unchoke {
            conn.unchoke();
        } else {
            conn.choke();
        }
    }
}

#[test]
fn rechoke_respects_slots_and_reports_changes() {
    let mut h = five_interested();
    // The first three interested peers took the free slots at once.
    assert_eq!(h.unchoked(), [1, 2, 3].map(PeerKey).into_iter().collect());

    let mut now = h.t0;
    for _ in 0..10 {
        now += Duration::from_secs(10);
        let changes = h.swarm.rechoke(now, &mut h.rng);
        apply(&mut h, &changes);
        assert_eq!(h.unchoked().len(), 3);
        assert_eq!(h.swarm.peers.values().filter(|p| p.unchoked).count(), 3);
    }

    // Peers losing interest are choked at the next round; only the interested stay unchoked.
    for k in [1, 2, 3] {
        h.recv(PeerKey(k), Message::NotInterested);
        h.pump(PeerKey(k));
    }
    now += Duration::from_secs(10);
    let changes = h.swarm.rechoke(now, &mut h.rng);
    apply(&mut h, &changes);
    assert_eq!(h.unchoked(), [4, 5].map(PeerKey).into_iter().collect());
    assert!(h.swarm.rechoke(now, &mut h.rng).is_empty(), "nothing left to change");
}

#[test]
fn rechoke_is_reproducible_with_the_same_seed() {
    let run = || {
        let mut h = five_interested();
        let mut now = h.t0;
        let mut all = Vec::new();
        for _ in 0..10 {
            now += Duration::from_secs(10);
            let mut changes = h.swarm.rechoke(now, &mut h.rng);
            apply(&mut h, &changes);
            changes.sort_unstable();
            all.push(changes);
        }
        all
    };
    let first = run();
    for _ in 0..5 {
        assert_eq!(run(), first);
    }
}

#[test]
fn the_choker_runs_when_the_swarm_timer_is_due() {
    let mut h = five_interested();
    assert_eq!(h.swarm.poll_timeout(), None, "no timer before the first handle_timeout");
    let t0 = h.t0;
    let changes = h.swarm.handle_timeout(t0, &mut h.rng);
    apply(&mut h, &changes);
    let due = h.swarm.poll_timeout().expect("the choker is scheduled");
    assert_eq!(due, t0 + crate::choker::CHOKE_INTERVAL);

    // Peers losing interest change nothing before the timer is due, and everything at it.
    for k in [1, 2, 3] {
        h.recv(PeerKey(k), Message::NotInterested);
        h.pump(PeerKey(k));
    }
    assert!(h.swarm.handle_timeout(due - Duration::from_millis(1), &mut h.rng).is_empty());
    assert_eq!(h.swarm.poll_timeout(), Some(due), "an early call does not move the timer");
    let changes = h.swarm.handle_timeout(due, &mut h.rng);
    apply(&mut h, &changes);
    assert_eq!(h.unchoked(), [4, 5].map(PeerKey).into_iter().collect());
    assert_eq!(h.swarm.poll_timeout(), Some(due + crate::choker::CHOKE_INTERVAL));
}

/// A file skipped while its pieces download: their requests are cancelled, their buffers
/// freed, and a peer having only those pieces is no longer interesting.
#[test]
fn skipping_a_file_cancels_its_started_pieces_and_interest() {
    use crate::picker::{FilePriority, FileSpan, PiecePriorities};
    let mut h = H::leecher(options());
    let a = h.seed_peer(1, depth(4));
    // Two files: pieces 0-3 and pieces 4-7.
    let split = 4 * u64::from(PIECE);
    let files = [
        FileSpan { offset: 0, length: split },
        FileSpan { offset: split, length: lengths().total_length() - split },
    ];
    let priorities = |p: [FilePriority; 2]| PiecePriorities::from_files(&lengths(), &files, &p, false);
    assert!(h.swarm.set_piece_priorities(priorities([FilePriority::High, FilePriority::Low])).is_empty());
    h.pump(a);
    let first = h.requests(a);
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|b| b.piece < 4), "high-priority file first: {first:?}");
    // One block of the first piece arrives: that piece holds a buffer with data.
    h.recv(a, piece_msg(first[0]));
    assert!(h.pump(a).is_empty());
    let buffered = h.swarm.buffered_bytes();
    assert!(buffered >= u64::from(PIECE));

    // The first file is skipped: every outstanding request of it comes back as a cancel.
    let cancels: BTreeSet<BlockRef> = h
        .swarm
        .set_piece_priorities(priorities([FilePriority::Skip, FilePriority::Normal]))
        .into_iter()
        .map(|act| match act {
            SwarmAction::Cancel { peer, block } if peer == a => block,
            other => panic!("unexpected action {other:?}"),
        })
        .collect();
    let outstanding: BTreeSet<BlockRef> =
        h.requests(a).into_iter().chain(first[1..].iter().copied()).collect();
    assert_eq!(cancels, outstanding);
    assert_eq!(h.swarm.buffered_bytes(), 0, "the skipped pieces' buffers are freed");
    // The peer now gets requests for the second file only.
    for &b in &first[1..] {
        h.conn(a).cancel(b);
    }
    h.tx(a);
    h.pump(a);
    let next = h.requests(a);
    assert!(!next.is_empty());
    assert!(next.iter().all(|b| b.piece >= 4), "{next:?}");

    // A peer with only skipped pieces is not interesting.
    let b = h.add(2, conn_options(false));
    h.recv(b, bitfield_msg(0..4));
    h.pump(b);
    assert!(!h.tx(b).contains(&Message::Interested));
    // Wanted again: interest follows on the next pump.
    h.swarm.set_piece_priorities(priorities([FilePriority::Normal, FilePriority::Normal]));
    h.pump(b);
    assert!(h.tx(b).contains(&Message::Interested));
}

#[test]
fn the_choker_runs_at_the_configured_intervals() {
    let choker = ChokerOptions {
        unchoke_interval: Duration::from_secs(3),
        optimistic_unchoke_interval: Duration::from_secs(7),
        ..ChokerOptions::new(2)
    };
    let mut h = H::seeder(SwarmOptions { choker, ..options() });
    for k in 1..=5 {
        let key = h.add(k, conn_options(false));
        h.recv(key, Message::Interested);
        h.pump(key);
    }
    let t0 = h.t0;
    h.swarm.handle_timeout(t0, &mut h.rng);
    assert_eq!(h.swarm.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    assert_eq!(h.swarm.choker.options(), &choker);
}
