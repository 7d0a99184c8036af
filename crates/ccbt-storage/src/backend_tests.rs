//! Tests run against both backends, plus file-backend specifics.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use ccbt_core::{Bitfield, FileLayout, Lengths, PieceCheck};
use proptest::prelude::*;
use sha1::{Digest, Sha1};

use crate::*;

mod copy;
mod deferred;
mod truncate;

const PIECE: u32 = 32768;

/// Files: a, an empty file, a padding file, a nested file, and a tail making the last piece short.
fn layout() -> FileLayout {
    FileLayout::new(vec![
        (vec!["a.bin".into()], 20000, false),
        (vec!["empty".into()], 0, false),
        (vec![".pad".into(), "12768".into()], 12768, true),
        (vec!["dir".into(), "sub".into(), "b.bin".into()], 40000, false),
        (vec!["dir".into(), "c.bin".into()], 5, false),
        (vec!["tail".into()], 30000, false),
    ])
}

/// Torrent content with zeros in the padding range (as every real piece has).
fn content(layout: &FileLayout) -> Vec<u8> {
    let mut d: Vec<u8> = (0..layout.total_length()).map(|i| (i * 7 % 253) as u8 + 1).collect();
    for f in layout.files().iter().filter(|f| f.is_padding) {
        d[f.offset as usize..(f.offset + f.length) as usize].fill(0);
    }
    d
}

fn blocks(data: &[u8]) -> Vec<Bytes> {
    data.chunks(16384).map(Bytes::copy_from_slice).collect()
}

/// The behaviour both backends must share.
fn exercise(storage: &dyn Storage, layout: &FileLayout) {
    let data = content(layout);
    let lengths = Lengths::new(layout.total_length(), PIECE).unwrap();
    assert_eq!(lengths.num_pieces(), 4);
    // Write pieces out of order; each spans files.
    for piece in [3u32, 0, 2, 1] {
        let p = lengths.validate_piece(piece).unwrap();
        let start = lengths.piece_offset(p) as usize;
        let end = start + lengths.piece_len(p) as usize;
        storage.write(start as u64, &blocks(&data[start..end])).unwrap();
    }
    storage.flush().unwrap();
    for piece in 0..lengths.num_pieces() {
        let p = lengths.validate_piece(piece).unwrap();
        let start = lengths.piece_offset(p) as usize;
        let len = lengths.piece_len(p) as usize;
        assert_eq!(&storage.read(start as u64, len).unwrap()[..], &data[start..start + len], "piece {piece}");
    }
    assert_eq!(lengths.piece_len(lengths.validate_piece(3).unwrap()), 4469);
    // Odd ranges: across the empty and padding files, inside one file, the very end.
    for (off, len) in [(19990usize, 20), (19999, 12770), (32700, 40100), (100, 50), (102768, 5), (102772, 1)]
    {
        assert_eq!(&storage.read(off as u64, len).unwrap()[..], &data[off..off + len], "{off}+{len}");
    }
    assert!(storage.read(0, 0).unwrap().is_empty());
    // Hashing's way in hands over the same bytes, in order, whatever the range.
    for (off, len) in [(0usize, data.len()), (19990, 20), (19999, 12770), (32700, 40100), (102772, 1), (5, 0)]
    {
        let mut fed = Vec::new();
        assert_eq!(storage.feed(off as u64, len, &mut |b| fed.extend_from_slice(b)).unwrap(), Fed::Exact);
        assert_eq!(fed, &data[off..off + len], "fed {off}+{len}");
    }
    let total = layout.total_length();
    assert!(matches!(storage.feed(total, 1, &mut |_| {}), Err(StorageError::OutOfRange { .. })));
    assert!(matches!(storage.read(total, 1), Err(StorageError::OutOfRange { .. })));
    assert!(matches!(storage.read(u64::MAX, 2), Err(StorageError::OutOfRange { .. })));
    let err = storage.write(total - 1, &[Bytes::from_static(b"xy")]).unwrap_err();
    assert!(matches!(err, StorageError::OutOfRange { offset, len: 2 } if offset == total - 1));
    // The failed write changed nothing.
    assert_eq!(&storage.read(total - 1, 1).unwrap()[..], &data[data.len() - 1..]);
    // Hashing reads through the same path.
    let hashes = hash_pieces(storage, &lengths, 2, &|_| {}).unwrap();
    let expected: Vec<[u8; 20]> = data.chunks(PIECE as usize).map(|c| Sha1::digest(c).into()).collect();
    assert_eq!(hashes, expected);
}

#[test]
fn memory_backend() {
    let l = layout();
    exercise(&MemoryStorage::new(l.total_length()), &l);
}

#[test]
fn file_backend_with_and_without_mmap() {
    for (use_mmap, direct_io) in [(true, false), (false, false), (true, true), (false, true)] {
        for preallocate in [Preallocate::None, Preallocate::Sparse, Preallocate::Full] {
            let dir = tempfile::tempdir().unwrap();
            let l = layout();
            let options = StorageOptions { preallocate, use_mmap, write_batch_kib: 8, direct_io };
            let s = FileStorage::create(dir.path(), &l, options, &Ownership::default()).unwrap();
            exercise(&s, &l);
            assert_eq!(fs::read(dir.path().join("dir/c.bin")).unwrap().len(), 5);
            assert_eq!(fs::metadata(dir.path().join("empty")).unwrap().len(), 0);
            assert!(!dir.path().join(".pad").exists(), "padding files are never created");
        }
    }
}

#[test]
fn mapped_hashing_sees_later_writes_and_sparse_files_are_not_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout();
    let s = FileStorage::create(dir.path(), &l, StorageOptions::default(), &Ownership::default()).unwrap();
    let data = content(&l);
    let fed = |at: u64, len: usize| {
        let mut got = Vec::new();
        assert_eq!(s.feed(at, len, &mut |b| got.extend_from_slice(b)).unwrap(), Fed::Exact);
        got
    };
    // Half of a.bin written: the file has its length (sparse preallocation) but holes.
    s.write(0, &blocks(&data[..8192])).unwrap();
    assert_eq!(fed(100, 1000), &data[100..1100]);
    assert!(!s.is_mapped(0), "a file with holes is read with pread");
    s.write(0, &blocks(&data)).unwrap();
    assert_eq!(fed(100, 1000), &data[100..1100]);
    assert!(s.is_mapped(0), "a complete file is hashed through its map");
    // Writes after mapping are visible through the map, and to reads.
    s.write(100, &[Bytes::from_static(b"new")]).unwrap();
    assert_eq!(fed(100, 3), b"new");
    assert_eq!(&s.read(100, 3).unwrap()[..], b"new");
}

/// Issue 6 hole 12: another program truncates a file we seed. Reading through the map used to
/// kill the whole process with SIGBUS; now that read fails with a typed error naming the file.
#[test]
fn read_of_a_file_truncated_under_a_seeding_storage_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout();
    let s = FileStorage::create(dir.path(), &l, StorageOptions::default(), &Ownership::default()).unwrap();
    let data = content(&l);
    s.write(0, &blocks(&data)).unwrap();
    assert_eq!(&s.read(8192, 8192).unwrap()[..], &data[8192..16384]);
    assert_eq!(s.feed(0, 16384, &mut |_| {}).unwrap(), Fed::Exact);
    assert!(s.is_mapped(0), "hashed through its map");
    fs::OpenOptions::new().write(true).open(dir.path().join("a.bin")).unwrap().set_len(10).unwrap();
    let err = s.read(8192, 8192).unwrap_err();
    assert!(matches!(&err, StorageError::Missing { path } if path.ends_with("a.bin")), "{err}");
    assert_eq!(&s.read(0, 10).unwrap()[..], &data[..10], "what is left still reads");
    let tail = l.files()[5].offset as usize;
    assert_eq!(&s.read(tail as u64, 100).unwrap()[..], &data[tail..tail + 100], "other files are fine");
}

/// Hashing in place from a map survives the same truncation: the bytes handed over are flagged
/// as not the file's, the map is dropped, and a check hashes the piece again with `pread`.
#[test]
fn hashing_a_file_truncated_under_its_map_reads_again_with_pread() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout();
    let s = FileStorage::create(dir.path(), &l, StorageOptions::default(), &Ownership::default()).unwrap();
    let data = content(&l);
    s.write(0, &blocks(&data)).unwrap();
    let mut fed = Vec::new();
    assert_eq!(s.feed(0, 16384, &mut |b| fed.extend_from_slice(b)).unwrap(), Fed::Exact);
    assert_eq!(fed, &data[..16384]);
    assert!(s.is_mapped(0), "a complete file is hashed through its map");
    fs::OpenOptions::new().write(true).open(dir.path().join("a.bin")).unwrap().set_len(10).unwrap();
    let mut sum = 0u64;
    let fed = s.feed(8192, 8192, &mut |b| sum += b.iter().map(|&x| u64::from(x)).sum::<u64>()).unwrap();
    assert_eq!(fed, Fed::Unreliable);
    assert_eq!(sum, 0, "the hasher saw zero pages in place of the lost ones: hence the flag");
    assert!(!s.is_mapped(0), "the faulted map is not used again");
    // A check over the same storage: piece 0 (in a.bin) fails, by pread, the others verify.
    let lengths = Lengths::new(l.total_length(), PIECE).unwrap();
    let hashes: Vec<PieceCheck> =
        data.chunks(PIECE as usize).map(|c| PieceCheck::v1(Sha1::digest(c).into())).collect();
    let have = check_pieces(&s, &lengths, &|i| hashes.get(i as usize).copied(), 2, &|_| {}).unwrap();
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![1, 2, 3]);
}

/// Resident bytes of this process's mappings of `path`, from /proc/self/smaps.
fn mapped_rss(path: &Path) -> u64 {
    let smaps = fs::read_to_string("/proc/self/smaps").unwrap();
    let name = path.to_str().unwrap();
    let mut inside = false;
    let mut kib = 0;
    for line in smaps.lines() {
        if line.contains('-') && line.split_whitespace().count() >= 5 && !line.ends_with(" kB") {
            inside = line.ends_with(name);
        } else if let (true, Some(v)) = (inside, line.strip_prefix("Rss:")) {
            kib += v.trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap();
        }
    }
    kib * 1024
}

/// Hashes all of file 0 of `s` through [`Storage::feed`]; the bytes' sum.
fn feed_sum(s: &FileStorage, len: usize) -> u64 {
    let mut sum = 0u64;
    assert_eq!(
        s.feed(0, len, &mut |b| sum += b.iter().map(|&x| u64::from(x)).sum::<u64>()).unwrap(),
        Fed::Exact
    );
    sum
}

/// A check hashes straight from the map and then gives the pages back, and uploads read with
/// `pread`: neither checking nor seeding a whole torrent leaves it counted as the process's
/// memory, in a torrent's own storage or a read-only one (`ccbt verify`, `ccbt create`).
#[test]
fn neither_hashing_nor_reading_leaves_file_pages_resident() {
    let dir = tempfile::tempdir().unwrap();
    let len = 8 << 20;
    let l = FileLayout::new(vec![(vec!["big.bin".into()], len, false)]);
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let expected: u64 = data.iter().map(|&x| u64::from(x)).sum();
    let own = FileStorage::create(dir.path(), &l, StorageOptions::default(), &Ownership::default()).unwrap();
    own.write(0, &blocks(&data)).unwrap();
    let path = dir.path().join("big.bin").canonicalize().unwrap();
    assert_eq!(feed_sum(&own, len as usize), expected);
    assert!(own.is_mapped(0));
    let resident = mapped_rss(&path);
    assert!(resident < 1 << 20, "{resident} bytes of the hashed file still mapped in");
    for at in (0..len).step_by(1 << 20) {
        assert_eq!(&own.read(at, 1 << 20).unwrap()[..], &data[at as usize..(at + (1 << 20)) as usize]);
    }
    let resident = mapped_rss(&path);
    assert!(resident < 1 << 20, "{resident} bytes of the uploaded file mapped in");
    drop(own);

    let check = FileStorage::open_existing(dir.path(), &l, StorageOptions::default()).unwrap();
    assert_eq!(feed_sum(&check, len as usize), expected);
    assert!(check.is_mapped(0));
    let resident = mapped_rss(&path);
    assert!(resident < 1 << 20, "{resident} bytes of the hashed file still mapped in");
}

#[test]
fn preallocation_gives_right_lengths_and_never_truncates() {
    let l = layout();
    for (mode, expect_full) in
        [(Preallocate::None, false), (Preallocate::Sparse, true), (Preallocate::Full, true)]
    {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("tail"), vec![9u8; 40000]).unwrap();
        let options = StorageOptions { preallocate: mode, ..StorageOptions::default() };
        let _s = FileStorage::create(dir.path(), &l, options, &Ownership::default()).unwrap();
        let len = |p: &str| fs::metadata(dir.path().join(p)).unwrap().len();
        let want = |n: u64| if expect_full { n } else { 0 };
        assert_eq!(len("a.bin"), want(20000), "{mode}");
        assert_eq!(len("dir/sub/b.bin"), want(40000), "{mode}");
        assert_eq!(len("empty"), 0);
        assert_eq!(len("tail"), 40000, "a longer foreign file keeps its bytes (see truncate.rs)");
    }
}

/// Issue 6 hole 3: a torrent file that lands on the user's own file (`.bashrc` in `.`).
#[test]
fn a_foreign_file_is_never_written_until_its_data_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout();
    let data = content(&l);
    let user = b"export PATH=~/bin:$PATH\n".to_vec();
    fs::write(dir.path().join("a.bin"), &user).unwrap();
    fs::write(dir.path().join("empty"), b"x").unwrap();
    let s = FileStorage::create(dir.path(), &l, StorageOptions::default(), &Ownership::default()).unwrap();
    assert!(s.has_foreign() && s.had_data());
    assert_eq!(s.owned_files(), vec![3, 4, 5], "created now: not a.bin; zero-length files need no record");
    assert_eq!(s.created_files(), vec![3, 4, 5], "a.bin and empty existed before");
    let err = s.write(0, &blocks(&data[..16384])).unwrap_err();
    assert!(matches!(&err, StorageError::NotOurs { path } if path.ends_with("a.bin")), "{err}");
    // Other files take writes; a.bin is byte for byte the user's, not even lengthened.
    s.write(20000, &blocks(&data[20000..])).unwrap();
    let lengths = Lengths::new(l.total_length(), PIECE).unwrap();
    let none = Bitfield::new(lengths.num_pieces());
    let err = s.claim_verified(&none, None, &lengths).unwrap_err();
    assert!(matches!(&err, StorageError::NotOurs { path } if path.ends_with("a.bin")), "{err}");
    // Only file 3 selected (pieces 1 and 2): nothing will be written into a.bin, so no error.
    let mut wanted = Bitfield::new(lengths.num_pieces());
    wanted.set(1);
    wanted.set(2);
    s.claim_verified(&none, Some(&wanted), &lengths).unwrap();
    s.write(0, &blocks(&data[..16384])).unwrap_err();
    assert_eq!(fs::read(dir.path().join("a.bin")).unwrap(), user);
    assert_eq!(
        fs::read(dir.path().join("empty")).unwrap(),
        b"x",
        "a zero-length torrent file is never written"
    );
}

#[test]
fn own_overwritten_and_verified_files_are_written() {
    let l = layout();
    let data = content(&l);
    let lengths = Lengths::new(l.total_length(), PIECE).unwrap();
    let owned = Ownership { owned: [0].into(), ..Ownership::default() };
    let overwrite = Ownership { overwrite: true, ..Ownership::default() };
    for ownership in [owned, overwrite] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.bin"), b"partial").unwrap();
        let s = FileStorage::create(dir.path(), &l, StorageOptions::default(), &ownership).unwrap();
        assert!(!s.has_foreign() && s.had_data());
        assert_eq!(s.owned_files(), vec![0, 3, 4, 5]);
        assert_eq!(s.created_files(), vec![1, 3, 4, 5], "a.bin existed: ccbt may write it, not delete it");
        s.write(0, &blocks(&data)).unwrap();
        assert_eq!(fs::read(dir.path().join("a.bin")).unwrap(), &data[..20000]);
    }
    // Another client's partial download of dir/sub/b.bin (bytes 32768..72768, pieces 1 and 2):
    // piece 1 is there, piece 2 is not.
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("dir/sub/b.bin");
    fs::create_dir_all(b.parent().unwrap()).unwrap();
    fs::write(&b, &data[32768..65536]).unwrap();
    let s = FileStorage::create(dir.path(), &l, StorageOptions::default(), &Ownership::default()).unwrap();
    assert!(s.has_foreign());
    s.write(32768, &blocks(&data[32768..])).unwrap_err();
    let hashes: Vec<PieceCheck> =
        data.chunks(PIECE as usize).map(|c| PieceCheck::v1(Sha1::digest(c).into())).collect();
    let have = check_pieces(&s, &lengths, &|i| hashes.get(i as usize).copied(), 1, &|_| {}).unwrap();
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![1]);
    s.claim_verified(&have, None, &lengths).unwrap();
    assert_eq!(fs::metadata(&b).unwrap().len(), 40000, "preallocated once claimed");
    s.write(0, &blocks(&data)).unwrap();
    assert_eq!(fs::read(&b).unwrap(), &data[32768..72768]);
}

#[test]
fn growing_file_reads_with_pread_then_missing_past_end() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout();
    let options = StorageOptions { preallocate: Preallocate::None, ..StorageOptions::default() };
    let s = FileStorage::create(dir.path(), &l, options, &Ownership::default()).unwrap();
    s.write(0, &[Bytes::from_static(b"abc")]).unwrap();
    assert_eq!(&s.read(0, 3).unwrap()[..], b"abc");
    assert!(matches!(s.read(0, 4), Err(StorageError::Missing { path }) if path.ends_with("a.bin")));
}

#[test]
fn unsafe_paths_are_rejected() {
    for bad in [vec!["..", "x"], vec!["a", ".", "b"], vec!["a/b"], vec![""], vec!["x\0y"]] {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("root");
        let l = FileLayout::new(vec![(bad.iter().map(|s| s.to_string()).collect(), 10, false)]);
        let err =
            FileStorage::create(&root, &l, StorageOptions::default(), &Ownership::default()).err().unwrap();
        assert!(matches!(err, StorageError::UnsafePath { .. }), "{bad:?}: {err}");
        let err = FileStorage::open_existing(&root, &l, StorageOptions::default()).err().unwrap();
        assert!(matches!(err, StorageError::UnsafePath { .. }));
        let names: Vec<_> = fs::read_dir(parent.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec!["root"], "nothing created beside the root");
    }
}

fn write_all(root: &Path, l: &FileLayout, data: &[u8]) {
    let s = FileStorage::create(root, l, StorageOptions::default(), &Ownership::default()).unwrap();
    s.write(0, &blocks(data)).unwrap();
    s.flush().unwrap();
}

#[test]
fn check_finds_corrupted_and_missing_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout();
    let data = content(&l);
    let lengths = Lengths::new(l.total_length(), PIECE).unwrap();
    let hashes: Vec<PieceCheck> =
        data.chunks(PIECE as usize).map(|c| PieceCheck::v1(Sha1::digest(c).into())).collect();
    write_all(dir.path(), &l, &data);
    let open = || FileStorage::open_existing(dir.path(), &l, StorageOptions::default()).unwrap();
    let s = open();
    assert_eq!(
        check_pieces(&s, &lengths, &|i| hashes.get(i as usize).copied(), 3, &|_| {}).unwrap().count_ones(),
        4
    );
    assert!(matches!(s.write(0, &[Bytes::from_static(b"x")]), Err(StorageError::ReadOnly { .. })));
    drop(s);
    // Corrupt one byte of piece 1 (inside b.bin), truncate the tail (piece 3), remove c.bin
    // (inside piece 2).
    let b = dir.path().join("dir/sub/b.bin");
    let mut bytes = fs::read(&b).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&b, bytes).unwrap();
    fs::remove_file(dir.path().join("dir/c.bin")).unwrap();
    let tail = fs::OpenOptions::new().write(true).open(dir.path().join("tail")).unwrap();
    tail.set_len(29000).unwrap();
    let have = check_pieces(&open(), &lengths, &|i| hashes.get(i as usize).copied(), 2, &|_| {}).unwrap();
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![0]);
    // A missing file is reported by name when hashing for creation.
    let err = hash_pieces(&open(), &lengths, 2, &|_| {}).unwrap_err();
    assert!(
        matches!(err, StorageError::Missing { path } if path.ends_with("c.bin") || path.ends_with("tail"))
    );
    // A missing root means nothing is there.
    let gone = FileStorage::open_existing(&dir.path().join("nope"), &l, StorageOptions::default()).unwrap();
    assert!(check_pieces(&gone, &lengths, &|i| hashes.get(i as usize).copied(), 2, &|_| {}).unwrap().none());
}

#[test]
fn pool_writes_verified_piece_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout();
    let data = content(&l);
    let storage: Arc<dyn Storage> = Arc::new(
        FileStorage::create(dir.path(), &l, StorageOptions::default(), &Ownership::default()).unwrap(),
    );
    let pool = HashPool::new(2, 8).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let piece = &data[32768..65536];
    let job = PieceJob {
        piece: 1,
        offset: 32768,
        expected: PieceCheck::v1(Sha1::digest(piece).into()),
        blocks: blocks(piece),
        block_hashes: false,
        storage: Arc::clone(&storage),
    };
    pool.try_submit(job, move |o| tx.send(o).unwrap()).unwrap();
    let outcome = rx.recv().unwrap();
    assert_eq!(outcome.piece, 1);
    assert!(matches!(outcome.result, Ok(PieceVerdict::Verified)));
    assert_eq!(&storage.read(32768, 32768).unwrap()[..], piece);
}

fn arb_layout() -> impl Strategy<Value = Vec<(u64, bool)>> {
    prop::collection::vec((0u64..3000, prop::bool::weighted(0.15)), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_writes_read_back(
        files in arb_layout(),
        writes in prop::collection::vec((any::<u64>(), prop::collection::vec(any::<u8>(), 1..700), 1usize..5), 1..20),
        use_mmap in any::<bool>(),
        direct_io in any::<bool>(),
    ) {
        let l = FileLayout::new(files.iter().enumerate().map(|(i, (len, pad))| {
            (vec![format!("d{}", i % 2), format!("f{i}")], *len, *pad)
        }));
        let total = l.total_length();
        prop_assume!(total > 0);
        let dir = tempfile::tempdir().unwrap();
        let options = StorageOptions { preallocate: Preallocate::None, use_mmap, write_batch_kib: 1, direct_io };
        let s = FileStorage::create(dir.path(), &l, options, &Ownership::default()).unwrap();
        // Files written so far are zero-filled up to their full length by writing zeros first,
        // so every read below is within written data.
        s.write(0, &[Bytes::from(vec![0u8; total as usize])]).unwrap();
        let mut model = vec![0u8; total as usize];
        for (off, bytes, split) in writes {
            let off = off % total;
            let len = bytes.len().min((total - off) as usize);
            let bytes = &bytes[..len];
            let chunks: Vec<Bytes> = bytes.chunks(len.div_ceil(split)).map(Bytes::copy_from_slice).collect();
            s.write(off, &chunks).unwrap();
            model[off as usize..off as usize + len].copy_from_slice(bytes);
        }
        for f in l.files().iter().filter(|f| f.is_padding) {
            model[f.offset as usize..(f.offset + f.length) as usize].fill(0);
        }
        prop_assert_eq!(&s.read(0, total as usize).unwrap()[..], &model[..]);
        for f in l.files() {
            let got = s.read(f.offset, f.length as usize).unwrap();
            prop_assert_eq!(&got[..], &model[f.offset as usize..(f.offset + f.length) as usize]);
        }
    }
}
