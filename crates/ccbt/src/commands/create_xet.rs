//! The chunking of `ccbt create --xet`: every file cut into Xet chunks (content-defined, so
//! the cuts depend on the bytes before them) and hashed. One file is one job; the files are
//! shared among the hashing threads, and when there are fewer files than threads each file is
//! chunked on several (`ParallelFileHasher`: the same cuts as one thread would find). A second read of the data after the piece
//! hashing, which reads pieces in parallel in no particular order: the data is usually still
//! in the page cache by then.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use ccbt_storage::{Storage, StorageError};
use ccbt_xet::{ChunkRef, ParallelFileHasher};

/// Bytes read at a time.
const READ_SIZE: u64 = 1 << 20;

/// The chunks of each file of the unpadded byte stream `storage` holds (files of `lengths`,
/// in order), with `workers` threads; `progress` gets the bytes chunked so far.
pub fn chunk_files(
    storage: &dyn Storage,
    lengths: &[u64],
    workers: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<Vec<ChunkRef>>, StorageError> {
    let starts: Vec<u64> = lengths
        .iter()
        .scan(0u64, |offset, len| {
            let start = *offset;
            *offset += len;
            Some(start)
        })
        .collect();
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Vec<ChunkRef>>>> = Mutex::new(vec![None; lengths.len()]);
    let first_error: Mutex<Option<StorageError>> = Mutex::new(None);
    // Threads for one file, so that all of them work when there are few files.
    let per_file = (workers / lengths.len().max(1)).max(1);
    let workers = workers.clamp(1, lengths.len().max(1));
    let worker = || {
        while !stop.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(&length) = lengths.get(index) else { return };
            match chunk_one(storage, starts[index], length, per_file, &|n| {
                progress(done.fetch_add(n, Ordering::Relaxed) + n);
            }) {
                Ok(chunks) => lock(&results)[index] = Some(chunks),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    lock(&first_error).get_or_insert(e);
                    return;
                }
            }
        }
    };
    std::thread::scope(|s| {
        // The calling thread works too, so one worker spawns nothing.
        for i in 1..workers {
            let spawned = std::thread::Builder::new().name(format!("ccbt-xet-{i}")).spawn_scoped(s, worker);
            if let Err(e) = spawned {
                // Fewer threads only means slower chunking.
                tracing::warn!(error = %e, "could not start a chunking thread");
            }
        }
        worker();
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    // Without an error every file was chunked (a dead worker panics out of `thread::scope`).
    Ok(results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().flatten().collect())
}

/// The chunks of the `length` bytes at `start`, read in order, cut on `threads` threads.
fn chunk_one(
    storage: &dyn Storage,
    start: u64,
    length: u64,
    threads: usize,
    progress: &dyn Fn(u64),
) -> Result<Vec<ChunkRef>, StorageError> {
    let mut hasher = ParallelFileHasher::new(threads);
    let mut at = 0u64;
    while at < length {
        let n = (length - at).min(READ_SIZE);
        // At most READ_SIZE, so it fits in usize.
        let bytes = storage.read(start + at, n as usize)?;
        hasher.update(&bytes);
        at += n;
        progress(n);
    }
    Ok(hasher.finish().1)
}

/// A poisoned lock only means another worker panicked, which `thread::scope` re-raises anyway.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use ccbt_storage::MemoryStorage;
    use ccbt_xet::FileHasher;

    use super::*;

    #[test]
    fn chunks_each_file_as_the_hasher_does() {
        let files: Vec<Vec<u8>> = vec![
            (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(),
            vec![],
            b"tiny".to_vec(),
        ];
        let lengths: Vec<u64> = files.iter().map(|f| f.len() as u64).collect();
        let total: u64 = lengths.iter().sum();
        let storage = MemoryStorage::with_data(files.concat());
        let seen = AtomicU64::new(0);
        let chunks =
            chunk_files(&storage, &lengths, 2, &|n| _ = seen.fetch_max(n, Ordering::Relaxed)).unwrap();
        for (file, got) in files.iter().zip(&chunks) {
            let mut h = FileHasher::new();
            h.update(file);
            assert_eq!(*got, h.finish().1);
        }
        assert!(chunks[0].len() > 10 && chunks[1].is_empty() && chunks[2].len() == 1);
        assert_eq!(seen.load(Ordering::Relaxed), total);
    }

    #[test]
    fn one_large_file_on_several_threads_is_cut_as_on_one() {
        let file: Vec<u8> =
            (0..20_000_000u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as u8).collect();
        let storage = MemoryStorage::with_data(file.clone());
        let mut h = FileHasher::new();
        h.update(&file);
        let want = h.finish().1;
        for workers in [1, 3] {
            let chunks = chunk_files(&storage, &[file.len() as u64], workers, &|_| {}).unwrap();
            assert_eq!(chunks, vec![want.clone()], "{workers} workers");
        }
    }
}
