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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_core::merkle::PieceHasher;
use ccbt_core::{sha1_pair, sha1_pair_supported, PieceCheck, BLOCK_SIZE};
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
    /// A worker holds a plain SHA-1 piece and waits for a second one to hash with it.
    partner_wanted: bool,
}

/// How long a worker holding a plain SHA-1 piece waits for a second one to hash in the same
/// pass ([`sha1_pair`]: two pieces cost about what one costs alone). A download at a few
/// hundred MB/s completes a 1 MiB piece every few milliseconds, so pairs form; a slow one
/// delays each piece's verdict by at most this much, which no peer notices.
const PARTNER_WAIT: Duration = Duration::from_millis(5);

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a job is queued or the pool closes.
    not_empty: Condvar,
    /// Signalled when a worker takes a job.
    not_full: Condvar,
    /// Signalled instead of `not_empty` when a job is queued while a worker waits for a
    /// partner, so that the job goes to that worker rather than to an idle one.
    partner: Condvar,
    capacity: usize,
    /// Jobs taken by a worker whose callback has not returned yet.
    running: AtomicUsize,
    /// Pieces hashed two at a time ([`HashPool::paired_pieces`]).
    paired: AtomicU64,
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
            queue: Mutex::new(Queue {
                jobs: VecDeque::with_capacity(capacity),
                closed: false,
                partner_wanted: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            partner: Condvar::new(),
            capacity,
            running: AtomicUsize::new(0),
            paired: AtomicU64::new(0),
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
        self.shared.announce(q);
        Ok(())
    }

    /// Queues `job`, waiting while the queue is full. Only for blocking threads.
    pub fn submit(&self, job: PieceJob, done: impl FnOnce(PieceOutcome) + Send + 'static) {
        let mut q = self.shared.lock();
        while q.jobs.len() >= self.shared.capacity {
            q = self.shared.not_full.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.jobs.push_back((job, Box::new(done)));
        self.shared.announce(q);
    }

    /// Jobs waiting for a worker (the `ccbt_hash_queue_depth` metric).
    pub fn queue_depth(&self) -> usize {
        self.shared.lock().jobs.len()
    }

    /// Jobs taken by a worker and not finished yet.
    pub fn in_progress(&self) -> usize {
        self.shared.running.load(Ordering::Acquire)
    }

    /// Pieces hashed two at a time so far ([`sha1_pair`]); the rest were hashed alone.
    pub fn paired_pieces(&self) -> u64 {
        self.shared.paired.load(Ordering::Relaxed)
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
        self.shared.partner.notify_all();
        for w in self.workers.drain(..) {
            // A worker only ends by returning; a join error would mean it panicked, which
            // catch_unwind below already prevents.
            let _ = w.join();
        }
    }
}

fn worker(shared: &Shared) {
    let pairs = sha1_pair_supported();
    loop {
        let first = {
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
        let second = if pairs && pairable(&first.0) { shared.partner_for() } else { None };
        match second {
            None => finish(shared, first.1, run(first.0)),
            Some(second) => {
                let (a, b) = run_pair(shared, first.0, second.0);
                finish(shared, first.1, a);
                finish(shared, second.1, b);
            }
        }
    }
}

impl Shared {
    /// Wakes the worker that should take a job just queued (`q` holds the queue's lock).
    fn announce(&self, q: MutexGuard<'_, Queue>) {
        let partner_wanted = q.partner_wanted;
        drop(q);
        if partner_wanted {
            self.partner.notify_one();
        } else {
            self.not_empty.notify_one();
        }
    }

    /// A second plain SHA-1 piece to hash alongside the one a worker holds: the next queued
    /// job if it is one, else one queued within [`PARTNER_WAIT`] (one worker waits at a time).
    fn partner_for(&self) -> Option<(PieceJob, Done)> {
        let mut q = self.lock();
        if q.jobs.is_empty() && !q.closed && !q.partner_wanted {
            q.partner_wanted = true;
            let deadline = Instant::now() + PARTNER_WAIT;
            while q.jobs.is_empty() && !q.closed {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                q = match self.partner.wait_timeout(q, left) {
                    Ok((q, _)) => q,
                    Err(poisoned) => poisoned.into_inner().0,
                };
            }
            q.partner_wanted = false;
        }
        let taken =
            if q.jobs.front().is_some_and(|(job, _)| pairable(job)) { q.jobs.pop_front() } else { None };
        if taken.is_some() {
            self.running.fetch_add(1, Ordering::AcqRel);
        }
        let more = !q.jobs.is_empty();
        drop(q);
        if taken.is_some() {
            self.not_full.notify_one();
        }
        // Jobs queued while this worker waited were announced to it alone: hand on the rest.
        if more {
            self.not_empty.notify_one();
        }
        taken
    }
}

/// Runs a job's callback (a panicking one must not take a hashing thread down with it).
fn finish(shared: &Shared, done: Done, outcome: PieceOutcome) {
    if catch_unwind(AssertUnwindSafe(|| done(outcome))).is_err() {
        tracing::error!("hash pool completion callback panicked");
    }
    shared.running.fetch_sub(1, Ordering::AcqRel);
}

/// Whether a job is a plain SHA-1 check that [`sha1_pair`] can do alongside another: v1 only
/// (a v2 or hybrid piece needs SHA-256 too), and no per-block hashes asked for.
fn pairable(job: &PieceJob) -> bool {
    job.expected.sha1.is_some() && job.expected.v2.is_none() && !job.block_hashes
}

/// Two plain SHA-1 jobs hashed in one pass, then each written if it matched; pieces of
/// different lengths (a torrent's last piece) are hashed one at a time.
fn run_pair(shared: &Shared, a: PieceJob, b: PieceJob) -> (PieceOutcome, PieceOutcome) {
    match sha1_pair(&a.blocks, &b.blocks) {
        Some((digest_a, digest_b)) => {
            shared.paired.fetch_add(2, Ordering::Relaxed);
            (write_if(a, digest_a), write_if(b, digest_b))
        }
        None => (run(a), run(b)),
    }
}

fn write_if(job: PieceJob, digest: [u8; 20]) -> PieceOutcome {
    let result = if job.expected.sha1 == Some(digest) {
        job.storage.write(job.offset, &job.blocks).map(|()| PieceVerdict::Verified)
    } else {
        Ok(PieceVerdict::HashMismatch)
    };
    PieceOutcome { piece: job.piece, result, block_hashes: None }
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

#[cfg(test)]
#[path = "pool_pair_tests.rs"]
mod pair_tests;
