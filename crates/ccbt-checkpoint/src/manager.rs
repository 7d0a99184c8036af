//! `CheckpointManager`: the seeds' library names (`list_checkpoints`, `load_checkpoint`,
//! `delete_checkpoint`, `cleanup_old_checkpoints`) over a [`CheckpointStore`] and the format the
//! session writes.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ccbt_core::InfoHash;

use crate::{Checkpoint, CheckpointEntry, CheckpointError, CheckpointFormat, CheckpointStore, Loaded};

/// Checkpoints of a session, by the seeds' method names.
#[derive(Clone, Debug)]
pub struct CheckpointManager {
    store: CheckpointStore,
    format: CheckpointFormat,
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

impl CheckpointManager {
    /// Checkpoints in `dir`, saved in `format`.
    pub fn new(dir: impl Into<PathBuf>, format: CheckpointFormat) -> CheckpointManager {
        CheckpointManager { store: CheckpointStore::new(dir), format }
    }

    /// The store underneath, for everything else (export, resolve, clean with a dry run).
    pub fn store(&self) -> &CheckpointStore {
        &self.store
    }

    /// Saves `checkpoint` in the manager's format.
    pub fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<Vec<PathBuf>, CheckpointError> {
        self.store.save(checkpoint, self.format)
    }

    /// Every checkpoint file, unreadable ones with their error.
    pub fn list_checkpoints(&self) -> Result<Vec<CheckpointEntry>, CheckpointError> {
        self.store.list()
    }

    /// The checkpoint of `info_hash`, if any (see [`CheckpointStore::load`]).
    pub fn load_checkpoint(&self, info_hash: &InfoHash) -> Result<Option<Loaded>, CheckpointError> {
        self.store.load(info_hash)
    }

    /// Deletes the checkpoint of `info_hash`; `false` when there was none.
    pub fn delete_checkpoint(&self, info_hash: &InfoHash) -> Result<bool, CheckpointError> {
        Ok(!self.store.delete(info_hash)?.is_empty())
    }

    /// Removes checkpoints saved more than `days` days before `now`; returns how many files went.
    pub fn cleanup_old_checkpoints(&self, days: u32, now: SystemTime) -> Result<usize, CheckpointError> {
        Ok(self.store.clean(DAY * days, now, false)?.len())
    }
}
