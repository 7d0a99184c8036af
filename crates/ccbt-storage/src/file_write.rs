//! How [`super::FileStorage`] writes one file slice: under the file's write lock, buffered
//! (`pwritev`) or, with `direct_io`, the aligned middle with `O_DIRECT` (see [`crate::direct`]).

use std::fs::File;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;

use super::StoredFile;
use crate::direct::{open_direct, split_aligned, write_direct};
use crate::io::pwritev_all;

impl StoredFile {
    /// Writes `bufs` (one stream of `len` bytes) at `offset` of this file through `handle`, its
    /// write descriptor. Writers of one file take turns; with `direct_io` the aligned middle of
    /// the range bypasses the page cache and the unaligned head and tail go through `handle`.
    pub(super) fn write_at(
        &self,
        handle: &File,
        offset: u64,
        bufs: &[&[u8]],
        len: u64,
        batch: usize,
        direct_io: bool,
    ) -> io::Result<()> {
        let _queue = self.write_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let direct = if direct_io { self.direct_handle(handle) } else { None };
        let (head, middle) = split_aligned(offset, len);
        let Some(direct) = direct.filter(|_| middle > 0) else {
            return pwritev_all(handle, offset, bufs, batch);
        };
        pwritev_all(handle, offset, &sub_slices(bufs, 0, head), batch)?;
        let mid = sub_slices(bufs, head, middle);
        match write_direct(direct, offset + head, &mid, middle, batch) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::info!(path = %self.path.display(), "direct write refused (alignment); writing this file through the page cache");
                self.direct_failed.store(true, Ordering::Relaxed);
                pwritev_all(handle, offset + head, &mid, batch)?;
            }
            Err(e) => return Err(e),
        }
        let tail_at = head + middle;
        pwritev_all(handle, offset + tail_at, &sub_slices(bufs, tail_at, len - tail_at), batch)
    }

    /// The `O_DIRECT` descriptor, opened from `handle` on first use; `None` when the filesystem
    /// refuses direct I/O or a direct write failed before.
    fn direct_handle(&self, handle: &File) -> Option<&File> {
        if self.direct_failed.load(Ordering::Relaxed) {
            return None;
        }
        let opened = self.direct.get_or_init(|| match open_direct(handle) {
            Ok(Some(direct)) => Some(direct),
            Ok(None) => {
                tracing::debug!(path = %self.path.display(), "filesystem refuses O_DIRECT; writing through the page cache");
                None
            }
            Err(e) => {
                tracing::debug!(path = %self.path.display(), error = %e, "cannot open for direct I/O; writing through the page cache");
                None
            }
        });
        opened.as_ref()
    }
}

/// The parts of `blocks` (one contiguous byte stream) from `start` for `len` bytes.
pub(super) fn sub_slices<B: AsRef<[u8]>>(blocks: &[B], start: u64, len: u64) -> Vec<&[u8]> {
    let end = start.saturating_add(len);
    let mut out = Vec::new();
    let mut pos = 0u64;
    for b in blocks {
        let b = b.as_ref();
        let b_start = pos;
        let b_end = pos.saturating_add(b.len() as u64);
        pos = b_end;
        if b_end <= start || b.is_empty() {
            continue;
        }
        if b_start >= end {
            break;
        }
        // Both bounds lie within the block, whose length fits in usize.
        let from = usize::try_from(start.saturating_sub(b_start)).unwrap_or(0);
        let to = usize::try_from(end.min(b_end) - b_start).unwrap_or(b.len());
        if let Some(part) = b.get(from..to) {
            out.push(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn sub_slices_cut_across_blocks() {
        let blocks = vec![Bytes::from_static(b"abc"), Bytes::new(), Bytes::from_static(b"defg")];
        let join = |s: Vec<&[u8]>| s.concat();
        assert_eq!(join(sub_slices(&blocks, 0, 7)), b"abcdefg");
        assert_eq!(join(sub_slices(&blocks, 2, 3)), b"cde");
        assert_eq!(join(sub_slices(&blocks, 3, 4)), b"defg");
        assert_eq!(join(sub_slices(&blocks, 6, 1)), b"g");
        assert!(sub_slices(&blocks, 7, 1).is_empty());
    }
}
