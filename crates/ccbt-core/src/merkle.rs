//! BitTorrent v2 merkle trees (BEP 52): SHA-256 over 16 KiB leaves, one tree per file.
//!
//! A file's tree has `next_power_of_two(blocks)` leaves; leaves past the end of the file are
//! zero hashes (32 zero bytes, not the hash of a zero block), and the file's last block is
//! hashed at its real length. The "piece layer" is the layer `log2(piece_length / 16 KiB)`
//! above the leaves; a file no longer than one piece has none and is checked against its root.
//!
//! Everything here is pure: the hash pool, the metainfo parser and the hash-request machine
//! all call it with bytes they already hold.

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A SHA-256 node of a v2 merkle tree.
pub type Node = [u8; 32];

/// Bytes per merkle leaf.
pub const LEAF_SIZE: u32 = 16 * 1024;

/// Hash of one leaf (up to 16 KiB of file data).
pub fn leaf_hash(data: &[u8]) -> Node {
    Sha256::digest(data).into()
}

/// The parent of two sibling nodes.
pub fn parent(left: &Node, right: &Node) -> Node {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of a subtree of `2^height` zero leaves: what padding looks like `height` layers up.
pub fn pad_node(height: u32) -> Node {
    (0..height).fold([0u8; 32], |node, _| parent(&node, &node))
}

/// Leaves of the tree of a file of `length` bytes: its block count rounded up to a power of
/// two (0 for an empty file, which has no tree).
pub fn file_tree_leaves(length: u64) -> u64 {
    length.div_ceil(u64::from(LEAF_SIZE)).next_power_of_two() * u64::from(length > 0)
}

/// The root over `layer` (nodes of one layer, left to right) widened to `width` nodes with
/// `pad` (the pad node of that layer). `width` must be a power of two at least `layer.len()`;
/// a smaller or non-power width is widened to the next power of two that holds the layer.
pub fn root_from_layer(layer: &[Node], width: u64, pad: Node) -> Node {
    let width = width.max(layer.len() as u64).next_power_of_two();
    let mut nodes: Vec<Node> = layer.to_vec();
    let mut pad = pad;
    let mut w = width;
    if nodes.is_empty() {
        nodes.push(pad);
    }
    while w > 1 {
        let next: Vec<Node> =
            nodes.chunks(2).map(|pair| parent(&pair[0], pair.get(1).unwrap_or(&pad))).collect();
        nodes = next;
        pad = parent(&pad, &pad);
        w /= 2;
    }
    nodes[0]
}

/// Hashes a stream of file bytes into leaves, whatever the sizes of the slices it is fed.
#[derive(Clone, Default)]
pub struct LeafHasher {
    current: Sha256,
    in_leaf: u32,
    leaves: Vec<Node>,
}

impl LeafHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = (LEAF_SIZE - self.in_leaf) as usize;
            let (now, rest) = data.split_at(room.min(data.len()));
            self.current.update(now);
            self.in_leaf += now.len() as u32;
            if self.in_leaf == LEAF_SIZE {
                self.leaves.push(std::mem::take(&mut self.current).finalize().into());
                self.in_leaf = 0;
            }
            data = rest;
        }
    }

    /// The leaves so far, the last one partial if the bytes ended mid-leaf.
    pub fn finish(mut self) -> Vec<Node> {
        if self.in_leaf > 0 {
            self.leaves.push(self.current.finalize().into());
        }
        self.leaves
    }
}

/// What one v2 piece must hash to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V2PieceCheck {
    /// The piece-layer node (or the file's root when the file fits in one piece).
    pub expected: Node,
    /// Bytes of file data in the piece; the rest of a hybrid's piece is padding, outside the tree.
    pub data_len: u32,
    /// Leaves of the subtree the piece spans (power of two): blocks per piece, or the whole
    /// tree of a file no longer than one piece.
    pub leaves: u32,
}

/// Every hash a piece must match: SHA-1 (v1 and hybrid) and the v2 merkle node (v2 and hybrid
/// once the piece layers are known). A piece with neither cannot be verified yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PieceCheck {
    pub sha1: Option<[u8; 20]>,
    pub v2: Option<V2PieceCheck>,
}

impl PieceCheck {
    /// A v1 piece.
    pub fn v1(sha1: [u8; 20]) -> Self {
        Self { sha1: Some(sha1), v2: None }
    }

    /// True when at least one hash can check the piece.
    pub fn is_checkable(&self) -> bool {
        self.sha1.is_some() || self.v2.is_some()
    }
}

/// Hashes a piece for every hash its [`PieceCheck`] names in one pass over the bytes.
pub struct PieceHasher {
    check: PieceCheck,
    sha1: Option<Sha1>,
    v2: Option<(LeafHasher, u32)>,
}

impl PieceHasher {
    pub fn new(check: PieceCheck) -> Self {
        let sha1 = check.sha1.map(|_| Sha1::new());
        let v2 = check.v2.map(|v| (LeafHasher::new(), v.data_len));
        Self { check, sha1, v2 }
    }

    /// Feeds the piece's next bytes (in order).
    pub fn update(&mut self, data: &[u8]) {
        if let Some(h) = self.sha1.as_mut() {
            h.update(data);
        }
        if let Some((leaves, remaining)) = self.v2.as_mut() {
            let take = (*remaining as usize).min(data.len());
            leaves.update(&data[..take]);
            *remaining -= take as u32;
        }
    }

    /// True when every hash the check names matched (and there was at least one).
    pub fn matches(self) -> bool {
        if !self.check.is_checkable() {
            return false;
        }
        let sha1_ok = match (self.sha1, self.check.sha1) {
            (Some(h), Some(expected)) => <[u8; 20]>::from(h.finalize()) == expected,
            _ => true,
        };
        let v2_ok = match (self.v2, self.check.v2) {
            (Some((leaves, remaining)), Some(v)) => {
                remaining == 0
                    && root_from_layer(&leaves.finish(), u64::from(v.leaves), [0; 32]) == v.expected
            }
            _ => true,
        };
        sha1_ok && v2_ok
    }
}

/// True when `data` (a piece's bytes, in slices) matches `check`.
pub fn piece_matches<'a>(check: PieceCheck, data: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let mut hasher = PieceHasher::new(check);
    data.into_iter().for_each(|d| hasher.update(d));
    hasher.matches()
}

/// Verifies a BEP 52 `hashes` answer against a file's root.
///
/// `hashes` are consecutive nodes of layer `base` (0 = leaves) starting at `index`; their
/// count must be a power of two and `index` a multiple of it, so they form one subtree.
/// `proof` holds the uncles of that subtree's root, lowest first, all the way up to the root
/// of the file's tree of `tree_leaves` leaves. True when they lead to `root`.
pub fn verify_hashes(
    root: &Node,
    tree_leaves: u64,
    base: u32,
    index: u32,
    hashes: &[Node],
    proof: &[Node],
) -> bool {
    let count = hashes.len() as u64;
    if count == 0 || !count.is_power_of_two() || u64::from(index) % count != 0 {
        return false;
    }
    if !tree_leaves.is_power_of_two() {
        return false;
    }
    let height = tree_leaves.trailing_zeros();
    let level = base + count.trailing_zeros();
    if level > height || (height - level) as usize != proof.len() {
        return false;
    }
    let mut node = root_from_layer(hashes, count, [0; 32]);
    let mut position = u64::from(index) / count;
    for uncle in proof {
        node = if position % 2 == 0 { parent(&node, uncle) } else { parent(uncle, &node) };
        position /= 2;
    }
    position == 0 && node == *root
}

/// The uncles that prove the subtree of `count` nodes at `index` in `layer` (one layer of a
/// tree, `width` nodes wide once widened with `pad`), lowest first, up to the root: what a
/// peer answering a hash request sends after the hashes.
pub fn proof_from_layer(layer: &[Node], width: u64, pad: Node, index: u64, count: u64) -> Vec<Node> {
    let mut proof = Vec::new();
    if count == 0 || !count.is_power_of_two() {
        return proof;
    }
    let width = width.max(layer.len() as u64).max(1).next_power_of_two();
    // Climb to the layer where the requested nodes form a single node.
    let mut nodes: Vec<Node> = layer.to_vec();
    let mut pad = pad;
    let mut w = width;
    let mut c = count;
    while c > 1 && w > 1 {
        nodes = nodes.chunks(2).map(|p| parent(&p[0], p.get(1).unwrap_or(&pad))).collect();
        pad = parent(&pad, &pad);
        w /= 2;
        c /= 2;
    }
    let mut position = index / count;
    while w > 1 {
        let sibling = position ^ 1;
        proof.push(nodes.get(sibling as usize).copied().unwrap_or(pad));
        nodes = nodes.chunks(2).map(|p| parent(&p[0], p.get(1).unwrap_or(&pad))).collect();
        pad = parent(&pad, &pad);
        w /= 2;
        position /= 2;
    }
    proof
}

#[cfg(test)]
#[path = "merkle_tests.rs"]
mod tests;
