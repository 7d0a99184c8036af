//! The commit of a switch (docs/xet.md, "Following: the switch"): from the first change to
//! the dataset's folder until the new version's torrent is in the session and recorded. It
//! always runs as a task of its own ([`spawn`]): stopping the follow (dropping its handle,
//! the daemon's unfollow or shutdown aborting its task) cannot cut it between the file moves
//! and the add of the new torrent, which left the folder half switched and the old version
//! recorded. A kill of the process (SIGKILL, power loss) can still cut it: the switch journal
//! (`xet_journal.rs`), written before anything changes and deleted last, lets the next
//! follow of the folder ([`Session::xet_finish_switch`]) run the commit again to its end.
//!
//! Two mechanisms because each covers what the other cannot: the task keeps the common case
//! (a stop or an unfollow) from needing any recovery at all, and only the journal survives
//! the process.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use ccbt_core::InfoHash;
use tokio::task::JoinHandle;

use super::xet_follow::follow_id;
use super::xet_journal::{self, Journal};
use super::xet_switch::{keep_under_cap, move_into_place, STAGING_DIR};
use super::{xet_hooks, Session};
use crate::{AddTorrent, SessionError, TorrentId};

/// Records the version in use after a switch (the daemon writes its `xet_follows.json`):
/// called with the new version's id and sequence number once its torrent is in the session,
/// and awaited before the switch journal is deleted, so the record never stays behind a
/// folder that has switched.
#[derive(Clone)]
pub struct XetSwitchRecorder(pub Arc<dyn Fn(InfoHash, i64) -> RecordFuture + Send + Sync>);

/// What an [`XetSwitchRecorder`] returns: the record being written.
pub type RecordFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

impl std::fmt::Debug for XetSwitchRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XetSwitchRecorder")
    }
}

/// A switch finished by [`Session::xet_finish_switch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XetSwitched {
    /// The session's torrent of the new version, saved in the folder.
    pub torrent: TorrentId,
    /// The id the publisher's item names it by.
    pub info_hash: InfoHash,
    /// The item's sequence number of it.
    pub seq: i64,
    /// What went wrong moving files, if something did (the torrent fetches those files).
    pub warning: Option<String>,
}

/// How a commit ended: the new torrent and a warning, or why the switch did not happen.
pub(super) type Committed = Result<(TorrentId, Option<String>), String>;

/// What a commit works on.
pub(super) struct Commit {
    pub dir: PathBuf,
    pub journal: Journal,
    /// False when the journal is on disk already (a commit run again after a crash).
    pub write_journal: bool,
    /// Torrents of the session to stop besides those found by version and folder (the
    /// follow's current and staging torrents, whatever their save path is spelt like).
    pub known: Vec<TorrentId>,
    pub recorder: Option<XetSwitchRecorder>,
}

/// Runs the commit as a task of its own; `then` sees its outcome (inside that task, so it
/// runs even when whoever spawned it is gone).
pub(super) fn spawn(
    session: &Session,
    commit: Commit,
    then: impl FnOnce(&Committed) + Send + 'static,
) -> JoinHandle<Committed> {
    let session = Session { inner: session.inner.clone() };
    tokio::spawn(async move {
        let outcome = run(&session, commit).await;
        then(&outcome);
        outcome
    })
}

async fn run(session: &Session, commit: Commit) -> Committed {
    let Commit { dir, journal, write_journal, known, recorder } = commit;
    let ih = journal.ih;
    if write_journal {
        let (d, j) = (dir.clone(), journal.clone());
        blocking(move || xet_journal::write(&d, &j)).await?;
    }
    let staging = journal.staging(&dir);
    // Neither version's torrent may write into the files being renamed; their checkpoints go
    // too, or the next start would bring the old version back over the new files.
    stop_versions(session, &journal, &dir, &staging, &known).await;
    let moved = {
        let (dir, staging, journal) = (dir.clone(), staging.clone(), journal.clone());
        let store = session.inner.xet.clone();
        let cap = session.options().xet_cache_bytes;
        blocking(move || {
            let again = !write_journal;
            let moved =
                move_into_place(&journal.new, journal.old.as_ref(), &staging, &dir, store.as_deref(), again);
            if let Some(store) = store.as_deref() {
                keep_under_cap(store, cap);
            }
            Ok(moved)
        })
        .await?
    };
    if xet_hooks::crashed(&dir) {
        return Err("the commit stopped where a test killed it".to_owned());
    }
    // Whatever the moves did, the new version is served from DIR: a file that did not move is
    // fetched again there (from the chunk store first). A failed add keeps the journal: the
    // next follow of the folder runs the commit again.
    let add = AddTorrent::new(journal.new.clone()).save_path(&dir);
    let id = session.add_torrent(add).await.map_err(|e| format!("cannot seed version {ih}: {e}"))?;
    if let Some(recorder) = &recorder {
        (recorder.0)(ih, journal.seq).await;
    }
    xet_journal::remove(&dir);
    if let Err(reason) = moved {
        tracing::warn!(info_hash = %ih, %reason, "xet follow: switched, but not every file moved");
        return Ok((id, Some(format!("switching to version {ih}: {reason}"))));
    }
    if let Err(e) = std::fs::remove_dir_all(&staging) {
        tracing::warn!(path = %staging.display(), error = %e, "xet follow: cannot remove the staging folder");
    }
    // Only when empty: another version may be staging.
    let _ = std::fs::remove_dir(dir.join(STAGING_DIR));
    tracing::info!(info_hash = %ih, torrent = %journal.new.name, "xet follow: switched to the new version");
    Ok((id, None))
}

/// Removes from the session every torrent of the old or the new version saved in `dir` or in
/// the staging folder (after a restart they may be back from their checkpoints), and deletes
/// their checkpoints; the `known` ones too.
async fn stop_versions(
    session: &Session,
    journal: &Journal,
    dir: &Path,
    staging: &Path,
    known: &[TorrentId],
) {
    let old = journal.old.as_ref().map(follow_id);
    let versions: Vec<_> = session
        .torrents()
        .into_iter()
        .filter(|s| {
            let version = session.metainfo(s.id).is_ok_and(|t| {
                let id = follow_id(&t);
                id == journal.ih || Some(id) == old || t.info_hash == journal.new.info_hash
            }) || s.info_hash == journal.ih;
            known.contains(&s.id) || (version && (s.save_path == dir || s.save_path == staging))
        })
        .collect();
    for status in versions {
        match session.remove(status.id).await {
            Ok(()) | Err(SessionError::UnknownTorrent(_)) => {}
            Err(e) => {
                tracing::warn!(torrent = status.id.0, error = %e, "xet follow: cannot remove a version")
            }
        }
        if session.options().checkpoint_enabled {
            let store = ccbt_checkpoint::CheckpointStore::new(&session.options().checkpoint_dir);
            let info_hash = status.info_hash;
            let deleted = blocking(move || store.delete(&info_hash).map_err(|e| e.to_string())).await;
            if let Err(e) = deleted {
                tracing::warn!(%info_hash, error = %e, "xet follow: cannot delete a replaced version's checkpoint");
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work).await.map_err(|e| e.to_string()).and_then(|r| r)
}

impl Session {
    /// Finishes a switch of `dir` that a killed process left half done (its journal in
    /// `DIR/.ccbt-xet-staging/`): the files not moved yet are moved, the old version's
    /// torrent (back from its checkpoint, if so) leaves the session and the new one is added
    /// at `dir`; `recorder` is told the new version before the journal goes. None when no
    /// switch was under way. [`Session::xet_follow`] does this itself before its first poll;
    /// call it first when the version to add at `dir` depends on it (the daemon does).
    pub async fn xet_finish_switch(
        &self,
        dir: &Path,
        recorder: Option<XetSwitchRecorder>,
    ) -> Result<Option<XetSwitched>, String> {
        let d = dir.to_owned();
        let Some(journal) = blocking(move || xet_journal::read(&d)).await? else { return Ok(None) };
        let (ih, seq) = (journal.ih, journal.seq);
        tracing::info!(info_hash = %ih, seq, dir = %dir.display(), "xet follow: finishing a switch cut short");
        let commit =
            Commit { dir: dir.to_owned(), journal, write_journal: false, known: Vec::new(), recorder };
        let (torrent, warning) = spawn(self, commit, |_| {}).await.map_err(|e| e.to_string())??;
        Ok(Some(XetSwitched { torrent, info_hash: ih, seq, warning }))
    }
}
