//! Torrent metainfo for ccbt: parsing and validating .torrent files (v1, BEP 52 v2 and hybrid
//! v1+v2 torrents, with their optional Xet chunk metadata and BEP 38 links), sanitising every file path, and creating new torrents.
//!
//! Info hashes (SHA-1, and SHA-256 for v2) are always computed over the original bytes of the
//! info dictionary, never over a re-encoding. This crate is sans-IO: reading files and hashing their pieces for a new
//! torrent is the storage crate's job; [`TorrentBuilder`] only assembles the result.

// Unit tests take `Instant::now()` once as their virtual clock's origin; product code may not
// (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

mod canonical;
mod create;
mod create_v2;
mod create_xet;
mod dedup;
mod error;
mod file_tree;
mod magnet;
mod parse;
mod parse_v2;
mod path;
mod torrent;
mod torrent_xet;
mod xet;

pub use create::{auto_piece_length, TorrentBuilder};
pub use create_v2::{aligned_layout, check_v2_piece_length, pad_file_path, AlignedEntry};
pub use create_xet::XetBuild;
pub use dedup::MAX_DUPLICATE_NAMES;
pub use error::MetainfoError;
pub use file_tree::MAX_V2_FILES;
pub use magnet::{info_hash_base32, Magnet, MagnetError, MAX_SELECT_ONLY};
pub use parse::{MAX_PIECES, MAX_TORRENT_FILE_SIZE};
pub use path::{is_portable_component, MAX_PATH_COMPONENTS};
pub use torrent::{FileEntry, MetaVersion, Torrent};
pub use xet::{
    check_manifest, decode_manifest, encode_manifest, max_chunks, ManifestError, SimilarHash, XetInfo,
    XetPublisher, MANIFEST_ENTRY_LEN, MAX_PUBLISHER_SALT, XET_VERSION,
};

#[cfg(test)]
mod tests;
