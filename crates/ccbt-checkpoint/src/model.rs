//! The content of a checkpoint: everything needed to continue a torrent without asking the user
//! again and without re-hashing data that was verified and durable when it was written.
//!
//! Compatibility rule. The binary codec (postcard) is not self-describing: its layout is exactly
//! this struct tree, in field order. So any change to these types (a field added, removed,
//! reordered or retyped, an enum variant added) raises [`FORMAT_VERSION`]. A decoder reads every
//! version from 1 to [`FORMAT_VERSION`] (older ones through a frozen copy of their types and a
//! conversion: [`crate::v1`]) and refuses a higher one with
//! [`CheckpointError::UnsupportedVersion`] before looking at the payload, so a newer file is never
//! half-read. Every struct denies unknown fields: a JSON file of a known version with fields this
//! build does not know was not written by it, and is reported malformed rather than silently
//! trimmed. [`TorrentOptions`] fields default when absent, so a hand-written JSON file may name
//! only the options it sets.
//!
//! Versions: 1, the first; 2 adds the BitTorrent v2 state (`info_hash_v2`, `piece_layers`).

use std::path::PathBuf;

use ccbt_core::{Bitfield, InfoHash, InfoHashV2};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::bytes;
use crate::CheckpointError;

/// The format version this build writes (and the highest it reads).
pub const FORMAT_VERSION: u32 = 2;

/// The most files a checkpoint may list (far above any real torrent: a 10 MB `.torrent` holds
/// fewer than half a million). It bounds decoding memory: a file entry takes about 5 bytes in
/// the binary payload but about 80 in memory.
pub const MAX_FILES: usize = 1 << 20;

/// The saved resume state of one torrent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// [`FORMAT_VERSION`] when written by this build.
    pub version: u32,
    /// The 20-byte id the torrent goes by on the wire: the SHA-1 of the info dictionary for v1
    /// and hybrid torrents, the truncated `info_hash_v2` for v2-only ones.
    #[serde(with = "bytes::info_hash")]
    pub info_hash: InfoHash,
    /// The SHA-256 of the info dictionary (BEP 52) of a v2 or hybrid torrent; `None` for a v1
    /// torrent (or a v1 magnet still fetching metadata). Since version 2.
    #[serde(with = "bytes::info_hash_v2_opt")]
    pub info_hash_v2: Option<InfoHashV2>,
    /// The torrent's name (for listings).
    pub name: String,
    /// Where the torrent came from, to resume without naming it again.
    pub source: Source,
    /// The bencoded info dictionary, exactly as hashed: a magnet resumes with no metadata
    /// exchange. `None` when it is not known yet (a magnet still fetching metadata).
    #[serde(with = "bytes::hex_bytes_opt")]
    pub info: Option<Vec<u8>>,
    /// The bencoded `piece layers` dictionary (BEP 52) of a v2 or hybrid torrent as far as it is
    /// known (from its .torrent, or learned from peers with hash requests), so a restart needs
    /// no hash requests. Checked against the file roots by whoever builds the torrent from it,
    /// not here. `None` when nothing is known (always for v1). Since version 2.
    #[serde(with = "bytes::hex_bytes_opt")]
    pub piece_layers: Option<Vec<u8>>,
    /// The output folder the torrent's files are under.
    pub save_path: PathBuf,
    /// Pieces of the torrent.
    pub piece_count: u32,
    /// The verified and durable pieces: a bitfield (BEP 3 bit order, high bit first) of
    /// `ceil(piece_count / 8)` bytes with the spare bits clear.
    #[serde(with = "bytes::hex_bytes")]
    pub verified: Vec<u8>,
    /// The torrent's files, in layout order (at most [`MAX_FILES`]).
    #[serde(deserialize_with = "bounded_files")]
    pub files: Vec<FileEntry>,
    /// Per-torrent overrides of session settings.
    pub options: TorrentOptions,
    pub totals: Totals,
    pub state: TorrentState,
    /// When it was written, in seconds since the Unix epoch: set by the writer (saving does not
    /// change it; retention and "newer of two formats" go by it, so 0 counts as very old).
    pub saved_at: u64,
}

/// Where a torrent came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The `.torrent` file it was added from.
    pub torrent_file: Option<PathBuf>,
    /// The magnet link it was added from.
    pub magnet_uri: Option<String>,
}

/// One file of the torrent as the checkpoint saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to `save_path`, as laid out by the torrent.
    pub path: PathBuf,
    /// Its length in the torrent.
    pub length: u64,
    /// Its size and modification time on disk when the checkpoint was written (`None`: it did
    /// not exist). A file now missing, shorter, or modified later is rechecked on resume.
    pub observed: Option<FileStamp>,
    /// ccbt created it: its partial data is ccbt's own and may be written on resume (the rule that
    /// ccbt never writes into a file it did not create holds across restarts).
    pub created_by_ccbt: bool,
    pub priority: FilePriority,
}

/// A file's size and modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStamp {
    pub size: u64,
    /// Seconds since the Unix epoch (negative before it).
    pub mtime_secs: i64,
    /// Nanoseconds within that second.
    pub mtime_nanos: u32,
}

/// Whether and how eagerly a file is downloaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilePriority {
    /// Not downloaded (deselected).
    Skip,
    Low,
    #[default]
    Normal,
    High,
}

/// Order in which pieces are requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PieceSelection {
    RarestFirst,
    Sequential,
    RoundRobin,
}

/// Per-torrent overrides; `None` follows the session's setting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TorrentOptions {
    /// Download limit in bytes/s (0: unlimited).
    pub down_limit: Option<u64>,
    /// Upload limit in bytes/s (0: unlimited).
    pub up_limit: Option<u64>,
    pub streaming: Option<bool>,
    pub piece_selection: Option<PieceSelection>,
    pub max_peers: Option<u32>,
    pub max_upload_slots: Option<u32>,
}

/// Counters carried across runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Payload bytes downloaded (all runs).
    pub downloaded: u64,
    /// Payload bytes uploaded (all runs).
    pub uploaded: u64,
    /// Seconds the torrent was running (all runs).
    pub active_secs: u64,
}

/// What the torrent was doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TorrentState {
    #[default]
    Downloading,
    Paused,
    Seeding,
}

impl TorrentState {
    /// The word used in JSON and listings.
    pub fn word(self) -> &'static str {
        match self {
            TorrentState::Downloading => "downloading",
            TorrentState::Paused => "paused",
            TorrentState::Seeding => "seeding",
        }
    }
}

/// Deserializes at most [`MAX_FILES`] file entries, failing as soon as there is one more.
pub(crate) fn bounded_files<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<FileEntry>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<FileEntry>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a list of at most {MAX_FILES} files")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<FileEntry>, A::Error> {
            let mut files = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(file) = seq.next_element()? {
                if files.len() == MAX_FILES {
                    return Err(serde::de::Error::custom(format!("more than {MAX_FILES} files")));
                }
                files.push(file);
            }
            Ok(files)
        }
    }
    deserializer.deserialize_seq(Visitor)
}

impl Checkpoint {
    /// A checkpoint of the current version with no verified piece, no file and default options.
    pub fn new(
        info_hash: InfoHash,
        name: impl Into<String>,
        save_path: impl Into<PathBuf>,
        piece_count: u32,
    ) -> Self {
        Checkpoint {
            version: FORMAT_VERSION,
            info_hash,
            info_hash_v2: None,
            name: name.into(),
            source: Source::default(),
            info: None,
            piece_layers: None,
            save_path: save_path.into(),
            piece_count,
            verified: Bitfield::new(piece_count).as_bytes().to_vec(),
            files: Vec::new(),
            options: TorrentOptions::default(),
            totals: Totals::default(),
            state: TorrentState::default(),
            saved_at: 0,
        }
    }

    /// The verified pieces as a bitfield (checked when decoded, so this fails only for a
    /// checkpoint built by hand with the wrong length).
    pub fn verified_pieces(&self) -> Result<Bitfield, CheckpointError> {
        Bitfield::from_bytes(&self.verified, self.piece_count)
            .map_err(|e| CheckpointError::malformed(format!("verified pieces: {e}")))
    }

    /// Records `pieces` as the verified set (its length becomes the piece count).
    pub fn set_verified_pieces(&mut self, pieces: &Bitfield) {
        self.piece_count = pieces.len();
        self.verified = pieces.as_bytes().to_vec();
    }

    /// Number of verified pieces.
    pub fn verified_count(&self) -> u32 {
        self.verified.iter().map(|b| b.count_ones()).sum()
    }

    /// Verified pieces over all pieces, from 0.0 to 1.0 (1.0 for a torrent of no piece).
    pub fn progress(&self) -> f64 {
        if self.piece_count == 0 {
            1.0
        } else {
            f64::from(self.verified_count()) / f64::from(self.piece_count)
        }
    }

    /// Whether this is a v2-only torrent: its wire id is its truncated v2 info hash (a hybrid's
    /// is the SHA-1, which cannot equal it short of a SHA-1/SHA-256 collision).
    pub fn is_v2_only(&self) -> bool {
        self.info_hash_v2.is_some_and(|v2| v2.truncated() == self.info_hash)
    }

    /// Checks the checkpoint belongs to `expected` (the torrent asked for, or the info hash in
    /// its file name), and that its info dictionary, if any, hashes to its info hashes: SHA-1
    /// to `info_hash` (v1 and hybrid), SHA-256 to `info_hash_v2` (v2 and hybrid).
    pub fn validate(&self, expected: &InfoHash) -> Result<(), CheckpointError> {
        if self.info_hash != *expected {
            return Err(CheckpointError::InfoHashMismatch { expected: *expected, found: self.info_hash });
        }
        let Some(info) = &self.info else { return Ok(()) };
        if let Some(info_hash_v2) = self.info_hash_v2 {
            let computed = InfoHashV2(Sha256::digest(info).into());
            if computed != info_hash_v2 {
                return Err(CheckpointError::InfoDictMismatchV2 { info_hash_v2, computed });
            }
        }
        if !self.is_v2_only() {
            let computed = InfoHash(Sha1::digest(info).into());
            if computed != self.info_hash {
                return Err(CheckpointError::InfoDictMismatch { info_hash: self.info_hash, computed });
            }
        }
        Ok(())
    }

    /// The structural rules every decoded checkpoint must meet (the codecs call it).
    pub(crate) fn check_structure(&self) -> Result<(), CheckpointError> {
        if self.version != FORMAT_VERSION {
            return Err(CheckpointError::UnsupportedVersion {
                found: self.version,
                supported: FORMAT_VERSION,
            });
        }
        self.verified_pieces()?;
        if self.piece_layers.is_some() && self.info_hash_v2.is_none() {
            return Err(CheckpointError::malformed(
                "piece layers without a v2 info hash (a v1 torrent has none)",
            ));
        }
        for file in &self.files {
            if file.path.is_absolute()
                || file.path.components().any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(CheckpointError::malformed(format!(
                    "file path {} is not relative to the output folder",
                    file.path.display()
                )));
            }
            if file.observed.is_some_and(|s| s.mtime_nanos >= 1_000_000_000) {
                return Err(CheckpointError::malformed(format!(
                    "file {}: mtime nanoseconds out of range",
                    file.path.display()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Files {
        #[serde(deserialize_with = "bounded_files")]
        #[allow(dead_code)]
        files: Vec<FileEntry>,
    }

    /// The postcard payload of `count` minimal file entries (empty path, length 0, no stamp, not
    /// created by ccbt, priority skip: five zero bytes each).
    fn payload(count: usize) -> Vec<u8> {
        let mut out = postcard::to_allocvec(&(count as u64)).unwrap();
        out.resize(out.len() + 5 * count, 0);
        out
    }

    #[test]
    fn file_lists_are_bounded_while_decoding() {
        assert!(postcard::from_bytes::<Files>(&payload(3)).is_ok());
        assert!(postcard::from_bytes::<Files>(&payload(MAX_FILES + 1)).is_err());
        assert!(postcard::from_bytes::<Files>(&payload(MAX_FILES)).is_ok());
    }
}
