//! [`XetFollows`]: the daemon's follows of Xet datasets (`/api/v1/xet/follows`). Each follow
//! is a task over the session (`follow_task.rs`) and a record in `xet_follows.json`
//! (`follow_file.rs`), so the daemon resumes it after a restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::StatusCode;
use ccbt_core::InfoHash;
use ccbt_engine::bep46::{encode_hex, MutableLink};
use ccbt_engine::{follow_id, AddTorrent, Session, SessionError, XetFollowStatus};
use ccbt_metainfo::Torrent;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::follow_file::{self, FollowRecord};
use crate::{ApiError, XetFollowTorrentView, XetFollowUpdateView, XetFollowView};

/// A follow the API was asked for, its input checked.
pub(crate) struct NewFollow {
    pub link: MutableLink,
    /// The current version, when the request gave its .torrent.
    pub torrent: Option<Torrent>,
    /// Absolute, existing.
    pub dir: PathBuf,
    pub poll_secs: u64,
    pub peers: Vec<SocketAddr>,
}

/// The follows of a daemon. Stop them with [`XetFollows::shutdown`] before the session.
pub struct XetFollows {
    shared: Arc<Shared>,
    tasks: Mutex<BTreeMap<String, FollowTask>>,
}

/// How long an unfollow or the daemon's stop waits for a follow's task: a switch's commit
/// under way (renames, and the old files' chunks copied into packs) ends first. Past it the
/// task is aborted; the commit's journal then finishes the switch at the next start.
const STOP_WAIT: Duration = Duration::from_secs(120);

/// A follow's running task and the switch that asks it to stop.
struct FollowTask {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FollowTask {
    /// Asks the task to stop and waits for it (at most until `deadline`, then aborts it).
    async fn stop(mut self, id: &str, deadline: tokio::time::Instant) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_millis(100), &mut self.task).await.is_ok() {
            return;
        }
        tracing::info!(%id, "xet follow: waiting for the switch under way to finish before stopping");
        if tokio::time::timeout_at(deadline, &mut self.task).await.is_err() {
            tracing::error!(%id, "xet follow: the switch under way did not finish in time; the next start finishes it");
            self.task.abort();
            let _ = self.task.await;
        }
    }
}

/// What the follows' tasks share with the registry.
pub(crate) struct Shared {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Held while the file is written: writes happen one at a time, each of the newest records.
    writes: Mutex<()>,
}

struct Entry {
    record: FollowRecord,
    live: Live,
}

/// What a follow's task reports.
#[derive(Clone, Debug, Default)]
pub(crate) struct Live {
    pub state: &'static str,
    pub torrent: Option<XetFollowTorrentView>,
    pub updating: Option<(InfoHash, i64)>,
    pub polls: u64,
    pub switches: u64,
    pub last_poll: Option<u64>,
    pub last_error: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a plain assignment: a panic cannot leave it half done.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The follow id of a publisher, salt and folder: 16 hex digits of a BLAKE3 hash over them.
pub(crate) fn follow_key(link: &MutableLink, dir: &Path) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&link.public_key);
    hasher.update(&[link.salt.len() as u8]);
    hasher.update(&link.salt);
    hasher.update(dir.as_os_str().as_encoded_bytes());
    encode_hex(&hasher.finalize().as_bytes()[..8])
}

impl XetFollows {
    /// The follows recorded in `path` (none when it does not exist), not started yet. A file
    /// that cannot be read is moved aside to `<path>.damaged`; the message then says so.
    pub fn open(path: PathBuf) -> (XetFollows, Option<String>) {
        let (records, problem) = match follow_file::load(&path) {
            Ok(records) => (records, None),
            Err(e) => {
                let aside = follow_file::damaged_path(&path);
                let moved = match std::fs::rename(&path, &aside) {
                    Ok(()) => format!("moved to {}", aside.display()),
                    Err(m) => format!("could not be moved aside: {m}"),
                };
                let message = format!("{e}; no follow resumed (the file {moved})");
                tracing::error!("xet follows: {message}");
                (Vec::new(), Some(message))
            }
        };
        let entries = records
            .into_iter()
            .map(|record| {
                (record.id.clone(), Entry { record, live: Live { state: "stopped", ..Live::default() } })
            })
            .collect();
        let shared = Arc::new(Shared { path, entries: Mutex::new(entries), writes: Mutex::new(()) });
        (XetFollows { shared, tasks: Mutex::new(BTreeMap::new()) }, problem)
    }

    /// The file the follows are kept in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Starts every recorded follow (the daemon's start, after its torrents are restored);
    /// how many started. Without the chunk store or the DHT none can run: each shows
    /// `stopped` and why, and stays recorded.
    pub fn start(&self, session: &Arc<Session>, dht: bool) -> usize {
        let ids: Vec<String> = lock(&self.shared.entries).keys().cloned().collect();
        let why = match (session.xet_store_dir().is_some(), dht) {
            (false, _) => Some("xet is off (xet_enabled = false): the follow waits for it"),
            (true, false) => Some("the dht is off: following needs it"),
            (true, true) => None,
        };
        if let Some(why) = why {
            for id in &ids {
                self.shared.update(id, |live| live.last_error = Some(why.to_owned()));
            }
            if !ids.is_empty() {
                tracing::warn!(follows = ids.len(), "xet follows not resumed: {why}");
            }
            return 0;
        }
        for id in &ids {
            self.spawn(session, id.clone());
        }
        ids.len()
    }

    fn spawn(&self, session: &Arc<Session>, id: String) {
        let (stop, stopped) = watch::channel(false);
        let run = crate::follow_task::run(session.clone(), self.shared.clone(), id.clone(), stopped);
        let task = FollowTask { stop, task: tokio::spawn(run) };
        if let Some(old) = lock(&self.tasks).insert(id, task) {
            old.task.abort();
        }
    }

    /// Every follow, by id.
    pub fn list(&self) -> Vec<XetFollowView> {
        lock(&self.shared.entries).values().map(Entry::view).collect()
    }

    /// Adds and starts a follow; 409 when the item is already followed into the folder, or
    /// another item is.
    pub(crate) async fn add(
        &self,
        session: &Arc<Session>,
        new: NewFollow,
    ) -> Result<XetFollowView, ApiError> {
        let id = follow_key(&new.link, &new.dir);
        let record = FollowRecord {
            id: id.clone(),
            public_key: new.link.public_key,
            salt: new.link.salt.clone(),
            dir: new.dir.clone(),
            poll_secs: new.poll_secs,
            seq: 0,
            info_hash: new.torrent.as_ref().map(follow_id),
            peers: new.peers.clone(),
        };
        self.reserve(record)?;
        if let Some(torrent) = new.torrent {
            if let Err(e) = add_current(session, torrent, &new.dir, &new.peers).await {
                lock(&self.shared.entries).remove(&id);
                return Err(e);
            }
        }
        if let Err(e) = self.shared.persist().await {
            lock(&self.shared.entries).remove(&id);
            return Err(ApiError::internal(format!("{e}; the follow is not kept")));
        }
        tracing::info!(%id, link = %new.link, dir = %new.dir.display(), "xet follow added");
        self.spawn(session, id.clone());
        self.shared.view(&id).ok_or_else(|| ApiError::internal("the follow vanished"))
    }

    /// Records a new follow (state `fetching`, no task yet) unless it conflicts.
    fn reserve(&self, record: FollowRecord) -> Result<(), ApiError> {
        let mut entries = lock(&self.shared.entries);
        if entries.contains_key(&record.id) {
            return Err(ApiError::conflict(
                "follow_exists",
                format!(
                    "follow {} already keeps {} at this item's versions",
                    record.id,
                    record.dir.display()
                ),
            ));
        }
        if let Some(other) = entries.values().find(|e| e.record.dir == record.dir) {
            return Err(ApiError::conflict(
                "folder_followed",
                format!(
                    "{} is followed already, by follow {} of another item: one folder holds one dataset",
                    record.dir.display(),
                    other.record.id
                ),
            ));
        }
        let state = if record.info_hash.is_some() { "fetching" } else { "looking_up" };
        entries.insert(record.id.clone(), Entry { record, live: Live { state, ..Live::default() } });
        Ok(())
    }

    /// Stops follow `id` and forgets it; its folder and the torrent of its version stay. A
    /// switch whose commit has begun ends first (bounded by [`STOP_WAIT`]), so the folder is
    /// left whole at the new version, its torrent in the session.
    pub async fn remove(&self, id: &str) -> Result<(), ApiError> {
        if lock(&self.shared.entries).remove(id).is_none() {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "follow_not_found", format!("no follow {id}")));
        }
        let task = lock(&self.tasks).remove(id);
        if let Some(task) = task {
            task.stop(id, tokio::time::Instant::now() + STOP_WAIT).await;
        }
        tracing::info!(%id, "xet follow removed");
        self.shared.persist().await.map_err(|e| ApiError::internal(format!("the follow stopped, but {e}")))
    }

    /// Stops every follow's task (the records stay) and waits until they let go of the session:
    /// a switch whose commit has begun ends and is recorded first (all within [`STOP_WAIT`]).
    pub async fn shutdown(&self) {
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks.values() {
            let _ = task.stop.send(true);
        }
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        for (id, task) in tasks {
            task.stop(&id, deadline).await;
        }
    }
}

impl Drop for XetFollows {
    fn drop(&mut self) {
        // A commit under way is a task of the engine's: it goes on (its journal covers the
        // process ending).
        for task in lock(&self.tasks).values() {
            task.task.abort();
        }
    }
}

/// Adds the current version's torrent at `dir`, checking the files already there; a torrent
/// already in the session at `dir` is the one followed.
async fn add_current(
    session: &Session,
    torrent: Torrent,
    dir: &Path,
    peers: &[SocketAddr],
) -> Result<(), ApiError> {
    let ih = follow_id(&torrent);
    let mut add = AddTorrent::new(torrent).save_path(dir).peers(peers.iter().copied());
    add.check_existing = true;
    match session.add_torrent(add).await {
        Ok(_) => Ok(()),
        Err(SessionError::DuplicateTorrent { .. }) => match crate::follow_task::find_version(session, ih) {
            Some(status) if status.save_path == dir => Ok(()),
            Some(status) => Err(ApiError::conflict(
                "torrent_elsewhere",
                format!(
                    "the current version is in the daemon already, saved in {}, not {}",
                    status.save_path.display(),
                    dir.display()
                ),
            )),
            None => Err(ApiError::internal(format!("the daemon has version {ih} and does not find it"))),
        },
        Err(e) => Err(ApiError::from_session(&e, "of the current version")),
    }
}

impl Shared {
    /// The record of follow `id`.
    pub(crate) fn record(&self, id: &str) -> Option<FollowRecord> {
        lock(&self.entries).get(id).map(|e| e.record.clone())
    }

    /// Changes what follow `id` shows.
    pub(crate) fn update(&self, id: &str, change: impl FnOnce(&mut Live)) {
        if let Some(entry) = lock(&self.entries).get_mut(id) {
            change(&mut entry.live);
        }
    }

    /// Sets the version in use of follow `id`; whether it changed (then the file needs a write).
    pub(crate) fn set_version(&self, id: &str, info_hash: InfoHash, seq: i64) -> bool {
        let mut entries = lock(&self.entries);
        let Some(entry) = entries.get_mut(id) else { return false };
        let changed = entry.record.info_hash != Some(info_hash) || entry.record.seq != seq;
        (entry.record.info_hash, entry.record.seq) = (Some(info_hash), seq);
        changed
    }

    /// Takes in a status of the library's follow of `id`.
    pub(crate) fn observe(&self, id: &str, status: &XetFollowStatus, torrent: Option<XetFollowTorrentView>) {
        let now = unix_now();
        self.update(id, |live| {
            if status.polls > live.polls {
                live.last_poll = Some(now);
            }
            live.state = if status.updating.is_some() { "updating" } else { "following" };
            (live.polls, live.switches) = (status.polls, status.switches);
            live.updating = status.updating;
            live.last_error.clone_from(&status.last_error);
            if torrent.is_some() {
                live.torrent = torrent;
            }
        });
    }

    pub(crate) fn view(&self, id: &str) -> Option<XetFollowView> {
        lock(&self.entries).get(id).map(Entry::view)
    }

    /// Writes every record to the file.
    pub(crate) async fn persist(self: &Arc<Self>) -> Result<(), follow_file::FollowFileError> {
        let shared = self.clone();
        let written = tokio::task::spawn_blocking(move || {
            let _one_at_a_time = lock(&shared.writes);
            let records: Vec<FollowRecord> =
                lock(&shared.entries).values().map(|e| e.record.clone()).collect();
            follow_file::save(&shared.path, &records)
        })
        .await;
        match written {
            Ok(result) => result,
            Err(e) => {
                Err(follow_file::FollowFileError::Write { path: self.path.clone(), reason: e.to_string() })
            }
        }
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Entry {
    fn view(&self) -> XetFollowView {
        let r = &self.record;
        let link = MutableLink { public_key: r.public_key, salt: r.salt.clone() };
        XetFollowView {
            id: r.id.clone(),
            link: link.to_string(),
            public_key: encode_hex(&r.public_key),
            salt_hex: encode_hex(&r.salt),
            salt: String::from_utf8(r.salt.clone()).ok(),
            dir: r.dir.clone(),
            poll_secs: r.poll_secs,
            state: self.live.state.to_owned(),
            seq: r.seq,
            info_hash: r.info_hash.map(|ih| ih.to_hex()),
            torrent: self.live.torrent.clone(),
            updating: self.live.updating.map(|(ih, seq)| XetFollowUpdateView { info_hash: ih.to_hex(), seq }),
            polls: self.live.polls,
            switches: self.live.switches,
            last_poll: self.live.last_poll,
            last_error: self.live.last_error.clone(),
        }
    }
}
