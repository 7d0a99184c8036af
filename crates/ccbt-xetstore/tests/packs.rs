//! Packs of retired chunks: what a replaced file alone held stays available.

use std::os::unix::fs::FileExt;
use std::path::Path;

use ccbt_xet::{ChunkRef, FileHasher};
use ccbt_xetstore::{Holder, StoreOptions, XetStore};
use rand::{RngCore, SeedableRng};

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

fn chunks_of(data: &[u8]) -> Vec<ChunkRef> {
    let mut hasher = FileHasher::new();
    hasher.update(data);
    hasher.finish().1
}

fn open(dir: &Path) -> XetStore {
    XetStore::open(&dir.join("xet"), StoreOptions::default()).unwrap()
}

/// v1 and v2 of a file: v2 is v1 with 100 KB in the middle replaced.
fn versions() -> (Vec<u8>, Vec<u8>) {
    let v1 = random(2 << 20, 7);
    let mut v2 = v1.clone();
    v2[1 << 20..(1 << 20) + 100_000].copy_from_slice(&random(100_000, 8));
    (v1, v2)
}

#[test]
fn a_retired_file_s_own_chunks_stay_available_from_a_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let (v1, v2) = versions();
    let (a, b) = (tmp.path().join("v1.bin"), tmp.path().join("v2.bin"));
    std::fs::write(&a, &v1).unwrap();
    std::fs::write(&b, &v2).unwrap();
    store.index_path(&a).unwrap();
    store.index_path(&b).unwrap();
    let (m1, m2) = (chunks_of(&v1), chunks_of(&v2));
    let own: Vec<&ChunkRef> = m1.iter().filter(|c| !m2.iter().any(|d| d.id == c.id)).collect();
    assert!(!own.is_empty() && own.len() < m1.len() / 2);

    let report = store.retire_file(&a).unwrap();
    assert!(report.was_indexed);
    assert_eq!(report.chunks, own.len());
    assert_eq!(report.bytes, own.iter().map(|c| u64::from(c.len)).sum::<u64>());
    std::fs::remove_file(&a).unwrap();

    let stats = store.stats().unwrap();
    assert_eq!((stats.files, stats.packs), (1, 1));
    assert_eq!(stats.pack_bytes, report.bytes + 8 * own.len() as u64);
    for c in &own {
        let at = store.lookup(&c.id).unwrap();
        assert!(matches!(at[0].holder, Holder::Pack(_)), "{:?}", at);
    }
    // v1 can be rebuilt entirely: shared chunks from v2, its own from the pack.
    let out = std::fs::File::create(tmp.path().join("rebuilt")).unwrap();
    let filled = store.fill(&m1, &out, 0).unwrap();
    assert!(filled.missing.is_empty(), "{:?}", filled.missing);
    assert_eq!(std::fs::read(tmp.path().join("rebuilt")).unwrap(), v1);
    // Retiring a path that is not indexed (any more) keeps nothing.
    assert_eq!(store.retire_file(&a).unwrap(), Default::default());
}

#[test]
fn the_pack_is_a_xorb_chunk_section() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let data = random(300_000, 3);
    let path = tmp.path().join("f.bin");
    std::fs::write(&path, &data).unwrap();
    store.index_path(&path).unwrap();
    store.retire_file(&path).unwrap();
    let packs = store.packs().unwrap();
    assert_eq!(packs.len(), 1);
    let bytes = std::fs::read(&packs[0].path).unwrap();
    // Walk the 8-byte headers: version 0, compressed u24 LE, scheme 0, uncompressed u24 LE.
    let (mut at, mut payload) = (0usize, Vec::new());
    while at < bytes.len() {
        let h = &bytes[at..at + 8];
        let len = u32::from_le_bytes([h[1], h[2], h[3], 0]) as usize;
        assert_eq!((h[0], h[4], &h[5..8]), (0, 0, &h[1..4]));
        payload.extend_from_slice(&bytes[at + 8..at + 8 + len]);
        at += 8 + len;
    }
    assert_eq!(payload, data, "a file with no repeated chunk is packed whole, in order");
}

#[test]
fn a_file_changed_since_indexing_is_forgotten_not_packed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let path = tmp.path().join("f.bin");
    std::fs::write(&path, random(500_000, 4)).unwrap();
    store.index_path(&path).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().write_all_at(b"changed", 10).unwrap();
    let report = store.retire_file(&path).unwrap();
    assert!(!report.was_indexed);
    assert_eq!(report.chunks, 0);
    let stats = store.stats().unwrap();
    assert_eq!((stats.files, stats.chunks, stats.packs), (0, 0, 0));
}

#[test]
fn a_damaged_pack_is_dropped_and_never_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let data = random(400_000, 5);
    let path = tmp.path().join("f.bin");
    std::fs::write(&path, &data).unwrap();
    store.index_path(&path).unwrap();
    store.retire_file(&path).unwrap();
    let pack = store.packs().unwrap().remove(0);
    std::fs::OpenOptions::new().write(true).open(&pack.path).unwrap().write_all_at(&[0xff; 64], 20).unwrap();
    let first = chunks_of(&data)[0].id;
    assert_eq!(store.read_chunk(&first).unwrap(), None);
    // The pack is gone from the index and from the disk.
    assert!(store.packs().unwrap().is_empty());
    assert!(!pack.path.exists());
    assert_eq!(store.stats().unwrap().chunks, 0);
}

#[test]
fn cleanup_deletes_packs_before_forgetting_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = open(tmp.path());
    let keep = tmp.path().join("keep.bin");
    std::fs::write(&keep, random(300_000, 6)).unwrap();
    store.index_path(&keep).unwrap();
    for i in 0..2 {
        let old = tmp.path().join(format!("old{i}.bin"));
        std::fs::write(&old, random(300_000, 10 + i)).unwrap();
        store.index_path(&old).unwrap();
        store.retire_file(&old).unwrap();
    }
    let stats = store.stats().unwrap();
    assert_eq!(stats.packs, 1, "both retirements append to one pack");
    let cap = stats.index_bytes + stats.pack_bytes - 1;
    let dry = store.cleanup(cap, true).unwrap();
    assert_eq!(dry.evicted_packs.len(), 1);
    assert!(dry.evicted.is_empty());
    assert_eq!(store.stats().unwrap().packs, 1, "a dry run deleted a pack");
    let done = store.cleanup(cap, false).unwrap();
    assert_eq!((done.evicted_packs, done.evicted.len(), done.pack_bytes_after), (dry.evicted_packs, 0, 0));
    let stats = store.stats().unwrap();
    assert_eq!((stats.files, stats.packs, stats.pack_bytes), (1, 0, 0));
}
