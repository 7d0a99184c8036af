//! A torrent's pieces in a few cells, for a map a screen can draw: each cell is a run of
//! consecutive pieces with how many of them are verified and how many connected peers have its
//! rarest piece. Bounded by the number of cells asked, whatever the torrent's piece count.

use ccbt_core::Bitfield;

/// The most cells one map has.
pub const MAX_PIECE_CELLS: usize = 4096;

/// A torrent's pieces, summarized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceMap {
    /// Pieces of the torrent.
    pub pieces: u32,
    /// Consecutive runs covering every piece once, in order (none for a torrent of 0 pieces).
    pub cells: Vec<PieceCell>,
}

/// A run of pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PieceCell {
    pub first: u32,
    pub count: u32,
    /// Of them, verified.
    pub have: u32,
    /// Connected peers (seeds included) having the run's rarest piece.
    pub min_availability: u32,
}

/// `have` (one bit per piece) in at most `cells` runs of nearly equal length (1 to
/// [`MAX_PIECE_CELLS`]); `availability` gives a piece's count of connected peers having it.
pub fn summarize(have: &Bitfield, availability: impl Fn(u32) -> u32, cells: usize) -> PieceMap {
    let pieces = have.len();
    let cells = cells.clamp(1, MAX_PIECE_CELLS).min(pieces as usize) as u64;
    let mut out = Vec::with_capacity(cells as usize);
    for cell in 0..cells {
        // Spread the remainder: cell boundaries at floor(i * pieces / cells).
        let first = (cell * u64::from(pieces) / cells) as u32;
        let end = ((cell + 1) * u64::from(pieces) / cells) as u32;
        let have_count = (first..end).filter(|&p| have.get(p)).count() as u32;
        let min_availability = (first..end).map(&availability).min().unwrap_or(0);
        out.push(PieceCell { first, count: end - first, have: have_count, min_availability });
    }
    PieceMap { pieces, cells: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitfield(bits: &[bool]) -> Bitfield {
        let mut b = Bitfield::new(bits.len() as u32);
        for (i, &bit) in bits.iter().enumerate() {
            if bit {
                b.set(i as u32);
            }
        }
        b
    }

    #[test]
    fn cells_cover_every_piece_once() {
        let have = bitfield(&[true, true, false, true, false, false, false]);
        let map = summarize(&have, |p| p % 3, 3);
        assert_eq!(map.pieces, 7);
        assert_eq!(
            map.cells,
            [
                PieceCell { first: 0, count: 2, have: 2, min_availability: 0 },
                PieceCell { first: 2, count: 2, have: 1, min_availability: 0 },
                PieceCell { first: 4, count: 3, have: 0, min_availability: 0 },
            ]
        );
        let map = summarize(&have, |p| p + 1, 100);
        assert_eq!(map.cells.len(), 7, "never more cells than pieces");
        assert_eq!(map.cells[3], PieceCell { first: 3, count: 1, have: 1, min_availability: 4 });
        assert_eq!(summarize(&have, |_| 1, 0).cells.len(), 1, "at least one cell");
        assert!(summarize(&Bitfield::new(0), |_| 0, 10).cells.is_empty());
    }

    #[test]
    fn huge_torrents_stay_within_the_cap() {
        let have = Bitfield::new(1_000_003);
        let map = summarize(&have, |_| 2, usize::MAX);
        assert_eq!(map.cells.len(), MAX_PIECE_CELLS);
        assert_eq!(map.cells.iter().map(|c| u64::from(c.count)).sum::<u64>(), 1_000_003);
        assert!(map.cells.windows(2).all(|w| w[0].first + w[0].count == w[1].first));
    }
}
