//! Format version 1, frozen: its top-level struct exactly as version 1 wrote it (postcard reads
//! fields by position), and its conversion to the current [`Checkpoint`].
//!
//! The nested types (`Source`, `FileEntry`, `TorrentOptions`, `Totals`, `TorrentState`) have
//! not changed since version 1, so they are shared; a version that changes one of them must
//! freeze its version-1 form here too.

use std::path::PathBuf;

use ccbt_core::InfoHash;
use serde::Deserialize;

use crate::model::bounded_files;
use crate::{bytes, Checkpoint, FileEntry, Source, TorrentOptions, TorrentState, Totals, FORMAT_VERSION};

/// The version this module reads.
pub(crate) const VERSION: u32 = 1;

/// A version-1 checkpoint (no BitTorrent v2 state).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointV1 {
    version: u32,
    #[serde(with = "bytes::info_hash")]
    info_hash: InfoHash,
    name: String,
    source: Source,
    #[serde(with = "bytes::hex_bytes_opt")]
    info: Option<Vec<u8>>,
    save_path: PathBuf,
    piece_count: u32,
    #[serde(with = "bytes::hex_bytes")]
    verified: Vec<u8>,
    #[serde(deserialize_with = "bounded_files")]
    files: Vec<FileEntry>,
    options: TorrentOptions,
    totals: Totals,
    state: TorrentState,
    saved_at: u64,
}

impl CheckpointV1 {
    /// The version its payload claims (the codec checks it against the header's).
    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    /// The same state as a current checkpoint: a version-1 torrent had no v2 state.
    pub(crate) fn upgrade(self) -> Checkpoint {
        Checkpoint {
            version: FORMAT_VERSION,
            info_hash: self.info_hash,
            info_hash_v2: None,
            name: self.name,
            source: self.source,
            info: self.info,
            piece_layers: None,
            save_path: self.save_path,
            piece_count: self.piece_count,
            verified: self.verified,
            files: self.files,
            options: self.options,
            totals: self.totals,
            state: self.state,
            saved_at: self.saved_at,
        }
    }
}
