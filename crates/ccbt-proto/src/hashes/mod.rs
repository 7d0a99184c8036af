//! BEP 52 piece layers over the wire: [`PieceLayerFetcher`] asks v2 peers for the piece layers a
//! torrent made from a magnet lacks and checks every answer against the file's pieces root;
//! [`HashServer`] answers other peers' `hash request`s from the piece layers we know.
//!
//! Both are sans-IO: the engine decodes the peer-wire messages ([`ccbt_wire::HashRequest`],
//! [`ccbt_wire::Hashes`]), feeds them in with the time, and sends what comes back. Only
//! connections speaking v2 (handshake with the truncated v2 info hash, or the reserved v2 bit,
//! see [`ccbt_wire::Handshake::supports_v2`]) may exchange these messages: libtorrent drops a
//! peer that sends them on a v1 connection.
//!
//! Both follow libtorrent's conventions, the reference implementation: piece hashes are asked
//! for in aligned runs of at most 512, `proof_layers` counts layers as
//! [`ccbt_wire::hashes::uncle_count`] describes, and a proof runs up to the file's root.

mod fetcher;
mod server;

pub use fetcher::{
    BadHashes, CompletedLayer, HashesOutcome, MissingLayer, PieceLayerFetcher, DEFAULT_HASH_TIMEOUT,
    MAX_HASH_REQUESTS_PER_PEER,
};
pub use server::{HashReject, HashServer};

use ccbt_core::merkle::LEAF_SIZE;
use thiserror::Error;

/// Most piece hashes asked for (and served) in one request: libtorrent's chunk size.
pub const MAX_HASHES_PER_REQUEST: u32 = 512;

/// Inputs the fetcher or the server cannot work with: a bug or an inconsistent torrent, never
/// peer input.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashSetupError {
    /// v2 piece lengths are powers of two of at least 16 KiB.
    #[error("piece length {0} is not a power of two of at least 16 KiB")]
    BadPieceLength(u32),
    /// A file's piece count does not match its length, or the file fits in one piece (such a
    /// file has no piece layer: its root is its only hash).
    #[error("file {file} of {length} bytes cannot have a piece layer of {num_pieces} pieces")]
    BadPieceCount { file: usize, length: u64, num_pieces: u32 },
    /// Two files with the same pieces root but different lengths.
    #[error("files with pieces root {root} disagree on their length")]
    ConflictingRoot { root: String },
    /// A known piece layer does not have one node per piece of its file.
    #[error("piece layer of root {root} has {got} nodes, expected {expected}")]
    LayerLength { root: String, got: usize, expected: u32 },
    /// A known piece layer does not fold to its pieces root.
    #[error("piece layer does not match its pieces root {root}")]
    LayerMismatch { root: String },
}

/// The layer of the piece hashes above the 16 KiB leaves (`log2(piece_length / 16 KiB)`).
pub fn piece_layer(piece_length: u32) -> Result<u32, HashSetupError> {
    if !piece_length.is_power_of_two() || piece_length < LEAF_SIZE {
        return Err(HashSetupError::BadPieceLength(piece_length));
    }
    Ok((piece_length / LEAF_SIZE).trailing_zeros())
}

/// Pieces of a file of `length` bytes, if it has a piece layer (more than one piece) whose
/// count fits a u32.
fn layer_pieces(length: u64, piece_length: u32) -> Option<u32> {
    let pieces = length.div_ceil(u64::from(piece_length));
    u32::try_from(pieces).ok().filter(|&n| n > 1)
}

/// Layers between the piece layer and the root of a file with `num_pieces` pieces.
fn layer_height(num_pieces: u32) -> u32 {
    num_pieces.checked_next_power_of_two().map_or(32, u32::trailing_zeros)
}

fn hex(root: &[u8; 32]) -> String {
    root.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
