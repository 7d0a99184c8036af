//! What goes over the socket: BitTorrent `piece` messages of 16 KiB blocks, and the pattern
//! their payloads are cut from, so that the receiver can check every byte it landed.

/// Block size, as every client requests.
pub const BLOCK: usize = 16 * 1024;
/// Piece size: 64 blocks.
pub const PIECE: usize = 1024 * 1024;
pub const BLOCKS_PER_PIECE: usize = PIECE / BLOCK;
/// `<len u32><id u8><index u32><begin u32>` before each payload.
pub const HEADER: usize = 13;
/// The length prefix of a `piece` message of one block (id, index, begin, payload).
pub const MSG_LEN: u32 = (9 + BLOCK) as u32;
const PIECE_ID: u8 = 7;

/// Payload offsets step through the pattern in multiples of this.
const STRIDE: usize = 64;
/// Distinct payload windows in the pattern: one per block of 1 GiB.
const WINDOWS: usize = 65536;

/// A block: piece index and block number in the piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockId {
    pub index: u32,
    pub block: u32,
}

impl BlockId {
    /// The `n`-th block of the download, in order.
    pub fn nth(n: usize) -> BlockId {
        BlockId { index: (n / BLOCKS_PER_PIECE) as u32, block: (n % BLOCKS_PER_PIECE) as u32 }
    }
    pub fn seq(self) -> usize {
        self.index as usize * BLOCKS_PER_PIECE + self.block as usize
    }
    pub fn begin(self) -> u32 {
        self.block * BLOCK as u32
    }
}

pub fn encode_header(id: BlockId) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..4].copy_from_slice(&MSG_LEN.to_be_bytes());
    h[4] = PIECE_ID;
    h[5..9].copy_from_slice(&id.index.to_be_bytes());
    h[9..13].copy_from_slice(&id.begin().to_be_bytes());
    h
}

/// The block a header announces; an error for anything but a `piece` message of one aligned,
/// whole block (the sender sends nothing else).
pub fn parse_header(h: &[u8; HEADER]) -> Result<BlockId, String> {
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let index = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
    let begin = u32::from_be_bytes([h[9], h[10], h[11], h[12]]);
    if len != MSG_LEN || h[4] != PIECE_ID || begin as usize % BLOCK != 0 || begin as usize >= PIECE {
        return Err(format!("unexpected header {h:02x?}"));
    }
    Ok(BlockId { index, block: begin / BLOCK as u32 })
}

/// Pseudo-random bytes; block `n`'s payload is the window at `offset(n)`. The offsets of the
/// first [`WINDOWS`] blocks are all distinct (an odd multiplier modulo a power of two is a
/// bijection), so a block landing in another block's place, or not at all, is always noticed.
pub struct Pattern {
    bytes: Vec<u8>,
}

impl Pattern {
    pub fn new() -> Pattern {
        let mut bytes = vec![0u8; WINDOWS * STRIDE + BLOCK];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for chunk in bytes.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        Pattern { bytes }
    }

    pub fn payload(&self, id: BlockId) -> &[u8] {
        let at = (id.seq().wrapping_mul(7919) % WINDOWS) * STRIDE;
        &self.bytes[at..at + BLOCK]
    }
}
