//! A file's manifest: its chunks in order, with their offsets and the file's Xet hash.

use std::ops::Range;

use crate::consts::MAX_CHUNK_SIZE;
use crate::hash::{file_hash, ChunkId, ChunkRef};
use crate::manifest_codec::ManifestError;

/// The most chunks a manifest may list: 2^25, i.e. 2 TiB of 64 KiB chunks (at least 256 GiB
/// even if every chunk had the 8 KiB minimum). A cap for hostile headers, far above any real
/// file: decoders refuse larger counts before allocating.
pub const MAX_MANIFEST_CHUNKS: usize = 1 << 25;

/// A file's ordered chunks: what `FileHasher::finish` produced, what `.torrent` `xet layers`
/// and the on-disk `.xm` files carry. Every chunk is 1..=128 KiB long; the root (the file's Xet
/// hash) and the chunk offsets are computed once, when the manifest is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    chunks: Vec<ChunkRef>,
    /// `ends[i]` = offset just past chunk `i` (prefix sums of the lengths).
    ends: Vec<u64>,
    root: ChunkId,
    /// Indices of `chunks` sorted by id, for [`Manifest::find`].
    by_id: Vec<u32>,
}

impl Manifest {
    /// The manifest of a file cut into `chunks`, in file order. Refuses a chunk of length 0 or
    /// over 128 KiB and more than [`MAX_MANIFEST_CHUNKS`] chunks.
    pub fn new(chunks: Vec<ChunkRef>) -> Result<Self, ManifestError> {
        if chunks.len() > MAX_MANIFEST_CHUNKS {
            return Err(ManifestError::TooManyChunks {
                count: chunks.len() as u64,
                max: MAX_MANIFEST_CHUNKS,
            });
        }
        let mut ends = Vec::with_capacity(chunks.len());
        let mut end = 0u64;
        for (index, chunk) in chunks.iter().enumerate() {
            if chunk.len == 0 || chunk.len as usize > MAX_CHUNK_SIZE {
                return Err(ManifestError::ChunkLength { index, len: chunk.len });
            }
            end += u64::from(chunk.len);
            ends.push(end);
        }
        let root = file_hash(&chunks);
        let mut by_id: Vec<u32> = (0..chunks.len() as u32).collect();
        by_id.sort_by(|&a, &b| chunks[a as usize].id.cmp(&chunks[b as usize].id).then(a.cmp(&b)));
        Ok(Self { chunks, ends, root, by_id })
    }

    /// The chunks, in file order.
    pub fn chunks(&self) -> &[ChunkRef] {
        &self.chunks
    }

    /// Number of chunks (0 for the empty file).
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// True for the empty file's manifest.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The file's size: the sum of the chunk lengths.
    pub fn file_size(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    /// The file's Xet hash (its "xet root"), all zeros for the empty file.
    pub fn root(&self) -> ChunkId {
        self.root
    }

    /// Where each chunk starts in the file, in order.
    pub fn offsets(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        self.ends.iter().zip(&self.chunks).map(|(end, chunk)| end - u64::from(chunk.len))
    }

    /// The byte range of chunk `index` in the file.
    pub fn range(&self, index: usize) -> Option<Range<u64>> {
        let end = *self.ends.get(index)?;
        Some(end - u64::from(self.chunks[index].len)..end)
    }

    /// The index of the chunk holding byte `offset` of the file (None past the end).
    pub fn chunk_at(&self, offset: u64) -> Option<usize> {
        let index = self.ends.partition_point(|&end| end <= offset);
        (index < self.chunks.len()).then_some(index)
    }

    /// The first index of a chunk with this id (a file may repeat a chunk), in O(log n).
    pub fn find(&self, id: &ChunkId) -> Option<usize> {
        let at = self.by_id.partition_point(|&i| self.chunks[i as usize].id < *id);
        let index = *self.by_id.get(at)? as usize;
        (self.chunks[index].id == *id).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(byte: u8, len: u32) -> ChunkRef {
        ChunkRef { id: [byte; 32], len }
    }

    #[test]
    fn offsets_ranges_and_lookup() {
        let m = Manifest::new(vec![chunk(9, 100), chunk(3, 50), chunk(9, 7)]).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.file_size(), 157);
        assert_eq!(m.offsets().collect::<Vec<_>>(), vec![0, 100, 150]);
        assert_eq!(m.range(1), Some(100..150));
        assert_eq!(m.range(3), None);
        assert_eq!(m.chunk_at(0), Some(0));
        assert_eq!(m.chunk_at(99), Some(0));
        assert_eq!(m.chunk_at(100), Some(1));
        assert_eq!(m.chunk_at(156), Some(2));
        assert_eq!(m.chunk_at(157), None);
        // The repeated chunk is found at its first place.
        assert_eq!(m.find(&[9; 32]), Some(0));
        assert_eq!(m.find(&[3; 32]), Some(1));
        assert_eq!(m.find(&[4; 32]), None);
        assert_eq!(m.root(), file_hash(m.chunks()));
    }

    #[test]
    fn the_empty_file() {
        let m = Manifest::new(Vec::new()).unwrap();
        assert!(m.is_empty());
        assert_eq!(m.file_size(), 0);
        assert_eq!(m.root(), [0; 32]);
        assert_eq!(m.chunk_at(0), None);
        assert_eq!(m.find(&[0; 32]), None);
    }

    #[test]
    fn chunk_lengths_are_checked() {
        assert_eq!(
            Manifest::new(vec![chunk(1, 10), chunk(2, 0)]),
            Err(ManifestError::ChunkLength { index: 1, len: 0 })
        );
        let over = MAX_CHUNK_SIZE as u32 + 1;
        assert_eq!(
            Manifest::new(vec![chunk(1, over)]),
            Err(ManifestError::ChunkLength { index: 0, len: over })
        );
        assert!(Manifest::new(vec![chunk(1, MAX_CHUNK_SIZE as u32)]).is_ok());
    }
}
