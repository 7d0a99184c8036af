//! The daemon's start: every torrent of the checkpoint folder added where its checkpoint left it.
//!
//! With thousands of torrents the cost is per torrent: reading and decoding its checkpoint,
//! rebuilding its metainfo, stamping and opening its files. The first two are CPU work done
//! in batches on the blocking pool, a few batches ahead; the session adds the torrents batch
//! by batch, in info-hash order, a bounded number of adds at a time (each opens its files on
//! the blocking pool). Pieces a checkpoint vouches for are not hashed: see
//! [`RESTORE_VERIFY_SAMPLE`].

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use ccbt_checkpoint::CheckpointStore;
use ccbt_core::InfoHash;
use ccbt_engine::{find_checkpoint, AddTorrent, FoundCheckpoint, Session, SessionError, TorrentId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Checkpoints read and decoded by one job of the blocking pool.
const BATCH: usize = 128;
/// Adds in flight at once (each waits for its files on the blocking pool).
const ADDS_IN_FLIGHT: usize = 32;
/// Batches read ahead of the adds: enough to keep both kinds of work busy, few enough that
/// the blocking pool's threads do not fight over the cores.
const BATCHES_AHEAD: usize = 4;
/// Trusted pieces hashed anyway per restored torrent. The daemon restores its own checkpoints,
/// written for files in the folder they name; every file is still stamped (size, mtime) and a
/// changed one has its pieces hashed again. The sample that `ccbt resume` takes
/// (`resume_verify_sample`) guards against a checkpoint used with data it does not describe;
/// at daemon start it would hash up to that many pieces of every torrent (for 10,000 small
/// torrents, all their data), so the daemon, like libtorrent and transmission, takes none.
pub const RESTORE_VERIFY_SAMPLE: u32 = 0;

/// How restoring ended.
pub enum Restore {
    /// Every usable checkpoint was tried; how many torrents run.
    Done(usize),
    /// A signal came first.
    Stopped,
}

/// What one checkpoint gave.
type Prepared = (InfoHash, anyhow::Result<Option<AddTorrent>>);

/// Adds every torrent of the checkpoint folder (no rehash of the pieces its checkpoint vouches
/// for). A checkpoint that cannot be used is reported and skipped.
pub async fn restore(session: &Arc<Session>, stop: &mut oneshot::Receiver<&'static str>) -> Restore {
    if !session.options().checkpoint_enabled {
        return Restore::Done(0);
    }
    let dir = session.options().checkpoint_dir.clone();
    let listing = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || CheckpointStore::new(dir).info_hashes()).await
    };
    let hashes = match listing {
        Ok(Ok(hashes)) => hashes,
        Ok(Err(e)) => {
            eprintln!("warning: cannot list the checkpoints: {e}; no torrent restored");
            return Restore::Done(0);
        }
        Err(e) => {
            eprintln!("warning: listing the checkpoints failed: {e}; no torrent restored");
            return Restore::Done(0);
        }
    };
    let mut chunks = hashes.chunks(BATCH).map(|chunk| {
        let (dir, chunk) = (dir.clone(), chunk.to_vec());
        tokio::task::spawn_blocking(move || chunk.into_iter().map(|h| (h, prepare(&dir, &h))).collect())
    });
    let mut batches: VecDeque<JoinHandle<Vec<Prepared>>> = chunks.by_ref().take(BATCHES_AHEAD).collect();
    let mut adding = Adding { session: session.clone(), in_flight: VecDeque::new(), count: 0 };
    while let Some(batch) = batches.pop_front() {
        batches.extend(chunks.next());
        let prepared = match batch.await {
            Ok(prepared) => prepared,
            Err(e) => {
                eprintln!("warning: reading checkpoints failed: {e}");
                continue;
            }
        };
        for (info_hash, add) in prepared {
            if stop.try_recv().is_ok() {
                adding.finish().await;
                return Restore::Stopped;
            }
            match add {
                Ok(Some(add)) => adding.push(info_hash, add).await,
                Ok(None) => {}
                Err(e) => eprintln!("warning: cannot restore {}: {e:#}", info_hash.to_hex()),
            }
        }
    }
    adding.finish().await;
    Restore::Done(adding.count)
}

/// The torrent of `info_hash`'s checkpoint in `dir`, ready to add; None when there is none or
/// it names no source (nothing to resume). Blocking.
fn prepare(dir: &Path, info_hash: &InfoHash) -> anyhow::Result<Option<AddTorrent>> {
    let checkpoint = match find_checkpoint(dir, info_hash) {
        FoundCheckpoint::None => return Ok(None),
        FoundCheckpoint::Unusable(e) => anyhow::bail!("its checkpoint is unusable: {e}"),
        FoundCheckpoint::Usable { checkpoint, rejected } => {
            for e in rejected {
                eprintln!("warning: ignoring an unusable checkpoint file of {}: {e}", info_hash.to_hex());
            }
            checkpoint
        }
    };
    let source = &checkpoint.source;
    if checkpoint.info.is_none() && source.torrent_file.is_none() && source.magnet_uri.is_none() {
        return Ok(None);
    }
    // A torrent paused when the daemon stopped stays paused.
    let paused = checkpoint.state == ccbt_checkpoint::TorrentState::Paused;
    let mut add = AddTorrent::resume_from(*checkpoint)?.paused(paused);
    if let Some(resume) = add.resume.as_mut() {
        resume.verify_sample = Some(RESTORE_VERIFY_SAMPLE);
    }
    Ok(Some(add))
}

/// Adds running on the session, at most [`ADDS_IN_FLIGHT`].
struct Adding {
    session: Arc<Session>,
    in_flight: VecDeque<(InfoHash, JoinHandle<Result<TorrentId, SessionError>>)>,
    count: usize,
}

impl Adding {
    async fn push(&mut self, info_hash: InfoHash, add: AddTorrent) {
        if self.in_flight.len() >= ADDS_IN_FLIGHT {
            self.wait_one().await;
        }
        let session = self.session.clone();
        let task = tokio::spawn(async move { session.add_torrent(add).await });
        self.in_flight.push_back((info_hash, task));
    }

    async fn wait_one(&mut self) {
        let Some((info_hash, task)) = self.in_flight.pop_front() else { return };
        match task.await {
            Ok(Ok(_)) => self.count += 1,
            Ok(Err(e)) => eprintln!("warning: cannot restore {}: {e}", info_hash.to_hex()),
            Err(e) => eprintln!("warning: restoring {} failed: {e}", info_hash.to_hex()),
        }
    }

    async fn finish(&mut self) {
        while !self.in_flight.is_empty() {
            self.wait_one().await;
        }
    }
}
