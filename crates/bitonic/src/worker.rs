//! The threads that talk to the daemon, so the UI thread never waits on the network: a poller
//! (the snapshot and the alerts once a second, and what the screen shows besides), an
//! event-stream reader (wakes the poller when torrents come, go or change state, and when an
//! alert fires or resolves) and a command runner. All report through one
//! channel; each retries with back-off while the daemon is gone, connecting afresh each time
//! (a restarted daemon has a new address and token).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use ccbt_api::{
    AddRequest, AlertHistoryView, AlertsView, FileList, PeerList, PieceMapView, SessionLimitsView,
    SnapshotView, TorrentLimitsView, TrackerList,
};
use ccbt_client::{Client, ClientError};

use crate::view::alerts::HistoryCursor;
use crate::view::{Command, TabData, Update, Wants};

/// Time between two snapshots.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// A request slower than this counts as a failure ("reconnecting"); the UI stays live anyway.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait between two attempts while the daemon is gone.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Cells of the pieces map asked for (the map is drawn from them at any terminal size).
const PIECE_CELLS: usize = 2048;
/// The largest `.torrent` file read for `add` (the daemon has its own, lower, limit).
const MAX_TORRENT_FILE: u64 = 64 * 1024 * 1024;

/// The UI's end of the worker threads.
pub struct Worker {
    pub updates: Receiver<Update>,
    commands: Sender<Command>,
    wake: Sender<()>,
    wants: Arc<Mutex<Wants>>,
    /// Set when the UI is gone: the event reader stops at its next wake-up.
    stop: Arc<AtomicBool>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot read {}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("{} is {size} bytes: too large for a .torrent file", path.display())]
    TooLarge { path: PathBuf, size: u64 },
}

impl Worker {
    /// Starts the threads for the daemon of `state_dir`. They end when the `Worker` is dropped
    /// (the event reader at its next event or keep-alive).
    pub fn start(state_dir: PathBuf) -> std::io::Result<Worker> {
        let (updates_tx, updates) = mpsc::channel();
        let (commands, commands_rx) = mpsc::channel();
        let (wake, wake_rx) = mpsc::channel();
        let wants = Arc::new(Mutex::new(Wants::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let poller =
            Poller { state_dir: state_dir.clone(), wants: wants.clone(), updates: updates_tx.clone() };
        spawn("bitonic-poll", move || poller.run(&wake_rx))?;
        let (dir, tx, wake_events, stop_events) =
            (state_dir.clone(), updates_tx.clone(), wake.clone(), stop.clone());
        spawn("bitonic-events", move || follow_events(&dir, &tx, &wake_events, &stop_events))?;
        let wake_commands = wake.clone();
        spawn("bitonic-commands", move || {
            run_commands(&state_dir, &commands_rx, &updates_tx, &wake_commands)
        })?;
        Ok(Worker { updates, commands, wake, wants, stop })
    }

    /// Queues a command (answered by an [`Update::Done`]).
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Tells the poller what the screen shows; a change is fetched at once.
    pub fn want(&self, wants: Wants) {
        let mut current = self.wants.lock().unwrap_or_else(|e| e.into_inner());
        if *current != wants {
            *current = wants;
            let _ = self.wake.send(());
        }
    }
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new().name(name.to_owned()).spawn(body).map(drop)
}

/// The wait after `failures` failures in a row: 1, 2, 4, then 5 seconds.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(3)).min(MAX_BACKOFF)
}

struct Poller {
    state_dir: PathBuf,
    wants: Arc<Mutex<Wants>>,
    updates: Sender<Update>,
}

impl Poller {
    fn run(&self, wake: &Receiver<()>) {
        let mut client: Option<Client> = None;
        let mut failures = 0u32;
        let mut cursor = HistoryCursor::default();
        loop {
            let result = match &client {
                Some(c) => self.poll(c, &mut cursor),
                None => ccbt_client::connect(&self.state_dir, REQUEST_TIMEOUT).and_then(|c| {
                    let result = self.poll(&c, &mut cursor);
                    if result.is_ok() && self.updates.send(Update::Connected(c.url().to_owned())).is_err() {
                        return result;
                    }
                    client = Some(c);
                    result
                }),
            };
            let wait = match result {
                Ok(()) => {
                    failures = 0;
                    POLL_EVERY
                }
                Err(e) => {
                    failures += 1;
                    client = None;
                    if self.updates.send(Update::Unreachable(e.to_string())).is_err() {
                        return;
                    }
                    backoff(failures)
                }
            };
            match wake.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// One round: the snapshot, the alerts, then what the screen shows besides.
    fn poll(&self, client: &Client, cursor: &mut HistoryCursor) -> Result<(), ClientError> {
        let snapshot: SnapshotView = client.get("/snapshot")?;
        let _ = self.updates.send(Update::Snapshot(Box::new(snapshot)));
        let wants = self.wants.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.poll_alerts(client, cursor, wants.alert_history)?;
        if wants.session_limits {
            let _ = self.updates.send(Update::SessionLimits(client.get::<SessionLimitsView>("/limits")?));
        }
        let Some((hash, data)) = wants.torrent else { return Ok(()) };
        let path = |what: &str| -> Result<String, ClientError> {
            Ok(format!("/torrents/{}/{what}", ccbt_client::info_hash_segment(&hash)?))
        };
        let update = match data {
            TabData::Limits => Update::Limits(client.get::<TorrentLimitsView>(&path("limits")?)?),
            TabData::Files => Update::Files(client.get::<FileList>(&path("files")?)?),
            TabData::Peers => Update::Peers(client.get::<PeerList>(&path("peers")?)?),
            TabData::Trackers => Update::Trackers(client.get::<TrackerList>(&path("trackers")?)?),
            TabData::Pieces => {
                let map = format!("{}?cells={PIECE_CELLS}", path("pieces")?);
                Update::Pieces(client.get::<PieceMapView>(&map)?)
            }
        };
        let _ = self.updates.send(update);
        Ok(())
    }

    /// The alerts firing, and with `history` the records newer than the cursor. A daemon
    /// without alert routes (404) is reported as such, not taken for a failure.
    fn poll_alerts(
        &self,
        client: &Client,
        cursor: &mut HistoryCursor,
        history: bool,
    ) -> Result<(), ClientError> {
        match client.get::<AlertsView>("/alerts") {
            Ok(view) => {
                let _ = self.updates.send(Update::Alerts(Box::new(view)));
            }
            Err(ClientError::Api { status: 404, message }) => {
                let _ = self.updates.send(Update::AlertsUnavailable(message));
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        if !history {
            return Ok(());
        }
        // The first request only places the cursor; the second then fetches the records.
        for _ in 0..2 {
            let answer: AlertHistoryView = client.get(&cursor.path())?;
            if cursor.advance(&answer) {
                let _ = self.updates.send(Update::AlertHistory(answer));
                break;
            }
        }
        Ok(())
    }
}

/// Reads the event stream, reconnecting after each loss; wakes the poller when the list changes.
fn follow_events(state_dir: &Path, updates: &Sender<Update>, wake: &Sender<()>, stop: &AtomicBool) {
    let mut failures = 0u32;
    while !stop.load(Ordering::Relaxed) {
        if let Ok(client) = ccbt_client::connect(state_dir, REQUEST_TIMEOUT) {
            if let Ok(mut reader) = client.events() {
                failures = 0;
                while let Ok(Some(event)) = reader.next_event() {
                    let changes_list = matches!(
                        event.name.as_str(),
                        "torrent_added"
                            | "torrent_removed"
                            | "state_changed"
                            | "metadata_received"
                            | "torrent_completed"
                            | "alert_fired"
                            | "alert_resolved"
                    );
                    if updates.send(Update::Event { name: event.name, data: event.data }).is_err() {
                        return;
                    }
                    if changes_list {
                        let _ = wake.send(());
                    }
                }
            }
        }
        // The poller reports the failure; this thread only waits to try again.
        failures += 1;
        std::thread::sleep(backoff(failures));
    }
}

fn run_commands(state_dir: &Path, commands: &Receiver<Command>, updates: &Sender<Update>, wake: &Sender<()>) {
    for command in commands {
        let what = command.describe();
        let error = ccbt_client::connect(state_dir, REQUEST_TIMEOUT)
            .map_err(CommandError::from)
            .and_then(|client| execute(&client, &command))
            .err()
            .map(|e| e.to_string());
        if updates.send(Update::Done { what, error }).is_err() {
            return;
        }
        let _ = wake.send(());
    }
}

/// Runs one command against the API.
pub fn execute(client: &Client, command: &Command) -> Result<(), CommandError> {
    let torrent = |hash: &str, what: &str| -> Result<String, ClientError> {
        let segment = ccbt_client::info_hash_segment(hash)?;
        Ok(if what.is_empty() {
            format!("/torrents/{segment}")
        } else {
            format!("/torrents/{segment}/{what}")
        })
    };
    let (method, path, body) = match command {
        Command::Pause(h) => ("POST", torrent(h, "pause")?, None),
        Command::Resume(h) => ("POST", torrent(h, "resume")?, None),
        Command::Recheck(h) => ("POST", torrent(h, "recheck")?, None),
        Command::Reannounce(h) => ("POST", torrent(h, "reannounce")?, None),
        Command::Remove { info_hash, delete_data } => {
            let query = if *delete_data { "?delete_data=true" } else { "" };
            ("DELETE", format!("{}{query}", torrent(info_hash, "")?), None)
        }
        Command::AddMagnet(link) => {
            let request = AddRequest { source: link.clone(), ..AddRequest::default() };
            ("POST", "/torrents".to_owned(), Some(json(&request)))
        }
        Command::AddFile(path) => {
            let request = AddRequest { torrent: Some(read_torrent(path)?), ..AddRequest::default() };
            ("POST", "/torrents".to_owned(), Some(json(&request)))
        }
        Command::TorrentLimits { info_hash, down, up } => {
            let body = serde_json::json!({ "download": down, "upload": up }).to_string();
            ("PUT", torrent(info_hash, "limits")?, Some(body))
        }
        Command::SessionLimits { down, up } => {
            let body = serde_json::json!({ "download": down, "upload": up }).to_string();
            ("PUT", "/limits".to_owned(), Some(body))
        }
        Command::FilePriority { info_hash, index, priority } => {
            let body = serde_json::json!({ "priorities": { index.to_string(): priority } }).to_string();
            ("PUT", torrent(info_hash, "files")?, Some(body))
        }
    };
    client.request(method, &path, body)?;
    Ok(())
}

fn json(request: &AddRequest) -> String {
    // An AddRequest always serializes (strings, numbers and lists only).
    serde_json::to_string(request).unwrap_or_default()
}

/// A `.torrent` file's contents in base64 (`~/` is the home folder).
fn read_torrent(path: &Path) -> Result<String, CommandError> {
    let path = crate::terminal::expand_home(path);
    let file_error = |source| CommandError::File { path: path.clone(), source };
    let size = std::fs::metadata(&path).map_err(file_error)?.len();
    if size > MAX_TORRENT_FILE {
        return Err(CommandError::TooLarge { path, size });
    }
    let data = std::fs::read(&path).map_err(file_error)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_five_seconds() {
        let secs: Vec<u64> = (1..=6).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 5, 5, 5]);
        assert_eq!(backoff(0).as_secs(), 1);
    }
}
