//! Checkpoints: the saved resume state of one torrent ([`Checkpoint`]), its two encodings
//! ([`encode`], [`decode`]: readable JSON and compressed, checksummed binary, told apart on
//! reading), and a folder of them written atomically ([`CheckpointStore`], and
//! [`CheckpointManager`] with the seeds' method names).
//!
//! Decoding is hostile-input safe: a corrupt, truncated, foreign or newer-version file gives a
//! typed [`CheckpointError`] (never a panic, never more than [`MAX_CHECKPOINT_BYTES`] of memory),
//! so the caller can warn and fall back to a full recheck.
//!
//! ```
//! use std::time::SystemTime;
//!
//! use ccbt_checkpoint::{Checkpoint, CheckpointFormat, CheckpointManager, TorrentState};
//! use ccbt_core::InfoHash;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let manager = CheckpointManager::new(dir.path(), CheckpointFormat::Binary);
//! let mut checkpoint = Checkpoint::new(InfoHash([7; 20]), "ubuntu.iso", "/downloads", 1000);
//! checkpoint.state = TorrentState::Paused;
//! checkpoint.saved_at = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
//! manager.save_checkpoint(&checkpoint)?;
//!
//! for entry in manager.list_checkpoints()? {
//!     match &entry.summary {
//!         Ok(s) => println!("{} {} {:.1}%", entry.info_hash, s.name, s.progress() * 100.0),
//!         Err(e) => eprintln!("warning: {e}"),
//!     }
//! }
//! let loaded = manager.load_checkpoint(&InfoHash([7; 20]))?.expect("saved above");
//! assert_eq!(loaded.checkpoint, checkpoint);
//! assert_eq!(manager.cleanup_old_checkpoints(7, SystemTime::now())?, 0);
//! assert!(manager.delete_checkpoint(&InfoHash([7; 20]))?);
//! # Ok(())
//! # }
//! ```

mod atomic;
pub mod bytes;
mod codec;
mod error;
mod manager;
mod model;
mod stamp;
mod store;
mod v1;

pub use atomic::write_atomically;
pub use codec::{decode, decode_with_format, encode, Format, MAGIC, MAX_CHECKPOINT_BYTES};
pub use error::CheckpointError;
pub use manager::CheckpointManager;
pub use model::{
    Checkpoint, FileEntry, FilePriority, FileStamp, PieceSelection, Source, TorrentOptions, TorrentState,
    Totals, FORMAT_VERSION, MAX_FILES,
};
pub use stamp::StampCheck;
pub use store::{
    file_name, parse_file_name, CheckpointEntry, CheckpointFormat, CheckpointStore, Loaded, Removed,
    RemovedReason, Summary, STALE_TEMP_AGE,
};
