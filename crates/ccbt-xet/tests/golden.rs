//! The golden vectors of ../shared/research/xet.md §7, generated with Hugging Face's published
//! xet-core crates (`xet-data` 1.8.0): our ids and file hashes must equal theirs byte for byte.

use ccbt_xet::consts::{DATA_KEY, INTERNAL_NODE_KEY, VERIFICATION_KEY};
use ccbt_xet::{chunk_boundaries, chunk_id, file_hash, xethex, ChunkRef, FileHasher};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_whole(data: &[u8]) -> (String, Vec<ChunkRef>) {
    let mut hasher = FileHasher::new();
    hasher.update(data);
    let (hash, chunks) = hasher.finish();
    (hex(&hash), chunks)
}

#[test]
fn keys_are_xet_cores() {
    assert_eq!(hex(&DATA_KEY), "6697f5775b9550de3135cbaca597181c9de421109beb2b58b4d0b04b93adf229");
    assert_eq!(hex(&INTERNAL_NODE_KEY), "017ec5c7a5472996fd946666b48a02e65ddd536f37c76dd2f86352e64a53713f");
    assert_eq!(hex(&VERIFICATION_KEY), "7f1857d6ce56ed66127ff913e7a5c3f3a4cd26d5b5db49e64124987f28fb94c3");
}

#[test]
fn one_mib_of_zeros_is_eight_forced_chunks() {
    let data = vec![0u8; 1 << 20];
    let (hash, chunks) = hash_whole(&data);
    assert_eq!(chunks.len(), 8);
    for chunk in &chunks {
        assert_eq!(chunk.len, 131_072);
        assert_eq!(hex(&chunk.id), "b21380243cf1392e653a89a23b91227ecb7eebd80aed2041fc3486709d5bf0f3");
    }
    assert_eq!(hash, "55a3ce24e11f671ec64f9d0bc3d1b1866940930ce65ee0b45640d5237c4f4486");
}

#[test]
fn hello_world_is_one_chunk() {
    let (hash, chunks) = hash_whole(b"hello world");
    assert_eq!(chunks, vec![ChunkRef { id: chunk_id(b"hello world"), len: 11 }]);
    assert_eq!(hex(&chunks[0].id), "119f359d8b37394e0213441f7a559081d97ba0cf5f4ea519b151e66f460bf56c");
    assert_eq!(xethex(&chunks[0].id), "4e39378b9d359f118190557a1f44130219a54e5fcfa07bd96cf50b466fe651b1");
    assert_eq!(hash, "fd5ce8b743dd5ef19fb913fe8f75e225f6d9e817a8df09dd7fdb26a1a7228754");
}

#[test]
fn the_empty_file_hashes_to_zeros() {
    assert_eq!(file_hash(&[]), [0; 32]);
    assert!(chunk_boundaries(&[]).is_empty());
}
