//! The ccbt engine: a [`Session`] owns torrents, their peer connections, the listener and the
//! disk pool, and drives the sans-IO protocol machines of `ccbt-proto` with tokio.
//!
//! The CLI, the daemon and the dashboard are all built on this API.
//!
//! A complete round trip on loopback: make a torrent, seed it from one session and download it
//! with another (the DHT is off so nothing leaves the machine).
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ccbt_engine::{AddTorrent, Session, SessionOptions};
//! use ccbt_metainfo::{Torrent, TorrentBuilder};
//! use sha1::{Digest, Sha1};
//!
//! // 100 kB of data and a single-file torrent of it (16 KiB pieces).
//! let dir = tempfile::tempdir()?;
//! let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
//! std::fs::create_dir_all(dir.path().join("seed"))?;
//! std::fs::write(dir.path().join("seed/hello.bin"), &data)?;
//! let builder = TorrentBuilder {
//!     name: "hello.bin".into(),
//!     files: vec![(vec![], data.len() as u64)],
//!     piece_length: 16384,
//!     piece_hashes: data.chunks(16384).map(|c| Sha1::digest(c).into()).collect(),
//!     ..TorrentBuilder::default()
//! };
//! let torrent = Torrent::from_bytes(&builder.build()?)?;
//!
//! let options = || SessionOptions {
//!     listen_port: 0,
//!     listen_host: "127.0.0.1".parse().unwrap(),
//!     enable_dht: false,
//!     ..SessionOptions::default()
//! };
//! // The seeder checks the data on disk first.
//! let seeder = Session::new(options()).await?;
//! let seed = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(dir.path().join("seed"))).await?;
//! while !seeder.status(seed)?.is_complete() {
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//!
//! let leecher = Session::new(options()).await?;
//! let add = AddTorrent::new(torrent).save_path(dir.path().join("leech")).peers([seeder.listen_addr()]);
//! let id = leecher.add_torrent(add).await?;
//! while !leecher.status(id)?.is_complete() {
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//! assert_eq!(std::fs::read(dir.path().join("leech/hello.bin"))?, data);
//! leecher.shutdown().await;
//! seeder.shutdown().await;
//! # Ok(())
//! # }
//! ```

// Doc examples (the README's included) must compile without warnings: an unused import in an
// example is a mistake a reader copies.
#![doc(test(attr(deny(unused_imports))))]

mod add;
mod budget;
mod checkpoint;
mod delete_data;
pub(crate) mod dht;
mod error;
mod lifecycle;
mod limits;
mod listener;
mod magnet;
mod net;
mod options;
mod ownership;
mod peer;
mod piece_map;
mod reader;
mod resume;
mod session;
mod snapshot;
mod status;
mod sync;
mod torrent;
pub(crate) mod tracker;
mod xet;
mod xet_conn;
mod xet_discovery;
mod xet_manifests;

pub use add::{AddTorrent, TorrentSource};
pub use checkpoint::{
    find_checkpoint, list_resumable_checkpoints, saved_file_priorities, saved_limits, FoundCheckpoint,
};
pub use delete_data::DeletedData;
pub use dht::items::{DhtItemError, PutOutcome};
pub use dht::key_file::{load_or_create_key, read_key, KeyFileError};
pub use error::{SessionError, TorrentError};
pub use limits::{RateLimits, TorrentLimits, MIN_RATE_LIMIT};
pub use options::{Reconfigured, SessionOptions};
pub use piece_map::{PieceCell, PieceMap, MAX_PIECE_CELLS};
pub use reader::TorrentFileReader;
pub use resume::{FileStamp, ResumeData};
pub use session::{
    follow_id, Session, SnapshotSource, XetApiError, XetCleanupReport, XetFill, XetFollowError,
    XetFollowHandle, XetFollowSpec, XetFollowStatus, XetRootStats, XetStats, XetSwitchRecorder, XetSwitched,
    XET_STAGING_DIR,
};
pub use snapshot::{ConnectionAttempts, SessionSnapshot, SessionTotals, TorrentSnapshot};
pub use status::{
    DhtInfo, Event, FileInfo, PeerInfo, ScrapeInfo, TorrentId, TorrentState, TorrentStatus, TrackerInfo,
};

/// Pause points for tests of other crates (feature `test-hooks`, never in a release build).
#[cfg(feature = "test-hooks")]
pub mod test_hooks {
    pub use crate::session::{hold_xet_commit, XetCommitHold};
}

/// The checkpoint types (the session writes and reads them; see `ccbt-checkpoint`).
pub use ccbt_checkpoint as checkpoints;
/// BEP 44 items and BEP 46 helpers, for [`Session::dht_put_mutable`] and its siblings.
pub use ccbt_dht::{bep46, item as dht_item};
pub use ccbt_proto::choker::SeedChoking;
pub use ccbt_proto::picker::{FilePriority, PieceSelection};
pub use ccbt_storage::Preallocate;

/// The README's library example, compiled as a doc test so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExample;
