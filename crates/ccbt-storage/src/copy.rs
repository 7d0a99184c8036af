//! Copying a byte range of another file into a torrent's file with `copy_file_range(2)`.
//!
//! The kernel copies without the bytes passing through ccbt, and on filesystems with shared
//! extents (btrfs, XFS with reflink, bcachefs; also NFS 4.2 and SMB server-side copy) it shares
//! the source's blocks instead of writing new ones when the ranges are block-aligned. On others
//! (ext4, tmpfs) it is an in-kernel copy. Where the kernel or the filesystem refuses (`EXDEV`
//! across filesystems on old kernels, `EINVAL`, `ENOSYS`, `EOPNOTSUPP`), or the source turns
//! out shorter, the caller writes the bytes it already holds instead.
//!
//! Positioned offsets are passed explicitly, so the files' cursors are never used or moved
//! (`std::io::copy` would also reach `copy_file_range` on Linux, but through the cursors and
//! with a fallback we could not see or count).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Copies up to `len` bytes of `src` at `src_offset` to `dst` at `dst_offset` in the kernel;
/// returns the bytes copied, which is less than `len` when the kernel stopped or refused
/// (the caller writes the rest itself). `EINTR` is retried; any other error ends the copy
/// (it is logged: the fallback write reports the destination's real errors, such as a full
/// disk).
pub(crate) fn kernel_copy(src: &File, src_offset: u64, dst: &File, dst_offset: u64, len: u64) -> u64 {
    let mut copied = 0u64;
    while copied < len {
        let (Ok(mut off_in), Ok(mut off_out)) =
            (libc::loff_t::try_from(src_offset + copied), libc::loff_t::try_from(dst_offset + copied))
        else {
            return copied;
        };
        // At most 1 GiB per call, as Linux caps a single copy near 2 GiB anyway.
        let want = usize::try_from((len - copied).min(1 << 30)).unwrap_or(1 << 30);
        // SAFETY: both descriptors are open for the duration of the call; the offsets are
        // valid, writable loff_t values the kernel updates; no buffer of ours is involved.
        let n = unsafe {
            libc::copy_file_range(src.as_raw_fd(), &mut off_in, dst.as_raw_fd(), &mut off_out, want, 0)
        };
        match u64::try_from(n) {
            // End of the source: it is shorter than it was when the caller read it.
            Ok(0) => return copied,
            Ok(n) => copied += n,
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                if !is_refusal(&e) {
                    tracing::debug!(error = %e, "copy_file_range failed; writing the bytes instead");
                }
                return copied;
            }
        }
    }
    copied
}

/// Whether the kernel copies between two files in folder `dir` (with `copy_file_range`), tried
/// on two small files made there and removed again. False where the kernel or the filesystem
/// refuses, or the folder cannot take the files.
pub fn kernel_copy_works(dir: &std::path::Path) -> bool {
    use std::io::Write as _;
    let name = |side: &str| dir.join(format!(".ccbt-copy-probe-{}-{side}", std::process::id()));
    let (src_path, dst_path) = (name("src"), name("dst"));
    let open = |path: &std::path::Path| File::options().read(true).write(true).create_new(true).open(path);
    let works = match (open(&src_path), open(&dst_path)) {
        (Ok(mut src), Ok(dst)) => src.write_all(b"probe").is_ok() && kernel_copy(&src, 0, &dst, 0, 5) == 5,
        _ => false,
    };
    let _ = std::fs::remove_file(src_path);
    let _ = std::fs::remove_file(dst_path);
    works
}

/// The errors by which the kernel or the filesystem says it cannot copy these two files.
fn is_refusal(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    use super::*;

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(bytes).unwrap();
        let file = File::options().read(true).write(true).open(tmp.path()).unwrap();
        (tmp, file)
    }

    #[test]
    fn copies_a_range_or_reports_how_much_it_did() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (_s, src) = file_with(&data);
        let (_d, dst) = file_with(&[0; 50_000]);
        let n = kernel_copy(&src, 1000, &dst, 4096, 30_000);
        // Whatever the kernel did is exactly the prefix of the range.
        let mut got = vec![0; n as usize];
        dst.read_exact_at(&mut got, 4096).unwrap();
        assert_eq!(got, data[1000..1000 + n as usize]);
    }

    #[test]
    fn a_source_not_open_for_reading_copies_nothing() {
        let (s, _) = file_with(b"abcdef");
        let write_only = File::options().write(true).open(s.path()).unwrap();
        let (_d, dst) = file_with(&[0; 6]);
        assert_eq!(kernel_copy(&write_only, 0, &dst, 0, 6), 0);
    }

    #[test]
    fn a_short_source_stops_the_copy() {
        let (_s, src) = file_with(b"abc");
        let (_d, dst) = file_with(&[0; 10]);
        assert!(kernel_copy(&src, 0, &dst, 0, 10) <= 3);
    }
}
