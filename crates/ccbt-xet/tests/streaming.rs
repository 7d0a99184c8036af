//! Chunks and ids do not depend on how a file is split into buffers: fed whole, in buffers of
//! any sizes (1 byte, empty ones included), the chunker and the file hasher agree.

mod gen;

use ccbt_xet::{chunk_boundaries, chunk_id, ChunkRef, Chunker, FileHasher};
use proptest::prelude::*;

/// The end offsets found by a streaming chunker fed `data` in buffers of `sizes` (cycled).
fn streamed_boundaries(data: &[u8], sizes: &[usize]) -> Vec<usize> {
    let mut chunker = Chunker::new();
    let mut ends = Vec::new();
    let (mut at, mut turn) = (0, 0);
    while at < data.len() {
        let size = sizes[turn % sizes.len()];
        turn += 1;
        let end = data.len().min(at + size);
        // A buffer may hold several cuts.
        let mut pos = at;
        while let Some(n) = chunker.next_boundary(&data[pos..end]) {
            pos += n;
            ends.push(pos);
        }
        at = end;
    }
    if chunker.pending() > 0 {
        ends.push(data.len());
    }
    ends
}

fn streamed_hash(data: &[u8], sizes: &[usize]) -> ([u8; 32], Vec<ChunkRef>) {
    let mut hasher = FileHasher::new();
    let (mut at, mut turn) = (0, 0);
    while at < data.len() {
        let size = sizes[turn % sizes.len()];
        turn += 1;
        let end = data.len().min(at + size);
        hasher.update(&data[at..end]);
        at = end;
    }
    hasher.finish()
}

/// The reference: boundaries of the whole input, ids of each chunk hashed on its own.
fn whole(data: &[u8]) -> (Vec<usize>, Vec<ChunkRef>) {
    let ends = chunk_boundaries(data);
    let mut start = 0;
    let chunks = ends
        .iter()
        .map(|&end| {
            let chunk = ChunkRef { id: chunk_id(&data[start..end]), len: (end - start) as u32 };
            start = end;
            chunk
        })
        .collect();
    (ends, chunks)
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    let kind = prop_oneof![Just(("random", 0u64)), Just(("period", 1000)), Just(("sparse", 4000))];
    (kind, any::<u64>(), 0usize..700_000)
        .prop_map(|((kind, param), seed, size)| gen::generate(kind, param, seed, size))
}

fn buffer_sizes() -> impl Strategy<Value = Vec<usize>> {
    let size = prop_oneof![Just(0usize), Just(1), 0usize..100, 0usize..20_000, 0usize..300_000];
    // At least one non-empty size, or the input would never be consumed.
    (prop::collection::vec(size, 0..20), 1usize..200_000).prop_map(|(mut sizes, nonzero)| {
        sizes.push(nonzero);
        sizes
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_buffering_gives_the_same_chunks(data in input(), sizes in buffer_sizes()) {
        let (ends, chunks) = whole(&data);
        prop_assert_eq!(streamed_boundaries(&data, &sizes), ends.clone());
        let (hash, streamed) = streamed_hash(&data, &sizes);
        prop_assert_eq!(&streamed, &chunks);
        let mut once = FileHasher::new();
        once.update(&data);
        prop_assert_eq!(once.finish(), (hash, chunks));
    }
}

#[test]
fn one_byte_buffers_and_empty_ones() {
    // Enough for several content cuts and a forced one (the period-7 part never matches).
    let mut data = gen::generate("random", 0, 7, 400_000);
    data.extend(gen::generate("period", 7, 8, 300_000));
    let (ends, chunks) = whole(&data);
    assert!(ends.len() >= 5, "{ends:?}");
    assert!(chunks.iter().any(|c| c.len == 131_072));
    assert_eq!(streamed_boundaries(&data, &[1]), ends);
    assert_eq!(streamed_boundaries(&data, &[0, 1, 0, 0, 3]), ends);
    let mut hasher = FileHasher::new();
    for byte in &data {
        hasher.update(&[]);
        hasher.update(std::slice::from_ref(byte));
    }
    let (_, one_by_one) = hasher.finish();
    assert_eq!(one_by_one, chunks);
}
