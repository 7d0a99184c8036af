//! The Xet side of a parsed [`Torrent`]: which xet root each file has, which chunk manifests
//! are still missing, recording one learned from a peer, and writing them back out.

use ccbt_bencode::OwnedValue;
use ccbt_xet::{ChunkId, ChunkRef};

use crate::path::display;
use crate::xet::{check_manifest, encode_manifest, files_by_xet_root, hex};
use crate::{MetainfoError, Torrent};

impl Torrent {
    /// Whether the torrent carries Xet metadata ccbt understands (`info.xet` of version 1).
    pub fn is_xet(&self) -> bool {
        self.xet.is_some()
    }

    /// The xet root of file `file_index` (an index into `files`, padding counted): `None` for
    /// padding, empty files, symlinks, out-of-range indices and torrents without Xet metadata.
    pub fn xet_root_of(&self, file_index: usize) -> Option<ChunkId> {
        let root = self.files.get(file_index)?.pieces_root?;
        self.xet.as_ref()?.roots.get(&root).copied()
    }

    /// Non-empty files whose chunk manifest is not known yet: `(file index, xet root, file
    /// length)`, one per xet root (files with equal content share it). Empty for a .torrent
    /// that carried all its `xet layers`, and for a torrent without Xet metadata.
    pub fn missing_xet_layers(&self) -> Vec<(usize, ChunkId, u64)> {
        let mut seen = std::collections::BTreeSet::new();
        (0..self.files.len())
            .filter_map(|i| Some((i, self.xet_root_of(i)?, self.files[i].length)))
            .filter(|(_, root, _)| !self.xet_layers.contains_key(root) && seen.insert(*root))
            .collect()
    }

    /// Records the chunk manifest of the file(s) with xet root `root` (as received from a
    /// peer), after checking it against the file's length and folding it to the root.
    pub fn set_xet_layer(&mut self, root: ChunkId, chunks: Vec<ChunkRef>) -> Result<(), MetainfoError> {
        let xet = self.xet.as_ref().ok_or_else(|| MetainfoError::InvalidXetLayersEntry {
            key: hex(&root),
            reason: "the torrent has no xet roots",
        })?;
        let by_xet = files_by_xet_root(&self.files, xet);
        let file = by_xet.get(&root).ok_or_else(|| MetainfoError::InvalidXetLayersEntry {
            key: hex(&root),
            reason: "no file of the torrent has this xet root",
        })?;
        check_manifest(&chunks, file.length, &root)
            .map_err(|reason| MetainfoError::InvalidXetLayer { path: display(&file.path), reason })?;
        self.xet_layers.insert(root, chunks);
        Ok(())
    }

    /// The known chunk manifests as a bencoded `xet layers` dictionary (xet root → entries),
    /// to keep them with the info dictionary ([`Torrent::from_parts_with_xet`]).
    pub fn xet_layers_bencoded(&self) -> Vec<u8> {
        let mut dict = OwnedValue::dict();
        for (root, chunks) in &self.xet_layers {
            dict.insert(root.to_vec(), OwnedValue::bytes(encode_manifest(chunks)));
        }
        dict.to_bytes()
    }

    /// [`Torrent::from_parts`] with, optionally, a bencoded `xet layers` dictionary as well
    /// (as given by [`Torrent::xet_layers_bencoded`]). Checked like a .torrent file.
    pub fn from_parts_with_xet(
        info_bytes: &[u8],
        piece_layers: Option<&[u8]>,
        xet_layers: Option<&[u8]>,
    ) -> Result<Torrent, MetainfoError> {
        let extra = piece_layers.map_or(0, <[u8]>::len) + xet_layers.map_or(0, <[u8]>::len);
        let mut bytes = Vec::with_capacity(info_bytes.len() + 48 + extra);
        bytes.extend_from_slice(b"d4:info");
        bytes.extend_from_slice(info_bytes);
        // Keys in sorted order: "info" < "piece layers" < "xet layers".
        if let Some(layers) = piece_layers {
            bytes.extend_from_slice(b"12:piece layers");
            bytes.extend_from_slice(layers);
        }
        if let Some(layers) = xet_layers {
            bytes.extend_from_slice(b"10:xet layers");
            bytes.extend_from_slice(layers);
        }
        bytes.push(b'e');
        Torrent::from_bytes(&bytes)
    }
}
