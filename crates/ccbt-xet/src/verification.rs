//! Range verification hashes (xet-core `range_hash_from_chunks`): one hash naming a run of
//! consecutive chunks, so a claim about a whole range is checked with one comparison.

use crate::consts::VERIFICATION_KEY;
use crate::hash::ChunkId;

/// `blake3::keyed_hash(VERIFICATION_KEY, id_0 ‖ id_1 ‖ …)` over raw chunk ids, in order.
pub fn range_hash(ids: &[ChunkId]) -> ChunkId {
    let mut hasher = blake3::Hasher::new_keyed(&VERIFICATION_KEY);
    for id in ids {
        hasher.update(id);
    }
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_the_same_as_one_concatenation() {
        let ids = [[1u8; 32], [2; 32], [3; 32]];
        let joined: Vec<u8> = ids.concat();
        assert_eq!(range_hash(&ids), *blake3::keyed_hash(&VERIFICATION_KEY, &joined).as_bytes());
        assert_ne!(range_hash(&ids), range_hash(&ids[..2]));
        assert_eq!(range_hash(&[]), *blake3::keyed_hash(&VERIFICATION_KEY, &[]).as_bytes());
    }
}
