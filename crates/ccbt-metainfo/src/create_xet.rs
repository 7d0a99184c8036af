//! The Xet and BEP 38 parts of a new torrent: `info.xet`, the top-level `xet layers`, and
//! `similar` / `collections` (written in the info dictionary, so the info hash covers them).
//! The built torrent is parsed back by [`crate::TorrentBuilder::build`], so every rule of
//! `xet.rs` (one root per non-empty file, manifests folding to their roots) applies to it too.

use std::collections::BTreeMap;

use ccbt_bencode::OwnedValue;
use ccbt_core::merkle::Node;
use ccbt_core::InfoHashV2;
use ccbt_xet::{file_hash, ChunkId, ChunkRef};

use crate::create_v2::pieces_root;
use crate::xet::{encode_manifest, XetPublisher, MAX_PUBLISHER_SALT, XET_VERSION};
use crate::{MetainfoError, TorrentBuilder};

/// The Xet part of a new torrent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XetBuild {
    /// The xet root of each file of [`TorrentBuilder::files`], in the same order (an empty
    /// file's is not used: empty files have no entry).
    pub roots: Vec<ChunkId>,
    /// The chunks of each file, in the same order, written as the top-level `xet layers`;
    /// `None` writes no layers (peers then send them).
    pub layers: Option<Vec<Vec<ChunkRef>>>,
    /// The v2 info hash of the previous version of this content (`info.xet.prev`).
    pub prev: Option<InfoHashV2>,
    /// The BEP 46 item announcing later versions (`info.xet.pk`, and `info.xet.salt` when the
    /// salt is not empty).
    pub publisher: Option<XetPublisher>,
}

impl XetBuild {
    /// From each file's chunks (as `ccbt_xet::FileHasher::finish` gives them): the roots are
    /// computed, and the chunks become the `xet layers`.
    pub fn from_chunks(chunks: Vec<Vec<ChunkRef>>, prev: Option<InfoHashV2>) -> XetBuild {
        let roots = chunks.iter().map(|c| file_hash(c)).collect();
        XetBuild { roots, layers: Some(chunks), prev, publisher: None }
    }
}

impl TorrentBuilder {
    /// Adds `xet`, `similar` and `collections` to the info dictionary being built.
    pub(crate) fn insert_xet_info(&self, info: &mut OwnedValue) -> Result<(), MetainfoError> {
        if !self.similar.is_empty() {
            info.insert(
                "similar",
                OwnedValue::list(self.similar.iter().map(|h| OwnedValue::bytes(h.as_bytes()))),
            );
        }
        if !self.collections.is_empty() {
            info.insert("collections", OwnedValue::list(self.collections.iter().map(String::as_str)));
        }
        let Some(xet) = &self.xet else { return Ok(()) };
        if !self.version.has_v2() {
            let reason = "a v1-only torrent cannot carry xet roots: make it v2 or hybrid";
            return Err(MetainfoError::InvalidXet { key: "info.xet".into(), reason });
        }
        let mut roots = BTreeMap::new();
        for (pieces_root, xet_root) in self.xet_pairs(xet)? {
            roots.insert(pieces_root.to_vec(), OwnedValue::bytes(xet_root.to_vec()));
        }
        let mut dict = OwnedValue::dict().with("v", XET_VERSION).with("roots", OwnedValue::Dict(roots));
        if let Some(prev) = xet.prev {
            dict.insert("prev", prev.0.to_vec());
        }
        if let Some(publisher) = &xet.publisher {
            if publisher.salt.len() > MAX_PUBLISHER_SALT {
                let reason = "a salt is at most 64 bytes (BEP 44)";
                return Err(MetainfoError::InvalidXet { key: "info.xet.salt".into(), reason });
            }
            dict.insert("pk", publisher.public_key.to_vec());
            if !publisher.salt.is_empty() {
                dict.insert("salt", publisher.salt.clone());
            }
        }
        info.insert("xet", dict);
        Ok(())
    }

    /// The top-level `xet layers`, if the builder has any.
    pub(crate) fn xet_layers_value(&self) -> Option<OwnedValue> {
        let xet = self.xet.as_ref()?;
        let layers = xet.layers.as_ref()?;
        let mut dict = OwnedValue::dict();
        for ((chunks, root), (_, length)) in layers.iter().zip(&xet.roots).zip(&self.files) {
            if *length > 0 {
                dict.insert(root.to_vec(), OwnedValue::bytes(encode_manifest(chunks)));
            }
        }
        Some(dict)
    }

    /// `(pieces root, xet root)` of each non-empty file, refusing a builder whose lists do not
    /// match its files, or that gives files of equal content different xet roots.
    fn xet_pairs(&self, xet: &XetBuild) -> Result<Vec<(Node, ChunkId)>, MetainfoError> {
        let invalid = |reason| MetainfoError::InvalidXet { key: "info.xet.roots".into(), reason };
        if xet.roots.len() != self.files.len() {
            return Err(invalid("the builder needs one xet root per file"));
        }
        if xet.layers.as_ref().is_some_and(|l| l.len() != self.files.len()) {
            return Err(invalid("the builder needs one chunk list per file"));
        }
        let mut pairs: BTreeMap<Node, ChunkId> = BTreeMap::new();
        for (i, (_, length)) in self.files.iter().enumerate() {
            let nodes = self.v2_piece_hashes.get(i).map_or(&[][..], Vec::as_slice);
            let Some(pieces_root) = pieces_root(nodes, *length, self.piece_length) else { continue };
            if *pairs.entry(pieces_root).or_insert(xet.roots[i]) != xet.roots[i] {
                return Err(invalid("files of equal content are given different xet roots"));
            }
        }
        Ok(pairs.into_iter().collect())
    }
}
