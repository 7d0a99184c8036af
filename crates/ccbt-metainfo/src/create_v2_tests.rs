use ccbt_core::merkle::{file_tree_leaves, leaf_hash, parent};

use super::*;
use crate::{MetaVersion, Torrent, TorrentBuilder};

const PIECE: u32 = 32 * 1024;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn content(len: u64, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Merkle nodes of each piece of `data` the way BEP 52 defines them, computed from the leaves.
fn piece_nodes(data: &[u8], piece_length: u32) -> Vec<Node> {
    let leaves: Vec<Node> = data.chunks(LEAF_SIZE as usize).map(leaf_hash).collect();
    let per_piece = (piece_length / LEAF_SIZE) as usize;
    if data.len() <= piece_length as usize {
        let width = file_tree_leaves(data.len() as u64);
        return if data.is_empty() { vec![] } else { vec![root_from_layer(&leaves, width, [0; 32])] };
    }
    leaves.chunks(per_piece).map(|c| root_from_layer(c, per_piece as u64, [0; 32])).collect()
}

/// A folder: `cd/b.bin` (40000), `empty` (0), `z` (70000): odd sizes, an empty file, a subfolder.
fn files() -> Vec<(Vec<String>, u64)> {
    vec![(strings(&["cd", "b.bin"]), 40_000), (strings(&["empty"]), 0), (strings(&["z"]), 70_000)]
}

fn builder(version: MetaVersion) -> TorrentBuilder {
    let files = files();
    let data: Vec<Vec<u8>> = files.iter().enumerate().map(|(i, (_, len))| content(*len, i as u8)).collect();
    let mut stream = Vec::new();
    for entry in aligned_layout(&files.iter().map(|f| f.1).collect::<Vec<_>>(), PIECE) {
        match entry {
            AlignedEntry::File(i) => stream.extend_from_slice(&data[i]),
            AlignedEntry::Padding(len) => stream.resize(stream.len() + len as usize, 0),
        }
    }
    let sha1 = |c: &[u8]| -> [u8; 20] { <sha1::Sha1 as sha1::Digest>::digest(c).into() };
    TorrentBuilder {
        version,
        name: "album".into(),
        files,
        piece_length: PIECE,
        piece_hashes: if version.has_v1() {
            stream.chunks(PIECE as usize).map(sha1).collect()
        } else {
            vec![]
        },
        v2_piece_hashes: data.iter().map(|d| piece_nodes(d, PIECE)).collect(),
        ..TorrentBuilder::default()
    }
}

#[test]
fn layout_pads_like_libtorrent() {
    use AlignedEntry::{File, Padding};
    let p = u64::from(PIECE);
    // One file: never padded (a single-file hybrid has no `files` list to hold a pad file).
    assert_eq!(aligned_layout(&[40_000], PIECE), [File(0)]);
    // A pad after every unaligned non-empty file, the last one included; none after an empty
    // or an aligned file.
    assert_eq!(
        aligned_layout(&[40_000, 0, p, 5_000], PIECE),
        [File(0), Padding(2 * p - 40_000), File(1), File(2), File(3), Padding(p - 5_000)]
    );
    assert_eq!(aligned_layout(&[0, 0], PIECE), [File(0), File(1)]);
    assert!(aligned_layout(&[], PIECE).is_empty());
    assert_eq!(pad_file_path(25_536), [".pad", "25536"]);
}

#[test]
fn v2_piece_lengths() {
    assert!(check_v2_piece_length(16_384).is_ok());
    assert!(check_v2_piece_length(4 << 20).is_ok());
    for bad in [0, 8_192, 49_152, 16_385] {
        assert!(
            matches!(check_v2_piece_length(bad), Err(MetainfoError::InvalidPieceLength { value, .. }) if value == i64::from(bad)),
            "{bad}"
        );
    }
}

#[test]
fn v2_only_bencoding() {
    let b = builder(MetaVersion::V2);
    let bytes = b.build().unwrap();
    let top = ccbt_bencode::decode(&bytes).unwrap();
    let info = top.get(b"info").unwrap();
    assert!(info.get(b"pieces").is_none() && info.get(b"files").is_none() && info.get(b"length").is_none());
    assert_eq!(info.get(b"meta version").and_then(|v| v.as_int()), Some(2));
    let tree = info.get(b"file tree").unwrap();
    let leaf = |path: &[&[u8]]| {
        let mut v = tree;
        for c in path {
            v = v.get(c).unwrap();
        }
        v.get(b"").unwrap().clone()
    };
    // The empty file has a length and no root.
    assert_eq!(leaf(&[b"empty"]).to_owned_value(), OwnedValue::dict().with("length", 0i64));
    let nodes = &b.v2_piece_hashes;
    // cd/b.bin: 2 pieces, a piece layer; its root folds the layer padded with 16 KiB-piece pads.
    let pad = pad_node(1);
    let root_b = parent(&nodes[0][0], &nodes[0][1]);
    let root_z = parent(&parent(&nodes[2][0], &nodes[2][1]), &parent(&nodes[2][2], &pad));
    let leaf_b = leaf(&[b"cd", b"b.bin"]);
    assert_eq!(leaf_b.get(b"pieces root").and_then(|v| v.as_bytes()), Some(&root_b[..]));
    assert_eq!(leaf_b.get(b"length").and_then(|v| v.as_int()), Some(40_000));
    assert_eq!(leaf(&[b"z"]).get(b"pieces root").and_then(|v| v.as_bytes()), Some(&root_z[..]));
    let layers = top.get(b"piece layers").unwrap();
    assert_eq!(layers.get(&root_b).and_then(|v| v.as_bytes()), Some(&nodes[0].concat()[..]));
    assert_eq!(layers.get(&root_z).and_then(|v| v.as_bytes()), Some(&nodes[2].concat()[..]));

    let t = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(t.version, MetaVersion::V2);
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&t.info_bytes).into();
    assert_eq!(t.info_hash_v2.map(|h| h.0), Some(digest));
    assert_eq!(t.info_hash, ccbt_core::InfoHashV2(digest).truncated());
    let roots: Vec<_> = t.files.iter().filter(|f| !f.is_padding).map(|f| f.pieces_root).collect();
    assert_eq!(roots, [Some(root_b), None, Some(root_z)]);
    assert_eq!(t.piece_layers.len(), 2);
    assert_eq!(b.build().unwrap(), bytes, "deterministic");
}

#[test]
fn small_info_dict_is_bencoded_exactly() {
    // One file of one leaf: the root is the leaf hash, no piece layer.
    let data = b"hello v2";
    let b = TorrentBuilder {
        version: MetaVersion::Hybrid,
        name: "h.txt".into(),
        files: vec![(vec![], data.len() as u64)],
        piece_length: 16_384,
        piece_hashes: vec![<sha1::Sha1 as sha1::Digest>::digest(data).into()],
        v2_piece_hashes: vec![vec![leaf_hash(data)]],
        ..TorrentBuilder::default()
    };
    let bytes = b.build().unwrap();
    let mut expected = b"d4:infod9:file treed5:h.txtd0:d6:lengthi8e11:pieces root32:".to_vec();
    expected.extend_from_slice(&leaf_hash(data));
    expected
        .extend_from_slice(b"eee6:lengthi8e12:meta versioni2e4:name5:h.txt12:piece lengthi16384e6:pieces20:");
    expected.extend_from_slice(&b.piece_hashes[0]);
    expected.extend_from_slice(b"e12:piece layersdee");
    assert_eq!(bytes, expected, "{}", String::from_utf8_lossy(&bytes));
    let t = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(t.version, MetaVersion::Hybrid);
    assert!(t.single_file);
}

/// A v1 `files` entry: `attr`, `length`, `path`.
type V1File<'a> = (Option<&'a [u8]>, i64, Vec<&'a [u8]>);

#[test]
fn hybrid_has_padded_v1_files() {
    let b = builder(MetaVersion::Hybrid);
    let bytes = b.build().unwrap();
    let top = ccbt_bencode::decode(&bytes).unwrap();
    let info = top.get(b"info").unwrap();
    let files = info.get(b"files").and_then(|v| v.as_list()).unwrap();
    let described: Vec<V1File> = files
        .iter()
        .map(|f| {
            let path = f.get(b"path").and_then(|p| p.as_list()).unwrap();
            (
                f.get(b"attr").and_then(|a| a.as_bytes()),
                f.get(b"length").and_then(|l| l.as_int()).unwrap(),
                path.iter().map(|c| c.as_bytes().unwrap()).collect(),
            )
        })
        .collect();
    let p: &[u8] = b"p";
    assert_eq!(
        described,
        [
            (None, 40_000, vec![&b"cd"[..], b"b.bin"]),
            (Some(p), 25_536, vec![b".pad", b"25536"]),
            (None, 0, vec![b"empty"]),
            (None, 70_000, vec![b"z"]),
            (Some(p), 28_304, vec![b".pad", b"28304"]),
        ]
    );
    assert_eq!(info.get(b"pieces").and_then(|v| v.as_bytes()).map(<[u8]>::len), Some(5 * 20));
    let t = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(t.version, MetaVersion::Hybrid);
    assert!(t.info_hash_v2.is_some());
    assert_eq!(t.piece_hashes, b.piece_hashes);
    assert_eq!(t.total_length, 5 * u64::from(PIECE));
}

#[test]
fn bad_v2_builders_are_refused() {
    let mut b = builder(MetaVersion::V2);
    b.piece_length = 49_152;
    assert!(matches!(b.build(), Err(MetainfoError::InvalidPieceLength { value: 49_152, .. })));

    let mut b = builder(MetaVersion::V2);
    b.files.swap(0, 2);
    b.v2_piece_hashes.swap(0, 2);
    assert!(matches!(b.build(), Err(MetainfoError::InvalidFileTree { path, .. }) if path == "empty"));

    let mut b = builder(MetaVersion::V2);
    b.files[1].0 = strings(&["cd"]);
    b.files.swap(0, 1);
    b.v2_piece_hashes.swap(0, 1);
    assert!(
        matches!(b.build(), Err(MetainfoError::InvalidFileTree { path, reason }) if path == "cd/b.bin" && reason.contains("folder"))
    );

    let mut b = builder(MetaVersion::Hybrid);
    b.v2_piece_hashes[2].pop();
    assert!(matches!(b.build(), Err(MetainfoError::InvalidPieceLayer { path, .. }) if path == "z"));
    let mut b = builder(MetaVersion::V2);
    b.v2_piece_hashes.truncate(1);
    assert!(matches!(b.build(), Err(MetainfoError::InvalidPieceLayer { path, .. }) if path == "z"));

    let mut b = builder(MetaVersion::Hybrid);
    b.piece_hashes.pop();
    assert!(matches!(b.build(), Err(MetainfoError::PieceCountMismatch { .. })));
}

#[test]
fn executable_files_are_marked_in_both_parts() {
    let mut b = builder(MetaVersion::Hybrid);
    b.executable = vec![false, false, true];
    let bytes = b.build().unwrap();
    let top = ccbt_bencode::decode(&bytes).unwrap();
    let info = top.get(b"info").unwrap();
    let files = info.get(b"files").and_then(|v| v.as_list()).unwrap();
    let attrs: Vec<Option<&[u8]>> = files.iter().map(|f| f.get(b"attr").and_then(|a| a.as_bytes())).collect();
    assert_eq!(attrs, [None, Some(&b"p"[..]), None, Some(b"x"), Some(b"p")]);
    let tree = info.get(b"file tree").unwrap();
    let attr = |name: &[u8]| tree.get(name).and_then(|f| f.get(b"")).and_then(|l| l.get(b"attr")).cloned();
    assert_eq!(attr(b"z").and_then(|a| a.as_bytes()), Some(&b"x"[..]));
    assert!(attr(b"empty").is_none());
    assert!(Torrent::from_bytes(&bytes).is_ok());

    // v1 torrents too, single-file (at the top of the info dictionary) and multi-file.
    let single = TorrentBuilder {
        name: "run.sh".into(),
        files: vec![(vec![], 10)],
        piece_length: 16_384,
        piece_hashes: vec![[0; 20]],
        executable: vec![true],
        ..TorrentBuilder::default()
    };
    let bytes = single.build().unwrap();
    let info = ccbt_bencode::decode(&bytes).unwrap().get(b"info").unwrap().to_owned_value();
    assert_eq!(info.get(b"attr"), Some(&OwnedValue::bytes("x")));
    let multi = TorrentBuilder {
        name: "bin".into(),
        files: vec![(strings(&["a"]), 10), (strings(&["b"]), 10)],
        executable: vec![false, true],
        ..single
    };
    let bytes = multi.build().unwrap();
    let info = ccbt_bencode::decode(&bytes).unwrap().get(b"info").unwrap().to_owned_value();
    let Some(OwnedValue::List(files)) = info.get(b"files") else { panic!("no files") };
    assert_eq!(files[0].get(b"attr"), None);
    assert_eq!(files[1].get(b"attr"), Some(&OwnedValue::bytes("x")));
}
