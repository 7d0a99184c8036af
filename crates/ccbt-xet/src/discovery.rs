//! Discovery keys: the 20-byte BEP 5 keys under which holders of a file or of an "anchor" chunk
//! announce themselves. Only files and anchors are announced (about 16 keys per GiB), never
//! every chunk (16,000 per GiB would not fit the DHT).

use sha1::{Digest, Sha1};

use crate::consts::ANCHOR_MODULUS;
use crate::hash::{ChunkId, ChunkRef};
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

/// Most keys a session announces: each is a DHT lookup every 30 minutes. 1024 keys cover every
/// file key and anchor of about 60 GiB of content (16 anchors per GiB); past that, anchors are
/// taken evenly across files (see [`announce_plan`]).
pub const MAX_ANNOUNCE_KEYS: usize = 1024;

/// The ids of a file's anchor chunks, in order (its first chunk first).
pub fn anchor_ids(chunks: &[ChunkRef]) -> Vec<ChunkId> {
    chunks.iter().enumerate().filter(|(i, c)| is_anchor(*i, &c.id)).map(|(_, c)| c.id).collect()
}

/// One key to announce and the files (indices into the plan's input) it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceKey {
    pub key: [u8; 20],
    pub files: Vec<usize>,
}

/// The keys a holder of `files` (each: its xet root and its anchor ids, as [`anchor_ids`] gives
/// them) announces, at most `cap`, in priority order: every file key first, then anchors taken
/// round-robin across files (each file's first anchor, then each file's second, ...), so a cap
/// thins the anchors of every file evenly instead of dropping whole files. A key shared by
/// several files (the same anchor in two versions) is listed once, with all its files.
pub fn announce_plan(files: &[(ChunkId, Vec<ChunkId>)], cap: usize) -> Vec<AnnounceKey> {
    let mut plan: Vec<AnnounceKey> = Vec::new();
    let mut index: std::collections::HashMap<[u8; 20], usize> = std::collections::HashMap::new();
    let mut add = |key: [u8; 20], file: usize, plan: &mut Vec<AnnounceKey>| {
        if let Some(&at) = index.get(&key) {
            if !plan[at].files.contains(&file) {
                plan[at].files.push(file);
            }
        } else if plan.len() < cap {
            index.insert(key, plan.len());
            plan.push(AnnounceKey { key, files: vec![file] });
        }
    };
    for (file, (root, _)) in files.iter().enumerate() {
        add(file_key(root), file, &mut plan);
    }
    let rounds = files.iter().map(|(_, a)| a.len()).max().unwrap_or(0);
    for round in 0..rounds {
        for (file, (_, anchors)) in files.iter().enumerate() {
            if let Some(id) = anchors.get(round) {
                add(anchor_key(id), file, &mut plan);
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

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
    #[test]
    fn plan_lists_file_keys_first_then_anchors_evenly() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let shared = id_with_word(9, 0);
        let files = vec![
            (a, vec![id_with_word(3, 5), shared, id_with_word(4, 2048)]),
            (b, vec![id_with_word(5, 5), shared]),
        ];
        let plan = announce_plan(&files, 100);
        let keys: Vec<_> = plan.iter().map(|k| k.key).collect();
        assert_eq!(
            keys,
            vec![
                file_key(&a),
                file_key(&b),
                anchor_key(&files[0].1[0]),
                anchor_key(&files[1].1[0]),
                anchor_key(&shared),
                anchor_key(&files[0].1[2]),
            ]
        );
        // The anchor both versions hold stands for both files.
        assert_eq!(plan[4].files, vec![0, 1]);
        assert_eq!(plan[0].files, vec![0]);
        // A cap keeps the file keys and the first anchors of every file.
        let capped = announce_plan(&files, 3);
        assert_eq!(capped.len(), 3);
        assert_eq!(capped[2].key, anchor_key(&files[0].1[0]));
        assert!(announce_plan(&[], 10).is_empty());
        assert!(announce_plan(&files, 0).is_empty());
    }

    #[test]
    fn anchor_ids_of_chunks() {
        let chunks: Vec<_> =
            [3u64, 5, 2048].iter().map(|&w| ChunkRef { id: id_with_word(2, w), len: 9 }).collect();
        assert_eq!(anchor_ids(&chunks), vec![chunks[0].id, chunks[2].id]);
        assert!(anchor_ids(&[]).is_empty());
    }
}
