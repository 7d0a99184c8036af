//! Block data of pieces being downloaded, kept until the whole piece can be hashed.
//!
//! Each started piece has one buffer of the piece's size, taken from the torrent's
//! [`PiecePool`] when its first block is requested; every block that arrives is copied into it
//! at its offset. The read buffer a block was sliced from is therefore never kept alive by a
//! stored block, and the memory a piece holds is its length (plus at most two pages of
//! alignment), which is what the swarm's buffer budget counts. The complete piece leaves as one
//! slice of that buffer (hashed and written from there without a copy, with `O_DIRECT` as it is
//! where the buffer's page phase matches its file's), and the buffer returns to the pool when the
//! last slice is dropped.

use std::collections::HashMap;
use std::net::IpAddr;

use bytes::Bytes;
use ccbt_core::BlockRef;

use super::piece_pool::{PiecePool, PooledBuf};

struct PieceBuffer {
    /// The piece's bytes (a recycled buffer: meaningful only where blocks were written).
    data: PooledBuf,
    /// The address each block came from, `None` while it is missing.
    senders: Vec<Option<IpAddr>>,
}

/// A complete piece taken out of [`PieceBuffers`].
pub(super) struct CompletePiece {
    /// The piece's bytes: one slice of its buffer, so that a file's part of it is one
    /// contiguous, possibly aligned range for the writer (16 KiB slices would split it).
    pub(super) data: Bytes,
    /// The address each block came from.
    pub(super) senders: Vec<IpAddr>,
}

/// Partial pieces' buffers by piece index.
pub(super) struct PieceBuffers {
    pieces: HashMap<u32, PieceBuffer>,
    pool: PiecePool,
}

impl PieceBuffers {
    /// Buffers for pieces of at most `piece_length` bytes, keeping at most `keep` idle ones.
    pub(super) fn new(piece_length: u32, keep: usize) -> PieceBuffers {
        PieceBuffers { pieces: HashMap::new(), pool: PiecePool::new(piece_length as usize, keep) }
    }

    /// How many idle buffers to keep from now on (the budget changed).
    pub(super) fn set_keep(&self, keep: usize) {
        self.pool.set_keep(keep);
    }

    /// Allocates the buffer of a `len`-byte piece of `blocks` blocks, `phase` bytes past a page
    /// boundary, unless it has one. Returns whether it was allocated now.
    pub(super) fn reserve(&mut self, piece: u32, len: usize, blocks: u32, phase: usize) -> bool {
        if self.pieces.contains_key(&piece) {
            return false;
        }
        let buf = PieceBuffer { data: self.pool.take(len, phase), senders: vec![None; blocks as usize] };
        self.pieces.insert(piece, buf);
        true
    }

    /// Whether `piece` has a buffer.
    pub(super) fn has(&self, piece: u32) -> bool {
        self.pieces.contains_key(&piece)
    }

    /// Copies a fresh block into its piece's buffer (which [`PieceBuffers::reserve`] made).
    /// Data that does not fit the block's place is ignored; the connection checked it already.
    pub(super) fn insert(&mut self, block: BlockRef, data: &[u8], from: IpAddr) {
        let Some(buf) = self.pieces.get_mut(&block.piece) else { return };
        let start = block.offset as usize;
        let (Some(dst), Some(sender)) = (
            buf.data.as_mut_slice().get_mut(start..start + data.len()),
            buf.senders.get_mut(block.index_in_piece() as usize),
        ) else {
            return;
        };
        ccbt_core::copy_uncached(dst, data);
        *sender = Some(from);
    }

    /// Takes a complete piece: its bytes and the sender of each block. `None` if a block is
    /// missing, which the picker's bookkeeping rules out.
    pub(super) fn take(&mut self, piece: u32) -> Option<CompletePiece> {
        if self.pieces.get(&piece)?.senders.iter().any(Option::is_none) {
            return None;
        }
        let buf = self.pieces.remove(&piece)?;
        let senders = buf.senders.into_iter().flatten().collect();
        Some(CompletePiece { data: buf.data.freeze(), senders })
    }

    /// Drops a piece's buffer. Returns whether it had one.
    pub(super) fn remove(&mut self, piece: u32) -> bool {
        self.pieces.remove(&piece).is_some()
    }

    /// The pieces that have a buffer.
    pub(super) fn pieces(&self) -> Vec<u32> {
        self.pieces.keys().copied().collect()
    }
}
