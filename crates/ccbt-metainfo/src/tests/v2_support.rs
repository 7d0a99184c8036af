//! Builders for BitTorrent v2 and hybrid test torrents (BEP 52): file trees, piece layers that
//! fold to their roots, and hybrids whose v1 half pads every file to a piece boundary, so the
//! corpus and hostile-input tests build every fixture in code instead of vendoring binaries.

use std::collections::BTreeMap;

use ccbt_bencode::OwnedValue;
use ccbt_core::merkle::{
    file_tree_leaves, leaf_hash, pad_node, root_from_layer, LeafHasher, Node, LEAF_SIZE,
};
use sha1::{Digest, Sha1};

use crate::{MetainfoError, Torrent};

/// `{"": {"length": n, "pieces root": root}}`: a file of the v2 `file tree`.
pub(super) fn leaf(length: i64, root: Option<Node>) -> OwnedValue {
    let mut file = OwnedValue::dict().with("length", length);
    if let Some(root) = root {
        file.insert("pieces root", root.to_vec());
    }
    OwnedValue::dict().with("", file)
}

/// A leaf with extra keys in its file dictionary (`attr`, `symlink path`).
pub(super) fn leaf_with(length: i64, root: Option<Node>, extra: &[(&str, OwnedValue)]) -> OwnedValue {
    let OwnedValue::Dict(mut outer) = leaf(length, root) else { unreachable!("leaf is a dict") };
    if let Some(file) = outer.get_mut(&b""[..]) {
        for (k, v) in extra {
            file.insert(*k, v.clone());
        }
    }
    OwnedValue::Dict(outer)
}

/// A file tree from `(path, leaf)` pairs, nesting directories as BEP 52 does.
pub(super) fn tree(files: Vec<(Vec<&[u8]>, OwnedValue)>) -> OwnedValue {
    let mut root = OwnedValue::dict();
    for (path, leaf) in files {
        insert_path(&mut root, &path, leaf);
    }
    root
}

fn insert_path(dir: &mut OwnedValue, path: &[&[u8]], leaf: OwnedValue) {
    let OwnedValue::Dict(map) = dir else { panic!("a file and a folder share a name in the fixture") };
    match path {
        [] => panic!("empty path in a fixture"),
        [name] => {
            map.insert(name.to_vec(), leaf);
        }
        [name, rest @ ..] => {
            let sub = map.entry(name.to_vec()).or_insert_with(OwnedValue::dict);
            insert_path(sub, rest, leaf);
        }
    }
}

/// A v2-only info dictionary.
pub(super) fn v2_info(name: &[u8], tree: OwnedValue, piece_length: i64) -> OwnedValue {
    OwnedValue::dict()
        .with("file tree", tree)
        .with("meta version", 2i64)
        .with("name", OwnedValue::bytes(name.to_vec()))
        .with("piece length", piece_length)
}

/// The `piece layers` dictionary.
pub(super) fn layers<'a>(entries: impl IntoIterator<Item = (&'a Node, &'a [Node])>) -> OwnedValue {
    let map: BTreeMap<Vec<u8>, OwnedValue> =
        entries.into_iter().map(|(root, layer)| (root.to_vec(), OwnedValue::bytes(layer.concat()))).collect();
    OwnedValue::Dict(map)
}

/// The wrapper libtorrent's v2 test torrents share; `piece layers` only when given.
pub(super) fn wrap(info: OwnedValue, piece_layers: Option<OwnedValue>) -> OwnedValue {
    let mut top = OwnedValue::dict().with("announce", "http://example.com/announce").with("info", info);
    if let Some(layers) = piece_layers {
        top.insert("piece layers", layers);
    }
    top
}

pub(super) fn open(top: &OwnedValue) -> Torrent {
    match Torrent::from_bytes(&top.to_bytes()) {
        Ok(t) => t,
        Err(e) => panic!("refused: {e}"),
    }
}

pub(super) fn refuse_bytes(bytes: &[u8]) -> MetainfoError {
    match Torrent::from_bytes(bytes) {
        Ok(t) => panic!("accepted: {:?}", t.files.iter().map(|f| f.path.join("/")).collect::<Vec<_>>()),
        Err(e) => e,
    }
}

pub(super) fn refuse(top: &OwnedValue) -> MetainfoError {
    refuse_bytes(&top.to_bytes())
}

/// Asserts that the error's message names what is wrong (every word of `needle`, any case).
#[track_caller]
pub(super) fn assert_names(err: &MetainfoError, needles: &[&str]) {
    let msg = err.to_string().to_lowercase();
    for needle in needles {
        assert!(msg.contains(&needle.to_lowercase()), "error {msg:?} should name {needle:?}");
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn paths(t: &Torrent) -> Vec<String> {
    t.files.iter().filter(|f| !f.is_padding).map(|f| f.path.join("/")).collect()
}

/// A file of zero bytes, hashed for real: its root, piece layer (empty when the file fits in
/// one piece) and SHA-1 piece hashes. libtorrent's `test64K` and `test1MB` files are zeros,
/// so these reproduce the roots and info hashes its tests check.
pub(super) struct ZeroFile {
    pub root: Node,
    pub layer: Vec<Node>,
    pub sha1: Vec<u8>,
}

pub(super) fn zero_file(length: usize, piece_length: usize) -> ZeroFile {
    let data = vec![0u8; length];
    let mut hasher = LeafHasher::new();
    hasher.update(&data);
    let leaves = hasher.finish();
    let root = root_from_layer(&leaves, file_tree_leaves(length as u64), [0; 32]);
    let per_piece = piece_length / LEAF_SIZE as usize;
    let layer = if length > piece_length {
        leaves.chunks(per_piece).map(|c| root_from_layer(c, per_piece as u64, [0; 32])).collect()
    } else {
        Vec::new()
    };
    let sha1 = data.chunks(piece_length).flat_map(|c| <[u8; 20]>::from(Sha1::digest(c))).collect();
    ZeroFile { root, layer, sha1 }
}

/// A file described by its piece layer alone: `length` bytes at `piece_length`, whose layer
/// nodes are arbitrary (derived from `seed`) and whose root is what they fold to. Enough for
/// everything a parser can check without the data, at any size, in no time.
#[derive(Clone)]
pub(super) struct SynthFile {
    pub length: u64,
    pub root: Node,
    /// Empty when the file fits in one piece (it is checked against its root).
    pub layer: Vec<Node>,
}

pub(super) fn synth(seed: u32, length: u64, piece_length: u64) -> SynthFile {
    let pieces = length.div_ceil(piece_length);
    let node = |i: u64| leaf_hash(&[seed.to_le_bytes().as_slice(), &i.to_le_bytes()].concat());
    if length <= piece_length {
        return SynthFile { length, root: node(u64::MAX), layer: Vec::new() };
    }
    let layer: Vec<Node> = (0..pieces).map(node).collect();
    let per_piece = piece_length / u64::from(LEAF_SIZE);
    let width = file_tree_leaves(length) / per_piece;
    let root = root_from_layer(&layer, width, pad_node(per_piece.trailing_zeros()));
    SynthFile { length, root, layer }
}

/// One file of a hybrid fixture.
pub(super) struct HybridFile<'a> {
    pub path: Vec<&'a [u8]>,
    pub file: SynthFile,
    /// BEP 47 attributes other than padding (`x`), copied to both halves.
    pub attr: Option<&'a str>,
}

/// How the v1 half of a hybrid fixture names and places its padding files.
#[derive(Clone, Copy)]
pub(super) struct PadStyle {
    /// `[".pad", "<len>"]` (libtorrent since 2.0) or `["<len>"]` (v2_hybrid.torrent).
    pub pad_dir: bool,
    /// A padding file after the last file too (libtorrent since 2.0.8).
    pub tail: bool,
}

pub(super) const LIBTORRENT_PADS: PadStyle = PadStyle { pad_dir: true, tail: true };

/// A hybrid info dictionary: the v2 tree and a v1 `files` list with a padding file after every
/// file that does not end on a piece boundary, and one (arbitrary) SHA-1 per piece.
pub(super) fn hybrid_info(
    name: &[u8],
    files: &[HybridFile<'_>],
    piece_length: u64,
    pads: PadStyle,
) -> OwnedValue {
    let mut list = Vec::new();
    let mut total = 0u64;
    let mut leaves = Vec::new();
    for f in files {
        let root = (f.file.length > 0).then_some(f.file.root);
        let extra: Vec<(&str, OwnedValue)> = f.attr.map(|a| ("attr", a.into())).into_iter().collect();
        leaves.push((f.path.clone(), leaf_with(f.file.length as i64, root, &extra)));
        // As libtorrent 2.0 wrote them: the padding goes right before the next file with data
        // (after any empty files), so empty files may sit between a file and its padding.
        if f.file.length > 0 && total % piece_length != 0 {
            let pad = piece_length - total % piece_length;
            list.push(pad_entry(pad, pads.pad_dir));
            total += pad;
        }
        let path = OwnedValue::List(f.path.iter().map(|c| OwnedValue::bytes(c.to_vec())).collect());
        let mut entry = OwnedValue::dict().with("length", f.file.length as i64).with("path", path);
        if let Some(a) = f.attr {
            entry.insert("attr", a);
        }
        list.push(entry);
        total += f.file.length;
    }
    if pads.tail && total % piece_length != 0 {
        let pad = piece_length - total % piece_length;
        list.push(pad_entry(pad, pads.pad_dir));
        total += pad;
    }
    let pieces: Vec<u8> = (0..total.div_ceil(piece_length)).flat_map(|i| [(i % 251) as u8; 20]).collect();
    OwnedValue::dict()
        .with("file tree", tree(leaves))
        .with("files", list)
        .with("meta version", 2i64)
        .with("name", OwnedValue::bytes(name.to_vec()))
        .with("piece length", piece_length as i64)
        .with("pieces", pieces)
}

pub(super) fn pad_entry(length: u64, pad_dir: bool) -> OwnedValue {
    let n = length.to_string();
    let path = if pad_dir { OwnedValue::list([".pad", n.as_str()]) } else { OwnedValue::list([n.as_str()]) };
    OwnedValue::dict().with("attr", "p").with("length", length as i64).with("path", path)
}

/// The piece layers of every file longer than one piece.
pub(super) fn hybrid_layers(files: &[HybridFile<'_>]) -> OwnedValue {
    layers(files.iter().filter(|f| !f.file.layer.is_empty()).map(|f| (&f.file.root, f.file.layer.as_slice())))
}

/// Replaces the value at `path` (dictionary keys from the top) in a fixture.
pub(super) fn set(top: &mut OwnedValue, path: &[&[u8]], value: OwnedValue) {
    let OwnedValue::Dict(map) = top else { panic!("not a dict at {path:?}") };
    match path {
        [] => panic!("empty path"),
        [key] => {
            map.insert(key.to_vec(), value);
        }
        [key, rest @ ..] => set(map.get_mut(*key).expect("fixture path exists"), rest, value),
    }
}

/// Removes the key at `path` from a fixture.
pub(super) fn remove(top: &mut OwnedValue, path: &[&[u8]]) {
    let OwnedValue::Dict(map) = top else { panic!("not a dict at {path:?}") };
    match path {
        [] => panic!("empty path"),
        [key] => {
            map.remove(*key);
        }
        [key, rest @ ..] => remove(map.get_mut(*key).expect("fixture path exists"), rest),
    }
}

/// The `files` list of a fixture's info dictionary, to edit.
pub(super) fn v1_files(top: &mut OwnedValue) -> &mut Vec<OwnedValue> {
    let OwnedValue::Dict(map) = top else { panic!("not a dict") };
    let Some(OwnedValue::Dict(info)) = map.get_mut(&b"info"[..]) else { panic!("no info") };
    let Some(OwnedValue::List(files)) = info.get_mut(&b"files"[..]) else { panic!("no files") };
    files
}
