use ccbt_bencode::BencodeError;
use thiserror::Error;

/// Why a KRPC datagram was rejected by [`crate::krpc::decode`]. Each variant names the key or
/// value at fault; strings taken from the datagram are lossy and length-bounded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KrpcError {
    /// The datagram is not a single valid bencoded value.
    #[error("datagram is not valid bencode")]
    Bencode {
        /// What the bencode decoder found.
        #[source]
        source: BencodeError,
    },
    /// The top-level value (or the value of `key`) is not a dictionary.
    #[error("{key} is not a dictionary")]
    NotADict {
        /// `"message"` for the top level, else the key.
        key: &'static str,
    },
    /// A required key is absent.
    #[error("missing key {key:?}")]
    MissingKey {
        /// The missing key.
        key: &'static str,
    },
    /// A key holds a value of the wrong bencode type.
    #[error("key {key:?} should be a {expected}, found a {found}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// The expected bencode type.
        expected: &'static str,
        /// The bencode type found.
        found: &'static str,
    },
    /// A byte string has the wrong length (ids are 20 bytes, compact nodes 26, peers 6).
    #[error("key {key:?} has length {got}, expected {expected}")]
    WrongLength {
        /// The key.
        key: &'static str,
        /// The expected length (or the unit the length must be a multiple of).
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// `y` is not one of `q`, `r`, `e`.
    #[error("unknown message type {kind:?}")]
    UnknownType {
        /// The value of `y`, lossy and truncated.
        kind: String,
    },
    /// A query names a method this node does not implement (answered with error 204).
    #[error("unknown method {method:?}")]
    UnknownMethod {
        /// The value of `q`, lossy and truncated.
        method: String,
    },
    /// An announce port outside 1..=65535 (0 is accepted only with `implied_port`).
    #[error("invalid port {port}")]
    InvalidPort {
        /// The port as sent.
        port: i64,
    },
    /// The error list `e` is not `[code, message]`.
    #[error("malformed error list")]
    MalformedError,
}

/// Lossy, length-bounded rendering of untrusted bytes for error messages.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    const MAX: usize = 32;
    let shown = bytes.get(..MAX).unwrap_or(bytes);
    let mut s = String::from_utf8_lossy(shown).into_owned();
    if bytes.len() > MAX {
        s.push('…');
    }
    s
}
