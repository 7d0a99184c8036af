//! How [`super::FileStorage`] reads. Hashing ([`FileStorage::feed`]) reads in place through a
//! file's read-only memory map once the file is complete (under the `SIGBUS` guard of
//! [`crate::fault`]) and then gives the pages back; copies ([`FileStorage::read`]: uploads,
//! streaming) use `pread`.
//!
//! Why uploads do not read through the map: every page a process touches in a shared file map
//! counts in its RSS until it is unmapped, so a seeder reading from maps showed the whole torrent
//! as its memory (1 GiB seeded: 1044 MiB peak RSS, 1035 of it file pages). `pread` of the runs
//! of blocks an upload batch asks for copies the same bytes once, like the map did, for about
//! 0.1 CPU s more per GiB, and the seeder stays at about 24 MiB (docs/benchmarks.md).

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::Ordering;

use ccbt_core::FileSlice;
use memmap2::Mmap;

use super::{FileStorage, StoredFile};
use crate::fault::{feed_from_map, MapFault};
use crate::io::{map_file, pread_exact};
use crate::{Fed, StorageError};

impl FileStorage {
    /// Whether file `index` is currently read through its map (for tests).
    #[cfg(test)]
    pub(crate) fn is_mapped(&self, index: usize) -> bool {
        self.files.get(index).is_some_and(|f| f.map.get().is_some() && !f.map_failed.load(Ordering::Relaxed))
    }

    /// The file's read-only map, made once the file has its full length and no holes.
    pub(super) fn mapped<'a>(&self, f: &'a StoredFile) -> Option<&'a Mmap> {
        if !self.options.use_mmap || f.map_failed.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(m) = f.map.get() {
            return Some(m);
        }
        let handle = f.reader().ok().flatten()?;
        // A file still growing (no preallocation) or still sparse (preallocated, not all written)
        // is read with pread until it is complete: a map never covers bytes past the end of the
        // file, and never a hole whose page a full filesystem could not back.
        let meta = handle.metadata().ok()?;
        if meta.len() < f.length || meta.blocks().saturating_mul(512) < f.length {
            return None;
        }
        match map_file(handle, f.length) {
            Ok(m) => {
                // Two readers may map at once; the loser's map is simply dropped.
                let _ = f.map.set(m);
                f.map.get()
            }
            Err(e) => {
                tracing::debug!(path = %f.path.display(), error = %e, "mmap failed, using pread");
                f.map_failed.store(true, Ordering::Relaxed);
                None
            }
        }
    }

    /// Fills `dst` with the bytes of `slice`, with `pread`.
    pub(super) fn read_slice(&self, slice: &FileSlice, dst: &mut [u8]) -> Result<(), StorageError> {
        let f = self.file(slice)?;
        if f.padding {
            dst.fill(0);
            return Ok(());
        }
        let handle = self.reader(f)?;
        pread_exact(handle, dst, slice.file_offset).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => StorageError::Missing { path: f.path.clone() },
            _ => StorageError::io(&f.path, "read", e),
        })
    }

    /// Hands the bytes of `slice` to `consume`: in place from the file's map, or read into
    /// `buf` (reused between slices) when the file is not mapped.
    pub(super) fn feed_slice(
        &self,
        slice: &FileSlice,
        consume: &mut dyn FnMut(&[u8]),
        buf: &mut Vec<u8>,
    ) -> Result<Fed, StorageError> {
        let f = self.file(slice)?;
        let len = slice_len(slice)?;
        if !f.padding {
            self.reader(f)?;
            if let Some(src) = self.mapped_range(f, slice.file_offset, len) {
                match feed_from_map(src, consume) {
                    Ok(()) => {
                        self.release_pages(f, slice.file_offset, len);
                        return Ok(Fed::Exact);
                    }
                    Err(MapFault::Elsewhere) => return Ok(Fed::Unreliable),
                    Err(MapFault::Here) => {
                        self.distrust_map(f);
                        return Ok(Fed::Unreliable);
                    }
                    // Nothing was handed over: read it.
                    Err(MapFault::NoHandler) => self.distrust_map(f),
                }
            }
        }
        buf.clear();
        buf.resize(len, 0);
        self.read_slice(slice, buf)?;
        consume(buf);
        Ok(Fed::Exact)
    }

    /// Appends the bytes of `slice` to `buf`, read with `pread` (see the module docs).
    pub(super) fn append_slice(&self, slice: &FileSlice, buf: &mut Vec<u8>) -> Result<(), StorageError> {
        let len = slice_len(slice)?;
        let at = buf.len();
        buf.resize(at + len, 0);
        self.read_slice(slice, &mut buf[at..])
    }

    /// The read handle of a data file; a deferred file no write created yet holds nothing: not
    /// available, like a missing one.
    pub(super) fn reader<'a>(&self, f: &'a StoredFile) -> Result<&'a File, StorageError> {
        f.reader()?.ok_or_else(|| StorageError::Missing { path: f.path.clone() })
    }

    /// `len` bytes at `file_offset` of the file's map, when it is mapped.
    pub(super) fn mapped_range<'a>(
        &self,
        f: &'a StoredFile,
        file_offset: u64,
        len: usize,
    ) -> Option<&'a [u8]> {
        let map = self.mapped(f)?;
        let start = usize::try_from(file_offset).ok()?;
        map.get(start..start.checked_add(len)?)
    }

    /// Takes the pages of a range just hashed out of the process's map: they stay in the page
    /// cache, but a check of a whole torrent no longer counts it all as the process's own memory
    /// (RSS). Nothing reads them through the map after (uploads use `pread`), so nothing faults
    /// them back in.
    pub(super) fn release_pages(&self, f: &StoredFile, file_offset: u64, len: usize) {
        let (Some(map), Ok(start)) = (f.map.get(), usize::try_from(file_offset)) else { return };
        // A read fault maps more than the page it needs: the cached pages of its fault-around
        // window, or the whole large folio holding the page (ext4 caches files in folios of up
        // to 2 MiB), never past the 2 MiB page table it falls in. A range that does not start
        // and end on those bounds therefore leaves its neighbours' pages mapped (pieces of a
        // multi-file torrent start anywhere in a file: 16 files kept 16-42 MiB mapped after a
        // 1 GiB check). Release whole 2 MiB windows; a neighbour being hashed just faults its
        // pages in again.
        let base = map.as_ptr() as usize;
        let first = base.saturating_add(start);
        let window_start = (first - first % FAULT_AROUND).saturating_sub(base);
        let window_end =
            first.saturating_add(len).next_multiple_of(FAULT_AROUND).saturating_sub(base).min(map.len());
        // SAFETY: a shared, read-only file map: MADV_DONTNEED drops only this process's page
        // table entries; the next read of those addresses maps the same file bytes again (no
        // zero-filled pages, unlike a private anonymous map). The range lies inside the map
        // (`mapped_range` gave a part of it, widened within the map's length), and memmap2
        // aligns its start to the page.
        let released = unsafe {
            map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                window_start,
                window_end.saturating_sub(window_start),
            )
        };
        if let Err(e) = released {
            tracing::debug!(path = %f.path.display(), error = %e, "madvise(DONTNEED) failed; pages stay mapped");
        }
    }

    /// A page of the file's map could not be read: the map is never used again.
    pub(super) fn distrust_map(&self, f: &StoredFile) {
        tracing::warn!(path = %f.path.display(), "cannot read the file through its map (truncated by another program?); using pread from now on");
        f.map_failed.store(true, Ordering::Relaxed);
    }
}

/// The span one page table maps on x86-64 and arm64 (4 KiB pages): a read fault on a file map
/// never maps pages outside the aligned window of this size around it.
const FAULT_AROUND: usize = 2 * 1024 * 1024;

/// The length of `slice` as a buffer length.
fn slice_len(slice: &FileSlice) -> Result<usize, StorageError> {
    usize::try_from(slice.len)
        .map_err(|_| StorageError::OutOfRange { offset: slice.range_offset, len: slice.len })
}
