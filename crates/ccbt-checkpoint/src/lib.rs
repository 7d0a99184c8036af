//! Checkpoints: the saved resume state of one torrent ([`Checkpoint`]), its two encodings
//! ([`encode`], [`decode`]: readable JSON and compressed, checksummed binary, told apart on
//! reading), and a folder of them written atomically ([`CheckpointStore`], and
//! [`CheckpointManager`] with the seeds' method names).
//!
//! Decoding is hostile-input safe: a corrupt, truncated, foreign or newer-version file gives a
//! typed [`CheckpointError`] (never a panic, never more than [`MAX_CHECKPOINT_BYTES`] of memory),
//! so the caller can warn and fall back to a full recheck.

mod atomic;
pub mod bytes;
mod codec;
mod error;
mod manager;
mod model;
mod store;

pub use atomic::write_atomically;
pub use codec::{decode, decode_with_format, encode, Format, MAGIC, MAX_CHECKPOINT_BYTES};
pub use error::CheckpointError;
pub use manager::CheckpointManager;
pub use model::{
    Checkpoint, FileEntry, FilePriority, FileStamp, PieceSelection, Source, TorrentOptions, TorrentState,
    Totals, FORMAT_VERSION,
};
pub use store::{
    file_name, parse_file_name, CheckpointEntry, CheckpointFormat, CheckpointStore, Loaded, Removed,
    RemovedReason, Summary, STALE_TEMP_AGE,
};
