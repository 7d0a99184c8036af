//! Chunking one file on several threads with exactly the cuts of the sequential chunker.
//!
//! A cut depends only on the bytes since the previous cut: the gear hash starts at zero with
//! each chunk. So a chunker started anywhere, as if a chunk began there, finds cuts that may
//! differ from the true ones at first, but once one of its cuts is a true cut, all its later
//! cuts are true ones. The buffer is split into partitions, each chunked on its own thread from
//! its first byte ([`cuts_from`]); then, in order, the true chain is carried from the end of one
//! partition into the next by the sequential chunker until one of its cuts is also a cut of the
//! partition it reached, from which point that partition's cuts are taken as they are
//! ([`splice_cuts`]). On real data the chains meet within a chunk or two; on data where they
//! never meet (a long run of one byte repeated cuts only at the maximum size, at offsets that
//! depend on where the run started) the splice simply chunks sequentially, so the result is
//! always the sequential one, only the speed-up is lost.
//!
//! Threads: [`chunk_boundaries_parallel`] and [`ParallelFileHasher`] run the partitions on
//! scoped std threads. That is no I/O, clock or entropy: the result does not depend on the
//! scheduling, only the time does, and a thread that cannot be started leaves its partition to
//! the calling thread. The pure steps ([`partition_starts`], [`cuts_from`], [`splice_cuts`])
//! are public for callers that bring their own threads.

use crate::chunker::Chunker;
use crate::hash::{chunk_id, file_hash, ChunkId, ChunkRef, FileHasher};

/// Partitions are at least this long: the splice costs a chunk or two per partition, so
/// shorter ones would spend more on it than they save.
pub const MIN_PARTITION: usize = 4 << 20;

/// Bytes a [`ParallelFileHasher`] gathers per thread before chunking them.
const WINDOW_PER_THREAD: usize = 16 << 20;

/// Where `parts` partitions of a `len`-byte buffer start (the first at 0), equal in size but
/// none shorter than [`MIN_PARTITION`]; a single partition when the buffer is short.
pub fn partition_starts(len: usize, parts: usize) -> Vec<usize> {
    let parts = parts.clamp(1, (len / MIN_PARTITION).max(1));
    let size = len / parts;
    (0..parts).map(|i| i * size).collect()
}

/// The cuts (end offsets in `data`) of a chunker started at `start` as if a chunk began there,
/// over `data[start..end]`: complete chunks only, not the bytes after the last cut.
pub fn cuts_from(data: &[u8], start: usize, end: usize) -> Vec<usize> {
    let mut chunker = Chunker::new();
    let mut cuts = Vec::with_capacity((end - start) / 32_768 + 1);
    let mut at = start;
    while let Some(n) = chunker.next_boundary(&data[at..end]) {
        at += n;
        cuts.push(at);
    }
    cuts
}

/// The cuts of the sequential chunker over `data` (which starts a chunk), complete chunks only,
/// from partitions starting at `starts` (ascending, the first 0) and their [`cuts_from`] to the
/// next start (the last to the end of `data`).
pub fn splice_cuts(data: &[u8], starts: &[usize], partitions: &[Vec<usize>]) -> Vec<usize> {
    splice_with(data, starts, partitions, |&cut| cut, |_, at| at)
}

/// [`splice_cuts`] over items that carry their cut (`cut_of`) and more: the items of a
/// partition after the chains met are taken as they are, and `make(previous cut, cut)` makes
/// the item of a cut the splice found itself.
fn splice_with<T: Clone>(
    data: &[u8],
    starts: &[usize],
    partitions: &[Vec<T>],
    cut_of: impl Fn(&T) -> usize,
    make: impl Fn(usize, usize) -> T,
) -> Vec<T> {
    let mut items: Vec<T> = partitions.first().cloned().unwrap_or_default();
    // The first partition not taken yet.
    let mut next = 1;
    while next < partitions.len() {
        let mut chunker = Chunker::new();
        let mut at = items.last().map_or(0, &cut_of);
        loop {
            let Some(n) = chunker.next_boundary(&data[at..]) else { return items };
            let previous = at;
            at += n;
            // The partition this true cut lies in (it is past that partition's start).
            let part = starts.partition_point(|&s| s < at).saturating_sub(1);
            let found = partitions
                .get(part)
                .filter(|_| part >= next)
                .and_then(|p| p.binary_search_by_key(&at, &cut_of).ok());
            // This cut is true either way; the partition's item for it may not be (its chunk
            // may have started elsewhere), so it is made here.
            items.push(make(previous, at));
            if let Some(index) = found {
                // The chains met: the items after it in that partition are true ones.
                items.extend_from_slice(&partitions[part][index + 1..]);
                next = part + 1;
                break;
            }
        }
    }
    items
}

/// The cuts of the sequential chunker over `data` (which starts a chunk), complete chunks
/// only, found on up to `threads` threads.
pub fn complete_cuts_parallel(data: &[u8], threads: usize) -> Vec<usize> {
    let starts = partition_starts(data.len(), threads);
    let ends: Vec<usize> = starts.iter().skip(1).copied().chain([data.len()]).collect();
    let jobs: Vec<_> = starts.iter().zip(&ends).map(|(&s, &e)| move || cuts_from(data, s, e)).collect();
    let partitions = run_all(jobs);
    splice_cuts(data, &starts, &partitions)
}

/// [`crate::chunk_boundaries`] of `data`, found on up to `threads` threads: the same cuts.
pub fn chunk_boundaries_parallel(data: &[u8], threads: usize) -> Vec<usize> {
    let mut cuts = complete_cuts_parallel(data, threads);
    if cuts.last().copied().unwrap_or(0) < data.len() {
        cuts.push(data.len());
    }
    cuts
}

/// Runs `jobs` on scoped threads (the first on the calling thread) and returns their results
/// in order. A job whose thread cannot be started runs on the calling thread.
fn run_all<T: Send, F: FnOnce() -> T + Send>(jobs: Vec<F>) -> Vec<T> {
    let mut jobs = jobs.into_iter();
    let Some(first) = jobs.next() else { return Vec::new() };
    std::thread::scope(|scope| {
        let mut inline = Vec::new();
        let spawned: Vec<_> = jobs
            .enumerate()
            .filter_map(|(i, job)| {
                // `Builder::spawn_scoped` hands the closure back only through a panic, so a
                // job is wrapped to be taken back out if its thread cannot start.
                let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(job)));
                let theirs = slot.clone();
                let run = move || theirs.lock().ok().and_then(|mut j| j.take()).map(|job| job());
                match std::thread::Builder::new().name("ccbt-xet-cdc".into()).spawn_scoped(scope, run) {
                    Ok(handle) => Some((i, handle)),
                    Err(_) => {
                        inline.push((i, slot));
                        None
                    }
                }
            })
            .collect();
        let mut results: Vec<Option<T>> = Vec::new();
        results.push(Some(first()));
        results.resize_with(spawned.len() + inline.len() + 1, || None);
        for (i, slot) in inline {
            let job = slot.lock().ok().and_then(|mut j| j.take());
            results[i + 1] = job.map(|job| job());
        }
        for (i, handle) in spawned {
            // A panicking job panics here too, as it would have on the calling thread.
            results[i + 1] = handle.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
        results.into_iter().map(|r| r.expect("every job ran once")).collect()
    })
}

/// Chunks and hashes a file fed in buffers of any size, like [`FileHasher`], on up to
/// `threads` threads: it gathers up to 16 MiB per thread, cuts them as in
/// [`complete_cuts_parallel`] and hashes the chunks in parallel, keeping only the bytes after
/// the last cut for the next round. The same chunks and file hash as [`FileHasher`].
#[derive(Debug)]
pub struct ParallelFileHasher {
    threads: usize,
    /// With one thread: the sequential hasher, fed directly.
    single: Option<FileHasher>,
    pending: Vec<u8>,
    chunks: Vec<ChunkRef>,
}

impl ParallelFileHasher {
    /// A hasher at the start of a file, using up to `threads` threads (at least one).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let single = (threads == 1).then(FileHasher::new);
        ParallelFileHasher { threads, single, pending: Vec::new(), chunks: Vec::new() }
    }

    /// Takes the next bytes of the file.
    pub fn update(&mut self, data: &[u8]) {
        if let Some(single) = &mut self.single {
            return single.update(data);
        }
        self.pending.extend_from_slice(data);
        if self.pending.len() >= self.threads * WINDOW_PER_THREAD {
            self.cut_pending();
        }
    }

    /// Cuts and hashes the complete chunks of `pending`, keeping the bytes after the last cut.
    /// Each thread hashes the chunks of its partition right after cutting them, while they are
    /// in cache; only the chunks the splice finds itself are hashed after.
    fn cut_pending(&mut self) {
        let data = &self.pending;
        let starts = partition_starts(data.len(), self.threads);
        let ends: Vec<usize> = starts.iter().skip(1).copied().chain([data.len()]).collect();
        let jobs: Vec<_> =
            starts.iter().zip(&ends).map(|(&s, &e)| move || hashed_cuts_from(data, s, e)).collect();
        let partitions = run_all(jobs);
        let hashed = |from: usize, to: usize| (to, chunk_id(&data[from..to]));
        let cuts = splice_with(data, &starts, &partitions, |&(cut, _)| cut, hashed);
        let mut from = 0;
        for &(cut, id) in &cuts {
            // Cuts are at most 128 KiB apart.
            self.chunks.push(ChunkRef { id, len: (cut - from) as u32 });
            from = cut;
        }
        self.pending.drain(..from);
    }

    /// Ends the file: its chunks, in order, and its Xet hash.
    pub fn finish(mut self) -> (ChunkId, Vec<ChunkRef>) {
        if let Some(single) = self.single.take() {
            return single.finish();
        }
        self.cut_pending();
        if !self.pending.is_empty() {
            let len = u32::try_from(self.pending.len()).expect("the tail is shorter than a chunk");
            self.chunks.push(ChunkRef { id: chunk_id(&self.pending), len });
        }
        (file_hash(&self.chunks), self.chunks)
    }
}

/// [`cuts_from`] with the id of each chunk (from the previous cut, or `start`), hashed as soon
/// as it is cut.
fn hashed_cuts_from(data: &[u8], start: usize, end: usize) -> Vec<(usize, ChunkId)> {
    let mut chunker = Chunker::new();
    let mut cuts = Vec::with_capacity((end - start) / 32_768 + 1);
    let mut at = start;
    while let Some(n) = chunker.next_boundary(&data[at..end]) {
        cuts.push((at + n, chunk_id(&data[at..at + n])));
        at += n;
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk_boundaries;

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// The sequential cuts through partitions at `starts`, without threads.
    fn spliced(data: &[u8], starts: &[usize]) -> Vec<usize> {
        let ends: Vec<usize> = starts.iter().skip(1).copied().chain([data.len()]).collect();
        let parts: Vec<Vec<usize>> = starts.iter().zip(&ends).map(|(&s, &e)| cuts_from(data, s, e)).collect();
        let mut cuts = splice_cuts(data, starts, &parts);
        if cuts.last().copied().unwrap_or(0) < data.len() {
            cuts.push(data.len());
        }
        cuts
    }

    #[test]
    fn partitions_are_long_enough_and_cover_the_buffer() {
        assert_eq!(partition_starts(0, 4), vec![0]);
        assert_eq!(partition_starts(MIN_PARTITION * 2 - 1, 8), vec![0]);
        assert_eq!(partition_starts(MIN_PARTITION * 8, 2), vec![0, MIN_PARTITION * 4]);
        assert_eq!(partition_starts(MIN_PARTITION * 3, 0), vec![0]);
    }

    #[test]
    fn chains_that_never_meet_fall_back_to_sequential_cuts() {
        // One byte repeated: cuts only at the maximum size, from wherever a chain started.
        let mut data = vec![0u8; 1_000_000];
        data.extend(noise(300_000, 3));
        for starts in [vec![0, 50_001], vec![0, 1, 2, 3], vec![0, 131_071, 262_144, 999_999]] {
            assert_eq!(spliced(&data, &starts), chunk_boundaries(&data), "{starts:?}");
        }
    }

    #[test]
    fn threads_give_the_sequential_cuts_and_hashes() {
        let data = noise(3 * MIN_PARTITION + 12_345, 7);
        let want = chunk_boundaries(&data);
        for threads in [1, 2, 3, 8] {
            assert_eq!(chunk_boundaries_parallel(&data, threads), want, "{threads} threads");
        }
        let mut sequential = FileHasher::new();
        sequential.update(&data);
        let want = sequential.finish();
        for (threads, buffer) in [(1, 1 << 20), (2, 1 << 20), (3, 777_777), (2, 40 << 20)] {
            let mut parallel = ParallelFileHasher::new(threads);
            data.chunks(buffer).for_each(|b| parallel.update(b));
            assert_eq!(parallel.finish(), want, "{threads} threads, buffers of {buffer}");
        }
        assert_eq!(ParallelFileHasher::new(2).finish(), FileHasher::new().finish());
    }
}
