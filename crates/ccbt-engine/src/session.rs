use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ccbt_core::PeerId;
use ccbt_metainfo::Torrent;
use tokio::sync::broadcast;

use crate::{Event, PeerInfo, SessionError, SessionOptions, TorrentId, TorrentStatus};

/// What to add to a session.
#[derive(Clone, Debug)]
pub struct AddTorrent {
    pub torrent: Torrent,
    /// Folder the torrent's files go in (default: the session's `download_dir`).
    pub save_path: Option<PathBuf>,
    /// Peers to connect to right away (besides those that connect to us).
    pub peers: Vec<SocketAddr>,
    /// Check data already on disk before downloading (default true). A fresh download into an
    /// empty folder can skip it.
    pub check_existing: bool,
}

impl AddTorrent {
    pub fn new(torrent: Torrent) -> AddTorrent {
        AddTorrent { torrent, save_path: None, peers: Vec::new(), check_existing: true }
    }

    /// Reads and parses a `.torrent` file.
    pub fn from_file(path: &Path) -> Result<AddTorrent, SessionError> {
        let bytes = std::fs::read(path)
            .map_err(|source| SessionError::ReadTorrentFile { path: path.to_owned(), source })?;
        let torrent = Torrent::from_bytes(&bytes)
            .map_err(|source| SessionError::InvalidTorrent { path: path.to_owned(), source })?;
        Ok(AddTorrent::new(torrent))
    }

    pub fn save_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.save_path = Some(path.into());
        self
    }

    pub fn peers(mut self, peers: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.peers.extend(peers);
        self
    }
}

/// A running ccbt engine.
pub struct Session {}

impl Session {
    /// Starts a session: validates options, binds the listener, starts the disk pool.
    pub async fn new(options: SessionOptions) -> Result<Session, SessionError> {
        unimplemented!("{options:?}")
    }
    /// The address incoming peers connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        unimplemented!()
    }
    pub fn peer_id(&self) -> PeerId {
        unimplemented!()
    }
    /// Adds a torrent; it starts checking/downloading/seeding in the background.
    pub async fn add_torrent(&self, add: AddTorrent) -> Result<TorrentId, SessionError> {
        unimplemented!("{add:?}")
    }
    /// Connects to more peers for a torrent.
    pub fn add_peers(&self, id: TorrentId, peers: &[SocketAddr]) -> Result<(), SessionError> {
        unimplemented!("{id}{peers:?}")
    }
    pub fn status(&self, id: TorrentId) -> Result<TorrentStatus, SessionError> {
        unimplemented!("{id}")
    }
    pub fn torrents(&self) -> Vec<TorrentStatus> {
        unimplemented!()
    }
    pub fn peers(&self, id: TorrentId) -> Result<Vec<PeerInfo>, SessionError> {
        unimplemented!("{id}")
    }
    /// Events of every torrent. A slow subscriber misses events (it gets `Lagged`), never blocks the engine.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        unimplemented!()
    }
    /// Stops a torrent's connections; its verified data stays.
    pub async fn pause(&self, id: TorrentId) -> Result<(), SessionError> {
        unimplemented!("{id}")
    }
    pub async fn resume(&self, id: TorrentId) -> Result<(), SessionError> {
        unimplemented!("{id}")
    }
    /// Removes a torrent from the session (files are kept).
    pub async fn remove(&self, id: TorrentId) -> Result<(), SessionError> {
        unimplemented!("{id}")
    }
    /// Closes every connection, waits for pending disk writes, and stops.
    pub async fn shutdown(self) {
        unimplemented!()
    }
}
