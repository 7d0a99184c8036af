use ccbt_bencode::BencodeError;
use thiserror::Error;

/// Why a .torrent was rejected (or could not be built). Messages name the offending key or
/// file so the user can see what is wrong.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetainfoError {
    /// The .torrent is bigger than [`crate::MAX_TORRENT_FILE_SIZE`]; callers reading a file read
    /// at most one byte more than the limit, so the real size is not known.
    #[error("torrent file is larger than {limit} bytes, the most ccbt reads")]
    TooLarge { limit: usize },
    /// The file is not valid bencode.
    #[error("torrent is not valid bencode: {0}")]
    Bencode(BencodeError),
    /// The top-level value is not a dictionary.
    #[error("torrent is not a bencoded dictionary")]
    NotADict,
    /// A required key is absent; the key is a dotted path such as `info.piece length`.
    #[error("missing key {0:?}")]
    MissingKey(String),
    /// A key has the wrong type.
    #[error("key {key:?} should be {expected}")]
    WrongType { key: String, expected: &'static str },
    /// `pieces` is not a whole number of 20-byte SHA-1 hashes.
    #[error("info.pieces is {len} bytes, not a multiple of 20")]
    InvalidPiecesLength { len: usize },
    /// The number of piece hashes does not match the total length and the piece length.
    #[error("torrent has {got} piece hashes but its length needs {expected}")]
    PieceCountMismatch { expected: u64, got: usize },
    /// `piece length` is zero, too large or not a multiple of 16 KiB.
    #[error("invalid piece length {value}: {reason}")]
    InvalidPieceLength { value: i64, reason: &'static str },
    /// A file length is negative or does not fit.
    #[error("invalid length {value} at {key:?}")]
    InvalidLength { key: String, value: i128 },
    /// The file lengths add up to more than 2^64 - 1 bytes.
    #[error("total length of the files overflows")]
    LengthOverflow,
    /// A multi-file torrent with an empty file list.
    #[error("torrent has no files")]
    NoFiles,
    /// The files add up to zero bytes.
    #[error("torrent has no data (total length 0)")]
    EmptyTorrent,
    /// A BitTorrent v2-only torrent (no v1 `pieces`): not supported yet.
    #[error("v2-only torrents are not supported")]
    V2OnlyUnsupported,
    /// The lengths do not form a valid piece geometry.
    #[error("invalid torrent geometry: {0}")]
    Geometry(ccbt_core::CoreError),
    /// A file path with more than [`crate::MAX_PATH_COMPONENTS`] components.
    #[error("info.files[{index}].{key} has {components} components, more than the {limit} allowed")]
    PathTooDeep { index: usize, key: &'static str, components: usize, limit: usize },
    /// More than [`crate::MAX_DUPLICATE_NAMES`] attempts at renaming files whose paths collide.
    #[error("too many files with the same path (at {path:?}): more than {limit} renaming attempts")]
    TooManyDuplicateNames { path: String, limit: usize },
    /// A file path (or the torrent name) that is unsafe to create on disk. `path` is the whole
    /// offending path (lossy UTF-8, `/`-separated) so the user sees which file.
    #[error("unsafe path {path:?}: {reason}")]
    UnsafePath { path: String, reason: &'static str },
}

impl From<BencodeError> for MetainfoError {
    fn from(e: BencodeError) -> Self {
        MetainfoError::Bencode(e)
    }
}
