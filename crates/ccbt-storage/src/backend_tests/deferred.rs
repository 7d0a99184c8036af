//! Skipped ("deferred") files: not created at open, created by the first write that touches
//! them (a piece shared with a wanted file), reported to the creation hook, and never read
//! before they exist.

use std::sync::Mutex;

use super::*;

/// Skips `empty`, `dir/sub/b.bin` and `dir/c.bin` (indices 1, 3, 4). b.bin covers pieces 1 and
/// 2; piece 2 also holds c.bin and the start of `tail`.
fn skipping() -> Ownership {
    Ownership { deferred: [1, 3, 4].into(), ..Ownership::default() }
}

/// Opens the storage with a hook collecting the indices of files created by writes.
fn open(root: &Path, ownership: &Ownership) -> (FileStorage, Arc<Mutex<Vec<usize>>>) {
    let created = Arc::new(Mutex::new(Vec::new()));
    let mut s = FileStorage::create(root, &layout(), StorageOptions::default(), ownership).unwrap();
    let seen = created.clone();
    s.on_create(Box::new(move |i| seen.lock().unwrap().push(i)));
    (s, created)
}

fn piece_range(piece: usize) -> std::ops::Range<usize> {
    let total = layout().total_length() as usize;
    piece * PIECE as usize..((piece + 1) * PIECE as usize).min(total)
}

#[test]
fn skipped_files_are_not_created_until_a_shared_piece_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let data = content(&layout());
    let (s, created) = open(root, &skipping());
    assert!(!root.join("empty").exists());
    assert!(!root.join("dir").exists(), "not even the folder of skipped files");
    assert!(root.join("a.bin").exists() && root.join("tail").exists());
    assert!(!s.had_data() && !s.has_foreign());
    assert_eq!(s.owned_files(), vec![0, 5]);
    assert!(!s.is_created(3));

    // Reading a skipped file that does not exist is "not available", and creates nothing.
    let err = s.read(piece_range(1).start as u64, 100).unwrap_err();
    assert!(matches!(&err, StorageError::Missing { path } if path.ends_with("dir/sub/b.bin")), "{err:?}");
    assert!(!root.join("dir").exists());

    // Piece 0 touches only a.bin (and padding).
    s.write(0, &blocks(&data[piece_range(0)])).unwrap();
    assert!(!root.join("dir").exists());
    assert!(created.lock().unwrap().is_empty());

    // Piece 2 is shared with `tail`: its bytes of b.bin and c.bin are written, nothing else.
    let shared = piece_range(2);
    s.write(shared.start as u64, &blocks(&data[shared.clone()])).unwrap();
    assert_eq!(*created.lock().unwrap(), vec![3, 4], "each created file is reported once");
    let b = fs::read(root.join("dir/sub/b.bin")).unwrap();
    assert_eq!(b.len(), 40000, "b.bin ends where piece 2's bytes of it end");
    assert!(b[..32768].iter().all(|&x| x == 0), "piece 1's range of b.bin is a hole, never written");
    assert_eq!(&b[32768..], &data[65536..72768]);
    assert_eq!(fs::read(root.join("dir/c.bin")).unwrap(), &data[72768..72773]);
    assert!(!root.join("empty").exists(), "a skipped empty file is never written, never created");
    // Selected again: created now (an empty file gets no write that would create it).
    s.create_files(&[0, 1, 2]).unwrap();
    assert_eq!(fs::metadata(root.join("empty")).unwrap().len(), 0);
    assert_eq!(*created.lock().unwrap(), vec![3, 4, 1]);
    created.lock().unwrap().pop();
    assert!(s.is_created(3) && s.is_created(4));
    assert_eq!(s.owned_files(), vec![0, 3, 4, 5]);
    // The shared piece reads back whole; a second write does not report the file again.
    assert_eq!(&s.read(shared.start as u64, shared.len()).unwrap()[..], &data[shared.clone()]);
    s.write(shared.start as u64, &blocks(&data[shared])).unwrap();
    assert_eq!(created.lock().unwrap().len(), 2);
    s.flush().unwrap();
}

#[test]
fn checking_with_skipped_files_counts_their_pieces_as_missing() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout();
    let data = content(&l);
    let lengths = Lengths::new(l.total_length(), PIECE).unwrap();
    let hashes: Vec<PieceCheck> =
        data.chunks(PIECE as usize).map(|c| PieceCheck::v1(Sha1::digest(c).into())).collect();
    let (s, _) = open(dir.path(), &skipping());
    s.write(0, &blocks(&data[piece_range(0)])).unwrap();
    s.write(piece_range(3).start as u64, &blocks(&data[piece_range(3)])).unwrap();
    let have = check_pieces(&s, &lengths, &|i| hashes.get(i as usize).copied(), 2, &|_| {}).unwrap();
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![0, 3]);
    assert!(!dir.path().join("dir").exists(), "checking creates nothing");
}

#[test]
fn an_existing_skipped_file_keeps_the_ownership_rules() {
    let l = layout();
    let data = content(&l);
    let lengths = Lengths::new(l.total_length(), PIECE).unwrap();
    let hashes: Vec<PieceCheck> =
        data.chunks(PIECE as usize).map(|c| PieceCheck::v1(Sha1::digest(c).into())).collect();
    // The user's own file at a skipped path: opened read-only, never preallocated, and a shared
    // piece cannot be written into it until its data verifies.
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("dir/sub/b.bin");
    fs::create_dir_all(b.parent().unwrap()).unwrap();
    fs::write(&b, b"the user's notes").unwrap();
    let (s, created) = open(dir.path(), &skipping());
    assert!(s.has_foreign() && s.is_created(3));
    let shared = piece_range(2);
    let err = s.write(shared.start as u64, &blocks(&data[shared.clone()])).unwrap_err();
    assert!(matches!(&err, StorageError::NotOurs { path } if path.ends_with("dir/sub/b.bin")), "{err:?}");
    assert_eq!(fs::read(&b).unwrap(), b"the user's notes");
    // Nothing to download touches it when its pieces are not wanted: the claim passes, the
    // file stays untouched.
    let have = check_pieces(&s, &lengths, &|i| hashes.get(i as usize).copied(), 1, &|_| {}).unwrap();
    let mut wanted = Bitfield::new(4);
    wanted.set(0);
    s.claim_verified(&have, Some(&wanted), &lengths).unwrap();
    assert_eq!(fs::read(&b).unwrap(), b"the user's notes");
    assert!(created.lock().unwrap().is_empty());

    // A skipped file ccbt created in an earlier run (recorded as owned) is written as usual.
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("dir/sub/b.bin");
    fs::create_dir_all(b.parent().unwrap()).unwrap();
    fs::write(&b, [0u8; 10]).unwrap();
    let ownership = Ownership { owned: [3].into(), ..skipping() };
    let (s, created) = open(dir.path(), &ownership);
    assert!(!s.has_foreign());
    s.write(shared.start as u64, &blocks(&data[shared])).unwrap();
    assert_eq!(&fs::read(&b).unwrap()[32768..], &data[65536..72768]);
    assert_eq!(*created.lock().unwrap(), vec![4], "only c.bin was created now");
}

#[test]
fn a_file_appearing_at_a_skipped_path_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = content(&layout());
    let (s, created) = open(dir.path(), &skipping());
    // Another program creates c.bin with data after the storage was opened.
    fs::create_dir_all(dir.path().join("dir")).unwrap();
    fs::write(dir.path().join("dir/c.bin"), b"mine!").unwrap();
    let shared = piece_range(2);
    let err = s.write(shared.start as u64, &blocks(&data[shared])).unwrap_err();
    assert!(matches!(&err, StorageError::NotOurs { path } if path.ends_with("dir/c.bin")), "{err:?}");
    assert_eq!(fs::read(dir.path().join("dir/c.bin")).unwrap(), b"mine!");
    assert_eq!(*created.lock().unwrap(), vec![3], "b.bin, before c.bin in the piece, was created");
}
