//! Issue 7 item 1: on a full filesystem, checking a sparse file through a memory map died with
//! `Bus error` (a read fault on a tmpfs hole must allocate a page, and there is none left).
//! This test runs on a real 10 MiB tmpfs; it needs root (CI runs as root) and skips otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use ccbt_core::{FileLayout, Lengths, PieceCheck};
use ccbt_storage::{
    check_pieces, FileStorage, Ownership, Preallocate, Storage, StorageError, StorageOptions,
};
use sha1::{Digest, Sha1};

const MIB: usize = 1024 * 1024;
const PIECE: u32 = 256 * 1024;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root, cannot mount a tmpfs".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !status.success() {
            return Err(format!("mount -t tmpfs failed ({status})"));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 % 251) as u8 + 1).collect()
}

#[test]
fn checking_a_sparse_file_on_a_full_tmpfs_fails_cleanly_instead_of_sigbus() {
    let fs = match Tmpfs::mount("10m") {
        Ok(fs) => fs,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    let len = 16 * MIB;
    let data = content(len);
    let layout = FileLayout::new(vec![(vec!["big.bin".into()], len as u64, false)]);
    let lengths = Lengths::new(len as u64, PIECE).unwrap();
    let hashes: Vec<PieceCheck> =
        data.chunks(PIECE as usize).map(|c| PieceCheck::v1(Sha1::digest(c).into())).collect();
    let root: PathBuf = fs.path().join("out");
    let options = StorageOptions { preallocate: Preallocate::Sparse, ..StorageOptions::default() };

    // First run: write pieces until the disk is full, as a download does.
    let storage = FileStorage::create(&root, &layout, options.clone(), &Ownership::default()).unwrap();
    let mut written = 0;
    let full = loop {
        let piece = &data[written..written + PIECE as usize];
        match storage.write(written as u64, &[Bytes::copy_from_slice(piece)]) {
            Ok(()) => written += PIECE as usize,
            Err(e) => break e,
        }
        assert!(written < len, "a 16 MiB file cannot fit on a 10 MiB tmpfs");
    };
    assert!(matches!(&full, StorageError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC)));
    drop(storage);

    // Second run (`download` again, or `verify`): checking reads the holes of the sparse file.
    let again = FileStorage::create(&root, &layout, options.clone(), &Ownership::default()).unwrap();
    let have = check_pieces(&again, &lengths, &|i| hashes.get(i as usize).copied(), 2, &|_| {}).unwrap();
    let complete = u32::try_from(written / PIECE as usize).unwrap();
    assert_eq!(have.count_ones(), complete, "the pieces written before the disk filled verify");
    let verify = FileStorage::open_existing(&root, &layout, options).unwrap();
    let have = check_pieces(&verify, &lengths, &|i| hashes.get(i as usize).copied(), 2, &|_| {}).unwrap();
    assert_eq!(have.count_ones(), complete);
}
