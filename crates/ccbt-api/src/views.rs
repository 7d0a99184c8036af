//! The JSON bodies of the API, shared by the daemon (serializing) and the CLI (reading).

use std::path::PathBuf;

use ccbt_engine::{TorrentState, TorrentStatus};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/session`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// ccbt's version.
    pub version: String,
    /// The daemon's process id.
    pub pid: u32,
    pub uptime_secs: u64,
    /// Where peers connect.
    pub listen_addr: String,
    pub torrents: TorrentCounts,
    /// Payload bytes per second over all torrents.
    pub download_rate: u64,
    pub upload_rate: u64,
    /// Established peer connections over all torrents.
    pub connected_peers: usize,
}

/// Torrents by state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TorrentCounts {
    pub total: usize,
    pub fetching_metadata: usize,
    pub checking: usize,
    pub downloading: usize,
    pub seeding: usize,
    pub paused: usize,
    pub error: usize,
}

impl TorrentCounts {
    /// The counts of `statuses`.
    pub fn of(statuses: &[TorrentStatus]) -> TorrentCounts {
        let mut counts = TorrentCounts { total: statuses.len(), ..TorrentCounts::default() };
        for status in statuses {
            let slot = match status.state {
                TorrentState::FetchingMetadata => &mut counts.fetching_metadata,
                TorrentState::Checking => &mut counts.checking,
                TorrentState::Downloading => &mut counts.downloading,
                TorrentState::Seeding => &mut counts.seeding,
                TorrentState::Paused => &mut counts.paused,
                TorrentState::Error(_) => &mut counts.error,
            };
            *slot += 1;
        }
        counts
    }
}

/// `GET /api/v1/torrents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TorrentList {
    pub torrents: Vec<TorrentView>,
}

/// One torrent: `GET /api/v1/torrents/{info_hash}` and the items of the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TorrentView {
    /// The v1 info hash, 40 lower-case hex digits.
    pub info_hash: String,
    pub name: String,
    /// `fetching_metadata`, `checking`, `downloading`, `seeding`, `paused` or `error`.
    pub state: String,
    /// Why the torrent stopped, in the `error` state.
    pub error: Option<String>,
    /// Folder of the torrent's files.
    pub save_path: PathBuf,
    /// Fraction 0 to 1 of the selected bytes that are verified.
    pub progress: f64,
    pub pieces_have: u32,
    pub pieces_total: u32,
    pub bytes_have: u64,
    pub total_bytes: u64,
    /// Payload bytes per second.
    pub download_rate: u64,
    pub upload_rate: u64,
    /// Payload bytes received and sent since the daemon (re)started the torrent.
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes received and thrown away (failed hashes, duplicates).
    pub wasted: u64,
    pub connected_peers: usize,
    /// Pieces hashed since the daemon (re)started the torrent: data checked on disk and
    /// downloaded pieces verified (0 for a torrent restored from its checkpoint unchanged).
    #[serde(default)]
    pub hashed_pieces: u64,
    /// Seconds to completion at the current rate, when downloading.
    pub eta_secs: Option<u64>,
}

impl From<&TorrentStatus> for TorrentView {
    fn from(s: &TorrentStatus) -> TorrentView {
        let (state, error) = match &s.state {
            TorrentState::FetchingMetadata => ("fetching_metadata", None),
            TorrentState::Checking => ("checking", None),
            TorrentState::Downloading => ("downloading", None),
            TorrentState::Seeding => ("seeding", None),
            TorrentState::Paused => ("paused", None),
            TorrentState::Error(e) => ("error", Some(e.to_string())),
        };
        TorrentView {
            info_hash: s.info_hash.to_hex(),
            name: s.name.clone(),
            state: state.to_owned(),
            error,
            save_path: s.save_path.clone(),
            progress: s.progress,
            pieces_have: s.pieces_have,
            pieces_total: s.pieces_total,
            bytes_have: s.bytes_have,
            total_bytes: s.total_bytes,
            download_rate: s.download_rate,
            upload_rate: s.upload_rate,
            downloaded: s.downloaded,
            uploaded: s.uploaded,
            wasted: s.wasted,
            connected_peers: s.connected_peers,
            hashed_pieces: s.hashed_pieces,
            eta_secs: matches!(s.state, TorrentState::Downloading).then(|| s.eta_secs()).flatten(),
        }
    }
}

/// `POST /api/v1/torrents`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRequest {
    /// A `magnet:` link, or the absolute path of a `.torrent` file on the daemon's machine
    /// (absent or empty when `torrent` is given).
    #[serde(default)]
    pub source: String,
    /// A `.torrent` file's contents, standard base64 (instead of `source`).
    #[serde(default)]
    pub torrent: Option<String>,
    /// Absolute folder for the files [default: the daemon's `download_dir`].
    #[serde(default)]
    pub save_path: Option<PathBuf>,
    /// Add the torrent paused: no connection, announce or (magnet link) metadata fetch before
    /// it is resumed.
    #[serde(default)]
    pub paused: bool,
    /// Peers to connect to at once, `IP:PORT`.
    #[serde(default)]
    pub peers: Vec<String>,
    /// This torrent's download limit in KiB/s, 0 = unlimited [default: `torrent_down_kib`].
    #[serde(default)]
    pub down_limit_kib: Option<u64>,
    /// This torrent's upload limit in KiB/s, 0 = unlimited [default: `torrent_up_kib`].
    #[serde(default)]
    pub up_limit_kib: Option<u64>,
    /// Download only these files (indices in the torrent's file order).
    #[serde(default)]
    pub select: Option<Vec<u32>>,
    /// Skip these files (applied after `select`).
    #[serde(default)]
    pub skip: Option<Vec<u32>>,
    /// Fetch the first and last piece of each selected file first.
    #[serde(default)]
    pub first_last_pieces: bool,
}
