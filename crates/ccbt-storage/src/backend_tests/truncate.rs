//! A file longer than the torrent says is cut to the torrent's length once it is the torrent's
//! to write (ccbt's own, overwritten with consent, or a foreign file whose data verified), so a
//! new version written in place over a longer old file is byte for byte the torrent's content.
//! Files the torrent may not write keep every byte.

use super::*;

/// The layout's file `name` (offset, length).
fn span(l: &FileLayout, name: &str) -> (usize, usize) {
    let f = l.files().iter().find(|f| f.path.last().map(String::as_str) == Some(name)).unwrap();
    (f.offset as usize, f.length as usize)
}

/// Puts file `name` on disk as the torrent's bytes followed by a stale tail.
fn with_stale_tail(root: &Path, name: &str, data: &[u8]) -> Vec<u8> {
    let l = layout();
    let (offset, length) = span(&l, name);
    let mut bytes = data[offset..offset + length].to_vec();
    bytes.extend(vec![0xEE; 5000]);
    fs::write(root.join(name), &bytes).unwrap();
    bytes
}

fn len(root: &Path, name: &str) -> u64 {
    fs::metadata(root.join(name)).unwrap().len()
}

#[test]
fn an_own_or_overwritten_longer_file_is_cut_at_open() {
    let l = layout();
    let data = content(&l);
    for ownership in [
        Ownership { owned: [0].into(), ..Ownership::default() },
        Ownership { overwrite: true, ..Ownership::default() },
    ] {
        let dir = tempfile::tempdir().unwrap();
        with_stale_tail(dir.path(), "a.bin", &data);
        let s = FileStorage::create(dir.path(), &l, StorageOptions::default(), &ownership).unwrap();
        assert_eq!(len(dir.path(), "a.bin"), 20000, "{ownership:?}");
        assert_eq!(fs::read(dir.path().join("a.bin")).unwrap(), &data[..20000], "the torrent's bytes stay");
        assert_eq!(&s.read(0, 100).unwrap()[..], &data[..100]);
    }
}

#[test]
fn a_foreign_longer_file_is_cut_only_once_its_data_verified() {
    let l = layout();
    let data = content(&l);
    let dir = tempfile::tempdir().unwrap();
    let a = with_stale_tail(dir.path(), "a.bin", &data);
    let tail = with_stale_tail(dir.path(), "tail", &data);
    let s = FileStorage::create(dir.path(), &l, StorageOptions::default(), &Ownership::default()).unwrap();
    assert!(s.has_foreign());
    assert_eq!(fs::read(dir.path().join("a.bin")).unwrap(), a, "not ours yet: untouched");
    assert_eq!(fs::read(dir.path().join("tail")).unwrap(), tail);
    let lengths = Lengths::new(l.total_length(), PIECE).unwrap();
    // Nothing verified and nothing wanted of them: they stay as they are.
    let none = Bitfield::new(lengths.num_pieces());
    let mut only_b = Bitfield::new(lengths.num_pieces());
    only_b.set(1);
    s.claim_verified(&none, Some(&only_b), &lengths).unwrap();
    assert_eq!(len(dir.path(), "a.bin"), a.len() as u64);
    assert_eq!(len(dir.path(), "tail"), tail.len() as u64);
    // Piece 0 (all of a.bin) and piece 3 (the end of `tail`) verified, piece 2 still wanted:
    // a.bin is complete and `tail` is claimed to be continued. Both are the torrent's.
    let mut have = Bitfield::new(lengths.num_pieces());
    have.set(0);
    have.set(3);
    s.claim_verified(&have, None, &lengths).unwrap();
    assert_eq!(fs::read(dir.path().join("a.bin")).unwrap(), &data[..20000]);
    let (offset, length) = span(&l, "tail");
    assert_eq!(fs::read(dir.path().join("tail")).unwrap(), &data[offset..offset + length]);
}

#[test]
fn files_the_torrent_may_not_write_keep_their_tails() {
    let l = layout();
    let data = content(&l);
    let dir = tempfile::tempdir().unwrap();
    // The user's file where the torrent lists an empty one: never written, never cut.
    fs::write(dir.path().join("empty"), b"the user's").unwrap();
    // Ours but skipped: only shared pieces are ever written into it; left as it is.
    let a = with_stale_tail(dir.path(), "a.bin", &data);
    let ownership = Ownership { owned: [0].into(), deferred: [0].into(), ..Ownership::default() };
    drop(FileStorage::create(dir.path(), &l, StorageOptions::default(), &ownership).unwrap());
    assert_eq!(fs::read(dir.path().join("empty")).unwrap(), b"the user's");
    assert_eq!(fs::read(dir.path().join("a.bin")).unwrap(), a);
    // Read-only storage (verify, create) never changes a file.
    let s = FileStorage::open_existing(dir.path(), &l, StorageOptions::default()).unwrap();
    let lengths = Lengths::new(l.total_length(), PIECE).unwrap();
    let mut all = Bitfield::new(lengths.num_pieces());
    for p in 0..lengths.num_pieces() {
        all.set(p);
    }
    s.claim_verified(&all, None, &lengths).unwrap();
    assert_eq!(fs::read(dir.path().join("a.bin")).unwrap(), a);
}

#[test]
fn a_longer_file_behind_a_link_out_of_the_folder_is_refused_untouched() {
    let l = layout();
    let (dir, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fs::write(outside.path().join("a.bin"), vec![1u8; 30000]).unwrap();
    std::os::unix::fs::symlink(outside.path().join("a.bin"), dir.path().join("a.bin")).unwrap();
    let ownership = Ownership { overwrite: true, ..Ownership::default() };
    let err = FileStorage::create(dir.path(), &l, StorageOptions::default(), &ownership).err().unwrap();
    assert!(matches!(err, StorageError::UnsafePath { .. }), "{err}");
    assert_eq!(fs::metadata(outside.path().join("a.bin")).unwrap().len(), 30000);
}
