use thiserror::Error;

/// Why a bencoded input was rejected. Every variant carries the byte offset where the problem
/// was found so a caller can point at it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BencodeError {
    /// The input ended in the middle of a value (or a byte string claims more bytes than exist).
    #[error("unexpected end of input at byte {pos}")]
    UnexpectedEof { pos: usize },
    /// An integer is empty, has a leading zero, is `-0` or contains a non-digit.
    #[error("invalid integer at byte {pos}")]
    InvalidInt { pos: usize },
    /// An integer does not fit in an `i64`.
    #[error("integer out of range at byte {pos}")]
    IntOverflow { pos: usize },
    /// A byte string length has a leading zero, a non-digit, or does not fit in memory.
    #[error("invalid byte string length at byte {pos}")]
    InvalidByteStringLength { pos: usize },
    /// A complete value was decoded but more bytes follow.
    #[error("trailing data after the value at byte {pos}")]
    TrailingData { pos: usize },
    /// Lists and dictionaries are nested deeper than [`crate::MAX_DEPTH`].
    #[error("nesting deeper than {max} at byte {pos}", max = crate::MAX_DEPTH)]
    TooDeep { pos: usize },
    /// A byte that cannot start a value (or a dictionary key) at this position.
    #[error("unexpected byte 0x{byte:02x} at byte {pos}")]
    UnexpectedByte { byte: u8, pos: usize },
    /// A dictionary key that is not a byte string.
    #[error("dictionary key is not a byte string at byte {pos}")]
    NonStringKey { pos: usize },
    /// The same key appears twice in one dictionary (`key` is lossy UTF-8, truncated).
    #[error("duplicate dictionary key {key:?} at byte {pos}")]
    DuplicateKey { key: String, pos: usize },
    /// [`crate::raw_value_of_key`] was given an input whose top-level value is not a dictionary.
    #[error("top-level value is not a dictionary")]
    NotADict,
}

/// Lossy, length-bounded rendering of a key for error messages (untrusted input must not make
/// an error arbitrarily large).
pub(crate) fn key_for_error(key: &[u8]) -> String {
    const MAX: usize = 64;
    let shown = key.get(..MAX).unwrap_or(key);
    let mut s = String::from_utf8_lossy(shown).into_owned();
    if key.len() > MAX {
        s.push('…');
    }
    s
}
