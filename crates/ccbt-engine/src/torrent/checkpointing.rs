//! Writing a torrent's checkpoint, by its task: when, and in which order.
//!
//! When: every `checkpoint_interval` if something changed, after a batch of newly verified
//! pieces ([`CHECKPOINT_BATCH_PIECES`] or [`CHECKPOINT_BATCH_BYTES`]), on pause, on completion
//! and at shutdown.
//!
//! Order (a checkpoint never claims a piece that is not verified and durable): the task takes
//! the verified pieces under the torrent's lock (a piece is verified only after its write
//! returned), then on the blocking pool fdatasyncs the files the pieces verified since the last
//! checkpoint touch (everything, the first time: data found on disk at start may still be in the
//! page cache only), stamps the files (size, mtime), and saves the checkpoint atomically. Only
//! one write runs at a time; a failed one gives its pieces back to the next.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ccbt_checkpoint::{Checkpoint, CheckpointFormat, CheckpointStore, TorrentState, Totals};
use ccbt_core::Bitfield;
use tokio::task::JoinHandle;

use super::TorrentShared;
use crate::options::{CHECKPOINT_BATCH_BYTES, CHECKPOINT_BATCH_PIECES};
use crate::sync::lock;

/// What a torrent needs to write checkpoints.
pub(crate) struct CheckpointSpec {
    /// Everything that does not change while the torrent runs (source, info dictionary, folder,
    /// files, created files, selection, options); the task fills in the rest.
    pub template: Checkpoint,
    pub store: CheckpointStore,
    pub format: CheckpointFormat,
    /// Totals of earlier runs (from the checkpoint resumed from).
    pub earlier: Totals,
}

/// One write on the blocking pool, and the pieces it makes durable (given back if it fails).
struct InFlight {
    handle: JoinHandle<Result<(), String>>,
    pieces: Vec<u32>,
    flush_all: bool,
}

/// The checkpoint state of a torrent task.
pub(crate) struct Checkpointer {
    spec: Arc<CheckpointSpec>,
    interval: Duration,
    /// Verified since the last successful checkpoint: their files are flushed before the next.
    unflushed: Vec<u32>,
    unflushed_bytes: u64,
    /// The next write flushes every file (the first one, and after a failed full flush).
    flush_all: bool,
    /// Something a checkpoint records changed since the last write.
    dirty: bool,
    last_write: Instant,
    in_flight: Option<InFlight>,
    /// A write was asked for while one was running.
    again: bool,
    started: Instant,
    /// The start-up check is over: until then the torrent knows no piece, and writing would
    /// replace a good checkpoint with an empty one (a check that failed, Ctrl-C while checking).
    pub ready: bool,
    /// The user paused the torrent (the state shutdown must not overwrite).
    pub paused: bool,
}

impl Checkpointer {
    pub(crate) fn new(spec: CheckpointSpec, interval: Duration) -> Checkpointer {
        let now = Instant::now();
        Checkpointer {
            spec: Arc::new(spec),
            interval,
            unflushed: Vec::new(),
            unflushed_bytes: 0,
            flush_all: true,
            dirty: true,
            last_write: now,
            in_flight: None,
            again: false,
            started: now,
            ready: false,
            paused: false,
        }
    }

    /// Records a newly verified piece of `len` bytes; whether a batch is full (write now).
    pub(crate) fn piece_verified(&mut self, piece: u32, len: u64) -> bool {
        self.unflushed.push(piece);
        self.unflushed_bytes += len;
        self.dirty = true;
        self.unflushed.len() >= CHECKPOINT_BATCH_PIECES || self.unflushed_bytes >= CHECKPOINT_BATCH_BYTES
    }

    /// The torrent resumed from its checkpoint with every claimed piece trusted and no file
    /// changed: that checkpoint is still true and its pieces durable, so nothing is written at
    /// start (with many torrents, a write each would cost an fsync each) and the next write
    /// flushes only the pieces verified from now on.
    pub(crate) fn resumed_unchanged(&mut self) {
        self.dirty = false;
        self.flush_all = false;
    }

    /// Marks a change worth recording (a pause, a resume).
    pub(crate) fn touch(&mut self) {
        self.dirty = true;
    }

    /// Whether the interval has passed with something to record.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.dirty && now.saturating_duration_since(self.last_write) >= self.interval
    }

    /// Starts a write unless one runs (then it follows that one).
    pub(crate) fn start(&mut self, shared: &Arc<TorrentShared>) {
        if !self.ready {
            return;
        }
        if self.in_flight.is_some() {
            self.again = true;
            return;
        }
        self.again = false;
        self.dirty = false;
        self.last_write = Instant::now();
        let (verified, complete, priorities) = {
            let inner = lock(&shared.inner);
            let priorities = inner.selection.file_priorities().to_vec();
            (inner.swarm.have().clone(), inner.swarm.is_complete(), priorities)
        };
        let mut checkpoint = self.fill(shared, &verified, complete);
        for (entry, &priority) in checkpoint.files.iter_mut().zip(&priorities) {
            entry.priority = to_checkpoint(priority);
        }
        let pieces = std::mem::take(&mut self.unflushed);
        self.unflushed_bytes = 0;
        let flush_all = std::mem::replace(&mut self.flush_all, false);
        let delete = complete && shared.options().checkpoint_delete_on_completion;
        let job = WriteJob {
            spec: self.spec.clone(),
            shared: shared.clone(),
            checkpoint,
            ranges: piece_ranges(shared, &pieces),
            flush_all,
            delete,
        };
        let handle = tokio::task::spawn_blocking(move || job.run());
        self.in_flight = Some(InFlight { handle, pieces, flush_all });
    }

    /// Waits for the running write (forever when none runs: for `select!`). Cancel-safe.
    pub(crate) async fn written(&mut self) {
        let Some(in_flight) = self.in_flight.as_mut() else {
            return std::future::pending().await;
        };
        let result = (&mut in_flight.handle).await.map_err(|e| e.to_string()).and_then(|r| r);
        let Some(done) = self.in_flight.take() else { return };
        if let Err(error) = result {
            tracing::warn!(%error, "cannot write the checkpoint; trying again later");
            self.unflushed.extend(done.pieces);
            self.flush_all |= done.flush_all;
            self.dirty = true;
        }
    }

    /// Whether a write runs.
    pub(crate) fn writing(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Whether a write was asked for while the last one ran.
    pub(crate) fn take_again(&mut self) -> bool {
        std::mem::take(&mut self.again)
    }

    /// Writes a checkpoint now and waits for it (shutdown): after the running one, if any.
    pub(crate) async fn write_now(&mut self, shared: &Arc<TorrentShared>) {
        if self.writing() {
            self.written().await;
        }
        self.start(shared);
        if self.writing() {
            self.written().await;
        }
    }

    /// The template with what changes: pieces, totals, state, time.
    fn fill(&self, shared: &TorrentShared, verified: &Bitfield, complete: bool) -> Checkpoint {
        let mut checkpoint = self.spec.template.clone();
        checkpoint.set_verified_pieces(verified);
        // As they are now: they may have changed since the torrent started.
        let limits = shared.limits.torrent(shared.id);
        (checkpoint.options.down_limit, checkpoint.options.up_limit) =
            (Some(limits.download), Some(limits.upload));
        let earlier = self.spec.earlier;
        checkpoint.totals = Totals {
            downloaded: earlier.downloaded + shared.counters.downloaded(),
            uploaded: earlier.uploaded + shared.counters.uploaded(),
            active_secs: earlier.active_secs + self.started.elapsed().as_secs(),
        };
        checkpoint.state = if self.paused {
            TorrentState::Paused
        } else if complete {
            TorrentState::Seeding
        } else {
            TorrentState::Downloading
        };
        checkpoint.saved_at =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        checkpoint
    }
}

/// The torrent byte ranges of `pieces`.
fn piece_ranges(shared: &TorrentShared, pieces: &[u32]) -> Vec<(u64, u64)> {
    let lengths = &shared.lengths;
    let valid = pieces.iter().filter_map(|&p| lengths.validate_piece(p));
    valid.map(|p| (lengths.piece_offset(p), u64::from(lengths.piece_len(p)))).collect()
}

/// The blocking part of a write: flush, stamp, save.
struct WriteJob {
    spec: Arc<CheckpointSpec>,
    shared: Arc<TorrentShared>,
    checkpoint: Checkpoint,
    ranges: Vec<(u64, u64)>,
    flush_all: bool,
    delete: bool,
}

impl WriteJob {
    fn run(mut self) -> Result<(), String> {
        let storage = &self.shared.storage;
        let flushed = if self.flush_all { storage.flush() } else { storage.flush_ranges(&self.ranges) };
        flushed.map_err(|e| e.to_string())?;
        if self.delete {
            return self.spec.store.delete(&self.checkpoint.info_hash).map(|_| ()).map_err(|e| e.to_string());
        }
        let root = self.checkpoint.save_path.clone();
        let layout = self.shared.torrent.layout();
        let stamps = crate::resume::stamp_files(&root, &layout);
        for (entry, stamp) in self.checkpoint.files.iter_mut().zip(stamps) {
            entry.observed = stamp;
        }
        self.spec.store.save(&self.checkpoint, self.spec.format).map_err(|e| e.to_string())?;
        self.shared.counters.checkpoints_written.fetch_add(1, Relaxed);
        tracing::debug!(pieces = self.checkpoint.verified_count(), "checkpoint written");
        Ok(())
    }
}

/// The files of a checkpoint template: layout paths and lengths, which ccbt created, and their
/// priorities (refreshed from the torrent's selection at every write).
pub(crate) fn file_entries(
    torrent: &ccbt_metainfo::Torrent,
    created: &[usize],
    priorities: &[crate::FilePriority],
) -> Vec<ccbt_checkpoint::FileEntry> {
    let layout = torrent.layout();
    let entries = layout.files().iter().enumerate().map(|(index, f)| ccbt_checkpoint::FileEntry {
        path: f.path.iter().collect::<PathBuf>(),
        length: f.length,
        observed: None,
        created_by_ccbt: created.contains(&index),
        priority: priorities.get(index).copied().map_or(Default::default(), to_checkpoint),
    });
    entries.collect()
}

/// A file priority as checkpoints spell it.
pub(crate) fn to_checkpoint(priority: crate::FilePriority) -> ccbt_checkpoint::FilePriority {
    use crate::FilePriority as P;
    use ccbt_checkpoint::FilePriority as C;
    match priority {
        P::Skip => C::Skip,
        P::Low => C::Low,
        P::Normal => C::Normal,
        P::High => C::High,
    }
}

/// A checkpoint's file priority as the engine spells it.
pub(crate) fn from_checkpoint(priority: ccbt_checkpoint::FilePriority) -> crate::FilePriority {
    use crate::FilePriority as P;
    use ccbt_checkpoint::FilePriority as C;
    match priority {
        C::Skip => P::Skip,
        C::Low => P::Low,
        C::Normal => P::Normal,
        C::High => P::High,
    }
}
