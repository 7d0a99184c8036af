//! Which bytes of a file's chunks to copy from local copies into a torrent's missing pieces.
//!
//! A torrent's verified pieces are never written again: a chunk that straddles a verified piece
//! and a missing one is copied only into the missing one. Pure arithmetic over the manifest.

use crate::ChunkRef;

/// The parts of one chunk to copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkFill {
    /// Index of the chunk in the manifest.
    pub chunk: usize,
    /// Offset of the chunk's first byte in the torrent's byte stream.
    pub stream_offset: u64,
    /// `(offset inside the chunk, length)` of each run to copy, in order.
    pub runs: Vec<(u32, u32)>,
}

/// For a file whose manifest is `chunks` and whose first byte is at `file_start` in a
/// torrent's byte stream of pieces of `piece_length` bytes: the runs of each chunk that lie
/// in pieces `missing` says are missing. Chunks with nothing to copy are left out.
pub fn plan_fill(
    chunks: &[ChunkRef],
    file_start: u64,
    piece_length: u32,
    missing: impl Fn(u32) -> bool,
) -> Vec<ChunkFill> {
    let piece_length = u64::from(piece_length.max(1));
    let mut fills = Vec::new();
    let mut start = file_start;
    for (index, chunk) in chunks.iter().enumerate() {
        let end = start + u64::from(chunk.len);
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut piece_start = start - start % piece_length;
        while piece_start < end {
            let piece = u32::try_from(piece_start / piece_length).unwrap_or(u32::MAX);
            if missing(piece) {
                let from = start.max(piece_start);
                let to = end.min(piece_start + piece_length);
                // Both lie inside the chunk, so they fit in u32 (a chunk is at most 128 KiB).
                let (offset, len) = ((from - start) as u32, (to - from) as u32);
                match runs.last_mut() {
                    Some((last_offset, last_len)) if *last_offset + *last_len == offset => *last_len += len,
                    _ => runs.push((offset, len)),
                }
            }
            piece_start += piece_length;
        }
        if !runs.is_empty() {
            fills.push(ChunkFill { chunk: index, stream_offset: start, runs });
        }
        start = end;
    }
    fills
}

/// The pieces a plan writes into (each once, in order).
pub fn pieces_written(fills: &[ChunkFill], piece_length: u32) -> Vec<u32> {
    let piece_length = u64::from(piece_length.max(1));
    let mut pieces: Vec<u32> = Vec::new();
    for fill in fills {
        for &(offset, len) in &fill.runs {
            let first = (fill.stream_offset + u64::from(offset)) / piece_length;
            let last = (fill.stream_offset + u64::from(offset) + u64::from(len) - 1) / piece_length;
            for piece in first..=last {
                let piece = u32::try_from(piece).unwrap_or(u32::MAX);
                if pieces.last().map_or(true, |&p| p < piece) {
                    pieces.push(piece);
                }
            }
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(lens: &[u32]) -> Vec<ChunkRef> {
        lens.iter().map(|&len| ChunkRef { id: [len as u8; 32], len }).collect()
    }

    #[test]
    fn only_missing_pieces_are_written() {
        // Pieces of 100 bytes; the file starts at 50; chunks [50,170), [170,200), [200,420).
        let plan = plan_fill(&chunks(&[120, 30, 220]), 50, 100, |p| p == 1 || p == 3);
        assert_eq!(
            plan,
            vec![
                ChunkFill { chunk: 0, stream_offset: 50, runs: vec![(50, 70)] },
                ChunkFill { chunk: 1, stream_offset: 170, runs: vec![(0, 30)] },
                ChunkFill { chunk: 2, stream_offset: 200, runs: vec![(100, 100)] },
            ]
        );
        assert_eq!(pieces_written(&plan, 100), vec![1, 3]);
    }

    #[test]
    fn adjacent_missing_pieces_make_one_run() {
        let plan = plan_fill(&chunks(&[300]), 0, 100, |_| true);
        assert_eq!(plan, vec![ChunkFill { chunk: 0, stream_offset: 0, runs: vec![(0, 300)] }]);
        assert!(plan_fill(&chunks(&[300]), 0, 100, |_| false).is_empty());
    }
}
