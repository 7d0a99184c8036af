//! The page phase of a piece buffer: how far past a page boundary the buffer starts.
//!
//! `O_DIRECT` writes need the memory address and the file offset aligned alike (the storage
//! aligns both to 4096), so a verified piece is written from its own buffer only where
//! `address ≡ file offset (mod 4096)`; elsewhere the writer copies it through a staging buffer
//! first. A single-file torrent's pieces start on page boundaries of the file, so page-aligned
//! buffers suit them; but in a multi-file torrent a file may start anywhere inside a piece, and
//! then every piece of that file sits `(piece start - file start) mod 4096` bytes off. Starting
//! the buffer that far past a page boundary lines the piece's largest file range up with the
//! file's pages again: measured on 16 files of odd sizes, the staging copies were about a tenth
//! of the download's CPU (docs/benchmarks.md, issue 15).

use super::piece_pool::PIECE_BUFFER_ALIGN;

/// A torrent's data files as `(torrent offset, length)`, in offset order, without padding files
/// (never written) and empty ones.
#[derive(Clone, Debug, Default)]
pub struct FileSpans {
    spans: Vec<(u64, u64)>,
}

impl FileSpans {
    /// The spans of `files`, `(torrent offset, length)` each; they may come in any order.
    pub fn new(files: impl IntoIterator<Item = (u64, u64)>) -> FileSpans {
        let mut spans: Vec<(u64, u64)> = files.into_iter().filter(|&(_, len)| len > 0).collect();
        spans.sort_unstable();
        FileSpans { spans }
    }
}

/// The page phase for the piece of `len` bytes at torrent offset `start`: `(start - file
/// start) mod page` for the file holding most of the piece, 0 when no file is known.
pub(super) fn page_phase(files: &FileSpans, start: u64, len: u64) -> usize {
    let end = start.saturating_add(len);
    let first = files.spans.partition_point(|&(at, flen)| at.saturating_add(flen) <= start);
    let mut best: Option<(u64, u64)> = None;
    for &(at, flen) in files.spans.get(first..).unwrap_or_default() {
        if at >= end {
            break;
        }
        let overlap = end.min(at.saturating_add(flen)) - start.max(at);
        if best.map_or(true, |(most, _)| overlap > most) {
            best = Some((overlap, at));
        }
    }
    let align = PIECE_BUFFER_ALIGN as u64;
    // The file's start may lie after the piece's: the phase is then measured backwards.
    best.map_or(0, |(_, at)| ((start % align + align - at % align) % align) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_single_file_s_pieces_have_no_phase() {
        let files = FileSpans::new([(0, 10 * MIB + 5)]);
        for piece in 0..11 {
            assert_eq!(page_phase(&files, piece * MIB, MIB), 0);
        }
        assert_eq!(page_phase(&FileSpans::default(), 3 * MIB, MIB), 0, "no layout: aligned");
    }

    #[test]
    fn the_file_holding_most_of_the_piece_sets_the_phase() {
        // a.bin ends 1001 bytes into piece 1; b.bin fills the rest of it and beyond.
        let files = FileSpans::new([(MIB + 1001, 5 * MIB), (0, MIB + 1001)]);
        let phase = page_phase(&files, MIB, MIB);
        // b.bin's byte 0 sits 1001 bytes into the piece: it must land on a page boundary.
        assert_eq!((phase + 1001) % 4096, 0);
        // Piece 2 lies in b.bin only: its start is b.bin's offset MIB - 1001.
        assert_eq!(page_phase(&files, 2 * MIB, MIB), ((2 * MIB - (MIB + 1001)) % 4096) as usize);
        // Piece 0 is a.bin's own: a.bin starts at 0.
        assert_eq!(page_phase(&files, 0, MIB), 0);
    }

    #[test]
    fn empty_files_and_gaps_are_harmless() {
        let files = FileSpans::new([(0, 0), (100, 0), (4000, 20), (1 << 40, 7)]);
        assert_eq!(page_phase(&files, 4000, 100), 0);
        assert_eq!(page_phase(&files, 4010, 100), 10);
        assert_eq!(page_phase(&files, 0, 10), 0, "no file in the range");
        assert_eq!(page_phase(&files, u64::MAX - 5, 100), 0);
    }
}
