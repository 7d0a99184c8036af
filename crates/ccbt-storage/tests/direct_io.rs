//! Issue 15: `direct_io` writes the aligned middle of verified pieces with `O_DIRECT`, the
//! unaligned rest through the page cache. These tests download (through the hash pool, as the
//! engine does) layouts whose files start and end inside pieces and whose last piece is short,
//! and prove that every piece verifies, that a recheck (fresh storage, fresh maps) passes, that
//! a restart continues without losing a byte, and that readers holding a memory map of the file
//! see bytes a direct write replaced.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;

use bytes::Bytes;
use ccbt_core::{Bitfield, FileLayout, Lengths, PieceCheck};
use ccbt_storage::{
    check_pieces, FileStorage, HashPool, Ownership, PieceJob, PieceVerdict, Preallocate, Storage,
    StorageOptions,
};
use sha1::{Digest, Sha1};

const PIECE: u32 = 64 * 1024;

fn content(len: u64, seed: u64) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + seed * 7 + i / 4099) % 251) as u8).collect()
}

fn checks(data: &[u8]) -> Vec<PieceCheck> {
    data.chunks(PIECE as usize).map(|c| PieceCheck::v1(Sha1::digest(c).into())).collect()
}

/// One big file whose last piece is short (not a multiple of 4096 either).
fn single() -> FileLayout {
    FileLayout::new(vec![(vec!["one.bin".into()], 10 * u64::from(PIECE) + 12_345, false)])
}

/// Files of odd sizes that start and end inside pieces and inside 4 KiB blocks, an empty file,
/// a file smaller than a block, and a nested one.
fn multi() -> FileLayout {
    FileLayout::new(vec![
        (vec!["a.bin".into()], 100_003, false),
        (vec!["empty".into()], 0, false),
        (vec!["tiny".into()], 17, false),
        (vec!["dir".into(), "b.bin".into()], 3 * u64::from(PIECE) + 4096, false),
        (vec!["c.bin".into()], 200_001, false),
    ])
}

fn options(direct_io: bool, preallocate: Preallocate) -> StorageOptions {
    StorageOptions { direct_io, preallocate, ..StorageOptions::default() }
}

/// Downloads `pieces` of `data` into `storage` through a hash pool of two workers, in a
/// scrambled order, in 16 KiB blocks as they arrive from peers.
fn download(storage: &Arc<FileStorage>, data: &[u8], pieces: &[u32]) {
    let lengths = Lengths::new(data.len() as u64, PIECE).unwrap();
    let hashes = checks(data);
    let pool = HashPool::new(2, 8).unwrap();
    let (tx, rx) = mpsc::channel();
    for &piece in pieces {
        let p = lengths.validate_piece(piece).unwrap();
        let start = lengths.piece_offset(p) as usize;
        let end = start + lengths.piece_len(p) as usize;
        let blocks = data[start..end].chunks(16 * 1024).map(Bytes::copy_from_slice).collect();
        let storage: Arc<dyn Storage> = storage.clone();
        let job = PieceJob {
            piece,
            offset: start as u64,
            expected: hashes[piece as usize],
            blocks,
            block_hashes: false,
            storage,
        };
        let tx = tx.clone();
        pool.submit(job, move |o| tx.send(o).unwrap());
    }
    drop(tx);
    let outcomes: Vec<_> = rx.iter().collect();
    assert_eq!(outcomes.len(), pieces.len());
    for o in outcomes {
        assert!(matches!(o.result, Ok(PieceVerdict::Verified)), "piece {}: {:?}", o.piece, o.result);
    }
}

fn scrambled(count: u32) -> Vec<u32> {
    let mut order: Vec<u32> = (0..count).collect();
    order.sort_by_key(|&p| (p * 7919) % count);
    order
}

fn recheck(root: &Path, layout: &FileLayout, data: &[u8], direct_io: bool) -> Bitfield {
    let lengths = Lengths::new(data.len() as u64, PIECE).unwrap();
    let hashes = checks(data);
    let storage = FileStorage::open_existing(root, layout, options(direct_io, Preallocate::Sparse)).unwrap();
    check_pieces(&storage, &lengths, &|i| hashes.get(i as usize).copied(), 2, &|_| {}).unwrap()
}

fn files_hold(root: &Path, layout: &FileLayout, data: &[u8]) {
    for f in layout.files() {
        let path = root.join(f.path.iter().collect::<std::path::PathBuf>());
        let got = std::fs::read(&path).unwrap();
        let want = &data[f.offset as usize..(f.offset + f.length) as usize];
        assert!(got == want, "{} differs from the torrent's bytes", path.display());
    }
}

#[test]
fn direct_downloads_verify_and_recheck_for_single_and_multi_file_layouts() {
    for (name, layout) in [("single", single()), ("multi", multi())] {
        for preallocate in [Preallocate::None, Preallocate::Sparse, Preallocate::Full] {
            let dir = tempfile::tempdir().unwrap();
            let data = content(layout.total_length(), 1);
            let lengths = Lengths::new(data.len() as u64, PIECE).unwrap();
            let storage = Arc::new(
                FileStorage::create(dir.path(), &layout, options(true, preallocate), &Ownership::default())
                    .unwrap(),
            );
            download(&storage, &data, &scrambled(lengths.num_pieces()));
            // Reads while the storage is still open (pread or map, after direct writes).
            let all = storage.read(0, data.len()).unwrap();
            assert!(all[..] == data[..], "{name}/{preallocate}: read back differs");
            storage.flush().unwrap();
            drop(storage);
            let have = recheck(dir.path(), &layout, &data, true);
            assert_eq!(have.count_ones(), lengths.num_pieces(), "{name}/{preallocate}: recheck");
            files_hold(dir.path(), &layout, &data);
        }
    }
}

#[test]
fn a_restart_continues_a_direct_download_without_losing_bytes() {
    let layout = multi();
    let data = content(layout.total_length(), 2);
    let lengths = Lengths::new(data.len() as u64, PIECE).unwrap();
    let order = scrambled(lengths.num_pieces());
    let (first, second) = order.split_at(order.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(
        FileStorage::create(dir.path(), &layout, options(true, Preallocate::Sparse), &Ownership::default())
            .unwrap(),
    );
    download(&storage, &data, first);
    let ours = storage.owned_files();
    drop(storage);

    // The half written before the restart is there, and nothing else verifies.
    let have = recheck(dir.path(), &layout, &data, true);
    let expected: BTreeSet<u32> = first.iter().copied().collect();
    let got: BTreeSet<u32> = (0..lengths.num_pieces()).filter(|&p| have.get(p)).collect();
    assert_eq!(got, expected);

    let ownership = Ownership { owned: ours.into_iter().collect(), ..Ownership::default() };
    let again = Arc::new(
        FileStorage::create(dir.path(), &layout, options(true, Preallocate::Sparse), &ownership).unwrap(),
    );
    download(&again, &data, second);
    drop(again);
    assert_eq!(recheck(dir.path(), &layout, &data, false).count_ones(), lengths.num_pieces());
    files_hold(dir.path(), &layout, &data);
}

#[test]
fn mapped_readers_see_what_a_direct_write_replaced() {
    let layout = single();
    let old = content(layout.total_length(), 3);
    let new = content(layout.total_length(), 4);
    assert_ne!(old, new);
    let dir = tempfile::tempdir().unwrap();
    // Written buffered first: the page cache holds the old bytes, the file is complete and mapped.
    let buffered =
        FileStorage::create(dir.path(), &layout, options(false, Preallocate::Sparse), &Ownership::default())
            .unwrap();
    buffered.write(0, &[Bytes::from(old.clone())]).unwrap();
    let ours: BTreeSet<usize> = buffered.owned_files().into_iter().collect();
    drop(buffered);
    let ownership = Ownership { owned: ours, ..Ownership::default() };
    let storage =
        FileStorage::create(dir.path(), &layout, options(true, Preallocate::Sparse), &ownership).unwrap();
    assert!(storage.read(0, old.len()).unwrap()[..] == old[..], "old bytes through the map");
    let reader = FileStorage::open_existing(dir.path(), &layout, StorageOptions::default()).unwrap();
    assert!(reader.read(0, old.len()).unwrap()[..] == old[..], "old bytes through a second map");

    // Replace pieces 1 and 2 (aligned) and the short last piece with direct writes.
    let piece = PIECE as usize;
    for (start, end) in [(piece, 3 * piece), (10 * piece, new.len())] {
        storage.write(start as u64, &[Bytes::copy_from_slice(&new[start..end])]).unwrap();
    }
    let mut want = old.clone();
    want[piece..3 * piece].copy_from_slice(&new[piece..3 * piece]);
    want[10 * piece..].copy_from_slice(&new[10 * piece..]);
    assert!(storage.read(0, want.len()).unwrap()[..] == want[..], "the writer's own map is stale");
    assert!(reader.read(0, want.len()).unwrap()[..] == want[..], "another storage's map is stale");
    assert!(std::fs::read(dir.path().join("one.bin")).unwrap() == want, "pread is stale");
}
