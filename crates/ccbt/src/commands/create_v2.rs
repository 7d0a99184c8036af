//! The hashing of `ccbt create --v2` / `--hybrid` (BEP 52): each file is read once, in
//! parallel over its pieces, giving the merkle node of every piece and, for a hybrid, the
//! SHA-1 of the same piece padded to the piece length (the v1 part's pad files are zeros).

use ccbt_core::merkle::{file_tree_leaves, Node, LEAF_SIZE};
use ccbt_metainfo::{aligned_layout, AlignedEntry};
use ccbt_storage::{hash_new_pieces, NewPiece, Storage, StorageError};

/// Everything [`ccbt_metainfo::TorrentBuilder`] needs from the data of a torrent.
pub struct ContentHashes {
    /// SHA-1 of each v1 piece (over the padded stream of a hybrid; empty for v2-only).
    pub piece_hashes: Vec<[u8; 20]>,
    /// Per file, the merkle node of each of its pieces (v2 and hybrid; empty for v1).
    pub v2_piece_hashes: Vec<Vec<Node>>,
}

/// The pieces of a piece-aligned torrent of files of `lengths`, as offsets into the files'
/// unpadded byte stream (what `storage` holds): every piece lies in one file.
pub fn plan(lengths: &[u64], piece_length: u32, hybrid: bool) -> Vec<NewPiece> {
    let piece = u64::from(piece_length);
    let layout = aligned_layout(lengths, piece_length);
    let mut plan = Vec::new();
    let mut file_offset = 0u64;
    for (at, entry) in layout.iter().enumerate() {
        let AlignedEntry::File(index) = *entry else { continue };
        let length = lengths[index];
        // A pad file after it makes the file's last v1 piece a whole piece of zeros-padded data.
        let padded = matches!(layout.get(at + 1), Some(AlignedEntry::Padding(_)));
        let v2_leaves = if length <= piece {
            u32::try_from(file_tree_leaves(length)).unwrap_or(u32::MAX)
        } else {
            piece_length / LEAF_SIZE
        };
        let mut start = 0u64;
        while start < length {
            // At most one piece, so it fits in u32.
            let data_len = (length - start).min(piece) as u32;
            let sha1_len = hybrid.then_some(if padded { piece_length } else { data_len });
            plan.push(NewPiece { offset: file_offset + start, data_len, sha1_len, v2_leaves });
            start += piece;
        }
        file_offset += length;
    }
    plan
}

/// Hashes the files of `lengths` in `storage` (their unpadded stream) for a v2 torrent, or a
/// hybrid one, with `workers` threads; `progress` gets the bytes hashed so far.
pub fn hash_aligned(
    storage: &dyn Storage,
    lengths: &[u64],
    piece_length: u32,
    hybrid: bool,
    workers: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ContentHashes, StorageError> {
    let pieces = plan(lengths, piece_length, hybrid);
    let hashes = hash_new_pieces(storage, &pieces, workers, progress)?;
    let piece_hashes = hashes.iter().filter_map(|h| h.sha1).collect();
    let mut nodes = hashes.iter().map(|h| h.v2);
    let v2_piece_hashes = lengths
        .iter()
        .map(|len| nodes.by_ref().take(len.div_ceil(u64::from(piece_length)) as usize).collect())
        .collect();
    Ok(ContentHashes { piece_hashes, v2_piece_hashes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_one_file_per_piece() {
        let p = 32_768u32;
        let plan = plan(&[40_000, 0, 5_000, 70_000], p, true);
        let got: Vec<_> = plan.iter().map(|n| (n.offset, n.data_len, n.sha1_len, n.v2_leaves)).collect();
        assert_eq!(
            got,
            [
                (0, 32_768, Some(p), 2),
                (32_768, 7_232, Some(p), 2),
                // 5000 bytes: one piece whose node is the root of a 1-leaf tree.
                (40_000, 5_000, Some(p), 1),
                (45_000, 32_768, Some(p), 2),
                (77_768, 32_768, Some(p), 2),
                (110_536, 4_464, Some(p), 2),
            ]
        );
        // A single file gets no pad: its last v1 piece is short. v2-only has no SHA-1.
        let single = super::plan(&[40_000], p, true);
        assert_eq!(single[1].sha1_len, Some(7_232));
        assert!(super::plan(&[40_000, 5], p, false).iter().all(|n| n.sha1_len.is_none()));
    }
}
