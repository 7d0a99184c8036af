use super::*;
use proptest::prelude::*;

/// A straightforward reference: all leaves of a file, widened to a power of two, folded up.
fn reference_root(data: &[u8]) -> Node {
    let leaves: Vec<Node> = data.chunks(LEAF_SIZE as usize).map(leaf_hash).collect();
    let mut layer = leaves;
    layer.resize(file_tree_leaves(data.len() as u64) as usize, [0; 32]);
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|p| parent(&p[0], &p[1])).collect();
    }
    layer[0]
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn pad_nodes_are_zero_leaves_folded() {
    assert_eq!(pad_node(0), [0; 32]);
    assert_eq!(pad_node(1), parent(&[0; 32], &[0; 32]));
    assert_eq!(pad_node(2), parent(&pad_node(1), &pad_node(1)));
}

#[test]
fn file_tree_leaves_round_up_to_powers_of_two() {
    assert_eq!(file_tree_leaves(0), 0);
    assert_eq!(file_tree_leaves(1), 1);
    assert_eq!(file_tree_leaves(16384), 1);
    assert_eq!(file_tree_leaves(16385), 2);
    assert_eq!(file_tree_leaves(3 * 16384), 4);
}

#[test]
fn a_single_leaf_file_root_is_its_leaf_hash() {
    let data = bytes(1000, 1);
    assert_eq!(root_from_layer(&[leaf_hash(&data)], 1, [0; 32]), leaf_hash(&data));
}

#[test]
fn piece_layer_folds_to_the_file_root() {
    // 5 pieces of 4 leaves (64 KiB) plus a partial leaf: the piece layer has 6 nodes,
    // widened with the pad node of height 2 to 8.
    let data = bytes(5 * 65536 + 100, 7);
    let piece_layer: Vec<Node> = data
        .chunks(65536)
        .map(|piece| {
            let leaves: Vec<Node> = piece.chunks(16384).map(leaf_hash).collect();
            root_from_layer(&leaves, 4, [0; 32])
        })
        .collect();
    assert_eq!(piece_layer.len(), 6);
    let width = file_tree_leaves(data.len() as u64) / 4;
    assert_eq!(root_from_layer(&piece_layer, width, pad_node(2)), reference_root(&data));
}

#[test]
fn piece_hasher_checks_v1_v2_and_both_in_one_pass() {
    let data = bytes(40000, 3);
    let leaves: Vec<Node> = data.chunks(16384).map(leaf_hash).collect();
    let v2 = V2PieceCheck { expected: root_from_layer(&leaves, 4, [0; 32]), data_len: 40000, leaves: 4 };
    // A hybrid piece: the file's bytes then zero padding, which only SHA-1 covers.
    let mut padded = data.clone();
    padded.resize(65536, 0);
    let sha1: [u8; 20] = Sha1::digest(&padded).into();
    let both = PieceCheck { sha1: Some(sha1), v2: Some(v2) };
    assert!(piece_matches(both, padded.chunks(16384)));
    assert!(piece_matches(both, padded.chunks(1000)));
    assert!(piece_matches(PieceCheck { sha1: None, v2: Some(v2) }, [&data[..]]));
    let mut bad = padded.clone();
    bad[39999] ^= 1;
    assert!(!piece_matches(both, bad.chunks(16384)));
    assert!(!piece_matches(PieceCheck { sha1: None, v2: Some(v2) }, bad.chunks(16384)));
    // Too few bytes for the v2 data is a mismatch, not a pass.
    assert!(!piece_matches(PieceCheck { sha1: None, v2: Some(v2) }, [&data[..39000]]));
    assert!(!piece_matches(PieceCheck::default(), [&data[..]]));
}

#[test]
fn a_proof_built_from_a_layer_verifies_and_a_wrong_one_does_not() {
    let data = bytes(13 * 16384 + 5, 9);
    let leaves: Vec<Node> = data.chunks(16384).map(leaf_hash).collect();
    let tree_leaves = file_tree_leaves(data.len() as u64);
    let root = reference_root(&data);
    for (index, count) in [(0u64, 1u64), (4, 4), (8, 8), (0, 16), (13, 1), (2, 2)] {
        let hashes: Vec<Node> =
            (index..index + count).map(|i| leaves.get(i as usize).copied().unwrap_or([0; 32])).collect();
        let proof = proof_from_layer(&leaves, tree_leaves, [0; 32], index, count);
        assert!(verify_hashes(&root, tree_leaves, 0, index as u32, &hashes, &proof), "{index} {count}");
        let mut wrong = hashes.clone();
        wrong[0][0] ^= 1;
        assert!(!verify_hashes(&root, tree_leaves, 0, index as u32, &wrong, &proof));
        if let Some((_, rest)) = proof.split_last() {
            assert!(!verify_hashes(&root, tree_leaves, 0, index as u32, &hashes, rest));
        }
    }
    // Misaligned or non-power-of-two ranges are refused outright.
    assert!(!verify_hashes(&root, tree_leaves, 0, 1, &leaves[1..3], &[]));
    assert!(!verify_hashes(&root, tree_leaves, 0, 0, &leaves[0..3], &[]));
}

#[test]
fn piece_layer_proofs_verify_at_their_base() {
    let data = bytes(9 * 32768 + 1, 5);
    let layer: Vec<Node> = data
        .chunks(32768)
        .map(|p| root_from_layer(&p.chunks(16384).map(leaf_hash).collect::<Vec<_>>(), 2, [0; 32]))
        .collect();
    let tree_leaves = file_tree_leaves(data.len() as u64);
    let root = reference_root(&data);
    let width = tree_leaves / 2;
    let hashes: Vec<Node> = (8..12).map(|i| layer.get(i).copied().unwrap_or(pad_node(1))).collect();
    let proof = proof_from_layer(&layer, width, pad_node(1), 8, 4);
    assert!(verify_hashes(&root, tree_leaves, 1, 8, &hashes, &proof));
}

proptest! {
    #[test]
    fn leaf_hasher_is_independent_of_how_bytes_are_split(len in 0usize..70000, cut in 1usize..20000) {
        let data = bytes(len, 11);
        let whole: Vec<Node> = data.chunks(16384).map(leaf_hash).collect();
        let mut h = LeafHasher::new();
        data.chunks(cut).for_each(|c| h.update(c));
        prop_assert_eq!(h.finish(), whole);
    }
}
