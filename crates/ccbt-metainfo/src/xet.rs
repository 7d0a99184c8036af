//! Xet metadata of a v2 or hybrid torrent (docs/xet.md, "Metainfo"):
//!
//! - `info.xet = {"v": 1, "roots": {<pieces root>: <xet root>}, "prev": <v2 info hash>}`: inside
//!   the info dictionary, so the info hash authenticates every xet root. Keyed by BEP 52 pieces
//!   roots, hence only in torrents with a v2 part. Every non-empty file needs its entry: a
//!   torrent that names the chunks of some files only would make a downloader guess which files
//!   can be assembled from chunks, and no tool has a reason to write one.
//! - top-level `xet layers = {<xet root>: <manifest>}`, the analogue of `piece layers`: each
//!   manifest is the file's chunks as `id[32] ‖ len u32 BE`, checked against the file's length
//!   and folded to its xet root before it is kept.
//! - BEP 38 `similar` and `collections`, in the info dictionary or outside it (merged).
//!
//! A `v` above 1 is a later version of the format: the torrent is then a plain v2 torrent to
//! ccbt (the version is recorded, the rest of the xet part and the `xet layers` are ignored).

use std::collections::{BTreeMap, HashMap, HashSet};

use ccbt_bencode::{Dict, Value};
use ccbt_core::merkle::Node;
use ccbt_core::{InfoHash, InfoHashV2};
use ccbt_xet::consts::{MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
use ccbt_xet::{file_hash, ChunkId, ChunkRef};
use thiserror::Error;

use crate::path::display;
use crate::{FileEntry, MetaVersion, MetainfoError};

type Result<T> = std::result::Result<T, MetainfoError>;

/// The version of the `info.xet` format ccbt reads and writes.
pub const XET_VERSION: i64 = 1;

/// Bytes per manifest entry: a 32-byte chunk id and a big-endian u32 length.
pub const MANIFEST_ENTRY_LEN: usize = 36;

/// The `info.xet` dictionary of a torrent, validated against its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XetInfo {
    /// The format version (`v`); always [`XET_VERSION`] here (others are not parsed).
    pub version: i64,
    /// The xet root of each non-empty file, by the file's BEP 52 pieces root (files with equal
    /// content share both roots).
    pub roots: BTreeMap<Node, ChunkId>,
    /// The v2 info hash of the previous version of this content, if the creator linked one.
    pub prev: Option<InfoHashV2>,
    /// Where later versions are announced (`pk` and `salt`): the BEP 46 mutable item a
    /// follower polls, if the creator named one.
    pub publisher: Option<XetPublisher>,
}

/// The BEP 46 mutable item that announces a torrent's later versions: the publisher's ed25519
/// public key (`info.xet.pk`) and the item's salt (`info.xet.salt`, empty when absent).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct XetPublisher {
    /// The 32-byte ed25519 public key.
    pub public_key: [u8; 32],
    /// At most [`MAX_PUBLISHER_SALT`] bytes naming the dataset (BEP 44's salt limit).
    pub salt: Vec<u8>,
}

/// The longest `info.xet.salt`: BEP 44 allows salts of at most 64 bytes.
pub const MAX_PUBLISHER_SALT: usize = 64;

/// An info hash in a BEP 38 `similar` list: 20 bytes (v1, or a v2 hash truncated) or 32 bytes
/// (a whole v2 hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimilarHash {
    /// A 20-byte info hash.
    V1(InfoHash),
    /// A 32-byte BEP 52 info hash.
    V2(InfoHashV2),
}

impl SimilarHash {
    /// The raw bytes, as written in the torrent.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            SimilarHash::V1(h) => &h.0,
            SimilarHash::V2(h) => &h.0,
        }
    }

    /// A 20- or 32-byte hash; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<SimilarHash> {
        match bytes.len() {
            20 => Some(SimilarHash::V1(InfoHash(bytes.try_into().ok()?))),
            32 => Some(SimilarHash::V2(InfoHashV2(bytes.try_into().ok()?))),
            _ => None,
        }
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex(self.as_bytes())
    }
}

/// Why a chunk manifest is refused.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestError {
    /// The bytes are not a whole number of 36-byte entries.
    #[error("{0} bytes is not a whole number of 36-byte entries")]
    Truncated(usize),
    /// More chunks than a file of this length can have: every chunk but the last is at least
    /// 8 KiB.
    #[error("{chunks} chunks, more than the {limit} a file of this length can have")]
    TooManyChunks { chunks: u64, limit: u64 },
    /// A chunk other than the last is shorter than 8 KiB (the chunker never cuts one).
    #[error("chunk {index} is {len} bytes: only the last chunk may be shorter than 8 KiB")]
    ChunkTooShort { index: usize, len: u32 },
    /// A chunk is empty or longer than 128 KiB.
    #[error("chunk {index} is {len} bytes: chunks are 1 byte to 128 KiB long")]
    BadChunkLength { index: usize, len: u32 },
    /// The chunk lengths do not add up to the file's length.
    #[error("the chunks add up to {sum} bytes, the file has {file_length}")]
    LengthMismatch { sum: u64, file_length: u64 },
    /// The chunks do not fold to the file's xet root.
    #[error("the chunks do not fold to the file's xet root")]
    RootMismatch,
}

/// The most chunks a file of `file_length` bytes can have: all but the last are at least
/// [`MIN_CHUNK_SIZE`] long.
pub fn max_chunks(file_length: u64) -> u64 {
    match file_length {
        0 => 0,
        n => (n - 1) / MIN_CHUNK_SIZE as u64 + 1,
    }
}

/// Decodes a manifest (`id[32] ‖ len u32 BE` per chunk) of a file of `file_length` bytes,
/// refusing it before allocating when it has more entries than such a file can have.
pub fn decode_manifest(bytes: &[u8], file_length: u64) -> std::result::Result<Vec<ChunkRef>, ManifestError> {
    if bytes.len() % MANIFEST_ENTRY_LEN != 0 {
        return Err(ManifestError::Truncated(bytes.len()));
    }
    let chunks = (bytes.len() / MANIFEST_ENTRY_LEN) as u64;
    let limit = max_chunks(file_length);
    if chunks > limit {
        return Err(ManifestError::TooManyChunks { chunks, limit });
    }
    Ok(ccbt_xet::raw_entries(bytes).collect())
}

/// Encodes a manifest as `id[32] ‖ len u32 BE` per chunk.
pub fn encode_manifest(chunks: &[ChunkRef]) -> Vec<u8> {
    let mut out = Vec::new();
    ccbt_xet::encode_entries(chunks, &mut out);
    out
}

/// Checks the chunks of a file of `file_length` bytes whose xet root is `root`: chunk lengths
/// the chunker can produce, adding up to the file's length, folding to the root.
pub fn check_manifest(
    chunks: &[ChunkRef],
    file_length: u64,
    root: &ChunkId,
) -> std::result::Result<(), ManifestError> {
    let limit = max_chunks(file_length);
    if chunks.len() as u64 > limit {
        return Err(ManifestError::TooManyChunks { chunks: chunks.len() as u64, limit });
    }
    let last = chunks.len().saturating_sub(1);
    let mut sum = 0u64;
    for (index, c) in chunks.iter().enumerate() {
        if c.len == 0 || c.len as usize > MAX_CHUNK_SIZE {
            return Err(ManifestError::BadChunkLength { index, len: c.len });
        }
        if index < last && (c.len as usize) < MIN_CHUNK_SIZE {
            return Err(ManifestError::ChunkTooShort { index, len: c.len });
        }
        sum += u64::from(c.len);
    }
    if sum != file_length {
        return Err(ManifestError::LengthMismatch { sum, file_length });
    }
    if file_hash(chunks) != *root {
        return Err(ManifestError::RootMismatch);
    }
    Ok(())
}

/// Everything Xet-related read from a .torrent.
#[derive(Default)]
pub(crate) struct XetParts {
    pub xet: Option<XetInfo>,
    pub ignored_version: Option<i64>,
    pub layers: BTreeMap<ChunkId, Vec<ChunkRef>>,
    pub similar: Vec<SimilarHash>,
    pub collections: Vec<String>,
}

/// Reads `info.xet`, the top-level `xet layers`, `similar` and `collections`.
pub(crate) fn read_xet_parts(
    top: &Dict<'_>,
    info: &Dict<'_>,
    files: &[FileEntry],
    version: MetaVersion,
) -> Result<XetParts> {
    let mut parts = XetParts {
        similar: read_similar(info, top),
        collections: read_collections(info, top),
        ..XetParts::default()
    };
    let Some(value) = info.get(b"xet") else { return Ok(parts) };
    let dict = value.as_dict().ok_or_else(|| wrong_type("info.xet", "a dictionary"))?;
    if !version.has_v2() {
        let reason = "a v1-only torrent cannot carry xet roots (they are keyed by BEP 52 pieces roots)";
        return Err(invalid("info.xet", reason));
    }
    let v = dict.get(b"v").ok_or_else(|| MetainfoError::MissingKey("info.xet.v".into()))?;
    let v = v.as_int().ok_or_else(|| wrong_type("info.xet.v", "an integer"))?;
    if v < 1 {
        return Err(invalid("info.xet.v", "the version must be a positive integer"));
    }
    if v > XET_VERSION {
        // A later format: unknown to us, so not checked and not used.
        parts.ignored_version = Some(v);
        return Ok(parts);
    }
    let xet = read_xet_dict(dict, files)?;
    parts.layers = read_xet_layers(top, files, &xet)?;
    parts.xet = Some(xet);
    Ok(parts)
}

/// `info.xet` of version 1.
fn read_xet_dict(dict: &Dict<'_>, files: &[FileEntry]) -> Result<XetInfo> {
    let roots_value = dict.get(b"roots").ok_or_else(|| MetainfoError::MissingKey("info.xet.roots".into()))?;
    let roots_dict = roots_value.as_dict().ok_or_else(|| wrong_type("info.xet.roots", "a dictionary"))?;
    let by_root = files_by_pieces_root(files);
    let mut roots = BTreeMap::new();
    let mut seen_xet = HashSet::new();
    for (key, value) in roots_dict.iter() {
        let at = || format!("info.xet.roots.{}", short_hex(key));
        let pieces_root: Node = key
            .try_into()
            .map_err(|_| MetainfoError::InvalidXet { key: at(), reason: "not a 32-byte pieces root" })?;
        if !by_root.contains_key(&pieces_root) {
            let reason = "no non-empty file of the torrent has this pieces root";
            return Err(MetainfoError::InvalidXet { key: at(), reason });
        }
        let bytes = value.as_bytes().ok_or_else(|| wrong_type(&at(), "a 32-byte string"))?;
        let xet_root: ChunkId = bytes
            .try_into()
            .map_err(|_| MetainfoError::InvalidXet { key: at(), reason: "a xet root is 32 bytes" })?;
        if xet_root == [0; 32] {
            let reason = "all zeros is the empty file's xet root, and empty files have no entry";
            return Err(MetainfoError::InvalidXet { key: at(), reason });
        }
        if !seen_xet.insert(xet_root) {
            let reason = "the same xet root is given for files of different content";
            return Err(MetainfoError::InvalidXet { key: at(), reason });
        }
        roots.insert(pieces_root, xet_root);
    }
    if let Some(f) = files.iter().find(|f| f.pieces_root.is_some_and(|r| !roots.contains_key(&r))) {
        return Err(MetainfoError::MissingXetRoot { path: display(&f.path) });
    }
    let prev = match dict.get(b"prev") {
        None => None,
        Some(v) => {
            let bytes = v.as_bytes().ok_or_else(|| wrong_type("info.xet.prev", "a 32-byte string"))?;
            let hash: [u8; 32] =
                bytes.try_into().map_err(|_| invalid("info.xet.prev", "a v2 info hash is 32 bytes"))?;
            Some(InfoHashV2(hash))
        }
    };
    Ok(XetInfo { version: XET_VERSION, roots, prev, publisher: read_publisher(dict)? })
}

/// `info.xet.pk` and `info.xet.salt`: a 32-byte key, and a salt of at most 64 bytes that is
/// only meaningful with a key.
fn read_publisher(dict: &Dict<'_>) -> Result<Option<XetPublisher>> {
    let salt = match dict.get(b"salt") {
        None => None,
        Some(v) => {
            let bytes = v.as_bytes().ok_or_else(|| wrong_type("info.xet.salt", "a byte string"))?;
            if bytes.len() > MAX_PUBLISHER_SALT {
                return Err(invalid("info.xet.salt", "a salt is at most 64 bytes (BEP 44)"));
            }
            Some(bytes.to_vec())
        }
    };
    let Some(pk) = dict.get(b"pk") else {
        return match salt {
            Some(_) => Err(invalid("info.xet.salt", "a salt needs the publisher's key (info.xet.pk)")),
            None => Ok(None),
        };
    };
    let bytes = pk.as_bytes().ok_or_else(|| wrong_type("info.xet.pk", "a 32-byte string"))?;
    let public_key: [u8; 32] =
        bytes.try_into().map_err(|_| invalid("info.xet.pk", "an ed25519 public key is 32 bytes"))?;
    Ok(Some(XetPublisher { public_key, salt: salt.unwrap_or_default() }))
}

/// The non-empty data files by pieces root (the first of files sharing one).
fn files_by_pieces_root(files: &[FileEntry]) -> HashMap<Node, &FileEntry> {
    let mut map = HashMap::new();
    for f in files.iter().filter(|f| !f.is_padding) {
        if let Some(root) = f.pieces_root {
            map.entry(root).or_insert(f);
        }
    }
    map
}

/// The top-level `xet layers`, each checked against its file. A layer absent from the torrent
/// is not returned (peers send it); a malformed one, or one no file has, refuses the torrent.
fn read_xet_layers(
    top: &Dict<'_>,
    files: &[FileEntry],
    xet: &XetInfo,
) -> Result<BTreeMap<ChunkId, Vec<ChunkRef>>> {
    let mut layers = BTreeMap::new();
    let Some(value) = top.get(b"xet layers") else { return Ok(layers) };
    let dict = value.as_dict().ok_or_else(|| wrong_type("xet layers", "a dictionary"))?;
    let by_xet = files_by_xet_root(files, xet);
    for (key, value) in dict.iter() {
        let entry_error = |reason| MetainfoError::InvalidXetLayersEntry { key: short_hex(key), reason };
        let root: ChunkId = key.try_into().map_err(|_| entry_error("the key is not a 32-byte xet root"))?;
        let f = by_xet.get(&root).ok_or_else(|| entry_error("no file of the torrent has this xet root"))?;
        let bytes = value
            .as_bytes()
            .ok_or_else(|| wrong_type(&format!("xet layers.{}", hex(&root)), "a byte string"))?;
        let layer_error = |reason| MetainfoError::InvalidXetLayer { path: display(&f.path), reason };
        let chunks = decode_manifest(bytes, f.length).map_err(layer_error)?;
        check_manifest(&chunks, f.length, &root).map_err(layer_error)?;
        layers.insert(root, chunks);
    }
    Ok(layers)
}

/// The non-empty data files by xet root.
pub(crate) fn files_by_xet_root<'f>(
    files: &'f [FileEntry],
    xet: &XetInfo,
) -> HashMap<ChunkId, &'f FileEntry> {
    files_by_pieces_root(files)
        .into_iter()
        .filter_map(|(pieces_root, f)| Some((*xet.roots.get(&pieces_root)?, f)))
        .collect()
}

/// BEP 38 `similar`, from the info dictionary then the top level: 20- and 32-byte hashes, each
/// once. Entries of other lengths or types are skipped, as libtorrent skips them: the list is
/// a hint, and a torrent libtorrent opens must open here too.
fn read_similar(info: &Dict<'_>, top: &Dict<'_>) -> Vec<SimilarHash> {
    let mut seen = HashSet::new();
    [info, top]
        .into_iter()
        .filter_map(|d| d.get(b"similar").and_then(Value::as_list))
        .flatten()
        .filter_map(|v| SimilarHash::from_bytes(v.as_bytes()?))
        .filter(|h| seen.insert(*h))
        .collect()
}

/// BEP 38 `collections`, from the info dictionary then the top level: UTF-8 names, each once;
/// other entries are skipped, as for `similar`.
fn read_collections(info: &Dict<'_>, top: &Dict<'_>) -> Vec<String> {
    let mut seen = HashSet::new();
    [info, top]
        .into_iter()
        .filter_map(|d| d.get(b"collections").and_then(Value::as_list))
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty() && seen.insert(*s))
        .map(str::to_owned)
        .collect()
}

fn invalid(key: &str, reason: &'static str) -> MetainfoError {
    MetainfoError::InvalidXet { key: key.to_owned(), reason }
}

fn wrong_type(key: &str, expected: &'static str) -> MetainfoError {
    MetainfoError::WrongType { key: key.to_owned(), expected }
}

/// An untrusted key for an error message: hex, at most 32 bytes of it.
fn short_hex(key: &[u8]) -> String {
    let mut s = hex(&key[..key.len().min(32)]);
    if key.len() > 32 {
        s.push('…');
    }
    s
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "xet_tests.rs"]
mod tests;
