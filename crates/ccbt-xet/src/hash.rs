//! Chunk ids, the aggregated tree and file hashes (xet-core's `DataHash` arithmetic).

use std::fmt::Write;

use crate::chunker::Chunker;
use crate::consts::{DATA_KEY, INTERNAL_NODE_KEY, MEAN_BRANCHING};

/// A chunk id, node or file hash: 32 raw bytes, in the order they go on the wire.
pub type ChunkId = [u8; 32];

/// One chunk of a file: its id and length (an entry of a manifest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    /// `blake3::keyed_hash(DATA_KEY, bytes)`.
    pub id: ChunkId,
    /// Bytes in the chunk (at most 128 KiB).
    pub len: u32,
}

/// The id of a chunk's bytes.
pub fn chunk_id(bytes: &[u8]) -> ChunkId {
    *blake3::keyed_hash(&DATA_KEY, bytes).as_bytes()
}

/// xet-core's hex of a hash: four little-endian 64-bit words, each printed as 16 hex digits.
/// Not the bytes in order (each 8-byte group appears reversed); used only where a string must
/// match Hugging Face's, and inside the tree's node text.
pub fn xethex(hash: &ChunkId) -> String {
    let mut out = String::with_capacity(64);
    for word in hash.chunks_exact(8) {
        let word = u64::from_le_bytes(word.try_into().expect("8-byte chunks"));
        let _ = write!(out, "{word:016x}");
    }
    out
}

/// `hash % n` as xet-core computes it: on the last little-endian 64-bit word.
fn hash_mod(hash: &ChunkId, n: u64) -> u64 {
    u64::from_le_bytes(hash[24..32].try_into().expect("8 bytes")) % n
}

/// How many of `nodes` the next group of the aggregated tree takes: it closes after the first
/// child from the third on whose hash is a multiple of the branching factor, or at
/// `2 * MEAN_BRANCHING + 1` children; two or fewer nodes always form one group.
fn next_group(nodes: &[(ChunkId, u64)]) -> usize {
    if nodes.len() <= 2 {
        return nodes.len();
    }
    let end = nodes.len().min(2 * MEAN_BRANCHING as usize + 1);
    (2..end).find(|&i| hash_mod(&nodes[i].0, MEAN_BRANCHING) == 0).map_or(end, |i| i + 1)
}

/// An internal node: the keyed hash of one text line `"<xethex> : <size>\n"` per child.
fn merge(children: &[(ChunkId, u64)]) -> (ChunkId, u64) {
    let mut text = String::with_capacity(children.len() * 80);
    for (hash, size) in children {
        let _ = writeln!(text, "{} : {size}", xethex(hash));
    }
    let hash = *blake3::keyed_hash(&INTERNAL_NODE_KEY, text.as_bytes()).as_bytes();
    (hash, children.iter().map(|(_, size)| size).sum())
}

/// The root of the aggregated tree over `(hash, size)` leaves (xorbs and files use it): groups
/// are merged level by level until one node is left. The root of one leaf is that leaf; of
/// none, all zeros. Group ends come from the hashes, so an edit changes only its own branch.
pub fn aggregated_root(leaves: &[(ChunkId, u64)]) -> ChunkId {
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len() / MEAN_BRANCHING as usize + 1);
        let mut start = 0;
        while start < level.len() {
            let end = start + next_group(&level[start..]);
            next.push(merge(&level[start..end]));
            start = end;
        }
        level = next;
    }
    level.first().map_or([0; 32], |(hash, _)| *hash)
}

/// A file's Xet hash (its "xet root") from its chunks: the aggregated root keyed with a zero
/// salt. The empty file's hash is all zeros.
pub fn file_hash(chunks: &[ChunkRef]) -> ChunkId {
    if chunks.is_empty() {
        return [0; 32];
    }
    let leaves: Vec<(ChunkId, u64)> = chunks.iter().map(|c| (c.id, u64::from(c.len))).collect();
    let root = aggregated_root(&leaves);
    *blake3::keyed_hash(&[0; 32], &root).as_bytes()
}

/// Chunks and hashes a file fed in buffers of any size, keeping only the current chunk's bytes.
#[derive(Debug, Default)]
pub struct FileHasher {
    chunker: Chunker,
    current: blake3::Hasher,
    chunks: Vec<ChunkRef>,
}

impl FileHasher {
    /// A hasher at the start of a file.
    pub fn new() -> Self {
        Self { chunker: Chunker::new(), current: blake3::Hasher::new_keyed(&DATA_KEY), chunks: Vec::new() }
    }

    /// Takes the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let before = self.chunker.pending();
            match self.chunker.next_boundary(data) {
                Some(n) => {
                    self.current.update(&data[..n]);
                    self.push_chunk(before + n);
                    data = &data[n..];
                }
                None => {
                    self.current.update(data);
                    data = &[];
                }
            }
        }
    }

    fn push_chunk(&mut self, len: usize) {
        let id = *self.current.finalize().as_bytes();
        self.current.reset();
        let len = u32::try_from(len).expect("chunks are at most 128 KiB");
        self.chunks.push(ChunkRef { id, len });
    }

    /// Chunks seen so far (complete ones only).
    pub fn chunks(&self) -> &[ChunkRef] {
        &self.chunks
    }

    /// Ends the file: its chunks, in order, and its Xet hash.
    pub fn finish(mut self) -> (ChunkId, Vec<ChunkRef>) {
        if self.chunker.pending() > 0 {
            self.push_chunk(self.chunker.pending());
        }
        let hash = file_hash(&self.chunks);
        (hash, self.chunks)
    }
}
