use std::time::{Duration, Instant};

use ccbt_core::merkle::{self, LeafHasher, Node, LEAF_SIZE};
use ccbt_wire::{HashRequest, Hashes, Message};

use super::*;
use crate::PeerKey;

const P1: PeerKey = PeerKey(1);
const P2: PeerKey = PeerKey(2);
const P3: PeerKey = PeerKey(3);

/// A file's piece layer and root, computed from its bytes.
pub(super) fn tree_from_data(data: &[u8], piece_length: u32) -> (Node, Vec<Node>) {
    let mut hasher = LeafHasher::new();
    hasher.update(data);
    let leaves = hasher.finish();
    let per_piece = (piece_length / LEAF_SIZE) as usize;
    let layer: Vec<Node> =
        leaves.chunks(per_piece).map(|c| merkle::root_from_layer(c, per_piece as u64, [0; 32])).collect();
    let pl = piece_layer(piece_length).unwrap();
    let root = merkle::root_from_layer(&layer, layer.len() as u64, merkle::pad_node(pl));
    // The same root straight from the leaves, as BEP 52 defines it.
    let tree_leaves = merkle::file_tree_leaves(data.len() as u64);
    assert_eq!(merkle::root_from_layer(&leaves, tree_leaves, [0; 32]), root);
    (root, layer)
}

/// A file of `num_pieces` pieces with arbitrary piece hashes: a real tree above its piece layer.
pub(super) fn synthetic(num_pieces: u32, piece_length: u32, seed: u8) -> (Node, Vec<Node>, u64) {
    let layer: Vec<Node> = (0..num_pieces)
        .map(|i| {
            let mut n = [seed; 32];
            n[..4].copy_from_slice(&i.to_be_bytes());
            merkle::leaf_hash(&n)
        })
        .collect();
    let pl = piece_layer(piece_length).unwrap();
    let root = merkle::root_from_layer(&layer, u64::from(num_pieces), merkle::pad_node(pl));
    let length = u64::from(num_pieces - 1) * u64::from(piece_length) + 1000;
    (root, layer, length)
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed) ^ (i >> 11) as u8).collect()
}

fn missing(file: usize, root: Node, layer: &[Node], length: u64) -> MissingLayer {
    MissingLayer { file, pieces_root: root, num_pieces: layer.len() as u32, file_length: length }
}

/// Runs the fetcher against `server` until nothing is left to ask; returns the layers.
fn run(fetcher: &mut PieceLayerFetcher, server: &HashServer, now: Instant) -> Vec<CompletedLayer> {
    let mut done = Vec::new();
    for _ in 0..100 {
        let mut out = Vec::new();
        fetcher.next_requests(now, &mut out);
        if out.is_empty() {
            break;
        }
        for (peer, req) in out {
            match server.respond(&req) {
                Message::Hashes(h) => assert_eq!(fetcher.on_hashes(peer, &h), Ok(HashesOutcome::Accepted)),
                other => panic!("server refused {req:?}: {other:?}"),
            }
        }
        done.extend(std::iter::from_fn(|| fetcher.poll_completed()));
    }
    done
}

#[test]
fn fetches_a_layer_built_from_data() {
    // 64 KiB pieces, 5 pieces and a bit: the piece layer has 6 nodes, widened to 8.
    let piece_length = 65536;
    let bytes = data(5 * 65536 + 5000, 3);
    let (root, layer) = tree_from_data(&bytes, piece_length);
    assert_eq!(layer.len(), 6);
    let len = bytes.len() as u64;
    let server = HashServer::new(piece_length, [(root, len, &layer[..])]).unwrap();
    let mut fetcher = PieceLayerFetcher::new(piece_length, [missing(4, root, &layer, len)]).unwrap();
    fetcher.add_peer(P1);
    let now = Instant::now();
    let reqs = fetcher.take_requests(now, P1);
    let want = HashRequest { pieces_root: root, base_layer: 2, index: 0, length: 8, proof_layers: 2 };
    assert_eq!(reqs, vec![want]);
    let Message::Hashes(answer) = server.respond(&reqs[0]) else { panic!("rejected") };
    // The whole layer: no uncles; the two pad nodes are the pad of height 2.
    assert!(answer.proof().is_empty());
    assert_eq!(&answer.base()[..6], &layer[..]);
    assert_eq!(answer.base()[6], merkle::pad_node(2));
    assert_eq!(fetcher.on_hashes(P1, &answer), Ok(HashesOutcome::Accepted));
    let got = fetcher.poll_completed().unwrap();
    assert_eq!(got, CompletedLayer { pieces_root: root, files: vec![4], layer });
    assert!(fetcher.is_done());
    assert_eq!(fetcher.poll_completed(), None);
    assert!(fetcher.take_requests(now, P1).is_empty());
}

#[test]
fn requests_follow_libtorrent_chunks() {
    // 600 pieces of 16 KiB: libtorrent asks (0, 512) then (512, 128), proof up to the root.
    let (root, layer, len) = synthetic(600, 16384, 1);
    let mut fetcher = PieceLayerFetcher::new(16384, [missing(0, root, &layer, len)]).unwrap();
    fetcher.add_peer(P1);
    let reqs = fetcher.take_requests(Instant::now(), P1);
    let r = |index, length| HashRequest { pieces_root: root, base_layer: 0, index, length, proof_layers: 9 };
    assert_eq!(reqs, vec![r(0, 512), r(512, 128)]);
    assert_eq!(reqs[0].uncle_count(), 1);
    assert_eq!(reqs[1].uncle_count(), 3);
    // 513 pieces: the last chunk asks for 2 nodes, never 1.
    let (root, layer, len) = synthetic(513, 16384, 1);
    let mut fetcher = PieceLayerFetcher::new(16384, [missing(0, root, &layer, len)]).unwrap();
    fetcher.add_peer(P1);
    let reqs = fetcher.take_requests(Instant::now(), P1);
    assert_eq!(reqs[1], HashRequest { pieces_root: root, base_layer: 0, index: 512, length: 2, proof_layers: 9 });
}

#[test]
fn multi_chunk_files_and_shared_roots_reassemble() {
    let piece_length = 32768;
    let (ra, la, lena) = synthetic(1300, piece_length, 1);
    let (rb, lb, lenb) = synthetic(2, piece_length, 2);
    let server = HashServer::new(piece_length, [(ra, lena, &la[..]), (rb, lenb, &lb[..])]).unwrap();
    let files = [missing(0, ra, &la, lena), missing(2, rb, &lb, lenb), missing(1, ra, &la, lena)];
    let mut fetcher = PieceLayerFetcher::new(piece_length, files).unwrap();
    for p in [P1, P2] {
        fetcher.add_peer(p);
    }
    assert_eq!(fetcher.progress(), (0, 4));
    let mut done = run(&mut fetcher, &server, Instant::now());
    done.sort_by_key(|c| c.files.clone());
    assert_eq!(done.len(), 2);
    assert_eq!(done[0], CompletedLayer { pieces_root: ra, files: vec![0, 1], layer: la });
    assert_eq!(done[1], CompletedLayer { pieces_root: rb, files: vec![2], layer: lb });
    assert_eq!(fetcher.progress(), (4, 4));
}

#[test]
fn server_proofs_match_the_core_proofs() {
    let piece_length = 65536;
    let (root, layer, len) = synthetic(37, piece_length, 9);
    let server = HashServer::new(piece_length, [(root, len, &layer[..])]).unwrap();
    let pad = merkle::pad_node(2);
    for length in [1u32, 2, 4, 8, 16, 32, 64] {
        for index in (0..64).step_by(length as usize) {
            let req = HashRequest { pieces_root: root, base_layer: 2, index, length, proof_layers: 5 };
            let h = server.answer(&req).unwrap();
            let proof = merkle::proof_from_layer(&layer, 64, pad, u64::from(index), u64::from(length));
            assert_eq!(h.proof(), &proof[..], "index {index} length {length}");
            assert!(merkle::verify_hashes(&root, merkle::file_tree_leaves(len), 2, index, h.base(), h.proof()));
            // A shallower proof is the lowest part of the full one (libtorrent asks for less
            // once it knows the nodes above).
            for proof_layers in 0..5 {
                let part = server.answer(&HashRequest { proof_layers, ..req }).unwrap();
                assert_eq!(part.base(), h.base());
                assert_eq!(part.proof(), &proof[..part.request.uncle_count() as usize]);
            }
        }
    }
}

#[test]
fn server_rejects_what_it_cannot_answer() {
    let piece_length = 65536;
    let (root, layer, len) = synthetic(37, piece_length, 9);
    let server = HashServer::new(piece_length, [(root, len, &layer[..])]).unwrap();
    let ok = HashRequest { pieces_root: root, base_layer: 2, index: 32, length: 32, proof_layers: 5 };
    assert!(server.answer(&ok).is_ok());
    let cases = [
        (HashRequest { pieces_root: [1; 32], ..ok }, HashReject::UnknownRoot),
        (HashRequest { base_layer: 0, ..ok }, HashReject::NotPieceLayer { base: 0, piece_layer: 2 }),
        (HashRequest { base_layer: 3, ..ok }, HashReject::NotPieceLayer { base: 3, piece_layer: 2 }),
        (HashRequest { length: 0, ..ok }, HashReject::BadLength(0)),
        (HashRequest { length: 3, ..ok }, HashReject::BadLength(3)),
        (HashRequest { length: 1024, ..ok }, HashReject::BadLength(1024)),
        (HashRequest { length: u32::MAX, ..ok }, HashReject::BadLength(u32::MAX)),
        (HashRequest { index: 16, ..ok }, HashReject::BadRange { index: 16, length: 32, width: 64 }),
        (HashRequest { index: 64, ..ok }, HashReject::BadRange { index: 64, length: 32, width: 64 }),
        (
            HashRequest { index: u32::MAX - 31, length: 32, ..ok },
            HashReject::BadRange { index: u32::MAX - 31, length: 32, width: 64 },
        ),
        (HashRequest { length: 128, index: 0, ..ok }, HashReject::BadRange { index: 0, length: 128, width: 64 }),
        (HashRequest { proof_layers: 6, ..ok }, HashReject::TooManyProofLayers { proof_layers: 6, height: 6 }),
        (
            HashRequest { proof_layers: u32::MAX, ..ok },
            HashReject::TooManyProofLayers { proof_layers: u32::MAX, height: 6 },
        ),
    ];
    for (req, why) in cases {
        assert_eq!(server.answer(&req), Err(why), "{req:?}");
        assert_eq!(server.respond(&req), Message::HashReject(req));
    }
}

#[test]
fn sixteen_kib_pieces_serve_block_requests() {
    // With 16 KiB pieces the piece layer is the leaves: libtorrent's block request for a
    // piece (base 0, one node) is a piece hash request and is answered.
    let bytes = data(3 * 16384 + 10, 5);
    let (root, layer) = tree_from_data(&bytes, 16384);
    let len = bytes.len() as u64;
    let server = HashServer::new(16384, [(root, len, &layer[..])]).unwrap();
    let req = HashRequest { pieces_root: root, base_layer: 0, index: 2, length: 1, proof_layers: 1 };
    let h = server.answer(&req).unwrap();
    assert_eq!(h.base(), &[merkle::leaf_hash(&bytes[32768..49152])]);
    assert_eq!(h.proof().len(), 2);
    assert!(merkle::verify_hashes(&root, 4, 0, 2, h.base(), h.proof()));
}

#[test]
fn setup_errors() {
    let (root, layer, len) = synthetic(5, 65536, 1);
    assert_eq!(piece_layer(65536), Ok(2));
    for bad in [0, 8192, 65535, 3 << 14] {
        assert_eq!(piece_layer(bad), Err(HashSetupError::BadPieceLength(bad)));
        assert!(PieceLayerFetcher::new(bad, []).is_err());
        assert!(HashServer::new(bad, []).is_err());
    }
    let wrong_count = MissingLayer { num_pieces: 4, ..missing(0, root, &layer, len) };
    assert!(matches!(PieceLayerFetcher::new(65536, [wrong_count]), Err(HashSetupError::BadPieceCount { .. })));
    let one_piece = MissingLayer { num_pieces: 1, file_length: 65536, ..missing(0, root, &layer, len) };
    assert!(matches!(PieceLayerFetcher::new(65536, [one_piece]), Err(HashSetupError::BadPieceCount { .. })));
    let other_len = MissingLayer { file: 1, file_length: len - 1, ..missing(0, root, &layer, len) };
    let conflict = PieceLayerFetcher::new(65536, [missing(0, root, &layer, len), other_len]);
    assert!(matches!(conflict, Err(HashSetupError::ConflictingRoot { .. })));
    // Server: a layer that does not fold to its root, or has the wrong size.
    let mut bad = layer.clone();
    bad[3][0] ^= 1;
    assert!(matches!(HashServer::new(65536, [(root, len, &bad[..])]), Err(HashSetupError::LayerMismatch { .. })));
    let short = &layer[..4];
    assert!(matches!(HashServer::new(65536, [(root, len, short)]), Err(HashSetupError::LayerLength { .. })));
    assert!(matches!(HashServer::new(65536, [(root, 1000, &layer[..])]), Err(HashSetupError::BadPieceCount { .. })));
}

struct Setup {
    root: Node,
    layer: Vec<Node>,
    server: HashServer,
    fetcher: PieceLayerFetcher,
    now: Instant,
}

/// One file of 1100 pieces of 16 KiB (3 chunks) and peers P1, P2.
fn setup() -> Setup {
    let (root, layer, len) = synthetic(1100, 16384, 4);
    let server = HashServer::new(16384, [(root, len, &layer[..])]).unwrap();
    let mut fetcher = PieceLayerFetcher::new(16384, [missing(0, root, &layer, len)])
        .unwrap()
        .with_timeout(Duration::from_secs(10));
    fetcher.add_peer(P1);
    fetcher.add_peer(P2);
    Setup { root, layer, server, fetcher, now: Instant::now() }
}

fn answer(s: &Setup, req: &HashRequest) -> Hashes {
    s.server.answer(req).unwrap()
}

#[test]
fn corrupted_answers_blame_the_peer_and_go_elsewhere() {
    let mut s = setup();
    let r1 = s.fetcher.take_requests(s.now, P1);
    assert_eq!(r1.len(), 2);
    let mut bad = answer(&s, &r1[0]);
    bad.nodes[7][3] ^= 0x40;
    assert!(matches!(s.fetcher.on_hashes(P1, &bad), Err(BadHashes::BadProof { index: 0, .. })));
    // P1 is asked nothing more, even for its other chunk; P2 takes over.
    assert_eq!(s.fetcher.in_flight(P1), 0);
    let r2 = s.fetcher.take_requests(s.now, P2);
    assert_eq!(r2.len(), 2);
    assert!(r2.contains(&r1[0]));
    assert!(s.fetcher.take_requests(s.now, P1).is_empty());
    // A proof of the wrong length is blamed too.
    let mut short = answer(&s, &r2[0]);
    short.nodes.pop();
    assert!(matches!(s.fetcher.on_hashes(P2, &short), Err(BadHashes::WrongProofLength { .. })));
    // A good answer from anyone is still taken, even unasked.
    assert_eq!(s.fetcher.on_hashes(P3, &answer(&s, &r1[0])), Ok(HashesOutcome::Accepted));
    assert_eq!(s.fetcher.on_hashes(P3, &answer(&s, &r1[0])), Ok(HashesOutcome::AlreadyHave));
    assert_eq!(s.fetcher.progress(), (1, 3));
}

#[test]
fn rejects_move_the_chunk_to_another_peer() {
    let mut s = setup();
    let r1 = s.fetcher.take_requests(s.now, P1);
    let r2 = s.fetcher.take_requests(s.now, P2);
    assert_eq!((r1.len(), r2.len()), (2, 1));
    // A reject for something P1 was not asked is ignored.
    assert!(!s.fetcher.on_hash_reject(s.now, P1, &r2[0]));
    assert!(s.fetcher.on_hash_reject(s.now, P1, &r1[0]));
    assert!(!s.fetcher.on_hash_reject(s.now, P1, &r1[0]));
    assert_eq!(s.fetcher.in_flight(P1), 1);
    // P2 gets it; P1 is not asked again while the avoidance lasts.
    assert_eq!(s.fetcher.take_requests(s.now, P2), vec![r1[0]]);
    assert!(s.fetcher.take_requests(s.now, P1).is_empty());
    // P2 rejects as well: nobody may be asked until the avoidance runs out.
    assert!(s.fetcher.on_hash_reject(s.now, P2, &r1[0]));
    assert!(s.fetcher.take_requests(s.now, P1).is_empty());
    assert!(s.fetcher.take_requests(s.now, P2).is_empty());
    let later = s.now + Duration::from_secs(10);
    assert_eq!(s.fetcher.next_deadline(), Some(later));
    // The other requests expired too by then; everything is handed out again.
    let mut out = Vec::new();
    s.fetcher.next_requests(later, &mut out);
    assert_eq!(out.len(), 3);
}

#[test]
fn timeouts_and_departures_free_chunks() {
    let mut s = setup();
    let r1 = s.fetcher.take_requests(s.now, P1);
    assert_eq!(s.fetcher.take_requests(s.now, P2).len(), 1);
    // P1 leaves: its chunks go to P2 as its slots free up.
    s.fetcher.remove_peer(P1);
    assert_eq!(s.fetcher.take_requests(s.now, P2), vec![r1[0]]);
    s.fetcher.add_peer(P3);
    assert_eq!(s.fetcher.take_requests(s.now, P3), vec![r1[1]]);
    // Every request times out: no chunk goes back to the peer that let it expire.
    let late = s.now + Duration::from_secs(11);
    assert_eq!(s.fetcher.take_requests(late, P2), vec![r1[1]]);
    let r3 = s.fetcher.take_requests(late, P3);
    assert_eq!(r3.len(), 2);
    assert!(!r3.contains(&r1[1]));
    // P3's late answer still counts; P2's answer for the same chunk is then redundant.
    assert_eq!(s.fetcher.on_hashes(P3, &answer(&s, &r1[1])), Ok(HashesOutcome::Accepted));
    assert_eq!(s.fetcher.in_flight(P2), 1);
    assert_eq!(s.fetcher.on_hashes(P2, &answer(&s, &r1[1])), Ok(HashesOutcome::AlreadyHave));
    assert_eq!(s.fetcher.in_flight(P2), 0);
    for r in &r3 {
        assert_eq!(s.fetcher.on_hashes(P3, &answer(&s, r)), Ok(HashesOutcome::Accepted));
    }
    let done = s.fetcher.poll_completed().expect("complete");
    assert_eq!(done.layer, s.layer);
    assert!(s.fetcher.is_done());
    assert_eq!(s.fetcher.next_deadline(), None);
}

#[test]
fn unrequested_answers_change_nothing() {
    let mut s = setup();
    let r1 = s.fetcher.take_requests(s.now, P1);
    let other = [
        HashRequest { length: 256, ..r1[0] },
        HashRequest { proof_layers: 3, ..r1[0] },
        HashRequest { index: 256, length: 256, ..r1[0] },
        HashRequest { pieces_root: [0; 32], ..r1[0] },
        HashRequest { base_layer: 1, ..r1[0] },
        HashRequest { index: 4096, ..r1[0] },
    ];
    for req in other {
        let h = Hashes { request: req, nodes: vec![[0; 32]; req.length as usize] };
        assert_eq!(s.fetcher.on_hashes(P1, &h), Ok(HashesOutcome::Unrequested));
        assert!(!s.fetcher.on_hash_reject(s.now, P1, &req));
    }
    assert_eq!(s.fetcher.in_flight(P1), 2);
    assert_eq!(s.fetcher.progress(), (0, 3));
    let _ = s.root;
}
