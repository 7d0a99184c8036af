//! Answering BEP 52 `hash request`s from the piece layers we know.
//!
//! We keep piece layers, not block hashes, so only requests whose base layer is the piece
//! layer can be answered; libtorrent also asks for block hashes (base layer 0) after a piece
//! fails its check, and takes a `hash reject` for those in its stride.
//!
//! The whole tree above each piece layer is built once, so an answer costs only the nodes it
//! carries: building proofs from the piece layer on every request would let any peer make us
//! hash a file's whole layer per message.

use std::collections::BTreeMap;

use ccbt_core::merkle::{self, Node};
use ccbt_wire::{HashRequest, Hashes, Message};
use thiserror::Error;

use super::{hex, layer_height, layer_pieces, piece_layer, HashSetupError, MAX_HASHES_PER_REQUEST};

/// Why a hash request is refused (answered with a `hash reject`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashReject {
    /// No piece layer is known for this root (unknown file, a file of one piece, or a layer
    /// we are still fetching ourselves).
    #[error("no piece layer known for this pieces root")]
    UnknownRoot,
    /// We keep piece hashes only.
    #[error("base layer {base} is not the piece layer {piece_layer}")]
    NotPieceLayer { base: u32, piece_layer: u32 },
    /// The length is 0, not a power of two, or above 512.
    #[error("length {0} is not a power of two up to 512")]
    BadLength(u32),
    /// The nodes do not form one subtree (index not a multiple of the length), or run past the
    /// end of the piece layer.
    #[error("{length} nodes at index {index} are not an aligned range of a layer of {width}")]
    BadRange { index: u32, length: u32, width: u64 },
    /// The proof would go above the root.
    #[error("{proof_layers} proof layers exceed the {height} layers above the base")]
    TooManyProofLayers { proof_layers: u32, height: u32 },
}

#[derive(Debug)]
struct ServedFile {
    num_pieces: u32,
    /// `layers[k]`: the nodes `k` layers above the piece layer, without trailing padding;
    /// the last one holds the root alone.
    layers: Vec<Vec<Node>>,
}

/// Answers `hash request`s for the piece layers of one torrent.
#[derive(Debug)]
pub struct HashServer {
    piece_layer: u32,
    files: BTreeMap<Node, ServedFile>,
    /// `pads[k]`: the pad node `k` layers above the piece layer.
    pads: Vec<Node>,
}

impl HashServer {
    /// A server for the piece layers `files` gives as (pieces root, file length, piece layer),
    /// in a torrent of `piece_length`. Files of one piece have no layer and are left out by
    /// the caller. Every layer is checked against its root while its tree is built.
    pub fn new<'a>(
        piece_length: u32,
        files: impl IntoIterator<Item = (Node, u64, &'a [Node])>,
    ) -> Result<HashServer, HashSetupError> {
        let piece_layer = piece_layer(piece_length)?;
        let mut server = HashServer { piece_layer, files: BTreeMap::new(), pads: Vec::new() };
        for (index, (root, length, layer)) in files.into_iter().enumerate() {
            let num_pieces = layer_pieces(length, piece_length)
                .ok_or(HashSetupError::BadPieceCount { file: index, length, num_pieces: 0 })?;
            if layer.len() != num_pieces as usize {
                return Err(HashSetupError::LayerLength {
                    root: hex(&root),
                    got: layer.len(),
                    expected: num_pieces,
                });
            }
            let height = layer_height(num_pieces);
            server.extend_pads(height);
            let layers = server.build_tree(layer);
            if layers.last().and_then(|l| l.first()) != Some(&root) {
                return Err(HashSetupError::LayerMismatch { root: hex(&root) });
            }
            server.files.insert(root, ServedFile { num_pieces, layers });
        }
        Ok(server)
    }

    /// The layer above the leaves at which this server answers.
    pub fn piece_layer(&self) -> u32 {
        self.piece_layer
    }

    /// Whether a piece layer is known for `root`.
    pub fn knows(&self, root: &Node) -> bool {
        self.files.contains_key(root)
    }

    fn extend_pads(&mut self, height: u32) {
        if self.pads.is_empty() {
            self.pads.push(merkle::pad_node(self.piece_layer));
        }
        while self.pads.len() <= height as usize {
            let top = self.pads[self.pads.len() - 1];
            self.pads.push(merkle::parent(&top, &top));
        }
    }

    /// Every layer from `layer` up to the root, each without its trailing padding.
    fn build_tree(&self, layer: &[Node]) -> Vec<Vec<Node>> {
        let mut layers = vec![layer.to_vec()];
        let mut k = 0;
        while layers[k].len() > 1 {
            let pad = self.pads[k];
            let up = layers[k].chunks(2).map(|p| merkle::parent(&p[0], p.get(1).unwrap_or(&pad))).collect();
            layers.push(up);
            k += 1;
        }
        layers
    }

    /// The `hashes` answering `req`, or why it must be rejected.
    pub fn answer(&self, req: &HashRequest) -> Result<Hashes, HashReject> {
        let file = self.files.get(&req.pieces_root).ok_or(HashReject::UnknownRoot)?;
        if req.base_layer != self.piece_layer {
            return Err(HashReject::NotPieceLayer { base: req.base_layer, piece_layer: self.piece_layer });
        }
        let length = req.length;
        if !length.is_power_of_two() || length > MAX_HASHES_PER_REQUEST {
            return Err(HashReject::BadLength(length));
        }
        let height = layer_height(file.num_pieces);
        let width = 1u64 << height;
        let (index, len) = (u64::from(req.index), u64::from(length));
        if index % len != 0 || index + len > width {
            return Err(HashReject::BadRange { index: req.index, length, width });
        }
        if req.proof_layers >= height {
            return Err(HashReject::TooManyProofLayers { proof_layers: req.proof_layers, height });
        }
        let mut nodes = Vec::with_capacity(length as usize + height as usize);
        let base = &file.layers[0];
        nodes.extend((req.index..req.index + length).map(|i| self.node(base, 0, u64::from(i))));
        // Lowest uncle first: the sibling of the subtree the nodes form, then up.
        let subtree = length.trailing_zeros();
        let position = index / len;
        for j in 0..req.uncle_count() {
            let level = subtree + j;
            let sibling = (position >> j) ^ 1;
            nodes.push(self.node(&file.layers[level as usize], level, sibling));
        }
        Ok(Hashes { request: *req, nodes })
    }

    /// The message to send for `req`: its `hashes`, or a `hash reject` echoing it.
    pub fn respond(&self, req: &HashRequest) -> Message {
        match self.answer(req) {
            Ok(hashes) => Message::Hashes(hashes),
            Err(_) => Message::HashReject(*req),
        }
    }

    fn node(&self, layer: &[Node], level: u32, index: u64) -> Node {
        let pad = self.pads.get(level as usize).copied().unwrap_or_default();
        usize::try_from(index).ok().and_then(|i| layer.get(i)).copied().unwrap_or(pad)
    }
}
