//! Read-only views of a torrent handed to the CLI, the dashboard and library users.

use std::net::SocketAddr;
use std::sync::Arc;

use ccbt_core::InfoHash;

use crate::TorrentError;

/// Identifies a torrent inside one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TorrentId(pub u64);

impl std::fmt::Display for TorrentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Life-cycle state of a torrent.
#[derive(Clone, Debug)]
pub enum TorrentState {
    /// A magnet link: fetching the metadata from peers.
    FetchingMetadata,
    /// Checking existing data against the piece hashes.
    Checking,
    /// Downloading missing pieces.
    Downloading,
    /// Every selected piece is verified; serving peers.
    Seeding,
    /// Paused by the user: no connections.
    Paused,
    /// Stopped by an error.
    Error(Arc<TorrentError>),
}

/// Two states are equal when they are the same variant; two errors only when they are the same
/// error (one failure, seen in two snapshots).
impl PartialEq for TorrentState {
    fn eq(&self, other: &TorrentState) -> bool {
        match (self, other) {
            (TorrentState::Error(a), TorrentState::Error(b)) => Arc::ptr_eq(a, b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for TorrentState {}

impl std::fmt::Display for TorrentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TorrentState::FetchingMetadata => write!(f, "fetching metadata"),
            TorrentState::Checking => write!(f, "checking"),
            TorrentState::Downloading => write!(f, "downloading"),
            TorrentState::Seeding => write!(f, "seeding"),
            TorrentState::Paused => write!(f, "paused"),
            TorrentState::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// A snapshot of one torrent's progress and activity.
#[derive(Clone, Debug)]
pub struct TorrentStatus {
    pub id: TorrentId,
    pub info_hash: InfoHash,
    pub name: String,
    /// Folder the torrent's files are in.
    pub save_path: std::path::PathBuf,
    pub state: TorrentState,
    /// Verified pieces / total pieces (while `Checking`: pieces checked so far; while
    /// `FetchingMetadata`: both 0).
    pub pieces_have: u32,
    pub pieces_total: u32,
    /// Bytes of verified pieces (the short last piece counted exactly).
    pub bytes_have: u64,
    pub total_bytes: u64,
    /// Fraction 0.0..=1.0 of verified bytes.
    pub progress: f64,
    /// Payload rates over the last few seconds, bytes per second.
    pub download_rate: u64,
    pub upload_rate: u64,
    /// Payload bytes received / sent since the torrent was added.
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes received that were thrown away (failed hashes, duplicates, unrequested).
    pub wasted: u64,
    pub connected_peers: usize,
    pub hash_failures: u32,
    pub banned_peers: usize,
    /// Pieces hashed since the torrent was added: checking data on disk (all of them, or a
    /// checkpoint's sample and changed files) and verifying downloaded pieces.
    pub hashed_pieces: u64,
}

impl TorrentStatus {
    /// Whether every selected piece is verified (never while metadata is fetched or data checked,
    /// when the piece counts mean something else).
    pub fn is_complete(&self) -> bool {
        self.pieces_total > 0
            && self.pieces_have == self.pieces_total
            && !matches!(self.state, TorrentState::Checking | TorrentState::FetchingMetadata)
    }
    /// Estimated seconds to completion at the current download rate.
    pub fn eta_secs(&self) -> Option<u64> {
        let left = self.total_bytes.saturating_sub(self.bytes_have);
        (self.download_rate > 0).then(|| left / self.download_rate)
    }
}

/// One file of a running torrent ([`crate::Session::files`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Its index in the torrent's file list (what `--select`, `--skip` and `ccbt info` use).
    pub index: u32,
    /// Its path below the download folder (the torrent's folder first for a multi-file torrent).
    pub path: std::path::PathBuf,
    pub length: u64,
    pub priority: crate::FilePriority,
    /// Bytes of the file that lie in verified pieces.
    pub bytes_verified: u64,
    /// A BEP 47 padding file: never stored, never downloaded on its own.
    pub is_padding: bool,
}

/// Information about one connected peer.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    /// The peer id, printable characters kept and others escaped.
    pub client: String,
    /// Bytes queued for the peer: encoded messages not yet written plus upload reads in flight.
    pub send_queue: usize,
    /// The most bytes ever queued for the peer (bounded by the per-connection cap, 1 MiB).
    pub send_queue_peak: usize,
    /// Our requests to the peer not yet answered: blocks in flight from it.
    pub outstanding_requests: usize,
    /// The peer's requests to us accepted and not yet served (its queue at our end).
    pub queued_peer_requests: usize,
    /// Payload bytes per second from the peer, and to it (0 when no payload moved for 5 s).
    pub download_rate: u64,
    pub upload_rate: u64,
    /// Smoothed time from our request to its block (None before the first block).
    pub request_latency: Option<std::time::Duration>,
    /// The peer has what we want and sent nothing for `snub_timeout`: it holds no regular
    /// upload slot and gets one request at a time.
    pub snubbed: bool,
    /// Health score, 0 to 1000 (throughput, latency, hash failures, protocol errors, snubbing;
    /// see `ccbt_proto::health`): when the connection limit is reached, a misbehaving peer of
    /// low health makes room for a candidate. None before the connection's first message.
    pub health: Option<u32>,
    /// Pieces the peer announced, and that over the torrent's piece count (0 to 1).
    pub pieces: u32,
    pub progress: f64,
    /// It announced every piece.
    pub is_seed: bool,
    /// It is interested in our pieces; we are interested in its.
    pub interested: bool,
    pub am_interested: bool,
    /// We upload to it (it holds one of our upload slots).
    pub unchoked: bool,
}

/// Something that happened in the session, for event subscribers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    TorrentAdded {
        id: TorrentId,
        name: String,
    },
    /// A piece passed its hash check and is on disk.
    PieceVerified {
        id: TorrentId,
        piece: u32,
    },
    /// A piece failed its hash check; it will be downloaded again.
    HashFailed {
        id: TorrentId,
        piece: u32,
    },
    PeerConnected {
        id: TorrentId,
        addr: SocketAddr,
    },
    PeerDisconnected {
        id: TorrentId,
        addr: SocketAddr,
        reason: String,
    },
    PeerBanned {
        id: TorrentId,
        addr: SocketAddr,
        reason: String,
    },
    /// Every selected piece is verified.
    TorrentCompleted {
        id: TorrentId,
    },
    StateChanged {
        id: TorrentId,
        state: TorrentState,
    },
    TorrentRemoved {
        id: TorrentId,
    },
}

/// What one tracker of a torrent last said.
#[derive(Clone, Debug)]
pub struct TrackerInfo {
    pub url: String,
    /// BEP 12 tier (0 = first).
    pub tier: usize,
    /// The last failure (`failure reason`, network error, timeout), if the last announce failed.
    pub last_error: Option<String>,
    /// The tracker's last `warning message`.
    pub last_warning: Option<String>,
    /// Peer addresses received from this tracker so far.
    pub peers_received: u64,
    pub seeders: Option<u32>,
    pub leechers: Option<u32>,
    /// Announces to this tracker that got an answer, and that failed, so far.
    pub announces_ok: u64,
    pub announces_failed: u64,
    /// Time until the next regular announce.
    pub next_announce_in: Option<std::time::Duration>,
}

/// A tracker's scrape answer (BEP 48).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScrapeInfo {
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Completed downloads the tracker has counted.
    pub downloaded: u32,
}

/// The DHT node's state.
#[derive(Clone, Debug)]
pub struct DhtInfo {
    /// Our node id, hex.
    pub node_id: String,
    /// The UDP address the node listens on.
    pub local_addr: std::net::SocketAddr,
    pub good_nodes: usize,
    pub questionable_nodes: usize,
    /// (bucket index, nodes in it).
    pub buckets: Vec<(usize, usize)>,
    pub active_lookups: usize,
    /// Info hashes and peers other nodes announced to us.
    pub stored_info_hashes: usize,
    pub stored_peers: usize,
    /// BEP 44 items other nodes stored on us.
    pub stored_items: usize,
    pub queries_in: u64,
    pub queries_out: u64,
}
