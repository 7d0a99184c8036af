//! `Storage::copy_from_file`: the kernel copy where the filesystem allows, the verified bytes
//! written otherwise, byte-identical either way.

use std::fs::File;
use std::io::Write;

use super::*;

/// A source file holding `data`, open for reading.
fn source(dir: &Path, data: &[u8]) -> File {
    let path = dir.join("source.bin");
    fs::File::create(&path).unwrap().write_all(data).unwrap();
    File::open(path).unwrap()
}

fn storage(dir: &Path) -> (FileStorage, FileLayout) {
    let l = layout();
    let s =
        FileStorage::create(&dir.join("t"), &l, StorageOptions::default(), &Ownership::default()).unwrap();
    (s, l)
}

#[test]
fn copies_a_range_across_files_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (s, l) = storage(dir.path());
    let data = content(&l);
    // Stored with a 100-byte prefix, as a chunk lies inside another torrent's file.
    let mut stored = vec![9u8; 100];
    stored.extend_from_slice(&data);
    let src = source(dir.path(), &stored);
    // a.bin's tail, the empty file, the padding and the start of b.bin in one range.
    let (offset, len) = (15_000u64, 20_000usize);
    let verified = Bytes::copy_from_slice(&data[offset as usize..offset as usize + len]);
    let by_kernel = s.copy_from_file(offset, &src, 100 + offset, &verified).unwrap();
    assert_eq!(&s.read(offset, len).unwrap()[..], &verified[..]);
    // The padding's 12,768 bytes are never stored, so never copied.
    assert!(by_kernel <= (len - 12_768) as u64);
    if crate::kernel_copy_works(dir.path()) {
        assert_eq!(by_kernel, (len - 12_768) as u64, "copy_file_range works here but was not used");
    } else {
        eprintln!("copy_file_range refused in {}: only the fallback ran", dir.path().display());
    }
}

#[test]
fn a_refused_copy_writes_the_verified_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (s, l) = storage(dir.path());
    let data = content(&l);
    let path = dir.path().join("source.bin");
    fs::write(&path, &data).unwrap();
    // Open for writing only: the kernel cannot read it (EBADF), so everything is written.
    let write_only = File::options().write(true).open(&path).unwrap();
    let verified = Bytes::copy_from_slice(&data[..20_000]);
    assert_eq!(s.copy_from_file(0, &write_only, 0, &verified).unwrap(), 0);
    assert_eq!(&s.read(0, 20_000).unwrap()[..], &verified[..]);
}

#[test]
fn a_source_shorter_than_the_range_is_completed_from_the_verified_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (s, l) = storage(dir.path());
    let data = content(&l);
    let src = source(dir.path(), &data[..5000]);
    let verified = Bytes::copy_from_slice(&data[..20_000]);
    let by_kernel = s.copy_from_file(0, &src, 0, &verified).unwrap();
    assert!(by_kernel <= 5000);
    assert_eq!(&s.read(0, 20_000).unwrap()[..], &verified[..]);
}

#[test]
fn the_default_writes_the_verified_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout();
    let data = content(&l);
    let mem = MemoryStorage::new(l.total_length());
    let src = source(dir.path(), b"not what is written");
    let verified = Bytes::copy_from_slice(&data[100..200]);
    assert_eq!(mem.copy_from_file(100, &src, 0, &verified).unwrap(), 0);
    assert_eq!(&mem.read(100, 100).unwrap()[..], &verified[..]);
}

#[test]
fn out_of_range_and_read_only_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (s, l) = storage(dir.path());
    let src = source(dir.path(), &[1; 64]);
    let end = l.total_length();
    let bytes = Bytes::from_static(&[1; 64]);
    assert!(matches!(s.copy_from_file(end - 10, &src, 0, &bytes), Err(StorageError::OutOfRange { .. })));
    drop(s);
    let ro = FileStorage::open_existing(&dir.path().join("t"), &l, StorageOptions::default()).unwrap();
    assert!(matches!(ro.copy_from_file(0, &src, 0, &bytes), Err(StorageError::ReadOnly { .. })));
}
