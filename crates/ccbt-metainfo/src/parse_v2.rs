//! The v2 half of a .torrent (BEP 52): files from the `file tree`, aligned to pieces; the
//! `piece layers`, each checked against its file's root; and, for a hybrid, the proof that its
//! v1 and v2 halves describe the same bytes (libtorrent refuses hybrids that disagree, and so
//! does ccbt: otherwise v1 and v2 peers would be sent different data for one piece).

use std::collections::{BTreeMap, HashMap};

use ccbt_bencode::Dict;
use ccbt_core::merkle::{file_tree_leaves, pad_node, root_from_layer, Node, LEAF_SIZE};

use crate::file_tree::TreeFile;
use crate::path::display;
use crate::{FileEntry, MetainfoError};

type Result<T> = std::result::Result<T, MetainfoError>;

/// A v2 piece length must be a power of two of at least one leaf (16 KiB).
pub(crate) fn check_v2_piece_length(piece_length: u32) -> Result<()> {
    if piece_length < LEAF_SIZE || !piece_length.is_power_of_two() {
        return Err(MetainfoError::InvalidPieceLength {
            value: i64::from(piece_length),
            reason: "a v2 piece length must be a power of two of at least 16 KiB",
        });
    }
    Ok(())
}

/// The files of a v2-only torrent as a v1-style list: `[name, ...]` paths (just `[name]` for a
/// single file at the root), with a padding entry after every file that does not end on a piece
/// boundary, the last one included, so every file starts a piece and every piece is whole.
/// That is libtorrent's layout of a v2 torrent: it asks for the last piece at full length (the
/// padding reads as zeros), and a shorter last piece here would refuse that request.
pub(crate) fn v2_file_entries(
    tree: Vec<TreeFile>,
    name: &str,
    single: bool,
    piece_length: u32,
) -> Vec<FileEntry> {
    let mut files = Vec::with_capacity(tree.len() * 2);
    for f in tree {
        let path = if single { vec![name.to_owned()] } else { with_name(name, f.components) };
        let symlink = f.symlink.map(|target| with_name(name, target));
        let tail = f.length % u64::from(piece_length);
        files.push(FileEntry { path, length: f.length, is_padding: false, symlink, pieces_root: f.root });
        if tail != 0 {
            let pad = u64::from(piece_length) - tail;
            let path = vec![name.to_owned(), ".pad".to_owned(), pad.to_string()];
            files.push(FileEntry { path, length: pad, is_padding: true, symlink: None, pieces_root: None });
        }
    }
    files
}

fn with_name(name: &str, components: Vec<String>) -> Vec<String> {
    std::iter::once(name.to_owned()).chain(components).collect()
}

/// A single-file v2 torrent: one file at the root of the tree, and nothing else there (not even
/// an empty folder: libtorrent then names the file `<name>/<file>`).
pub(crate) fn is_single_file(tree: &[TreeFile], root_entries: usize) -> bool {
    root_entries == 1 && tree.len() == 1 && tree[0].components.len() == 1
}

/// Checks that a hybrid's v1 `files` (with their pad files) and its v2 tree describe the same
/// files, in the same order and at the same offsets, and gives the v1 entries their roots.
///
/// Offsets are compared with the v2 layout (every file with data at the first piece boundary
/// after the previous one), not just checked for alignment: a pad file a piece too long, or one
/// before the first file, keeps every file aligned but shifts the v1 piece numbers away from the
/// v2 ones, and v1 and v2 peers would then mean different bytes by one piece index.
pub(crate) fn check_hybrid(v1: &mut [FileEntry], tree: &[TreeFile], piece_length: u32) -> Result<()> {
    let mismatch = |index: usize, reason: &'static str| MetainfoError::HybridMismatch { index, reason };
    let piece = u64::from(piece_length);
    let data_files = v1.iter().filter(|f| !f.is_padding).count();
    if data_files != tree.len() {
        return Err(mismatch(
            data_files.min(tree.len()),
            "the v1 and v2 parts list different numbers of files",
        ));
    }
    let mut offset = 0u64;
    // Where the v2 layout ends so far: the end of the last file with data.
    let mut v2_end = 0u64;
    let mut next_v2 = tree.iter();
    for (i, f) in v1.iter_mut().enumerate() {
        if f.is_padding {
            offset = offset.saturating_add(f.length);
            continue;
        }
        let Some(v2) = next_v2.next() else { return Err(mismatch(i, "a file missing from the v2 part")) };
        if f.length != v2.length {
            return Err(mismatch(i, "a file's length differs between the v1 and v2 parts"));
        }
        if !same_path(&f.path, &v2.components) {
            return Err(mismatch(i, "files are named or ordered differently in the v1 and v2 parts"));
        }
        if f.length > 0 {
            let start = v2_end.next_multiple_of(piece);
            if offset != start {
                return Err(mismatch(
                    i,
                    "a file does not start where the v2 layout puts it (missing or wrong pad file)",
                ));
            }
            v2_end = start.saturating_add(f.length);
        }
        offset = offset.saturating_add(f.length);
        f.pieces_root = v2.root;
    }
    // Hybrids from libtorrent before 2.0.8 have no padding after the last file; newer ones pad
    // it to the piece boundary. Anything longer adds pieces v2 peers do not have.
    if offset != v2_end && offset != v2_end.next_multiple_of(piece) {
        return Err(mismatch(
            v1.len() - 1,
            "the padding after the last file does not end on its piece boundary",
        ));
    }
    Ok(())
}

/// v1 paths are `[name, ...]` in a multi-file torrent and `[name]` for a single file; v2
/// components never include the torrent's name (a single file at the root of the tree has its
/// own name, which must then be the torrent's). Both are compared sanitised, before colliding
/// names are renamed.
fn same_path(v1: &[String], v2: &[String]) -> bool {
    match v1 {
        [single] => v2 == std::slice::from_ref(single),
        [_name, rest @ ..] => rest == v2,
        [] => false,
    }
}

/// The `piece layers` of the files that need one (longer than a piece): each checked against
/// its root. A layer absent from the torrent is simply not returned (it is fetched from peers,
/// as for a magnet); a malformed or wrong one refuses the torrent, and so does an entry that
/// belongs to no such file (libtorrent: v2_unknown_piece_layer_entry,
/// v2_piece_layer_invalid_file_hash), which could only be a mistake or padding to make the
/// torrent bigger. One pass over the entries, with the roots in a map: a hostile torrent with
/// many files and many entries costs linear time.
pub(crate) fn read_piece_layers(
    top: &Dict<'_>,
    files: &[FileEntry],
    piece_length: u32,
) -> Result<BTreeMap<Node, Vec<Node>>> {
    let mut layers = BTreeMap::new();
    let Some(value) = top.get(b"piece layers") else { return Ok(layers) };
    let dict = value.as_dict().ok_or_else(|| MetainfoError::WrongType {
        key: "piece layers".to_owned(),
        expected: "a dictionary",
    })?;
    // Files with the same content share a root, and one entry serves them all.
    let mut needing: HashMap<Node, &FileEntry> = HashMap::new();
    for f in files.iter().filter(|f| f.length > u64::from(piece_length)) {
        if let Some(root) = f.pieces_root {
            needing.entry(root).or_insert(f);
        }
    }
    for (key, value) in dict.iter() {
        let entry_error = |reason| MetainfoError::InvalidPieceLayersEntry { key: short_hex(key), reason };
        let root: Node = key.try_into().map_err(|_| entry_error("the key is not a 32-byte pieces root"))?;
        let f = needing
            .get(&root)
            .ok_or_else(|| entry_error("no file longer than one piece has this pieces root"))?;
        let bytes = value.as_bytes().ok_or_else(|| layer_error(f, "not a byte string"))?;
        let layer = decode_layer(bytes, f.length, piece_length).map_err(|reason| layer_error(f, reason))?;
        if !layer_matches_root(&layer, &root, f.length, piece_length) {
            return Err(layer_error(f, "does not match the file's pieces root"));
        }
        layers.insert(root, layer);
    }
    Ok(layers)
}

/// A `piece layers` key for an error message: hex, at most 32 bytes of it (keys are untrusted).
fn short_hex(key: &[u8]) -> String {
    let mut s: String = key.iter().take(32).map(|b| format!("{b:02x}")).collect();
    if key.len() > 32 {
        s.push('…');
    }
    s
}

/// Checks a file's piece layer (its hashes concatenated) against the file's root.
pub(crate) fn decode_layer(
    bytes: &[u8],
    file_length: u64,
    piece_length: u32,
) -> std::result::Result<Vec<Node>, &'static str> {
    let pieces = file_length.div_ceil(u64::from(piece_length));
    if bytes.len() as u64 != pieces * 32 {
        return Err("wrong length for the file's number of pieces");
    }
    Ok(bytes.chunks_exact(32).map(|c| c.try_into().unwrap_or([0; 32])).collect())
}

/// True when `layer` (one node per piece of a file of `file_length` bytes) folds to `root`.
pub(crate) fn layer_matches_root(layer: &[Node], root: &Node, file_length: u64, piece_length: u32) -> bool {
    let blocks_per_piece = u64::from(piece_length / LEAF_SIZE);
    let width = file_tree_leaves(file_length) / blocks_per_piece;
    root_from_layer(layer, width, pad_node(blocks_per_piece.trailing_zeros())) == *root
}

fn layer_error(f: &FileEntry, reason: &'static str) -> MetainfoError {
    MetainfoError::InvalidPieceLayer { path: display(&f.path), reason }
}
