//! The BEP 52 parts of a new torrent: the piece-aligned byte stream (libtorrent 2's layout),
//! the `file tree`, the `piece layers`, and the v1 `files` of a hybrid with their pad files.
//!
//! The layout follows libtorrent 2.0 exactly, so a torrent ccbt creates has the info hashes
//! libtorrent's `create_torrent` gives the same folder: files sorted as in the file tree, a pad
//! file after every non-empty file that does not end on a piece boundary (the last file too,
//! unless the torrent has one file), pad files named `.pad/<length>` with `attr` `p`.

use std::collections::BTreeMap;

use ccbt_bencode::OwnedValue;
use ccbt_core::merkle::{pad_node, root_from_layer, Node, LEAF_SIZE};

use crate::MetainfoError;

/// One entry of a piece-aligned torrent's byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlignedEntry {
    /// File `index` of the list the layout was made from.
    File(usize),
    /// A BEP 47 pad file of this many zero bytes, up to the next piece boundary.
    Padding(u64),
}

/// The byte stream of a v2 or hybrid torrent whose files (in file tree order) have `lengths`:
/// every file starts on a piece boundary. libtorrent 2.0 pads after the last file as well (in
/// a torrent of more than one file); BEP 52 does not ask for that, but the v1 `files` list is
/// part of a hybrid's info hash, so ccbt does the same.
pub fn aligned_layout(lengths: &[u64], piece_length: u32) -> Vec<AlignedEntry> {
    let piece = u64::from(piece_length.max(1));
    let mut entries = Vec::with_capacity(lengths.len() * 2);
    let mut offset = 0u64;
    for (index, &length) in lengths.iter().enumerate() {
        entries.push(AlignedEntry::File(index));
        offset = offset.saturating_add(length);
        let tail = offset % piece;
        if lengths.len() > 1 && length > 0 && tail != 0 {
            entries.push(AlignedEntry::Padding(piece - tail));
            offset = offset.saturating_add(piece - tail);
        }
    }
    entries
}

/// The path of a pad file below the torrent's folder, as libtorrent names them.
pub fn pad_file_path(length: u64) -> Vec<String> {
    vec![".pad".to_owned(), length.to_string()]
}

/// BEP 52 merkle trees need a piece length that is a power of two of at least one 16 KiB leaf.
pub fn check_v2_piece_length(piece_length: u32) -> Result<(), MetainfoError> {
    if piece_length.is_power_of_two() && piece_length >= LEAF_SIZE {
        Ok(())
    } else {
        Err(MetainfoError::InvalidPieceLength {
            value: i64::from(piece_length),
            reason: "v2 and hybrid torrents need a power of two of at least 16 KiB",
        })
    }
}

/// The files of a v2 torrent must come in file tree order (bencoded dictionaries sort their
/// keys, depth first), each path once, and no file may also be a folder: the v2 part can only
/// list them that way, and the v1 part and the hashes must follow the same order.
pub(crate) fn check_tree_order(files: &[(Vec<String>, u64)]) -> Result<(), MetainfoError> {
    for pair in files.windows(2) {
        let (before, after) = (&pair[0].0, &pair[1].0);
        let reason = if before >= after {
            "files are not sorted in file tree order, or one is listed twice"
        } else if after.starts_with(before) {
            "a file has the same path as a folder"
        } else {
            continue;
        };
        return Err(MetainfoError::InvalidFileTree { path: after.join("/"), reason });
    }
    Ok(())
}

/// The `file tree` and top-level `piece layers` of a new torrent, from the merkle node of each
/// piece of each file (`piece_nodes[i]` belongs to `files[i]`, and `executable[i]` marks it
/// `attr` `x`). `single_name` is the name of a single-file torrent, whose one file has an
/// empty path.
pub(crate) fn v2_parts(
    files: &[(Vec<String>, u64)],
    piece_nodes: &[Vec<Node>],
    executable: &[bool],
    piece_length: u32,
    single_name: Option<&str>,
) -> Result<(OwnedValue, OwnedValue), MetainfoError> {
    let mut tree = BTreeMap::new();
    let mut layers = BTreeMap::new();
    for (index, (path, length)) in files.iter().enumerate() {
        let nodes = piece_nodes.get(index).map_or(&[][..], Vec::as_slice);
        let pieces = length.div_ceil(u64::from(piece_length));
        let display = || single_name.map_or_else(|| path.join("/"), str::to_owned);
        if nodes.len() as u64 != pieces {
            let reason = "the builder needs one merkle node per piece of the file";
            return Err(MetainfoError::InvalidPieceLayer { path: display(), reason });
        }
        let mut leaf = OwnedValue::dict().with("length", crate::create::to_i64(*length, "length")?);
        if executable.get(index) == Some(&true) {
            leaf.insert("attr", "x");
        }
        if let Some(root) = pieces_root(nodes, *length, piece_length) {
            leaf.insert("pieces root", root.to_vec());
            // A file of one piece is checked against its root; it has no piece layer.
            if pieces > 1 {
                layers.insert(root.to_vec(), OwnedValue::bytes(nodes.concat()));
            }
        }
        let single = single_name.map(|name| vec![name.to_owned()]);
        let components = single.as_ref().filter(|_| path.is_empty()).unwrap_or(path);
        insert_leaf(&mut tree, components, leaf).ok_or_else(|| MetainfoError::InvalidFileTree {
            path: display(),
            reason: "a file has the same path as a folder",
        })?;
    }
    Ok((OwnedValue::Dict(tree), OwnedValue::Dict(layers)))
}

/// The `pieces root` of a file of `length` bytes from the merkle node of each of its pieces;
/// `None` for an empty file, which has none.
pub(crate) fn pieces_root(nodes: &[Node], length: u64, piece_length: u32) -> Option<Node> {
    let pad = pad_node((piece_length / LEAF_SIZE).trailing_zeros());
    let pieces = length.div_ceil(u64::from(piece_length));
    (length > 0).then(|| root_from_layer(nodes, pieces.next_power_of_two(), pad))
}

/// Puts a file's `{"": leaf}` at `path` in the tree, creating its folders; `None` when the path
/// is empty or runs into a file.
fn insert_leaf(tree: &mut BTreeMap<Vec<u8>, OwnedValue>, path: &[String], leaf: OwnedValue) -> Option<()> {
    let (name, folders) = path.split_last()?;
    let mut dir = tree;
    for folder in folders {
        let entry = dir.entry(folder.as_bytes().to_vec()).or_insert_with(OwnedValue::dict);
        let OwnedValue::Dict(map) = entry else { return None };
        if map.contains_key(&b""[..]) {
            return None;
        }
        dir = map;
    }
    if dir.contains_key(name.as_bytes()) {
        return None;
    }
    dir.insert(name.as_bytes().to_vec(), OwnedValue::dict().with("", leaf));
    Some(())
}

/// A hybrid's v1 `files`: the files with the pad files of [`aligned_layout`] between them.
pub(crate) fn v1_aligned_files(
    files: &[(Vec<String>, u64)],
    executable: &[bool],
    piece_length: u32,
) -> Result<OwnedValue, MetainfoError> {
    let lengths: Vec<u64> = files.iter().map(|(_, len)| *len).collect();
    let mut list = Vec::with_capacity(lengths.len() * 2);
    for entry in aligned_layout(&lengths, piece_length) {
        let (path, length, attr) = match entry {
            AlignedEntry::File(i) => {
                (files[i].0.clone(), files[i].1, (executable.get(i) == Some(&true)).then_some("x"))
            }
            AlignedEntry::Padding(len) => (pad_file_path(len), len, Some("p")),
        };
        let key = format!("info.files[{}].length", list.len());
        let mut file = OwnedValue::dict()
            .with("length", crate::create::to_i64(length, &key)?)
            .with("path", OwnedValue::list(path.iter().map(String::as_str)));
        if let Some(attr) = attr {
            file.insert("attr", attr);
        }
        list.push(file);
    }
    Ok(OwnedValue::List(list))
}

#[cfg(test)]
#[path = "create_v2_tests.rs"]
mod tests;
