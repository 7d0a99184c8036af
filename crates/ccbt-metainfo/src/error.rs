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
    /// `meta version` names a version of the format ccbt does not know (only 1 and 2 exist).
    #[error("unsupported meta version {0} (ccbt reads versions 1 and 2)")]
    UnsupportedMetaVersion(i64),
    /// A BEP 52 `file tree` that is not shaped as one; `path` is where it goes wrong.
    #[error("invalid file tree at {path:?}: {reason}")]
    InvalidFileTree { path: String, reason: &'static str },
    /// A file's `pieces root` is missing, malformed or all zeros.
    #[error("invalid pieces root of {path:?}: {reason}")]
    InvalidPiecesRoot { path: String, reason: &'static str },
    /// A file's entry in `piece layers` is malformed or does not match its root.
    #[error("invalid piece layer of {path:?}: {reason}")]
    InvalidPieceLayer { path: String, reason: &'static str },
    /// A hybrid torrent whose v1 and v2 parts disagree (`index` is the v1 file where they part).
    #[error("hybrid torrent's v1 and v2 parts disagree at file {index}: {reason}")]
    HybridMismatch { index: usize, reason: &'static str },
    /// A v2 file tree with more files than [`crate::MAX_V2_FILES`].
    #[error("torrent has more than {limit} files")]
    TooManyFiles { limit: usize },
    /// A piece layer for a root that no file of the torrent has.
    #[error("no file of the torrent has the pieces root {0}")]
    UnknownPiecesRoot(String),
    /// An entry of `piece layers` that belongs to no file: its key is not a 32-byte pieces root,
    /// or no file longer than one piece has that root (`key` in hex, cut to 32 bytes).
    #[error("invalid entry {key} in piece layers: {reason}")]
    InvalidPieceLayersEntry { key: String, reason: &'static str },
    /// A versioned info dictionary (it has `meta version`) that is not canonical bencode: the
    /// keys of the dictionary at `path` are not sorted.
    #[error("{path} is not canonical bencode: its keys are not in sorted order")]
    UnsortedKeys { path: String },
    /// More pieces than [`crate::MAX_PIECES`].
    #[error("torrent has {pieces} pieces, more than the {limit} allowed")]
    TooManyPieces { pieces: u64, limit: u32 },
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
    /// The `xet` dictionary of the info dictionary (or a builder's xet part) is malformed;
    /// `key` is the dotted key at fault, such as `info.xet.roots.<pieces root hex>`.
    #[error("invalid {key}: {reason}")]
    InvalidXet { key: String, reason: &'static str },
    /// A non-empty file of a Xet torrent has no entry in `info.xet.roots`.
    #[error("info.xet.roots has no xet root for {path:?} (every non-empty file needs one)")]
    MissingXetRoot { path: String },
    /// An entry of the top-level `xet layers` that belongs to no file: its key is not a 32-byte
    /// xet root, or no file has that xet root (`key` in hex, cut to 32 bytes).
    #[error("invalid entry {key} in xet layers: {reason}")]
    InvalidXetLayersEntry { key: String, reason: &'static str },
    /// A file's chunk manifest (its entry in `xet layers`) is malformed or does not fold to the
    /// file's xet root.
    #[error("invalid xet layer of {path:?}: {reason}")]
    InvalidXetLayer { path: String, reason: crate::xet::ManifestError },
}

impl From<BencodeError> for MetainfoError {
    fn from(e: BencodeError) -> Self {
        MetainfoError::Bencode(e)
    }
}
