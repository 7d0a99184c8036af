//! One live snapshot of a whole session ([`crate::Session::snapshot`]): what `ccbt status`, the
//! API's `/api/v1/snapshot` and the Prometheus `/metrics` endpoint all read, so they show the
//! same figures.

use crate::{DhtInfo, PeerInfo, TorrentStatus, TrackerInfo};

/// Outgoing connection attempts, by result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionAttempts {
    /// Dials that became a registered connection.
    pub succeeded: u64,
    /// Dials whose connect, handshake or registration failed (timeouts, refusals, a peer we
    /// are already connected to, the connection limit).
    pub failed: u64,
}

impl ConnectionAttempts {
    fn add(&mut self, other: ConnectionAttempts) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
    }
}

/// Running totals that only grow over the session's life: the figures of removed torrents stay
/// in them, so the session-wide counters never go down when a torrent is removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionTotals {
    /// Payload bytes received and sent.
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes received and thrown away (failed hashes, duplicates, unrequested blocks).
    pub wasted: u64,
    /// Pieces that failed their hash check, and their bytes.
    pub hash_failures: u64,
    pub hash_failed_bytes: u64,
    /// Checkpoints written.
    pub checkpoint_writes: u64,
    pub connection_attempts: ConnectionAttempts,
    /// Tracker announces that got an answer, and that failed.
    pub announces_ok: u64,
    pub announces_failed: u64,
}

impl SessionTotals {
    /// Adds one torrent's figures.
    pub(crate) fn add(&mut self, t: &TorrentSnapshot) {
        self.downloaded += t.status.downloaded;
        self.uploaded += t.status.uploaded;
        self.wasted += t.status.wasted;
        self.hash_failures += u64::from(t.status.hash_failures);
        self.hash_failed_bytes += t.hash_failed_bytes;
        self.checkpoint_writes += t.checkpoint_writes;
        self.connection_attempts.add(t.connection_attempts);
        self.announces_ok += t.announces_ok;
        self.announces_failed += t.announces_failed;
    }
}

/// One torrent in a [`SessionSnapshot`].
#[derive(Clone, Debug)]
pub struct TorrentSnapshot {
    /// Progress, state, smoothed rates and totals (as [`crate::Session::status`]).
    pub status: TorrentStatus,
    /// Bytes of pieces that failed their hash check.
    pub hash_failed_bytes: u64,
    /// Checkpoints written for this torrent.
    pub checkpoint_writes: u64,
    pub connection_attempts: ConnectionAttempts,
    /// Announces to its trackers that got an answer, and that failed.
    pub announces_ok: u64,
    pub announces_failed: u64,
    /// Requests to its peers not yet answered (blocks in flight), and its peers' requests
    /// waiting to be served: the sums of its peers' [`PeerInfo::outstanding_requests`] and
    /// [`PeerInfo::queued_peer_requests`].
    pub outstanding_requests: u64,
    pub queued_peer_requests: u64,
    /// Time from the torrent's start of downloading (after its data check or metadata fetch;
    /// again at each resume) to the first payload byte received, and to the first piece
    /// verified. None until then, and for a torrent that started complete.
    pub time_to_first_byte: Option<std::time::Duration>,
    pub time_to_first_piece: Option<std::time::Duration>,
    /// The connected peers: rates, queues, latency, health score.
    pub peers: Vec<PeerInfo>,
    /// What each tracker last said (empty while a magnet link resolves).
    pub trackers: Vec<TrackerInfo>,
}

/// The whole session at one moment.
#[derive(Clone, Debug)]
pub struct SessionSnapshot {
    /// Every torrent, by id.
    pub torrents: Vec<TorrentSnapshot>,
    /// Sums of the torrents' smoothed payload rates, bytes per second.
    pub download_rate: u64,
    pub upload_rate: u64,
    /// Totals since the session started, removed torrents included.
    pub totals: SessionTotals,
    /// Established connections, and connections still handshaking.
    pub connected_peers: usize,
    pub handshaking_peers: usize,
    /// IPs banned for corrupt data, summed over the torrents.
    pub banned_peers: u64,
    /// Pieces waiting for a hashing thread.
    pub hash_queue_depth: usize,
    /// Pieces a hashing thread is hashing and writing to disk now.
    pub disk_queue_depth: usize,
    /// The DHT node's state (None when the DHT is off).
    pub dht: Option<DhtInfo>,
}
