//! A recheck the user asked for (`Session::recheck`): the torrent stops transferring (every
//! connection closes; the state is `checking`), hashes all its data on disk again off the task,
//! then starts again from the pieces that verified, in the state it had (paused stays paused; a
//! failed torrent becomes active). Pieces that failed are simply missing: the protocol has no way
//! to take back a HAVE, so connections were closed and new ones get the new bitfield. No
//! checkpoint is written while the check runs (it would list the old pieces); one is written
//! right after.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use ccbt_core::Bitfield;
use tokio::task::JoinHandle;

use super::{check, Discovery, TorrentTask};
use crate::lifecycle::Lifecycle;
use crate::peer::CloseReason;
use crate::sync::lock;
use crate::TorrentError;

/// A running recheck.
pub(super) struct Recheck {
    check: JoinHandle<Result<Bitfield, TorrentError>>,
    /// End paused (it was paused, or the user paused it meanwhile).
    pub(super) paused: bool,
    /// Pieces the torrent had before.
    had: u32,
}

/// The result of the running recheck (forever when none runs: for `select!`). Cancel-safe.
pub(super) async fn finished(recheck: &mut Option<Recheck>) -> Result<Bitfield, TorrentError> {
    match recheck {
        Some(r) => (&mut r.check)
            .await
            .map_err(|e| TorrentError::TaskFailed { task: "recheck", reason: e.to_string() })?,
        None => std::future::pending().await,
    }
}

impl TorrentTask {
    /// Starts a recheck; why not when the torrent cannot now.
    pub(super) fn start_recheck(&mut self) -> Result<(), &'static str> {
        let shared = self.shared.clone();
        let paused = match lock(&shared.inner).lifecycle {
            Lifecycle::Active | Lifecycle::Failed(_) => false,
            Lifecycle::Paused => true,
            Lifecycle::Checking => return Err("it is checking its data already"),
            Lifecycle::FetchingMetadata | Lifecycle::Stopped => return Err("it is stopping"),
        };
        tracing::info!(torrent = %shared.torrent.name, "checking the data again");
        self.stop_chunk_phase();
        self.close_all(Lifecycle::Checking, CloseReason::Rechecking);
        if let Some(c) = self.checkpointer.as_mut() {
            c.ready = false;
        }
        let had = shared.counters.pieces_have.load(Relaxed) as u32;
        shared.counters.checked_pieces.store(0, Relaxed);
        let check = tokio::spawn(async move { check::check_existing(&shared).await });
        self.recheck = Some(Recheck { check, paused, had });
        Ok(())
    }

    /// The recheck ended: the torrent starts again from what verified, its discovery running
    /// or not as it ends (it may have been paused or resumed meanwhile).
    pub(super) fn on_recheck_done(
        &mut self,
        have: Result<Bitfield, TorrentError>,
        discovery: &mut Discovery,
    ) {
        let Some(recheck) = self.recheck.take() else { return };
        let shared = self.shared.clone();
        let have = match have {
            Ok(have) => have,
            Err(error) => {
                tracing::error!(torrent = %shared.torrent.name, %error, "the recheck failed");
                shared.set_lifecycle(Lifecycle::Failed(std::sync::Arc::new(error)));
                return;
            }
        };
        self.start_with(have, recheck.paused, false);
        let now = shared.counters.pieces_have.load(Relaxed) as u32;
        tracing::info!(
            torrent = %shared.torrent.name,
            pieces = now,
            lost = recheck.had.saturating_sub(now),
            "recheck done"
        );
        if let Some(c) = self.checkpointer.as_mut() {
            c.ready = true;
            c.paused = recheck.paused;
            c.touch();
        }
        self.write_checkpoint();
        if recheck.paused {
            discovery.pause();
        } else {
            discovery.resume(&shared);
            lock(&shared.inner).candidates.retry_all(Instant::now());
            self.connect_due();
        }
    }
}
