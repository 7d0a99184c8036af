//! Block data of pieces being downloaded, kept until the whole piece can be hashed.

use std::collections::HashMap;

use bytes::Bytes;
use ccbt_core::BlockRef;

use crate::PeerKey;

#[derive(Default)]
struct PieceBuffer {
    /// Each block's data and the peer that sent it.
    blocks: Vec<Option<(Bytes, PeerKey)>>,
}

/// Partial pieces' block data by piece index.
#[derive(Default)]
pub(super) struct PieceBuffers {
    pieces: HashMap<u32, PieceBuffer>,
}

impl PieceBuffers {
    /// Stores a fresh block of a piece with `blocks_in_piece` blocks.
    pub(super) fn insert(&mut self, blocks_in_piece: u32, block: BlockRef, data: Bytes, from: PeerKey) {
        let buf = self
            .pieces
            .entry(block.piece)
            .or_insert_with(|| PieceBuffer { blocks: vec![None; blocks_in_piece as usize] });
        if let Some(slot) = buf.blocks.get_mut(block.index_in_piece() as usize) {
            *slot = Some((data, from));
        }
    }

    /// Takes a complete piece's blocks (in order) and the sender of each. `None` if a block is
    /// missing, which the picker's bookkeeping rules out.
    pub(super) fn take(&mut self, piece: u32) -> Option<(Vec<Bytes>, Vec<PeerKey>)> {
        let buf = self.pieces.remove(&piece)?;
        let blocks: Option<Vec<(Bytes, PeerKey)>> = buf.blocks.into_iter().collect();
        Some(blocks?.into_iter().unzip())
    }
}
