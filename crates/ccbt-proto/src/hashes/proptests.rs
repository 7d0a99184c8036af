//! Whatever the file sizes, piece lengths and peer behaviour: what [`HashServer`] answers,
//! [`PieceLayerFetcher`] accepts and reassembles exactly, and any corrupted answer is refused
//! with the peer blamed.

use std::time::{Duration, Instant};

use ccbt_wire::{HashRequest, Hashes, Message};
use proptest::prelude::*;

use super::tests::synthetic;
use super::*;
use crate::PeerKey;

/// What a peer does with a request in a simulated round.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Answer,
    Reject,
    Ignore,
    /// Flips one bit of one node of its answer (a node index and bit chosen by the test).
    Corrupt(usize, u8),
    Leave,
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        4 => Just(Behaviour::Answer),
        1 => Just(Behaviour::Reject),
        1 => Just(Behaviour::Ignore),
        1 => (any::<usize>(), 0u8..8).prop_map(|(n, b)| Behaviour::Corrupt(n, b)),
        1 => Just(Behaviour::Leave),
    ]
}

fn file_sizes() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(prop_oneof![2u32..40, 500u32..1100], 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn fetched_layers_are_exactly_the_served_ones(
        sizes in file_sizes(),
        shift in 0u32..4,
        peers in 1u64..4,
        behaviours in proptest::collection::vec(behaviour(), 1..60),
    ) {
        let piece_length = 16384u32 << shift;
        let files: Vec<_> = sizes.iter().enumerate().map(|(i, &n)| synthetic(n, piece_length, i as u8)).collect();
        let server = HashServer::new(piece_length, files.iter().map(|(r, l, len)| (*r, *len, &l[..]))).unwrap();
        let missing = files.iter().enumerate().map(|(i, (r, l, len))| MissingLayer {
            file: i,
            pieces_root: *r,
            num_pieces: l.len() as u32,
            file_length: *len,
        });
        let mut fetcher = PieceLayerFetcher::new(piece_length, missing).unwrap();
        let mut next_key = 0;
        let mut honest_peer = || { next_key += 1; PeerKey(next_key) };
        for _ in 0..peers {
            fetcher.add_peer(honest_peer());
        }
        let start = Instant::now();
        let mut now = start;
        let mut done = Vec::new();
        let mut script = behaviours.into_iter().cycle().take(400);
        for round in 0..400 {
            let mut out = Vec::new();
            let mut gone = Vec::new();
            fetcher.next_requests(now, &mut out);
            for (peer, req) in out {
                let reply = server.respond(&req);
                let Message::Hashes(good) = reply else {
                    return Err(TestCaseError::fail(format!("server refused our own request {req:?}")));
                };
                if gone.contains(&peer) {
                    continue;
                }
                // Past the scripted misbehaviour every peer answers, so the fetch must end.
                let act = if round < 40 { script.next().unwrap_or(Behaviour::Answer) } else { Behaviour::Answer };
                match act {
                    Behaviour::Answer => {
                        prop_assert_eq!(fetcher.on_hashes(peer, &good), Ok(HashesOutcome::Accepted));
                    }
                    Behaviour::Reject => prop_assert!(fetcher.on_hash_reject(now, peer, &req)),
                    Behaviour::Ignore => {}
                    Behaviour::Corrupt(n, bit) => {
                        let mut bad = good.clone();
                        let at = n % bad.nodes.len();
                        bad.nodes[at][n % 32] ^= 1 << bit;
                        prop_assert!(fetcher.on_hashes(peer, &bad).is_err());
                        // Blamed: asked nothing more; a fresh honest peer replaces it.
                        prop_assert_eq!(fetcher.in_flight(peer), 0);
                        fetcher.remove_peer(peer);
                        fetcher.add_peer(honest_peer());
                        gone.push(peer);
                    }
                    Behaviour::Leave => {
                        gone.push(peer);
                        fetcher.remove_peer(peer);
                        fetcher.add_peer(honest_peer());
                    }
                }
            }
            done.extend(std::iter::from_fn(|| fetcher.poll_completed()));
            if fetcher.is_done() {
                break;
            }
            now += Duration::from_secs(3);
        }
        prop_assert!(fetcher.is_done(), "not done: {:?}", fetcher.progress());
        prop_assert_eq!(done.len(), files.len());
        for got in done {
            let (root, layer, _) = &files[got.files[0]];
            prop_assert_eq!(&got.pieces_root, root);
            prop_assert_eq!(&got.layer, layer);
        }
    }

    #[test]
    fn every_valid_request_is_answered_with_a_verifiable_proof(
        num_pieces in 2u32..1200,
        shift in 0u32..3,
        length_log in 0u32..10,
        index_seed in any::<u32>(),
        proof_seed in any::<u32>(),
    ) {
        let piece_length = 16384u32 << shift;
        let (root, layer, len) = synthetic(num_pieces, piece_length, 3);
        let server = HashServer::new(piece_length, [(root, len, &layer[..])]).unwrap();
        let height = num_pieces.next_power_of_two().trailing_zeros();
        let length = 1u32 << length_log.min(height);
        let width = 1u32 << height;
        let index = (index_seed % (width / length)) * length;
        let full = HashRequest { pieces_root: root, base_layer: shift, index, length, proof_layers: height - 1 };
        let h = server.answer(&full).unwrap();
        let leaves = ccbt_core::merkle::file_tree_leaves(len);
        prop_assert!(ccbt_core::merkle::verify_hashes(&root, leaves, shift, index, h.base(), h.proof()));
        for (i, node) in h.base().iter().enumerate() {
            let at = index as usize + i;
            let want = layer.get(at).copied().unwrap_or(ccbt_core::merkle::pad_node(shift));
            prop_assert_eq!(node, &want);
        }
        // Shallower proofs are prefixes of the full one, as long as libtorrent's count says.
        let proof_layers = proof_seed % height;
        let part = server.answer(&HashRequest { proof_layers, ..full }).unwrap();
        prop_assert_eq!(part.proof().len() as u32, part.request.uncle_count());
        prop_assert_eq!(part.proof(), &h.proof()[..part.proof().len()]);
    }

    #[test]
    fn hostile_hashes_never_panic_or_grow_state(
        num_pieces in 2u32..1200,
        base_layer in 0u32..4,
        index in any::<u32>(),
        length in 1u32..600,
        proof_layers in 0u32..40,
        extra in 0usize..20,
        seed in any::<u8>(),
    ) {
        let (root, layer, len) = synthetic(num_pieces, 16384, 3);
        let mut fetcher = PieceLayerFetcher::new(16384, [MissingLayer {
            file: 0, pieces_root: root, num_pieces: layer.len() as u32, file_length: len,
        }]).unwrap();
        fetcher.add_peer(PeerKey(1));
        let asked = fetcher.take_requests(Instant::now(), PeerKey(1));
        let request = HashRequest { pieces_root: root, base_layer, index, length, proof_layers };
        let nodes = (0..length as usize + extra).map(|i| [seed ^ i as u8; 32]).collect();
        let outcome = fetcher.on_hashes(PeerKey(1), &Hashes { request, nodes });
        // Made-up hashes never verify; they are either not what we asked or blamed.
        prop_assert!(!matches!(outcome, Ok(HashesOutcome::Accepted)));
        prop_assert_eq!(fetcher.progress().0, 0);
        if asked.contains(&request) {
            prop_assert!(outcome.is_err());
        }
    }
}
