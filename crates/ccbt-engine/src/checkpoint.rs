//! The library side of checkpoints (after the seeds' Python examples): finding them
//! ([`list_resumable_checkpoints`], [`find_checkpoint`]) and turning one back into a torrent
//! ([`AddTorrent::resume_from`], [`crate::Session::resume_from_checkpoint`]). The torrent task
//! writes them (`torrent/checkpointing.rs`); `resume.rs` decides what a restart trusts.

use std::path::Path;

use ccbt_checkpoint::{Checkpoint, CheckpointEntry, CheckpointError, CheckpointStore, FilePriority, Loaded};
use ccbt_core::InfoHash;
use ccbt_metainfo::{Magnet, Torrent};

use crate::{AddTorrent, ResumeData, SessionError, SessionOptions, TorrentLimits};

/// What the checkpoint folder holds for one torrent.
#[derive(Debug)]
pub enum FoundCheckpoint {
    /// No checkpoint: a fresh start (with the usual check of data already on disk).
    None,
    /// A usable checkpoint. `rejected`: the other format's file was unusable (worth a warning).
    Usable { checkpoint: Box<Checkpoint>, rejected: Vec<CheckpointError> },
    /// Every file present is corrupt, truncated, foreign or of a newer version: warn and check
    /// every piece, never start from zero silently.
    Unusable(CheckpointError),
}

/// The checkpoint of `info_hash` in `dir`.
pub fn find_checkpoint(dir: &Path, info_hash: &InfoHash) -> FoundCheckpoint {
    match CheckpointStore::new(dir).load(info_hash) {
        Ok(None) => FoundCheckpoint::None,
        Ok(Some(loaded)) => {
            FoundCheckpoint::Usable { checkpoint: Box::new(loaded.checkpoint), rejected: loaded.rejected }
        }
        Err(e) => FoundCheckpoint::Unusable(e),
    }
}

/// The checkpoints in `dir` that a torrent can be resumed from (readable, and naming the torrent
/// or holding its info dictionary), sorted by info hash.
pub fn list_resumable_checkpoints(dir: &Path) -> Result<Vec<CheckpointEntry>, CheckpointError> {
    let entries = CheckpointStore::new(dir).list()?;
    Ok(entries.into_iter().filter(|e| e.summary.as_ref().is_ok_and(|s| s.resumable)).collect())
}

impl ResumeData {
    /// The pieces, file stamps, created files and totals of `checkpoint`.
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Result<ResumeData, CheckpointError> {
        let files = &checkpoint.files;
        Ok(ResumeData {
            verified: checkpoint.verified_pieces()?,
            files: files.iter().map(|f| f.observed).collect(),
            data_root: checkpoint.save_path.clone(),
            created_files: (0..files.len()).filter(|&i| files[i].created_by_ccbt).collect(),
            downloaded: checkpoint.totals.downloaded,
            uploaded: checkpoint.totals.uploaded,
            active_secs: checkpoint.totals.active_secs,
            verify_sample: None,
        })
    }
}

impl AddTorrent {
    /// The torrent of `checkpoint`, in its folder, with its file selection, starting from its
    /// verified pieces (see [`ResumeData`]). The torrent comes from the info dictionary in the
    /// checkpoint (no metadata exchange for a magnet link), with the trackers of its `.torrent`
    /// (when it still exists and matches) or of its magnet link. A checkpoint written before a
    /// magnet's metadata arrived resumes as that magnet link.
    pub fn resume_from(checkpoint: Checkpoint) -> Result<AddTorrent, SessionError> {
        checkpoint.validate(&checkpoint.info_hash).map_err(SessionError::Checkpoint)?;
        let mut add = match &checkpoint.info {
            Some(info) => AddTorrent::new(torrent_of(&checkpoint, info)?),
            None => without_info(&checkpoint)?,
        };
        if checkpoint.info.is_some() {
            add.resume = Some(ResumeData::from_checkpoint(&checkpoint).map_err(SessionError::Checkpoint)?);
        }
        add.file_priorities = saved_file_priorities(&checkpoint);
        add.streaming = checkpoint.options.streaming;
        add.limits = saved_limits(&checkpoint);
        add.save_path = Some(checkpoint.save_path);
        add.origin = checkpoint.source;
        Ok(add)
    }
}

/// The file priorities a checkpoint recorded; None when every file is normal (nothing chosen).
pub fn saved_file_priorities(checkpoint: &Checkpoint) -> Option<Vec<crate::FilePriority>> {
    let chosen = checkpoint.files.iter().any(|f| f.priority != FilePriority::Normal);
    chosen.then(|| checkpoint.files.iter().map(|f| crate::torrent::from_checkpoint(f.priority)).collect())
}

/// The torrent's own rate limits a checkpoint recorded (none recorded: unlimited).
pub fn saved_limits(checkpoint: &Checkpoint) -> TorrentLimits {
    let options = &checkpoint.options;
    TorrentLimits { download: options.down_limit.unwrap_or(0), upload: options.up_limit.unwrap_or(0) }
}

/// The torrent from the checkpoint's `.torrent` when it still matches (it has the trackers),
/// else from the info dictionary with the magnet link's trackers.
fn torrent_of(checkpoint: &Checkpoint, info: &[u8]) -> Result<Torrent, SessionError> {
    if let Some(path) = &checkpoint.source.torrent_file {
        if let Ok(add) = AddTorrent::from_file(path) {
            if let crate::TorrentSource::Torrent(t) = add.source {
                if t.info_hash == checkpoint.info_hash {
                    return Ok(*t);
                }
            }
        }
    }
    let magnet = checkpoint
        .source
        .magnet_uri
        .as_deref()
        .and_then(|uri| Magnet::parse(uri).ok())
        .filter(|m| m.info_hash == checkpoint.info_hash)
        .unwrap_or_else(|| Magnet::new(checkpoint.info_hash));
    let bytes = crate::magnet::info_file_bytes(info, checkpoint.piece_layers.as_deref(), &magnet);
    Torrent::from_bytes(&bytes).map_err(|e| {
        SessionError::Checkpoint(CheckpointError::Malformed { reason: format!("info dictionary: {e}") })
    })
}

/// A checkpoint without the info dictionary: its magnet link or `.torrent` again.
fn without_info(checkpoint: &Checkpoint) -> Result<AddTorrent, SessionError> {
    let not_resumable = || SessionError::NotResumable { info_hash: checkpoint.info_hash.to_hex() };
    let add = if let Some(uri) = &checkpoint.source.magnet_uri {
        AddTorrent::parse(uri)?
    } else if let Some(path) = &checkpoint.source.torrent_file {
        AddTorrent::from_file(path)?
    } else {
        return Err(not_resumable());
    };
    if add.info_hash() == checkpoint.info_hash {
        Ok(add)
    } else {
        Err(not_resumable())
    }
}

/// Records a magnet link still fetching its metadata: where it came from and where it goes, no
/// info dictionary and no piece, so it can be resumed by info hash after a stop; `paused`: added
/// paused and not resumed yet. An existing checkpoint with the metadata knows more and is never
/// replaced. Blocking (file I/O).
pub(crate) fn save_pending_magnet(
    options: &SessionOptions,
    magnet: &Magnet,
    save_path: &Path,
    source: ccbt_checkpoint::Source,
    paused: bool,
) {
    let store = CheckpointStore::new(&options.checkpoint_dir);
    // Never over a checkpoint with the metadata; over one without, to record a pause or resume.
    if !matches!(
        store.load(&magnet.info_hash),
        Ok(None) | Ok(Some(Loaded { checkpoint: Checkpoint { info: None, .. }, .. }))
    ) {
        return;
    }
    let name = magnet.display_name.clone().unwrap_or_else(|| magnet.info_hash.to_hex());
    let folder = std::fs::canonicalize(save_path).unwrap_or_else(|_| save_path.to_owned());
    let mut checkpoint = Checkpoint::new(magnet.info_hash, name, folder, 0);
    checkpoint.source = source;
    if paused {
        checkpoint.state = ccbt_checkpoint::TorrentState::Paused;
    }
    checkpoint.saved_at = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Err(error) = store.save(&checkpoint, options.checkpoint_format) {
        tracing::warn!(%error, "cannot write the checkpoint of the magnet link");
    }
}
