//! The life-cycle of one torrent (or magnet link) as a single value with a single owner: the
//! torrent's task writes it, under the torrent's lock, and everything else derives from it
//! (whether connections are accepted, the public [`TorrentState`]).

use std::sync::Arc;

use crate::{TorrentError, TorrentState};

/// Where a torrent is in its life.
#[derive(Clone, Debug)]
pub(crate) enum Lifecycle {
    /// A magnet link: fetching the metadata.
    FetchingMetadata,
    /// Hashing the data already on disk; no connections yet.
    Checking,
    /// Connecting to peers, downloading and seeding (which of the two follows from the pieces).
    Active,
    /// Paused by the user: no connections.
    Paused,
    /// Shutting down or removed: connections are closing.
    Stopped,
    /// Stopped by an error.
    Failed(Arc<TorrentError>),
}

impl Lifecycle {
    /// Whether new connections may join.
    pub(crate) fn accepts_connections(&self) -> bool {
        matches!(self, Lifecycle::Active)
    }

    /// The state users see; `complete`: every selected piece is verified.
    pub(crate) fn public_state(&self, complete: bool) -> TorrentState {
        match self {
            Lifecycle::FetchingMetadata => TorrentState::FetchingMetadata,
            Lifecycle::Checking => TorrentState::Checking,
            Lifecycle::Active if complete => TorrentState::Seeding,
            Lifecycle::Active => TorrentState::Downloading,
            // A stopped torrent has no connections, like a paused one; it leaves the session next.
            Lifecycle::Paused | Lifecycle::Stopped => TorrentState::Paused,
            Lifecycle::Failed(e) => TorrentState::Error(e.clone()),
        }
    }
}
