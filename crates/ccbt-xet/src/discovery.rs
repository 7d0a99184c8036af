//! Discovery keys: the 20-byte BEP 5 keys under which holders of a file or of an "anchor" chunk
//! announce themselves. Only files and anchors are announced (about 16 keys per GiB), never
//! every chunk (16,000 per GiB would not fit the DHT).

use sha1::{Digest, Sha1};

use crate::consts::ANCHOR_MODULUS;
use crate::hash::ChunkId;
use crate::manifest::Manifest;

/// Prefix of the key of a whole file (versioned: a new scheme gets new keys).
pub const FILE_KEY_PREFIX: &[u8] = b"xet/file/v1";
/// Prefix of the key of an anchor chunk.
pub const ANCHOR_KEY_PREFIX: &[u8] = b"xet/anchor/v1";

fn key(prefix: &[u8], hash: &ChunkId) -> [u8; 20] {
    let mut sha = Sha1::new();
    sha.update(prefix);
    sha.update(hash);
    sha.finalize().into()
}

/// `SHA1("xet/file/v1" ‖ root)`: where the holders of the file with this Xet root announce.
pub fn file_key(root: &ChunkId) -> [u8; 20] {
    key(FILE_KEY_PREFIX, root)
}

/// `SHA1("xet/anchor/v1" ‖ id)`: where the holders of this anchor chunk announce.
pub fn anchor_key(id: &ChunkId) -> [u8; 20] {
    key(ANCHOR_KEY_PREFIX, id)
}

/// Whether the chunk at `index_in_file` with this id is an anchor: a file's first chunk, or a
/// chunk with `u64_le(id[24..32]) % 1024 == 0` (the chunks xet-core treats as eligible for
/// global deduplication, so both pick the same ones).
pub fn is_anchor(index_in_file: usize, id: &ChunkId) -> bool {
    index_in_file == 0 || u64::from_le_bytes(id[24..32].try_into().expect("8 bytes")) % ANCHOR_MODULUS == 0
}

/// The indices of a manifest's anchor chunks, in order (the first chunk's index 0 first).
pub fn anchors(manifest: &Manifest) -> Vec<usize> {
    let chunks = manifest.chunks();
    (0..chunks.len()).filter(|&i| is_anchor(i, &chunks[i].id)).collect()
}

/// The anchor at or before chunk `index`: whose key to look up for peers likely to hold that
/// chunk (None if `index` is past the end).
pub fn anchor_before(manifest: &Manifest, index: usize) -> Option<usize> {
    let chunks = manifest.chunks();
    if index >= chunks.len() {
        return None;
    }
    (0..=index).rev().find(|&i| is_anchor(i, &chunks[i].id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::ChunkRef;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// An id whose last little-endian word is `word`.
    fn id_with_word(fill: u8, word: u64) -> ChunkId {
        let mut id = [fill; 32];
        id[24..].copy_from_slice(&word.to_le_bytes());
        id
    }

    #[test]
    fn keys_are_sha1_of_prefix_and_hash() {
        // Independent check: SHA-1 over the concatenation, computed in one piece.
        let root = [0xab; 32];
        let mut joined = b"xet/file/v1".to_vec();
        joined.extend_from_slice(&root);
        assert_eq!(file_key(&root), <[u8; 20]>::from(Sha1::digest(&joined)));
        assert_ne!(file_key(&root), anchor_key(&root));
        // Fixed vectors (Python hashlib: sha1(b"xet/file/v1" + bytes(32)), sha1(b"xet/anchor/v1" + bytes(32))).
        assert_eq!(hex(&file_key(&[0; 32])), "1a07377ebe5267182925f13a9c2e869e10001c70");
        assert_eq!(hex(&anchor_key(&[0; 32])), "d1d8bc87296069b2066665c98ba37b27bee8f1b2");
    }

    #[test]
    fn anchors_are_first_chunks_and_multiples_of_1024() {
        assert!(is_anchor(0, &id_with_word(1, 1)));
        assert!(is_anchor(5, &id_with_word(1, 0)));
        assert!(is_anchor(5, &id_with_word(1, 7 * 1024)));
        assert!(!is_anchor(5, &id_with_word(1, 7 * 1024 + 1)));
        // Only the last word counts, read little-endian.
        let mut id = id_with_word(0, 1024);
        id[0] = 1;
        assert!(is_anchor(1, &id));
        let mut id = [0u8; 32];
        id[31] = 1; // word = 2^56: a multiple of 1024
        assert!(is_anchor(1, &id));
        id[24] = 1; // word = 2^56 + 1
        assert!(!is_anchor(1, &id));
    }

    #[test]
    fn anchors_of_a_manifest() {
        let words = [3u64, 5, 2048, 9, 1024, 11];
        let chunks = words.iter().map(|&w| ChunkRef { id: id_with_word(2, w), len: 100 }).collect();
        let m = Manifest::new(chunks).unwrap();
        assert_eq!(anchors(&m), vec![0, 2, 4]);
        assert_eq!(anchor_before(&m, 0), Some(0));
        assert_eq!(anchor_before(&m, 1), Some(0));
        assert_eq!(anchor_before(&m, 3), Some(2));
        assert_eq!(anchor_before(&m, 5), Some(4));
        assert_eq!(anchor_before(&m, 6), None);
        assert!(anchors(&Manifest::new(Vec::new()).unwrap()).is_empty());
    }
}
