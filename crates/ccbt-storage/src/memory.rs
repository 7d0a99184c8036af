//! [`MemoryStorage`]: a torrent's bytes in one buffer, for tests and simulations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use crate::{Storage, StorageError};

/// Storage in memory. Behaves like [`FileStorage`](crate::FileStorage) on a fully preallocated
/// torrent (no padding, all files present) and counts writes so tests can see what reached it.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    data: RwLock<Vec<u8>>,
    writes: AtomicU64,
}

impl MemoryStorage {
    /// Zero-filled storage of `total_len` bytes.
    pub fn new(total_len: u64) -> Self {
        // Saturating makes an impossible size fail as an allocation error rather than wrap.
        let len = usize::try_from(total_len).unwrap_or(usize::MAX);
        Self::with_data(vec![0; len])
    }

    /// Storage holding `data` (e.g. a complete torrent to seed or check).
    pub fn with_data(data: Vec<u8>) -> Self {
        MemoryStorage { data: RwLock::new(data), writes: AtomicU64::new(0) }
    }

    /// Number of successful `write` calls so far.
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// A copy of the whole content.
    pub fn to_vec(&self) -> Vec<u8> {
        self.read_guard().clone()
    }

    // A poisoned lock only means a test thread panicked mid-call; the bytes are still usable.
    fn read_guard(&self) -> RwLockReadGuard<'_, Vec<u8>> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, Vec<u8>> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// `offset..offset+len` as a checked `usize` range inside a buffer of `total` bytes.
fn range(offset: u64, len: u64, total: usize) -> Result<std::ops::Range<usize>, StorageError> {
    let out = || StorageError::OutOfRange { offset, len };
    let start = usize::try_from(offset).map_err(|_| out())?;
    let len_usize = usize::try_from(len).map_err(|_| out())?;
    let end = start.checked_add(len_usize).ok_or_else(out)?;
    if end > total {
        return Err(out());
    }
    Ok(start..end)
}

impl Storage for MemoryStorage {
    fn write(&self, offset: u64, blocks: &[Bytes]) -> Result<(), StorageError> {
        let len: u64 = blocks.iter().map(|b| b.len() as u64).sum();
        let mut data = self.write_guard();
        let r = range(offset, len, data.len())?;
        let mut pos = r.start;
        for b in blocks {
            let end = pos + b.len();
            // In range: the sum of the block lengths was checked above.
            if let Some(dst) = data.get_mut(pos..end) {
                dst.copy_from_slice(b);
            }
            pos = end;
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read(&self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
        let data = self.read_guard();
        let r = range(offset, len as u64, data.len())?;
        Ok(data.get(r).map(Bytes::copy_from_slice).unwrap_or_default())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
