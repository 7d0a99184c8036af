//! The index is never loaded whole: statistics over an index much larger than the page cache
//! stay within the cache plus a small margin. One test in its own binary, so the peak resident
//! size it reads (Linux `/proc/self/status`, reset through `/proc/self/clear_refs`) is its own.

use std::fs::File;

use ccbt_xet::{file_hash, ChunkRef};
use ccbt_xetstore::{StoreOptions, XetStore};
use rand::{RngCore, SeedableRng};

const MIB: u64 = 1024 * 1024;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn stats_stream_over_an_index_larger_than_the_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let options = StoreOptions { cache_bytes: 2 * MIB as usize, ..StoreOptions::default() };
    let store = XetStore::open(&tmp.path().join("xet"), options).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    // Sparse payload files of 8 KiB chunks with made-up ids: the index only needs sizes to match.
    const FILES: usize = 8;
    const CHUNKS: usize = 40_000;
    for f in 0..FILES {
        let chunks: Vec<ChunkRef> = (0..CHUNKS)
            .map(|_| {
                let mut id = [0; 32];
                rng.fill_bytes(&mut id);
                ChunkRef { id, len: 8192 }
            })
            .collect();
        let path = tmp.path().join(format!("f{f}.bin"));
        File::create(&path).unwrap().set_len(CHUNKS as u64 * 8192).unwrap();
        store.index_file(&path, &chunks, &file_hash(&chunks)).unwrap();
    }
    let index_bytes = store.stats().unwrap().index_bytes;
    assert!(index_bytes > 24 * MIB, "the index is only {index_bytes} bytes");

    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident size");
    let before = peak_rss_kib();
    let stats = store.stats().unwrap();
    let grown = (peak_rss_kib() - before) * 1024;
    assert_eq!(stats.chunks, (FILES * CHUNKS) as u64);
    assert_eq!(stats.unique_bytes, (FILES * CHUNKS) as u64 * 8192);
    // The 2 MiB page cache plus a margin; the index is several times larger.
    assert!(
        grown < 12 * MIB,
        "stats grew the peak resident size by {grown} bytes over an index of {index_bytes}"
    );
}
