//! One follow of the daemon, as a task: find the version in use (a link's first lookup in the
//! DHT), get it complete into the folder (the torrent restored from its checkpoint, else its
//! magnet with the files on disk checked), then run the library's follow
//! ([`Session::xet_follow`]) and mirror its status into the registry, writing the file when
//! the version in use changes. Failures before the follow runs are shown and retried. A
//! switch's commit records its new version itself (`recorder`), and a stopped task waits for a
//! commit under way (`mirror`): the daemon's unfollow and shutdown never cut a switch between
//! its file moves and the record of the new version.

use std::sync::Arc;
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_engine::bep46::decode_info_hash_value;
use ccbt_engine::{
    follow_id, AddTorrent, Session, TorrentId, TorrentState, TorrentStatus, XetFollowError, XetFollowHandle,
    XetFollowSpec, XetFollowStatus, XetSwitchRecorder,
};
use ccbt_metainfo::Magnet;
use tokio::sync::watch;

use crate::follow_file::FollowRecord;
use crate::follow_registry::{unix_now, Shared};
use crate::XetFollowTorrentView;

/// Deadline of one DHT lookup.
const LOOKUP: Duration = Duration::from_secs(60);
/// How often a download of the current version is looked at.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// The longest pause before a failed step is tried again.
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Set to true to stop a follow's task: it stops where it is before its follow runs, and
/// while it runs only after a switch's commit under way has ended (`mirror`).
pub(crate) type Stop = watch::Receiver<bool>;

pub(crate) async fn run(session: Arc<Session>, shared: Arc<Shared>, id: String, mut stop: Stop) {
    let Some(record) = shared.record(&id) else { return };
    // A switch a killed daemon left half done is finished (and recorded) before anything
    // else: the version to get complete in the folder is the new one.
    match session.xet_finish_switch(&record.dir, Some(recorder(&shared, &id))).await {
        Ok(Some(switched)) => {
            tracing::info!(%id, info_hash = %switched.info_hash, seq = switched.seq, "xet follow: a switch cut short finished")
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(%id, error = %e, "xet follow: cannot finish a switch cut short");
            shared.update(&id, |live| live.last_error = Some(e));
        }
    }
    let Some(record) = shared.record(&id) else { return };
    let handle = tokio::select! {
        _ = stop.wait_for(|stop| *stop) => return,
        handle = start(&session, &shared, &record) => handle,
    };
    if let Some(handle) = handle {
        mirror(&session, &shared, &id, handle, stop).await;
    }
}

/// Gets the version in use complete in the folder and starts the library's follow on it.
async fn start(session: &Session, shared: &Arc<Shared>, record: &FollowRecord) -> Option<XetFollowHandle> {
    let id = &record.id;
    let retry = Duration::from_secs(record.poll_secs).min(MAX_RETRY);
    let (ih, seq) = match record.info_hash {
        Some(ih) => (ih, record.seq),
        None => look_up(session, shared, record, retry).await,
    };
    loop {
        let torrent = get_current(session, shared, record, ih, retry).await;
        let spec = XetFollowSpec {
            current_seq: seq,
            poll_interval: Duration::from_secs(record.poll_secs),
            lookup_timeout: LOOKUP,
            on_switch: Some(recorder(shared, id)),
            ..XetFollowSpec::new(record.public_key, record.salt.clone(), record.dir.clone(), torrent)
        };
        match session.xet_follow(spec) {
            Ok(handle) => return Some(handle),
            // Removed from the session in between: get it again.
            Err(XetFollowError::UnknownTorrent(_)) => tokio::time::sleep(retry).await,
            Err(e) => {
                shared.update(id, |live| (live.state, live.last_error) = ("stopped", Some(e.to_string())));
                return None;
            }
        }
    }
}

/// Records a switch's new version and writes the file, from inside the switch's commit (so
/// before its journal goes, and even when this follow's task was stopped meanwhile).
fn recorder(shared: &Arc<Shared>, id: &str) -> XetSwitchRecorder {
    let (shared, id) = (shared.clone(), id.to_owned());
    XetSwitchRecorder(Arc::new(move |ih, seq| {
        let (shared, id) = (shared.clone(), id.clone());
        Box::pin(async move {
            if shared.set_version(&id, ih, seq) {
                save(&shared, &id).await;
            }
        })
    }))
}

/// The version the publisher's item names now: looked up until found.
async fn look_up(
    session: &Session,
    shared: &Arc<Shared>,
    record: &FollowRecord,
    retry: Duration,
) -> (InfoHash, i64) {
    let id = &record.id;
    loop {
        shared.update(id, |live| live.state = "looking_up");
        let found = session.dht_get_mutable(record.public_key, &record.salt, LOOKUP).await;
        let now = unix_now();
        shared.update(id, |live| {
            live.polls += 1;
            live.last_poll = Some(now);
        });
        let problem = match found {
            Ok(Some(item)) => match decode_info_hash_value(&item.v) {
                Ok(ih) => {
                    shared.set_version(id, ih, item.seq);
                    save(shared, id).await;
                    shared.update(id, |live| live.last_error = None);
                    return (ih, item.seq);
                }
                Err(e) => format!("the publisher's item holds no info hash: {e}"),
            },
            Ok(None) => "no version found in the dht yet".to_owned(),
            Err(e) => format!("dht get: {e}"),
        };
        shared.update(id, |live| live.last_error = Some(problem));
        tokio::time::sleep(retry).await;
    }
}

/// The torrent of version `ih`, complete in the folder: tried until it is.
async fn get_current(
    session: &Session,
    shared: &Shared,
    record: &FollowRecord,
    ih: InfoHash,
    retry: Duration,
) -> TorrentId {
    loop {
        shared.update(&record.id, |live| live.state = "fetching");
        match complete_version(session, shared, record, ih).await {
            Ok(id) => {
                shared.update(&record.id, |live| live.last_error = None);
                return id;
            }
            Err(e) => {
                tracing::warn!(id = %record.id, error = %e, "xet follow: the current version");
                shared.update(&record.id, |live| live.last_error = Some(e));
                tokio::time::sleep(retry).await;
            }
        }
    }
}

async fn complete_version(
    session: &Session,
    shared: &Shared,
    record: &FollowRecord,
    ih: InfoHash,
) -> Result<TorrentId, String> {
    let id = match find_version(session, ih) {
        Some(status) if status.save_path != record.dir => {
            return Err(format!(
                "version {ih} is in the daemon saved in {}, not {}: remove that torrent",
                status.save_path.display(),
                record.dir.display()
            ))
        }
        Some(status) => status.id,
        None => {
            let mut add = AddTorrent::magnet(Magnet::of_any_version(ih))
                .save_path(&record.dir)
                .peers(record.peers.iter().copied());
            add.check_existing = true;
            session.add_torrent(add).await.map_err(|e| format!("cannot add version {ih}: {e}"))?
        }
    };
    loop {
        let status = session.status(id).map_err(|e| e.to_string())?;
        shared.update(&record.id, |live| live.torrent = Some(torrent_view(&status)));
        match &status.state {
            TorrentState::Error(e) => {
                let _ = session.remove(id).await;
                return Err(format!("version {ih}: {e}"));
            }
            // The follow needs the data: a torrent restored paused is resumed.
            TorrentState::Paused => session.resume(id).await.map_err(|e| e.to_string())?,
            TorrentState::Seeding if status.is_complete() => return Ok(id),
            _ => {}
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// The session's torrent of the version a BEP 46 item names `ih`.
pub(crate) fn find_version(session: &Session, ih: InfoHash) -> Option<TorrentStatus> {
    session.torrents().into_iter().find(|status| {
        status.info_hash == ih || session.metainfo(status.id).is_ok_and(|torrent| follow_id(&torrent) == ih)
    })
}

fn torrent_view(status: &TorrentStatus) -> XetFollowTorrentView {
    XetFollowTorrentView { info_hash: status.info_hash.to_hex(), name: status.name.clone() }
}

/// Mirrors the library's follow into the registry until `stop`; a switch's commit under way
/// then ends first, and its outcome is recorded.
async fn mirror(session: &Session, shared: &Arc<Shared>, id: &str, handle: XetFollowHandle, mut stop: Stop) {
    let mut watch = handle.watch();
    let mut torrent = None;
    loop {
        let status = watch.borrow_and_update().clone();
        take_in(session, shared, id, &status, &mut torrent).await;
        tokio::select! {
            changed = watch.changed() => if changed.is_err() { return },
            _ = stop.wait_for(|stop| *stop) => break,
        }
    }
    let status = handle.stop_and_wait().await;
    take_in(session, shared, id, &status, &mut torrent).await;
}

/// Takes in one status of the library's follow; writes the file when the version changed.
async fn take_in(
    session: &Session,
    shared: &Arc<Shared>,
    id: &str,
    status: &XetFollowStatus,
    torrent: &mut Option<TorrentId>,
) {
    let view = match *torrent {
        Some(t) if t == status.torrent => None,
        _ => session.status(status.torrent).ok().map(|s| torrent_view(&s)),
    };
    *torrent = Some(status.torrent);
    shared.observe(id, status, view);
    if shared.set_version(id, status.info_hash, status.seq) {
        save(shared, id).await;
    }
}

/// Writes the file; a failure is the follow's error (it runs on, the file is older).
async fn save(shared: &Arc<Shared>, id: &str) {
    if let Err(e) = shared.persist().await {
        tracing::error!(%id, error = %e, "xet follow: cannot save the follows");
        shared.update(id, |live| live.last_error = Some(e.to_string()));
    }
}
