//! Session calls that act on one torrent as a whole: pause and resume (also of a magnet link
//! added paused), recheck, reannounce, remove (with or without its data), and restoring a
//! torrent from its checkpoint in the state it was saved in.

use tokio::sync::oneshot;

use super::{stop_torrent, Session, TorrentEntry};
use crate::delete_data::{delete_created, DeletedData};
use crate::sync::lock;
use crate::torrent::TorrentCommand;
use crate::{AddTorrent, Event, SessionError, TorrentId};

impl Session {
    /// Closes a torrent's connections and stops connecting and announcing; its verified data
    /// stays. A magnet link added paused stays so; one fetching its metadata cannot pause
    /// (`MetadataPending`).
    pub async fn pause(&self, id: TorrentId) -> Result<(), SessionError> {
        if let Some(waiting) = self.resolving_paused(id)? {
            return if waiting { Ok(()) } else { Err(SessionError::MetadataPending(id.0)) };
        }
        self.command(id, TorrentCommand::Pause).await
    }

    /// Undoes [`Session::pause`]; a magnet link added paused starts fetching its metadata.
    pub async fn resume(&self, id: TorrentId) -> Result<(), SessionError> {
        if self.resolving_paused(id)?.is_some() {
            let torrents = lock(&self.inner.torrents);
            if let Some(TorrentEntry::Resolving { shared, .. }) = torrents.get(&id) {
                shared.paused.send_replace(false);
            }
            return Ok(());
        }
        self.command(id, TorrentCommand::Resume).await
    }

    /// For a magnet link still without metadata, whether it waits paused; None for a torrent
    /// with metadata.
    fn resolving_paused(&self, id: TorrentId) -> Result<Option<bool>, SessionError> {
        match lock(&self.inner.torrents).get(&id) {
            Some(TorrentEntry::Resolving { shared, .. }) => Ok(Some(*shared.paused.borrow())),
            Some(TorrentEntry::Active { .. }) => Ok(None),
            None => Err(SessionError::UnknownTorrent(id.0)),
        }
    }

    /// Hashes all the torrent's data on disk again (state `Checking` meanwhile; every connection
    /// closes): pieces that fail are dropped and downloaded again, and the torrent goes back to
    /// the state it had (paused stays paused, a failed one becomes active). Returns once the
    /// check started; `Busy` while the torrent checks already.
    pub async fn recheck(&self, id: TorrentId) -> Result<(), SessionError> {
        let (tx, rx) = oneshot::channel();
        self.command(id, TorrentCommand::Recheck(tx)).await?;
        let refused = rx.await.map_err(|_| SessionError::ShutDown)?;
        refused.map_err(|reason| SessionError::Busy { id: id.0, reason })
    }

    /// Announces the torrent now: to its trackers (each still after the `min interval` it asked
    /// for since its last answer) and, with the DHT on, one DHT announce. `Busy` while paused.
    pub async fn reannounce(&self, id: TorrentId) -> Result<(), SessionError> {
        let (tx, rx) = oneshot::channel();
        self.command(id, TorrentCommand::Reannounce(tx)).await?;
        match rx.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SessionError::Busy { id: id.0, reason: "it is paused" }),
            Err(_) => Err(SessionError::ShutDown),
        }
    }

    /// Removes a torrent from the session after finishing its pending writes (files are kept).
    pub async fn remove(&self, id: TorrentId) -> Result<(), SessionError> {
        let entry = {
            // Retired under the torrents lock, so a snapshot counts the torrent exactly once.
            let mut torrents = lock(&self.inner.torrents);
            let entry = torrents.remove(&id).ok_or(SessionError::UnknownTorrent(id.0))?;
            self.inner.retired.retire(&entry);
            entry
        };
        for id in entry.ids() {
            lock(&self.inner.info_hashes).remove(&id);
        }
        let xet_trackers = match &entry {
            TorrentEntry::Active { shared, .. } => shared.torrent.is_xet() || shared.torrent.private,
            TorrentEntry::Resolving { .. } => false,
        };
        stop_torrent(entry).await;
        if xet_trackers {
            // The trackers that get discovery keys may change.
            self.inner.xet_keys.changed.notify_one();
        }
        self.inner.limits.remove_torrent(id);
        let _ = self.inner.events.send(Event::TorrentRemoved { id });
        Ok(())
    }

    /// Removes a torrent, then deletes the files ccbt created for it and its folders left empty
    /// (never a file that existed before, nor anything outside its download folder; see
    /// [`DeletedData`]). A magnet link without metadata has no files.
    pub async fn remove_with_data(&self, id: TorrentId) -> Result<DeletedData, SessionError> {
        let torrent = match lock(&self.inner.torrents).get(&id) {
            Some(TorrentEntry::Active { shared, .. }) => {
                Some((shared.torrent.clone(), shared.save_path.clone()))
            }
            Some(TorrentEntry::Resolving { .. }) => None,
            None => return Err(SessionError::UnknownTorrent(id.0)),
        };
        self.remove(id).await?;
        let Some((torrent, save_path)) = torrent else { return Ok(DeletedData::default()) };
        let state_dir = self.inner.options().state_dir.clone();
        let report = tokio::task::spawn_blocking(move || {
            delete_created(&state_dir, &torrent.info_hash, &save_path, &torrent.layout())
        })
        .await
        .map_err(|e| SessionError::DeleteData(e.to_string()))?;
        tracing::info!(
            %id,
            deleted = report.deleted_files.len(),
            kept = report.kept_files.len(),
            failed = report.failed.len(),
            "torrent data deleted"
        );
        Ok(report)
    }

    /// Adds the torrent of `checkpoint` where it was (see [`Session::resume_from_checkpoint`])
    /// and in the state it was saved in: a torrent paused then is added paused (a daemon's
    /// restart).
    pub async fn restore_checkpoint(
        &self,
        checkpoint: ccbt_checkpoint::Checkpoint,
    ) -> Result<TorrentId, SessionError> {
        let paused = checkpoint.state == ccbt_checkpoint::TorrentState::Paused;
        self.add_torrent(AddTorrent::resume_from(checkpoint)?.paused(paused)).await
    }
}
