//! What flows between the view state and the worker threads: the user's commands out, the
//! daemon's answers and events in.

use std::path::PathBuf;

use ccbt_api::{
    AlertHistoryView, AlertsView, FileList, PeerList, PieceMapView, SessionLimitsView, SnapshotView,
    TorrentLimitsView, TrackerList,
};

/// Something the user asked the daemon to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Pause(String),
    Resume(String),
    Remove {
        info_hash: String,
        delete_data: bool,
    },
    AddMagnet(String),
    /// A `.torrent` file on this machine: its contents are sent, so the daemon may be elsewhere.
    AddFile(PathBuf),
    Recheck(String),
    Reannounce(String),
    /// Bytes per second, 0 = unlimited.
    TorrentLimits {
        info_hash: String,
        down: u64,
        up: u64,
    },
    SessionLimits {
        down: u64,
        up: u64,
    },
    /// `skip`, `low`, `normal` or `high`.
    FilePriority {
        info_hash: String,
        index: u32,
        priority: &'static str,
    },
}

impl Command {
    /// What the status line says while it runs and after.
    pub fn describe(&self) -> String {
        let short = |h: &str| h.chars().take(8).collect::<String>();
        match self {
            Command::Pause(h) => format!("pause {}", short(h)),
            Command::Resume(h) => format!("resume {}", short(h)),
            Command::Remove { info_hash, delete_data: false } => format!("remove {}", short(info_hash)),
            Command::Remove { info_hash, delete_data: true } => {
                format!("remove {} and delete its data", short(info_hash))
            }
            Command::AddMagnet(_) => "add magnet link".to_owned(),
            Command::AddFile(path) => format!("add {}", path.display()),
            Command::Recheck(h) => format!("recheck {}", short(h)),
            Command::Reannounce(h) => format!("reannounce {}", short(h)),
            Command::TorrentLimits { info_hash, .. } => format!("set limits of {}", short(info_hash)),
            Command::SessionLimits { .. } => "set session limits".to_owned(),
            Command::FilePriority { index, priority, .. } => format!("set file {index} to {priority}"),
        }
    }
}

/// What the worker threads report.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// The daemon answered at this URL (first contact, or again after a failure).
    Connected(String),
    Snapshot(Box<SnapshotView>),
    Files(FileList),
    Peers(PeerList),
    Trackers(TrackerList),
    Pieces(PieceMapView),
    Limits(TorrentLimitsView),
    SessionLimits(SessionLimitsView),
    /// The alert rules, with the alerts firing and pending.
    Alerts(Box<AlertsView>),
    /// History records newer than the last ones sent.
    AlertHistory(AlertHistoryView),
    /// The daemon has no alert routes: why.
    AlertsUnavailable(String),
    /// A poll failed: why.
    Unreachable(String),
    /// An event of the daemon's event stream.
    Event {
        name: String,
        data: String,
    },
    /// A command finished: its description and the error, if it failed.
    Done {
        what: String,
        error: Option<String>,
    },
}
