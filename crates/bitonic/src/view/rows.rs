//! One line of the torrent list, built from the daemon's snapshot of a torrent.

use ccbt_api::TorrentSnapshotView;

/// A torrent's state as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Downloading,
    FetchingMetadata,
    Checking,
    Seeding,
    Paused,
    Error,
    /// A state this dashboard does not know (a newer daemon).
    Other,
}

impl State {
    pub fn parse(name: &str) -> State {
        match name {
            "downloading" => State::Downloading,
            "fetching_metadata" => State::FetchingMetadata,
            "checking" => State::Checking,
            "seeding" => State::Seeding,
            "paused" => State::Paused,
            "error" => State::Error,
            _ => State::Other,
        }
    }

    /// The word shown in the list.
    pub fn label(self) -> &'static str {
        match self {
            State::Downloading => "downloading",
            State::FetchingMetadata => "metadata",
            State::Checking => "checking",
            State::Seeding => "seeding",
            State::Paused => "paused",
            State::Error => "error",
            State::Other => "?",
        }
    }
}

/// What the list shows of one torrent.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub info_hash: String,
    pub name: String,
    pub state: State,
    /// Why it stopped, in the error state.
    pub error: Option<String>,
    /// Bytes of the selected files.
    pub size: u64,
    /// 0 to 1.
    pub progress: f64,
    pub down: u64,
    pub up: u64,
    /// Connected peers, and of the swarm's seeders the largest count a tracker gave (None when
    /// no tracker said).
    pub peers: usize,
    pub seeds: Option<u32>,
    pub uploaded: u64,
    pub downloaded: u64,
    /// Seconds to completion at the current rate.
    pub eta: Option<u64>,
    /// Its place in the daemon's list (the order torrents were added or restored in).
    pub position: usize,
}

impl Row {
    pub fn new(position: usize, t: &TorrentSnapshotView) -> Row {
        let v = &t.torrent;
        Row {
            info_hash: v.info_hash.clone(),
            name: v.name.clone(),
            state: State::parse(&v.state),
            error: v.error.clone(),
            size: v.total_bytes,
            progress: v.progress,
            down: v.download_rate,
            up: v.upload_rate,
            peers: v.connected_peers,
            seeds: t.trackers.iter().filter_map(|tr| tr.seeders).max(),
            uploaded: v.uploaded,
            downloaded: v.downloaded,
            eta: v.eta_secs,
            position,
        }
    }

    /// Uploaded over downloaded since the daemon started the torrent; a torrent seeded from
    /// data it already had counts its size as downloaded (else every seed would show ∞).
    pub fn ratio(&self) -> Option<f64> {
        let base =
            if self.state == State::Seeding { self.downloaded.max(self.size) } else { self.downloaded };
        match (self.uploaded, base) {
            (0, 0) => None,
            (_, 0) => Some(f64::INFINITY),
            (up, base) => Some(up as f64 / base as f64),
        }
    }
}
