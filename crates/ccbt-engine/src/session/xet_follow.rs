//! [`Session::xet_follow`]: follow a dataset's BEP 46 item (docs/xet.md, "Publishing and
//! following"). A task polls the publisher's mutable item, re-puts it as found (which keeps it
//! alive while the publisher is away) and, when it names a newer torrent, fetches that torrent
//! into a staging folder inside the dataset's folder (the chunk store fills it from the current
//! version's files), then switches: see `xet_switch.rs` for the order of the file moves and
//! `xet_commit.rs` for why a stop never cuts a switch's commit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_dht::bep46::decode_info_hash_value;
use ccbt_dht::item::{Item, MutableItem, PUBLIC_KEY_LEN};
use thiserror::Error;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use super::xet_commit::{self, Commit, Committed, XetSwitchRecorder};
use super::xet_journal::Journal;
use super::Session;
use crate::TorrentId;

/// What to follow and where.
#[derive(Clone, Debug)]
pub struct XetFollowSpec {
    /// The publisher's ed25519 public key.
    pub public_key: [u8; PUBLIC_KEY_LEN],
    /// The item's salt (empty for none).
    pub salt: Vec<u8>,
    /// The folder the current version is in (its torrent's save path); new versions replace
    /// its files.
    pub dir: PathBuf,
    /// The session's torrent of the current version, saved in `dir`.
    pub current: TorrentId,
    /// The item's sequence number of the current version, when known (0 otherwise: any
    /// version the item names that differs from the current one is then newer).
    pub current_seq: i64,
    /// Time between two polls (docs/xet.md suggests 5 to 15 minutes).
    pub poll_interval: Duration,
    /// Deadline of one DHT lookup (get or put).
    pub lookup_timeout: Duration,
    /// Told each new version in use before its switch is final (see [`XetSwitchRecorder`]).
    pub on_switch: Option<XetSwitchRecorder>,
}

impl XetFollowSpec {
    /// A spec with the default timing: a poll every 10 minutes, lookups of at most 60 s.
    pub fn new(public_key: [u8; PUBLIC_KEY_LEN], salt: Vec<u8>, dir: PathBuf, current: TorrentId) -> Self {
        XetFollowSpec {
            public_key,
            salt,
            dir,
            current,
            current_seq: 0,
            poll_interval: Duration::from_secs(600),
            lookup_timeout: Duration::from_secs(60),
            on_switch: None,
        }
    }
}

/// Where a follow stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XetFollowStatus {
    /// The session's torrent of the version in use (it changes at each switch).
    pub torrent: TorrentId,
    /// Its 20-byte id (the v1 info hash, or the truncated v2 one).
    pub info_hash: InfoHash,
    /// The item's sequence number of the version in use (0 while unknown).
    pub seq: i64,
    /// Polls done.
    pub polls: u64,
    /// Versions switched to.
    pub switches: u64,
    /// The version being fetched, with its sequence number.
    pub updating: Option<(InfoHash, i64)>,
    /// The last failure (a lookup, a fetch or a switch), cleared by the next success.
    pub last_error: Option<String>,
}

/// Why a follow cannot start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum XetFollowError {
    /// The session runs without the DHT.
    #[error("following a publisher needs the dht, which is not running")]
    NoDht,
    /// The current version is not a torrent of the session (or still a magnet link).
    #[error("torrent {0} is not in the session or has no metadata yet")]
    UnknownTorrent(u64),
    /// A poll interval of zero would hammer the DHT.
    #[error("the poll interval must be at least one second")]
    PollInterval,
}

/// A running follow; dropping it (or [`XetFollowHandle::stop`]) stops the task. The torrent
/// of the version in use stays in the session. A switch whose commit (the file moves and the
/// add of the new torrent) has begun always runs to its end, in a task of its own:
/// [`XetFollowHandle::stop_and_wait`] waits for it. Stop the follow before
/// [`Session::shutdown`]: the task acts on the session's torrents.
pub struct XetFollowHandle {
    status: watch::Receiver<XetFollowStatus>,
    task: JoinHandle<()>,
    /// Held by a commit in flight.
    commit: Arc<Mutex<()>>,
}

impl XetFollowHandle {
    /// The follow's state now.
    pub fn status(&self) -> XetFollowStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every change of the state.
    pub fn watch(&self) -> watch::Receiver<XetFollowStatus> {
        self.status.clone()
    }

    /// Stops following. A fetch under way stops where it is; its staging folder is reused by
    /// the next follow of the same folder. A commit under way goes on to its end (without
    /// waiting for it: see [`XetFollowHandle::stop_and_wait`]).
    pub fn stop(self) {}

    /// Stops following like [`XetFollowHandle::stop`], then waits until a commit under way
    /// has ended; the follow's last state (a switch that ended is in it).
    pub async fn stop_and_wait(mut self) -> XetFollowStatus {
        self.task.abort();
        // Once the loop is gone no commit can start; one it started holds the lock.
        let _ = (&mut self.task).await;
        let _done = self.commit.lock().await;
        self.status()
    }
}

impl Drop for XetFollowHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one poll's answer means for the version in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PollStep {
    /// Nothing newer.
    Stay,
    /// The item names the version in use with a higher `seq`: remember the seq.
    Adopt(i64),
    /// A newer version: fetch it and switch.
    Update(InfoHash, i64),
}

/// Decides from the version in use (`seq`, `current`) and the item found (`found_seq`, the
/// `ih` it names). An item whose `seq` is not above ours is old news, even when it names
/// another torrent (a node still holding an older put).
pub(crate) fn next_step(seq: i64, current: InfoHash, found_seq: i64, found: InfoHash) -> PollStep {
    if found_seq <= seq {
        PollStep::Stay
    } else if found == current {
        PollStep::Adopt(found_seq)
    } else {
        PollStep::Update(found, found_seq)
    }
}

impl Session {
    /// Starts following the BEP 46 item of `spec.public_key` and `spec.salt` for the dataset
    /// whose current version is the torrent `spec.current` in `spec.dir`. The first poll is
    /// immediate. A failed fetch or switch is retried at the next poll; the current version's
    /// verified files are never touched before the new version is complete and verified.
    pub fn xet_follow(&self, spec: XetFollowSpec) -> Result<XetFollowHandle, XetFollowError> {
        if self.inner.dht.is_none() {
            return Err(XetFollowError::NoDht);
        }
        if spec.poll_interval < Duration::from_secs(1) {
            return Err(XetFollowError::PollInterval);
        }
        let torrent =
            self.metainfo(spec.current).map_err(|_| XetFollowError::UnknownTorrent(spec.current.0))?;
        let status = XetFollowStatus {
            torrent: spec.current,
            info_hash: follow_id(&torrent),
            seq: spec.current_seq,
            polls: 0,
            switches: 0,
            updating: None,
            last_error: None,
        };
        let (tx, rx) = watch::channel(status);
        let follow = Follow {
            session: Session { inner: self.inner.clone() },
            spec,
            status: Arc::new(tx),
            commit: Arc::new(Mutex::new(())),
        };
        let commit = follow.commit.clone();
        let task = tokio::spawn(follow_loop(follow));
        Ok(XetFollowHandle { status: rx, task, commit })
    }
}

/// The id a BEP 46 item names a torrent by: the truncated v2 info hash when it has one (the
/// id of its v2 swarm, which a hybrid shares), else the v1 info hash.
pub fn follow_id(torrent: &ccbt_metainfo::Torrent) -> InfoHash {
    torrent.info_hash_v2.map_or(torrent.info_hash, |v2| v2.truncated())
}

/// What the follow's loop works with.
struct Follow {
    session: Session,
    spec: XetFollowSpec,
    /// Shared with the commits, which report their switch themselves.
    status: Arc<watch::Sender<XetFollowStatus>>,
    commit: Arc<Mutex<()>>,
}

async fn follow_loop(follow: Follow) {
    finish_cut_switch(&follow).await;
    loop {
        poll_once(&follow).await;
        tokio::time::sleep(follow.spec.poll_interval).await;
    }
}

/// A switch of the folder that a killed process left in its journal is finished first.
async fn finish_cut_switch(follow: &Follow) {
    let dir = follow.spec.dir.clone();
    let journal = match tokio::task::spawn_blocking(move || super::xet_journal::read(&dir)).await {
        Ok(Ok(Some(journal))) => journal,
        Ok(Ok(None)) => return,
        Ok(Err(reason)) => return set_error(&follow.status, reason),
        Err(e) => return set_error(&follow.status, e.to_string()),
    };
    tracing::info!(info_hash = %journal.ih, dir = %follow.spec.dir.display(), "xet follow: finishing a switch cut short");
    let current = follow.status.borrow().torrent;
    commit(follow, journal, false, vec![current]).await;
}

/// One poll: get the item, re-put it, and update when it names a newer version.
async fn poll_once(follow: &Follow) {
    let (session, spec, status) = (&follow.session, &follow.spec, &*follow.status);
    let found = session.dht_get_mutable(spec.public_key, &spec.salt, spec.lookup_timeout).await;
    status.send_modify(|s| s.polls += 1);
    let item = match found {
        Ok(Some(item)) => item,
        Ok(None) => return,
        Err(e) => return set_error(status, format!("dht get: {e}")),
    };
    keep_alive(session, spec, &item).await;
    let ih = match decode_info_hash_value(&item.v) {
        Ok(ih) => ih,
        Err(e) => return set_error(status, format!("the item's value is not a BEP 46 info hash: {e}")),
    };
    let now = status.borrow().clone();
    match next_step(now.seq, now.info_hash, item.seq, ih) {
        PollStep::Stay => {}
        PollStep::Adopt(seq) => status.send_modify(|s| s.seq = seq),
        PollStep::Update(ih, seq) => {
            tracing::info!(info_hash = %ih, seq, dir = %spec.dir.display(), "xet follow: a new version");
            status.send_modify(|s| s.updating = Some((ih, seq)));
            let (staged, torrent) = match super::xet_switch::fetch(session, spec, ih).await {
                Ok(fetched) => fetched,
                Err(reason) => {
                    status.send_modify(|s| s.updating = None);
                    return set_error(status, reason);
                }
            };
            let old = session.metainfo(now.torrent).ok().map(|t| (*t).clone());
            let journal = Journal { ih, seq, new: (*torrent).clone(), old };
            commit(follow, journal, true, vec![staged, now.torrent]).await;
        }
    }
}

/// Runs a switch's commit in a task of its own, which reports the switch in the status; waits
/// for it (a stop of the loop cuts only this wait).
async fn commit(follow: &Follow, journal: Journal, fresh: bool, known: Vec<TorrentId>) {
    let in_flight = follow.commit.clone().lock_owned().await;
    let status = follow.status.clone();
    let (ih, seq) = (journal.ih, journal.seq);
    let report = move |outcome: &Committed| {
        match outcome {
            Ok((torrent, warning)) => status.send_modify(|s| {
                (s.torrent, s.info_hash, s.seq) = (*torrent, ih, seq);
                s.switches += 1;
                s.updating = None;
                s.last_error.clone_from(warning);
            }),
            Err(reason) => {
                status.send_modify(|s| s.updating = None);
                set_error(&status, reason.clone());
            }
        }
        drop(in_flight);
    };
    let job = Commit {
        dir: follow.spec.dir.clone(),
        journal,
        write_journal: fresh,
        known,
        recorder: follow.spec.on_switch.clone(),
    };
    let _ = xet_commit::spawn(&follow.session, job, report).await;
}

/// Re-puts the item as found: anyone may, and it keeps the item alive while the publisher is
/// offline (nodes drop items after 2 hours). A failure only means fewer nodes hold it.
async fn keep_alive(session: &Session, spec: &XetFollowSpec, item: &MutableItem) {
    if let Err(e) = session.dht_put_item(Item::Mutable(item.clone()), None, spec.lookup_timeout).await {
        tracing::debug!(error = %e, "xet follow: re-put of the item failed");
    }
}

fn set_error(status: &watch::Sender<XetFollowStatus>, reason: String) {
    tracing::warn!(%reason, "xet follow");
    status.send_modify(|s| s.last_error = Some(reason));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_higher_seq_naming_another_torrent_updates() {
        let (a, b) = (InfoHash([1; 20]), InfoHash([2; 20]));
        assert_eq!(next_step(3, a, 3, b), PollStep::Stay);
        assert_eq!(next_step(3, a, 2, b), PollStep::Stay);
        assert_eq!(next_step(3, a, 4, a), PollStep::Adopt(4));
        assert_eq!(next_step(3, a, 4, b), PollStep::Update(b, 4));
        // Unknown seq (0): the first item naming another torrent is newer.
        assert_eq!(next_step(0, a, 1, b), PollStep::Update(b, 1));
        assert_eq!(next_step(0, a, 1, a), PollStep::Adopt(1));
    }
}
