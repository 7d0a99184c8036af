//! Xet torrents for tests: v2 torrents whose info dictionary names each file's xet root and
//! which carry the chunk manifests (`xet layers`).

use std::path::Path;

use ccbt_core::merkle::{file_tree_leaves, leaf_hash, root_from_layer, Node, LEAF_SIZE};
use ccbt_metainfo::{MetaVersion, Torrent, TorrentBuilder, XetBuild};
use ccbt_xet::FileHasher;

/// The v2 node of each piece of a file of `bytes` (the file's root when it fits one piece).
pub fn v2_piece_nodes(bytes: &[u8], piece_length: u32) -> Vec<Node> {
    let leaves: Vec<Node> = bytes.chunks(LEAF_SIZE as usize).map(leaf_hash).collect();
    if bytes.len() as u64 <= u64::from(piece_length) {
        return vec![root_from_layer(&leaves, file_tree_leaves(bytes.len() as u64), [0; 32])];
    }
    let per_piece = (piece_length / LEAF_SIZE) as usize;
    leaves.chunks(per_piece).map(|l| root_from_layer(l, per_piece as u64, [0; 32])).collect()
}

/// Writes `files` (relative path in file tree order, contents) under `root/name/` — or
/// `root/name` for one file with an empty path — and returns their v2 Xet torrent.
pub fn xet_torrent(root: &Path, name: &str, files: &[(&str, &[u8])], piece_length: u32) -> Torrent {
    let single = files.len() == 1 && files[0].0.is_empty();
    let (mut entries, mut nodes, mut chunks) = (Vec::new(), Vec::new(), Vec::new());
    for (path, bytes) in files {
        let full = if single { root.join(name) } else { root.join(name).join(path) };
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, bytes).unwrap();
        let components = if single { Vec::new() } else { path.split('/').map(String::from).collect() };
        entries.push((components, bytes.len() as u64));
        nodes.push(v2_piece_nodes(bytes, piece_length));
        let mut hasher = FileHasher::new();
        hasher.update(bytes);
        chunks.push(hasher.finish().1);
    }
    let builder = TorrentBuilder {
        version: MetaVersion::V2,
        name: name.to_string(),
        files: entries,
        piece_length,
        v2_piece_hashes: nodes,
        xet: Some(XetBuild::from_chunks(chunks, None)),
        ..TorrentBuilder::default()
    };
    Torrent::from_bytes(&builder.build().unwrap()).unwrap()
}
