//! Changing the file priorities of a running torrent: the choice, the swarm, progress and the
//! files on disk move together. Only the torrent task calls it (through `TorrentCommand`).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use ccbt_proto::picker::FilePriority;

use super::TorrentShared;
use crate::lifecycle::Lifecycle;

/// What a priority change did to a running torrent.
pub(crate) struct PriorityChange {
    /// Every wanted piece is now verified (the rest was skipped).
    pub completed: bool,
    /// A complete torrent has pieces to fetch again.
    pub reopened: bool,
}

impl TorrentShared {
    /// Applies `changes`: the swarm drops what is no longer wanted (its cancels wait in
    /// `torrent_actions`), progress counts the new selection, connections are woken to update
    /// their interest and requests, and files selected again that were never created appear.
    /// Fails, changing nothing, naming an index that does not exist.
    pub(crate) fn apply_file_priorities(
        &self,
        changes: &[(u32, FilePriority)],
    ) -> Result<PriorityChange, String> {
        let change = self.update(|inner| {
            inner.selection.set(&self.lengths, changes)?;
            let was_complete = inner.swarm.is_complete();
            let cancels = inner.swarm.set_piece_priorities(inner.selection.piece_priorities());
            inner.torrent_actions.extend(cancels);
            let (pieces, bytes) = inner.selection.counted(&self.lengths, inner.swarm.have());
            self.counters.pieces_have.store(u64::from(pieces), Relaxed);
            self.counters.bytes_have.store(bytes, Relaxed);
            let complete = inner.swarm.is_complete();
            let active = matches!(inner.lifecycle, Lifecycle::Active);
            let reopened = !complete && was_complete && active;
            if reopened {
                // Connections to other seeds were closed as useless while we seeded: try again.
                inner.candidates.retry_all(Instant::now());
            }
            Ok::<_, String>(PriorityChange { completed: complete && !was_complete && active, reopened })
        })?;
        self.have_watch.send_modify(|g| *g += 1);
        // An empty file gets no write that would create it, so files chosen again are made now.
        let chosen: Vec<usize> =
            changes.iter().filter(|(_, p)| *p != FilePriority::Skip).map(|&(i, _)| i as usize).collect();
        let storage = self.storage.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = storage.create_files(&chosen) {
                // The file's pieces fail the same way when written, stopping the torrent with it.
                tracing::warn!(error = %e, "cannot create a file selected again");
            }
        });
        Ok(change)
    }
}
