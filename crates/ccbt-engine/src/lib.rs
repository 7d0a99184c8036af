//! The ccbt engine: a [`Session`] owns torrents, their peer connections, the listener and the
//! disk pool, and drives the sans-IO protocol machines of `ccbt-proto` with tokio.
//!
//! The CLI, the daemon and the dashboard are all built on this API.

mod add;
mod budget;
pub(crate) mod dht;
mod error;
mod listener;
mod magnet;
mod options;
mod peer;
mod session;
mod status;
mod torrent;
pub(crate) mod tracker;

pub use add::{AddTorrent, TorrentSource};
pub use error::{SessionError, TorrentError};
pub use options::SessionOptions;
pub use session::Session;
pub use status::{DhtInfo, Event, PeerInfo, ScrapeInfo, TorrentId, TorrentState, TorrentStatus, TrackerInfo};

pub use ccbt_proto::picker::PieceSelection;
pub use ccbt_storage::Preallocate;
