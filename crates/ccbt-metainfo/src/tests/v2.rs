//! v2-only and hybrid torrents (BEP 52) built here from real data: roots and piece layers
//! computed with the merkle module, v1 halves padded as a hybrid creator pads them.

use ccbt_bencode::OwnedValue;
use ccbt_core::merkle::{file_tree_leaves, leaf_hash, root_from_layer, Node};
use ccbt_core::{PieceCheck, V2PieceCheck};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::{MetaVersion, MetainfoError, Torrent};

const PIECE: u32 = 32 * 1024;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect()
}

fn piece_layer(bytes: &[u8]) -> Vec<Node> {
    let per_piece = (PIECE / 16384) as u64;
    bytes
        .chunks(PIECE as usize)
        .map(|p| root_from_layer(&p.chunks(16384).map(leaf_hash).collect::<Vec<_>>(), per_piece, [0; 32]))
        .collect()
}

fn root(bytes: &[u8]) -> Node {
    let leaves: Vec<Node> = bytes.chunks(16384).map(leaf_hash).collect();
    root_from_layer(&leaves, file_tree_leaves(bytes.len() as u64), [0; 32])
}

struct Built {
    bytes: Vec<u8>,
    files: Vec<(Vec<&'static str>, Vec<u8>)>,
}

/// A v2 (or hybrid) torrent of `files` (paths below the torrent folder, in sorted order).
fn build(files: Vec<(Vec<&'static str>, Vec<u8>)>, hybrid: bool, with_layers: bool) -> Built {
    let mut tree = OwnedValue::dict();
    let mut layers = OwnedValue::dict();
    let mut v1_files = Vec::new();
    let mut stream = Vec::new();
    for (i, (path, bytes)) in files.iter().enumerate() {
        let mut node = OwnedValue::dict().with("length", bytes.len() as i64);
        if !bytes.is_empty() {
            node.insert("pieces root", root(bytes).to_vec());
        }
        if bytes.len() > PIECE as usize {
            layers.insert(root(bytes).to_vec(), piece_layer(bytes).concat());
        }
        insert_path(&mut tree, path, OwnedValue::dict().with("", node));
        v1_files.push(
            OwnedValue::dict()
                .with("length", bytes.len() as i64)
                .with("path", OwnedValue::list(path.iter().copied())),
        );
        stream.extend_from_slice(bytes);
        let tail = bytes.len() % PIECE as usize;
        if tail != 0 && i + 1 < files.len() {
            let pad = PIECE as usize - tail;
            stream.resize(stream.len() + pad, 0);
            v1_files.push(
                OwnedValue::dict()
                    .with("attr", "p")
                    .with("length", pad as i64)
                    .with("path", OwnedValue::list([".pad".to_owned(), pad.to_string()])),
            );
        }
    }
    let mut info = OwnedValue::dict()
        .with("name", "dir")
        .with("piece length", PIECE as i64)
        .with("meta version", 2i64)
        .with("file tree", tree);
    if hybrid {
        let pieces: Vec<u8> =
            stream.chunks(PIECE as usize).flat_map(|c| <[u8; 20]>::from(Sha1::digest(c))).collect();
        info.insert("files", OwnedValue::List(v1_files));
        info.insert("pieces", pieces);
    }
    let mut top = OwnedValue::dict().with("info", info);
    if with_layers {
        top.insert("piece layers", layers);
    }
    Built { bytes: top.to_bytes(), files }
}

fn insert_path(tree: &mut OwnedValue, path: &[&str], leaf: OwnedValue) {
    let OwnedValue::Dict(map) = tree else { unreachable!() };
    let (first, rest) = path.split_first().unwrap();
    if rest.is_empty() {
        map.insert(first.as_bytes().to_vec(), leaf);
    } else {
        let child = map.entry(first.as_bytes().to_vec()).or_insert_with(OwnedValue::dict);
        insert_path(child, rest, leaf);
    }
}

fn sample_files() -> Vec<(Vec<&'static str>, Vec<u8>)> {
    vec![
        (vec!["a.bin"], data(100_000, 1)),
        (vec!["b", "empty"], Vec::new()),
        (vec!["b", "small"], data(5000, 2)),
        (vec!["c.bin"], data(65_536, 3)),
    ]
}

#[test]
fn a_v2_only_torrent_is_laid_out_on_piece_boundaries() {
    let built = build(sample_files(), false, true);
    let t = Torrent::from_bytes(&built.bytes).unwrap();
    assert_eq!(t.version, MetaVersion::V2);
    let v2 = t.info_hash_v2.unwrap();
    assert_eq!(v2.0, <[u8; 32]>::from(Sha256::digest(&t.info_bytes)));
    assert_eq!(t.info_hash, v2.truncated());
    assert!(t.piece_hashes.is_empty());
    // a.bin (100,000 bytes) is padded to 4 pieces, empty and small follow; small is padded too.
    let sizes: Vec<(u64, bool)> = t.files.iter().map(|f| (f.length, f.is_padding)).collect();
    assert_eq!(
        sizes,
        [(100_000, false), (31_072, true), (0, false), (5000, false), (27_768, true), (65_536, false)]
    );
    assert_eq!(t.files[0].path, ["dir", "a.bin"]);
    assert_eq!(t.files[3].path, ["dir", "b", "small"]);
    assert_eq!(t.num_pieces(), 4 + 1 + 2);
    assert!(t.missing_piece_layers().is_empty());
    assert_eq!(t.wire_ids(), vec![t.info_hash]);
}

#[test]
fn piece_checks_verify_the_real_bytes() {
    let built = build(sample_files(), true, true);
    let t = Torrent::from_bytes(&built.bytes).unwrap();
    assert_eq!(t.version, MetaVersion::Hybrid);
    assert_eq!(t.wire_ids().len(), 2);
    let mut stream = Vec::new();
    for (i, (_, bytes)) in built.files.iter().enumerate() {
        stream.extend_from_slice(bytes);
        if i + 1 < built.files.len() && bytes.len() % PIECE as usize != 0 {
            stream.resize(stream.len().next_multiple_of(PIECE as usize), 0);
        }
    }
    for piece in 0..t.num_pieces() {
        let check = t.piece_check(piece).unwrap();
        assert!(check.sha1.is_some() && check.v2.is_some(), "piece {piece}");
        let range = (piece * PIECE) as usize..((piece + 1) * PIECE).min(stream.len() as u32) as usize;
        assert!(ccbt_core::merkle::piece_matches(check, [&stream[range.clone()]]), "piece {piece}");
        let v2_only = PieceCheck { sha1: None, ..check };
        let mut bad = stream[range].to_vec();
        bad[0] ^= 1;
        assert!(!ccbt_core::merkle::piece_matches(v2_only, [&bad[..]]));
    }
    // The small file's piece is checked against the file's root over its own 1-leaf tree.
    let small = t.piece_check(4).unwrap().v2.unwrap();
    assert_eq!(small, V2PieceCheck { expected: root(&built.files[2].1), data_len: 5000, leaves: 1 });
    assert_eq!(t.piece_check(t.num_pieces()), None);
}

#[test]
fn missing_layers_are_reported_and_accepted_only_when_they_fold_to_the_root() {
    let built = build(sample_files(), false, false);
    let mut t = Torrent::from_bytes(&built.bytes).unwrap();
    let missing = t.missing_piece_layers();
    let a_root = root(&built.files[0].1);
    let c_root = root(&built.files[3].1);
    assert_eq!(missing, vec![(0, a_root, 4), (5, c_root, 2)]);
    // Until the layer is known, a.bin's pieces cannot be checked; b/small (one piece) can.
    assert!(!t.piece_check(0).unwrap().is_checkable());
    assert!(t.piece_check(4).unwrap().is_checkable());
    let mut wrong = piece_layer(&built.files[0].1);
    wrong[3][0] ^= 1;
    assert!(matches!(t.set_piece_layer(a_root, wrong), Err(MetainfoError::InvalidPieceLayer { .. })));
    assert!(matches!(t.set_piece_layer([9; 32], vec![]), Err(MetainfoError::UnknownPiecesRoot(_))));
    t.set_piece_layer(a_root, piece_layer(&built.files[0].1)).unwrap();
    assert_eq!(t.missing_piece_layers(), vec![(5, c_root, 2)]);
    t.set_piece_layer(c_root, piece_layer(&built.files[3].1)).unwrap();
    assert!(t.missing_piece_layers().is_empty());
    assert!(t.piece_check(0).unwrap().is_checkable());
    // The layers survive a round trip through their bencoded form (as a checkpoint keeps them).
    let again = Torrent::from_parts(&t.info_bytes, Some(&t.piece_layers_bencoded())).unwrap();
    assert_eq!(again, t);
}

#[test]
fn a_piece_layer_that_does_not_match_its_root_refuses_the_torrent() {
    let mut built = build(sample_files(), false, true);
    let layer = piece_layer(&built.files[0].1).concat();
    let at = built.bytes.windows(layer.len()).position(|w| w == layer.as_slice()).unwrap();
    built.bytes[at + 5] ^= 1;
    let err = Torrent::from_bytes(&built.bytes).unwrap_err();
    assert_eq!(
        err,
        MetainfoError::InvalidPieceLayer {
            path: "dir/a.bin".into(),
            reason: "does not match the file's pieces root"
        }
    );
}

#[test]
fn a_hybrid_whose_halves_disagree_is_refused() {
    // Same v1 half, but one v2 length changed: rebuild the v2 tree from other data.
    let good = build(sample_files(), true, true);
    let mut other = sample_files();
    other[2].1 = data(5001, 2);
    let bad_v2 = build(other, false, true);
    let good_t = Torrent::from_bytes(&good.bytes).unwrap();
    let bad_t = Torrent::from_bytes(&bad_v2.bytes).unwrap();
    // Splice: v1 keys of the good hybrid with the file tree of the other.
    let good_info = ccbt_bencode::decode(&good_t.info_bytes).unwrap().to_owned_value();
    let bad_info = ccbt_bencode::decode(&bad_t.info_bytes).unwrap().to_owned_value();
    let mut mixed = good_info.clone();
    mixed.insert("file tree", bad_info.get(b"file tree").unwrap().clone());
    let bytes = OwnedValue::dict().with("info", mixed).to_bytes();
    let err = Torrent::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, MetainfoError::HybridMismatch { index: 3, .. }), "{err}");
    assert!(err.to_string().contains("length"), "{err}");
}

#[test]
fn v2_piece_lengths_must_be_powers_of_two() {
    let built = build(vec![(vec!["x"], data(10, 1))], false, true);
    let mut bytes = built.bytes.clone();
    let at = bytes.windows(22).position(|w| w == b"12:piece lengthi32768e").unwrap();
    bytes[at..at + 22].copy_from_slice(b"12:piece lengthi49152e");
    let err = Torrent::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, MetainfoError::InvalidPieceLength { value: 49152, .. }), "{err}");
}

#[test]
fn unknown_meta_versions_and_malformed_trees_are_named() {
    let info = |tree: OwnedValue, version: i64| {
        OwnedValue::dict()
            .with(
                "info",
                OwnedValue::dict()
                    .with("name", "n")
                    .with("piece length", 16384i64)
                    .with("meta version", version)
                    .with("file tree", tree),
            )
            .to_bytes()
    };
    let file = OwnedValue::dict()
        .with("", OwnedValue::dict().with("length", 5i64).with("pieces root", vec![1u8; 32]));
    assert!(Torrent::from_bytes(&info(OwnedValue::dict().with("f", file.clone()), 2)).is_ok());
    assert_eq!(
        Torrent::from_bytes(&info(OwnedValue::dict().with("f", file.clone()), 3)).unwrap_err(),
        MetainfoError::UnsupportedMetaVersion(3)
    );
    let zero = OwnedValue::dict()
        .with("", OwnedValue::dict().with("length", 5i64).with("pieces root", vec![0u8; 32]));
    assert_eq!(
        Torrent::from_bytes(&info(OwnedValue::dict().with("f", zero), 2)).unwrap_err(),
        MetainfoError::InvalidPiecesRoot { path: "f".into(), reason: "all zeros" }
    );
    let no_root = OwnedValue::dict().with("", OwnedValue::dict().with("length", 5i64));
    assert!(matches!(
        Torrent::from_bytes(&info(OwnedValue::dict().with("f", no_root), 2)),
        Err(MetainfoError::InvalidPiecesRoot { .. })
    ));
    assert_eq!(Torrent::from_bytes(&info(OwnedValue::dict(), 2)).unwrap_err(), MetainfoError::NoFiles);
    // Traversal components are sanitised like v1 paths: nothing escapes the torrent's folder.
    let evil = OwnedValue::dict().with("..", OwnedValue::dict().with("etc", file.clone())).with("b", file);
    let t = Torrent::from_bytes(&info(evil, 2)).unwrap();
    assert!(
        t.files.iter().all(|f| f.path[0] == "n" && !f.path.iter().any(|c| c == ".." || c.contains('/'))),
        "{:?}",
        t.files
    );
}

#[test]
fn deep_trees_are_refused_with_a_reason() {
    let mut tree = OwnedValue::dict()
        .with("", OwnedValue::dict().with("length", 1i64).with("pieces root", vec![1u8; 32]));
    for _ in 0..120 {
        tree = OwnedValue::dict().with("d", tree);
    }
    let bytes = OwnedValue::dict()
        .with(
            "info",
            OwnedValue::dict()
                .with("name", "n")
                .with("piece length", 16384i64)
                .with("meta version", 2i64)
                .with("file tree", tree),
        )
        .to_bytes();
    let err = Torrent::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, MetainfoError::PathTooDeep { limit: 100, .. }), "{err}");
    // 100,000 levels stop at the decoder's nesting limit, with its own message.
    let mut deep = b"d4:infod9:file tree".to_vec();
    deep.extend(b"d1:d".repeat(100_000));
    let err = Torrent::from_bytes(&deep).unwrap_err();
    assert!(err.to_string().contains("nesting deeper than"), "{err}");
}
