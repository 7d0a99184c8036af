//! [`HashPool`]: std threads that verify downloaded pieces and write the good ones.
//!
//! The engine hands over a piece's blocks once all arrived; a worker hashes them in place (SHA-1,
//! the v2 SHA-256 merkle subtree, or both for a hybrid, in one pass: [`PieceHasher`]) and writes
//! them only when every hash the piece's [`PieceCheck`] names matches, so a piece that fails its
//! hash, or that has no hash to check yet, never touches the disk.
//! The queue is bounded and [`HashPool::try_submit`] never blocks, so an async caller can apply
//! back-pressure (stop requesting blocks) instead of blocking a runtime thread.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use ccbt_core::merkle::PieceHasher;
use ccbt_core::{PieceCheck, BLOCK_SIZE};
use sha1::{Digest, Sha1};

use crate::{Storage, StorageError};

/// A complete piece to verify and, if good, write.
pub struct PieceJob {
    /// Piece index (reported back in the outcome).
    pub piece: u32,
    /// Torrent byte offset of the piece's first byte.
    pub offset: u64,
    /// What the piece must hash to: the metainfo's SHA-1 and/or the v2 merkle node.
    pub expected: PieceCheck,
    /// The piece's bytes, contiguous and in order, in one or more slices (the engine hands
    /// over one slice of the whole piece); every slice but the last holds whole 16 KiB blocks.
    pub blocks: Vec<Bytes>,
    /// Also compute the SHA-1 of each block ([`PieceOutcome::block_hashes`]): evidence the
    /// swarm uses to find which sender of a shared piece lied. Done here, where the piece is
    /// hashed anyway, so that no O(piece) work runs under the torrent lock.
    pub block_hashes: bool,
    /// Where a verified piece is written.
    pub storage: Arc<dyn Storage>,
}

impl fmt::Debug for PieceJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PieceJob")
            .field("piece", &self.piece)
            .field("offset", &self.offset)
            .field("blocks", &self.blocks.len())
            .field("block_hashes", &self.block_hashes)
            .finish_non_exhaustive()
    }
}

/// What the hash check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceVerdict {
    /// The hash matched and the piece was written.
    Verified,
    /// The hash did not match; nothing was written.
    HashMismatch,
    /// The job's [`PieceCheck`] named no hash (a v2 piece whose piece layer is not known yet):
    /// nothing was written. Not a mismatch: the data may be good and no sender is to blame, so
    /// the caller must neither count a hash failure nor strike peers; it downloads the piece
    /// again once it can check it.
    Unverifiable,
}

/// Result of one [`PieceJob`], passed to its completion callback.
#[derive(Debug)]
pub struct PieceOutcome {
    /// The job's piece index.
    pub piece: u32,
    /// `Err` when the hash matched but writing failed.
    pub result: Result<PieceVerdict, StorageError>,
    /// The SHA-1 of each block, in order, when the job asked for them.
    pub block_hashes: Option<Vec<[u8; 20]>>,
}

/// Completion callback of a job, called on a pool thread.
pub type Done = Box<dyn FnOnce(PieceOutcome) + Send + 'static>;

/// Returned by [`HashPool::try_submit`] when the queue is full: the job and callback come back
/// untouched so the caller can retry later.
pub struct PoolFull {
    /// The job that was not queued (boxed: a job is large and this is the rare path).
    pub job: Box<PieceJob>,
    /// Its completion callback, not called.
    pub done: Done,
}

impl fmt::Debug for PoolFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolFull").field("job", &self.job).finish_non_exhaustive()
    }
}

impl fmt::Display for PoolFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hash queue is full, piece {} not queued", self.job.piece)
    }
}

impl std::error::Error for PoolFull {}

struct Queue {
    jobs: VecDeque<(PieceJob, Done)>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a job is queued or the pool closes.
    not_empty: Condvar,
    /// Signalled when a worker takes a job.
    not_full: Condvar,
    capacity: usize,
    /// Jobs taken by a worker whose callback has not returned yet.
    running: AtomicUsize,
}

impl Shared {
    // Nothing panics while holding the lock (callbacks run outside it), but never cascade a
    // poisoned lock into more panics.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fixed set of hashing threads (`ccbt-hash-N`) with a bounded job queue. Dropping the pool
/// finishes the queued jobs and joins the threads.
pub struct HashPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl HashPool {
    /// Starts `workers` threads (at least one; config `hash_workers`) sharing a queue of at
    /// most `queue_capacity` waiting jobs (at least one).
    pub fn new(workers: usize, queue_capacity: usize) -> Result<HashPool, StorageError> {
        let capacity = queue_capacity.max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { jobs: VecDeque::with_capacity(capacity), closed: false }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
            running: AtomicUsize::new(0),
        });
        let mut pool = HashPool { shared, workers: Vec::new() };
        for i in 0..workers.max(1) {
            let shared = Arc::clone(&pool.shared);
            let handle = std::thread::Builder::new()
                .name(format!("ccbt-hash-{i}"))
                .spawn(move || worker(&shared))
                .map_err(|e| StorageError::io(format!("ccbt-hash-{i}"), "spawn thread", e))?;
            // If a later spawn fails, dropping `pool` closes the queue and joins these.
            pool.workers.push(handle);
        }
        Ok(pool)
    }

    /// Queues `job` unless the queue is full; never blocks. `done` runs on a pool thread.
    pub fn try_submit(
        &self,
        job: PieceJob,
        done: impl FnOnce(PieceOutcome) + Send + 'static,
    ) -> Result<(), PoolFull> {
        let done: Done = Box::new(done);
        let mut q = self.shared.lock();
        if q.jobs.len() >= self.shared.capacity {
            return Err(PoolFull { job: Box::new(job), done });
        }
        q.jobs.push_back((job, done));
        drop(q);
        self.shared.not_empty.notify_one();
        Ok(())
    }

    /// Queues `job`, waiting while the queue is full. Only for blocking threads.
    pub fn submit(&self, job: PieceJob, done: impl FnOnce(PieceOutcome) + Send + 'static) {
        let mut q = self.shared.lock();
        while q.jobs.len() >= self.shared.capacity {
            q = self.shared.not_full.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.jobs.push_back((job, Box::new(done)));
        drop(q);
        self.shared.not_empty.notify_one();
    }

    /// Jobs waiting for a worker (the `ccbt_hash_queue_depth` metric).
    pub fn queue_depth(&self) -> usize {
        self.shared.lock().jobs.len()
    }

    /// Jobs taken by a worker and not finished yet.
    pub fn in_progress(&self) -> usize {
        self.shared.running.load(Ordering::Acquire)
    }

    /// Most jobs that can wait in the queue.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

impl Drop for HashPool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.not_empty.notify_all();
        self.shared.not_full.notify_all();
        for w in self.workers.drain(..) {
            // A worker only ends by returning; a join error would mean it panicked, which
            // catch_unwind below already prevents.
            let _ = w.join();
        }
    }
}

fn worker(shared: &Shared) {
    loop {
        let (job, done) = {
            let mut q = shared.lock();
            loop {
                if let Some(item) = q.jobs.pop_front() {
                    shared.running.fetch_add(1, Ordering::AcqRel);
                    break item;
                }
                if q.closed {
                    return;
                }
                q = shared.not_empty.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        shared.not_full.notify_one();
        let outcome = run(job);
        // A panicking callback must not take a hashing thread down with it.
        if catch_unwind(AssertUnwindSafe(|| done(outcome))).is_err() {
            tracing::error!("hash pool completion callback panicked");
        }
        shared.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Hashes the blocks in place (no copy), and each block on its own when asked, in the same pass
/// over the data; writes them only if every hash of the piece's check matches.
fn run(job: PieceJob) -> PieceOutcome {
    let checkable = job.expected.is_checkable();
    let mut hasher = checkable.then(|| PieceHasher::new(job.expected));
    let mut block_hashes = job.block_hashes.then(Vec::new);
    for b in &job.blocks {
        if let Some(h) = hasher.as_mut() {
            h.update(b);
        }
        if let Some(hashes) = block_hashes.as_mut() {
            hashes.extend(b.chunks(BLOCK_SIZE as usize).map(|block| <[u8; 20]>::from(Sha1::digest(block))));
        }
    }
    let result = match hasher.map(PieceHasher::matches) {
        None => Ok(PieceVerdict::Unverifiable),
        Some(true) => job.storage.write(job.offset, &job.blocks).map(|()| PieceVerdict::Verified),
        Some(false) => Ok(PieceVerdict::HashMismatch),
    };
    PieceOutcome { piece: job.piece, result, block_hashes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStorage;
    use std::sync::mpsc;
    use std::time::Duration;

    fn sha1(data: &[u8]) -> [u8; 20] {
        Sha1::digest(data).into()
    }

    fn job(storage: &Arc<MemoryStorage>, piece: u32, data: &[u8], expected: [u8; 20]) -> PieceJob {
        let blocks = data.chunks(3).map(Bytes::copy_from_slice).collect();
        let storage: Arc<dyn Storage> = storage.clone();
        let expected = PieceCheck::v1(expected);
        PieceJob { piece, offset: u64::from(piece) * 8, expected, blocks, block_hashes: false, storage }
    }

    #[test]
    fn good_piece_written_bad_piece_not() {
        let mem = Arc::new(MemoryStorage::new(16));
        let pool = HashPool::new(2, 4).unwrap();
        let (tx, rx) = mpsc::channel();
        let good = b"goodgood";
        let bad = b"badbadba";
        let tx2 = tx.clone();
        pool.try_submit(job(&mem, 0, good, sha1(good)), move |o| tx.send(o).unwrap()).unwrap();
        pool.try_submit(job(&mem, 1, bad, sha1(b"other")), move |o| tx2.send(o).unwrap()).unwrap();
        let mut outcomes: Vec<_> = rx.iter().take(2).collect();
        outcomes.sort_by_key(|o| o.piece);
        assert!(matches!(outcomes[0].result, Ok(PieceVerdict::Verified)));
        assert!(matches!(outcomes[1].result, Ok(PieceVerdict::HashMismatch)));
        assert_eq!(mem.write_count(), 1);
        let mut expected = good.to_vec();
        expected.extend_from_slice(&[0; 8]);
        assert_eq!(mem.to_vec(), expected);
    }

    #[test]
    fn block_hashes_only_when_asked_for_good_and_bad_pieces() {
        let mem = Arc::new(MemoryStorage::new(16));
        let pool = HashPool::new(1, 4).unwrap();
        let (tx, rx) = mpsc::channel();
        let good = b"goodgood";
        let bad = b"badbadba";
        let mut asked = job(&mem, 0, good, sha1(good));
        asked.block_hashes = true;
        let mut failed = job(&mem, 1, bad, sha1(b"other"));
        failed.block_hashes = true;
        for j in [asked, failed, job(&mem, 0, good, sha1(good))] {
            let tx = tx.clone();
            pool.submit(j, move |o| tx.send(o).unwrap());
        }
        let outcomes: Vec<_> = rx.iter().take(3).collect();
        let per_block = |data: &[u8]| data.chunks(3).map(sha1).collect::<Vec<_>>();
        assert_eq!(outcomes[0].block_hashes, Some(per_block(good)));
        assert_eq!(outcomes[1].block_hashes, Some(per_block(bad)));
        assert!(matches!(outcomes[1].result, Ok(PieceVerdict::HashMismatch)));
        assert_eq!(outcomes[2].block_hashes, None);
    }

    #[test]
    fn write_error_is_reported() {
        let mem = Arc::new(MemoryStorage::new(4));
        let pool = HashPool::new(1, 1).unwrap();
        let (tx, rx) = mpsc::channel();
        let data = b"longer than storage";
        pool.try_submit(job(&mem, 0, data, sha1(data)), move |o| tx.send(o).unwrap()).unwrap();
        let o = rx.recv().unwrap();
        assert!(matches!(o.result, Err(StorageError::OutOfRange { .. })));
    }

    #[test]
    fn queue_fills_and_returns_job_then_drains_on_drop() {
        let mem = Arc::new(MemoryStorage::new(64));
        let pool = HashPool::new(1, 2).unwrap();
        assert_eq!(pool.capacity(), 2);
        // Block the only worker inside a callback until we let it go.
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel();
        let data = b"piece000";
        pool.try_submit(job(&mem, 0, data, sha1(data)), move |_| {
            started_tx.send(()).unwrap();
            gate_rx.recv().unwrap();
        })
        .unwrap();
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(pool.in_progress(), 1);
        let (tx, rx) = mpsc::channel();
        for piece in 1..=2 {
            let tx = tx.clone();
            pool.try_submit(job(&mem, piece, data, sha1(data)), move |o| tx.send(o.piece).unwrap()).unwrap();
        }
        assert_eq!(pool.queue_depth(), 2);
        let full = pool.try_submit(job(&mem, 3, data, sha1(data)), |_| {}).unwrap_err();
        assert_eq!(full.job.piece, 3);
        assert_eq!(pool.queue_depth(), 2);
        gate_tx.send(()).unwrap();
        drop(pool);
        drop(tx);
        assert_eq!(rx.iter().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(mem.write_count(), 3);
    }

    #[test]
    fn panicking_callback_keeps_worker_alive() {
        let mem = Arc::new(MemoryStorage::new(16));
        let pool = HashPool::new(1, 4).unwrap();
        let data = b"abcdefgh";
        pool.submit(job(&mem, 0, data, sha1(data)), |_| panic!("callback panic"));
        let (tx, rx) = mpsc::channel();
        pool.submit(job(&mem, 1, data, sha1(data)), move |o| tx.send(o.piece).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 1);
    }
}

#[cfg(test)]
#[path = "pool_v2_tests.rs"]
mod v2_tests;
