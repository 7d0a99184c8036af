use crate::CoreError;

/// The request unit inside a piece: 16 KiB (BEP 3; larger requests are refused by most peers).
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// Piece and block arithmetic of one torrent. All indices handed out by this type are in range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lengths {
    total_length: u64,
    piece_length: u32,
    num_pieces: u32,
}

/// A piece index checked against a torrent's [`Lengths`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValidPieceIndex(u32);

impl ValidPieceIndex {
    pub fn get(self) -> u32 {
        self.0
    }
}

/// One block of a piece: `len` bytes at `offset` inside piece `piece`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    pub piece: u32,
    pub offset: u32,
    pub len: u32,
}

impl BlockRef {
    /// The index of this block inside its piece (offset / 16 KiB).
    pub fn index_in_piece(&self) -> u32 {
        self.offset / BLOCK_SIZE
    }
}

impl Lengths {
    /// Geometry of a torrent of `total_length` bytes cut into pieces of `piece_length` bytes.
    /// The piece length must be a positive multiple of 16 KiB (BEP 3 requires a power of two;
    /// we accept any multiple of the block size) and the torrent must not be empty.
    pub fn new(total_length: u64, piece_length: u32) -> Result<Lengths, CoreError> {
        if piece_length == 0 || piece_length % BLOCK_SIZE != 0 {
            return Err(CoreError::Geometry("piece length must be a positive multiple of 16 KiB"));
        }
        if total_length == 0 {
            return Err(CoreError::Geometry("torrent has no data"));
        }
        let num_pieces = total_length.div_ceil(piece_length as u64);
        let num_pieces =
            u32::try_from(num_pieces).map_err(|_| CoreError::Geometry("too many pieces (more than 2^32)"))?;
        Ok(Lengths { total_length, piece_length, num_pieces })
    }

    pub fn total_length(&self) -> u64 {
        self.total_length
    }
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }
    pub fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    pub fn validate_piece(&self, piece: u32) -> Option<ValidPieceIndex> {
        (piece < self.num_pieces).then_some(ValidPieceIndex(piece))
    }

    /// Byte offset of the start of `piece` within the whole torrent.
    pub fn piece_offset(&self, piece: ValidPieceIndex) -> u64 {
        piece.0 as u64 * self.piece_length as u64
    }

    /// Length of `piece` (the last piece may be short).
    pub fn piece_len(&self, piece: ValidPieceIndex) -> u32 {
        if piece.0 + 1 == self.num_pieces {
            (self.total_length - self.piece_offset(piece)) as u32
        } else {
            self.piece_length
        }
    }

    /// Number of 16 KiB blocks in `piece` (the last block may be short).
    pub fn blocks_in_piece(&self, piece: ValidPieceIndex) -> u32 {
        self.piece_len(piece).div_ceil(BLOCK_SIZE)
    }

    /// Block number `index` of `piece`, or `None` if out of range.
    pub fn block(&self, piece: ValidPieceIndex, index: u32) -> Option<BlockRef> {
        let plen = self.piece_len(piece);
        let offset = index.checked_mul(BLOCK_SIZE)?;
        (offset < plen).then(|| BlockRef { piece: piece.0, offset, len: (plen - offset).min(BLOCK_SIZE) })
    }

    /// All blocks of `piece`, in order.
    pub fn blocks(&self, piece: ValidPieceIndex) -> impl Iterator<Item = BlockRef> + '_ {
        (0..self.blocks_in_piece(piece)).filter_map(move |i| self.block(piece, i))
    }

    /// Whether a peer's request of `len` bytes at `offset` in `piece` is one we can serve:
    /// in range, non-empty and at most `max_len` bytes.
    pub fn validate_request(&self, piece: u32, offset: u32, len: u32, max_len: u32) -> Option<BlockRef> {
        let p = self.validate_piece(piece)?;
        let end = offset.checked_add(len)?;
        (len > 0 && len <= max_len && end <= self.piece_len(p)).then_some(BlockRef { piece, offset, len })
    }

    /// Whether `block` is exactly one of the canonical 16 KiB blocks we request.
    pub fn is_canonical_block(&self, block: &BlockRef) -> bool {
        match self.validate_piece(block.piece) {
            Some(p) => {
                block.offset % BLOCK_SIZE == 0 && self.block(p, block.index_in_piece()) == Some(*block)
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_last_piece_and_block() {
        let l = Lengths::new(3 * 32768 + 100, 32768).unwrap();
        assert_eq!(l.num_pieces(), 4);
        let last = l.validate_piece(3).unwrap();
        assert_eq!(l.piece_len(last), 100);
        assert_eq!(l.blocks_in_piece(last), 1);
        assert_eq!(l.block(last, 0), Some(BlockRef { piece: 3, offset: 0, len: 100 }));
        assert_eq!(l.block(last, 1), None);
        let first = l.validate_piece(0).unwrap();
        assert_eq!(l.blocks(first).count(), 2);
        assert!(l.validate_piece(4).is_none());
    }

    #[test]
    fn rejects_bad_geometry() {
        assert!(Lengths::new(10, 1000).is_err());
        assert!(Lengths::new(0, 16384).is_err());
        assert!(Lengths::new(u64::MAX, 16384).is_err());
    }

    #[test]
    fn request_validation() {
        let l = Lengths::new(40000, 32768).unwrap();
        assert!(l.validate_request(0, 0, 16384, 16384).is_some());
        assert!(l.validate_request(0, 16384, 16384, 16384).is_some());
        assert!(l.validate_request(0, 16385, 16384, 16384).is_none());
        assert!(l.validate_request(1, 0, 7232, 16384).is_some());
        assert!(l.validate_request(1, 0, 7233, 16384).is_none());
        assert!(l.validate_request(2, 0, 1, 16384).is_none());
        assert!(l.validate_request(0, u32::MAX, 2, 16384).is_none());
        assert!(l.validate_request(0, 0, 0, 16384).is_none());
        assert!(l.is_canonical_block(&BlockRef { piece: 1, offset: 0, len: 7232 }));
        assert!(!l.is_canonical_block(&BlockRef { piece: 1, offset: 0, len: 7000 }));
    }
}
