use thiserror::Error;

/// Errors from constructing or validating core types.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoreError {
    #[error("invalid hex id: expected {expected} hex characters, got {got:?}")]
    InvalidHexId { expected: usize, got: String },
    #[error("bitfield has {got} bytes, expected {expected} for {pieces} pieces")]
    BitfieldLength { got: usize, expected: usize, pieces: u32 },
    #[error("bitfield has spare bits set after piece {pieces}")]
    BitfieldSpareBits { pieces: u32 },
    #[error("invalid geometry: {0}")]
    Geometry(&'static str),
}
